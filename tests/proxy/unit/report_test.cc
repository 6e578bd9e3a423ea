// SPDX-License-Identifier: Apache-2.0
#include "proxy/report.h"

#include <cstring>

#include "gtest/gtest.h"

namespace sallyport::proxy {
namespace {

TEST(Report, DefaultIsValid) {
  ChildReport r;
  EXPECT_TRUE(ValidateReport(r));
}

TEST(Report, SetFieldTruncatesAndSanitises) {
  char f[8];
  SetField(f, sizeof f, std::string("ab\ncd\x80" "efghij"));
  EXPECT_STREQ(f, "ab?cd?e");
}

TEST(Report, RejectsBadMagicOutcomeAndUnterminatedFields) {
  ChildReport r;
  r.magic = 0;
  EXPECT_FALSE(ValidateReport(r));
  r = ChildReport();
  r.outcome = static_cast<Outcome>(0);
  EXPECT_FALSE(ValidateReport(r));
  r.outcome = static_cast<Outcome>(200);
  EXPECT_FALSE(ValidateReport(r));
  r = ChildReport();
  memset(r.hostname, 'a', sizeof r.hostname);  // no NUL
  EXPECT_FALSE(ValidateReport(r));
  r = ChildReport();
  r.detail[0] = '\x1b';  // escape sequences never reach the log
  EXPECT_FALSE(ValidateReport(r));
  r = ChildReport();
  r.proxy_header_sent = 3;
  EXPECT_FALSE(ValidateReport(r));
}

TEST(Report, EveryOutcomeHasAName) {
  for (int o = static_cast<int>(Outcome::kRelayed);
       o <= static_cast<int>(Outcome::kInternal); ++o) {
    EXPECT_STRNE(OutcomeName(static_cast<Outcome>(o)), "invalid") << o;
  }
}

}  // namespace
}  // namespace sallyport::proxy
