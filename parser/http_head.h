// SPDX-License-Identifier: Apache-2.0
// parser/http_head.h — reads an HTTP/1.x request head just far enough to
// learn which host it is for, and keeps every byte so the proxy can replay
// them to that host's backend unchanged.
//
// Side of the trust boundary: pure (no syscalls, no globals). Runs in the
// per-connection child on bytes an attacker chose. Memory: the bytes fed
// (the head is refused past kMaxRequestHead bytes; bytes arriving in the
// same Feed after the head are kept too, for replay).
//
// Example:
//   HttpHeadReader r;
//   while (r.Feed(ReadSome()) == Progress::kNeedMore) {}
//   if (r.progress() == Progress::kDone) Route(r.hostname(), r.bytes());
//   else Send(ErrorResponse(r.http_status(), r.error().message()));
//
// What is accepted (RFC 9112 / RFC 9110), strictly:
//   - Leading empty lines (CRLF only) before the request line are skipped as
//     RFC 9112 §2.2 suggests; they count towards kMaxRequestHead.
//   - Request line: method SP request-target SP HTTP-version CRLF, exactly
//     one SP between the parts. method is a token (case-sensitive).
//     HTTP-version is "HTTP/" DIGIT "." DIGIT; only HTTP/1.1 and HTTP/1.0
//     are served.
//   - request-target, visible ASCII only (0x21..0x7E, no '#'):
//       origin-form   "/path?query"            route by Host;
//       asterisk-form "*", OPTIONS only        route by Host;
//       absolute-form "http://authority/path"  ("http" or "https", any case)
//                     route by the target's authority, RFC 9112 §3.2.2;
//                     Host must still be present in HTTP/1.1, must be a
//                     valid host[:port] (an IP literal is valid), and is
//                     otherwise ignored. userinfo ("user@") is refused;
//       authority-form (CONNECT) is refused with 501: sallyport is not a
//                     forward proxy and implements CONNECT for no resource
//                     (405 would oblige us to send an Allow header).
//   - Header fields: field-name ":" OWS field-value OWS CRLF. field-name is a
//     token, compared case-insensitively; no whitespace before the colon.
//     field-value bytes: HTAB, SP, VCHAR, obs-text (0x80..0xFF).
//   - Host: exactly one field line; its value, OWS-trimmed, goes through
//     SplitHostPort (port dropped) then CanonicalHostname (single trailing
//     dot removed), so "Example.COM.:80" routes to "example.com".
//   - The head ends at the first empty line (CRLF CRLF).
//   - Line endings: CRLF only. A bare CR or a bare LF anywhere in the head is
//     refused (no lenient LF-only parsing: a front end and a backend that
//     disagree about line ends is how requests get smuggled).
//   - A client that opens with the HTTP/2 prior-knowledge preface
//     "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" is refused as soon as those 24
//     bytes are in (is_http2_preface()). Bytes that are only a prefix of the
//     preface are waited on; anything that diverges from it is parsed as an
//     ordinary (bad) HTTP/1 request.
//
// The size cap: the head is everything from the first byte through the
// final CRLF CRLF inclusive, leading empty lines included. A head of exactly
// kMaxRequestHead bytes is accepted; a head that needs byte number
// kMaxRequestHead + 1 is refused (414 while no request line has ended yet,
// 431 after). The cap is checked as bytes arrive, not only at CRLF CRLF.
//
// Errors, first one in byte order wins (error() carries the specific reason):
//   status  absl code           cause
//   400     InvalidArgument     malformed request line, method, target or
//                               version syntax; '*' without OPTIONS; a target
//                               in authority-form without CONNECT; bad or
//                               userinfo-bearing absolute-form; bare CR; bare
//                               LF; NUL; control character in a field value;
//                               field line without ':' or with an empty or
//                               non-token name; whitespace before ':';
//                               obs-fold; missing Host (HTTP/1.1, or HTTP/1.0
//                               without absolute-form); more than one Host
//                               (even with the same value); a Host or
//                               authority that is not a valid host name
//                               (including an empty host, "Host: :80");
//                               a first byte of 0x16 (a TLS handshake record
//                               sent to the plain-HTTP listener).
//   404     NotFound            the routing host is an IP literal (v4,
//                               all-numeric last label, or [v6]): no route.
//   414     ResourceExhausted   cap reached before the request line's CRLF.
//   431     ResourceExhausted   cap reached in the header fields.
//   501     Unimplemented       CONNECT.
//   505     Unimplemented       HTTP version other than 1.0 / 1.1, and the
//                               HTTP/2 preface (is_http2_preface() true).
//
// Incremental: any split of the same bytes into Feed calls gives the same
// result; each Feed resumes where the previous one stopped (linear time).
// Feed after kDone or kError ignores its bytes.
#ifndef SALLYPORT_PARSER_HTTP_HEAD_H_
#define SALLYPORT_PARSER_HTTP_HEAD_H_

