// SPDX-License-Identifier: Apache-2.0
// proxy/check.h over real temporary hosts directories, one problem each.
// Needs root for the cases that chown entries to other uids (no-sandbox).
#include "proxy/check.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "policy/ownership.h"

namespace sallyport::proxy {
namespace {

using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

constexpr uid_t kA = 1001;
constexpr uid_t kB = 1002;

class CheckTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // Under /tmp, not TEST_TMPDIR: socket paths must be short enough that
    // only the long-name case hits the sun_path note.
    std::string tmpl = "/tmp/chk-hostsXXXXXX";
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr) << strerror(errno);
    hosts_ = tmpl;
    ASSERT_EQ(chmod(hosts_.c_str(), 01777), 0);
  }
  void TearDown() override {
    for (int fd : listeners_) close(fd);
    std::string cmd = absl::StrCat("rm -rf '", hosts_, "'");
    ASSERT_EQ(system(cmd.c_str()), 0);
  }

  std::string P(const std::string& rel) { return absl::StrCat(hosts_, "/", rel); }
  void Dir(const std::string& rel, uid_t uid = 0) {
    ASSERT_EQ(mkdir(P(rel).c_str(), 0755), 0) << rel << ": " << strerror(errno);
    Own(rel, uid);
  }
  void Own(const std::string& rel, uid_t uid) {
    ASSERT_EQ(lchown(P(rel).c_str(), uid, uid), 0)
        << rel << ": " << strerror(errno) << " (this test needs root)";
  }
  // A bound (and, if `listen`, listening) socket file at rel, mode 0666.
  int Sock(const std::string& rel, uid_t uid = 0, bool listen_too = false) {
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    EXPECT_GE(fd, 0);
    // Bind relative to the host directory: temp paths can be long.
    std::string full = P(rel);
    std::string dir = full.substr(0, full.rfind('/'));
    std::string base = full.substr(full.rfind('/') + 1);
    int cwd = open(".", O_PATH | O_DIRECTORY);
    EXPECT_EQ(chdir(dir.c_str()), 0);
    struct sockaddr_un a;
    memset(&a, 0, sizeof(a));
    a.sun_family = AF_UNIX;
    memcpy(a.sun_path, base.data(), base.size());
    EXPECT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0) << strerror(errno);
    EXPECT_EQ(fchdir(cwd), 0);
    close(cwd);
    EXPECT_EQ(chmod(full.c_str(), 0666), 0);
    Own(rel, uid);
    if (listen_too) {
      EXPECT_EQ(listen(fd, 8), 0);
    }
    listeners_.push_back(fd);
    return fd;
  }
  void Link(const std::string& target, const std::string& rel, uid_t uid = 0) {
    ASSERT_EQ(symlink(target.c_str(), P(rel).c_str()), 0) << rel;
    Own(rel, uid);
  }
  void File(const std::string& rel, uid_t uid = 0) {
    int fd = open(P(rel).c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
    ASSERT_GE(fd, 0);
    close(fd);
    Own(rel, uid);
  }

  CheckReport Check() {
    absl::StatusOr<CheckReport> r = CheckHostsDir(hosts_);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : CheckReport{};
  }
  static std::string Problems(const CheckReport& r) { return Join(r.problems); }
  static std::string Notes(const CheckReport& r) { return Join(r.notes); }
  static std::string Join(const std::vector<CheckFinding>& fs) {
    return absl::StrJoin(fs, "\n", [](std::string* out, const CheckFinding& f) {
      absl::StrAppend(out, "[", f.entry, "] ", f.message);
    });
  }
  const CheckRoute* FindRoute(const CheckReport& r, const std::string& name,
                              absl::string_view sock) {
    for (const CheckRoute& cr : r.routes) {
      if (cr.name == name && cr.socket_file == sock) return &cr;
    }
    return nullptr;
  }

  std::string hosts_;
  std::vector<int> listeners_;
};

