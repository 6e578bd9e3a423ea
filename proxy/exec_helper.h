// SPDX-License-Identifier: Apache-2.0
// proxy/exec_helper.h — how the parent starts its two helper processes, the
// zygote (proxy/zygote.h) and the relay (proxy/relay_process.h): fork, put
// /dev/null on fds 0-2 and one end of a SOCK_SEQPACKET channel on fd 3,
// exec the parent's own static binary (opened before chroot: no path is
// looked up) with argv[0] naming the role, send the set-up message and wait
// for the helper's HelperReady. main() dispatches on argv[0] before
// anything else.
//
// Side of the trust boundary: parent. The helper inherits the parent's
// confinement (chroot, user, no_new_privs, namespaces, the parent filter)
// and dies with the parent (PR_SET_PDEATHSIG). Signals stay blocked from
// fork until the exec'd helper unblocks them (exec resets the handlers), so
// no parent handler runs in between.
#ifndef SALLYPORT_PROXY_EXEC_HELPER_H_
#define SALLYPORT_PROXY_EXEC_HELPER_H_

#include <sys/types.h>
#include <sys/uio.h>

#include <cstdint>

#include "absl/status/status.h"

namespace sallyport::proxy {

inline constexpr int kHelperChannelFd = 3;

// What a helper sends once its own filter is installed.
struct HelperReady {
  uint32_t magic = 0;
  int32_t pid = 0;
};

// Starts the helper; on success `*pid` is its pid and `*channel` the
// parent's end. `setup` (iovcnt parts) goes as one message. Errors name
// `role`, the step, and how the helper ended (exit status per set-up step,
// 127 when the exec failed, or the signal).
absl::Status StartHelper(const char* role, const char* argv0, int exe_fd, int devnull_fd,
                         const iovec* setup, int iovcnt, uint32_t ready_magic,
                         int timeout_ms, pid_t* pid, int* channel);

// In the exec'd helper, first thing: ignore SIGPIPE (a relay must see
// EPIPE, not die; inherited by the zygote's children) and unblock the
// signals the parent blocked. Then checks that fd 3 is a socket (else a
// helper started by hand: a message on stderr). Returns 0 or an exit
// status (64, 71).
int HelperPrologue(const char* argv0);

}  // namespace sallyport::proxy

#endif  // SALLYPORT_PROXY_EXEC_HELPER_H_
