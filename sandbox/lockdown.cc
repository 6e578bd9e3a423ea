// SPDX-License-Identifier: Apache-2.0
#include "sandbox/lockdown.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <string>

#include "absl/strings/str_cat.h"

namespace sallyport::sandbox {
namespace {

// Every parent error names its step, e.g. "lockdown step 4 (chroot): ...".
absl::Status StepError(absl::StatusCode code, int step, const char* name,
                       absl::string_view what) {
  return absl::Status(code,
                      absl::StrCat("lockdown step ", step, " (", name, "): ", what));
}

absl::Status StepErrno(int step, const char* name, absl::string_view call,
                       int err) {
  return StepError(absl::StatusCode::kPermissionDenied, step, name,
                   absl::StrCat(call, ": ", std::strerror(err)));
}

struct Caps {
  __u32 effective[2] = {0, 0};
  __u32 permitted[2] = {0, 0};
  __u32 inheritable[2] = {0, 0};
};

bool GetCaps(Caps& caps) {
  __user_cap_header_struct hdr{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[2];
  std::memset(data, 0, sizeof(data));
  if (syscall(SYS_capget, &hdr, data) != 0) return false;
  for (int i = 0; i < 2; ++i) {
    caps.effective[i] = data[i].effective;
    caps.permitted[i] = data[i].permitted;
    caps.inheritable[i] = data[i].inheritable;
  }
  return true;
}

bool HasEffectiveCap(int cap) {
  Caps caps;
  if (!GetCaps(caps)) return false;
  return (caps.effective[cap / 32] & (1u << (cap % 32))) != 0;
}

bool NoCapsLeft() {
  Caps caps;
  if (!GetCaps(caps)) return false;
  for (int i = 0; i < 2; ++i) {
    if (caps.effective[i] | caps.permitted[i] | caps.inheritable[i]) return false;
  }
  return true;
}

absl::Status WriteProcFile(const char* path, const std::string& text) {
  int fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) return StepErrno(3, "namespaces", absl::StrCat("open ", path), errno);
  ssize_t n = write(fd, text.data(), text.size());
  int err = errno;
  close(fd);
  if (n != static_cast<ssize_t>(text.size())) {
    return StepErrno(3, "namespaces", absl::StrCat("write ", path),
                     n < 0 ? err : EIO);
  }
  return absl::OkStatus();
}

// The message when no confinement is possible: name both fixes.
absl::Status NoUserNamespaces(int err) {
  return StepError(
      absl::StatusCode::kFailedPrecondition, 3, "namespaces",
      absl::StrCat(
          "cannot chroot: not root, user namespaces are unavailable "
          "(unshare(CLONE_NEWUSER): ",
          std::strerror(err),
          ") and the process lacks CAP_SYS_CHROOT. Refusing to run "
          "unconfined. Fix one of: (1) run the service with CAP_SYS_CHROOT "
          "and CAP_SYS_ADMIN (systemd: AmbientCapabilities=CAP_SYS_CHROOT "
          "CAP_SYS_ADMIN), or as root with --user; (2) enable unprivileged "
          "user namespaces (sysctl kernel.unprivileged_userns_clone=1 on "
          "Debian kernels, and user.max_user_namespaces > 0)."));
}

// The uid the kernel reports for ids not mapped into a user namespace.
absl::StatusOr<uid_t> ReadOverflowUid() {
  constexpr const char* kPath = "/proc/sys/kernel/overflowuid";
  int fd = open(kPath, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return StepErrno(3, "namespaces", absl::StrCat("open ", kPath), errno);
  char buf[32];
  ssize_t n = read(fd, buf, sizeof(buf) - 1);
  int err = errno;
  close(fd);
  if (n <= 0) {
    return StepErrno(3, "namespaces", absl::StrCat("read ", kPath), n < 0 ? err : EIO);
  }
  buf[n] = '\0';
  char* end = nullptr;
  errno = 0;
  unsigned long v = std::strtoul(buf, &end, 10);
  if (errno != 0 || end == buf || (*end != '\n' && *end != '\0') ||
      v > static_cast<unsigned long>(static_cast<uid_t>(-1))) {
    return StepError(absl::StatusCode::kInternal, 3, "namespaces",
                     absl::StrCat(kPath, ": not a uid"));
  }
  return static_cast<uid_t>(v);
}

// Whether this process's user namespace maps every uid (the initial
// namespace does: "0 0 4294967295"). Inside a container's user namespace,
// uids outside its uid_map read as the overflow uid, as in our own. An
// unreadable map counts as "not every uid" (the safe answer).
bool AllUidsMapped() {
  FILE* f = fopen("/proc/self/uid_map", "re");
  if (f == nullptr) return false;
  unsigned long long inside = 0, outside = 0, count = 0, total = 0;
  while (fscanf(f, "%llu %llu %llu", &inside, &outside, &count) == 3) total += count;
  fclose(f);
  return total >= 4294967295ull;
}

// Step 3 after the mode is settled: network (required), IPC and mount
// (best effort, reported).
absl::Status EnterNamespaces(ParentLockdownResult& r) {
  if (unshare(CLONE_NEWNET) != 0) {
    return StepErrno(3, "namespaces",
                     "unshare(CLONE_NEWNET) (required: abstract Unix sockets "
                     "are per network namespace)",
                     errno);
  }
  r.net_ns = true;
  r.ipc_ns = unshare(CLONE_NEWIPC) == 0;
  if (unshare(CLONE_NEWNS) == 0) {
    r.mount_ns = true;
    r.mount_private =
        mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) == 0;
  }
  return absl::OkStatus();
}

// Drops the capability bounding set while CAP_SETPCAP is still held.
absl::Status DropBoundingSet(int step, const char* name) {
  if (!HasEffectiveCap(CAP_SETPCAP)) return absl::OkStatus();
  for (int cap = 0;; ++cap) {
    if (prctl(PR_CAPBSET_READ, cap, 0, 0, 0) < 0) break;  // past the last cap
    if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0) {
      return StepErrno(step, name, absl::StrCat("PR_CAPBSET_DROP ", cap), errno);
    }
  }
  return absl::OkStatus();
}

absl::Status VerifyDropped(int step, const char* name) {
  uid_t ru, eu, su;
  gid_t rg, eg, sg;
  if (getresuid(&ru, &eu, &su) != 0 || getresgid(&rg, &eg, &sg) != 0) {
    return StepErrno(step, name, "getresuid/getresgid", errno);
  }
  if (ru == 0 || eu == 0 || su == 0 || rg == 0 || eg == 0 || sg == 0) {
    return StepError(absl::StatusCode::kInternal, step, name,
                     "a real, effective or saved uid/gid is still 0");
  }
  if (setuid(0) == 0 || setgid(0) == 0) {
    return StepError(absl::StatusCode::kInternal, step, name,
                     "regaining root succeeded after the drop");
  }
  if (!NoCapsLeft()) {
    return StepError(absl::StatusCode::kInternal, step, name,
                     "capabilities remain after the drop");
  }
  return absl::OkStatus();
}

absl::Status DropCapabilities(int step, const char* name) {
  absl::Status s = DropBoundingSet(step, name);
  if (!s.ok()) return s;
  if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0 &&
      errno != EINVAL) {
    return StepErrno(step, name, "PR_CAP_AMBIENT_CLEAR_ALL", errno);
  }
  __user_cap_header_struct hdr{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[2];
  std::memset(data, 0, sizeof(data));
  if (syscall(SYS_capset, &hdr, data) != 0) {
    return StepErrno(step, name, "capset(none)", errno);
  }
  return absl::OkStatus();
}

// /proc/self/{setgroups,uid_map,gid_map} belong to root while the process
// is not dumpable (e.g. right after a setuid() from root), so we could not
// write our own maps. Step 6 makes the process non-dumpable again.
void EnsureDumpable() {
  if (prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) != 1) prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
}

