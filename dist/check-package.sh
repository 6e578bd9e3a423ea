#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# dist/check-package.sh — CI step: build the Debian package and check it.
#
#  1. installs what building and checking need, if missing (apt-get,
#     idempotent): the Build-Depends of debian/control (dpkg-checkbuilddeps
#     verifies them) plus dpkg-dev, debhelper, lintian, man-db;
#  2. copies the working tree (without .git and bazel-* links) to a scratch
#     directory and runs `dpkg-buildpackage -us -uc -b` there: a full Bazel
#     build of //proxy:sallyport in its own output base under debian/.bazel,
#     offline;
#  3. checks the .deb's file list, `dpkg -x`'s it into a scratch root and runs
#     that root's usr/bin/sallyport (--version, check, --help) and renders its
#     man page;
#  4. runs lintian on the .changes and on the source package (.dsc, built
#     by dpkg-source -b before the build): no errors allowed (warnings and
#     infos are printed);
#  5. on a throwaway machine (CI=true or SALLYPORT_PKG_INSTALL=1) installs
#     the .deb, checks what the maintainer scripts made, and purges it.
# Usage: dist/check-package.sh [OUTDIR]   (OUTDIR keeps the .deb; default: a
# temp dir, removed afterwards). Exit 0 when everything passed.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
fail() { echo "check-package: FAIL: $*" >&2; exit 1; }

need=(dpkg-dev debhelper lintian man-db fakeroot bazel-bootstrap bazel-rules-java
      libabsl-dev libbotan-2-dev libseccomp-dev pkg-config)
missing=()
for p in "${need[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "installing: ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
fi

WORK=$(mktemp -d /tmp/sallyport-pkg.XXXXXX)
OUT=${1:-}
trap '[ -n "${KEEP:-}" ] || { chmod -R u+w "$WORK" 2>/dev/null; rm -rf "$WORK"; }' EXIT
mkdir "$WORK/src"
tar -C "$ROOT" --exclude=./.git --exclude='./bazel-*' --exclude=./fuzz/out \
    --exclude=./debian/.bazel --exclude=./debian/build -cf - . | tar -C "$WORK/src" -xf -

# The source package too (before the build dirties the tree), so lintian
# also checks what only a source package shows: debian/copyright's DEP-5
# paragraphs against the files they cover.
(cd "$WORK" && dpkg-source -b src > "$WORK/source.log" 2>&1) \
  || { cat "$WORK/source.log"; fail "dpkg-source -b"; }
cd "$WORK/src"
dpkg-checkbuilddeps || fail "build dependencies missing"
start=$(date +%s)
dpkg-buildpackage -us -uc -b > "$WORK/build.log" 2>&1 || { tail -n 40 "$WORK/build.log"; fail "dpkg-buildpackage"; }
secs=$(( $(date +%s) - start ))
cd "$WORK"
deb=$(ls sallyport_*.deb)
changes=$(ls sallyport_*.changes)
dsc=$(ls sallyport_*.dsc)
echo "built $deb in ${secs}s"

# 3. contents and a run from a scratch root.
list=$(dpkg-deb -c "$deb" | awk '{print $1, $2, $NF}')
for want in "-rwxr-xr-x root/root ./usr/bin/sallyport" \
            "-rw-r--r-- root/root ./lib/systemd/system/sallyport-tls.socket" \
            "-rw-r--r-- root/root ./lib/systemd/system/sallyport-tls.service" \
            "-rw-r--r-- root/root ./lib/systemd/system/sallyport-http.socket" \
            "-rw-r--r-- root/root ./lib/systemd/system/sallyport-http.service" \
            "-rw-r--r-- root/root ./usr/share/man/man8/sallyport.8.gz" \
            "-rw-r--r-- root/root ./usr/share/doc/sallyport/TENANTS.md.gz" \
            "-rwxr-xr-x root/root ./usr/share/doc/sallyport/examples/tenant-backend.py"; do
  grep -qxF -- "$want" <<<"$list" || fail "$deb lacks: $want"
done
dpkg-deb -I "$deb" postinst | grep -q 'adduser --system --group' || fail "postinst does not create the user"
dpkg -x "$deb" "$WORK/root"
# The binary is static-pie (proxy/BUILD.bazel): no shared library, so no
# shlibs Depends; if it ever links dynamically again, they must be there.
if readelf -d "$WORK/root/usr/bin/sallyport" | grep -q NEEDED; then
  dpkg-deb -f "$deb" Depends | grep -q 'libseccomp2' || fail "shlibs Depends missing: $(dpkg-deb -f "$deb" Depends)"
