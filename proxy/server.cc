// SPDX-License-Identifier: Apache-2.0
#include "proxy/server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <climits>
#include <deque>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "parser/http_head.h"
#include "parser/tls_clienthello.h"
#include "proxy/handoff.h"
#include "proxy/protocol.h"
#include "proxy/relay.h"
#include "proxy/relay_process.h"
#include "proxy/route_broker.h"
#include "proxy/zygote.h"
#include "sandbox/lockdown.h"

namespace sallyport::proxy {
namespace {

int g_signal_pipe[2] = {-1, -1};
volatile sig_atomic_t g_stop = 0;

void OnSignal(int sig) {
  int saved = errno;
  if (sig == SIGTERM || sig == SIGINT) g_stop = 1;
  char c = static_cast<char>(sig);
  ssize_t ignored = write(g_signal_pipe[1], &c, 1);
  (void)ignored;
  errno = saved;
}

double MonoSeconds() { return MonotonicMillis() / 1000.0; }

struct Peer {
  std::string address;  // the limits key: the address without port
  std::string display;  // address:port, as logged
  parser::ProxyEndpoints endpoints;
};

Peer DescribePeer(int fd, const sockaddr_storage& ss) {
  Peer p;
  char buf[INET6_ADDRSTRLEN] = {};
  if (ss.ss_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(&ss);
    inet_ntop(AF_INET, &in->sin_addr, buf, sizeof buf);
    p.address = buf;
    p.display = absl::StrCat(buf, ":", ntohs(in->sin_port));
    p.endpoints.family = parser::ProxyEndpoints::Family::kTcp4;
    memcpy(p.endpoints.src_addr.data(), &in->sin_addr, 4);
    p.endpoints.src_port = ntohs(in->sin_port);
  } else if (ss.ss_family == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(&ss);
    inet_ntop(AF_INET6, &in6->sin6_addr, buf, sizeof buf);
    p.address = buf;
    p.display = absl::StrCat("[", buf, "]:", ntohs(in6->sin6_port));
    p.endpoints.family = parser::ProxyEndpoints::Family::kTcp6;
    memcpy(p.endpoints.src_addr.data(), &in6->sin6_addr, 16);
    p.endpoints.src_port = ntohs(in6->sin6_port);
  } else {
    p.address = p.display = "local";
    return p;
  }
  sockaddr_storage local = {};
  socklen_t len = sizeof local;
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&local), &len) == 0 &&
      local.ss_family == ss.ss_family) {
    if (local.ss_family == AF_INET) {
      const auto* in = reinterpret_cast<const sockaddr_in*>(&local);
      memcpy(p.endpoints.dst_addr.data(), &in->sin_addr, 4);
      p.endpoints.dst_port = ntohs(in->sin_port);
    } else {
      const auto* in6 = reinterpret_cast<const sockaddr_in6*>(&local);
      memcpy(p.endpoints.dst_addr.data(), &in6->sin6_addr, 16);
      p.endpoints.dst_port = ntohs(in6->sin6_port);
    }
  }
  return p;
}

// Waits for a helper just stopped (SIGKILLed), so how it ended is what the
// log says. False if there was none or it was already reaped.
bool ReapNow(pid_t pid, int* status) {
  if (pid <= 0) return false;
  pid_t got;
  do {
    got = waitpid(pid, status, 0);
  } while (got < 0 && errno == EINTR);
  return got == pid;
}

const char* SignalName(int sig) {
  switch (sig) {
    case SIGSYS: return "SIGSYS";
    case SIGSEGV: return "SIGSEGV";
    case SIGABRT: return "SIGABRT";
    case SIGBUS: return "SIGBUS";
    case SIGILL: return "SIGILL";
    case SIGFPE: return "SIGFPE";
    case SIGKILL: return "SIGKILL";
    case SIGXCPU: return "SIGXCPU";
    case SIGXFSZ: return "SIGXFSZ";
    case SIGPIPE: return "SIGPIPE";
    case SIGTERM: return "SIGTERM";
    case SIGTRAP: return "SIGTRAP";
    case SIGALRM: return "SIGALRM";
    case SIGINT: return "SIGINT";
    case SIGHUP: return "SIGHUP";
    case SIGQUIT: return "SIGQUIT";
    case SIGUSR1: return "SIGUSR1";
    case SIGUSR2: return "SIGUSR2";
    default: return "signal";
  }
}

// The per-client limits. With --accept-proxy the global cap is applied at
// accept, per balancer (balancer_limits), so it is lifted here.
LimitsConfig ClientLimits(const ServerConfig& config) {
  LimitsConfig c = config.limits;
  if (!config.trusted_proxies.empty()) c.max_connections = INT_MAX;
  return c;
}

LimitsConfig BalancerLimits(const ServerConfig& config) {
  LimitsConfig c = config.balancer_limits;
  c.max_connections = config.limits.max_connections;
  return c;
}

// The limits key and the display form of a SourceReport's address.
void DescribeSource(const SourceReport& r, std::string* key, std::string* display) {
  char buf[INET6_ADDRSTRLEN] = {};
  inet_ntop(r.family == 6 ? AF_INET6 : AF_INET, r.addr, buf, sizeof buf);
  *key = buf;
  *display = r.family == 6 ? absl::StrCat("[", buf, "]:", r.port)
                           : absl::StrCat(buf, ":", r.port);
}

class Server {
 public:
  explicit Server(const ServerConfig& config)
      : config_(config),
        limits_(ClientLimits(config)),
        balancer_limits_(BalancerLimits(config)),
        crash_budget_(config.crash_budget) {}
  int Run();

 private:
  // A child is forked ahead of time and waits, locked down, for one
  // connection (kWaiting); the parent hands it one (kWorking). A waiting
  // child whose hand-off failed (it had died) is kGone until reaped.
  enum class State { kWaiting, kWorking, kGone };
  struct Child {
    State state = State::kWaiting;
    int handoff_fd = -1;          // kWaiting: the parent's end of the channel
    int report_fd = -1;
    int verdict_fd = -1;          // --accept-proxy: write end, else -1
    Peer peer;
    double started = 0;
    // kWorking: the parent's own copies. The client socket from accept, the
    // backend socket from the route broker; both go to the relay after a
    // hand-off, and are closed at reap otherwise.
    int client_fd = -1;
    int backend_fd = -1;
    // What a PROXY header to the backend says: the accepted connection's
    // addresses, or (--accept-proxy) those of the balancer's header.
    parser::ProxyEndpoints endpoints;
    bool awaiting_source = false; // --accept-proxy: no SourceReport yet
    bool route_asked = false;     // its one RouteRequest has come
    std::string host;             // the name it asked for (checked canonical)
    uint8_t proxy_header_sent = 0;  // what the broker wrote to the backend
    std::string route_refusal;    // why the broker refused, for the log
    int64_t route_deadline_ms = 0;  // a full listen queue: retry until then
    int64_t route_retry_at_ms = 0;  // 0: no retry pending
    int route_backoff_ms = 0;
    // Why the parent stopped it: what it sent that a child must not (a
    // security event), or a local failure (an error); its line says it.
    std::string violation;
    bool have_report = false;     // its final ChildReport has come
    // Handed on to a relay when it reported (HandOnAtReport): its Held
    // entry, which waits for this child's reap for the line's `end`.
    uint64_t held_id = 0;
    ChildReport report;
    std::string client_key;       // admitted in limits_ under this key
    std::string proxied_display;  // the real client, from the SourceReport
    bool refused = false;         // the verdict refused it (logged then)
  };

