// SPDX-License-Identifier: Apache-2.0
#include "proxy/limits.h"

#include <signal.h>


#include "gtest/gtest.h"

namespace sallyport::proxy {
namespace {

LimitsConfig Small() {
  LimitsConfig c;
  c.max_connections = 3;
  c.max_per_source = 2;
  c.rate_per_source = 1;
  c.burst_per_source = 5;
  c.crashes_before_throttle = 3;
  c.crash_window_seconds = 60;
  c.throttle_seconds = 100;
  return c;
}

TEST(Limits, PerSourceCapRefusesOnlyThatSource) {
  Limits l(Small());
  EXPECT_EQ(l.Admit("a", 0), Admission::kAdmit);
  EXPECT_EQ(l.Admit("a", 0), Admission::kAdmit);
  EXPECT_EQ(l.Admit("a", 0), Admission::kSourceCap);
  EXPECT_EQ(l.Admit("b", 0), Admission::kAdmit);
  EXPECT_EQ(l.live(), 3);
  l.Release("a");
  EXPECT_EQ(l.Admit("a", 0), Admission::kAdmit);
}

TEST(Limits, GlobalCap) {
  Limits l(Small());
  EXPECT_EQ(l.Admit("a", 0), Admission::kAdmit);
  EXPECT_EQ(l.Admit("b", 0), Admission::kAdmit);
  EXPECT_EQ(l.Admit("c", 0), Admission::kAdmit);
  EXPECT_EQ(l.Admit("d", 0), Admission::kGlobalCap);
  l.Release("c");
  EXPECT_EQ(l.Admit("d", 0), Admission::kAdmit);
}

TEST(Limits, TokenBucketRefillsAtTheRate) {
  LimitsConfig c = Small();
  c.max_per_source = 100;
  c.max_connections = 100;
  Limits l(c);
  for (int i = 0; i < 5; ++i) {
    ASSERT_EQ(l.Admit("a", 10), Admission::kAdmit) << i;
    l.Release("a");
  }
  EXPECT_EQ(l.Admit("a", 10), Admission::kRateLimited);
  EXPECT_EQ(l.Admit("a", 10.5), Admission::kRateLimited);  // half a token
  EXPECT_EQ(l.Admit("a", 11.01), Admission::kAdmit);       // one token back
  EXPECT_EQ(l.Admit("b", 11.01), Admission::kAdmit);       // others unaffected
}

TEST(Limits, ReleaseOfUnknownOrIdleSourceIsHarmless) {
  Limits l(Small());
  l.Release("nobody");
  EXPECT_EQ(l.live(), 0);
  EXPECT_EQ(l.Admit("a", 0), Admission::kAdmit);
  l.Release("a");
  l.Release("a");
  EXPECT_EQ(l.live(), 0);
}

TEST(Limits, RepeatedCrashesThrottleTheSource) {
  Limits l(Small());
  ASSERT_EQ(l.Admit("evil", 0), Admission::kAdmit);
  EXPECT_FALSE(l.RecordCrash("evil", 1));
  EXPECT_FALSE(l.RecordCrash("evil", 2));
  EXPECT_TRUE(l.RecordCrash("evil", 3));
  l.Release("evil");
  EXPECT_EQ(l.Admit("evil", 4), Admission::kCrashThrottled);
  EXPECT_EQ(l.Admit("good", 4), Admission::kAdmit);
  EXPECT_EQ(l.Admit("evil", 102), Admission::kCrashThrottled);
  EXPECT_EQ(l.Admit("evil", 104), Admission::kAdmit);  // throttle over
}

TEST(Limits, CrashesOutsideTheWindowDoNotAccumulate) {
  Limits l(Small());
  ASSERT_EQ(l.Admit("x", 0), Admission::kAdmit);
  EXPECT_FALSE(l.RecordCrash("x", 0));
  EXPECT_FALSE(l.RecordCrash("x", 30));
  EXPECT_FALSE(l.RecordCrash("x", 100));  // window restarted at 100
  EXPECT_FALSE(l.RecordCrash("x", 120));
  EXPECT_TRUE(l.RecordCrash("x", 130));
}

TEST(Limits, TableIsBoundedAndEvictsIdleSources) {
  LimitsConfig c;
  c.max_connections = 1 << 30;
  c.max_per_source = 1;
  Limits l(c);
  for (size_t i = 0; i < kMaxTrackedSources; ++i) {
    std::string s = "s" + std::to_string(i);
    ASSERT_EQ(l.Admit(s, 0), Admission::kAdmit);
    if (i % 2 == 0) l.Release(s);
  }
  EXPECT_EQ(l.tracked_sources(), kMaxTrackedSources);
  // Released sources whose bucket has refilled are forgotten to make room.
  EXPECT_EQ(l.Admit("new", 1000), Admission::kAdmit);
  EXPECT_LE(l.tracked_sources(), kMaxTrackedSources / 2 + 1);
}

TEST(Limits, FullTableOfBusySourcesRefusesNewOnes) {
  LimitsConfig c;
  c.max_connections = 1 << 30;
  Limits l(c);
  for (size_t i = 0; i < kMaxTrackedSources; ++i) {
    ASSERT_EQ(l.Admit("s" + std::to_string(i), 0), Admission::kAdmit);
  }
  EXPECT_EQ(l.Admit("new", 1000), Admission::kTableFull);
  EXPECT_EQ(l.Admit("s1", 1000), Admission::kAdmit);  // known sources still served
}

TEST(Limits, EveryAdmissionHasAName) {
  for (Admission a : {Admission::kAdmit, Admission::kGlobalCap, Admission::kSourceCap,
                      Admission::kRateLimited, Admission::kCrashThrottled,
                      Admission::kTableFull}) {
    EXPECT_STRNE(AdmissionName(a), "unknown");
  }
}

}  // namespace
}  // namespace sallyport::proxy

