// SPDX-License-Identifier: Apache-2.0
#include "proxy/cidr.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <cstring>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/strings/ascii.h"

namespace sallyport::proxy {
namespace {

int AddressBytes(int family) { return family == AF_INET ? 4 : 16; }

// Clears every bit of `addr` past the first `prefix` bits; returns true if
// any was set.
bool ClearHostBits(std::array<uint8_t, 16>& addr, int bytes, int prefix) {
  bool had = false;
  for (int i = 0; i < bytes; ++i) {
    int keep = prefix - 8 * i;  // bits of this byte that belong to the network
    uint8_t mask = keep >= 8 ? 0xff : keep <= 0 ? 0 : static_cast<uint8_t>(0xff << (8 - keep));
    if (addr[i] & ~mask) had = true;
    addr[i] &= mask;
  }
  return had;
}

absl::StatusOr<Cidr> ParseOne(absl::string_view entry) {
  if (entry.empty()) return absl::InvalidArgumentError("empty entry");
  std::string address(entry);
  absl::string_view prefix_text;
  bool has_prefix = false;
  if (size_t slash = entry.find('/'); slash != absl::string_view::npos) {
    address = std::string(entry.substr(0, slash));
    prefix_text = entry.substr(slash + 1);
    has_prefix = true;
  }
  Cidr c;
  if (inet_pton(AF_INET, address.c_str(), c.addr.data()) == 1) {
    c.family = AF_INET;
  } else if (inet_pton(AF_INET6, address.c_str(), c.addr.data()) == 1) {
    c.family = AF_INET6;
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("\"", entry, "\": \"", address, "\" is not an IPv4 or IPv6 address"));
  }
  const int max = c.family == AF_INET ? 32 : 128;
  c.prefix = max;
  if (has_prefix) {
    bool digits = !prefix_text.empty() && prefix_text.size() <= 3 &&
                  std::all_of(prefix_text.begin(), prefix_text.end(),
                              [](char ch) { return ch >= '0' && ch <= '9'; });
    int p = 0;
    if (!digits || !absl::SimpleAtoi(prefix_text, &p) || p > max) {
      return absl::InvalidArgumentError(absl::StrCat(
          "\"", entry, "\": the prefix length must be a number from 0 to ", max));
    }
    c.prefix = p;
  }
  Cidr network = c;
  if (ClearHostBits(network.addr, AddressBytes(c.family), c.prefix)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "\"", entry, "\" has host bits set below the /", c.prefix,
        " prefix; did you mean ", FormatCidr(network), "?"));
  }
  return c;
}

}  // namespace

absl::StatusOr<std::vector<Cidr>> ParseCidrList(absl::string_view text) {
  std::vector<Cidr> out;
  if (absl::StripAsciiWhitespace(text).empty()) {
    return absl::InvalidArgumentError("no network given");
  }
  for (absl::string_view entry : absl::StrSplit(text, ',')) {
    absl::StatusOr<Cidr> c = ParseOne(absl::StripAsciiWhitespace(entry));
    if (!c.ok()) return c.status();
    out.push_back(*c);
  }
  return out;
}

std::string FormatCidr(const Cidr& cidr) {
  char buf[INET6_ADDRSTRLEN] = {};
  inet_ntop(cidr.family, cidr.addr.data(), buf, sizeof buf);
  return absl::StrCat(buf, "/", cidr.prefix);
}

std::string FormatCidrList(const std::vector<Cidr>& list) {
  return absl::StrJoin(list, ",", [](std::string* out, const Cidr& c) {
    out->append(FormatCidr(c));
  });
}

bool Contains(const Cidr& cidr, const sockaddr_storage& peer) {
  std::array<uint8_t, 16> addr{};
  int family = 0;
  if (peer.ss_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(&peer);
    std::memcpy(addr.data(), &in->sin_addr, 4);
    family = AF_INET;
  } else if (peer.ss_family == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(&peer);
    if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr)) {
      std::memcpy(addr.data(), in6->sin6_addr.s6_addr + 12, 4);
      family = AF_INET;
    } else {
      std::memcpy(addr.data(), &in6->sin6_addr, 16);
      family = AF_INET6;
    }
  } else {
    return false;
  }
  if (family != cidr.family) return false;
  ClearHostBits(addr, AddressBytes(family), cidr.prefix);
  return std::memcmp(addr.data(), cidr.addr.data(), AddressBytes(family)) == 0;
}

bool AnyContains(const std::vector<Cidr>& list, const sockaddr_storage& peer) {
  for (const Cidr& c : list) {
    if (Contains(c, peer)) return true;
  }
  return false;
}

}  // namespace sallyport::proxy
