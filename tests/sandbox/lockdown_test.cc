// SPDX-License-Identifier: Apache-2.0
// The parent and child lockdown, observed from outside through /proc.
// Needs real root (tag no-sandbox): setresuid to nobody, chroot, unshare.
#include "sandbox/lockdown.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <netinet/in.h>
#include <pwd.h>
#include <sched.h>
#include <seccomp.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cstring>
#include <iostream>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/sandbox/lockdown_testing.h"

namespace sallyport::sandbox {
namespace {

using ::sallyport::testing::ChildFilter;
using ::sallyport::testing::DescribeStatus;
using ::sallyport::testing::ForkChild;
using ::sallyport::testing::ParentFilter;
using ::sallyport::testing::Pipe;
using ::sallyport::testing::ReadAll;
using ::sallyport::testing::ReadLink;
using ::sallyport::testing::ReadToEof;
using ::sallyport::testing::TempDir;
using ::sallyport::testing::WaitStatus;
using ::sallyport::testing::WriteAll;
using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr uid_t kNobody = 65534;
// An unprivileged start: any uid but the overflow uid (nobody is refused).
constexpr uid_t kUnprivileged = 42021;

uid_t OverflowUid() {
  FILE* f = fopen("/proc/sys/kernel/overflowuid", "re");
  unsigned long v = 0;
  if (f != nullptr) {
    if (fscanf(f, "%lu", &v) != 1) v = 0;
    fclose(f);
  }
  return static_cast<uid_t>(v);
}

// Runs LockdownParent in a forked child and returns "<code> <message>" as
// the child reports it, plus whether the child could still see the outside
// filesystem afterwards (it must, when the lockdown was refused at once).
struct Refusal {
  absl::StatusCode code = absl::StatusCode::kOk;
  std::string message;
  bool still_outside = false;
  std::string exit;
};

Refusal RefusalOf(const std::function<bool()>& setup,
                  const ParentLockdownOptions& options) {
  Pipe report;
  pid_t pid = ForkChild([&]() -> int {
    report.CloseRead();
    if (!setup()) return 20;
    absl::StatusOr<ParentLockdownResult> r = LockdownParent(options);
    if (r.ok()) return 21;
    int code = static_cast<int>(r.status().code());
    struct stat st;
    int outside = stat("/proc/self/status", &st) == 0 ? 1 : 0;
    std::string msg(r.status().message());
    if (!WriteAll(report.w, &code, sizeof(code)) ||
        !WriteAll(report.w, &outside, sizeof(outside)) ||
        !WriteAll(report.w, msg.data(), msg.size())) {
      return 22;
    }
    return 0;
  });
  report.CloseWrite();
  Refusal out;
  int code = 0, outside = 0;
  if (ReadAll(report.r, &code, sizeof(code)) &&
      ReadAll(report.r, &outside, sizeof(outside))) {
    out.code = static_cast<absl::StatusCode>(code);
    out.still_outside = outside == 1;
    out.message = ReadToEof(report.r);
  }
  out.exit = DescribeStatus(WaitStatus(pid));
  return out;
}

bool NoSetup() { return true; }

class LockdownTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(geteuid(), 0u) << "needs root (tag no-sandbox)";
    struct passwd* pw = getpwnam("nobody");
    ASSERT_NE(pw, nullptr);
    ASSERT_EQ(pw->pw_uid, kNobody);
    // Force compilation before any fork, so children only Install().
    ASSERT_GT(ParentFilter().instructions(), 0u);
    ASSERT_GT(ChildFilter().instructions(), 0u);
  }
  ParentLockdownOptions Options() {
    ParentLockdownOptions o;
    o.hosts_dir = hosts_.path();
    o.user = "nobody";
    o.filter = &ParentFilter();
    return o;
  }
  TempDir hosts_{"sallyport-lockdown"};
};

