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
// the limits live; the key is the peer address the parent accepted (with
// --accept-proxy that is the upstream balancer, documented).
#ifndef SALLYPORT_PROXY_LIMITS_H_
#define SALLYPORT_PROXY_LIMITS_H_

#include <cstdint>
#include <string>

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
