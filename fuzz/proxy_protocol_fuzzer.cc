// SPDX-License-Identifier: Apache-2.0
// Fuzzes the PROXY protocol decoder and encoders. Invariants: whole input,
// 1-byte feeds and input-chosen chunks agree; an accepted header's
// header_length() plus rest() is the input; re-encoding an accepted header
// (as v1 and as v2) and decoding it gives the same endpoints (and authority);
// a pending decode never holds more than the v2 cap; endpoints built from the
// input always encode to headers that decode back to themselves.
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>

#include "parser/proxy_protocol.h"

namespace {

using sallyport::parser::EncodeProxyV1;
using sallyport::parser::EncodeProxyV2;
using sallyport::parser::ProxyEndpoints;
using sallyport::parser::ProxyHeaderReader;
using sallyport::parser::Progress;

void Check(bool ok) {
  if (!ok) std::abort();
}

void Same(const ProxyHeaderReader& a, const ProxyHeaderReader& b) {
  Check(a.progress() == b.progress());
  Check(a.error() == b.error());
  if (a.progress() != Progress::kDone) return;
  Check(a.header_length() == b.header_length());
  Check(a.header().version == b.header().version);
  Check(a.header().local == b.header().local);
  Check(a.header().endpoints == b.header().endpoints);
  Check(a.header().authority == b.header().authority);
}

// Decodes an encoder's output: must be exactly one complete header.
void CheckRoundTrip(const std::string& encoded, const ProxyEndpoints& e,
                    const std::string& authority, int version) {
  ProxyHeaderReader r;
  Check(r.Feed(encoded) == Progress::kDone);
  Check(r.header_length() == encoded.size() && r.rest().empty());
  Check(r.header().version == version);
  Check(!r.header().local);
  Check(r.header().endpoints == e);
  if (version == 2) {
    Check(authority.empty() ? !r.header().authority.has_value()
                            : r.header().authority == authority);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  absl::string_view in(reinterpret_cast<const char*>(data), size);

  ProxyHeaderReader whole;
  whole.Feed(in);

  ProxyHeaderReader bytewise;
  for (size_t i = 0; i < in.size(); ++i) bytewise.Feed(in.substr(i, 1));
  Same(whole, bytewise);

  ProxyHeaderReader chunked;
  for (size_t pos = 0; pos < in.size();) {
    size_t len = 1 + (static_cast<uint8_t>(in[pos]) * 37u + pos) % 29u;
    chunked.Feed(in.substr(pos, len));
    pos += len;
  }
  Same(whole, chunked);

  switch (whole.progress()) {
    case Progress::kNeedMore:
      Check(whole.error().ok());
      Check(size < sallyport::parser::kProxyV2MaxLength);
      break;
    case Progress::kError:
      Check(!whole.error().ok());
      break;
    case Progress::kDone: {
      Check(whole.error().ok());
      size_t n = whole.header_length();
      Check(n > 0 && n <= size);
      Check(n + whole.rest().size() == size);
      Check(whole.rest() == in.substr(n));
      // The byte-wise reader stopped exactly at the header's end.
      Check(bytewise.rest().empty());
      const auto& h = whole.header();
      Check(h.version == 1 || h.version == 2);
      if (h.version == 1) {
        Check(n <= sallyport::parser::kProxyV1MaxLength);
        Check(!h.local && !h.authority.has_value());
      } else {
        Check(n <= sallyport::parser::kProxyV2MaxLength);
      }
      if (h.local) {
        Check(h.endpoints == ProxyEndpoints());
      }
      if (h.endpoints.family == ProxyEndpoints::Family::kUnknown) {
        Check(h.endpoints == ProxyEndpoints());
      }
      std::string auth = h.authority.value_or("");
      CheckRoundTrip(EncodeProxyV1(h.endpoints), h.endpoints, "", 1);
      if (auth.size() <= sallyport::parser::kProxyV2MaxAuthority) {
        CheckRoundTrip(EncodeProxyV2(h.endpoints, auth), h.endpoints, auth, 2);
      }
      break;
    }
  }

  // Encoders over endpoints the input picks.
  if (size >= 37) {
    ProxyEndpoints e;
    e.family = static_cast<ProxyEndpoints::Family>(data[0] % 3);
    if (e.family != ProxyEndpoints::Family::kUnknown) {
      size_t a = e.family == ProxyEndpoints::Family::kTcp4 ? 4 : 16;
      std::memcpy(e.src_addr.data(), data + 1, a);
      std::memcpy(e.dst_addr.data(), data + 17, a);
      e.src_port = static_cast<uint16_t>(data[33] << 8 | data[34]);
      e.dst_port = static_cast<uint16_t>(data[35] << 8 | data[36]);
    }
    std::string auth;
    for (size_t i = 37; i < size && auth.size() < 300; ++i) {
      auth.push_back(static_cast<char>('a' + data[i] % 26));
    }
    CheckRoundTrip(EncodeProxyV1(e), e, "", 1);
    CheckRoundTrip(EncodeProxyV2(e, auth), e, auth, 2);
  }
  return 0;
}
