// SPDX-License-Identifier: Apache-2.0
// parser/tls_clienthello.h — reads the first TLS flight up to the end of the
// ClientHello and names the host it asks for (SNI), strictly, or refuses it.
//
// Side of the trust boundary: pure. Runs in the sandboxed per-connection
// child on bytes an attacker chose. No syscalls, no globals, no exceptions
// escaping (Botan's are caught in parser/botan_clienthello.cc), memory
// bounded by kMaxBufferedBytes plus the size of the one Feed() call that
// completes the hello.
//
// Example (proxy side):
//   ClientHelloReader r;
//   while (r.Feed(ReadSome(fd)) == Progress::kNeedMore) {}
//   if (r.progress() == Progress::kError) {
//     Send(fd, FatalAlertRecord(r.alert()));  // log r.error()
//   } else if (!r.hostname()) {
//     Send(fd, FatalAlertRecord(TlsAlert::kUnrecognizedName));
//   } else {
//     Route(*r.hostname()); Replay(r.bytes());
//   }
//
// What is accepted (the contract, RFC 8446 §5.1, §4.1.2, §4.2; RFC 5246;
// RFC 6066 §3; RFC 7301 §3.1):
//   - a stream of TLS records, every one of content type handshake (22),
//     record version major 3 (any minor), payload 1..2^14 bytes;
//   - carrying exactly one handshake message, a ClientHello (type 1) whose
//     body is at most kMaxClientHelloLength bytes, split across any number
//     of records and delivered in any split of Feed() calls;
//   - the ClientHello ends exactly at the end of a record (RFC 8446 §5.1: a
//     message that precedes a key change must end on a record boundary);
//   - the body parses with Botan 2 AND with this file's own strict walk:
//     legacy_version major 3; session_id <= 32 bytes; cipher_suites non-empty
//     and even; compression_methods non-empty; the extensions block (if
//     any) exactly fills the rest of the body; no extension type twice;
//   - server_name, if present, holds exactly one entry, of type host_name
//     (0), 1..65535 bytes, and nothing else (RFC 6066: one name per type;
//     like OpenSSL, other name types are refused since they cannot be
//     parsed); the name passes parser::CanonicalHostname (which removes a
//     single trailing dot, the same rule as for HTTP Host);
//   - application_layer_protocol_negotiation, if present, holds a list of
//     one or more protocol names, each 1..255 bytes, exactly filling the
//     extension (RFC 7301 §3.1).
// Bytes after the end of the ClientHello in the same Feed() call (a CCS,
// early data) are kept in bytes() but not looked at.
//
// Errors and the alert to send (alert numbers from RFC 8446 §6):
//
//   condition                                          alert
//   -------------------------------------------------  ---------------------
//   an SSLv2-compatible CLIENT-HELLO (RFC 5246 App.    protocol_version (70)
//     E.2; not supported): first byte has the high
//     bit, third byte 1 (msg_type), version {0,2} or
//     {3,x}; decided on the first byte that differs
//   first record's content type is not handshake       unexpected_message(10)
//     (any other type, 128..255 included: RFC 8446 §5)
//   a later record (between fragments of the hello)    unexpected_message(10)
//     is not handshake: alert, CCS, application data
//   record version major is not 3                      protocol_version (70)
//   record payload length 0 (zero-length fragment)     decode_error (50)
//   record payload length > 2^14                       record_overflow (22)
//   first handshake message is not a ClientHello       unexpected_message(10)
//   ClientHello body length > kMaxClientHelloLength    illegal_parameter (47)
//                                                        (as OpenSSL does)
//   the record holding the end of the hello carries    unexpected_message(10)
//     more bytes (hello not on a record boundary)
//   legacy_version major is not 3 (e.g. DTLS 0xfefd)   protocol_version (70)
//   malformed body: a length overruns or underruns,    decode_error (50)
//     odd cipher_suites, empty compression_methods,
//     bytes after the extensions
//   the same extension type twice                      illegal_parameter (47)
//   server_name malformed: empty extension, list       decode_error (50)
//     length wrong, no entry or more than one,
//     name type other than host_name, empty name
//   ALPN (RFC 7301 §3.1) malformed: list length wrong, decode_error (50)
//     empty list, empty protocol name, a name that
//     overruns the list
//   Botan refuses the body (any exception)             decode_error (50)
//   Botan and the strict walk disagree on the name     internal_error (80)
//     (a guard: seen when Botan mis-frames an extension
//     and misses server_name; see botan_clienthello.h)
//   host_name fails CanonicalHostname (bad syntax,     unrecognized_name(112)
//     IP literal); error() carries its message
//   more than kMaxBufferedBytes buffered while still   internal_error (80)
//     incomplete (unreachable by the rules above:
//     a defensive bound)
//
// No server_name at all is not an error: progress() is kDone and
// hostname() is std::nullopt (the proxy answers unrecognized_name).
//
// Status codes in error(): InvalidArgument for a refused stream (Botan's
// refusals start "botan: "); for unrecognized_name, CanonicalHostname's own
// code (InvalidArgument, or NotFound for an IP literal) and message after
// "server_name: "; Internal for the two internal_error rows. kNeedMore means
// what arrived so far is a valid prefix of an acceptable stream, as far as
// the record layer can tell.
#ifndef SALLYPORT_PARSER_TLS_CLIENTHELLO_H_
#define SALLYPORT_PARSER_TLS_CLIENTHELLO_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "parser/progress.h"