else
  readelf -h "$WORK/root/usr/bin/sallyport" | grep -q 'DYN (Position-Independent Executable' \
    || fail "usr/bin/sallyport is static but not a PIE"
  # Static: glibc's and libseccomp's code (LGPL-2.1) is inside, so Policy 7.8
  # wants their exact source versions in Built-Using (debian/rules).
  bu=$(dpkg-deb -f "$deb" Built-Using)
  for src in glibc libseccomp; do
    grep -qE "(^|, )$src \(= [^)]+\)" <<<"$bu" || fail "Built-Using lacks $src: '$bu'"
  done
  echo "Built-Using: $bu"
fi
v=$("$WORK/root/usr/bin/sallyport" --version)
[ "$v" = "sallyport 0.1.0" ] || fail "--version printed '$v'"
help=$("$WORK/root/usr/bin/sallyport" --help 2>&1 || true)
grep -q -- '--hosts' <<<"$help" || fail "--help: $help"
mkdir -p "$WORK/hosts" && chmod 1777 "$WORK/hosts"
"$WORK/root/usr/bin/sallyport" check --hosts="$WORK/hosts" >/dev/null || fail "check on an empty hosts dir"
w=$(MANWIDTH=80 man --warnings -l "$WORK/root/usr/share/man/man8/sallyport.8.gz" 2>&1 >/dev/null)
[ -z "$w" ] || fail "man page warnings: $w"
for u in "$WORK"/root/lib/systemd/system/*; do
  grep -q '^ExecStart=/usr/bin/sallyport ' "$u" || [[ $u == *.socket ]] || fail "$u: ExecStart"
done
echo "scratch root: $v, check and man page ok"

# 4. lintian: errors fail, warnings are shown.
set +e
lintian --fail-on error --display-info --tag-display-limit 0 "$changes" "$dsc" > "$WORK/lintian.log" 2>&1
lrc=$?
set -e
cat "$WORK/lintian.log"
[ "$lrc" = 0 ] || fail "lintian reported errors (exit $lrc)"
echo "lintian: $(grep -c '^E:' "$WORK/lintian.log" || true) errors, $(grep -c '^W:' "$WORK/lintian.log" || true) warnings"

# 5. The maintainer scripts, for real: only on a throwaway machine (CI, or
#    SALLYPORT_PKG_INSTALL=1), and never over an installed sallyport.
if [ "${CI:-}" = true ] || [ "${SALLYPORT_PKG_INSTALL:-}" = 1 ]; then
  if dpkg-query -W -f='${Status}' sallyport 2>/dev/null | grep -q 'install ok installed'; then
    echo "install test skipped: a sallyport package is already installed here"
  else
    existed=$([ -e /var/lib/sallyport ] && echo yes || echo no)
    DEBIAN_FRONTEND=noninteractive dpkg -i "$deb" > "$WORK/install.log" 2>&1 \
      || { cat "$WORK/install.log"; fail "dpkg -i"; }
    getent passwd sallyport > /dev/null || fail "postinst did not create the sallyport user"
    [ "$(id -u sallyport)" != 0 ] || fail "the sallyport user is root"
    if [ "$existed" = no ]; then
      [ "$(stat -c '%a %U %G' /var/lib/sallyport/hosts)" = "1777 root root" ] \
        || fail "hosts dir: $(stat -c '%a %U %G' /var/lib/sallyport/hosts)"
    fi
    [ "$(/usr/bin/sallyport --version)" = "$v" ] || fail "installed --version"
    /usr/bin/sallyport check --hosts=/var/lib/sallyport/hosts > /dev/null \
      || fail "sallyport check on the installed hosts dir"
    DEBIAN_FRONTEND=noninteractive dpkg --purge sallyport > "$WORK/purge.log" 2>&1 \
      || { cat "$WORK/purge.log"; fail "dpkg --purge"; }
    [ ! -e /usr/bin/sallyport ] || fail "purge left /usr/bin/sallyport"
    if [ "$existed" = no ]; then
      [ ! -e /var/lib/sallyport ] || fail "purge left an empty /var/lib/sallyport"
    fi
    echo "install test: dpkg -i created user sallyport and /var/lib/sallyport/hosts (1777 root); purge removed them (the user stays, as Debian does)"
  fi
fi

if [ -n "$OUT" ]; then
  mkdir -p "$OUT" && cp "$deb" "$changes" "$OUT/" && echo "kept $OUT/$deb"
fi
echo "PASS (package build ${secs}s)"
