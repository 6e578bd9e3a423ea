// SPDX-License-Identifier: Apache-2.0
#include "proxy/child.h"

#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <optional>
#include <string>

#include "absl/strings/str_cat.h"
#include "parser/http_head.h"
#include "parser/tls_clienthello.h"
#include "proxy/handoff.h"
#include "proxy/limits.h"
#include "proxy/relay.h"
#include "proxy/test_hooks.h"

namespace sallyport::proxy {
namespace {

constexpr size_t kReadChunk = 16 * 1024;
// After answering a refusal, how long to keep reading (and discarding) what
// the client still sends, so close() does not turn the answer into a RST.
constexpr int kLingerMs = 500;
// Seconds past --handshake-timeout before the SIGALRM backstop fires.
constexpr unsigned kAlarmGraceSeconds = 2;
// How much longer than --handshake-timeout the child waits for its route.
constexpr int kRouteGraceMs = 2000;

enum class ReadResult { kData, kEof, kTimeout, kError };

// Waits for and reads what is available, up to kReadChunk bytes.
ReadResult ReadSome(int fd, int64_t deadline_ms, std::string* out, int* err) {
  char buf[kReadChunk];
  for (;;) {
    ssize_t n = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
    if (n > 0) {
      out->assign(buf, static_cast<size_t>(n));
      return ReadResult::kData;
    }
    if (n == 0) return ReadResult::kEof;
    if (errno == EINTR) continue;
    if (errno != EAGAIN) {
      *err = errno;
      return ReadResult::kError;
    }
    int64_t left = deadline_ms - MonotonicMillis();
    if (left <= 0) return ReadResult::kTimeout;
    struct pollfd p = {fd, POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(left)) < 0 && errno != EINTR) {
      *err = errno;
      return ReadResult::kError;
    }
  }
}

// An HTTP/2 client that sent the prior-knowledge preface understands no
// HTTP/1.1 status line: answer in its own framing, an empty SETTINGS frame
// and a GOAWAY with HTTP_1_1_REQUIRED (RFC 9113 §7) and a reason.
std::string Http2Refusal() {
  const std::string reason = "sallyport http routes HTTP/1.1 only";
  std::string out("\x00\x00\x00\x04\x00\x00\x00\x00\x00", 9);  // SETTINGS
  size_t len = 8 + reason.size();
  out += static_cast<char>((len >> 16) & 0xff);
  out += static_cast<char>((len >> 8) & 0xff);
  out += static_cast<char>(len & 0xff);
  out += std::string("\x07\x00\x00\x00\x00\x00", 6);  // GOAWAY, flags, stream 0
  out += std::string("\x00\x00\x00\x00\x00\x00\x00\x0d", 8);  // last id 0, error 0xd
  return out + reason;
}

// Sends a refusal, then half-closes and drains briefly so the peer reads it.
void Answer(int client, const std::string& bytes) {
  int64_t deadline = MonotonicMillis() + kLingerMs;
  if (WriteAll(client, bytes, deadline) != 0) return;
  shutdown(client, SHUT_WR);
  std::string sink;
  int err = 0;
  while (ReadSome(client, deadline, &sink, &err) == ReadResult::kData) {
  }
}

class Session {
 public:
  Session(int client, const ChildContext& ctx) : client_(client), ctx_(ctx) {
    endpoints_ = ctx.endpoints;
  }

  ChildReport Run();

 private:
  // Each returns false when the connection is finished (report filled in).
  bool ReadProxyHeader(std::string* rest);
  bool AwaitAdmission();
  bool ReadHandshake(std::string initial);
  bool AskRoute();  // the parent's route broker: the backend, or a refusal
  bool Replay();

