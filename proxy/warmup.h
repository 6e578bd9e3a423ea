// SPDX-License-Identifier: Apache-2.0
// proxy/warmup.h — runs every code path a child will use once, before the
// children are forked, so that no child ever needs a syscall its filter
// forbids for lazy initialisation (Botan's first parse, abseil's status and
// string formatting, the HTTP parser, PROXY encoders).
//
// Side of the trust boundary: the parent before lockdown, and the zygote
// (proxy/zygote.h) before its filter, inside the chroot: so it opens no
// file. Inputs are built-in (a ClientHello synthesised here, a fixed
// request head); no client byte.
#ifndef SALLYPORT_PROXY_WARMUP_H_
#define SALLYPORT_PROXY_WARMUP_H_

#include <string>

#include "absl/status/status.h"

namespace sallyport::proxy {

// A minimal, valid TLS 1.2-style ClientHello record carrying SNI `name`.
std::string SyntheticClientHello(const std::string& name);

// Parses the synthetic inputs and checks the answers; an error means a
// parser is broken and the proxy must not start.
absl::Status WarmUpParsers();

}  // namespace sallyport::proxy

#endif  // SALLYPORT_PROXY_WARMUP_H_
