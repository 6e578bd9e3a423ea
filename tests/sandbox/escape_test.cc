// SPDX-License-Identifier: Apache-2.0
// Escape attempts from inside the real sandbox: the test builds a hosts
// directory with two tenants (different uids, real backend processes) and
// some traps outside it, then forks an acceptor that runs LockdownParent
// (--user nobody). The acceptor is the route broker (proxy/route_broker.h):
// it makes every lookup and connect attempt under the parent filter, in
// its chroot and network namespace. Then a per-connection child
// (LockdownChild, both filters) tries to make a socket of its own to reach
// a backend without the broker, and is killed. Results come through a
// pipe; the test asserts on them.
// Needs real root (tag no-sandbox): chown, setresuid, chroot, unshare.
#include <errno.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstddef>
#include <cstring>
#include <string>

#include "gtest/gtest.h"
#include "policy/ownership.h"
#include "sandbox/lockdown.h"
#include "sandbox/resolve.h"
#include "tests/sandbox/lockdown_testing.h"

namespace sallyport::sandbox {
namespace {

using ::sallyport::policy::DecideRoute;
using ::sallyport::policy::kTlsSocket;
using ::sallyport::policy::Route;
using ::sallyport::testing::DescribeStatus;
using ::sallyport::testing::FakeBackend;
using ::sallyport::testing::ForkChild;
using ::sallyport::testing::Pipe;
using ::sallyport::testing::ReadAll;
using ::sallyport::testing::TempDir;
using ::sallyport::testing::WaitStatus;
using ::sallyport::testing::WriteAll;

constexpr uid_t kTenantA = 42001;
constexpr uid_t kTenantB = 42002;

// Everything the locked child measured. Errnos are positive; 0 = success.
struct Results {
  int abstract_connect_errno = -1;   // connect to the outside abstract socket
  int follow_passwd_errno = -1;      // stat through hosts/out-link -> /etc/passwd
  int outside_route_code = -1;       // DecideRoute(outside.example)
  int outside_connect_errno = -1;    // connect via the absolute socket symlink
  int dotdot_same_as_root = 0;       // "/.." and "../../.." are "/"
  int dotdot_passwd_errno = -1;      // stat("../../etc/passwd")
  unsigned long root_ino = 0;        // st_ino of "/" inside
  char a_reply = 0;                  // a.example's backend answered
  char b_reply = 0;                  // b.example's backend answered
  int evil_route_code = -1;          // A's alias pointing at B's directory
  int forged_route_rc = 0;           // ConnectRoute(B's socket, owner A)
  int swapped_route_code = -1;       // DecideRoute(swap.example): looks fine
  int swapped_connect_rc = 0;        // ... but the listener is B: refused
  int missing_route_code = -1;       // no such host
  int long_route_code = -1;          // 253-char name: routed
  char long_reply = 0;               // ... and connected (relative sun_path)
  int private_route_code = -1;       // a 0700 tenant dir: lookup error
  int child_socket_status = 0;       // a locked child's own socket(): killed
};

// Runs inside the locked acceptor, as the route broker does: only syscalls
// the parent policy allows.
void Attempt(const char* abstract_name, size_t abstract_len,
             const std::string& long_name, Results& r) {
  // 1. The abstract socket listening in the test's network namespace.
  {
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un addr;
    std::memset(&addr, 0, sizeof(addr));
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path, abstract_name, abstract_len);
    socklen_t len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + abstract_len);
    r.abstract_connect_errno =
        connect(fd, reinterpret_cast<sockaddr*>(&addr), len) == 0 ? 0 : errno;
    close(fd);
  }
  // 2. A symlink in the hosts dir to an absolute path outside the chroot.
  struct stat st;
  r.follow_passwd_errno = fstatat(AT_FDCWD, "out-link", &st, 0) == 0 ? 0 : errno;
  // 3. A host whose socket is an absolute symlink to a socket outside.
  sandbox::FsLookup fs;
  r.outside_route_code = static_cast<int>(
      DecideRoute("outside.example", kTlsSocket, fs).status().code());
  {
    Route forced{"outside.example", "tls-socket", kTenantA, Route::kNone};
    int fd = ConnectRoute(forced);
    r.outside_connect_errno = fd >= 0 ? 0 : -fd;
    if (fd >= 0) close(fd);
  }
  // 4. "..": the root is its own parent.
  struct stat root, up1, up3;
  if (fstatat(AT_FDCWD, "/", &root, 0) == 0 && fstatat(AT_FDCWD, "/..", &up1, 0) == 0 &&
      chdir("../../..") == 0 && fstatat(AT_FDCWD, ".", &up3, 0) == 0) {
    r.root_ino = root.st_ino;
    r.dotdot_same_as_root = up1.st_ino == root.st_ino && up1.st_dev == root.st_dev &&
                            up3.st_ino == root.st_ino && up3.st_dev == root.st_dev;
  }
  r.dotdot_passwd_errno =
      fstatat(AT_FDCWD, "../../etc/passwd", &st, 0) == 0 ? 0 : errno;
  if (chdir("/") != 0) return;
  // 5. Each tenant reaches its own backend.
  auto reply_of = [&](const char* name, char& out) {
    absl::StatusOr<Route> route = DecideRoute(name, kTlsSocket, fs);
    if (!route.ok()) return;
    int fd = ConnectRoute(*route);
    if (fd < 0) return;
    if (read(fd, &out, 1) != 1) out = '?';
    close(fd);
  };
  reply_of("a.example", r.a_reply);
  reply_of("b.example", r.b_reply);
  // 6. A's name aliased to B's directory.
  r.evil_route_code = static_cast<int>(
      DecideRoute("evil.example", kTlsSocket, fs).status().code());
  // 7. A route that skips the rules (B's socket, claimed for A): the kernel's
  //    SO_PEERCRED still says B.
  {
    Route forged{"b.example", "tls-socket", kTenantA, Route::kNone};
    int fd = ConnectRoute(forged);
    r.forged_route_rc = fd;
    if (fd >= 0) close(fd);
  }
  // 8. A socket file chowned to A whose listener is B (the swap race).
  absl::StatusOr<Route> swapped = DecideRoute("swap.example", kTlsSocket, fs);
  r.swapped_route_code = static_cast<int>(swapped.status().code());
  if (swapped.ok()) {
    int fd = ConnectRoute(*swapped);
    r.swapped_connect_rc = fd;
    if (fd >= 0) close(fd);
  }
  r.missing_route_code = static_cast<int>(
      DecideRoute("missing.example", kTlsSocket, fs).status().code());
  // 9. A directory nobody may search: a lookup error, not "no such host".
  r.private_route_code = static_cast<int>(
      DecideRoute("private.example", kTlsSocket, fs).status().code());
  // 10. The longest host name still connects (relative sun_path).
  absl::StatusOr<Route> long_route = DecideRoute(long_name, kTlsSocket, fs);
  r.long_route_code = static_cast<int>(long_route.status().code());
  if (long_route.ok()) {
    int fd = ConnectRoute(*long_route);
    if (fd >= 0) {
      if (read(fd, &r.long_reply, 1) != 1) r.long_reply = '?';
      close(fd);
    }
  }
}

