#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Every first-party source file carries an SPDX-License-Identifier line
# (Apache-2.0, see LICENSE) in its first lines.
#   tools/spdx.sh          add the line where it is missing (idempotent)
#   tools/spdx.sh --check  list the files without it; exit 1 if any
# Source files: C++ (.cc .h), Python, shell, Starlark (.bzl, BUILD*,
# WORKSPACE), the CI script and the Debian maintainer scripts. Generated or
# data files (golden .pfc, corpora, dictionaries, captures) are not source.
set -euo pipefail
cd "$(dirname "$0")/.."
LINE="SPDX-License-Identifier: Apache-2.0"
mode=${1:-fix}

sources() {
  git ls-files -- '*.cc' '*.h' '*.py' '*.sh' '*.bzl' '*BUILD.bazel' '*BUILD' \
    '*WORKSPACE' '*.BUILD' .ci/run debian/rules debian/postinst debian/postrm \
    fuzz/run-long.sh | sort -u
}

missing=0
while IFS= read -r f; do
  [ -f "$f" ] || continue
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
done < <(sources)

if [ "$mode" = "--check" ]; then
  if [ "$missing" -gt 0 ]; then
    echo "$missing source file(s) lack \"$LINE\" (run tools/spdx.sh)"
    exit 1
  fi
  echo "spdx: every source file carries \"$LINE\""
fi
