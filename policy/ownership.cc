// SPDX-License-Identifier: Apache-2.0
#include "policy/ownership.h"

#include <cerrno>
#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace sallyport::policy {
namespace {

const char* TypeName(Entry::Type t) {
  switch (t) {
    case Entry::kMissing: return "missing";
    case Entry::kDirectory: return "a directory";
    case Entry::kSymlink: return "a symlink";
    case Entry::kSocket: return "a socket";
    case Entry::kRegular: return "a regular file";
    case Entry::kOther: return "a special file";
  }
  return "unknown";
}

bool OwnerOk(uid_t uid, uid_t owner) { return uid == owner || uid == 0; }

std::string Join(absl::string_view dir, absl::string_view file) {
  return absl::StrCat(dir, "/", file);
}

// Explains why a symlink target is not a plain name.
std::string BadTargetReason(absl::string_view target) {
  if (target.empty()) return "has an empty or unreadable target";
  if (target.front() == '/') return absl::StrCat("is absolute (-> ", target, ")");
  if (target == "." || target == "..") {
    return absl::StrCat("points to '", target, "'");
  }
  if (target.find('/') != absl::string_view::npos) {
    return absl::StrCat("target contains '/' (-> ", target, ")");
  }
  return absl::StrCat("target is not a plain name (-> ", target, ")");
}

absl::Status LookupError(absl::string_view what, const Entry& e) {
  return absl::UnavailableError(
      absl::StrCat(what, ": lookup failed: ", std::strerror(e.error)));
}

// Rule 5: `what` names the entry, e.g. "hosts/a.example".
absl::Status Unverifiable(absl::string_view host, absl::string_view what,
                          const Entry& e, Lookup& fs) {
  return absl::PermissionDeniedError(absl::StrCat(
      host, ": owner of ", what, " is not verifiable: ", fs.WhyUnverifiable(e.uid),
      "; run as root with --user for a multi-tenant hosts/"));
}

}  // namespace

std::string Lookup::WhyUnverifiable(uid_t uid) {
  return absl::StrCat("uid ", uid, " does not identify one user");
}

std::string UnmappedUidReason(uid_t uid, uid_t overflow_uid,
                              std::optional<uid_t> mapped_uid) {
  std::string lead =
      uid == overflow_uid
          ? absl::StrCat("uid ", uid, " is the overflow uid")
          : absl::StrCat("uid ", uid, " would read as the overflow uid ", overflow_uid);
  return absl::StrCat(
      lead, ", which stands for every uid not mapped into sallyport's user namespace",
      mapped_uid.has_value()
          ? absl::StrCat(" (unprivileged mode maps only uid ", *mapped_uid, ")")
          : std::string());
}

bool IsPlainName(absl::string_view s) {
  if (s.empty() || s == "." || s == "..") return false;
  for (char c : s) {
    if (c == '/' || c == '\0') return false;
  }
  return true;
}

