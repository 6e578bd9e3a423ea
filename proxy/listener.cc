// SPDX-License-Identifier: Apache-2.0
#include "proxy/listener.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace sallyport::proxy {
namespace {

bool IsListeningStream(int fd) {
  int accepting = 0, type = 0;
  socklen_t len = sizeof accepting;
  if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &accepting, &len) != 0) return false;
  len = sizeof type;
  if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) != 0) return false;
  return accepting != 0 && type == SOCK_STREAM;
}

absl::Status Prepare(int fd) {
  int flags = fcntl(fd, F_GETFL);
  if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) != 0 ||
      fcntl(fd, F_SETFD, FD_CLOEXEC) != 0) {
    return absl::InternalError(absl::StrCat("listening socket fd ", fd, ": ",
                                            strerror(errno)));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<int> ListenOn(const std::string& address) {
  struct sockaddr_storage ss = {};
  socklen_t len = 0;
  std::string host, port;
  if (!address.empty() && address[0] == '[') {
    size_t close = address.find("]:");
    if (close == std::string::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat("--listen=", address, ": expected [IPV6]:PORT"));
    }
    host = address.substr(1, close - 1);
    port = address.substr(close + 2);
  } else {
    size_t colon = address.rfind(':');
    if (colon == std::string::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat("--listen=", address, ": expected ADDR:PORT"));
    }
    host = address.substr(0, colon);
    port = address.substr(colon + 1);
    if (host.find(':') != std::string::npos) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--listen=", address, ": write an IPv6 address in brackets, [ADDR]:PORT"));
    }
  }
  uint32_t port_num = 0;
  if (!absl::SimpleAtoi(port, &port_num) || port_num > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("--listen=", address, ": bad port '", port, "'"));
  }
  auto* v4 = reinterpret_cast<sockaddr_in*>(&ss);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&ss);
  if (inet_pton(AF_INET, host.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(static_cast<uint16_t>(port_num));
    len = sizeof *v4;
  } else if (inet_pton(AF_INET6, host.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(static_cast<uint16_t>(port_num));
    len = sizeof *v6;
  } else {
    return absl::InvalidArgumentError(absl::StrCat(
        "--listen=", address, ": '", host, "' is not an IPv4 or IPv6 address"));
  }
  int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return absl::InternalError(absl::StrCat("socket: ", strerror(errno)));
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (bind(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0 || listen(fd, 1024) != 0) {
    int e = errno;
    close(fd);
    return absl::UnavailableError(
        absl::StrCat("--listen=", address, ": ", strerror(e)));
  }
  return fd;
}

absl::StatusOr<Listener> AcquireListener(const std::string& listen_flag) {
  Listener l;
  const char* pid = getenv("LISTEN_PID");
  const char* fds = getenv("LISTEN_FDS");
  int inherited = -1;
  if (pid && fds) {
    int listen_pid = 0, listen_fds = 0;
    if (absl::SimpleAtoi(pid, &listen_pid) && listen_pid == getpid()) {
      if (!absl::SimpleAtoi(fds, &listen_fds) || listen_fds != 1) {
        return absl::InvalidArgumentError(absl::StrCat(
            "LISTEN_FDS=", fds, ": sallyport serves exactly one socket per "
            "process (one protocol each); give each service one socket"));
      }
      if (!IsListeningStream(3)) {
        return absl::InvalidArgumentError(
            "systemd passed fd 3, but it is not a listening stream socket");
      }
      inherited = 3;
      l.how = "systemd socket activation (fd 3)";
    }
    unsetenv("LISTEN_PID");
    unsetenv("LISTEN_FDS");
    unsetenv("LISTEN_FDNAMES");
  }
  if (inherited < 0 && IsListeningStream(0)) {
    inherited = 0;
    l.how = "inherited on fd 0 (inetd wait mode / StandardInput=socket)";
  }
  if (inherited >= 0) {
    if (!listen_flag.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--listen=", listen_flag, " given, but a listening socket was also "
          "inherited (", l.how, "): use one or the other"));
    }
    if (absl::Status s = Prepare(inherited); !s.ok()) return s;
    l.fd = inherited;
    return l;
  }
  if (listen_flag.empty()) {
    return absl::FailedPreconditionError(
        "no listening socket: run under systemd socket activation "
        "(LISTEN_FDS), pass a listening socket on fd 0 (inetd wait mode, "
        "StandardInput=socket), or give --listen=ADDR:PORT");
  }
  absl::StatusOr<int> fd = ListenOn(listen_flag);
  if (!fd.ok()) return fd.status();
  l.fd = *fd;
  l.how = absl::StrCat("--listen=", listen_flag);
  return l;
}

}  // namespace sallyport::proxy