TEST_F(LockdownTest, RefusesRootWithoutUser) {
  ParentLockdownOptions o = Options();
  o.user.reset();
  Refusal r = RefusalOf(NoSetup, o);
  EXPECT_EQ(r.exit, "exit 0");
  EXPECT_EQ(r.code, absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(r.message, AllOf(HasSubstr("step 0"), HasSubstr("--user")));
  EXPECT_TRUE(r.still_outside) << "refused before anything changed";
}

TEST_F(LockdownTest, RefusesRootUserAndUnknownUser) {
  ParentLockdownOptions o = Options();
  o.user = "root";
  Refusal r = RefusalOf(NoSetup, o);
  EXPECT_EQ(r.code, absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(r.message, HasSubstr("uid 0"));
  o.user = "no-such-user-sallyport";
  r = RefusalOf(NoSetup, o);
  EXPECT_EQ(r.code, absl::StatusCode::kNotFound);
  EXPECT_TRUE(r.still_outside);
}

TEST_F(LockdownTest, RefusesWithoutFilterOrRelativeRoot) {
  ParentLockdownOptions o = Options();
  o.filter = nullptr;
  Refusal r = RefusalOf(NoSetup, o);
  EXPECT_EQ(r.code, absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(r.message, HasSubstr("unconfined"));
  o = Options();
  o.hosts_dir = "hosts";
  EXPECT_EQ(RefusalOf(NoSetup, o).code, absl::StatusCode::kInvalidArgument);
}

TEST_F(LockdownTest, WarmUpFailureStopsTheLockdown) {
  ParentLockdownOptions o = Options();
  o.warm_up = [] { return absl::UnavailableError("botan said no"); };
  Refusal r = RefusalOf(NoSetup, o);
  EXPECT_EQ(r.code, absl::StatusCode::kUnavailable);
  EXPECT_THAT(r.message, AllOf(HasSubstr("step 2"), HasSubstr("botan said no")));
  EXPECT_TRUE(r.still_outside);
}

TEST_F(LockdownTest, MissingHostsDirFailsAtChroot) {
  ParentLockdownOptions o = Options();
  o.hosts_dir = hosts_.Sub("does-not-exist");
  Refusal r = RefusalOf(NoSetup, o);
  EXPECT_THAT(r.message, HasSubstr("step 4 (chroot)"));
}

// What a locked child reports through the pipe.
struct ChildHello {
  pid_t pid;
  int lockdown_rc;
};

TEST_F(LockdownTest, ParentThenChildLockdownAsSeenFromProc) {
  Pipe report;  // P and C → test
  Pipe hold;    // test → C: EOF releases C
  // A stray fd the parent holds (think: the listening socket): C must not.
  int stray = open("/dev/null", O_RDONLY);
  ASSERT_GE(stray, 0);
  bool warmed = false;

  pid_t parent = ForkChild([&]() -> int {
    report.CloseRead();
    hold.CloseWrite();
    ParentLockdownOptions o = Options();
    o.warm_up = [&] {
      warmed = true;
      return absl::OkStatus();
    };
    absl::StatusOr<ParentLockdownResult> r = LockdownParent(o);
    int ok = r.ok() && warmed ? 1 : 0;
    int mode = r.ok() ? static_cast<int>(r->mode) : -1;
    int unmapped = r.ok() && r->unmapped_uid.has_value() ? 1 : 0;
    if (!WriteAll(report.w, &ok, sizeof(ok)) ||
        !WriteAll(report.w, &mode, sizeof(mode)) ||
        !WriteAll(report.w, &unmapped, sizeof(unmapped)) || !r.ok()) {
      return 30;
    }
    ChildLockdown spec;
    spec.devnull_fd = r->devnull_fd;
    spec.keep_fds[0] = report.w;
    spec.keep_fds[1] = hold.r;
    spec.keep_count = 2;
    spec.filter = &ChildFilter();
    pid_t child = fork();
    if (child == 0) {
      ChildHello hello{0, LockdownChild(spec)};
      if (hello.lockdown_rc != 0) _exit(40);
      if (!WriteAll(report.w, &hello, sizeof(hello))) _exit(41);
      char c;
      while (read(hold.r, &c, 1) > 0) {
      }
      _exit(0);
    }
    ChildHello from_parent{child, 0};
    if (!WriteAll(report.w, &from_parent, sizeof(from_parent))) return 31;
    int status = 0;
    if (waitpid(child, &status, 0) != child) return 32;
    if (!WriteAll(report.w, &status, sizeof(status))) return 33;
    return 0;
  });
  const int kept_a = std::min(report.w, hold.r), kept_b = std::max(report.w, hold.r);
  report.CloseWrite();
  hold.CloseRead();
  close(stray);

  int ok = 0, mode = -1, unmapped = -1;
  ASSERT_TRUE(ReadAll(report.r, &ok, sizeof(ok)));
  ASSERT_TRUE(ReadAll(report.r, &mode, sizeof(mode)));
  ASSERT_TRUE(ReadAll(report.r, &unmapped, sizeof(unmapped)));
  ASSERT_EQ(ok, 1) << "parent lockdown failed: " << DescribeStatus(WaitStatus(parent));
  EXPECT_EQ(mode, static_cast<int>(LockdownMode::kRoot));
  EXPECT_EQ(unmapped, 0) << "root mode: every uid is real";
  // P (pid of C) and C (pid 0: it may not call getpid) race to write.
  ChildHello first, second;
  ASSERT_TRUE(ReadAll(report.r, &first, sizeof(first)));
  ASSERT_TRUE(ReadAll(report.r, &second, sizeof(second)))
      << "child died before reporting";
  const ChildHello& from_parent = first.pid != 0 ? first : second;
  const ChildHello& hello = first.pid != 0 ? second : first;
  ASSERT_NE(from_parent.pid, 0);
  ASSERT_EQ(hello.pid, 0);
  ASSERT_EQ(hello.lockdown_rc, 0);
  const pid_t child = from_parent.pid;
  const std::string proc = "/proc/" + std::to_string(child);

  // The parent: confined, not root, in its own root and network namespace.
  auto pstatus = testing::ProcStatus(parent);
  EXPECT_EQ(pstatus["Seccomp"], "2");
  EXPECT_EQ(pstatus["Seccomp_filters"], "1");
  EXPECT_EQ(pstatus["NoNewPrivs"], "1");
  EXPECT_EQ(pstatus["CapEff"], "0000000000000000");
  EXPECT_EQ(pstatus["CapPrm"], "0000000000000000");
  EXPECT_EQ(pstatus["Uid"], "65534\t65534\t65534\t65534");
  EXPECT_EQ(ReadLink("/proc/" + std::to_string(parent) + "/root"), hosts_.path());

  // The child: both filters, no privileges, chrooted, only the kept fds.
  auto status = testing::ProcStatus(child);
  EXPECT_EQ(status["Seccomp"], "2");
  EXPECT_EQ(status["Seccomp_filters"], "2") << "parent filter + child filter";
  EXPECT_EQ(status["NoNewPrivs"], "1");
  EXPECT_EQ(status["CapEff"], "0000000000000000");
  EXPECT_EQ(status["CapPrm"], "0000000000000000");
  EXPECT_EQ(status["CapBnd"], "0000000000000000");
  EXPECT_EQ(status["Uid"], "65534\t65534\t65534\t65534");
  EXPECT_EQ(status["Gid"], "65534\t65534\t65534\t65534");
  EXPECT_EQ(status["Groups"], "");
  EXPECT_EQ(status["SigBlk"], "0000000000000000");
  EXPECT_EQ(status["SigCgt"], "0000000000000000") << "no handler left";
  EXPECT_EQ(ReadLink(proc + "/root"), hosts_.path());
  EXPECT_THAT(testing::ProcFds(child),
              ElementsAre(0, 1, 2, kept_a, kept_b));
  for (int fd = 0; fd <= 2; ++fd) {
    EXPECT_EQ(ReadLink(proc + "/fd/" + std::to_string(fd)), "/dev/null") << fd;
  }
  EXPECT_NE(ReadLink(proc + "/ns/net"), ReadLink("/proc/self/ns/net"));
  EXPECT_NE(ReadLink(proc + "/ns/ipc"), ReadLink("/proc/self/ns/ipc"));
  EXPECT_NE(ReadLink(proc + "/ns/mnt"), ReadLink("/proc/self/ns/mnt"));

  // For the RLIMIT_AS choice in lockdown.h: how big a fork of a process
  // linking the sandbox already is.
  std::cout << "locked child VmSize: " << status["VmSize"]
            << ", VmRSS: " << status["VmRSS"] << "\n";
  RecordProperty("child_vmsize", status["VmSize"]);

  auto limits = testing::ProcLimits(child);
  const std::string nofile = std::to_string(3 + 2 + kChildConnectionFds);  // fds_in_flight 0
  EXPECT_EQ(limits["Max open files"], std::make_pair(nofile, nofile));
  EXPECT_EQ(limits["Max file size"], std::make_pair(std::string("0"), std::string("0")));
  EXPECT_EQ(limits["Max processes"], std::make_pair(std::string("0"), std::string("0")));
  EXPECT_EQ(limits["Max core file size"], std::make_pair(std::string("0"), std::string("0")));
  EXPECT_EQ(limits["Max cpu time"], std::make_pair(std::string("5"), std::string("6")));
#if !defined(__SANITIZE_ADDRESS__)
  EXPECT_EQ(limits["Max address space"],
            std::make_pair(std::string("134217728"), std::string("134217728")));
#endif

  hold.CloseWrite();  // release the child
  int child_status = -1;
  ASSERT_TRUE(ReadAll(report.r, &child_status, sizeof(child_status)));
  EXPECT_EQ(DescribeStatus(child_status), "exit 0");
  EXPECT_EQ(DescribeStatus(WaitStatus(parent)), "exit 0");
}

TEST_F(LockdownTest, LockdownChildRejectsBadSpecs) {
  // Refused before it changes anything, so this runs in a plain fork.
  pid_t pid = ForkChild([&]() -> int {
    ChildLockdown spec;
    spec.devnull_fd = open("/dev/null", O_RDWR);
    if (LockdownChild(spec) != -EINVAL) return 1;  // no filter
    spec.filter = &ChildFilter();
    spec.keep_fds[0] = 1;  // stdio cannot be "kept": it becomes /dev/null
    spec.keep_count = 1;
    if (LockdownChild(spec) != -EINVAL) return 2;
    spec.keep_count = kMaxKeptFds + 1;
    if (LockdownChild(spec) != -EINVAL) return 3;
    spec.keep_count = 0;
    spec.devnull_fd = 2;
    if (LockdownChild(spec) != -EINVAL) return 4;
    return 0;
  });
  EXPECT_EQ(DescribeStatus(WaitStatus(pid)), "exit 0");
}

TEST_F(LockdownTest, RegainingRootFailsAfterTheDrop) {
  pid_t pid = ForkChild([&]() -> int {
    absl::Status s = DropToUser(kNobody, kNobody);
    if (!s.ok()) return 1;
    if (setuid(0) == 0) return 2;
    if (setgid(0) == 0) return 3;
    if (seteuid(0) == 0) return 4;
    if (setresuid(0, 0, 0) == 0) return 5;
    if (setresgid(0, 0, 0) == 0) return 6;
    if (setgroups(0, nullptr) == 0) return 7;  // needs CAP_SETGID
    uid_t r, e, sv;
    if (getresuid(&r, &e, &sv) != 0 || r == 0 || e == 0 || sv == 0) return 8;
    if (chroot("/") == 0) return 9;  // CAP_SYS_CHROOT is gone
    return 0;
  });
  EXPECT_EQ(DescribeStatus(WaitStatus(pid)), "exit 0");
  // And DropToUser itself refuses root as a target.
  pid = ForkChild([&]() -> int {
    absl::Status s = DropToUser(0, 0);
    return s.code() == absl::StatusCode::kInvalidArgument && geteuid() == 0 ? 0 : 1;
  });
  EXPECT_EQ(DescribeStatus(WaitStatus(pid)), "exit 0");
}

TEST_F(LockdownTest, InheritedListeningSocketAcceptsAfterNetnsUnshare) {
  int lfd = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(lfd, 0);
  struct sockaddr_in addr;
  std::memset(&addr, 0, sizeof(addr));
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(lfd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ASSERT_EQ(listen(lfd, 4), 0);
  socklen_t alen = sizeof(addr);
  ASSERT_EQ(getsockname(lfd, reinterpret_cast<sockaddr*>(&addr), &alen), 0);

  Pipe report;
  pid_t parent = ForkChild([&]() -> int {
    report.CloseRead();
    absl::StatusOr<ParentLockdownResult> r = LockdownParent(Options());
    int ok = r.ok() && r->net_ns ? 1 : 0;
    if (!WriteAll(report.w, &ok, sizeof(ok)) || !ok) return 1;
    int c = accept4(lfd, nullptr, nullptr, SOCK_CLOEXEC);
    if (c < 0) return 2;
    char b = 0;
    if (read(c, &b, 1) != 1) return 3;
    b = static_cast<char>(b + 1);
    if (write(c, &b, 1) != 1) return 4;
    return 0;
  });
  report.CloseWrite();
  int ok = 0;
  ASSERT_TRUE(ReadAll(report.r, &ok, sizeof(ok)));
  ASSERT_EQ(ok, 1);
  EXPECT_NE(ReadLink("/proc/" + std::to_string(parent) + "/ns/net"),
            ReadLink("/proc/self/ns/net"));

  int c = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_EQ(connect(c, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  char b = 'x';
  ASSERT_EQ(write(c, &b, 1), 1);
  ASSERT_EQ(read(c, &b, 1), 1);
  EXPECT_EQ(b, 'y') << "the acceptor in its private netns served us";
  close(c);
  close(lfd);
  EXPECT_EQ(DescribeStatus(WaitStatus(parent)), "exit 0");
}

// --- the unprivileged paths ------------------------------------------------

TEST_F(LockdownTest, UnprivilegedChrootsInsideAUserNamespace) {
  Pipe report;
  Pipe hold;
  pid_t parent = ForkChild([&]() -> int {
    report.CloseRead();
    hold.CloseWrite();
    if (!testing::BecomeUser(kUnprivileged, kUnprivileged)) return 1;
    ParentLockdownOptions o = Options();
    o.user.reset();  // not root: no --user needed
    absl::StatusOr<ParentLockdownResult> r = LockdownParent(o);
    int mode = r.ok() ? static_cast<int>(r->mode) : -1;
    int userns = r.ok() && r->user_ns && r->net_ns ? 1 : 0;
    // Only our own uid is mapped: the result names what all others read as.
    uid_t unmapped = r.ok() && r->unmapped_uid.has_value() ? *r->unmapped_uid : 0;
    std::string why = r.ok() ? r->Describe() : std::string(r.status().message());
    // A per-connection child locks down the same way in this mode.
    int child_status = -1;
    if (r.ok()) {
      ChildLockdown spec;
      spec.devnull_fd = r->devnull_fd;
      spec.filter = &ChildFilter();
      pid_t c = fork();
      if (c == 0) {
        if (LockdownChild(spec) != 0) _exit(1);
        // Under both filters: a call the child policy allows works (a
        // child has no stat: the route broker looks things up).
        struct timespec ts;
        _exit(syscall(SYS_clock_gettime, CLOCK_MONOTONIC, &ts) == 0 ? 0 : 2);
      }
      if (c < 0 || waitpid(c, &child_status, 0) != c) child_status = -1;
    }
    if (!WriteAll(report.w, &mode, sizeof(mode)) ||
        !WriteAll(report.w, &userns, sizeof(userns)) ||
        !WriteAll(report.w, &unmapped, sizeof(unmapped)) ||
        !WriteAll(report.w, &child_status, sizeof(child_status)) ||
        !WriteAll(report.w, why.data(), why.size())) {
      return 2;
    }
    report.CloseWrite();
    char c;
    while (read(hold.r, &c, 1) > 0) {
    }
    return 0;
  });
  report.CloseWrite();
  hold.CloseRead();
  int mode = -1, userns = 0, child_status = -1;
  uid_t unmapped = 0;
  ASSERT_TRUE(ReadAll(report.r, &mode, sizeof(mode)));
  ASSERT_TRUE(ReadAll(report.r, &userns, sizeof(userns)));
  ASSERT_TRUE(ReadAll(report.r, &unmapped, sizeof(unmapped)));
  ASSERT_TRUE(ReadAll(report.r, &child_status, sizeof(child_status)));
  std::string why = ReadToEof(report.r);
  ASSERT_EQ(mode, static_cast<int>(LockdownMode::kUserNamespace)) << why;
  EXPECT_EQ(userns, 1);
  EXPECT_EQ(unmapped, OverflowUid());
  EXPECT_NE(unmapped, 0u);
  EXPECT_EQ(DescribeStatus(child_status), "exit 0") << "child lockdown in this mode";
  EXPECT_THAT(why, HasSubstr("user namespace"));

  const std::string proc = "/proc/" + std::to_string(parent);
  auto status = testing::ProcStatus(parent);
  EXPECT_EQ(status["Seccomp"], "2");
  EXPECT_EQ(status["NoNewPrivs"], "1");
  EXPECT_EQ(status["CapEff"], "0000000000000000");
  EXPECT_EQ(status["CapPrm"], "0000000000000000");
  EXPECT_EQ(status["Uid"], "42021\t42021\t42021\t42021");
  EXPECT_EQ(ReadLink(proc + "/root"), hosts_.path());
  EXPECT_NE(ReadLink(proc + "/ns/user"), ReadLink("/proc/self/ns/user"));
  EXPECT_NE(ReadLink(proc + "/ns/net"), ReadLink("/proc/self/ns/net"));
  hold.CloseWrite();
  EXPECT_EQ(DescribeStatus(WaitStatus(parent)), "exit 0");
}

TEST_F(LockdownTest, UnprivilegedAsTheOverflowUidIsRefused) {
  // nobody is the overflow uid: inside the namespace every other owner would
  // read as nobody too, and nothing could be told apart.
  ASSERT_EQ(kNobody, OverflowUid());
  ParentLockdownOptions o = Options();
  o.user.reset();
  Refusal r = RefusalOf([] { return testing::BecomeUser(kNobody, kNobody); }, o);
  EXPECT_EQ(r.exit, "exit 0");
  EXPECT_EQ(r.code, absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(r.message,
              AllOf(HasSubstr("step 3 (namespaces)"), HasSubstr("uid 65534"),
                    HasSubstr("the overflow uid"), HasSubstr("could not tell"),
                    HasSubstr("Run sallyport as another user, or as root with --user")));
  EXPECT_TRUE(r.still_outside) << "refused before the chroot";
}

TEST_F(LockdownTest, RootInsideAContainerUserNamespaceReportsTheOverflowUid) {
  // Root of a user namespace that maps only uids 0..41999 (as a container's
  // does): everything outside reads as the overflow uid, in root mode too.
  Pipe report;
  Pipe mapped;  // test → child: the maps are written
  pid_t parent = ForkChild([&]() -> int {
    report.CloseRead();
    mapped.CloseWrite();
    int ready = 1;
    char c;
    if (unshare(CLONE_NEWUSER) != 0 || !WriteAll(report.w, &ready, sizeof(ready)) ||
        read(mapped.r, &c, 1) != 1) {
      return 1;
    }
    if (geteuid() != 0) return 3;
    ParentLockdownOptions o = Options();
    o.user = "lp";  // nobody (65534) is not mapped here
    absl::StatusOr<ParentLockdownResult> r = LockdownParent(o);
    int mode = r.ok() ? static_cast<int>(r->mode) : -1;
    uid_t unmapped = r.ok() && r->unmapped_uid.has_value() ? *r->unmapped_uid : 0;
    std::string why = r.ok() ? r->Describe() : std::string(r.status().message());
    if (!WriteAll(report.w, &mode, sizeof(mode)) ||
        !WriteAll(report.w, &unmapped, sizeof(unmapped)) ||
        !WriteAll(report.w, why.data(), why.size())) {
      return 4;
    }
    return 0;
  });
  report.CloseWrite();
  mapped.CloseRead();
  // Only a writer with CAP_SETUID in the parent namespace (us) may map
  // uids other than its own.
  int ready = 0;
  ASSERT_TRUE(ReadAll(report.r, &ready, sizeof(ready)));
  for (const char* map : {"uid_map", "gid_map"}) {
    std::string path = "/proc/" + std::to_string(parent) + "/" + map;
    int fd = open(path.c_str(), O_WRONLY | O_CLOEXEC);
    ASSERT_GE(fd, 0) << path;
    const std::string line = "0 0 42000\n";
    EXPECT_EQ(write(fd, line.data(), line.size()), static_cast<ssize_t>(line.size()))
        << path << ": " << strerror(errno);
    close(fd);
  }
  ASSERT_EQ(write(mapped.w, "m", 1), 1);
  int mode = -1;
  uid_t unmapped = 0;
  bool got = ReadAll(report.r, &mode, sizeof(mode)) &&
             ReadAll(report.r, &unmapped, sizeof(unmapped));
  std::string why = ReadToEof(report.r);
  EXPECT_EQ(DescribeStatus(WaitStatus(parent)), "exit 0");
  ASSERT_TRUE(got);
  EXPECT_EQ(mode, static_cast<int>(LockdownMode::kRoot)) << why;
  EXPECT_EQ(unmapped, OverflowUid()) << why;
}

// Makes unshare(CLONE_NEWUSER) fail with EPERM, as on a kernel with
// unprivileged user namespaces disabled. Other unshare calls still work.
bool DenyUserNamespaces() {
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return false;
  scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
  if (ctx == nullptr) return false;
  bool ok = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(unshare), 1,
                             SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_NEWUSER,
                                     CLONE_NEWUSER)) == 0 &&
            seccomp_load(ctx) == 0;
  seccomp_release(ctx);
  return ok;
}

TEST_F(LockdownTest, UnprivilegedWithoutUserNamespacesRefusesNamingBothFixes) {
  ParentLockdownOptions o = Options();
  o.user.reset();
  Refusal r = RefusalOf(
      [] { return testing::BecomeUser(kNobody, kNobody) && DenyUserNamespaces(); },
      o);
  EXPECT_EQ(r.exit, "exit 0");
  EXPECT_EQ(r.code, absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(r.message,
              AllOf(HasSubstr("step 3"), HasSubstr("CAP_SYS_CHROOT"),
                    HasSubstr("kernel.unprivileged_userns_clone=1"),
                    HasSubstr("user.max_user_namespaces"),
                    HasSubstr("Operation not permitted")));
  EXPECT_TRUE(r.still_outside) << "never chrooted, never confined silently";
}

// Keeps CAP_SYS_CHROOT and CAP_SYS_ADMIN across the switch to nobody, as a
// systemd unit with AmbientCapabilities would.
bool BecomeNobodyWithChrootAndAdmin() {
  if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) != 0) return false;
  if (!testing::BecomeUser(kNobody, kNobody)) return false;
  __user_cap_header_struct hdr{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[2];
  std::memset(data, 0, sizeof(data));
  const __u32 bits = (1u << CAP_SYS_CHROOT) | (1u << CAP_SYS_ADMIN);
  data[0].effective = data[0].permitted = bits;
  return syscall(SYS_capset, &hdr, data) == 0;
}

TEST_F(LockdownTest, UnprivilegedWithCapabilitiesButNoUserNamespaces) {
  Pipe report;
  pid_t parent = ForkChild([&]() -> int {
    report.CloseRead();
    if (!BecomeNobodyWithChrootAndAdmin() || !DenyUserNamespaces()) return 1;
    ParentLockdownOptions o = Options();
    o.user.reset();
    absl::StatusOr<ParentLockdownResult> r = LockdownParent(o);
    int mode = r.ok() ? static_cast<int>(r->mode) : -1;
    int unmapped = r.ok() && r->unmapped_uid.has_value() ? 1 : 0;
    std::string why = r.ok() ? r->Describe() : std::string(r.status().message());
    if (!WriteAll(report.w, &mode, sizeof(mode)) ||
        !WriteAll(report.w, &unmapped, sizeof(unmapped)) ||
        !WriteAll(report.w, why.data(), why.size())) {
      return 2;
    }
    return 0;
  });
  report.CloseWrite();
  int mode = -1, unmapped = -1;
  ASSERT_TRUE(ReadAll(report.r, &mode, sizeof(mode)));
  ASSERT_TRUE(ReadAll(report.r, &unmapped, sizeof(unmapped)));
  std::string why = ReadToEof(report.r);
  EXPECT_EQ(mode, static_cast<int>(LockdownMode::kCapabilities)) << why;
  EXPECT_EQ(unmapped, 0) << "no user namespace: real uids, even as nobody";
  EXPECT_EQ(DescribeStatus(WaitStatus(parent)), "exit 0");
}

TEST(LockdownWarmUp, WarmUpLibcSucceeds) { EXPECT_TRUE(WarmUpLibc().ok()); }

}  // namespace
}  // namespace sallyport::sandbox
