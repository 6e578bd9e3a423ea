#include "parser/hostname.h"

#include "absl/strings/str_cat.h"

namespace sallyport::parser {
namespace {

bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsLdh(char c) {
  return (c >= 'a' && c <= 'z') || IsDigit(c) || c == '-';
}
char Lower(char c) { return (c >= 'A' && c <= 'Z') ? char(c - 'A' + 'a') : c; }

}  // namespace

absl::StatusOr<std::string> CanonicalHostname(absl::string_view raw) {
  if (raw.empty()) return absl::InvalidArgumentError("empty host name");
  if (raw.front() == '[') {
    if (raw.back() != ']') {
      return absl::InvalidArgumentError("unterminated IPv6 literal");
    }
    for (char c : raw.substr(1, raw.size() - 2)) {
      bool hex = IsDigit(c) || (Lower(c) >= 'a' && Lower(c) <= 'f');
      if (!hex && c != ':' && c != '.') {
        return absl::InvalidArgumentError("malformed IPv6 literal");
      }
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
        if (!IsDigit(out[j])) last_label_all_digits = false;
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
      if (!IsDigit(c)) return absl::InvalidArgumentError("non-digit in port");
    }
  }
  return host;
}

}  // namespace sallyport::parser
