// SPDX-License-Identifier: Apache-2.0
#include "proxy/check.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <set>
#include <tuple>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "parser/hostname.h"
#include "sandbox/resolve.h"

namespace sallyport::proxy {
namespace {

constexpr size_t kSunPathMax = sizeof(((struct sockaddr_un*)nullptr)->sun_path);

std::string UserName(uid_t uid) {
  struct passwd* pw = getpwuid(uid);
  return pw != nullptr ? std::string(pw->pw_name) : std::to_string(uid);
}

std::string GroupName(gid_t gid) {
  struct group* gr = getgrgid(gid);
  return gr != nullptr ? std::string(gr->gr_name) : std::to_string(gid);
}

std::string Mode(mode_t m) { return absl::StrFormat("%04o", m & 07777); }

const char* ProxyName(policy::Route::ProxyMode p) {
  switch (p) {
    case policy::Route::kNone: return "none";
    case policy::Route::kV1: return "v1";
    case policy::Route::kV2: return "v2";
  }
  return "?";
}

// Why a directory entry name can never be asked for, or "" when it can.
std::string NameProblem(const std::string& name) {
  absl::StatusOr<std::string> canon = parser::CanonicalHostname(name);
  if (!canon.ok()) {
    if (canon.status().code() == absl::StatusCode::kNotFound) {
      return "an IP literal, not a host name: IP literals have no route";
    }
    return absl::StrCat("not a valid host name (", canon.status().message(), ")");
  }
  if (*canon != name) {
    return absl::StrCat("not in canonical form (a request for it looks up \"",
                        *canon, "\"; rename it to that)");
  }
  return "";
}

// The proxy's view of owners in the unprivileged user-namespace mode,
// predicted from real uids: only `mapped` is mapped there, every other uid
// reads as the overflow uid and is unverifiable (policy rule 5). Running as
// the overflow uid itself, nothing is verifiable (the proxy refuses to
// start; CheckHostsDir reports that too).
class UserNamespaceView : public policy::Lookup {
 public:
  UserNamespaceView(policy::Lookup& real, uid_t mapped, uid_t overflow)
      : real_(real), mapped_(mapped), overflow_(overflow) {}
  policy::Entry Lstat(absl::string_view path) override {
    policy::Entry e = real_.Lstat(path);
    const bool mapped = e.uid == mapped_ && mapped_ != overflow_;
    if (e.type != policy::Entry::kMissing && !mapped) e.uid_verifiable = false;
    return e;
  }
  std::string WhyUnverifiable(uid_t uid) override {
    return policy::UnmappedUidReason(uid, overflow_, mapped_);
  }

 private:
  policy::Lookup& real_;
  uid_t mapped_;
  uid_t overflow_;
};

std::string DescribeAssumption(const CheckAssumption& a) {
  if (!a.unprivileged_uid.has_value()) {
    return "assumed: root (sallyport started as root with --user): every owner "
           "is verifiable";
  }
  const uid_t s = *a.unprivileged_uid;
  const std::string name = UserName(s);
  const std::string shown = name == std::to_string(s) ? "" : absl::StrCat(" (", name, ")");
  return absl::StrCat(
      "assumed: unprivileged (user namespace) as uid ", s, shown, ": only uid ", s,
      " is mapped; entries, sockets and markers of any "
      "other uid (including root) are unverifiable and refused. A service "
      "with CAP_SYS_CHROOT + CAP_SYS_ADMIN instead sees real uids, as root "
      "does: run check as root for that view");
}

// Collects findings per entry without repeating the same message (the
// host-level refusals are the same for tls-socket and http-socket).
class Findings {
 public:
  explicit Findings(std::vector<CheckFinding>& out) : out_(out) {}
  void Add(const std::string& entry, const std::string& message) {
    if (seen_.insert({entry, message}).second) out_.push_back({entry, message});
  }