// Keeps GCC from eliding a malloc/free pair.
void Touch(void* p) { asm volatile("" : : "r"(p) : "memory"); }

}  // namespace

const char* LockdownModeName(LockdownMode mode) {
  switch (mode) {
    case LockdownMode::kRoot: return "root";
    case LockdownMode::kUserNamespace: return "unprivileged (user namespace)";
    case LockdownMode::kCapabilities: return "unprivileged (capabilities)";
  }
  return "unknown";
}

std::string ParentLockdownResult::Describe() const {
  std::string ns;
  if (user_ns) ns += "user,";
  if (net_ns) ns += "net,";
  if (ipc_ns) ns += "ipc,";
  if (mount_ns) ns += mount_private ? "mnt(private)," : "mnt(shared),";
  if (!ns.empty()) ns.pop_back();
  return absl::StrCat("lockdown: mode=", LockdownModeName(mode), " uid=", uid,
                      " gid=", gid, " namespaces=", ns.empty() ? "none" : ns,
                      " chroot=yes no_new_privs=yes seccomp=parent");
}

absl::Status WarmUpMalloc() {
  // malloc: the first call initialises the arena (and calls getrandom); a
  // large block goes through mmap, growing it through mremap.
  void* small = std::malloc(64);
  void* large = std::malloc(size_t{1} << 20);
  if (small == nullptr || large == nullptr) {
    std::free(small);
    std::free(large);
    return absl::ResourceExhaustedError("lockdown step 2 (warm-up): malloc failed");
  }
  Touch(small);
  Touch(large);
  void* larger = std::realloc(large, size_t{4} << 20);
  if (larger == nullptr) {
    std::free(small);
    std::free(large);
    return absl::ResourceExhaustedError("lockdown step 2 (warm-up): realloc failed");
  }
  Touch(larger);
  std::free(larger);
  std::free(small);
  return absl::OkStatus();
}

