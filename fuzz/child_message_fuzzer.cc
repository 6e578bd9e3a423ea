// SPDX-License-Identifier: Apache-2.0
// Fuzzes what the parent reads from a child (proxy/report.h): one message of
// any length, taken as the record its size names. Invariants: a RouteRequest
// that validates yields a non-empty name of at most 255 bytes without NUL,
// and CheckRequestedName accepts it only if canonicalising it gives itself
// (so a name the broker routes is always a single safe path component); a
// SourceReport that validates round-trips through EndpointsOf/SourceFor
// unchanged; ValidateReport never reads past the record.
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>

#include "parser/hostname.h"
#include "proxy/report.h"

namespace {
void Check(bool ok) {
  if (!ok) std::abort();
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace sallyport::proxy;
  if (size == sizeof(RouteRequest)) {
    RouteRequest r;
    std::memcpy(&r, data, size);
    std::string name;
    if (ValidateRouteRequest(r, &name)) {
      Check(!name.empty() && name.size() < sizeof r.hostname);
      Check(name.find('\0') == std::string::npos);
      if (CheckRequestedName(name).ok()) {
        auto again = sallyport::parser::CanonicalHostname(name);
        Check(again.ok() && *again == name);
        Check(name.find('/') == std::string::npos && name != "." && name != "..");
      }
    }
  } else if (size == sizeof(SourceReport)) {
    SourceReport r;
    std::memcpy(&r, data, size);
    if (ValidateSourceReport(r) && r.family != 0) {
      SourceReport back = SourceFor(EndpointsOf(r));
      Check(std::memcmp(&back, &r, sizeof r) == 0);
    }
  } else if (size == sizeof(ChildReport)) {
    ChildReport r;
    std::memcpy(&r, data, size);
    if (ValidateReport(r)) {
      Check(std::memchr(r.hostname, '\0', sizeof r.hostname) != nullptr);
      Check(std::memchr(r.detail, '\0', sizeof r.detail) != nullptr);
    }
  }
  return 0;
}
