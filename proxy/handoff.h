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

}  // namespace sallyport::proxy

#endif  // SALLYPORT_PROXY_HANDOFF_H_
