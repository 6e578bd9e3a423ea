// SPDX-License-Identifier: Apache-2.0
// proxy/handoff.h — how the parent gives an accepted connection to a
// waiting (pre-forked, already locked-down) child: one SCM_RIGHTS message on
// a SOCK_SEQPACKET socketpair that exists for that child alone, carrying the
// client socket and a fixed-size header (the connection's addresses).
//
// Side of the trust boundary: SendConnection runs in the parent, before any
// byte of the connection is read; ReceiveConnection runs in the waiting
// child, under its seccomp filter (recvmsg, close), before it reads a byte.
// The child trusts the parent; the parent never reads from the channel.
// After ReceiveConnection the child closes its end, so it can never be given
// another connection: one process, one connection.
//
// Both are async-signal-safe and allocate nothing.
#ifndef SALLYPORT_PROXY_HANDOFF_H_
#define SALLYPORT_PROXY_HANDOFF_H_

#include <cstdint>

#include "parser/proxy_protocol.h"

namespace sallyport::proxy {

inline constexpr uint32_t kHandoffMagic = 0x53504843;  // "SPHC"

struct ConnectionHeader {
  uint32_t magic = kHandoffMagic;
  parser::ProxyEndpoints endpoints;  // source = client, destination = us
};

// Sends `fd` and `header` on `channel` (non-blocking: a waiting child's
// channel is empty). Returns 0 or -errno (-EPIPE / -ECONNREFUSED / -ENOTCONN
// when the child has gone: take another).
int SendConnection(int channel, int fd, const ConnectionHeader& header) noexcept;

// Blocks until the parent sends a connection; returns its fd (>= 0) and
// fills `header`. Returns -ESHUTDOWN when the parent closed the channel
// (drain: the child should exit), -EBADMSG for anything but one header with
// exactly one descriptor (extra descriptors are closed), or -errno.
int ReceiveConnection(int channel, ConnectionHeader* header) noexcept;

// The two primitives under every descriptor-passing channel of sallyport
// (hand-off, zygote replies, child reports, relay). One message of `len`
// bytes with `nfds` (0..kMaxPassedFds) descriptors. Returns 0 when the
// whole message was sent, or -errno (-EMSGSIZE for a short send). `flags`
// is added to MSG_NOSIGNAL (e.g. MSG_DONTWAIT).
inline constexpr int kMaxPassedFds = 4;
int SendWithFds(int channel, const void* msg, size_t len, const int* fds, int nfds,
                int flags) noexcept;

// What RecvWithFds got: the message's length (0 at EOF), the descriptors
// (close-on-exec), and whether anything was cut off: a longer message
// (MSG_TRUNC) or descriptors beyond `max_fds` or beyond this process's
// RLIMIT_NOFILE (MSG_CTRUNC: the kernel dropped those).
struct Received {
  ssize_t len = 0;
  int fds[kMaxPassedFds + 1] = {-1, -1, -1, -1, -1};
  int nfds = 0;
  bool truncated = false;
  bool fds_truncated = false;
  void CloseFds() noexcept;
};

// Receives one message into `buf` (`len` bytes at most), taking up to
// kMaxPassedFds + 1 descriptors, so that one too many is seen rather than
// lost. Returns 0 (see `*out`) or -errno (-EAGAIN with MSG_DONTWAIT).
int RecvWithFds(int channel, void* buf, size_t len, int flags, Received* out) noexcept;

}  // namespace sallyport::proxy

#endif  // SALLYPORT_PROXY_HANDOFF_H_
