// SPDX-License-Identifier: Apache-2.0
#include "proxy/relay.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <future>
#include <memory>
#include <vector>
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

// One connection through a RelayLoop polled on another thread until it ends.
class OneRelay {
 public:
  explicit OneRelay(int idle_timeout_ms = 10000) {
    auto loop = RelayLoop::Create(idle_timeout_ms, -1);
    EXPECT_TRUE(loop.ok()) << loop.status();
    loop_ = *std::move(loop);
    EXPECT_EQ(loop_->Add(7, client.proxy, backend.proxy), 0);
    client.proxy = backend.proxy = -1;  // the loop owns them now
    result_ = std::async(std::launch::async, [this] {
      std::vector<RelayResult> done;
      while (done.empty()) loop_->Poll(-1, &done);
      return done;
    });
  }
  RelayResult Get() {
    std::vector<RelayResult> done = result_.get();
    EXPECT_EQ(done.size(), 1u);
    EXPECT_EQ(loop_->size(), 0u);
    return done.empty() ? RelayResult{} : done[0];
  }
  Pair client, backend;

 private:
  std::unique_ptr<RelayLoop> loop_;
  std::future<std::vector<RelayResult>> result_;
};

TEST(Relay, MovesBytesBothWaysExactly) {
  OneRelay relay;
  const std::string up = Pattern(3 << 20, 1), down = Pattern(5 << 20, 2);
  std::thread up_writer([&] {
    SendAll(relay.client.app, up);
    shutdown(relay.client.app, SHUT_WR);
  });
  std::thread down_writer([&] {
    SendAll(relay.backend.app, down);
    shutdown(relay.backend.app, SHUT_WR);
  });
  auto got_down = std::async(std::launch::async, [&] { return ReadToEof(relay.client.app); });
  std::string got_up = ReadToEof(relay.backend.app);
  up_writer.join();
  down_writer.join();
  EXPECT_TRUE(got_up == up);
  EXPECT_TRUE(got_down.get() == down);
  RelayResult r = relay.Get();
  EXPECT_EQ(r.id, 7u);
  EXPECT_EQ(r.end, RelayResult::End::kClosed);
  EXPECT_EQ(r.client_to_backend, up.size());
  EXPECT_EQ(r.backend_to_client, down.size());
}

TEST(Relay, ClientHalfCloseStillDeliversTheReply) {
  OneRelay relay;
  SendAll(relay.client.app, "request");
  shutdown(relay.client.app, SHUT_WR);
  EXPECT_EQ(ReadToEof(relay.backend.app), "request");  // EOF propagated
  SendAll(relay.backend.app, "reply after the client's EOF");
  shutdown(relay.backend.app, SHUT_WR);
  EXPECT_EQ(ReadToEof(relay.client.app), "reply after the client's EOF");
  EXPECT_EQ(relay.Get().end, RelayResult::End::kClosed);
}

TEST(Relay, BackendHalfCloseStillAcceptsClientData) {
  OneRelay relay;
  SendAll(relay.backend.app, "banner");
  shutdown(relay.backend.app, SHUT_WR);
  EXPECT_EQ(ReadToEof(relay.client.app), "banner");
  SendAll(relay.client.app, "late upload");
  shutdown(relay.client.app, SHUT_WR);
  EXPECT_EQ(ReadToEof(relay.backend.app), "late upload");
  RelayResult r = relay.Get();
  EXPECT_EQ(r.end, RelayResult::End::kClosed);
  EXPECT_EQ(r.client_to_backend, 11u);
  EXPECT_EQ(r.backend_to_client, 6u);
}

TEST(Relay, IdleTimeoutEndsASilentRelay) {
  OneRelay relay(200);
  RelayResult r = relay.Get();
  EXPECT_EQ(r.end, RelayResult::End::kIdleTimeout);
  EXPECT_EQ(r.client_to_backend + r.backend_to_client, 0u);
}

TEST(Relay, BackendVanishingEndsTheRelay) {
  signal(SIGPIPE, SIG_IGN);  // as the relay process leaves it
  OneRelay relay(5000);
  close(relay.backend.app);
  relay.backend.app = -1;
  SendAll(relay.client.app, "data for nobody");
  RelayResult r = relay.Get();
  EXPECT_EQ(r.end, RelayResult::End::kReset);
  EXPECT_EQ(r.error, EPIPE);
}

int OpenFds() {
  int n = 0;
  for (int fd = 0; fd < 4096; ++fd) n += fcntl(fd, F_GETFD) >= 0;
  return n;
}

