// SPDX-License-Identifier: Apache-2.0
// proxy/log.h — one log line per connection (and per notable event), as
// text for humans and journald or as JSON (--log-format=json).
//
// Side of the trust boundary: parent. Formatting (LogRecord::Format) is pure;
// EmitLine() is a single write(2) to stderr so lines from one process never
// interleave. Every
// string that came from a child (hostname, detail) is escaped: a log line is
// always one line of printable ASCII.
#ifndef SALLYPORT_PROXY_LOG_H_
#define SALLYPORT_PROXY_LOG_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace sallyport::proxy {

enum class LogFormat { kText, kJson };

// A log record: an event name plus ordered key/value fields. Values are
// strings or integers; Format renders them.
class LogRecord {
 public:
  explicit LogRecord(std::string event) : event_(std::move(event)) {}
  LogRecord& Str(const std::string& key, const std::string& value);
  LogRecord& Int(const std::string& key, int64_t value);
  // Seconds with millisecond precision.
  LogRecord& Seconds(const std::string& key, double seconds);

  // `unix_seconds` is wall-clock time (CLOCK_REALTIME) rendered as UTC
  // RFC 3339 with milliseconds.
  std::string Format(LogFormat format, double unix_seconds) const;

 private:
  struct Field {
    std::string key;
    std::string value;
    bool quoted;  // string (JSON-quoted) or number
  };
  std::string event_;
  std::vector<Field> fields_;
};

// CLOCK_REALTIME as seconds since the epoch.
double NowUnixSeconds();

// Writes `line` plus '\n' to fd 2 in one write(). Never fails loudly.
void EmitLine(const std::string& line);

}  // namespace sallyport::proxy

#endif  // SALLYPORT_PROXY_LOG_H_
