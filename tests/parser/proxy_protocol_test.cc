// SPDX-License-Identifier: Apache-2.0
// Tests for parser/proxy_protocol.h: exact encoder bytes (spec examples,
// written out by hand), decoding, round trips, truncation at every byte,
// signatures, caps and TLV bounds off by one.
#include "parser/proxy_protocol.h"

#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace sallyport::parser {
namespace {

using ::testing::HasSubstr;
using Family = ProxyEndpoints::Family;

template <size_t N>
std::string Bytes(const char (&s)[N]) {
  return std::string(s, N - 1);
}

const std::string kSig = Bytes("\x0D\x0A\x0D\x0A\x00\x0D\x0A\x51\x55\x49\x54\x0A");

ProxyEndpoints Tcp4() {
  ProxyEndpoints e;
  e.family = Family::kTcp4;
  e.src_addr = {192, 168, 0, 1};
  e.dst_addr = {192, 168, 0, 11};
  e.src_port = 56324;
  e.dst_port = 443;
  return e;
}

ProxyEndpoints Tcp6() {
  ProxyEndpoints e;
  e.family = Family::kTcp6;
  // 2001:db8::1 -> 2001:db8:0:1:1:1:1:1 (no run of two zero groups)
  e.src_addr = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
  e.dst_addr = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1};
  e.src_port = 1;
  e.dst_port = 65535;
  return e;
}

struct Decoded {
  Progress progress;
  ProxyHeader header;
  size_t length;
  std::string rest;
  std::string error;
};

Decoded Decode(absl::string_view in, size_t chunk = 0) {
  ProxyHeaderReader r;
  if (chunk == 0) {
    r.Feed(in);
  } else {
    for (size_t i = 0; i < in.size(); i += chunk) r.Feed(in.substr(i, chunk));
  }
  return {r.progress(), r.header(), r.header_length(), std::string(r.rest()),
          std::string(r.error().message())};
}

Decoded DecodeOk(absl::string_view in) {
  Decoded d = Decode(in);
  EXPECT_EQ(d.progress, Progress::kDone) << d.error;
  return d;
}

void ExpectError(absl::string_view in, absl::string_view part) {
  SCOPED_TRACE(absl::CHexEscape(in));
  Decoded d = Decode(in);
  EXPECT_EQ(d.progress, Progress::kError);
  EXPECT_THAT(d.error, HasSubstr(std::string(part)));
  Decoded c = Decode(in, 1);
  EXPECT_EQ(c.progress, Progress::kError);
  EXPECT_EQ(c.error, d.error);
}

// ---- v1 encoding -------------------------------------------------------

TEST(ProxyV1Encode, Tcp4SpecExample) {
  EXPECT_EQ(EncodeProxyV1(Tcp4()),
            "PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n");
}

TEST(ProxyV1Encode, Tcp6) {
  EXPECT_EQ(EncodeProxyV1(Tcp6()),
            "PROXY TCP6 2001:db8::1 2001:db8:0:1:1:1:1:1 1 65535\r\n");
}

TEST(ProxyV1Encode, Tcp6Rfc5952Forms) {
  ProxyEndpoints e;
  e.family = Family::kTcp6;
  e.src_addr = {};  // ::
  e.dst_addr = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
  EXPECT_EQ(EncodeProxyV1(e),
            "PROXY TCP6 :: ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 0 0\r\n");
  // Longest run wins; leftmost on a tie; trailing run.
  e.src_addr = {0, 1, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 3};
  e.dst_addr = {0, 1, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0};
  EXPECT_EQ(EncodeProxyV1(e), "PROXY TCP6 1:0:0:2::3 1:0:0:2:: 0 0\r\n");
  e.src_addr = {0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0};
  e.dst_addr = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 0, 2, 1};
  EXPECT_EQ(EncodeProxyV1(e), "PROXY TCP6 ::1:0:0:1:0:0 ::ffff:c000:201 0 0\r\n");
}

TEST(ProxyV1Encode, Unknown) {
  EXPECT_EQ(EncodeProxyV1(ProxyEndpoints()), "PROXY UNKNOWN\r\n");
}