  void Refuse(Outcome outcome, const std::string& detail, uint16_t code,
              const std::string& answer);
  void RefuseTls(Outcome outcome, const std::string& detail, parser::TlsAlert a) {
    Refuse(outcome, detail, static_cast<uint16_t>(a), parser::FatalAlertRecord(a));
  }
  void RefuseHttp(Outcome outcome, const std::string& detail, int status,
                  const std::string& body) {
    Refuse(outcome, detail, static_cast<uint16_t>(status),
           parser::ErrorResponse(status, body));
  }
  void RefuseInternal(const std::string& detail) {
    Refuse(Outcome::kInternal, detail,
           Tls() ? static_cast<uint16_t>(parser::TlsAlert::kInternalError) : 503,
           LimitRefusal(ctx_.protocol));
  }
  void Finish(Outcome outcome, const std::string& detail) {
    report_.outcome = outcome;
    SetField(report_.detail, sizeof report_.detail, detail);
  }
  bool Tls() const { return ctx_.protocol == Protocol::kTls; }

  int client_;
  const ChildContext& ctx_;
  parser::ProxyEndpoints endpoints_;
  bool proxied_ = false;  // endpoints_ came from the balancer's header
  int64_t deadline_ = 0;
  std::string hostname_;
  std::string replay_;
  ChildReport report_;
  int backend_ = -1;  // from the route broker, until the replay is written
};

void Session::Refuse(Outcome outcome, const std::string& detail, uint16_t code,
                     const std::string& answer) {
  Finish(outcome, detail);
  report_.answered = code;
  Answer(client_, answer);
}

ChildReport Session::Run() {
  deadline_ = MonotonicMillis() + ctx_.handshake_timeout_ms;
  // A backstop the kernel enforces even if a parser bug spins without ever
  // returning to poll(): SIGALRM (default action: terminate) shortly after
  // the deadline. The parent logs such a death as a security event.
  alarm(static_cast<unsigned>(ctx_.handshake_timeout_ms / 1000 + kAlarmGraceSeconds));
  std::string rest;
  if (ctx_.accept_proxy) {
    if (!ReadProxyHeader(&rest)) return report_;
    // Only the trusted balancer's header has been parsed: the client's
    // bytes in `rest` wait until the parent has admitted the client.
    if (!AwaitAdmission()) return report_;
  }
  if (!ReadHandshake(std::move(rest))) return report_;
  alarm(0);  // the hostile-input phase is over; the relay has its idle timeout
  if (sallyport_test_hook_after_handshake != nullptr) {
    sallyport_test_hook_after_handshake(hostname_.c_str());
  }
  if (sallyport_test_hook_before_route != nullptr &&
      sallyport_test_hook_before_route(hostname_.c_str(), ctx_.report_fd, client_) != 0) {
    _exit(0);  // test builds only: a compromised child said its own piece
  }
  if (!AskRoute()) return report_;
  Replay();
  return report_;
}

bool Session::ReadProxyHeader(std::string* rest) {
  parser::ProxyHeaderReader reader;
  std::string chunk;
  int err = 0;
  while (reader.progress() == parser::Progress::kNeedMore) {
    switch (ReadSome(client_, deadline_, &chunk, &err)) {
      case ReadResult::kData:
        reader.Feed(chunk);
        break;
      case ReadResult::kEof:
        Finish(Outcome::kClientClosed, "closed before the PROXY header");
        return false;
      case ReadResult::kTimeout:
        Finish(Outcome::kHandshakeTimeout, "no PROXY header in time");
        return false;
      case ReadResult::kError:
        Finish(Outcome::kClientClosed, absl::StrCat("read: ", strerror(err)));
        return false;
    }
  }
  if (reader.progress() == parser::Progress::kError) {
    std::string why = absl::StrCat("PROXY header: ", reader.error().message());
    if (Tls()) {
      Finish(Outcome::kBadProxyHeader, why);  // upstream speaks no TLS alert
    } else {
      RefuseHttp(Outcome::kBadProxyHeader, why, 400, "bad PROXY protocol header");
    }
    return false;
  }
  // A LOCAL header (health check) or UNKNOWN family keeps the balancer's
  // own address, as the PROXY protocol specification says.
  const parser::ProxyHeader& h = reader.header();
  if (!h.local && h.endpoints.family != parser::ProxyEndpoints::Family::kUnknown) {
    endpoints_ = h.endpoints;
    proxied_ = true;
  }
  *rest = std::string(reader.rest());
  return true;
}

bool Session::AwaitAdmission() {
  // Without a client address in the header: family 0, the balancer itself.
  const SourceReport source = proxied_ ? SourceFor(endpoints_) : SourceReport{};
  if (write(ctx_.report_fd, &source, sizeof source) != static_cast<ssize_t>(sizeof source)) {
    Finish(Outcome::kInternal, absl::StrCat("report to the parent: ", strerror(errno)));
    return false;
  }
  uint8_t verdict = 0;
  for (;;) {
    ssize_t n = read(ctx_.verdict_fd, &verdict, 1);
    if (n == 1) break;
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) {
      int64_t left = deadline_ - MonotonicMillis();
      struct pollfd p = {ctx_.verdict_fd, POLLIN, 0};
      if (left > 0 && (poll(&p, 1, static_cast<int>(left)) >= 0 || errno == EINTR)) continue;
    }
    Refuse(Outcome::kInternal, "no admission verdict from the parent", 0,
           LimitRefusal(ctx_.protocol));
    return false;
  }
  if (verdict == 0) return true;
  Refuse(Outcome::kRefusedLimit,
         absl::StrCat("refused by the parent: ", AdmissionName(static_cast<Admission>(verdict))),
         Tls() ? static_cast<uint16_t>(parser::TlsAlert::kInternalError) : 503,
         LimitRefusal(ctx_.protocol));
  return false;
}

