// SPDX-License-Identifier: Apache-2.0
// tests/sandbox/seccomp_noalloc_test.cc — CompiledFilter::Install() performs
// no heap allocation (it must be safe right after fork(), where another
// thread of the parent may have held the malloc lock). This binary
// interposes malloc/calloc/realloc/free with counting wrappers around
// glibc's own entry points, so every allocation in the process is seen,
// including libstdc++'s operator new and libseccomp's.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>

#include "gtest/gtest.h"
#include "policy/syscalls.h"
#include "sandbox/seccomp.h"

extern "C" {
void* __libc_malloc(size_t);
void* __libc_calloc(size_t, size_t);
void* __libc_realloc(void*, size_t);
void __libc_free(void*);
}

namespace {
std::atomic<long> g_heap_calls{0};
}  // namespace

extern "C" {
void* malloc(size_t n) {
  g_heap_calls.fetch_add(1, std::memory_order_relaxed);
  return __libc_malloc(n);
}
void* calloc(size_t n, size_t m) {
  g_heap_calls.fetch_add(1, std::memory_order_relaxed);
  return __libc_calloc(n, m);
}
void* realloc(void* p, size_t n) {
  g_heap_calls.fetch_add(1, std::memory_order_relaxed);
  return __libc_realloc(p, n);
}
void free(void* p) {
  if (p != nullptr) g_heap_calls.fetch_add(1, std::memory_order_relaxed);
  __libc_free(p);
}
}

namespace sallyport::sandbox {
namespace {

// Runs in a forked child: the counter before and after Install() of each
// program (child alone, and parent then child as in production).
int HeapCallsDuringInstall(const std::vector<const CompiledFilter*>& filters) {
  pid_t pid = fork();
  if (pid == 0) {
    long before = g_heap_calls.load(std::memory_order_relaxed);
    for (const CompiledFilter* f : filters)
      if (f->Install() != 0) _exit(100);
    long after = g_heap_calls.load(std::memory_order_relaxed);
    _exit(after - before > 99 ? 99 : static_cast<int>(after - before));
  }
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 200 + WTERMSIG(status);
}

TEST(InstallHeap, CountingWrappersSeeAllocations) {
  // The control: the counter moves when something does allocate (here
  // compiling, which uses libseccomp and std::string).
  long before = g_heap_calls.load();
  auto f = CompileFilter(policy::ChildPolicy());
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_GT(g_heap_calls.load() - before, 10);
}

TEST(InstallHeap, InstallAllocatesNothing) {
  auto child = CompileFilter(policy::ChildPolicy());
  auto parent = CompileFilter(policy::ParentPolicy());
  ASSERT_TRUE(child.ok() && parent.ok());
  EXPECT_EQ(HeapCallsDuringInstall({&*child}), 0);
  EXPECT_EQ(HeapCallsDuringInstall({&*parent, &*child}), 0);
}

}  // namespace
}  // namespace sallyport::sandbox
