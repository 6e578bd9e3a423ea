// SPDX-License-Identifier: Apache-2.0
// tests/policy/golden_test.cc — the compiled syscall policies must equal the
// committed text in policy/golden/*.pfc, so every change to what a process
// may do shows up as a reviewed diff. Also checks invariants of the tables.
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/socket.h>

#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "policy/syscalls.h"
#include "sandbox/seccomp.h"

namespace sallyport::policy {
namespace {

std::vector<std::string> Lines(const std::string& s) {
  std::vector<std::string> out;
  std::istringstream in(s);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

// A line diff (LCS), printed with two lines of context: "-" golden, "+" now.
std::string Diff(const std::string& golden, const std::string& now) {
  std::vector<std::string> a = Lines(golden), b = Lines(now);
  size_t n = a.size(), m = b.size();
  std::vector<std::vector<int>> lcs(n + 1, std::vector<int>(m + 1, 0));
  for (size_t i = n; i-- > 0;)
    for (size_t j = m; j-- > 0;)
      lcs[i][j] = a[i] == b[j] ? lcs[i + 1][j + 1] + 1 : std::max(lcs[i + 1][j], lcs[i][j + 1]);
  std::vector<std::pair<char, std::string>> ops;
  size_t i = 0, j = 0;
  while (i < n || j < m) {
    if (i < n && j < m && a[i] == b[j]) {
      ops.push_back({' ', a[i]}), ++i, ++j;
    } else if (j < m && (i == n || lcs[i][j + 1] >= lcs[i + 1][j])) {
      ops.push_back({'+', b[j++]});
    } else {
      ops.push_back({'-', a[i++]});
    }
  }
  std::string out;
  for (size_t k = 0; k < ops.size(); ++k) {
    bool near = false;
    for (size_t d = (k >= 2 ? k - 2 : 0); d <= k + 2 && d < ops.size(); ++d)
      near = near || ops[d].first != ' ';
    if (!near) continue;
    out += ops[k].first;
    out += ops[k].second;
    out += '\n';
  }
  return out;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// `name`: the golden file's, policy.name unless given. `narrowing`: the
// filter is CompileNarrowing(policy), not CompileFilter(policy).
void ExpectMatchesGolden(const SyscallPolicy& policy, const char* name = nullptr,
                         bool narrowing = false) {
  auto filter = narrowing ? sandbox::CompileNarrowing(policy) : sandbox::CompileFilter(policy);
  ASSERT_TRUE(filter.ok()) << filter.status();
  if (name == nullptr) name = policy.name;
  std::string path = std::string("policy/golden/") + name + ".pfc";
  std::string golden = ReadFile(path);
  ASSERT_FALSE(golden.empty()) << path << " missing from runfiles";
  EXPECT_TRUE(golden == filter->pfc())
      << "The compiled " << name << " filter differs from " << path
      << " (- golden, + now):\n"
      << Diff(golden, filter->pfc())
      << "If the change is intended, regenerate and commit the golden file:\n"
      << "  bazel run //sandbox:export_golden && git diff policy/golden\n";
}

TEST(Golden, ChildPolicyMatches) { ExpectMatchesGolden(ChildPolicy()); }
TEST(Golden, ParentPolicyMatches) { ExpectMatchesGolden(ParentPolicy()); }
TEST(Golden, ZygotePolicyMatches) { ExpectMatchesGolden(ZygotePolicy()); }
TEST(Golden, RelayPolicyMatches) { ExpectMatchesGolden(RelayPolicy()); }
// What each waiting child loads on top of the zygote's filter.
TEST(Golden, WaitingChildNarrowingMatches) {
  ExpectMatchesGolden(ZygotePolicy(), "waiting-child", /*narrowing=*/true);
}

TEST(Golden, DiffShowsChangedLines) {
  std::string d = Diff("a\nb\nc\n", "a\nB\nc\n");
  EXPECT_NE(d.find("-b\n"), std::string::npos) << d;
  EXPECT_NE(d.find("+B\n"), std::string::npos) << d;
  EXPECT_EQ(Diff("same\n", "same\n"), "");
}

// --- invariants of the tables ------------------------------------------------

TEST(Tables, EveryGroupIsNamedAndExplained) {
  for (const SyscallPolicy* p : {&ChildPolicy(), &RelayPolicy(), &ParentPolicy()}) {
    std::set<std::string> names;
    for (const SyscallGroup* g : AllGroups(*p)) {
      EXPECT_TRUE(g->name != nullptr && *g->name) << p->name;
      EXPECT_TRUE(g->purpose != nullptr && *g->purpose) << p->name << "/" << g->name;
      EXPECT_FALSE(g->rules.empty()) << p->name << "/" << g->name;
      EXPECT_TRUE(names.insert(g->name).second) << "duplicate group " << g->name;
    }
    for (const ErrnoProbe* e : AllProbes(*p)) {
      EXPECT_TRUE(e->why != nullptr && *e->why) << e->syscall;
      EXPECT_GT(e->err, 0) << e->syscall;
    }
  }
}

// Filters stack: a child runs under the parent's filter too, so the parent
// must allow (and answer the same probes for) everything the child does.
// The same for the zygote: a waiting child runs under the parent's, the
// zygote's and the child filter.
void ExpectIncludes(const SyscallPolicy& outer, const SyscallPolicy& inner) {
  std::vector<const SyscallGroup*> groups = AllGroups(outer);
  for (const SyscallGroup* g : AllGroups(inner))
    EXPECT_NE(std::find(groups.begin(), groups.end(), g), groups.end())
        << outer.name << " lacks " << inner.name << "/" << g->name;
  std::vector<const ErrnoProbe*> probes = AllProbes(outer);
  for (const ErrnoProbe* e : AllProbes(inner))
    EXPECT_NE(std::find(probes.begin(), probes.end(), e), probes.end())
        << outer.name << " lacks probe " << e->syscall;
}

TEST(Tables, ParentIncludesZygoteIncludesChild) {
  ExpectIncludes(ParentPolicy(), ZygotePolicy());
  ExpectIncludes(ZygotePolicy(), ChildPolicy());
  ExpectIncludes(ParentPolicy(), ChildPolicy());
  ExpectIncludes(ParentPolicy(), RelayPolicy());  // the relay runs under both
}

// The relay holds every routed connection: it may reach nothing new (no
// socket, connect, socketpair, accept, file or path call, exec, fork) and
// learn nothing about a backend's owner; it only moves bytes between the
// descriptors it is given.
TEST(Tables, RelayReachesNothing) {
  const std::set<std::string> never = {
      "socket", "socketpair", "connect", "accept", "accept4", "chdir", "fchdir",
      "newfstatat", "fstat", "stat", "lstat", "readlink", "readlinkat", "clone", "clone3",
      "fork", "vfork", "execve", "execveat", "kill", "tgkill", "wait4", "waitid", "dup",
      "dup2", "dup3", "read", "write", "recvfrom", "sendto", "prctl", "prlimit64"};
  for (const SyscallGroup* g : AllGroups(RelayPolicy()))
    for (const SyscallRule& r : g->rules) {
      EXPECT_EQ(never.count(r.syscall), 0u) << g->name << ": " << r.syscall;
      if (std::string(r.syscall) == "getsockopt") {
        ASSERT_EQ(r.args.size(), 2u);
        EXPECT_NE(r.args[1].value, static_cast<uint64_t>(SO_PEERCRED));
      }
    }
  EXPECT_TRUE(RelayPolicy().includes.empty());
  EXPECT_TRUE(RelayPolicy().probes.empty());
}

// The route broker is the parent's: a child (and so the zygote, which
// runs the child policy plus forking) may not reach or look at any socket
// or entry of the hosts directory. Only the parent has the broker's calls.
TEST(Tables, ChildChoosesNoBackend) {
  const std::set<std::string> broker = {"socket", "connect", "chdir", "fchdir", "newfstatat",
                                        "fstat", "stat", "lstat", "readlink", "readlinkat",
                                        "getsockopt"};
  for (const SyscallPolicy* p : {&ChildPolicy(), &ZygotePolicy()})
    for (const SyscallGroup* g : AllGroups(*p))
      for (const SyscallRule& r : g->rules)
        EXPECT_EQ(broker.count(r.syscall), 0u) << p->name << "/" << g->name << ": " << r.syscall;
  std::set<std::string> parent;
  for (const SyscallGroup* g : AllGroups(ParentPolicy()))
    if (std::string(g->name) == "route-broker")
      for (const SyscallRule& r : g->rules) parent.insert(r.syscall);
  EXPECT_EQ(parent, (std::set<std::string>{"newfstatat", "readlinkat", "chdir", "socket",
                                           "connect", "getsockopt"}));
}

// The parent may exec exactly one way: execveat(fd, "", ..., AT_EMPTY_PATH),
// the zygote from the binary it opened before chroot (it can open nothing
// after: no open/openat anywhere). Neither the zygote nor a child may exec.
TEST(Tables, ExecOnlyByTheParentFromAnFd) {
  for (const SyscallPolicy* p : {&ChildPolicy(), &ZygotePolicy(), &RelayPolicy()})
    for (const SyscallGroup* g : AllGroups(*p))
      for (const SyscallRule& r : g->rules) {
        EXPECT_STRNE(r.syscall, "execve") << p->name << "/" << g->name;
        EXPECT_STRNE(r.syscall, "execveat") << p->name << "/" << g->name;
      }
  int rules = 0;
  for (const SyscallGroup* g : AllGroups(ParentPolicy())) {
    for (const SyscallRule& r : g->rules) {
      EXPECT_STRNE(r.syscall, "execve") << g->name;
      if (std::string(r.syscall) != "execveat") continue;
      ++rules;
      ASSERT_EQ(r.args.size(), 1u);
      EXPECT_EQ(r.args[0].arg, 4u);
      EXPECT_EQ(r.args[0].op, ArgCond::kEq);
      EXPECT_EQ(r.args[0].value, static_cast<uint64_t>(AT_EMPTY_PATH));
    }
  }
  EXPECT_EQ(rules, 1);
}

// The zygote forks one way only: a CLONE_PARENT fork (its children are the
// parent's to reap); a child may not clone at all.
TEST(Tables, CloneFlagsArePinned) {
  for (const SyscallGroup* g : AllGroups(ChildPolicy()))
    for (const SyscallRule& r : g->rules) EXPECT_STRNE(r.syscall, "clone") << g->name;
  std::set<uint64_t> zygote_flags, parent_flags;
  for (const SyscallGroup* g : AllGroups(ZygotePolicy()))
    for (const SyscallRule& r : g->rules)
      if (std::string(r.syscall) == "clone") zygote_flags.insert(r.args.at(0).value);
  for (const SyscallGroup* g : AllGroups(ParentPolicy()))
    for (const SyscallRule& r : g->rules)
      if (std::string(r.syscall) == "clone") parent_flags.insert(r.args.at(0).value);
  EXPECT_EQ(zygote_flags, (std::set<uint64_t>{CLONE_PARENT | SIGCHLD}));
  EXPECT_EQ(parent_flags, (std::set<uint64_t>{CLONE_PARENT | SIGCHLD,
                                              CLONE_CHILD_SETTID | CLONE_CHILD_CLEARTID | SIGCHLD}));
}

// PidOfOneProcess is a union of masked conditions; as a set it must be
// exactly 1..INT_MAX with the upper 32 bits zero (the kernel truncates
// pid_t, so any junk up there could name -1 or init).
bool Holds(const ArgCond& c, uint64_t v) {
  switch (c.op) {
    case ArgCond::kEq: return v == c.value;
    case ArgCond::kMaskedEq: return (v & c.mask) == c.value;
  }
  return false;
}

TEST(Tables, PidOfOneProcessIsExactlyOneToIntMax) {
  const std::vector<ArgCond> any_of = PidOfOneProcess(3);
  ASSERT_FALSE(any_of.empty());
  for (const ArgCond& c : any_of) EXPECT_EQ(c.arg, 3u);
  auto allowed = [&](uint64_t v) {
    for (const ArgCond& c : any_of)
      if (Holds(c, v)) return true;
    return false;
  };
  std::vector<uint64_t> yes = {1, 2, 3, 1000, 4194304, 0x7ffffffe, 0x7fffffff};
  std::vector<uint64_t> no = {
      0,                                        // own process group
      ~uint64_t{0},                             // -1 sign-extended: everyone
      static_cast<uint64_t>(int64_t{-2}),       // -pgid
      static_cast<uint64_t>(int64_t{-0x7fffffff}), 0x80000000,
      0xffffffff,                               // -1 after truncation
      0xfffffffe, 0x100000000, 0x100000001,     // pid 1 after truncation
      0x17fffffff, 0x8000000000000001, 0x7fffffff00000001};
  for (int k = 0; k < 31; ++k) {
    yes.push_back(uint64_t{1} << k);
    yes.push_back((uint64_t{1} << (k + 1)) - 1);
  }
  for (int k = 31; k < 64; ++k) {
    no.push_back(uint64_t{1} << k);
    no.push_back((uint64_t{1} << k) | 1);
    no.push_back((uint64_t{1} << k) | 0x7fffffff);
  }
  for (uint64_t v : yes) EXPECT_TRUE(allowed(v)) << std::hex << "0x" << v;
  for (uint64_t v : no) EXPECT_FALSE(allowed(v)) << std::hex << "0x" << v;
}

// Things neither process may ever do; a table edit that adds one fails here
// as well as in the golden diff.
TEST(Tables, NeverAllowed) {
  const std::set<std::string> never = {
      "execve", "open", "openat", "openat2", "ptrace", "process_vm_readv",
      "process_vm_writev", "unshare", "setns", "mount", "chroot", "setuid", "bpf",
      "io_uring_setup", "keyctl", "memfd_create", "bind", "listen", "personality",
      "seccomp", "init_module", "userfaultfd", "perf_event_open"};
  for (const SyscallPolicy* p :
       {&ChildPolicy(), &ZygotePolicy(), &RelayPolicy(), &ParentPolicy()}) {
    for (const SyscallGroup* g : AllGroups(*p))
      for (const SyscallRule& r : g->rules)
        EXPECT_EQ(never.count(r.syscall), 0u) << p->name << "/" << g->name << ": " << r.syscall;
    for (const ErrnoProbe* e : AllProbes(*p))
      EXPECT_EQ(never.count(e->syscall), 0u) << p->name << " probe " << e->syscall;
  }
}

// A child may never make a socketpair (a private channel it could pass
// descriptors on); the zygote makes exactly one kind: the SOCK_SEQPACKET
// channels of a waiting child (hand-off in, report out: proxy/handoff.h),
// and the parent none of its own (it includes the zygote's rule).
TEST(Tables, SocketpairOnlyForTheHandoffChannel) {
  for (const SyscallGroup* g : AllGroups(ChildPolicy()))
    for (const SyscallRule& r : g->rules)
      EXPECT_STRNE(r.syscall, "socketpair") << "child/" << g->name;
  for (const SyscallGroup& g : ParentPolicy().groups)
    for (const SyscallRule& r : g.rules) EXPECT_STRNE(r.syscall, "socketpair") << g.name;
  int rules = 0;
  for (const SyscallGroup& g : ZygotePolicy().groups) {
    for (const SyscallRule& r : g.rules) {
      if (std::string(r.syscall) != "socketpair") continue;
      ++rules;
      ASSERT_EQ(r.args.size(), 3u);
      for (const ArgCond& c : r.args) EXPECT_EQ(c.op, ArgCond::kEq);
      EXPECT_EQ(r.args[0].value, static_cast<uint64_t>(AF_UNIX));
      EXPECT_EQ(r.args[1].value, static_cast<uint64_t>(SOCK_SEQPACKET | SOCK_CLOEXEC));
      EXPECT_EQ(r.args[2].value, 0u);
    }
  }
  EXPECT_EQ(rules, 1);
}

}  // namespace
}  // namespace sallyport::policy
