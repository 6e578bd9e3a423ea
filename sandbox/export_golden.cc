// SPDX-License-Identifier: Apache-2.0
// sandbox/export_golden.cc — writes the compiled policies as text
// (seccomp_export_pfc) to policy/golden/<name>.pfc, and the waiting child's
// narrowing of the zygote's to waiting-child.pfc, for review and for
// //tests/policy:golden_test.
//
//   bazel run //sandbox:export_golden            (writes into the source tree)
//   bazel run //sandbox:export_golden -- DIR     (writes into DIR)
//
// Side of the trust boundary: offline tool, never part of the server.
#include <cstdio>
#include <cstdlib>
#include <string>

#include "policy/syscalls.h"
#include "sandbox/seccomp.h"

namespace {

bool Write(const std::string& dir, const char* name,
           const absl::StatusOr<sallyport::sandbox::CompiledFilter>& f) {
  if (!f.ok()) {
    std::fprintf(stderr, "%s: %s\n", name, f.status().ToString().c_str());
    return false;
  }
  std::string path = dir + "/" + name + ".pfc";
  FILE* out = std::fopen(path.c_str(), "w");
  if (out == nullptr || std::fwrite(f->pfc().data(), 1, f->pfc().size(), out) != f->pfc().size() ||
      std::fclose(out) != 0) {
    std::perror(path.c_str());
    return false;
  }
  std::printf("wrote %s (%zu BPF instructions)\n", path.c_str(), f->instructions());
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  std::string dir;
  if (argc > 1) {
    dir = argv[1];
  } else if (const char* ws = std::getenv("BUILD_WORKSPACE_DIRECTORY")) {
    dir = std::string(ws) + "/policy/golden";
  } else {
    std::fprintf(stderr, "usage: bazel run //sandbox:export_golden [-- DIR]\n");
    return 2;
  }
  const sallyport::policy::SyscallPolicy* policies[] = {
      &sallyport::policy::ChildPolicy(), &sallyport::policy::ZygotePolicy(),
      &sallyport::policy::RelayPolicy(), &sallyport::policy::ParentPolicy()};
  for (const auto* p : policies) {
    if (!Write(dir, p->name, sallyport::sandbox::CompileFilter(*p))) return 1;
  }
  // What each waiting child loads on top of the zygote's filter.
  if (!Write(dir, "waiting-child",
             sallyport::sandbox::CompileNarrowing(sallyport::policy::ZygotePolicy()))) {
    return 1;
  }
  return 0;
}
