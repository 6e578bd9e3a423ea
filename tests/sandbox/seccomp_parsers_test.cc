// SPDX-License-Identifier: Apache-2.0
// tests/sandbox/seccomp_parsers_test.cc — the real parsers (TLS ClientHello
// incl. the Botan adapter, HTTP head) give the same answers under the child
// filter (and under parent + child, as in production) as without one, on the
// real ClientHello captures, on every truncation point's worth of split
// feeds, and on deterministic corruptions that make Botan throw. A syscall
// the parsers make after the filter is loaded kills the child (SIGSYS).
//
// As in production, the parsers are warmed up once before fork (a good
// hello and a truncated one): first-use initialisation is the parent's job
// (sandbox/lockdown.h WarmUpLibc + the caller's warm_up). The warm-up
// deliberately throws nothing, so each filtered child throws its first C++
// exception cold: libgcc's unwinder then runs a pthread_once, whose
// FUTEX_WAKE_PRIVATE is why the child policy has the "once" group (found by
// this test: without it the first Botan exception in a child was SIGSYS).
#include <dirent.h>
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "parser/http_head.h"
#include "parser/tls_clienthello.h"
#include "policy/syscalls.h"
#include "sandbox/seccomp.h"

namespace sallyport::sandbox {
namespace {

constexpr char kCaptures[] = "tests/parser/testdata/clienthellos";

std::vector<std::string> LoadInputs() {
  std::vector<std::string> captures;
  DIR* d = opendir(kCaptures);
  if (d == nullptr) return captures;
  std::vector<std::string> names;
  while (dirent* e = readdir(d)) {
    std::string n = e->d_name;
    if (n.size() > 4 && n.compare(n.size() - 4, 4, ".bin") == 0) names.push_back(n);
  }
  closedir(d);
  std::sort(names.begin(), names.end());
  for (const std::string& n : names) {
    std::ifstream in(std::string(kCaptures) + "/" + n, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    captures.push_back(ss.str());
  }
  // Corruptions: a deterministic byte flip at a spread of offsets, and
  // truncations. Many of these reach Botan and make it throw.
  std::vector<std::string> out = captures;
  uint32_t x = 12345;
  for (const std::string& c : captures) {
    for (int i = 0; i < 24 && !c.empty(); ++i) {
      x = x * 1103515245 + 12345;
      std::string m = c;
      m[(x >> 8) % m.size()] ^= static_cast<char>(1 + (x >> 24) % 255);
      out.push_back(m);
    }
    out.push_back(c.substr(0, c.size() / 2));
    out.push_back(c.substr(0, 9));
  }
  return out;
}

// One line per input: progress, hostname or error. Fed in two splits (whole,
// and 7-byte chunks) to exercise reassembly.
std::string ParseAll(const std::vector<std::string>& inputs) {
  std::string out;
  for (const std::string& in : inputs) {
    for (size_t chunk : {in.size(), size_t{7}}) {
      parser::ClientHelloReader r;
      for (size_t off = 0; off < in.size() && r.progress() == parser::Progress::kNeedMore;
           off += chunk)
        r.Feed(absl::string_view(in).substr(off, chunk));
      out += std::to_string(static_cast<int>(r.progress())) + " " +
             (r.hostname() ? *r.hostname() : "-") + " " + std::string(r.error().message()) + "\n";
    }
  }
  for (const char* head : {"GET / HTTP/1.1\r\nHost: Example.COM:8080\r\n\r\n",
                           "GET http://a.example/x HTTP/1.1\r\nHost: b.example\r\n\r\n",
                           "GET / HTTP/1.1\r\nHost: :80\r\n\r\n",
                           "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "GARBAGE\r\n\r\n"}) {
    parser::HttpHeadReader h;
    h.Feed(head);
    out += std::to_string(static_cast<int>(h.progress())) + " " + h.hostname() + " " +
           std::to_string(h.http_status()) + "\n";
  }
  return out;
}

// Runs ParseAll in a forked child under `filters`; returns its output (or
// the wait status described, when it did not exit 0).
std::string ParseUnder(const std::vector<const CompiledFilter*>& filters,
                       const std::vector<std::string>& inputs) {
  int p[2];
  if (pipe2(p, O_CLOEXEC) != 0) return "pipe failed";
  std::fflush(nullptr);
  pid_t pid = fork();
  if (pid == 0) {
    close(p[0]);
    alarm(60);  // hang guard only
    for (const CompiledFilter* f : filters)
      if (f->Install() != 0) _exit(99);
    std::string out = ParseAll(inputs);
    for (size_t off = 0; off < out.size();) {
      ssize_t n = write(p[1], out.data() + off, out.size() - off);
      if (n <= 0) _exit(98);
      off += static_cast<size_t>(n);
    }
    _exit(0);
  }
  close(p[1]);
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = read(p[0], buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
  close(p[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  if (WIFSIGNALED(status)) return "killed by signal " + std::to_string(WTERMSIG(status));
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    return "exit " + std::to_string(WEXITSTATUS(status));
  return out;
}

// Equal, or the first line that differs (the outputs are long).
::testing::AssertionResult SameOutput(const std::string& under, const std::string& plain) {
  if (under == plain) return ::testing::AssertionSuccess();
  size_t i = 0;
  while (i < under.size() && i < plain.size() && under[i] == plain[i]) ++i;
  size_t line = plain.rfind('\n', i == 0 ? 0 : i - 1);
  line = line == std::string::npos ? 0 : line + 1;
  return ::testing::AssertionFailure()
         << "under the filter: \"" << under.substr(line, 120) << "\"\nwithout: \""
         << plain.substr(line, 120) << "\"";
}

class ParsersUnderFilter : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    inputs_ = new std::vector<std::string>(LoadInputs());
    auto c = CompileFilter(policy::ChildPolicy());
    auto p = CompileFilter(policy::ParentPolicy());
    ASSERT_TRUE(c.ok() && p.ok());
    child_ = new CompiledFilter(*std::move(c));
    parent_ = new CompiledFilter(*std::move(p));
    // Warm-up, as the parent does before accepting: one of each outcome.
    std::vector<std::string> warm = {inputs_->front(), inputs_->back()};
    (void)ParseAll(warm);
  }
  static std::vector<std::string>* inputs_;
  static CompiledFilter* child_;
  static CompiledFilter* parent_;
};
std::vector<std::string>* ParsersUnderFilter::inputs_;
CompiledFilter* ParsersUnderFilter::child_;
CompiledFilter* ParsersUnderFilter::parent_;

TEST_F(ParsersUnderFilter, CapturesArePresent) {
  // 18 real captures + 26 corruptions each.
  EXPECT_GE(inputs_->size(), size_t{18 * 27});
}

TEST_F(ParsersUnderFilter, SameAnswersUnderChildFilter) {
  std::string plain = ParseUnder({}, *inputs_);
  ASSERT_NE(plain.find("curl.example.test"), std::string::npos) << plain.substr(0, 400);
  EXPECT_TRUE(SameOutput(ParseUnder({child_}, *inputs_), plain));
}

TEST_F(ParsersUnderFilter, SameAnswersUnderParentPlusChild) {
  std::string plain = ParseUnder({}, *inputs_);
  EXPECT_TRUE(SameOutput(ParseUnder({parent_, child_}, *inputs_), plain));
}

}  // namespace
}  // namespace sallyport::sandbox
