#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# fuzz/run-long.sh TARGET SECONDS [JOBS [WORKERS]] — a long local libFuzzer
# campaign on one target, then its new coverage merged into the corpus.
#
#   fuzz/run-long.sh tls_clienthello_fuzzer 3600        # 1 h, 1 job
#   fuzz/run-long.sh http_head_fuzzer 7200 4 2          # 4 jobs, 2 at a time
#
# 1. Builds //fuzz:TARGET with --config=fuzz (clang-14, libFuzzer, ASan +
#    UBSan) in its own Bazel output base ($SALLYPORT_FUZZ_OUTPUT_BASE, default
#    ~/.cache/bazel-fuzz-long), so the default gcc build's cache is untouched.
# 2. Fuzzes for SECONDS with fuzz/dict/TARGET.dict, reading
#    fuzz/corpus/TARGET and writing new inputs to a scratch corpus; crash,
#    leak, timeout and OOM artifacts go to a temp directory. With JOBS > 1,
#    libFuzzer runs JOBS jobs, WORKERS at a time (default min(JOBS, 2)), and
#    the time limit applies to each job.
# 3. No crash: merges the scratch corpus into fuzz/corpus/TARGET with
#    -merge=1 (only inputs that add coverage are copied) and prints how many
#    files were added; the caller reviews and commits them.
#    Crash: exits 1 and prints each reproducer path and how to replay it;
#    nothing is merged and the temp directory is kept.
# Extra libFuzzer flags: $SALLYPORT_FUZZ_ARGS (e.g. "-max_len=20480").
# Exit: 0 no crash; 1 crash (or libFuzzer failed); 2 usage or build error.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

usage() { echo "usage: fuzz/run-long.sh TARGET SECONDS [JOBS [WORKERS]]" >&2; exit 2; }
[ $# -ge 2 ] && [ $# -le 4 ] || usage
TARGET=$1
SECONDS_TOTAL=$2
JOBS=${3:-1}
WORKERS=${4:-$(( JOBS < 2 ? JOBS : 2 ))}
[[ $TARGET =~ ^[a-z0-9_]+_fuzzer$ ]] || { echo "TARGET must be a *_fuzzer name" >&2; exit 2; }
[[ $SECONDS_TOTAL =~ ^[1-9][0-9]*$ && $JOBS =~ ^[1-9][0-9]*$ && $WORKERS =~ ^[1-9][0-9]*$ ]] || usage
[ -d "fuzz/corpus/$TARGET" ] || { echo "no corpus fuzz/corpus/$TARGET" >&2; exit 2; }

OUTPUT_BASE=${SALLYPORT_FUZZ_OUTPUT_BASE:-$HOME/.cache/bazel-fuzz-long}
BAZEL=(bazel "--output_base=$OUTPUT_BASE")
"${BAZEL[@]}" build --config=fuzz "//fuzz:$TARGET" || { echo "build failed" >&2; exit 2; }
BIN="$("${BAZEL[@]}" info --config=fuzz bazel-bin)/fuzz/$TARGET"
[ -x "$BIN" ] || { echo "no binary at $BIN" >&2; exit 2; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/sallyport-fuzz-$TARGET.XXXXXX")
mkdir -p "$WORK/new" "$WORK/artifacts"
DICT=()
[ -f "fuzz/dict/$TARGET.dict" ] && DICT=("-dict=$ROOT/fuzz/dict/$TARGET.dict")

export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1:symbolize=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
echo "fuzzing $TARGET for ${SECONDS_TOTAL}s (jobs=$JOBS workers=$WORKERS), work dir $WORK"
set +e
(cd "$WORK" && "$BIN" "${DICT[@]}" \
   -max_total_time="$SECONDS_TOTAL" \
   -jobs="$JOBS" -workers="$WORKERS" \
   -artifact_prefix="$WORK/artifacts/" \
   -print_final_stats=1 ${SALLYPORT_FUZZ_ARGS:-} \
   "$WORK/new" "$ROOT/fuzz/corpus/$TARGET" > "$WORK/fuzz.log" 2>&1)
rc=$?
set -e
tail -n 15 "$WORK/fuzz.log"
[ "$JOBS" -gt 1 ] && tail -n 3 "$WORK"/fuzz-*.log 2>/dev/null || true

shopt -s nullglob
found=("$WORK"/artifacts/*)
if [ "${#found[@]}" -gt 0 ] || [ "$rc" -ne 0 ]; then
  echo "FUZZER FAILED (libFuzzer exit $rc); logs in $WORK" >&2
  for f in "${found[@]}"; do
    echo "reproducer: $f" >&2
    echo "  replay:   $BIN $f" >&2
  done
  exit 1
fi

before=$(find "fuzz/corpus/$TARGET" -type f | wc -l)
"$BIN" -merge=1 "${DICT[@]}" "$ROOT/fuzz/corpus/$TARGET" "$WORK/new" > "$WORK/merge.log" 2>&1 \
  || { tail -n 20 "$WORK/merge.log" >&2; echo "merge failed; logs in $WORK" >&2; exit 1; }
after=$(find "fuzz/corpus/$TARGET" -type f | wc -l)
echo "merged: fuzz/corpus/$TARGET $before -> $after files ($((after - before)) new, from $(find "$WORK/new" -type f | wc -l) found)"
rm -rf "$WORK"