namespace sallyport::parser {

inline constexpr size_t kMaxTlsRecordPayload = 16384;       // 2^14
inline constexpr size_t kMaxClientHelloLength = 64 * 1024;  // body cap
inline constexpr size_t kTlsRecordHeaderLength = 5;
inline constexpr size_t kHandshakeHeaderLength = 4;
// The most bytes a legal ClientHello stream can take: the whole handshake
// message in 1-byte records, each with its 5-byte header.
inline constexpr size_t kMaxBufferedBytes =
    (kMaxClientHelloLength + kHandshakeHeaderLength) *
    (1 + kTlsRecordHeaderLength);

enum class TlsAlert : uint8_t {
  kUnexpectedMessage = 10,
  kRecordOverflow = 22,
  kHandshakeFailure = 40,
  kIllegalParameter = 47,
  kDecodeError = 50,
  kProtocolVersion = 70,
  kInternalError = 80,
  kUnrecognizedName = 112,
};

// Bytes of a fatal TLS alert record to send: 7 bytes,
// 21 (alert), 3,3 (record version), 0,2 (length), 2 (fatal), code.
std::string FatalAlertRecord(TlsAlert alert);

class ClientHelloReader {
 public:
  ClientHelloReader() = default;
  ClientHelloReader(const ClientHelloReader&) = delete;
  ClientHelloReader& operator=(const ClientHelloReader&) = delete;

  // Appends `bytes` to bytes() and parses as far as they go; returns
  // progress(). Once progress() is kDone or kError, Feed ignores its
  // argument (does not append it) and returns the same state again.
  Progress Feed(absl::string_view bytes);
  Progress progress() const { return progress_; }

  // kDone: the canonical SNI (via CanonicalHostname), or std::nullopt if the
  // ClientHello has no server_name extension. Otherwise std::nullopt.
  const std::optional<std::string>& hostname() const { return hostname_; }
  // kError: why, a specific message. OkStatus otherwise.
  const absl::Status& error() const { return error_; }
  // kError: the alert to send. Unspecified (kInternalError) otherwise.
  TlsAlert alert() const { return alert_; }
  // Every byte given to Feed() while it was not yet done, exactly: the bytes
  // to replay to the backend, including any that followed the hello.
  absl::string_view bytes() const { return buffer_; }

 private:
  Progress Parse();
  Progress Fail(TlsAlert alert, absl::Status status);
  Progress Finish();

  Progress progress_ = Progress::kNeedMore;
  std::optional<std::string> hostname_;
  absl::Status error_;
  TlsAlert alert_ = TlsAlert::kInternalError;

  std::string buffer_;       // every byte fed (bytes())
  size_t pos_ = 0;           // next unparsed byte of buffer_
  size_t record_left_ = 0;   // payload bytes of the current record not read
  bool seen_record_ = false;
  std::string handshake_;    // the reassembled handshake message so far
  size_t handshake_total_ = 0;  // 4 + body length, once the header is read
};

}  // namespace sallyport::parser

#endif  // SALLYPORT_PARSER_TLS_CLIENTHELLO_H_
