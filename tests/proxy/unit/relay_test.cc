// SPDX-License-Identifier: Apache-2.0
#include "proxy/relay.h"

#include <errno.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <future>
#include <random>
#include <string>
#include <thread>

#include "gtest/gtest.h"

namespace sallyport::proxy {
namespace {

// client_app <-> [client_proxy | Relay | backend_proxy] <-> backend_app
struct Pair {
  int app = -1, proxy = -1;
  Pair() {
    int sv[2];
    EXPECT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    app = sv[0];
    proxy = sv[1];
  }
  ~Pair() {
    if (app >= 0) close(app);
    if (proxy >= 0) close(proxy);
  }
};

std::string Pattern(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::string s(n, '\0');
  for (char& c : s) c = static_cast<char>(rng());
  return s;
}

void SendAll(int fd, const std::string& data) {
  size_t off = 0;
  while (off < data.size()) {
    ssize_t n = send(fd, data.data() + off, data.size() - off, MSG_NOSIGNAL);
    ASSERT_GT(n, 0) << strerror(errno);
    off += static_cast<size_t>(n);
  }
}

std::string ReadToEof(int fd) {
  std::string out;
  char buf[65536];
  for (;;) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n <= 0) return out;
    out.append(buf, static_cast<size_t>(n));
  }
}

TEST(Relay, MovesBytesBothWaysExactly) {
  Pair client, backend;
  auto relay = std::async(std::launch::async, [&] {
    return Relay(client.proxy, backend.proxy, 10000);
  });
  const std::string up = Pattern(3 << 20, 1), down = Pattern(5 << 20, 2);
  std::thread up_writer([&] {
    SendAll(client.app, up);
    shutdown(client.app, SHUT_WR);
  });
  std::thread down_writer([&] {
    SendAll(backend.app, down);
    shutdown(backend.app, SHUT_WR);
  });
  auto got_down = std::async(std::launch::async, [&] { return ReadToEof(client.app); });
  std::string got_up = ReadToEof(backend.app);
  up_writer.join();
  down_writer.join();
  EXPECT_TRUE(got_up == up);
  EXPECT_TRUE(got_down.get() == down);
  RelayResult r = relay.get();
  EXPECT_EQ(r.end, RelayResult::End::kClosed);
  EXPECT_EQ(r.client_to_backend, up.size());
  EXPECT_EQ(r.backend_to_client, down.size());
}

TEST(Relay, ClientHalfCloseStillDeliversTheReply) {
  Pair client, backend;
  auto relay = std::async(std::launch::async, [&] {
    return Relay(client.proxy, backend.proxy, 10000);
  });
  SendAll(client.app, "request");
  shutdown(client.app, SHUT_WR);
  EXPECT_EQ(ReadToEof(backend.app), "request");  // EOF propagated
  SendAll(backend.app, "reply after the client's EOF");
  shutdown(backend.app, SHUT_WR);
  EXPECT_EQ(ReadToEof(client.app), "reply after the client's EOF");
  EXPECT_EQ(relay.get().end, RelayResult::End::kClosed);
}

TEST(Relay, BackendHalfCloseStillAcceptsClientData) {
  Pair client, backend;
  auto relay = std::async(std::launch::async, [&] {
    return Relay(client.proxy, backend.proxy, 10000);
  });
  SendAll(backend.app, "banner");
  shutdown(backend.app, SHUT_WR);
  EXPECT_EQ(ReadToEof(client.app), "banner");
  SendAll(client.app, "late upload");
  shutdown(client.app, SHUT_WR);
  EXPECT_EQ(ReadToEof(backend.app), "late upload");
  RelayResult r = relay.get();
  EXPECT_EQ(r.end, RelayResult::End::kClosed);
  EXPECT_EQ(r.client_to_backend, 11u);
  EXPECT_EQ(r.backend_to_client, 6u);
}

TEST(Relay, IdleTimeoutEndsASilentRelay) {
  Pair client, backend;
  RelayResult r = Relay(client.proxy, backend.proxy, 200);
  EXPECT_EQ(r.end, RelayResult::End::kIdleTimeout);
  EXPECT_EQ(r.client_to_backend + r.backend_to_client, 0u);
}

TEST(Relay, BackendVanishingEndsTheRelay) {
  signal(SIGPIPE, SIG_IGN);  // as sandbox::LockdownChild leaves it in a child
  Pair client, backend;
  close(backend.app);
  backend.app = -1;
  SendAll(client.app, "data for nobody");
  RelayResult r = Relay(client.proxy, backend.proxy, 5000);
  EXPECT_NE(r.end, RelayResult::End::kIdleTimeout);
}

TEST(WriteAll, WritesEverythingAndTimesOutOnAStuckPeer) {
  Pair p;
  EXPECT_EQ(WriteAll(p.proxy, "hello", MonotonicMillis() + 1000), 0);
  char buf[5];
  ASSERT_EQ(read(p.app, buf, 5), 5);
  EXPECT_EQ(std::string(buf, 5), "hello");
  // Nobody reads p.app: the socket buffer fills and the deadline passes.
  std::string big(64 << 20, 'x');
  EXPECT_EQ(WriteAll(p.proxy, big, MonotonicMillis() + 200), -ETIMEDOUT);
}

TEST(WriteAll, ClosedPeerIsAnErrorNotASignal) {
  Pair p;
  close(p.app);
  p.app = -1;
  EXPECT_EQ(WriteAll(p.proxy, "x", MonotonicMillis() + 1000), -EPIPE);
}

}  // namespace
}  // namespace sallyport::proxy