TEST_F(CheckTest, CleanDirectoryIsOkAndListsEveryRoute) {
  Dir("a.example.test", kA);
  Sock("a.example.test/tls-socket", kA);
  Sock("a.example.test/http-socket", kA);
  File("a.example.test/send-proxy-v2", kA);
  Link("a.example.test", "www.a.example.test", kA);
  Dir("b.example.test", kB);
  Sock("b.example.test/tls-socket.v2", kB);
  Link("tls-socket.v2", "b.example.test/tls-socket", kB);
  CheckReport r = Check();
  EXPECT_TRUE(r.ok()) << Problems(r);
  EXPECT_EQ(r.routes.size(), 5u);  // the alias has both sockets too
  EXPECT_THAT(r.notes, IsEmpty()) << Notes(r);
  const CheckRoute* www = FindRoute(r, "www.a.example.test", policy::kTlsSocket);
  ASSERT_NE(www, nullptr);
  EXPECT_EQ(www->route.dir, "a.example.test");
  EXPECT_EQ(www->route.owner, kA);
  EXPECT_EQ(www->route.proxy, policy::Route::kV2);
  const CheckRoute* b = FindRoute(r, "b.example.test", policy::kTlsSocket);
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(b->route.socket_name, "tls-socket.v2");
  EXPECT_EQ(b->route.owner, kB);
  EXPECT_EQ(FindRoute(r, "b.example.test", policy::kHttpSocket), nullptr);

  std::string text = FormatCheckReport(r);
  EXPECT_THAT(text, HasSubstr("routes for sallyport tls (tls-socket): 3"));
  EXPECT_THAT(text, HasSubstr("routes for sallyport http (http-socket): 2"));
  EXPECT_THAT(text, HasSubstr("b.example.test/tls-socket.v2"));
  EXPECT_THAT(text, HasSubstr("(1001)  v2"));
  EXPECT_THAT(text, HasSubstr("OK"));
  EXPECT_THAT(text, Not(HasSubstr("problems:")));
}

TEST_F(CheckTest, NamesThatCanNeverBeRouted) {
  for (const char* n : {"Upper.Example.test", "1.2.3.4", "bad_name.test",
                        "trailing.dot.", "-lead.test", ".hidden"}) {
    Dir(n);
    Sock(absl::StrCat(n, "/tls-socket"));
  }
  CheckReport r = Check();
  EXPECT_FALSE(r.ok());
  EXPECT_TRUE(r.routes.empty());
  std::string p = Problems(r);
  EXPECT_THAT(p, HasSubstr("[Upper.Example.test] hosts/Upper.Example.test is not in "
                           "canonical form (a request for it looks up \"upper.example.test\""));
  EXPECT_THAT(p, HasSubstr("[1.2.3.4] hosts/1.2.3.4 is an IP literal"));
  EXPECT_THAT(p, HasSubstr("[bad_name.test] hosts/bad_name.test is not a valid host name"));
  EXPECT_THAT(p, HasSubstr("[trailing.dot.] hosts/trailing.dot. is not in canonical form"));
  EXPECT_THAT(p, HasSubstr("[-lead.test] hosts/-lead.test is not a valid host name"));
  EXPECT_THAT(p, HasSubstr("[.hidden] hosts/.hidden is not a valid host name"));
  EXPECT_EQ(r.problems.size(), 6u) << p;
}

TEST_F(CheckTest, NonCanonicalAliasTargetIsOnlyANote) {
  Dir("_site", kA);
  Sock("_site/http-socket", kA);
  Link("_site", "site.example.test", kA);
  CheckReport r = Check();
  EXPECT_TRUE(r.ok()) << Problems(r);
  EXPECT_THAT(Notes(r), HasSubstr("[_site] hosts/_site is not a valid host name"));
  EXPECT_THAT(Notes(r), HasSubstr("reached only through the alias(es) site.example.test"));
  ASSERT_NE(FindRoute(r, "site.example.test", policy::kHttpSocket), nullptr);
}