  // One line per connection, whoever ended it (child, relay, parent).
  struct Line {
    std::string host = "-";
    std::string outcome;
    std::string detail;
    bool have_detail = false;
    uint16_t answered = 0;
    uint8_t proxy_header_sent = 0;
    bool have_bytes = false;
    uint64_t up = 0, down = 0;
  };
  // A routed connection the relay holds: what its log line needs.
  struct Held {
    size_t relay = 0;  // which of relays_ holds it
    Peer peer;
    std::string proxied_display;
    std::string client_key;
    double started = 0;
    std::string host;
    uint8_t proxy_header_sent = 0;
    uint64_t replayed = 0;  // bytes_up written by the child
    std::string end;        // how its child ended
    // Handed on when its child reported, before the child was reaped: the
    // line waits for the reap (its `end`), even if the relay ends first.
    bool child_alive = false;
    bool relay_done = false;  // the relay has ended it; `pending` is its line
    Line pending;
    std::string pending_end;  // a dead relay's end, which the line says instead
  };

  bool ProxyMode() const { return !config_.trusted_proxies.empty(); }
  // Where the accepted peer is admitted: the balancer table with
  // --accept-proxy, else the client table.
  Limits& Front() { return ProxyMode() ? balancer_limits_ : limits_; }
  void AcceptSome();
  // The zygote (proxy/zygote.h) forks every child. Starts it when it is
  // not running (at most once per kBackoffMs after a failure); false with
  // prefork_error_ set.
  bool EnsureZygote();
  // Asks the zygote for one more waiting child (its reply arrives on the
  // channel: ReadSpawnReplies). False with prefork_error_ set.
  bool RequestSpawn();
  // Takes every reply that has arrived: waiting children into the pool.
  void ReadSpawnReplies();
  // A connection is waiting and no child is: ask (if nothing is asked yet)
  // and wait up to kSpawnWaitMs for one. False with prefork_error_ set.
  bool WaitForWaitingChild();
  // After a child died of a fault: a new zygote (a fresh exec, so a fresh
  // address layout) and the waiting children of the old one sent away.
  void ReplaceZygote(const std::string& why);
  void ZygoteEnded(const std::string& why);
  // Gives the accepted `fd` to a waiting child (asking for one if none waits).
  void HandOff(int fd, const Peer& peer);
  void TopUpPool();
  void CloseIdle();  // drain: waiting children see EOF and exit
  void RetireOneIdle();  // the newest waiting child, and its fds, now
  size_t Working() const { return children_.size() - idle_.size() - gone_; }
  // Connections in flight: in a child, or held by the relay (once: a
  // connection handed on at its child's report is in both until the reap).
  size_t InFlight() const { return Working() + held_.size() - overlap_; }
  bool PoolWanted() const {
    return !draining_ && idle_.size() + zygote_.pending() < config_.prefork &&
           InFlight() + idle_.size() + zygote_.pending() <
               static_cast<size_t>(config_.limits.max_connections);
  }
  void Refuse(int fd, const Peer& peer, const std::string& why);
  void RefuseUntrusted(int fd, const Peer& peer);
  // Reads and acts on every message the child has sent so far (report.h:
  // the conversation). `exited`: it has been reaped, so nothing is answered
  // and it is not killed (its pid may be reused).
  void ReadChannel(pid_t pid, bool exited);
  void HandleSource(pid_t pid, const SourceReport& r);
  void HandleRouteRequest(pid_t pid, Child& c, const RouteRequest& r);
  // One attempt of the broker; a full listen queue is retried (RetryRoutes)
  // until route_deadline_ms, anything else answered now.
  void TryRoute(pid_t pid, Child& c);
  void RetryRoutes();
  int NextRouteRetryMs(int64_t now) const;
  // A child sent what a child never sends: logged as a security event, and
  // (unless it has already exited) killed. Its line says `what`.
  void Violation(pid_t pid, Child& c, const std::string& what, bool exited);
  void ReapChildren();
  void RecordCrash(const Child& child, int sig);
  // The child has exited: log its connection, or pass it to the relay
  // (true: then the limits stay taken until the relay reports its end).
  bool FinishChild(pid_t pid, Child& child, int status);
  void EmitConnection(const Peer& peer, const std::string& proxied_display,
                      const Line& line, double started, const std::string& end);
  // Passes the child's copies of its sockets to the relay holding the
  // fewest; the Held id, or 0 if no relay runs. `end`: how the child ended
  // ("" while it runs).
  uint64_t HandOn(Child& child, const std::string& end);
  // Its final report says it handed off: the relay takes the connection now.
  void HandOnAtReport(Child& child);
  // The reap of a child handed on at its report (true: limits stay taken
  // until the line is logged).
  bool FinishHandedOn(Child& child, int status);
  // The relay has ended `h` (its line: `line`; `relay_end`: a dead relay's
  // end, or "") while its child is not reaped yet: keeps the line for the
  // reap (FinishHandedOn) and returns true. False if the child is reaped.
  bool AwaitReap(Held& h, const Line& line, const std::string& relay_end);
  // Starts relays_[i] unless it runs or its retry is not due; true if it runs.
  bool EnsureRelay(size_t i);
  // The running relay holding the fewest connections (started if need be);
  // -1 if none runs.
  int PickRelay();
  void ReadRelayReports();
  // Relay r ended (`why`): every connection it held is logged as lost.
  // `end`: how the relay ended, the `end` of each lost connection's line.
  void RelayEnded(size_t r, const std::string& why, const std::string& end, bool reaped);
  void EndHeld(size_t relay, uint64_t id, const RelayDone& done);
  void ReleaseHeld(const Held& h);
  void Emit(const LogRecord& r) {
    EmitLine(r.Format(config_.log_format, NowUnixSeconds()));
  }
  const ProtocolRules& Rules() const { return ProtocolRules::For(config_.child.protocol); }
  const char* Proto() const { return Rules().name(); }
  void PauseAccepting(const std::string& why);

  const ServerConfig& config_;
  Limits limits_;
  Limits balancer_limits_;
  CrashBudget crash_budget_;
  absl::flat_hash_map<pid_t, Child> children_;  // every child, any state
  int channels_ = -1;  // epoll set (edge-triggered) of working children's channels
  std::vector<pid_t> retrying_;  // children whose route waits for a retry
  std::deque<pid_t> idle_;                      // kWaiting, oldest first
  size_t gone_ = 0;                             // kGone, not yet reaped
  int64_t pool_retry_at_ms_ = 0;                // after a failed top-up
  std::string prefork_error_;                   // why the last spawn failed
  Zygote zygote_;
  int64_t zygote_retry_at_ms_ = 0;              // after a failed start
  int64_t last_zygote_error_ms_ = -1000000;
  uint64_t zygote_generation_ = 0;              // zygotes started so far
  uint64_t zygote_spawned_ = 0;                 // children from this zygote
  // The relay processes (config_.relays of them): each routed connection
  // goes to the running one holding the fewest.
  struct Relay {
    RelayHandle handle;
    int64_t retry_at_ms = 0;
    int64_t last_error_ms = -1000000;
    size_t held = 0;    // connections it holds
  };
  std::vector<Relay> relays_;
  std::string relay_error_;  // why a relay last failed to start or ended
  absl::flat_hash_map<uint64_t, Held> held_;  // by relay id
  size_t overlap_ = 0;  // held_ entries whose child is not reaped yet
  uint64_t next_relay_id_ = 1;
  bool draining_ = false;
  int64_t resume_at_ms_ = 0;
  bool crash_paused_ = false;  // the pause is the crash budget's
  int64_t last_pause_log_ms_ = -1000000;
  uint64_t accepted_ = 0, refused_ = 0, crashed_ = 0;
};