TEST(ProxyV1Encode, LongestFitsTheCap) {
  ProxyEndpoints e;
  e.family = Family::kTcp6;
  e.src_addr.fill(0xff);
  e.dst_addr.fill(0xff);
  e.src_port = e.dst_port = 65535;
  // 104 bytes; 107 is the spec's worst case with "UNKNOWN" padding.
  EXPECT_EQ(EncodeProxyV1(e).size(), 104u);
  e.family = Family::kTcp4;
  EXPECT_EQ(EncodeProxyV1(e),
            "PROXY TCP4 255.255.255.255 255.255.255.255 65535 65535\r\n");
}

// ---- v2 encoding -------------------------------------------------------

TEST(ProxyV2Encode, Tcp4) {
  EXPECT_EQ(EncodeProxyV2(Tcp4(), ""),
            kSig + Bytes("\x21\x11\x00\x0C"
                         "\xC0\xA8\x00\x01"
                         "\xC0\xA8\x00\x0B"
                         "\xDC\x04"
                         "\x01\xBB"));
}

TEST(ProxyV2Encode, Tcp4WithAuthority) {
  EXPECT_EQ(EncodeProxyV2(Tcp4(), "example.com"),
            kSig + Bytes("\x21\x11\x00\x1A"  // 12 + 3 + 11 = 26
                         "\xC0\xA8\x00\x01"
                         "\xC0\xA8\x00\x0B"
                         "\xDC\x04"
                         "\x01\xBB"
                         "\x02\x00\x0B"
                         "example.com"));
}

TEST(ProxyV2Encode, Tcp6) {
  EXPECT_EQ(EncodeProxyV2(Tcp6(), ""),
            kSig + Bytes("\x21\x21\x00\x24"  // 36
                         "\x20\x01\x0d\xb8\x00\x00\x00\x00"
                         "\x00\x00\x00\x00\x00\x00\x00\x01"
                         "\x20\x01\x0d\xb8\x00\x00\x00\x01"
                         "\x00\x01\x00\x01\x00\x01\x00\x01"
                         "\x00\x01"
                         "\xFF\xFF"));
}

TEST(ProxyV2Encode, Unknown) {
  EXPECT_EQ(EncodeProxyV2(ProxyEndpoints(), ""),
            kSig + Bytes("\x21\x00\x00\x00"));
  EXPECT_EQ(EncodeProxyV2(ProxyEndpoints(), "a.b"),
            kSig + Bytes("\x21\x00\x00\x06\x02\x00\x03"
                         "a.b"));
}

TEST(ProxyV2Encode, AuthorityCap) {
  std::string max(kProxyV2MaxAuthority, 'a');
  std::string enc = EncodeProxyV2(Tcp6(), max);
  EXPECT_EQ(enc.size(), kProxyV2MaxLength);
  Decoded d = DecodeOk(enc);
  EXPECT_EQ(d.header.authority, max);
  EXPECT_EQ(EncodeProxyV2(Tcp6(), max + "a"), "");
}

// ---- v1 decoding -------------------------------------------------------

TEST(ProxyV1Decode, Tcp4) {
  Decoded d = DecodeOk("PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\nGET");
  EXPECT_EQ(d.header.version, 1);
  EXPECT_FALSE(d.header.local);
  EXPECT_EQ(d.header.endpoints, Tcp4());
  EXPECT_EQ(d.length, 47u);
  EXPECT_EQ(d.rest, "GET");
  EXPECT_FALSE(d.header.authority.has_value());
}

TEST(ProxyV1Decode, Tcp6Forms) {
  Decoded d = DecodeOk("PROXY TCP6 2001:DB8::1 2001:db8:0:1:1:1:1:1 1 65535\r\n");
  EXPECT_EQ(d.header.endpoints, Tcp6());
  d = DecodeOk("PROXY TCP6 :: ::ffff:192.0.2.1 0 0\r\n");
  EXPECT_EQ(d.header.endpoints.src_addr, (std::array<uint8_t, 16>{}));
  EXPECT_EQ(d.header.endpoints.dst_addr,
            (std::array<uint8_t, 16>{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff,
                                     192, 0, 2, 1}));
  d = DecodeOk("PROXY TCP6 1:2:3:4:5:6:7:8 1:2:3:4:5:6:1.2.3.4 0 0\r\n");
  EXPECT_EQ(d.header.endpoints.src_addr[15], 8);
  EXPECT_EQ(d.header.endpoints.dst_addr[12], 1);
  d = DecodeOk("PROXY TCP6 1:: 0001:02:3::8 0 0\r\n");
  EXPECT_EQ(d.header.endpoints.src_addr[1], 1);
  EXPECT_EQ(d.header.endpoints.dst_addr[3], 2);
  EXPECT_EQ(d.header.endpoints.dst_addr[15], 8);
}