// The memory claim of relay.h: a connection with nothing in flight holds no
// pipe; many connections that each moved bytes share a small pool.
TEST(Relay, IdleConnectionsHoldNoPipe) {
  auto loop = RelayLoop::Create(60000, -1);
  ASSERT_TRUE(loop.ok());
  constexpr int kConns = 200;
  std::vector<std::unique_ptr<Pair>> clients, backends;
  const int before = OpenFds();
  for (int i = 0; i < kConns; ++i) {
    clients.push_back(std::make_unique<Pair>());
    backends.push_back(std::make_unique<Pair>());
    ASSERT_EQ((*loop)->Add(i, clients[i]->proxy, backends[i]->proxy), 0);
  }
  std::vector<RelayResult> done;
  for (int i = 0; i < kConns; ++i) {
    SendAll(clients[i]->app, "ping");
    SendAll(backends[i]->app, "pong!");
  }
  char buf[8];
  for (int i = 0; i < kConns; ++i) {
    while (recv(backends[i]->app, buf, sizeof buf, MSG_DONTWAIT) != 4 ||
           recv(clients[i]->app, buf, sizeof buf, MSG_DONTWAIT) != 5) {
      (*loop)->Poll(100, &done);
    }
  }
  EXPECT_TRUE(done.empty());
  EXPECT_EQ((*loop)->size(), static_cast<size_t>(kConns));
  // Every pipe is back in the pool, which is bounded.
  EXPECT_LE((*loop)->pipes_held(), 32u);
  // Descriptors: the 4 socket ends of each connection (2 the test's, 2
  // the loop's) and, beyond them, at most the pool's pipes.
  EXPECT_LE(OpenFds() - before, 4 * kConns + 2 * 32);
  for (int i = 0; i < kConns; ++i) {
    close(clients[i]->app);
    clients[i]->app = -1;
    close(backends[i]->app);
    backends[i]->app = -1;
    clients[i]->proxy = backends[i]->proxy = -1;
  }
  while ((*loop)->size() > 0) (*loop)->Poll(100, &done);
  EXPECT_EQ(done.size(), static_cast<size_t>(kConns));
  for (const RelayResult& r : done) {
    EXPECT_EQ(r.client_to_backend, 4u);
    EXPECT_EQ(r.backend_to_client, 5u);
  }
}

// A bulk connection does not starve a small one (kMaxRounds).
TEST(Relay, BulkTransferDoesNotStarveOthers) {
  auto loop = RelayLoop::Create(60000, -1);
  ASSERT_TRUE(loop.ok());
  Pair bulk_c, bulk_b, small_c, small_b;
  ASSERT_EQ((*loop)->Add(1, bulk_c.proxy, bulk_b.proxy), 0);
  ASSERT_EQ((*loop)->Add(2, small_c.proxy, small_b.proxy), 0);
  bulk_c.proxy = bulk_b.proxy = small_c.proxy = small_b.proxy = -1;
  std::atomic<bool> stop{false};
  std::thread loop_thread([&] {
    std::vector<RelayResult> done;
    while (!stop) (*loop)->Poll(50, &done);
  });
  const std::string big = Pattern(16 << 20, 3);
  std::thread writer([&] {
    SendAll(bulk_b.app, big);
    shutdown(bulk_b.app, SHUT_WR);
  });
  auto got = std::async(std::launch::async, [&] { return ReadToEof(bulk_c.app); });
  SendAll(small_c.app, "hi");
  char buf[2];
  ASSERT_EQ(recv(small_b.app, buf, 2, MSG_WAITALL), 2);
  EXPECT_EQ(std::string(buf, 2), "hi");
  writer.join();
  EXPECT_TRUE(got.get() == big);
  stop = true;
  loop_thread.join();
}

TEST(Relay, StopAllClosesEverything) {
  auto loop = RelayLoop::Create(60000, -1);
  ASSERT_TRUE(loop.ok());
  Pair c, b;
  ASSERT_EQ((*loop)->Add(9, c.proxy, b.proxy), 0);
  c.proxy = b.proxy = -1;
  std::vector<RelayResult> done;
  (*loop)->StopAll(&done);
  ASSERT_EQ(done.size(), 1u);
  EXPECT_EQ(done[0].id, 9u);
  EXPECT_EQ(done[0].end, RelayResult::End::kStopped);
  EXPECT_EQ(ReadToEof(c.app), "");
  EXPECT_EQ(ReadToEof(b.app), "");
}

TEST(Relay, WatchedFdIsReported) {
  Pair watch;
  auto loop = RelayLoop::Create(60000, watch.proxy);
  ASSERT_TRUE(loop.ok());
  std::vector<RelayResult> done;
  EXPECT_FALSE((*loop)->Poll(0, &done));
  SendAll(watch.app, "x");
  EXPECT_TRUE((*loop)->Poll(1000, &done));
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