void Server::PauseAccepting(const std::string& why) {
  int64_t now = MonotonicMillis();
  resume_at_ms_ = std::max(resume_at_ms_, now + kBackoffMs);
  if (now - last_pause_log_ms_ >= 1000) {  // at most one line a second
    last_pause_log_ms_ = now;
    Emit(LogRecord("pause").Str("proto", Proto()).Str("reason", why)
             .Int("backoff_ms", kBackoffMs));
  }
}

void Server::Refuse(int fd, const Peer& peer, const std::string& why) {
  ++refused_;
  std::string answer = Rules().Busy().bytes;
  // Best effort, non-blocking; the socket is fresh so the buffer is empty.
  ssize_t ignored = send(fd, answer.data(), answer.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
  (void)ignored;
  close(fd);
  Emit(LogRecord("refused").Str("proto", Proto()).Str("client", peer.display)
           .Str("reason", why).Int("refused_total", static_cast<int64_t>(refused_)));
}

// Not a trusted balancer: nothing is read, nothing is written (it would not
// be the protocol the peer speaks: a PROXY header was expected first).
void Server::RefuseUntrusted(int fd, const Peer& peer) {
  ++refused_;
  close(fd);
  Emit(LogRecord("refused").Str("proto", Proto()).Str("client", peer.display)
           .Str("reason", "source not in --accept-proxy")
           .Int("refused_total", static_cast<int64_t>(refused_)));
}

void Server::AcceptSome() {
  for (int i = 0; i < 64; ++i) {
    sockaddr_storage ss = {};
    socklen_t len = sizeof ss;
    int fd = accept4(config_.listen_fd, reinterpret_cast<sockaddr*>(&ss), &len,
                     SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) return;
      if (errno == EINTR || errno == ECONNABORTED || errno == EPROTO) continue;
      if ((errno == EMFILE || errno == ENFILE) && !idle_.empty()) {
        // Out of descriptors while waiting children hold some (two each):
        // send one away and take the connection, so that the connections
        // that cannot be served are answered (503 / alert), not left in
        // the backlog. No refill until the backoff is over.
        RetireOneIdle();
        pool_retry_at_ms_ = MonotonicMillis() + kBackoffMs;
        continue;
      }
      // EMFILE, ENFILE, ENOBUFS, ENOMEM or anything unexpected: back off
      // rather than spin; the pending connection waits in the backlog.
      PauseAccepting(absl::StrCat("accept: ", strerror(errno)));
      return;
    }
    Peer peer = DescribePeer(fd, ss);
    if (ProxyMode() && !AnyContains(config_.trusted_proxies, ss)) {
      RefuseUntrusted(fd, peer);
      continue;
    }
    Admission a = Front().Admit(peer.address, MonoSeconds());
    if (a == Admission::kSourceCap || a == Admission::kGlobalCap) {
      // Children that ended while this batch was being accepted are still
      // counted until reaped: a client making quick sequential connections
      // was refused "over --max-per-ip" with far fewer than that open.
      // Reap, then decide again (a refused Admit consumed nothing).
      ReapChildren();
      a = Front().Admit(peer.address, MonoSeconds());
    }
    if (a != Admission::kAdmit) {
      Refuse(fd, peer, AdmissionName(a));
      continue;
    }
    HandOff(fd, peer);
  }
}

bool Server::EnsureZygote() {
  if (zygote_.running()) return true;
  int64_t now = MonotonicMillis();
  if (now < zygote_retry_at_ms_) {
    if (prefork_error_.empty()) prefork_error_ = "zygote: restarting";
    return false;
  }
  ZygoteSetup setup;
  setup.child = config_.child;
  setup.limits = config_.child_limits;
  absl::Status st = zygote_.Start(config_.exe_fd, config_.devnull_fd, setup,
                                  *config_.zygote_filter, *config_.child_filter,
                                  kZygoteStartTimeoutMs);
  if (!st.ok()) {
    zygote_retry_at_ms_ = now + kBackoffMs;
    prefork_error_ = std::string(st.message());
    if (now - last_zygote_error_ms_ >= 1000) {  // at most one line a second
      last_zygote_error_ms_ = now;
      Emit(LogRecord("error").Str("proto", Proto()).Str("what", prefork_error_));
    }
    return false;
  }
  ++zygote_generation_;
  zygote_spawned_ = 0;
  Emit(LogRecord("zygote").Str("proto", Proto()).Int("pid", zygote_.pid())
           .Int("generation", static_cast<int64_t>(zygote_generation_)));
  return true;
}

std::string ZygoteEnd(int status) {
  return WIFSIGNALED(status) ? absl::StrCat("zygote killed by ", SignalName(WTERMSIG(status)))
                             : absl::StrCat("zygote exited with status ", WEXITSTATUS(status));
}

bool Server::RequestSpawn() {
  if (!EnsureZygote()) return false;
  if (!zygote_.Request()) {
    // Full (it is behind by a socket buffer of requests) or gone.
    prefork_error_ = "zygote: not taking requests";
    return false;
  }
  return true;
}

void Server::ReadSpawnReplies() {
  while (zygote_.running()) {
    Spawned w;
    int err = 0;
    int rc = zygote_.ReadReply(&w, &err);
    if (rc == 0) return;
    if (rc < 0) {
      // Stopped (SIGKILL) and reaped here, so that how it ended is what
      // the log says.
      int st = 0;
      std::string end = ReapNow(zygote_.Stop(), &st) ? ZygoteEnd(st) : "zygote gone";
      ZygoteEnded(err == EBADMSG ? absl::StrCat("zygote sent a malformed reply; stopped it (",
                                                end, ")")
                                 : end);
      return;
    }
    if (w.pid < 0) {
      // As fork would: EAGAIN (RLIMIT_NPROC, pids), ENOMEM, EMFILE.
      prefork_error_ = err == EMFILE ? absl::StrCat("taking a waiting child's descriptors: ",
                                                     strerror(err))
                                     : absl::StrCat("fork: ", strerror(err));
      pool_retry_at_ms_ = MonotonicMillis() + kBackoffMs;
      continue;
    }
    ++zygote_spawned_;
    Child& c = children_[w.pid];
    c = Child{};
    c.handoff_fd = w.handoff_fd;
    c.report_fd = w.report_fd;
    c.verdict_fd = w.verdict_fd;
    idle_.push_back(w.pid);
  }
}