TEST_F(CheckTest, AnotherTenantsSocketIsRefused) {
  Dir("a.example.test", kA);
  Sock("a.example.test/tls-socket", kB);  // B planted a socket in A's dir
  Dir("b.example.test", kB);
  Sock("b.example.test/tls-socket", kB);
  Link("b.example.test", "evil.example.test", kA);  // A's name → B's dir
  CheckReport r = Check();
  EXPECT_FALSE(r.ok());
  std::string p = Problems(r);
  EXPECT_THAT(p, HasSubstr("[a.example.test] host \"a.example.test\": socket "
                           "hosts/a.example.test/tls-socket is owned by uid 1002 "
                           "but hosts/a.example.test is owned by uid 1001"));
  EXPECT_THAT(p, HasSubstr("[evil.example.test] host \"evil.example.test\": "
                           "hosts/evil.example.test is owned by uid 1001 but its "
                           "target directory hosts/b.example.test is owned by uid 1002"));
  EXPECT_EQ(r.problems.size(), 2u) << p;
  ASSERT_EQ(r.routes.size(), 1u);
  EXPECT_EQ(r.routes[0].name, "b.example.test");
}

TEST_F(CheckTest, BadSymlinks) {
  Dir("a.example.test");
  Sock("a.example.test/tls-socket");
  Link("/etc", "abs.example.test");
  Link("nothere.example.test", "dangling.example.test");
  Link("www.a.example.test", "chain.example.test");
  Link("a.example.test", "www.a.example.test");
  Link("../a.example.test", "dots.example.test");
  Dir("s.example.test");
  Link("/tmp/x/tls-socket", "s.example.test/tls-socket");
  Link("gone", "s.example.test/http-socket");
  CheckReport r = Check();
  EXPECT_FALSE(r.ok());
  std::string p = Problems(r);
  EXPECT_THAT(p, HasSubstr("[abs.example.test] host \"abs.example.test\": "
                           "hosts/abs.example.test is a symlink that is absolute (-> /etc)"));
  EXPECT_THAT(p, HasSubstr("[dangling.example.test] host \"dangling.example.test\": "
                           "hosts/dangling.example.test is a dangling symlink"));
  EXPECT_THAT(p, HasSubstr("[chain.example.test] host \"chain.example.test\": "
                           "hosts/chain.example.test -> www.a.example.test is a symlink chain"));
  EXPECT_THAT(p, HasSubstr("[dots.example.test] host \"dots.example.test\": "
                           "hosts/dots.example.test is a symlink that target contains '/'"));
  EXPECT_THAT(p, HasSubstr("[s.example.test] host \"s.example.test\": tls-socket is a "
                           "symlink that is absolute"));
  EXPECT_THAT(p, HasSubstr("[s.example.test] host \"s.example.test\": http-socket is a "
                           "dangling symlink (-> gone)"));
  // A host-level refusal is reported once, not once per socket file.
  EXPECT_EQ(r.problems.size(), 6u) << p;
  EXPECT_EQ(r.routes.size(), 2u);  // a.example.test and www.a.example.test (tls)
}

TEST_F(CheckTest, SocketsThatAreMissingOrNotSockets) {
  Dir("empty.example.test");
  Dir("file.example.test");
  File("file.example.test/tls-socket");
  Dir("fifo.example.test");
  ASSERT_EQ(mkfifo(P("fifo.example.test/http-socket").c_str(), 0666), 0);
  Dir("target.example.test");
  File("target.example.test/tls-socket.v2");
  Link("tls-socket.v2", "target.example.test/tls-socket");
  File("regular.example.test");
  CheckReport r = Check();
  EXPECT_FALSE(r.ok());
  std::string p = Problems(r);
  EXPECT_THAT(p, HasSubstr("[empty.example.test] host \"empty.example.test\": neither "
                           "tls-socket nor http-socket: no route"));
  EXPECT_THAT(p, HasSubstr("[file.example.test] host \"file.example.test\": tls-socket in "
                           "hosts/file.example.test is a regular file, not a socket"));
  EXPECT_THAT(p, HasSubstr("[fifo.example.test] host \"fifo.example.test\": http-socket in "
                           "hosts/fifo.example.test is a special file, not a socket"));
  EXPECT_THAT(p, HasSubstr("[target.example.test] host \"target.example.test\": "
                           "tls-socket.v2 in hosts/target.example.test is a regular file"));
  EXPECT_THAT(p, HasSubstr("[regular.example.test] host \"regular.example.test\": "
                           "hosts/regular.example.test is a regular file, not a directory"));
  EXPECT_EQ(r.problems.size(), 5u) << p;
}

