# shellcheck shell=bash
# Reading /proc through cat: a process may be gone, and mawk stops at a missing file.
# SC2034: some globals set here (versions, FERRY_SHA, ...) are read only by the scripts.
# shellcheck disable=SC2002,SC2034
# Helpers for bench/run.sh and bench/proxy.sh (sourced, not run). Everything here stays inside
# $TMP and stops only the processes it started, by PID.
#
# What the scripts provide: the knobs FERRY NGINX SERVER_CPU CLIENT_CPU WAIT_IDLE WAIT_IDLE_RUN
# (with their defaults set), REPO and HERE, the associative arrays PID LOG (and PORT), and a
# function server_pids NAME (the PIDs whose CPU time counts for a server). FERRY_OLD (optional,
# read here) is a second ferry binary, measured beside FERRY in the same run.

log() { printf '[bench %s] %s\n' "$(date +%T)" "$*" >&2; }
die() { printf '[bench] error: %s\n' "$*" >&2; exit 1; }

# Options common to both scripts: --record (or RECORD=1), -h/--help (the header comment of the
# script, from line 4 to the `set -...` line). Sets RECORD.
bench_args() {
	local arg
	RECORD=${RECORD:-0}
	for arg in "$@"; do
		case $arg in
		--record) RECORD=1 ;;
		-h | --help)
			sed -n '4,/^set -/p' "$0" | sed '$d; s/^# \{0,1\}//'
			exit 0
			;;
		*) die "unknown argument '$arg' (try --help)" ;;
		esac
	done
}

# ---- installing what the benchmark needs ---------------------------------------------------

have_cmd() { command -v "$1" >/dev/null 2>&1; }

# bench_install_deps [CHECK:PACKAGE ...]: install what is missing of nginx, wrk, curl, gcc and
# taskset, and of the extra requirements: CHECK is an absolute path that must exist (a program or
# a header) or a command that must be found, PACKAGE the Debian package that provides it.
bench_install_deps() {
	local need=() sudo="" made_policy=0 req
	[ -x /usr/sbin/nginx ] || need+=(nginx)
	have_cmd wrk || need+=(wrk)
	have_cmd curl || need+=(curl)
	have_cmd gcc || need+=(gcc libc6-dev)
	have_cmd taskset || need+=(util-linux)
	for req in "$@"; do
		case ${req%%:*} in
		/*) [ -e "${req%%:*}" ] || need+=("${req#*:}") ;;
		*) have_cmd "${req%%:*}" || need+=("${req#*:}") ;;
		esac
	done
	[ ${#need[@]} -eq 0 ] && return 0
	[ "$(id -u)" -ne 0 ] && sudo="sudo"
	log "installing: ${need[*]}"
	export DEBIAN_FRONTEND=noninteractive
	# Installing nginx (or haproxy) must not start its system service: while installing, a
	# policy-rc.d that denies every start (only when none exists, and removed afterwards).
	if [ ! -e /usr/sbin/policy-rc.d ]; then
		printf '#!/bin/sh\nexit 101\n' | $sudo tee /usr/sbin/policy-rc.d >/dev/null
		$sudo chmod 755 /usr/sbin/policy-rc.d
		made_policy=1
	fi
	local rc=0
	{ $sudo apt-get update -qq || true; } >&2
	$sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >&2 || rc=$?
	[ $made_policy -eq 1 ] && $sudo rm -f /usr/sbin/policy-rc.d
	[ $rc -eq 0 ] || die "apt-get install ${need[*]} failed"
}

# ---- setting up -----------------------------------------------------------------------------

# bench_setup TMP_PREFIX WHO_SHARES_CPU0: check FERRY and NGINX, set NCPU and HZ (with one CPU,
# SERVER_CPU=CLIENT_CPU=0 and a warning that WHO_SHARES_CPU0 share it), make the private $TMP
# (removed on exit unless KEEP_TMP=1) with the traps, copy the ferry binary into it (FERRY,
# FERRY_SHA) and so FERRY_OLD when set (FERRY_OLD, FERRY_OLD_SHA, FERRY_OLD_SRC; OLD=1, else
# OLD=0), and build bench/helper.c (HELPER).
bench_setup() {
	[ -x "$FERRY" ] || die "$FERRY is missing: run 'make build/ferry' first"
	FERRY_OLD=${FERRY_OLD:-}
	OLD=0
	if [ -n "$FERRY_OLD" ]; then
		if [ ! -f "$FERRY_OLD" ] || [ ! -x "$FERRY_OLD" ]; then
			die "FERRY_OLD=$FERRY_OLD is not an executable file"
		fi
		OLD=1
	fi
	[ -x "$NGINX" ] || die "$NGINX is missing"
	NCPU=$(nproc)
	if [ "$NCPU" -lt 2 ]; then
		log "warning: only $NCPU CPU: $2 share CPU 0"
		SERVER_CPU=0 CLIENT_CPU=0
	fi
	HZ=$(getconf CLK_TCK)

	TMP=$(mktemp -d "${TMPDIR:-/tmp}/$1.XXXXXX")
	# nginx's workers may run as another user and must read the files and reach the Unix socket.
	chmod 755 "$TMP"
	trap bench_cleanup EXIT
	trap 'exit 130' INT TERM
	trap 'log "command failed (exit $?) at bench/${0##*/} line $LINENO"' ERR

	# Use a copy of the binary, so that a rebuild during the run cannot mix two builds.
	cp "$FERRY" "$TMP/ferry"
	FERRY_SHA=$(sha256sum "$FERRY" | cut -c1-12)
	FERRY=$TMP/ferry
	if [ "$OLD" = 1 ]; then
		FERRY_OLD_SRC=$(realpath "$FERRY_OLD")
		cp "$FERRY_OLD" "$TMP/ferry-old"
		FERRY_OLD_SHA=$(sha256sum "$FERRY_OLD" | cut -c1-12)
		FERRY_OLD=$TMP/ferry-old
		[ "$FERRY_OLD_SHA" != "$FERRY_SHA" ] ||
			log "note: FERRY_OLD is the same binary as FERRY (sha256 $FERRY_SHA): an A/A run, whose new/old ratios show the noise of the measure"
	fi

	HELPER=$TMP/helper
	gcc -O2 -Wall -Wextra -static -o "$HELPER" "$HERE/helper.c" || die "cannot build bench/helper.c"
}

