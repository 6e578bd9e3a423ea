// SPDX-License-Identifier: Apache-2.0
// Differential fuzzer: the input is a ClientHello body (legacy_version
// onwards). Three readings are compared:
//   R: ClientHelloReader on the body wrapped in a handshake header and
//      records (the path the proxy routes by: strict walk + Botan);
//   B: parser::ParseClientHelloWithBotan alone (lenient, see its header);
//   E: parser::ExtractServerName, the independent minimal extractor.
// The invariant that matters: never two different names accepted.
//   1. R done => E and B accepted, and all three name the same host
//      (E's and B's raw name, R's its canonical form), or all say none.
//   2. E and B both accept (legacy_version major 3) and agree => R is done
//      with that host, or refuses it as unrecognized_name exactly when
//      CanonicalHostname refuses the name. If they both accept and
//      disagree, R refuses with internal_error (its guard); R's
//      internal_error means exactly that.
// Allowed disagreements (justified, and bounded by the checks):
//   - B accepts, E refuses: Botan is lenient about server_name (empty
//     extension, two names, other name types); R must then refuse.
//   - E accepts, B refuses: Botan is stricter about other extensions (e.g.
//     empty signature_algorithms, extended_master_secret with data); R must
//     then refuse with decode_error and Botan's message.
//   - E and B both accept with different answers: Botan mis-frames some
//     extensions. Found by this fuzzer (corpus file
//     crash-botan-status-request-swallows-sni): Botan 2.19.3 reads a
//     status_request's request_extensions length without bounding it by the
//     extension's own size, so a status_request can swallow the extensions
//     after it, server_name included, and Botan reports no server_name.
//     R must then refuse (invariant 2).
//   - E ignores legacy_version; R refuses a major other than 3 (and B is not
//     called then: Botan takes 0xfe.. for DTLS and hashes a cookie).
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "parser/botan_clienthello.h"
#include "parser/hostname.h"
#include "parser/sni_extractor.h"
#include "parser/tls_clienthello.h"

namespace {

namespace p = sallyport::parser;

void Check(bool ok) {
  if (!ok) std::abort();
}

// The body as one handshake message in records of at most `fragment` bytes.
std::string Wrap(absl::string_view body, size_t fragment) {
  std::string hs;
  hs.push_back(1);
  hs.push_back(static_cast<char>(body.size() >> 16));
  hs.push_back(static_cast<char>(body.size() >> 8));
  hs.push_back(static_cast<char>(body.size()));
  hs.append(body.data(), body.size());
  std::string out;
  for (size_t at = 0; at < hs.size(); at += fragment) {
    size_t n = std::min(fragment, hs.size() - at);
    out += std::string{22, 3, 1, static_cast<char>(n >> 8), static_cast<char>(n)};
    out += hs.substr(at, n);
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > p::kMaxClientHelloLength) return 0;
  const absl::string_view body(reinterpret_cast<const char*>(data), size);
  const bool tls_version = size >= 1 && data[0] == 3;

  auto e = p::ExtractServerName(body);
  absl::StatusOr<p::BotanServerName> b = absl::UnknownError("not called");
  if (tls_version) b = p::ParseClientHelloWithBotan(body);

  // Two record splittings: large records, and small ones chosen by the input.
  const size_t small = 1 + (size ? data[size - 1] % 97 : 0);
  p::ClientHelloReader r;
  r.Feed(Wrap(body, p::kMaxTlsRecordPayload));
  p::ClientHelloReader r_small;
  r_small.Feed(Wrap(body, small));
  Check(r.progress() != p::Progress::kNeedMore);
  Check(r.progress() == r_small.progress() && r.hostname() == r_small.hostname());

  if (r.progress() == p::Progress::kDone) {  // invariant 1
    Check(tls_version && e.ok() && b.ok());
    Check(e->has_value() == b->has_server_name);
    Check(e->has_value() == r.hostname().has_value());
    if (r.hostname()) {
      Check(**e == b->host_name);
      auto canonical = p::CanonicalHostname(**e);
      Check(canonical.ok() && *canonical == *r.hostname());
    }
  }
  const bool agree = tls_version && e.ok() && b.ok() &&
                     e->has_value() == b->has_server_name &&
                     (!e->has_value() || **e == b->host_name);
  const bool disagree = tls_version && e.ok() && b.ok() && !agree;
  if (disagree) {
    Check(r.progress() == p::Progress::kError &&
          r.alert() == p::TlsAlert::kInternalError);
  }
  if (r.progress() == p::Progress::kError &&
      r.alert() == p::TlsAlert::kInternalError) {
    Check(disagree);
  }
  if (agree) {  // invariant 2
    if (e->has_value()) {
      auto canonical = p::CanonicalHostname(**e);
      if (canonical.ok()) {
        Check(r.progress() == p::Progress::kDone && r.hostname() == *canonical);
      } else {
        Check(r.progress() == p::Progress::kError &&
              r.alert() == p::TlsAlert::kUnrecognizedName);
      }
    } else {
      Check(r.progress() == p::Progress::kDone && !r.hostname().has_value());
    }
  }
  if (tls_version && e.ok() && !b.ok()) {  // Botan alone refused
    Check(r.progress() == p::Progress::kError &&
          r.alert() == p::TlsAlert::kDecodeError &&
          r.error().message().rfind("botan: ", 0) == 0);
  }
  return 0;
}
