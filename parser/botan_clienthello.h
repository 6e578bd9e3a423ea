// SPDX-License-Identifier: Apache-2.0
// parser/botan_clienthello.h — the one adapter that calls Botan 2: parses a
// ClientHello body and reports its server_name as Botan sees it.
//
// Side of the trust boundary: pure. Runs in the sandboxed child. Botan is
// used to parse only, never for crypto or TLS termination; no Botan type or
// exception crosses this interface: every exception (Botan::Exception,
// std::exception, anything else) becomes an InvalidArgument status.
//
// Input: the ClientHello body, i.e. the handshake message after its 4-byte
// header (legacy_version onwards). The caller must already have checked
// that legacy_version's major byte is 3: Botan 2.19 treats a DTLS version
// (0xfe..) as DTLS, parses a cookie and hashes with SHA-256.
//
// What Botan 2.19.3 does (checked; the strict checks live in
// tls_clienthello.cc, not here):
//   - no server_name extension: sni_hostname() is "" — hence has_server_name;
//   - an empty server_name extension (length 0): accepted, name "";
//   - a non-host_name entry: it skips the rest of the list; a lone one, or
//     one before the host_name, gives name "";
//   - two host_name entries: the last one wins;
//   - a host_name followed by other entries: accepted, first name;
//   - a zero-length host_name: refused; declared lengths past the end:
//     refused; the same extension type twice: refused;
//   - an embedded NUL is kept in the name (CanonicalHostname refuses it);
//   - it mis-frames status_request (5): the request_extensions length is
//     not bounded by the extension's size, so a status_request can swallow
//     the extensions after it, server_name included; Botan then reports no
//     server_name for a hello that has one (found by
//     fuzz/sni_differential_fuzzer).
// So Botan alone is not fail-closed; never route on its answer alone.
#ifndef SALLYPORT_PARSER_BOTAN_CLIENTHELLO_H_
#define SALLYPORT_PARSER_BOTAN_CLIENTHELLO_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace sallyport::parser {

struct BotanServerName {
  bool has_server_name = false;  // a server_name extension was present
  std::string host_name;         // Botan's sni_hostname(), raw bytes
};

// InvalidArgument("botan: <what Botan said>") if Botan refuses the body.
absl::StatusOr<BotanServerName> ParseClientHelloWithBotan(
    absl::string_view body);

// Runs the Botan parse once on a valid and once on an invalid hello, so
// lazy initialisation (first allocation, first exception throw and unwind)
// happens before a seccomp filter is loaded. Call it in the parent, or in
// the child before locking it. Returns false if Botan misbehaved.
bool WarmUpBotanClientHello();

}  // namespace sallyport::parser

#endif  // SALLYPORT_PARSER_BOTAN_CLIENTHELLO_H_
