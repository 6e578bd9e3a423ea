// SPDX-License-Identifier: Apache-2.0
// tests/sandbox/lockdown_testing.h — shared scaffolding for the lockdown and
// escape tests: a world-searchable temporary hosts directory, fork helpers,
// pipe records, /proc readers, and the compiled production filters.
//
// Side of the trust boundary: test only. Everything here runs in the test
// process or in a forked child before it is locked down.
#ifndef SALLYPORT_TESTS_SANDBOX_LOCKDOWN_TESTING_H_
#define SALLYPORT_TESTS_SANDBOX_LOCKDOWN_TESTING_H_

#include <sys/types.h>

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "sandbox/seccomp.h"

namespace sallyport::testing {

// The production filters, compiled once per test binary (aborts on error).
const sandbox::CompiledFilter& ParentFilter();
const sandbox::CompiledFilter& ChildFilter();

// mkdtemp under /tmp (not TEST_TMPDIR: its parents are not searchable by
// nobody), chmod 0755; removed recursively by the destructor.
class TempDir {
 public:
  explicit TempDir(const char* prefix);
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string Sub(const std::string& rel) const { return path_ + "/" + rel; }

 private:
  std::string path_;
};

// A pipe whose ends close on destruction. Not O_CLOEXEC (fork, no exec).
struct Pipe {
  Pipe();
  ~Pipe();
  void CloseRead();
  void CloseWrite();
  int r = -1;
  int w = -1;
};

// Writes/reads one fixed-size record; false on a short transfer or EOF.
bool WriteAll(int fd, const void* data, size_t n);
bool ReadAll(int fd, void* data, size_t n);
// Reads until EOF.
std::string ReadToEof(int fd);

// Forks; the child runs fn and _exit()s with its result. Returns the pid.
pid_t ForkChild(const std::function<int()>& fn);
// waitpid; returns the raw status.
int WaitStatus(pid_t pid);
std::string DescribeStatus(int status);

// /proc/<pid>/status as key → value (value trimmed).
std::map<std::string, std::string> ProcStatus(pid_t pid);
// Sorted fd numbers in /proc/<pid>/fd.
std::vector<int> ProcFds(pid_t pid);
// readlink(path) or "" on error.
std::string ReadLink(const std::string& path);
// "Max open files" → {soft, hard} strings from /proc/<pid>/limits.
std::map<std::string, std::pair<std::string, std::string>> ProcLimits(pid_t pid);

// setgroups(0) + setresgid + setresuid, without verification (test setup
// for the unprivileged path). Returns false on failure.
bool BecomeUser(uid_t uid, gid_t gid);

// A backend: a forked process running as `uid` that binds and listens on
// every path in `socket_paths` (made 0666 so nobody can connect), then
// answers each connection with `reply` and closes it. Killed by the
// destructor.
class FakeBackend {
 public:
  FakeBackend(uid_t uid, std::vector<std::string> socket_paths, char reply);
  ~FakeBackend();
  bool ok() const { return ok_; }

 private:
  pid_t pid_ = -1;
  bool ok_ = false;
};

}  // namespace sallyport::testing

#endif  // SALLYPORT_TESTS_SANDBOX_LOCKDOWN_TESTING_H_
