#!/usr/bin/env bash
# scripts/layers.sh [-q] [SRC]: checks the layer rule written in SRC/LAYERS (SRC: src).
# Reads every #include "..." of SRC/**/*.c and *.h, resolved as the compiler does with -ISRC
# (beside the including file first, then in SRC), and fails (exit 1) on
#   - an include of a higher layer:  src/http/conn.c:22: http includes handler/proxy.h
#     (a top-level header: "src/net/dns.c:34: net includes loop.h (top level)")
#   - an include of a file that does not exist, or of one outside SRC
#   - a folder of SRC that SRC/LAYERS does not list, or a malformed SRC/LAYERS
#   - folders that include one another in a cycle: each cycle, with one include per step.
# Problems go to stderr, one "file:line: message" each. Then, on stdout unless -q, the
# layers bottom up with the folders each one includes, "!" marking a higher one: the picture
# of the tree that docs/ARCHITECTURE.md describes. Exit 2: usage, or no SRC/LAYERS.
# Plain bash, GNU find, grep and POSIX awk (mawk): about 0.1 s on the whole tree.
set -eu
export LC_ALL=C
usage="usage: scripts/layers.sh [-q] [SRC]   (SRC: src; the order is in SRC/LAYERS)"
quiet=0
while [ $# -gt 0 ]; do
	case $1 in
	-q) quiet=1 ;;
	-h | --help) echo "$usage"; exit 0 ;;
	-?*) echo "$usage" >&2; exit 2 ;;
	*) break ;;
	esac
	shift
