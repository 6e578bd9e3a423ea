// SPDX-License-Identifier: Apache-2.0
// Every ownership rule of policy/ownership.h, over a fake filesystem.
#include "policy/ownership.h"

#include <cerrno>
#include <map>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace sallyport::policy {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;

constexpr uid_t kA = 1001;
constexpr uid_t kB = 1002;

class FakeFs : public Lookup {
 public:
  FakeFs& Dir(const std::string& p, uid_t uid) {
    return Put(p, Entry{Entry::kDirectory, uid, "", 0});
  }
  FakeFs& Sock(const std::string& p, uid_t uid) {
    return Put(p, Entry{Entry::kSocket, uid, "", 0});
  }
  FakeFs& File(const std::string& p, uid_t uid) {
    return Put(p, Entry{Entry::kRegular, uid, "", 0});
  }
  FakeFs& Link(const std::string& p, uid_t uid, const std::string& target) {
    return Put(p, Entry{Entry::kSymlink, uid, target, 0});
  }
  FakeFs& Put(const std::string& p, Entry e) {
    entries_[p] = e;
    return *this;
  }
  Entry Lstat(absl::string_view path) override {
    lookups_.emplace_back(path);
    auto it = entries_.find(std::string(path));
    if (it == entries_.end()) return Entry{Entry::kMissing, 0, "", ENOENT};
    return it->second;
  }
  std::vector<std::string> lookups_;

 private:
  std::map<std::string, Entry> entries_;
};

// A tenant-A host with a socket, the common starting point.
FakeFs TenantA() {
  FakeFs fs;
  fs.Dir("a.example", kA).Sock("a.example/tls-socket", kA);
  fs.Dir("b.example", kB).Sock("b.example/tls-socket", kB);
  return fs;
}

TEST(Ownership, DirectoryWithOwnSocket) {
  FakeFs fs = TenantA();
  absl::StatusOr<Route> r = DecideRoute("a.example", kTlsSocket, fs);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->dir, "a.example");
  EXPECT_EQ(r->socket_name, "tls-socket");
  EXPECT_EQ(r->owner, kA);
  EXPECT_EQ(r->proxy, Route::kNone);
}

TEST(Ownership, HttpSocketIsSeparate) {
  FakeFs fs = TenantA();
  absl::StatusOr<Route> r = DecideRoute("a.example", kHttpSocket, fs);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kNotFound);
  fs.Sock("a.example/http-socket", kA);
  r = DecideRoute("a.example", kHttpSocket, fs);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->socket_name, "http-socket");
}

TEST(Ownership, MissingHostIsNotFound) {
  FakeFs fs = TenantA();
  absl::StatusOr<Route> r = DecideRoute("c.example", kTlsSocket, fs);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(r.status().message(), HasSubstr("no such host"));
}

