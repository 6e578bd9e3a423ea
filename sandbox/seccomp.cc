// SPDX-License-Identifier: Apache-2.0
// sandbox/seccomp.cc — see seccomp.h. CompileFilter is the only code in
// sallyport that calls libseccomp; Install is the only code that loads a
// filter, and it calls no libseccomp function.
#include "sandbox/seccomp.h"

#include <errno.h>
#include <linux/seccomp.h>
#include <seccomp.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <memory>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace sallyport::sandbox {
namespace {

struct CtxDeleter {
  void operator()(void* ctx) const { seccomp_release(ctx); }
};
using Ctx = std::unique_ptr<void, CtxDeleter>;

// Runs `exporter` (seccomp_export_bpf or _pfc) into a memfd and reads the
// bytes back.
absl::StatusOr<std::string> ExportToString(const Ctx& ctx,
                                           int (*exporter)(const scmp_filter_ctx, int),
                                           const char* what) {
  int fd = memfd_create(what, MFD_CLOEXEC);
  if (fd < 0) return absl::InternalError(absl::StrCat("memfd_create: ", std::strerror(errno)));
  std::string out;
  int rc = exporter(ctx.get(), fd);
  if (rc != 0) {
    close(fd);
    return absl::InternalError(absl::StrCat(what, " export: ", std::strerror(-rc)));
  }
  if (lseek(fd, 0, SEEK_SET) != 0) {
    int e = errno;
    close(fd);
    return absl::InternalError(absl::StrCat("lseek: ", std::strerror(e)));
  }
  char buf[4096];
  for (;;) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int e = errno;
      close(fd);
      return absl::InternalError(absl::StrCat("read memfd: ", std::strerror(e)));
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  close(fd);
  return out;
}

absl::StatusOr<std::vector<scmp_arg_cmp>> ToCmps(const char* syscall,
                                                 const std::vector<policy::ArgCond>& args) {
  std::vector<scmp_arg_cmp> cmps;
  bool used[6] = {};
  for (const policy::ArgCond& a : args) {
    if (a.arg > 5) {
      return absl::InvalidArgumentError(
          absl::StrCat(syscall, ": argument index ", a.arg, " (syscalls have 0..5)"));
    }
    if (used[a.arg]) {
      return absl::InvalidArgumentError(
          absl::StrCat(syscall, ": two conditions on argument ", a.arg,
                       " in one rule; write two rules"));
    }
    used[a.arg] = true;
    scmp_arg_cmp c{};
    c.arg = a.arg;
    switch (a.op) {
      case policy::ArgCond::kEq:
        c.op = SCMP_CMP_EQ;
        c.datum_a = a.value;
        break;
      case policy::ArgCond::kMaskedEq:
        if ((a.value & a.mask) != a.value) {
          return absl::InvalidArgumentError(
              absl::StrCat(syscall, ": masked condition on argument ", a.arg,
                           " can never hold (value has bits outside the mask)"));
        }
        c.op = SCMP_CMP_MASKED_EQ;
        c.datum_a = a.mask;
        c.datum_b = a.value;
        break;
      default:
        return absl::InvalidArgumentError(absl::StrCat(syscall, ": unknown comparison"));
    }
    cmps.push_back(c);
  }
  return cmps;
}

absl::StatusOr<int> Resolve(const char* name) {
  if (name == nullptr) return absl::InvalidArgumentError("rule without a syscall name");
  int nr = seccomp_syscall_resolve_name(name);
  if (nr == __NR_SCMP_ERROR || nr < 0) {
    // Negative numbers are libseccomp pseudo-syscalls: not on this arch.
    return absl::InvalidArgumentError(
        absl::StrCat("unknown syscall name \"", name, "\" on x86_64"));
  }
  return nr;
}

absl::Status AddRule(const Ctx& ctx, uint32_t action, const char* name,
                     const std::vector<policy::ArgCond>& args, const char* where) {
  absl::StatusOr<int> nr = Resolve(name);
  if (!nr.ok()) return nr.status();
  absl::StatusOr<std::vector<scmp_arg_cmp>> cmps = ToCmps(name, args);
  if (!cmps.ok()) return cmps.status();
  // _exact: never let libseccomp silently rewrite a rule it cannot express.
  int rc = seccomp_rule_add_exact_array(ctx.get(), action, *nr,
                                        static_cast<unsigned>(cmps->size()),
                                        cmps->empty() ? nullptr : cmps->data());
  if (rc != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, ": cannot add rule for ", name, ": ", std::strerror(-rc)));
  }
  return absl::OkStatus();
}

