// SPDX-License-Identifier: Apache-2.0
// proxy/cidr.h — the trusted balancers of --accept-proxy: a list of IPv4 and
// IPv6 networks in CIDR notation, and the test "is this peer one of them".
//
// Side of the trust boundary: parent (acceptor), on the address accept()
// returned; the list itself comes from the command line. Pure: no syscalls,
// no globals (inet_pton is a pure libc function).
//
//   auto nets = ParseCidrList("10.0.0.5/32,2001:db8::/64");
//   if (nets.ok() && AnyContains(*nets, peer)) ...  // peer: sockaddr_storage
//
// Syntax: one or more comma-separated entries; spaces around entries are
// allowed. An entry is ADDRESS/PREFIX (IPv4: 0..32, IPv6: 0..128) or a bare
// ADDRESS (one host: /32 or /128). Refused, with a message naming the entry
// (InvalidArgument): an empty list or entry, an address inet_pton does not
// parse, a prefix that is not a decimal number in range, and host bits set
// below the prefix (10.0.0.5/8: "did you mean 10.0.0.0/8?"), which is almost
// always a typo that would trust more or less than meant.
//
// Matching: an IPv4 peer seen on an IPv6 socket as ::ffff:a.b.c.d (a
// dual-stack listener) is matched as the IPv4 address a.b.c.d; a peer of any
// other family (AF_UNIX) matches nothing.
#ifndef SALLYPORT_PROXY_CIDR_H_
#define SALLYPORT_PROXY_CIDR_H_

#include <sys/socket.h>

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace sallyport::proxy {

struct Cidr {
  int family = 0;                    // AF_INET or AF_INET6
  std::array<uint8_t, 16> addr{};    // network address (first 4 bytes for v4)
  int prefix = 0;                    // significant leading bits
};

absl::StatusOr<std::vector<Cidr>> ParseCidrList(absl::string_view text);

// "10.0.0.0/8", "2001:db8::/64".
std::string FormatCidr(const Cidr& cidr);
// The list as it would be written on the command line (comma-separated).
std::string FormatCidrList(const std::vector<Cidr>& list);

// True if `peer` (as filled in by accept()) lies in `cidr`.
bool Contains(const Cidr& cidr, const sockaddr_storage& peer);
bool AnyContains(const std::vector<Cidr>& list, const sockaddr_storage& peer);

}  // namespace sallyport::proxy

#endif  // SALLYPORT_PROXY_CIDR_H_
