#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# `sallyport check` as a binary: exit statuses 0/1/2, the routing table on
# stdout, and that it neither locks down nor connects: as root it runs
# without --user (the proxy refuses that), it prints even with an inherited
# listening socket around, and a listening backend receives no connection.
set -euo pipefail
SP=$(realpath "$1")
T=$(mktemp -d "${TEST_TMPDIR:-/tmp}/chkbin.XXXXXX")
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$T"' EXIT
H=$T/hosts
mkdir -p "$H/a.example.test"
chmod 1777 "$H"
fail() { echo "FAIL: $*" >&2; exit 1; }

# A listening backend that records every accepted connection.
python3 - "$H/a.example.test" "$T/accepted" <<'PY' &
import os, socket, sys
os.chdir(sys.argv[1])
s = socket.socket(socket.AF_UNIX); s.bind("tls-socket"); s.listen(8)
open("ready", "w").close()
c, _ = s.accept()
open(sys.argv[2], "w").write("connected\n")
PY
for _ in $(seq 100); do [ -e "$H/a.example.test/ready" ] && break; sleep 0.05; done
rm -f "$H/a.example.test/ready"
[ -S "$H/a.example.test/tls-socket" ] || fail "backend did not start"

out=$("$SP" check --hosts="$H") || fail "clean dir: exit $?, output: $out"
grep -q 'routes for sallyport tls (tls-socket): 1' <<<"$out" || fail "no tls table: $out"
grep -q 'a.example.test  a.example.test/tls-socket' <<<"$out" || fail "no route row: $out"
grep -q 'routes for sallyport http (http-socket): 0' <<<"$out" || fail "no http table: $out"
grep -q '^assumed: root (sallyport started as root with --user)' <<<"$out" \
  || fail "as root, check must say it assumed root mode: $out"
[ ! -e "$T/accepted" ] || fail "check connected to the backend"

# Dashed/underscored flag spellings and the default --hosts=. both work.
(cd "$H" && "$SP" check >/dev/null) || fail "--hosts=. default"

mkdir "$H/Bad.Example.test"
set +e
out=$("$SP" check --hosts="$H"); rc=$?
set -e
[ "$rc" = 1 ] || fail "problem dir: exit $rc (want 1)"
grep -q 'hosts/Bad.Example.test is not in canonical form' <<<"$out" || fail "no reason: $out"

set +e
"$SP" check --hosts="$T/nope" 2>"$T/err"; rc=$?
set -e
[ "$rc" = 2 ] || fail "missing dir: exit $rc (want 2)"
grep -q 'sallyport check: .*No such file' "$T/err" || fail "no error message"
[ ! -e "$T/accepted" ] || fail "check connected to the backend"
echo PASS
