// SPDX-License-Identifier: Apache-2.0
#include "parser/http_head.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "parser/hostname.h"

namespace sallyport::parser {
namespace {

// RFC 9110 §5.6.2 tchar.
bool IsTchar(char c) {
  if (absl::ascii_isalnum(static_cast<unsigned char>(c))) return true;
  switch (c) {
    case '!': case '#': case '$': case '%': case '&': case '\'': case '*':
    case '+': case '-': case '.': case '^': case '_': case '`': case '|':
    case '~':
      return true;
    default:
      return false;
  }
}

bool IsToken(absl::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!IsTchar(c)) return false;
  }
  return true;
}

bool IsOws(char c) { return c == ' ' || c == '\t'; }

absl::string_view TrimOws(absl::string_view s) {
  while (!s.empty() && IsOws(s.front())) s.remove_prefix(1);
  while (!s.empty() && IsOws(s.back())) s.remove_suffix(1);
  return s;
}


// The routing name for an authority ("host[:port]"), or the status and reason
// to refuse with. what names the source for the message.
struct Route {
  int status = 0;
  absl::Status error;
  std::string hostname;
};

Route RouteFor(absl::string_view authority, absl::string_view what) {
  Route r;
  absl::StatusOr<absl::string_view> host = SplitHostPort(authority);
  if (!host.ok()) {
    r.status = 400;
    r.error = absl::InvalidArgumentError(
        absl::StrCat("invalid ", what, ": ", host.status().message()));
    return r;
  }
  absl::StatusOr<std::string> name = CanonicalHostname(*host);
  if (name.ok()) {
    r.hostname = *std::move(name);
  } else if (absl::IsNotFound(name.status())) {
    r.status = 404;
    r.error = absl::NotFoundError(
        absl::StrCat(what, " is an IP literal; no host has that name"));
  } else {
    r.status = 400;
    r.error = absl::InvalidArgumentError(
        absl::StrCat("invalid ", what, ": ", name.status().message()));
  }
  return r;
}

}  // namespace

Progress HttpHeadReader::Feed(absl::string_view bytes) {
  if (progress_ != Progress::kNeedMore) return progress_;
  buffer_.append(bytes.data(), bytes.size());
  return progress_ = Parse();
}

Progress HttpHeadReader::Fail(int status, absl::Status error) {
  status_ = status;
  error_ = std::move(error);
  return Progress::kError;
}

Progress HttpHeadReader::TooLarge() {
  if (stage_ == Stage::kRequestLine) {
    return Fail(414, absl::ResourceExhaustedError(absl::StrCat(
                         "request line longer than ", kMaxRequestHead,
                         " bytes (the request head cap)")));
  }
  return Fail(431, absl::ResourceExhaustedError(absl::StrCat(
                       "request head larger than ", kMaxRequestHead,
                       " bytes without its terminating empty line")));
}

Progress HttpHeadReader::Parse() {
  if (preface_possible_) {
    size_t n = std::min(buffer_.size(), kHttp2Preface.size());
    if (absl::string_view(buffer_).substr(0, n) != kHttp2Preface.substr(0, n)) {
      preface_possible_ = false;
    } else if (n == kHttp2Preface.size()) {
      http2_preface_ = true;
      return Fail(505, absl::UnimplementedError(
                           "HTTP/2 prior-knowledge preface received; "
                           "sallyport http routes HTTP/1.1 only"));
    } else {
      return Progress::kNeedMore;  // still a prefix of the preface
    }
  }

  // One pass over the bytes, resuming at scan_. Every byte is examined once;
  // each complete line is handled once, when its CRLF has been seen.
  while (true) {
    if (scan_ >= buffer_.size()) return Progress::kNeedMore;
    if (scan_ >= kMaxRequestHead) return TooLarge();
    char c = buffer_[scan_];
    if (scan_ == 0 && c == '\x16') {
      return Fail(400, absl::InvalidArgumentError(
                           "TLS handshake on the plain-HTTP listener (a TLS "
                           "client must use the TLS port)"));
    }
    if (c == '\r') {
      if (scan_ + 1 >= buffer_.size()) return Progress::kNeedMore;
      if (scan_ + 1 >= kMaxRequestHead) return TooLarge();
      if (buffer_[scan_ + 1] != '\n') {
        return Fail(400, absl::InvalidArgumentError(
                             "bare CR (not followed by LF) in request head"));
      }
      absl::string_view line =
          absl::string_view(buffer_).substr(line_start_, scan_ - line_start_);
      scan_ += 2;
      line_start_ = scan_;
      Progress p = stage_ == Stage::kRequestLine ? RequestLine(line)
                                                 : FieldLine(line);
      if (p != Progress::kNeedMore) return p;
      continue;
    }
    if (c == '\n') {
      return Fail(400, absl::InvalidArgumentError(
                           "bare LF (not preceded by CR) in request head"));
    }
    if (c == '\0') {
      return Fail(400, absl::InvalidArgumentError("NUL byte in request head"));
    }
    ++scan_;
  }
}