absl::Status WarmUpLibc() {
  if (absl::Status s = WarmUpMalloc(); !s.ok()) return s;

  // Time zone: a cold localtime_r opens /etc/localtime.
  tzset();
  time_t now = time(nullptr);
  struct tm tm_buf;
  if (localtime_r(&now, &tm_buf) == nullptr) {
    return absl::InternalError("lockdown step 2 (warm-up): localtime_r failed");
  }

  unsigned char buf[16];
  if (getrandom(buf, sizeof(buf), 0) != static_cast<ssize_t>(sizeof(buf))) {
    return StepErrno(2, "warm-up", "getrandom", errno);
  }
  return absl::OkStatus();
}

absl::Status DropToUser(uid_t uid, gid_t gid) {
  if (uid == 0 || gid == 0) {
    return StepError(absl::StatusCode::kInvalidArgument, 5, "privileges",
                     "refusing to run as uid 0 or gid 0");
  }
  absl::Status s = DropBoundingSet(5, "privileges");
  if (!s.ok()) return s;
  if (setgroups(0, nullptr) != 0) return StepErrno(5, "privileges", "setgroups(0)", errno);
  if (setresgid(gid, gid, gid) != 0) return StepErrno(5, "privileges", "setresgid", errno);
  if (setresuid(uid, uid, uid) != 0) return StepErrno(5, "privileges", "setresuid", errno);
  return VerifyDropped(5, "privileges");
}

