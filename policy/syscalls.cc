// SPDX-License-Identifier: Apache-2.0
// policy/syscalls.cc — the two syscall tables. Read policy/syscalls.h for
// the semantics; docs/SECURITY.md "Syscall policies" for the reasoning.
//
// Rule of the file: a syscall is listed only if a realistic process of that
// kind makes it (tests/sandbox/seccomp_test.cc runs such a child). If a
// library call is opportunistic and copes with failure, it is an errno probe,
// not an allow.
#include "policy/syscalls.h"

#include <fcntl.h>
#include <linux/close_range.h>
#include <linux/futex.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <asm/prctl.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>

namespace sallyport::policy {
namespace {

constexpr uint64_t kRW = PROT_READ | PROT_WRITE;
constexpr uint64_t kAnon = MAP_PRIVATE | MAP_ANONYMOUS;
constexpr uint64_t kSockFlags = SOCK_CLOEXEC | SOCK_NONBLOCK;
// What glibc 2.36 fork() passes to clone (checked with strace).
constexpr uint64_t kForkFlags = CLONE_CHILD_SETTID | CLONE_CHILD_CLEARTID | SIGCHLD;
// What the zygote passes (proxy/zygote.cc): a fork whose child is the
// parent's child, not the zygote's (the exit signal is then the zygote's
// own, SIGCHLD; the low byte is named anyway).
constexpr uint64_t kSpawnFlags = CLONE_PARENT | SIGCHLD;

// kill(pid, sig) of one process (PidOfOneProcess) with exactly `sig`: one
// rule per alternative of the pid condition.
std::vector<SyscallRule> KillOneProcess(int sig) {
  std::vector<SyscallRule> rules;
  for (const ArgCond& pid : PidOfOneProcess(0)) rules.push_back({"kill", {pid, Eq(1, sig)}});
  return rules;
}

// malloc, the same in every process.
SyscallGroup MemoryGroup(const char* name) {
  return {name, "malloc: brk, anonymous private RW mappings, never executable or shared",
          {{"brk"}, {"munmap"},
           {"mmap", {BitsWithin(2, kRW), BitsAre(3, kAnon, MAP_NORESERVE)}},
           {"mremap", {BitsWithin(3, MREMAP_MAYMOVE)}},
           {"mprotect", {BitsWithin(2, kRW)}},
           {"madvise", {Eq(2, MADV_DONTNEED)}}}};
}

std::vector<SyscallRule> Join(std::vector<SyscallRule> a, const std::vector<SyscallRule>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

}  // namespace

std::vector<ArgCond> PidOfOneProcess(unsigned arg) {
  constexpr uint64_t kAboveInt = ~uint64_t{0x7fffffff};  // bit 31 and up: sign and junk
  std::vector<ArgCond> any_of;
  for (unsigned k = 0; k < 31; ++k) {
    uint64_t bit = uint64_t{1} << k;
    any_of.push_back(ArgCond{arg, ArgCond::kMaskedEq, kAboveInt | bit, bit});
  }
  return any_of;
}

const SyscallPolicy& ChildPolicy() {
  static const SyscallPolicy* const p = new SyscallPolicy{
      "child",
      "one connection: parse hostile bytes, ask the parent for the route, replay into the backend it connected",
      /*includes=*/{},
      {
          {"io", "bytes on sockets and pipes it already holds",
           {{"read"}, {"write"}, {"readv"}, {"writev"},
            {"recvfrom"}, {"recvmsg"}, {"sendto"}, {"sendmsg"}}},
          {"wait", "readiness and timeouts on held fds",
           {{"poll"}, {"ppoll"}}},
          {"answer", "half-close after answering a refusal, so the client reads it",
           {{"shutdown"}}},
          {"fds", "close", {{"close"}}},
          MemoryGroup("memory"),
          {"runtime", "randomness, clocks (vDSO fallback), kernel-restarted calls, the handshake alarm",
           {{"getrandom"}, {"clock_gettime"}, {"restart_syscall"}, {"alarm"}}},
          {"once", "pthread_once/std::call_once wake waiters after a first-use init (Botan error paths); private wake only",
           {{"futex", {Eq(1, FUTEX_WAKE_PRIVATE)}}}},
          {"exit", "leave", {{"exit"}, {"exit_group"}}},
      },
      {
          {"ioctl", ENOTTY,
           "stdio asks isatty() (TCGETS) on first use of a stream; /dev/null and sockets are not ttys",
           {Eq(1, TCGETS)}},
      }};
  return *p;
}

const SyscallPolicy& ZygotePolicy() {
  static const SyscallPolicy* const p = new SyscallPolicy{
      "zygote",
      "fork server: forks waiting children (as the parent's children) from a small exec'd image",
      /*includes=*/{&ChildPolicy()},  // a waiting child runs under both, then the child filter too
      {
          {"spawn", "fork a child that the parent reaps (CLONE_PARENT); two SOCK_SEQPACKET "
                    "channels per waiting child (its connection in, its report out), and with "
                    "--accept-proxy a pipe for the parent's verdict",
           {{"clone", {Eq(0, kSpawnFlags), Eq(1, 0)}},
            {"socketpair", {Eq(0, AF_UNIX), Eq(1, SOCK_SEQPACKET | SOCK_CLOEXEC), Eq(2, 0)}},
            {"pipe2", {Eq(1, O_CLOEXEC | O_NONBLOCK)}}}},
          {"child-setup", "what a fresh waiting child does before the child filter: close the "
                          "zygote's fds, limits, then lock",
           {{"close_range"},
            {"prlimit64", {Eq(0, 0)}},
            {"prctl", {Eq(0, PR_SET_NO_NEW_PRIVS), Eq(1, 1)}},
            {"prctl", {Eq(0, PR_SET_SECCOMP), Eq(1, SECCOMP_MODE_FILTER)}}}},
      },
      {}};
  return *p;
}

const SyscallPolicy& RelayPolicy() {
  static const SyscallPolicy* const p = new SyscallPolicy{
      "relay",
      "every routed connection after its child: splice bytes both ways, half-close, idle timeout",
      /*includes=*/{},
      {
          {"relay-channel", "the parent's messages (descriptors in, reports out) on fd 3",
           {{"recvmsg"}, {"sendmsg"}}},
          {"relay-check", "each descriptor pair before use: a connected stream socket of the expected "
                    "family",
           {{"getsockopt", {Eq(1, SOL_SOCKET), Eq(2, SO_DOMAIN)}},
            {"getsockopt", {Eq(1, SOL_SOCKET), Eq(2, SO_TYPE)}},
            {"getpeername"}}},
          {"relay-wait", "readiness of every held socket",
           {{"epoll_wait"}, {"epoll_pwait"},
            {"epoll_ctl", {Eq(1, EPOLL_CTL_ADD)}}}},
          {"relay-splice", "zero-copy relay: pooled pipes + splice, grow a busy pipe, half-close",
           {{"pipe2", {Eq(1, O_CLOEXEC | O_NONBLOCK)}}, {"splice"}, {"shutdown"},
            {"fcntl", {Eq(1, F_SETPIPE_SZ)}}}},
          {"relay-fds", "close, set O_NONBLOCK on a new pair",
           {{"close"}, {"fcntl", {Eq(1, F_GETFL)}}, {"fcntl", {Eq(1, F_SETFL)}}}},
          MemoryGroup("relay-memory"),
          {"relay-runtime", "clocks (vDSO fallback), kernel-restarted calls",
           {{"clock_gettime"}, {"restart_syscall"}}},
          {"relay-exit", "leave", {{"exit"}, {"exit_group"}}},
      },
      {}};
  return *p;
}

const SyscallPolicy& ParentPolicy() {
  static const SyscallPolicy* const p = new SyscallPolicy{
      "parent",
      "acceptor: accept, start the zygote, hand connections to waiting children, reap, log",
      // Filters stack: the zygote runs under the parent's filter and its
      // own, a waiting child under those and the child filter.
      /*includes=*/{&ZygotePolicy(), &RelayPolicy()},
      {
          {"accept", "take connections; learn the local address for PROXY headers",
           {{"accept4", {BitsWithin(3, kSockFlags)}}, {"getsockname"}}},
          {"fork", "fork() exactly as glibc does it (no threads, no namespaces) to start the "
                   "zygote; reap it and every child",
           {{"clone", {Eq(0, kForkFlags), Eq(1, 0)}}, {"wait4"}, {"waitid"}}},
          {"helper-exec", "exec the zygote and the relay from the binary opened before chroot "
                          "(an fd, AT_EMPTY_PATH: no path is looked up), and the static binary's "
                          "start-up (glibc reads /proc/self/exe for its origin: readlink)",
           {{"execveat", {Eq(2 + 2, AT_EMPTY_PATH)}},
            {"readlink"},
            {"arch_prctl", {Eq(0, ARCH_SET_FS)}},
            {"set_tid_address"}}},
          {"signals", "handlers and masks; SIGKILL to one child by pid (the only signal proxy/ sends; "
                      "never 0, -1 or -pgid: a group or everyone)",
           Join({{"rt_sigaction"}, {"rt_sigprocmask"}, {"rt_sigreturn"}},
                KillOneProcess(SIGKILL))},
          {"identity", "own pid for log lines", {{"getpid"}}},
          {"route-broker", "decide and connect each child's route (proxy/route_broker.h): lstat/readlink "
                           "the entries, chdir into hosts/<name>/ (sun_path is 108 bytes), a "
                           "non-blocking AF_UNIX stream socket, connect, SO_PEERCRED of the listener",
           {{"newfstatat"}, {"readlinkat"}, {"chdir"},
            {"socket", {Eq(0, AF_UNIX), BitsAre(1, SOCK_STREAM, kSockFlags), Eq(2, 0)}},
            {"connect"},
            {"getsockopt", {Eq(1, SOL_SOCKET), Eq(2, SO_PEERCRED)}}}},
          {"relay-start", "the exec'd relay makes its epoll set before its own filter; the "
                          "parent's set of working children's channels",
           {{"epoll_create1", {Eq(0, EPOLL_CLOEXEC)}}}},
          {"helper-setup", "what a forked helper does before exec: stdio and its channel onto "
                           "fixed fds (dup3: the binary's fd stays close-on-exec), close the rest, "
                           "die with the parent, not dumpable (also after exec)",
           {{"dup2"}, {"dup3"},
            {"prctl", {Eq(0, PR_SET_DUMPABLE), Eq(1, 0)}},
            {"prctl", {Eq(0, PR_SET_PDEATHSIG), Eq(1, SIGKILL)}}}},
      },
      {
          {"set_robust_list", ENOSYS,
           "glibc fork() re-registers the robust-futex list in the child and ignores failure; no robust mutexes here"},
          {"clone3", ENOSYS,
           "glibc tries clone3 first (pthread_create, posix_spawn) and falls back to clone on ENOSYS; "
           "clone3's flags live in memory a filter cannot read, so it must never succeed"},
          {"rseq", ENOSYS,
           "glibc registers restartable sequences at start-up (the exec'd zygote) and runs without "
           "them when the kernel says ENOSYS"},
      }};
  return *p;
}

namespace {

void Collect(const SyscallPolicy& policy, std::vector<const SyscallPolicy*>& seen) {
  if (std::find(seen.begin(), seen.end(), &policy) != seen.end()) return;
  seen.push_back(&policy);
  for (const SyscallPolicy* inc : policy.includes) Collect(*inc, seen);
}

}  // namespace

std::vector<const SyscallGroup*> AllGroups(const SyscallPolicy& policy) {
  std::vector<const SyscallPolicy*> seen;
  Collect(policy, seen);
  std::vector<const SyscallGroup*> out;
  for (const SyscallPolicy* p : seen)
    for (const SyscallGroup& g : p->groups) out.push_back(&g);
  return out;
}

std::vector<const ErrnoProbe*> AllProbes(const SyscallPolicy& policy) {
  std::vector<const SyscallPolicy*> seen;
  Collect(policy, seen);
  std::vector<const ErrnoProbe*> out;
  for (const SyscallPolicy* p : seen)
    for (const ErrnoProbe& e : p->probes) out.push_back(&e);
  return out;
}

}  // namespace sallyport::policy