void MakeDir(const std::string& path, uid_t owner, mode_t mode) {
  ASSERT_EQ(mkdir(path.c_str(), mode), 0) << path;
  ASSERT_EQ(chmod(path.c_str(), mode), 0);
  ASSERT_EQ(chown(path.c_str(), owner, owner), 0);
}

int ListenAt(const std::string& dir, const std::string& name) {
  int fd = socket(AF_UNIX, SOCK_STREAM, 0);
  struct sockaddr_un addr;
  std::memset(&addr, 0, sizeof(addr));
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, name.data(), name.size());
  if (fd < 0 || chdir(dir.c_str()) != 0 ||
      bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      listen(fd, 4) != 0 || chdir("/") != 0) {
    return -1;
  }
  return fd;
}

TEST(EscapeTest, NothingOutsideTheSandboxIsReachable) {
  ASSERT_EQ(geteuid(), 0u) << "needs root (tag no-sandbox)";
  ASSERT_GT(testing::ParentFilter().instructions(), 0u);
  ASSERT_GT(testing::ChildFilter().instructions(), 0u);

  TempDir hosts("sallyport-escape-hosts");
  TempDir outside("sallyport-escape-outside");
  std::string long_name(253, 'x');
  for (size_t i = 63; i < long_name.size(); i += 64) long_name[i] = '.';

  // Tenant directories, writable by their backends while they bind.
  MakeDir(hosts.Sub("a.example"), kTenantA, 0755);
  MakeDir(hosts.Sub("b.example"), kTenantB, 0755);
  MakeDir(hosts.Sub("swap.example"), kTenantB, 0755);
  MakeDir(hosts.Sub(long_name), kTenantA, 0755);
  MakeDir(hosts.Sub("private.example"), kTenantA, 0700);
  FakeBackend a(kTenantA, {hosts.Sub("a.example/tls-socket"),
                           hosts.Sub(long_name + "/tls-socket")}, 'A');
  FakeBackend b(kTenantB, {hosts.Sub("b.example/tls-socket"),
                           hosts.Sub("swap.example/tls-socket")}, 'B');
  ASSERT_TRUE(a.ok());
  ASSERT_TRUE(b.ok());
  // swap.example now looks like A's: directory and socket file chowned to A.
  ASSERT_EQ(chown(hosts.Sub("swap.example").c_str(), kTenantA, kTenantA), 0);
  ASSERT_EQ(chown(hosts.Sub("swap.example/tls-socket").c_str(), kTenantA, kTenantA), 0);
  // A's alias to B's directory.
  ASSERT_EQ(symlink("b.example", hosts.Sub("evil.example").c_str()), 0);
  ASSERT_EQ(lchown(hosts.Sub("evil.example").c_str(), kTenantA, kTenantA), 0);
  // Traps pointing out of the chroot.
  ASSERT_EQ(symlink("/etc/passwd", hosts.Sub("out-link").c_str()), 0);
  int outside_fd = ListenAt(outside.path(), "sock");
  ASSERT_GE(outside_fd, 0);
  MakeDir(hosts.Sub("outside.example"), kTenantA, 0755);
  ASSERT_EQ(symlink(outside.Sub("sock").c_str(),
                    hosts.Sub("outside.example/tls-socket").c_str()), 0);
  // An abstract socket in the test's network namespace.
  const std::string abstract = std::string(1, '\0') + "sallyport-escape-" +
                               std::to_string(getpid());
  int abstract_fd = socket(AF_UNIX, SOCK_STREAM, 0);
  {
    struct sockaddr_un addr;
    std::memset(&addr, 0, sizeof(addr));
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path, abstract.data(), abstract.size());
    socklen_t len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + abstract.size());
    ASSERT_EQ(bind(abstract_fd, reinterpret_cast<sockaddr*>(&addr), len), 0);
    ASSERT_EQ(listen(abstract_fd, 4), 0);
    // Control: reachable from here, so "unreachable" below means the sandbox.
    int probe = socket(AF_UNIX, SOCK_STREAM, 0);
    ASSERT_EQ(connect(probe, reinterpret_cast<sockaddr*>(&addr), len), 0);
    close(probe);
  }
  // Controls for the traps: outside the sandbox they do lead somewhere.
  struct stat st;
  ASSERT_EQ(stat(hosts.Sub("out-link").c_str(), &st), 0);
  ASSERT_EQ(stat(hosts.Sub("outside.example/tls-socket").c_str(), &st), 0);
  ASSERT_TRUE(S_ISSOCK(st.st_mode));
  struct stat hosts_st;
  ASSERT_EQ(stat(hosts.path().c_str(), &hosts_st), 0);

  Pipe report;
  pid_t parent = ForkChild([&]() -> int {
    report.CloseRead();
    ParentLockdownOptions o;
    o.hosts_dir = hosts.path();
    o.user = "nobody";
    o.filter = &testing::ParentFilter();
    absl::StatusOr<ParentLockdownResult> lr = LockdownParent(o);
    if (!lr.ok()) return 50;
    Results r;
    Attempt(abstract.data(), abstract.size(), long_name, r);
    ChildLockdown spec;
    spec.devnull_fd = lr->devnull_fd;
    spec.filter = &testing::ChildFilter();
    pid_t child = fork();
    if (child == 0) {
      if (LockdownChild(spec) != 0) _exit(60);
      // A child taken over through a parser bug, going for B's socket on
      // its own: its filter has no socket().
      int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
      _exit(fd >= 0 ? 0 : 61);
    }
    if (child < 0 || waitpid(child, &r.child_socket_status, 0) != child) return 51;
    return WriteAll(report.w, &r, sizeof(r)) ? 0 : 52;
  });
  report.CloseWrite();
  Results r;
  bool got = ReadAll(report.r, &r, sizeof(r));
  int status = WaitStatus(parent);
  ASSERT_TRUE(got) << "no report; acceptor: " << DescribeStatus(status);
  EXPECT_EQ(DescribeStatus(status), "exit 0");

  EXPECT_EQ(r.abstract_connect_errno, ECONNREFUSED)
      << "abstract sockets of the host netns must be invisible";
  EXPECT_EQ(r.follow_passwd_errno, ENOENT) << "a symlink resolves inside the chroot";
  EXPECT_EQ(r.outside_route_code, static_cast<int>(absl::StatusCode::kFailedPrecondition));
  EXPECT_EQ(r.outside_connect_errno, ENOENT);
  EXPECT_EQ(r.dotdot_same_as_root, 1);
  EXPECT_EQ(r.root_ino, static_cast<unsigned long>(hosts_st.st_ino))
      << "\"/\" inside is the hosts directory";
  EXPECT_EQ(r.dotdot_passwd_errno, ENOENT);
  EXPECT_EQ(r.a_reply, 'A');
  EXPECT_EQ(r.b_reply, 'B');
  EXPECT_EQ(r.evil_route_code, static_cast<int>(absl::StatusCode::kPermissionDenied));
  EXPECT_EQ(r.forged_route_rc, -EPERM) << "SO_PEERCRED uid is B, not A";
  EXPECT_EQ(r.swapped_route_code, static_cast<int>(absl::StatusCode::kOk))
      << "the lstat view is fooled by the chown";
  EXPECT_EQ(r.swapped_connect_rc, -EPERM) << "but the kernel's peer credentials are not";
  EXPECT_EQ(r.missing_route_code, static_cast<int>(absl::StatusCode::kNotFound));
  EXPECT_EQ(r.long_route_code, static_cast<int>(absl::StatusCode::kOk));
  EXPECT_EQ(r.long_reply, 'A');
  EXPECT_EQ(r.private_route_code, static_cast<int>(absl::StatusCode::kUnavailable));
  EXPECT_EQ(DescribeStatus(r.child_socket_status), "killed by Bad system call")
      << "a child cannot make a socket to reach a backend itself";

  close(abstract_fd);
  close(outside_fd);
}

}  // namespace
}  // namespace sallyport::sandbox