bool Server::WaitForWaitingChild() {
  prefork_error_.clear();
  if (zygote_.pending() == 0 && !RequestSpawn()) return false;
  const int64_t deadline = MonotonicMillis() + kSpawnWaitMs;
  while (idle_.empty()) {
    int64_t left = deadline - MonotonicMillis();
    if (left <= 0 || !zygote_.running()) break;
    pollfd p = {zygote_.fd(), POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(left)) < 0 && errno != EINTR) break;
    ReadSpawnReplies();
    if (idle_.empty() && zygote_.pending() == 0) break;  // it answered: a failure
  }
  if (!idle_.empty()) return true;
  if (prefork_error_.empty()) prefork_error_ = "zygote: no waiting child in time";
  return false;
}

void Server::ZygoteEnded(const std::string& why) {
  zygote_.Stop();
  prefork_error_ = why;
  Emit(LogRecord("error").Str("proto", Proto()).Str("what", why));
}

void Server::ReplaceZygote(const std::string& why) {
  if (!zygote_.running()) return;
  Emit(LogRecord("zygote").Str("proto", Proto()).Str("what", why)
           .Int("pid", zygote_.pid())
           .Int("generation", static_cast<int64_t>(zygote_generation_)));
  zygote_.Stop();
  CloseIdle();  // they share the old layout: they exit, the pool refills
}

void Server::HandOff(int fd, const Peer& peer) {
  ConnectionHeader header;
  header.endpoints = peer.endpoints;
  // A waiting child may have died (killed from outside): its channel then
  // refuses, and the next one is tried. At most a few: a fresh child is
  // forked when none waits.
  for (int attempt = 0; attempt < 4; ++attempt) {
    if (idle_.empty() && !WaitForWaitingChild()) {
      PauseAccepting(prefork_error_);
      Front().Release(peer.address);
      Refuse(fd, peer, absl::StrCat("no child to serve it: ", prefork_error_));
      return;
    }
    pid_t pid = idle_.front();
    idle_.pop_front();
    Child& c = children_[pid];
    int rc = SendConnection(c.handoff_fd, fd, header);
    close(c.handoff_fd);
    c.handoff_fd = -1;
    if (rc != 0) {
      c.state = State::kGone;
      ++gone_;
      continue;
    }
    ++accepted_;
    c.state = State::kWorking;
    c.client_fd = fd;  // kept: passed to the relay after the hand-off
    c.endpoints = peer.endpoints;
    c.awaiting_source = ProxyMode();
    c.peer = peer;
    c.started = MonoSeconds();
    struct epoll_event ev = {};
    ev.events = EPOLLIN | EPOLLET;
    ev.data.u64 = static_cast<uint64_t>(pid);
    if (epoll_ctl(channels_, EPOLL_CTL_ADD, c.report_fd, &ev) != 0) {
      // Without its channel watched the child cannot be served: stop it;
      // its line (internal-error) is logged when it is reaped. A local
      // failure, not the child's doing: an error, not a security event.
      c.violation = absl::StrCat("the parent could not watch its channel: ", strerror(errno));
      Emit(LogRecord("error").Str("proto", Proto()).Str("client", c.peer.display)
               .Str("what", absl::StrCat(c.violation, "; stopped it")));
      kill(pid, SIGKILL);
    }
    return;
  }
  Front().Release(peer.address);
  Refuse(fd, peer, "no child to serve it: waiting children kept dying");
}

void Server::TopUpPool() {
  // Forking costs the parent CPU but not the clients latency. Bounded by
  // --max-connections so that waiting children never outnumber the
  // connections they are for. A failure (no fds, no processes) does not
  // stop accepting — a connection that finds no waiting child forks its own
  // or is refused — it only delays the next top-up by kBackoffMs.
  int64_t now = MonotonicMillis();
  // A zygote or relay that died is restarted now, not when a connection
  // needs it.
  if (!draining_ && !zygote_.running()) EnsureZygote();
  if (!draining_) {
    for (size_t i = 0; i < relays_.size(); ++i) {
      if (!relays_[i].handle.running()) EnsureRelay(i);
    }
  }
  if (now < pool_retry_at_ms_) return;
  if (zygote_.running() && config_.zygote_max_children > 0 &&
      zygote_spawned_ >= config_.zygote_max_children) {
    ReplaceZygote(absl::StrCat("replaced after ", zygote_spawned_,
                               " children (--zygote-max-children)"));
  }
  while (PoolWanted()) {
    if (!RequestSpawn()) {
      pool_retry_at_ms_ = now + kBackoffMs;
      return;
    }
  }
}

void Server::RetireOneIdle() {
  pid_t pid = idle_.back();
  idle_.pop_back();
  Child& c = children_[pid];
  for (int* fd : {&c.handoff_fd, &c.report_fd, &c.verdict_fd}) {
    if (*fd >= 0) close(*fd);
    *fd = -1;
  }
  c.state = State::kGone;
  ++gone_;
}

void Server::CloseIdle() {
  for (pid_t pid : idle_) {
    Child& c = children_[pid];
    close(c.handoff_fd);
    c.handoff_fd = -1;
    c.state = State::kGone;
    ++gone_;
  }
  idle_.clear();
}

void Server::Violation(pid_t pid, Child& c, const std::string& what, bool exited) {
  if (!c.violation.empty()) return;
  c.violation = absl::StrCat("the child ", what);
  LogRecord event("security");
  event.Str("proto", Proto()).Str("client", c.peer.display);
  if (!c.proxied_display.empty()) event.Str("proxied_client", c.proxied_display);
  Emit(event.Str("what", absl::StrCat(c.violation, exited ? "" : "; killed it")));
  if (!exited) kill(pid, SIGKILL);
}

void Server::ReadChannel(pid_t pid, bool exited) {
  for (;;) {
    auto it = children_.find(pid);
    if (it == children_.end()) return;  // reaped meanwhile (HandleSource)
    Child& c = it->second;
    if (c.report_fd < 0 || !c.violation.empty() || c.have_report) return;
    // One record per message; a byte more than the largest, to see a
    // longer one.
    alignas(8) char buf[sizeof(ChildReport) + 1];
    Received got;
    int rc = RecvWithFds(c.report_fd, buf, sizeof buf, MSG_DONTWAIT, &got);
    if (rc == -EINTR) continue;
    if (rc != 0 || got.len == 0) return;  // nothing more yet, or its end
    if (got.nfds > 0 || got.fds_truncated) {
      got.CloseFds();
      Violation(pid, c, "sent descriptors (a child never does); closed them", exited);
      return;
    }
    const size_t len = got.truncated ? sizeof buf : static_cast<size_t>(got.len);
    uint32_t magic = 0;
    if (len >= sizeof magic) memcpy(&magic, buf, sizeof magic);
    if (magic == kSourceMagic && len == sizeof(SourceReport) && c.awaiting_source) {
      SourceReport r;
      memcpy(&r, buf, sizeof r);
      if (exited) {
        c.awaiting_source = false;  // nobody left to admit
        continue;
      }
      HandleSource(pid, r);  // may reap children: looked up again above
      continue;
    }
    if (magic == kRouteMagic && len == sizeof(RouteRequest) && !c.route_asked &&
        !c.awaiting_source && !c.refused) {
      RouteRequest r;
      memcpy(&r, buf, sizeof r);
      c.route_asked = true;
      if (!exited) HandleRouteRequest(pid, c, r);  // else: nobody to answer
      continue;
    }
    if (magic == kReportMagic && len == sizeof(ChildReport)) {
      memcpy(&c.report, buf, sizeof c.report);
      c.have_report = true;
      if (!exited) HandOnAtReport(c);
      return;
    }
    const char* what = magic == kRouteMagic && c.route_asked
                           ? "asked for a second route"
                       : magic == kRouteMagic ? "asked for a route before it was admitted"
                       : magic == kSourceMagic ? "sent a source report it was not asked for"
                                               : "sent a malformed message";
    Violation(pid, c, what, exited);
    return;
  }
}

