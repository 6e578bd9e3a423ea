// SPDX-License-Identifier: Apache-2.0
#include "absl/status/statusor.h"
#include "gtest/gtest.h"
TEST(Toolchain, AbslWorks) {
  absl::StatusOr<int> v = absl::InvalidArgumentError("x");
  EXPECT_FALSE(v.ok());
}
