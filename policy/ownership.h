// SPDX-License-Identifier: Apache-2.0
// policy/ownership.h — which Unix socket a host name may reach: the backend
// ownership rules, as a pure decision over an abstract filesystem lookup.
//
// Side of the trust boundary: pure. No syscalls, no globals. Runs in the
// parent's route broker (proxy/route_broker.h, through sandbox/resolve.h,
// which supplies the real lookup) on a name an attacker chose, and in `sallyport check`
// (proxy/check.h) with the same rules. Tests use a fake Lookup.
//
// The name comes from parser::CanonicalHostname, so it is already a single
// safe path component; DecideRoute checks that again (defense in depth) and
// answers InvalidArgument otherwise.
//
// All paths are relative to the hosts root (the chroot root "/" in the
// parent). The rules, for a request for `name` and socket file `S`
// ("tls-socket" or "http-socket"):
//
//  1. Host entry. `name` is lstat'ed (never followed). Its owner uid is THE
//     OWNER of the route. It must be either
//       a. a directory, or
//       b. a symlink whose target is a plain sibling name: no '/', not "."
//          or "..", not empty. The sibling is lstat'ed too and must be a
//          directory (a symlink to a symlink — a chain — is refused: one hop
//          only, so a reader of `ls -l hosts/` sees every alias's target),
//          owned by the owner or by root.
//     Missing → NotFound "no such host".
//  2. Socket entry, inside the directory reached in 1. `dir/S` is lstat'ed:
//       a. a socket, or
//       b. a symlink whose target is a plain name in the same directory (no
//          '/', not "." or "..") that is itself a socket (one hop, no chain).
//     Missing (or a dangling symlink) → NotFound.
//  3. Ownership. The socket finally reached must be owned by the owner or by
//     root (uid 0). Otherwise PermissionDenied, naming both uids. This is the
//     rule that keeps tenant A from pointing their name at tenant B's
//     backend, or B from planting a socket behind A's name.
//  4. PROXY protocol markers, optional, in the directory reached in 1:
//     `send-proxy-v1` / `send-proxy-v2`. A marker must be a regular file
//     (not a symlink) owned by the owner or root. Both present → refused
//     (FailedPrecondition): an ambiguous configuration fails closed rather
//     than guessing which header the backend parses.
//  5. Verifiable owners. Every uid the rules use (the host entry's, the
//     symlink target directory's, the socket's, each marker's) must identify
//     one real user. In sallyport's unprivileged user namespace only its own
//     uid is mapped and every other uid, root included, reads as the
//     overflow uid (65534): those owners all compare equal. The Lookup marks
//     such entries (Entry::uid_verifiable = false) and DecideRoute refuses to
//     use them: PermissionDenied, naming the entry, the uid and why
//     (Lookup::WhyUnverifiable). An entry whose uid is never used (a missing
//     marker, a wrongly shaped entry refused for its shape) is not checked.
//  Anything else (a FIFO, a regular file where a socket belongs, an
//  absolute symlink, a target with '/', a lookup error other than "does not
//  exist") is refused with a specific reason: FailedPrecondition for a
//  wrongly shaped entry, Unavailable for a lookup error.
//
// These rules decide from lstat results; the kernel can change between the
// decision and connect(). sandbox/resolve.h's ConnectRoute closes that gap by
// checking the connected peer's SO_PEERCRED uid against Route::owner.
#ifndef SALLYPORT_POLICY_OWNERSHIP_H_
#define SALLYPORT_POLICY_OWNERSHIP_H_

#include <sys/types.h>

#include <optional>
#include <string>
#include "absl/strings/string_view.h"

#include "absl/status/statusor.h"

namespace sallyport::policy {

inline constexpr absl::string_view kTlsSocket = "tls-socket";
inline constexpr absl::string_view kHttpSocket = "http-socket";
inline constexpr absl::string_view kProxyV1Marker = "send-proxy-v1";
inline constexpr absl::string_view kProxyV2Marker = "send-proxy-v2";

// One lstat result. For kSymlink, link_target holds the readlink result.
// `error` is 0, or the errno of a failed lookup (then type is kMissing for
// ENOENT/ENOTDIR and kOther for anything else, e.g. EACCES), or the errno of
// a failed readlink on a symlink (then link_target is empty).
struct Entry {
  enum Type { kMissing, kDirectory, kSymlink, kSocket, kRegular, kOther };
  Type type = kMissing;
  uid_t uid = 0;
  std::string link_target;
  int error = 0;
  // False when `uid` does not stand for one real user (rule 5): set by the
  // Lookup, e.g. for the overflow uid inside a user namespace.
  bool uid_verifiable = true;
};

// The filesystem as the rules see it. `path` is relative to the hosts root
// and is "name" or "name/file". Implementations never follow the final
// symlink (lstat semantics).
class Lookup {
 public:
  virtual ~Lookup() = default;
  virtual Entry Lstat(absl::string_view path) = 0;
  // Why an entry this Lookup marked unverifiable cannot be trusted, for the
  // refusal message ("uid N is ..."). Called only for such entries.
  virtual std::string WhyUnverifiable(uid_t uid);
};

struct Route {
  enum ProxyMode { kNone, kV1, kV2 };
  std::string dir;          // relative to the hosts root; chdir into it
  std::string socket_name;  // plain name inside dir; connect to it
  uid_t owner = 0;          // lstat uid of hosts/<name> (before following)
  ProxyMode proxy = kNone;
};

// True for a non-empty single path component that is not "." or "..":
// no '/', no NUL. The shape every symlink target above must have.
bool IsPlainName(absl::string_view s);

// The explanation of an unverifiable uid in sallyport's unprivileged user
// namespace, one wording for the proxy and `sallyport check`:
//  - `uid` == `overflow_uid` (what the proxy sees inside the namespace):
//    "uid 65534 is the overflow uid, which stands for every uid not mapped
//    into sallyport's user namespace";
//  - any other `uid` (a real uid, when check predicts that mode): "uid 1000
//    would read as the overflow uid 65534, which stands for ...".
// `mapped_uid`, the one uid the namespace maps, is added when the caller
// knows it ("(unprivileged mode maps only uid 7)"): check does; the
// route broker does not (its filter has no getuid(); the start-up
// warning names it).
std::string UnmappedUidReason(uid_t uid, uid_t overflow_uid,
                              std::optional<uid_t> mapped_uid);

// Applies rules 1–5. `socket_file` is normally kTlsSocket or kHttpSocket
// (any plain name is accepted, for the linter). Errors as described above;
// every message names the host and the offending entry.
absl::StatusOr<Route> DecideRoute(absl::string_view name,
                                  absl::string_view socket_file, Lookup& fs);

}  // namespace sallyport::policy

#endif  // SALLYPORT_POLICY_OWNERSHIP_H_