// --accept-proxy: the child has parsed the balancer's header (and nothing
// the client sent). Admit the real client, or refuse it, on the child's
// verdict pipe.
void Server::HandleSource(pid_t pid, const SourceReport& r) {
  auto it = children_.find(pid);
  if (it == children_.end()) return;
  Child& c = it->second;
  c.awaiting_source = false;
  if (!ValidateSourceReport(r)) {
    // Only the trusted balancer's bytes had been parsed: a bug, not a
    // client's doing. Stop the child; its end is logged when reaped.
    Violation(pid, c, "sent a malformed source report", false);
    return;
  }
  std::string key = c.peer.address;
  c.proxied_display = c.peer.display;
  if (r.family != 0) {
    DescribeSource(r, &key, &c.proxied_display);
    c.endpoints = EndpointsOf(r);
  }
  Admission a = limits_.Admit(key, MonoSeconds());
  if (a == Admission::kSourceCap) {
    // As in AcceptSome: ended children still count until reaped.
    ReapChildren();
    a = limits_.Admit(key, MonoSeconds());
    it = children_.find(pid);
    if (it == children_.end()) {  // it ended meanwhile
      if (a == Admission::kAdmit) limits_.Release(key);
      return;
    }
  }
  Child& child = it->second;
  uint8_t verdict = static_cast<uint8_t>(a);
  ssize_t ignored = write(child.verdict_fd, &verdict, 1);
  (void)ignored;
  if (a == Admission::kAdmit) {
    child.client_key = key;
    return;
  }
  ++refused_;
  child.refused = true;
  Emit(LogRecord("refused").Str("proto", Proto()).Str("client", child.peer.display)
           .Str("proxied_client", child.proxied_display).Str("reason", AdmissionName(a))
           .Int("refused_total", static_cast<int64_t>(refused_)));
}

void Server::HandleRouteRequest(pid_t pid, Child& c, const RouteRequest& r) {
  std::string name;
  if (!ValidateRouteRequest(r, &name)) {
    Violation(pid, c, "sent a malformed route request", false);
    return;
  }
  absl::Status ok = CheckRequestedName(name);
  if (!ok.ok()) {
    // The child's parsers only ever produce canonical names.
    Violation(pid, c, absl::StrCat("asked for a route to a name its parsers cannot have made (",
                                   ok.message(), ")"),
              false);
    return;
  }
  c.host = name;
  c.route_deadline_ms = MonotonicMillis() + config_.child.handshake_timeout_ms;
  c.route_backoff_ms = 1;
  TryRoute(pid, c);
}

void Server::TryRoute(pid_t pid, Child& c) {
  c.route_retry_at_ms = 0;
  BrokerResult b = Broker(c.host, config_.child.protocol, c.endpoints,
                          config_.child.unmapped_uid);
  const int64_t now = MonotonicMillis();
  if (b.kind == BrokerResult::kBusy && now < c.route_deadline_ms) {
    // The backend is slow to accept: retry soon (1, 2, 4 .. 32 ms apart),
    // as a blocking connect would have waited, without blocking anyone.
    c.route_retry_at_ms = now + c.route_backoff_ms;
    c.route_backoff_ms = std::min(2 * c.route_backoff_ms, 32);
    retrying_.push_back(pid);
    return;
  }
  RouteReply reply;
  if (b.kind == BrokerResult::kRouted) {
    reply.result = RouteReply::kRouted;
    reply.proxy_header_sent = b.proxy_header_sent;
    c.backend_fd = b.backend;
    c.proxy_header_sent = b.proxy_header_sent;
  } else {
    reply.result = b.kind == BrokerResult::kNoRoute ? RouteReply::kNoRoute
                                                    : RouteReply::kBackendDown;
    c.route_refusal = b.kind == BrokerResult::kBusy
                          ? absl::StrCat(b.detail, " for --handshake-timeout")
                          : b.detail;
  }
  // A child that has gone meanwhile is reaped soon; its line says how.
  SendWithFds(c.report_fd, &reply, sizeof reply, &c.backend_fd,
              reply.result == RouteReply::kRouted ? 1 : 0, MSG_DONTWAIT);
}

void Server::RetryRoutes() {
  if (retrying_.empty()) return;
  const int64_t now = MonotonicMillis();
  std::vector<pid_t> due;
  size_t kept = 0;
  for (pid_t pid : retrying_) {
    auto it = children_.find(pid);
    if (it == children_.end() || it->second.route_retry_at_ms == 0 ||
        !it->second.violation.empty()) {
      continue;  // reaped or killed meanwhile
    }
    if (it->second.route_retry_at_ms <= now) {
      due.push_back(pid);
    } else {
      retrying_[kept++] = pid;
    }
  }
  retrying_.resize(kept);
  for (pid_t pid : due) TryRoute(pid, children_[pid]);  // may re-add it
}

int Server::NextRouteRetryMs(int64_t now) const {
  int64_t next = -1;
  for (pid_t pid : retrying_) {
    auto it = children_.find(pid);
    if (it == children_.end() || it->second.route_retry_at_ms == 0) continue;
    int64_t wait = std::max<int64_t>(0, it->second.route_retry_at_ms - now);
    if (next < 0 || wait < next) next = wait;
  }
  return static_cast<int>(next);
}

std::string ExitString(int status) {
  return WIFSIGNALED(status) ? absl::StrCat("killed by ", SignalName(WTERMSIG(status)))
                             : absl::StrCat("exit ", WEXITSTATUS(status));
}

void Server::EmitConnection(const Peer& peer, const std::string& proxied_display,
                            const Line& line, double started, const std::string& end) {
  LogRecord rec("connection");
  rec.Str("proto", Proto()).Str("client", peer.display);
  // The real client as the parent learnt it from the validated SourceReport
  // (the child's own copy in the final report is not needed, nor trusted).
  if (!proxied_display.empty()) rec.Str("proxied_client", proxied_display);
  rec.Str("host", line.host).Str("outcome", line.outcome);
  if (line.have_detail) rec.Str("detail", line.detail);
  if (line.answered) {
    rec.Int(Rules().code_field(), line.answered);
  }
  if (line.proxy_header_sent) rec.Int("proxy_header", line.proxy_header_sent);
  if (line.have_bytes) {
    rec.Int("bytes_up", static_cast<int64_t>(line.up))
        .Int("bytes_down", static_cast<int64_t>(line.down));
  }
  rec.Seconds("duration", MonoSeconds() - started);
  rec.Str("end", end);
  Emit(rec);
}