TEST(ProxyV1Decode, Unknown) {
  Decoded d = DecodeOk("PROXY UNKNOWN\r\nrest");
  EXPECT_EQ(d.header.endpoints, ProxyEndpoints());
  EXPECT_EQ(d.rest, "rest");
  d = DecodeOk("PROXY UNKNOWN ffff:: 1.2.3.4 whatever\r\n");
  EXPECT_EQ(d.header.endpoints.family, Family::kUnknown);
  EXPECT_EQ(d.header.endpoints, ProxyEndpoints());
}

TEST(ProxyV1Decode, LengthCapOffByOne) {
  // "PROXY UNKNOWN " (14) + padding + CRLF: 107 bytes passes, 108 fails.
  std::string ok = "PROXY UNKNOWN " + std::string(107 - 16, 'x') + "\r\n";
  ASSERT_EQ(ok.size(), kProxyV1MaxLength);
  EXPECT_EQ(DecodeOk(ok).length, 107u);
  std::string over = "PROXY UNKNOWN " + std::string(108 - 16, 'x') + "\r\n";
  ExpectError(over, "107");
  // The error comes at byte 107 already, without waiting for a CRLF.
  ProxyHeaderReader r;
  EXPECT_EQ(r.Feed(over.substr(0, 106)), Progress::kNeedMore);
  EXPECT_EQ(r.Feed(over.substr(106, 1)), Progress::kError);
}

TEST(ProxyV1Decode, StrictSyntax) {
  ExpectError("PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\n", "bare LF");
  ExpectError("PROXY TCP4 192.168.0.1  192.168.0.11 56324 443\r\n", "must be");
  ExpectError("PROXY TCP4 192.168.0.1 192.168.0.11 56324\r\n", "must be");
  ExpectError("PROXY TCP4 192.168.0.1 192.168.0.11 56324 443 \r\n", "must be");
  ExpectError("PROXY tcp4 192.168.0.1 192.168.0.11 56324 443\r\n", "TCP4");
  ExpectError("PROXY UDP4 192.168.0.1 192.168.0.11 56324 443\r\n", "TCP4");
  ExpectError("PROXY UNKNOWNX\r\n", "must be");
  ExpectError("PROXY \r\n", "must be");
  ExpectError("PROXY\r\n", "signature");
  ExpectError("proxy UNKNOWN\r\n", "not a PROXY");
  ExpectError("PROXy UNKNOWN\r\n", "signature");
  // Addresses.
  ExpectError("PROXY TCP4 192.168.0.01 1.2.3.4 1 2\r\n", "dotted quad");
  ExpectError("PROXY TCP4 256.1.1.1 1.2.3.4 1 2\r\n", "dotted quad");
  ExpectError("PROXY TCP4 1.2.3 1.2.3.4 1 2\r\n", "dotted quad");
  ExpectError("PROXY TCP4 1.2.3.4.5 1.2.3.4 1 2\r\n", "dotted quad");
  ExpectError("PROXY TCP4 1.2.3.-4 1.2.3.4 1 2\r\n", "dotted quad");
  ExpectError("PROXY TCP4 ::1 1.2.3.4 1 2\r\n", "dotted quad");
  ExpectError("PROXY TCP6 1.2.3.4 ::1 1 2\r\n", "IPv6");
  ExpectError("PROXY TCP6 1:2:3:4:5:6:7 ::1 1 2\r\n", "IPv6");
  ExpectError("PROXY TCP6 1:2:3:4:5:6:7:8:9 ::1 1 2\r\n", "IPv6");
  ExpectError("PROXY TCP6 1::2::3 ::1 1 2\r\n", "IPv6");
  ExpectError("PROXY TCP6 ::: ::1 1 2\r\n", "IPv6");
  ExpectError("PROXY TCP6 1: ::1 1 2\r\n", "IPv6");
  ExpectError("PROXY TCP6 :1 ::1 1 2\r\n", "IPv6");
  ExpectError("PROXY TCP6 12345:: ::1 1 2\r\n", "IPv6");
  ExpectError("PROXY TCP6 g:: ::1 1 2\r\n", "IPv6");
  ExpectError("PROXY TCP6 1:2:3:4:5:6:7:1.2.3.4 ::1 1 2\r\n", "IPv6");
  ExpectError("PROXY TCP6 ::1.2.3.04 ::1 1 2\r\n", "IPv6");
  ExpectError("PROXY TCP6 1.2.3.4:: ::1 1 2\r\n", "IPv6");
  // Ports.
  ExpectError("PROXY TCP4 1.2.3.4 1.2.3.4 65536 2\r\n", "port");
  ExpectError("PROXY TCP4 1.2.3.4 1.2.3.4 080 2\r\n", "port");
  ExpectError("PROXY TCP4 1.2.3.4 1.2.3.4 +80 2\r\n", "port");
  ExpectError("PROXY TCP4 1.2.3.4 1.2.3.4 1 999999\r\n", "port");
  Decoded d = DecodeOk("PROXY TCP4 0.0.0.0 255.255.255.255 0 65535\r\n");
  EXPECT_EQ(d.header.endpoints.src_port, 0);
  EXPECT_EQ(d.header.endpoints.dst_port, 65535);
}

