// SPDX-License-Identifier: Apache-2.0
// tests/sandbox/seccomp_test.cc — the compiled child and parent filters do
// what docs/SECURITY.md "Syscall policies" claims, in real forked processes:
//   - each forbidden operation, made once with syscall() after Install(),
//     kills the process with SIGSYS (and, as a control, does not without the
//     filter, so the kill is the filter's doing); the parent's forbidden
//     kills (pid 0, -1, -pgid, junk in the upper half, SIGTERM) run confined
//     to a fresh process group or pid namespace, control included;
//   - a realistic child (malloc small/large, getrandom, clocks, its route
//     request and the backend socket received over SCM_RIGHTS, read/write,
//     poll, shutdown, its report, exit) runs to exit(0) under the child
//     filter, and under parent + child stacked, as in production; what the
//     route broker does instead of it (stat, readlink, chdir, AF_UNIX
//     connect, SO_PEERCRED) kills it;
//   - the real relay engine (proxy/relay.h) and its descriptor checks run
//     under parent + relay filters; what the relay may not do kills it;
//   - the parent filter lets a process fork, reap, SIGKILL a child by pid,
//     accept;
//   - every declared errno probe returns exactly its errno;
//   - Install() makes no syscall but prctl (checked under a hand-made filter).
#include <errno.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/futex.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <sched.h>
#include <seccomp.h>
#include <signal.h>
#include <stddef.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <asm/prctl.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <pthread.h>

#include <cstdio>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "policy/syscalls.h"
#include "proxy/handoff.h"
#include "proxy/relay.h"
#include "proxy/relay_process.h"
#include "sandbox/seccomp.h"

namespace sallyport::sandbox {
namespace {

// Compiled once per policy, before any fork (a child never runs libseccomp).
const CompiledFilter& CompileOrDie(const policy::SyscallPolicy& p) {
  auto c = CompileFilter(p);
  if (!c.ok()) {
    std::fprintf(stderr, "%s policy: %s\n", p.name, c.status().ToString().c_str());
    abort();
  }
  return *new CompiledFilter(*std::move(c));
}

const CompiledFilter& ChildFilter() {
  static const CompiledFilter& f = CompileOrDie(policy::ChildPolicy());
  return f;
}

const CompiledFilter& ParentFilter() {
  static const CompiledFilter& f = CompileOrDie(policy::ParentPolicy());
  return f;
}

const CompiledFilter& RelayFilter() {
  static const CompiledFilter& f = CompileOrDie(policy::RelayPolicy());
  return f;
}

const CompiledFilter& ZygoteFilter() {
  static const CompiledFilter& f = CompileOrDie(policy::ZygotePolicy());
  return f;
}

// What each waiting child adds on top of the zygote's filter (proxy/main.cc).
const CompiledFilter& NarrowingFilter() {
  static const CompiledFilter& f = [] () -> const CompiledFilter& {
    auto c = CompileNarrowing(policy::ZygotePolicy());
    if (!c.ok()) {
      std::fprintf(stderr, "narrowing: %s\n", c.status().ToString().c_str());
      abort();
    }
    return *new CompiledFilter(*std::move(c));
  }();
  return f;
}

constexpr int kInstallFailed = 99;

// Forks; the child installs `filters` in order, runs fn() and _exits with its
// result. Returns the wait status. alarm() is a hang guard, not a timing
// assertion: a stuck child dies of SIGALRM and the test fails.
template <typename Fn>
int RunChild(const std::vector<const CompiledFilter*>& filters, Fn fn) {
  // Compile before fork, as production does: a child never runs libseccomp.
  ChildFilter();
  ParentFilter();
  ZygoteFilter();
  RelayFilter();
  NarrowingFilter();
  std::fflush(nullptr);
  pid_t pid = fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    alarm(20);
    for (const CompiledFilter* f : filters)
      if (f->Install() != 0) _exit(kInstallFailed);
    _exit(fn());
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return status;
}

std::string Describe(int status) {
  if (WIFEXITED(status)) return "exit " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status))
    return std::string("signal ") + std::to_string(WTERMSIG(status)) + " (" +
           strsignal(WTERMSIG(status)) + ")";
  return "status " + std::to_string(status);
}

bool KilledBySigsys(int status) { return WIFSIGNALED(status) && WTERMSIG(status) == SIGSYS; }

// --- forbidden operations ----------------------------------------------------

pid_t g_test_pid = getpid();  // the gtest process; a harmless target
uid_t g_uid = getuid();       // so no op needs getuid() after Install
alignas(4096) char g_page[4096];
char* const kArgv[] = {const_cast<char*>("/bin/true"), nullptr};

long Int80Getpid() {
  long r;
  __asm__ volatile("int $0x80" : "=a"(r) : "a"(20L /* i386 getpid */) : "memory");
  return r;
}

struct Op {
  const char* name;
  long (*call)();
};

