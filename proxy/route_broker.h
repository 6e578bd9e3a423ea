// SPDX-License-Identifier: Apache-2.0
// proxy/route_broker.h — the routing decision, made outside the child
// (OpenSSH's monitor idea): the child, which parsed hostile bytes and may be
// compromised, only asks for a host name (proxy/report.h RouteRequest); the
// parent checks the name, applies the ownership rules (policy/ownership.h),
// connects the tenant's socket, writes the PROXY header itself and hands
// the child the connected backend socket, keeping a copy for the relay.
// So a child taken over through a parser bug reaches no socket a client
// could not reach with a ClientHello or a Host header, and cannot put bytes
// in front of the PROXY header: its filter has no socket, connect, chdir,
// stat or readlink.
//
// Side of the trust boundary: parent, after LockdownParent, under the
// parent filter, current directory the chroot root (= the hosts
// directory). The name it is given has passed CheckRequestedName
// (proxy/report.h); Broker() makes the lookups and the connect
// (sandbox/resolve.h). Never blocks: the
// backend socket is non-blocking and a full listen queue comes back as
// kBusy for the caller to retry.
#ifndef SALLYPORT_PROXY_ROUTE_BROKER_H_
#define SALLYPORT_PROXY_ROUTE_BROKER_H_

#include <sys/types.h>

#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "parser/proxy_protocol.h"
#include "proxy/child.h"

namespace sallyport::proxy {

struct BrokerResult {
  enum Kind {
    kRouted,       // `backend` connected, the PROXY header (if any) written
    kNoRoute,      // the rules refuse it or there is no such host
    kBackendDown,  // the rules allow it but the socket refused (or the
                   // PROXY header could not be written)
    kBusy,         // the listener's queue is full (EAGAIN): try again later
  };
  Kind kind = kNoRoute;
  int backend = -1;               // kRouted: non-blocking, close-on-exec
  uint8_t proxy_header_sent = 0;  // 0 none, 1 v1, 2 v2
  std::string detail;             // why, for the log line (not for clients)
};

// Routes `name` (already CheckRequestedName'd) for `protocol`'s socket
// (tls-socket or http-socket): DecideRoute over the real filesystem, then
// ConnectRoute (SO_PEERCRED checked), then the PROXY header the route's
// marker asks for, built from `endpoints` (the accepted connection's, or
// those of the trusted balancer's header) and, for v2, `name`.
BrokerResult Broker(absl::string_view name, Protocol protocol,
                    const parser::ProxyEndpoints& endpoints,
                    std::optional<uid_t> unmapped_uid);

}  // namespace sallyport::proxy

#endif  // SALLYPORT_PROXY_ROUTE_BROKER_H_
