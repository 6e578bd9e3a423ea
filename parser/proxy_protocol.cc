// SPDX-License-Identifier: Apache-2.0
#include "parser/proxy_protocol.h"

#include <algorithm>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace sallyport::parser {
namespace {

using Family = ProxyEndpoints::Family;

constexpr uint8_t kTlvAuthority = 0x02;
constexpr uint8_t kTlvCrc32c = 0x03;


int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Decimal 0..max, 1..digits characters, no leading zero unless exactly "0".
bool ParseDecimal(absl::string_view s, size_t max_digits, uint32_t max,
                  uint32_t* out) {
  if (s.empty() || s.size() > max_digits) return false;
  if (s.size() > 1 && s[0] == '0') return false;
  uint32_t v = 0;
  for (char c : s) {
    if (!absl::ascii_isdigit(c)) return false;
    v = v * 10 + static_cast<uint32_t>(c - '0');
  }
  if (v > max) return false;
  *out = v;
  return true;
}

bool ParseIPv4(absl::string_view s, uint8_t* out) {
  std::vector<absl::string_view> parts = absl::StrSplit(s, '.');
  if (parts.size() != 4) return false;
  for (size_t i = 0; i < 4; ++i) {
    uint32_t v;
    if (!ParseDecimal(parts[i], 3, 255, &v)) return false;
    out[i] = static_cast<uint8_t>(v);
  }
  return true;
}

// RFC 4291 §2.2 text forms.
bool ParseIPv6(absl::string_view s, uint8_t* out) {
  uint16_t groups[8] = {};
  int n = 0;
  int gap = -1;  // index in groups where "::" stands
  size_t i = 0;
  if (s.size() >= 2 && s[0] == ':' && s[1] == ':') {
    gap = 0;
    i = 2;
  } else if (s.empty() || s[0] == ':') {
    return false;
  }
  while (i < s.size()) {
    size_t j = i;
    while (j < s.size() && j - i < 5 && HexValue(s[j]) >= 0) ++j;
    if (j < s.size() && s[j] == '.') {  // dotted IPv4 tail, must be last
      if (n > 6) return false;
      uint8_t v4[4];
      if (!ParseIPv4(s.substr(i), v4)) return false;
      groups[n++] = static_cast<uint16_t>(v4[0] << 8 | v4[1]);
      groups[n++] = static_cast<uint16_t>(v4[2] << 8 | v4[3]);
      i = s.size();
      break;
    }
    if (j == i || j - i > 4 || n == 8) return false;
    uint16_t g = 0;
    for (size_t k = i; k < j; ++k) {
      g = static_cast<uint16_t>(g << 4 | HexValue(s[k]));
    }
    groups[n++] = g;
    i = j;
    if (i == s.size()) break;
    if (s[i] != ':') return false;
    ++i;
    if (i < s.size() && s[i] == ':') {
      if (gap >= 0) return false;
      gap = n;
      ++i;
    } else if (i == s.size()) {
      return false;  // a single trailing ':'
    }
  }
  if (gap < 0 ? n != 8 : n > 7) return false;
  uint16_t full[8] = {};
  if (gap < 0) {
    std::copy(groups, groups + 8, full);
  } else {
    std::copy(groups, groups + gap, full);
    int tail = n - gap;
    std::copy(groups + gap, groups + n, full + 8 - tail);
  }
  for (int k = 0; k < 8; ++k) {
    out[2 * k] = static_cast<uint8_t>(full[k] >> 8);
    out[2 * k + 1] = static_cast<uint8_t>(full[k] & 0xff);
  }
  return true;
}

std::string FormatIPv4(const uint8_t* a) {
  return absl::StrCat(a[0], ".", a[1], ".", a[2], ".", a[3]);
}

// RFC 5952 §4.
std::string FormatIPv6(const uint8_t* a) {
  uint16_t g[8];
  for (int k = 0; k < 8; ++k) g[k] = static_cast<uint16_t>(a[2 * k] << 8 | a[2 * k + 1]);
  int best = -1, best_len = 0;
  for (int k = 0; k < 8;) {
    if (g[k] != 0) {
      ++k;
      continue;
    }
    int start = k;
    while (k < 8 && g[k] == 0) ++k;
    if (k - start > best_len) {
      best = start;
      best_len = k - start;
    }
  }
  if (best_len < 2) best = -1;
  std::string out;
  for (int k = 0; k < 8; ++k) {
    if (k == best) {
      out += "::";
      k += best_len - 1;
      continue;
    }
    if (!out.empty() && out.back() != ':') out += ':';
    absl::StrAppend(&out, absl::Hex(g[k]));
  }
  return out;
}

void PutU16(std::string* out, size_t v) {
  out->push_back(static_cast<char>((v >> 8) & 0xff));
  out->push_back(static_cast<char>(v & 0xff));
}

uint16_t GetU16(absl::string_view s, size_t pos) {
  return static_cast<uint16_t>(static_cast<uint8_t>(s[pos]) << 8 |
                               static_cast<uint8_t>(s[pos + 1]));
}

// Well-formed UTF-8 (no overlongs, surrogates or values past U+10FFFF),
// without C0 controls or DEL.
bool IsCleanUtf8(absl::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    uint8_t c = static_cast<uint8_t>(s[i]);
    if (c < 0x80) {
      if (c < 0x20 || c == 0x7f) return false;
      ++i;
      continue;
    }
    size_t len;
    uint32_t cp;
    if (c >= 0xc2 && c <= 0xdf) {
      len = 2;
      cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
      len = 3;
      cp = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
      len = 4;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (s.size() - i < len) return false;
    for (size_t k = 1; k < len; ++k) {
      uint8_t cc = static_cast<uint8_t>(s[i + k]);
      if ((cc & 0xc0) != 0x80) return false;
      cp = cp << 6 | (cc & 0x3f);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
        cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
      return false;
    }
    i += len;
  }
  return true;
}

}  // namespace