TEST_F(CheckTest, ProxyMarkers) {
  Dir("both.example.test", kA);
  Sock("both.example.test/tls-socket", kA);
  File("both.example.test/send-proxy-v1", kA);
  File("both.example.test/send-proxy-v2", kA);
  Dir("foreign.example.test", kA);
  Sock("foreign.example.test/tls-socket", kA);
  File("foreign.example.test/send-proxy-v1", kB);
  Dir("v1.example.test", kA);
  Sock("v1.example.test/tls-socket", kA);
  File("v1.example.test/send-proxy-v1", 0);  // root's marker is fine
  CheckReport r = Check();
  std::string p = Problems(r);
  EXPECT_THAT(p, HasSubstr("[both.example.test] host \"both.example.test\": both "
                           "send-proxy-v1 and send-proxy-v2 are present"));
  EXPECT_THAT(p, HasSubstr("[foreign.example.test] host \"foreign.example.test\": marker "
                           "send-proxy-v1 is owned by uid 1002"));
  EXPECT_EQ(r.problems.size(), 2u) << p;
  const CheckRoute* v1 = FindRoute(r, "v1.example.test", policy::kTlsSocket);
  ASSERT_NE(v1, nullptr);
  EXPECT_EQ(v1->route.proxy, policy::Route::kV1);
  EXPECT_THAT(FormatCheckReport(r), HasSubstr("v1.example.test/tls-socket"));
}

TEST_F(CheckTest, HostsDirectoryModes) {
  Dir("a.example.test");
  Sock("a.example.test/tls-socket");
  ASSERT_EQ(chmod(hosts_.c_str(), 0777), 0);
  CheckReport r = Check();
  EXPECT_FALSE(r.ok());
  EXPECT_THAT(Problems(r), HasSubstr("(mode 0777) is writable by everyone without the sticky bit"));
  EXPECT_EQ(r.problems[0].entry, "");
  EXPECT_THAT(FormatCheckReport(r), HasSubstr("  hosts/: "));

  ASSERT_EQ(chmod(hosts_.c_str(), 02775), 0);  // group-managed, no sticky
  r = Check();
  EXPECT_FALSE(r.ok());
  EXPECT_THAT(Problems(r), HasSubstr("(mode 2775) is writable by group"));

  for (mode_t ok : {01777, 03775, 0755}) {
    ASSERT_EQ(chmod(hosts_.c_str(), ok), 0);
    r = Check();
    EXPECT_TRUE(r.ok()) << std::oct << ok << ": " << Problems(r);
  }
  ASSERT_EQ(chown(hosts_.c_str(), kA, kA), 0);
  r = Check();
  EXPECT_TRUE(r.ok());
  EXPECT_THAT(Notes(r), HasSubstr("is owned by 1001, not root"));
}

TEST_F(CheckTest, LongNameIsANoteNotAProblem) {
  std::string label(63, 'a');
  std::string name = absl::StrCat(label, ".", label, ".", label, ".", std::string(61, 'b'));
  ASSERT_EQ(name.size(), 253u);
  Dir(name);
  Sock(name + "/tls-socket");
  Dir("short.example.test");
  Sock("short.example.test/tls-socket");
  CheckReport r = Check();
  EXPECT_TRUE(r.ok()) << Problems(r);
  ASSERT_EQ(r.routes.size(), 2u);
  ASSERT_EQ(r.notes.size(), 1u) << Notes(r);
  EXPECT_EQ(r.notes[0].entry, name);
  EXPECT_THAT(r.notes[0].message, HasSubstr("does not fit sun_path (107 bytes)"));
}

TEST_F(CheckTest, AccessNotes) {
  Dir("private.example.test", kA);
  ASSERT_EQ(chmod(P("private.example.test").c_str(), 0750), 0);
  Sock("private.example.test/tls-socket", kA);
  ASSERT_EQ(chmod(P("private.example.test/tls-socket").c_str(), 0660), 0);
  CheckReport r = Check();
  EXPECT_TRUE(r.ok());
  EXPECT_THAT(Notes(r), HasSubstr("hosts/private.example.test (mode 0750"));
  EXPECT_THAT(Notes(r), HasSubstr("is not searchable by others"));
  EXPECT_THAT(Notes(r), HasSubstr("socket hosts/private.example.test/tls-socket (mode 0660"));
}

