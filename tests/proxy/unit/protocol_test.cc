// SPDX-License-Identifier: Apache-2.0
// proxy/protocol.h: what each protocol reads and answers, without a socket.
#include "proxy/protocol.h"

#include <fstream>
#include <sstream>
#include <string>

#include "gtest/gtest.h"
#include "parser/http_head.h"
#include "parser/tls_clienthello.h"

namespace sallyport::proxy {
namespace {

using parser::Progress;
using parser::TlsAlert;

const ProtocolRules& Tls() { return ProtocolRules::For(Protocol::kTls); }
const ProtocolRules& Http() { return ProtocolRules::For(Protocol::kHttp); }

std::string ReadFile(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// Feeds `bytes` in pieces of `step` until the reader finishes.
HeadResult Read(const ProtocolRules& rules, const std::string& bytes, size_t step = 5) {
  auto reader = rules.NewReader();
  Progress p = Progress::kNeedMore;
  for (size_t i = 0; i < bytes.size() && p == Progress::kNeedMore; i += step) {
    p = reader->Feed(absl::string_view(bytes).substr(i, step));
  }
  EXPECT_NE(p, Progress::kNeedMore) << "the reader did not finish";
  return reader->Result();
}

TEST(Protocol, NamesAndLogFields) {
  EXPECT_EQ(std::string(Tls().name()), "tls");
  EXPECT_EQ(std::string(Http().name()), "http");
  EXPECT_EQ(std::string(Tls().code_field()), "alert");
  EXPECT_EQ(std::string(Http().code_field()), "status");
  EXPECT_EQ(Tls().protocol(), Protocol::kTls);
  EXPECT_EQ(Http().protocol(), Protocol::kHttp);
}

TEST(Protocol, TlsHeadIsTheCanonicalSniAndEveryByte) {
  const std::string hello = ReadFile("tests/parser/testdata/clienthellos/openssl-tls13.bin");
  ASSERT_EQ(hello.size(), 260u);
  HeadResult r = Read(Tls(), hello, 7);
  ASSERT_TRUE(r.ok) << r.refusal.detail;
  EXPECT_EQ(r.hostname, "openssl-tls13.example.test");
  EXPECT_EQ(r.bytes, hello);
}

TEST(Protocol, TlsRefusalsCarryTheirAlert) {
  // Not a handshake record: the parser's alert, as an alert record.
  HeadResult bad = Read(Tls(), std::string("\x17\x03\x01\x00\x05hello", 10));
  ASSERT_FALSE(bad.ok);
  EXPECT_EQ(bad.refusal.outcome, Outcome::kRefusedInput);
  EXPECT_EQ(bad.refusal.answer.bytes,
            parser::FatalAlertRecord(static_cast<TlsAlert>(bad.refusal.answer.code)));
  EXPECT_NE(bad.refusal.answer.code, 0);
  EXPECT_FALSE(bad.refusal.detail.empty());

  Refusal no_route = Tls().NoRoute("x.example.test");
  EXPECT_EQ(no_route.outcome, Outcome::kNoRoute);
  EXPECT_EQ(no_route.answer.code, static_cast<uint16_t>(TlsAlert::kUnrecognizedName));
  EXPECT_EQ(no_route.answer.bytes, parser::FatalAlertRecord(TlsAlert::kUnrecognizedName));
  EXPECT_EQ(Tls().BackendDown("x").answer.code, static_cast<uint16_t>(TlsAlert::kInternalError));
  Refusal replay = Tls().ReplayFailed("Broken pipe");
  EXPECT_EQ(replay.outcome, Outcome::kBackendDown);
  EXPECT_EQ(replay.detail, "replay to backend: Broken pipe");
  EXPECT_EQ(Tls().Busy().bytes, parser::FatalAlertRecord(TlsAlert::kInternalError));
  EXPECT_EQ(LimitRefusal(Protocol::kTls), Tls().Busy().bytes);
  // Nothing valid arrived, or the balancer speaks no TLS: closed silently.
  EXPECT_EQ(Tls().HandshakeTimeout().outcome, Outcome::kHandshakeTimeout);
  EXPECT_TRUE(Tls().HandshakeTimeout().answer.bytes.empty());
  EXPECT_EQ(Tls().HandshakeTimeout().answer.code, 0);
  Refusal proxy = Tls().BadProxyHeader("no signature");
  EXPECT_EQ(proxy.outcome, Outcome::kBadProxyHeader);
  EXPECT_EQ(proxy.detail, "PROXY header: no signature");
  EXPECT_TRUE(proxy.answer.bytes.empty());
}

TEST(Protocol, TlsWithoutSniIsNoHostname) {
  // A minimal valid ClientHello without extensions (TLS 1.2 body).
  std::string body;
  body += std::string("\x03\x03", 2) + std::string(32, 'r');  // version, random
  body += std::string("\x00", 1);                              // session id
  body += std::string("\x00\x02\x13\x01", 4);                 // one cipher suite
  body += std::string("\x01\x00", 2);                          // null compression
  body += std::string("\x00\x00", 2);                          // no extensions
  std::string hs = std::string("\x01\x00", 2) + static_cast<char>(body.size() >> 8) +
                   static_cast<char>(body.size() & 0xff) + body;
  std::string rec = std::string("\x16\x03\x01", 3) + static_cast<char>(hs.size() >> 8) +
                    static_cast<char>(hs.size() & 0xff) + hs;
  HeadResult r = Read(Tls(), rec);
  ASSERT_FALSE(r.ok);
  EXPECT_EQ(r.refusal.outcome, Outcome::kNoHostname) << r.refusal.detail;
  EXPECT_EQ(r.refusal.answer.code, static_cast<uint16_t>(TlsAlert::kUnrecognizedName));
}

TEST(Protocol, HttpHeadAndRefusals) {
  const std::string req = "GET / HTTP/1.1\r\nHost: Shop.Example.TEST.\r\n\r\n";
  HeadResult r = Read(Http(), req, 3);
  ASSERT_TRUE(r.ok) << r.refusal.detail;
  EXPECT_EQ(r.hostname, "shop.example.test");
  EXPECT_EQ(r.bytes, req);

  HeadResult bad = Read(Http(), "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n");
  ASSERT_FALSE(bad.ok);
  EXPECT_EQ(bad.refusal.outcome, Outcome::kRefusedInput);
  EXPECT_EQ(bad.refusal.answer.code, 400);
  EXPECT_EQ(bad.refusal.answer.bytes.rfind("HTTP/1.1 400 ", 0), 0u) << bad.refusal.answer.bytes;

  // The HTTP/2 preface: answered in HTTP/2 framing, logged as 505.
  HeadResult h2 = Read(Http(), "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
  ASSERT_FALSE(h2.ok);
  EXPECT_EQ(h2.refusal.answer.code, 505);
  ASSERT_GE(h2.refusal.answer.bytes.size(), 9u + 9u + 8u);
  EXPECT_EQ(h2.refusal.answer.bytes[3], '\x04');       // SETTINGS
  EXPECT_EQ(h2.refusal.answer.bytes[9 + 3], '\x07');   // GOAWAY
  EXPECT_EQ(h2.refusal.answer.bytes[9 + 9 + 7], '\x0d');  // HTTP_1_1_REQUIRED

  Refusal no_route = Http().NoRoute("x.example.test");
  EXPECT_EQ(no_route.answer.code, 404);
  EXPECT_NE(no_route.answer.bytes.find("no route for host x.example.test"), std::string::npos);
  Refusal down = Http().BackendDown("x.example.test");
  EXPECT_EQ(down.outcome, Outcome::kBackendDown);
  EXPECT_EQ(down.answer.code, 502);
  EXPECT_NE(down.answer.bytes.find("backend for x.example.test is not available"),
            std::string::npos);
  EXPECT_EQ(Http().ReplayFailed("Broken pipe").answer.code, 502);
  EXPECT_EQ(Http().HandshakeTimeout().answer.code, 408);
  EXPECT_EQ(Http().BadProxyHeader("x").answer.code, 400);
  EXPECT_EQ(Http().Busy().code, 503);
  EXPECT_EQ(LimitRefusal(Protocol::kHttp), parser::ErrorResponse(503, "server busy, try again later"));
}

}  // namespace
}  // namespace sallyport::proxy
