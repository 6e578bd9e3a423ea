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
  iovec iov = {const_cast<ConnectionHeader*>(&header), sizeof header};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))];
  memset(control, 0, sizeof control);
  msghdr msg = {};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  cmsghdr* c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int));
  memcpy(CMSG_DATA(c), &fd, sizeof fd);
  for (;;) {
    ssize_t n = sendmsg(channel, &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n == static_cast<ssize_t>(sizeof header)) return 0;
    if (n >= 0) return -EMSGSIZE;
    if (errno != EINTR) return -errno;
  }
}

int ReceiveConnection(int channel, ConnectionHeader* header) noexcept {
  // Room for a few descriptors, so that a message carrying more than one
  // is seen (and its extras closed) rather than truncated silently.
  constexpr int kMaxFds = 4;
  for (;;) {
    ConnectionHeader h;
    iovec iov = {&h, sizeof h};
    alignas(cmsghdr) char control[CMSG_SPACE(kMaxFds * sizeof(int))];
    msghdr msg = {};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    ssize_t n = recvmsg(channel, &msg, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return -errno;
    if (n == 0) return -ESHUTDOWN;
    int fds[kMaxFds];
    int count = 0;
    for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
      if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
      size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
      for (size_t i = 0; i < k && count < kMaxFds; ++i) {
        memcpy(&fds[count++], CMSG_DATA(c) + i * sizeof(int), sizeof(int));
      }
    }
    bool ok = n == static_cast<ssize_t>(sizeof h) && h.magic == kHandoffMagic &&
              count == 1 && (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) == 0;
    if (!ok) {
      for (int i = 0; i < count; ++i) close(fds[i]);
      return -EBADMSG;
    }
    *header = h;
    return fds[0];
  }
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
