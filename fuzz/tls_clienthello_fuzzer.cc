// SPDX-License-Identifier: Apache-2.0
// Fuzzes ClientHelloReader with the input as the byte stream a client sent.
// Invariants (abort() on violation):
//   - fed whole, byte by byte, and in chunks whose sizes come from the input,
//     the reader reaches the same progress, hostname, alert and error;
//   - bytes() is exactly what was fed up to the finishing Feed();
//   - kDone: error() is OK; a hostname is a fixed point of
//     CanonicalHostname; kError: a non-OK error, no hostname, a known alert;
//     kNeedMore: nothing refused yet, no hostname;
//   - Feed() after kDone/kError changes nothing.
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "parser/hostname.h"
#include "parser/tls_clienthello.h"

namespace {

using sallyport::parser::ClientHelloReader;
using sallyport::parser::Progress;
using sallyport::parser::TlsAlert;

void Check(bool ok) {
  if (!ok) std::abort();
}

bool KnownAlert(TlsAlert a) {
  switch (a) {
    case TlsAlert::kUnexpectedMessage:
    case TlsAlert::kRecordOverflow:
    case TlsAlert::kIllegalParameter:
    case TlsAlert::kDecodeError:
    case TlsAlert::kProtocolVersion:
    case TlsAlert::kInternalError:
    case TlsAlert::kUnrecognizedName:
      return true;
    default:
      return false;
  }
}

// Feeds `in` in chunks of the given sizes (cycled); returns the bytes fed
// until the reader finished.
size_t FeedChunks(ClientHelloReader& r, absl::string_view in,
                  const std::vector<size_t>& sizes) {
  size_t at = 0;
  for (size_t i = 0; at < in.size() && r.progress() == Progress::kNeedMore; ++i) {
    size_t n = std::min(sizes[i % sizes.size()], in.size() - at);
    Check(r.Feed(in.substr(at, n)) == r.progress());
    at += n;
  }
  return at;
}

void CheckOne(const ClientHelloReader& r, absl::string_view in, size_t fed) {
  Check(r.bytes() == in.substr(0, fed));
  switch (r.progress()) {
    case Progress::kNeedMore:
      Check(fed == in.size());
      Check(r.error().ok() && !r.hostname().has_value());
      break;
    case Progress::kDone:
      Check(r.error().ok());
      if (r.hostname()) {
        auto again = sallyport::parser::CanonicalHostname(*r.hostname());
        Check(again.ok() && *again == *r.hostname());
      }
      break;
    case Progress::kError:
      Check(!r.error().ok() && !r.hostname().has_value());
      Check(KnownAlert(r.alert()));
      break;
  }
}

void CheckSame(const ClientHelloReader& a, const ClientHelloReader& b) {
  Check(a.progress() == b.progress());
  Check(a.hostname() == b.hostname());
  if (a.progress() == Progress::kError) {
    Check(a.alert() == b.alert());
    Check(a.error() == b.error());
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view in(reinterpret_cast<const char*>(data), size);

  ClientHelloReader whole;
  whole.Feed(in);
  CheckOne(whole, in, in.size());

  // Feed after the end changes nothing.
  if (whole.progress() != Progress::kNeedMore) {
    const Progress before = whole.progress();
    const size_t kept = whole.bytes().size();
    Check(whole.Feed("\x16\x03\x01\x00\x01\x01") == before);
    Check(whole.bytes().size() == kept);
  }

  ClientHelloReader bytewise;
  size_t fed = FeedChunks(bytewise, in, {1});
  CheckOne(bytewise, in, fed);
  CheckSame(whole, bytewise);

  // Chunk sizes 1..64 taken from the input's own bytes, from the end.
  std::vector<size_t> sizes;
  for (size_t i = 0; i < 16 && i < size; ++i) sizes.push_back(1 + data[size - 1 - i] % 64);
  if (sizes.empty()) sizes.push_back(1);
  ClientHelloReader chunked;
  fed = FeedChunks(chunked, in, sizes);
  CheckOne(chunked, in, fed);
  CheckSame(whole, chunked);
  return 0;
}
