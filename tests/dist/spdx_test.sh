#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Fails if a source file lacks its SPDX-License-Identifier line: runs
# tools/spdx.sh --check (the one home of the rule) over the real source
# tree. Bazel gives a test only its declared inputs, and the rule covers
# files of every package, so the test finds the workspace through itself:
# its runfile is a symlink to tests/dist/spdx_test.sh in the source tree.
# The script lists files with git ls-files in a checkout, or walks the tree
# where there is no .git (an unpacked source package). Tagged "external" in
# BUILD.bazel: Bazel cannot see those files change, so the result is never
# cached.
#   spdx_test.sh [WORKSPACE]   (default: found from this script's path)
set -euo pipefail
root=${1:-$(realpath "$0" | sed 's|/tests/dist/spdx_test.sh$||')}
script=$root/tools/spdx.sh
fail() { echo "spdx_test: FAIL: $*" >&2; exit 1; }

# 1. The checker itself, in a scratch tree without .git (the tree-walk
#    path): one file lacks the line, build outputs and data files are not
#    source; --check names exactly the bad file and exits 1; the fix mode
#    adds the line (after a #! line); --check then passes.
t=${TEST_TMPDIR:-$(mktemp -d)}/tree
rm -rf "$t"; mkdir -p "$t/tools" "$t/pkg" "$t/bazel-out/k8" "$t/debian" "$t/fuzz/out"
cp "$script" "$t/tools/spdx.sh"
printf '// SPDX-License-Identifier: Apache-2.0\nint a;\n' > "$t/pkg/a.cc"
printf '#!/usr/bin/env python3\nprint(1)\n' > "$t/pkg/b.py"
printf 'int gen;\n' > "$t/bazel-out/k8/gen.cc"
printf 'int fuzzjunk;\n' > "$t/fuzz/out/x.cc"
printf '{"not": "source"}\n' > "$t/pkg/data.json"
printf '#!/bin/sh\nset -e\n' > "$t/debian/sallyport.postinst"
set +e
out=$(cd "$t" && tools/spdx.sh --check 2>&1); rc=$?
set -e
[ "$rc" = 1 ] || fail "--check on a tree with a bad file exited $rc: $out"
want=$'no SPDX line: debian/sallyport.postinst\nno SPDX line: pkg/b.py'
got=$(grep '^no SPDX line' <<<"$out")
[ "$got" = "$want" ] || fail "--check named: '$got', want: '$want'"
(cd "$t" && tools/spdx.sh > /dev/null)
[ "$(sed -n 2p "$t/pkg/b.py")" = "# SPDX-License-Identifier: Apache-2.0" ] \
  || fail "fix mode did not add the line after #!: $(head -3 "$t/pkg/b.py")"
(cd "$t" && tools/spdx.sh --check > /dev/null) || fail "--check after the fix"
[ "$(cat "$t/bazel-out/k8/gen.cc")" = "int gen;" ] || fail "fix mode touched a build output"
echo "self-test: ok"

# 2. The real tree.
[ -f "$root/LICENSE" ] && [ -f "$root/WORKSPACE" ] || fail "no workspace at $root (from $0)"
(cd "$root" && tools/spdx.sh --check) || fail "source files without the SPDX line (above); run tools/spdx.sh"
