// SPDX-License-Identifier: Apache-2.0
// proxy/zygote.h — the fork server. The parent starts it once (and again
// after it dies, or after a child dies of a fault: a fresh address layout)
// by exec'ing its own static binary, opened before chroot, as
// "sallyport-zygote". The zygote inherits the parent's confinement (chroot,
// user, no_new_privs, namespaces, the parent filter), adds its own filter
// (policy::ZygotePolicy), and forks waiting children on request. Its image
// is small (a fresh exec that has touched little heap), so a fork, the
// child's exit and its copy-on-write faults cost less than a fork of the
// parent; and a child inherits the zygote's filter set-up instead of the
// parent's signal handlers and descriptors.
//
// Side of the trust boundary: trusted-but-confined. The zygote never holds
// or reads a connection's bytes; it reads only the parent's messages on its
// channel. The parent still validates what it sends back (fixed-size
// replies, exact descriptor counts and types), and reaps every child itself:
// the zygote forks with CLONE_PARENT, so its children are the parent's.
//
// The channel (SOCK_SEQPACKET, fd 3 in the zygote), one message each:
//   parent → zygote  ZygoteSetup + the zygote's and the child's BPF programs
//                    (once, first);
//   zygote → parent  HelperReady (its filter is installed), or nothing and
//                    EOF if the set-up was refused;
//   parent → zygote  SpawnRequest (any number);
//   zygote → parent  SpawnReply per request, in order: the child's pid and,
//                    by SCM_RIGHTS, the parent's ends of its hand-off
//                    channel, its report pipe and (--accept-proxy) its
//                    verdict pipe; or pid -1 and the errno of the failure.
// EOF on the channel ends the zygote (exit 0); so does the parent's death
// (PR_SET_PDEATHSIG).
//
// A waiting child (forked by the zygote): closes every descriptor but its
// hand-off channel end and pipes (sandbox::LockdownZygoteChild), sets the
// child rlimits, installs the child filter, then waits for exactly one
// connection (proxy/handoff.h) and serves it (proxy/child.h).
#ifndef SALLYPORT_PROXY_ZYGOTE_H_
#define SALLYPORT_PROXY_ZYGOTE_H_

#include <sys/types.h>

#include <cstdint>

#include "absl/status/status.h"
#include "proxy/child.h"
#include "sandbox/lockdown.h"
#include "sandbox/seccomp.h"

namespace sallyport::proxy {

// argv[0] of the exec'd zygote; main() dispatches on it before anything else.
inline constexpr char kZygoteArgv0[] = "sallyport-zygote";
// ... and of each child it forks (argv[0] rewritten in place).
inline constexpr char kChildArgv0[] = "sallyport-child";

inline constexpr uint32_t kZygoteSetupMagic = 0x535a5355;  // "SZSU"
inline constexpr uint32_t kZygoteReadyMagic = 0x535a5244;  // "SZRD"
inline constexpr uint32_t kSpawnRequestMagic = 0x535a5251; // "SZRQ"
inline constexpr uint32_t kSpawnReplyMagic = 0x535a5250;   // "SZRP"

// What every waiting child needs, sent as bytes to the same binary.
struct ZygoteSetup {
  uint32_t magic = kZygoteSetupMagic;
  uint32_t size = sizeof(ZygoteSetup);
  ChildContext child;           // report_fd, verdict_fd, endpoints unused
  sandbox::ChildLimits limits;
  uint32_t zygote_insns = 0;    // then this many sock_filter
  uint32_t child_insns = 0;     // then this many
};

struct SpawnRequest {
  uint32_t magic = kSpawnRequestMagic;
};

struct SpawnReply {
  uint32_t magic = kSpawnReplyMagic;
  int32_t pid = -1;   // > 0: a waiting child; -1: failed with `err`
  int32_t err = 0;
  uint32_t fds = 0;   // descriptors attached: 2, or 3 with --accept-proxy
};

// A waiting child as the parent receives it.
struct Spawned {
  pid_t pid = -1;
  int handoff_fd = -1;
  int report_fd = -1;
  int verdict_fd = -1;  // --accept-proxy only
};

// The parent's side. Not thread-safe; one per parent.
class Zygote {
 public:
  // Starts the zygote (proxy/exec_helper.h: exec'd as kZygoteArgv0 with
  // the channel on fd 3), sends the set-up and waits up to `timeout_ms` for
  // its HelperReady. Errors name the step (fork, exec, set-up refused,
  // timeout).
  absl::Status Start(int exe_fd, int devnull_fd, const ZygoteSetup& setup,
                     const sandbox::CompiledFilter& zygote_filter,
                     const sandbox::CompiledFilter& child_filter, int timeout_ms);
  bool running() const { return fd_ >= 0; }
  pid_t pid() const { return pid_; }
  int fd() const { return fd_; }
  // Requests sent and not yet answered (0 after Start and Stop).
  size_t pending() const { return pending_; }
  // Sends one SpawnRequest without blocking; false if the channel is full
  // or gone (see running()).
  bool Request();
  // Reads one reply without blocking. 1: `*out` is a waiting child (or,
  // with out->pid == -1, a failure, `*err` set: the zygote's fork errno, or
  // EMFILE when this process had no room for the child's descriptors; the
  // child then exits by itself); 0: nothing yet; -1: the channel ended or
  // sent something malformed (`*err`: ESHUTDOWN, EBADMSG or recvmsg's
  // errno); the caller then Stop()s it.
  int ReadReply(Spawned* out, int* err);
  // Closes the channel (the zygote exits on EOF) and SIGKILLs it. Returns
  // its pid (-1 if none was running), which the caller still has to reap.
  pid_t Stop();

 private:
  pid_t pid_ = -1;
  int fd_ = -1;
  size_t pending_ = 0;
};

// The zygote's main: runs in the exec'd process; `argv0` is its argv[0]
// (renamed in place in each child). Never returns on success (exit 0 on
// EOF); returns an exit status if the set-up is refused.
int ZygoteMain(char* argv0);

}  // namespace sallyport::proxy

#endif  // SALLYPORT_PROXY_ZYGOTE_H_