// A context whose default is `default_action`, killing the process on a
// foreign architecture.
absl::StatusOr<Ctx> NewCtx(uint32_t default_action) {
  Ctx ctx(seccomp_init(default_action));
  if (!ctx) return absl::InternalError("seccomp_init failed");
  // libseccomp's default for a foreign architecture is KILL_THREAD; a
  // single-threaded child would die anyway, but say what we mean. x32
  // syscall numbers on x86_64 also take this action.
  int rc = seccomp_attr_set(ctx.get(), SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS);
  if (rc != 0) return absl::InternalError(absl::StrCat("ACT_BADARCH: ", std::strerror(-rc)));
  return ctx;
}

struct Exported {
  std::string bpf;  // whole sock_filter instructions, at most BPF_MAXINSNS
  std::string pfc;
};

absl::StatusOr<Exported> Export(const Ctx& ctx) {
  absl::StatusOr<std::string> bpf = ExportToString(ctx, seccomp_export_bpf, "bpf");
  if (!bpf.ok()) return bpf.status();
  if (bpf->empty() || bpf->size() % sizeof(sock_filter) != 0 ||
      bpf->size() / sizeof(sock_filter) > BPF_MAXINSNS) {
    return absl::InternalError(absl::StrCat("exported BPF has odd size ", bpf->size()));
  }
  absl::StatusOr<std::string> pfc = ExportToString(ctx, seccomp_export_pfc, "pfc");
  if (!pfc.ok()) return pfc.status();
  return Exported{*std::move(bpf), *std::move(pfc)};
}

}  // namespace

CompiledFilter CompiledFilter::FromExport(const std::string& bpf, std::string pfc) {
  CompiledFilter out;
  out.program_.resize(bpf.size() / sizeof(sock_filter));
  std::memcpy(out.program_.data(), bpf.data(), bpf.size());
  out.pfc_ = std::move(pfc);
  return out;
}

absl::StatusOr<CompiledFilter> CompileFilter(const policy::SyscallPolicy& policy) {
  absl::StatusOr<Ctx> made = NewCtx(SCMP_ACT_KILL_PROCESS);
  if (!made.ok()) return made.status();
  const Ctx& ctx = *made;

  for (const policy::SyscallGroup* g : policy::AllGroups(policy)) {
    for (const policy::SyscallRule& r : g->rules) {
      absl::Status s = AddRule(ctx, SCMP_ACT_ALLOW, r.syscall, r.args,
                               absl::StrCat(policy.name, "/", g->name).c_str());
      if (!s.ok()) return s;
    }
  }
  for (const policy::ErrnoProbe* p : policy::AllProbes(policy)) {
    if (p->err <= 0 || p->err > 4095) {
      return absl::InvalidArgumentError(
          absl::StrCat(policy.name, ": probe ", p->syscall ? p->syscall : "?",
                       " has errno ", p->err));
    }
    absl::Status s = AddRule(ctx, SCMP_ACT_ERRNO(static_cast<uint16_t>(p->err)), p->syscall,
                             p->args, absl::StrCat(policy.name, "/probes").c_str());
    if (!s.ok()) return s;
  }
  absl::StatusOr<Exported> e = Export(ctx);
  if (!e.ok()) return e.status();
  return CompiledFilter::FromExport(e->bpf, std::move(e->pfc));
}

