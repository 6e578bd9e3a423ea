// SPDX-License-Identifier: Apache-2.0
#include "proxy/zygote.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <optional>
#include <type_traits>
#include <vector>

#include "absl/strings/str_cat.h"
#include "proxy/handoff.h"
#include "proxy/warmup.h"

namespace sallyport::proxy {
namespace {

static_assert(std::is_trivially_copyable_v<ZygoteSetup>, "sent as bytes");
static_assert(std::is_trivially_copyable_v<SpawnReply>, "sent as bytes");

constexpr int kMaxReplyFds = 3;

// In the forked child of the parent: fixed fds, then exec. Async-signal-safe.
// Signals stay blocked (Start blocks them across fork), so no parent handler
// runs here; exec resets the handlers and ZygoteMain unblocks them.
[[noreturn]] void ExecZygote(int exe_fd, int devnull_fd, int channel) {
  // Copies above every fd in play first, so no move overwrites another.
  const int hi = std::max({exe_fd, devnull_fd, channel}) + 1;
  if (dup3(channel, hi, 0) != hi || dup3(exe_fd, hi + 1, O_CLOEXEC) != hi + 1 ||
      dup3(devnull_fd, hi + 2, 0) != hi + 2) {
    _exit(127);
  }
  for (int fd = 0; fd <= 2; ++fd) {
    if (dup2(hi + 2, fd) != fd) _exit(127);
  }
  if (dup2(hi, kZygoteChannelFd) != kZygoteChannelFd) _exit(127);
  constexpr int kExeFd = kZygoteChannelFd + 1;
  if (dup3(hi + 1, kExeFd, O_CLOEXEC) != kExeFd) _exit(127);
  if (syscall(SYS_close_range, kExeFd + 1, ~0u, 0) != 0) _exit(127);
  if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) != 0) _exit(127);
  char argv0[sizeof kZygoteArgv0];
  memcpy(argv0, kZygoteArgv0, sizeof argv0);
  char* argv[] = {argv0, nullptr};
  char* envp[] = {nullptr};
  syscall(SYS_execveat, kExeFd, "", argv, envp, AT_EMPTY_PATH);
  _exit(127);
}

// What the zygote keeps for its children: set once, before its filter.
struct ZygoteState {
  ZygoteSetup setup;
  std::optional<sandbox::CompiledFilter> child_filter;
};

ZygoteState* g_state = nullptr;
char* g_argv0 = nullptr;  // "sallyport-zygote", renamed in each child

// A waiting child, forked by the zygote: lock, wait for one connection,
// serve it, report, exit.
[[noreturn]] void RunWaitingChild(int handoff, int report, int verdict) {
  // Named apart from the zygote in ps and /proc/<pid>/cmdline.
  static_assert(sizeof kChildArgv0 <= sizeof kZygoteArgv0);
  if (g_argv0 != nullptr) {
    memset(g_argv0, 0, sizeof kZygoteArgv0);
    memcpy(g_argv0, kChildArgv0, sizeof kChildArgv0);
  }
  sandbox::ChildLockdown spec;
  spec.keep_fds[spec.keep_count++] = handoff;
  spec.keep_fds[spec.keep_count++] = report;
  if (verdict >= 0) spec.keep_fds[spec.keep_count++] = verdict;
  spec.filter = &*g_state->child_filter;
  spec.limits = g_state->setup.limits;
  if (sandbox::LockdownZygoteChild(spec) != 0) _exit(70);
  ConnectionHeader header;
  int client = ReceiveConnection(handoff, &header);
  close(handoff);
  if (client < 0) _exit(0);  // the parent closed the channel (drain)
  ChildContext ctx = g_state->setup.child;
  ctx.endpoints = header.endpoints;
  ctx.report_fd = report;
  ctx.verdict_fd = verdict;
  ChildReport r = ServeConnection(client, ctx);
  ssize_t ignored = write(report, &r, sizeof r);
  (void)ignored;
  _exit(0);
}

