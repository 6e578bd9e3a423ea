// SPDX-License-Identifier: Apache-2.0
// Tests for parser/tls_clienthello.h (the record layer, the strict
// ClientHello walk, the alert mapping) and parser/sni_extractor.h, on
// ClientHellos built by clienthello_builder.h.
#include "parser/tls_clienthello.h"

#include <optional>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "gtest/gtest.h"
#include "parser/botan_clienthello.h"
#include "parser/hostname.h"
#include "parser/sni_extractor.h"
#include "tests/parser/clienthello_builder.h"

namespace sallyport::parser {
namespace {

using ::sallyport::testing::Chunk;
using ::sallyport::testing::ClientHelloBuilder;
using ::sallyport::testing::HandshakeMessage;
using ::sallyport::testing::RandomSizes;
using ::sallyport::testing::Record;
using ::sallyport::testing::ServerNameData;
using ::sallyport::testing::ServerNameEntry;
using ::sallyport::testing::ToRecords;

struct Outcome {
  Progress progress;
  std::optional<std::string> hostname;
  TlsAlert alert;
  absl::Status error;
  std::string bytes;
};

Outcome RunChunks(const std::vector<std::string>& chunks) {
  ClientHelloReader r;
  for (const std::string& c : chunks) {
    Progress p = r.Feed(c);
    EXPECT_EQ(p, r.progress());
    if (p != Progress::kNeedMore) break;
  }
  return {r.progress(), r.hostname(), r.alert(), r.error(),
          std::string(r.bytes())};
}

Outcome RunWhole(const std::string& stream) { return RunChunks({stream}); }

Outcome RunBytewise(const std::string& stream) {
  std::vector<std::string> chunks;
  for (char c : stream) chunks.push_back(std::string(1, c));
  return RunChunks(chunks);
}

// A body as a stream of one handshake message in records of <= 2^14.
std::string Stream(const std::string& body) {
  return ToRecords(HandshakeMessage(body), kMaxTlsRecordPayload);
}

void ExpectName(const Outcome& o, const std::string& name) {
  ASSERT_EQ(o.progress, Progress::kDone) << o.error;
  ASSERT_TRUE(o.hostname.has_value());
  EXPECT_EQ(*o.hostname, name);
  EXPECT_TRUE(o.error.ok());
}

void ExpectError(const Outcome& o, TlsAlert alert, const std::string& words) {
  ASSERT_EQ(o.progress, Progress::kError);
  EXPECT_EQ(static_cast<int>(o.alert), static_cast<int>(alert)) << o.error;
  EXPECT_FALSE(o.error.ok());
  EXPECT_NE(o.error.message().find(words), std::string::npos) << o.error;
  EXPECT_FALSE(o.hostname.has_value());
}

// --- FatalAlertRecord -------------------------------------------------------

TEST(FatalAlertRecord, IsSevenBytesOfAFatalAlert) {
  EXPECT_EQ(FatalAlertRecord(TlsAlert::kDecodeError),
            std::string("\x15\x03\x03\x00\x02\x02\x32", 7));
  EXPECT_EQ(FatalAlertRecord(TlsAlert::kUnrecognizedName),
            std::string("\x15\x03\x03\x00\x02\x02\x70", 7));
  EXPECT_EQ(FatalAlertRecord(TlsAlert::kUnexpectedMessage).back(), '\x0a');
  EXPECT_EQ(FatalAlertRecord(TlsAlert::kRecordOverflow).back(), '\x16');
  EXPECT_EQ(FatalAlertRecord(TlsAlert::kIllegalParameter).back(), '\x2f');
  EXPECT_EQ(FatalAlertRecord(TlsAlert::kProtocolVersion).back(), '\x46');
  EXPECT_EQ(FatalAlertRecord(TlsAlert::kInternalError).back(), '\x50');
  EXPECT_EQ(FatalAlertRecord(TlsAlert::kHandshakeFailure).back(), '\x28');
}

// --- Accepted hellos ----------------------------------------------------------

TEST(ClientHelloReader, Tls13HelloGivesCanonicalName) {
  std::string s = Stream(ClientHelloBuilder().Tls13().ServerName("WWW.Example.TEST").Body());
  Outcome o = RunWhole(s);
  ExpectName(o, "www.example.test");
  EXPECT_EQ(o.bytes, s);
}

TEST(ClientHelloReader, Tls12HelloGivesName) {
  ExpectName(RunWhole(Stream(ClientHelloBuilder().Tls12().ServerName("a.test").Alpn({"h2"}).Body())),
             "a.test");
}

TEST(ClientHelloReader, SingleTrailingDotIsRemovedDoubleIsRefused) {
  ExpectName(RunWhole(Stream(ClientHelloBuilder().Tls13().ServerName("a.test.").Body())), "a.test");
  ExpectError(RunWhole(Stream(ClientHelloBuilder().Tls13().ServerName("a.test..").Body())),
              TlsAlert::kUnrecognizedName, "empty label");
}

TEST(ClientHelloReader, NoServerNameIsDoneWithoutName) {
  Outcome o = RunWhole(Stream(ClientHelloBuilder().Tls13().Alpn({"h2"}).Body()));
  EXPECT_EQ(o.progress, Progress::kDone);
  EXPECT_FALSE(o.hostname.has_value());
  EXPECT_TRUE(o.error.ok());
}

TEST(ClientHelloReader, AlpnListsOfOneToManyNamesOfAnyLengthAreAccepted) {
  for (const std::vector<std::string>& list :
       {std::vector<std::string>{"h2"}, {"acme-tls/1"}, {"h2", "http/1.1"},
        {"x"}, {std::string(255, 'p')}, {std::string(255, 'p'), "h2", "x"}}) {
    std::string body = ClientHelloBuilder().Tls13().ServerName("a.test").Alpn(list).Body();
    ExpectName(RunWhole(Stream(body)), "a.test");
    auto e = ExtractServerName(body);
    ASSERT_TRUE(e.ok()) << e.status();
    EXPECT_EQ(**e, "a.test");
  }
}

TEST(ClientHelloReader, NoExtensionsBlockIsDoneWithoutName) {
  Outcome o = RunWhole(Stream(ClientHelloBuilder().NoExtensionsBlock().Body()));
  EXPECT_EQ(o.progress, Progress::kDone) << o.error;
  EXPECT_FALSE(o.hostname.has_value());
}

TEST(ClientHelloReader, ByteByByteNeedsMoreUntilTheLastByte) {
  std::string s = ToRecords(
      HandshakeMessage(ClientHelloBuilder().Tls13().ServerName("a.test").Body()), 3);
  ClientHelloReader r;
  for (size_t i = 0; i + 1 < s.size(); ++i) {
    ASSERT_EQ(r.Feed(s.substr(i, 1)), Progress::kNeedMore) << "byte " << i;
  }
  EXPECT_EQ(r.Feed(s.substr(s.size() - 1)), Progress::kDone) << r.error();
  EXPECT_EQ(*r.hostname(), "a.test");
  EXPECT_EQ(r.bytes(), s);
}

TEST(ClientHelloReader, EmptyFeedNeedsMore) {
  ClientHelloReader r;
  EXPECT_EQ(r.Feed(""), Progress::kNeedMore);
  EXPECT_EQ(r.progress(), Progress::kNeedMore);
  EXPECT_TRUE(r.bytes().empty());
}

TEST(ClientHelloReader, BytesAfterTheHelloAreKept) {
  std::string hello = Stream(ClientHelloBuilder().Tls13().ServerName("a.test").Body());
  std::string after = Record(std::string("\x01", 1), 20, 0x0303) +   // CCS
                      Record(std::string(40, 'E'), 23, 0x0303) +     // early data
                      "\x17\x03";                                    // partial
  Outcome o = RunWhole(hello + after);
  ExpectName(o, "a.test");
  EXPECT_EQ(o.bytes, hello + after);
}

TEST(ClientHelloReader, FeedAfterDoneIsIgnored) {
  std::string s = Stream(ClientHelloBuilder().Tls13().ServerName("a.test").Body());
  ClientHelloReader r;
  ASSERT_EQ(r.Feed(s), Progress::kDone);
  EXPECT_EQ(r.Feed("more bytes"), Progress::kDone);
  EXPECT_EQ(r.bytes(), s);
  EXPECT_EQ(*r.hostname(), "a.test");
}

TEST(ClientHelloReader, FeedAfterErrorIsIgnored) {
  ClientHelloReader r;
  ASSERT_EQ(r.Feed("\x15\x03\x01"), Progress::kError);
  EXPECT_EQ(r.Feed(Stream(ClientHelloBuilder().ServerName("a.test").Body())),
            Progress::kError);
  EXPECT_EQ(r.bytes(), "\x15\x03\x01");
  EXPECT_FALSE(r.hostname().has_value());
  EXPECT_EQ(r.alert(), TlsAlert::kUnexpectedMessage);
}

TEST(ClientHelloReader, AnyRecordMinorVersionIsAccepted) {
  std::string hs = HandshakeMessage(ClientHelloBuilder().ServerName("a.test").Body());
  for (uint16_t v : {0x0300, 0x0301, 0x0303, 0x0304, 0x03ff}) {
    ExpectName(RunWhole(Record(hs, 22, v)), "a.test");
  }
}

// --- Record layer errors ------------------------------------------------------

TEST(RecordLayer, SslV2HelloIsRefusedWithProtocolVersion) {
  // An SSLv2-compatible CLIENT-HELLO: 2-byte length with the high bit set,
  // msg_type 1, version 3.x (as TLS clients sent it) or 0.2 (SSLv2 itself).
  for (const std::string& s : {std::string("\x80\x2e\x01\x03\x01\x00\x15", 7),
                               std::string("\xff\xff\x01\x03\x03", 5),
                               std::string("\x80\x2e\x01\x00\x02\x00\x15", 7)}) {
    ExpectError(RunWhole(s), TlsAlert::kProtocolVersion, "SSLv2");
    ExpectError(RunBytewise(s), TlsAlert::kProtocolVersion, "SSLv2");
  }
  // Deciding needs the bytes up to the version, and no more.
  EXPECT_EQ(RunWhole("\x80").progress, Progress::kNeedMore);
  EXPECT_EQ(RunWhole(std::string("\x80\x2e\x01\x03", 4)).progress, Progress::kNeedMore);
  EXPECT_EQ(RunWhole(std::string("\x80\x2e\x01\x00", 4)).progress, Progress::kNeedMore);
}

// RFC 8446 §5: a record of an unknown content type gets unexpected_message,
// the high-bit types 128..255 too, unless the bytes are an SSLv2 hello.
TEST(RecordLayer, UnknownHighBitContentTypeIsUnexpectedMessage) {
  for (int type : {128, 200, 255}) {
    const char t = static_cast<char>(type);
    for (const std::string& s :
         {std::string{t, 3, 3, 0, 5, 1, 0, 0, 1, 0},  // a TLS 1.2-style header
          std::string{t, 3, 1, 0, 5, 1, 0, 0, 1, 0},  // 3.1: byte 2 is 1, byte 3 0, byte 4 5
          std::string{t, 3, 1, 1, 0, 1, 0, 0, 1, 0},  // byte 3 neither 0 nor 3
          std::string{t, 3, 0}}) {                    // byte 2 is not msg_type 1
      ExpectError(RunWhole(s), TlsAlert::kUnexpectedMessage,
                  "first record has content type " + std::to_string(type));
      ExpectError(RunBytewise(s), TlsAlert::kUnexpectedMessage,
                  "first record has content type " + std::to_string(type));
    }
  }
}

TEST(RecordLayer, FirstRecordMustBeHandshake) {
  for (char type : {'\x14', '\x15', '\x19', '\x18', '\x00', '\x17'}) {
    ExpectError(RunWhole(std::string(1, type)), TlsAlert::kUnexpectedMessage,
                "first record has content type");
  }
  ExpectError(RunWhole("GET / HTTP/1.1\r\n"), TlsAlert::kUnexpectedMessage,
              "content type 71");
}

TEST(RecordLayer, RecordVersionMajorMustBe3) {
  std::string hs = HandshakeMessage(ClientHelloBuilder().ServerName("a.test").Body());
  ExpectError(RunWhole(Record(hs, 22, 0x0201)), TlsAlert::kProtocolVersion, "major 2");
  ExpectError(RunWhole(Record(hs, 22, 0xfefd)), TlsAlert::kProtocolVersion, "major 254");
  ExpectError(RunWhole("\x16\x04"), TlsAlert::kProtocolVersion, "major 4");
  // A later record is held to the same rule.
  std::string s = Record(hs.substr(0, 10)) + Record(hs.substr(10), 22, 0x0201);
  ExpectError(RunWhole(s), TlsAlert::kProtocolVersion, "major 2");
}

TEST(RecordLayer, ZeroLengthRecordIsRefused) {
  ExpectError(RunWhole(std::string("\x16\x03\x01\x00\x00", 5)), TlsAlert::kDecodeError,
              "zero-length");
  std::string hs = HandshakeMessage(ClientHelloBuilder().ServerName("a.test").Body());
  // A zero-length fragment between two real ones.
  std::string s = Record(hs.substr(0, 10)) + Record("") + Record(hs.substr(10));
  ExpectError(RunWhole(s), TlsAlert::kDecodeError, "zero-length");
}

TEST(RecordLayer, RecordPayloadCapIsTwoToThe14) {
  // A hello whose handshake message is exactly 2^14 bytes fits one record.
  ClientHelloBuilder b;
  b.ServerName("a.test");
  size_t base = HandshakeMessage(b.Body()).size();
  b.Padding(kMaxTlsRecordPayload - base - 4);
  std::string hs = HandshakeMessage(b.Body());
  ASSERT_EQ(hs.size(), kMaxTlsRecordPayload);
  ExpectName(RunWhole(Record(hs)), "a.test");
  // 2^14 + 1 in one record: record_overflow as soon as the header is seen.
  ClientHelloBuilder big;
  big.ServerName("a.test").Padding(kMaxTlsRecordPayload - base - 3);
  std::string hs2 = HandshakeMessage(big.Body());
  ASSERT_EQ(hs2.size(), kMaxTlsRecordPayload + 1);
  ExpectError(RunWhole(Record(hs2).substr(0, 5)), TlsAlert::kRecordOverflow, "16385");
  ExpectError(RunWhole(std::string("\x16\x03\x01\xff\xff", 5)), TlsAlert::kRecordOverflow,
              "65535");
  // The same hello in two records is fine.
  ExpectName(RunWhole(ToRecords(hs2, kMaxTlsRecordPayload)), "a.test");
}

TEST(RecordLayer, OtherRecordTypesBetweenFragmentsAreRefused) {
  std::string hs = HandshakeMessage(ClientHelloBuilder().Tls13().ServerName("a.test").Body());
  for (uint8_t type : {20, 21, 23, 24, 0, 255}) {
    std::string s = Record(hs.substr(0, 50)) +
                    Record(std::string("\x02\x28", 2), type) +
                    Record(hs.substr(50));
    ExpectError(RunWhole(s), TlsAlert::kUnexpectedMessage, "between fragments");
    ExpectError(RunBytewise(s), TlsAlert::kUnexpectedMessage, "between fragments");
  }
}

TEST(RecordLayer, RecordLengthOffByOne) {
  std::string hs = HandshakeMessage(ClientHelloBuilder().Tls13().ServerName("a.test").Body());
  // One too long: the record runs past the hello, which is known as soon as
  // the handshake header is, without waiting for the extra byte.
  ExpectError(RunWhole(Record(hs, 22, 0x0301, +1)), TlsAlert::kUnexpectedMessage,
              "past the end of the ClientHello");
  ExpectError(RunWhole(Record(hs, 22, 0x0301, +1).substr(0, 9)),
              TlsAlert::kUnexpectedMessage, "past the end of the ClientHello");
  // One too short: the hello's last byte is read as a record's content type.
  ExpectError(RunWhole(Record(hs, 22, 0x0301, -1)), TlsAlert::kUnexpectedMessage,
              "between fragments");
}

// --- Handshake layer errors ---------------------------------------------------

TEST(HandshakeLayer, FirstMessageMustBeClientHello) {
  std::string body = ClientHelloBuilder().ServerName("a.test").Body();
  for (uint8_t type : {0, 2, 4, 11, 20, 255}) {
    ExpectError(RunWhole(Record(HandshakeMessage(body, type))), TlsAlert::kUnexpectedMessage,
                "not ClientHello");
    // Known after the first handshake byte.
    ExpectError(RunWhole(Record(HandshakeMessage(body, type)).substr(0, 6)),
                TlsAlert::kUnexpectedMessage, "not ClientHello");
  }
}

TEST(HandshakeLayer, HelloOverTheCapIsRefusedFromItsHeader) {
  std::string header = std::string("\x01\x01\x00\x01", 4);  // 65537
  ExpectError(RunWhole(Record(header)), TlsAlert::kIllegalParameter, "exceeds the cap");
  ExpectError(RunWhole(Record(std::string("\x01\xff\xff\xff", 4))), TlsAlert::kIllegalParameter,
              "16777215");
  // Header split over 1-byte records.
  ExpectError(RunWhole(ToRecords(header, 1)), TlsAlert::kIllegalParameter, "exceeds the cap");
}

TEST(HandshakeLayer, HelloAtTheCapInOneByteRecordsIsAccepted) {
  // The largest legal stream: a 64 KiB body in 1-byte records.
  ClientHelloBuilder b;
  b.ServerName("max.test");
  size_t base = b.Body().size();
  b.Padding(kMaxClientHelloLength - base - 4);
  std::string body = b.Body();
  ASSERT_EQ(body.size(), kMaxClientHelloLength);
  std::string s = ToRecords(HandshakeMessage(body), 1);
  ASSERT_EQ(s.size(), kMaxBufferedBytes);
  Outcome o = RunWhole(s);
  ExpectName(o, "max.test");
  EXPECT_EQ(o.bytes.size(), kMaxBufferedBytes);
  // Fed in 1000-byte chunks too.
  std::vector<size_t> sizes(s.size() / 1000 + 1, 1000);
  ExpectName(RunChunks(Chunk(s, sizes)), "max.test");
}

TEST(HandshakeLayer, HandshakeLengthOffByOne) {
  std::string body = ClientHelloBuilder().Tls13().ServerName("a.test").Body();
  // Declared one longer than the body: still waiting.
  EXPECT_EQ(RunWhole(Record(HandshakeMessage(body, 1, +1))).progress, Progress::kNeedMore);
  // One shorter: the record carries a byte past the end of the hello.
  ExpectError(RunWhole(Record(HandshakeMessage(body, 1, -1))), TlsAlert::kUnexpectedMessage,
              "past the end of the ClientHello");
  // One shorter, and the record ends where the declared message ends: the
  // body is cut short by one byte (inside the host name): malformed.
  std::string hs = HandshakeMessage(body, 1, -1);
  ExpectError(RunWhole(Record(hs.substr(0, hs.size() - 1))), TlsAlert::kDecodeError,
              "overruns");
}

TEST(HandshakeLayer, AnotherMessageInTheHellosLastRecordIsRefused) {
  std::string hs = HandshakeMessage(ClientHelloBuilder().ServerName("a.test").Body());
  ExpectError(RunWhole(Record(hs + HandshakeMessage("", 1))), TlsAlert::kUnexpectedMessage,
              "past the end of the ClientHello");
  ExpectError(RunBytewise(Record(hs + std::string(1, '\0'))), TlsAlert::kUnexpectedMessage,
              "past the end of the ClientHello");
}

TEST(HandshakeLayer, EmptyAndTinyBodiesAreMalformed) {
  ExpectError(RunWhole(Record(HandshakeMessage(""))), TlsAlert::kDecodeError, "legacy_version");
  ExpectError(RunWhole(Record(HandshakeMessage("\x03\x03"))), TlsAlert::kDecodeError, "random");
}

// --- The strict walk and the server_name rules ---------------------------------

struct BodyCase {
  const char* label;
  std::string body;
  TlsAlert alert;
  const char* words;
};

class MalformedBody : public ::testing::TestWithParam<BodyCase> {};

TEST_P(MalformedBody, IsRefusedWholeAndBytewiseAndByTheExtractor) {
  const BodyCase& c = GetParam();
  std::string s = Stream(c.body);
  ExpectError(RunWhole(s), c.alert, c.words);
  ExpectError(RunBytewise(ToRecords(HandshakeMessage(c.body), 5)), c.alert, c.words);
  // The independent extractor refuses it too, except where only Botan or
  // only the version check objects (those cases are marked by their alert
  // or by the "botan:" message).
  bool botan_only = std::string(c.words).rfind("botan:", 0) == 0;
  if (c.alert != TlsAlert::kProtocolVersion && !botan_only &&
      c.alert != TlsAlert::kUnrecognizedName) {
    EXPECT_FALSE(ExtractServerName(c.body).ok()) << c.label;
  }
}

std::vector<BodyCase> MalformedCases() {
  using B = ClientHelloBuilder;
  const TlsAlert kDecode = TlsAlert::kDecodeError;
  std::vector<BodyCase> v;
  v.push_back({"ext_len_plus1", B().Tls13().ServerName("a.test").ExtensionsLengthDelta(1).Body(),
               kDecode, "extensions length overruns"});
  v.push_back({"ext_len_minus1", B().Tls13().ServerName("a.test").ExtensionsLengthDelta(-1).Body(),
               kDecode, ""});
  v.push_back({"ext_len_huge", B().Tls13().ServerName("a.test").ExtensionsLengthDelta(60000).Body(),
               kDecode, "extensions length overruns"});
  v.push_back({"list_len_plus1", B().ServerNames({{0, "a.test"}}, +1).Body(), kDecode,
               "list length does not match"});
  v.push_back({"list_len_minus1", B().ServerNames({{0, "a.test"}}, -1).Body(), kDecode,
               "list length does not match"});
  v.push_back({"list_len_huge", B().ServerNames({{0, "a.test"}}, 0xfff0).Body(), kDecode,
               "list length does not match"});
  v.push_back({"name_len_plus1", B().ServerNames({{0, "a.test", +1}}).Body(), kDecode,
               "host_name length overruns"});
  v.push_back({"name_len_minus1", B().ServerNames({{0, "a.test", -1}}).Body(), kDecode,
               "bytes after the host_name"});
  v.push_back({"name_len_huge", B().ServerNames({{0, "a.test", 0xff00}}).Body(), kDecode,
               "host_name length overruns"});
  v.push_back({"name_empty", B().ServerNames({{0, ""}}).Body(), kDecode, "empty host_name"});
  v.push_back({"sni_ext_empty", B().Tls13().Extension(0, "").Body(), kDecode,
               "empty server_name extension"});
  v.push_back({"sni_list_empty", B().Extension(0, std::string(2, '\0')).Body(), kDecode,
               "empty server_name list"});
  v.push_back({"sni_one_byte", B().Extension(0, std::string(1, '\0')).Body(), kDecode,
               "list length does not match"});
  v.push_back({"name_type_1", B().ServerNames({{1, "a.test"}}).Body(), kDecode,
               "entry of type 1"});
  v.push_back({"name_type_255", B().ServerNames({{255, "a.test"}}).Body(), kDecode,
               "entry of type 255"});
  v.push_back({"host_then_other", B().ServerNames({{0, "a.test"}, {1, "b.test"}}).Body(),
               kDecode, "bytes after the host_name"});
  v.push_back({"other_then_host", B().ServerNames({{1, "b.test"}, {0, "a.test"}}).Body(),
               kDecode, "entry of type 1"});
  v.push_back({"two_host_names", B().ServerNames({{0, "a.test"}, {0, "b.test"}}).Body(),
               kDecode, "bytes after the host_name"});
  v.push_back({"same_host_twice", B().ServerNames({{0, "a.test"}, {0, "a.test"}}).Body(),
               kDecode, "bytes after the host_name"});
  v.push_back({"dup_server_name", B().ServerName("a.test").ServerName("b.test").Body(),
               TlsAlert::kIllegalParameter, "type 0 appears twice"});
  v.push_back({"dup_unknown", B().ServerName("a.test").Extension(0x1234, "x")
                                  .Extension(0x1234, "y").Body(),
               TlsAlert::kIllegalParameter, "type 4660 appears twice"});
  v.push_back({"alpn_empty_list", B().Tls13().ServerName("a.test").Alpn({}).Body(), kDecode,
               "empty ALPN protocol list"});
  v.push_back({"alpn_empty_extension", B().Tls13().ServerName("a.test").Extension(16, "").Body(),
               kDecode, "ALPN protocol list length does not match"});
  v.push_back({"alpn_one_byte", B().ServerName("a.test").Extension(16, std::string(1, '\0'))
                                    .Body(),
               kDecode, "ALPN protocol list length does not match"});
  v.push_back({"alpn_empty_name", B().Tls13().ServerName("a.test").Alpn({""}).Body(), kDecode,
               "empty ALPN protocol name"});
  v.push_back({"alpn_empty_name_after_h2", B().Tls13().ServerName("a.test").Alpn({"h2", ""})
                                               .Body(),
               kDecode, "empty ALPN protocol name"});
  v.push_back({"alpn_list_len_plus1", B().ServerName("a.test")
                                          .Extension(16, std::string("\x00\x04\x02h2", 5))
                                          .Body(),
               kDecode, "ALPN protocol list length does not match"});
  v.push_back({"alpn_list_len_minus1", B().ServerName("a.test")
                                           .Extension(16, std::string("\x00\x02\x02h2", 5))
                                           .Body(),
               kDecode, "ALPN protocol list length does not match"});
  v.push_back({"alpn_name_overruns", B().ServerName("a.test")
                                         .Extension(16, std::string("\x00\x03\x03h2", 5))
                                         .Body(),
               kDecode, "ALPN protocol name overruns the list"});
  v.push_back({"alpn_second_name_overruns",
               B().ServerName("a.test")
                   .Extension(16, std::string("\x00\x05\x02h2\x08h", 7))
                   .Body(),
               kDecode, "ALPN protocol name overruns the list"});
  v.push_back({"dup_alpn", B().Tls13().Alpn({"h2"}).ServerName("a.test").Alpn({"h2"}).Body(),
               TlsAlert::kIllegalParameter, "appears twice"});
  {
    // The last extension declares 3 bytes of data; 2 follow.
    std::string fixed = B().ServerName("a.test").Extension(0x1234, "ab").Body();
    fixed[fixed.size() - 3] = 3;
    v.push_back({"truncated_extension", fixed, kDecode, "overruns the extensions block"});
  }
  {
    std::string body = B().ServerName("a.test").Body();
    v.push_back({"truncated_body", body.substr(0, body.size() - 3), kDecode, "overruns"});
    v.push_back({"trailing_byte", body + "X", kDecode, "bytes after the extensions"});
  }
  v.push_back({"stray_byte_after_compression", B().NoExtensionsBlock().Body() + std::string(1, '\0'),
               kDecode, "extensions length overruns"});
  v.push_back({"session_id_33", B().SessionIdLength(33).ServerName("a.test").Body(), kDecode,
               "longer than 32"});
  v.push_back({"no_suites", B().CipherSuites({}).ServerName("a.test").Body(), kDecode,
               "cipher_suites"});
  {
    std::string body = B().CipherSuites({0x1301}).ServerName("a.test").Body();
    // Make cipher_suites 3 bytes long by claiming one more.
    size_t at = 2 + 32 + 1 + 32;
    body[at + 1] = 3;
    v.push_back({"odd_suites", body, kDecode, ""});
  }
  {
    std::string body = B().SessionIdLength(0).ServerName("a.test").Body();
    body[2 + 32 + 1 + 2 + 6] = 0;  // compression_methods length 0
    v.push_back({"empty_compression", body, kDecode, ""});
  }
  v.push_back({"dtls_version", B().LegacyVersion(0xfefd).ServerName("a.test").Body(),
               TlsAlert::kProtocolVersion, "not TLS"});
  v.push_back({"sslv2_version", B().LegacyVersion(0x0002).ServerName("a.test").Body(),
               TlsAlert::kProtocolVersion, "not TLS"});
  // Botan is stricter than the walk about some other extensions.
  v.push_back({"botan_empty_sigalgs", B().Extension(13, std::string(2, '\0'))
                                          .ServerName("a.test").Body(),
               kDecode, "botan:"});
  v.push_back({"botan_ems_with_data", B().Extension(23, "x").ServerName("a.test").Body(),
               kDecode, "botan:"});
  // Names that parse but do not canonicalise.
  v.push_back({"name_nul", B().ServerName(std::string("a\0b.test", 8)).Body(),
               TlsAlert::kUnrecognizedName, "server_name: invalid character 0x00"});
  v.push_back({"name_underscore", B().ServerName("a_b.test").Body(),
               TlsAlert::kUnrecognizedName, "server_name: invalid character 0x5f"});
  v.push_back({"name_ipv4", B().ServerName("127.0.0.1").Body(), TlsAlert::kUnrecognizedName,
               "IP literal"});
  v.push_back({"name_slash", B().ServerName("../etc").Body(), TlsAlert::kUnrecognizedName,
               "server_name:"});
  v.push_back({"name_dot", B().ServerName(".").Body(), TlsAlert::kUnrecognizedName,
               "only a dot"});
  v.push_back({"name_utf8", B().ServerName("\xc3\xa9.test").Body(),
               TlsAlert::kUnrecognizedName, "UTF-8"});
  v.push_back({"name_too_long", B().ServerName(std::string(63, 'a') + "." + std::string(63, 'b') +
                                          "." + std::string(63, 'c') + "." +
                                          std::string(61, 'd') + ".e")
                               .Body(),
               TlsAlert::kUnrecognizedName, "longer than 253"});
  return v;
}

INSTANTIATE_TEST_SUITE_P(All, MalformedBody, ::testing::ValuesIn(MalformedCases()),
                         [](const ::testing::TestParamInfo<BodyCase>& i) {
                           return std::string(i.param.label);
                         });

TEST(StrictWalk, NameOf253IsAccepted) {
  std::string name = std::string(63, 'a') + "." + std::string(63, 'b') + "." +
                     std::string(63, 'c') + "." + std::string(61, 'd');
  ASSERT_EQ(name.size(), 253u);
  ExpectName(RunWhole(Stream(ClientHelloBuilder().Tls13().ServerName(name).Body())), name);
}

TEST(StrictWalk, ServerNameNeedNotBeFirstOrLast) {
  ExpectName(RunWhole(Stream(ClientHelloBuilder().Tls13().ServerName("mid.test").Alpn({"h2"})
                            .Padding(100).Body())),
             "mid.test");
  ExpectName(RunWhole(Stream(ClientHelloBuilder().ServerName("first.test").Tls12().Body())),
             "first.test");
}

TEST(StrictWalk, EmptySessionIdAndManySuitesAreFine) {
  std::vector<uint16_t> suites;
  for (uint16_t i = 1; i <= 200; ++i) suites.push_back(i);
  ExpectName(RunWhole(Stream(ClientHelloBuilder().SessionIdLength(0).CipherSuites(suites)
                            .ServerName("a.test").Body())),
             "a.test");
}

// --- The name may lie in any record -----------------------------------------

// Puts server_name after `padding` bytes of padding extension and cuts the
// hello into records of `fragment` bytes; returns the record index holding
// the first byte of the host name.
size_t RecordOfName(size_t padding, size_t fragment, std::string* stream) {
  std::string body = ClientHelloBuilder().Tls13().Padding(padding).ServerName("deep.test").Body();
  std::string hs = HandshakeMessage(body);
  *stream = ToRecords(hs, fragment);
  return hs.find("deep.test") / fragment;
}

TEST(Reassembly, NameInTheSecondRecord) {
  std::string s;
  ASSERT_EQ(RecordOfName(300, 256, &s), 1u);
  ExpectName(RunWhole(s), "deep.test");
  ExpectName(RunBytewise(s), "deep.test");
}

TEST(Reassembly, NameInTheTenthRecord) {
  std::string s;
  ASSERT_EQ(RecordOfName(2300, 256, &s), 9u);
  ExpectName(RunWhole(s), "deep.test");
  ExpectName(RunBytewise(s), "deep.test");
}

TEST(Reassembly, NameSplitAcrossOneByteRecords) {
  std::string hs = HandshakeMessage(ClientHelloBuilder().Tls12().ServerName("split.test").Body());
  ExpectName(RunWhole(ToRecords(hs, 1)), "split.test");
  ExpectName(RunWhole(ToRecords(hs, 2)), "split.test");
  ExpectName(RunWhole(ToRecords(hs, std::vector<size_t>{1, 4, 3, 100, 2})), "split.test");
}

// --- Property: any record split and any feed chunking give the same answer -----

std::string RandomName(std::mt19937& rng) {
  std::string name;
  size_t labels = 1 + rng() % 4;
  for (size_t l = 0; l < labels; ++l) {
    if (l) name += '.';
    size_t len = 1 + rng() % 20;
    for (size_t i = 0; i < len; ++i) name += static_cast<char>('a' + rng() % 26);
  }
  return name + ".test";
}

TEST(Property, RandomSplitsAndChunkingsGiveTheSameName) {
  std::mt19937 rng(20261201);
  for (int iter = 0; iter < 300; ++iter) {
    ClientHelloBuilder b;
    if (rng() % 2) b.Tls13(); else b.Tls12();
    std::string name = RandomName(rng);
    bool with_sni = rng() % 8 != 0;
    size_t pos = rng() % 3;
    if (pos == 0 && with_sni) b.ServerName(name);
    if (rng() % 2) b.Alpn({"h2", "http/1.1"});
    if (rng() % 2) b.Padding(rng() % 3000);
    if (pos == 1 && with_sni) b.ServerName(name);
    if (rng() % 2) b.Extension(0x7a7a, std::string(rng() % 5, 'g'));  // GREASE-like
    if (pos == 2 && with_sni) b.ServerName(name);
    std::string body = b.Body();
    std::string hs = HandshakeMessage(body);

    Outcome whole = RunWhole(Stream(body));
    ASSERT_EQ(whole.progress, Progress::kDone) << whole.error;
    if (with_sni) {
      ASSERT_EQ(whole.hostname, std::optional<std::string>(name));
    } else {
      ASSERT_FALSE(whole.hostname.has_value());
    }
    // The extractor agrees.
    auto extracted = ExtractServerName(body);
    ASSERT_TRUE(extracted.ok()) << extracted.status();
    ASSERT_EQ(*extracted, whole.hostname);

    for (int split = 0; split < 4; ++split) {
      size_t max_record = (split == 0) ? 1 : (split == 1 ? 16 : (split == 2 ? 700 : 16384));
      std::string stream = ToRecords(hs, RandomSizes(rng, hs.size(), max_record));
      std::string tail = (rng() % 2) ? Record("\x01", 20, 0x0303) : "";
      Outcome o = RunChunks(Chunk(stream + tail, RandomSizes(rng, stream.size(), 64)));
      ASSERT_EQ(o.progress, Progress::kDone) << "iter " << iter << " split " << split
                                             << ": " << o.error;
      ASSERT_EQ(o.hostname, whole.hostname);
      // Every byte up to the chunk that completed the hello, exactly.
      ASSERT_EQ(o.bytes, (stream + tail).substr(0, o.bytes.size()));
      ASSERT_GE(o.bytes.size(), stream.size());
    }
  }
}

// Random corruption of one byte never yields a different accepted name.
TEST(Property, OneByteCorruptionNeverGivesAnotherName) {
  std::mt19937 rng(7);
  std::string body = ClientHelloBuilder().Tls13().ServerName("right.test").Alpn({"h2"}).Body();
  std::string s = ToRecords(HandshakeMessage(body), 40);
  int accepted = 0, refused = 0;
  for (int iter = 0; iter < 3000; ++iter) {
    std::string c = s;
    size_t at = rng() % c.size();
    c[at] = static_cast<char>(rng());
    Outcome o = RunWhole(c);
    if (o.progress == Progress::kDone) {
      ++accepted;
      if (o.hostname.has_value()) {
        // A changed byte inside the name may change the name, but then the
        // stream holds exactly that name.
        ASSERT_NE(absl::AsciiStrToLower(c).find(*o.hostname), std::string::npos);
        auto again = CanonicalHostname(*o.hostname);
        ASSERT_TRUE(again.ok());
        ASSERT_EQ(*again, *o.hostname);
      }
    } else if (o.progress == Progress::kError) {
      ++refused;
      ASSERT_FALSE(o.hostname.has_value());
    }
  }
  EXPECT_GT(accepted, 0);
  EXPECT_GT(refused, 0);
}

// --- The Botan adapter ------------------------------------------------------------

TEST(BotanAdapter, WarmUpWorks) { EXPECT_TRUE(WarmUpBotanClientHello()); }

TEST(BotanAdapter, ReportsPresenceSeparatelyFromTheName) {
  auto with = ParseClientHelloWithBotan(ClientHelloBuilder().ServerName("a.test").Body());
  ASSERT_TRUE(with.ok()) << with.status();
  EXPECT_TRUE(with->has_server_name);
  EXPECT_EQ(with->host_name, "a.test");
  auto without = ParseClientHelloWithBotan(ClientHelloBuilder().Tls13().Body());
  ASSERT_TRUE(without.ok());
  EXPECT_FALSE(without->has_server_name);
  // The leniency the strict walk exists for: Botan accepts an empty
  // extension as "present, empty name" and lets the last of two names win.
  auto empty = ParseClientHelloWithBotan(ClientHelloBuilder().Extension(0, "").Body());
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->has_server_name);
  EXPECT_EQ(empty->host_name, "");
  auto two = ParseClientHelloWithBotan(
      ClientHelloBuilder().ServerNames({{0, "a.test"}, {0, "b.test"}}).Body());
  ASSERT_TRUE(two.ok());
  EXPECT_EQ(two->host_name, "b.test");
}

TEST(BotanAdapter, StatusRequestOverreadHidesServerNameAndTheGuardRefuses) {
  // status_request: type ocsp, responder_id_list empty, request_extensions
  // length 0x7f, which the extension (5 bytes) cannot hold. Botan reads the
  // 0x7f bytes anyway, swallowing server_name that follows.
  ClientHelloBuilder b;
  b.Extension(5, std::string("\x01\x00\x00\x00\x7f", 5)).ServerName("hidden.test");
  std::string body = b.Body();
  // Pad with an unknown extension so that Botan's over-read of 0x7f bytes
  // ends exactly at the end of the extensions block.
  const std::string sr("\x01\x00\x00\x00\x7f", 5);
  size_t rest = body.size() - (body.find(sr) + sr.size());
  ASSERT_LT(rest + 4, 0x7fu);
  b.Extension(0x1234, std::string(0x7f - rest - 4, 'p'));
  body = b.Body();
  auto botan = ParseClientHelloWithBotan(body);
  ASSERT_TRUE(botan.ok()) << botan.status();
  EXPECT_FALSE(botan->has_server_name);  // Botan missed it
  auto extracted = ExtractServerName(body);
  ASSERT_TRUE(extracted.ok());
  EXPECT_EQ(*extracted, std::optional<std::string>("hidden.test"));
  ExpectError(RunWhole(Stream(body)), TlsAlert::kInternalError, "disagree");
}

TEST(BotanAdapter, ExceptionsBecomeStatus) {
  auto r = ParseClientHelloWithBotan("short");
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(absl::IsInvalidArgument(r.status()));
  EXPECT_EQ(r.status().message().rfind("botan: ", 0), 0u) << r.status();
}

// --- The independent extractor ------------------------------------------------------

TEST(SniExtractor, ReadsTheRawName) {
  auto r = ExtractServerName(ClientHelloBuilder().Tls13().ServerName("Raw.Name.").Body());
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, std::optional<std::string>("Raw.Name."));
  auto none = ExtractServerName(ClientHelloBuilder().Tls12().Body());
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->has_value());
  auto noblock = ExtractServerName(ClientHelloBuilder().NoExtensionsBlock().Body());
  ASSERT_TRUE(noblock.ok());
  EXPECT_FALSE(noblock->has_value());
}

TEST(SniExtractor, EveryPrefixOfAHelloIsRefused) {
  std::string body = ClientHelloBuilder().Tls13().ServerName("a.test").Body();
  size_t no_ext = ClientHelloBuilder().Tls13().NoExtensionsBlock().Body().size();
  for (size_t n = 0; n < body.size(); ++n) {
    if (n == no_ext) continue;  // a hello without extensions: valid
    EXPECT_FALSE(ExtractServerName(body.substr(0, n)).ok()) << n;
    EXPECT_NE(RunWhole(Stream(body.substr(0, n))).progress, Progress::kDone) << n;
  }
}

}  // namespace
}  // namespace sallyport::parser
