// SPDX-License-Identifier: Apache-2.0
// The test-only definition of proxy/test_hooks.h. Linked only into
// //proxy:sallyport_testhooks (testonly), never into the installed binary.
#include "proxy/test_hooks.h"

#include "proxy/handoff.h"
#include "proxy/report.h"

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

extern "C" void sallyport_test_hook_after_report(const char* hostname) {
  if (std::strcmp(hostname, "late.crash.test") == 0) syscall(SYS_getppid);
}

namespace {
using sallyport::proxy::ChildReport;
using sallyport::proxy::Outcome;
using sallyport::proxy::RouteRequest;

int Send(int channel, const void* data, size_t len, const int* fds, int n) {
  return sallyport::proxy::SendWithFds(channel, data, len, fds, n, 0);
}

RouteRequest RequestFor(const char* name) {
  RouteRequest r;
  std::strncpy(r.hostname, name, sizeof r.hostname - 1);
  return r;
}
}  // namespace

extern "C" int sallyport_test_hook_before_route(const char* hostname, int channel,
                                                int client) {
  auto is = [&](const char* name) { return std::strcmp(hostname, name) == 0; };
  if (is("fds.evil.test")) {
    RouteRequest r = RequestFor(hostname);
    Send(channel, &r, sizeof r, &client, 1);
  } else if (is("forged.evil.test")) {
    RouteRequest r = RequestFor("Other.Test");
    Send(channel, &r, sizeof r, nullptr, 0);
  } else if (is("twice.evil.test")) {
    RouteRequest r = RequestFor(hostname);
    Send(channel, &r, sizeof r, nullptr, 0);
    Send(channel, &r, sizeof r, nullptr, 0);
  } else if (is("garbage.evil.test")) {
    Send(channel, "garbage", 7, nullptr, 0);
  } else if (is("unrouted.evil.test")) {
    ChildReport r;
    r.outcome = Outcome::kHandedOff;
    std::strncpy(r.hostname, hostname, sizeof r.hostname - 1);
    Send(channel, &r, sizeof r, nullptr, 0);
  } else if (is("connect.evil.test")) {
    socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);  // not in the child filter
  } else {
    return 0;
  }
  return 1;
}
