// SPDX-License-Identifier: Apache-2.0
#include "proxy/protocol.h"

#include "absl/strings/str_cat.h"
#include "parser/http_head.h"
#include "parser/tls_clienthello.h"

namespace sallyport::proxy {
namespace {

using parser::Progress;
using parser::TlsAlert;

Answer Alert(TlsAlert alert) {
  return Answer{static_cast<uint16_t>(alert), parser::FatalAlertRecord(alert)};
}

Answer Status(int status, absl::string_view body) {
  return Answer{static_cast<uint16_t>(status), parser::ErrorResponse(status, body)};
}

Refusal Refuse(Outcome outcome, absl::string_view detail, Answer answer) {
  return Refusal{outcome, std::string(detail), std::move(answer)};
}

// A reader's result: the head to route and replay, or why not.
HeadResult Head(absl::string_view hostname, absl::string_view bytes) {
  HeadResult r;
  r.ok = true;
  r.hostname = std::string(hostname);
  r.bytes = std::string(bytes);
  return r;
}

HeadResult Refused(Outcome outcome, absl::string_view detail, Answer answer) {
  HeadResult r;
  r.refusal = Refuse(outcome, detail, std::move(answer));
  return r;
}

// An HTTP/2 client that sent the prior-knowledge preface understands no
// HTTP/1.1 status line: answer in its own framing, an empty SETTINGS frame
// and a GOAWAY with HTTP_1_1_REQUIRED (RFC 9113 §7) and a reason. Logged as
// status 505, the HTTP/1.1 word for it.
Answer Http2Refusal() {
  const std::string reason = "sallyport http routes HTTP/1.1 only";
  std::string out("\x00\x00\x00\x04\x00\x00\x00\x00\x00", 9);  // SETTINGS
  size_t len = 8 + reason.size();
  out += static_cast<char>((len >> 16) & 0xff);
  out += static_cast<char>((len >> 8) & 0xff);
  out += static_cast<char>(len & 0xff);
  out += std::string("\x07\x00\x00\x00\x00\x00", 6);  // GOAWAY, flags, stream 0
  out += std::string("\x00\x00\x00\x00\x00\x00\x00\x0d", 8);  // last id 0, error 0xd
  return Answer{505, out + reason};
}

class TlsReader final : public HeadReader {
 public:
  Progress Feed(absl::string_view bytes) override { return reader_.Feed(bytes); }
  HeadResult Result() const override {
    if (reader_.progress() == Progress::kError) {
      return Refused(Outcome::kRefusedInput, reader_.error().message(), Alert(reader_.alert()));
    }
    if (!reader_.hostname()) {
      return Refused(Outcome::kNoHostname, "ClientHello has no server_name",
                     Alert(TlsAlert::kUnrecognizedName));
    }
    return Head(*reader_.hostname(), reader_.bytes());
  }

 private:
  parser::ClientHelloReader reader_;
};

class HttpReader final : public HeadReader {
 public:
  Progress Feed(absl::string_view bytes) override { return reader_.Feed(bytes); }
  HeadResult Result() const override {
    if (reader_.progress() != Progress::kError) return Head(reader_.hostname(), reader_.bytes());
    const absl::string_view why = reader_.error().message();
    if (reader_.is_http2_preface()) return Refused(Outcome::kRefusedInput, why, Http2Refusal());
    // 404: a Host the name rules refuse is an unknown host, not bad input.
    const int status = reader_.http_status();
    return Refused(status == 404 ? Outcome::kNoRoute : Outcome::kRefusedInput, why,
                   Status(status, why));
  }

 private:
  parser::HttpHeadReader reader_;
};

class Tls final : public ProtocolRules {
 public:
  Protocol protocol() const override { return Protocol::kTls; }
  const char* name() const override { return "tls"; }
  const char* code_field() const override { return "alert"; }
  std::unique_ptr<HeadReader> NewReader() const override { return std::make_unique<TlsReader>(); }
  Answer Busy() const override { return Alert(TlsAlert::kInternalError); }
  Refusal HandshakeTimeout() const override {
    return Refuse(Outcome::kHandshakeTimeout, "no complete ClientHello in time", Answer{});
  }
  Refusal BadProxyHeader(absl::string_view why) const override {
    // The balancer speaks no TLS alert: close.
    return Refuse(Outcome::kBadProxyHeader, absl::StrCat("PROXY header: ", why), Answer{});
  }
  Refusal NoRoute(absl::string_view) const override {
    return Refuse(Outcome::kNoRoute, "refused by the route broker",
                  Alert(TlsAlert::kUnrecognizedName));
  }
  Refusal BackendDown(absl::string_view) const override {
    return Refuse(Outcome::kBackendDown, "the route broker could not connect",
                  Alert(TlsAlert::kInternalError));
  }
  Refusal ReplayFailed(absl::string_view why) const override {
    return Refuse(Outcome::kBackendDown, absl::StrCat("replay to backend: ", why),
                  Alert(TlsAlert::kInternalError));
  }
};

class Http final : public ProtocolRules {
 public:
  Protocol protocol() const override { return Protocol::kHttp; }
  const char* name() const override { return "http"; }
  const char* code_field() const override { return "status"; }
  std::unique_ptr<HeadReader> NewReader() const override { return std::make_unique<HttpReader>(); }
  Answer Busy() const override { return Status(503, "server busy, try again later"); }
  Refusal HandshakeTimeout() const override {
    return Refuse(Outcome::kHandshakeTimeout, "no complete request head in time",
                  Status(408, "request head not received in time"));
  }
  Refusal BadProxyHeader(absl::string_view why) const override {
    return Refuse(Outcome::kBadProxyHeader, absl::StrCat("PROXY header: ", why),
                  Status(400, "bad PROXY protocol header"));
  }
  Refusal NoRoute(absl::string_view host) const override {
    return Refuse(Outcome::kNoRoute, "refused by the route broker",
                  Status(404, absl::StrCat("no route for host ", host)));
  }
  Refusal BackendDown(absl::string_view host) const override {
    return Refuse(Outcome::kBackendDown, "the route broker could not connect",
                  Status(502, absl::StrCat("backend for ", host, " is not available")));
  }
  Refusal ReplayFailed(absl::string_view why) const override {
    return Refuse(Outcome::kBackendDown, absl::StrCat("replay to backend: ", why),
                  Status(502, "backend did not accept the request"));
  }
};

}  // namespace

const ProtocolRules& ProtocolRules::For(Protocol protocol) {
  static const Tls* const tls = new Tls;
  static const Http* const http = new Http;
  if (protocol == Protocol::kTls) return *tls;
  return *http;
}

std::string LimitRefusal(Protocol protocol) {
  return ProtocolRules::For(protocol).Busy().bytes;
}

}  // namespace sallyport::proxy