 private:
  std::vector<CheckFinding>& out_;
  std::set<std::pair<std::string, std::string>> seen_;
};

// Lints every entry; the current directory is the hosts directory.
void CheckEntries(const std::vector<std::string>& names, CheckReport& r) {
  sandbox::FsLookup real;
  std::optional<UserNamespaceView> view;
  if (r.assumed.unprivileged_uid.has_value()) {
    view.emplace(real, *r.assumed.unprivileged_uid, r.assumed.overflow_uid);
  }
  policy::Lookup& fs = view.has_value() ? static_cast<policy::Lookup&>(*view) : real;
  Findings problems(r.problems), notes(r.notes);
  std::map<std::string, std::vector<std::string>> aliases_of;  // target → names
  std::vector<std::pair<std::string, std::string>> bad_names;  // name, why
  const absl::string_view kSockets[] = {policy::kTlsSocket, policy::kHttpSocket};

  for (const std::string& name : names) {
    std::string why = NameProblem(name);
    if (!why.empty()) {
      bad_names.emplace_back(name, why);
      continue;
    }
    int routed = 0, problems_before = static_cast<int>(r.problems.size());
    for (absl::string_view sock : kSockets) {
      absl::StatusOr<policy::Route> route = policy::DecideRoute(name, sock, fs);
      if (route.ok()) {
        ++routed;
        if (route->dir != name) aliases_of[route->dir].push_back(name);
        r.routes.push_back({name, std::string(sock), *route});
        continue;
      }
      // "This host simply has no such socket" is not a problem: the host
      // entry reaches a directory and nothing is there under that name.
      struct stat st;
      const std::string sock_path = absl::StrCat(name, "/", sock);
      if (route.status().code() == absl::StatusCode::kNotFound &&
          stat(name.c_str(), &st) == 0 && S_ISDIR(st.st_mode) &&
          fs.Lstat(sock_path).type == policy::Entry::kMissing &&
          fs.Lstat(sock_path).error == ENOENT) {
        continue;
      }
      problems.Add(name, std::string(route.status().message()));
    }
    if (routed == 0 && static_cast<int>(r.problems.size()) == problems_before) {
      problems.Add(name, absl::StrCat("host \"", name, "\": neither ",
                                      policy::kTlsSocket, " nor ",
                                      policy::kHttpSocket, ": no route"));
    }
  }

  for (const auto& [name, why] : bad_names) {
    auto it = aliases_of.find(name);
    if (it != aliases_of.end()) {
      notes.Add(name, absl::StrCat("hosts/", name, " is ", why,
                                   "; it is reached only through the alias(es) ",
                                   absl::StrJoin(it->second, ", ")));
    } else {
      problems.Add(name, absl::StrCat("hosts/", name, " is ", why,
                                      ": no request can ever reach it"));
    }
  }

  // Informational notes on the routes that work.
  for (const CheckRoute& cr : r.routes) {
    const policy::Route& rt = cr.route;
    std::string full = absl::StrCat(r.hosts_dir, "/", rt.dir, "/", rt.socket_name);
    if (full.size() >= kSunPathMax) {
      notes.Add(rt.dir, absl::StrCat(
          full.size(), "-byte socket path ", r.hosts_dir, "/", rt.dir, "/",
          rt.socket_name, " does not fit sun_path (", kSunPathMax - 1,
          " bytes): sallyport connects by chdir + relative name, but other "
          "tools (curl --unix-socket, socat) need a shorter path or a chdir"));
    }
    struct stat st;
    if (stat(rt.dir.c_str(), &st) == 0 && (st.st_mode & S_IXOTH) == 0) {
      notes.Add(rt.dir, absl::StrCat(
          "hosts/", rt.dir, " (mode ", Mode(st.st_mode), ", group ",
          GroupName(st.st_gid), ") is not searchable by others: sallyport's "
          "--user reaches it only through that group"));
    }
    std::string sock = absl::StrCat(rt.dir, "/", rt.socket_name);
    if (lstat(sock.c_str(), &st) == 0 && (st.st_mode & S_IWOTH) == 0) {
      notes.Add(rt.dir, absl::StrCat(
          "socket hosts/", sock, " (mode ", Mode(st.st_mode), ", group ",
          GroupName(st.st_gid), ") is not writable by others: sallyport's "
          "--user can connect only through that group"));
    }
  }

  std::sort(r.routes.begin(), r.routes.end(),
            [](const CheckRoute& a, const CheckRoute& b) {
              return std::tie(a.socket_file, a.name) < std::tie(b.socket_file, b.name);
            });
}

// hosts/ itself: who may rename entries in it; and whether the assumed
// mode can start at all.
void CheckHostsMode(CheckReport& r) {
  Findings problems(r.problems), notes(r.notes);
  if (r.assumed.unprivileged_uid == r.assumed.overflow_uid) {
    problems.Add("", absl::StrCat(
        "sallyport refuses to start unprivileged as uid ", r.assumed.overflow_uid,
        ", the overflow uid: in its user namespace every other uid reads as ",
        r.assumed.overflow_uid, " too, so no owner is verifiable; run it as "
        "another user, or as root with --user"));
  }
  if ((r.hosts_mode & (S_IWOTH | S_IWGRP)) != 0 && (r.hosts_mode & S_ISVTX) == 0) {
    problems.Add("", absl::StrCat(
        r.hosts_dir, " (mode ", Mode(r.hosts_mode), ") is writable by ",
        (r.hosts_mode & S_IWOTH) ? "everyone" : absl::StrCat("group ", GroupName(r.hosts_gid)),
        " without the sticky bit: any of them can rename or delete another "
        "tenant's entry and take over its name (chmod +t)"));
  }
  if (r.hosts_uid != 0) {
    notes.Add("", absl::StrCat(r.hosts_dir, " is owned by ", UserName(r.hosts_uid),
                               ", not root: that user can rename or remove "
                               "every tenant's entry"));
  }
}

}  // namespace

CheckAssumption AssumptionForCaller() {
  CheckAssumption a;
  if (geteuid() == 0) return a;
  a.unprivileged_uid = geteuid();
  if (FILE* f = fopen("/proc/sys/kernel/overflowuid", "re")) {
    unsigned long v = 0;
    if (fscanf(f, "%lu", &v) == 1) a.overflow_uid = static_cast<uid_t>(v);
    fclose(f);
  }
  return a;
}

absl::StatusOr<CheckReport> CheckHostsDir(const std::string& hosts_dir,
                                          const CheckAssumption& assume) {
  CheckReport r;
  r.assumed = assume;
  char* real = realpath(hosts_dir.c_str(), nullptr);
  if (real == nullptr) {
    return absl::NotFoundError(absl::StrCat(hosts_dir, ": ", std::strerror(errno)));
  }
  r.hosts_dir = real;
  free(real);

  int dirfd = open(r.hosts_dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dirfd < 0) {
    return absl::FailedPreconditionError(
        absl::StrCat(r.hosts_dir, ": ", std::strerror(errno)));
  }
  struct stat st;
  if (fstat(dirfd, &st) != 0) {
    int err = errno;
    close(dirfd);
    return absl::FailedPreconditionError(absl::StrCat(r.hosts_dir, ": ", std::strerror(err)));
  }
  r.hosts_mode = st.st_mode & 07777;
  r.hosts_uid = st.st_uid;
  r.hosts_gid = st.st_gid;

  std::vector<std::string> names;
  int listfd = dup(dirfd);
  DIR* d = listfd >= 0 ? fdopendir(listfd) : nullptr;
  if (d == nullptr) {
    int err = errno;
    if (listfd >= 0) close(listfd);
    close(dirfd);
    return absl::FailedPreconditionError(
        absl::StrCat(r.hosts_dir, ": cannot list: ", std::strerror(err)));
  }
  errno = 0;
  while (struct dirent* e = readdir(d)) {
    if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
      names.emplace_back(e->d_name);
    }
  }
  int list_err = errno;
  closedir(d);
  if (list_err != 0) {
    close(dirfd);
    return absl::FailedPreconditionError(
        absl::StrCat(r.hosts_dir, ": cannot list: ", std::strerror(list_err)));
  }
  std::sort(names.begin(), names.end());

