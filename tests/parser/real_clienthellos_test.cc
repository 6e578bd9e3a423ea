// SPDX-License-Identifier: Apache-2.0
// Every real ClientHello capture in testdata/clienthellos/ (see its
// README.md, copied from ../shared/clienthellos) yields the name its JSON
// says the client was given: fed whole, byte by byte, and re-recorded into
// records of N bytes. A capture that is missing, or one present but not
// listed here, fails the test.
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "parser/sni_extractor.h"
#include "parser/tls_clienthello.h"
#include "tests/parser/clienthello_builder.h"

namespace sallyport::parser {
namespace {

constexpr char kDir[] = "tests/parser/testdata/clienthellos/";

const char* const kCaptures[] = {
    "chromium",        "chromium-2",          "curl",
    "curl-http2",      "gnutls",              "gnutls-sni-hostname",
    "gnutls-tls12",    "openssl-alpn",        "openssl-default",
    "openssl-fragmented", "openssl-fragmented-groups", "openssl-longname",
    "openssl-nosni",   "openssl-notls13",     "openssl-tls12",
    "openssl-tls13",   "python-ssl",          "wget",
};

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in.good()) << "missing capture file " << path;
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// The JSON's "expected_sni": a string, or null. A tiny ad-hoc extraction
// (the field is a plain ASCII name or null in every capture).
std::optional<std::string> ExpectedSni(const std::string& json, bool* found) {
  const std::string key = "\"expected_sni\":";
  size_t at = json.find(key);
  *found = at != std::string::npos;
  if (!*found) return std::nullopt;
  at = json.find_first_not_of(" ", at + key.size());
  if (json.compare(at, 4, "null") == 0) return std::nullopt;
  size_t end = json.find('"', at + 1);
  *found = json[at] == '"' && end != std::string::npos;
  return json.substr(at + 1, end - at - 1);
}

// The handshake bytes of a capture (record headers removed), checking the
// capture is whole records of type 22.
std::string HandshakeBytes(const std::string& stream) {
  std::string out;
  size_t at = 0;
  while (at < stream.size()) {
    EXPECT_GE(stream.size() - at, 5u);
    EXPECT_EQ(stream[at], '\x16');
    size_t len = (static_cast<uint8_t>(stream[at + 3]) << 8) | static_cast<uint8_t>(stream[at + 4]);
    out += stream.substr(at + 5, len);
    at += 5 + len;
  }
  EXPECT_EQ(at, stream.size());
  return out;
}

struct Result {
  Progress progress;
  std::optional<std::string> hostname;
  std::string error;
  std::string bytes;
};

Result FeedInChunks(const std::string& stream, size_t chunk) {
  ClientHelloReader r;
  for (size_t at = 0; at < stream.size() && r.progress() == Progress::kNeedMore; at += chunk) {
    r.Feed(absl::string_view(stream).substr(at, chunk));
  }
  return {r.progress(), r.hostname(), r.error().ToString(), std::string(r.bytes())};
}

class RealClientHello : public ::testing::TestWithParam<const char*> {
 protected:
  void SetUp() override {
    const std::string name = GetParam();
    stream_ = ReadFile(kDir + name + ".bin");
    ASSERT_FALSE(stream_.empty()) << name;
    bool found = false;
    expected_ = ExpectedSni(ReadFile(kDir + name + ".json"), &found);
    ASSERT_TRUE(found) << name << ".json has no expected_sni";
  }
  void Check(const Result& r, const std::string& stream, const std::string& how) {
    ASSERT_EQ(r.progress, Progress::kDone) << how << ": " << r.error;
    EXPECT_EQ(r.hostname, expected_) << how;
    EXPECT_EQ(r.bytes, stream) << how;
  }
  std::string stream_;
  std::optional<std::string> expected_;
};

TEST_P(RealClientHello, Whole) { Check(FeedInChunks(stream_, stream_.size()), stream_, "whole"); }

TEST_P(RealClientHello, ByteByByte) { Check(FeedInChunks(stream_, 1), stream_, "bytewise"); }

TEST_P(RealClientHello, InOddChunks) {
  for (size_t chunk : {2, 3, 5, 7, 64, 511}) {
    Check(FeedInChunks(stream_, chunk), stream_, "chunk " + std::to_string(chunk));
  }
}

TEST_P(RealClientHello, Refragmented) {
  const std::string hs = HandshakeBytes(stream_);
  for (size_t n : {1, 2, 3, 7, 100, 512, 16384}) {
    std::string s = testing::ToRecords(hs, n);
    Check(FeedInChunks(s, s.size()), s, "records of " + std::to_string(n));
    Check(FeedInChunks(s, 13), s, "records of " + std::to_string(n) + ", chunks of 13");
  }
}

TEST_P(RealClientHello, FollowedByMoreRecords) {
  // A CCS and some early data right behind the hello, in the same read.
  std::string more = testing::Record("\x01", 20, 0x0303) +
                     testing::Record(std::string(300, 'x'), 23, 0x0303);
  Check(FeedInChunks(stream_ + more, stream_.size() + more.size()), stream_ + more,
        "with trailing records");
}

TEST_P(RealClientHello, ExtractorAgrees) {
  const std::string hs = HandshakeBytes(stream_);
  auto r = ExtractServerName(absl::string_view(hs).substr(4));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(*r, expected_);
}

TEST_P(RealClientHello, EveryTruncationNeedsMore) {
  // No proper prefix of a real hello is done or an error.
  for (size_t n = 0; n < stream_.size(); n += 1 + n / 16) {
    EXPECT_EQ(FeedInChunks(stream_.substr(0, n), 1 + n).progress, Progress::kNeedMore) << n;
  }
}

INSTANTIATE_TEST_SUITE_P(Captures, RealClientHello, ::testing::ValuesIn(kCaptures),
                         [](const ::testing::TestParamInfo<const char*>& i) {
                           std::string s = i.param;
                           for (char& c : s) {
                             if (c == '-') c = '_';
                           }
                           return s;
                         });

TEST(RealClientHellos, EveryCaptureInTheDirectoryIsListed) {
  std::set<std::string> listed(std::begin(kCaptures), std::end(kCaptures));
  size_t bins = 0;
  for (const auto& e : std::filesystem::directory_iterator(kDir)) {
    if (e.path().extension() != ".bin") continue;
    ++bins;
    EXPECT_TRUE(listed.count(e.path().stem().string())) << "unlisted capture " << e.path();
  }
  EXPECT_EQ(bins, listed.size());
}

}  // namespace
}  // namespace sallyport::parser
