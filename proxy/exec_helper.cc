// SPDX-License-Identifier: Apache-2.0
#include "proxy/exec_helper.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <string>

#include "absl/strings/str_cat.h"

namespace sallyport::proxy {
namespace {

constexpr size_t kMaxArgv0 = 32;

// In the forked child of the parent: fixed fds, then exec. Async-signal-safe.
[[noreturn]] void ExecHelper(const char* name, int exe_fd, int devnull_fd, int channel) {
  // Copies above every fd in play first, so no move overwrites another.
  const int hi = std::max({exe_fd, devnull_fd, channel}) + 1;
  if (dup3(channel, hi, 0) != hi || dup3(exe_fd, hi + 1, O_CLOEXEC) != hi + 1 ||
      dup3(devnull_fd, hi + 2, 0) != hi + 2) {
    _exit(127);
  }
  for (int fd = 0; fd <= 2; ++fd) {
    if (dup2(hi + 2, fd) != fd) _exit(127);
  }
  if (dup2(hi, kHelperChannelFd) != kHelperChannelFd) _exit(127);
  constexpr int kExeFd = kHelperChannelFd + 1;
  if (dup3(hi + 1, kExeFd, O_CLOEXEC) != kExeFd) _exit(127);
  if (syscall(SYS_close_range, kExeFd + 1, ~0u, 0) != 0) _exit(127);
  if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) != 0) _exit(127);
  char argv0[kMaxArgv0] = {};
  memcpy(argv0, name, strnlen(name, kMaxArgv0 - 1));
  char* argv[] = {argv0, nullptr};
  char* envp[] = {nullptr};
  syscall(SYS_execveat, kExeFd, "", argv, envp, AT_EMPTY_PATH);
  _exit(127);
}

}  // namespace

absl::Status StartHelper(const char* role, const char* argv0, int exe_fd, int devnull_fd,
                         const iovec* setup, int iovcnt, uint32_t ready_magic,
                         int timeout_ms, pid_t* pid_out, int* channel_out) {
  int sp[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) != 0) {
    return absl::InternalError(absl::StrCat(role, ": socketpair: ", strerror(errno)));
  }
  sigset_t all, old;
  sigfillset(&all);
  sigprocmask(SIG_BLOCK, &all, &old);
  pid_t pid = fork();
  if (pid == 0) ExecHelper(argv0, exe_fd, devnull_fd, sp[1]);
  int e = errno;
  sigprocmask(SIG_SETMASK, &old, nullptr);
  close(sp[1]);
  if (pid < 0) {
    close(sp[0]);
    return absl::ResourceExhaustedError(absl::StrCat(role, ": fork: ", strerror(e)));
  }
  const int fd = sp[0];
  // Ends it and says how it ended (exit status 64..71: which set-up step
  // refused, 127: the exec failed).
  auto fail = [&](const std::string& what) {
    close(fd);
    kill(pid, SIGKILL);
    int st = 0;
    pid_t got;
    do {
      got = waitpid(pid, &st, 0);
    } while (got < 0 && errno == EINTR);
    std::string end = got != pid ? "" : WIFSIGNALED(st)
        ? absl::StrCat(", killed by signal ", WTERMSIG(st))
        : absl::StrCat(", exit status ", WEXITSTATUS(st));
    return absl::UnavailableError(absl::StrCat(role, ": ", what, end));
  };
  msghdr msg = {};
  msg.msg_iov = const_cast<iovec*>(setup);
  msg.msg_iovlen = static_cast<size_t>(iovcnt);
  size_t total = 0;
  for (int i = 0; i < iovcnt; ++i) total += setup[i].iov_len;
  ssize_t n;
  do {
    n = sendmsg(fd, &msg, MSG_NOSIGNAL);
  } while (n < 0 && errno == EINTR);
  if (n != static_cast<ssize_t>(total)) {
    return fail(absl::StrCat("sending the set-up: ", strerror(n < 0 ? errno : EMSGSIZE)));
  }
  pollfd p = {fd, POLLIN, 0};
  int rc;
  do {
    rc = poll(&p, 1, timeout_ms);
  } while (rc < 0 && errno == EINTR);
  HelperReady ready;
  n = rc > 0 ? recv(fd, &ready, sizeof ready, MSG_DONTWAIT) : -1;
  if (n != static_cast<ssize_t>(sizeof ready) || ready.magic != ready_magic ||
      ready.pid != pid) {
    return fail(rc == 0 ? absl::StrCat("not ready within ", timeout_ms, " ms")
                        : std::string("ended during set-up (exec of the binary failed, or it "
                                      "refused the set-up; helpers need the static build, "
                                      "since nothing else can be loaded inside the chroot)"));
  }
  *pid_out = pid;
  *channel_out = fd;
  return absl::OkStatus();
}

int HelperPrologue(const char* argv0) {
  // Before the helper's own filter (which has no rt_sigaction).
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = SIG_IGN;
  sigemptyset(&sa.sa_mask);
  if (sigaction(SIGPIPE, &sa, nullptr) != 0) return 71;
  // Blocked by the parent across fork and exec (StartHelper).
  sigset_t none;
  sigemptyset(&none);
  if (sigprocmask(SIG_SETMASK, &none, nullptr) != 0) return 71;
  struct stat st;
  if (fstat(kHelperChannelFd, &st) != 0 || !S_ISSOCK(st.st_mode)) {
    std::string msg = absl::StrCat(argv0 != nullptr ? argv0 : "sallyport helper",
                                   ": started by hand? It is started by sallyport itself.\n");
    ssize_t ignored = write(2, msg.data(), msg.size());
    (void)ignored;
    return 64;
  }
  return 0;
}

}  // namespace sallyport::proxy
