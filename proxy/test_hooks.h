// SPDX-License-Identifier: Apache-2.0
// proxy/test_hooks.h — seams for end-to-end tests that need a child to
// crash on demand (a real seccomp kill, a real segfault), after parsing has
// learnt the host name and, with --accept-proxy, the real client; or to
// behave as a compromised child would when it asks for its route.
//
// The hook is a weak symbol: the installed binary (//proxy:sallyport) links
// no definition, so its address is null and the child never calls it. Only
// //proxy:sallyport_testhooks links //proxy:test_hooks, which defines it.
// //tests/proxy:crash_e2e_test checks that the production binary routes the
// hook's names like any other name.
//
// Side of the trust boundary: child, after lockdown, under its filter.
#ifndef SALLYPORT_PROXY_TEST_HOOKS_H_
#define SALLYPORT_PROXY_TEST_HOOKS_H_

extern "C" {
// Called with the canonical host name once the handshake has been parsed.
// The test definition (proxy/test_hooks.cc):
//   sigsys.crash.test  → a syscall the child filter forbids (SIGSYS)
//   segv.crash.test    → a store through a null pointer (SIGSEGV)
//   anything else      → returns
void sallyport_test_hook_after_handshake(const char* hostname) __attribute__((weak));

// Called in a child once it knows the host name, just before it asks the
// parent's route broker for the backend on `channel` (proxy/report.h).
// Returns nonzero if it said something of its own instead, as a
// compromised child might; the child then exits at once. The parent must
// refuse it, log it and carry on. The test definition:
//   fds.evil.test      → a well-formed route request with {client} attached
//   forged.evil.test   → a route request for "Other.Test" (not canonical)
//   twice.evil.test    → two route requests
//   garbage.evil.test  → 7 bytes of junk
//   unrouted.evil.test → a hand-off report, never having asked for a route
//   connect.evil.test  → socket(AF_UNIX) itself, to connect on its own:
//                        the child filter kills it (SIGSYS)
//   anything else      → returns 0
int sallyport_test_hook_before_route(const char* hostname, int channel, int client)
    __attribute__((weak));

// Called in a child after it has sent its final report, just before it
// exits. The test definition:
//   late.crash.test    → a syscall the child filter forbids (SIGSYS): a
//                        child that dies after reporting its hand-off
//   anything else      → returns
void sallyport_test_hook_after_report(const char* hostname) __attribute__((weak));
}

#endif  // SALLYPORT_PROXY_TEST_HOOKS_H_