bool Server::FinishChild(pid_t pid, Child& child, int status) {
  if (child.held_id != 0) return FinishHandedOn(child, status);
  // The child has exited: what it sent is all in the channel.
  ReadChannel(pid, /*exited=*/true);
  const std::string end = ExitString(status);
  Line line;
  line.host = child.host.empty() ? "-" : child.host;
  line.proxy_header_sent = child.proxy_header_sent;
  if (!child.violation.empty()) {
    line.outcome = OutcomeName(Outcome::kInternal);
    line.detail = child.violation;
    line.have_detail = true;
    EmitConnection(child.peer, child.proxied_display, line, child.started, end);
    return false;
  }
  const ChildReport& r = child.report;
  if (!child.have_report || !ValidateReport(r)) {
    line.outcome = "no-report";
    EmitConnection(child.peer, child.proxied_display, line, child.started, end);
    return false;
  }
  // The name it asked the broker for is the one that counts; before that
  // (a refused handshake) the child's own report is all there is.
  if (child.host.empty() && r.hostname[0]) line.host = r.hostname;
  line.outcome = OutcomeName(r.outcome);
  line.detail = r.detail;
  line.have_detail = true;
  line.answered = r.answered;
  line.have_bytes = true;
  line.up = r.bytes_up;
  line.down = r.bytes_down;
  const bool handed_off = r.outcome == Outcome::kHandedOff;
  if (!handed_off) {
    // The broker's own reason, not the child's word for it.
    if (!child.route_refusal.empty() &&
        (r.outcome == Outcome::kNoRoute || r.outcome == Outcome::kBackendDown)) {
      line.detail = child.route_refusal;
    }
    EmitConnection(child.peer, child.proxied_display, line, child.started, end);
    return false;
  }
  if (child.backend_fd < 0) {
    Violation(pid, child, "reported a hand-off without a route", /*exited=*/true);
    line.outcome = OutcomeName(Outcome::kInternal);
    line.detail = child.violation;
    line.have_bytes = false;
    EmitConnection(child.peer, child.proxied_display, line, child.started, end);
    return false;
  }
  // Not handed on at its report (no relay was running then, or the reap
  // came first): now. As at the report, however the child ended after it:
  // the replay was written before the report (a death after it is a
  // security event, recorded by ReapChildren, not the connection's end).
  if (HandOn(child, end) == 0) {
    line.outcome = OutcomeName(Outcome::kRelayError);
    line.detail = absl::StrCat("no relay: ", relay_error_);
    EmitConnection(child.peer, child.proxied_display, line, child.started, end);
    return false;
  }
  return true;
}

uint64_t Server::HandOn(Child& child, const std::string& end) {
  const int relay = PickRelay();
  if (relay < 0) return 0;
  const uint64_t id = next_relay_id_++;
  Held& h = held_[id];
  h.relay = static_cast<size_t>(relay);
  h.peer = child.peer;
  h.proxied_display = child.proxied_display;
  h.client_key = child.client_key;
  h.started = child.started;
  h.host = child.host.empty() ? "-" : child.host;
  h.proxy_header_sent = child.proxy_header_sent;
  h.replayed = child.report.bytes_up;
  h.end = end;
  ++relays_[h.relay].held;
  relays_[h.relay].handle.Add(id, child.client_fd, child.backend_fd);  // takes both
  child.client_fd = child.backend_fd = -1;
  return id;
}

void Server::HandOnAtReport(Child& child) {
  // The child has replayed and closed its copies; it exits next. The relay
  // takes the connection now, not after that exit and its reap: the
  // backend's first answer need not wait for them. (A child taken over by
  // a parser bug could keep its copies a moment longer: of its own
  // connection only, which its client controls anyway.)
  if (!child.violation.empty() || !ValidateReport(child.report) ||
      child.report.outcome != Outcome::kHandedOff || child.backend_fd < 0 ||
      child.client_fd < 0) {
    return;  // FinishChild decides at the reap
  }
  const uint64_t id = HandOn(child, "");
  if (id == 0) return;
  child.held_id = id;
  held_[id].child_alive = true;
  ++overlap_;
}

bool Server::AwaitReap(Held& h, const Line& line, const std::string& relay_end) {
  if (!h.child_alive) return false;
  h.relay_done = true;
  h.pending = line;
  h.pending_end = relay_end;
  return true;
}

bool Server::FinishHandedOn(Child& child, int status) {
  // Handed on at its report: the line needs only how the child ended. A
  // child that died of a signal after its report is a security event
  // (ReapChildren records it); its connection, already replayed and in the
  // relay, goes on.
  auto it = held_.find(child.held_id);
  if (it == held_.end()) return true;  // cannot happen: kept until now
  Held& h = it->second;
  h.end = ExitString(status);
  h.child_alive = false;
  --overlap_;
  if (h.relay_done) {
    EmitConnection(h.peer, h.proxied_display, h.pending, h.started,
                   h.pending_end.empty() ? h.end : h.pending_end);
    ReleaseHeld(h);
    held_.erase(it);
  }
  return true;
}

int Server::PickRelay() {
  int best = -1;
  for (size_t i = 0; i < relays_.size(); ++i) {
    if (!relays_[i].handle.running() && !EnsureRelay(i)) continue;
    if (best < 0 || relays_[i].held < relays_[static_cast<size_t>(best)].held) {
      best = static_cast<int>(i);
    }
  }
  return best;
}

bool Server::EnsureRelay(size_t i) {
  Relay& r = relays_[i];
  if (r.handle.running()) return true;
  int64_t now = MonotonicMillis();
  if (now < r.retry_at_ms) return false;
  absl::Status st = r.handle.Start(config_.exe_fd, config_.devnull_fd,
                                   config_.child.idle_timeout_ms, *config_.relay_filter,
                                   kZygoteStartTimeoutMs);
  if (!st.ok()) {
    r.retry_at_ms = now + kBackoffMs;
    relay_error_ = std::string(st.message());
    if (now - r.last_error_ms >= 1000) {  // at most one line a second
      r.last_error_ms = now;
      Emit(LogRecord("error").Str("proto", Proto()).Str("what", relay_error_)
               .Int("relay", static_cast<int64_t>(i)));
    }
    return false;
  }
  Emit(LogRecord("relay").Str("proto", Proto()).Int("pid", r.handle.pid())
           .Int("relay", static_cast<int64_t>(i)));
  return true;
}

void Server::ReleaseHeld(const Held& h) {
  Front().Release(h.peer.address);
  if (!h.client_key.empty()) limits_.Release(h.client_key);
}