TEST_F(CheckTest, NeverConnectsAndRestoresTheCurrentDirectory) {
  Dir("a.example.test");
  int fd = Sock("a.example.test/tls-socket", 0, /*listen_too=*/true);
  char before[4096], after[4096];
  ASSERT_NE(getcwd(before, sizeof(before)), nullptr);
  CheckReport r = Check();
  ASSERT_NE(getcwd(after, sizeof(after)), nullptr);
  EXPECT_STREQ(before, after);
  EXPECT_TRUE(r.ok());
  ASSERT_EQ(r.routes.size(), 1u);
  // Nothing is queued on the listening backend: check did not connect.
  EXPECT_EQ(accept4(fd, nullptr, nullptr, SOCK_NONBLOCK), -1);
  EXPECT_EQ(errno, EAGAIN);
}

TEST_F(CheckTest, RunCheckExitStatuses) {
  Dir("a.example.test");
  Sock("a.example.test/tls-socket");
  char* buf = nullptr;
  size_t len = 0;
  FILE* out = open_memstream(&buf, &len);
  ASSERT_NE(out, nullptr);
  EXPECT_EQ(RunCheck(hosts_, "auto", out), 0);
  Dir("Bad.example.test");
  EXPECT_EQ(RunCheck(hosts_, "auto", out), 1);
  EXPECT_EQ(RunCheck(P("does-not-exist"), "auto", out), 2);
  EXPECT_EQ(RunCheck(hosts_, "unprivileged", out), 2);  // not a mode --assume knows
  fclose(out);
  std::string text(buf, len);
  free(buf);
  EXPECT_THAT(text, HasSubstr("a.example.test/tls-socket"));
  EXPECT_THAT(text, HasSubstr("PROBLEMS FOUND"));
  EXPECT_THAT(absl::StatusOr<CheckReport>(CheckHostsDir(P("does-not-exist"))).status().message(),
              HasSubstr("No such file or directory"));
}

// --- the assumed mode: which owners are verifiable ---------------------------

TEST_F(CheckTest, AsRootEveryOwnerIsVerifiable) {
  Dir("a.example.test", kA);
  Sock("a.example.test/tls-socket", kA);
  Dir("b.example.test", kB);
  Sock("b.example.test/tls-socket", kB);
  Dir("r.example.test", kA);
  Sock("r.example.test/tls-socket", 0);
  CheckReport r = Check();  // this test runs as root
  EXPECT_FALSE(r.assumed.unprivileged_uid.has_value());
  EXPECT_TRUE(r.ok()) << Problems(r);
  EXPECT_EQ(r.routes.size(), 3u);
  EXPECT_THAT(FormatCheckReport(r),
              HasSubstr("\nassumed: root (sallyport started as root with --user): "
                        "every owner is verifiable\n"));
}

