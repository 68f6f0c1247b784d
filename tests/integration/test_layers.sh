#!/usr/bin/env bash
# scripts/layers.sh on tiny source trees in a temporary directory: a clean tree passes (with
# same-folder, subfolder and "../" includes resolved as the compiler does); an upward include,
# a folder including a top-level header, an unlisted folder, a missing file, a cycle and a
# malformed LAYERS each fail with their message. TAP output. No server: FERRY is ignored.
set -u
cd "$(dirname "$0")/../.." || exit 1
layers=$PWD/scripts/layers.sh
tmp=$(mktemp -d /tmp/ferry-layers.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
n=0

# put FILE LINE...: write the lines to FILE (under the current tree), creating its folder.
put() {
	mkdir -p "$(dirname "$d/$1")"
	printf '%s\n' "${@:2}" >"$d/$1"
}

# tree NAME: a fresh clean tree in $d: LAYERS base < net < http (http not there yet), a
# top-level log.h and main.c.
tree() {
	d=$tmp/$1
	put LAYERS "# bottom up" "" "base   # libc only" "net" "http   # not there yet"
	put base/buf.h "#define BUF 1"
	put base/buf.c '#include "buf.h"' '#include "base/buf.h"'
	put net/addr.h '#include "base/buf.h"'
	put net/addr.c ' #  include "addr.h"' '#include "../base/buf.h"' '#include <stdio.h>'
	put net/dns/dns.c '#include "dns.h"' '#include "net/addr.h"'
	put net/dns/dns.h '#include "base/buf.h"'
	put log.h '#include "base/buf.h"'
	put main.c '#include "log.h"' '#include "net/addr.h"' '#include "net/dns/dns.h"'
}

# expect DESC RC [LINE...]: run layers.sh on $d; ok when it exits RC and prints every LINE
# (whole lines, stdout or stderr).
expect() {
	local desc=$1 want=$2 out rc missing=""
	shift 2
	out=$("$layers" "$d" 2>&1)
	rc=$?
	for line in "$@"; do
		grep -qxF -- "$line" <<<"$out" || missing+="  wanted: $line"$'\n'
	done
	n=$((n + 1))
	if [ "$rc" -eq "$want" ] && [ -z "$missing" ]; then
		echo "ok $n - $desc"
	else
		echo "not ok $n - $desc"
		echo "# exit $rc, wanted $want"
		printf '%s' "$missing" | sed 's/^/# /'
		awk '{ print "#   | " $0 }' <<<"$out"
	fi
}

tree clean
expect "a clean tree passes; same-folder, subfolder and ../ includes resolve" 0 \
	"  base/  -" "  net/   base" "  http/  (no such folder yet)" "  top    base net" \
	"layers: ok (2 folders, 8 files, 12 includes)"

tree upward
put base/buf.c '#include "buf.h"' '#include "net/addr.h"'
expect "an include of a higher folder fails with file:line" 1 \
	"$d/base/buf.c:2: base includes net/addr.h" "  base/  net!" \
	"layers: 2 problems (1 upward include, 1 cycle)"

tree top
put net/addr.c '#include "addr.h"' '#include "log.h"'
expect "a folder including a top-level header fails" 1 \
	"$d/net/addr.c:2: net includes log.h (top level)" "  net/   base top!"

tree beside
put net/log.h "/* net's own log.h */"
put net/addr.c '#include "addr.h"' '#include "log.h"'
expect "\"x.h\" beside the includer wins over -Isrc, as with the compiler" 0

tree unlisted
put extra/e.c '#include "base/buf.h"'
expect "a folder missing from LAYERS fails" 1 \
	"$d/extra/: folder not in $d/LAYERS: place it in the order" \
	"  extra/  base   (not in $d/LAYERS)"

tree missing
put net/addr.c '#include "addr.h"' '#include "base/nope.h"'
expect "an include of a file that does not exist fails" 1 \
	"$d/net/addr.c:2: includes \"base/nope.h\", which does not exist (not in $d/net/ nor in $d/)"

tree outside
put net/addr.c '#include "../../etc/passwd"'
expect "an include from outside the tree fails" 1 \
	"$d/net/addr.c:1: includes \"../../etc/passwd\", outside $d/"

tree cycle2
put base/buf.h '#include "net/addr.h"'
expect "two folders including each other: the cycle is listed with its includes" 1 \
	"cycle: base -> net -> base" \
	"    $d/base/buf.h:1: base includes net/addr.h" \
	"    $d/net/addr.c:2: net includes base/buf.h"

tree cycle3
put LAYERS base net http
put http/h.h '#include "net/addr.h"'
put base/buf.h '#include "http/h.h"'
put net/addr.h '#include "base/buf.h"'
expect "a three-folder cycle is listed once, from its lowest folder" 1 \
	"cycle: base -> http -> net -> base" \
	"layers: 2 problems (1 upward include, 1 cycle)"

tree twice
put LAYERS base net base top
expect "a folder listed twice, or 'top', is a LAYERS error" 1 \
	"$d/LAYERS:3: base is listed twice (first on line 1)" \
	"$d/LAYERS:4: \"top\" is the top level ($d/*.c), always last: not a folder"

tree nolayers
rm "$d/LAYERS"
expect "no LAYERS file: usage error" 2

d=src
out=$("$layers" src 2>&1)
rc=$?
n=$((n + 1))
if [ $rc -eq 0 ]; then
	echo "ok $n - ferry's own tree keeps the layer rule (src/LAYERS)"
else
	echo "not ok $n - ferry's own tree keeps the layer rule (src/LAYERS) (exit $rc)"
	awk '{ print "#   | " $0 }' <<<"$out"
fi

echo "1..$n"