void Server::EndHeld(size_t relay, uint64_t id, const RelayDone& d) {
  auto it = held_.find(id);
  // Not one this relay holds (a bug in the relay): ignored.
  if (it == held_.end() || it->second.relay != relay) return;
  Held& h = it->second;
  Line line;
  line.host = h.host;
  line.proxy_header_sent = h.proxy_header_sent;
  line.have_bytes = true;
  line.have_detail = true;
  line.up = h.replayed + d.up;
  line.down = d.down;
  switch (static_cast<RelayResult::End>(d.end)) {
    case RelayResult::End::kClosed:
      line.outcome = OutcomeName(Outcome::kRelayed);
      line.detail = "both sides closed";
      break;
    case RelayResult::End::kIdleTimeout:
      line.outcome = OutcomeName(Outcome::kIdleTimeout);
      line.detail = "no data either way for --idle-timeout";
      break;
    case RelayResult::End::kRejected:
      Emit(LogRecord("security").Str("proto", Proto()).Str("client", h.peer.display)
               .Str("what", absl::StrCat("the relay refused a child's descriptors (",
                                         strerror(d.error), "); closed them")));
      line.outcome = OutcomeName(Outcome::kInternal);
      line.detail = absl::StrCat("relay refused the descriptors: ", strerror(d.error));
      break;
    case RelayResult::End::kStopped:
      line.outcome = OutcomeName(Outcome::kRelayError);
      line.detail = "relay stopped";
      break;
    case RelayResult::End::kReset:
    case RelayResult::End::kError:
      line.outcome = OutcomeName(Outcome::kRelayError);
      line.detail = absl::StrCat("relay: ", strerror(d.error));
      break;
  }
  --relays_[relay].held;
  if (AwaitReap(h, line, "")) return;
  EmitConnection(h.peer, h.proxied_display, line, h.started, h.end);
  ReleaseHeld(h);
  held_.erase(it);
}

void Server::ReadRelayReports() {
  for (size_t r = 0; r < relays_.size(); ++r) {
    RelayHandle& relay = relays_[r].handle;
    while (relay.running()) {
      RelayDone done[kMaxDonePerMessage];
      int err = 0;
      int n = relay.ReadDone(done, &err);
      if (n == 0) break;
      if (n < 0) {
        int st = 0;
        const std::string end = ReapNow(relay.Stop(), &st) ? ExitString(st) : "gone";
        const std::string how = absl::StrCat("relay ", end);
        RelayEnded(r,
                   err == EBADMSG
                       ? absl::StrCat("relay sent a malformed report; stopped it (", how, ")")
                       : how,
                   end, true);
        break;
      }
      for (int i = 0; i < n; ++i) EndHeld(r, done[i].id, done[i]);
    }
    if (relay.running()) relay.Flush();
  }
}

void Server::RelayEnded(size_t r, const std::string& why, const std::string& end,
                        bool reaped) {
  RelayHandle& relay = relays_[r].handle;
  if (!reaped) {
    // Reaped by ReapChildren: what it reported before dying is still in
    // the channel.
    int err = 0;
    RelayDone done[kMaxDonePerMessage];
    for (int n; relay.running() && (n = relay.ReadDone(done, &err)) > 0;) {
      for (int i = 0; i < n; ++i) EndHeld(r, done[i].id, done[i]);
    }
  }
  relay.Stop(/*kill=*/!reaped);
  relay_error_ = why;
  Emit(LogRecord("error").Str("proto", Proto()).Str("what", why)
           .Int("relay", static_cast<int64_t>(r))
           .Int("connections_lost", static_cast<int64_t>(relays_[r].held)));
  for (auto it = held_.begin(); it != held_.end();) {
    Held& h = it->second;
    if (h.relay != r || h.relay_done) {
      ++it;
      continue;
    }
    Line line;
    line.host = h.host;
    line.proxy_header_sent = h.proxy_header_sent;
    line.have_bytes = true;
    line.up = h.replayed;
    line.have_detail = true;
    line.outcome = OutcomeName(Outcome::kRelayError);
    line.detail = absl::StrCat("closed: ", why);
    if (AwaitReap(h, line, end)) {
      ++it;
      continue;
    }
    EmitConnection(h.peer, h.proxied_display, line, h.started, end);
    ReleaseHeld(h);
    held_.erase(it++);
  }
  relays_[r].held = 0;
}

void Server::ReapChildren() {
  for (;;) {
    int status = 0;
    pid_t pid = waitpid(-1, &status, WNOHANG);
    if (pid <= 0) return;
    if (pid == zygote_.pid()) {
      ZygoteEnded(ZygoteEnd(status));
      continue;
    }
    bool was_relay = false;
    for (size_t r = 0; r < relays_.size() && !was_relay; ++r) {
      if (pid != relays_[r].handle.pid()) continue;
      was_relay = true;
      RelayEnded(r, absl::StrCat("relay ", ExitString(status)), ExitString(status),
                 /*reaped=*/false);
    }
    if (was_relay) continue;
    auto it = children_.find(pid);
    if (it == children_.end()) continue;  // a replaced zygote
    Child& c = it->second;
    if (c.state == State::kWorking) {
      // A connection the verdict refused was logged then ("refused").
      bool held = false;
      if (!c.refused || WIFSIGNALED(status)) {
        held = FinishChild(pid, c, status);
      }
      if (WIFSIGNALED(status) && IsFaultSignal(WTERMSIG(status))) {
        RecordCrash(c, WTERMSIG(status));
      }
      if (!held) {
        Front().Release(c.peer.address);
        if (!c.client_key.empty()) limits_.Release(c.client_key);
      }
    } else {
      // It never held a connection: nothing to log but an unexpected death.
      if (WIFSIGNALED(status) && IsFaultSignal(WTERMSIG(status))) {
        ++crashed_;
        Emit(LogRecord("security").Str("proto", Proto())
                 .Str("what", absl::StrCat("waiting child killed by ",
                                           SignalName(WTERMSIG(status))))
                 .Int("signal", WTERMSIG(status)));
      }
      if (c.state == State::kGone) {
        --gone_;
      } else {
        idle_.erase(std::find(idle_.begin(), idle_.end(), pid));
        close(c.handoff_fd);
      }
    }
    for (int fd : {c.client_fd, c.backend_fd}) {
      if (fd >= 0) close(fd);
    }
    if (c.report_fd >= 0) close(c.report_fd);
    if (c.verdict_fd >= 0) close(c.verdict_fd);
    children_.erase(it);
  }
}

// A child died of a fault (IsFaultSignal): a security event, counted
// against the real client when known (else the accepted peer: without
// --accept-proxy that is the client; with it, only the balancer's header
// had been parsed), and against the global crash budget.
void Server::RecordCrash(const Child& c, int sig) {
  ++crashed_;
  ReplaceZygote(absl::StrCat("replaced: a child was killed by ", SignalName(sig),
                             " (fresh address layout for the children after it)"));
  double now = MonoSeconds();
  const bool by_client = !c.client_key.empty();
  const std::string& key = by_client ? c.client_key : c.peer.address;
  LogRecord event("security");
  event.Str("proto", Proto()).Str("client", c.peer.display);
  if (!c.proxied_display.empty()) event.Str("proxied_client", c.proxied_display);
  Emit(event.Str("what", absl::StrCat("child killed by ", SignalName(sig)))
           .Int("signal", sig).Int("crashed_total", static_cast<int64_t>(crashed_)));
  Limits& table = by_client ? limits_ : Front();
  if (table.RecordCrash(key, now)) {
    Emit(LogRecord("security").Str("proto", Proto()).Str("client", key)
             .Str("what", "source throttled: it crashed children repeatedly")
             .Seconds("throttle", config_.limits.throttle_seconds));
  }
  if (crash_budget_.Record(now)) {
    crash_paused_ = true;
    resume_at_ms_ = std::max(resume_at_ms_,
                             MonotonicMillis() + static_cast<int64_t>(
                                 config_.crash_budget.pause_seconds * 1000));
    Emit(LogRecord("security").Str("proto", Proto())
             .Str("what", absl::StrCat(
                 "global crash budget exhausted: more than ",
                 config_.crash_budget.max_crashes, " children crashed within ",
                 static_cast<int64_t>(config_.crash_budget.window_seconds),
                 " s across all sources (a layout-probing attack spread over many "
                 "addresses looks like this); not accepting connections"))
             .Seconds("pause", config_.crash_budget.pause_seconds)
             .Int("crashed_total", static_cast<int64_t>(crashed_)));
  }
}

