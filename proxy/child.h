// SPDX-License-Identifier: Apache-2.0
// proxy/child.h — everything one connection's process does after lockdown:
// read the handshake (under a deadline), parse it, canonicalise the name,
// apply the ownership policy, connect to the tenant's socket, optionally
// send a PROXY header, replay the exact bytes read, then relay both ways.
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
//        backend socket refuses; on a handshake timeout the connection is
//        closed without an alert (nothing valid arrived to answer).
//   HTTP: 400 malformed, 404 unknown host or refused by policy, 408
//        handshake timeout, 431 head too large, 505 version (HTTP/2
//        preface), 502 backend down.
#ifndef SALLYPORT_PROXY_CHILD_H_
#define SALLYPORT_PROXY_CHILD_H_

#include "parser/proxy_protocol.h"
#include "proxy/report.h"

namespace sallyport::proxy {

enum class Protocol { kTls, kHttp };

struct ChildContext {
  Protocol protocol = Protocol::kTls;
  bool accept_proxy = false;         // expect a PROXY v1/v2 header first
  int handshake_timeout_ms = 10000;  // ClientHello / request head deadline
  int idle_timeout_ms = 300000;      // relay idle limit
  // The accepted connection's addresses (source = client, destination =
  // our local address). Replaced by the upstream's with --accept-proxy.
  parser::ProxyEndpoints endpoints;
};

// Serves the connection on `client` to completion and returns what
// happened. Closes nothing but the backend socket it opened; the caller
// writes the report to the parent and exits.
ChildReport ServeConnection(int client, const ChildContext& ctx);

// "192.0.2.1:443" / "[2001:db8::1]:443" for an endpoint's source.
std::string EndpointSource(const parser::ProxyEndpoints& e);

}  // namespace sallyport::proxy

#endif  // SALLYPORT_PROXY_CHILD_H_