// Forks one waiting child; returns the reply to send and the parent's ends
// in `fds` (closed by the caller after sending).
SpawnReply Spawn(int* fds) {
  SpawnReply r;
  int handoff[2] = {-1, -1};
  int report[2] = {-1, -1};
  int verdict[2] = {-1, -1};
  const bool proxy = g_state->setup.child.accept_proxy;
  bool ok = socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, handoff) == 0 &&
            pipe2(report, O_CLOEXEC | O_NONBLOCK) == 0 &&
            (!proxy || pipe2(verdict, O_CLOEXEC | O_NONBLOCK) == 0);
  long pid = -1;
  if (ok) {
    // CLONE_PARENT: the child is the parent's (it reaps and watches it).
    pid = syscall(SYS_clone, CLONE_PARENT | SIGCHLD, 0, nullptr, nullptr, 0);
    if (pid == 0) RunWaitingChild(handoff[1], report[1], verdict[0]);
  }
  r.err = errno != 0 ? errno : EIO;
  for (int fd : {handoff[1], report[1], verdict[0]}) {
    if (fd >= 0) close(fd);
  }
  if (!ok || pid < 0) {
    for (int fd : {handoff[0], report[0], verdict[1]}) {
      if (fd >= 0) close(fd);
    }
    r.pid = -1;
    return r;
  }
  r.pid = static_cast<int32_t>(pid);
  r.err = 0;
  fds[0] = handoff[0];
  fds[1] = report[0];
  r.fds = 2;
  if (proxy) fds[r.fds++] = verdict[1];
  return r;
}

int SendReply(const SpawnReply& r, const int* fds) {
  iovec iov = {const_cast<SpawnReply*>(&r), sizeof r};
  alignas(cmsghdr) char control[CMSG_SPACE(kMaxReplyFds * sizeof(int))];
  memset(control, 0, sizeof control);
  msghdr msg = {};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  if (r.fds > 0) {
    msg.msg_control = control;
    msg.msg_controllen = CMSG_SPACE(r.fds * sizeof(int));
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(r.fds * sizeof(int));
    memcpy(CMSG_DATA(c), fds, r.fds * sizeof(int));
  }
  for (;;) {
    ssize_t n = sendmsg(kZygoteChannelFd, &msg, MSG_NOSIGNAL);
    if (n == static_cast<ssize_t>(sizeof r)) return 0;
    if (n < 0 && errno == EINTR) continue;
    return -1;
  }
}

bool IsType(int fd, mode_t type) {
  struct stat st;
  return fstat(fd, &st) == 0 && (st.st_mode & S_IFMT) == type;
}

}  // namespace

absl::Status Zygote::Start(int exe_fd, int devnull_fd, const ZygoteSetup& setup_in,
                           const sandbox::CompiledFilter& zygote_filter,
                           const sandbox::CompiledFilter& child_filter, int timeout_ms) {
  if (running()) return absl::FailedPreconditionError("zygote: already running");
  int sp[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) != 0) {
    return absl::InternalError(absl::StrCat("zygote: socketpair: ", strerror(errno)));
  }
  ZygoteSetup setup = setup_in;
  setup.zygote_insns = static_cast<uint32_t>(zygote_filter.program().size());
  setup.child_insns = static_cast<uint32_t>(child_filter.program().size());
  // Signals stay blocked from fork until the exec'd zygote unblocks them
  // (handlers are reset by exec), so no parent handler runs in between.
  sigset_t all, old;
  sigfillset(&all);
  sigprocmask(SIG_BLOCK, &all, &old);
  pid_t pid = fork();
  if (pid == 0) ExecZygote(exe_fd, devnull_fd, sp[1]);
  int e = errno;
  sigprocmask(SIG_SETMASK, &old, nullptr);
  close(sp[1]);
  if (pid < 0) {
    close(sp[0]);
    return absl::ResourceExhaustedError(absl::StrCat("zygote: fork: ", strerror(e)));
  }
  pid_ = pid;
  fd_ = sp[0];
  iovec iov[3] = {
      {&setup, sizeof setup},
      {const_cast<sock_filter*>(zygote_filter.program().data()),
       zygote_filter.program().size() * sizeof(sock_filter)},
      {const_cast<sock_filter*>(child_filter.program().data()),
       child_filter.program().size() * sizeof(sock_filter)},
  };
  msghdr msg = {};
  msg.msg_iov = iov;
  msg.msg_iovlen = 3;
  const size_t total = iov[0].iov_len + iov[1].iov_len + iov[2].iov_len;
  ssize_t n;
  do {
    n = sendmsg(fd_, &msg, MSG_NOSIGNAL);
  } while (n < 0 && errno == EINTR);
  if (n != static_cast<ssize_t>(total)) {
    e = n < 0 ? errno : EMSGSIZE;
    Stop();
    return absl::InternalError(absl::StrCat("zygote: sending the set-up: ", strerror(e)));
  }
  pollfd p = {fd_, POLLIN, 0};
  int rc;
  do {
    rc = poll(&p, 1, timeout_ms);
  } while (rc < 0 && errno == EINTR);
  ZygoteReady ready;
  ready.magic = 0;
  n = rc > 0 ? recv(fd_, &ready, sizeof ready, MSG_DONTWAIT) : -1;
  if (n != static_cast<ssize_t>(sizeof ready) || ready.magic != kZygoteReadyMagic ||
      ready.pid != pid) {
    Stop();
    // How it ended (exit status 64..69: which set-up step refused, 127:
    // the exec failed) goes into the message.
    int st = 0;
    pid_t got;
    do {
      got = waitpid(pid, &st, 0);
    } while (got < 0 && errno == EINTR);
    std::string end = got != pid ? "" : WIFSIGNALED(st)
        ? absl::StrCat(", killed by signal ", WTERMSIG(st))
        : absl::StrCat(", exit status ", WEXITSTATUS(st));
    return absl::UnavailableError(
        rc == 0 ? absl::StrCat("zygote: not ready within ", timeout_ms, " ms", end)
                : absl::StrCat("zygote: ended during set-up", end,
                               " (exec of the binary failed, or it refused the set-up; "
                               "the zygote needs the static build, since nothing else "
                               "can be loaded inside the chroot)"));
  }
  return absl::OkStatus();
}

