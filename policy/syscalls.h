// SPDX-License-Identifier: Apache-2.0
// policy/syscalls.h — what each sallyport process may ask of the kernel, as
// data: named groups of syscalls (with argument conditions), one line of
// purpose each, plus the "errno probes" that answer an error instead of
// killing. sandbox/seccomp.h compiles these tables; policy/golden/*.pfc is
// the compiled text, diffed by //tests/policy:golden_test so every policy
// change is a visible diff.
//
// Side of the trust boundary: pure data. No syscalls, no libseccomp. The
// tables are read by the parent (which compiles them before accepting
// anything) and by tests and docs.
//
// Semantics, shared by both policies:
//   - Anything not listed kills the whole process (SECCOMP_RET_KILL_PROCESS,
//     the child sees SIGSYS). A foreign architecture (i386 `int $0x80`) or an
//     x32 syscall number also kills the process.
//   - A SyscallRule allows its syscall when ALL of its ArgConds hold (at most
//     one condition per argument: a libseccomp limit). Several rules for the
//     same syscall are alternatives (OR). A rule without conditions allows
//     every call of that syscall.
//   - An ErrnoProbe makes matching calls return -1 with `err` (no side
//     effect): for library calls that try something opportunistically and
//     cope with failure. Calls of the same syscall that match no probe and no
//     rule still kill.
//   - Filters stack (kernel): a child forked by the parent runs under the
//     parent's filter AND its own, and the strictest answer wins. So the
//     parent policy `includes` the child policy: everything a child may do,
//     the parent may do too. That is a real cost, stated in docs/SECURITY.md.
//
// Argument values are compared as 64-bit values. glibc passes int arguments
// sign-extended, which for the non-negative flags used here means the upper
// 32 bits are zero; a raw syscall with junk in the upper bits fails a
// masked condition and is killed (fail closed).
#ifndef SALLYPORT_POLICY_SYSCALLS_H_
#define SALLYPORT_POLICY_SYSCALLS_H_

#include <cstdint>
#include <vector>

namespace sallyport::policy {

// One condition on one syscall argument (0..5).
struct ArgCond {
  enum Op {
    kEq,        // arg == value
    kMaskedEq,  // (arg & mask) == value
  };
  unsigned arg;
  Op op;
  uint64_t mask;  // kMaskedEq only
  uint64_t value;
};

// arg == v.
constexpr ArgCond Eq(unsigned arg, uint64_t v) {
  return ArgCond{arg, ArgCond::kEq, 0, v};
}
// Only bits from `allowed` may be set (including none).
constexpr ArgCond BitsWithin(unsigned arg, uint64_t allowed) {
  return ArgCond{arg, ArgCond::kMaskedEq, ~allowed, 0};
}
// All of `required` set; of the rest, only bits from `optional`.
constexpr ArgCond BitsAre(unsigned arg, uint64_t required, uint64_t optional) {
  return ArgCond{arg, ArgCond::kMaskedEq, ~optional, required};
}
// None of `bits` set.
constexpr ArgCond BitsClear(unsigned arg, uint64_t bits) {
  return ArgCond{arg, ArgCond::kMaskedEq, bits, 0};
}

// The pid of exactly one process: 1 <= arg <= INT_MAX as a 64-bit value
// (upper 32 bits zero). Never 0 (the caller's process group), -1 (every
// process it may signal), another negative (a process group), nor a value
// with junk above bit 31 (the kernel truncates pid_t to 32 bits, so
// 0x00000000ffffffff would be -1). One condition per argument per rule is a
// libseccomp limit (2.5.4 refuses GE and LE on one argument with EINVAL), so
// this is a union: for each bit k in 0..30 the condition
//   (arg & (0xffffffff80000000 | 1 << k)) == 1 << k
// ("bit 31 and above clear, bit k set"). Give each alternative a rule of its
// own; together they allow exactly 1..INT_MAX.
std::vector<ArgCond> PidOfOneProcess(unsigned arg);

struct SyscallRule {
  const char* syscall;  // libseccomp name, e.g. "newfstatat"
  std::vector<ArgCond> args = {};
};

struct SyscallGroup {
  const char* name;
  const char* purpose;  // one line: why this process needs it
  std::vector<SyscallRule> rules;
};

struct ErrnoProbe {
  const char* syscall;
  int err;              // the errno the call gets
  const char* why;      // who probes, and why an error is the right answer
  std::vector<ArgCond> args = {};  // empty: every call of `syscall`
};

struct SyscallPolicy {
  const char* name;
  const char* purpose;
  // Everything these policies allow (groups and probes), this one allows
  // too. Used for stacking: the parent includes the child.
  std::vector<const SyscallPolicy*> includes;
  std::vector<SyscallGroup> groups;
  std::vector<ErrnoProbe> probes;
};

// The per-connection child: parses hostile bytes, asks the parent's route
// broker for the backend, replays into the socket it is given. No socket,
// connect, chdir, stat or readlink: it cannot choose a backend. Loaded
// before the first byte is read.
const SyscallPolicy& ChildPolicy();

// The fork server (proxy/zygote.h): exec'd once by the parent, forks the
// waiting children. Includes ChildPolicy() (stacking) and what a fresh
// waiting child does before the child filter ("child-setup").
const SyscallPolicy& ZygotePolicy();

// The relay (proxy/relay_process.h): exec'd once by the parent, holds
// every routed connection and splices its bytes. No socket, connect, open,
// exec or fork.
const SyscallPolicy& RelayPolicy();

// The acceptor: accepts, starts (execs) the zygote and the relay, reaps.
// Includes ZygotePolicy() and RelayPolicy() (stacking: the helpers and
// every child run under the parent's filter too).
const SyscallPolicy& ParentPolicy();

// `policy`'s groups followed by those of its includes (depth first, each
// policy once), and the same for probes. What CompileFilter compiles.
std::vector<const SyscallGroup*> AllGroups(const SyscallPolicy& policy);
std::vector<const ErrnoProbe*> AllProbes(const SyscallPolicy& policy);

}  // namespace sallyport::policy

#endif  // SALLYPORT_POLICY_SYSCALLS_H_