# build_tlsclient: build bench/tlsclient.c (the TLS and HTTP/2 client of tls.sh and idle.sh, on
# the system's libgnutls) into $TMP and print its path.
build_tlsclient() {
	gcc -O2 -Wall -Wextra -o "$TMP/tlsclient" "$HERE/tlsclient.c" -lgnutls ||
		die "cannot build bench/tlsclient.c (libgnutls28-dev missing?)"
	echo "$TMP/tlsclient"
}

# build_h3load: build bench/h3load.c with its QUIC connection (bench/quicconn.c), on ngtcp2,
# nghttp3 and the system's libgnutls, into $TMP and print its path.
build_h3load() {
	gcc -O2 -Wall -Wextra -Wno-unused-parameter -o "$TMP/h3load" "$HERE/h3load.c" \
		"$HERE/quicconn.c" -lngtcp2_crypto_gnutls -lngtcp2 -lnghttp3 -lgnutls ||
		die "cannot build bench/h3load.c"
	echo "$TMP/h3load"
}

# text_page FILE SIZE: an HTML page of exactly SIZE bytes whose body is text (ferry's own docs
# and sources, escaped, in a <pre>), so that it compresses as real text does.
text_page() {
	# (whole files first: a head in a pipeline would end it with SIGPIPE, which pipefail reports)
	{
		echo "<!DOCTYPE html><html><head><title>ferry</title></head><body><pre>"
		cat "$REPO"/docs/*.md "$REPO"/src/*/*.c | sed 's/&/\&amp;/g; s/</\&lt;/g'
	} >"$TMP/text.html"
	[ "$(stat -c %s "$TMP/text.html")" -gt "$2" ] || die "not enough text for a page of $2 bytes"
	head -c "$(($2 - 21))" "$TMP/text.html" >"$1"
	echo "</pre></body></html>" >>"$1"
	[ "$(stat -c %s "$1")" = "$2" ] || die "$1 is not $2 bytes"
}

# make_cert CERT KEY: a self-signed ECDSA P-256 certificate for localhost and 127.0.0.1.
make_cert() {
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 30 \
		-subj /CN=localhost -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
		-keyout "$2" -out "$1" 2>"$TMP/openssl.err" || { cat "$TMP/openssl.err" >&2; die "openssl could not make a certificate"; }
	chmod 644 "$1" "$2" # nginx's master reads them as root, ferry as whoever runs the script
}

