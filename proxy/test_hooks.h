// SPDX-License-Identifier: Apache-2.0
// proxy/test_hooks.h — seams for end-to-end tests that need a child to
// crash on demand (a real seccomp kill, a real segfault), after routing has
// learnt the host name and, with --accept-proxy, the real client; or to
// behave as a compromised child would when it hands its connection on.
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

// Called in a child that routed its connection, just before it sends its
// report (`report`, `len` bytes) with the client and backend sockets on
// `channel` (proxy/report.h). Returns nonzero if it sent something of its
// own instead, as a compromised child might (the parent and the relay must
// refuse it, log it and carry on). The test definition:
//   swapped.evil.test     → {backend, client}: the client is not its own
//   same.evil.test        → {client, client}: no Unix socket for the backend
//   three.evil.test       → {client, backend, backend}
//   channel.evil.test     → {client, channel}: a SOCK_SEQPACKET backend
//   unconnected.evil.test → {client, a fresh unconnected Unix socket}
//   garbage.evil.test     → 7 bytes of junk with {client, backend}
//   twice.evil.test       → the report twice, each with {client, backend}
//   anything else         → returns 0
int sallyport_test_hook_before_report(const char* hostname, const void* report,
                                      unsigned long len, int channel, int client,
                                      int backend) __attribute__((weak));
}

#endif  // SALLYPORT_PROXY_TEST_HOOKS_H_
