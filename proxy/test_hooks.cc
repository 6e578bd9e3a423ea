// SPDX-License-Identifier: Apache-2.0
// The test-only definition of proxy/test_hooks.h. Linked only into
// //proxy:sallyport_testhooks (testonly), never into the installed binary.
#include "proxy/test_hooks.h"

#include "proxy/handoff.h"

#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>

namespace {
// Read at run time so the compiler cannot prove the store faults and turn
// it into a trap instruction (that would be SIGILL, not SIGSEGV).
volatile uintptr_t g_null_address = 0;
}  // namespace

extern "C" void sallyport_test_hook_after_handshake(const char* hostname) {
  if (std::strcmp(hostname, "sigsys.crash.test") == 0) {
    syscall(SYS_getppid);  // in neither policy: the filter kills the child
  } else if (std::strcmp(hostname, "segv.crash.test") == 0) {
    *reinterpret_cast<volatile int*>(g_null_address) = 1;
  }
}

namespace {
int Send(int channel, const void* data, size_t len, const int* fds, int n) {
  return sallyport::proxy::SendWithFds(channel, data, len, fds, n, 0);
}
}  // namespace

extern "C" int sallyport_test_hook_before_report(const char* hostname, const void* report,
                                                 unsigned long len, int channel, int client,
                                                 int backend) {
  auto is = [&](const char* name) { return std::strcmp(hostname, name) == 0; };
  if (is("swapped.evil.test")) {
    const int fds[] = {backend, client};
    Send(channel, report, len, fds, 2);
  } else if (is("same.evil.test")) {
    const int fds[] = {client, client};
    Send(channel, report, len, fds, 2);
  } else if (is("three.evil.test")) {
    const int fds[] = {client, backend, backend};
    Send(channel, report, len, fds, 3);
  } else if (is("channel.evil.test")) {
    const int fds[] = {client, channel};
    Send(channel, report, len, fds, 2);
  } else if (is("unconnected.evil.test")) {
    const int fds[] = {client, socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)};
    Send(channel, report, len, fds, 2);
  } else if (is("garbage.evil.test")) {
    const int fds[] = {client, backend};
    Send(channel, "garbage", 7, fds, 2);
  } else if (is("twice.evil.test")) {
    const int fds[] = {client, backend};
    Send(channel, report, len, fds, 2);
    Send(channel, report, len, fds, 2);
  } else {
    return 0;
  }
  return 1;
}
