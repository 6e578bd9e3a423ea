// SPDX-License-Identifier: Apache-2.0
// bench/forkcost — the floor of process-per-connection on this machine.
// Benchmark tool, not part of the proxy.
//
//   forkcost [N]   prints one JSON object:
//     fork_exit_wait_us  mean wall time of fork() + child _exit(0) +
//                        waitpid(), in a loop of N
//     fork_cpu_us        the CPU time that costs, parent and children
//                        (getrusage), per iteration
//     maps               mappings (/proc/self/maps lines) of this image
//     scm_pass_us        mean wall time of handing one descriptor to a
//                        waiting process: sendmsg(SCM_RIGHTS) on a
//                        SOCK_SEQPACKET socketpair, the receiver's recvmsg
//                        and close, and its one-byte acknowledgement
//     handoffs_per_s     the same as a rate, descriptors per second, when
//                        the sender does not wait for each acknowledgement
//                        (a window of 64 in flight)
//
// Built twice: //bench:forkcost (a small dynamic image; bench/bench.py also
// runs it with LD_PRELOAD set to every shared object a dynamic sallyport
// loads) and //bench:forkcost_static (static-pie, like sallyport: the
// minimal static process of the fork-server floor: fork + exit + wait of
// it plus one SCM_RIGHTS pass).
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <fstream>
#include <string>

namespace {

double CpuUs(int who) {
  rusage u;
  getrusage(who, &u);
  return (u.ru_utime.tv_sec + u.ru_stime.tv_sec) * 1e6 + u.ru_utime.tv_usec +
         u.ru_stime.tv_usec;
}

double NowUs() {
  timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e6 + t.tv_nsec / 1e3;
}

int SendFd(int sock, int fd) {
  char byte = 'f';
  iovec iov = {&byte, 1};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
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
  return sendmsg(sock, &msg, 0) == 1 ? 0 : -1;
}

// Receives descriptors until EOF, closing each; acknowledges each with a
// byte. Returns how many it got.
int Receiver(int sock) {
  int got = 0;
  for (;;) {
    char byte;
    iovec iov = {&byte, 1};
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))];
    msghdr msg = {};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    ssize_t n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
    if (n <= 0) return got;
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    if (c != nullptr && c->cmsg_type == SCM_RIGHTS) {
      int fd;
      memcpy(&fd, CMSG_DATA(c), sizeof fd);
      close(fd);
      ++got;
    }
    if (write(sock, "a", 1) != 1) return got;
  }
}

// Hands `n` descriptors to a forked receiver; `window` passes may be in
// flight before the sender waits for acknowledgements. Mean µs per pass.
double HandOff(int n, int window) {
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) return -1;
  pid_t p = fork();
  if (p == 0) {
    close(sv[0]);
    _exit(Receiver(sv[1]) > 0 ? 0 : 1);
  }
  close(sv[1]);
  int passed[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, passed) != 0) return -1;
  double t0 = NowUs();
  int in_flight = 0;
  char ack[64];
  for (int i = 0; i < n; ++i) {
    if (SendFd(sv[0], passed[0]) != 0) return -1;
    if (++in_flight >= window) {
      ssize_t k = read(sv[0], ack, 1);
      if (k != 1) return -1;
      --in_flight;
    }
  }
  while (in_flight > 0) {
    if (read(sv[0], ack, 1) != 1) return -1;
    --in_flight;
  }
  double us = (NowUs() - t0) / n;
  close(sv[0]);
  int status;
  waitpid(p, &status, 0);
  close(passed[0]);
  close(passed[1]);
  return us;
}

}  // namespace

int main(int argc, char** argv) {
  int n = argc > 1 ? atoi(argv[1]) : 2000;
  if (n < 1) n = 1;
  int maps = 0;
  {
    std::ifstream f("/proc/self/maps");
    for (std::string line; std::getline(f, line);) ++maps;
  }
  double t0 = NowUs();
  double cpu0 = CpuUs(RUSAGE_SELF) + CpuUs(RUSAGE_CHILDREN);
  for (int i = 0; i < n; ++i) {
    pid_t p = fork();
    if (p == 0) _exit(0);
    if (p < 0) {
      perror("fork");
      return 1;
    }
    int status;
    waitpid(p, &status, 0);
  }
  double fork_us = (NowUs() - t0) / n;
  double fork_cpu_us = (CpuUs(RUSAGE_SELF) + CpuUs(RUSAGE_CHILDREN) - cpu0) / n;
  double pass_us = HandOff(n * 4, 1);
  double window_us = HandOff(n * 16, 64);
  if (pass_us < 0 || window_us < 0) {
    perror("hand-off");
    return 1;
  }
  printf("{\"fork_exit_wait_us\": %.1f, \"fork_cpu_us\": %.1f, \"maps\": %d, "
         "\"scm_pass_us\": %.2f, \"handoffs_per_s\": %.0f}\n",
         fork_us, fork_cpu_us, maps, pass_us, 1e6 / window_us);
  return 0;
}
