// SPDX-License-Identifier: Apache-2.0
#include "proxy/warmup.h"

#include "gtest/gtest.h"
#include "parser/tls_clienthello.h"

namespace sallyport::proxy {
namespace {

TEST(Warmup, SyntheticHelloParsesToItsName) {
  parser::ClientHelloReader r;
  EXPECT_EQ(r.Feed(SyntheticClientHello("x.example.test")), parser::Progress::kDone)
      << r.error();
  ASSERT_TRUE(r.hostname().has_value());
  EXPECT_EQ(*r.hostname(), "x.example.test");
}

TEST(Warmup, ParsersWarmUp) { EXPECT_TRUE(WarmUpParsers().ok()); }

}  // namespace
}  // namespace sallyport::proxy
