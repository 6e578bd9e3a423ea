// SPDX-License-Identifier: Apache-2.0
#include "parser/sni_extractor.h"

#include <bitset>
#include <cstdint>
#include <memory>

namespace sallyport::parser {
namespace {

absl::Status Bad(absl::string_view rule) {
  return absl::InvalidArgumentError(rule);
}

}  // namespace

absl::StatusOr<std::optional<std::string>> ExtractServerName(
    absl::string_view client_hello_body) {
  const auto* p = reinterpret_cast<const uint8_t*>(client_hello_body.data());
  const size_t end = client_hello_body.size();
  auto u16 = [p](size_t at) -> size_t { return (size_t{p[at]} << 8) | p[at + 1]; };

  // Fixed part: version and random.
  size_t at = 2 + 32;
  if (end < at + 1) return Bad("body shorter than version, random, session id");
  const size_t sid_len = p[at];
  if (sid_len > 32) return Bad("session id over 32 bytes");
  at += 1 + sid_len;
  if (end < at + 2) return Bad("no cipher_suites length");
  const size_t suites_len = u16(at);
  if (suites_len < 2 || suites_len % 2 == 1) return Bad("bad cipher_suites length");
  at += 2 + suites_len;
  if (end < at + 1) return Bad("cipher_suites past end / no compression");
  const size_t comp_len = p[at];
  if (comp_len < 1) return Bad("no compression methods");
  at += 1 + comp_len;
  if (at > end) return Bad("compression methods past end");
  if (at == end) return std::optional<std::string>();  // no extensions

  if (end - at < 2) return Bad("one stray byte after compression methods");
  const size_t exts_len = u16(at);
  at += 2;
  if (exts_len != end - at) return Bad("extensions length does not fill the body");

  auto seen = std::make_unique<std::bitset<65536>>();
  std::optional<std::string> host;
  while (at < end) {
    if (end - at < 4) return Bad("extension header past end");
    const size_t type = u16(at);
    const size_t len = u16(at + 2);
    at += 4;
    if (len > end - at) return Bad("extension data past end");
    if (seen->test(type)) return Bad("duplicate extension type");
    seen->set(type);
    if (type == 0) {
      // server_name: list_len(2) { name_type(1) name_len(2) name } — once.
      if (len < 2) return Bad("server_name shorter than its list length");
      const size_t list_len = u16(at);
      if (list_len + 2 != len) return Bad("server_name list length mismatch");
      if (list_len < 3) return Bad("server_name list too short for one entry");
      if (p[at + 2] != 0) return Bad("server_name entry not host_name");
      const size_t name_len = u16(at + 3);
      if (name_len == 0) return Bad("empty host_name");
      if (name_len + 3 != list_len) {
        return Bad(name_len + 3 > list_len ? "host_name past the list"
                                           : "more than one server_name entry");
      }
      host = std::string(client_hello_body.substr(at + 5, name_len));
    } else if (type == 16) {
      // ALPN: list_len(2) { name_len(1) name }+ with every name_len >= 1.
      if (len < 2 || u16(at) + 2 != len) return Bad("ALPN list length mismatch");
      if (len == 2) return Bad("ALPN list empty");
      for (size_t name = at + 2; name < at + len; name += 1 + p[name]) {
        if (p[name] == 0) return Bad("empty ALPN protocol name");
        if (1 + size_t{p[name]} > at + len - name) return Bad("ALPN name past the list");
      }
    }
    at += len;
  }
  return host;
}

}  // namespace sallyport::parser