bool Session::ReadHandshake(std::string initial) {
  parser::ClientHelloReader tls;
  parser::HttpHeadReader http;
  auto feed = [&](const std::string& bytes) {
    return Tls() ? tls.Feed(bytes) : http.Feed(bytes);
  };
  parser::Progress progress = parser::Progress::kNeedMore;
  if (!initial.empty()) progress = feed(initial);
  std::string chunk;
  int err = 0;
  while (progress == parser::Progress::kNeedMore) {
    switch (ReadSome(client_, deadline_, &chunk, &err)) {
      case ReadResult::kData:
        progress = feed(chunk);
        break;
      case ReadResult::kEof:
        Finish(Outcome::kClientClosed, "closed before the handshake completed");
        return false;
      case ReadResult::kTimeout:
        if (Tls()) {
          Finish(Outcome::kHandshakeTimeout, "no complete ClientHello in time");
        } else {
          RefuseHttp(Outcome::kHandshakeTimeout, "no complete request head in time",
                     408, "request head not received in time");
        }
        return false;
      case ReadResult::kError:
        Finish(Outcome::kClientClosed, absl::StrCat("read: ", strerror(err)));
        return false;
    }
  }
  if (Tls()) {
    if (progress == parser::Progress::kError) {
      RefuseTls(Outcome::kRefusedInput, std::string(tls.error().message()), tls.alert());
      return false;
    }
    if (!tls.hostname()) {
      RefuseTls(Outcome::kNoHostname, "ClientHello has no server_name",
                parser::TlsAlert::kUnrecognizedName);
      return false;
    }
    hostname_ = *tls.hostname();
    replay_ = std::string(tls.bytes());
  } else {
    if (progress == parser::Progress::kError && http.is_http2_preface()) {
      Refuse(Outcome::kRefusedInput, std::string(http.error().message()), 505,
             Http2Refusal());
      return false;
    }
    if (progress == parser::Progress::kError) {
      Outcome o = http.status() == 404 ? Outcome::kNoRoute : Outcome::kRefusedInput;
      RefuseHttp(o, std::string(http.error().message()), http.status(),
                 std::string(http.error().message()));
      return false;
    }
    hostname_ = http.hostname();
    replay_ = std::string(http.bytes());
  }
  SetField(report_.hostname, sizeof report_.hostname, hostname_);
  return true;
}