// ---- v2 decoding -------------------------------------------------------

std::string V2(absl::string_view ver_fam, absl::string_view payload) {
  std::string out = kSig + std::string(ver_fam);
  out.push_back(static_cast<char>(payload.size() >> 8));
  out.push_back(static_cast<char>(payload.size() & 0xff));
  out += std::string(payload);
  return out;
}

std::string Tlv(uint8_t type, absl::string_view value) {
  std::string out(1, static_cast<char>(type));
  out.push_back(static_cast<char>(value.size() >> 8));
  out.push_back(static_cast<char>(value.size() & 0xff));
  out += std::string(value);
  return out;
}

const std::string kAddr4 = Bytes("\xC0\xA8\x00\x01\xC0\xA8\x00\x0B\xDC\x04\x01\xBB");

TEST(ProxyV2Decode, Tcp4WithAuthorityAndRest) {
  std::string in = EncodeProxyV2(Tcp4(), "example.com") + "\x16\x03\x01";
  Decoded d = DecodeOk(in);
  EXPECT_EQ(d.header.version, 2);
  EXPECT_FALSE(d.header.local);
  EXPECT_EQ(d.header.endpoints, Tcp4());
  EXPECT_EQ(d.header.authority, "example.com");
  EXPECT_EQ(d.length, 16u + 26);
  EXPECT_EQ(d.rest, "\x16\x03\x01");
}

TEST(ProxyV2Decode, Local) {
  // LOCAL: family and block ignored, even junk TLV bytes.
  Decoded d = DecodeOk(V2(Bytes("\x20\x11"), kAddr4 + "\xff\xff") + "x");
  EXPECT_TRUE(d.header.local);
  EXPECT_EQ(d.header.endpoints, ProxyEndpoints());
  EXPECT_EQ(d.length, 16u + 14);
  EXPECT_EQ(d.rest, "x");
  d = DecodeOk(V2(Bytes("\x20\x00"), ""));
  EXPECT_TRUE(d.header.local);
  EXPECT_EQ(d.length, 16u);
}

TEST(ProxyV2Decode, UnspecProxy) {
  Decoded d = DecodeOk(V2(Bytes("\x21\x00"), Tlv(0x02, "h.example")));
  EXPECT_EQ(d.header.endpoints, ProxyEndpoints());
  EXPECT_EQ(d.header.authority, "h.example");
}

TEST(ProxyV2Decode, Tcp6) {
  Decoded d = DecodeOk(EncodeProxyV2(Tcp6(), ""));
  EXPECT_EQ(d.header.endpoints, Tcp6());
  EXPECT_EQ(d.length, 16u + 36);
}