absl::StatusOr<CompiledFilter> CompileNarrowing(const policy::SyscallPolicy& outer) {
  if (outer.includes.size() != 1 || outer.includes[0] == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat(outer.name, ": a narrowing needs exactly one included policy"));
  }
  if (!outer.probes.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(outer.name, ": probes of its own cannot be narrowed away"));
  }
  const policy::SyscallPolicy& inner = *outer.includes[0];
  std::vector<int> inner_nrs;
  for (const policy::SyscallGroup* g : policy::AllGroups(inner)) {
    for (const policy::SyscallRule& r : g->rules) {
      absl::StatusOr<int> nr = Resolve(r.syscall);
      if (!nr.ok()) return nr.status();
      inner_nrs.push_back(*nr);
    }
  }
  for (const policy::ErrnoProbe* p : policy::AllProbes(inner)) {
    absl::StatusOr<int> nr = Resolve(p->syscall);
    if (!nr.ok()) return nr.status();
    inner_nrs.push_back(*nr);
  }
  absl::StatusOr<Ctx> made = NewCtx(SCMP_ACT_ALLOW);
  if (!made.ok()) return made.status();
  const Ctx& ctx = *made;
  std::vector<int> killed;
  for (const policy::SyscallGroup& g : outer.groups) {
    for (const policy::SyscallRule& r : g.rules) {
      absl::StatusOr<int> nr = Resolve(r.syscall);
      if (!nr.ok()) return nr.status();
      if (std::find(inner_nrs.begin(), inner_nrs.end(), *nr) != inner_nrs.end()) {
        return absl::InvalidArgumentError(
            absl::StrCat(outer.name, "/", g.name, ": ", r.syscall, " is also named by ",
                         inner.name, ", so it cannot be narrowed away by number"));
      }
      if (std::find(killed.begin(), killed.end(), *nr) != killed.end()) continue;
      killed.push_back(*nr);
      absl::Status s = AddRule(ctx, SCMP_ACT_KILL_PROCESS, r.syscall, {},
                               absl::StrCat(outer.name, "/", g.name, " (narrowed)").c_str());
      if (!s.ok()) return s;
    }
  }
  if (killed.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(outer.name, ": nothing to narrow"));
  }
  absl::StatusOr<Exported> e = Export(ctx);
  if (!e.ok()) return e.status();
  return CompiledFilter::FromExport(e->bpf, std::move(e->pfc));
}

absl::StatusOr<CompiledFilter> CompiledFilter::FromProgram(const sock_filter* insns,
                                                           size_t count) {
  if (insns == nullptr || count == 0 || count > BPF_MAXINSNS) {
    return absl::InvalidArgumentError(absl::StrCat("a BPF program of ", count, " instructions"));
  }
  CompiledFilter out;
  out.program_.assign(insns, insns + count);
  return out;
}

int CompiledFilter::Install() const noexcept {
  // Only raw prctl calls and a stack-allocated sock_fprog: nothing here
  // allocates or reaches libseccomp, so it is safe right after fork() and
  // costs two syscalls per child.
  if (program_.empty()) return -EINVAL;
  // prctl is variadic and reads unsigned longs: pass unsigned longs, so the
  // filter's 64-bit comparisons see exactly these values.
  if (prctl(PR_SET_NO_NEW_PRIVS, 1UL, 0UL, 0UL, 0UL) != 0) return -errno;
  sock_fprog prog;
  prog.len = static_cast<unsigned short>(program_.size());
  prog.filter = const_cast<sock_filter*>(program_.data());
  if (prctl(PR_SET_SECCOMP, static_cast<unsigned long>(SECCOMP_MODE_FILTER), &prog, 0UL, 0UL) != 0)
    return -errno;
  return 0;
}

}  // namespace sallyport::sandbox
