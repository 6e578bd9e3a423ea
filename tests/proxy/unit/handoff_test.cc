// SPDX-License-Identifier: Apache-2.0
// The parent → waiting child hand-off over a SOCK_SEQPACKET socketpair: the
// descriptor and header arrive intact, a closed channel means "exit", and
// anything but one header with exactly one descriptor is refused with the
// extra descriptors closed.
#include "proxy/handoff.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>

#include "gtest/gtest.h"

namespace sallyport::proxy {
namespace {

class HandoffTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, channel_), 0);
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, conn_), 0);
  }
  void TearDown() override {
    for (int fd : {channel_[0], channel_[1], conn_[0], conn_[1]}) {
      if (fd >= 0) close(fd);
    }
  }
  int channel_[2] = {-1, -1};
  int conn_[2] = {-1, -1};
};

TEST_F(HandoffTest, DescriptorAndHeaderArrive) {
  ConnectionHeader sent;
  sent.endpoints.family = parser::ProxyEndpoints::Family::kTcp6;
  sent.endpoints.src_addr[15] = 7;
  sent.endpoints.src_port = 40001;
  sent.endpoints.dst_port = 443;
  ASSERT_EQ(SendConnection(channel_[0], conn_[0], sent), 0);
  ConnectionHeader got;
  int fd = ReceiveConnection(channel_[1], &got);
  ASSERT_GE(fd, 0);
  EXPECT_NE(fd, conn_[0]);  // a new descriptor for the same socket
  EXPECT_EQ(got.endpoints, sent.endpoints);
  ASSERT_EQ(write(fd, "ping", 4), 4);
  char buf[8] = {};
  ASSERT_EQ(read(conn_[1], buf, sizeof buf), 4);
  EXPECT_STREQ(buf, "ping");
  close(fd);
}

TEST_F(HandoffTest, ClosedChannelMeansShutdown) {
  close(channel_[0]);
  channel_[0] = -1;
  ConnectionHeader got;
  EXPECT_EQ(ReceiveConnection(channel_[1], &got), -ESHUTDOWN);
}

TEST_F(HandoffTest, SendToAGoneChildFails) {
  close(channel_[1]);
  channel_[1] = -1;
  EXPECT_EQ(SendConnection(channel_[0], conn_[0], ConnectionHeader{}), -EPIPE);
}

int OpenFds() {
  int n = 0;
  for (int fd = 0; fd < 1024; ++fd) {
    if (fcntl(fd, F_GETFD) >= 0) ++n;
  }
  return n;
}

TEST_F(HandoffTest, RefusesMalformedMessagesAndClosesTheirDescriptors) {
  // No descriptor at all.
  ConnectionHeader h;
  ASSERT_EQ(send(channel_[0], &h, sizeof h, 0), static_cast<ssize_t>(sizeof h));
  ConnectionHeader got;
  EXPECT_EQ(ReceiveConnection(channel_[1], &got), -EBADMSG);
  // A wrong magic, with a descriptor: refused, the descriptor not leaked.
  int before = OpenFds();
  ConnectionHeader bad;
  bad.magic = 1;
  ASSERT_EQ(SendConnection(channel_[0], conn_[0], bad), 0);
  EXPECT_EQ(ReceiveConnection(channel_[1], &got), -EBADMSG);
  EXPECT_EQ(OpenFds(), before);
  // Two descriptors in one message.
  int fds[2] = {conn_[0], conn_[1]};
  iovec iov = {&h, sizeof h};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof fds)] = {};
  msghdr msg = {};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  cmsghdr* c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof fds);
  memcpy(CMSG_DATA(c), fds, sizeof fds);
  ASSERT_EQ(sendmsg(channel_[0], &msg, 0), static_cast<ssize_t>(sizeof h));
  EXPECT_EQ(ReceiveConnection(channel_[1], &got), -EBADMSG);
  EXPECT_EQ(OpenFds(), before);
  // A short message.
  ASSERT_EQ(send(channel_[0], "x", 1, 0), 1);
  EXPECT_EQ(ReceiveConnection(channel_[1], &got), -EBADMSG);
}

}  // namespace
}  // namespace sallyport::proxy