absl::StatusOr<ParentLockdownResult> LockdownParent(
    const ParentLockdownOptions& options) {
  ParentLockdownResult r;
  // Step 0: everything that can be refused before anything changes.
  if (options.hosts_dir.empty() || options.hosts_dir[0] != '/') {
    return StepError(absl::StatusCode::kInvalidArgument, 0, "options",
                     "hosts_dir must be an absolute path");
  }
  if (options.filter == nullptr) {
    return StepError(absl::StatusCode::kInvalidArgument, 0, "options",
                     "no parent seccomp filter given; refusing to run unconfined");
  }
  const bool root = geteuid() == 0;
  uid_t target_uid = getuid();
  gid_t target_gid = getgid();
  if (options.user.has_value()) {
    errno = 0;
    struct passwd* pw = getpwnam(options.user->c_str());
    if (pw == nullptr) {
      return StepError(absl::StatusCode::kNotFound, 0, "options",
                       absl::StrCat("no such user \"", *options.user, "\""));
    }
    if (pw->pw_uid == 0 || pw->pw_gid == 0) {
      return StepError(absl::StatusCode::kInvalidArgument, 0, "options",
                       absl::StrCat("user \"", *options.user,
                                    "\" has uid 0 or gid 0; choose an "
                                    "unprivileged user"));
    }
    if (!root && pw->pw_uid != getuid()) {
      return StepError(absl::StatusCode::kFailedPrecondition, 0, "options",
                       absl::StrCat("--user ", *options.user,
                                    " needs root; running as uid ", getuid()));
    }
    target_uid = pw->pw_uid;
    target_gid = pw->pw_gid;
  } else if (root) {
    return StepError(absl::StatusCode::kFailedPrecondition, 0, "options",
                     "running as root needs --user: refusing to keep root");
  }
  if (target_uid == 0 || target_gid == 0) {
    return StepError(absl::StatusCode::kFailedPrecondition, 0, "options",
                     "refusing to run with uid 0 or gid 0");
  }
  r.devnull_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
  if (r.devnull_fd < 0) return StepErrno(0, "options", "open /dev/null", errno);
  // From here on, a failure leaks devnull_fd; the caller exits anyway.

  // Step 2: warm-up, while files can still be opened.
  absl::Status s = WarmUpLibc();
  if (!s.ok()) return s;
  if (options.warm_up) {
    s = options.warm_up();
    if (!s.ok()) {
      return StepError(s.code(), 2, "warm-up", s.message());
    }
  }

  // Step 3: namespaces. Read first, while nothing has changed: the uid that
  // unmapped owners read as, and whether we already run in a user namespace
  // that leaves some uids unmapped (a container).
  absl::StatusOr<uid_t> overflow = ReadOverflowUid();
  const bool all_uids_mapped = AllUidsMapped();
  if (root) {
    r.mode = LockdownMode::kRoot;
  } else {
    EnsureDumpable();
    if (unshare(CLONE_NEWUSER) == 0) {
      r.mode = LockdownMode::kUserNamespace;
      r.user_ns = true;
      if (!overflow.ok()) return overflow.status();
      if (*overflow == target_uid) {
        return StepError(
            absl::StatusCode::kFailedPrecondition, 3, "namespaces",
            absl::StrCat(
                "running unprivileged as uid ", target_uid,
                ", the overflow uid (/proc/sys/kernel/overflowuid): in the user "
                "namespace every unmapped uid, root included, reads as ",
                target_uid, " too, so the ownership rules could not tell this "
                "process's own entries and backends from anyone else's. Run "
                "sallyport as another user, or as root with --user."));
      }
      r.unmapped_uid = *overflow;
      // Unprivileged writers must deny setgroups before writing gid_map, and
      // may map only their own ids. Mapping to themselves (not to 0) keeps
      // the process non-root inside too.
      s = WriteProcFile("/proc/self/setgroups", "deny");
      if (s.ok()) {
        s = WriteProcFile("/proc/self/uid_map",
                          absl::StrCat(target_uid, " ", target_uid, " 1\n"));
      }
      if (s.ok()) {
        s = WriteProcFile("/proc/self/gid_map",
                          absl::StrCat(target_gid, " ", target_gid, " 1\n"));
      }
      if (!s.ok()) return s;
    } else {
      int err = errno;
      if (!HasEffectiveCap(CAP_SYS_CHROOT)) return NoUserNamespaces(err);
      r.mode = LockdownMode::kCapabilities;
    }
  }
  if (r.mode != LockdownMode::kUserNamespace && !all_uids_mapped) {
    // Root or capabilities mode inside a user namespace we did not make:
    // owners outside its map read as the overflow uid too. Without
    // /proc/sys/kernel/overflowuid, the kernel default.
    r.unmapped_uid = overflow.ok() ? *overflow : uid_t{65534};
  }
  s = EnterNamespaces(r);
  if (!s.ok()) return s;

  // Step 4: chroot.
  if (chroot(options.hosts_dir.c_str()) != 0) {
    return StepErrno(4, "chroot", absl::StrCat("chroot(", options.hosts_dir, ")"),
                     errno);
  }
  if (chdir("/") != 0) return StepErrno(4, "chroot", "chdir(\"/\")", errno);

  // Step 5: privileges.
  if (r.mode == LockdownMode::kRoot) {
    s = DropToUser(target_uid, target_gid);
  } else {
    s = DropCapabilities(5, "privileges");
    if (s.ok()) s = VerifyDropped(5, "privileges");
  }
  if (!s.ok()) return s;
  r.uid = getuid();
  r.gid = getgid();

  // Step 6: no new privileges, not dumpable (no ptrace by the same uid).
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
    return StepErrno(6, "no_new_privs", "PR_SET_NO_NEW_PRIVS", errno);
  }
  if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) {
    return StepErrno(6, "no_new_privs", "PR_SET_DUMPABLE", errno);
  }

  // Step 7: the parent filter.
  int rc = options.filter->Install();
  if (rc != 0) return StepErrno(7, "seccomp", "install parent filter", -rc);
  return r;
}