// Each makes exactly one system call. Arguments are chosen so that, without a
// filter, the call is harmless (bad fds, existence checks, child-only
// effects).
const Op kChildForbidden[] = {
    {"open", [] { return syscall(SYS_open, "/etc/passwd", O_RDONLY); }},
    {"openat", [] { return syscall(SYS_openat, AT_FDCWD, "/etc/passwd", O_RDONLY); }},
    {"openat2", [] { return syscall(SYS_openat2, AT_FDCWD, "/", nullptr, 0); }},
    {"execve", [] { return syscall(SYS_execve, "/bin/true", kArgv, environ); }},
    {"socket_inet", [] { return syscall(SYS_socket, AF_INET, SOCK_STREAM, 0); }},
    {"socket_inet6", [] { return syscall(SYS_socket, AF_INET6, SOCK_STREAM, 0); }},
    {"socket_netlink", [] { return syscall(SYS_socket, AF_NETLINK, SOCK_RAW, 0); }},
    {"socket_packet", [] { return syscall(SYS_socket, AF_PACKET, SOCK_RAW, 0); }},
    {"socket_unix_dgram", [] { return syscall(SYS_socket, AF_UNIX, SOCK_DGRAM, 0); }},
    {"socket_unix_seqpacket", [] { return syscall(SYS_socket, AF_UNIX, SOCK_SEQPACKET, 0); }},
    // Routing is the parent's (the route broker): a child cannot reach any
    // socket, look at the hosts directory or move in it.
    {"socket_unix_stream", [] { return syscall(SYS_socket, AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0); }},
    {"connect", [] { return syscall(SYS_connect, -1, nullptr, 0); }},
    {"chdir", [] { return syscall(SYS_chdir, "/"); }},
    {"newfstatat", [] { struct stat st; return syscall(SYS_newfstatat, AT_FDCWD, "/", &st, AT_SYMLINK_NOFOLLOW); }},
    {"readlink", [] { char b[8]; return syscall(SYS_readlink, "/nonexistent-sallyport", b, sizeof b); }},
    {"readlinkat", [] { char b[8]; return syscall(SYS_readlinkat, AT_FDCWD, "/nonexistent-sallyport", b, sizeof b); }},
    {"getsockopt_peercred", [] { struct ucred c; socklen_t l = sizeof c; return syscall(SYS_getsockopt, -1, SOL_SOCKET, SO_PEERCRED, &c, &l); }},
    {"socketpair", [] { int sv[2]; return syscall(SYS_socketpair, AF_UNIX, SOCK_STREAM, 0, sv); }},
    {"bind", [] { return syscall(SYS_bind, -1, nullptr, 0); }},
    {"listen", [] { return syscall(SYS_listen, -1, 1); }},
    {"accept", [] { return syscall(SYS_accept, -1, nullptr, nullptr); }},
    {"accept4", [] { return syscall(SYS_accept4, -1, nullptr, nullptr, 0); }},
    {"setsockopt", [] { int one = 1; return syscall(SYS_setsockopt, -1, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one); }},
    {"getsockopt_rcvbuf", [] { int v; socklen_t l = sizeof v; return syscall(SYS_getsockopt, -1, SOL_SOCKET, SO_RCVBUF, &v, &l); }},
    {"ptrace", [] { return syscall(SYS_ptrace, PTRACE_PEEKDATA, g_test_pid, 0, 0); }},
    {"kill", [] { return syscall(SYS_kill, g_test_pid, 0); }},
    {"tgkill", [] { return syscall(SYS_tgkill, g_test_pid, g_test_pid, 0); }},
    {"process_vm_readv", [] { return syscall(SYS_process_vm_readv, g_test_pid, nullptr, 0, nullptr, 0, 0); }},
    {"clone_fork", [] { long r = syscall(SYS_clone, SIGCHLD, 0, 0, 0, 0); if (r == 0) _exit(0); return r; }},
    {"clone3", [] { return syscall(SYS_clone3, nullptr, 0); }},
    {"unshare", [] { return syscall(SYS_unshare, CLONE_NEWUTS); }},
    {"mount", [] { return syscall(SYS_mount, "none", "/nonexistent-sallyport", "none", 0, nullptr); }},
    {"chroot", [] { return syscall(SYS_chroot, "/"); }},
    {"setuid", [] { return syscall(SYS_setuid, g_uid); }},
    {"ioctl_fionread", [] { int n; return syscall(SYS_ioctl, -1, FIONREAD, &n); }},
    {"ioctl_tiocsti", [] { char c = 'x'; return syscall(SYS_ioctl, -1, TIOCSTI, &c); }},
    {"mprotect_exec", [] { return syscall(SYS_mprotect, g_page, sizeof g_page, PROT_READ | PROT_EXEC); }},
    {"mmap_exec", [] { return syscall(SYS_mmap, nullptr, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0); }},
    {"mmap_shared", [] { return syscall(SYS_mmap, nullptr, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0); }},
    {"mmap_fixed", [] { return syscall(SYS_mmap, g_page, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0); }},
    {"mmap_file", [] { return syscall(SYS_mmap, nullptr, 4096, PROT_READ, MAP_PRIVATE, 0, 0); }},
    {"mremap_fixed", [] { return syscall(SYS_mremap, g_page, 4096, 4096, MREMAP_MAYMOVE | MREMAP_FIXED, g_page + 1); }},
    {"madvise_dontfork", [] { return syscall(SYS_madvise, g_page, sizeof g_page, MADV_DONTFORK); }},
    {"x32_getpid", [] { return syscall(__X32_SYSCALL_BIT | __NR_getpid); }},
    {"int80_getpid", [] { return Int80Getpid(); }},
    {"io_uring_setup", [] { return syscall(SYS_io_uring_setup, 0, nullptr); }},
    {"bpf", [] { return syscall(SYS_bpf, -1, nullptr, 0); }},
    {"keyctl", [] { return syscall(SYS_keyctl, -1, 0, 0, 0, 0); }},
    {"memfd_create", [] { return syscall(SYS_memfd_create, "x", 0); }},
    {"userfaultfd", [] { return syscall(SYS_userfaultfd, 0); }},
    {"perf_event_open", [] { return syscall(SYS_perf_event_open, nullptr, 0, -1, -1, 0); }},
    {"prctl", [] { return syscall(SYS_prctl, PR_GET_DUMPABLE, 0, 0, 0, 0); }},
    {"seccomp", [] { return syscall(SYS_seccomp, SECCOMP_GET_ACTION_AVAIL, 0, nullptr); }},
    {"personality", [] { return syscall(SYS_personality, 0xffffffff); }},
    {"fcntl_dupfd", [] { return syscall(SYS_fcntl, -1, F_DUPFD, 0); }},
    {"fcntl_setfd", [] { return syscall(SYS_fcntl, -1, F_SETFD, FD_CLOEXEC); }},
    {"pipe_legacy", [] { int p[2]; return syscall(SYS_pipe, p); }},
    {"pipe2_direct", [] { int p[2]; return syscall(SYS_pipe2, p, O_DIRECT); }},
    // Relaying is the relay's: the child hands its sockets on.
    {"pipe2", [] { int p[2]; return syscall(SYS_pipe2, p, O_CLOEXEC | O_NONBLOCK); }},
    {"splice", [] { return syscall(SYS_splice, -1, nullptr, -1, nullptr, 1, SPLICE_F_NONBLOCK); }},
    {"fcntl_setfl", [] { return syscall(SYS_fcntl, -1, F_SETFL, O_NONBLOCK); }},
    {"fcntl_setpipe_sz", [] { return syscall(SYS_fcntl, -1, F_SETPIPE_SZ, 1 << 20); }},
    {"epoll_create1", [] { return syscall(SYS_epoll_create1, EPOLL_CLOEXEC); }},
    {"dup", [] { return syscall(SYS_dup, -1); }},
    {"getdents64", [] { return syscall(SYS_getdents64, -1, nullptr, 0); }},
    {"fchdir", [] { return syscall(SYS_fchdir, -1); }},
    {"unlinkat", [] { return syscall(SYS_unlinkat, AT_FDCWD, "/nonexistent-sallyport", 0); }},
    {"mknodat", [] { return syscall(SYS_mknodat, AT_FDCWD, "/nonexistent-sallyport/x", S_IFSOCK | 0600, 0); }},
    {"rt_sigaction", [] { return syscall(SYS_rt_sigaction, SIGUSR1, nullptr, nullptr, 8); }},
    {"rt_sigreturn", [] { return syscall(SYS_rt_sigreturn); }},  // no handlers, no need
    {"getpid", [] { return syscall(SYS_getpid); }},
    {"clock_nanosleep", [] { struct timespec t = {0, 0}; return syscall(SYS_clock_nanosleep, CLOCK_MONOTONIC, 0, &t, nullptr); }},
    {"prlimit64", [] { return syscall(SYS_prlimit64, 0, RLIMIT_NOFILE, nullptr, nullptr); }},
    // futex: only FUTEX_WAKE_PRIVATE is allowed. A wait on a mismatching
    // value and a shared wake both return at once without a filter.
    {"futex_wait_private", [] { static int w = 0; return syscall(SYS_futex, &w, FUTEX_WAIT_PRIVATE, 1, nullptr, nullptr, 0); }},
    {"futex_wake_shared", [] { static int w = 0; return syscall(SYS_futex, &w, FUTEX_WAKE, 1, nullptr, nullptr, 0); }},
};

class ChildForbidden : public ::testing::TestWithParam<Op> {};

TEST_P(ChildForbidden, KillsWithSigsys) {
  int status = RunChild({&ChildFilter()}, [] {
    GetParam().call();
    return 0;
  });
  EXPECT_TRUE(KilledBySigsys(status)) << GetParam().name << ": " << Describe(status);
}

// The control: the same call without a filter is not a SIGSYS, so the kill
// above comes from the filter and not from the call itself.
TEST_P(ChildForbidden, ControlWithoutFilterIsNoSigsys) {
  int status = RunChild({}, [] {
    GetParam().call();
    return 0;
  });
  EXPECT_FALSE(KilledBySigsys(status)) << GetParam().name << ": " << Describe(status);
}

std::string OpName(const ::testing::TestParamInfo<Op>& info) { return info.param.name; }
void PrintTo(const Op& op, std::ostream* os) { *os << op.name; }

INSTANTIATE_TEST_SUITE_P(Child, ChildForbidden, ::testing::ValuesIn(kChildForbidden), OpName);

// KILL_PROCESS, not KILL_THREAD: with a second (unfiltered) thread alive,
// a violation in the filtered thread must still end the whole process at
// once. libseccomp's default for a foreign architecture is KILL_THREAD, so
// this is what catches a missing SCMP_FLTATR_ACT_BADARCH. The other thread
// exits 5 after a few seconds; it only gets there if the process survived.
void* ExitFiveLater(void*) {
  struct timespec t = {5, 0};
  while (nanosleep(&t, &t) != 0) {
  }
  _exit(5);
}

const Op kWholeProcessOps[] = {
    {"openat", [] { return syscall(SYS_openat, AT_FDCWD, "/etc/passwd", O_RDONLY); }},
    {"x32_getpid", [] { return syscall(__X32_SYSCALL_BIT | __NR_getpid); }},
    {"int80_getpid", [] { return Int80Getpid(); }},
};

class WholeProcess : public ::testing::TestWithParam<Op> {};