bool Session::AskRoute() {
  RouteRequest request;
  memcpy(request.hostname, hostname_.data(), hostname_.size());  // <= 253
  int rc = SendWithFds(ctx_.report_fd, &request, sizeof request, nullptr, 0, 0);
  if (rc != 0) {
    RefuseInternal(absl::StrCat("route request to the parent: ", strerror(-rc)));
    return false;
  }
  // The parent answers at once, or retries a full listen queue until about
  // --handshake-timeout; wait a little longer than that.
  const int64_t deadline = MonotonicMillis() + ctx_.handshake_timeout_ms + kRouteGraceMs;
  RouteReply reply;
  Received got;
  for (;;) {
    rc = RecvWithFds(ctx_.report_fd, &reply, sizeof reply, MSG_DONTWAIT, &got);
    if (rc == -EINTR) continue;
    if (rc != -EAGAIN) break;
    int64_t left = deadline - MonotonicMillis();
    struct pollfd p = {ctx_.report_fd, POLLIN, 0};
    if (left <= 0 || (poll(&p, 1, static_cast<int>(left)) < 0 && errno != EINTR)) {
      RefuseInternal("no route from the parent in time");
      return false;
    }
  }
  const bool routed = reply.result == RouteReply::kRouted;
  if (rc != 0 || got.len != static_cast<ssize_t>(sizeof reply) || got.truncated ||
      got.fds_truncated || reply.magic != kRouteReplyMagic ||
      got.nfds != (routed ? 1 : 0)) {
    got.CloseFds();
    RefuseInternal(rc != 0 ? absl::StrCat("route reply: ", strerror(-rc))
                           : "no well-formed route reply from the parent");
    return false;
  }
  // The parent logs why it refused; the child only answers the client.
  if (reply.result == RouteReply::kNoRoute) {
    if (Tls()) {
      RefuseTls(Outcome::kNoRoute, "refused by the route broker",
                parser::TlsAlert::kUnrecognizedName);
    } else {
      RefuseHttp(Outcome::kNoRoute, "refused by the route broker", 404,
                 absl::StrCat("no route for host ", hostname_));
    }
    return false;
  }
  if (!routed) {
    if (Tls()) {
      RefuseTls(Outcome::kBackendDown, "the route broker could not connect",
                parser::TlsAlert::kInternalError);
    } else {
      RefuseHttp(Outcome::kBackendDown, "the route broker could not connect", 502,
                 absl::StrCat("backend for ", hostname_, " is not available"));
    }
    return false;
  }
  backend_ = got.fds[0];
  report_.proxy_header_sent = reply.proxy_header_sent;
  return true;
}

bool Session::Replay() {
  int rc = WriteAll(backend_, replay_, MonotonicMillis() + ctx_.handshake_timeout_ms);
  close(backend_);  // the parent holds its own copy for the relay
  backend_ = -1;
  if (rc != 0) {
    std::string why = absl::StrCat("replay to backend: ", strerror(-rc));
    if (Tls()) {
      RefuseTls(Outcome::kBackendDown, why, parser::TlsAlert::kInternalError);
    } else {
      RefuseHttp(Outcome::kBackendDown, why, 502, "backend did not accept the request");
    }
    return false;
  }
  report_.bytes_up = replay_.size();
  Finish(Outcome::kHandedOff, "replayed; relaying");
  return true;
}

}  // namespace

std::string LimitRefusal(Protocol protocol) {
  return protocol == Protocol::kHttp
             ? parser::ErrorResponse(503, "server busy, try again later")
             : parser::FatalAlertRecord(parser::TlsAlert::kInternalError);
}

ChildReport ServeConnection(int client, const ChildContext& ctx) {
  Session session(client, ctx);
  return session.Run();
}

}  // namespace sallyport::proxy
