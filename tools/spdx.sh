#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Every first-party source file carries an SPDX-License-Identifier line
# (Apache-2.0, see LICENSE) in its first lines.
#   tools/spdx.sh          add the line where it is missing (idempotent)
#   tools/spdx.sh --check  list the files without it; exit 1 if any
#   tools/spdx.sh --list   print the files the rule covers
# Source files: C++ (.cc .h), Python, shell, Starlark (.bzl, BUILD*,
# WORKSPACE), the CI script and the Debian maintainer scripts. Generated or
# data files (golden .pfc, corpora, dictionaries, captures) are not source.
# The files are the tracked ones (git ls-files) in a git checkout; in a tree
# without .git (an unpacked source package, or a copy) every file on disk
# that matches, outside build outputs. tests/dist:spdx_test runs --check.
set -euo pipefail
cd "$(dirname "$0")/.."
LINE="SPDX-License-Identifier: Apache-2.0"
mode=${1:-fix}

# The rule, once: git pathspecs, which find -path reads the same way ('*'
# also matches '/').
PATTERNS=('*.cc' '*.h' '*.py' '*.sh' '*.bzl' '*BUILD.bazel' '*BUILD'
  '*WORKSPACE' '*.BUILD' .ci/run debian/rules 'debian/*.postinst'
  'debian/*.postrm' fuzz/run-long.sh)
# Never source, when walking a tree: VCS data and build outputs.
PRUNE=(./.git './bazel-*' ./fuzz/out ./debian/.bazel ./debian/build)

sources() {
  if [ "$(git rev-parse --show-toplevel 2>/dev/null)" = "$PWD" ]; then
    git ls-files -- "${PATTERNS[@]}" | sort -u
    return
  fi
  local prune=() match=() p
  for p in "${PRUNE[@]}"; do prune+=(-path "$p" -o); done
  for p in "${PATTERNS[@]}"; do match+=(-path "./$p" -o); done
  find . \( "${prune[@]}" -false \) -prune -o -type f \( "${match[@]}" -false \) -print \
    | sed 's|^\./||' | sort -u
}

if [ "$mode" = "--list" ]; then
  sources
  exit 0
fi
case "$mode" in fix|--check) ;; *) echo "usage: tools/spdx.sh [--check|--list]" >&2; exit 2 ;; esac

missing=0
checked=0
while IFS= read -r f; do
  [ -f "$f" ] || continue
  checked=$((checked + 1))
  if head -n 3 "$f" | grep -q "$LINE"; then continue; fi
  if [ "$mode" = "--check" ]; then
    echo "no SPDX line: $f"
    missing=$((missing + 1))
    continue
  fi
  case "$f" in
    *.cc|*.h) comment="// $LINE" ;;
    *) comment="# $LINE" ;;
  esac
  if head -n 1 "$f" | grep -q '^#!'; then
    { head -n 1 "$f"; echo "$comment"; tail -n +2 "$f"; } > "$f.spdx.tmp"
  else
    { echo "$comment"; cat "$f"; } > "$f.spdx.tmp"
  fi
  chmod --reference="$f" "$f.spdx.tmp"
  mv "$f.spdx.tmp" "$f"
  echo "added SPDX line: $f"
done < <(sources)

if [ "$mode" = "--check" ]; then
  if [ "$checked" -eq 0 ]; then
    echo "spdx: no source files found under $PWD"
    exit 1
  fi
  if [ "$missing" -gt 0 ]; then
    echo "$missing of $checked source file(s) lack \"$LINE\" (run tools/spdx.sh)"
    exit 1
  fi
  echo "spdx: all $checked source files carry \"$LINE\""
fi
