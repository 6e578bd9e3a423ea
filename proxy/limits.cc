// SPDX-License-Identifier: Apache-2.0
#include "proxy/limits.h"

#include <signal.h>

#include <algorithm>

namespace sallyport::proxy {

const char* AdmissionName(Admission a) {
  switch (a) {
    case Admission::kAdmit: return "admitted";
    case Admission::kGlobalCap: return "over --max-connections";
    case Admission::kSourceCap: return "over --max-per-ip";
    case Admission::kRateLimited: return "over --rate-per-ip";
    case Admission::kCrashThrottled: return "source throttled after crashing children";
    case Admission::kTableFull: return "too many distinct sources";
  }
  return "unknown";
}

double Limits::TokensAt(const Source& s, double now) const {
  return std::min(config_.burst_per_source,
                  s.tokens + (now - s.refilled_at) * config_.rate_per_source);
}

bool Limits::MakeRoom(double now) {
  // Evict sources with no live connection, no running throttle and a full
  // bucket: forgetting them changes no decision.
  for (auto it = sources_.begin(); it != sources_.end();) {
    const Source& s = it->second;
    bool idle = s.live == 0 && s.throttled_until <= now &&
                TokensAt(s, now) >= config_.burst_per_source &&
                (s.crashes == 0 || now - s.first_crash_at > config_.crash_window_seconds);
    if (idle) {
      sources_.erase(it++);
    } else {
      ++it;
    }
  }
  return sources_.size() < kMaxTrackedSources;
}

Admission Limits::Admit(const std::string& source, double now) {
  auto it = sources_.find(source);
  if (it == sources_.end()) {
    if (sources_.size() >= kMaxTrackedSources && !MakeRoom(now)) {
      return Admission::kTableFull;
    }
    Source fresh;
    fresh.tokens = config_.burst_per_source;
    fresh.refilled_at = now;
    it = sources_.emplace(source, fresh).first;
  }
  Source& s = it->second;
  if (s.throttled_until > now) return Admission::kCrashThrottled;
  s.tokens = TokensAt(s, now);
  s.refilled_at = now;
  if (live_ >= config_.max_connections) return Admission::kGlobalCap;
  if (s.live >= config_.max_per_source) return Admission::kSourceCap;
  if (s.tokens < 1) return Admission::kRateLimited;
  s.tokens -= 1;
  ++s.live;
  ++live_;
  return Admission::kAdmit;
}

void Limits::Release(const std::string& source) {
  auto it = sources_.find(source);
  if (it == sources_.end() || it->second.live == 0) return;
  --it->second.live;
  --live_;
}

bool Limits::RecordCrash(const std::string& source, double now) {
  auto it = sources_.find(source);
  if (it == sources_.end()) return false;
  Source& s = it->second;
  if (s.crashes == 0 || now - s.first_crash_at > config_.crash_window_seconds) {
    s.crashes = 0;
    s.first_crash_at = now;
  }
  ++s.crashes;
  if (s.crashes >= config_.crashes_before_throttle && s.throttled_until <= now) {
    s.throttled_until = now + config_.throttle_seconds;
    s.crashes = 0;
    return true;
  }
  return false;
}

bool IsFaultSignal(int sig) {
  switch (sig) {
    case SIGSYS: case SIGSEGV: case SIGBUS: case SIGILL: case SIGFPE:
    case SIGABRT: case SIGTRAP: case SIGXCPU: case SIGXFSZ: case SIGALRM:
      return true;
    default:
      return false;
  }
}

int CrashBudget::Recent(double now) const {
  int n = 0;
  for (double t : times_) {
    if (now - t < config_.window_seconds) ++n;
  }
  return n;
}

bool CrashBudget::Record(double now) {
  times_.erase(std::remove_if(times_.begin(), times_.end(),
                              [&](double t) { return now - t >= config_.window_seconds; }),
               times_.end());
  times_.push_back(now);
  if (static_cast<int>(times_.size()) <= config_.max_crashes) return false;
  // Over budget: pause, and start counting afresh after it.
  times_.clear();
  paused_until_ = now + config_.pause_seconds;
  return true;
}

}  // namespace sallyport::proxy
