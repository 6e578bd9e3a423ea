// SPDX-License-Identifier: Apache-2.0
// tests/parser/clienthello_builder.h — builds ClientHellos (valid or broken
// on purpose) and cuts them into TLS records and Feed() chunks. Test only.
//
// Example:
//   std::string body = ClientHelloBuilder().Tls13().ServerName("a.test")
//                          .Alpn({"h2"}).Body();
//   std::string stream = ToRecords(HandshakeMessage(body), 7);  // 7-byte records
//
// Extensions are emitted in the order they were added. The style adds the
// usual extensions of that TLS version where it is called (TLS 1.3:
// supported_groups, signature_algorithms, supported_versions, key_share,
// psk_key_exchange_modes; TLS 1.2: ec_point_formats, supported_groups,
// signature_algorithms, extended_master_secret). Without either, the hello
// has only the extensions added explicitly.
#ifndef SALLYPORT_TESTS_PARSER_CLIENTHELLO_BUILDER_H_
#define SALLYPORT_TESTS_PARSER_CLIENTHELLO_BUILDER_H_

#include <cstddef>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

namespace sallyport::testing {

// One ServerName entry; name_length_delta corrupts its 2-byte length field.
struct ServerNameEntry {
  uint8_t name_type = 0;  // 0 = host_name
  std::string name;
  int name_length_delta = 0;
};

// server_name extension_data: ServerNameList with `entries`;
// list_length_delta corrupts the list's 2-byte length field.
std::string ServerNameData(const std::vector<ServerNameEntry>& entries,
                           int list_length_delta = 0);

class ClientHelloBuilder {
 public:
  ClientHelloBuilder& Tls12();
  ClientHelloBuilder& Tls13();
  ClientHelloBuilder& LegacyVersion(uint16_t version);
  ClientHelloBuilder& SessionIdLength(size_t length);
  ClientHelloBuilder& CipherSuites(std::vector<uint16_t> suites);
  // A well-formed server_name with one host_name.
  ClientHelloBuilder& ServerName(const std::string& host);
  ClientHelloBuilder& ServerNames(const std::vector<ServerNameEntry>& entries,
                                  int list_length_delta = 0);
  ClientHelloBuilder& Alpn(const std::vector<std::string>& protocols);
  ClientHelloBuilder& Padding(size_t zero_bytes);  // extension 21
  ClientHelloBuilder& Extension(uint16_t type, const std::string& data);
  // Omits the extensions block entirely (no length field).
  ClientHelloBuilder& NoExtensionsBlock();
  // Corrupts the extensions block's 2-byte length field.
  ClientHelloBuilder& ExtensionsLengthDelta(int delta);

  // The ClientHello body (legacy_version onwards).
  std::string Body() const;

 private:
  struct Ext {
    uint16_t type;
    std::string data;
  };
  uint16_t legacy_version_ = 0x0303;
  size_t session_id_length_ = 32;
  std::vector<uint16_t> suites_ = {0x1301, 0x1302, 0xc02f};
  std::vector<Ext> extensions_;
  bool no_extensions_block_ = false;
  int extensions_length_delta_ = 0;
};

// A handshake message: type, 3-byte length (+ delta), body.
std::string HandshakeMessage(const std::string& body, uint8_t type = 1,
                             int length_delta = 0);
// One TLS record: type, version, 2-byte length (+ delta), payload.
std::string Record(const std::string& payload, uint8_t content_type = 22,
                   uint16_t version = 0x0301, int length_delta = 0);
// `handshake` cut into records of `fragment` bytes (the last may be shorter).
std::string ToRecords(const std::string& handshake, size_t fragment);
// `handshake` cut into records of the given sizes, in order, cycling the
// list if it runs out (sizes must be >= 1).
std::string ToRecords(const std::string& handshake,
                      const std::vector<size_t>& sizes);
// Random record sizes in [1, max] (biased to small ones) until `total` bytes
// are covered.
std::vector<size_t> RandomSizes(std::mt19937& rng, size_t total, size_t max);
// `stream` cut into chunks of the given sizes (the last takes the rest).
std::vector<std::string> Chunk(const std::string& stream,
                               const std::vector<size_t>& sizes);

}  // namespace sallyport::testing

#endif  // SALLYPORT_TESTS_PARSER_CLIENTHELLO_BUILDER_H_
