// SPDX-License-Identifier: Apache-2.0
#include "proxy/log.h"

#include <time.h>
#include <unistd.h>

#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace sallyport::proxy {
namespace {

// Double-quoted, '"' and '\\' backslash-escaped, and every byte outside
// printable ASCII escaped as \xNN (text) or \u00NN (JSON): the result is
// always one line of printable ASCII.
std::string Quoted(const std::string& v, LogFormat format) {
  std::string out = "\"";
  for (unsigned char c : v) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += char(c);
    } else if (c < 0x20 || c >= 0x7f) {
      out += format == LogFormat::kJson ? absl::StrFormat("\\u%04x", c)
                                        : absl::StrFormat("\\x%02x", c);
    } else {
      out += char(c);
    }
  }
  return out + "\"";
}

// Text values: bare when they are simple, else quoted.
std::string TextValue(const std::string& v) {
  bool simple = !v.empty();
  for (unsigned char c : v) {
    if (c <= 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '=') simple = false;
  }
  return simple ? v : Quoted(v, LogFormat::kText);
}

std::string JsonString(const std::string& v) { return Quoted(v, LogFormat::kJson); }

std::string Rfc3339(double unix_seconds) {
  time_t secs = static_cast<time_t>(std::floor(unix_seconds));
  int millis = static_cast<int>((unix_seconds - std::floor(unix_seconds)) * 1000);
  struct tm tm;
  gmtime_r(&secs, &tm);  // UTC: needs no time zone file
  return absl::StrFormat("%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                         tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                         tm.tm_sec, millis);
}

}  // namespace

LogRecord& LogRecord::Str(const std::string& key, const std::string& value) {
  fields_.push_back({key, value, true});
  return *this;
}

LogRecord& LogRecord::Int(const std::string& key, int64_t value) {
  fields_.push_back({key, absl::StrCat(value), false});
  return *this;
}

LogRecord& LogRecord::Seconds(const std::string& key, double seconds) {
  fields_.push_back({key, absl::StrFormat("%.3f", seconds), false});
  return *this;
}

std::string LogRecord::Format(LogFormat format, double unix_seconds) const {
  std::string time = Rfc3339(unix_seconds);
  if (format == LogFormat::kJson) {
    std::string out = absl::StrCat("{\"time\":", JsonString(time),
                                   ",\"event\":", JsonString(event_));
    for (const Field& f : fields_) {
      absl::StrAppend(&out, ",", JsonString(f.key), ":",
                      f.quoted ? JsonString(f.value) : f.value);
    }
    return out + "}";
  }
  std::string out = absl::StrCat(time, " ", event_);
  for (const Field& f : fields_) {
    absl::StrAppend(&out, " ", f.key, "=", f.quoted ? TextValue(f.value) : f.value);
  }
  return out;
}

double NowUnixSeconds() {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return double(ts.tv_sec) + ts.tv_nsec / 1e9;
}

void EmitLine(const std::string& line) {
  std::string buf = line + "\n";
  size_t off = 0;
  while (off < buf.size()) {
    ssize_t n = write(2, buf.data() + off, buf.size() - off);
    if (n <= 0) return;
    off += static_cast<size_t>(n);
  }
}

}  // namespace sallyport::proxy
