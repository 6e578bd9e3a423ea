// SPDX-License-Identifier: Apache-2.0
// parser/sni_extractor.h — a second, minimal reading of a ClientHello's
// server_name, written from the RFCs alone, for the differential fuzzer and
// the tests. Not used to route: the proxy uses ClientHelloReader.
//
// Side of the trust boundary: pure (no syscalls, no globals, no
// exceptions). Shares no code with the Botan path (tls_clienthello.cc,
// botan_clienthello.cc) on purpose, and is written in another style (offset
// arithmetic over the bytes, not a reader object), so one mistake is
// unlikely to be made twice.
//
// Input: a complete ClientHello body (after the 4-byte handshake header).
// Grammar (RFC 8446 §4.1.2, RFC 5246 §7.4.1.2, RFC 6066 §3):
//   legacy_version(2: not checked here) random(32)
//   legacy_session_id<0..32> cipher_suites<2..2^16-2> (even length)
//   legacy_compression_methods<1..2^8-1>
//   [extensions<0..2^16-1>, exactly filling the rest of the body]
//   every extension: type(2) extension_data<0..2^16-1>; no type twice.
//   server_name data: ServerNameList<1..2^16-1> filling the data, holding
//   exactly one ServerName: name_type 0 (host_name), HostName<1..2^16-1>.
//   ALPN (type 16) data: ProtocolNameList<2..2^16-1> filling the data, of
//   ProtocolName<1..2^8-1> (RFC 7301 §3.1): checked so that this reading
//   and the proxy's refuse the same framings.
// Output: the raw host_name bytes (not canonicalised), std::nullopt when
// there is no server_name extension, or InvalidArgument naming the first
// rule broken.
#ifndef SALLYPORT_PARSER_SNI_EXTRACTOR_H_
#define SALLYPORT_PARSER_SNI_EXTRACTOR_H_

#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace sallyport::parser {

absl::StatusOr<std::optional<std::string>> ExtractServerName(
    absl::string_view client_hello_body);

}  // namespace sallyport::parser

#endif  // SALLYPORT_PARSER_SNI_EXTRACTOR_H_