TEST(ProxyV2Decode, RefusedFamiliesAndCommands) {
  ExpectError(V2(Bytes("\x21\x12"), kAddr4), "UDP");
  ExpectError(V2(Bytes("\x21\x22"), std::string(36, '\0')), "UDP");
  ExpectError(V2(Bytes("\x21\x31"), std::string(216, '\0')), "unix");
  ExpectError(V2(Bytes("\x21\x32"), std::string(216, '\0')), "unix");
  ExpectError(V2(Bytes("\x21\x41"), kAddr4), "family");
  ExpectError(V2(Bytes("\x21\x13"), kAddr4), "family");
  ExpectError(V2(Bytes("\x21\x01"), ""), "family");
  ExpectError(V2(Bytes("\x22\x11"), kAddr4), "command");
  ExpectError(V2(Bytes("\x2f\x11"), kAddr4), "command");
  ExpectError(V2(Bytes("\x11\x11"), kAddr4), "version");
  ExpectError(V2(Bytes("\x31\x11"), kAddr4), "version");
}

TEST(ProxyV2Decode, BadSignatures) {
  for (size_t i = 0; i < kSig.size(); ++i) {
    std::string in = EncodeProxyV2(Tcp4(), "");
    in[i] ^= 0x01;
    SCOPED_TRACE(i);
    ProxyHeaderReader r;
    // Reported as soon as the differing byte arrives.
    EXPECT_EQ(r.Feed(in.substr(0, i + 1)), Progress::kError);
    EXPECT_FALSE(r.error().ok());
  }
  ExpectError("GET / HTTP/1.1\r\n", "not a PROXY");
  ExpectError(Bytes("\x16\x03\x01"), "not a PROXY");
  ExpectError(Bytes("\r\n\r\n\r\n"), "v2 signature");
}

TEST(ProxyV2Decode, LengthMustCoverAddresses) {
  ExpectError(V2(Bytes("\x21\x11"), kAddr4.substr(0, 11)), "shorter");
  ExpectError(V2(Bytes("\x21\x21"), std::string(35, '\0')), "shorter");
  EXPECT_EQ(DecodeOk(V2(Bytes("\x21\x21"), std::string(36, '\0'))).length,
            52u);
}

TEST(ProxyV2Decode, LengthCapOffByOne) {
  // Payload of exactly kProxyV2MaxPayload: address + one NOOP TLV.
  std::string pad(kProxyV2MaxPayload - 12 - 3, 'n');
  std::string ok = V2(Bytes("\x21\x11"), kAddr4 + Tlv(0x04, pad));
  ASSERT_EQ(ok.size(), kProxyV2MaxLength);
  EXPECT_EQ(DecodeOk(ok).length, kProxyV2MaxLength);
  std::string over = V2(Bytes("\x21\x11"), kAddr4 + Tlv(0x04, pad + "n"));
  ExpectError(over, "exceeds the cap");
  // Refused as soon as the length field is in, not after 2 KB.
  ProxyHeaderReader r;
  EXPECT_EQ(r.Feed(over.substr(0, 16)), Progress::kError);
  ExpectError(V2(Bytes("\x20\x00"), std::string(0xffff, 'x')), "cap");
}

TEST(ProxyV2Decode, TlvBoundsOffByOne) {
  // A TLV ending exactly at the header end is fine...
  std::string tlv = Tlv(0x04, "abc");
  EXPECT_EQ(DecodeOk(V2(Bytes("\x21\x11"), kAddr4 + tlv)).length, 16u + 18);
  // ...one byte longer than the header says overruns.
  std::string longer = tlv;
  longer[2] = 4;
  ExpectError(V2(Bytes("\x21\x11"), kAddr4 + longer), "overruns");
  // One byte shorter leaves 1 stray byte: a truncated TLV header.
  std::string shorter = tlv;
  shorter[2] = 2;
  ExpectError(V2(Bytes("\x21\x11"), kAddr4 + shorter), "truncated");
  // 1 and 2 leftover bytes cannot hold a TLV header; 3 (empty TLV) can.
  ExpectError(V2(Bytes("\x21\x11"), kAddr4 + "\x04"), "truncated");
  ExpectError(V2(Bytes("\x21\x11"), kAddr4 + Bytes("\x04\x00")), "truncated");
  EXPECT_EQ(DecodeOk(V2(Bytes("\x21\x11"), kAddr4 + Bytes("\x04\x00\x00")))
                .length,
            16u + 15);
  // The data after the header never extends a TLV.
  std::string in = V2(Bytes("\x21\x11"), kAddr4 + longer.substr(0, 6));
  ExpectError(in + "d", "overruns");
}

