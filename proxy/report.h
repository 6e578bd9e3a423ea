// SPDX-License-Identifier: Apache-2.0
// proxy/report.h — what a child tells the parent about its connection.
//
// Side of the trust boundary: written by the child (which handled hostile
// bytes and may be compromised), read by the parent. The parent therefore
// treats a report as untrusted: fixed size, read once, every field checked
// (ValidateReport) before use, and a missing or malformed report is logged
// as such. Each report is one message on the child's SOCK_SEQPACKET report
// channel; a kHandedOff report carries exactly two descriptors (the client
// socket, which must be the one the parent handed over, and the backend
// socket), any other carries none.
#ifndef SALLYPORT_PROXY_REPORT_H_
#define SALLYPORT_PROXY_REPORT_H_

#include <limits.h>

#include <cstdint>
#include <string>

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
  // Routed, PROXY header and replay written: the report carries the client
  // and backend sockets (SCM_RIGHTS) for the relay. Never logged as such:
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

struct SourceReport {
  uint32_t magic = kSourceMagic;
  // 4 or 6: addr/port are the client's. 0: the header was LOCAL (a health
  // check) or of an unknown family, so the balancer itself is the client.
  uint8_t family = 0;
  uint8_t reserved = 0;  // must be 0
  uint16_t port = 0;
  uint8_t addr[16] = {};  // IPv4 in the first 4 bytes, the rest zero
};
static_assert(sizeof(SourceReport) == 24, "fixed layout, one atomic write");

// Checks magic, family, zero padding (IPv4: bytes 4..15; family 0: all).
bool ValidateSourceReport(const SourceReport& r);

// Copies `s` into a fixed field, truncating, replacing non-printable bytes.
void SetField(char* field, size_t size, const std::string& s);
// Checks magic, enum range, NUL termination and printable contents.
bool ValidateReport(const ChildReport& r);

}  // namespace sallyport::proxy

#endif  // SALLYPORT_PROXY_REPORT_H_
