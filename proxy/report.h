// SPDX-License-Identifier: Apache-2.0
// proxy/report.h — what a child tells the parent about its connection.
//
// Side of the trust boundary: written by the child (which handled hostile
// bytes and may be compromised), read by the parent. The parent therefore
// treats a report as untrusted: fixed size, read once, every field checked
// (ValidateReport) before use, and a missing or malformed report is logged
// as such. Each is one message on the child's SOCK_SEQPACKET report channel,
// and a child never sends a descriptor: the parent keeps its own copy of the
// client socket and of the backend socket it connected (the route broker,
// proxy/route_broker.h), and passes those on to the relay.
//
// The conversation on the channel, in order (anything else, any
// descriptor, a message of the wrong size: the parent logs a security event
// and kills the child):
//   child → parent  [SourceReport]   --accept-proxy only, before any client
//                                    byte is parsed; answered on the verdict
//                                    pipe
//   child → parent  [RouteRequest]   the canonical host name, at most once
//   parent → child  RouteReply       with the backend socket when routed
//   child → parent  ChildReport      the last message, then the child exits
#ifndef SALLYPORT_PROXY_REPORT_H_
#define SALLYPORT_PROXY_REPORT_H_

#include <limits.h>

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "parser/proxy_protocol.h"

namespace sallyport::proxy {

inline constexpr uint32_t kReportMagic = 0x53505254;  // "SPRT"

// How the connection ended, from the child's point of view.
enum class Outcome : uint8_t {
  kRelayed = 1,          // routed and relayed until both sides closed
  kRefusedInput,         // malformed handshake: answered with alert/status
  kNoHostname,           // TLS without SNI
  kNoRoute,              // unknown host or refused by the ownership policy
  kBackendDown,          // connecting to the backend socket failed
  kHandshakeTimeout,     // --handshake-timeout expired
  kClientClosed,         // client closed before the handshake completed
  kIdleTimeout,          // relay idle for --idle-timeout
  kRelayError,           // a socket error during relay (reset, ...)
  kBadProxyHeader,       // --accept-proxy and no valid PROXY header
  kInternal,             // a local failure (lockdown, resources)
  kRefusedLimit,         // --accept-proxy: the parent refused the real client
  // Routed, PROXY header and replay written: the parent passes its copies
  // of the client and backend sockets to the relay. Never logged as such:
  // the relay's end of the connection (relayed, idle-timeout, relay-error)
  // is.
  kHandedOff,
};
const char* OutcomeName(Outcome o);

struct ChildReport {
  uint32_t magic = kReportMagic;
  Outcome outcome = Outcome::kInternal;
  uint8_t proxy_header_sent = 0;     // 0 none, 1 v1, 2 v2
  uint16_t answered = 0;             // HTTP status or TLS alert sent, 0 none
  uint64_t bytes_up = 0;             // client -> backend, incl. replayed bytes
  uint64_t bytes_down = 0;           // backend -> client
  char hostname[256] = {};           // canonical name, NUL-terminated
  char detail[320] = {};             // why, NUL-terminated, printable ASCII
};
static_assert(sizeof(ChildReport) <= PIPE_BUF, "one small message");

// With --accept-proxy, what the child tells the parent as soon as it has
// parsed the trusted balancer's PROXY header, before it parses a single
// byte the client sent: the real client's address, so the parent can apply
// the per-client limits and crash throttle to it. The parent answers one
// byte on the verdict pipe: 0 = go on, otherwise the Admission (limits.h)
// that refused it, and the child then answers the refusal itself.
// Untrusted like ChildReport (validated before use); smaller than PIPE_BUF.
inline constexpr uint32_t kSourceMagic = 0x53505352;  // "SPSR"

//
// It carries the header's destination too: the route broker writes the
// PROXY header it sends to a backend from this report (trusted as far as
// the balancer is: sent before a client byte is parsed), never from what
// the child says later.
struct SourceReport {
  uint32_t magic = kSourceMagic;
  // 4 or 6: addr/port are the client's, dst_addr/dst_port the address the
  // client connected to. 0: the header was LOCAL (a health check) or of an
  // unknown family, so the balancer itself is the client.
  uint8_t family = 0;
  uint8_t reserved = 0;  // must be 0
  uint16_t port = 0;
  uint8_t addr[16] = {};  // IPv4 in the first 4 bytes, the rest zero
  uint16_t dst_port = 0;
  uint16_t reserved2 = 0;  // must be 0
  uint8_t dst_addr[16] = {};  // as addr
};
static_assert(sizeof(SourceReport) == 44, "fixed layout, one atomic write");

// Checks magic, family, zero padding (IPv4: bytes 4..15 of both addresses;
// family 0: every field but magic).
bool ValidateSourceReport(const SourceReport& r);

// The two halves of a SourceReport's addresses: what the child writes from
// the balancer's header (kTcp4 → family 4, kTcp6 → 6, kUnknown → a report
// of family 0, no address) and what the parent reads back for the PROXY
// header it writes (family 4 or 6 only: a validated report).
SourceReport SourceFor(const parser::ProxyEndpoints& endpoints);
parser::ProxyEndpoints EndpointsOf(const SourceReport& r);

// What the child asks the parent once it knows the host name: the name as
// the child's parser canonicalised it. The parent checks it is exactly what
// parser::CanonicalHostname makes of it (so a compromised child can ask for
// no more than a client could), then decides and connects the route itself.
inline constexpr uint32_t kRouteMagic = 0x53505251;  // "SPRQ"

struct RouteRequest {
  uint32_t magic = kRouteMagic;
  char hostname[256] = {};  // NUL-terminated, zero after the NUL
};

// Checks magic, NUL termination and zero padding; `*name` gets the name
// (not yet checked to be canonical: CheckRequestedName).
bool ValidateRouteRequest(const RouteRequest& r, std::string* name);

// OK when `name` is exactly what parser::CanonicalHostname makes of it (a
// name the child's parsers could have produced from a client's bytes),
// else InvalidArgument saying why. IP literals are refused too (NotFound
// from the canonicaliser: no host directory can be named so).
absl::Status CheckRequestedName(absl::string_view name);

// The parent's answer. kRouted comes with exactly one descriptor, the
// backend socket (connected, the PROXY header already written); the others
// with none. The child trusts it.
inline constexpr uint32_t kRouteReplyMagic = 0x53505250;  // "SPRP"

struct RouteReply {
  enum Result : uint8_t { kRouted = 0, kNoRoute = 1, kBackendDown = 2 };
  uint32_t magic = kRouteReplyMagic;
  Result result = kNoRoute;
  uint8_t proxy_header_sent = 0;  // 0 none, 1 v1, 2 v2 (kRouted)
  uint16_t reserved = 0;
};
static_assert(sizeof(RouteReply) == 8, "fixed layout");

// Copies `s` into a fixed field, truncating, replacing non-printable bytes.
void SetField(char* field, size_t size, const std::string& s);
// Checks magic, enum range, NUL termination and printable contents.
bool ValidateReport(const ChildReport& r);

}  // namespace sallyport::proxy

#endif  // SALLYPORT_PROXY_REPORT_H_
