// SPDX-License-Identifier: Apache-2.0
// proxy/check.h — `sallyport check`: lints a hosts directory and prints the
// routing table the proxy would apply, without serving anything.
//
// Side of the trust boundary: an offline administrator/tenant tool. It runs
// unconfined as whoever invokes it (no chroot, no privilege drop, no
// namespaces), reads the directory with lstat/readlink only, and never
// connects to a backend: a stale socket (no process listening) is therefore
// not detected, and the proxy's SO_PEERCRED check is not re-done here.
//
// It applies the SAME rules as the proxy: each directory entry name goes
// through parser::CanonicalHostname, and each (name, socket file) through
// policy::DecideRoute with sandbox::FsLookup (the lookup the route broker uses),
// evaluated with the current directory temporarily set to the hosts
// directory, exactly as the child sees it after chroot. There is no second
// copy of the rules here; this file only classifies DecideRoute's answers.
//
// Which owners count as verifiable (policy rule 5) depends on how sallyport
// will run, and check sees real uids. It assumes the mode its own caller
// would get (AssumptionForCaller), and the report's header says which:
//   - invoked as root: root mode (sallyport as root with --user); every
//     owner is verifiable;
//   - invoked as uid S: unprivileged mode in a user namespace that maps only
//     S; an entry, target directory, socket or marker owned by any other
//     uid (root included) is unverifiable, as the proxy will see it, and is
//     reported with the proxy's own wording (through the same Entry field,
//     set by a Lookup wrapper over sandbox::FsLookup).
// It cannot know whether the service will instead run unprivileged with
// CAP_SYS_CHROOT + CAP_SYS_ADMIN (the capabilities mode: no user namespace,
// real uids, like root mode), nor whether the uid invoking it is the one the
// proxy runs as: a tenant checking a hosts/ that a root-started sallyport
// serves sees other tenants' entries reported as unverifiable. Run it as
// root (or as the proxy's own uid, for an unprivileged proxy) to see what
// the proxy sees.
//
// Problems (exit status 1):
//   - an entry whose name is not a canonical host name (invalid, an IP
//     literal, or not in canonical form: upper case, trailing dot): no
//     request can ever reach it (unless it is the target of a valid alias,
//     then it is only a note);
//   - an entry the ownership rules refuse for a socket file it has (wrong
//     type, absolute or chained or dangling symlink, another uid's socket or
//     marker, both PROXY markers, lookup errors);
//   - a host with neither tls-socket nor http-socket;
//   - a hosts directory writable by others or its group without the
//     sticky bit (any tenant could rename another tenant's entry);
//   - assumed unprivileged as the overflow uid itself (e.g. nobody): the
//     proxy refuses to start that way.
// Notes (informational, exit status unaffected):
//   - a route whose absolute socket path does not fit sun_path (108 bytes):
//     sallyport handles it (chdir + relative connect), other tools may not;
//   - a host directory not searchable by others or a socket not writable by
//     others: the proxy's --user must then get access through a group;
//   - a hosts directory not owned by root.
//
// Errors: RunCheck returns 2 (and prints why) when the hosts directory
// cannot be opened or read.
#ifndef SALLYPORT_PROXY_CHECK_H_
#define SALLYPORT_PROXY_CHECK_H_

#include <stdio.h>
#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "policy/ownership.h"

namespace sallyport::proxy {

struct CheckFinding {
  std::string entry;    // the hosts/ entry concerned ("" for hosts/ itself)
  std::string message;  // why, in one line
};

struct CheckRoute {
  std::string name;         // hosts/<name> as requested (canonical)
  std::string socket_file;  // policy::kTlsSocket or policy::kHttpSocket
  policy::Route route;      // what DecideRoute answered
};

// The mode whose view of owners a check assumes.
struct CheckAssumption {
  // The uid sallyport runs as, unprivileged, in a user namespace that maps
  // only it; empty = root mode (every owner verifiable).
  std::optional<uid_t> unprivileged_uid;
  uid_t overflow_uid = 65534;  // what every other uid reads as in that mode
};

// Root mode when the caller is root; otherwise the user-namespace mode as
// geteuid(), with the overflow uid from /proc/sys/kernel/overflowuid (the
// kernel default 65534 if it cannot be read).
CheckAssumption AssumptionForCaller();

struct CheckReport {
  CheckAssumption assumed;
  std::string hosts_dir;  // absolute (realpath)
  mode_t hosts_mode = 0;  // permission bits incl. sticky/setgid
  uid_t hosts_uid = 0;
  gid_t hosts_gid = 0;
  std::vector<CheckRoute> routes;  // sorted by socket file, then name
  std::vector<CheckFinding> problems;
  std::vector<CheckFinding> notes;
  bool ok() const { return problems.empty(); }
};

// Lints `hosts_dir`. Changes the current directory into it while looking up
// and restores it before returning (also on error). Errors: the directory
// cannot be resolved, opened or listed, or the current directory cannot be
// restored (then the process must not continue relying on it).
absl::StatusOr<CheckReport> CheckHostsDir(
    const std::string& hosts_dir,
    const CheckAssumption& assume = AssumptionForCaller());

// The human-readable report: hosts/ summary, the assumed mode, one routing
// table per socket file (name → socket → owner, PROXY mode), problems,
// notes, a summary line.
std::string FormatCheckReport(const CheckReport& report);

// `sallyport check`: runs CheckHostsDir, prints the report to `out` (errors
// to stderr), returns the exit status: 0 no problem, 1 problems found,
// 2 the directory could not be checked (or `assume` is not a known mode).
// `assume` is --assume: "auto" (AssumptionForCaller) or "root" (every
// owner verifiable: the view of a proxy started as root, e.g. the packaged
// units, whoever runs the check).
int RunCheck(const std::string& hosts_dir, const std::string& assume, FILE* out);

}  // namespace sallyport::proxy

#endif  // SALLYPORT_PROXY_CHECK_H_
