// SPDX-License-Identifier: Apache-2.0
// bench/handoff_rate — the hand-off alone, parent -> waiting child, with
// sallyport's own code (proxy/handoff.h). Benchmark tool, not part of the
// proxy.
//
//   handoff_rate [ROUNDS] [CHILDREN]   prints one JSON object:
//     handoffs_per_s   connections handed per second: for each round,
//                      CHILDREN processes are forked first (outside the
//                      timed part), each blocked in ReceiveConnection on its
//                      own SOCK_SEQPACKET channel, as a waiting child is;
//                      then the clock runs while the parent calls
//                      SendConnection once per child (one connected TCP
//                      socket, the same for all, as accept() gives) and
//                      every child has received it, closed it and said so
//                      (one byte on a shared pipe); the children exit after
//                      the clock stops. Rounds are summed. Sender and
//                      receivers share the machine's cores, as in sallyport.
//     handoffs         how many were timed.
// Accept, admission and the fork are not in it: those are measured by the
// rest of bench/ (short connections, forkcost).
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <vector>

#include "proxy/handoff.h"

namespace {

double Now() {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec / 1e9;
}

[[noreturn]] void Die(const char* what) {
  fprintf(stderr, "handoff_rate: %s: %s\n", what, strerror(errno));
  exit(1);
}

// A connected loopback TCP socket (the server side), like one from accept().
int ConnectedSocket(int* keep_client) {
  int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_in a = {};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (l < 0 || bind(l, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || listen(l, 1) != 0 ||
      getsockname(l, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    Die("listen");
  }
  int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (c < 0 || connect(c, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) Die("connect");
  int s = accept4(l, nullptr, nullptr, SOCK_CLOEXEC);
  if (s < 0) Die("accept");
  close(l);
  *keep_client = c;
  return s;
}

// Forks `n` waiting children; returns the parent's channel ends. Each child
// takes one connection, closes it, writes one byte to `done`, and exits at
// its channel's EOF (after the timed part).
std::vector<int> Fork(int n, int done) {
  std::vector<int> channels;
  for (int i = 0; i < n; ++i) {
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) Die("socketpair");
    pid_t pid = fork();
    if (pid < 0) Die("fork");
    if (pid == 0) {
      close(sv[0]);
      for (int fd : channels) close(fd);
      sallyport::proxy::ConnectionHeader h;
      int fd = sallyport::proxy::ReceiveConnection(sv[1], &h);
      if (fd < 0) _exit(2);
      close(fd);
      char b = 1;
      if (write(done, &b, 1) != 1) _exit(3);
      // Exit only once the clock has stopped: the channel's EOF.
      _exit(recv(sv[1], &b, 1, 0) == 0 ? 0 : 4);
    }
    close(sv[1]);
    channels.push_back(sv[0]);
  }
  return channels;
}

void Reap(int n) {
  for (int i = 0; i < n; ++i) {
    int st = 0;
    if (wait(&st) < 0) Die("wait");
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
      fprintf(stderr, "handoff_rate: a child failed (status %d)\n", st);
      exit(1);
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  const int rounds = argc > 1 ? atoi(argv[1]) : 40;
  const int children = argc > 2 ? atoi(argv[2]) : 256;
  if (rounds < 1 || children < 1 || children > 4096) {
    fprintf(stderr, "usage: handoff_rate [ROUNDS>=1] [CHILDREN 1..4096]\n");
    return 2;
  }
  int client = -1;
  const int conn = ConnectedSocket(&client);
  int done[2];
  if (pipe2(done, O_CLOEXEC) != 0) Die("pipe2");
  sallyport::proxy::ConnectionHeader header;
  double timed = 0;
  long handed = 0;
  std::vector<char> acks(static_cast<size_t>(children));
  for (int r = 0; r < rounds; ++r) {
    std::vector<int> channels = Fork(children, done[1]);
    usleep(20000);  // every child is in its recvmsg
    const double t0 = Now();
    for (int fd : channels) {
      int rc = sallyport::proxy::SendConnection(fd, conn, header);
      if (rc != 0) {
        errno = -rc;
        Die("SendConnection");
      }
    }
    size_t got = 0;
    while (got < acks.size()) {
      ssize_t n = read(done[0], acks.data() + got, acks.size() - got);
      if (n <= 0) Die("read acks");
      got += static_cast<size_t>(n);
    }
    timed += Now() - t0;
    for (int fd : channels) close(fd);  // now they exit
    Reap(children);
    handed += children;
  }
  close(client);
  close(conn);
  printf("{\"handoffs\": %ld, \"handoffs_per_s\": %.0f}\n", handed, handed / timed);
  return 0;
}
