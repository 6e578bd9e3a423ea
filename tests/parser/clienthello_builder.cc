// SPDX-License-Identifier: Apache-2.0
#include "tests/parser/clienthello_builder.h"

#include <algorithm>

namespace sallyport::testing {
namespace {

void PutU8(std::string* out, size_t v) { out->push_back(static_cast<char>(v & 0xff)); }
void PutU16(std::string* out, size_t v) {
  PutU8(out, v >> 8);
  PutU8(out, v);
}
void PutU24(std::string* out, size_t v) {
  PutU8(out, v >> 16);
  PutU16(out, v);
}
// Adds a possibly negative delta to a length and truncates it to the field.
size_t Len(size_t n, int delta) { return static_cast<size_t>(static_cast<long>(n) + delta); }

std::string U16List(const std::vector<uint16_t>& values, size_t prefix_bytes) {
  std::string out;
  if (prefix_bytes == 1) PutU8(&out, values.size() * 2);
  if (prefix_bytes == 2) PutU16(&out, values.size() * 2);
  for (uint16_t v : values) PutU16(&out, v);
  return out;
}

}  // namespace

std::string ServerNameData(const std::vector<ServerNameEntry>& entries,
                           int list_length_delta) {
  std::string list;
  for (const ServerNameEntry& e : entries) {
    PutU8(&list, e.name_type);
    PutU16(&list, Len(e.name.size(), e.name_length_delta));
    list += e.name;
  }
  std::string out;
  PutU16(&out, Len(list.size(), list_length_delta));
  return out + list;
}

ClientHelloBuilder& ClientHelloBuilder::Tls12() {
  session_id_length_ = 0;
  suites_ = {0xc02f, 0xc030, 0x009e, 0x00ff};
  Extension(11, std::string("\x01\x00", 2));               // ec_point_formats
  Extension(10, U16List({0x001d, 0x0017}, 2));             // supported_groups
  Extension(13, U16List({0x0403, 0x0804, 0x0401}, 2));     // signature_algs
  Extension(23, "");                                       // ext master secret
  return *this;
}

ClientHelloBuilder& ClientHelloBuilder::Tls13() {
  session_id_length_ = 32;
  suites_ = {0x1301, 0x1302, 0x1303, 0xc02f};
  Extension(10, U16List({0x001d, 0x0017}, 2));
  Extension(13, U16List({0x0403, 0x0804, 0x0401}, 2));
  Extension(43, U16List({0x0304, 0x0303}, 1));             // supported_versions
  std::string share;
  PutU16(&share, 0x001d);
  PutU16(&share, 32);
  share += std::string(32, '\x42');
  std::string key_share;
  PutU16(&key_share, share.size());
  Extension(51, key_share + share);                        // key_share
  Extension(45, std::string("\x01\x01", 2));               // psk_ke_modes
  return *this;
}

ClientHelloBuilder& ClientHelloBuilder::LegacyVersion(uint16_t version) {
  legacy_version_ = version;
  return *this;
}
ClientHelloBuilder& ClientHelloBuilder::SessionIdLength(size_t length) {
  session_id_length_ = length;
  return *this;
}
ClientHelloBuilder& ClientHelloBuilder::CipherSuites(std::vector<uint16_t> suites) {
  suites_ = std::move(suites);
  return *this;
}
ClientHelloBuilder& ClientHelloBuilder::ServerName(const std::string& host) {
  return ServerNames({{0, host, 0}});
}
ClientHelloBuilder& ClientHelloBuilder::ServerNames(
    const std::vector<ServerNameEntry>& entries, int list_length_delta) {
  return Extension(0, ServerNameData(entries, list_length_delta));
}
ClientHelloBuilder& ClientHelloBuilder::Alpn(const std::vector<std::string>& protocols) {
  std::string list;
  for (const std::string& p : protocols) {
    PutU8(&list, p.size());
    list += p;
  }
  std::string data;
  PutU16(&data, list.size());
  return Extension(16, data + list);
}
ClientHelloBuilder& ClientHelloBuilder::Padding(size_t zero_bytes) {
  return Extension(21, std::string(zero_bytes, '\0'));
}
ClientHelloBuilder& ClientHelloBuilder::Extension(uint16_t type, const std::string& data) {
  extensions_.push_back({type, data});
  return *this;
}
ClientHelloBuilder& ClientHelloBuilder::NoExtensionsBlock() {
  no_extensions_block_ = true;
  return *this;
}
ClientHelloBuilder& ClientHelloBuilder::ExtensionsLengthDelta(int delta) {
  extensions_length_delta_ = delta;
  return *this;
}

std::string ClientHelloBuilder::Body() const {
  std::string out;
  PutU16(&out, legacy_version_);
  for (int i = 0; i < 32; ++i) PutU8(&out, 0xa0 + i);  // random
  PutU8(&out, session_id_length_);
  for (size_t i = 0; i < session_id_length_; ++i) PutU8(&out, i);
  out += U16List(suites_, 2);
  PutU8(&out, 1);  // compression_methods: null
  PutU8(&out, 0);
  if (no_extensions_block_) return out;
  std::string exts;
  for (const Ext& e : extensions_) {
    PutU16(&exts, e.type);
    PutU16(&exts, e.data.size());
    exts += e.data;
  }
  PutU16(&out, Len(exts.size(), extensions_length_delta_));
  return out + exts;
}

std::string HandshakeMessage(const std::string& body, uint8_t type, int length_delta) {
  std::string out;
  PutU8(&out, type);
  PutU24(&out, Len(body.size(), length_delta));
  return out + body;
}

std::string Record(const std::string& payload, uint8_t content_type,
                   uint16_t version, int length_delta) {
  std::string out;
  PutU8(&out, content_type);
  PutU16(&out, version);
  PutU16(&out, Len(payload.size(), length_delta));
  return out + payload;
}

std::string ToRecords(const std::string& handshake, size_t fragment) {
  return ToRecords(handshake, std::vector<size_t>{fragment});
}

std::string ToRecords(const std::string& handshake, const std::vector<size_t>& sizes) {
  std::string out;
  size_t at = 0;
  for (size_t i = 0; at < handshake.size(); ++i) {
    size_t n = std::min(sizes[i % sizes.size()], handshake.size() - at);
    out += Record(handshake.substr(at, n));
    at += n;
  }
  return out;
}

std::vector<size_t> RandomSizes(std::mt19937& rng, size_t total, size_t max) {
  std::vector<size_t> sizes;
  size_t covered = 0;
  while (covered < total) {
    // Half the time tiny (1..8), else anywhere up to max.
    size_t cap = (rng() % 2 == 0) ? std::min<size_t>(8, max) : max;
    size_t n = 1 + rng() % cap;
    sizes.push_back(n);
    covered += n;
  }
  return sizes;
}

std::vector<std::string> Chunk(const std::string& stream, const std::vector<size_t>& sizes) {
  std::vector<std::string> chunks;
  size_t at = 0;
  for (size_t i = 0; at < stream.size(); ++i) {
    size_t n = (i < sizes.size()) ? std::min(sizes[i], stream.size() - at)
                                  : stream.size() - at;
    chunks.push_back(stream.substr(at, n));
    at += n;
  }
  return chunks;
}

}  // namespace sallyport::testing
