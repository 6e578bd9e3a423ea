// SPDX-License-Identifier: Apache-2.0
// --accept-proxy's trusted networks: parsing (every refusal names the entry)
// and matching (IPv4, IPv6, v4-mapped peers, prefix edges).
#include "proxy/cidr.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cstring>
#include <string>

#include "gtest/gtest.h"

namespace sallyport::proxy {
namespace {

sockaddr_storage Peer(const std::string& text) {
  sockaddr_storage ss = {};
  auto* in = reinterpret_cast<sockaddr_in*>(&ss);
  auto* in6 = reinterpret_cast<sockaddr_in6*>(&ss);
  if (inet_pton(AF_INET, text.c_str(), &in->sin_addr) == 1) {
    in->sin_family = AF_INET;
  } else {
    EXPECT_EQ(inet_pton(AF_INET6, text.c_str(), &in6->sin6_addr), 1) << text;
    in6->sin6_family = AF_INET6;
  }
  return ss;
}

bool Trusted(const std::string& list, const std::string& peer) {
  auto nets = ParseCidrList(list);
  EXPECT_TRUE(nets.ok()) << nets.status();
  return nets.ok() && AnyContains(*nets, Peer(peer));
}

TEST(Cidr, ParsesAndFormatsBothFamilies) {
  auto nets = ParseCidrList("10.0.0.0/8, 192.0.2.7 ,2001:db8::/64,::1");
  ASSERT_TRUE(nets.ok()) << nets.status();
  EXPECT_EQ(FormatCidrList(*nets), "10.0.0.0/8,192.0.2.7/32,2001:db8::/64,::1/128");
}

TEST(Cidr, MatchesInsideAndNotOutside) {
  EXPECT_TRUE(Trusted("10.0.0.0/8", "10.255.1.2"));
  EXPECT_FALSE(Trusted("10.0.0.0/8", "11.0.0.1"));
  EXPECT_TRUE(Trusted("192.0.2.128/25", "192.0.2.200"));
  EXPECT_FALSE(Trusted("192.0.2.128/25", "192.0.2.127"));
  EXPECT_TRUE(Trusted("127.0.0.1", "127.0.0.1"));
  EXPECT_FALSE(Trusted("127.0.0.1", "127.0.0.2"));
  EXPECT_TRUE(Trusted("2001:db8::/64", "2001:db8::7"));
  EXPECT_FALSE(Trusted("2001:db8::/64", "2001:db8:0:1::7"));
  EXPECT_TRUE(Trusted("2001:db8::/63", "2001:db8:0:1::7"));
  EXPECT_TRUE(Trusted("0.0.0.0/0", "203.0.113.9"));
  EXPECT_FALSE(Trusted("0.0.0.0/0", "2001:db8::1"));  // families never mix
  EXPECT_TRUE(Trusted("::/0", "2001:db8::1"));
  EXPECT_FALSE(Trusted("::/0", "203.0.113.9"));
  EXPECT_TRUE(Trusted("10.0.0.0/8,::1", "::1"));
}

TEST(Cidr, V4MappedPeerMatchesTheIpv4Network) {
  EXPECT_TRUE(Trusted("127.0.0.0/8", "::ffff:127.0.0.1"));
  EXPECT_FALSE(Trusted("127.0.0.0/8", "::ffff:128.0.0.1"));
  EXPECT_FALSE(Trusted("::ffff:0:0/96", "::ffff:127.0.0.1"));  // matched as v4
}

TEST(Cidr, OtherFamiliesMatchNothing) {
  auto nets = ParseCidrList("0.0.0.0/0,::/0");
  ASSERT_TRUE(nets.ok());
  sockaddr_storage un = {};
  un.ss_family = AF_UNIX;
  EXPECT_FALSE(AnyContains(*nets, un));
}

TEST(Cidr, RefusalsNameTheEntry) {
  struct Case {
    const char* text;
    const char* words;
  } cases[] = {
      {"", "no network"},
      {"  ", "no network"},
      {"10.0.0.0/8,", "empty entry"},
      {",10.0.0.0/8", "empty entry"},
      {"10.0.0.0/33", "\"10.0.0.0/33\": the prefix length must be a number from 0 to 32"},
      {"2001:db8::/129", "from 0 to 128"},
      {"10.0.0.0/", "prefix length"},
      {"10.0.0.0/-1", "prefix length"},
      {"10.0.0.0/+8", "prefix length"},
      {"10.0.0.0/08x", "prefix length"},
      {"10.0.0.0/0008", "prefix length"},
      {"10.0.0/8", "\"10.0.0\" is not an IPv4 or IPv6 address"},
      {"example.com", "not an IPv4 or IPv6 address"},
      {"10.0.0.5/8", "host bits set below the /8 prefix; did you mean 10.0.0.0/8?"},
      {"2001:db8::1/64", "did you mean 2001:db8::/64?"},
      {"192.0.2.129/25", "did you mean 192.0.2.128/25?"},
  };
  for (const Case& c : cases) {
    auto nets = ParseCidrList(c.text);
    ASSERT_FALSE(nets.ok()) << c.text;
    EXPECT_EQ(nets.status().code(), absl::StatusCode::kInvalidArgument) << c.text;
    EXPECT_NE(std::string(nets.status().message()).find(c.words), std::string::npos)
        << c.text << ": " << nets.status();
  }
}

}  // namespace
}  // namespace sallyport::proxy