  // Look up exactly as the child does after chroot: relative to hosts/.
  int saved = open(".", O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (saved < 0) {
    int err = errno;
    close(dirfd);
    return absl::FailedPreconditionError(
        absl::StrCat("cannot remember the current directory: ", std::strerror(err)));
  }
  if (fchdir(dirfd) != 0) {
    int err = errno;
    close(dirfd);
    close(saved);
    return absl::FailedPreconditionError(
        absl::StrCat(r.hosts_dir, ": cannot enter: ", std::strerror(err)));
  }
  close(dirfd);
  CheckHostsMode(r);
  CheckEntries(names, r);
  int back = fchdir(saved);
  int back_err = errno;
  close(saved);
  if (back != 0) {
    return absl::InternalError(absl::StrCat(
        "cannot return to the previous directory: ", std::strerror(back_err)));
  }

  return r;
}

std::string FormatCheckReport(const CheckReport& r) {
  std::string out = absl::StrCat("hosts ", r.hosts_dir, " (mode ", Mode(r.hosts_mode),
                                 ", owner ", UserName(r.hosts_uid), ":",
                                 GroupName(r.hosts_gid), ")\n",
                                 DescribeAssumption(r.assumed), "\n");
  const absl::string_view kSockets[] = {policy::kTlsSocket, policy::kHttpSocket};
  const char* kProto[] = {"tls", "http"};
  for (int i = 0; i < 2; ++i) {
    std::vector<std::vector<std::string>> rows = {{"NAME", "SOCKET", "OWNER", "PROXY"}};
    for (const CheckRoute& cr : r.routes) {
      if (cr.socket_file != kSockets[i]) continue;
      rows.push_back({cr.name, absl::StrCat(cr.route.dir, "/", cr.route.socket_name),
                      absl::StrCat(UserName(cr.route.owner), " (", cr.route.owner, ")"),
                      ProxyName(cr.route.proxy)});
    }
    absl::StrAppend(&out, "\nroutes for sallyport ", kProto[i], " (", kSockets[i],
                    "): ", rows.size() - 1, "\n");
    if (rows.size() == 1) continue;
    size_t w[3] = {0, 0, 0};
    for (const auto& row : rows) {
      for (int c = 0; c < 3; ++c) w[c] = std::max(w[c], row[c].size());
    }
    for (const auto& row : rows) {
      absl::StrAppend(&out, absl::StrFormat("  %-*s  %-*s  %-*s  %s\n",
                                            static_cast<int>(w[0]), row[0],
                                            static_cast<int>(w[1]), row[1],
                                            static_cast<int>(w[2]), row[2], row[3]));
    }
  }
  auto list = [&out](const char* title, const std::vector<CheckFinding>& fs) {
    if (fs.empty()) return;
    absl::StrAppend(&out, "\n", title, ":\n");
    for (const CheckFinding& f : fs) {
      absl::StrAppend(&out, "  ", f.entry.empty() ? "hosts/" : f.entry, ": ",
                      f.message, "\n");
    }
  };
  list("problems", r.problems);
  list("notes", r.notes);
  absl::StrAppend(&out, "\n", r.routes.size(), " route(s), ", r.problems.size(),
                  " problem(s), ", r.notes.size(), " note(s): ",
                  r.ok() ? "OK" : "PROBLEMS FOUND", "\n");
  return out;
}

int RunCheck(const std::string& hosts_dir, const std::string& assume, FILE* out) {
  CheckAssumption assumption;  // root mode
  if (assume == "auto") {
    assumption = AssumptionForCaller();
  } else if (assume != "root") {
    fprintf(stderr, "sallyport check: --assume=%s: expected auto or root\n", assume.c_str());
    return 2;
  }
  absl::StatusOr<CheckReport> r = CheckHostsDir(hosts_dir, assumption);
  if (!r.ok()) {
    fprintf(stderr, "sallyport check: %s\n", std::string(r.status().message()).c_str());
    return 2;
  }
  std::string text = FormatCheckReport(*r);
  fwrite(text.data(), 1, text.size(), out);
  fflush(out);
  return r->ok() ? 0 : 1;
}

}  // namespace sallyport::proxy
