// SPDX-License-Identifier: Apache-2.0
// proxy/child.h — everything one connection's process does after lockdown:
// read the handshake (under a deadline), parse it, canonicalise the name,
// ask the parent's route broker (proxy/route_broker.h) for that name's
// backend, and replay the exact bytes read into the backend socket the
// broker connected (it wrote any PROXY header first). Then the connection
// leaves the child: the parent passes its own copies of the two sockets to
// the relay (proxy/relay_process.h) as soon as it reads the child's report
// of the hand-off; the child exits right after sending it.
// The child never chooses a socket: it cannot open, stat or connect one.
//
// Side of the trust boundary: child. It runs after sandbox::LockdownChild,
// so it only uses syscalls the child policy allows; its working directory is
// the hosts root (the chroot root "/" in production, a plain directory in
// tests). It never returns an unanswered failure: every refusal sends the
// protocol's error (a fatal TLS alert, or an HTTP status with
// Connection: close) before closing.
//
// Refusals (see README "Errors clients see"):
//   TLS: unrecognized_name (no SNI, unknown host, refused by the ownership
//        policy), the parser's alert for malformed input (decode_error,
//        unexpected_message, record_overflow, ...), internal_error when the
//        backend socket refuses (or the parent does not answer); on a
//        handshake timeout the connection is closed without an alert
//        (nothing valid arrived to answer).
//   HTTP: 400 malformed, 404 unknown host or refused by policy, 408
//        handshake timeout, 431 head too large, 505 version (HTTP/2
//        preface), 502 backend down, 503 no answer from the parent.
#ifndef SALLYPORT_PROXY_CHILD_H_
#define SALLYPORT_PROXY_CHILD_H_

#include <sys/types.h>

#include <optional>

#include "parser/proxy_protocol.h"
#include "proxy/protocol.h"
#include "proxy/report.h"

namespace sallyport::proxy {

struct ChildContext {
  Protocol protocol = Protocol::kTls;
  // --accept-proxy: expect a PROXY v1/v2 header from the trusted balancer
  // first. After parsing it (and before parsing any client byte) the child
  // writes a SourceReport to report_fd and waits, up to the handshake
  // deadline, for the parent's one-byte verdict on verdict_fd (report.h):
  // 0 goes on; an Admission code is answered like a parent refusal (TLS
  // internal_error alert, HTTP 503) and ends the connection.
  bool accept_proxy = false;
  // The child's end of its report channel (SOCK_SEQPACKET, proxy/report.h):
  // source report, route request and reply, final report.
  int report_fd = -1;
  int verdict_fd = -1;  // read end of the verdict pipe (accept_proxy only)
  int handshake_timeout_ms = 10000;  // ClientHello / request head deadline
  int idle_timeout_ms = 300000;      // relay idle limit (the relay's)
  // The accepted connection's addresses (source = client, destination =
  // our local address). Replaced by the upstream's with --accept-proxy.
  parser::ProxyEndpoints endpoints;
  // Unprivileged user-namespace mode: the overflow uid every unmapped owner
  // reads as (sandbox::ParentLockdownResult::unmapped_uid); never trusted.
  std::optional<uid_t> unmapped_uid;
};

// Serves the connection on `client` up to the hand-off and returns what
// happened, for the caller to send as the last message on
// ctx.report_fd. With outcome kHandedOff the replay is in the backend
// socket (which the child has closed again: the parent keeps a copy);
// otherwise the connection has been answered. Does not close `client`. In
// test builds only (//proxy:sallyport_testhooks) weak hooks
// (proxy/test_hooks.h) run once the host name is known.
ChildReport ServeConnection(int client, const ChildContext& ctx);

}  // namespace sallyport::proxy

#endif  // SALLYPORT_PROXY_CHILD_H_
