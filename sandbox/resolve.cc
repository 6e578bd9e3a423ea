// SPDX-License-Identifier: Apache-2.0
#include "sandbox/resolve.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <string>

namespace sallyport::sandbox {

policy::Entry FsLookup::Lstat(absl::string_view path) {
  policy::Entry e;
  // string_view is not NUL-terminated; the rules never pass one with a NUL.
  std::string p(path);
  struct stat st;
  // glibc 2.36 on x86_64 implements fstatat as the newfstatat syscall.
  if (fstatat(AT_FDCWD, p.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
    e.error = errno;
    e.type = (e.error == ENOENT || e.error == ENOTDIR) ? policy::Entry::kMissing
                                                       : policy::Entry::kOther;
    return e;
  }
  e.uid = st.st_uid;
  e.uid_verifiable = !(unmapped_uid_.has_value() && st.st_uid == *unmapped_uid_);
  switch (st.st_mode & S_IFMT) {
    case S_IFDIR: e.type = policy::Entry::kDirectory; break;
    case S_IFSOCK: e.type = policy::Entry::kSocket; break;
    case S_IFREG: e.type = policy::Entry::kRegular; break;
    case S_IFLNK: e.type = policy::Entry::kSymlink; break;
    default: e.type = policy::Entry::kOther; break;
  }
  if (e.type == policy::Entry::kSymlink) {
    char buf[256];  // a plain target is a host name (<= 253) or a file name
    ssize_t n = readlinkat(AT_FDCWD, p.c_str(), buf, sizeof(buf));
    if (n < 0) {
      e.error = errno;
    } else if (static_cast<size_t>(n) >= sizeof(buf)) {
      e.error = ENAMETOOLONG;
    } else {
      e.link_target.assign(buf, static_cast<size_t>(n));
    }
  }
  return e;
}

std::string FsLookup::WhyUnverifiable(uid_t uid) {
  if (!unmapped_uid_.has_value()) return policy::Lookup::WhyUnverifiable(uid);
  return policy::UnmappedUidReason(uid, *unmapped_uid_, std::nullopt);
}

int ConnectRoute(const policy::Route& route, std::optional<uid_t> unmapped_uid,
                 bool nonblocking) noexcept {
  struct sockaddr_un addr;
  std::memset(&addr, 0, sizeof(addr));
  addr.sun_family = AF_UNIX;
  const std::string& name = route.socket_name;
  if (name.empty() || name.size() >= sizeof(addr.sun_path)) return -ENAMETOOLONG;
  std::memcpy(addr.sun_path, name.data(), name.size());
  char dir[256];
  if (route.dir.empty() || route.dir.size() >= sizeof(dir)) return -ENAMETOOLONG;
  std::memcpy(dir, route.dir.data(), route.dir.size());
  dir[route.dir.size()] = '\0';

  if (chdir(dir) != 0) return -errno;
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | (nonblocking ? SOCK_NONBLOCK : 0), 0);
  int err = fd < 0 ? errno : 0;
  if (fd >= 0) {
    socklen_t len = static_cast<socklen_t>(offsetof(struct sockaddr_un, sun_path) +
                                           name.size() + 1);
    if (connect(fd, reinterpret_cast<struct sockaddr*>(&addr), len) != 0) {
      err = errno;
    }
  }
  if (chdir("/") != 0 && err == 0) err = errno;
  if (err == 0) {
    struct ucred cred;
    socklen_t clen = sizeof(cred);
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &clen) != 0) {
      err = errno;
    } else if (unmapped_uid.has_value() && cred.uid == *unmapped_uid) {
      err = EPERM;  // checked first: route.owner may be that uid too
    } else if (cred.uid != route.owner && cred.uid != 0) {
      err = EPERM;
    }
  }
  if (err != 0) {
    if (fd >= 0) close(fd);
    return -err;
  }
  return fd;
}

}  // namespace sallyport::sandbox
