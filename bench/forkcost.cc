// SPDX-License-Identifier: Apache-2.0
// bench/forkcost — the floor of fork-per-connection on this machine: the
// mean wall time of fork() + child _exit(0) + waitpid(), in a loop.
// Benchmark tool, not part of the proxy.
//
//   forkcost [N]      prints {"fork_exit_wait_us": X, "maps": M}
//
// A small dynamic image (libc, libstdc++, libm, libgcc_s); bench/bench.py also
// runs it with LD_PRELOAD set to every shared object sallyport loads (as
// `ldd` lists them), which gives the cost of forking and exiting an image
// with sallyport's mappings. M is the number of mappings (/proc/self/maps
// lines) of the measured image.
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <fstream>
#include <string>

int main(int argc, char** argv) {
  int n = argc > 1 ? atoi(argv[1]) : 2000;
  if (n < 1) n = 1;
  int maps = 0;
  std::ifstream f("/proc/self/maps");
  for (std::string line; std::getline(f, line);) ++maps;
  timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
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
  clock_gettime(CLOCK_MONOTONIC, &t1);
  double us = ((t1.tv_sec - t0.tv_sec) * 1e9 + (t1.tv_nsec - t0.tv_nsec)) / 1e3 / n;
  printf("{\"fork_exit_wait_us\": %.1f, \"maps\": %d}\n", us, maps);
  return 0;
}