bench_cleanup() {
	stop_all
	if [ "${KEEP_TMP:-0}" = 1 ]; then log "kept $TMP"; else rm -rf "$TMP"; fi
}

# nginx's classic welcome page, exactly 612 bytes, into FILE. It has no single quote, backslash
# or '$' (bench/proxy.sh puts it verbatim into a single-quoted nginx string).
welcome_page() {
	cat >"$1" <<'EOF'
<!DOCTYPE html>
<html>
<head>
<title>Welcome to nginx!</title>
<style>
    body {
        width: 35em;
        margin: 0 auto;
        font-family: Tahoma, Verdana, Arial, sans-serif;
    }
</style>
</head>
<body>
<h1>Welcome to nginx!</h1>
<p>If you see this page, the nginx web server is successfully installed and
working. Further configuration is required.</p>

<p>For online documentation and support please refer to
<a href="http://nginx.org/">nginx.org</a>.<br/>
Commercial support is available at
<a href="http://nginx.com/">nginx.com</a>.</p>

<p><em>Thank you for using nginx.</em></p>
</body>
</html>
EOF
}

# What the run is: sets NGINX_VERSION FERRY_VERSION WRK_VERSION FERRY_REV DATE CPU_MODEL KERNEL.
bench_describe() {
	NGINX_VERSION=$("$NGINX" -v 2>&1 | sed 's|.*nginx/||')
	FERRY_VERSION=$("$FERRY" version 2>/dev/null | awk '{print $2}')
	WRK_VERSION=$({ wrk -v 2>&1 || true; } | awk 'NR == 1 {print $2}')
	FERRY_REV=$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo unknown)
	[ -n "$(git -C "$REPO" status --porcelain -- src Makefile 2>/dev/null)" ] &&
		FERRY_REV="$FERRY_REV + uncommitted changes in src/"
	FERRY_REV="$FERRY_REV, binary sha256 $FERRY_SHA"
	if [ "$OLD" = 1 ]; then
		FERRY_OLD_VERSION=$("$FERRY_OLD" version 2>/dev/null | awk '{print $2}')
		FERRY_OLD_DESC="ferry (old) ${FERRY_OLD_VERSION:-?} ($FERRY_OLD_SRC, binary sha256 $FERRY_OLD_SHA)"
	fi
	DATE=$(date -u '+%Y-%m-%d %H:%M UTC')
	CPU_MODEL=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)
	KERNEL=$(uname -r)
}

# ---- processes ------------------------------------------------------------------------------

STARTED_PIDS=()

# Stop one PID we started: TERM, up to 5 s, then KILL; reap it.
stop_pid() {
	local pid=$1 i state
	[ -n "$pid" ] || return 0
	kill -TERM "$pid" 2>/dev/null || true
	for ((i = 0; i < 50; i++)); do
		state=$(cat "/proc/$pid/stat" 2>/dev/null | awk '{sub(/^.*\) /, ""); print $1}') || state=gone
		[ -n "$state" ] || state=gone
		{ [ "$state" = gone ] || [ "$state" = Z ]; } && break
		sleep 0.1
	done
	if [ "$state" != gone ] && [ "$state" != Z ]; then
		log "PID $pid did not stop on SIGTERM in 5 s; sending SIGKILL"
		kill -KILL "$pid" 2>/dev/null || true
	fi
	wait "$pid" 2>/dev/null || true
	local keep=() p
	for p in "${STARTED_PIDS[@]}"; do [ "$p" = "$pid" ] || keep+=("$p"); done
	STARTED_PIDS=("${keep[@]}")
}

stop_all() {
	local p
	for p in "${STARTED_PIDS[@]}"; do stop_pid "$p"; done
}

alive() {
	local st
	st=$(cat "/proc/$1/stat" 2>/dev/null | awk '{sub(/^.*\) /, ""); print $1}') || return 1
	[ -n "$st" ] && [ "$st" != Z ]
}

# Direct children of a PID (nginx's worker under its master).
children_of() { { cat "/proc/$1/task/"*/children 2>/dev/null || true; } | tr ' ' '\n' | sed '/^$/d'; }

