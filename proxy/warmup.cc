// SPDX-License-Identifier: Apache-2.0
#include "proxy/warmup.h"

#include <cstdint>

#include "absl/strings/str_cat.h"
#include "parser/botan_clienthello.h"
#include "parser/http_head.h"
#include "parser/proxy_protocol.h"
#include "parser/tls_clienthello.h"
#include "proxy/log.h"

namespace sallyport::proxy {
namespace {

void Put16(std::string& s, size_t v) {
  s.push_back(static_cast<char>((v >> 8) & 0xff));
  s.push_back(static_cast<char>(v & 0xff));
}

void Put24(std::string& s, size_t v) {
  s.push_back(static_cast<char>((v >> 16) & 0xff));
  Put16(s, v & 0xffff);
}

}  // namespace

std::string SyntheticClientHello(const std::string& name) {
  std::string sni;  // server_name extension body
  Put16(sni, name.size() + 3);
  sni.push_back(0);  // host_name
  Put16(sni, name.size());
  sni += name;
  std::string exts;
  Put16(exts, 0x0000);
  Put16(exts, sni.size());
  exts += sni;

  std::string body;
  Put16(body, 0x0303);             // legacy_version TLS 1.2
  body.append(32, '\x2a');         // random
  body.push_back(0);               // empty session_id
  Put16(body, 2);
  Put16(body, 0xc02f);             // one cipher suite
  body.push_back(1);
  body.push_back(0);               // null compression
  Put16(body, exts.size());
  body += exts;

  std::string hs;
  hs.push_back(1);  // client_hello
  Put24(hs, body.size());
  hs += body;

  std::string record;
  record.push_back(22);  // handshake
  Put16(record, 0x0301);
  Put16(record, hs.size());
  return record + hs;
}

absl::Status WarmUpParsers() {
  const std::string name = "warm-up.sallyport.invalid";
  // Botan directly, once accepting and once throwing: the first C++ throw
  // and unwind initialise libgcc's unwinder, which children then inherit.
  if (!parser::WarmUpBotanClientHello()) {
    return absl::InternalError("Botan ClientHello warm-up failed");
  }
  parser::ClientHelloReader tls;
  tls.Feed(SyntheticClientHello(name));
  if (tls.progress() != parser::Progress::kDone || !tls.hostname() ||
      *tls.hostname() != name) {
    return absl::InternalError(absl::StrCat(
        "TLS parser warm-up failed: ", tls.error().ToString()));
  }
  parser::ClientHelloReader bad;
  bad.Feed("\x16\x03\x01\x00\x05\x01\x00\x00\x01\x00");  // a refused hello
  (void)parser::FatalAlertRecord(bad.alert());

  parser::HttpHeadReader http;
  http.Feed(absl::StrCat("GET / HTTP/1.1\r\nHost: ", name, ":80\r\n\r\n"));
  if (http.progress() != parser::Progress::kDone || http.hostname() != name) {
    return absl::InternalError(absl::StrCat(
        "HTTP parser warm-up failed: ", http.error().ToString()));
  }
  (void)parser::ErrorResponse(404, "warm-up");

  parser::ProxyEndpoints e;
  e.family = parser::ProxyEndpoints::Family::kTcp6;
  (void)parser::EncodeProxyV1(e);
  (void)parser::EncodeProxyV2(e, name);
  // Not the log formatter: only the parent formats log lines, and its first
  // gmtime_r reads /etc/localtime (glibc initialises time zones on first
  // use), which the zygote, running this inside the chroot, cannot.
  return absl::OkStatus();
}

}  // namespace sallyport::proxy
