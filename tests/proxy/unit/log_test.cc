// SPDX-License-Identifier: Apache-2.0
#include "proxy/log.h"

#include "gtest/gtest.h"

namespace sallyport::proxy {
namespace {

constexpr double kTime = 1796150000.25;  // 2026-12-01T18:33:20.250Z

TEST(Log, TextLine) {
  LogRecord r("connection");
  r.Str("client", "127.0.0.1:5000").Str("host", "a.example").Int("bytes_up", 12)
      .Seconds("duration", 1.5);
  EXPECT_EQ(r.Format(LogFormat::kText, kTime),
            "2026-12-01T18:33:20.250Z connection client=127.0.0.1:5000 "
            "host=a.example bytes_up=12 duration=1.500");
}

TEST(Log, TextQuotesAndEscapesHostileValues) {
  LogRecord r("connection");
  r.Str("detail", "a b\"c\\d\n\x01=").Str("empty", "");
  EXPECT_EQ(r.Format(LogFormat::kText, kTime),
            "2026-12-01T18:33:20.250Z connection detail=\"a b\\\"c\\\\d\\x0a\\x01=\" "
            "empty=\"\"");
}

TEST(Log, JsonLine) {
  LogRecord r("refused");
  r.Str("reason", "over \"limit\"\n").Int("n", -3);
  EXPECT_EQ(r.Format(LogFormat::kJson, kTime),
            "{\"time\":\"2026-12-01T18:33:20.250Z\",\"event\":\"refused\","
            "\"reason\":\"over \\\"limit\\\"\\u000a\",\"n\":-3}");
}

TEST(Log, OutputIsAlwaysOnePrintableLine) {
  std::string nasty;
  for (int c = 0; c < 256; ++c) nasty.push_back(static_cast<char>(c));
  for (LogFormat f : {LogFormat::kText, LogFormat::kJson}) {
    std::string line = LogRecord("x").Str("v", nasty).Format(f, kTime);
    for (unsigned char c : line) {
      EXPECT_TRUE(c >= 0x20 && c < 0x7f) << int(c);
    }
  }
}

}  // namespace
}  // namespace sallyport::proxy
