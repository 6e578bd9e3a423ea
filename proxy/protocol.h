// SPDX-License-Identifier: Apache-2.0
// proxy/protocol.h — the two protocols sallyport routes, one object each:
// which parser reads a connection's head, and what the client is answered at
// each refusal. The child (proxy/child.cc) and the parent's log line
// (proxy/server.cc) ask this object instead of branching on the protocol.
//
// Contract:
//   - ProtocolRules::For(kTls|kHttp) returns a process-lifetime object; it
//     holds no state, so one object serves every connection.
//   - NewReader() returns a fresh reader for one connection's head. Feed it
//     bytes until it returns kDone or kError, then Result() says either the
//     canonical name and the exact bytes to replay, or the refusal: the
//     outcome for the log, a detail, and the answer for the client.
//   - An Answer is what the client gets before the connection closes: the
//     code the log line carries (a TLS alert number or an HTTP status, 0 for
//     none) and the bytes to send (empty: close without a word, e.g. a TLS
//     handshake timeout, where nothing valid arrived to answer).
//
// Side of the trust boundary: child and parent. Pure: no syscalls, no
// globals beyond the two constant objects.
#ifndef SALLYPORT_PROXY_PROTOCOL_H_
#define SALLYPORT_PROXY_PROTOCOL_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/strings/string_view.h"
#include "parser/progress.h"
#include "proxy/report.h"

namespace sallyport::proxy {

enum class Protocol { kTls, kHttp };

struct Answer {
  uint16_t code = 0;  // TLS alert or HTTP status sent; 0 none
  std::string bytes;  // sent before closing; empty: nothing
};

// Why a connection ends before it is routed, and what the client is told.
struct Refusal {
  Outcome outcome = Outcome::kInternal;
  std::string detail;
  Answer answer;
};

// What a connection's head says once its reader has finished.
struct HeadResult {
  bool ok = false;       // true: hostname and bytes are set; false: refusal
  std::string hostname;  // canonical
  std::string bytes;     // every byte read, to replay exactly
  Refusal refusal;
};

class HeadReader {
 public:
  virtual ~HeadReader() = default;
  // Appends and parses; kNeedMore until the head is whole (kDone) or refused
  // (kError). After either, further bytes are ignored.
  virtual parser::Progress Feed(absl::string_view bytes) = 0;
  // Only once Feed has returned kDone or kError.
  virtual HeadResult Result() const = 0;
};

class ProtocolRules {
 public:
  static const ProtocolRules& For(Protocol protocol);
  virtual ~ProtocolRules() = default;

  virtual Protocol protocol() const = 0;
  virtual const char* name() const = 0;        // "tls" | "http", as logged
  virtual const char* code_field() const = 0;  // the log field of Answer::code
  virtual std::unique_ptr<HeadReader> NewReader() const = 0;

  // The parent is busy or refused the client (limits), or a local failure:
  // HTTP 503, TLS internal_error.
  virtual Answer Busy() const = 0;
  // No complete head before --handshake-timeout.
  virtual Refusal HandshakeTimeout() const = 0;
  // --accept-proxy and the balancer's header is malformed (`why` is the
  // parser's message).
  virtual Refusal BadProxyHeader(absl::string_view why) const = 0;
  // The route broker refused the name (no entry, or the ownership rules).
  virtual Refusal NoRoute(absl::string_view host) const = 0;
  // The route broker could not connect the host's backend.
  virtual Refusal BackendDown(absl::string_view host) const = 0;
  // The backend did not take the replayed head (`why`: the write's error).
  virtual Refusal ReplayFailed(absl::string_view why) const = 0;
};

// Busy() of `protocol`'s rules: what a connection refused for load or
// limits gets, from the parent or from a child told so by the parent.
std::string LimitRefusal(Protocol protocol);

}  // namespace sallyport::proxy

#endif  // SALLYPORT_PROXY_PROTOCOL_H_