bool operator==(const ProxyEndpoints& a, const ProxyEndpoints& b) {
  return a.family == b.family && a.src_addr == b.src_addr &&
         a.dst_addr == b.dst_addr && a.src_port == b.src_port &&
         a.dst_port == b.dst_port;
}

uint32_t Crc32c(absl::string_view bytes) {
  uint32_t crc = 0xffffffffu;
  for (char ch : bytes) {
    crc ^= static_cast<uint8_t>(ch);
    for (int k = 0; k < 8; ++k) {
      crc = (crc >> 1) ^ (0x82f63b78u & (0u - (crc & 1u)));
    }
  }
  return ~crc;
}

std::string EncodeProxyV1(const ProxyEndpoints& e) {
  switch (e.family) {
    case Family::kTcp4:
      return absl::StrCat("PROXY TCP4 ", FormatIPv4(e.src_addr.data()), " ",
                          FormatIPv4(e.dst_addr.data()), " ", e.src_port, " ",
                          e.dst_port, "\r\n");
    case Family::kTcp6:
      return absl::StrCat("PROXY TCP6 ", FormatIPv6(e.src_addr.data()), " ",
                          FormatIPv6(e.dst_addr.data()), " ", e.src_port, " ",
                          e.dst_port, "\r\n");
    case Family::kUnknown:
      break;
  }
  return "PROXY UNKNOWN\r\n";
}

std::string EncodeProxyV2(const ProxyEndpoints& e,
                          absl::string_view authority) {
  if (authority.size() > kProxyV2MaxAuthority) return "";
  std::string addr;
  char fam = 0x00;
  size_t addr_len = 0;
  switch (e.family) {
    case Family::kTcp4:
      fam = 0x11;
      addr_len = 4;
      break;
    case Family::kTcp6:
      fam = 0x21;
      addr_len = 16;
      break;
    case Family::kUnknown:
      break;
  }
  if (addr_len > 0) {
    addr.append(reinterpret_cast<const char*>(e.src_addr.data()), addr_len);
    addr.append(reinterpret_cast<const char*>(e.dst_addr.data()), addr_len);
    PutU16(&addr, e.src_port);
    PutU16(&addr, e.dst_port);
  }
  std::string tlvs;
  if (!authority.empty()) {
    tlvs.push_back(static_cast<char>(kTlvAuthority));
    PutU16(&tlvs, authority.size());
    tlvs.append(authority.data(), authority.size());
  }
  std::string out(kProxyV2Signature);
  out.push_back(0x21);  // version 2, PROXY
  out.push_back(fam);
  PutU16(&out, addr.size() + tlvs.size());
  out += addr;
  out += tlvs;
  return out;
}

Progress ProxyHeaderReader::Feed(absl::string_view bytes) {
  if (progress_ != Progress::kNeedMore) return progress_;
  buffer_.append(bytes.data(), bytes.size());
  return progress_ = Parse();
}

