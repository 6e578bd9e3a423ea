// SPDX-License-Identifier: Apache-2.0
// A standalone driver for libFuzzer-style targets: runs
// LLVMFuzzerTestOneInput once on every file named on the command line, or
// found (recursively) in a directory named there. Used for the corpus replay
// tests under plain `bazel test`, and as the fuzz binaries' main outside
// --config=fuzz. A crash or sanitizer report fails the run; so does finding
// no input at all (a corpus that vanished must not pass silently).
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);
extern "C" __attribute__((weak)) int LLVMFuzzerInitialize(int* argc,
                                                          char*** argv);

namespace {

int RunFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    std::fprintf(stderr, "replay: cannot read %s\n", path.c_str());
    return 1;
  }
  std::vector<char> bytes((std::istreambuf_iterator<char>(in)),
                          std::istreambuf_iterator<char>());
  // A copy in its own allocation, so ASan catches reads past the end.
  std::vector<uint8_t> input(bytes.begin(), bytes.end());
  LLVMFuzzerTestOneInput(input.data(), input.size());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (LLVMFuzzerInitialize) LLVMFuzzerInitialize(&argc, &argv);
  size_t runs = 0;
  int failures = 0;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (!arg.empty() && arg[0] == '-') continue;  // libFuzzer-style flags
    std::filesystem::path p(arg);
    std::error_code ec;
    if (std::filesystem::is_directory(p, ec)) {
      std::vector<std::filesystem::path> files;
      for (const auto& e : std::filesystem::recursive_directory_iterator(p)) {
        if (e.is_regular_file()) files.push_back(e.path());
      }
      std::sort(files.begin(), files.end());
      for (const auto& f : files) {
        failures += RunFile(f);
        ++runs;
      }
    } else {
      failures += RunFile(p);
      ++runs;
    }
  }
  std::printf("replay: %zu inputs, %d unreadable\n", runs, failures);
  if (runs == 0) {
    std::fprintf(stderr, "replay: no inputs found: refusing to pass\n");
    return 1;
  }
  return failures == 0 ? 0 : 1;
}