TEST_P(WholeProcess, ViolationKillsEveryThread) {
  for (const CompiledFilter* f : {&ChildFilter(), &ParentFilter()}) {
    int status = RunChild({}, [f] {
      pthread_t t;
      if (pthread_create(&t, nullptr, ExitFiveLater, nullptr) != 0) return 1;
      if (f->Install() != 0) return kInstallFailed;  // this thread only
      GetParam().call();
      return 0;
    });
    EXPECT_TRUE(KilledBySigsys(status)) << GetParam().name << ": " << Describe(status);
  }
}

INSTANTIATE_TEST_SUITE_P(Threads, WholeProcess, ::testing::ValuesIn(kWholeProcessOps), OpName);

// The parent may do more, but never these.
const Op kParentForbidden[] = {
    {"execve", [] { return syscall(SYS_execve, "/bin/true", kArgv, environ); }},
    {"open", [] { return syscall(SYS_open, "/etc/passwd", O_RDONLY); }},
    {"openat", [] { return syscall(SYS_openat, AT_FDCWD, "/etc/passwd", O_RDONLY); }},
    {"socket_inet", [] { return syscall(SYS_socket, AF_INET, SOCK_STREAM, 0); }},
    {"socket_inet6", [] { return syscall(SYS_socket, AF_INET6, SOCK_DGRAM, 0); }},
    {"socket_netlink", [] { return syscall(SYS_socket, AF_NETLINK, SOCK_RAW, 0); }},
    {"socket_packet", [] { return syscall(SYS_socket, AF_PACKET, SOCK_RAW, 0); }},
    {"socket_unix_dgram", [] { return syscall(SYS_socket, AF_UNIX, SOCK_DGRAM, 0); }},
    {"clone_newuser", [] { long r = syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0); if (r == 0) _exit(0); return r; }},
    {"clone_thread", [] { return syscall(SYS_clone, CLONE_VM | CLONE_THREAD | CLONE_SIGHAND, g_page + 4096, 0, 0, 0); }},
    {"clone_plain_sigchld", [] { long r = syscall(SYS_clone, SIGCHLD, 0, 0, 0, 0); if (r == 0) _exit(0); return r; }},
    {"unshare", [] { return syscall(SYS_unshare, CLONE_NEWNET); }},
    {"kill_sigusr1_self", [] { return syscall(SYS_kill, getpid(), SIGUSR1); }},
    {"kill_signal0", [] { return syscall(SYS_kill, g_test_pid, 0); }},
    {"ptrace", [] { return syscall(SYS_ptrace, PTRACE_PEEKDATA, g_test_pid, 0, 0); }},
    {"prctl_dumpable_on", [] { return syscall(SYS_prctl, PR_SET_DUMPABLE, 1, 0, 0, 0); }},
    {"prlimit64_other_pid", [] { struct rlimit r; return syscall(SYS_prlimit64, g_test_pid, RLIMIT_NOFILE, nullptr, &r); }},
    {"seccomp_syscall", [] { return syscall(SYS_seccomp, SECCOMP_GET_ACTION_AVAIL, 0, nullptr); }},
    {"bind", [] { return syscall(SYS_bind, -1, nullptr, 0); }},
    {"listen", [] { return syscall(SYS_listen, -1, 1); }},
    {"accept_legacy", [] { return syscall(SYS_accept, -1, nullptr, nullptr); }},
    {"mmap_exec", [] { return syscall(SYS_mmap, nullptr, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0); }},
    {"memfd_create", [] { return syscall(SYS_memfd_create, "x", 0); }},
    {"x32_getpid", [] { return syscall(__X32_SYSCALL_BIT | __NR_getpid); }},
    {"int80_getpid", [] { return Int80Getpid(); }},
    {"chroot", [] { return syscall(SYS_chroot, "/"); }},
    {"setuid", [] { return syscall(SYS_setuid, g_uid); }},
    // Only the SOCK_SEQPACKET hand-off channel (proxy/handoff.h).
    {"socketpair_stream", [] { int sv[2]; return syscall(SYS_socketpair, AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv); }},
    {"socketpair_seqpacket_no_cloexec", [] { int sv[2]; return syscall(SYS_socketpair, AF_UNIX, SOCK_SEQPACKET, 0, sv); }},
    {"socketpair_dgram", [] { int sv[2]; return syscall(SYS_socketpair, AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, sv); }},
    // exec only from an fd with AT_EMPTY_PATH (the zygote), never by path.
    {"execveat_by_path", [] { return syscall(SYS_execveat, AT_FDCWD, "/bin/true", kArgv, environ, 0); }},
    {"execveat_symlink_nofollow", [] { return syscall(SYS_execveat, AT_FDCWD, "/bin/true", kArgv, environ, AT_SYMLINK_NOFOLLOW); }},
    {"arch_prctl_get_fs", [] { unsigned long v; return syscall(SYS_arch_prctl, ARCH_GET_FS, &v); }},
    {"clone_parent_with_vm", [] { return syscall(SYS_clone, CLONE_PARENT | CLONE_VM | SIGCHLD, g_page + 4096, 0, 0, 0); }},
    // The relay only adds to its epoll set (and so the parent, which includes it).
    {"epoll_ctl_del", [] { return syscall(SYS_epoll_ctl, -1, EPOLL_CTL_DEL, -1, nullptr); }},
};

// What the parent may do and the zygote may not: no accept, no reaping, no
// signals, no exec, no fork of its own children (only CLONE_PARENT forks).
// The control runs under the parent filter alone (everything the parent
// may not do, the zygote may not either: it runs under both).
const Op kZygoteForbidden[] = {
    {"accept4", [] { return syscall(SYS_accept4, -1, nullptr, nullptr, SOCK_CLOEXEC); }},
    {"wait4", [] { return syscall(SYS_wait4, -1, nullptr, WNOHANG, nullptr); }},
    {"kill_sigkill_self", [] { return syscall(SYS_kill, getpid(), SIGKILL); }},
    {"rt_sigaction", [] { struct sigaction sa = {}; return syscall(SYS_rt_sigaction, SIGUSR1, nullptr, &sa, 8); }},
    {"getpid", [] { return syscall(SYS_getpid); }},
    {"execveat_empty_path", [] { return syscall(SYS_execveat, 0, "", kArgv, environ, AT_EMPTY_PATH); }},
    {"clone_glibc_fork", [] { long r = syscall(SYS_clone, CLONE_CHILD_SETTID | CLONE_CHILD_CLEARTID | SIGCHLD, 0, 0, 0, 0); if (r == 0) _exit(0); return r; }},
    {"dup2", [] { return syscall(SYS_dup2, 0, 100); }},
    {"prctl_pdeathsig", [] { return syscall(SYS_prctl, PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0); }},
};

class ZygoteForbidden : public ::testing::TestWithParam<Op> {};

TEST_P(ZygoteForbidden, KillsWithSigsys) {
  int status = RunChild({&ParentFilter(), &ZygoteFilter()}, [] {
    GetParam().call();
    return 0;
  });
  EXPECT_TRUE(KilledBySigsys(status)) << GetParam().name << ": " << Describe(status);
}

TEST_P(ZygoteForbidden, ControlWithoutFilterIsNoSigsys) {
  int status = RunChild({&ParentFilter()}, [] {
    GetParam().call();
    return 0;
  });
  EXPECT_FALSE(KilledBySigsys(status)) << GetParam().name << ": " << Describe(status);
}

INSTANTIATE_TEST_SUITE_P(Zygote, ZygoteForbidden, ::testing::ValuesIn(kZygoteForbidden), OpName);

// --- the waiting child: the zygote's filter plus the narrowing ----------------
//
// Production stacks three filters on a waiting child: the parent's, the
// zygote's and the narrowing. The zygote's is the child policy plus the
// zygote's own groups; the narrowing takes exactly those away. So every call
// the child policy forbids kills under the zygote's filter plus the
// narrowing, and every call only the zygote may make kills too.

TEST_P(ChildForbidden, KillsUnderTheWaitingChildsStack) {
  int status = RunChild({&ParentFilter(), &ZygoteFilter(), &NarrowingFilter()}, [] {
    GetParam().call();
    return 0;
  });
  EXPECT_TRUE(KilledBySigsys(status)) << GetParam().name << ": " << Describe(status);
}