#include <cstddef>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "parser/progress.h"

namespace sallyport::parser {

inline constexpr size_t kMaxRequestHead = 16 * 1024;

// The HTTP/2 prior-knowledge connection preface (RFC 9113 §3.4).
inline constexpr absl::string_view kHttp2Preface =
    "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

class HttpHeadReader {
 public:
  // Appends bytes and parses as far as they go; returns progress().
  Progress Feed(absl::string_view bytes);
  Progress progress() const { return progress_; }
  // kDone: the canonical host name (CanonicalHostname's output).
  const std::string& hostname() const { return hostname_; }
  // kError: the HTTP status to answer with (see the table above); 0 before.
  int http_status() const { return status_; }
  // kError: the specific reason; OK otherwise.
  const absl::Status& error() const { return error_; }
  // kError because the client sent the HTTP/2 prior-knowledge preface.
  bool is_http2_preface() const { return http2_preface_; }
  // Every byte passed to Feed up to and including the call that finished,
  // in order: the head and whatever followed it in the same Feed.
  absl::string_view bytes() const { return buffer_; }
  // kDone: length of the head, leading empty lines and the final CRLF CRLF
  // included (bytes().substr(head_length()) is body / pipelined data).
  size_t head_length() const { return head_length_; }

 private:
  enum class Stage { kRequestLine, kFields };
  enum class TargetForm { kOrigin, kAsterisk, kAbsolute };

  Progress Parse();
  Progress Fail(int status, absl::Status error);
  Progress TooLarge();
  // Handles one complete line (without its CRLF) ending at scan_.
  Progress RequestLine(absl::string_view line);
  Progress FieldLine(absl::string_view line);
  Progress EndOfHead();

  std::string buffer_;
  Progress progress_ = Progress::kNeedMore;
  int status_ = 0;
  absl::Status error_;
  bool http2_preface_ = false;
  bool preface_possible_ = true;
  std::string hostname_;
  size_t head_length_ = 0;

  Stage stage_ = Stage::kRequestLine;
  size_t scan_ = 0;        // next byte to examine
  size_t line_start_ = 0;  // first byte of the line being read
  bool http11_ = false;
  TargetForm form_ = TargetForm::kOrigin;
  std::string authority_;  // absolute-form only
  bool seen_host_ = false;
  std::string host_value_;  // OWS-trimmed
};

// A complete "HTTP/1.1 <status> <reason>\r\nConnection: close\r\n
// Content-Type: text/plain\r\nContent-Length: N\r\n\r\n<one line>\n"
// response. Bytes of one_line_body outside printable ASCII (CR, LF, other
// controls, >= 0x80) are replaced by '?', so a reason can never break out of
// the body. Unknown statuses get the reason "Error"; a status outside
// 100..999 is sent as 500.
std::string ErrorResponse(int status, absl::string_view one_line_body);

}  // namespace sallyport::parser

#endif  // SALLYPORT_PARSER_HTTP_HEAD_H_
