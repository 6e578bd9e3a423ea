// SPDX-License-Identifier: Apache-2.0
// proxy/relay.h — moves bytes both ways between clients and their backends,
// many connections in one process (the relay, proxy/relay_process.h), until
// both directions of each have closed, propagating half-close and enforcing
// an idle timeout. Both directions use splice(2) through a pipe, so no
// connection byte is ever copied into the relay's memory.
//
// Memory per held connection is what the kernel keeps for its two sockets
// and a few dozen bytes here: a pipe belongs to a direction only while
// bytes sit in it (the receiver was full); otherwise it goes back to a small
// pool shared by all connections. A direction that has moved
// kGrowPipeAfter keeps its pipe and grows it to 1 MiB (bulk transfers then
// need a quarter of the splice calls).
//
// Side of the trust boundary: relay, after its filter (policy::RelayPolicy):
// epoll, splice, pipe2, shutdown, close, fcntl(F_GETFL/F_SETFL/
// F_SETPIPE_SZ), clock_gettime, memory. It never reads a connection's
// bytes: splice moves them from socket to pipe to socket inside the kernel.
//
// Half-close: when one side stops sending (EOF on read), everything already
// read is delivered and then the other side's write direction is shut down
// (shutdown(SHUT_WR)); the opposite direction keeps flowing until it ends
// too. Nothing read is ever dropped unless the receiving side has gone away
// (EPIPE / ECONNRESET), which ends the connection with kReset.
//
// Also here: WriteAll and MonotonicMillis, used by the child to answer and
// to replay.
#ifndef SALLYPORT_PROXY_RELAY_H_
#define SALLYPORT_PROXY_RELAY_H_

#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace sallyport::proxy {

struct RelayResult {
  // kStopped: RelayLoop::StopAll. kRejected: the relay process refused the
  // descriptors it was given (proxy/relay_process.h), never relayed.
  enum class End : uint8_t { kClosed, kIdleTimeout, kReset, kError, kStopped, kRejected };
  uint64_t id = 0;               // as given to RelayLoop::Add
  End end = End::kClosed;
  int error = 0;                 // errno for kReset / kError
  uint64_t client_to_backend = 0;
  uint64_t backend_to_client = 0;
};

// Not thread-safe. One per relay process (and one per unit test).
class RelayLoop {
 public:
  // `watch_fd` (>= 0) is polled for input along with the connections: the
  // relay's channel to the parent. Errors: epoll_create1's.
  static absl::StatusOr<std::unique_ptr<RelayLoop>> Create(int idle_timeout_ms,
                                                           int watch_fd);
  ~RelayLoop();

  // Takes ownership of two connected stream sockets (made non-blocking) and
  // starts relaying. Returns 0, or -errno (both fds are closed then).
  int Add(uint64_t id, int client, int backend);

  // Waits up to `timeout_ms` (-1: no limit but the idle deadlines) for
  // readiness, moves what it can, and appends every connection that ended
  // (both fds closed) to `*done`. Returns true if `watch_fd` is readable.
  bool Poll(int timeout_ms, std::vector<RelayResult>* done);

  // Ends every connection now (closes its fds) with End::kStopped.
  void StopAll(std::vector<RelayResult>* done);

  size_t size() const { return live_; }
  // Pipes owned by directions (bytes waiting) or pooled: for tests.
  size_t pipes_held() const;

 private:
  struct Flow;
  struct Conn;
  RelayLoop(int epoll_fd, int idle_timeout_ms, int watch_fd);
  // Moves bytes of both flows; true if the connection ended (result filled).
  bool Pump(Conn& c, int64_t now, std::vector<RelayResult>* done);
  int PumpFlow(Flow& f, bool* progress, bool* more);
  bool TakePipe(Flow& f);
  void ReleasePipe(Flow& f);
  void Finish(Conn& c, RelayResult::End end, int error, std::vector<RelayResult>* done);
  void Touch(Conn& c, int64_t now);
  void Unlink(Conn& c);

  int epoll_fd_;
  int idle_timeout_ms_;
  int watch_fd_;
  size_t live_ = 0;
  // Least recently active first: the head is the next to time out.
  Conn* lru_head_ = nullptr;
  Conn* lru_tail_ = nullptr;
  std::vector<Conn*> runnable_;  // stopped after kMaxRounds: more to move
  std::vector<std::unique_ptr<Conn>> slots_;  // epoll data names a slot
  std::vector<uint32_t> free_slots_;
  uint64_t round_ = 0;
  std::vector<std::pair<int, int>> spare_pipes_;
};

// Writes all of `bytes` to a non-blocking or blocking socket, waiting with
// poll() up to deadline_ms (absolute CLOCK_MONOTONIC milliseconds). Returns
// 0 or -errno (-ETIMEDOUT when the deadline passed). Never raises SIGPIPE.
int WriteAll(int fd, absl::string_view bytes, int64_t deadline_ms) noexcept;

// CLOCK_MONOTONIC in milliseconds.
int64_t MonotonicMillis() noexcept;

}  // namespace sallyport::proxy

#endif  // SALLYPORT_PROXY_RELAY_H_
