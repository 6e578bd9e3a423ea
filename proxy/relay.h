// SPDX-License-Identifier: Apache-2.0
// proxy/relay.h — moves bytes both ways between the client and the backend
// until both directions have closed, propagating half-close and enforcing
// an idle timeout. Client -> backend uses splice(2) through a pipe (zero
// copy; the pipe grows to 1 MiB once 1 MiB has passed); backend -> client
// uses recv/send through a 256 KiB buffer allocated on the first byte —
// for a Unix-socket source that measured faster than splice
// (bench/RESULTS.md).
//
// Side of the trust boundary: child, after lockdown. Uses only syscalls the
// child policy allows: pipe2, splice, recvfrom, sendto, poll, shutdown,
// close, clock_gettime, fcntl(F_GETFL/F_SETFL/F_SETPIPE_SZ), memory.
//
// Half-close: when one side stops sending (EOF on read), everything already
// read is delivered and then the other side's write direction is shut down
// (shutdown(SHUT_WR)); the opposite direction keeps flowing until it ends
// too. Nothing read is ever dropped unless the receiving side has gone away
// (EPIPE / ECONNRESET), which ends the relay with kReset.
#ifndef SALLYPORT_PROXY_RELAY_H_
#define SALLYPORT_PROXY_RELAY_H_

#include <cstdint>

#include "absl/strings/string_view.h"

namespace sallyport::proxy {

struct RelayResult {
  enum class End { kClosed, kIdleTimeout, kReset, kError };
  End end = End::kClosed;
  int error = 0;                 // errno for kReset / kError
  uint64_t client_to_backend = 0;
  uint64_t backend_to_client = 0;
};

// Both fds are connected stream sockets; they are made non-blocking. Returns
// when both directions are closed, on the idle timeout (no byte moved in
// either direction for idle_timeout_ms), or on an error. Does not close the
// fds.
RelayResult Relay(int client, int backend, int idle_timeout_ms) noexcept;

// Writes all of `bytes` to a non-blocking or blocking socket, waiting with
// poll() up to deadline_ms (absolute CLOCK_MONOTONIC milliseconds). Returns
// 0 or -errno (-ETIMEDOUT when the deadline passed). Never raises SIGPIPE.
int WriteAll(int fd, absl::string_view bytes, int64_t deadline_ms) noexcept;

// CLOCK_MONOTONIC in milliseconds.
int64_t MonotonicMillis() noexcept;

}  // namespace sallyport::proxy

#endif  // SALLYPORT_PROXY_RELAY_H_
