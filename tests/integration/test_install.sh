#!/usr/bin/env bash
# `make install` and `make uninstall` into a temporary DESTDIR, with the binary under test
# (FERRY=path, as tests/run.sh gives it; FERRY_BIN= tells make to install that one): the tree
# it installs, the man pages (man -l renders them without a warning, mandoc -T lint and
# lexgrog are clean, man finds ferry(1) and ferry.conf(5) where the units' Documentation=
# points), ferry(1) and the bash completion against what `ferry --help` says, and an
# uninstall that leaves nothing behind. TAP output.
set -u
cd "$(dirname "$0")/../.."
FERRY=${FERRY:-$PWD/build/ferry}
FERRY=$(realpath "$FERRY")
n=0
failed=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() {
	n=$((n + 1))
	failed=$((failed + 1))
	echo "not ok $n - $1"
	shift
	local l
	for l in "$@"; do printf '%s\n' "$l" | head -20 | sed 's/^/# /'; done
}
skip() { n=$((n + 1)); echo "ok $n - $1 # SKIP $2"; }
# check NAME CMD...: ok when CMD succeeds; its output in the failure note.
check() {
	local name=$1 out
	shift
	if out=$("$@" 2>&1); then ok "$name"; else not_ok "$name" "$out"; fi
}

tmp=$(mktemp -d /tmp/ferry-install.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
D=$tmp/root
P=/usr/local
mk() { make --no-print-directory -s FERRY_BIN="$FERRY" MANBUILD="$tmp/man" "$@"; }

# 1. The tree.
if out=$(mk install DESTDIR="$D" 2>&1); then ok "make install DESTDIR=... (PREFIX $P)"; else
	not_ok "make install DESTDIR=... (PREFIX $P)" "$out"
	echo "1..$n"
	exit 1
fi
want=(bin/ferry share/man/man1/ferry.1 share/man/man5/ferry.conf.5
	share/bash-completion/completions/ferry share/doc/ferry/README.md
	share/doc/ferry/licenses/libc6-dev.copyright share/doc/ferry/licenses/LGPL-2.1)
for d in packaging/examples/*/; do want+=("share/doc/ferry/examples/$(basename "$d")/ferry.conf"); done
missing=()
for f in "${want[@]}"; do [ -f "$D$P/$f" ] || missing+=("$f"); done
if [ ${#missing[@]} -eq 0 ]; then ok "installed: binary, ferry(1), ferry.conf(5), completion, README, ${#want[@]} files with every example and the licences"; else
	not_ok "installed: binary, man pages, completion, README, examples, licences" "missing: ${missing[*]}"; fi
if cmp -s "$FERRY" "$D$P/bin/ferry" && [ -x "$D$P/bin/ferry" ] &&
	[ "$(stat -c %a "$D$P/share/man/man1/ferry.1")" = 644 ] &&
	"$D$P/bin/ferry" --version | grep -q '^ferry '; then
	ok "the installed binary is the one under test, mode 0755, runs; pages mode 0644"
else
	not_ok "the installed binary is the one under test, mode 0755, runs" \
		"$(ls -l "$D$P/bin/ferry" "$D$P/share/man/man1/ferry.1" 2>&1)"
fi

# 2. The man pages.
pages=("$D$P/share/man/man1/ferry.1" "$D$P/share/man/man5/ferry.conf.5")
if command -v man >/dev/null && command -v mandoc >/dev/null && command -v lexgrog >/dev/null; then
	for p in "${pages[@]}"; do
		b=$(basename "$p")
		text=$(MANWIDTH=80 LC_ALL=C.UTF-8 man --warnings -E UTF-8 -l "$p" 2>"$tmp/warn")
		leftover=$(grep -nE '\*\*|`|\\f|^\.[A-Za-z]' <<<"$text" | head -5)
		if [ ! -s "$tmp/warn" ] && grep -q '^NAME' <<<"$text" && grep -q '^DESCRIPTION' <<<"$text" &&
			grep -q '^SEE ALSO' <<<"$text" && [ -z "$leftover" ]; then
			ok "man -l $b renders without a warning ($(wc -l <<<"$text") lines, no markdown or roff left)"
		else
			not_ok "man -l $b renders without a warning" "$(cat "$tmp/warn")" "$leftover"
		fi
		check "mandoc -T lint $b is clean" sh -c "out=\$(mandoc -T lint '$p' 2>&1); echo \"\$out\"; [ -z \"\$out\" ]"
		out=$(lexgrog "$p" 2>&1)
		if [ $? -eq 0 ] && grep -q '"ferry[.a-z]* - ' <<<"$out"; then ok "lexgrog $b: $out"; else
			not_ok "lexgrog $b parses its NAME section" "$out"; fi
	done
	# Documentation=man:ferry(1) man:ferry.conf(5), once installed.
	a=$(MANPATH=$D$P/share/man man -w 1 ferry 2>&1)
	b=$(MANPATH=$D$P/share/man man -w 5 ferry.conf 2>&1)
	if [ "$a" = "${pages[0]}" ] && [ "$b" = "${pages[1]}" ]; then
		ok "man finds man:ferry(1) and man:ferry.conf(5) in the installed tree"
	else
		not_ok "man finds man:ferry(1) and man:ferry.conf(5) in the installed tree" "$a" "$b"
	fi
else
	skip "man pages: man -l, mandoc -T lint, lexgrog" "man-db or mandoc missing (scripts/deps.sh installs them)"
fi

# 3. ferry --help and ferry(1) say the same: every command, every option.
help=$("$FERRY" --help)
miss=()
for w in "web server" "reverse proxy" "echo"; do grep -qi "$w" <<<"$help" || miss+=("$w"); done
if [ ${#miss[@]} -eq 0 ]; then ok "ferry --help names the web server, the reverse proxy and echo"; else
	not_ok "ferry --help names the web server, the reverse proxy and echo" "missing: ${miss[*]}" "$help"; fi
cmds=$(sed -n 's/^  \([a-z][a-z]*\)  .*/\1/p' <<<"$help")
opts_of() { "$FERRY" "$1" --help 2>/dev/null | sed -n 's/^ *\(-[a-zA-Z], \)\{0,1\}\(--[a-z][a-z-]*\).*/\2/p'; }
man1=$(cat docs/ferry.1.md)
miss=()
for c in $cmds; do
	grep -q "^#### $c\b" <<<"$man1" || miss+=("command $c")
	for o in $(opts_of "$c"); do grep -qF -- "\`$o" <<<"$man1" || miss+=("$c $o"); done
done
if [ ${#miss[@]} -eq 0 ]; then ok "ferry(1) documents every command of ferry --help ($(echo $cmds)) and each one's options"; else
	not_ok "ferry(1) documents every command and option of --help" "missing: ${miss[*]}"; fi

# 4. Bash completion.
comp=$D$P/share/bash-completion/completions/ferry
complete_words() { # WORD... (the last one is completed)
	bash --norc --noprofile -c 'source "$1" || exit 1; shift
		COMP_WORDS=("$@"); COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); COMP_LINE="$*"
		_ferry; printf "%s\n" "${COMPREPLY[@]}"' bash "$comp" "$@" 2>&1
}
if out=$(bash --norc --noprofile -c 'source "$1" && complete -p ferry' bash "$comp" 2>&1) &&
	grep -q -- '-F _ferry ferry' <<<"$out"; then ok "the completion loads in bash: $out"; else
	not_ok "the completion loads in bash" "$out"; fi
got=$(complete_words ferry "" | sort | tr '\n' ' ')
want=$(sort <<<"$cmds" | tr '\n' ' ')
if [ "$got" = "$want" ]; then ok "ferry <TAB>: $got"; else
	not_ok "ferry <TAB> completes the commands of ferry --help" "got:  $got" "want: $want"; fi
got=$(complete_words ferry un | tr '\n' ' ')
[ "$got" = "units " ] && ok "ferry un<TAB>: units" || not_ok "ferry un<TAB>: units" "got: $got"
miss=()
for c in $cmds; do
	offered=$(complete_words ferry "$c" -)
	for o in $(opts_of "$c"); do grep -qx -- "$o" <<<"$offered" || miss+=("$c $o"); done
done
if [ ${#miss[@]} -eq 0 ]; then ok "ferry COMMAND -<TAB> offers every option of ferry COMMAND --help"; else
	not_ok "ferry COMMAND -<TAB> offers every option of --help" "missing: ${miss[*]}"; fi
got=$(complete_words ferry units --mode "" | tr '\n' ' ')
got2=$(complete_words ferry units --n | tr '\n' ' ')
if [ "$got" = "user system system-as= " ] && [ "$got2" = "--native --name --network " ]; then
	ok "ferry units --mode <TAB>: $got; --n<TAB>: $got2"
else
	not_ok "ferry units --mode <TAB>, --n<TAB>" "got: $got" "got: $got2"
fi
got=$(cd packaging/examples/httpd && complete_words ferry check ferry.c)
[ "$got" = "ferry.conf" ] && ok "ferry check <TAB> completes a file" || not_ok "ferry check <TAB> completes a file" "got: $got"

# 5. Uninstall leaves nothing but directories.
if out=$(mk uninstall DESTDIR="$D" 2>&1) && left=$(find "$D" ! -type d) && [ -z "$left" ]; then
	ok "make uninstall removes every file it installed"
else
	not_ok "make uninstall removes every file it installed" "$out" "left: $left"
fi

# 6. Another prefix.
D2=$tmp/root2
if out=$(mk install DESTDIR="$D2" PREFIX=/usr 2>&1) && [ -x "$D2/usr/bin/ferry" ] &&
	[ -f "$D2/usr/share/man/man5/ferry.conf.5" ] &&
	[ -f "$D2/usr/share/bash-completion/completions/ferry" ] &&
	mk uninstall DESTDIR="$D2" PREFIX=/usr >/dev/null 2>&1 && [ -z "$(find "$D2" ! -type d)" ]; then
	ok "PREFIX=/usr: /usr/bin/ferry, /usr/share/man, /usr/share/bash-completion; uninstalled"
else
	not_ok "PREFIX=/usr install and uninstall" "$out" "$(find "$D2" ! -type d | head)"
fi

echo "1..$n"
[ "$failed" -eq 0 ]
