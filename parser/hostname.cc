// SPDX-License-Identifier: Apache-2.0
#include "parser/hostname.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace sallyport::parser {
namespace {

bool IsLdh(char c) {
  return (c >= 'a' && c <= 'z') || absl::ascii_isdigit(c) || c == '-';
}
char Lower(char c) { return (c >= 'A' && c <= 'Z') ? char(c - 'A' + 'a') : c; }
bool IsHex(char c) { return absl::ascii_isdigit(c) || (Lower(c) >= 'a' && Lower(c) <= 'f'); }

// Dotted quad, four decimal octets 0..255 (RFC 3986 dec-octet: no leading
// zeros).
bool IsIPv4Address(absl::string_view s) {
  int octets = 0;
  while (true) {
    size_t n = 0;
    while (n < s.size() && absl::ascii_isdigit(s[n])) ++n;
    if (n == 0 || n > 3 || (n > 1 && s[0] == '0')) return false;
    int v = 0;
    for (size_t i = 0; i < n; ++i) v = v * 10 + (s[i] - '0');
    if (v > 255) return false;
    ++octets;
    s.remove_prefix(n);
    if (s.empty()) return octets == 4;
    if (s[0] != '.' || octets == 4) return false;
    s.remove_prefix(1);
  }
}

// RFC 3986 IPv6address: eight 1..4-digit hex groups, at most one "::"
// standing for one or more zero groups, optionally ending in a dotted quad
// that counts as two groups. No zone identifier.
bool IsIPv6Address(absl::string_view s) {
  int groups = 0;
  bool gap = false;
  if (s.size() >= 2 && s[0] == ':' && s[1] == ':') {
    gap = true;
    s.remove_prefix(2);
  } else if (s.empty() || s[0] == ':') {
    return false;
  }
  while (!s.empty()) {
    size_t n = 0;
    while (n < s.size() && n < 5 && IsHex(s[n])) ++n;
    if (n < s.size() && s[n] == '.') {  // dotted-quad tail, must be last
      if (!IsIPv4Address(s)) return false;
      groups += 2;
      break;
    }
    if (n == 0 || n > 4) return false;
    ++groups;
    s.remove_prefix(n);
    if (s.empty()) break;
    if (s[0] != ':') return false;
    s.remove_prefix(1);
    if (!s.empty() && s[0] == ':') {
      if (gap) return false;
      gap = true;
      s.remove_prefix(1);
    } else if (s.empty()) {
      return false;  // a single trailing ':'
    }
  }
  return gap ? groups <= 7 : groups == 8;
}

}  // namespace

absl::StatusOr<std::string> CanonicalHostname(absl::string_view raw) {
  if (raw.empty()) return absl::InvalidArgumentError("empty host name");
  if (raw.front() == '[') {
    if (raw.back() != ']') {
      return absl::InvalidArgumentError("unterminated IPv6 literal");
    }
    if (raw.size() < 2 || !IsIPv6Address(raw.substr(1, raw.size() - 2))) {
      return absl::InvalidArgumentError("malformed IPv6 literal");
    }
    return absl::NotFoundError("IP literal is not a host name");
  }
  absl::string_view name = raw;
  if (name.back() == '.') name.remove_suffix(1);  // the single root dot
  if (name.empty()) return absl::InvalidArgumentError("host name is only a dot");
  if (name.size() > kMaxHostnameLength) {
    return absl::InvalidArgumentError(
        absl::StrCat("host name longer than ", kMaxHostnameLength, " characters"));
  }

  std::string out;
  out.reserve(name.size());
  size_t label_start = 0;
  bool last_label_all_digits = true;
  for (size_t i = 0; i <= name.size(); ++i) {
    if (i == name.size() || name[i] == '.') {
      size_t len = i - label_start;
      if (len == 0) return absl::InvalidArgumentError("empty label in host name");
      if (len > kMaxLabelLength) {
        return absl::InvalidArgumentError(absl::StrCat(
            "label longer than ", kMaxLabelLength, " characters"));
      }
      if (out[label_start] == '-' || out[i - 1] == '-') {
        return absl::InvalidArgumentError("label starts or ends with '-'");
      }
      last_label_all_digits = true;
      for (size_t j = label_start; j < i; ++j) {
        if (!absl::ascii_isdigit(out[j])) last_label_all_digits = false;
      }
      if (i < name.size()) out.push_back('.');
      label_start = i + 1;
      continue;
    }
    unsigned char u = static_cast<unsigned char>(name[i]);
    if (u >= 0x80) {
      return absl::InvalidArgumentError(
          "raw UTF-8 in host name (send the xn-- A-label form)");
    }
    char c = Lower(name[i]);
    if (!IsLdh(c)) {
      return absl::InvalidArgumentError(
          absl::StrCat("invalid character 0x",
                       absl::Hex(u, absl::kZeroPad2), " in host name"));
    }
    out.push_back(c);
  }
  if (last_label_all_digits) {
    return absl::NotFoundError("IP literal is not a host name");
  }
  return out;
}

absl::StatusOr<absl::string_view> SplitHostPort(absl::string_view authority) {
  absl::string_view host = authority;
  absl::string_view port;
  bool has_port = false;
  if (!authority.empty() && authority.front() == '[') {
    size_t close = authority.find(']');
    if (close == absl::string_view::npos) {
      return absl::InvalidArgumentError("unterminated '[' in authority");
    }
    host = authority.substr(0, close + 1);
    absl::string_view rest = authority.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') {
        return absl::InvalidArgumentError("garbage after ']' in authority");
      }
      has_port = true;
      port = rest.substr(1);
    }
  } else {
    size_t colon = authority.find(':');
    if (colon != absl::string_view::npos) {
      host = authority.substr(0, colon);
      port = authority.substr(colon + 1);
      has_port = true;
    }
  }
  if (host.empty()) return absl::InvalidArgumentError("empty host in authority");
  if (has_port) {
    if (port.size() > 5) return absl::InvalidArgumentError("port too long");
    for (char c : port) {
      if (!absl::ascii_isdigit(c)) return absl::InvalidArgumentError("non-digit in port");
    }
  }
  return host;
}

}  // namespace sallyport::parser