// The zygote's own calls, exactly as it makes them (policy/syscalls.cc).
const Op kZygoteOnly[] = {
    {"clone_spawn", [] { long r = syscall(SYS_clone, CLONE_PARENT | SIGCHLD, 0, 0, 0, 0); if (r == 0) _exit(0); return r; }},
    {"socketpair_handoff", [] { int sv[2]; return syscall(SYS_socketpair, AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv); }},
    {"pipe2_verdict", [] { int p[2]; return syscall(SYS_pipe2, p, O_CLOEXEC | O_NONBLOCK); }},
    {"close_range", [] { return syscall(SYS_close_range, 1000, 1001, 0); }},
    {"prlimit64_self", [] { struct rlimit r; return syscall(SYS_prlimit64, 0, RLIMIT_NOFILE, nullptr, &r); }},
    {"prctl_no_new_privs", [] { return syscall(SYS_prctl, PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); }},
    {"prctl_seccomp", [] {
       struct sock_filter allow = BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
       struct sock_fprog prog = {1, &allow};
       return syscall(SYS_prctl, PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0);
     }},
};

class ZygoteOnly : public ::testing::TestWithParam<Op> {};

TEST_P(ZygoteOnly, KillsAWaitingChild) {
  int status = RunChild({&ParentFilter(), &ZygoteFilter(), &NarrowingFilter()}, [] {
    GetParam().call();
    return 0;
  });
  EXPECT_TRUE(KilledBySigsys(status)) << GetParam().name << ": " << Describe(status);
}

// The control: the zygote itself (its filter under the parent's) makes the
// same call and lives.
TEST_P(ZygoteOnly, ControlTheZygoteMayMakeIt) {
  int status = RunChild({&ParentFilter(), &ZygoteFilter()}, [] {
    GetParam().call();
    return 0;
  });
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
      << GetParam().name << ": " << Describe(status);
}

INSTANTIATE_TEST_SUITE_P(WaitingChild, ZygoteOnly, ::testing::ValuesIn(kZygoteOnly), OpName);

TEST(Narrowing, IsAFewInstructions) {
  // The point of it: the kernel checks and JIT-compiles this per child
  // instead of the whole child allowlist.
  EXPECT_LT(NarrowingFilter().instructions() * 3, ChildFilter().instructions())
      << NarrowingFilter().pfc();
}

TEST(Narrowing, ProbesStillAnswerUnderTheStack) {
  int status = RunChild({&ParentFilter(), &ZygoteFilter(), &NarrowingFilter()},
                        [] { return isatty(0) == 0 && errno == ENOTTY ? 0 : 1; });
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << Describe(status);
}

TEST(Narrowing, RefusesWhatItCannotNarrowByNumber) {
  const policy::SyscallPolicy none{"none", "no include", {}, {{"g", "x", {{"read"}}}}, {}};
  EXPECT_EQ(CompileNarrowing(none).status().code(), absl::StatusCode::kInvalidArgument);
  const policy::SyscallPolicy two{"two", "two includes",
                                  {&policy::ChildPolicy(), &policy::RelayPolicy()},
                                  {{"g", "x", {{"pipe2"}}}}, {}};
  EXPECT_EQ(CompileNarrowing(two).status().code(), absl::StatusCode::kInvalidArgument);
  // read is the child's: killing it by number would take the child's read too.
  const policy::SyscallPolicy overlap{"overlap", "shares a syscall",
                                      {&policy::ChildPolicy()},
                                      {{"g", "x", {{"read"}, {"pipe2"}}}}, {}};
  auto o = CompileNarrowing(overlap);
  ASSERT_EQ(o.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(o.status().message().find("read"), std::string::npos) << o.status();
  // ioctl is the child's probe.
  const policy::SyscallPolicy probe{"probe", "shares a probe's syscall",
                                    {&policy::ChildPolicy()}, {{"g", "x", {{"ioctl"}}}}, {}};
  EXPECT_EQ(CompileNarrowing(probe).status().code(), absl::StatusCode::kInvalidArgument);
  const policy::SyscallPolicy own_probe{"own-probe", "a probe of its own",
                                        {&policy::ChildPolicy()}, {{"g", "x", {{"pipe2"}}}},
                                        {{"uname", ENOSYS, "test"}}};
  EXPECT_EQ(CompileNarrowing(own_probe).status().code(), absl::StatusCode::kInvalidArgument);
}

// What the parent may do and the relay may not: reach or create anything
// (sockets, connect, files, exec, fork), reap, signal, look at a socket's
// peer credentials. (Removing from or changing its epoll set: the parent
// may not either, kParentForbidden.) The control runs under the parent
// filter alone.
const Op kRelayForbidden[] = {
    {"socket_unix", [] { return syscall(SYS_socket, AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0); }},
    {"connect", [] { return syscall(SYS_connect, -1, nullptr, 0); }},
    {"socketpair", [] { int sv[2]; return syscall(SYS_socketpair, AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv); }},
    {"accept4", [] { return syscall(SYS_accept4, -1, nullptr, nullptr, SOCK_CLOEXEC); }},
    {"chdir", [] { return syscall(SYS_chdir, "/nonexistent-sallyport"); }},
    {"newfstatat", [] { struct stat st; return syscall(SYS_newfstatat, AT_FDCWD, "/", &st, 0); }},
    {"readlink", [] { char b[8]; return syscall(SYS_readlink, "/nonexistent-sallyport", b, sizeof b); }},
    {"getsockopt_peercred", [] { struct ucred c; socklen_t l = sizeof c; return syscall(SYS_getsockopt, -1, SOL_SOCKET, SO_PEERCRED, &c, &l); }},
    {"execveat_empty_path", [] { return syscall(SYS_execveat, 0, "", kArgv, environ, AT_EMPTY_PATH); }},
    {"clone_glibc_fork", [] { long r = syscall(SYS_clone, CLONE_CHILD_SETTID | CLONE_CHILD_CLEARTID | SIGCHLD, 0, 0, 0, 0); if (r == 0) _exit(0); return r; }},
    {"clone_parent", [] { long r = syscall(SYS_clone, CLONE_PARENT | SIGCHLD, 0, 0, 0, 0); if (r == 0) _exit(0); return r; }},
    {"wait4", [] { return syscall(SYS_wait4, -1, nullptr, WNOHANG, nullptr); }},
    {"kill_sigkill_self", [] { return syscall(SYS_kill, getpid(), SIGKILL); }},
    {"getpid", [] { return syscall(SYS_getpid); }},
    {"epoll_create1", [] { return syscall(SYS_epoll_create1, EPOLL_CLOEXEC); }},
    {"recvfrom", [] { char b; return syscall(SYS_recvfrom, -1, &b, 1, 0, nullptr, nullptr); }},
    {"sendto", [] { return syscall(SYS_sendto, -1, "x", 1, 0, nullptr, 0); }},
    {"read", [] { char b; return syscall(SYS_read, -1, &b, 1); }},
    {"write", [] { return syscall(SYS_write, -1, "x", 1); }},
    {"poll", [] { return syscall(SYS_poll, nullptr, 0, 0); }},
    {"dup2", [] { return syscall(SYS_dup2, 0, 100); }},
    {"prctl_pdeathsig", [] { return syscall(SYS_prctl, PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0); }},
};

class RelayForbidden : public ::testing::TestWithParam<Op> {};

TEST_P(RelayForbidden, KillsWithSigsys) {
  int status = RunChild({&ParentFilter(), &RelayFilter()}, [] {
    GetParam().call();
    return 0;
  });
  EXPECT_TRUE(KilledBySigsys(status)) << GetParam().name << ": " << Describe(status);
}

TEST_P(RelayForbidden, ControlWithoutFilterIsNoSigsys) {
  int status = RunChild({&ParentFilter()}, [] {
    GetParam().call();
    return 0;
  });
  EXPECT_FALSE(KilledBySigsys(status)) << GetParam().name << ": " << Describe(status);
}

INSTANTIATE_TEST_SUITE_P(Relay, RelayForbidden, ::testing::ValuesIn(kRelayForbidden), OpName);

// The relay's real code under the real filters, as the exec'd relay runs:
// the epoll set made under the parent filter alone, then the relay filter;
// a pair received over SCM_RIGHTS and checked (a Unix pair is refused as a
// client, with EPROTOTYPE), then 2 MiB each way through RelayLoop (pooled
// pipes, splice, the pipe grown past 1 MiB, half-close), its end reported.
TEST(RelayFilter, RealRelayLoopRunsUnderParentPlusRelay) {
  int channel[2], client[2], backend[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, channel), 0);
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, client), 0);
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, backend), 0);
  const std::string up(2 << 20, 'u'), down(2 << 20, 'd');
  pid_t writer = fork();
  ASSERT_GE(writer, 0);
  if (writer == 0) {  // the two applications, outside any filter
    alarm(20);
    if (write(client[0], up.data(), up.size()) != static_cast<ssize_t>(up.size())) _exit(1);
    shutdown(client[0], SHUT_WR);
    if (write(backend[0], down.data(), down.size()) != static_cast<ssize_t>(down.size())) _exit(2);
    shutdown(backend[0], SHUT_WR);
    _exit(0);
  }
  std::thread readers[2];
  std::string got_up, got_down;
  auto drain = [](int fd, std::string* out) {
    char buf[65536];
    for (ssize_t n; (n = read(fd, buf, sizeof buf)) > 0;) out->append(buf, static_cast<size_t>(n));
  };
  readers[0] = std::thread(drain, backend[0], &got_up);
  readers[1] = std::thread(drain, client[0], &got_down);
  const int pair[2] = {client[1], backend[1]};
  ASSERT_EQ(proxy::SendWithFds(channel[0], "pair", 4, pair, 2, 0), 0);
  int status = RunChild({&ParentFilter()}, [&] {
    auto loop = proxy::RelayLoop::Create(10000, channel[1]);
    if (!loop.ok()) return 1;
    if (RelayFilter().Install() != 0) return 2;
    char msg[8];
    proxy::Received got;
    if (proxy::RecvWithFds(channel[1], msg, sizeof msg, MSG_DONTWAIT, &got) != 0 || got.nfds != 2) return 3;
    // A Unix socket where a TCP client belongs: refused, as the relay does.
    if (proxy::CheckRelayPair(got.fds[0], got.fds[1]) != EPROTOTYPE) return 4;
    if (proxy::CheckRelayPair(got.fds[1], got.fds[1]) != EPROTOTYPE) return 5;
    if ((*loop)->Add(1, got.fds[0], got.fds[1]) != 0) return 6;
    std::vector<proxy::RelayResult> done;
    while (done.empty()) (*loop)->Poll(-1, &done);
    if (done[0].end != proxy::RelayResult::End::kClosed) return 7;
    if (done[0].client_to_backend != (2u << 20) || done[0].backend_to_client != (2u << 20)) return 8;
    if (proxy::SendWithFds(channel[1], &done[0], sizeof done[0], nullptr, 0, 0) != 0) return 9;
    return 0;
  });
  close(client[1]);
  close(backend[1]);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << Describe(status);
  readers[0].join();
  readers[1].join();
  int wst = 0;
  ASSERT_EQ(waitpid(writer, &wst, 0), writer);
  EXPECT_TRUE(WIFEXITED(wst) && WEXITSTATUS(wst) == 0);
  EXPECT_TRUE(got_up == up);
  EXPECT_TRUE(got_down == down);
  close(channel[0]);
  close(channel[1]);
  close(client[0]);
  close(backend[0]);
}