TEST_F(CheckTest, UnprivilegedOnlyTheOwnUidIsVerifiable) {
  Dir("a.example.test", kA);
  Sock("a.example.test/tls-socket", kA);
  File("a.example.test/send-proxy-v2", kA);
  Link("a.example.test", "www.a.example.test", kA);
  Dir("b.example.test", kB);
  Sock("b.example.test/tls-socket", kB);
  Link("b.example.test", "mis.example.test", kB);
  Link("b.example.test", "alias.example.test", kA);
  Dir("n.example.test", 65534);
  Sock("n.example.test/tls-socket", 65534);
  Dir("r.example.test", kA);
  Sock("r.example.test/tls-socket", 0);
  Dir("m.example.test", kA);
  Sock("m.example.test/tls-socket", kA);
  File("m.example.test/send-proxy-v1", kB);
  CheckAssumption as_a;
  as_a.unprivileged_uid = kA;
  as_a.overflow_uid = 65534;
  absl::StatusOr<CheckReport> got = CheckHostsDir(hosts_, as_a);
  ASSERT_TRUE(got.ok()) << got.status();
  const CheckReport& r = *got;
  const std::string tail =
      " which stands for every uid not mapped into sallyport's user namespace "
      "(unprivileged mode maps only uid 1001); run as root with --user for a "
      "multi-tenant hosts/";
  std::string p = Problems(r);
  EXPECT_THAT(p, HasSubstr("[b.example.test] host \"b.example.test\": owner of "
                           "hosts/b.example.test is not verifiable: uid 1002 would "
                           "read as the overflow uid 65534," + tail));
  EXPECT_THAT(p, HasSubstr("[mis.example.test] host \"mis.example.test\": owner of "
                           "hosts/mis.example.test is not verifiable: uid 1002"));
  EXPECT_THAT(p, HasSubstr("[alias.example.test] host \"alias.example.test\": owner "
                           "of the target directory hosts/b.example.test is not "
                           "verifiable: uid 1002"));
  EXPECT_THAT(p, HasSubstr("[n.example.test] host \"n.example.test\": owner of "
                           "hosts/n.example.test is not verifiable: uid 65534 is the "
                           "overflow uid," + tail));
  EXPECT_THAT(p, HasSubstr("[r.example.test] host \"r.example.test\": owner of socket "
                           "hosts/r.example.test/tls-socket is not verifiable: uid 0 "
                           "would read as the overflow uid 65534," + tail));
  EXPECT_THAT(p, HasSubstr("[m.example.test] host \"m.example.test\": owner of marker "
                           "hosts/m.example.test/send-proxy-v1 is not verifiable: uid "
                           "1002"));
  EXPECT_EQ(r.problems.size(), 6u) << p;
  ASSERT_EQ(r.routes.size(), 2u);  // a and its alias www, both kA's
  EXPECT_NE(FindRoute(r, "www.a.example.test", policy::kTlsSocket), nullptr);
  EXPECT_THAT(FormatCheckReport(r),
              HasSubstr("\nassumed: unprivileged (user namespace) as uid 1001: "
                        "only uid 1001 is mapped;"));
  EXPECT_THAT(FormatCheckReport(r), HasSubstr("run check as root for that view"));
}

TEST_F(CheckTest, UnprivilegedAsTheOverflowUidCannotStart) {
  Dir("n.example.test", 65534);
  Sock("n.example.test/tls-socket", 65534);
  CheckAssumption as_nobody;
  as_nobody.unprivileged_uid = 65534;
  as_nobody.overflow_uid = 65534;
  absl::StatusOr<CheckReport> r = CheckHostsDir(hosts_, as_nobody);
  ASSERT_TRUE(r.ok());
  std::string p = Problems(*r);
  EXPECT_THAT(p, HasSubstr("[] sallyport refuses to start unprivileged as uid 65534, "
                           "the overflow uid"));
  EXPECT_THAT(p, HasSubstr("[n.example.test] host \"n.example.test\": owner of "
                           "hosts/n.example.test is not verifiable: uid 65534 is the "
                           "overflow uid"));
  EXPECT_TRUE(r->routes.empty());
}

TEST_F(CheckTest, RunAsNonRootAssumesItsOwnUnprivilegedMode) {
  Dir("a.example.test", kA);
  Sock("a.example.test/tls-socket", kA);
  Dir("b.example.test", kB);
  Sock("b.example.test/tls-socket", kB);
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {  // as kA, through the default AssumptionForCaller()
    close(fds[0]);
    if (setgroups(0, nullptr) != 0 || setresgid(kA, kA, kA) != 0 ||
        setresuid(kA, kA, kA) != 0) {
      _exit(10);
    }
    FILE* out = fdopen(fds[1], "w");
    _exit(out != nullptr ? RunCheck(hosts_, "auto", out) : 11);  // _exit: fflushed by RunCheck
  }
  close(fds[1]);
  std::string text;
  char buf[4096];
  for (ssize_t n; (n = read(fds[0], buf, sizeof(buf))) > 0;) text.append(buf, n);
  close(fds[0]);
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 1) << text;
  EXPECT_THAT(text, HasSubstr("assumed: unprivileged (user namespace) as uid 1001"));
  EXPECT_THAT(text, HasSubstr("b.example.test: host \"b.example.test\": owner of "
                              "hosts/b.example.test is not verifiable: uid 1002 would "
                              "read as the overflow uid"));
  EXPECT_THAT(text, HasSubstr("a.example.test  a.example.test/tls-socket"));
  EXPECT_THAT(text, HasSubstr("1 route(s), 1 problem(s)"));
}

}  // namespace
}  // namespace sallyport::proxy
