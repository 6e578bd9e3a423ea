// SPDX-License-Identifier: Apache-2.0
#include "proxy/child.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "parser/proxy_protocol.h"
#include "proxy/handoff.h"
#include "proxy/limits.h"
#include "proxy/protocol.h"
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

// Sends a refusal, then half-closes and drains briefly so the peer reads it.
void SendAndLinger(int client, const std::string& bytes) {
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
  Session(int client, const ChildContext& ctx)
      : client_(client), ctx_(ctx), rules_(ProtocolRules::For(ctx.protocol)) {
    endpoints_ = ctx.endpoints;
  }

  ChildReport Run();

 private:
  // Each returns false when the connection is finished (report filled in).
  bool ReadProxyHeader(std::string* rest);
  bool AwaitAdmission();
  bool ReadHandshake(const std::string& initial);
  bool AskRoute();  // the parent's route broker: the backend, or a refusal
  bool Replay();

  // The one read loop: reads until `feed` returns kDone or kError (true), or
  // the client closes, errs or the deadline passes (false, report filled in:
  // `closed` names the phase, `timeout` is the refusal).
  template <typename Feed>
  bool ReadUntilParsed(Feed feed, const char* closed, const Refusal& timeout);

  void Refuse(const Refusal& refusal) {
    Finish(refusal.outcome, refusal.detail);
    report_.answered = refusal.answer.code;
    if (!refusal.answer.bytes.empty()) SendAndLinger(client_, refusal.answer.bytes);
  }
  void RefuseInternal(const std::string& detail) {
    Refuse(Refusal{Outcome::kInternal, detail, rules_.Busy()});
  }
  void Finish(Outcome outcome, const std::string& detail) {
    report_.outcome = outcome;
    SetField(report_.detail, sizeof report_.detail, detail);
  }

  int client_;
  const ChildContext& ctx_;
  const ProtocolRules& rules_;
  parser::ProxyEndpoints endpoints_;
  bool proxied_ = false;  // endpoints_ came from the balancer's header
  int64_t deadline_ = 0;
  std::string hostname_;
  std::string replay_;
  ChildReport report_;
  int backend_ = -1;  // from the route broker, until the replay is written
};

template <typename Feed>
bool Session::ReadUntilParsed(Feed feed, const char* closed, const Refusal& timeout) {
  std::string chunk;
  int err = 0;
  for (;;) {
    switch (ReadSome(client_, deadline_, &chunk, &err)) {
      case ReadResult::kData:
        if (feed(chunk) != parser::Progress::kNeedMore) return true;
        break;
      case ReadResult::kEof:
        Finish(Outcome::kClientClosed, closed);
        return false;
      case ReadResult::kTimeout:
        Refuse(timeout);
        return false;
      case ReadResult::kError:
        Finish(Outcome::kClientClosed, absl::StrCat("read: ", strerror(err)));
        return false;
    }
  }
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
  if (!ReadHandshake(rest)) return report_;
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
  // Silence on a timeout in both protocols: the balancer is no client.
  const Refusal timeout{Outcome::kHandshakeTimeout, "no PROXY header in time", {}};
  if (!ReadUntilParsed([&](absl::string_view b) { return reader.Feed(b); },
                       "closed before the PROXY header", timeout)) {
    return false;
  }
  if (reader.progress() == parser::Progress::kError) {
    Refuse(rules_.BadProxyHeader(reader.error().message()));
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
    RefuseInternal("no admission verdict from the parent");
    return false;
  }
  if (verdict == 0) return true;
  Refuse(Refusal{
      Outcome::kRefusedLimit,
      absl::StrCat("refused by the parent: ", AdmissionName(static_cast<Admission>(verdict))),
      rules_.Busy()});
  return false;
}

bool Session::ReadHandshake(const std::string& initial) {
  std::unique_ptr<HeadReader> reader = rules_.NewReader();
  auto feed = [&](absl::string_view b) { return reader->Feed(b); };
  if (initial.empty() || feed(initial) == parser::Progress::kNeedMore) {
    if (!ReadUntilParsed(feed, "closed before the handshake completed",
                         rules_.HandshakeTimeout())) {
      return false;
    }
  }
  HeadResult head = reader->Result();
  if (!head.ok) {
    Refuse(head.refusal);
    return false;
  }
  hostname_ = std::move(head.hostname);
  replay_ = std::move(head.bytes);
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
    Refuse(rules_.NoRoute(hostname_));
    return false;
  }
  if (!routed) {
    Refuse(rules_.BackendDown(hostname_));
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
    Refuse(rules_.ReplayFailed(strerror(-rc)));
    return false;
  }
  report_.bytes_up = replay_.size();
  Finish(Outcome::kHandedOff, "replayed; relaying");
  return true;
}

}  // namespace

ChildReport ServeConnection(int client, const ChildContext& ctx) {
  Session session(client, ctx);
  return session.Run();
}

}  // namespace sallyport::proxy