# start_nginx NAME CPU: the private nginx of prefix $TMP/NAME (its nginx.conf written already),
# checked with -t, then started (not daemonized) on CPU in the background; sets PID[NAME], LOG[NAME].
# shellcheck disable=SC2004 # PID and LOG are the scripts' associative arrays
start_nginx() {
	local name=$1 cpu=$2 dir=$TMP/$1
	LOG[$name]=$dir/logs/error.log
	"$NGINX" -t -q -p "$dir" -c "$dir/nginx.conf" -e "${LOG[$name]}" ||
		die "nginx -t failed on $dir/nginx.conf"
	taskset -c "$cpu" "$NGINX" -p "$dir" -c "$dir/nginx.conf" -e "${LOG[$name]}" \
		>"$dir/stdout" 2>&1 &
	PID[$name]=$!
	STARTED_PIDS+=("${PID[$name]}")
}

# server_failed NAME MESSAGE: say why, show the end of LOG[NAME], exit 1.
server_failed() {
	log "$1: $2"
	log "last lines of ${LOG[$1]}:"
	tail -n 20 "${LOG[$1]}" >&2 || true
	exit 1
}

# ---- network --------------------------------------------------------------------------------

free_port() { "$HELPER" port; }

# Wait (bounded, ~10 s) until URL (http or https, the certificate not checked) answers 200;
# fail if the PID dies first.
wait_http() {
	local url=$1 pid=$2 i
	for ((i = 0; i < 200; i++)); do
		alive "$pid" || return 1
		[ "$(curl -sk -o /dev/null -w '%{http_code}' --max-time 1 "$url" 2>/dev/null)" = 200 ] && return 0
		sleep 0.05
	done
	return 1
}

# Wait (bounded, ~5 s) until something listens on 127.0.0.1:PORT, without connecting to it
# (a connection would trigger socket activation): read /proc/net/tcp.
wait_listening() {
	local port=$1 i hex
	hex=$(printf '0100007F:%04X' "$port")
	for ((i = 0; i < 500; i++)); do
		awk -v a="$hex" '$2 == a && $4 == "0A" {f = 1} END {exit !f}' /proc/net/tcp && return 0
		sleep 0.01
	done
	return 1
}

# ---- measuring ------------------------------------------------------------------------------

# stat_ticks EXPR PID...: the sum over PIDs of an awk expression of their /proc/PID/stat fields
# counted after the command name ($12 utime, $13 stime: clock ticks, all threads).
stat_ticks() {
	local expr=$1 sum=0 p t
	shift
	for p in "$@"; do
		t=$(cat "/proc/$p/stat" 2>/dev/null | awk "{sub(/^.*\\) /, \"\"); print $expr}") || t=0
		sum=$((sum + ${t:-0}))
	done
	echo "$sum"
}

# utime+stime of the given PIDs; user_ticks: utime only (the rest is the kernel's share).
cpu_ticks() { stat_ticks '$12 + $13' "$@"; }
user_ticks() { stat_ticks '$12' "$@"; }

# cutime+cstime of this shell: the CPU time of the children it has waited for (wrk).
children_ticks() { awk '{sub(/^.*\) /, ""); print $14 + $15}' "/proc/$$/stat"; }

# Idle+iowait clock ticks of one CPU from /proc/stat. With NO_HZ these come from the kernel's
# precise idle-time tracking, while user/system are sampled at each tick and undercount a
# server that keeps going idle between requests, so busy time is measured as wall - idle.
core_idle_ticks() {
	awk -v c="cpu$1" '$1 == c {print $5 + $6}' /proc/stat
}

# Idle+iowait clock ticks of all CPUs together (the "cpu" line).
all_idle_ticks() { awk '$1 == "cpu" {print $5 + $6}' /proc/stat; }

now_ns() { date +%s%N; }

# Percent busy of each CPU over SECONDS (default 1), as "cpu0=N cpu1=N" (wall - idle).
cpu_busy_pct() {
	local a b t0 t1
	t0=$(now_ns)
	a=$(awk '/^cpu[0-9]/ {print $1, $5 + $6}' /proc/stat)
	sleep "${1:-1}"
	b=$(awk '/^cpu[0-9]/ {print $1, $5 + $6}' /proc/stat)
	t1=$(now_ns)
	printf '%s\n%s\n' "$a" "$b" | awk -v t=$((t1 - t0)) -v h="$(getconf CLK_TCK)" '
		{ if ($1 in idle) { p = 100 - 100 * ($2 - idle[$1]) / (t / 1e9 * h); if (p < 0) p = 0
			out = out sprintf("%s%s=%d%%", sep, $1, p + 0.5); sep = " " }
		  else idle[$1] = $2 }
		END { print out }'
}

