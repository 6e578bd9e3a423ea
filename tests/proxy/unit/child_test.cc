// SPDX-License-Identifier: Apache-2.0
// proxy/child.h without root, a filter or a fork: ServeConnection over
// socketpairs, the test playing the parent's route broker on the report
// channel (proxy/report.h) and the tenant's backend. What reaches the
// backend (exactly the bytes read, whatever the TCP reads were), what the
// client is answered for each refusal, what the parent is asked and told.
#include "proxy/child.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <thread>

#include "gtest/gtest.h"
#include "parser/tls_clienthello.h"
#include "proxy/handoff.h"
#include "proxy/report.h"

namespace sallyport::proxy {
namespace {

std::string ReadFile(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

std::string ReadToEof(int fd) {
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = read(fd, buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
  return out;
}

// One connection: the client's end, the parent's end of the report channel,
// the backend's end of the socket the "broker" hands over.
class ChildTest : public ::testing::Test {
 protected:
  void SetUp() override {
    signal(SIGPIPE, SIG_IGN);
    int sv[2];
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    client_ = sv[0];
    child_client_ = sv[1];
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
    parent_ = sv[0];
    ctx_.report_fd = sv[1];
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    backend_ = sv[0];
    child_backend_ = sv[1];
    ctx_.handshake_timeout_ms = 2000;
  }
  void TearDown() override {
    for (int fd : {client_, child_client_, parent_, ctx_.report_fd, backend_, child_backend_})
      if (fd >= 0) close(fd);
  }

  // Runs the child on the connection while `parent` plays the broker;
  // returns the final report, which must be the last message.
  ChildReport Serve(const std::function<void()>& parent) {
    std::thread broker(parent);
    ChildReport r = ServeConnection(child_client_, ctx_);
    alarm(0);  // the child's handshake backstop: not for this test process
    broker.join();
    close(child_client_);  // as the child's exit would
    child_client_ = -1;
    return r;
  }

  // The broker's side: takes the route request (which must carry no
  // descriptor), then answers `reply` (with the backend when routed).
  std::string AnswerRoute(RouteReply::Result result, uint8_t proxy = 0) {
    RouteRequest req;
    Received got;
    EXPECT_EQ(RecvWithFds(parent_, &req, sizeof req, 0, &got), 0);
    EXPECT_EQ(got.len, static_cast<ssize_t>(sizeof req));
    EXPECT_EQ(got.nfds, 0);
    std::string name;
    EXPECT_TRUE(ValidateRouteRequest(req, &name));
    RouteReply reply;
    reply.result = result;
    reply.proxy_header_sent = proxy;
    const bool routed = result == RouteReply::kRouted;
    EXPECT_EQ(SendWithFds(parent_, &reply, sizeof reply, &child_backend_, routed ? 1 : 0, 0), 0);
    if (routed) {
      close(child_backend_);  // the child has its own copy now
      child_backend_ = -1;
    }
    return name;
  }

  int client_ = -1, child_client_ = -1, parent_ = -1, backend_ = -1, child_backend_ = -1;
  ChildContext ctx_;
};

TEST_F(ChildTest, TlsClientHelloInSmallReadsReachesTheBackendByteForByte) {
  const std::string hello =
      ReadFile("tests/parser/testdata/clienthellos/openssl-tls13.bin");
  ASSERT_EQ(hello.size(), 260u);
  std::thread client([&] {
    for (size_t i = 0; i < hello.size(); i += 7) {  // many TCP reads
      ASSERT_EQ(write(client_, hello.data() + i, std::min<size_t>(7, hello.size() - i)),
                static_cast<ssize_t>(std::min<size_t>(7, hello.size() - i)));
      usleep(200);
    }
  });
  std::string asked;
  ChildReport r = Serve([&] { asked = AnswerRoute(RouteReply::kRouted, 2); });
  client.join();
  EXPECT_EQ(asked, "openssl-tls13.example.test");
  EXPECT_EQ(r.outcome, Outcome::kHandedOff) << r.detail;
  EXPECT_EQ(r.bytes_up, hello.size());
  EXPECT_EQ(r.proxy_header_sent, 2);
  EXPECT_STREQ(r.hostname, "openssl-tls13.example.test");
  EXPECT_EQ(ReadToEof(backend_), hello) << "exactly what was read, nothing before it";
  // Nothing was answered to the client, and nothing else went to the parent.
  char extra[16];
  Received got;
  EXPECT_EQ(RecvWithFds(parent_, extra, sizeof extra, MSG_DONTWAIT, &got), -EAGAIN);
}

TEST_F(ChildTest, HttpNoRouteIsAnswered404AndNothingReachesABackend) {
  const std::string req = "GET / HTTP/1.1\r\nHost: Nowhere.Test.\r\n\r\n";
  ASSERT_EQ(write(client_, req.data(), req.size()), static_cast<ssize_t>(req.size()));
  ctx_.protocol = Protocol::kHttp;
  std::string asked;
  ChildReport r = Serve([&] { asked = AnswerRoute(RouteReply::kNoRoute); });
  EXPECT_EQ(asked, "nowhere.test") << "the canonical name, as the broker checks";
  EXPECT_EQ(r.outcome, Outcome::kNoRoute);
  EXPECT_EQ(r.answered, 404);
  shutdown(client_, SHUT_WR);
  std::string answer = ReadToEof(client_);
  EXPECT_EQ(answer.rfind("HTTP/1.1 404 ", 0), 0u) << answer;
  EXPECT_NE(answer.find("no route for host nowhere.test"), std::string::npos) << answer;
}

TEST_F(ChildTest, BackendDownIsAnswered502) {
  const std::string req = "GET / HTTP/1.1\r\nHost: app.test\r\n\r\n";
  ASSERT_EQ(write(client_, req.data(), req.size()), static_cast<ssize_t>(req.size()));
  ctx_.protocol = Protocol::kHttp;
  ChildReport r = Serve([&] { AnswerRoute(RouteReply::kBackendDown); });
  EXPECT_EQ(r.outcome, Outcome::kBackendDown);
  EXPECT_EQ(r.answered, 502);
  shutdown(client_, SHUT_WR);
  EXPECT_EQ(ReadToEof(client_).rfind("HTTP/1.1 502 ", 0), 0u);
}

TEST_F(ChildTest, TlsWithoutSniAsksForNoRoute) {
  // A ClientHello with no extensions at all: nothing to route on.
  std::string body;
  body += std::string("\x03\x03", 2) + std::string(32, 'r') + std::string(1, '\0');
  body += std::string("\x00\x02\x13\x01", 4) + std::string("\x01\x00", 2);
  std::string hs = std::string(1, '\x01') + std::string(1, '\0') +
                   static_cast<char>(body.size() >> 8) + static_cast<char>(body.size() & 0xff) +
                   body;
  std::string rec = std::string("\x16\x03\x01", 3) + static_cast<char>(hs.size() >> 8) +
                    static_cast<char>(hs.size() & 0xff) + hs;
  ASSERT_EQ(write(client_, rec.data(), rec.size()), static_cast<ssize_t>(rec.size()));
  ChildReport r = Serve([] {});
  EXPECT_EQ(r.outcome, Outcome::kNoHostname);
  EXPECT_EQ(r.answered, static_cast<uint16_t>(parser::TlsAlert::kUnrecognizedName));
  shutdown(client_, SHUT_WR);
  EXPECT_EQ(ReadToEof(client_), parser::FatalAlertRecord(parser::TlsAlert::kUnrecognizedName));
  char buf[8];
  Received got;
  EXPECT_EQ(RecvWithFds(parent_, buf, sizeof buf, MSG_DONTWAIT, &got), -EAGAIN)
      << "no route request for a refused handshake";
}

TEST_F(ChildTest, AReplyWithoutItsDescriptorIsAnInternalError) {
  const std::string req = "GET / HTTP/1.1\r\nHost: app.test\r\n\r\n";
  ASSERT_EQ(write(client_, req.data(), req.size()), static_cast<ssize_t>(req.size()));
  ctx_.protocol = Protocol::kHttp;
  ChildReport r = Serve([&] {
    RouteRequest ask;
    Received got;
    ASSERT_EQ(RecvWithFds(parent_, &ask, sizeof ask, 0, &got), 0);
    RouteReply reply;
    reply.result = RouteReply::kRouted;  // but no backend socket with it
    ASSERT_EQ(SendWithFds(parent_, &reply, sizeof reply, nullptr, 0, 0), 0);
  });
  EXPECT_EQ(r.outcome, Outcome::kInternal) << r.detail;
  EXPECT_EQ(r.answered, 503);
  shutdown(client_, SHUT_WR);
  EXPECT_EQ(ReadToEof(client_).rfind("HTTP/1.1 503 ", 0), 0u);
}

TEST_F(ChildTest, SlowHeadIsAnswered408AndNeverRouted) {
  ctx_.protocol = Protocol::kHttp;
  ctx_.handshake_timeout_ms = 200;
  const std::string part = "GET / HTTP/1.1\r\nHost: app";
  ASSERT_EQ(write(client_, part.data(), part.size()), static_cast<ssize_t>(part.size()));
  ChildReport r = Serve([] {});
  EXPECT_EQ(r.outcome, Outcome::kHandshakeTimeout);
  EXPECT_EQ(r.answered, 408);
}

TEST_F(ChildTest, AcceptProxyReportsBothAddressesBeforeParsingTheClient) {
  ctx_.protocol = Protocol::kHttp;
  ctx_.accept_proxy = true;
  int verdict[2];
  ASSERT_EQ(pipe2(verdict, O_CLOEXEC | O_NONBLOCK), 0);
  ctx_.verdict_fd = verdict[0];
  const std::string in = "PROXY TCP4 192.0.2.7 198.51.100.1 50000 443\r\n"
                         "GET / HTTP/1.1\r\nHost: app.test\r\n\r\n";
  ASSERT_EQ(write(client_, in.data(), in.size()), static_cast<ssize_t>(in.size()));
  SourceReport source;
  ChildReport r = Serve([&] {
    Received got;
    ASSERT_EQ(RecvWithFds(parent_, &source, sizeof source, 0, &got), 0);
    ASSERT_EQ(got.len, static_cast<ssize_t>(sizeof source));
    uint8_t admit = 0;
    ASSERT_EQ(write(verdict[1], &admit, 1), 1);
    AnswerRoute(RouteReply::kRouted);
  });
  close(verdict[0]);
  close(verdict[1]);
  ASSERT_TRUE(ValidateSourceReport(source));
  EXPECT_EQ(source.family, 4);
  EXPECT_EQ(source.port, 50000);
  EXPECT_EQ(source.dst_port, 443);
  EXPECT_EQ(source.addr[0], 192);
  EXPECT_EQ(source.dst_addr[0], 198);
  EXPECT_EQ(r.outcome, Outcome::kHandedOff) << r.detail;
  // The balancer's header is not replayed: the broker writes its own.
  EXPECT_EQ(ReadToEof(backend_), "GET / HTTP/1.1\r\nHost: app.test\r\n\r\n");
}

}  // namespace
}  // namespace sallyport::proxy
