#!/bin/bash -eu
# SPDX-License-Identifier: Apache-2.0
# ClusterFuzzLite / OSS-Fuzz build: every fuzz target with its seed corpus
# (<fuzzer>_seed_corpus.zip), dictionary (<fuzzer>.dict) and options
# (<fuzzer>.options). The compiling is fuzz/build.sh's, which already speaks
# the OSS-Fuzz contract ($CC $CXX $CFLAGS $CXXFLAGS $LIB_FUZZING_ENGINE $OUT).
#
# Local dry run without Docker (what tests do):
#   CC=clang-14 CXX=clang++-14 OUT=/tmp/cflite-out \
#   CFLAGS="-O1 -fno-omit-frame-pointer -gline-tables-only -fsanitize=address -fsanitize=fuzzer-no-link" \
#   CXXFLAGS="$CFLAGS -stdlib=libc++" LIB_FUZZING_ENGINE=-fsanitize=fuzzer \
#   .clusterfuzzlite/build.sh            (from the checkout)
# In the image, compile runs $SRC/build.sh from WORKDIR $SRC/sallyport.
if [ -z "${SRC_ROOT:-}" ]; then
  if [ -x "$PWD/fuzz/build.sh" ]; then SRC_ROOT=$PWD
  else SRC_ROOT=$(cd "$(dirname "$0")/.." && pwd); fi
fi

# OSS-Fuzz compiles C++ against its own instrumented libc++. Botan and
# abseil come from distribution packages built against libstdc++, whose
# std::string/std::vector ABI differs: link everything against libstdc++
# instead (libFuzzer's own runtime keeps its private libc++ internally).
CXXFLAGS=${CXXFLAGS//-stdlib=libc++/}
export CC CXX CFLAGS CXXFLAGS LIB_FUZZING_ENGINE OUT

"$SRC_ROOT/fuzz/build.sh"

# Options: the dictionary, and an input cap a little above the largest
# input each parser reads (a ClientHello may span records up to its 16 KiB
# cap; an HTTP head is capped at 16 KiB; a PROXY v2 header is small).
max_len() {
  case "$1" in
    hostname_fuzzer) echo 1024 ;;
    proxy_protocol_fuzzer) echo 1024 ;;
    *) echo 20480 ;;
  esac
}
for bin in "$OUT"/*_fuzzer; do
  [ -x "$bin" ] || continue
  name=$(basename "$bin")
  {
    echo "[libfuzzer]"
    [ -f "$OUT/$name.dict" ] && echo "dict = $name.dict"
    echo "max_len = $(max_len "$name")"
  } > "$OUT/$name.options"
done
ls -l "$OUT"
