// SPDX-License-Identifier: Apache-2.0
#include "proxy/server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "parser/http_head.h"
#include "parser/tls_clienthello.h"
#include "proxy/relay.h"
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
    default: return "signal";
  }
}

class Server {
 public:
  explicit Server(const ServerConfig& config)
      : config_(config), limits_(config.limits) {}
  int Run();

 private:
  struct Child {
    int report_fd = -1;
    Peer peer;
    double started = 0;
  };

  void AcceptSome();
  void Spawn(int fd, const Peer& peer);
  void Refuse(int fd, const Peer& peer, const std::string& why);
  void ReapChildren();
  void LogConnection(const Child& child, int status);
  void Emit(const LogRecord& r) {
    EmitLine(r.Format(config_.log_format, NowUnixSeconds()));
  }
  const char* Proto() const {
    return config_.child.protocol == Protocol::kTls ? "tls" : "http";
  }
  void PauseAccepting(const std::string& why);

  const ServerConfig& config_;
  Limits limits_;
  absl::flat_hash_map<pid_t, Child> children_;
  bool draining_ = false;
  int64_t resume_at_ms_ = 0;
  int64_t last_pause_log_ms_ = -1000000;
  uint64_t accepted_ = 0, refused_ = 0, crashed_ = 0;
};

void Server::PauseAccepting(const std::string& why) {
  int64_t now = MonotonicMillis();
  resume_at_ms_ = now + kBackoffMs;
  if (now - last_pause_log_ms_ >= 1000) {  // at most one line a second
    last_pause_log_ms_ = now;
    Emit(LogRecord("pause").Str("proto", Proto()).Str("reason", why)
             .Int("backoff_ms", kBackoffMs));
  }
}

void Server::Refuse(int fd, const Peer& peer, const std::string& why) {
  ++refused_;
  std::string answer =
      config_.child.protocol == Protocol::kHttp
          ? parser::ErrorResponse(503, "server busy, try again later")
          : parser::FatalAlertRecord(parser::TlsAlert::kInternalError);
  // Best effort, non-blocking; the socket is fresh so the buffer is empty.
  ssize_t ignored = send(fd, answer.data(), answer.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
  (void)ignored;
  close(fd);
  Emit(LogRecord("refused").Str("proto", Proto()).Str("client", peer.display)
           .Str("reason", why).Int("refused_total", static_cast<int64_t>(refused_)));
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
      // EMFILE, ENFILE, ENOBUFS, ENOMEM or anything unexpected: back off
      // rather than spin; the pending connection waits in the backlog.
      PauseAccepting(absl::StrCat("accept: ", strerror(errno)));
      return;
    }
    Peer peer = DescribePeer(fd, ss);
    Admission a = limits_.Admit(peer.address, MonoSeconds());
    if (a == Admission::kSourceCap || a == Admission::kGlobalCap) {
      // Children that ended while this batch was being accepted are still
      // counted until reaped: a client making quick sequential connections
      // was refused "over --max-per-ip" with far fewer than that open.
      // Reap, then decide again (a refused Admit consumed nothing).
      ReapChildren();
      a = limits_.Admit(peer.address, MonoSeconds());
    }
    if (a != Admission::kAdmit) {
      Refuse(fd, peer, AdmissionName(a));
      continue;
    }
    Spawn(fd, peer);
  }
}

void Server::Spawn(int fd, const Peer& peer) {
  int report[2];
  if (pipe2(report, O_CLOEXEC | O_NONBLOCK) != 0) {
    int e = errno;
    limits_.Release(peer.address);
    Refuse(fd, peer, absl::StrCat("pipe2: ", strerror(e)));
    PauseAccepting(absl::StrCat("pipe2: ", strerror(e)));
    return;
  }
  pid_t pid = fork();
  if (pid == 0) {
    // The child: lock down before anything else, then serve.
    sandbox::ChildLockdown spec;
    spec.devnull_fd = config_.devnull_fd;
    spec.keep_fds[0] = fd;
    spec.keep_fds[1] = report[1];
    spec.keep_count = 2;
    spec.filter = config_.child_filter;
    spec.limits = config_.child_limits;
    if (sandbox::LockdownChild(spec) != 0) _exit(70);
    ChildContext ctx = config_.child;
    ctx.endpoints = peer.endpoints;
    ChildReport r = ServeConnection(fd, ctx);
    ssize_t ignored = write(report[1], &r, sizeof r);
    (void)ignored;
    _exit(0);
  }
  close(report[1]);
  if (pid < 0) {
    int e = errno;
    close(report[0]);
    limits_.Release(peer.address);
    Refuse(fd, peer, absl::StrCat("fork: ", strerror(e)));
    PauseAccepting(absl::StrCat("fork: ", strerror(e)));
    return;
  }
  close(fd);
  ++accepted_;
  Child& c = children_[pid];
  c.report_fd = report[0];
  c.peer = peer;
  c.started = MonoSeconds();
}