// What the zygote does per waiting child, under the parent's and its own
// filter: a hand-off socketpair, report pipes, a CLONE_PARENT fork, whose
// child is then this test's child (reaped here, exit 0 = it locked itself
// under the child filter too and ran).
TEST(ZygoteFilter, SpawnsAChildThatItsParentReaps) {
  int status = RunChild({&ParentFilter(), &ZygoteFilter()}, [] {
    int sv[2], p[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) return 1;
    if (pipe2(p, O_CLOEXEC | O_NONBLOCK) != 0) return 2;
    long pid = syscall(SYS_clone, CLONE_PARENT | SIGCHLD, 0, nullptr, nullptr, 0);
    if (pid < 0) return 3;
    if (pid == 0) {
      struct rlimit rl = {64, 64};
      if (syscall(SYS_prlimit64, 0, RLIMIT_NOFILE, &rl, nullptr) != 0) _exit(4);
      if (syscall(SYS_close_range, 3, ~0u, 0) != 0) _exit(5);
      if (ChildFilter().Install() != 0) _exit(6);
      _exit(0);
    }
    return 0;
  });
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << Describe(status);
  // The grandchild is ours (CLONE_PARENT): reap it.
  int child_status = 0;
  pid_t got = -1;
  for (int i = 0; i < 2000 && got <= 0; ++i) {
    got = waitpid(-1, &child_status, WNOHANG);
    if (got == 0) usleep(1000);
  }
  ASSERT_GT(got, 0) << "the CLONE_PARENT child is not this process's child";
  EXPECT_TRUE(WIFEXITED(child_status) && WEXITSTATUS(child_status) == 0) << Describe(child_status);
}

class ParentForbidden : public ::testing::TestWithParam<Op> {};

TEST_P(ParentForbidden, KillsWithSigsys) {
  int status = RunChild({&ParentFilter()}, [] {
    GetParam().call();
    return 0;
  });
  EXPECT_TRUE(KilledBySigsys(status)) << GetParam().name << ": " << Describe(status);
}

TEST_P(ParentForbidden, ControlWithoutFilterIsNoSigsys) {
  int status = RunChild({}, [] {
    GetParam().call();
    return 0;
  });
  EXPECT_FALSE(KilledBySigsys(status)) << GetParam().name << ": " << Describe(status);
}

INSTANTIATE_TEST_SUITE_P(Parent, ParentForbidden, ::testing::ValuesIn(kParentForbidden), OpName);

// --- the parent's kill: SIGKILL to one process by pid, nothing wider ---------

// A forbidden kill that a broken filter let through would reach far beyond
// the test: kill(0, …) the test runner's process group, kill(-1, …) every
// process root may signal. So these run confined, under the filter and in
// the control alike, where the call can hurt nothing but the caller:
//   kFreshGroup: the caller first makes a process group of its own
//     (setpgid(0, 0)), so pid 0 and -pgid name only itself (and its own
//     children); the control is really killed by that signal.
//   kFreshPidNamespace: the caller is init of a new user + pid namespace,
//     where kill(-1) reaches nobody (init is spared and is alone); the
//     control gets ESRCH. (In there the own pgid reads as 1, so -pgid would
//     be -1: the group ops use kFreshGroup.)
// A caller that cannot be confined exits kNotConfined before the call; one
// that returns from the call exits with its errno (0 on success). The
// control checks that outcome exactly, so it shows what the filter prevents.
// Negative pids are passed as long, as glibc's kill() passes them
// (sign-extended); the raw ops put junk in the upper half on purpose.
constexpr int kNotConfined = 98;
enum Confine { kFreshGroup, kFreshPidNamespace };

struct KillOp {
  const char* name;
  Confine confine;
  long (*call)();
  const char* control;  // Describe() of the unfiltered run, up to " ("
};

pid_t g_own_pgid = 0;  // set in the confined caller before its filter

const KillOp kParentForbiddenKills[] = {
    {"kill_pid0_sigkill", kFreshGroup, [] { return syscall(SYS_kill, 0L, long{SIGKILL}); }, "signal 9"},
    {"kill_minus_pgid_sigkill", kFreshGroup, [] { return syscall(SYS_kill, -long{g_own_pgid}, long{SIGKILL}); }, "signal 9"},
    {"kill_minus_pgid_sigterm", kFreshGroup, [] { return syscall(SYS_kill, -long{g_own_pgid}, long{SIGTERM}); }, "signal 15"},
    {"kill_minus1_sigkill", kFreshPidNamespace, [] { return syscall(SYS_kill, -1L, long{SIGKILL}); }, "exit 3" /* ESRCH */},
    // The kernel truncates pid_t to 32 bits: this is kill(-1, SIGKILL).
    {"kill_raw_0xffffffff_sigkill", kFreshPidNamespace, [] { return syscall(SYS_kill, 0x00000000ffffffffL, long{SIGKILL}); }, "exit 3"},
    // ... and this is kill(1, SIGKILL): init, here the caller itself (init
    // ignores a SIGKILL from inside its namespace, so the control returns 0).
    {"kill_raw_junk_above_pid1_sigkill", kFreshPidNamespace, [] { return syscall(SYS_kill, 0x0000000100000001L, long{SIGKILL}); }, "exit 0"},
    // SIGKILL is the only signal the parent sends (proxy/server.cc).
    {"kill_own_child_sigterm", kFreshGroup, [] {
       pid_t c = fork();
       if (c == 0) _exit(0);  // a zombie until reaped: still a valid target
       return syscall(SYS_kill, long{c}, long{SIGTERM});
     }, "exit 0"},
};

