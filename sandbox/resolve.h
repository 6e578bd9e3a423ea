// SPDX-License-Identifier: Apache-2.0
// sandbox/resolve.h — the syscall side of the ownership lookup: the real
// policy::Lookup, and connecting to the Route policy::DecideRoute chose.
//
// Side of the trust boundary: parent, as the route broker
// (proxy/route_broker.h), after LockdownParent, under the parent seccomp
// filter, with the current directory at the chroot root "/" (= the hosts
// directory); and `sallyport check`, unconfined. Never in a per-connection
// child: the child filter has none of these calls. It uses only:
// newfstatat, readlinkat, chdir, socket(AF_UNIX,
// SOCK_STREAM|SOCK_CLOEXEC[|SOCK_NONBLOCK]), connect, getsockopt(SOL_SOCKET,
// SO_PEERCRED), close. No open(), no absolute path: everything is relative to
// the current directory.
//
// Why chdir: sun_path holds 108 bytes; "<253-char name>/tls-socket" does not
// fit, the relative "tls-socket" inside the host directory always does.
//
// Why SO_PEERCRED: DecideRoute decides from lstat results, and a tenant can
// swap its own entries (or chown a socket file) between that decision and
// connect(). After connecting, ConnectRoute asks the kernel who is listening
// (the uid that called listen() on the socket) and refuses unless it is the
// route's owner or root. A tenant cannot make a listening socket appear to
// be another uid's, so what the kernel reports cannot be forged by the race.
// Consequence: a tenant's backend must run as the tenant's uid (or root).
//
// Unmapped uids: in the unprivileged user-namespace mode (sandbox/lockdown.h
// step 3) only sallyport's own uid is mapped; lstat and SO_PEERCRED report
// every other uid, root included, as the overflow uid
// (/proc/sys/kernel/overflowuid, normally 65534). Given that uid
// (ParentLockdownResult::unmapped_uid), FsLookup marks entries owned by it
// unverifiable (policy rule 5: refused) and ConnectRoute refuses a listener
// that reads as it. Without it (root and capabilities modes) every uid is real.
#ifndef SALLYPORT_SANDBOX_RESOLVE_H_
#define SALLYPORT_SANDBOX_RESOLVE_H_

#include <sys/types.h>

#include <optional>
#include <string>

#include "absl/strings/string_view.h"
#include "policy/ownership.h"

namespace sallyport::sandbox {

// lstat (newfstatat with AT_SYMLINK_NOFOLLOW) and readlinkat relative to the
// current directory. ENOENT/ENOTDIR → kMissing; other errors → kOther with
// `error` set. A symlink target longer than a host name can be (255 bytes)
// or unreadable is reported as an empty target with `error` set. An entry
// owned by `unmapped_uid` has uid_verifiable = false.
class FsLookup : public policy::Lookup {
 public:
  explicit FsLookup(std::optional<uid_t> unmapped_uid = std::nullopt)
      : unmapped_uid_(unmapped_uid) {}
  policy::Entry Lstat(absl::string_view path) override;
  // policy::UnmappedUidReason without the mapped uid (the start-up warning
  // names it).
  std::string WhyUnverifiable(uid_t uid) override;

 private:
  std::optional<uid_t> unmapped_uid_;
};

// Connects to route.dir/route.socket_name: chdir(route.dir), socket, connect
// to the relative name, chdir("/") back (also on failure), then checks the
// peer credentials. Returns the connected fd (SOCK_CLOEXEC), or -errno:
//   -ENAMETOOLONG  socket_name does not fit sun_path, or dir is too long;
//   -EPERM         the listening peer's uid is neither route.owner nor 0,
//                  or it is `unmapped_uid` (which never identifies one user,
//                  whatever route.owner says); the socket is closed;
//   otherwise the errno of chdir/socket/connect/getsockopt (e.g.
//   -ECONNREFUSED for a stale socket file, -ENOENT for a vanished one).
// If chdir("/") back fails, the fd is closed and that errno is returned:
// the caller must not continue in an unknown directory.
// With `nonblocking` the socket is SOCK_NONBLOCK (and stays so): a listener
// whose queue is full answers -EAGAIN at once instead of blocking the
// caller, which serves every connection (the route broker retries).
int ConnectRoute(const policy::Route& route,
                 std::optional<uid_t> unmapped_uid = std::nullopt,
                 bool nonblocking = false) noexcept;

}  // namespace sallyport::sandbox

#endif  // SALLYPORT_SANDBOX_RESOLVE_H_