Progress ProxyHeaderReader::Fail(absl::Status error) {
  error_ = std::move(error);
  header_ = ProxyHeader();
  header_length_ = 0;
  return Progress::kError;
}

Progress ProxyHeaderReader::Parse() {
  if (buffer_.empty()) return Progress::kNeedMore;
  if (buffer_[0] == 'P') return ParseV1();
  if (buffer_[0] == '\r') return ParseV2();
  return Fail(absl::InvalidArgumentError(
      "not a PROXY protocol header (neither \"PROXY \" nor the v2 "
      "signature)"));
}

Progress ProxyHeaderReader::ParseV1() {
  constexpr absl::string_view kPrefix = "PROXY ";
  absl::string_view buf(buffer_);
  size_t n = std::min(buf.size(), kPrefix.size());
  if (buf.substr(0, n) != kPrefix.substr(0, n)) {
    return Fail(absl::InvalidArgumentError("bad PROXY v1 signature"));
  }
  size_t limit = std::min(buf.size(), kProxyV1MaxLength);
  size_t lf = buf.substr(0, limit).find('\n', v1_scan_);
  if (lf == absl::string_view::npos) {
    v1_scan_ = limit;
    if (buf.size() >= kProxyV1MaxLength) {
      return Fail(absl::ResourceExhaustedError(absl::StrCat(
          "PROXY v1 header without CRLF in its first ", kProxyV1MaxLength,
          " bytes")));
    }
    return Progress::kNeedMore;
  }
  if (buf[lf - 1] != '\r') {
    return Fail(absl::InvalidArgumentError(
        "PROXY v1 header ends in a bare LF (CRLF required)"));
  }
  absl::string_view line = buf.substr(kPrefix.size(), lf - 1 - kPrefix.size());
  header_ = ProxyHeader();
  header_.version = 1;
  header_length_ = lf + 1;

  if (line == "UNKNOWN" || line.substr(0, 8) == "UNKNOWN ") {
    return Progress::kDone;  // the rest of an UNKNOWN line is ignored
  }
  std::vector<absl::string_view> f = absl::StrSplit(line, ' ');
  if (f.size() != 5) {
    return Fail(absl::InvalidArgumentError(
        "PROXY v1 header must be PROXY SP proto SP src SP dst SP sport SP "
        "dport CRLF"));
  }
  ProxyEndpoints& e = header_.endpoints;
  if (f[0] == "TCP4") {
    e.family = Family::kTcp4;
    if (!ParseIPv4(f[1], e.src_addr.data()) ||
        !ParseIPv4(f[2], e.dst_addr.data())) {
      return Fail(absl::InvalidArgumentError(
          "PROXY v1 TCP4 address is not a dotted quad (0..255, no leading "
          "zeros)"));
    }
  } else if (f[0] == "TCP6") {
    e.family = Family::kTcp6;
    if (!ParseIPv6(f[1], e.src_addr.data()) ||
        !ParseIPv6(f[2], e.dst_addr.data())) {
      return Fail(absl::InvalidArgumentError(
          "PROXY v1 TCP6 address is not an IPv6 address"));
    }
  } else {
    return Fail(absl::InvalidArgumentError(
        "PROXY v1 protocol must be TCP4, TCP6 or UNKNOWN"));
  }
  uint32_t sport, dport;
  if (!ParseDecimal(f[3], 5, 65535, &sport) ||
      !ParseDecimal(f[4], 5, 65535, &dport)) {
    return Fail(absl::InvalidArgumentError(
        "PROXY v1 port must be decimal 0..65535 without leading zeros"));
  }
  e.src_port = static_cast<uint16_t>(sport);
  e.dst_port = static_cast<uint16_t>(dport);
  return Progress::kDone;
}

