#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# OSS-Fuzz style build of every sallyport fuzz target, without Bazel.
#
# Uses the OSS-Fuzz environment contract: $CC, $CXX, $CFLAGS, $CXXFLAGS,
# $LIB_FUZZING_ENGINE, $OUT (defaults given below make it run locally with
# clang-14 + libFuzzer + ASan + UBSan). For each fuzz/<name>_fuzzer.cc it
# writes $OUT/<name>_fuzzer, $OUT/<name>_fuzzer_seed_corpus.zip (from
# fuzz/corpus/<name>_fuzzer/) and $OUT/<name>_fuzzer.dict.
set -euo pipefail
cd "$(dirname "$0")/.."
SRC_ROOT=$PWD

: "${CC:=clang-14}"
: "${CXX:=clang++-14}"
: "${SANITIZER_FLAGS:=-fsanitize=address,undefined -fno-sanitize-recover=undefined}"
: "${CFLAGS:=-O1 -g -fno-omit-frame-pointer $SANITIZER_FLAGS -fsanitize=fuzzer-no-link}"
: "${CXXFLAGS:=$CFLAGS}"
: "${LIB_FUZZING_ENGINE:=-fsanitize=fuzzer}"
: "${OUT:=$SRC_ROOT/fuzz/out}"
mkdir -p "$OUT"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

ABSL_LIBS=$(pkg-config --libs absl_status absl_statusor absl_strings absl_str_format)
INCLUDES=(-I"$SRC_ROOT" -isystem /usr/include/botan-2)

# The parsers: every non-test source in parser/, and proxy/report.cc (the
# parent's reader of child messages, pure), as one archive.
objs=()
for src in "$SRC_ROOT"/parser/*.cc "$SRC_ROOT"/proxy/report.cc; do
  obj="$WORK/$(basename "${src%.cc}").o"
  $CXX $CXXFLAGS -std=c++17 "${INCLUDES[@]}" -c "$src" -o "$obj"
  objs+=("$obj")
done
ar rcs "$WORK/libsallyport_parser.a" "${objs[@]}"

for src in "$SRC_ROOT"/fuzz/*_fuzzer.cc; do
  name=$(basename "${src%.cc}")
  $CXX $CXXFLAGS -std=c++17 "${INCLUDES[@]}" "$src" -o "$OUT/$name" \
    $LIB_FUZZING_ENGINE "$WORK/libsallyport_parser.a" -lbotan-2 $ABSL_LIBS
  if [ -d "$SRC_ROOT/fuzz/corpus/$name" ]; then
    rm -f "$OUT/${name}_seed_corpus.zip"
    (cd "$SRC_ROOT/fuzz/corpus/$name" && python3 -m zipfile -c \
      "$OUT/${name}_seed_corpus.zip" .)
  fi
  if [ -f "$SRC_ROOT/fuzz/dict/$name.dict" ]; then
    cp "$SRC_ROOT/fuzz/dict/$name.dict" "$OUT/$name.dict"
  fi
  echo "built $OUT/$name"
done