TEST(ProxyV2Decode, AuthorityRules) {
  ExpectError(V2(Bytes("\x21\x11"), kAddr4 + Tlv(0x02, "a") + Tlv(0x02, "a")),
              "duplicate");
  ExpectError(V2(Bytes("\x21\x11"), kAddr4 + Tlv(0x02, "")), "AUTHORITY");
  ExpectError(V2(Bytes("\x21\x11"), kAddr4 + Tlv(0x02, Bytes("a\x00"))),
              "AUTHORITY");
  ExpectError(V2(Bytes("\x21\x11"), kAddr4 + Tlv(0x02, "a\r\nb")),
              "AUTHORITY");
  ExpectError(V2(Bytes("\x21\x11"), kAddr4 + Tlv(0x02, "\xff")), "AUTHORITY");
  ExpectError(V2(Bytes("\x21\x11"), kAddr4 + Tlv(0x02, "\xc0\xaf")),
              "AUTHORITY");  // overlong '/'
  ExpectError(V2(Bytes("\x21\x11"), kAddr4 + Tlv(0x02, "\xed\xa0\x80")),
              "AUTHORITY");  // surrogate
  ExpectError(V2(Bytes("\x21\x11"), kAddr4 + Tlv(0x02, "\xc3")), "AUTHORITY");
  Decoded d = DecodeOk(
      V2(Bytes("\x21\x11"), kAddr4 + Tlv(0x04, "") + Tlv(0x02, "b\xc3\xbc" "cher.example") +
                                Tlv(0x20, Bytes("\x01\x00\x00\x00\x00"))));
  EXPECT_EQ(d.header.authority, "b\xc3\xbc" "cher.example");
}

TEST(ProxyV2Decode, Crc32c) {
  EXPECT_EQ(Crc32c("123456789"), 0xE3069283u);  // the standard check value
  EXPECT_EQ(Crc32c(""), 0u);
  std::string body = kAddr4 + Tlv(0x03, std::string(4, '\0'));
  std::string in = V2(Bytes("\x21\x11"), body);
  uint32_t crc = Crc32c(in);
  for (int k = 0; k < 4; ++k) {
    in[in.size() - 4 + k] = static_cast<char>(crc >> (24 - 8 * k));
  }
  EXPECT_EQ(DecodeOk(in).header.endpoints, Tcp4());
  std::string bad = in;
  bad.back() ^= 1;
  ExpectError(bad, "checksum");
  bad = in;
  bad[17] ^= 1;  // an address byte
  ExpectError(bad, "checksum");
  ExpectError(V2(Bytes("\x21\x11"), kAddr4 + Tlv(0x03, "abc")), "CRC32C");
}

// ---- properties over every cut -------------------------------------------

std::vector<std::string> Samples() {
  ProxyEndpoints zero6;
  zero6.family = Family::kTcp6;
  return {
      EncodeProxyV1(Tcp4()),
      EncodeProxyV1(Tcp6()),
      EncodeProxyV1(zero6),
      EncodeProxyV1(ProxyEndpoints()),
      "PROXY UNKNOWN 1.2.3.4 x\r\n",
      EncodeProxyV2(Tcp4(), ""),
      EncodeProxyV2(Tcp4(), "example.com"),
      EncodeProxyV2(Tcp6(), "xn--bcher-kva.example"),
      EncodeProxyV2(ProxyEndpoints(), ""),
      V2(Bytes("\x20\x00"), ""),
  };
}

TEST(ProxyDecode, EveryPrefixNeedsMore) {
  for (const std::string& s : Samples()) {
    SCOPED_TRACE(absl::CHexEscape(s));
    ASSERT_EQ(DecodeOk(s).length, s.size());
    for (size_t n = 0; n < s.size(); ++n) {
      ProxyHeaderReader r;
      EXPECT_EQ(r.Feed(s.substr(0, n)), Progress::kNeedMore) << n;
      EXPECT_TRUE(r.error().ok());
      // The rest arriving later completes it, with nothing left over.
      EXPECT_EQ(r.Feed(s.substr(n)), Progress::kDone) << n;
      EXPECT_EQ(r.header_length(), s.size());
      EXPECT_EQ(r.rest(), "");
    }
  }
}

