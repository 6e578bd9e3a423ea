// SPDX-License-Identifier: Apache-2.0
// proxy/limits.h — admission control in the parent: global and per-source
// connection caps, a per-source token bucket for the connection rate, and a
// per-source crash throttle.
//
// Side of the trust boundary: parent (acceptor). Pure: time is passed in
// (monotonic seconds), no syscalls, no globals. Memory is bounded: at most
// kMaxTrackedSources sources are tracked; when full, idle entries are
// evicted first and a new source is refused only if every tracked source has
// a live connection (fail closed under a flood of distinct addresses, which
// the global cap bounds anyway).
//
// The front end is the only place that sees aggregate load, so this is where
// the limits live. The key is the client's address: the peer the parent
// accepted, or, with --accept-proxy, the client address of the trusted
// balancer's PROXY header (reported by the child before it reads a client
// byte; proxy/report.h SourceReport). The balancer's own address is keyed
// in a second Limits with balancer-sized settings (proxy/server.h).
//
// Also here: which child deaths count as crashes (IsFaultSignal), and the
// global crash budget (CrashBudget) that pauses accepting when children
// crash too often from all sources together.
#ifndef SALLYPORT_PROXY_LIMITS_H_
#define SALLYPORT_PROXY_LIMITS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"

namespace sallyport::proxy {

struct LimitsConfig {
  int max_connections = 1024;     // live connections, all sources
  int max_per_source = 32;        // live connections from one source
  double rate_per_source = 20;    // new connections per second (bucket refill)
  double burst_per_source = 40;   // bucket size
  int crashes_before_throttle = 3;   // child deaths by signal ...
  double crash_window_seconds = 60;  // ... within this window ...
  double throttle_seconds = 600;     // ... block the source this long
};

enum class Admission {
  kAdmit,
  kGlobalCap,     // --max-connections reached
  kSourceCap,     // --max-per-ip reached
  kRateLimited,   // --rate-per-ip bucket empty
  kCrashThrottled,  // this source crashed children repeatedly
  kTableFull,     // too many distinct sources tracked, all busy
};
const char* AdmissionName(Admission a);

inline constexpr size_t kMaxTrackedSources = 65536;

// True for the signals that mean a fault in the child or a policy
// violation, and so count as a crash (security event, crash throttle,
// crash budget): SIGSYS (seccomp), SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT,
// SIGTRAP, SIGXCPU / SIGXFSZ (a resource limit hit) and SIGALRM (the
// handshake backstop: a parser that never returned to poll). False for
// signals that someone sent to stop it (SIGTERM, SIGINT, SIGHUP, SIGKILL,
// SIGQUIT, SIGUSR1, ...): an operator's `pkill` or a drain is no attack.
bool IsFaultSignal(int sig);

// The global crash budget: at most `max_crashes` crashes from all sources
// together within any `window_seconds`; the crash that exceeds it starts a
// pause of `pause_seconds` during which the acceptor takes no connection
// (they wait in the listen backlog). Per-source throttling cannot stop a
// layout brute force (BROP) spread over many addresses; this bounds its
// rate. Pure: time is passed in.
struct CrashBudgetConfig {
  int max_crashes = 10;
  double window_seconds = 60;
  double pause_seconds = 60;
};

class CrashBudget {
 public:
  explicit CrashBudget(const CrashBudgetConfig& config) : config_(config) {}
  // Records a crash at `now`. Returns true if this crash exhausts the
  // budget: a pause until paused_until() starts now.
  bool Record(double now);
  bool Paused(double now) const { return now < paused_until_; }
  double paused_until() const { return paused_until_; }
  // Crashes counted within the window ending at `now`.
  int Recent(double now) const;

 private:
  CrashBudgetConfig config_;
  std::vector<double> times_;  // crash times inside the window, oldest first
  double paused_until_ = 0;
};

class Limits {
 public:
  explicit Limits(const LimitsConfig& config) : config_(config) {
    // A bucket that holds less than one token admits nothing, ever (e.g.
    // --rate-per-ip=0.25 gave a burst of 0.5): it always holds at least one.
    if (!(config_.burst_per_source >= 1)) config_.burst_per_source = 1;
  }

  // Decides on a new connection from `source` (an address string) at time
  // `now`. On kAdmit the connection is counted until Release().
  Admission Admit(const std::string& source, double now);
  // The connection admitted for `source` has ended.
  void Release(const std::string& source);
  // A child serving `source` died by a signal (SIGSYS, SIGSEGV, ...).
  // Returns true if this crash starts a throttle for the source.
  bool RecordCrash(const std::string& source, double now);

  int live() const { return live_; }
  size_t tracked_sources() const { return sources_.size(); }

 private:
  struct Source {
    int live = 0;
    double tokens = 0;
    double refilled_at = 0;
    int crashes = 0;
    double first_crash_at = 0;
    double throttled_until = 0;
  };
  // The source's bucket at `now`, refilled at the configured rate.
  double TokensAt(const Source& s, double now) const;
  bool MakeRoom(double now);

  LimitsConfig config_;
  int live_ = 0;
  absl::flat_hash_map<std::string, Source> sources_;
};

}  // namespace sallyport::proxy

#endif  // SALLYPORT_PROXY_LIMITS_H_
