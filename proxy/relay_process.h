// SPDX-License-Identifier: Apache-2.0
// proxy/relay_process.h — the relay: one process that holds every routed
// connection once its child has done the hostile part (parse, route,
// connect, replay) and exited, and moves its bytes with splice(2) until it
// ends (proxy/relay.h). A held connection then costs two sockets and a few
// dozen bytes of relay memory instead of a process.
//
// The parent starts it like the zygote (proxy/exec_helper.h: its own static
// binary exec'd after chroot, as "sallyport-relay", channel on fd 3), again
// after it dies. It runs under the parent's filter and its own
// (policy::RelayPolicy: no socket, connect, open, exec or fork).
//
// Side of the trust boundary: the relay's descriptors come from children,
// which may be compromised, by way of the parent (which checks that the
// client socket is the very one it accepted). So the relay checks each
// pair before use: exactly two descriptors, the first a connected TCP
// stream socket, the second a connected AF_UNIX stream socket; anything
// else is closed and answered End::kRejected. It never reads connection
// bytes into its memory.
//
// The channel (SOCK_SEQPACKET), one message each:
//   parent → relay  RelaySetup + the relay's BPF program (once, first);
//   relay → parent  HelperReady (its filter is installed);
//   parent → relay  RelayAdd + SCM_RIGHTS {client, backend}, any number;
//   relay → parent  up to kMaxDonePerMessage RelayDone, one per ended
//                   connection, in one message.
// EOF on the channel ends the relay and every connection it holds (exit
// 0); so does the parent's death (PR_SET_PDEATHSIG).
#ifndef SALLYPORT_PROXY_RELAY_PROCESS_H_
#define SALLYPORT_PROXY_RELAY_PROCESS_H_

#include <sys/types.h>

#include <cstdint>
#include <deque>

#include "absl/status/status.h"
#include "proxy/relay.h"
#include "sandbox/seccomp.h"

namespace sallyport::proxy {

inline constexpr char kRelayArgv0[] = "sallyport-relay";

inline constexpr uint32_t kRelaySetupMagic = 0x53525355;  // "SRSU"
inline constexpr uint32_t kRelayReadyMagic = 0x53525244;  // "SRRD"
inline constexpr uint32_t kRelayAddMagic = 0x53524144;    // "SRAD"
inline constexpr uint32_t kRelayDoneMagic = 0x5352444e;   // "SRDN"
inline constexpr size_t kMaxDonePerMessage = 64;

struct RelaySetup {
  uint32_t magic = kRelaySetupMagic;
  uint32_t size = sizeof(RelaySetup);
  int32_t idle_timeout_ms = 300000;
  uint32_t insns = 0;  // then this many sock_filter
};

struct RelayAdd {
  uint32_t magic = kRelayAddMagic;
  uint32_t reserved = 0;
  uint64_t id = 0;  // the parent's name for the connection
};

struct RelayDone {
  uint32_t magic = kRelayDoneMagic;
  uint8_t end = 0;       // RelayResult::End
  uint8_t reserved[3] = {};
  int32_t error = 0;     // errno for kReset, kError, kRejected
  uint32_t reserved2 = 0;
  uint64_t id = 0;
  uint64_t up = 0;       // client -> backend, relayed here
  uint64_t down = 0;     // backend -> client
};

// The parent's side. Not thread-safe; one per parent.
class RelayHandle {
 public:
  absl::Status Start(int exe_fd, int devnull_fd, int idle_timeout_ms,
                     const sandbox::CompiledFilter& filter, int timeout_ms);
  bool running() const { return fd_ >= 0; }
  pid_t pid() const { return pid_; }
  int fd() const { return fd_; }
  // Takes ownership of both fds: sent now if the channel has room, else
  // queued for Flush(). False (fds closed) if the relay is not running.
  bool Add(uint64_t id, int client, int backend);
  // Sends what is queued; true when nothing is left.
  bool Flush();
  bool has_queued() const { return !queue_.empty(); }
  // Reads one message of RelayDone without blocking. >0: how many were
  // put in `out` (room for kMaxDonePerMessage); 0: nothing yet; -1: the
  // channel ended or sent something malformed (`*err`: ESHUTDOWN, EBADMSG,
  // or recvmsg's errno); the caller then Stop()s it.
  int ReadDone(RelayDone* out, int* err);
  // Closes the channel (the relay ends every connection and exits) and,
  // with `kill`, SIGKILLs it (not once it is reaped: the pid may be
  // reused); queued descriptors are closed. Returns the pid to reap.
  pid_t Stop(bool kill = true);

 private:
  struct Queued {
    RelayAdd msg;
    int fds[2];
  };
  pid_t pid_ = -1;
  int fd_ = -1;
  std::deque<Queued> queue_;
};

// Checks a pair as the relay does before relaying it: 0, or the errno
// that rejects it (ENOTSOCK, EPROTOTYPE: not a stream socket of the
// expected family, ENOTCONN: not connected).
int CheckRelayPair(int client, int backend) noexcept;

// The relay's main, in the exec'd process. Never returns on success (exit
// 0 on EOF); returns an exit status if the set-up is refused.
int RelayMain(char* argv0);

}  // namespace sallyport::proxy

#endif  // SALLYPORT_PROXY_RELAY_PROCESS_H_