absl::StatusOr<Route> DecideRoute(absl::string_view name,
                                  absl::string_view socket_file, Lookup& fs) {
  if (!IsPlainName(name)) {
    return absl::InvalidArgumentError("host name is not a single path component");
  }
  if (!IsPlainName(socket_file)) {
    return absl::InvalidArgumentError("socket file is not a plain name");
  }
  const std::string host = absl::StrCat("host \"", name, "\"");
  Route route;

  // Rule 1: the host entry, never followed; its uid is the owner.
  Entry h = fs.Lstat(name);
  if (h.type == Entry::kMissing) {
    if (h.error != 0 && h.error != ENOENT && h.error != ENOTDIR) {
      return LookupError(host, h);
    }
    return absl::NotFoundError(absl::StrCat("no such host: ", name));
  }
  if (h.type == Entry::kOther && h.error != 0) return LookupError(host, h);
  route.owner = h.uid;
  if ((h.type == Entry::kDirectory || h.type == Entry::kSymlink) &&
      !h.uid_verifiable) {
    return Unverifiable(host, absl::StrCat("hosts/", name), h, fs);
  }
  if (h.type == Entry::kDirectory) {
    route.dir = std::string(name);
  } else if (h.type == Entry::kSymlink) {
    if (!IsPlainName(h.link_target)) {
      return absl::FailedPreconditionError(absl::StrCat(
          host, ": hosts/", name, " is a symlink that ",
          BadTargetReason(h.link_target), "; only a sibling name is allowed"));
    }
    Entry t = fs.Lstat(h.link_target);
    if (t.type == Entry::kMissing) {
      if (t.error != 0 && t.error != ENOENT && t.error != ENOTDIR) {
        return LookupError(host, t);
      }
      return absl::NotFoundError(absl::StrCat(host, ": hosts/", name,
                                              " is a dangling symlink (-> ",
                                              h.link_target, ")"));
    }
    if (t.type == Entry::kSymlink) {
      return absl::FailedPreconditionError(absl::StrCat(
          host, ": hosts/", name, " -> ", h.link_target,
          " is a symlink chain; one hop to a directory is allowed"));
    }
    if (t.type != Entry::kDirectory) {
      if (t.error != 0) return LookupError(host, t);
      return absl::FailedPreconditionError(
          absl::StrCat(host, ": symlink target hosts/", h.link_target, " is ",
                       TypeName(t.type), ", not a directory"));
    }
    if (!t.uid_verifiable) {
      return Unverifiable(
          host, absl::StrCat("the target directory hosts/", h.link_target), t, fs);
    }
    if (!OwnerOk(t.uid, route.owner)) {
      return absl::PermissionDeniedError(absl::StrCat(
          host, ": hosts/", name, " is owned by uid ", route.owner,
          " but its target directory hosts/", h.link_target,
          " is owned by uid ", t.uid));
    }
    route.dir = h.link_target;
  } else {
    return absl::FailedPreconditionError(absl::StrCat(
        host, ": hosts/", name, " is ", TypeName(h.type),
        ", not a directory or a symlink to one"));
  }

  // Rule 2: the socket entry, at most one hop inside the same directory.
  const std::string sock_path = Join(route.dir, socket_file);
  Entry s = fs.Lstat(sock_path);
  route.socket_name = std::string(socket_file);
  if (s.type == Entry::kSymlink) {
    if (!IsPlainName(s.link_target)) {
      return absl::FailedPreconditionError(absl::StrCat(
          host, ": ", socket_file, " is a symlink that ",
          BadTargetReason(s.link_target),
          "; only a name in the same directory is allowed"));
    }
    route.socket_name = s.link_target;
    Entry t = fs.Lstat(Join(route.dir, s.link_target));
    if (t.type == Entry::kMissing) {
      if (t.error != 0 && t.error != ENOENT && t.error != ENOTDIR) {
        return LookupError(host, t);
      }
      return absl::NotFoundError(absl::StrCat(host, ": ", socket_file,
                                              " is a dangling symlink (-> ",
                                              s.link_target, ")"));
    }
    if (t.type == Entry::kSymlink) {
      return absl::FailedPreconditionError(
          absl::StrCat(host, ": ", socket_file, " -> ", s.link_target,
                       " is a symlink chain; one hop to a socket is allowed"));
    }
    s = t;
  } else if (s.type == Entry::kMissing) {
    if (s.error != 0 && s.error != ENOENT && s.error != ENOTDIR) {
      return LookupError(host, s);
    }
    return absl::NotFoundError(
        absl::StrCat(host, ": no ", socket_file, " in hosts/", route.dir));
  }
  if (s.type != Entry::kSocket) {
    if (s.error != 0) return LookupError(host, s);
    return absl::FailedPreconditionError(
        absl::StrCat(host, ": ", route.socket_name, " in hosts/", route.dir,
                     " is ", TypeName(s.type), ", not a socket"));
  }

  // Rule 3: the socket reached belongs to the owner of the name, or root.
  if (!s.uid_verifiable) {
    return Unverifiable(
        host, absl::StrCat("socket hosts/", route.dir, "/", route.socket_name), s, fs);
  }
  if (!OwnerOk(s.uid, route.owner)) {
    return absl::PermissionDeniedError(absl::StrCat(
        host, ": socket hosts/", route.dir, "/", route.socket_name,
        " is owned by uid ", s.uid, " but hosts/", name, " is owned by uid ",
        route.owner));
  }

  // Rule 4: PROXY protocol markers.
  bool marker[2] = {false, false};
  const absl::string_view marker_names[2] = {kProxyV1Marker, kProxyV2Marker};
  for (int i = 0; i < 2; ++i) {
    Entry m = fs.Lstat(Join(route.dir, marker_names[i]));
    if (m.type == Entry::kMissing) {
      if (m.error != 0 && m.error != ENOENT && m.error != ENOTDIR) {
        return LookupError(host, m);
      }
      continue;
    }
    if (m.type != Entry::kRegular) {
      if (m.error != 0) return LookupError(host, m);
      return absl::FailedPreconditionError(
          absl::StrCat(host, ": marker ", marker_names[i], " is ",
                       TypeName(m.type), ", not a regular file"));
    }
    if (!m.uid_verifiable) {
      return Unverifiable(
          host, absl::StrCat("marker hosts/", route.dir, "/", marker_names[i]), m, fs);
    }
    if (!OwnerOk(m.uid, route.owner)) {
      return absl::PermissionDeniedError(absl::StrCat(
          host, ": marker ", marker_names[i], " is owned by uid ", m.uid,
          " but hosts/", name, " is owned by uid ", route.owner));
    }
    marker[i] = true;
  }
  if (marker[0] && marker[1]) {
    return absl::FailedPreconditionError(absl::StrCat(
        host, ": both ", kProxyV1Marker, " and ", kProxyV2Marker,
        " are present; keep exactly one"));
  }
  route.proxy = marker[1] ? Route::kV2 : marker[0] ? Route::kV1 : Route::kNone;
  return route;
}

}  // namespace sallyport::policy
