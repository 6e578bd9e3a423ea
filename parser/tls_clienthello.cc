// SPDX-License-Identifier: Apache-2.0
#include "parser/tls_clienthello.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "parser/botan_clienthello.h"
#include "parser/hostname.h"

namespace sallyport::parser {
namespace {

constexpr uint8_t kContentTypeHandshake = 22;
constexpr uint8_t kHandshakeTypeClientHello = 1;
constexpr uint16_t kExtensionServerName = 0;
constexpr uint16_t kExtensionAlpn = 16;
constexpr uint8_t kSslV2ClientHello = 1;  // SSLv2 MSG-CLIENT-HELLO
constexpr uint8_t kNameTypeHostName = 0;

// A bounded reader over bytes, after BoringSSL's CBS: every read is one
// bounds check; a failed read consumes nothing.
class ByteReader {
 public:
  explicit ByteReader(absl::string_view data) : data_(data) {}

  bool empty() const { return data_.empty(); }
  size_t size() const { return data_.size(); }

  bool ReadU8(uint8_t* out) {
    if (data_.size() < 1) return false;
    *out = static_cast<uint8_t>(data_[0]);
    data_.remove_prefix(1);
    return true;
  }
  bool ReadU16(uint16_t* out) {
    uint32_t v;
    if (!ReadBigEndian(2, &v)) return false;
    *out = static_cast<uint16_t>(v);
    return true;
  }
  bool ReadU24(uint32_t* out) { return ReadBigEndian(3, out); }
  bool ReadBytes(size_t n, absl::string_view* out) {
    if (data_.size() < n) return false;
    *out = data_.substr(0, n);
    data_.remove_prefix(n);
    return true;
  }
  // A length-prefixed field (1 or 2 length bytes): `out` reads its contents.
  bool ReadPrefixed(size_t length_bytes, ByteReader* out) {
    ByteReader copy = *this;
    uint32_t n;
    absl::string_view contents;
    if (!copy.ReadBigEndian(length_bytes, &n) || !copy.ReadBytes(n, &contents)) {
      return false;
    }
    *this = copy;
    *out = ByteReader(contents);
    return true;
  }
  absl::string_view rest() const { return data_; }

 private:
  bool ReadBigEndian(size_t n, uint32_t* out) {
    if (data_.size() < n) return false;
    uint32_t v = 0;
    for (size_t i = 0; i < n; ++i) v = (v << 8) | static_cast<uint8_t>(data_[i]);
    data_.remove_prefix(n);
    *out = v;
    return true;
  }

