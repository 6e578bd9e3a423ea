// SPDX-License-Identifier: Apache-2.0
// proxy/route_broker.h over a real hosts directory the test owns (its
// current directory, as the chroot root is the parent's): a route connected with its PROXY header written before any
// other byte, each refusal, and a full listen queue answered kBusy at once
// rather than blocking the parent.
#include "proxy/route_broker.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "parser/proxy_protocol.h"

namespace sallyport::proxy {
namespace {

// A hosts directory in TEST_TMPDIR, made the current directory for the
// test (ConnectRoute is relative to it and comes back to "/" — here, to
// the real root — so each call runs from a fresh chdir).
class BrokerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* tmp = getenv("TEST_TMPDIR");
    root_ = std::string(tmp ? tmp : "/tmp") + "/brokerXXXXXX";
    ASSERT_NE(mkdtemp(root_.data()), nullptr);
    cwd_ = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    ASSERT_GE(cwd_, 0);
    Enter();
    ASSERT_EQ(mkdir("app.test", 0755), 0);
    ASSERT_EQ(mkdir("stale.test", 0755), 0);
    ASSERT_EQ(mkdir("busy.test", 0755), 0);
  }
  void TearDown() override {
    for (int fd : fds_) close(fd);
    ASSERT_EQ(fchdir(cwd_), 0);
    close(cwd_);
  }
  void Enter() { ASSERT_EQ(chdir(root_.c_str()), 0); }

  // Listens on dir/tls-socket (relative: temp paths can exceed sun_path).
  int Listen(const char* dir, int backlog) {
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::snprintf(a.sun_path, sizeof a.sun_path, "%s/tls-socket", dir);
    EXPECT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0) << strerror(errno);
    EXPECT_EQ(listen(fd, backlog), 0);
    fds_.push_back(fd);
    return fd;
  }
  BrokerResult Route(const char* name) {
    Enter();
    BrokerResult r = Broker(name, Protocol::kTls, endpoints_, std::nullopt);
    if (r.backend >= 0) fds_.push_back(r.backend);
    return r;
  }

  std::string root_;
  int cwd_ = -1;
  std::vector<int> fds_;
  parser::ProxyEndpoints endpoints_ = [] {
    parser::ProxyEndpoints e;
    e.family = parser::ProxyEndpoints::Family::kTcp4;
    e.src_addr = {192, 0, 2, 7};
    e.dst_addr = {198, 51, 100, 1};
    e.src_port = 50000;
    e.dst_port = 443;
    return e;
  }();
};

TEST_F(BrokerTest, RoutesAndWritesTheProxyHeaderFirst) {
  int listener = Listen("app.test", 4);
  ASSERT_EQ(close(open("app.test/send-proxy-v1", O_CREAT | O_WRONLY | O_CLOEXEC, 0644)), 0);
  BrokerResult r = Route("app.test");
  ASSERT_EQ(r.kind, BrokerResult::kRouted) << r.detail;
  EXPECT_EQ(r.proxy_header_sent, 1);
  EXPECT_NE(fcntl(r.backend, F_GETFL) & O_NONBLOCK, 0) << "never blocks the parent";
  EXPECT_NE(fcntl(r.backend, F_GETFD) & FD_CLOEXEC, 0);
  // What the child then writes comes after the header.
  ASSERT_EQ(send(r.backend, "hello", 5, MSG_NOSIGNAL), 5);
  int conn = accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
  ASSERT_GE(conn, 0);
  fds_.push_back(conn);
  const std::string header = parser::EncodeProxyV1(endpoints_);
  std::string got(header.size() + 5, '\0');
  ASSERT_EQ(recv(conn, got.data(), got.size(), MSG_WAITALL), static_cast<ssize_t>(got.size()));
  EXPECT_EQ(got, header + "hello");
  EXPECT_EQ(got.rfind("PROXY TCP4 192.0.2.7 198.51.100.1 50000 443\r\n", 0), 0u) << got;
}

TEST_F(BrokerTest, NoMarkerNoHeader) {
  int listener = Listen("app.test", 4);
  BrokerResult r = Route("app.test");
  ASSERT_EQ(r.kind, BrokerResult::kRouted) << r.detail;
  EXPECT_EQ(r.proxy_header_sent, 0);
  ASSERT_EQ(send(r.backend, "x", 1, MSG_NOSIGNAL), 1);
  int conn = accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
  ASSERT_GE(conn, 0);
  fds_.push_back(conn);
  char c = 0;
  ASSERT_EQ(recv(conn, &c, 1, 0), 1);
  EXPECT_EQ(c, 'x');
}

TEST_F(BrokerTest, RefusalsSayWhy) {
  BrokerResult missing = Route("nowhere.test");
  EXPECT_EQ(missing.kind, BrokerResult::kNoRoute);
  EXPECT_NE(missing.detail.find("no such host"), std::string::npos) << missing.detail;
  EXPECT_EQ(missing.backend, -1);
  // A socket file nobody listens on any more.
  close(Listen("stale.test", 4));
  fds_.pop_back();
  BrokerResult stale = Route("stale.test");
  EXPECT_EQ(stale.kind, BrokerResult::kBackendDown);
  EXPECT_NE(stale.detail.find(strerror(ECONNREFUSED)), std::string::npos) << stale.detail;
  EXPECT_EQ(stale.backend, -1);
}

TEST_F(BrokerTest, AFullListenQueueIsBusyNotABlock) {
  int listener = Listen("busy.test", 0);
  // Fill the queue (backlog 0 still queues one or two) until the kernel
  // says EAGAIN to a non-blocking connect of our own.
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::strcpy(a.sun_path, "busy.test/tls-socket");
  for (int i = 0; i < 16; ++i) {
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    fds_.push_back(fd);
    if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
      ASSERT_EQ(errno, EAGAIN) << strerror(errno);
      break;
    }
  }
  BrokerResult r = Route("busy.test");
  EXPECT_EQ(r.kind, BrokerResult::kBusy) << r.detail;
  EXPECT_NE(r.detail.find("listen queue is full"), std::string::npos) << r.detail;
  EXPECT_EQ(r.backend, -1);
  // Once the backend accepts, the same route goes through.
  int conn = accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
  ASSERT_GE(conn, 0);
  fds_.push_back(conn);
  BrokerResult again = Route("busy.test");
  EXPECT_EQ(again.kind, BrokerResult::kRouted) << again.detail;
}

}  // namespace
}  // namespace sallyport::proxy
