// SPDX-License-Identifier: Apache-2.0
// Tests for parser/http_head.h: every acceptance and refusal rule, the size
// cap on both sides, split feeds, and ErrorResponse's exact bytes.
#include "parser/http_head.h"

#include <algorithm>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace sallyport::parser {
namespace {

using ::testing::HasSubstr;

struct Result {
  Progress progress;
  int status;
  std::string hostname;
  std::string message;
  bool h2;
  std::string bytes;
  size_t head_length;
};

Result Snapshot(const HttpHeadReader& r) {
  return {r.progress(), r.http_status(),  r.hostname(),
          std::string(r.error().message()), r.is_http2_preface(),
          std::string(r.bytes()), r.head_length()};
}

Result Whole(absl::string_view in) {
  HttpHeadReader r;
  r.Feed(in);
  return Snapshot(r);
}

Result Chunked(absl::string_view in, size_t chunk) {
  HttpHeadReader r;
  for (size_t i = 0; i < in.size(); i += chunk) {
    r.Feed(in.substr(i, chunk));
  }
  return Snapshot(r);
}

void ExpectSame(const Result& a, const Result& b) {
  EXPECT_EQ(a.progress, b.progress);
  EXPECT_EQ(a.status, b.status);
  EXPECT_EQ(a.hostname, b.hostname);
  EXPECT_EQ(a.message, b.message);
  EXPECT_EQ(a.h2, b.h2);
  EXPECT_EQ(a.head_length, b.head_length);
}

// Routes whole and in 1-byte and 7-byte feeds; all must agree.
Result RunAll(absl::string_view in) {
  Result whole = Whole(in);
  ExpectSame(whole, Chunked(in, 1));
  ExpectSame(whole, Chunked(in, 7));
  return whole;
}

void ExpectHost(absl::string_view in, absl::string_view host) {
  SCOPED_TRACE(std::string(in));
  Result r = RunAll(in);
  EXPECT_EQ(r.progress, Progress::kDone) << r.message;
  EXPECT_EQ(r.hostname, host);
  EXPECT_EQ(r.status, 0);
}

void ExpectError(absl::string_view in, int status,
                 absl::string_view message_part) {
  SCOPED_TRACE(std::string(in));
  Result r = RunAll(in);
  EXPECT_EQ(r.progress, Progress::kError);
  EXPECT_EQ(r.status, status) << r.message;
  EXPECT_THAT(r.message, HasSubstr(std::string(message_part)));
  EXPECT_TRUE(r.hostname.empty());
}

template <size_t N>
std::string Bytes(const char (&s)[N]) {
  return std::string(s, N - 1);
}

std::string Get(absl::string_view fields) {
  return absl::StrCat("GET / HTTP/1.1\r\n", fields, "\r\n");
}

TEST(HttpHead, SimpleRequest) {
  ExpectHost("GET / HTTP/1.1\r\nHost: example.com\r\n\r\n", "example.com");
}

TEST(HttpHead, CurlLikeRequest) {
  ExpectHost(
      "GET /index.html?q=1 HTTP/1.1\r\nHost: www.example.org\r\n"
      "User-Agent: curl/7.88.1\r\nAccept: */*\r\n\r\n",
      "www.example.org");
}

TEST(HttpHead, HostNameIsCaseInsensitive) {
  ExpectHost(Get("HOST: a.example\r\n"), "a.example");
  ExpectHost(Get("hOsT: a.example\r\n"), "a.example");
}

TEST(HttpHead, HostValueIsCanonicalised) {
  ExpectHost(Get("Host: Example.COM\r\n"), "example.com");
  ExpectHost(Get("Host: example.com:8080\r\n"), "example.com");
  ExpectHost(Get("Host: example.com:\r\n"), "example.com");
  ExpectHost(Get("Host: example.com.\r\n"), "example.com");
  ExpectHost(Get("Host: example.com.:80\r\n"), "example.com");
  ExpectHost(Get("Host: xn--bcher-kva.example\r\n"), "xn--bcher-kva.example");
}

TEST(HttpHead, HostValueOwsTrimmed) {
  ExpectHost(Get("Host:example.com\r\n"), "example.com");
  ExpectHost(Get("Host: \t example.com \t \r\n"), "example.com");
}

TEST(HttpHead, BadHostValues) {
  ExpectError(Get("Host: :80\r\n"), 400, "empty host");
  ExpectError(Get("Host:\r\n"), 400, "Host header");
  ExpectError(Get("Host: example.com..\r\n"), 400, "empty label");
  ExpectError(Get("Host: exa mple.com\r\n"), 400, "invalid character");
  ExpectError(Get("Host: example.com:80:80\r\n"), 400, "port");
  ExpectError(Get("Host: example.com:http\r\n"), 400, "port");
  ExpectError(Get("Host: ..\r\n"), 400, "Host header");
  ExpectError(Get("Host: .\r\n"), 400, "Host header");
  ExpectError(Get("Host: ../etc\r\n"), 400, "Host header");
  ExpectError(Get("Host: a/b\r\n"), 400, "invalid character");
  ExpectError(Get("Host: a\\b\r\n"), 400, "invalid character");
  ExpectError(Get("Host: caf\xc3\xa9.example\r\n"), 400, "UTF-8");
  ExpectError(Get("Host: [::1\r\n"), 400, "Host header");
}

TEST(HttpHead, IpLiteralHostsHaveNoRoute) {
  ExpectError(Get("Host: 192.0.2.1\r\n"), 404, "IP literal");
  ExpectError(Get("Host: 192.0.2.1:80\r\n"), 404, "IP literal");
  ExpectError(Get("Host: [::1]\r\n"), 404, "IP literal");
  ExpectError(Get("Host: [2001:db8::1]:8080\r\n"), 404, "IP literal");
  ExpectError(Get("Host: example.123\r\n"), 404, "IP literal");
}

TEST(HttpHead, MissingHost) {
  ExpectError("GET / HTTP/1.1\r\n\r\n", 400, "missing Host");
  ExpectError("GET / HTTP/1.1\r\nAccept: */*\r\n\r\n", 400, "missing Host");
  ExpectError("GET / HTTP/1.0\r\n\r\n", 400, "HTTP/1.0");
  // Absolute-form does not excuse a missing Host in HTTP/1.1.
  ExpectError("GET http://example.com/ HTTP/1.1\r\n\r\n", 400, "missing Host");
}

TEST(HttpHead, Http10) {
  ExpectHost("GET / HTTP/1.0\r\nHost: old.example\r\n\r\n", "old.example");
  ExpectHost("GET http://old.example/ HTTP/1.0\r\n\r\n", "old.example");
}

TEST(HttpHead, DuplicateHost) {
  ExpectError(Get("Host: a.example\r\nHost: b.example\r\n"), 400,
              "duplicate Host");
  ExpectError(Get("Host: a.example\r\nHost: a.example\r\n"), 400,
              "duplicate Host");
  ExpectError(Get("Host: a.example\r\nX: y\r\nhost: a.example\r\n"), 400,
              "duplicate Host");
  ExpectError("GET http://a.example/ HTTP/1.1\r\nHost: a.example\r\n"
              "Host: a.example\r\n\r\n",
              400, "duplicate Host");
}

TEST(HttpHead, AbsoluteFormWinsOverHost) {
  ExpectHost("GET http://target.example/path HTTP/1.1\r\n"
             "Host: other.example\r\n\r\n",
             "target.example");
  ExpectHost("GET HTTP://Target.Example:8080/p?q HTTP/1.1\r\n"
             "Host: other.example\r\n\r\n",
             "target.example");
  ExpectHost("GET https://t.example?q HTTP/1.1\r\nHost: o.example\r\n\r\n",
             "t.example");
  ExpectHost("GET http://t.example HTTP/1.1\r\nHost: o.example\r\n\r\n",
             "t.example");
  ExpectHost("GET http://t.example./ HTTP/1.1\r\nHost: o.example\r\n\r\n",
             "t.example");
  // The ignored Host may be an IP literal (valid), not garbage.
  ExpectHost("GET http://t.example/ HTTP/1.1\r\nHost: 192.0.2.1\r\n\r\n",
             "t.example");
  ExpectError("GET http://t.example/ HTTP/1.1\r\nHost: :80\r\n\r\n", 400,
              "Host header");
}

TEST(HttpHead, BadAbsoluteForm) {
  const std::string host = "Host: h.example\r\n\r\n";
  ExpectError("GET http:///x HTTP/1.1\r\n" + host, 400, "empty host");
  ExpectError("GET http://:80/x HTTP/1.1\r\n" + host, 400, "empty host");
  ExpectError("GET http://u:p@t.example/ HTTP/1.1\r\n" + host, 400,
              "userinfo");
  ExpectError("GET ftp://t.example/ HTTP/1.1\r\n" + host, 400, "scheme");
  ExpectError("GET http:t.example HTTP/1.1\r\n" + host, 400, "neither");
  ExpectError("GET http://192.0.2.7/ HTTP/1.1\r\n" + host, 404, "IP literal");
  ExpectError("GET http://[::1]:80/ HTTP/1.1\r\n" + host, 404, "IP literal");
  ExpectError("GET http://t..example/ HTTP/1.1\r\n" + host, 400, "label");
}

TEST(HttpHead, AsteriskForm) {
  ExpectHost("OPTIONS * HTTP/1.1\r\nHost: star.example\r\n\r\n",
             "star.example");
  ExpectError("GET * HTTP/1.1\r\nHost: star.example\r\n\r\n", 400, "OPTIONS");
}

TEST(HttpHead, ConnectAndAuthorityForm) {
  ExpectError("CONNECT example.com:443 HTTP/1.1\r\nHost: example.com\r\n\r\n",
              501, "CONNECT");
  ExpectError("GET example.com:443 HTTP/1.1\r\nHost: example.com\r\n\r\n", 400,
              "authority-form");
}

TEST(HttpHead, RequestLineSyntax) {
  const std::string h = "Host: a.example\r\n\r\n";
  ExpectError("GET\r\n" + h, 400, "no SP");
  ExpectError("GET /\r\n" + h, 400, "HTTP/0.9");
  ExpectError("GET  / HTTP/1.1\r\n" + h, 400, "empty request-target");
  ExpectError("GET / HTTP/1.1 \r\n" + h, 400, "HTTP-version");
  ExpectError("GET /  HTTP/1.1\r\n" + h, 400, "HTTP-version");
  ExpectError("GET / http/1.1\r\n" + h, 400, "HTTP-version");
  ExpectError("GET / HTTP/1.10\r\n" + h, 400, "HTTP-version");
  ExpectError("G(T / HTTP/1.1\r\n" + h, 400, "method");
  ExpectError(" GET / HTTP/1.1\r\n" + h, 400, "method");
  ExpectError("GET\t/ HTTP/1.1\r\n" + h, 400, "method");
  ExpectError("GET /\x7f HTTP/1.1\r\n" + h, 400, "request-target");
  ExpectError("GET /\xc3\xa9 HTTP/1.1\r\n" + h, 400, "request-target");
  ExpectError("GET /a#frag HTTP/1.1\r\n" + h, 400, "fragment");
  ExpectError("GET relative HTTP/1.1\r\n" + h, 400, "neither");
  // Extension methods are fine.
  ExpectHost("PURGE /x HTTP/1.1\r\nHost: a.example\r\n\r\n", "a.example");
}

TEST(HttpHead, UnsupportedVersions) {
  const std::string h = "Host: a.example\r\n\r\n";
  ExpectError("GET / HTTP/2.0\r\n" + h, 505, "HTTP/2.0");
  ExpectError("GET / HTTP/0.9\r\n" + h, 505, "unsupported HTTP version");
  ExpectError("GET / HTTP/1.2\r\n" + h, 505, "unsupported HTTP version");
  ExpectError("GET / HTTP/3.0\r\n" + h, 505, "unsupported HTTP version");
}

TEST(HttpHead, FieldSyntax) {
  ExpectError(Get("Host : a.example\r\n"), 400, "whitespace between");
  ExpectError(Get("Host\t: a.example\r\n"), 400, "whitespace between");
  ExpectError(Get("X-Foo : bar\r\nHost: a.example\r\n"), 400,
              "whitespace between");
  ExpectError(Get(": value\r\nHost: a.example\r\n"), 400, "empty header field");
  ExpectError(Get("NoColon\r\nHost: a.example\r\n"), 400, "without ':'");
  ExpectError(Get("Bad(Name): v\r\nHost: a.example\r\n"), 400,
              "field name");
  ExpectError(Get("Host: a.example\r\nX: a\x01" "b\r\n"), 400,
              "control character");
  ExpectError(Get("Host: a.example\r\nX: a\x7f" "b\r\n"), 400,
              "control character");
  // HTAB and obs-text are allowed in values; ':' in a value too.
  ExpectHost(Get("X: a\tb\xff\r\nY: http://x:1\r\nHost: a.example\r\n"),
             "a.example");
  // An empty value is allowed for other fields.
  ExpectHost(Get("X:\r\nHost: a.example\r\n"), "a.example");
}

TEST(HttpHead, ObsFoldRefused) {
  ExpectError(Get("Host: a.example\r\nX: a\r\n b\r\n"), 400, "obs-fold");
  ExpectError(Get("Host: a.example\r\nX: a\r\n\tb\r\n"), 400, "obs-fold");
  // A fold right after the request line is refused too.
  ExpectError("GET / HTTP/1.1\r\n Host: a.example\r\n\r\n", 400, "obs-fold");
}

TEST(HttpHead, BareCrLfAndNul) {
  ExpectError("GET / HTTP/1.1\nHost: a.example\r\n\r\n", 400, "bare LF");
  ExpectError("GET / HTTP/1.1\r\nHost: a.example\n\r\n", 400, "bare LF");
  ExpectError("GET / HTTP/1.1\r\nHost: a.example\r\n\n", 400, "bare LF");
  ExpectError("GET / HTTP/1.1\r\nHost: a.example\r\r\n\r\n", 400, "bare CR");
  ExpectError("GET / HTTP/1.1\r\nX: a\rb\r\nHost: a.example\r\n\r\n", 400,
              "bare CR");
  ExpectError(std::string("GET /\0 HTTP/1.1\r\nHost: a.example\r\n\r\n", 36),
              400, "NUL");
  ExpectError(Get(std::string("Host: a.exa\0mple\r\n", 18)), 400, "NUL");
  ExpectError(Get(std::string("X\0: v\r\nHost: a.example\r\n", 24)), 400,
              "NUL");
}

TEST(HttpHead, TlsOnThePlainPortIsNamed) {
  ExpectError(Bytes("\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03"), 400,
              "TLS handshake");
  // Only as the very first byte.
  ExpectError("\r\n\x16\x03\x01\r\n\r\n", 400, "request line");
}

TEST(HttpHead, FirstErrorInByteOrderWins) {
  // The duplicate Host comes before the bare LF.
  ExpectError(Get("Host: a\r\nHost: b\r\nX\n"), 400, "duplicate Host");
  // The bare LF comes before the end of the line with the bad field name.
  ExpectError(Get("Bad Name\nHost: a\r\n"), 400, "bare LF");
}

TEST(HttpHead, LeadingEmptyLinesAllowed) {
  ExpectHost("\r\nGET / HTTP/1.1\r\nHost: a.example\r\n\r\n", "a.example");
  ExpectHost("\r\n\r\n\r\nGET / HTTP/1.1\r\nHost: a.example\r\n\r\n",
             "a.example");
  ExpectError("\nGET / HTTP/1.1\r\nHost: a.example\r\n\r\n", 400, "bare LF");
  HttpHeadReader r;
  ASSERT_EQ(r.Feed("\r\n\r\nGET / HTTP/1.1\r\nHost: a.example\r\n\r\nBODY"),
            Progress::kDone);
  EXPECT_EQ(r.head_length(), 4u + 16 + 17 + 2);
}

TEST(HttpHead, NeedsMoreUntilTheEmptyLine) {
  const std::string full = "GET / HTTP/1.1\r\nHost: a.example\r\n\r\n";
  for (size_t n = 0; n < full.size(); ++n) {
    HttpHeadReader r;
    EXPECT_EQ(r.Feed(full.substr(0, n)), Progress::kNeedMore) << n;
    EXPECT_EQ(r.http_status(), 0);
    EXPECT_TRUE(r.error().ok());
    EXPECT_EQ(r.Feed(full.substr(n)), Progress::kDone) << n;
    EXPECT_EQ(r.hostname(), "a.example");
  }
}

TEST(HttpHead, BytesAfterHeadRetained) {
  const std::string head = "POST /up HTTP/1.1\r\nHost: a.example\r\n"
                           "Content-Length: 5\r\n\r\n";
  const std::string after = "hello GET / HTTP/1.1\r\nHost: b\r\n\r\n";
  HttpHeadReader r;
  ASSERT_EQ(r.Feed(head + after), Progress::kDone);
  EXPECT_EQ(r.bytes(), head + after);
  EXPECT_EQ(r.head_length(), head.size());
  EXPECT_EQ(r.bytes().substr(r.head_length()), after);
  EXPECT_EQ(r.hostname(), "a.example");
  // Later feeds are ignored.
  EXPECT_EQ(r.Feed("more"), Progress::kDone);
  EXPECT_EQ(r.bytes(), head + after);
}

TEST(HttpHead, BytesKeptExactlyInSplitFeeds) {
  const std::string in =
      "\r\nGET /x HTTP/1.1\r\nHost: a.example\r\nX: \xff\t1\r\n\r\nbody";
  const size_t head = in.size() - 4;
  for (size_t chunk : {1, 2, 3, 5, 11}) {
    Result r = Chunked(in, chunk);
    EXPECT_EQ(r.progress, Progress::kDone);
    EXPECT_EQ(r.head_length, head);
    // Everything up to the end of the Feed that finished the head, exactly;
    // later Feeds are ignored.
    size_t fed = std::min(in.size(), (head + chunk - 1) / chunk * chunk);
    EXPECT_EQ(r.bytes, in.substr(0, fed)) << chunk;
  }
}

TEST(HttpHead, FeedAfterErrorIgnored) {
  HttpHeadReader r;
  ASSERT_EQ(r.Feed("GET / HTTP/1.1\r\n\r\nxyz"), Progress::kError);
  EXPECT_EQ(r.http_status(), 400);
  EXPECT_EQ(r.Feed("Host: a\r\n\r\n"), Progress::kError);
  EXPECT_EQ(r.bytes(), "GET / HTTP/1.1\r\n\r\nxyz");
  EXPECT_FALSE(r.is_http2_preface());
}

// A head of exactly n bytes: request line, Host, one padding field, CRLF.
std::string HeadOfSize(size_t n) {
  const std::string start = "GET / HTTP/1.1\r\nHost: cap.example\r\nX: ";
  const std::string end = "\r\n\r\n";
  return start + std::string(n - start.size() - end.size(), 'a') + end;
}

TEST(HttpHead, CapCountsTheWholeHeadIncludingFinalCrlfCrlf) {
  std::string ok = HeadOfSize(kMaxRequestHead);
  ASSERT_EQ(ok.size(), kMaxRequestHead);
  Result r = RunAll(ok);
  EXPECT_EQ(r.progress, Progress::kDone) << r.message;
  EXPECT_EQ(r.head_length, kMaxRequestHead);

  std::string over = HeadOfSize(kMaxRequestHead + 1);
  r = RunAll(over);
  EXPECT_EQ(r.progress, Progress::kError);
  EXPECT_EQ(r.status, 431);
  EXPECT_THAT(r.message, HasSubstr("16384"));
}

TEST(HttpHead, CapWithBytesAfterHead) {
  // Body bytes do not count towards the cap.
  std::string in = HeadOfSize(kMaxRequestHead) + std::string(100, 'b');
  Result r = RunAll(in);
  EXPECT_EQ(r.progress, Progress::kDone);
  EXPECT_EQ(r.bytes, in);
}

TEST(HttpHead, CapReachedWithoutEndOfHead) {
  // kMaxRequestHead bytes that are a valid unfinished head: still need more.
  std::string partial = HeadOfSize(kMaxRequestHead + 4);
  partial.resize(kMaxRequestHead);
  HttpHeadReader r;
  EXPECT_EQ(r.Feed(partial), Progress::kNeedMore);
  // One more byte of field value: over the cap.
  EXPECT_EQ(r.Feed("a"), Progress::kError);
  EXPECT_EQ(r.http_status(), 431);
  // Ends in CR exactly at the cap: the LF would be byte cap+1.
  std::string cr = HeadOfSize(kMaxRequestHead + 1);
  cr.resize(kMaxRequestHead);
  ASSERT_EQ(cr.back(), '\r');
  HttpHeadReader r2;
  EXPECT_EQ(r2.Feed(cr), Progress::kNeedMore);
  EXPECT_EQ(r2.Feed("\n"), Progress::kError);
  EXPECT_EQ(r2.http_status(), 431);
}

TEST(HttpHead, LongRequestLineIs414) {
  std::string line = "GET /" + std::string(kMaxRequestHead, 'p');
  Result r = RunAll(line);
  EXPECT_EQ(r.progress, Progress::kError);
  EXPECT_EQ(r.status, 414);
  // A request line that just fits with its CRLF, and then a field: 431.
  std::string fits = "GET /" + std::string(kMaxRequestHead - 16, 'p') +
                     " HTTP/1.1\r\n";
  ASSERT_EQ(fits.size(), kMaxRequestHead);
  r = RunAll(fits + "Host: a\r\n\r\n");
  EXPECT_EQ(r.status, 431);
  // Only empty lines up to the cap: still no request line, 414.
  std::string blanks;
  while (blanks.size() < kMaxRequestHead + 2) blanks += "\r\n";
  r = RunAll(blanks);
  EXPECT_EQ(r.status, 414);
}

TEST(HttpHead, Http2PrefaceWhole) {
  Result r = RunAll(std::string(kHttp2Preface));
  EXPECT_EQ(r.progress, Progress::kError);
  EXPECT_TRUE(r.h2);
  EXPECT_EQ(r.status, 505);
  EXPECT_THAT(r.message, HasSubstr("sallyport http routes HTTP/1.1 only"));
}

TEST(HttpHead, Http2PrefaceWithSettingsFrame) {
  // A real h2 client sends a SETTINGS frame right after the preface.
  std::string in = std::string(kHttp2Preface) +
                   std::string("\x00\x00\x00\x04\x00\x00\x00\x00\x00", 9);
  Result r = RunAll(in);
  EXPECT_TRUE(r.h2);
  EXPECT_EQ(r.status, 505);
  EXPECT_EQ(r.bytes, in);
}

TEST(HttpHead, Http2PrefaceDetectedAtItsLastByte) {
  HttpHeadReader r;
  for (size_t i = 0; i + 1 < kHttp2Preface.size(); ++i) {
    ASSERT_EQ(r.Feed(kHttp2Preface.substr(i, 1)), Progress::kNeedMore) << i;
  }
  EXPECT_EQ(r.Feed(kHttp2Preface.substr(kHttp2Preface.size() - 1)),
            Progress::kError);
  EXPECT_TRUE(r.is_http2_preface());
  EXPECT_EQ(r.http_status(), 505);
}

TEST(HttpHead, PrefixOfPrefaceThenSomethingElseIsAnOrdinaryRequest) {
  // Diverges after the request line: an ordinary 505 (version 2.0).
  Result r = RunAll("PRI * HTTP/2.0\r\nHost: a.example\r\n\r\n");
  EXPECT_EQ(r.progress, Progress::kError);
  EXPECT_FALSE(r.h2);
  EXPECT_EQ(r.status, 505);
  EXPECT_THAT(r.message, HasSubstr("unsupported HTTP version HTTP/2.0"));
  // Diverges inside the request line.
  r = RunAll("PRI * HTTP/1.1\r\nHost: a.example\r\n\r\n");
  EXPECT_FALSE(r.h2);
  EXPECT_EQ(r.progress, Progress::kError);
  EXPECT_EQ(r.status, 400);  // '*' without OPTIONS
  r = RunAll("PRI /x HTTP/1.1\r\nHost: a.example\r\n\r\n");
  EXPECT_EQ(r.progress, Progress::kDone);
  EXPECT_EQ(r.hostname, "a.example");
  // Diverges at the very last byte.
  std::string almost(kHttp2Preface);
  almost.back() = 'X';
  r = RunAll(almost);
  EXPECT_FALSE(r.h2);
  EXPECT_EQ(r.status, 505);
  // The preface after a leading empty line is not the preface.
  r = RunAll("\r\n" + std::string(kHttp2Preface));
  EXPECT_FALSE(r.h2);
  EXPECT_EQ(r.status, 505);
}

TEST(HttpHead, SplitFeedsAgreeOnManyInputs) {
  const std::vector<std::string> inputs = {
      "GET / HTTP/1.1\r\nHost: a.example\r\n\r\n",
      "GET / HTTP/1.1\r\nHost: a.example\r\nHost: b\r\n\r\n",
      "GET / HTTP/1.1\r\nHost: a.example\r\n x\r\n\r\n",
      "GET / HTTP/1.1\r\nHost: a.example\r\r\n",
      std::string(kHttp2Preface),
      "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\r",
      "\r\n\r\nGET http://z.example/ HTTP/1.0\r\n\r\nrest",
      "CONNECT a:1 HTTP/1.1\r\n\r\n",
  };
  for (const std::string& in : inputs) {
    SCOPED_TRACE(in);
    Result whole = Whole(in);
    for (size_t chunk = 1; chunk <= in.size(); ++chunk) {
      ExpectSame(whole, Chunked(in, chunk));
    }
  }
}

TEST(HttpHead, LinearTimeWithTinyFeeds) {
  // 16 KB in 1-byte feeds: resumes, does not rescan (would be ~10^8 steps
  // if quadratic; this only checks it finishes and agrees).
  std::string in = HeadOfSize(kMaxRequestHead);
  Result r = Chunked(in, 1);
  EXPECT_EQ(r.progress, Progress::kDone);
  EXPECT_EQ(r.hostname, "cap.example");
}

TEST(HttpHead, StatusesAreFromTheDocumentedSet) {
  const std::vector<std::string> bad = {
      "x", "GET / HTTP/1.1\r\n\r\n", "GET / HTTP/9.9\r\n\r\n",
      "CONNECT a:1 HTTP/1.1\r\n\r\n", Get("Host: 1.2.3.4\r\n"),
      std::string(kHttp2Preface), "GET /" + std::string(20000, 'a')};
  for (const std::string& in : bad) {
    HttpHeadReader r;
    r.Feed(in);
    if (r.progress() != Progress::kError) continue;
    EXPECT_THAT(r.http_status(), ::testing::AnyOf(400, 404, 414, 431, 501, 505));
    EXPECT_FALSE(r.error().ok());
  }
}

TEST(ErrorResponse, ExactBytes) {
  EXPECT_EQ(ErrorResponse(400, "duplicate Host header"),
            "HTTP/1.1 400 Bad Request\r\n"
            "Connection: close\r\n"
            "Content-Type: text/plain\r\n"
            "Content-Length: 22\r\n"
            "\r\n"
            "duplicate Host header\n");
  EXPECT_EQ(ErrorResponse(505, ""),
            "HTTP/1.1 505 HTTP Version Not Supported\r\n"
            "Connection: close\r\n"
            "Content-Type: text/plain\r\n"
            "Content-Length: 1\r\n"
            "\r\n"
            "\n");
}

TEST(ErrorResponse, ReasonPhrases) {
  EXPECT_TRUE(absl::StartsWith(ErrorResponse(404, "x"),
                               "HTTP/1.1 404 Not Found\r\n"));
  EXPECT_TRUE(absl::StartsWith(ErrorResponse(414, "x"),
                               "HTTP/1.1 414 URI Too Long\r\n"));
  EXPECT_TRUE(absl::StartsWith(
      ErrorResponse(431, "x"),
      "HTTP/1.1 431 Request Header Fields Too Large\r\n"));
  EXPECT_TRUE(absl::StartsWith(ErrorResponse(501, "x"),
                               "HTTP/1.1 501 Not Implemented\r\n"));
  EXPECT_TRUE(absl::StartsWith(ErrorResponse(502, "x"),
                               "HTTP/1.1 502 Bad Gateway\r\n"));
  EXPECT_TRUE(absl::StartsWith(ErrorResponse(299, "x"),
                               "HTTP/1.1 299 Error\r\n"));
  EXPECT_TRUE(absl::StartsWith(ErrorResponse(7, "x"),
                               "HTTP/1.1 500 Internal Server Error\r\n"));
}

TEST(ErrorResponse, BodyCannotInjectLines) {
  std::string r =
      ErrorResponse(400, std::string("a\r\nSet-Cookie: x\n\x00\xff", 19));
  EXPECT_EQ(r.substr(r.find("\r\n\r\n") + 4), "a??Set-Cookie: x???\n");
  // The only CRLFs are the header's own five.
  size_t count = 0;
  for (size_t p = r.find("\r\n"); p != std::string::npos;
       p = r.find("\r\n", p + 1)) {
    ++count;
  }
  EXPECT_EQ(count, 5u);
}

TEST(ErrorResponse, ReaderMessagesFitInOneLine) {
  HttpHeadReader r;
  r.Feed(std::string(kHttp2Preface));
  std::string resp = ErrorResponse(r.http_status(), r.error().message());
  EXPECT_TRUE(absl::StartsWith(resp, "HTTP/1.1 505 "));
  EXPECT_TRUE(absl::EndsWith(
      resp, "\r\n\r\nHTTP/2 prior-knowledge preface received; sallyport http "
            "routes HTTP/1.1 only\n"));
}

}  // namespace
}  // namespace sallyport::parser