  absl::string_view data_;
};

// Why the strict walk refused a body.
struct Refusal {
  TlsAlert alert;
  std::string why;
};

Refusal Malformed(std::string why) {
  return {TlsAlert::kDecodeError, std::move(why)};
}

// Parses a server_name extension's data strictly (RFC 6066 §3 and the rules
// in the header): exactly one entry, host_name, non-empty. On success
// `*name` views the raw host_name bytes.
bool ParseServerName(absl::string_view data, absl::string_view* name,
                     Refusal* refusal) {
  if (data.empty()) {
    *refusal = Malformed("empty server_name extension");
    return false;
  }
  ByteReader ext(data);
  ByteReader list(absl::string_view{});
  if (!ext.ReadPrefixed(2, &list) || !ext.empty()) {
    *refusal = Malformed("server_name list length does not match the extension");
    return false;
  }
  uint8_t type;
  if (!list.ReadU8(&type)) {
    *refusal = Malformed("empty server_name list");
    return false;
  }
  if (type != kNameTypeHostName) {
    *refusal = Malformed(absl::StrCat("server_name entry of type ", type,
                                      " (only host_name, 0, is accepted)"));
    return false;
  }
  ByteReader host(absl::string_view{});
  if (!list.ReadPrefixed(2, &host)) {
    *refusal = Malformed("host_name length overruns the server_name list");
    return false;
  }
  if (host.empty()) {
    *refusal = Malformed("empty host_name");
    return false;
  }
  if (!list.empty()) {
    *refusal = Malformed(
        "bytes after the host_name in server_name (a second entry?)");
    return false;
  }
  *name = host.rest();
  return true;
}

// Parses an application_layer_protocol_negotiation extension's data (RFC
// 7301 §3.1): ProtocolNameList<2..2^16-1> exactly filling the data, every
// ProtocolName<1..2^8-1>. So an empty list, an empty name and a length that
// overruns are all refused.
bool ParseAlpn(absl::string_view data, Refusal* refusal) {
  ByteReader ext(data);
  ByteReader list(absl::string_view{});
  if (!ext.ReadPrefixed(2, &list) || !ext.empty()) {
    *refusal = Malformed("ALPN protocol list length does not match the extension");
    return false;
  }
  if (list.empty()) {
    *refusal = Malformed("empty ALPN protocol list");
    return false;
  }
  while (!list.empty()) {
    ByteReader name(absl::string_view{});
    if (!list.ReadPrefixed(1, &name)) {
      *refusal = Malformed("ALPN protocol name overruns the list");
      return false;
    }
    if (name.empty()) {
      *refusal = Malformed("empty ALPN protocol name");
      return false;
    }
  }
  return true;
}

// What the first bytes of a stream whose first byte has the high bit set
// say: an SSLv2-compatible CLIENT-HELLO (RFC 5246 App. E.2: 2-byte length
// with the high bit, msg_type 1, version {0,2} or {3,x}) or some other
// record type (128..255, which RFC 8446 §5 answers with unexpected_message).
// Decides on the first byte that differs, so it waits for no more bytes than
// it needs.
enum class HighBitStart { kNeedMore, kSslV2Hello, kOtherType };
HighBitStart ClassifyHighBitStart(absl::string_view b) {
  if (b.size() < 3) return HighBitStart::kNeedMore;
  if (static_cast<uint8_t>(b[2]) != kSslV2ClientHello) return HighBitStart::kOtherType;
  if (b.size() < 4) return HighBitStart::kNeedMore;
  const uint8_t major = static_cast<uint8_t>(b[3]);
  if (major != 0 && major != 3) return HighBitStart::kOtherType;
  if (b.size() < 5) return HighBitStart::kNeedMore;
  if (major == 0 && b[4] != 2) return HighBitStart::kOtherType;
  return HighBitStart::kSslV2Hello;
}

// The strict walk of a ClientHello body (RFC 8446 §4.1.2, RFC 5246
// §7.4.1.2): checks the framing of every field and finds server_name.
bool WalkClientHello(absl::string_view body,
                     std::optional<absl::string_view>* name,
                     Refusal* refusal) {
  ByteReader r(body);
  uint8_t major, minor;
  absl::string_view random;
  if (!r.ReadU8(&major) || !r.ReadU8(&minor)) {
    *refusal = Malformed("ClientHello truncated in legacy_version");
    return false;
  }
  if (major != 3) {
    *refusal = {TlsAlert::kProtocolVersion,
                absl::StrCat("ClientHello legacy_version ", major, ".", minor,
                             " is not TLS (major 3)")};
    return false;
  }
  if (!r.ReadBytes(32, &random)) {
    *refusal = Malformed("ClientHello truncated in random");
    return false;
  }
  ByteReader session_id(absl::string_view{});
  if (!r.ReadPrefixed(1, &session_id)) {
    *refusal = Malformed("legacy_session_id overruns the ClientHello");
    return false;
  }
  if (session_id.size() > 32) {
    *refusal = Malformed("legacy_session_id longer than 32 bytes");
    return false;
  }
  ByteReader suites(absl::string_view{});
  if (!r.ReadPrefixed(2, &suites)) {
    *refusal = Malformed("cipher_suites overrun the ClientHello");
    return false;
  }
  if (suites.empty() || suites.size() % 2 != 0) {
    *refusal = Malformed("cipher_suites length is zero or odd");
    return false;
  }
  ByteReader compression(absl::string_view{});
  if (!r.ReadPrefixed(1, &compression)) {
    *refusal = Malformed("compression_methods overrun the ClientHello");
    return false;
  }
  if (compression.empty()) {
    *refusal = Malformed("empty compression_methods");
    return false;
  }
  name->reset();
  if (r.empty()) return true;  // no extensions block (RFC 5246 allows it)
  ByteReader extensions(absl::string_view{});
  if (!r.ReadPrefixed(2, &extensions)) {
    *refusal = Malformed("extensions length overruns the ClientHello");
    return false;
  }
  if (!r.empty()) {
    *refusal = Malformed("bytes after the extensions block");
    return false;
  }
  std::vector<uint16_t> types;
  while (!extensions.empty()) {
    uint16_t type;
    ByteReader data(absl::string_view{});
    if (!extensions.ReadU16(&type) || !extensions.ReadPrefixed(2, &data)) {
      *refusal = Malformed("extension overruns the extensions block");
      return false;
    }
    types.push_back(type);
    if (type == kExtensionServerName) {
      absl::string_view host;
      if (!ParseServerName(data.rest(), &host, refusal)) return false;
      *name = host;
    } else if (type == kExtensionAlpn) {
      if (!ParseAlpn(data.rest(), refusal)) return false;
    }
  }
  std::sort(types.begin(), types.end());
  auto dup = std::adjacent_find(types.begin(), types.end());
  if (dup != types.end()) {
    *refusal = {TlsAlert::kIllegalParameter,
                absl::StrCat("extension type ", *dup, " appears twice")};
    return false;
  }
  return true;
}

}  // namespace

std::string FatalAlertRecord(TlsAlert alert) {
  return std::string{21, 3, 3, 0, 2, 2, static_cast<char>(alert)};
}

Progress ClientHelloReader::Feed(absl::string_view bytes) {
  if (progress_ != Progress::kNeedMore) return progress_;
  buffer_.append(bytes.data(), bytes.size());
  progress_ = Parse();
  if (progress_ == Progress::kNeedMore && buffer_.size() > kMaxBufferedBytes) {
    return Fail(TlsAlert::kInternalError,
                absl::InternalError(absl::StrCat(
                    "more than ", kMaxBufferedBytes,
                    " bytes buffered without a complete ClientHello")));
  }
  return progress_;
}

Progress ClientHelloReader::Fail(TlsAlert alert, absl::Status status) {
  alert_ = alert;
  error_ = std::move(status);
  hostname_.reset();
  progress_ = Progress::kError;
  return progress_;
}

Progress ClientHelloReader::Parse() {
  auto refuse = [this](TlsAlert alert, std::string why) {
    return Fail(alert, absl::InvalidArgumentError(why));
  };
  for (;;) {
    if (handshake_total_ != 0 && handshake_.size() == handshake_total_) {
      return Finish();  // record_left_ is 0: checked when it was set
    }
    if (record_left_ == 0) {
      // The header is checked byte by byte, so an error does not wait for
      // bytes it does not depend on.
      ByteReader header(absl::string_view(buffer_).substr(pos_));
      uint8_t type, major, minor;
      uint16_t length;
      if (!header.ReadU8(&type)) return Progress::kNeedMore;
      if (!seen_record_ && (type & 0x80) != 0) {
        switch (ClassifyHighBitStart(absl::string_view(buffer_).substr(pos_))) {
          case HighBitStart::kNeedMore:
            return Progress::kNeedMore;
          case HighBitStart::kSslV2Hello:
            return refuse(TlsAlert::kProtocolVersion,
                          absl::StrCat("SSLv2-compatible ClientHello (first byte 0x",
                                       absl::Hex(type, absl::kZeroPad2),
                                       ") is not supported"));
          case HighBitStart::kOtherType:
            break;  // refused below as a content type that is not handshake
        }
      }
      if (type != kContentTypeHandshake) {
        return refuse(
            TlsAlert::kUnexpectedMessage,
            seen_record_
                ? absl::StrCat("record of content type ", type,
                               " between fragments of the ClientHello")
                : absl::StrCat("first record has content type ", type,
                               ", not handshake (22)"));
      }
      if (!header.ReadU8(&major)) return Progress::kNeedMore;
      if (major != 3) {
        return refuse(TlsAlert::kProtocolVersion,
                      absl::StrCat("record version major ", major, ", not 3"));
      }
      if (!header.ReadU8(&minor) || !header.ReadU16(&length)) {
        return Progress::kNeedMore;
      }
      if (length == 0) {
        return refuse(TlsAlert::kDecodeError, "zero-length handshake record");
      }
      if (length > kMaxTlsRecordPayload) {
        return refuse(TlsAlert::kRecordOverflow,
                      absl::StrCat("record payload of ", length,
                                   " bytes exceeds 2^14"));
      }
      pos_ += kTlsRecordHeaderLength;
      record_left_ = length;
      seen_record_ = true;
      if (handshake_total_ != 0 &&
          record_left_ > handshake_total_ - handshake_.size()) {
        return refuse(TlsAlert::kUnexpectedMessage,
                      "record continues past the end of the ClientHello");
      }
    }
    const size_t available = buffer_.size() - pos_;
    if (available == 0) return Progress::kNeedMore;
    const size_t wanted = handshake_total_ != 0
                              ? handshake_total_ - handshake_.size()
                              : kHandshakeHeaderLength - handshake_.size();
    const size_t n = std::min({available, record_left_, wanted});
    handshake_.append(buffer_, pos_, n);
    pos_ += n;
    record_left_ -= n;
    if (handshake_total_ == 0) {
      const uint8_t msg_type = static_cast<uint8_t>(handshake_[0]);
      if (msg_type != kHandshakeTypeClientHello) {
        return refuse(TlsAlert::kUnexpectedMessage,
                      absl::StrCat("first handshake message has type ",
                                   msg_type, ", not ClientHello (1)"));
      }
      if (handshake_.size() == kHandshakeHeaderLength) {
        ByteReader h(handshake_);
        uint8_t ignored;
        uint32_t length;
        h.ReadU8(&ignored);
        h.ReadU24(&length);
        if (length > kMaxClientHelloLength) {
          return refuse(TlsAlert::kIllegalParameter,
                        absl::StrCat("ClientHello of ", length,
                                     " bytes exceeds the cap of ",
                                     kMaxClientHelloLength));
        }
        handshake_total_ = kHandshakeHeaderLength + length;
        if (record_left_ > length) {
          return refuse(TlsAlert::kUnexpectedMessage,
                        "record continues past the end of the ClientHello");
        }
      }
    }
  }
}

Progress ClientHelloReader::Finish() {
  const absl::string_view body =
      absl::string_view(handshake_).substr(kHandshakeHeaderLength);
  std::optional<absl::string_view> strict_name;
  Refusal refusal{TlsAlert::kInternalError, ""};
  // The strict walk first: it also keeps DTLS versions away from Botan.
  if (!WalkClientHello(body, &strict_name, &refusal)) {
    return Fail(refusal.alert, absl::InvalidArgumentError(refusal.why));
  }
  auto botan = ParseClientHelloWithBotan(body);
  if (!botan.ok()) return Fail(TlsAlert::kDecodeError, botan.status());
  if (botan->has_server_name != strict_name.has_value() ||
      (strict_name && botan->host_name != *strict_name)) {
    return Fail(TlsAlert::kInternalError,
                absl::InternalError(
                    "Botan and the strict walk disagree on server_name"));
  }
  if (!strict_name) {
    hostname_.reset();
    return Progress::kDone;
  }
  auto canonical = CanonicalHostname(*strict_name);
  if (!canonical.ok()) {
    return Fail(TlsAlert::kUnrecognizedName,
                absl::Status(canonical.status().code(),
                             absl::StrCat("server_name: ",
                                          canonical.status().message())));
  }
  hostname_ = *std::move(canonical);
  return Progress::kDone;
}

}  // namespace sallyport::parser
