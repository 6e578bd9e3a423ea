# SPDX-License-Identifier: Apache-2.0
"""sallyport_fuzzer: one libFuzzer target plus its corpus replay test.

sallyport_fuzzer(name = "x_fuzzer", srcs = [...], deps = [...]) defines
  :x_fuzzer              the fuzz binary. With --config=fuzz it is linked
                         with libFuzzer (clang, ASan, UBSan); in other
                         configs it links the standalone replay driver, so it
                         still runs inputs given as files or directories.
  :x_fuzzer_corpus_test  a plain cc_test replaying every file under
                         corpus/x_fuzzer/ through the same entry point, so
                         `bazel test //...` runs every corpus (and every
                         committed crash reproducer) without libFuzzer.
The corpus lives in fuzz/corpus/<name>/, the dictionary in
fuzz/dict/<name>.dict (OSS-Fuzz naming: <fuzzer>.dict).
"""

def sallyport_fuzzer(name, srcs, deps = []):
    if not name.endswith("_fuzzer"):
        fail("fuzz targets are named *_fuzzer (OSS-Fuzz convention)")
    native.cc_library(
        name = name + "_lib",
        srcs = srcs,
        deps = deps,
        alwayslink = 1,
        testonly = 1,
    )
    native.cc_binary(
        name = name,
        deps = [":" + name + "_lib", "//fuzz:engine"],
        tags = ["fuzz_target"],
        testonly = 1,
    )
    native.cc_test(
        name = name + "_corpus_test",
        deps = [":" + name + "_lib", "//fuzz:replay_main"],
        data = native.glob(["corpus/" + name + "/**"]),
        args = ["fuzz/corpus/" + name],
        size = "small",
    )