TEST(ProxyDecode, TruncatedThenGarbageIsAnError) {
  // v1: 0xff never belongs in a v1 line; v2 with an AUTHORITY TLV: 0xff
  // breaks the signature, version, family, length cap, TLV lengths, or the
  // authority's UTF-8, whichever comes next.
  std::vector<std::string> samples = {
      EncodeProxyV1(Tcp4()),
      EncodeProxyV1(Tcp6()),
      EncodeProxyV2(Tcp4(), "example.com"),
      EncodeProxyV2(Tcp6(), "example.com"),
  };
  for (const std::string& s : samples) {
    SCOPED_TRACE(absl::CHexEscape(s));
    for (size_t n = 0; n < s.size(); ++n) {
      ProxyHeaderReader r;
      ASSERT_EQ(r.Feed(s.substr(0, n)), Progress::kNeedMore);
      EXPECT_EQ(r.Feed(std::string(3000, '\xff')), Progress::kError) << n;
      EXPECT_FALSE(r.error().ok());
    }
  }
}

TEST(ProxyDecode, SplitFeedsAgree) {
  std::vector<std::string> inputs = Samples();
  inputs.push_back("PROXY TCP4 1.2.3.4 5.6.7.8 9 10\r\nTAIL");
  inputs.push_back(EncodeProxyV2(Tcp4(), "a.b") + "TAIL");
  inputs.push_back("PROXY TCP4 1.2.3.04 5.6.7.8 9 10\r\n");
  inputs.push_back(V2(Bytes("\x21\x11"), kAddr4 + "\x04"));
  for (const std::string& in : inputs) {
    SCOPED_TRACE(absl::CHexEscape(in));
    Decoded whole = Decode(in);
    for (size_t chunk = 1; chunk <= in.size(); ++chunk) {
      Decoded c = Decode(in, chunk);
      EXPECT_EQ(c.progress, whole.progress);
      EXPECT_EQ(c.error, whole.error);
      EXPECT_EQ(c.length, whole.length);
      EXPECT_EQ(c.header.endpoints, whole.header.endpoints);
      EXPECT_EQ(c.header.authority, whole.header.authority);
    }
  }
}

TEST(ProxyDecode, NeverConsumesPastTheHeader) {
  std::string head = EncodeProxyV2(Tcp6(), "h.example");
  std::string tail = EncodeProxyV1(Tcp4());  // another header is just data
  Decoded d = DecodeOk(head + tail);
  EXPECT_EQ(d.length, head.size());
  EXPECT_EQ(d.rest, tail);
  d = DecodeOk(tail + head);
  EXPECT_EQ(d.length, tail.size());
  EXPECT_EQ(d.rest, head);
}

TEST(ProxyDecode, FeedAfterDoneOrErrorIgnored) {
  ProxyHeaderReader r;
  ASSERT_EQ(r.Feed("PROXY UNKNOWN\r\nab"), Progress::kDone);
  EXPECT_EQ(r.Feed("cd"), Progress::kDone);
  EXPECT_EQ(r.rest(), "ab");
  ProxyHeaderReader e;
  ASSERT_EQ(e.Feed("X"), Progress::kError);
  EXPECT_EQ(e.Feed("PROXY UNKNOWN\r\n"), Progress::kError);
}

TEST(ProxyRoundTrip, EncodeThenDecode) {
  ProxyEndpoints edge;
  edge.family = Family::kTcp6;
  edge.src_addr = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
  edge.dst_addr = {0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
  edge.src_port = 0;
  edge.dst_port = 80;
  ProxyEndpoints v4zero;
  v4zero.family = Family::kTcp4;
  for (const ProxyEndpoints& e :
       {Tcp4(), Tcp6(), edge, v4zero, ProxyEndpoints()}) {
    Decoded v1 = DecodeOk(EncodeProxyV1(e));
    EXPECT_EQ(v1.header.version, 1);
    EXPECT_EQ(v1.header.endpoints, e);
    for (absl::string_view auth : {"", "x", "example.com"}) {
      Decoded v2 = DecodeOk(EncodeProxyV2(e, auth));
      EXPECT_EQ(v2.header.version, 2);
      EXPECT_FALSE(v2.header.local);
      EXPECT_EQ(v2.header.endpoints, e);
      if (auth.empty()) {
        EXPECT_FALSE(v2.header.authority.has_value());
      } else {
        EXPECT_EQ(v2.header.authority, std::string(auth));
      }
    }
  }
}

}  // namespace
}  // namespace sallyport::parser