TEST(Ownership, NameMustBeOneComponent) {
  FakeFs fs = TenantA();
  for (const char* bad : {"", ".", "..", "a/b", "../a.example"}) {
    absl::StatusOr<Route> r = DecideRoute(bad, kTlsSocket, fs);
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << bad;
  }
  EXPECT_TRUE(fs.lookups_.empty()) << "a bad name must not reach the filesystem";
  EXPECT_EQ(DecideRoute("a.example", "../x", fs).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(Ownership, HostThatIsNotADirectoryIsRefused) {
  FakeFs fs;
  fs.File("a.example", kA);
  absl::StatusOr<Route> r = DecideRoute("a.example", kTlsSocket, fs);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(r.status().message(), HasSubstr("not a directory"));
  fs.Sock("a.example", kA);
  EXPECT_EQ(DecideRoute("a.example", kTlsSocket, fs).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST(Ownership, SiblingSymlinkIsAnAlias) {
  FakeFs fs = TenantA();
  fs.Link("www.a.example", kA, "a.example");
  absl::StatusOr<Route> r = DecideRoute("www.a.example", kTlsSocket, fs);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->dir, "a.example");
  EXPECT_EQ(r->socket_name, "tls-socket");
  EXPECT_EQ(r->owner, kA);
}

TEST(Ownership, AbsoluteSymlinkIsRefused) {
  FakeFs fs = TenantA();
  fs.Link("evil.example", kA, "/srv/hosts/a.example");
  absl::StatusOr<Route> r = DecideRoute("evil.example", kTlsSocket, fs);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(r.status().message(), HasSubstr("absolute"));
}

TEST(Ownership, DotDotSymlinkIsRefused) {
  FakeFs fs = TenantA();
  fs.Link("evil.example", kA, "../x");
  absl::StatusOr<Route> r = DecideRoute("evil.example", kTlsSocket, fs);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(r.status().message(), HasSubstr("'/'"));
  fs.Link("evil.example", kA, "..");
  EXPECT_EQ(DecideRoute("evil.example", kTlsSocket, fs).status().code(),
            absl::StatusCode::kFailedPrecondition);
  fs.Link("evil.example", kA, ".");
  EXPECT_EQ(DecideRoute("evil.example", kTlsSocket, fs).status().code(),
            absl::StatusCode::kFailedPrecondition);
  fs.Link("evil.example", kA, "a.example/");
  EXPECT_EQ(DecideRoute("evil.example", kTlsSocket, fs).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST(Ownership, EmptyOrUnreadableSymlinkIsRefused) {
  FakeFs fs = TenantA();
  fs.Put("evil.example", Entry{Entry::kSymlink, kA, "", ENAMETOOLONG});
  absl::StatusOr<Route> r = DecideRoute("evil.example", kTlsSocket, fs);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST(Ownership, SymlinkChainIsRefused) {
  FakeFs fs = TenantA();
  fs.Link("www.a.example", kA, "a.example");
  fs.Link("w3.a.example", kA, "www.a.example");
  absl::StatusOr<Route> r = DecideRoute("w3.a.example", kTlsSocket, fs);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(r.status().message(), HasSubstr("chain"));
}

TEST(Ownership, DanglingHostSymlinkIsNotFound) {
  FakeFs fs = TenantA();
  fs.Link("old.example", kA, "gone.example");
  absl::StatusOr<Route> r = DecideRoute("old.example", kTlsSocket, fs);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(r.status().message(), HasSubstr("dangling"));
}

TEST(Ownership, HostSymlinkToNonDirectoryIsRefused) {
  FakeFs fs = TenantA();
  fs.File("file.example", kA);
  fs.Link("alias.example", kA, "file.example");
  EXPECT_EQ(DecideRoute("alias.example", kTlsSocket, fs).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST(Ownership, SymlinkToAnotherTenantsDirectoryIsRefused) {
  // A's name, pointing at B's directory (and so B's socket).
  FakeFs fs = TenantA();
  fs.Link("evil.example", kA, "b.example");
  absl::StatusOr<Route> r = DecideRoute("evil.example", kTlsSocket, fs);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(r.status().message(), AllOf(HasSubstr("1001"), HasSubstr("1002")));
}

TEST(Ownership, SymlinkToRootOwnedDirectoryWithOwnSocket) {
  FakeFs fs;
  fs.Dir("shared.example", 0).Sock("shared.example/tls-socket", kA);
  fs.Link("a.example", kA, "shared.example");
  absl::StatusOr<Route> r = DecideRoute("a.example", kTlsSocket, fs);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->owner, kA);
  EXPECT_EQ(r->dir, "shared.example");
}

TEST(Ownership, OtherTenantsSocketBehindOwnNameIsRefused) {
  // B's socket planted in A's directory (e.g. a group-writable dir).
  FakeFs fs = TenantA();
  fs.Sock("a.example/tls-socket", kB);
  absl::StatusOr<Route> r = DecideRoute("a.example", kTlsSocket, fs);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(r.status().message(), AllOf(HasSubstr("uid 1002"), HasSubstr("uid 1001")));
}

TEST(Ownership, RootOwnedSocketIsAccepted) {
  FakeFs fs = TenantA();
  fs.Sock("a.example/tls-socket", 0);
  absl::StatusOr<Route> r = DecideRoute("a.example", kTlsSocket, fs);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->owner, kA);
}

TEST(Ownership, RootOwnedHostMayOnlyReachRootSockets) {
  FakeFs fs;
  fs.Dir("r.example", 0).Sock("r.example/tls-socket", kA);
  EXPECT_EQ(DecideRoute("r.example", kTlsSocket, fs).status().code(),
            absl::StatusCode::kPermissionDenied);
}

TEST(Ownership, SocketSymlinkInSameDirectory) {
  FakeFs fs = TenantA();
  fs.Sock("a.example/backend.sock", kA);
  fs.Link("a.example/tls-socket", kA, "backend.sock");
  absl::StatusOr<Route> r = DecideRoute("a.example", kTlsSocket, fs);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->dir, "a.example");
  EXPECT_EQ(r->socket_name, "backend.sock");
}

TEST(Ownership, SocketSymlinkWithSlashIsRefused) {
  FakeFs fs = TenantA();
  fs.Link("a.example/tls-socket", kA, "../b.example/tls-socket");
  absl::StatusOr<Route> r = DecideRoute("a.example", kTlsSocket, fs);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(r.status().message(), HasSubstr("'/'"));
  fs.Link("a.example/tls-socket", kA, "/run/backend.sock");
  r = DecideRoute("a.example", kTlsSocket, fs);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(r.status().message(), HasSubstr("absolute"));
}

TEST(Ownership, SocketSymlinkToOtherTenantsSocketIsRefused) {
  // A's socket symlink to a socket B owns in A's directory.
  FakeFs fs = TenantA();
  fs.Sock("a.example/b.sock", kB);
  fs.Link("a.example/tls-socket", kA, "b.sock");
  absl::StatusOr<Route> r = DecideRoute("a.example", kTlsSocket, fs);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(r.status().message(), AllOf(HasSubstr("1001"), HasSubstr("1002")));
}

TEST(Ownership, SocketSymlinkChainIsRefused) {
  FakeFs fs = TenantA();
  fs.Link("a.example/s2", kA, "tls-socket-real");
  fs.Sock("a.example/tls-socket-real", kA);
  fs.Link("a.example/tls-socket", kA, "s2");
  EXPECT_EQ(DecideRoute("a.example", kTlsSocket, fs).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST(Ownership, DanglingSocketSymlinkIsNotFound) {
  FakeFs fs = TenantA();
  fs.Link("a.example/tls-socket", kA, "gone.sock");
  absl::StatusOr<Route> r = DecideRoute("a.example", kTlsSocket, fs);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(r.status().message(), HasSubstr("dangling"));
}

TEST(Ownership, MissingSocketIsNotFound) {
  FakeFs fs;
  fs.Dir("a.example", kA);
  absl::StatusOr<Route> r = DecideRoute("a.example", kTlsSocket, fs);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(r.status().message(), HasSubstr("no tls-socket"));
}

TEST(Ownership, SocketThatIsNotASocketIsRefused) {
  FakeFs fs;
  fs.Dir("a.example", kA).File("a.example/tls-socket", kA);
  absl::StatusOr<Route> r = DecideRoute("a.example", kTlsSocket, fs);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(r.status().message(), HasSubstr("not a socket"));
  fs.Put("a.example/tls-socket", Entry{Entry::kOther, kA, "", 0});  // a FIFO
  EXPECT_EQ(DecideRoute("a.example", kTlsSocket, fs).status().code(),
            absl::StatusCode::kFailedPrecondition);
  fs.Dir("a.example/tls-socket", kA);
  EXPECT_EQ(DecideRoute("a.example", kTlsSocket, fs).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST(Ownership, LookupErrorIsUnavailableNotNotFound) {
  FakeFs fs;
  fs.Dir("a.example", kA);
  fs.Put("a.example/tls-socket", Entry{Entry::kOther, 0, "", EACCES});
  absl::StatusOr<Route> r = DecideRoute("a.example", kTlsSocket, fs);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable);
  fs.Put("a.example", Entry{Entry::kMissing, 0, "", EACCES});
  EXPECT_EQ(DecideRoute("a.example", kTlsSocket, fs).status().code(),
            absl::StatusCode::kUnavailable);
}

TEST(Ownership, ProxyMarkers) {
  FakeFs fs = TenantA();
  fs.File("a.example/send-proxy-v1", kA);
  absl::StatusOr<Route> r = DecideRoute("a.example", kTlsSocket, fs);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->proxy, Route::kV1);

  FakeFs fs2 = TenantA();
  fs2.File("a.example/send-proxy-v2", 0);  // root-owned marker is fine
  r = DecideRoute("a.example", kTlsSocket, fs2);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->proxy, Route::kV2);

  fs.File("a.example/send-proxy-v2", kA);  // both: ambiguous, refused
  r = DecideRoute("a.example", kTlsSocket, fs);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(r.status().message(), HasSubstr("both"));
}

TEST(Ownership, ProxyMarkerFollowsAliasToItsDirectory) {
  FakeFs fs = TenantA();
  fs.File("a.example/send-proxy-v2", kA);
  fs.Link("www.a.example", kA, "a.example");
  absl::StatusOr<Route> r = DecideRoute("www.a.example", kTlsSocket, fs);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->proxy, Route::kV2);
}

TEST(Ownership, BadProxyMarkersAreRefused) {
  FakeFs fs = TenantA();
  fs.File("a.example/send-proxy-v1", kB);  // someone else's marker
  absl::StatusOr<Route> r = DecideRoute("a.example", kTlsSocket, fs);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kPermissionDenied);

  FakeFs fs2 = TenantA();
  fs2.Link("a.example/send-proxy-v2", kA, "x");  // a symlink is not a marker
  EXPECT_EQ(DecideRoute("a.example", kTlsSocket, fs2).status().code(),
            absl::StatusCode::kFailedPrecondition);

  FakeFs fs3 = TenantA();
  fs3.Dir("a.example/send-proxy-v1", kA);
  EXPECT_EQ(DecideRoute("a.example", kTlsSocket, fs3).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST(Ownership, LongestNameStaysRelative) {
  std::string name(253, 'a');
  for (size_t i = 63; i < name.size(); i += 64) name[i] = '.';
  FakeFs fs;
  fs.Dir(name, kA).Sock(name + "/tls-socket", kA);
  absl::StatusOr<Route> r = DecideRoute(name, kTlsSocket, fs);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->dir, name);
  EXPECT_EQ(r->socket_name, "tls-socket");
}

// --- rule 5: unverifiable owners (sallyport's unprivileged user namespace) --

constexpr uid_t kSelf = 7;         // the one uid the namespace maps
constexpr uid_t kOverflow = 65534;  // what every other uid reads as

// The filesystem as the unprivileged child sees it: the test describes real
// owners; every uid but kSelf reads as the overflow uid, marked unverifiable
// (what sandbox::FsLookup does with ParentLockdownResult::unmapped_uid).
class UserNsFs : public Lookup {
 public:
  explicit UserNsFs(FakeFs& real) : real_(real) {}
  Entry Lstat(absl::string_view path) override {
    Entry e = real_.Lstat(path);
    if (e.type != Entry::kMissing && e.uid != kSelf) {
      e.uid = kOverflow;
      e.uid_verifiable = false;
    }
    return e;
  }
  std::string WhyUnverifiable(uid_t uid) override {
    return UnmappedUidReason(uid, kOverflow, std::nullopt);
  }

 private:
  FakeFs& real_;
};

// The refusal for `what`'s owner, word for word.
std::string UnverifiableMessage(const std::string& host, const std::string& what) {
  return "host \"" + host + "\": owner of " + what +
         " is not verifiable: uid 65534 is the overflow uid, which stands for "
         "every uid not mapped into sallyport's user namespace; run as root with "
         "--user for a multi-tenant hosts/";
}

// Own entries plus X's host (dir, socket, marker) and Y's alias to it.
FakeFs SharedHosts() {
  FakeFs fs;
  fs.Dir("own.example", kSelf).Sock("own.example/tls-socket", kSelf);
  fs.Dir("x.example", kA).Sock("x.example/tls-socket", kA);
  fs.Link("mis.example", kB, "x.example");
  return fs;
}

TEST(OwnershipUnverifiable, ForeignHostEntryIsRefused) {
  // Without rule 5 this routes: dir and socket both read as 65534.
  FakeFs real = SharedHosts();
  UserNsFs fs(real);
  absl::StatusOr<Route> r = DecideRoute("x.example", kTlsSocket, fs);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(r.status().message(), UnverifiableMessage("x.example", "hosts/x.example"));
  // Root's directory, too: uid 0 is not mapped either.
  real.Dir("r.example", 0).Sock("r.example/tls-socket", 0);
  r = DecideRoute("r.example", kTlsSocket, fs);
  EXPECT_EQ(r.status().message(), UnverifiableMessage("r.example", "hosts/r.example"));
}

TEST(OwnershipUnverifiable, ForeignAliasIsRefused) {
  FakeFs real = SharedHosts();
  UserNsFs fs(real);
  absl::StatusOr<Route> r = DecideRoute("mis.example", kTlsSocket, fs);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(r.status().message(),
            UnverifiableMessage("mis.example", "hosts/mis.example"));
}

TEST(OwnershipUnverifiable, OwnAliasToForeignDirectoryIsRefused) {
  FakeFs real = SharedHosts();
  real.Link("alias.example", kSelf, "x.example");
  UserNsFs fs(real);
  absl::StatusOr<Route> r = DecideRoute("alias.example", kTlsSocket, fs);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(r.status().message(),
            UnverifiableMessage("alias.example", "the target directory hosts/x.example"));
  // Root's shared directory is no exception in this mode.
  real.Dir("shared.example", 0).Sock("shared.example/tls-socket", kSelf);
  real.Link("alias.example", kSelf, "shared.example");
  EXPECT_EQ(DecideRoute("alias.example", kTlsSocket, fs).status().message(),
            UnverifiableMessage("alias.example", "the target directory hosts/shared.example"));
}

TEST(OwnershipUnverifiable, ForeignOrRootSocketIsRefused) {
  for (uid_t socket_owner : {uid_t{0}, kA, kOverflow}) {
    FakeFs real = SharedHosts();
    real.Sock("own.example/tls-socket", socket_owner);
    UserNsFs fs(real);
    absl::StatusOr<Route> r = DecideRoute("own.example", kTlsSocket, fs);
    EXPECT_EQ(r.status().code(), absl::StatusCode::kPermissionDenied) << socket_owner;
    EXPECT_EQ(r.status().message(),
              UnverifiableMessage("own.example", "socket hosts/own.example/tls-socket"));
  }
  // Through an own socket symlink: the socket reached is what counts.
  FakeFs real = SharedHosts();
  real.Sock("own.example/x.sock", kA).Link("own.example/tls-socket", kSelf, "x.sock");
  UserNsFs fs(real);
  EXPECT_EQ(DecideRoute("own.example", kTlsSocket, fs).status().message(),
            UnverifiableMessage("own.example", "socket hosts/own.example/x.sock"));
}

TEST(OwnershipUnverifiable, ForeignOrRootMarkerIsRefused) {
  for (const char* marker : {"send-proxy-v1", "send-proxy-v2"}) {
    for (uid_t marker_owner : {uid_t{0}, kA}) {
      FakeFs real = SharedHosts();
      real.File(std::string("own.example/") + marker, marker_owner);
      UserNsFs fs(real);
      absl::StatusOr<Route> r = DecideRoute("own.example", kTlsSocket, fs);
      EXPECT_EQ(r.status().code(), absl::StatusCode::kPermissionDenied) << marker;
      EXPECT_EQ(r.status().message(),
                UnverifiableMessage("own.example",
                                    std::string("marker hosts/own.example/") + marker));
    }
  }
}

TEST(OwnershipUnverifiable, AllVerifiableRoutesAsBefore) {
  FakeFs real = SharedHosts();
  real.Sock("own.example/v2.sock", kSelf).Link("own.example/tls-socket", kSelf, "v2.sock");
  real.File("own.example/send-proxy-v1", kSelf);
  real.Link("www.own.example", kSelf, "own.example");
  UserNsFs fs(real);
  for (const char* name : {"own.example", "www.own.example"}) {
    absl::StatusOr<Route> r = DecideRoute(name, kTlsSocket, fs);
    ASSERT_TRUE(r.ok()) << name << ": " << r.status();
    EXPECT_EQ(r->dir, "own.example");
    EXPECT_EQ(r->socket_name, "v2.sock");
    EXPECT_EQ(r->owner, kSelf);
    EXPECT_EQ(r->proxy, Route::kV1);
  }
}

TEST(OwnershipUnverifiable, OnlyUsedUidsAreChecked) {
  // A wrongly shaped entry is refused for its shape, a missing one is
  // missing: rule 5 only guards uids the rules compare.
  FakeFs real;
  real.File("file.example", kA);
  real.Link("abs.example", kA, "/etc");
  real.Dir("own.example", kSelf);
  UserNsFs fs(real);
  EXPECT_EQ(DecideRoute("file.example", kTlsSocket, fs).status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(DecideRoute("nothere.example", kTlsSocket, fs).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(DecideRoute("own.example", kTlsSocket, fs).status().code(),
            absl::StatusCode::kNotFound);
  // An unverifiable symlink is refused before its target is even looked at.
  absl::StatusOr<Route> r = DecideRoute("abs.example", kTlsSocket, fs);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kPermissionDenied);
}

TEST(OwnershipUnverifiable, DefaultReasonAndSharedWording) {
  FakeFs fs;
  fs.Dir("a.example", kA).Sock("a.example/tls-socket", kA);
  Entry e{Entry::kDirectory, kA, "", 0};
  e.uid_verifiable = false;
  fs.Put("a.example", e);
  absl::StatusOr<Route> r = DecideRoute("a.example", kTlsSocket, fs);
  EXPECT_EQ(r.status().message(),
            "host \"a.example\": owner of hosts/a.example is not verifiable: uid "
            "1001 does not identify one user; run as root with --user for a "
            "multi-tenant hosts/");
  EXPECT_EQ(UnmappedUidReason(65534, 65534, std::nullopt),
            "uid 65534 is the overflow uid, which stands for every uid not mapped "
            "into sallyport's user namespace");
  EXPECT_EQ(UnmappedUidReason(2, 65534, uid_t{7}),
            "uid 2 would read as the overflow uid 65534, which stands for every uid "
            "not mapped into sallyport's user namespace (unprivileged mode maps only "
            "uid 7)");
}

TEST(Ownership, IsPlainName) {
  EXPECT_TRUE(IsPlainName("a"));
  EXPECT_TRUE(IsPlainName("...")); // odd but a single component
  EXPECT_FALSE(IsPlainName(""));
  EXPECT_FALSE(IsPlainName("."));
  EXPECT_FALSE(IsPlainName(".."));
  EXPECT_FALSE(IsPlainName("a/b"));
  EXPECT_FALSE(IsPlainName(absl::string_view("a\0b", 3)));
}

}  // namespace
}  // namespace sallyport::policy