Progress HttpHeadReader::RequestLine(absl::string_view line) {
  if (line.empty()) return Progress::kNeedMore;  // leading empty line

  size_t sp1 = line.find(' ');
  if (sp1 == absl::string_view::npos) {
    return Fail(400, absl::InvalidArgumentError(
                         "request line has no SP (expected: method SP "
                         "request-target SP HTTP-version)"));
  }
  absl::string_view method = line.substr(0, sp1);
  if (!IsToken(method)) {
    return Fail(400, absl::InvalidArgumentError(
                         "method is not a token (or starts with whitespace)"));
  }
  absl::string_view rest = line.substr(sp1 + 1);
  size_t sp2 = rest.find(' ');
  if (sp2 == absl::string_view::npos) {
    return Fail(400, absl::InvalidArgumentError(
                         "request line has no HTTP-version (HTTP/0.9 is not "
                         "served)"));
  }
  absl::string_view target = rest.substr(0, sp2);
  absl::string_view version = rest.substr(sp2 + 1);

  if (target.empty()) {
    return Fail(400, absl::InvalidArgumentError(
                         "empty request-target (more than one SP after the "
                         "method)"));
  }
  for (char ch : target) {
    unsigned char u = static_cast<unsigned char>(ch);
    if (u <= 0x20 || u >= 0x7f) {
      return Fail(400, absl::InvalidArgumentError(absl::StrCat(
                           "invalid byte 0x", absl::Hex(u, absl::kZeroPad2),
                           " in request-target")));
    }
    if (ch == '#') {
      return Fail(400, absl::InvalidArgumentError(
                           "fragment ('#') in request-target"));
    }
  }
  if (version.size() != 8 || !absl::StartsWith(version, "HTTP/") ||
      !absl::ascii_isdigit(version[5]) || version[6] != '.' || !absl::ascii_isdigit(version[7])) {
    return Fail(400, absl::InvalidArgumentError(
                         "malformed HTTP-version in request line (expected "
                         "HTTP/DIGIT.DIGIT after a single SP)"));
  }
  if (version == "HTTP/1.1") {
    http11_ = true;
  } else if (version == "HTTP/1.0") {
    http11_ = false;
  } else {
    return Fail(505, absl::UnimplementedError(absl::StrCat(
                         "unsupported HTTP version ", version,
                         "; sallyport http routes HTTP/1.1 (and 1.0) only")));
  }

  if (method == "CONNECT") {
    return Fail(501, absl::UnimplementedError(
                         "CONNECT is not supported: sallyport is not a "
                         "forward proxy"));
  }
  if (target == "*") {
    if (method != "OPTIONS") {
      return Fail(400, absl::InvalidArgumentError(
                           "'*' request-target is only valid with OPTIONS"));
    }
    form_ = TargetForm::kAsterisk;
  } else if (target.front() == '/') {
    form_ = TargetForm::kOrigin;
  } else {
    size_t colon = target.find(':');
    absl::string_view scheme = target.substr(0, colon);
    if (colon == absl::string_view::npos ||
        !absl::StartsWith(target.substr(colon), "://")) {
      return Fail(400, absl::InvalidArgumentError(
                           "request-target is neither origin-form ('/...') "
                           "nor absolute-form ('http://...'); authority-form "
                           "is only for CONNECT"));
    }
    if (!absl::EqualsIgnoreCase(scheme, "http") &&
        !absl::EqualsIgnoreCase(scheme, "https")) {
      return Fail(400, absl::InvalidArgumentError(
                           "absolute-form request-target with a scheme other "
                           "than http or https"));
    }
    absl::string_view after = target.substr(colon + 3);
    absl::string_view authority = after.substr(0, after.find_first_of("/?"));
    if (authority.find('@') != absl::string_view::npos) {
      return Fail(400, absl::InvalidArgumentError(
                           "userinfo ('@') in absolute-form request-target"));
    }
    form_ = TargetForm::kAbsolute;
    authority_ = std::string(authority);
  }
  stage_ = Stage::kFields;
  return Progress::kNeedMore;
}

