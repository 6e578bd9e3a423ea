#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# bench/run.sh [--smoke] — sallyport against HAProxy, nginx (stream + http),
# sniproxy, socat and the direct limit, all on this machine (127.0.0.1).
#
#   bench/run.sh            full run (~8 min), rewrites bench/RESULTS.md
#   bench/run.sh --smoke    whole pipeline with tiny sizes (< 30 s once built),
#                           writes /tmp/sallyport-bench-smoke.md; exit 1 if any
#                           stage breaks
# Extra arguments go to bench/bench.py (--rounds=N, --seconds=S, --out=FILE,
# --sallyport=PATH to measure another build, --keep to keep the work dir of a
# failed run). BENCH_BAZEL_FLAGS (e.g. --config=ci) is passed to bazel build.
# Needs root. Installs its peers with tools/install-deps.sh --bench.
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ $(id -u) != 0 ]]; then
  echo "bench/run.sh: run as root (sallyport --user=nobody, PSS of other users)" >&2
  exit 2
fi

# Peers, from Debian packages, through the project's install script
# (idempotent: nothing happens when they are there).
tools/install-deps.sh --bench >&2
# Debian starts the packaged services on install; the benchmark runs its own
# instances on their own ports and leaves the system ones as they are.

log=$(mktemp /tmp/sallyport-bench-build.XXXXXX)
# shellcheck disable=SC2086
if ! bazel build ${BENCH_BAZEL_FLAGS:-} //bench:loadgen //bench:backend //bench:forkcost //bench:forkcost_static //bench:handoff_rate \
    //proxy:sallyport >"$log" 2>&1; then
  tail -30 "$log" >&2
  rm -f "$log"
  exit 1
fi
rm -f "$log"

ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
exec python3 bench/bench.py "$@"
