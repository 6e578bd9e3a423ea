#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Installs every Debian package that sallyport's build, tests, fuzzing and
# demo need. Idempotent: packages already present are left alone, so it is
# safe to rerun. Needs Debian's package archive, and root for apt-get: run
# as root it calls apt-get itself (no sudo needed: containers, CI); run as
# another user it calls `sudo apt-get` (sudo asks for a password if it is
# set up to). With nothing missing it needs no privileges at all.
#   tools/install-deps.sh           build, tests, fuzzing, packaging, demo
#   tools/install-deps.sh --bench   the same plus the benchmark's peers
# Exit status: 0 when every package is installed; 77 when packages are
# missing, this is not root and sudo is not installed (nothing is tried);
# otherwise apt-get's or sudo's own status.
set -euo pipefail

PACKAGES=(
  # build
  bazel-bootstrap bazel-rules-java g++ pkg-config
  libseccomp-dev libbotan-2-dev libabsl-dev libgtest-dev libgmock-dev
  # fuzzing and sanitizers
  clang-14 libfuzzer-14-dev libclang-rt-14-dev
  # real clients and backends for tests and the demo
  openssl curl gnutls-bin socat iproute2 procps python3 util-linux
  # units, man page and the Debian package (tests/dist, dist/check-package.sh)
  systemd man-db dpkg-dev debhelper lintian fakeroot
)

# --bench: also the peers bench/run.sh measures sallyport against. Kept out
# of the default set: Debian starts nginx and haproxy on install.
if [ "${1:-}" = "--bench" ]; then
  PACKAGES+=(haproxy nginx libnginx-mod-stream sniproxy linux-perf)
fi

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q '^install ok installed$'; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#PACKAGES[@]} packages already installed"
  exit 0
fi

SUDO=()
if [ "$(id -u)" -ne 0 ]; then
  if ! command -v sudo > /dev/null 2>&1; then
    cat >&2 <<MSG
install-deps: cannot install ${missing[*]}:
  installing packages needs root, this is user $(id -un) (uid $(id -u)),
  and sudo is not installed. Run this script as root (for example
  \`su -c tools/install-deps.sh\`), or install sudo and allow this user
  to run apt-get with it.
MSG
    exit 77
  fi
  SUDO=(sudo)
fi
echo "install-deps: installing ${missing[*]}${SUDO:+ (with sudo)}"
export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" apt-get update -qq
"${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
echo "install-deps: done"
