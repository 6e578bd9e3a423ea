// SPDX-License-Identifier: Apache-2.0
// Fuzzes CanonicalHostname and SplitHostPort. Invariants: an accepted name is
// a fixed point (canonicalising it again gives itself), is a safe single path
// component, and obeys the length and character rules of the contract;
// NotFound is given only to IP literals; SplitHostPort returns a non-empty
// prefix of its input.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "parser/hostname.h"

namespace {
void Check(bool ok) {
  if (!ok) std::abort();
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string raw(reinterpret_cast<const char*>(data), size);
  auto name = sallyport::parser::CanonicalHostname(raw);
  if (name.ok()) {
    const std::string& n = *name;
    Check(!n.empty() && n.size() <= sallyport::parser::kMaxHostnameLength);
    Check(n != "." && n != ".." && n.back() != '.' && n.front() != '.');
    Check(n.find("..") == std::string::npos);
    for (char c : n) {
      Check((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
            c == '.');
    }
    auto again = sallyport::parser::CanonicalHostname(n);
    Check(again.ok() && *again == n);
  } else if (absl::IsNotFound(name.status())) {
    // Only IP literals: "[...]" or a last label (before the one root dot)
    // that is all digits.
    if (raw.front() != '[') {
      std::string n = raw;
      if (n.back() == '.') n.pop_back();
      size_t last = n.rfind('.');
      std::string label = last == std::string::npos ? n : n.substr(last + 1);
      Check(!label.empty());
      for (char c : label) Check(c >= '0' && c <= '9');
    } else {
      Check(raw.back() == ']');
    }
  } else {
    Check(absl::IsInvalidArgument(name.status()));
  }
  auto host = sallyport::parser::SplitHostPort(raw);
  if (host.ok()) {
    Check(!host->empty() && host->size() <= raw.size());
    Check(raw.compare(0, host->size(), host->data(), host->size()) == 0);
  }
  return 0;
}
