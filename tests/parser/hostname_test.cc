// SPDX-License-Identifier: Apache-2.0
// Tests for the full contract of parser/hostname.h: CanonicalHostname and
// SplitHostPort.
#include "parser/hostname.h"

#include <string>

#include "gtest/gtest.h"

namespace sallyport::parser {
namespace {

template <size_t N>
std::string Bytes(const char (&s)[N]) {
  return std::string(s, N - 1);
}

void ExpectName(absl::string_view raw, absl::string_view want) {
  absl::StatusOr<std::string> got = CanonicalHostname(raw);
  ASSERT_TRUE(got.ok()) << raw << ": " << got.status();
  EXPECT_EQ(*got, want) << raw;
  // A fixed point.
  absl::StatusOr<std::string> again = CanonicalHostname(*got);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, *got);
}

void ExpectInvalid(absl::string_view raw) {
  absl::StatusOr<std::string> got = CanonicalHostname(raw);
  EXPECT_TRUE(absl::IsInvalidArgument(got.status()))
      << "[" << raw << "] -> " << (got.ok() ? *got : got.status().ToString());
}

void ExpectIpLiteral(absl::string_view raw) {
  absl::StatusOr<std::string> got = CanonicalHostname(raw);
  EXPECT_TRUE(absl::IsNotFound(got.status()))
      << "[" << raw << "] -> " << (got.ok() ? *got : got.status().ToString());
}

// n labels of 'a'*len joined by '.', trimmed/padded to exactly total chars.
std::string NameOfLength(size_t total) {
  std::string out;
  while (out.size() < total) {
    if (!out.empty()) out += '.';
    out += std::string(std::min<size_t>(63, total - out.size()), 'a');
  }
  if (out.back() == '.') out.back() = 'b';
  return out;
}

TEST(CanonicalHostname, Lowercases) {
  ExpectName("Example.COM", "example.com");
  ExpectName("EXAMPLE", "example");
  ExpectName("a-B-9.x", "a-b-9.x");
}

TEST(CanonicalHostname, LdhOnly) {
  ExpectName("a1-b2.c3", "a1-b2.c3");
  ExpectName("1a.2b", "1a.2b");  // digits first are fine
  for (char c : std::string("_ !\"#$%&'()*+,/:;<=>?@[\\]^`{|}~\t\r\n")) {
    std::string raw = std::string("a") + c + "b.example";
    SCOPED_TRACE(static_cast<int>(c));
    ExpectInvalid(raw);
  }
  ExpectInvalid(Bytes("a\x00" "b"));
  ExpectInvalid(Bytes("\x00"));
  ExpectInvalid("a\x7f" "b");
  ExpectInvalid("a\x01" "b");
}

TEST(CanonicalHostname, LabelLength) {
  const std::string l63(63, 'a'), l64(64, 'a');
  ExpectName(l63 + ".example", l63 + ".example");
  ExpectName("x." + l63, "x." + l63);
  ExpectInvalid(l64 + ".example");
  ExpectInvalid("x." + l64);
  ExpectInvalid("x." + l64 + ".");
  ExpectName(l63, l63);
  ExpectInvalid(l64);
}

TEST(CanonicalHostname, TotalLength) {
  const std::string n253 = NameOfLength(253), n254 = NameOfLength(254);
  ASSERT_EQ(n253.size(), 253u);
  ASSERT_EQ(n254.size(), 254u);
  ExpectName(n253, n253);
  ExpectName(n253 + ".", n253);  // 254 raw, 253 after the root dot
  ExpectInvalid(n254);
  ExpectInvalid(n254 + ".");
  ExpectInvalid(std::string(10000, 'a'));
}

TEST(CanonicalHostname, ALabelsAccepted) {
  ExpectName("xn--bcher-kva.example", "xn--bcher-kva.example");
  ExpectName("XN--BCHER-KVA.Example", "xn--bcher-kva.example");
  ExpectName("xn--e1afmkfd.xn--p1ai", "xn--e1afmkfd.xn--p1ai");
  // Not Punycode-validated, as documented: any LDH label is accepted.
  ExpectName("xn--zz", "xn--zz");
}

TEST(CanonicalHostname, RawUtf8Rejected) {
  ExpectInvalid("b\xc3\xbc" "cher.example");
  ExpectInvalid("\xd0\xbf\xd1\x80\xd0\xb8.\xd1\x80\xd1\x84");
  ExpectInvalid("example.\xff");
  ExpectInvalid("\x80");
  absl::StatusOr<std::string> got = CanonicalHostname("caf\xc3\xa9");
  EXPECT_NE(got.status().message().find("xn--"), absl::string_view::npos);
}

TEST(CanonicalHostname, EmptyLabels) {
  ExpectInvalid("");
  ExpectInvalid(".");
  ExpectInvalid("..");
  ExpectInvalid("...");
  ExpectInvalid(".example");
  ExpectInvalid("a..b");
  ExpectInvalid("example..");
  ExpectInvalid("example.com..");
}

TEST(CanonicalHostname, HyphenRules) {
  ExpectName("a-b", "a-b");
  ExpectName("a--b", "a--b");
  ExpectInvalid("-a");
  ExpectInvalid("a-");
  ExpectInvalid("a.-b");
  ExpectInvalid("a.b-");
  ExpectInvalid("a-.b");
  ExpectInvalid("-");
  ExpectInvalid("-.example");
  ExpectInvalid("xn--");
}

TEST(CanonicalHostname, TrailingDot) {
  ExpectName("example.com.", "example.com");
  ExpectName("a.", "a");
  ExpectInvalid("example.com..");
}

TEST(CanonicalHostname, Ipv4AndNumericLiterals) {
  ExpectIpLiteral("127.0.0.1");
  ExpectIpLiteral("192.0.2.1.");
  ExpectIpLiteral("1");
  ExpectIpLiteral("4294967295");
  ExpectIpLiteral("example.123");
  ExpectIpLiteral("999.999.999.999");  // all-numeric last label: no route
  ExpectIpLiteral("01.02.03.04");
  ExpectName("example.123a", "example.123a");
  ExpectName("123.example", "123.example");
  ExpectName("0x7f", "0x7f");
  // The character rules come first: an invalid name is invalid, not an IP.
  ExpectInvalid("1..2");
  ExpectInvalid("1.2.3.4/8");
}

TEST(CanonicalHostname, Ipv6Literals) {
  ExpectIpLiteral("[::1]");
  ExpectIpLiteral("[::]");
  ExpectIpLiteral("[2001:DB8::1]");
  ExpectIpLiteral("[1:2:3:4:5:6:7:8]");
  ExpectIpLiteral("[::ffff:192.0.2.1]");
  ExpectIpLiteral("[1:2:3:4:5:6:1.2.3.4]");
  ExpectIpLiteral("[1::]");
  ExpectInvalid("[]");
  ExpectInvalid("[");
  ExpectInvalid("[::1");
  ExpectInvalid("::1");
  ExpectInvalid("[::1]x");
  ExpectInvalid("[[::1]]");
  ExpectInvalid("[1::2::3]");
  ExpectInvalid("[1:2:3:4:5:6:7:8:9]");
  ExpectInvalid("[1:2:3:4:5:6:7]");
  ExpectInvalid("[12345::]");
  ExpectInvalid("[:1]");
  ExpectInvalid("[1:]");
  ExpectInvalid("[:::]");
  ExpectInvalid("[1.2.3.4]");
  ExpectInvalid("[::1.2.3.04]");
  ExpectInvalid("[fe80::1%25eth0]");
  ExpectInvalid("[v1.fe]");
  ExpectInvalid("[../..]");
}

TEST(CanonicalHostname, NeverAPathTraversal) {
  for (absl::string_view raw :
       {".", "..", "/", "../x", "a/../b", "a/b", "\\", "a\\b", "..\\x", "~",
        "a/", "/a"}) {
    ExpectInvalid(raw);
  }
}

TEST(SplitHostPort, Plain) {
  EXPECT_EQ(*SplitHostPort("example.com"), "example.com");
  EXPECT_EQ(*SplitHostPort("example.com:80"), "example.com");
  EXPECT_EQ(*SplitHostPort("example.com:"), "example.com");
  EXPECT_EQ(*SplitHostPort("example.com:65535"), "example.com");
  EXPECT_EQ(*SplitHostPort("example.com:99999"), "example.com");  // 5 digits
  EXPECT_EQ(*SplitHostPort("example.com.:80"), "example.com.");
}

TEST(SplitHostPort, Brackets) {
  EXPECT_EQ(*SplitHostPort("[::1]"), "[::1]");
  EXPECT_EQ(*SplitHostPort("[::1]:443"), "[::1]");
  EXPECT_EQ(*SplitHostPort("[::1]:"), "[::1]");
  EXPECT_FALSE(SplitHostPort("[::1").ok());
  EXPECT_FALSE(SplitHostPort("[").ok());
  EXPECT_FALSE(SplitHostPort("[::1]80").ok());
  EXPECT_FALSE(SplitHostPort("[::1]:8a").ok());
}

TEST(SplitHostPort, Errors) {
  for (absl::string_view bad :
       {"", ":", ":80", "example.com:123456", "example.com:8o",
        "example.com:80:80", "example.com: 80", "example.com:-1",
        "example.com:+1", "::1"}) {
    absl::StatusOr<absl::string_view> got = SplitHostPort(bad);
    EXPECT_TRUE(absl::IsInvalidArgument(got.status())) << bad;
  }
}

TEST(SplitHostPort, ThenCanonical) {
  // The httpdir bugs: ":80" must never reach the filesystem as "", and
  // "example.com.:80" is the same name as "example.com".
  EXPECT_FALSE(SplitHostPort(":80").ok());
  EXPECT_EQ(*CanonicalHostname(*SplitHostPort("Example.com.:80")),
            "example.com");
  EXPECT_TRUE(absl::IsNotFound(
      CanonicalHostname(*SplitHostPort("[::1]:80")).status()));
  EXPECT_TRUE(absl::IsNotFound(
      CanonicalHostname(*SplitHostPort("10.0.0.1:80")).status()));
}

}  // namespace
}  // namespace sallyport::parser