bool Zygote::Request() {
  if (!running()) return false;
  SpawnRequest req;
  ssize_t n = send(fd_, &req, sizeof req, MSG_DONTWAIT | MSG_NOSIGNAL);
  if (n != static_cast<ssize_t>(sizeof req)) return false;
  ++pending_;
  return true;
}

int Zygote::ReadReply(Spawned* out, int* err) {
  if (!running()) {
    *err = ENOTCONN;
    return -1;
  }
  SpawnReply r;
  iovec iov = {&r, sizeof r};
  // Room for one more descriptor than is ever sent, so extras are seen.
  alignas(cmsghdr) char control[CMSG_SPACE((kMaxReplyFds + 1) * sizeof(int))];
  msghdr msg = {};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  ssize_t n = recvmsg(fd_, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
  if (n < 0 && (errno == EAGAIN || errno == EINTR)) return 0;
  if (n <= 0) {
    *err = n == 0 ? ESHUTDOWN : errno;
    return -1;
  }
  if (pending_ > 0) --pending_;
  int fds[kMaxReplyFds + 1];
  int count = 0;
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t i = 0; i < k && count < kMaxReplyFds + 1; ++i) {
      memcpy(&fds[count++], CMSG_DATA(c) + i * sizeof(int), sizeof(int));
    }
  }
  const bool well_formed = n == static_cast<ssize_t>(sizeof r) &&
                          r.magic == kSpawnReplyMagic && (msg.msg_flags & MSG_TRUNC) == 0;
  if (well_formed && r.pid > 0 && (msg.msg_flags & MSG_CTRUNC) != 0) {
    // No room for the descriptors here (RLIMIT_NOFILE): the kernel dropped
    // them, so the child sees its channel close and exits. A failure of
    // this spawn, not of the zygote.
    for (int i = 0; i < count; ++i) close(fds[i]);
    *out = Spawned{};
    *err = EMFILE;
    return 1;
  }
  bool ok = well_formed && (msg.msg_flags & MSG_CTRUNC) == 0;
  if (ok && r.pid > 0) {
    ok = (r.fds == 2 || r.fds == 3) && count == static_cast<int>(r.fds) &&
         IsType(fds[0], S_IFSOCK) && IsType(fds[1], S_IFIFO) &&
         (r.fds == 2 || IsType(fds[2], S_IFIFO));
  } else if (ok) {
    ok = r.pid == -1 && r.err > 0 && count == 0;
  }
  if (!ok) {
    for (int i = 0; i < count; ++i) close(fds[i]);
    *err = EBADMSG;
    return -1;
  }
  *out = Spawned{};
  out->pid = r.pid;
  if (r.pid > 0) {
    out->handoff_fd = fds[0];
    out->report_fd = fds[1];
    if (r.fds == 3) out->verdict_fd = fds[2];
  } else {
    *err = r.err;
  }
  return 1;
}