// Runs op.call() confined as above, under `filter` if not null, and returns
// the wait status of the process that made the call.
int RunConfined(const CompiledFilter* filter, const KillOp& op) {
  ChildFilter();
  ParentFilter();
  std::fflush(nullptr);
  int report[2];  // kFreshPidNamespace: the caller's status, from its parent
  if (pipe2(report, O_CLOEXEC) != 0) return -1;
  pid_t pid = fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    alarm(20);
    close(report[0]);
    auto call = [&] {
      if (filter != nullptr && filter->Install() != 0) _exit(kInstallFailed);
      _exit(op.call() == 0 ? 0 : errno);
    };
    if (op.confine == kFreshGroup) {
      if (setpgid(0, 0) != 0 || getpgid(0) != getpid()) _exit(kNotConfined);
      g_own_pgid = getpid();
      call();
    }
    if (unshare(CLONE_NEWUSER | CLONE_NEWPID) != 0) _exit(kNotConfined);
    pid_t init = fork();
    if (init < 0) _exit(kNotConfined);
    if (init == 0) {
      if (getpid() != 1) _exit(kNotConfined);
      call();
    }
    int st = 0;
    while (waitpid(init, &st, 0) < 0 && errno == EINTR) {
    }
    _exit(write(report[1], &st, sizeof st) == static_cast<ssize_t>(sizeof st) ? 0 : 1);
  }
  close(report[1]);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (op.confine == kFreshPidNamespace && WIFEXITED(status) && WEXITSTATUS(status) == 0) {
    int inner = 0;
    if (read(report[0], &inner, sizeof inner) == static_cast<ssize_t>(sizeof inner)) status = inner;
  }
  close(report[0]);
  return status;
}

class ParentForbiddenKill : public ::testing::TestWithParam<KillOp> {};

TEST_P(ParentForbiddenKill, KillsWithSigsys) {
  int status = RunConfined(&ParentFilter(), GetParam());
  EXPECT_TRUE(KilledBySigsys(status)) << GetParam().name << ": " << Describe(status);
}

// The control, confined: without a filter the same call is no SIGSYS and
// does what the filter keeps the parent from doing (or, for -1, what it
// would do anywhere else).
TEST_P(ParentForbiddenKill, ControlWithoutFilterIsNoSigsys) {
  int status = RunConfined(nullptr, GetParam());
  EXPECT_FALSE(KilledBySigsys(status)) << GetParam().name << ": " << Describe(status);
  EXPECT_EQ(Describe(status).rfind(GetParam().control, 0), 0u)
      << GetParam().name << ": " << Describe(status) << ", expected " << GetParam().control
      << (WIFEXITED(status) && WEXITSTATUS(status) == kNotConfined ? " (could not confine the call)" : "");
}

std::string KillOpName(const ::testing::TestParamInfo<KillOp>& info) { return info.param.name; }
void PrintTo(const KillOp& op, std::ostream* os) { *os << op.name; }

INSTANTIATE_TEST_SUITE_P(Parent, ParentForbiddenKill, ::testing::ValuesIn(kParentForbiddenKills),
                         KillOpName);

// What the parent does need: SIGKILL to a child of its own by pid, through
// glibc's kill() and raw; the top of the allowed range, INT_MAX, is allowed
// too (no such process: pid_max is at most 2^22).
TEST(ParentFilter, KillsOwnChildByPidWithSigkill) {
  int status = RunChild({&ParentFilter()}, [] {
    int p[2];  // a channel nobody writes to (the parent makes no pipes)
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, p) != 0) return 1;
    for (int raw = 0; raw < 2; ++raw) {
      pid_t c = fork();
      if (c < 0) return 2;
      if (c == 0) {
        char b;
        (void)!read(p[0], &b, 1);  // never returns: nobody writes
        _exit(31);
      }
      long r = raw ? syscall(SYS_kill, long{c}, long{SIGKILL}) : kill(c, SIGKILL);
      if (r != 0) return 3;
      siginfo_t si{};
      if (waitid(P_PID, static_cast<id_t>(c), &si, WEXITED) != 0) return 4;
      if (si.si_code != CLD_KILLED || si.si_status != SIGKILL) return 5;
    }
    if (kill(0x7fffffff, SIGKILL) != -1 || errno != ESRCH) return 6;
    return 0;
  });
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << Describe(status);
}

// --- the allowed path: a realistic child ----------------------------------

// Everything a child needs, created before fork: a client connection (a
// socketpair whose far end the test holds, pre-filled and half-closed), and a
// backend directory with a listening socket, a symlink to it and a file.
class RelayFixture {
 public:
  RelayFixture() {
    const char* tmp = std::getenv("TEST_TMPDIR");
    dir_ = std::string(tmp ? tmp : "/tmp") + "/seccomp_relayXXXXXX";
    if (mkdtemp(dir_.data()) == nullptr) std::abort();
    int cwd = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    // bind by relative name, as the child connects: temp paths can exceed
    // sun_path.
    if (cwd < 0 || chdir(dir_.c_str()) != 0) std::abort();
    listener_ = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::strcpy(a.sun_path, "tls-socket");
    if (bind(listener_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || listen(listener_, 4) != 0)
      std::abort();
    // The route broker's part, done here before the fork: connect.
    backend_ = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (connect(backend_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) std::abort();
    if (fchdir(cwd) != 0) std::abort();
    close(cwd);
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) std::abort();
    test_end_ = sv[0];
    child_end_ = sv[1];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) std::abort();
    report_parent_ = sv[0];
    report_child_ = sv[1];
    // The broker's reply, queued for the child ahead of its request.
    if (proxy::SendWithFds(report_parent_, "route", 5, &backend_, 1, 0) != 0) std::abort();
    request_ = "GET / HTTP/1.1\r\nHost: example.com\r\n\r\n" + std::string(3000, 'x');
    if (write(test_end_, request_.data(), request_.size()) != static_cast<ssize_t>(request_.size()))
      std::abort();
    shutdown(test_end_, SHUT_WR);
  }
  ~RelayFixture() {
    close(report_parent_);
    close(report_child_);
    close(listener_);
    if (backend_ >= 0) close(backend_);
    close(test_end_);
    if (child_end_ >= 0) close(child_end_);
  }