void Server::LogConnection(const Child& child, int status) {
  ChildReport r;
  ssize_t n = read(child.report_fd, &r, sizeof r);
  bool have = n == static_cast<ssize_t>(sizeof r) && ValidateReport(r);
  LogRecord rec("connection");
  rec.Str("proto", Proto()).Str("client", child.peer.display);
  if (have && r.client[0] != '\0') rec.Str("proxied_client", r.client);
  if (have) {
    rec.Str("host", r.hostname[0] ? r.hostname : "-")
        .Str("outcome", OutcomeName(r.outcome))
        .Str("detail", r.detail);
    if (r.answered) rec.Int(config_.child.protocol == Protocol::kHttp ? "status" : "alert",
                            r.answered);
    if (r.proxy_header_sent) rec.Int("proxy_header", r.proxy_header_sent);
    rec.Int("bytes_up", static_cast<int64_t>(r.bytes_up))
        .Int("bytes_down", static_cast<int64_t>(r.bytes_down));
  } else {
    rec.Str("host", "-").Str("outcome", "no-report");
  }
  rec.Seconds("duration", MonoSeconds() - child.started);
  if (WIFSIGNALED(status)) {
    rec.Str("end", absl::StrCat("killed by ", SignalName(WTERMSIG(status))));
  } else {
    rec.Str("end", absl::StrCat("exit ", WEXITSTATUS(status)));
  }
  Emit(rec);
}

void Server::ReapChildren() {
  for (;;) {
    int status = 0;
    pid_t pid = waitpid(-1, &status, WNOHANG);
    if (pid <= 0) return;
    auto it = children_.find(pid);
    if (it == children_.end()) continue;
    Child& c = it->second;
    LogConnection(c, status);
    if (WIFSIGNALED(status) && WTERMSIG(status) != SIGKILL) {
      ++crashed_;
      int sig = WTERMSIG(status);
      Emit(LogRecord("security").Str("proto", Proto()).Str("client", c.peer.display)
               .Str("what", absl::StrCat("child killed by ", SignalName(sig)))
               .Int("signal", sig).Int("crashed_total", static_cast<int64_t>(crashed_)));
      if (limits_.RecordCrash(c.peer.address, MonoSeconds())) {
        Emit(LogRecord("security").Str("proto", Proto()).Str("client", c.peer.address)
                 .Str("what", "source throttled: it crashed children repeatedly")
                 .Seconds("throttle", config_.limits.throttle_seconds));
      }
    }
    limits_.Release(c.peer.address);
    close(c.report_fd);
    children_.erase(it);
  }
}

int Server::Run() {
  int64_t drain_deadline = 0;
  bool killed = false;
  for (;;) {
    if (g_stop && !draining_) {
      draining_ = true;
      close(config_.listen_fd);  // another instance may take over the socket
      drain_deadline = MonotonicMillis() + config_.drain_timeout_ms;
      Emit(LogRecord("draining").Str("proto", Proto())
               .Int("in_flight", static_cast<int64_t>(children_.size())));
    }
    if (draining_ && children_.empty()) {
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
               .Int("killing", static_cast<int64_t>(children_.size())));
      for (auto& [pid, child] : children_) kill(pid, SIGKILL);
    }
    struct pollfd fds[2];
    int n = 0;
    fds[n++] = {g_signal_pipe[0], POLLIN, 0};
    bool can_accept = !draining_ && now >= resume_at_ms_;
    if (can_accept) fds[n++] = {config_.listen_fd, POLLIN, 0};
    int timeout = -1;
    if (!draining_ && !can_accept) timeout = static_cast<int>(resume_at_ms_ - now);
    if (draining_ && !killed) timeout = static_cast<int>(std::max<int64_t>(0, drain_deadline - now));
    int r = poll(fds, n, timeout);
    if (r < 0 && errno != EINTR) {
      Emit(LogRecord("error").Str("what", absl::StrCat("poll: ", strerror(errno))));
      PauseAccepting("poll failed");
    }
    if (fds[0].revents & POLLIN) {
      char buf[64];
      while (read(g_signal_pipe[0], buf, sizeof buf) > 0) {
      }
    }
    ReapChildren();
    if (can_accept && n > 1 && (fds[1].revents & POLLIN)) AcceptSome();
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
