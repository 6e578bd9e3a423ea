// SPDX-License-Identifier: Apache-2.0
#include "proxy/listener.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "gtest/gtest.h"

namespace sallyport::proxy {
namespace {

int LocalPort(int fd) {
  sockaddr_storage ss = {};
  socklen_t len = sizeof ss;
  EXPECT_EQ(getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len), 0);
  if (ss.ss_family == AF_INET) return ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
  return ntohs(reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port);
}

TEST(ListenOn, Ipv4AndIpv6) {
  auto v4 = ListenOn("127.0.0.1:0");
  ASSERT_TRUE(v4.ok()) << v4.status();
  EXPECT_GT(LocalPort(*v4), 0);
  close(*v4);
  auto v6 = ListenOn("[::1]:0");
  if (v6.ok()) {  // loopback IPv6 may be disabled on a machine; v4 is not
    EXPECT_GT(LocalPort(*v6), 0);
    close(*v6);
  } else {
    EXPECT_TRUE(absl::IsUnavailable(v6.status())) << v6.status();
  }
}

TEST(ListenOn, RefusesMalformedAddresses) {
  for (const char* bad : {"", "127.0.0.1", "127.0.0.1:", "127.0.0.1:65536",
                          "127.0.0.1:http", "localhost:80", "[::1]80", "::1:80",
                          "[::1:80", "999.1.1.1:80"}) {
    auto r = ListenOn(bad);
    EXPECT_FALSE(r.ok()) << bad;
    if (!r.ok()) {
      EXPECT_TRUE(absl::IsInvalidArgument(r.status())) << bad << r.status();
    }
  }
}

TEST(ListenOn, AddressInUseIsReported) {
  auto a = ListenOn("127.0.0.1:0");
  ASSERT_TRUE(a.ok());
  std::string addr = "127.0.0.1:" + std::to_string(LocalPort(*a));
  auto b = ListenOn(addr);
  EXPECT_FALSE(b.ok());
  EXPECT_NE(b.status().message().find("in use"), absl::string_view::npos) << b.status();
  close(*a);
}

TEST(AcquireListener, NoSocketNamesTheThreeWays) {
  unsetenv("LISTEN_PID");
  unsetenv("LISTEN_FDS");
  auto l = AcquireListener("");
  ASSERT_FALSE(l.ok());
  std::string m(l.status().message());
  EXPECT_NE(m.find("LISTEN_FDS"), std::string::npos) << m;
  EXPECT_NE(m.find("fd 0"), std::string::npos) << m;
  EXPECT_NE(m.find("--listen"), std::string::npos) << m;
}

TEST(AcquireListener, SystemdActivationTakesFd3AndClearsTheEnvironment) {
  auto s = ListenOn("127.0.0.1:0");
  ASSERT_TRUE(s.ok());
  int saved = dup(3);  // whatever the test runner had on fd 3
  ASSERT_EQ(dup2(*s, 3), 3);
  setenv("LISTEN_PID", std::to_string(getpid()).c_str(), 1);
  setenv("LISTEN_FDS", "1", 1);
  auto l = AcquireListener("");
  ASSERT_TRUE(l.ok()) << l.status();
  EXPECT_EQ(l->fd, 3);
  EXPECT_EQ(getenv("LISTEN_PID"), nullptr);
  EXPECT_EQ(getenv("LISTEN_FDS"), nullptr);

  // Inherited plus --listen is ambiguous.
  setenv("LISTEN_PID", std::to_string(getpid()).c_str(), 1);
  setenv("LISTEN_FDS", "1", 1);
  auto both = AcquireListener("127.0.0.1:0");
  EXPECT_FALSE(both.ok());

  // More than one socket: one protocol per process.
  setenv("LISTEN_PID", std::to_string(getpid()).c_str(), 1);
  setenv("LISTEN_FDS", "2", 1);
  auto two = AcquireListener("");
  EXPECT_FALSE(two.ok());
  EXPECT_NE(two.status().message().find("exactly one"), absl::string_view::npos);

  close(3);
  close(*s);
  if (saved >= 0) {
    dup2(saved, 3);
    close(saved);
  }
}

TEST(AcquireListener, ForeignListenPidIsIgnored) {
  setenv("LISTEN_PID", "1", 1);  // meant for another process
  setenv("LISTEN_FDS", "1", 1);
  auto l = AcquireListener("127.0.0.1:0");
  ASSERT_TRUE(l.ok()) << l.status();
  EXPECT_NE(l->how.find("--listen"), std::string::npos);
  close(l->fd);
}

}  // namespace
}  // namespace sallyport::proxy
