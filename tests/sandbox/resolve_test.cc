// SPDX-License-Identifier: Apache-2.0
// sandbox::FsLookup and sandbox::ConnectRoute inside sallyport's real
// unprivileged user namespace, where only the uid it runs as is mapped and
// every other uid (root included) reads as the overflow uid: given
// ParentLockdownResult::unmapped_uid, entries owned by it are unverifiable
// and a listener that reads as it is refused, even on a route claiming that
// uid as its owner.
// Needs real root (tag no-sandbox): chown, backends as other uids.
#include "sandbox/resolve.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <optional>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "policy/ownership.h"
#include "sandbox/lockdown.h"
#include "tests/sandbox/lockdown_testing.h"

namespace sallyport::sandbox {
namespace {

using ::sallyport::policy::DecideRoute;
using ::sallyport::policy::Entry;
using ::sallyport::policy::kTlsSocket;
using ::sallyport::policy::Route;
using ::sallyport::testing::DescribeStatus;
using ::sallyport::testing::FakeBackend;
using ::sallyport::testing::ForkChild;
using ::sallyport::testing::Pipe;
using ::sallyport::testing::ReadAll;
using ::sallyport::testing::ReadToEof;
using ::sallyport::testing::TempDir;
using ::sallyport::testing::WaitStatus;
using ::sallyport::testing::WriteAll;
using ::testing::HasSubstr;

constexpr uid_t kSelf = 42011;    // sallyport, started unprivileged
constexpr uid_t kTenant = 42012;  // another tenant

uid_t OverflowUid() {
  FILE* f = fopen("/proc/sys/kernel/overflowuid", "re");
  unsigned long v = 0;
  if (f != nullptr) {
    if (fscanf(f, "%lu", &v) != 1) v = 0;
    fclose(f);
  }
  return static_cast<uid_t>(v);
}

// What the locked process saw. uids as lstat reported them.
struct Seen {
  int lockdown_ok = 0;
  int mode = -1;
  int has_unmapped = 0;
  uid_t unmapped = 0;
  // FsLookup(unmapped_uid) on each entry: uid, verifiable.
  uid_t own_uid = 0, tenant_uid = 0, root_uid = 0;
  int own_ok = 0, tenant_ok = 1, root_ok = 1, missing_ok = 0;
  // FsLookup() without it: the old view, every foreign owner "verifiable".
  int tenant_ok_without = 0;
  // DecideRoute over FsLookup(unmapped_uid).
  int own_route = -1, tenant_route = -1, rootsock_route = -1;
  int tenant_route_without = -1;  // ... over FsLookup(): routed (the bug)
  // ConnectRoute.
  char own_reply = 0;             // own route, with unmapped_uid
  int forged_without = 0;         // tenant's socket, owner 65534, no unmapped_uid
  int forged_with = 0;            // same, with unmapped_uid
};

TEST(ResolveTest, UnmappedUidIsNeverTrustedInTheUserNamespace) {
  ASSERT_EQ(geteuid(), 0u) << "needs root (tag no-sandbox)";
  ASSERT_GT(testing::ParentFilter().instructions(), 0u);
  const uid_t overflow = OverflowUid();
  ASSERT_NE(overflow, 0u);

  TempDir hosts("sallyport-resolve-hosts");
  for (auto [dir, uid] : {std::pair{"own.example", kSelf},
                          std::pair{"x.example", kTenant},
                          std::pair{"rootsock.example", kSelf}}) {
    std::string p = hosts.Sub(dir);
    ASSERT_EQ(mkdir(p.c_str(), 0755), 0) << p;
    ASSERT_EQ(chown(p.c_str(), uid, uid), 0);
  }
  FakeBackend own(kSelf, {hosts.Sub("own.example/tls-socket")}, 'S');
  FakeBackend tenant(kTenant, {hosts.Sub("x.example/tls-socket")}, 'X');
  FakeBackend root(0, {hosts.Sub("rootsock.example/tls-socket")}, 'R');
  ASSERT_TRUE(own.ok());
  ASSERT_TRUE(tenant.ok());
  ASSERT_TRUE(root.ok());

  Pipe report;
  pid_t pid = ForkChild([&]() -> int {
    report.CloseRead();
    Seen s;
    if (!testing::BecomeUser(kSelf, kSelf)) return 1;
    ParentLockdownOptions o;
    o.hosts_dir = hosts.path();
    o.filter = &testing::ParentFilter();
    absl::StatusOr<ParentLockdownResult> r = LockdownParent(o);
    if (r.ok()) {
      s.lockdown_ok = 1;
      s.mode = static_cast<int>(r->mode);
      s.has_unmapped = r->unmapped_uid.has_value() ? 1 : 0;
      s.unmapped = r->unmapped_uid.value_or(0);
      FsLookup fs(r->unmapped_uid);
      Entry e = fs.Lstat("own.example");
      s.own_uid = e.uid;
      s.own_ok = e.uid_verifiable;
      e = fs.Lstat("x.example");
      s.tenant_uid = e.uid;
      s.tenant_ok = e.uid_verifiable;
      e = fs.Lstat("rootsock.example/tls-socket");
      s.root_uid = e.uid;
      s.root_ok = e.uid_verifiable;
      s.missing_ok = fs.Lstat("nothere.example").uid_verifiable;
      FsLookup old_view;
      s.tenant_ok_without = old_view.Lstat("x.example").uid_verifiable;
      s.tenant_route_without =
          static_cast<int>(DecideRoute("x.example", kTlsSocket, old_view).status().code());

      absl::StatusOr<Route> own_route = DecideRoute("own.example", kTlsSocket, fs);
      s.own_route = static_cast<int>(own_route.status().code());
      s.tenant_route =
          static_cast<int>(DecideRoute("x.example", kTlsSocket, fs).status().code());
      s.rootsock_route = static_cast<int>(
          DecideRoute("rootsock.example", kTlsSocket, fs).status().code());
      if (own_route.ok()) {
        int fd = ConnectRoute(*own_route, r->unmapped_uid);
        if (fd >= 0) {
          if (read(fd, &s.own_reply, 1) != 1) s.own_reply = '?';
          close(fd);
        }
      }
      // The tenant's listener reads as the overflow uid: a route naming that
      // uid as its owner matched it before unmapped_uid was known.
      Route forged{"x.example", "tls-socket", s.unmapped, Route::kNone};
      int fd = ConnectRoute(forged);
      s.forged_without = fd >= 0 ? 0 : fd;
      if (fd >= 0) close(fd);
      fd = ConnectRoute(forged, r->unmapped_uid);
      s.forged_with = fd >= 0 ? 0 : fd;
      if (fd >= 0) close(fd);
    }
    std::string why = r.ok() ? r->Describe() : std::string(r.status().message());
    if (!WriteAll(report.w, &s, sizeof(s)) ||
        !WriteAll(report.w, why.data(), why.size())) {
      return 2;
    }
    return 0;
  });
  report.CloseWrite();
  Seen s;
  ASSERT_TRUE(ReadAll(report.r, &s, sizeof(s)));
  std::string why = ReadToEof(report.r);
  EXPECT_EQ(DescribeStatus(WaitStatus(pid)), "exit 0");
  ASSERT_EQ(s.lockdown_ok, 1) << why;
  ASSERT_EQ(s.mode, static_cast<int>(LockdownMode::kUserNamespace)) << why;
  ASSERT_EQ(s.has_unmapped, 1);
  EXPECT_EQ(s.unmapped, overflow);

  EXPECT_EQ(s.own_uid, kSelf);
  EXPECT_EQ(s.own_ok, 1);
  EXPECT_EQ(s.tenant_uid, overflow) << "an unmapped uid reads as the overflow uid";
  EXPECT_EQ(s.tenant_ok, 0);
  EXPECT_EQ(s.root_uid, overflow) << "root is not mapped either";
  EXPECT_EQ(s.root_ok, 0);
  EXPECT_EQ(s.missing_ok, 1);
  EXPECT_EQ(s.tenant_ok_without, 1);
  EXPECT_EQ(s.tenant_route_without, static_cast<int>(absl::StatusCode::kOk))
      << "without unmapped_uid every foreign owner compares equal";

  EXPECT_EQ(s.own_route, static_cast<int>(absl::StatusCode::kOk));
  EXPECT_EQ(s.own_reply, 'S');
  EXPECT_EQ(s.tenant_route, static_cast<int>(absl::StatusCode::kPermissionDenied));
  EXPECT_EQ(s.rootsock_route, static_cast<int>(absl::StatusCode::kPermissionDenied));
  EXPECT_EQ(s.forged_without, 0) << "SO_PEERCRED reads 65534 = the claimed owner";
  EXPECT_EQ(s.forged_with, -EPERM) << "the overflow uid never matches";
}

TEST(ResolveTest, WithoutUnmappedUidEveryEntryIsVerifiable) {
  ASSERT_EQ(geteuid(), 0u) << "needs root (tag no-sandbox)";
  TempDir dir("sallyport-resolve-plain");
  ASSERT_EQ(chdir(dir.path().c_str()), 0);
  ASSERT_EQ(mkdir("n", 0755), 0);
  ASSERT_EQ(chown("n", 65534, 65534), 0);
  FsLookup plain;
  Entry e = plain.Lstat("n");
  EXPECT_EQ(e.uid, 65534u);
  EXPECT_TRUE(e.uid_verifiable) << "root and capabilities modes see real uids";
  FsLookup marked(uid_t{65534});
  EXPECT_FALSE(marked.Lstat("n").uid_verifiable);
  EXPECT_THAT(marked.WhyUnverifiable(65534), HasSubstr("uid 65534 is the overflow uid"));
  ASSERT_EQ(chdir("/"), 0);
}

}  // namespace
}  // namespace sallyport::sandbox