# Highest busy percent in a cpu_busy_pct line.
max_pct() { tr ' ' '\n' | sed 's/.*=//; s/%//' | sort -n | tail -n 1; }

# Other work on the machine skews every figure (core busy time most): say how busy it is.
# WAIT_IDLE=SECONDS waits up to that long for every CPU to be under 10% busy first. Sets LOAD_BEFORE.
wait_for_idle() {
	local w
	LOAD_BEFORE=$(cpu_busy_pct 1)
	if [ "$WAIT_IDLE" -gt 0 ] && [ "$(max_pct <<<"$LOAD_BEFORE")" -ge 10 ]; then
		log "machine busy ($LOAD_BEFORE); waiting up to ${WAIT_IDLE}s for it to be idle"
		for ((w = 0; w < WAIT_IDLE; w += 5)); do
			LOAD_BEFORE=$(cpu_busy_pct 5)
			[ "$(max_pct <<<"$LOAD_BEFORE")" -lt 10 ] && break
		done
	fi
	log "CPU busy before the run: $LOAD_BEFORE"
	[ "$(max_pct <<<"$LOAD_BEFORE")" -lt 10 ] ||
		log "warning: the machine is not idle; other processes share the CPUs and skew the figures"
}

# wait_quiet WHAT: before a measured run (WHAT names it in the log), wait up to WAIT_IDLE_RUN
# seconds for other work to calm down (every CPU under 10% busy).
wait_quiet() {
	local w load
	for ((w = 0; w < WAIT_IDLE_RUN; w++)); do
		load=$(cpu_busy_pct 1)
		[ "$(max_pct <<<"$load")" -lt 10 ] && break
		[ $w = 0 ] && log "machine busy ($load) before $1; waiting up to ${WAIT_IDLE_RUN}s"
	done
	return 0
}

# busy_ticks NANOSECONDS IDLE_TICKS: busy clock ticks of one CPU over a span (wall - idle).
busy_ticks() { awk -v t="$1" -v i="$2" -v h="$HZ" 'BEGIN {printf "%.1f", t / 1e9 * h - i}'; }

# per_req_us TICKS REQUESTS: microseconds of CPU per request.
per_req_us() { awk -v t="$1" -v h="$HZ" -v n="$2" 'BEGIN {print t * 1e6 / h / n}'; }

# check_after_wrk NAME PIDS_BEFORE WHEN: the server still runs, with the same processes (no
# worker replaced); WHEN ("round 2") goes into the message.
check_after_wrk() {
	alive "${PID[$1]}" || server_failed "$1" "process ${PID[$1]} died during wrk ($3)"
	[ "$(server_pids "$1")" = "$2" ] ||
		server_failed "$1" "worker process changed during wrk ($3): $2 -> $(server_pids "$1")"
}

# wrk_result OUT AGAINST WHAT: parse_wrk of the wrk output file OUT into WRK; die if wrk
# completed no request (against AGAINST), warn (naming the run WHAT) on errors.
wrk_result() {
	local out=$1 against=$2 what=$3
	WRK=$(parse_wrk <"$out")
	# shellcheck disable=SC2086 # the fields of parse_wrk
	set -- $WRK
	[ "$1" -gt 0 ] || { cat "$out" >&2; die "wrk completed no request against $against"; }
	if [ "$5" -gt 0 ] || [ "$6" -gt 0 ]; then
		log "warning: $what: $5 non-2xx/3xx responses, $6 socket errors"
		grep -E 'Non-2xx|Socket errors' "$out" >&2 || true
	fi
}

# Sum of a /proc/PID/status field (kB) over PIDs.
status_kib() {
	local field=$1 sum=0 p v
	shift
	for p in "$@"; do
		v=$(cat "/proc/$p/status" 2>/dev/null | awk -v f="$field:" '$1 == f {print $2}') || v=0
		sum=$((sum + ${v:-0}))
	done
	echo "$sum"
}

pss_kib() {
	local sum=0 p v
	for p in "$@"; do
		v=$(cat "/proc/$p/smaps_rollup" 2>/dev/null | awk '$1 == "Pss:" {print $2}') || v=0
		sum=$((sum + ${v:-0}))
	done
	echo "$sum"
}

