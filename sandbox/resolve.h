// SPDX-License-Identifier: Apache-2.0
// sandbox/resolve.h — the syscall side of the ownership lookup: the real
// policy::Lookup, and connecting to the Route policy::DecideRoute chose.
//
// Side of the trust boundary: child. Runs after LockdownChild, under the
// child seccomp filter, with the current directory at the chroot root "/"
// (= the hosts directory). It uses only: newfstatat, readlinkat, chdir,
// socket(AF_UNIX, SOCK_STREAM|SOCK_CLOEXEC), connect, getsockopt(SOL_SOCKET,
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
#ifndef SALLYPORT_SANDBOX_RESOLVE_H_
#define SALLYPORT_SANDBOX_RESOLVE_H_

#include "absl/strings/string_view.h"
#include "policy/ownership.h"

namespace sallyport::sandbox {

// lstat (newfstatat with AT_SYMLINK_NOFOLLOW) and readlinkat relative to the
// current directory. ENOENT/ENOTDIR → kMissing; other errors → kOther with
// `error` set. A symlink target longer than a host name can be (255 bytes)
// or unreadable is reported as an empty target with `error` set.
class FsLookup : public policy::Lookup {
 public:
  policy::Entry Lstat(absl::string_view path) override;
};

// Connects to route.dir/route.socket_name: chdir(route.dir), socket, connect
// to the relative name, chdir("/") back (also on failure), then checks the
// peer credentials. Returns the connected fd (SOCK_CLOEXEC), or -errno:
//   -ENAMETOOLONG  socket_name does not fit sun_path, or dir is too long;
//   -EPERM         the listening peer's uid is neither route.owner nor 0
//                  (the socket is closed);
//   otherwise the errno of chdir/socket/connect/getsockopt (e.g.
//   -ECONNREFUSED for a stale socket file, -ENOENT for a vanished one).
// If chdir("/") back fails, the fd is closed and that errno is returned:
// the caller must not continue in an unknown directory.
int ConnectRoute(const policy::Route& route) noexcept;

}  // namespace sallyport::sandbox

#endif  // SALLYPORT_SANDBOX_RESOLVE_H_
