// SPDX-License-Identifier: Apache-2.0
// parser/proxy_protocol.h — the PROXY protocol (haproxy's
// proxy-protocol.txt), versions 1 (text) and 2 (binary): encoders for the
// header sallyport may send a backend before replaying a client's bytes, and
// an incremental decoder for a header received from a trusted front load
// balancer (and for tests and fuzzing of the encoders).
//
// Side of the trust boundary: pure (no syscalls, no globals). The decoder
// reads attacker-chosen bytes; it never consumes a byte past the header
// (rest() is exactly what the TLS / HTTP parser must see next).
//
// Example:
//   ProxyHeaderReader r;
//   while (r.Feed(ReadSome()) == Progress::kNeedMore) {}
//   if (r.progress() == Progress::kDone) tls.Feed(r.rest());
//
// Version 1, what is accepted (strict; at most kProxyV1MaxLength = 107
// bytes including the CRLF):
//   "PROXY TCP4 <a.b.c.d> <a.b.c.d> <sport> <dport>\r\n"
//   "PROXY TCP6 <ipv6> <ipv6> <sport> <dport>\r\n"
//   "PROXY UNKNOWN\r\n" or "PROXY UNKNOWN <anything but LF>\r\n"
//   - single SP separators, upper-case keywords;
//   - IPv4: four decimal octets 0..255 with no leading zeros ("010" is
//     refused: octal or decimal would be a guess);
//   - ports: decimal 0..65535, no leading zeros ("0" itself is fine);
//   - IPv6: RFC 4291 text form, hex digits in either case, 1..4 digits a
//     group, at most one "::", an embedded dotted IPv4 tail allowed (same
//     octet rules); the 107-byte cap still applies;
//   - the line ends at the first LF, which must follow a CR.
//
// Version 2, what is accepted:
//   - the 12-byte signature, then version 2 with command LOCAL (0x20) or
//     PROXY (0x21); any other version or command is refused;
//   - LOCAL: family and the whole address/TLV block are skipped as the spec
//     says (endpoints kUnknown, no authority);
//   - PROXY: family/protocol 0x11 (TCP over IPv4, 12 address bytes), 0x21
//     (TCP over IPv6, 36 bytes) or 0x00 (UNSPEC, no address, endpoints
//     kUnknown). UDP (0x12, 0x22) and unix sockets (0x31, 0x32) are refused
//     as unsupported; other values as invalid;
//   - the length field must cover the address block and is capped at
//     kProxyV2MaxPayload (the whole header at kProxyV2MaxLength);
//   - after the address, TLVs (type, 16-bit big-endian length, value) must
//     tile the rest exactly. PP2_TYPE_AUTHORITY (0x02): at most one,
//     non-empty, well-formed UTF-8 without control characters; it becomes
//     header().authority. PP2_TYPE_CRC32C (0x03): at most one, exactly 4
//     bytes, checked (CRC32c of the whole header with the field zeroed).
//     Other types are skipped unparsed.
//
// Errors (error()): InvalidArgument for anything malformed or unsupported,
// with the reason; ResourceExhausted for a header over its cap. A prefix of
// a valid header is always kNeedMore; a signature mismatch is reported as
// soon as the first differing byte arrives. Feed after kDone / kError
// ignores its bytes.
#ifndef SALLYPORT_PARSER_PROXY_PROTOCOL_H_
#define SALLYPORT_PARSER_PROXY_PROTOCOL_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "parser/progress.h"

namespace sallyport::parser {

inline constexpr size_t kProxyV1MaxLength = 107;
inline constexpr absl::string_view kProxyV2Signature{
    "\r\n\r\n\0\r\nQUIT\n", 12};
inline constexpr size_t kProxyV2FixedLength = 16;  // signature..length
inline constexpr size_t kProxyV2MaxPayload = 2048;  // cap on the length field
inline constexpr size_t kProxyV2MaxLength =
    kProxyV2FixedLength + kProxyV2MaxPayload;
// The longest authority EncodeProxyV2 can carry under the cap (TCP6 address
// block of 36 bytes, 3-byte TLV header).
inline constexpr size_t kProxyV2MaxAuthority = kProxyV2MaxPayload - 36 - 3;

struct ProxyEndpoints {
  enum class Family { kUnknown, kTcp4, kTcp6 };
  Family family = Family::kUnknown;
  std::array<uint8_t, 16> src_addr{}, dst_addr{};  // first 4 bytes for TCP4
  uint16_t src_port = 0, dst_port = 0;
};

bool operator==(const ProxyEndpoints& a, const ProxyEndpoints& b);
inline bool operator!=(const ProxyEndpoints& a, const ProxyEndpoints& b) {
  return !(a == b);
}

// "PROXY TCP4 ...\r\n", "PROXY TCP6 ...\r\n" (IPv6 in RFC 5952 form:
// lowercase, longest run of two or more zero groups as "::", no dotted
// tail), or "PROXY UNKNOWN\r\n" for kUnknown.
std::string EncodeProxyV1(const ProxyEndpoints&);

// v2, PROXY command, family 0x11 / 0x21 / 0x00 (kUnknown: no addresses).
// A non-empty authority adds a PP2_TYPE_AUTHORITY (0x02) TLV. Precondition:
// authority.size() <= kProxyV2MaxAuthority; a longer one returns "" (no
// header at all rather than one every decoder refuses).
std::string EncodeProxyV2(const ProxyEndpoints&, absl::string_view authority);

struct ProxyHeader {
  int version = 0;     // 1 or 2
  bool local = false;  // v2 LOCAL command
  ProxyEndpoints endpoints;
  std::optional<std::string> authority;  // v2 AUTHORITY TLV
};

class ProxyHeaderReader {
 public:
  Progress Feed(absl::string_view bytes);
  Progress progress() const { return progress_; }
  const ProxyHeader& header() const { return header_; }  // kDone
  size_t header_length() const { return header_length_; }  // kDone
  // kDone: bytes fed after the header.
  absl::string_view rest() const {
    return absl::string_view(buffer_).substr(header_length_);
  }
  const absl::Status& error() const { return error_; }  // kError

 private:
  Progress Parse();
  Progress ParseV1();
  Progress ParseV2();
  Progress Fail(absl::Status error);

  std::string buffer_;
  Progress progress_ = Progress::kNeedMore;
  ProxyHeader header_;
  size_t header_length_ = 0;
  absl::Status error_;
  size_t v1_scan_ = 0;  // v1: bytes already searched for LF
};

// CRC32c (Castagnoli), as PP2_TYPE_CRC32C uses it. Exposed for tests.
uint32_t Crc32c(absl::string_view bytes);

}  // namespace sallyport::parser

#endif  // SALLYPORT_PARSER_PROXY_PROTOCOL_H_