namespace sallyport::proxy {
namespace {

TEST(FaultSignals, FaultsCountAndStopSignalsDoNot) {
  for (int sig : {SIGSYS, SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT, SIGTRAP,
                  SIGXCPU, SIGXFSZ, SIGALRM}) {
    EXPECT_TRUE(IsFaultSignal(sig)) << sig;
  }
  for (int sig : {SIGTERM, SIGINT, SIGHUP, SIGKILL, SIGQUIT, SIGUSR1, SIGUSR2,
                  SIGPIPE, SIGCHLD, 0}) {
    EXPECT_FALSE(IsFaultSignal(sig)) << sig;
  }
}

TEST(CrashBudget, PausesOnTheCrashThatExceedsTheBudget) {
  CrashBudget b({/*max_crashes=*/3, /*window_seconds=*/60, /*pause_seconds=*/30});
  EXPECT_FALSE(b.Record(0));
  EXPECT_FALSE(b.Record(10));
  EXPECT_FALSE(b.Record(20));
  EXPECT_EQ(b.Recent(20), 3);
  EXPECT_FALSE(b.Paused(20));
  EXPECT_TRUE(b.Record(30));  // the fourth within 60 s
  EXPECT_TRUE(b.Paused(30));
  EXPECT_TRUE(b.Paused(59.9));
  EXPECT_FALSE(b.Paused(60));
  EXPECT_DOUBLE_EQ(b.paused_until(), 60);
  EXPECT_EQ(b.Recent(30), 0);  // counting starts afresh after a pause
}

TEST(CrashBudget, CrashesOutsideTheWindowExpire) {
  CrashBudget b({3, 60, 30});
  EXPECT_FALSE(b.Record(0));
  EXPECT_FALSE(b.Record(1));
  EXPECT_FALSE(b.Record(2));
  EXPECT_FALSE(b.Record(61));  // 0 and 1 have left the window
  EXPECT_EQ(b.Recent(61), 2);
  EXPECT_FALSE(b.Record(61.5));
  EXPECT_TRUE(b.Record(61.8));  // 2, 61, 61.5, 61.8: four within 60 s
}

}  // namespace
}  // namespace sallyport::proxy
