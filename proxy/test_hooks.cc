// SPDX-License-Identifier: Apache-2.0
// The test-only definition of proxy/test_hooks.h. Linked only into
// //proxy:sallyport_testhooks (testonly), never into the installed binary.
#include "proxy/test_hooks.h"

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
