# shellcheck shell=bash
# Reading /proc through cat: a process may be gone, and mawk stops at a missing file.
# shellcheck disable=SC2002
# Helpers for bench/run.sh (sourced, not run). Everything here stays inside $TMP and stops only
# the processes it started, by PID.

log() { printf '[bench %s] %s\n' "$(date +%T)" "$*" >&2; }
die() { printf '[bench] error: %s\n' "$*" >&2; exit 1; }

# ---- installing what the benchmark needs ---------------------------------------------------

have_cmd() { command -v "$1" >/dev/null 2>&1; }

bench_install_deps() {
	local need=() sudo="" made_policy=0
	[ -x /usr/sbin/nginx ] || need+=(nginx)
	have_cmd wrk || need+=(wrk)
	have_cmd curl || need+=(curl)
	have_cmd gcc || need+=(gcc libc6-dev)
	have_cmd taskset || need+=(util-linux)
	have_cmd systemd-socket-activate || need+=(systemd)
	[ ${#need[@]} -eq 0 ] && return 0
	[ "$(id -u)" -ne 0 ] && sudo="sudo"
	log "installing: ${need[*]}"
	export DEBIAN_FRONTEND=noninteractive
	# Installing nginx must not start the system nginx service: while installing, a
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

# ---- network --------------------------------------------------------------------------------

free_port() { "$HELPER" port; }

# Wait (bounded, ~10 s) until URL answers 200; fail if the PID dies first.
wait_http() {
	local url=$1 pid=$2 i
	for ((i = 0; i < 200; i++)); do
		alive "$pid" || return 1
		[ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "$url" 2>/dev/null)" = 200 ] && return 0
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

# utime+stime (clock ticks) of the given PIDs, all threads (from /proc/PID/stat).
cpu_ticks() {
	local sum=0 p t
	for p in "$@"; do
		t=$(cat "/proc/$p/stat" 2>/dev/null | awk '{sub(/^.*\) /, ""); print $12 + $13}') || t=0
		sum=$((sum + ${t:-0}))
	done
	echo "$sum"
}

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