Progress ProxyHeaderReader::ParseV2() {
  absl::string_view buf(buffer_);
  size_t n = std::min(buf.size(), kProxyV2Signature.size());
  if (buf.substr(0, n) != kProxyV2Signature.substr(0, n)) {
    return Fail(absl::InvalidArgumentError("bad PROXY v2 signature"));
  }
  if (buf.size() <= 12) return Progress::kNeedMore;
  uint8_t ver_cmd = static_cast<uint8_t>(buf[12]);
  if ((ver_cmd >> 4) != 2) {
    return Fail(absl::InvalidArgumentError(absl::StrCat(
        "unsupported PROXY protocol binary version ", ver_cmd >> 4)));
  }
  uint8_t cmd = ver_cmd & 0x0f;
  if (cmd > 1) {
    return Fail(absl::InvalidArgumentError(absl::StrCat(
        "unknown PROXY v2 command ", cmd, " (only LOCAL 0 and PROXY 1)")));
  }
  bool local = cmd == 0;
  if (buf.size() <= 13) return Progress::kNeedMore;
  uint8_t fam = static_cast<uint8_t>(buf[13]);
  size_t addr_len = 0;
  Family family = Family::kUnknown;
  if (!local) {
    switch (fam) {
      case 0x00: break;
      case 0x11: family = Family::kTcp4; addr_len = 12; break;
      case 0x21: family = Family::kTcp6; addr_len = 36; break;
      case 0x12: case 0x22:
        return Fail(absl::InvalidArgumentError(
            "PROXY v2 UDP (DGRAM) is not supported"));
      case 0x31: case 0x32:
        return Fail(absl::InvalidArgumentError(
            "PROXY v2 unix socket addresses are not supported"));
      default:
        return Fail(absl::InvalidArgumentError(absl::StrCat(
            "invalid PROXY v2 family/protocol byte 0x",
            absl::Hex(fam, absl::kZeroPad2))));
    }
  }
  if (buf.size() < kProxyV2FixedLength) return Progress::kNeedMore;
  size_t len = GetU16(buf, 14);
  if (len > kProxyV2MaxPayload) {
    return Fail(absl::ResourceExhaustedError(absl::StrCat(
        "PROXY v2 length ", len, " exceeds the cap of ", kProxyV2MaxPayload)));
  }
  if (len < addr_len) {
    return Fail(absl::InvalidArgumentError(absl::StrCat(
        "PROXY v2 length ", len, " shorter than the address block (",
        addr_len, ")")));
  }
  size_t total = kProxyV2FixedLength + len;
  if (buf.size() < total) return Progress::kNeedMore;

  header_ = ProxyHeader();
  header_.version = 2;
  header_.local = local;
  header_length_ = total;
  if (local) return Progress::kDone;  // block discarded, as the spec says

  ProxyEndpoints& e = header_.endpoints;
  e.family = family;
  if (addr_len > 0) {
    size_t a = addr_len == 12 ? 4 : 16;
    const uint8_t* p = reinterpret_cast<const uint8_t*>(buf.data()) + 16;
    std::copy(p, p + a, e.src_addr.begin());
    std::copy(p + a, p + 2 * a, e.dst_addr.begin());
    e.src_port = GetU16(buf, 16 + 2 * a);
    e.dst_port = GetU16(buf, 16 + 2 * a + 2);
  }
  size_t pos = kProxyV2FixedLength + addr_len;
  bool seen_crc = false;
  while (pos < total) {
    if (total - pos < 3) {
      return Fail(absl::InvalidArgumentError(
          "PROXY v2 TLV header truncated by the header length"));
    }
    uint8_t type = static_cast<uint8_t>(buf[pos]);
    size_t vlen = GetU16(buf, pos + 1);
    if (vlen > total - pos - 3) {
      return Fail(absl::InvalidArgumentError(absl::StrCat(
          "PROXY v2 TLV 0x", absl::Hex(type, absl::kZeroPad2),
          " overruns the header")));
    }
    absl::string_view value = buf.substr(pos + 3, vlen);
    if (type == kTlvAuthority) {
      if (header_.authority.has_value()) {
        return Fail(absl::InvalidArgumentError(
            "duplicate PROXY v2 AUTHORITY TLV"));
      }
      if (value.empty() || !IsCleanUtf8(value)) {
        return Fail(absl::InvalidArgumentError(
            "PROXY v2 AUTHORITY TLV is empty or not clean UTF-8"));
      }
      header_.authority = std::string(value);
    } else if (type == kTlvCrc32c) {
      if (seen_crc || vlen != 4) {
        return Fail(absl::InvalidArgumentError(
            "PROXY v2 CRC32C TLV duplicated or not 4 bytes"));
      }
      seen_crc = true;
      std::string copy(buf.substr(0, total));
      uint32_t want = static_cast<uint32_t>(GetU16(value, 0)) << 16 |
                      GetU16(value, 2);
      std::fill(copy.begin() + pos + 3, copy.begin() + pos + 7, '\0');
      if (Crc32c(copy) != want) {
        return Fail(absl::InvalidArgumentError(
            "PROXY v2 CRC32C checksum mismatch"));
      }
    }
    pos += 3 + vlen;
  }
  return Progress::kDone;
}

}  // namespace sallyport::parser
