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
#include "proxy/exec_helper.h"
#include "proxy/handoff.h"
#include "proxy/warmup.h"
#include "proxy/test_hooks.h"

namespace sallyport::proxy {
namespace {

static_assert(std::is_trivially_copyable_v<ZygoteSetup>, "sent as bytes");
static_assert(std::is_trivially_copyable_v<SpawnReply>, "sent as bytes");
static_assert(sizeof kZygoteArgv0 <= 32, "fits ExecHelper's argv[0]");

constexpr int kMaxReplyFds = 3;

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
  // The last message; blocking. With a hand-off in it, the parent passes
  // the connection to a relay on reading it, and logs it after our reap.
  SendWithFds(report, &r, sizeof r, nullptr, 0, 0);
  if (sallyport_test_hook_after_report != nullptr) sallyport_test_hook_after_report(r.hostname);
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
            socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, report) == 0 &&
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
  return SendWithFds(kHelperChannelFd, &r, sizeof r, fds, static_cast<int>(r.fds), 0) == 0 ? 0
                                                                                           : -1;
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
  ZygoteSetup setup = setup_in;
  setup.zygote_insns = static_cast<uint32_t>(zygote_filter.program().size());
  setup.child_insns = static_cast<uint32_t>(child_filter.program().size());
  iovec iov[3] = {
      {&setup, sizeof setup},
      {const_cast<sock_filter*>(zygote_filter.program().data()),
       zygote_filter.program().size() * sizeof(sock_filter)},
      {const_cast<sock_filter*>(child_filter.program().data()),
       child_filter.program().size() * sizeof(sock_filter)},
  };
  pid_t pid = -1;
  int fd = -1;
  absl::Status st = StartHelper("zygote", kZygoteArgv0, exe_fd, devnull_fd, iov, 3,
                                kZygoteReadyMagic, timeout_ms, &pid, &fd);
  if (!st.ok()) return st;
  pid_ = pid;
  fd_ = fd;
  pending_ = 0;
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
  Received got;
  int rc = RecvWithFds(fd_, &r, sizeof r, MSG_DONTWAIT, &got);
  if (rc == -EAGAIN) return 0;
  if (rc != 0 || got.len == 0) {
    *err = rc != 0 ? -rc : ESHUTDOWN;
    return -1;
  }
  if (pending_ > 0) --pending_;
  const int* fds = got.fds;
  const int count = got.nfds;
  const bool well_formed = got.len == static_cast<ssize_t>(sizeof r) &&
                           r.magic == kSpawnReplyMagic && !got.truncated;
  if (well_formed && r.pid > 0 && got.fds_truncated) {
    // No room for the descriptors here (RLIMIT_NOFILE): the kernel dropped
    // them, so the child sees its channel close and exits. A failure of
    // this spawn, not of the zygote.
    got.CloseFds();
    *out = Spawned{};
    *err = EMFILE;
    return 1;
  }
  bool ok = well_formed && !got.fds_truncated;
  if (ok && r.pid > 0) {
    ok = (r.fds == 2 || r.fds == 3) && count == static_cast<int>(r.fds) &&
         IsType(fds[0], S_IFSOCK) && IsType(fds[1], S_IFSOCK) &&
         (r.fds == 2 || IsType(fds[2], S_IFIFO));
  } else if (ok) {
    ok = r.pid == -1 && r.err > 0 && count == 0;
  }
  if (!ok) {
    got.CloseFds();
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
  // SIGPIPE ignored here and so in every child (a relay must see EPIPE).
  if (int rc = HelperPrologue(argv0); rc != 0) return rc;

  static ZygoteState state;
  g_state = &state;
  std::vector<char> buf(sizeof(ZygoteSetup) + 2 * BPF_MAXINSNS * sizeof(sock_filter));
  ssize_t n;
  do {
    n = recv(kHelperChannelFd, buf.data(), buf.size(), 0);
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
  HelperReady ready;
  ready.magic = kZygoteReadyMagic;
  ready.pid = getpid();
  if (zygote_filter->Install() != 0) return 68;
  if (send(kHelperChannelFd, &ready, sizeof ready, MSG_NOSIGNAL) != sizeof ready) return 69;

  for (;;) {
    SpawnRequest req;
    n = recv(kHelperChannelFd, &req, sizeof req, 0);
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
