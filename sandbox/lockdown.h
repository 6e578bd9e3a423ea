// SPDX-License-Identifier: Apache-2.0
// sandbox/lockdown.h — confines the acceptor (parent) once at start, and
// each per-connection child right after fork, before it reads a byte.
//
// Side of the trust boundary: LockdownParent runs in the parent before any
// untrusted byte is read (it may allocate, log, fail with a Status).
// LockdownChild runs in a freshly forked child: async-signal-safe, no
// allocation, no libseccomp, no open().
//
// Parent, fixed order, every step fails closed with a Status naming it:
//   0. check options: hosts_dir absolute, filter present, user looked up
//      (getpwnam, before chroot: needs /etc/passwd); root without a user,
//      or a user that is uid 0 or gid 0, is refused; open /dev/null for the
//      children's stdio (there is no /dev inside the chroot).
//   1. (the caller has opened what it needs; the listening socket is
//      inherited and keeps working in the new network namespace.)
//   2. warm up: WarmUpLibc(), then the caller's warm_up, so no child ever
//      opens a file or makes a first-use syscall (malloc's getrandom,
//      /etc/localtime, Botan's tables).
//   3. namespaces: a private network namespace is REQUIRED (abstract Unix
//      sockets are per network namespace and chroot does not hide them);
//      IPC and mount namespaces (mounts made private) when possible.
//        root:        unshare directly.                       (kRoot)
//        not root:    unshare(CLONE_NEWUSER), deny setgroups, map our own
//                     uid/gid to themselves, then as above.   (kUserNamespace)
//                     Only our own uid is mapped: lstat and SO_PEERCRED show
//                     every other uid (root too) as the overflow uid, read
//                     from /proc/sys/kernel/overflowuid into
//                     ParentLockdownResult::unmapped_uid so the ownership
//                     rules can refuse it (sandbox/resolve.h). Running as the
//                     overflow uid itself (e.g. nobody) is refused: our own
//                     entries could not be told from anyone else's. (Mapping
//                     more uids is not possible here: an unprivileged writer
//                     may map only its own uid, docs/SECURITY.md section 1.)
//                     In root and capabilities modes the same holds when the
//                     process already runs in a user namespace that leaves
//                     uids unmapped (a container: /proc/self/uid_map does not
//                     cover all 2^32-1 uids): unmapped_uid is set there too.
//        not root, no user namespaces, but CAP_SYS_CHROOT and
//                     CAP_SYS_ADMIN (systemd AmbientCapabilities):
//                                                              (kCapabilities)
//        otherwise refuse, naming both fixes (CAP_SYS_CHROOT for the unit,
//        or unprivileged user namespaces).
//   4. chroot(hosts_dir), chdir("/").
//   5. privileges: as root setgroups(0), setresgid, setresuid to the user;
//      otherwise drop every capability (the user namespace gave us a full
//      set inside it; CAP_SYS_CHROOT would allow the classic chroot escape).
//      Then verify in every mode: setuid(0) and setgid(0) fail, no real/
//      effective/saved uid or gid is 0, no capability is left.
//   6. prctl(PR_SET_NO_NEW_PRIVS, 1) and PR_SET_DUMPABLE 0 (another process
//      of the same uid must not ptrace the acceptor).
//   7. install the parent seccomp filter.
//
// Child (LockdownChild), in this order: reset every signal handler to
// SIG_DFL and unblock all signals; dup /dev/null onto 0, 1, 2; close every
// fd except the kept ones (close_range over the gaps, including the
// listening socket and /dev/null itself); PR_SET_DUMPABLE 0; rlimits; the
// child filter. The child filter stacks on the inherited parent filter: a
// syscall must be allowed by both.
#ifndef SALLYPORT_SANDBOX_LOCKDOWN_H_
#define SALLYPORT_SANDBOX_LOCKDOWN_H_

#include <sys/resource.h>
#include <sys/types.h>

#include <functional>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "sandbox/seccomp.h"

