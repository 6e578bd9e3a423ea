// SPDX-License-Identifier: Apache-2.0
#include "parser/botan_clienthello.h"

#include <botan/exceptn.h>
#include <botan/tls_extensions.h>
#include <botan/tls_messages.h>

#include <cstdint>
#include <exception>
#include <vector>

#include "absl/strings/str_cat.h"

namespace sallyport::parser {

absl::StatusOr<BotanServerName> ParseClientHelloWithBotan(
    absl::string_view body) {
  try {
    const std::vector<uint8_t> buf(body.begin(), body.end());
    const Botan::TLS::Client_Hello hello(buf);
    BotanServerName out;
    out.has_server_name =
        hello.extensions().has<Botan::TLS::Server_Name_Indicator>();
    out.host_name = hello.sni_hostname();
    return out;
  } catch (const Botan::Exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("botan: ", e.what()));
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(
        absl::StrCat("botan: unexpected exception: ", e.what()));
  } catch (...) {
    return absl::InvalidArgumentError("botan: unknown exception");
  }
}

bool WarmUpBotanClientHello() {
  // legacy_version 3.3, random, empty session_id, one suite, null
  // compression, server_name "warm.up".
  static constexpr uint8_t kHello[] = {
      0x03, 0x03, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17,
      18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32,  // random
      0x00,                                                       // sid
      0x00, 0x02, 0x13, 0x01,                                     // suites
      0x01, 0x00,                                                 // comp
      0x00, 0x10,                                                 // exts
      0x00, 0x00, 0x00, 0x0c, 0x00, 0x0a, 0x00, 0x00, 0x07,       // sni
      'w', 'a', 'r', 'm', '.', 'u', 'p'};
  const absl::string_view good(reinterpret_cast<const char*>(kHello),
                               sizeof(kHello));
  auto ok = ParseClientHelloWithBotan(good);
  auto bad = ParseClientHelloWithBotan(good.substr(0, good.size() - 1));
  return ok.ok() && ok->has_server_name && ok->host_name == "warm.up" &&
         !bad.ok();
}

}  // namespace sallyport::parser
