// SPDX-License-Identifier: Apache-2.0
// proxy/test_hooks.h — a seam for end-to-end tests that need a child to
// crash on demand (a real seccomp kill, a real segfault), after routing has
// learnt the host name and, with --accept-proxy, the real client.
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
}

#endif  // SALLYPORT_PROXY_TEST_HOOKS_H_
