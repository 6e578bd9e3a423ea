// SPDX-License-Identifier: Apache-2.0
#include "proxy/report.h"

#include <cstring>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "parser/hostname.h"

namespace sallyport::proxy {

const char* OutcomeName(Outcome o) {
  switch (o) {
    case Outcome::kRelayed: return "relayed";
    case Outcome::kRefusedInput: return "refused-input";
    case Outcome::kNoHostname: return "no-hostname";
    case Outcome::kNoRoute: return "no-route";
    case Outcome::kBackendDown: return "backend-down";
    case Outcome::kHandshakeTimeout: return "handshake-timeout";
    case Outcome::kClientClosed: return "client-closed";
    case Outcome::kIdleTimeout: return "idle-timeout";
    case Outcome::kRelayError: return "relay-error";
    case Outcome::kBadProxyHeader: return "bad-proxy-header";
    case Outcome::kInternal: return "internal-error";
    case Outcome::kRefusedLimit: return "refused-limit";
    case Outcome::kHandedOff: return "handed-off";
  }
  return "invalid";
}

void SetField(char* field, size_t size, const std::string& s) {
  size_t n = s.size() < size - 1 ? s.size() : size - 1;
  for (size_t i = 0; i < n; ++i) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    field[i] = (c >= 0x20 && c < 0x7f) ? char(c) : '?';
  }
  field[n] = '\0';
}

namespace {
bool Printable(const char* field, size_t size) {
  for (size_t i = 0; i < size; ++i) {
    unsigned char c = static_cast<unsigned char>(field[i]);
    if (c == 0) return true;
    if (c < 0x20 || c >= 0x7f) return false;
  }
  return false;  // not NUL-terminated
}
}  // namespace

bool ValidateReport(const ChildReport& r) {
  if (r.magic != kReportMagic) return false;
  uint8_t o = static_cast<uint8_t>(r.outcome);
  if (o < static_cast<uint8_t>(Outcome::kRelayed) ||
      o > static_cast<uint8_t>(Outcome::kHandedOff)) {
    return false;
  }
  if (r.proxy_header_sent > 2) return false;
  return Printable(r.hostname, sizeof r.hostname) &&
         Printable(r.detail, sizeof r.detail);
}

bool ValidateSourceReport(const SourceReport& r) {
  if (r.magic != kSourceMagic || r.reserved != 0 || r.reserved2 != 0) return false;
  size_t used = r.family == 6 ? 16 : r.family == 4 ? 4 : r.family == 0 ? 0 : 17;
  if (used > 16) return false;
  for (size_t i = used; i < sizeof r.addr; ++i) {
    if (r.addr[i] != 0 || r.dst_addr[i] != 0) return false;
  }
  return r.family != 0 || (r.port == 0 && r.dst_port == 0);
}

SourceReport SourceFor(const parser::ProxyEndpoints& e) {
  SourceReport r;
  if (e.family == parser::ProxyEndpoints::Family::kUnknown) return r;
  const bool v6 = e.family == parser::ProxyEndpoints::Family::kTcp6;
  const size_t n = v6 ? 16 : 4;
  r.family = v6 ? 6 : 4;
  memcpy(r.addr, e.src_addr.data(), n);
  memcpy(r.dst_addr, e.dst_addr.data(), n);
  r.port = e.src_port;
  r.dst_port = e.dst_port;
  return r;
}

parser::ProxyEndpoints EndpointsOf(const SourceReport& r) {
  parser::ProxyEndpoints e;
  const bool v6 = r.family == 6;
  const size_t n = v6 ? 16 : 4;
  e.family = v6 ? parser::ProxyEndpoints::Family::kTcp6 : parser::ProxyEndpoints::Family::kTcp4;
  memcpy(e.src_addr.data(), r.addr, n);
  memcpy(e.dst_addr.data(), r.dst_addr, n);
  e.src_port = r.port;
  e.dst_port = r.dst_port;
  return e;
}

absl::Status CheckRequestedName(absl::string_view name) {
  absl::StatusOr<std::string> canonical = parser::CanonicalHostname(name);
  if (!canonical.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("not a host name: ", canonical.status().message()));
  }
  if (*canonical != name) {
    return absl::InvalidArgumentError("not in canonical form (case or trailing dot)");
  }
  return absl::OkStatus();
}

bool ValidateRouteRequest(const RouteRequest& r, std::string* name) {
  if (r.magic != kRouteMagic) return false;
  size_t n = 0;
  while (n < sizeof r.hostname && r.hostname[n] != '\0') ++n;
  if (n == 0 || n == sizeof r.hostname) return false;
  for (size_t i = n; i < sizeof r.hostname; ++i) {
    if (r.hostname[i] != '\0') return false;
  }
  name->assign(r.hostname, n);
  return true;
}

}  // namespace sallyport::proxy