namespace sallyport::sandbox {

struct ParentLockdownOptions {
  std::string hosts_dir;            // absolute; becomes "/"
  std::optional<std::string> user;  // --user; required when running as root
  const CompiledFilter* filter = nullptr;  // the parent filter; required
  // Runs after WarmUpLibc, before any namespace/chroot change. May be empty.
  std::function<absl::Status()> warm_up;
};

enum class LockdownMode {
  kRoot,           // started as root, dropped to the named user
  kUserNamespace,  // unprivileged, chroot inside our own user namespace
  kCapabilities,   // unprivileged with CAP_SYS_CHROOT + CAP_SYS_ADMIN
};
const char* LockdownModeName(LockdownMode mode);

struct ParentLockdownResult {
  LockdownMode mode = LockdownMode::kRoot;
  bool user_ns = false;
  bool net_ns = false;         // always true on success
  bool ipc_ns = false;
  bool mount_ns = false;
  bool mount_private = false;  // propagation of the new mount ns is private
  uid_t uid = 0;               // after the drop (never 0)
  gid_t gid = 0;
  // The overflow uid, which lstat and SO_PEERCRED report for every unmapped
  // uid: in kUserNamespace every uid but `uid`; in the other modes only when
  // started inside a user namespace that does not map every uid (a
  // container). Pass it to sandbox::FsLookup and sandbox::ConnectRoute.
  // Empty when every uid is real.
  std::optional<uid_t> unmapped_uid;
  // O_RDWR|O_CLOEXEC /dev/null opened before chroot; pass to ChildLockdown.
  int devnull_fd = -1;
  std::string Describe() const;  // one line for the start-up log
};

// Runs steps 0–7. On error the process may be half confined (e.g. already
// chrooted): the caller must exit. The error message names the step.
absl::StatusOr<ParentLockdownResult> LockdownParent(
    const ParentLockdownOptions& options);

// Pre-initialises glibc state the children use, so no child opens a file or
// makes a first-use syscall: malloc (small, large/mmap, realloc/mremap) —
// the first malloc calls getrandom —, tzset() and localtime_r (reads
// /etc/localtime), getrandom once.
absl::Status WarmUpLibc();
// Its malloc part alone (no file is opened): what the exec'd zygote runs.
absl::Status WarmUpMalloc();

// Step 5 alone, for tests: setgroups(0), setresgid(gid), setresuid(uid),
// then the verification (regaining root fails, no capabilities left).
// Refuses uid 0 / gid 0. Needs root (CAP_SETUID/CAP_SETGID).
absl::Status DropToUser(uid_t uid, gid_t gid);

// The child's fd budget, which sets RLIMIT_NOFILE exactly: stdio (3), the
// kept fds (hand-off channel, report channel, verdict pipe: up to
// kMaxKeptFds), the client socket and the one backend socket the route
// broker passes it. A child never sends a descriptor, so it needs no room
// for the kernel's per-user count of descriptors in flight (ETOOMANYREFS is
// the sender's limit: the parent's).
inline constexpr int kMaxKeptFds = 3;
inline constexpr int kChildConnectionFds = 2;

struct ChildLimits {
  // RLIMIT_AS: 128 MiB of address space. A child is a fork of the zygote
  // (the static binary, exec'd fresh: about 3 MiB of text and data mapped)
  // and then needs a ClientHello buffer (at most 16 KiB records of a
  // handshake message of at most 64 KiB) and Botan's parse of it; the
  // relay, not the child, moves a connection's bytes. 128 MiB leaves wide
  // headroom and stops a parser bug from growing memory without bound.
  // ASan reserves terabytes of shadow memory and cannot run under it: in
  // sanitizer builds RLIMIT_AS is left alone.
  rlim_t address_space = rlim_t{128} << 20;
  // RLIMIT_CPU seconds (soft; hard = soft + 1 → SIGXCPU then SIGKILL).
  // Bounds a spinning child (the relay process, not the child, moves the
  // bytes of a routed connection).
  rlim_t cpu_seconds = 5;
};

struct ChildLockdown {
  int devnull_fd = -1;          // ParentLockdownResult::devnull_fd (> 2)
  int keep_fds[kMaxKeptFds] = {-1, -1, -1};  // each > 2
  int keep_count = 0;
  const CompiledFilter* filter = nullptr;  // the child filter; required
  ChildLimits limits;
};

// Right after fork, before reading a byte. Async-signal-safe, allocates
// nothing. Returns 0, or -errno of the first failing step (-EINVAL for a bad
// spec: missing filter, an fd <= 2, too many kept fds). On failure the
// caller must _exit() at once: the process is partly confined.
// Limits set (soft = hard, so they cannot be raised again): RLIMIT_NOFILE
// 3 + keep_count + kChildConnectionFds (the budget above), RLIMIT_FSIZE 0 (a write to a file is SIGXFSZ),
// RLIMIT_NPROC 0 (no fork; enforced because we are never uid 0 after the
// parent's drop), RLIMIT_CORE 0, RLIMIT_AS, RLIMIT_CPU as in ChildLimits.
int LockdownChild(const ChildLockdown& spec) noexcept;

// The same for a child forked by the zygote (proxy/zygote.h), which has
// already done the rest once for all its children: no signal handlers
// (fresh exec) and none blocked but SIGPIPE ignored, stdio on /dev/null,
// not dumpable, and its own filter (ZygotePolicy) installed. So only: close
// every fd but the kept ones (devnull_fd is not used), the same rlimits,
// the child filter. Async-signal-safe, allocates nothing; same returns.
int LockdownZygoteChild(const ChildLockdown& spec) noexcept;

}  // namespace sallyport::sandbox

#endif  // SALLYPORT_SANDBOX_LOCKDOWN_H_