# Parse wrk --latency output: prints
#   requests seconds rps p99_us non2xx socket_errors
parse_wrk() {
	awk '
	function us(v,   n) {
		n = v + 0
		if (v ~ /us$/) return n
		if (v ~ /ms$/) return n * 1000
		if (v ~ /m$/) return n * 60e6
		if (v ~ /s$/) return n * 1e6
		return n
	}
	function secs(v,   n) {
		n = v + 0
		if (v ~ /ms$/) return n / 1000
		if (v ~ /m$/) return n * 60
		if (v ~ /h$/) return n * 3600
		return n
	}
	$1 == "99%" { p99 = us($2) }
	/ requests in / { req = $1; d = $4; sub(/,$/, "", d); dur = secs(d) }
	/^Requests\/sec:/ { rps = $2 }
	/Non-2xx or 3xx responses:/ { non2xx = $NF }
	/Socket errors:/ { gsub(/,/, ""); serr = $4 + $6 + $8 + $10 }
	END { printf "%d %.3f %.1f %.1f %d %d\n", req, dur, rps, p99, non2xx, serr }
	'
}

# Median of numbers on stdin (mean of the middle two for an even count).
median() {
	sort -g | awk '{v[NR] = $1} END {
		if (NR == 0) { print "nan"; exit }
		if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# ---- the report -----------------------------------------------------------------------------

# paired_ratios FILE KEY ROUND A B EXPR: for every round in which both A and B ran, EXPR of A's
# run divided by EXPR of B's, one a line. The lines of FILE are runs; KEY is an awk expression
# naming the run's configuration (e.g. '$1' or '$1 "/" $2'), ROUND the number of the field that
# holds the round, EXPR an awk expression of the fields (hz is set). Pairing within a round
# cancels most of the drift of a shared machine, which the medians of each alone do not.
paired_ratios() {
	awk -v a="$4" -v b="$5" -v hz="$HZ" "{k = $2; v[k, \$$3] = $6; r[\$$3] = 1}
		END {for (i in r) if ((a, i) in v && (b, i) in v && v[b, i] > 0) print v[a, i] / v[b, i]}" "$1"
}

minmax() { sort -g | awk -v f="${1:-%.0f}" 'NR == 1 {a = $1} {b = $1} END {if (NR) printf f "–" f, a, b; else printf "n/a"}'; }
# A / B in FORMAT (default %.2f); n/a when B is 0 or either is missing.
ratio() { awk -v a="$1" -v b="$2" -v f="${3:-%.2f}" 'BEGIN {if (b == 0 || a == "" || b == "") print "n/a"; else printf f, a / b}'; }
fmt() { awk -v v="$1" -v f="$2" 'BEGIN {if (v == "" || v == "n/a" || v == "nan") print "n/a"; else printf f, v}'; }
# verdict VALUE <=|>=|<|> TARGET: **met** or **not met** (nothing for n/a or nan).
verdict() { awk -v v="$1" -v op="$2" -v t="$3" 'BEGIN {
	if (v == "n/a" || v == "nan" || v == "") {print ""; exit}
	if (op == "<=") ok = v <= t; else if (op == ">=") ok = v >= t
	else if (op == "<") ok = v < t; else ok = v > t
	print ok ? "**met**" : "**not met**" }'; }

# record_report BEGIN_MARKER END_MARKER [INTRO]: replace the block between the two marker lines
# of bench/RESULTS.md with $REPORT. Where the file or the block does not exist yet, the block is
# appended, after INTRO (and a blank line) if given. Only this block is replaced, re-reading the
# file just before writing it (the other script may record its own block into the same file).
record_report() {
	local results=$HERE/RESULTS.md begin=$1 end=$2 intro=${3:-}
	if [ ! -f "$results" ] || ! grep -qF "$begin" "$results"; then
		{
			[ -f "$results" ] && cat "$results" && echo
			[ -z "$intro" ] || printf '%s\n\n' "$intro"
			echo "$begin"
			echo "$end"
		} >"$TMP/results.new"
		cp "$TMP/results.new" "$results"
	fi
	awk -v b="$begin" -v e="$end" -v r="$REPORT" '
		$0 == b {print; while ((getline l < r) > 0) print l; skip = 1; next}
		$0 == e {skip = 0}
		!skip {print}' "$results" >"$TMP/results.new"
	cp "$TMP/results.new" "$results"
	log "recorded in $results"
}
