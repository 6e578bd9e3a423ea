// SPDX-License-Identifier: Apache-2.0
// proxy/server.h — the parent (acceptor) loop: accept, admit (limits), hand
// each connection to its own locked-down child (forked ahead of time and
// waiting, proxy/handoff.h), reap, pass each routed connection on to the
// relay (proxy/relay_process.h), log, drain on SIGTERM.
//
// Side of the trust boundary: parent, after sandbox::LockdownParent. It never
// reads a byte of client data: it only accepts, hands off, routes, and (when it refuses a
// connection itself) writes a fixed answer before closing. What children
// report back is validated as untrusted (proxy/report.h).
//
// Every working child's report channel is watched (one edge-triggered
// epoll set) for the conversation of report.h: with --accept-proxy its
// SourceReport (answered on the verdict pipe), then its RouteRequest, which
// the parent serves as the route broker (proxy/route_broker.h): it connects
// the backend, keeps a copy, and sends the child the socket. The parent also
// keeps its copy of the client socket; both go to the relay on a hand-off.
//
// Resource failures never crash or spin it: accept() failing with EMFILE /
// ENFILE / ENOBUFS / ENOMEM, or fork() failing with EAGAIN / ENOMEM, pauses
// accepting for kBackoffMs (the pending connection is answered 503 / closed)
// and serving resumes by itself once resources return.
#ifndef SALLYPORT_PROXY_SERVER_H_
#define SALLYPORT_PROXY_SERVER_H_

#include <vector>

#include "proxy/child.h"
#include "proxy/cidr.h"
#include "proxy/limits.h"
#include "proxy/log.h"
#include "sandbox/lockdown.h"
#include "sandbox/seccomp.h"

namespace sallyport::proxy {

inline constexpr int kBackoffMs = 100;
// A connection that finds no waiting child waits this long for the zygote.
inline constexpr int kSpawnWaitMs = 1000;
inline constexpr int kZygoteStartTimeoutMs = 5000;

struct ServerConfig {
  int listen_fd = -1;
  int devnull_fd = -1;             // opened before chroot, for child stdio
  ChildContext child;              // protocol, timeouts, --accept-proxy
  // Per client address. Without --accept-proxy the client is the accepted
  // peer. With it, the client is the address in the balancer's PROXY
  // header (reported by the child before it parses a client byte), and
  // max_connections is applied through balancer_limits instead.
  LimitsConfig limits;
  // --accept-proxy: the trusted balancers. A connection from any other
  // address is closed unread and logged (refused, "source not in
  // --accept-proxy"). Empty: PROXY headers are not expected.
  std::vector<Cidr> trusted_proxies;
  // --accept-proxy: limits on a trusted balancer's own address, checked at
  // accept (max_connections is the global cap; --max-per-proxy,
  // --rate-per-proxy); crashes before the real client is known (while only
  // the balancer's header has been parsed) count against it.
  LimitsConfig balancer_limits;
  // Crashes (IsFaultSignal deaths) from all sources together; exhausting
  // it pauses accepting.
  CrashBudgetConfig crash_budget;
  int drain_timeout_ms = 30000;    // SIGTERM: wait this long for children
  // --prefork: children kept forked and locked down, each waiting for one
  // connection (proxy/handoff.h); 0 asks the zygote for each child when its
  // connection is accepted.
  size_t prefork = 8;
  // The zygote (proxy/zygote.h): this binary, opened before chroot, and the
  // zygote's own filter. --zygote-max-children: replace it (a fresh exec,
  // a fresh layout) after this many children; 0 never (it is replaced after
  // every child crash regardless).
  int exe_fd = -1;
  const sandbox::CompiledFilter* zygote_filter = nullptr;
  uint64_t zygote_max_children = 0;
  // The relay (proxy/relay_process.h): started from exe_fd too; every
  // routed connection goes to it once its child has replayed.
  const sandbox::CompiledFilter* relay_filter = nullptr;
  // How many relays run (--relays, resolved by main): each holds two
  // descriptors per connection, so RLIMIT_NOFILE caps one relay near half
  // of it; a routed connection goes to the one holding the fewest.
  size_t relays = 1;
  size_t nofile = 1024;  // RLIMIT_NOFILE, raised to its hard limit by main
  LogFormat log_format = LogFormat::kText;
  // What each waiting child loads on top of the zygote's filter: the
  // narrowing of policy::ZygotePolicy() to policy::ChildPolicy().
  const sandbox::CompiledFilter* child_filter = nullptr;
  sandbox::ChildLimits child_limits;
};

// Installs SIGCHLD/SIGTERM/SIGINT handling (a self-pipe, created here), so
// call it before the parent's seccomp filter is loaded. Returns an error
// status only for setup failures.
absl::Status PrepareSignals();

// At most this many relays (--relays).
constexpr int kMaxRelays = 64;
// How many connections one relay can hold under RLIMIT_NOFILE `nofile`:
// two sockets each, after 128 descriptors for its channel, epoll set,
// stdio and pipes (spares and those holding bytes).
constexpr size_t RelayCapacity(size_t nofile) { return nofile > 128 ? (nofile - 128) / 2 : 0; }

// Serves until SIGTERM/SIGINT, then drains. Returns the process exit status
// (0 after a clean drain).
int Serve(const ServerConfig& config);

}  // namespace sallyport::proxy

#endif  // SALLYPORT_PROXY_SERVER_H_