pid_t Zygote::Stop() {
  if (fd_ >= 0) close(fd_);
  fd_ = -1;
  pending_ = 0;
  const pid_t pid = pid_;
  if (pid > 0) kill(pid, SIGKILL);
  pid_ = -1;
  return pid;
}

int ZygoteMain(char* argv0) {
  if (argv0 != nullptr && strcmp(argv0, kZygoteArgv0) == 0) g_argv0 = argv0;
  // Before the zygote's own filter (which has no rt_sigaction): SIGPIPE is
  // ignored in every child (a relay must see EPIPE, not die), and here.
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = SIG_IGN;
  sigemptyset(&sa.sa_mask);
  if (sigaction(SIGPIPE, &sa, nullptr) != 0) return 71;
  // Blocked by the parent across fork and exec (Zygote::Start).
  sigset_t none;
  sigemptyset(&none);
  if (sigprocmask(SIG_SETMASK, &none, nullptr) != 0) return 71;
  if (!IsType(kZygoteChannelFd, S_IFSOCK)) {
    static const char kMsg[] =
        "sallyport-zygote: started by hand? It is started by sallyport itself.\n";
    ssize_t ignored = write(2, kMsg, sizeof kMsg - 1);
    (void)ignored;
    return 64;
  }

  static ZygoteState state;
  g_state = &state;
  std::vector<char> buf(sizeof(ZygoteSetup) + 2 * BPF_MAXINSNS * sizeof(sock_filter));
  ssize_t n;
  do {
    n = recv(kZygoteChannelFd, buf.data(), buf.size(), 0);
  } while (n < 0 && errno == EINTR);
  if (n < static_cast<ssize_t>(sizeof(ZygoteSetup))) return 65;
  memcpy(&state.setup, buf.data(), sizeof state.setup);
  const ZygoteSetup& s = state.setup;
  if (s.magic != kZygoteSetupMagic || s.size != sizeof(ZygoteSetup) ||
      s.zygote_insns == 0 || s.zygote_insns > BPF_MAXINSNS || s.child_insns == 0 ||
      s.child_insns > BPF_MAXINSNS ||
      static_cast<size_t>(n) !=
          sizeof(ZygoteSetup) + (size_t{s.zygote_insns} + s.child_insns) * sizeof(sock_filter)) {
    return 65;
  }
  std::vector<sock_filter> programs(s.zygote_insns + s.child_insns);
  memcpy(programs.data(), buf.data() + sizeof(ZygoteSetup),
         programs.size() * sizeof(sock_filter));
  std::vector<char>().swap(buf);
  auto zygote_filter = sandbox::CompiledFilter::FromProgram(programs.data(), s.zygote_insns);
  auto child_filter =
      sandbox::CompiledFilter::FromProgram(programs.data() + s.zygote_insns, s.child_insns);
  if (!zygote_filter.ok() || !child_filter.ok()) return 65;
  state.child_filter = *std::move(child_filter);
  std::vector<sock_filter>().swap(programs);

  // What the children inherit warm: malloc's arena, the parsers' tables.
  if (!sandbox::WarmUpMalloc().ok() || !WarmUpParsers().ok()) return 66;
  if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) return 67;
  ZygoteReady ready;
  ready.pid = getpid();
  if (zygote_filter->Install() != 0) return 68;
  if (send(kZygoteChannelFd, &ready, sizeof ready, MSG_NOSIGNAL) != sizeof ready) return 69;

  for (;;) {
    SpawnRequest req;
    n = recv(kZygoteChannelFd, &req, sizeof req, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n == 0) _exit(0);  // the parent closed the channel
    if (n != static_cast<ssize_t>(sizeof req) || req.magic != kSpawnRequestMagic) _exit(2);
    int fds[kMaxReplyFds] = {-1, -1, -1};
    SpawnReply r = Spawn(fds);
    int rc = SendReply(r, fds);
    for (uint32_t i = 0; i < r.fds; ++i) close(fds[i]);
    if (rc != 0) _exit(0);  // the parent has gone
  }
}

}  // namespace sallyport::proxy