Progress HttpHeadReader::FieldLine(absl::string_view line) {
  if (line.empty()) {
    head_length_ = scan_;
    return EndOfHead();
  }
  if (IsOws(line.front())) {
    return Fail(400, absl::InvalidArgumentError(
                         "obs-fold in header field (a line starting with SP "
                         "or HTAB)"));
  }
  size_t colon = line.find(':');
  if (colon == absl::string_view::npos) {
    return Fail(400, absl::InvalidArgumentError(
                         "header field line without ':'"));
  }
  absl::string_view name = line.substr(0, colon);
  if (name.empty()) {
    return Fail(400, absl::InvalidArgumentError("empty header field name"));
  }
  if (IsOws(name.back())) {
    return Fail(400, absl::InvalidArgumentError(
                         "whitespace between header field name and ':'"));
  }
  if (!IsToken(name)) {
    return Fail(400, absl::InvalidArgumentError(
                         "invalid character in header field name"));
  }
  absl::string_view value = TrimOws(line.substr(colon + 1));
  for (char ch : value) {
    unsigned char u = static_cast<unsigned char>(ch);
    if ((u < 0x20 && ch != '\t') || u == 0x7f) {
      return Fail(400, absl::InvalidArgumentError(absl::StrCat(
                           "control character 0x",
                           absl::Hex(u, absl::kZeroPad2),
                           " in header field value")));
    }
  }
  if (absl::EqualsIgnoreCase(name, "host")) {
    if (seen_host_) {
      return Fail(400, absl::InvalidArgumentError("duplicate Host header"));
    }
    seen_host_ = true;
    host_value_ = std::string(value);
  }
  return Progress::kNeedMore;
}

Progress HttpHeadReader::EndOfHead() {
  if (!seen_host_) {
    if (http11_) {
      return Fail(400, absl::InvalidArgumentError(
                           "missing Host header (required in HTTP/1.1)"));
    }
    if (form_ != TargetForm::kAbsolute) {
      return Fail(400, absl::InvalidArgumentError(
                           "HTTP/1.0 request without Host header or "
                           "absolute-form target: no host to route to"));
    }
  }
  Route route;
  if (form_ == TargetForm::kAbsolute) {
    if (seen_host_) {
      // Ignored for routing, but an invalid value is still a 400
      // (RFC 9112 §3.2); an IP literal is a valid value.
      Route host = RouteFor(host_value_, "Host header");
      if (host.status == 400) return Fail(host.status, host.error);
    }
    route = RouteFor(authority_, "authority of the absolute-form target");
  } else {
    route = RouteFor(host_value_, "Host header");
  }
  if (route.status != 0) return Fail(route.status, route.error);
  hostname_ = std::move(route.hostname);
  return Progress::kDone;
}

std::string ErrorResponse(int status, absl::string_view one_line_body) {
  if (status < 100 || status > 999) status = 500;
  absl::string_view reason;
  switch (status) {
    case 400: reason = "Bad Request"; break;
    case 403: reason = "Forbidden"; break;
    case 404: reason = "Not Found"; break;
    case 408: reason = "Request Timeout"; break;
    case 414: reason = "URI Too Long"; break;
    case 431: reason = "Request Header Fields Too Large"; break;
    case 500: reason = "Internal Server Error"; break;
    case 501: reason = "Not Implemented"; break;
    case 502: reason = "Bad Gateway"; break;
    case 503: reason = "Service Unavailable"; break;
    case 504: reason = "Gateway Timeout"; break;
    case 505: reason = "HTTP Version Not Supported"; break;
    default: reason = "Error"; break;
  }
  std::string body(one_line_body);
  for (char& ch : body) {
    unsigned char u = static_cast<unsigned char>(ch);
    if (u < 0x20 || u >= 0x7f) ch = '?';
  }
  body.push_back('\n');
  return absl::StrCat("HTTP/1.1 ", status, " ", reason,
                      "\r\nConnection: close\r\nContent-Type: text/plain\r\n"
                      "Content-Length: ",
                      body.size(), "\r\n\r\n", body);
}

}  // namespace sallyport::parser
