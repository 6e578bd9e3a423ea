// SPDX-License-Identifier: Apache-2.0
// Fuzzes HttpHeadReader. Invariants: the whole input, 1-byte feeds and
// feeds cut at input-chosen points give the same progress, status, hostname,
// reason and head length; bytes() is exactly what was fed; a returned
// hostname is a fixed point of CanonicalHostname; statuses come from the
// documented set; need-more never holds more than kMaxRequestHead bytes; the
// error response built from any reason is well formed.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "parser/hostname.h"
#include "parser/http_head.h"

namespace {

using sallyport::parser::HttpHeadReader;
using sallyport::parser::Progress;

void Check(bool ok) {
  if (!ok) std::abort();
}

void Same(const HttpHeadReader& a, const HttpHeadReader& b) {
  Check(a.progress() == b.progress());
  Check(a.http_status() == b.http_status());
  Check(a.hostname() == b.hostname());
  Check(a.error() == b.error());
  Check(a.is_http2_preface() == b.is_http2_preface());
  Check(a.head_length() == b.head_length());
}

// Feeds in pieces whose lengths the input itself picks, and checks what
// bytes() kept.
void FeedChunked(absl::string_view in, HttpHeadReader* r) {
  size_t pos = 0;
  while (pos < in.size()) {
    size_t len = 1 + (static_cast<uint8_t>(in[pos]) * 31u + pos) % 23u;
    absl::string_view piece = in.substr(pos, len);
    bool was_open = r->progress() == Progress::kNeedMore;
    r->Feed(piece);
    pos += piece.size();
    if (was_open) Check(r->bytes() == in.substr(0, pos));
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  absl::string_view in(reinterpret_cast<const char*>(data), size);

  HttpHeadReader whole;
  whole.Feed(in);
  Check(whole.bytes() == in);

  HttpHeadReader bytewise;
  for (size_t i = 0; i < in.size(); ++i) bytewise.Feed(in.substr(i, 1));
  Same(whole, bytewise);
  Check(absl::StartsWith(in, bytewise.bytes()));

  HttpHeadReader chunked;
  FeedChunked(in, &chunked);
  Same(whole, chunked);

  switch (whole.progress()) {
    case Progress::kNeedMore:
      Check(whole.http_status() == 0 && whole.error().ok());
      Check(whole.hostname().empty());
      Check(in.size() <= sallyport::parser::kMaxRequestHead);
      break;
    case Progress::kDone: {
      Check(whole.http_status() == 0 && whole.error().ok());
      const std::string& h = whole.hostname();
      auto again = sallyport::parser::CanonicalHostname(h);
      Check(again.ok() && *again == h);
      size_t n = whole.head_length();
      Check(n >= 4 && n <= sallyport::parser::kMaxRequestHead && n <= size);
      Check(in.substr(n - 4, 4) == "\r\n\r\n");
      Check(in.substr(0, n - 4).find(std::string("\0", 1)) ==
            absl::string_view::npos);
      break;
    }
    case Progress::kError: {
      int s = whole.http_status();
      Check(s == 400 || s == 404 || s == 414 || s == 431 || s == 501 ||
            s == 505);
      Check(!whole.error().ok());
      Check(whole.hostname().empty());
      if (whole.is_http2_preface()) {
        Check(s == 505);
        Check(absl::StartsWith(in, sallyport::parser::kHttp2Preface));
      }
      std::string resp =
          sallyport::parser::ErrorResponse(s, whole.error().message());
      size_t end = resp.find("\r\n\r\n");
      Check(end != std::string::npos);
      std::string body = resp.substr(end + 4);
      Check(absl::StrContains(resp.substr(0, end),
                              absl::StrCat("Content-Length: ", body.size())));
      Check(!body.empty() && body.back() == '\n');
      Check(body.find_first_of("\r\n") == body.size() - 1);
      break;
    }
  }
  return 0;
}