  // Runs in the child after Install. Returns 0, or the number of the step
  // that failed (a SIGSYS means a step's syscall is not allowed).
  int ChildBody(bool use_exit) const {
    // 1. memory: small (brk), large (mmap), grow (mremap), free (munmap).
    char* small = static_cast<char*>(malloc(64));
    if (small == nullptr) return 1;
    std::memset(small, 1, 64);
    size_t big_size = size_t{64} << 20;  // above glibc's mmap threshold cap
    char* big = static_cast<char*>(malloc(big_size));
    if (big == nullptr) return 2;
    big[0] = big[big_size - 1] = 1;
    char* bigger = static_cast<char*>(realloc(big, 2 * big_size));
    if (bigger == nullptr) return 3;
    bigger[2 * big_size - 1] = 1;
    free(bigger);
    std::vector<std::string> many(1000, std::string(100, 'y'));
    free(small);
    // 2. randomness and clocks (the raw syscall, not just the vDSO).
    unsigned char rnd[16];
    if (syscall(SYS_getrandom, rnd, sizeof rnd, 0) != static_cast<long>(sizeof rnd)) return 4;
    struct timespec ts;
    if (syscall(SYS_clock_gettime, CLOCK_MONOTONIC, &ts) != 0) return 5;
    if (clock_gettime(CLOCK_REALTIME, &ts) != 0) return 6;
    static int once_word = 0;  // what pthread_once does after a first-use init
    if (syscall(SYS_futex, &once_word, FUTEX_WAKE_PRIVATE, INT32_MAX, nullptr, nullptr, 0) != 0) return 28;
    // 3. the route: the request out, the reply with the backend socket in
    //    (the test plays the route broker: see ExpectRelayed).
    if (send(report_child_, "route?", 6, MSG_NOSIGNAL) != 6) return 7;
    struct pollfd rp = {report_child_, POLLIN, 0};
    if (poll(&rp, 1, -1) != 1) return 8;
    char reply[8];
    proxy::Received routed;
    if (proxy::RecvWithFds(report_child_, reply, sizeof reply, MSG_DONTWAIT, &routed) != 0 ||
        routed.len != 5 || routed.nfds != 1) {
      return 9;
    }
    int backend = routed.fds[0];
    // 6. read the first bytes (the "ClientHello"), replay them with send.
    struct pollfd pfd = {child_end_, POLLIN, 0};
    if (poll(&pfd, 1, -1) != 1) return 17;
    struct timespec zero = {0, 0};
    if (ppoll(&pfd, 1, &zero, nullptr) != 1) return 18;
    char head[16];
    if (recv(child_end_, head, sizeof head, MSG_WAITALL) != static_cast<ssize_t>(sizeof head)) return 19;
    if (send(backend, head, sizeof head, MSG_NOSIGNAL) != static_cast<ssize_t>(sizeof head)) return 20;
    // 7. the rest of what it read, replayed with send.
    for (;;) {
      char rest[4096];
      ssize_t in = recv(child_end_, rest, sizeof rest, 0);
      if (in < 0) return 22;
      if (in == 0) break;
      if (send(backend, rest, static_cast<size_t>(in), MSG_NOSIGNAL) != in) return 23;
    }
    // 8. answer the client (write, writev), half-close, close.
    if (write(child_end_, "reply:", 6) != 6) return 24;
    struct iovec iov[2] = {{const_cast<char*>("o"), 1}, {const_cast<char*>("k"), 1}};
    if (writev(child_end_, iov, 2) != 2) return 25;
    if (shutdown(backend, SHUT_WR) != 0) return 26;
    // 9. the report, no descriptor (proxy/report.h).
    if (proxy::SendWithFds(report_child_, "report", 6, nullptr, 0, 0) != 0) return 29;
    if (close(backend) != 0) return 27;
    if (use_exit) exit(0);  // libc exit: atexit handlers, stdio flush
    return 0;
  }

  // In the test process, after the child exited: what reached the backend
  // and what reached the client.
  void ExpectRelayed() {
    // The child's end is still open here (fork shares it): close it, or the
    // client side never sees EOF.
    close(child_end_);
    child_end_ = -1;
    // The route request, then the report, neither with a descriptor.
    char msg[16];
    proxy::Received got;
    ASSERT_EQ(proxy::RecvWithFds(report_parent_, msg, sizeof msg, MSG_DONTWAIT, &got), 0);
    EXPECT_EQ(std::string(msg, static_cast<size_t>(got.len)), "route?");
    EXPECT_EQ(got.nfds, 0);
    ASSERT_EQ(proxy::RecvWithFds(report_parent_, msg, sizeof msg, MSG_DONTWAIT, &got), 0);
    EXPECT_EQ(std::string(msg, static_cast<size_t>(got.len)), "report");
    EXPECT_EQ(got.nfds, 0);
    int conn = accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC);
    ASSERT_GE(conn, 0) << strerror(errno);
    EXPECT_EQ(ReadAll(conn), request_);
    close(conn);
    EXPECT_EQ(ReadAll(test_end_), "reply:ok");
  }

 private:
  static std::string ReadAll(int fd) {
    std::string out;
    char buf[4096];
    ssize_t n;
    while ((n = read(fd, buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
    return out;
  }

  std::string dir_;
  int listener_ = -1, test_end_ = -1, child_end_ = -1;
  int report_parent_ = -1, report_child_ = -1;
  int backend_ = -1;  // connected by the test, the route broker's part
  std::string request_;
};

TEST(ChildFilter, RealisticChildRunsToExitZero) {
  RelayFixture fx;
  int status = RunChild({&ChildFilter()}, [&] { return fx.ChildBody(/*use_exit=*/true); });
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
      << Describe(status) << " (an exit code is the failed step of ChildBody)";
  fx.ExpectRelayed();
}

// The child inherits the parent filter and adds its own.
TEST(ChildFilter, RealisticChildRunsUnderParentPlusChild) {
  RelayFixture fx;
  int status = RunChild({&ParentFilter(), &ChildFilter()},
                        [&] { return fx.ChildBody(/*use_exit=*/false); });
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << Describe(status);
  fx.ExpectRelayed();
}

// Production: a waiting child runs under the parent's and the zygote's
// filters and adds the narrowing.
TEST(ChildFilter, RealisticChildRunsUnderTheWaitingChildsStack) {
  RelayFixture fx;
  int status = RunChild({&ParentFilter(), &ZygoteFilter(), &NarrowingFilter()},
                        [&] { return fx.ChildBody(/*use_exit=*/false); });
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << Describe(status);
  fx.ExpectRelayed();
}

// --- the parent: fork, set up and lock a child, reap, kill, accept -----------

TEST(ParentFilter, ForksLocksReapsKillsAndAccepts) {
  // A listening socket with one connection queued, and /dev/null, opened
  // before the filter (the parent cannot open files afterwards).
  int listener = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(listener, 0);
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::snprintf(a.sun_path + 1, sizeof a.sun_path - 1, "sallyport-seccomp-test-%d", getpid());
  socklen_t alen = offsetof(sockaddr_un, sun_path) + 1 + std::strlen(a.sun_path + 1);
  a.sun_path[0] = '\0';
  ASSERT_EQ(bind(listener, reinterpret_cast<sockaddr*>(&a), alen), 0) << strerror(errno);
  ASSERT_EQ(listen(listener, 4), 0);
  int client = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_EQ(connect(client, reinterpret_cast<sockaddr*>(&a), alen), 0);
  int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
  ASSERT_GE(devnull, 0);

  int status = RunChild({&ParentFilter()}, [&] {
    // fork as glibc does; the new child runs the lockdown steps, locks
    // itself with the child filter and exits 7.
    pid_t c = fork();
    if (c < 0) return 1;
    if (c == 0) {
      struct sigaction sa{};
      sa.sa_handler = SIG_DFL;
      for (int sig = 1; sig < 32; ++sig) sigaction(sig, &sa, nullptr);
      sigset_t none;
      sigemptyset(&none);
      if (sigprocmask(SIG_SETMASK, &none, nullptr) != 0) _exit(20);
      for (int fd = 0; fd < 3; ++fd)
        if (dup2(devnull, fd) != fd) _exit(21);
      if (dup3(devnull, 2, O_CLOEXEC) != 2) _exit(22);
      if (syscall(SYS_close_range, 3, ~0u, 0) != 0) _exit(23);
      if (prctl(PR_SET_DUMPABLE, 0UL, 0UL, 0UL, 0UL) != 0) _exit(24);
      if (prctl(PR_SET_PDEATHSIG, static_cast<unsigned long>(SIGKILL), 0UL, 0UL, 0UL) != 0) _exit(25);
      struct rlimit zero = {0, 0};
      if (setrlimit(RLIMIT_CORE, &zero) != 0) _exit(26);
      if (ChildFilter().Install() != 0) _exit(27);
      _exit(7);
    }
    int st = 0;
    if (waitpid(c, &st, 0) != c) return 2;
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 7) return 3;
    // A locked child blocked in read; the parent kills it with SIGKILL.
    int p[2];  // a channel nobody writes to (the parent makes no pipes)
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, p) != 0) return 4;
    pid_t d = fork();
    if (d < 0) return 5;
    if (d == 0) {
      if (ChildFilter().Install() != 0) _exit(30);
      char b;
      (void)!read(p[0], &b, 1);  // never returns: nobody writes
      _exit(31);
    }
    if (kill(d, SIGKILL) != 0) return 6;
    siginfo_t si{};
    if (waitid(P_PID, static_cast<id_t>(d), &si, WEXITED) != 0) return 7;
    if (si.si_code != CLD_KILLED || si.si_status != SIGKILL) return 8;
    // accept the queued connection.
    int conn = accept4(listener, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (conn < 0) return 9;
    if (write(conn, "hi", 2) != 2) return 10;
    // logging and bookkeeping.
    if (getpid() <= 0) return 11;
    struct sigaction sa{};
    sa.sa_handler = SIG_IGN;
    if (sigaction(SIGPIPE, &sa, nullptr) != 0) return 12;
    return 0;
  });
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << Describe(status);
  char buf[2];
  EXPECT_EQ(read(client, buf, 2), 2);
  close(client);
  close(listener);
  close(devnull);
}