int Server::Run() {
  int64_t drain_deadline = 0;
  bool killed = false;
  channels_ = epoll_create1(EPOLL_CLOEXEC);
  if (channels_ < 0) {
    fprintf(stderr, "sallyport: epoll_create1: %s\n", strerror(errno));
    return 2;
  }
  // The first zygote must start: a failure here is a set-up error (e.g. a
  // dynamic build, which cannot be exec'd inside the chroot). Up to three
  // tries, so a zygote killed from outside during its set-up does not stop
  // the service; a real set-up error fails all three.
  bool zygote_up = false;
  for (int attempt = 0; attempt < 3 && !zygote_up; ++attempt) {
    zygote_retry_at_ms_ = 0;
    zygote_up = EnsureZygote();
  }
  if (!zygote_up) {
    fprintf(stderr, "sallyport: %s\n", prefork_error_.c_str());
    return 2;
  }
  // So must every relay (the same binary, the same reasons).
  relays_.resize(std::max<size_t>(1, config_.relays));
  for (size_t i = 0; i < relays_.size(); ++i) {
    bool relay_up = false;
    for (int attempt = 0; attempt < 3 && !relay_up; ++attempt) {
      relays_[i].retry_at_ms = 0;
      relay_up = EnsureRelay(i);
    }
    if (!relay_up) {
      fprintf(stderr, "sallyport: %s\n", relay_error_.c_str());
      return 2;
    }
  }
  TopUpPool();  // the replies wake the loop below
  for (;;) {
    if (g_stop && !draining_) {
      draining_ = true;
      close(config_.listen_fd);  // another instance may take over the socket
      zygote_.Stop();
      CloseIdle();
      drain_deadline = MonotonicMillis() + config_.drain_timeout_ms;
      Emit(LogRecord("draining").Str("proto", Proto())
               .Int("in_flight", static_cast<int64_t>(InFlight())));
    }
    if (draining_ && children_.empty() && held_.empty()) {
      for (Relay& relay : relays_) {
        int ignored = 0;
        ReapNow(relay.handle.Stop(), &ignored);
      }
      Emit(LogRecord("stopped").Str("proto", Proto())
               .Int("accepted", static_cast<int64_t>(accepted_))
               .Int("refused", static_cast<int64_t>(refused_))
               .Int("crashed", static_cast<int64_t>(crashed_)));
      return 0;
    }
    int64_t now = MonotonicMillis();
    if (draining_ && !killed && now >= drain_deadline) {
      killed = true;
      Emit(LogRecord("drain-timeout").Str("proto", Proto())
               .Int("killing", static_cast<int64_t>(InFlight())));
      for (auto& [pid, child] : children_) kill(pid, SIGKILL);
      // The relay too: its connections are logged as closed when it is
      // reaped.
      for (Relay& relay : relays_) {
        if (relay.handle.running()) kill(relay.handle.pid(), SIGKILL);
      }
    }
    bool can_accept = !draining_ && now >= resume_at_ms_;
    if (can_accept && crash_paused_) {
      crash_paused_ = false;
      Emit(LogRecord("resumed").Str("proto", Proto())
               .Str("reason", "crash budget pause over"));
    }
    // The signal pipe, the listening socket, the zygote's and the relay's
    // channels, and the epoll set of every working child's channel.
    std::vector<struct pollfd> fds;
    fds.push_back({g_signal_pipe[0], POLLIN, 0});
    const size_t listen_at = fds.size();
    if (can_accept) fds.push_back({config_.listen_fd, POLLIN, 0});
    if (zygote_.running()) fds.push_back({zygote_.fd(), POLLIN, 0});
    for (const Relay& relay : relays_) {
      if (!relay.handle.running()) continue;
      fds.push_back({relay.handle.fd(),
                     static_cast<short>(POLLIN | (relay.handle.has_queued() ? POLLOUT : 0)), 0});
    }
    const size_t channels_at = fds.size();
    fds.push_back({channels_, POLLIN, 0});
    const int n = static_cast<int>(fds.size());
    int timeout = -1;
    if (!draining_ && !can_accept) timeout = static_cast<int>(resume_at_ms_ - now);
    if ((PoolWanted() || !zygote_.running()) &&
        (now < pool_retry_at_ms_ || now < zygote_retry_at_ms_)) {
      int retry = static_cast<int>(std::max(pool_retry_at_ms_, zygote_retry_at_ms_) - now);
      timeout = timeout < 0 ? retry : std::min(timeout, retry);
    }
    for (const Relay& relay : relays_) {
      if (draining_ || relay.handle.running() || now >= relay.retry_at_ms) continue;
      int retry = static_cast<int>(relay.retry_at_ms - now);
      timeout = timeout < 0 ? retry : std::min(timeout, retry);
    }
    if (draining_ && !killed) timeout = static_cast<int>(std::max<int64_t>(0, drain_deadline - now));
    int retry_ms = NextRouteRetryMs(now);
    if (retry_ms >= 0) timeout = timeout < 0 ? retry_ms : std::min(timeout, retry_ms);
    int r = poll(fds.data(), static_cast<nfds_t>(n), timeout);
    if (r < 0 && errno != EINTR) {
      Emit(LogRecord("error").Str("what", absl::StrCat("poll: ", strerror(errno))));
      PauseAccepting("poll failed");
    }
    if (fds[0].revents & POLLIN) {
      char buf[64];
      while (read(g_signal_pipe[0], buf, sizeof buf) > 0) {
      }
    }
    if (r > 0 && (fds[channels_at].revents & POLLIN)) {
      struct epoll_event events[64];
      int ready;
      do {
        ready = epoll_wait(channels_, events, 64, 0);
        for (int i = 0; i < ready; ++i) ReadChannel(static_cast<pid_t>(events[i].data.u64), false);
      } while (ready == 64);
    }
    RetryRoutes();
    ReadSpawnReplies();
    ReadRelayReports();
    ReapChildren();
    if (can_accept && (fds[listen_at].revents & POLLIN)) AcceptSome();
    TopUpPool();
  }
}

}  // namespace

absl::Status PrepareSignals() {
  if (pipe2(g_signal_pipe, O_NONBLOCK | O_CLOEXEC) != 0) {
    return absl::InternalError(absl::StrCat("signal pipe: ", strerror(errno)));
  }
  struct sigaction sa = {};
  sa.sa_handler = OnSignal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  for (int sig : {SIGCHLD, SIGTERM, SIGINT}) {
    if (sigaction(sig, &sa, nullptr) != 0) {
      return absl::InternalError(absl::StrCat("sigaction: ", strerror(errno)));
    }
  }
  struct sigaction ign = {};
  ign.sa_handler = SIG_IGN;
  sigaction(SIGPIPE, &ign, nullptr);
  return absl::OkStatus();
}

int Serve(const ServerConfig& config) {
  Server server(config);
  return server.Run();
}

}  // namespace sallyport::proxy