done
[ $# -le 1 ] || { echo "$usage" >&2; exit 2; }
src=${1:-src}
[ "$src" = / ] || src=${src%/}
[ -d "$src" ] || { echo "layers.sh: $src: not a directory" >&2; echo "$usage" >&2; exit 2; }
[ -f "$src/LAYERS" ] || {
	echo "layers.sh: $src/LAYERS: no such file (the folders of $src/, bottom up)" >&2
	exit 2
}

# One stream of tagged records for awk, in this order: L the lines of LAYERS, D the folders
# of SRC, F every file (to resolve includes against), S each .c/.h scanned (folders' files
# before the top level's), I each include line as grep prints it (path:line:text).
{
	awk '{ print "L\t" NR "\t" $0 }' "$src/LAYERS"
	find "$src" -mindepth 1 -maxdepth 1 -type d ! -name '.*' -printf 'D\t%f\n' | sort
	find "$src" -mindepth 1 -name '.*' -prune -o -type f -printf 'F\t%P\n'
	mapfile -t scanned < <(find "$src" -mindepth 1 -name '.*' -prune -o -type f \( -name '*.c' -o \
		-name '*.h' \) -printf '%P\n' | awk '{ print (index($0, "/") ? 0 : 1) "\t" $0 }' | sort | cut -f2-)
	if [ ${#scanned[@]} -gt 0 ]; then
		printf 'S\t%s\n' "${scanned[@]}"
		(cd "$src" && grep -nH -E '^[[:space:]]*#[[:space:]]*include[[:space:]]*"' -- "${scanned[@]}" |
			sed 's/^/I\t/') || true
	fi
} | awk -v src="$src" -v quiet="$quiet" '
function problem(msg) { probs[np++] = msg }
function layer_of(rel,   i) { i = index(rel, "/"); return i ? substr(rel, 1, i - 1) : TOP }
function known(x) { return x == TOP || (x in rank) }
function rk(x) { return x == TOP ? nl : rank[x] }
function dirname(p,   i, d) {
	d = ""
	for (i = length(p); i > 0; i--)
		if (substr(p, i, 1) == "/") { d = substr(p, 1, i - 1); break }
	return d
}
# "a/./b/../c" -> "a/c"; ".." that climbs out of SRC stays at the front.
function norm(p,   n, parts, st, k, i, out) {
	n = split(p, parts, "/")
	k = 0
	for (i = 1; i <= n; i++) {
		if (parts[i] == "" || parts[i] == ".") continue
		if (parts[i] == ".." && k > 0 && st[k] != "..") { k--; continue }
		st[++k] = parts[i]
	}
	out = ""
	for (i = 1; i <= k; i++) out = out (i > 1 ? "/" : "") st[i]
	return out
}
function same_scc(a, b) { return ((a SUBSEP b) in reach) && ((b SUBSEP a) in reach) }
# The shortest cycle from v back to v through folders of its component, as "v -> ... -> v"
# rotated to start at its lowest folder; "" if none.
function shortest_cycle(v,   q, head, tail, seen, prev, x, y, j, last, n, path, i, lo, out) {
	head = tail = 0; q[tail++] = v; seen[v] = 1; last = ""
	while (head < tail && last == "") {
		x = q[head++]
		for (j = 0; j < nn; j++) {
			y = node[j]
			if (!((x SUBSEP y) in edge)) continue
			if (y == v) { last = x; break }
			if ((y in seen) || !same_scc(v, y)) continue
			seen[y] = 1; prev[y] = x; q[tail++] = y
		}
	}
	if (last == "") return ""
	n = 0
	for (x = last; x != v; x = prev[x]) path[n++] = x
	path[n++] = v  # path[n-1] .. path[0] is the cycle, v first
	lo = 0
	for (i = 0; i < n; i++) if (pos[path[i]] < pos[path[lo]]) lo = i
	out = ""
	for (i = 0; i < n; i++) out = out path[(lo - i + n) % n] " -> "
	return out path[lo]
}
BEGIN { FS = "\t"; TOP = "top"; nl = 0; np = 0; nd = 0; nscan = 0; ninc = 0; nup = 0; LAYERS = src "/LAYERS" }
$1 == "L" {
	text = $0; sub(/^L\t[0-9]+\t/, "", text); sub(/#.*/, "", text)
	n = split(text, w, " ")
	if (n == 0) next
	if (n > 1 || w[1] ~ /\// || w[1] ~ /^\./)
		problem(LAYERS ":" $2 ": one folder name per line, not \"" text "\"")
	else if (w[1] == TOP)
		problem(LAYERS ":" $2 ": \"" TOP "\" is the top level (" src "/*.c), always last: not a folder")
	else if (w[1] in rank)
		problem(LAYERS ":" $2 ": " w[1] " is listed twice (first on line " line_of[w[1]] ")")
	else { rank[w[1]] = nl; order[nl++] = w[1]; line_of[w[1]] = $2 }
	next
}
$1 == "D" {
	folder[$2] = 1; dlist[nd++] = $2
	if (!($2 in rank)) problem(src "/" $2 "/: folder not in " LAYERS ": place it in the order")
	next
}
$1 == "F" { exists[$2] = 1; next }
$1 == "S" { nscan++; next }
$1 == "I" {
	rec = $0; sub(/^I\t/, "", rec)
	i = index(rec, ":"); file = substr(rec, 1, i - 1); rec = substr(rec, i + 1)
	i = index(rec, ":"); ln = substr(rec, 1, i - 1); rec = substr(rec, i + 1)
	if (!match(rec, /"[^"]*"/)) next
	inc = substr(rec, RSTART + 1, RLENGTH - 2)
	ninc++
	layer = layer_of(file); here = dirname(file)
	where = src "/" file ":" ln
	c1 = norm(here == "" ? inc : here "/" inc); c2 = norm(inc)
	target = (c1 in exists) ? c1 : (c2 in exists) ? c2 : ""
	if (target == "" && (c1 ~ /^\.\.(\/|$)/ || c2 ~ /^\.\.(\/|$)/)) {
		problem(where ": includes \"" inc "\", outside " src "/")
		next
	}
	if (target == "") {
		problem(where ": includes \"" inc "\", which does not exist (not in " \
			(here == "" ? "" : src "/" here "/ nor in ") src "/)")
		next
	}
	to = layer_of(target)
	if (to == layer) next
	if (!((layer SUBSEP to) in edge)) edge[layer, to] = where ": " layer " includes " target
	if (known(layer) && known(to) && rk(to) > rk(layer)) {
		nup++
		problem(where ": " layer " includes " target (to == TOP ? " (top level)" : ""))
	}
	next
}
END {
	# Every folder in one order: the layers, the top level, then the unlisted ones.
	nn = 0
	for (i = 0; i < nl; i++) { node[nn] = order[i]; pos[order[i]] = nn++ }
	node[nn] = TOP; pos[TOP] = nn++
	for (i = 0; i < nd; i++) if (!(dlist[i] in pos)) { node[nn] = dlist[i]; pos[dlist[i]] = nn++ }
	for (k in edge) reach[k] = 1
	for (m = 0; m < nn; m++)
		for (i = 0; i < nn; i++)
			if ((node[i] SUBSEP node[m]) in reach)
				for (j = 0; j < nn; j++)
					if ((node[m] SUBSEP node[j]) in reach) reach[node[i], node[j]] = 1
	ncyc = 0
	for (i = 0; i < nn; i++) {
		if (!((node[i] SUBSEP node[i]) in reach)) continue
		c = shortest_cycle(node[i])
		if (c == "" || (c in cycle_seen)) continue
		cycle_seen[c] = 1; ncyc++
		n = split(c, st, " -> ")
		msg = "cycle: " c
		for (j = 1; j < n; j++) msg = msg "\n    " edge[st[j], st[j + 1]]
		problem(msg)
	}

	for (i = 0; i < np; i++) print probs[i] > "/dev/stderr"
	fflush()
	if (quiet != 1) {
		print LAYERS ", bottom up: the folders each one includes (! = a higher one: against the rule)"
		width = 0
		for (i = 0; i < nn; i++) if (length(node[i]) + 1 > width) width = length(node[i]) + 1
		for (i = 0; i < nn; i++) {
			v = node[i]
			if (v != TOP && !(v in folder)) uses = "(no such folder yet)"
			else {
				uses = ""
				for (j = 0; j < nn; j++) {
					if (!((v SUBSEP node[j]) in edge)) continue
					uses = uses (uses == "" ? "" : " ") node[j] \
						(known(v) && known(node[j]) && rk(node[j]) > rk(v) ? "!" : "")
				}
				if (uses == "") uses = "-"
				if (!known(v)) uses = uses "   (not in " LAYERS ")"
			}
			printf "  %-" width "s  %s\n", v (v == TOP ? "" : "/"), uses
		}
		fflush()
	}
	if (np > 0) {
		printf("layers: %d problem%s (%d upward include%s, %d cycle%s)\n", np, np == 1 ? "" : "s",
		       nup, nup == 1 ? "" : "s", ncyc, ncyc == 1 ? "" : "s") > "/dev/stderr"
		exit 1
	}
	if (quiet != 1) printf "layers: ok (%d folders, %d files, %d includes)\n", nd, nscan, ninc
}'
