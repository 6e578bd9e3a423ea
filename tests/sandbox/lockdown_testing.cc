// SPDX-License-Identifier: Apache-2.0
#include "tests/sandbox/lockdown_testing.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <grp.h>
#include <signal.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

#include "policy/syscalls.h"

namespace sallyport::testing {
namespace {

const sandbox::CompiledFilter& Compile(const policy::SyscallPolicy& p) {
  absl::StatusOr<sandbox::CompiledFilter> f = sandbox::CompileFilter(p);
  if (!f.ok()) {
    std::fprintf(stderr, "CompileFilter(%s): %s\n", p.name,
                 std::string(f.status().message()).c_str());
    std::abort();
  }
  return *new sandbox::CompiledFilter(*std::move(f));
}

int RemoveOne(const char* path, const struct stat*, int, struct FTW*) {
  return remove(path);
}

}  // namespace

const sandbox::CompiledFilter& ParentFilter() {
  static const sandbox::CompiledFilter& f = Compile(policy::ParentPolicy());
  return f;
}

const sandbox::CompiledFilter& ChildFilter() {
  static const sandbox::CompiledFilter& f = Compile(policy::ChildPolicy());
  return f;
}

TempDir::TempDir(const char* prefix) {
  std::string tmpl = std::string("/tmp/") + prefix + "-XXXXXX";
  std::vector<char> buf(tmpl.begin(), tmpl.end());
  buf.push_back('\0');
  if (mkdtemp(buf.data()) == nullptr) std::abort();
  path_ = buf.data();
  if (chmod(path_.c_str(), 0755) != 0) std::abort();
}

TempDir::~TempDir() {
  nftw(path_.c_str(), RemoveOne, 16, FTW_DEPTH | FTW_PHYS);
}

Pipe::Pipe() {
  int fds[2];
  if (pipe(fds) != 0) std::abort();
  r = fds[0];
  w = fds[1];
}
Pipe::~Pipe() {
  CloseRead();
  CloseWrite();
}
void Pipe::CloseRead() {
  if (r >= 0) close(r);
  r = -1;
}
void Pipe::CloseWrite() {
  if (w >= 0) close(w);
  w = -1;
}

bool WriteAll(int fd, const void* data, size_t n) {
  const char* p = static_cast<const char*>(data);
  while (n > 0) {
    ssize_t k = write(fd, p, n);
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) return false;
    p += k;
    n -= static_cast<size_t>(k);
  }
  return true;
}

bool ReadAll(int fd, void* data, size_t n) {
  char* p = static_cast<char*>(data);
  while (n > 0) {
    ssize_t k = read(fd, p, n);
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) return false;
    p += k;
    n -= static_cast<size_t>(k);
  }
  return true;
}

std::string ReadToEof(int fd) {
  std::string out;
  char buf[512];
  for (;;) {
    ssize_t k = read(fd, buf, sizeof(buf));
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) break;
    out.append(buf, static_cast<size_t>(k));
  }
  return out;
}

pid_t ForkChild(const std::function<int()>& fn) {
  std::fflush(nullptr);
  pid_t pid = fork();
  if (pid == 0) _exit(fn());
  return pid;
}

int WaitStatus(pid_t pid) {
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return -1;
  }
  return status;
}

std::string DescribeStatus(int status) {
  if (status == -1) return "waitpid failed";
  if (WIFEXITED(status)) return "exit " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) {
    return std::string("killed by ") + strsignal(WTERMSIG(status));
  }
  return "status " + std::to_string(status);
}

std::map<std::string, std::string> ProcStatus(pid_t pid) {
  std::map<std::string, std::string> out;
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    size_t colon = line.find(':');
    if (colon == std::string::npos) continue;
    size_t v = line.find_first_not_of(" \t", colon + 1);
    out[line.substr(0, colon)] = v == std::string::npos ? "" : line.substr(v);
  }
  return out;
}

std::vector<int> ProcFds(pid_t pid) {
  std::vector<int> fds;
  std::string dir = "/proc/" + std::to_string(pid) + "/fd";
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return fds;
  while (struct dirent* e = readdir(d)) {
    if (e->d_name[0] == '.') continue;
    fds.push_back(std::atoi(e->d_name));
  }
  closedir(d);
  std::sort(fds.begin(), fds.end());
  return fds;
}

std::string ReadLink(const std::string& path) {
  char buf[4096];
  ssize_t n = readlink(path.c_str(), buf, sizeof(buf));
  if (n < 0) return "";
  return std::string(buf, static_cast<size_t>(n));
}

std::map<std::string, std::pair<std::string, std::string>> ProcLimits(pid_t pid) {
  // Lines: "Max open files            10                   10                   files"
  // The name column is 26 characters wide, then soft and hard.
  std::map<std::string, std::pair<std::string, std::string>> out;
  std::ifstream in("/proc/" + std::to_string(pid) + "/limits");
  std::string line;
  std::getline(in, line);  // header
  while (std::getline(in, line)) {
    if (line.size() < 26) continue;
    std::string name = line.substr(0, 26);
    name.erase(name.find_last_not_of(' ') + 1);
    std::istringstream rest(line.substr(26));
    std::string soft, hard;
    rest >> soft >> hard;
    out[name] = {soft, hard};
  }
  return out;
}

bool BecomeUser(uid_t uid, gid_t gid) {
  return setgroups(0, nullptr) == 0 && setresgid(gid, gid, gid) == 0 &&
         setresuid(uid, uid, uid) == 0;
}

FakeBackend::FakeBackend(uid_t uid, std::vector<std::string> socket_paths,
                         char reply) {
  Pipe ready;
  pid_ = ForkChild([&]() -> int {
    ready.CloseRead();
    if (!BecomeUser(uid, uid)) return 10;
    std::vector<int> fds;
    for (const std::string& path : socket_paths) {
      // Relative bind from the socket's directory: temp paths can be long.
      size_t slash = path.rfind('/');
      std::string dir = path.substr(0, slash), name = path.substr(slash + 1);
      int fd = socket(AF_UNIX, SOCK_STREAM, 0);
      struct sockaddr_un addr;
      std::memset(&addr, 0, sizeof(addr));
      addr.sun_family = AF_UNIX;
      std::memcpy(addr.sun_path, name.data(), name.size());
      if (fd < 0 || chdir(dir.c_str()) != 0 ||
          bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
          chmod(name.c_str(), 0666) != 0 || listen(fd, 16) != 0) {
        return 11;
      }
      fds.push_back(fd);
    }
    char ok = 'k';
    if (!WriteAll(ready.w, &ok, 1)) return 12;
    ready.CloseWrite();
    for (;;) {  // serve every listener until killed
      fd_set set;
      FD_ZERO(&set);
      int maxfd = -1;
      for (int fd : fds) {
        FD_SET(fd, &set);
        maxfd = std::max(maxfd, fd);
      }
      if (select(maxfd + 1, &set, nullptr, nullptr, nullptr) < 0) return 13;
      for (int fd : fds) {
        if (!FD_ISSET(fd, &set)) continue;
        int c = accept(fd, nullptr, nullptr);
        if (c < 0) continue;
        (void)!write(c, &reply, 1);
        close(c);
      }
    }
  });
  ready.CloseWrite();
  char ok = 0;
  ok_ = ReadAll(ready.r, &ok, 1) && ok == 'k';
}

FakeBackend::~FakeBackend() {
  if (pid_ > 0) {
    kill(pid_, SIGKILL);
    WaitStatus(pid_);
  }
}

}  // namespace sallyport::testing
