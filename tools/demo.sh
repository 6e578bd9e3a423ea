#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The sallyport demo: the main job on a built-in example, end to end.
#
# Creates a temporary hosts/ directory with two tenants' backends (a TLS one,
# openssl s_server, and an HTTP one), starts `sallyport tls` and
# `sallyport http` on local ports, makes real client requests through them
# (openssl s_client, curl), and prints what reached which backend and what
# sallyport logged. Cleans up after itself. Run tools/install-deps.sh first.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

echo "== building //proxy:sallyport"
bazel build //proxy:sallyport 2>&1 | tail -1
BIN="$ROOT/bazel-bin/proxy/sallyport"

WORK=$(mktemp -d /tmp/sallyport-demo.XXXXXX)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
chmod 755 "$WORK"
HOSTS="$WORK/hosts"
mkdir -p "$HOSTS/shop.example.test" "$HOSTS/blog.example.test"
chmod 1777 "$HOSTS"   # tenants may add names; the sticky bit stops them renaming others'

USER_FLAG=()
if [ "$(id -u)" -eq 0 ]; then USER_FLAG=(--user=nobody); fi

pick_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_for() { for _ in $(seq 100); do [ -e "$1" ] && return 0; sleep 0.05; done; echo "timed out waiting for $1"; exit 1; }
wait_log() { for _ in $(seq 100); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.05; done; echo "timed out waiting for '$2' in $1"; cat "$1"; exit 1; }

echo "== tenant 'shop': a TLS backend (openssl s_server) on hosts/shop.example.test/tls-socket"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 \
  -subj "/CN=shop.example.test" -keyout "$WORK/shop.key" -out "$WORK/shop.crt" 2>/dev/null
( cd "$HOSTS/shop.example.test" && umask 0 &&
  exec openssl s_server -unix tls-socket -cert "$WORK/shop.crt" -key "$WORK/shop.key" \
    -www -quiet ) > "$WORK/shop.log" 2>&1 &
PIDS+=($!)
echo "== tenant 'blog': an HTTP backend on hosts/blog.example.test/http-socket"
python3 tools/demo_http_backend.py "$HOSTS/blog.example.test/http-socket" blog \
  > "$WORK/blog.log" 2>&1 &
PIDS+=($!)
wait_for "$HOSTS/shop.example.test/tls-socket"
wait_for "$HOSTS/blog.example.test/http-socket"

TLS_PORT=$(pick_port)
HTTP_PORT=$(pick_port)
echo "== starting: sallyport tls  --hosts=$HOSTS --listen=127.0.0.1:$TLS_PORT ${USER_FLAG[*]}"
"$BIN" tls --hosts="$HOSTS" --listen=127.0.0.1:$TLS_PORT "${USER_FLAG[@]}" 2> "$WORK/sallyport-tls.log" &
PIDS+=($!)
echo "== starting: sallyport http --hosts=$HOSTS --listen=127.0.0.1:$HTTP_PORT ${USER_FLAG[*]}"
"$BIN" http --hosts="$HOSTS" --listen=127.0.0.1:$HTTP_PORT "${USER_FLAG[@]}" 2> "$WORK/sallyport-http.log" &
PIDS+=($!)
wait_log "$WORK/sallyport-tls.log" started
wait_log "$WORK/sallyport-http.log" started

echo
echo "== 1. openssl s_client -servername shop.example.test → which certificate came back?"
echo | openssl s_client -connect 127.0.0.1:$TLS_PORT -servername shop.example.test 2>/dev/null \
  | grep -E '^subject=' || echo "   (no certificate!)"
echo "== 2. curl https://shop.example.test/ through sallyport (TLS passes through untouched)"
curl -sk --resolve shop.example.test:$TLS_PORT:127.0.0.1 \
  "https://shop.example.test:$TLS_PORT/" | grep -m1 -oE 'Protocol *: *[A-Za-z0-9.]+|s_server -www' || true
echo "== 3. a TLS client for a name nobody serves → fatal alert unrecognized_name"
echo | openssl s_client -connect 127.0.0.1:$TLS_PORT -servername nobody.example.test 2>&1 \
  | grep -oE 'alert [a-z ]+name|alert number [0-9]+' | head -1 || true
echo "== 4. curl http://blog.example.test/hello through sallyport http"
curl -s -H 'Host: blog.example.test' "http://127.0.0.1:$HTTP_PORT/hello"
echo "== 5. an unknown Host → 404, a duplicate Host → 400"
curl -s -o /dev/null -w '   %{http_code} for Host: nobody.example.test\n' \
  -H 'Host: nobody.example.test' "http://127.0.0.1:$HTTP_PORT/"
printf 'GET / HTTP/1.1\r\nHost: blog.example.test\r\nHost: shop.example.test\r\n\r\n' \
  | socat -t 2 - TCP:127.0.0.1:$HTTP_PORT | head -1 | sed 's/^/   /'

sleep 0.3
echo
echo "== what reached the backends"
sed 's/^/   /' "$WORK/blog.log"
echo "   [shop] answered with its own certificate (CN=shop.example.test, step 1) and page (step 2)"
echo "== what sallyport logged (one line per connection)"
sed 's/^/   /' "$WORK/sallyport-tls.log" "$WORK/sallyport-http.log"
