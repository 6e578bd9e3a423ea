// SPDX-License-Identifier: Apache-2.0
// proxy/listener.h — finds the listening socket sallyport serves.
//
// Side of the trust boundary: parent, before lockdown (it may bind a socket).
// Order of preference, as documented in README "Listening socket":
//   1. systemd socket activation: LISTEN_PID equals our pid and LISTEN_FDS
//      is 1 → fd 3 (more than one fd is refused: one protocol per process);
//   2. fd 0 is a listening stream socket (systemd StandardInput=socket,
//      inetd "wait" mode);
//   3. --listen=ADDR:PORT (IPv4 "127.0.0.1:8443" or IPv6 "[::1]:8443"), for
//      development and the demo.
// An inherited socket together with --listen is refused as ambiguous. No
// socket at all is an error naming the three ways to provide one.
#ifndef SALLYPORT_PROXY_LISTENER_H_
#define SALLYPORT_PROXY_LISTENER_H_

#include <string>

#include "absl/status/statusor.h"

namespace sallyport::proxy {

struct Listener {
  int fd = -1;
  std::string how;  // "systemd socket activation (fd 3)", "fd 0", "--listen=..."
};

absl::StatusOr<Listener> AcquireListener(const std::string& listen_flag);

// Parses "ADDR:PORT" / "[V6]:PORT" and binds + listens (SO_REUSEADDR,
// backlog 1024, non-blocking, close-on-exec).
absl::StatusOr<int> ListenOn(const std::string& address);

}  // namespace sallyport::proxy

#endif  // SALLYPORT_PROXY_LISTENER_H_