namespace {

// Validates `spec` and fills `keep` with its kept fds, sorted.
int SortedKeptFds(const ChildLockdown& spec, int* keep) noexcept {
  if (spec.filter == nullptr || spec.keep_count < 0 || spec.keep_count > kMaxKeptFds) {
    return -EINVAL;
  }
  // Insertion sort: at most kMaxKeptFds.
  for (int i = 0; i < spec.keep_count; ++i) {
    int fd = spec.keep_fds[i];
    if (fd <= 2) return -EINVAL;
    int j = i;
    while (j > 0 && keep[j - 1] > fd) {
      keep[j] = keep[j - 1];
      --j;
    }
    keep[j] = fd;
  }
  return 0;
}

// Closes every fd above stdio except the sorted `keep`, gap by gap
// (O_CLOEXEC closes nothing without exec).
int CloseAllBut(const int* keep, int count) noexcept {
  unsigned lo = 3;
  for (int i = 0; i < count; ++i) {
    unsigned k = static_cast<unsigned>(keep[i]);
    if (k < lo) continue;  // duplicate
    if (k > lo && syscall(SYS_close_range, lo, k - 1, 0) != 0) return -errno;
    lo = k + 1;
  }
  if (syscall(SYS_close_range, lo, ~0u, 0) != 0) return -errno;
  return 0;
}

// The rlimits of header, then the child filter.
int LimitAndLock(const ChildLockdown& spec) noexcept {
  const rlim_t nofile =
      static_cast<rlim_t>(3 + spec.keep_count + kChildConnectionFds);
  struct Limit {
    int resource;
    rlim_t soft;
    rlim_t hard;
  };
  const Limit limits[] = {
      {RLIMIT_NOFILE, nofile, nofile},
      {RLIMIT_FSIZE, 0, 0},
      {RLIMIT_NPROC, 0, 0},
      {RLIMIT_CORE, 0, 0},
      {RLIMIT_CPU, spec.limits.cpu_seconds, spec.limits.cpu_seconds + 1},
#if !defined(__SANITIZE_ADDRESS__)
      // ASan's shadow memory cannot live under a small RLIMIT_AS.
      {RLIMIT_AS, spec.limits.address_space, spec.limits.address_space},
#endif
  };
  for (const Limit& l : limits) {
    struct rlimit rl;
    rl.rlim_cur = l.soft;
    rl.rlim_max = l.hard;
    if (setrlimit(static_cast<__rlimit_resource>(l.resource), &rl) != 0) {
      return -errno;
    }
  }
  return spec.filter->Install();
}

}  // namespace

int LockdownChild(const ChildLockdown& spec) noexcept {
  int keep[kMaxKeptFds];
  if (spec.devnull_fd <= 2) return -EINVAL;
  if (int rc = SortedKeptFds(spec, keep); rc != 0) return rc;

  // Signals: default dispositions first, then unblock, so nothing pending
  // reaches an inherited handler.
  struct sigaction sa;
  std::memset(&sa, 0, sizeof(sa));
  sa.sa_handler = SIG_DFL;
  sigemptyset(&sa.sa_mask);
  for (int sig = 1; sig < NSIG; ++sig) {
    if (sig == SIGKILL || sig == SIGSTOP) continue;
    // glibc refuses its two internal signals (32, 33) with EINVAL.
    if (sigaction(sig, &sa, nullptr) != 0 && errno != EINVAL) return -errno;
  }
  // Except SIGPIPE, ignored: splice(2) into a socket whose peer has gone
  // raises it, and the relay must see EPIPE and report, not die.
  sa.sa_handler = SIG_IGN;
  if (sigaction(SIGPIPE, &sa, nullptr) != 0) return -errno;
  sigset_t none;
  sigemptyset(&none);
  if (sigprocmask(SIG_SETMASK, &none, nullptr) != 0) return -errno;

  // stdio → /dev/null.
  for (int fd = 0; fd <= 2; ++fd) {
    if (dup2(spec.devnull_fd, fd) != fd) return -errno;
  }
  if (int rc = CloseAllBut(keep, spec.keep_count); rc != 0) return rc;
  if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) return -errno;
  return LimitAndLock(spec);
}

int LockdownZygoteChild(const ChildLockdown& spec) noexcept {
  int keep[kMaxKeptFds];
  if (int rc = SortedKeptFds(spec, keep); rc != 0) return rc;
  if (int rc = CloseAllBut(keep, spec.keep_count); rc != 0) return rc;
  return LimitAndLock(spec);
}

}  // namespace sallyport::sandbox
