#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The systemd units in dist/systemd/:
#  1. `systemd-analyze verify` passes with no output for every unit (offline:
#     ExecStart is rewritten to the built binary, and MANPATH points at
#     dist/sallyport.8 so the Documentation=man:sallyport(8) check runs too);
#  2. `systemd-analyze security --offline=true` scores each service <= 2.0;
#  3. the capability set the units grant is exactly what sallyport needs as
#     root. There is no systemd as PID 1 in CI, so the unit is emulated with
#     the same mechanisms: systemd-socket-activate passes the TCP socket
#     (LISTEN_FDS), unshare --net after the socket exists (PrivateNetwork=),
#     the hosts dir bind-mounted read-only (ProtectSystem=strict), setpriv
#     with no_new_privs and the unit's CapabilityBoundingSet. sallyport must
#     serve with it, and fail to start (exit 2, naming the step) with any
#     one of those capabilities removed.
# Needs root (mount, setpriv, chown): tagged no-sandbox.
set -euo pipefail
SP=$(realpath "$1")
MAN=$(realpath "$2")
UNITS=$(dirname "$(realpath "$3")")
T=$(mktemp -d /tmp/sp-units.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$T"; }
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

# --- 1. verify ---------------------------------------------------------------
mkdir -p "$T/units" "$T/man/man8"
cp "$UNITS"/*.socket "$UNITS"/*.service "$T/units/"
cp "$MAN" "$T/man/man8/sallyport.8"
sed -i "s|/usr/bin/sallyport|$SP|" "$T/units"/*.service
for proto in tls http; do
  out=$(cd "$T/units" && MANPATH="$T/man" SYSTEMD_LOG_LEVEL=notice \
        systemd-analyze verify "./sallyport-$proto.socket" "./sallyport-$proto.service" 2>&1) \
    || fail "verify sallyport-$proto: $out"
  [ -z "$out" ] || fail "verify sallyport-$proto printed: $out"
done
echo "verify: ok"

# --- 2. security score (the unit files as shipped) ---------------------------
for proto in tls http; do
  unit="$UNITS/sallyport-$proto.service"
  out=$(systemd-analyze security --offline=true "$unit" 2>&1) || fail "security: $out"
  score=$(grep -oE 'Overall exposure level for [^:]+: [0-9.]+' <<<"$out" | awk '{print $NF}')
  [ -n "$score" ] || fail "no exposure score in: $out"
  awk -v s="$score" 'BEGIN { exit !(s <= 2.0) }' || fail "sallyport-$proto.service exposure $score > 2.0"
  echo "security sallyport-$proto.service: $score"
  for want in NoNewPrivileges=yes ProtectSystem=strict PrivateTmp=yes PrivateDevices=yes \
              ProtectHome=yes RestrictAddressFamilies=AF_UNIX SystemCallArchitectures=native \
              LockPersonality=yes MemoryDenyWriteExecute=yes RestrictRealtime=yes \
              ProtectClock=yes ProtectHostname=yes RestrictSUIDSGID=yes \
              "RestrictNamespaces=net ipc mnt" ProtectKernelTunables=yes \
              ProtectKernelModules=yes ProtectKernelLogs=yes ProtectControlGroups=yes; do
    grep -qx -- "$want" "$unit" || fail "$unit lacks $want"
  done
  grep -qE '^SystemCallFilter=@system-service .*\bchroot\b' "$unit" || fail "$unit: filter lacks chroot"
  grep -qE "^ExecStart=/usr/bin/sallyport $proto --hosts=/var/lib/sallyport/hosts --user=sallyport\$" "$unit" \
    || fail "$unit: unexpected ExecStart"
done

# --- 3. the emulated unit ------------------------------------------------------
unit="$UNITS/sallyport-http.service"
caps=$(sed -n 's/^CapabilityBoundingSet=//p' "$unit")
[ -n "$caps" ] || fail "no CapabilityBoundingSet"
H=$T/hosts
mkdir -p "$H/a.example.test"
chmod 1777 "$H"
( cd "$H/a.example.test" && exec python3 -c '
import os, socket
s = socket.socket(socket.AF_UNIX); s.bind("http-socket"); os.chmod("http-socket", 0o666); s.listen(16)
while True:
    c, _ = s.accept(); c.recv(65536)
    c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 8\r\nConnection: close\r\n\r\nunit-ok\n"); c.close()
' ) &
pids+=($!)
for _ in $(seq 100); do [ -S "$H/a.example.test/http-socket" ] && break; sleep 0.05; done

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# Runs sallyport http like the unit would, with bounding set $1 (setpriv
# syntax), in the background; sets $port and $job.
start_emulated() {
  port=$(free_port)
  systemd-socket-activate -l "127.0.0.1:$port" -- \
    unshare --net --mount --propagation private -- /bin/sh -c '
      mount --bind "$1" "$1" && mount -o remount,bind,ro "$1" || exit 99
      shift
      exec setpriv --no-new-privs --bounding-set="$1" --inh-caps=-all -- "$2" http \
        --hosts="$3" --user=nobody' sh "$H" "$1" "$SP" "$H" 2>"$T/log" &
  job=$!
  pids+=("$job")
  for _ in $(seq 100); do
    grep -q "Listening on 127.0.0.1:$port" "$T/log" 2>/dev/null && return 0
    sleep 0.05
  done
  fail "systemd-socket-activate did not listen: $(cat "$T/log")"
}

setpriv_caps() {  # "CAP_A CAP_B" minus $1 → "-all,+a,+b"
  local out="-all" c
  for c in $caps; do
    [ "$c" = "$1" ] && continue
    out="$out,+$(tr 'A-Z' 'a-z' <<<"${c#CAP_}")"
  done
  echo "$out"
}

start_emulated "$(setpriv_caps none)"
body=$(curl -s --max-time 10 -H 'Host: a.example.test' "http://127.0.0.1:$port/") || true
[ "$body" = "unit-ok" ] || fail "no answer through the emulated unit: '$body'; log: $(cat "$T/log")"
grep -q 'started proto=http .*mode=root uid=65534 .*namespaces=net,ipc,mnt' "$T/log" \
  || fail "unexpected start line: $(cat "$T/log")"
kill -TERM "$job"; wait "$job" || true
echo "emulated unit with $caps: served"

declare -A step=([CAP_SYS_ADMIN]="step 3 (namespaces)" [CAP_SYS_CHROOT]="step 4 (chroot)"
                 [CAP_SETUID]="step 5 (privileges)" [CAP_SETGID]="step 5 (privileges)")
for c in $caps; do
  [ -n "${step[$c]:-}" ] || fail "the unit grants $c, which this test does not know sallyport needs"
  start_emulated "$(setpriv_caps "$c")"
  curl -s --max-time 5 -H 'Host: a.example.test' "http://127.0.0.1:$port/" >/dev/null || true
  set +e; wait "$job"; rc=$?; set -e
  [ "$rc" = 2 ] || fail "without $c: exit $rc, want 2; log: $(cat "$T/log")"
  grep -q "lockdown: lockdown ${step[$c]}" "$T/log" || fail "without $c: $(cat "$T/log")"
  echo "without $c: refuses at ${step[$c]}"
done
echo PASS
