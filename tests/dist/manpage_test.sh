#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# sallyport(8) cannot drift from the binary: every flag `sallyport --help`
# prints is documented in the man page, every flag the man page's OPTIONS
# section documents exists, the subcommands are there, and
# `man --warnings -l` renders it without a single warning.
set -euo pipefail
SP=$1
MAN=$2
fail() { echo "FAIL: $*" >&2; exit 1; }

# Flags from --help ("    --max_per_ip (...)"), in the documented dashed form.
help=$("$SP" --help 2>&1 || true)
flags=$(grep -oE '^ +--[a-z_]+ ' <<<"$help" | tr -d ' ' | tr _ - | sort -u)
[ "$(wc -l <<<"$flags")" -ge 10 ] || fail "too few flags parsed from --help: $flags"
# The roff source with its escaped hyphens unescaped.
src=$(sed 's/\\-/-/g' "$MAN")
for f in $flags --help --version; do
  grep -qE -- "^\.B[IR]? +$f(=| |\$)" <<<"$src" || fail "$f (from sallyport --help) is not an option tag in $MAN"
done
# The other way: every .TP option tag names a real flag.
options=$(awk '/^\.SH OPTIONS/{on=1; next} /^\.SH/{on=0} on' <<<"$src")
tags=$(grep -A1 '^\.TP' <<<"$options" | grep -oE '^\.B[IR]? +--[a-z-]+' | awk '{print $2}' | sort -u)
for t in $tags; do
  grep -qx -- "$t" <<<"$(printf '%s\n' $flags --help --version)" || fail "$MAN documents $t, which sallyport --help does not know"
done
for word in "sallyport check" "SIGTERM" "EXIT STATUS" "send-proxy-v2" "SO_PEERCRED"; do
  grep -q -- "$word" <<<"$src" || fail "$MAN does not mention $word"
done

warnings=$(MANWIDTH=80 man --warnings -l "$MAN" 2>&1 >/dev/null)
[ -z "$warnings" ] || fail "man --warnings: $warnings"
rendered=$(MANWIDTH=80 man -l "$MAN" 2>/dev/null)
grep -q 'sallyport check \[--hosts=DIR\]' <<<"$rendered" || fail "synopsis not rendered"
echo "PASS: $(wc -w <<<"$flags") flags documented, no man warnings"
