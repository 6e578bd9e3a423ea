// SPDX-License-Identifier: Apache-2.0
#include "proxy/handoff.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <type_traits>

namespace sallyport::proxy {

static_assert(std::is_trivially_copyable_v<ConnectionHeader>,
              "sent as bytes");

int SendConnection(int channel, int fd, const ConnectionHeader& header) noexcept {
  return SendWithFds(channel, &header, sizeof header, &fd, 1, MSG_DONTWAIT);
}

int ReceiveConnection(int channel, ConnectionHeader* header) noexcept {
  ConnectionHeader h;
  Received got;
  int rc = RecvWithFds(channel, &h, sizeof h, 0, &got);
  if (rc != 0) return rc;
  if (got.len == 0) return -ESHUTDOWN;
  if (got.len != static_cast<ssize_t>(sizeof h) || h.magic != kHandoffMagic ||
      got.nfds != 1 || got.truncated || got.fds_truncated) {
    got.CloseFds();
    return -EBADMSG;
  }
  *header = h;
  return got.fds[0];
}

int SendWithFds(int channel, const void* data, size_t len, const int* fds, int nfds,
                int flags) noexcept {
  if (nfds < 0 || nfds > kMaxPassedFds) return -EINVAL;
  iovec iov = {const_cast<void*>(data), len};
  alignas(cmsghdr) char control[CMSG_SPACE(kMaxPassedFds * sizeof(int))];
  memset(control, 0, sizeof control);
  msghdr msg = {};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  if (nfds > 0) {
    msg.msg_control = control;
    msg.msg_controllen = CMSG_SPACE(nfds * sizeof(int));
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(nfds * sizeof(int));
    memcpy(CMSG_DATA(c), fds, nfds * sizeof(int));
  }
  for (;;) {
    ssize_t n = sendmsg(channel, &msg, MSG_NOSIGNAL | flags);
    if (n == static_cast<ssize_t>(len)) return 0;
    if (n >= 0) return -EMSGSIZE;
    if (errno != EINTR) return -errno;
  }
}

void Received::CloseFds() noexcept {
  for (int i = 0; i < nfds; ++i) close(fds[i]);
  nfds = 0;
}

int RecvWithFds(int channel, void* buf, size_t len, int flags, Received* out) noexcept {
  *out = Received{};
  iovec iov = {buf, len};
  alignas(cmsghdr) char control[CMSG_SPACE((kMaxPassedFds + 1) * sizeof(int))];
  msghdr msg = {};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  ssize_t n;
  do {
    n = recvmsg(channel, &msg, MSG_CMSG_CLOEXEC | flags);
  } while (n < 0 && errno == EINTR);
  if (n < 0) return -errno;
  out->len = n;
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t i = 0; i < k; ++i) {
      int fd;
      memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
      if (out->nfds < kMaxPassedFds + 1) {
        out->fds[out->nfds++] = fd;
      } else {
        close(fd);
        out->fds_truncated = true;
      }
    }
  }
  out->truncated = (msg.msg_flags & MSG_TRUNC) != 0;
  if ((msg.msg_flags & MSG_CTRUNC) != 0) out->fds_truncated = true;
  return 0;
}

}  // namespace sallyport::proxy
