// SPDX-License-Identifier: Apache-2.0
// sandbox/seccomp.h — compiles a syscall policy (policy/syscalls.h) to a
// seccomp BPF program once, in the parent, and installs it in a child with a
// single system call.
//
// Side of the trust boundary: CompileFilter runs in the parent before any
// untrusted byte is read (it uses libseccomp). CompiledFilter::Install runs in
// a freshly forked child: it is async-signal-safe, allocates nothing and calls
// no libseccomp function (the performance constraint: no libseccomp work per
// connection).
//
// Every compiled program is: architecture check (a foreign architecture or an
// x32 syscall number kills the process), then the allowlist, then the default
// action KILL_PROCESS. Errno probes named in the policy return their errno.
#ifndef SALLYPORT_SANDBOX_SECCOMP_H_
#define SALLYPORT_SANDBOX_SECCOMP_H_

#include <linux/filter.h>

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "policy/syscalls.h"

namespace sallyport::sandbox {

class CompiledFilter {
 public:
  // Sets PR_SET_NO_NEW_PRIVS (idempotent) and loads the program with one
  // prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER) call (the parent policy
  // allows exactly these prctls, not the seccomp() syscall).
  // Returns 0, or -errno on failure (the caller must then _exit: fail
  // closed). Async-signal-safe; safe to call after fork().
  int Install() const noexcept;

  // The human-readable form (seccomp_export_pfc), for golden files and docs.
  const std::string& pfc() const { return pfc_; }
  size_t instructions() const { return program_.size(); }
  // The BPF program itself, to send to the exec'd zygote (proxy/zygote.h).
  const std::vector<sock_filter>& program() const { return program_; }
  // A filter from a program compiled by CompileFilter in another process
  // (the parent, for the zygote). No pfc text. Empty or over BPF_MAXINSNS
  // instructions: InvalidArgument.
  static absl::StatusOr<CompiledFilter> FromProgram(const sock_filter* insns, size_t count);

 private:
  friend absl::StatusOr<CompiledFilter> CompileFilter(const policy::SyscallPolicy& policy);
  friend absl::StatusOr<CompiledFilter> CompileNarrowing(const policy::SyscallPolicy& outer);
  // From the checked output of seccomp_export_bpf and _pfc.
  static CompiledFilter FromExport(const std::string& bpf, std::string pfc);
  std::vector<sock_filter> program_;
  std::string pfc_;
};

// Compiles `policy` for the native architecture (x86_64). Errors:
// InvalidArgument for an unknown syscall name or a bad rule, Internal for a
// libseccomp failure. Never loads anything into the calling process.
absl::StatusOr<CompiledFilter> CompileFilter(const policy::SyscallPolicy& policy);

// Compiles the narrowing of `outer` to the one policy it includes: a filter
// that kills the process on every syscall `outer`'s own groups name and
// passes every other call on (to the filters under it: SECCOMP_RET_ALLOW is
// the weakest answer, so stacked filters still decide). Loaded on top of
// outer's filter, the process runs under exactly the included policy,
// rules, conditions and probes alike: the waiting child (proxy/zygote.h)
// gives up what only the zygote needs with a filter of a few instructions
// instead of loading and JIT-compiling the whole child allowlist again.
// The architecture check comes first, as in every filter.
// InvalidArgument unless `outer` includes exactly one policy and has no
// probes of its own, and no syscall `outer`'s own groups name is named by
// the included policy (a rule or a probe): a narrowing by syscall number
// could not keep the included policy's conditions on it.
absl::StatusOr<CompiledFilter> CompileNarrowing(const policy::SyscallPolicy& outer);

}  // namespace sallyport::sandbox

#endif  // SALLYPORT_SANDBOX_SECCOMP_H_