// The pre-forked child path (proxy/handoff.h) under the real filters: the
// parent makes the SOCK_SEQPACKET channel, forks, the child locks itself
// with the child filter and waits; the parent passes it a connection with
// SCM_RIGHTS; the child receives it, closes the channel and uses it.
TEST(ParentFilter, HandsAConnectionToAWaitingChild) {
  int conn[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, conn), 0);
  int status = RunChild({&ParentFilter()}, [&] {
    int channel[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, channel) != 0) return 1;
    pid_t c = fork();
    if (c < 0) return 2;
    if (c == 0) {
      close(channel[0]);
      if (ChildFilter().Install() != 0) _exit(30);
      proxy::ConnectionHeader h;
      int fd = proxy::ReceiveConnection(channel[1], &h);
      close(channel[1]);
      if (fd < 0 || h.endpoints.src_port != 4242) _exit(31);
      _exit(write(fd, "ok", 2) == 2 ? 0 : 32);
    }
    close(channel[1]);
    proxy::ConnectionHeader h;
    h.endpoints.src_port = 4242;
    if (proxy::SendConnection(channel[0], conn[0], h) != 0) return 3;
    close(channel[0]);
    int st = 0;
    if (waitpid(c, &st, 0) != c) return 4;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 100 + WTERMSIG(st);
  });
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << Describe(status);
  char buf[2];
  EXPECT_EQ(read(conn[1], buf, 2), 2);
  close(conn[0]);
  close(conn[1]);
}

// --- errno probes --------------------------------------------------------------

// Calls the probe's syscall with arguments that satisfy its conditions; every
// other argument is -1 (an invalid fd / pointer / size), so the kernel itself
// would answer a different errno (checked by the control).
long CallProbe(const policy::ErrnoProbe& probe) {
  long a[6] = {-1, -1, -1, -1, -1, -1};
  for (const policy::ArgCond& c : probe.args) a[c.arg] = static_cast<long>(c.value);
  int nr = seccomp_syscall_resolve_name(probe.syscall);
  return syscall(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
}

void ExpectProbesAnswer(const policy::SyscallPolicy& policy, const CompiledFilter& filter) {
  std::vector<const policy::ErrnoProbe*> probes = policy::AllProbes(policy);
  ASSERT_FALSE(probes.empty()) << policy.name;
  for (const policy::ErrnoProbe* probe : probes) {
    SCOPED_TRACE(std::string(policy.name) + " probe " + probe->syscall);
    int status = RunChild({&filter}, [&] {
      long r = CallProbe(*probe);
      return r == -1 && errno == probe->err ? 0 : 1;
    });
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << Describe(status);
    int control = RunChild({}, [&] {
      long r = CallProbe(*probe);
      return r == -1 && errno == probe->err ? 1 : 0;
    });
    EXPECT_TRUE(WIFEXITED(control) && WEXITSTATUS(control) == 0)
        << "without the filter the kernel gives the same answer; the probe test proves nothing";
  }
}

TEST(Probes, ChildProbesAnswerTheirErrno) { ExpectProbesAnswer(policy::ChildPolicy(), ChildFilter()); }
TEST(Probes, ParentProbesAnswerTheirErrno) { ExpectProbesAnswer(policy::ParentPolicy(), ParentFilter()); }

// A probe's conditions are part of it: ioctl other than TCGETS still kills
// (kChildForbidden has FIONREAD and TIOCSTI), and isatty() works as a caller
// expects.
TEST(Probes, IsattyUnderChildFilterSaysNo) {
  int status = RunChild({&ChildFilter()}, [] { return isatty(0) == 0 && errno == ENOTTY ? 0 : 1; });
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << Describe(status);
}

// --- Install() does nothing but prctl ------------------------------------------

// A hand-written filter (no libseccomp) that allows only prctl and
// exit_group. Install() under it must succeed: it makes no other syscall (no
// mmap, brk, getrandom, seccomp(), no libseccomp call that touches the
// kernel). It does not prove "no malloc from a free list"; that rests on the
// code: Install builds a sock_fprog on the stack over the stored vector.
int InstallOnlyPrctlFilter() {
  struct sock_filter f[] = {
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_prctl, 2, 0),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_exit_group, 1, 0),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
  };
  struct sock_fprog prog = {static_cast<unsigned short>(sizeof f / sizeof f[0]), f};
  if (prctl(PR_SET_NO_NEW_PRIVS, 1UL, 0UL, 0UL, 0UL) != 0) return -1;
  return prctl(PR_SET_SECCOMP, static_cast<unsigned long>(SECCOMP_MODE_FILTER), &prog, 0UL, 0UL);
}

TEST(Install, MakesNoSyscallButPrctl) {
  const CompiledFilter& child = ChildFilter();
  const CompiledFilter& parent = ParentFilter();
  int status = RunChild({}, [&] {
    if (InstallOnlyPrctlFilter() != 0) return 1;
    if (parent.Install() != 0) return 2;
    if (child.Install() != 0) return 3;
    return 0;
  });
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << Describe(status);
}

// The control: the hand-written filter does catch other work (here a fresh
// mapping, as a large malloc would make).
TEST(Install, PrctlOnlyFilterCatchesOtherSyscalls) {
  int status = RunChild({}, [] {
    if (InstallOnlyPrctlFilter() != 0) return 1;
    void* volatile p = malloc(size_t{64} << 20);
    return p != nullptr ? 0 : 2;
  });
  EXPECT_TRUE(KilledBySigsys(status)) << Describe(status);
}

TEST(Install, FailsClosedOnEmptyFilter) {
  // A default-constructed filter has no program; Install refuses.
  CompiledFilter empty;
  EXPECT_EQ(empty.Install(), -EINVAL);
}

// --- compile errors ------------------------------------------------------------

absl::StatusCode CompileCode(policy::SyscallPolicy p) { return CompileFilter(p).status().code(); }

TEST(Compile, RejectsUnknownSyscallName) {
  policy::SyscallPolicy p{"t", "t", {}, {{"g", "g", {{"read"}, {"no_such_syscall"}}}}, {}};
  auto r = CompileFilter(p);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("no_such_syscall"), std::string::npos) << r.status();
}

TEST(Compile, RejectsSyscallOfAnotherArch) {
  // "socketcall" exists on i386, not on x86_64.
  EXPECT_EQ(CompileCode({"t", "t", {}, {{"g", "g", {{"socketcall"}}}}, {}}),
            absl::StatusCode::kInvalidArgument);
}

TEST(Compile, RejectsBadConditions) {
  using policy::Eq;
  EXPECT_EQ(CompileCode({"t", "t", {}, {{"g", "g", {{"read", {Eq(6, 0)}}}}}, {}}),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(CompileCode({"t", "t", {}, {{"g", "g", {{"read", {Eq(0, 0), Eq(0, 1)}}}}}, {}}),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(CompileCode({"t", "t", {}, {{"g", "g", {{"read", {policy::ArgCond{0, policy::ArgCond::kMaskedEq, 1, 2}}}}}}, {}}),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(CompileCode({"t", "t", {}, {}, {{"ioctl", 0, "no errno"}}}),
            absl::StatusCode::kInvalidArgument);
}

TEST(Compile, ProgramsAreNonTrivialAndStable) {
  EXPECT_GT(ChildFilter().instructions(), 20u);
  EXPECT_GT(ParentFilter().instructions(), ChildFilter().instructions());
  auto again = CompileFilter(policy::ChildPolicy());
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->pfc(), ChildFilter().pfc());
}

}  // namespace
}  // namespace sallyport::sandbox
