// SPDX-License-Identifier: Apache-2.0
// parser/hostname.h — the one way a host name from the network becomes a
// name that may touch the filesystem.
//
// Side of the trust boundary: pure (no syscalls, no globals, no allocation
// beyond the returned string). Runs in the per-connection child on bytes an
// attacker chose.
//
// Contract: CanonicalHostname(raw) either returns a name that is
//   - lowercase LDH: labels of [a-z0-9-], 1..63 characters each, no label
//     starting or ending with '-', joined by single '.';
//   - 1..253 characters in total, with no trailing dot;
//   - therefore a single safe path component: never empty, never "." or
//     "..", no '/', no NUL, no '\\', no byte >= 0x80;
// or an error, and then nothing may be looked up:
//   - InvalidArgument: not a syntactically valid host name (empty, empty
//     label, bad character, raw UTF-8, label or name too long, hyphen rule);
//   - NotFound: a syntactically fine IP literal (IPv4 dotted quad or any
//     name whose last label is all digits, or an [IPv6] literal: RFC 3986
//     IPv6address inside brackets, no zone identifier). IP literals are not
//     host names and have no route. Anything else in brackets ("[]",
//     "[v1.x]", "[1::2::3]", "[fe80::1%25eth0]") is InvalidArgument.
//
// The trailing-dot rule, the same for TLS SNI and HTTP Host: a single
// trailing dot (the DNS root, "example.com.") is removed, so
// "example.com." and "example.com" route to the same directory. Two or more
// trailing dots are an empty label and invalid.
//
// A-labels ("xn--...") are accepted as written (lowercased); they are not
// decoded or validated as Punycode. Raw UTF-8 (U-labels) is rejected: a
// client must send the A-label form.
//
// HTTP callers strip the port first (see SplitHostPort).
#ifndef SALLYPORT_PARSER_HOSTNAME_H_
#define SALLYPORT_PARSER_HOSTNAME_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace sallyport::parser {

inline constexpr size_t kMaxHostnameLength = 253;
inline constexpr size_t kMaxLabelLength = 63;

absl::StatusOr<std::string> CanonicalHostname(absl::string_view raw);

// Splits an HTTP authority's "host[:port]" into its host part, for
// CanonicalHostname. The port, when present, must be 1..5 digits (an empty
// port after ':' is allowed by RFC 3986 and ignored). "[v6]" and "[v6]:port"
// are returned whole including brackets (CanonicalHostname then answers
// NotFound). Errors: InvalidArgument for an empty host (":80"), a bad port,
// or an unterminated '['.
absl::StatusOr<absl::string_view> SplitHostPort(absl::string_view authority);

}  // namespace sallyport::parser

#endif  // SALLYPORT_PARSER_HOSTNAME_H_
