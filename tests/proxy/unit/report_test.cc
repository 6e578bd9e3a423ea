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

TEST(SourceReport, ValidShapes) {
  SourceReport local;
  EXPECT_TRUE(ValidateSourceReport(local));  // family 0: the balancer itself
  SourceReport v4;
  v4.family = 4;
  v4.port = 40001;
  v4.addr[0] = 203;
  v4.addr[3] = 7;
  EXPECT_TRUE(ValidateSourceReport(v4));
  SourceReport v6;
  v6.family = 6;
  std::memset(v6.addr, 0xab, sizeof v6.addr);
  EXPECT_TRUE(ValidateSourceReport(v6));
}

TEST(SourceReport, EveryMalformedFieldIsRefused) {
  SourceReport r;
  r.magic = kReportMagic;  // a ChildReport's magic is not a SourceReport's
  EXPECT_FALSE(ValidateSourceReport(r));
  for (uint8_t family : {1, 5, 7, 255}) {
    SourceReport f;
    f.family = family;
    EXPECT_FALSE(ValidateSourceReport(f)) << int(family);
  }
  SourceReport pad;
  pad.reserved = 1;
  EXPECT_FALSE(ValidateSourceReport(pad));
  SourceReport v4;
  v4.family = 4;
  v4.addr[4] = 1;  // past an IPv4 address
  EXPECT_FALSE(ValidateSourceReport(v4));
  SourceReport local;
  local.addr[15] = 1;  // family 0 carries no address
  EXPECT_FALSE(ValidateSourceReport(local));
  SourceReport local_port;
  local_port.port = 80;
  EXPECT_FALSE(ValidateSourceReport(local_port));
}

TEST(SourceReport, DestinationPaddingAndLocalDestinationAreRefused) {
  SourceReport v4;
  v4.family = 4;
  v4.dst_port = 443;
  v4.dst_addr[0] = 10;
  EXPECT_TRUE(ValidateSourceReport(v4));
  SourceReport pad = v4;
  pad.dst_addr[4] = 1;  // beyond an IPv4 address
  EXPECT_FALSE(ValidateSourceReport(pad));
  SourceReport reserved = v4;
  reserved.reserved2 = 1;
  EXPECT_FALSE(ValidateSourceReport(reserved));
  SourceReport local;
  local.dst_port = 443;  // family 0 carries no address at all
  EXPECT_FALSE(ValidateSourceReport(local));
}

TEST(SourceReport, EndpointsRoundTripThroughTheReport) {
  parser::ProxyEndpoints v6;
  v6.family = parser::ProxyEndpoints::Family::kTcp6;
  v6.src_addr = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 7};
  v6.dst_addr = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
  v6.src_port = 50000;
  v6.dst_port = 443;
  parser::ProxyEndpoints v4;
  v4.family = parser::ProxyEndpoints::Family::kTcp4;
  v4.src_addr = {192, 0, 2, 7};
  v4.dst_addr = {198, 51, 100, 1};
  v4.src_port = 1;
  v4.dst_port = 80;
  for (const parser::ProxyEndpoints& e : {v4, v6}) {
    SourceReport r = SourceFor(e);
    EXPECT_TRUE(ValidateSourceReport(r));
    EXPECT_EQ(EndpointsOf(r), e);
  }
  EXPECT_EQ(SourceFor(v4).family, 4);
  EXPECT_EQ(SourceFor(v6).family, 6);
  SourceReport unknown = SourceFor(parser::ProxyEndpoints{});
  EXPECT_EQ(unknown.family, 0);
  EXPECT_TRUE(ValidateSourceReport(unknown));
}

TEST(RouteRequest, TakesANulTerminatedZeroPaddedName) {
  RouteRequest r;
  std::memcpy(r.hostname, "app.example.test", 16);
  std::string name;
  ASSERT_TRUE(ValidateRouteRequest(r, &name));
  EXPECT_EQ(name, "app.example.test");
}

TEST(RouteRequest, RefusesEveryMalformedShape) {
  std::string name;
  RouteRequest empty;
  EXPECT_FALSE(ValidateRouteRequest(empty, &name));
  RouteRequest magic;
  std::memcpy(magic.hostname, "a.test", 6);
  magic.magic = kReportMagic;
  EXPECT_FALSE(ValidateRouteRequest(magic, &name));
  RouteRequest unterminated;
  std::memset(unterminated.hostname, 'a', sizeof unterminated.hostname);
  EXPECT_FALSE(ValidateRouteRequest(unterminated, &name));
  RouteRequest junk;
  std::memcpy(junk.hostname, "a.test", 6);
  junk.hostname[200] = 'x';  // bytes after the NUL: not what a child builds
  EXPECT_FALSE(ValidateRouteRequest(junk, &name));
}

TEST(CheckRequestedName, AcceptsOnlyWhatTheParsersProduce) {
  EXPECT_TRUE(CheckRequestedName("app.example.test").ok());
  EXPECT_TRUE(CheckRequestedName("x").ok());
  for (const char* bad : {"App.Example.Test", "app.example.test.", "", "..", "a/b",
                          "../etc", "a..b", "-a.test", "192.0.2.1", "[::1]",
                          "caf\xc3\xa9.test"}) {
    absl::Status st = CheckRequestedName(bad);
    EXPECT_FALSE(st.ok()) << bad;
    EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument) << bad;
  }
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
