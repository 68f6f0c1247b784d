#!/usr/bin/env bash
# Word splitting of PID lists and parsed fields is intended in this script.
# shellcheck disable=SC2046,SC2086,SC2015,SC2016
# ferry's benchmark against nginx (run by `make bench`). Not a test: it measures and reports.
#
#   bench/run.sh [--record]        RECORD=1 is the same as --record
#   FERRY_OLD=/path/to/old/ferry bench/run.sh
#                                  also measures a second ferry binary, "ferry (old)", in the same
#                                  run and the same way as FERRY (see below)
#
# What it measures, on one machine, with the server pinned to CPU $SERVER_CPU and wrk to CPU
# $CLIENT_CPU (with 2 cores one wrk thread can saturate before a fast server does, so the
# server's CPU time per request is the figure that tells servers apart, not req/s):
#   1. a 612-byte index.html, wrk -t1 -c$CONNS: req/s, p99 latency, and per request: the server
#      processes' CPU time (utime+stime from /proc/PID/stat, all threads; nginx: master+worker),
#      the server core's busy time and all CPUs' busy time (wall minus idle from /proc/stat:
#      adds the kernel's network work charged to no process, and wrk for all CPUs);
#   2. a 1 MiB file, wrk -t1 -c$BIG_CONNS: MB/s and the same CPU figures;
#      both alternate the two servers over $ROUNDS rounds (ABBA order) and report medians;
#      each run also reports the CPU time that went to neither server nor wrk (other work);
#   3. cold start under systemd-socket-activate: from connect() (which makes it exec the
#      server) to the first response byte, median of $COLD_N (plus one discarded warm-up);
#      nginx gets the socket through NGINX=3; (its inherited-socket variable), and a minimal
#      static responder (bench/helper.c) gives the floor of that measure on this machine;
#   4. idle RSS after startup and one request (nginx: master+worker VmRSS, plus PSS).
# Two ferry binaries: with FERRY_OLD set, that binary runs beside FERRY ("ferry (new)") with the
# same configuration, in every round, right next to it (new then old, old then new in the next
# round: nginx, new, old / old, new, nginx), and in the cold-start series. The report then adds
# a table "ferry (new) vs ferry (old)": each figure for both, the ratio of their medians and the
# median (min–max) of the ratios paired within each round, which is the figure to read: pairing
# cancels most of the drift of a shared machine. To show that a change costs < 3% of CPU per
# request, use ROUNDS=9 or more on a quiet machine; FERRY_OLD=FERRY (an A/A run) shows the noise.
# Other work on the machine skews all of it: it waits for an idle machine (WAIT_IDLE) and for
# a quiet moment before each run (WAIT_IDLE_RUN), and reports how busy the machine was.
# With --record the report replaces the block between the markers in bench/RESULTS.md.
#
# Knobs (environment): ROUNDS=5 DURATION=10s BIG_DURATION=$DURATION WARMUP=2s CONNS=64
# BIG_CONNS=16 COLD_N=20 SERVER_CPU=1 CLIENT_CPU=0 FERRY=build/ferry FERRY_OLD= (unset: none)
# NGINX=/usr/sbin/nginx
# WAIT_IDLE=60 (seconds to wait for an idle machine first) WAIT_IDLE_RUN=10 (the same before
# each measured wrk run) KEEP_TMP=1 (keep the temp dir with every wrk output and log).
set -Eeuo pipefail # -E: the ERR trap (bench_setup in lib.sh) also reports failures inside functions

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(dirname "$HERE")
# shellcheck source=bench/lib.sh
. "$HERE/lib.sh"

bench_args "$@"

ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-10s}
BIG_DURATION=${BIG_DURATION:-$DURATION}
WARMUP=${WARMUP:-2s}
CONNS=${CONNS:-64}
BIG_CONNS=${BIG_CONNS:-16}
COLD_N=${COLD_N:-20}
SERVER_CPU=${SERVER_CPU:-1}
CLIENT_CPU=${CLIENT_CPU:-0}
FERRY=${FERRY:-$REPO/build/ferry}
NGINX=${NGINX:-/usr/sbin/nginx}
WAIT_IDLE=${WAIT_IDLE:-60}
WAIT_IDLE_RUN=${WAIT_IDLE_RUN:-10}
SMALL_SIZE=612
BIG_SIZE=1048576

bench_install_deps systemd-socket-activate:systemd
bench_setup ferry-bench "server and wrk"

# ---- the files --------------------------------------------------------------------------------
WWW=$TMP/www
mkdir -p "$WWW"
welcome_page "$WWW/index.html" # nginx's classic welcome page: exactly 612 bytes
[ "$(stat -c %s "$WWW/index.html")" = $SMALL_SIZE ] || die "index.html is not $SMALL_SIZE bytes"
head -c $BIG_SIZE /dev/urandom >"$WWW/big.bin"
chmod 755 "$WWW"
chmod 644 "$WWW"/*

sed "s|@ROOT@|$WWW|g" "$HERE/ferry.conf.in" >"$TMP/ferry.conf"

# nginx_conf DIR PORT: a private prefix DIR with its config for 127.0.0.1:PORT.
nginx_conf() {
	local dir=$1 port=$2
	mkdir -p "$dir/logs" "$dir/tmp"
	sed -e "s|@PREFIX@|$dir|g" -e "s|@PORT@|$port|g" -e "s|@ROOT@|$WWW|g" \
		"$HERE/nginx.conf.in" >"$dir/nginx.conf"
}

# ---- the servers under load -------------------------------------------------------------------
declare -A PID PORT LOG

# The servers measured, in the order of odd rounds (even rounds reverse it): nginx, ferry and,
# with FERRY_OLD, ferry-old right after ferry, so that new and old always run back to back.
SERVERS=(nginx ferry)
[ "$OLD" = 1 ] && SERVERS+=(ferry-old)

server_pids() { # the PIDs whose CPU time counts for a server
	case $1 in
	ferry | ferry-old) echo "${PID[$1]}" ;;
	nginx) echo "${PID[nginx]}" $(children_of "${PID[nginx]}") ;;
	esac
}

# The binary of a ferry server name: ferry -> FERRY, ferry-old -> FERRY_OLD.
ferry_bin() { if [ "$1" = ferry-old ]; then echo "$FERRY_OLD"; else echo "$FERRY"; fi; }

start_servers() {
	PORT[nginx]=$(free_port)
	nginx_conf "$TMP/nginx" "${PORT[nginx]}"
	start_nginx nginx "$SERVER_CPU"

	local s
	for s in "${SERVERS[@]}"; do
		[ "$s" = nginx ] && continue
		PORT[$s]=$(free_port)
		LOG[$s]=$TMP/$s.log
		taskset -c "$SERVER_CPU" "$(ferry_bin "$s")" serve --config "$TMP/ferry.conf" --root "$WWW" \
			--listen "127.0.0.1:${PORT[$s]}" >"${LOG[$s]}" 2>&1 &
		PID[$s]=$!
		STARTED_PIDS+=("${PID[$s]}")
	done

	for s in "${SERVERS[@]}"; do
		wait_http "http://127.0.0.1:${PORT[$s]}/index.html" "${PID[$s]}" ||
			server_failed "$s" "did not answer 200 on 127.0.0.1:${PORT[$s]} within 10 s"
	done
}

# What each server sends: status, Content-Length and the size of the response head.
check_response() {
	local s=$1 path=$2 size=$3 out
	out=$(curl -s -o /dev/null --max-time 5 \
		-w '%{http_code} %{size_download} %{size_header}' "http://127.0.0.1:${PORT[$s]}$path")
	set -- $out
	[ "$1" = 200 ] && [ "$2" = "$size" ] ||
		server_failed "$s" "GET $path gave status $1 with $2 body bytes (want 200, $size)"
	echo "$3"
}

RUNS=$TMP/runs.txt # server kind round requests seconds rps p99_us non2xx sockerr cpu_ticks core_busy_ticks rest_pct all_cpus_busy_ticks wrk_ticks
: >"$RUNS"

# run_wrk SERVER small|big ROUND DURATION  (ROUND 0 = warm-up, not recorded)
run_wrk() {
	local s=$1 kind=$2 round=$3 dur=$4 path conns out pids c0 c1 k0 k1 a0 a1 w0 w1 t0 t1 busy allbusy rest_pct parsed worker0
	case $kind in
	small) path=/index.html conns=$CONNS ;;
	big) path=/big.bin conns=$BIG_CONNS ;;
	esac
	out=$TMP/wrk-$s-$kind-$round.txt
	# Before each measured run, wait (up to WAIT_IDLE_RUN seconds) for other work to calm down.
	[ "$round" = 0 ] || wait_quiet "$s $kind round $round"
	pids=$(server_pids "$s")
	worker0=$pids
	c0=$(cpu_ticks $pids)
	k0=$(core_idle_ticks "$SERVER_CPU")
	w0=$(children_ticks)
	a0=$(all_idle_ticks)
	t0=$(now_ns)
	taskset -c "$CLIENT_CPU" wrk -t1 -c"$conns" -d"$dur" --latency \
		"http://127.0.0.1:${PORT[$s]}$path" >"$out" 2>&1 ||
		{ cat "$out" >&2; die "wrk failed against $s"; }
	t1=$(now_ns)
	k1=$(core_idle_ticks "$SERVER_CPU")
	a1=$(all_idle_ticks)
	w1=$(children_ticks)
	c1=$(cpu_ticks $pids)
	# Everything else: all CPUs' busy time less the server's and wrk's (the kernel's own work
	# for the loopback traffic that is charged to neither is in here too).
	rest_pct=$(awk -v t=$((t1 - t0)) -v i=$((a1 - a0)) -v h="$HZ" -v n="$NCPU" -v c=$((c1 - c0)) \
		-v w=$((w1 - w0)) 'BEGIN {wall = t / 1e9 * h; r = 100 * (n * wall - i - c - w) / wall
		printf "%.1f", r < 0 ? 0 : r}')
	check_after_wrk "$s" "$worker0" "$kind, round $round"
	wrk_result "$out" "$s ($kind)" "$s $kind round $round"
	parsed=$WRK
	set -- $parsed
	log "$(printf '%-5s %-5s round %s: %9.0f req/s  p99 %8.1f us  cpu %6.2f us/req  CPU used by neither server nor wrk %5.1f%% of a CPU' \
		"$s" "$kind" "$round" "$3" "$4" "$(per_req_us $((c1 - c0)) "$1")" "$rest_pct")"
	awk -v p="$rest_pct" 'BEGIN {exit !(p > 10)}' &&
		log "warning: $rest_pct% of a CPU went to neither server nor wrk during this run: other work skews it"
	[ "$round" = 0 ] && return 0
	busy=$(busy_ticks $((t1 - t0)) $((k1 - k0)))
	allbusy=$(awk -v t=$((t1 - t0)) -v i=$((a1 - a0)) -v h="$HZ" -v n="$NCPU" \
		'BEGIN {printf "%.1f", n * t / 1e9 * h - i}')
	echo "$s $kind $round $parsed $((c1 - c0)) $busy $rest_pct $allbusy $((w1 - w0))" >>"$RUNS"
}

# ---- cold start under systemd-socket-activate ---------------------------------------------------
COLD=$TMP/cold.txt # server i microseconds
: >"$COLD"

cold_one() {
	local s=$1 i=$2 port pid us cmd=() env=() log
	port=$(free_port)
	log=$TMP/cold-$s.log
	case $s in
	ferry | ferry-old) cmd=("$(ferry_bin "$s")" serve --config "$TMP/ferry.conf" --root "$WWW") ;;
	floor) cmd=("$HELPER" respond-fd3) ;;
	nginx)
		nginx_conf "$TMP/nginx-cold" "$port"
		env=(-E "NGINX=3;")
		cmd=("$NGINX" -p "$TMP/nginx-cold" -c "$TMP/nginx-cold/nginx.conf"
			-e "$TMP/nginx-cold/logs/error.log")
		;;
	esac
	taskset -c "$SERVER_CPU" systemd-socket-activate -l "127.0.0.1:$port" "${env[@]}" -- \
		"${cmd[@]}" >>"$log" 2>&1 &
	pid=$!
	STARTED_PIDS+=("$pid")
	wait_listening "$port" || { tail "$log" >&2; die "systemd-socket-activate did not listen on $port"; }
	sleep 0.05 # let it reach its poll(); the connect below is what makes it exec the server
	if ! us=$(taskset -c "$CLIENT_CPU" "$HELPER" first-byte 127.0.0.1 "$port" /index.html); then
		tail -n 20 "$log" >&2
		die "$s under systemd-socket-activate gave no 200 response"
	fi
	stop_pid "$pid"
	[ "$i" = 0 ] || echo "$s $i $us" >>"$COLD"
}

# ---- the run ---------------------------------------------------------------------------------------
bench_describe

log "ferry $FERRY_VERSION ($FERRY_REV) vs nginx $NGINX_VERSION; wrk $WRK_VERSION; $NCPU CPUs, $CPU_MODEL, Linux $KERNEL"
[ "$OLD" = 1 ] && log "and $FERRY_OLD_DESC"
log "servers on CPU $SERVER_CPU, wrk on CPU $CLIENT_CPU; ROUNDS=$ROUNDS DURATION=$DURATION BIG_DURATION=$BIG_DURATION COLD_N=$COLD_N"

wait_for_idle

start_servers
declare -A HEAD RSS PSS
for s in "${SERVERS[@]}"; do
	HEAD[$s]=$(check_response "$s" /index.html $SMALL_SIZE)
	sleep 0.2
	# Idle memory: after startup, the readiness check and the one GET just above.
	RSS[$s]=$(status_kib VmRSS $(server_pids "$s"))
	PSS[$s]=$(pss_kib $(server_pids "$s"))
	check_response "$s" /big.bin $BIG_SIZE >/dev/null
done
log "idle RSS: nginx ${RSS[nginx]} KiB (master+worker; PSS ${PSS[nginx]} KiB), ferry ${RSS[ferry]} KiB (PSS ${PSS[ferry]} KiB)"
log "response head bytes: nginx ${HEAD[nginx]}, ferry ${HEAD[ferry]}"
[ "$OLD" = 1 ] && log "ferry (old): idle RSS ${RSS[ferry-old]} KiB (PSS ${PSS[ferry-old]} KiB), response head ${HEAD[ferry-old]} bytes"

log "warm-up ($WARMUP each)"
for s in "${SERVERS[@]}"; do
	run_wrk "$s" small 0 "$WARMUP"
	run_wrk "$s" big 0 "$WARMUP"
done
for ((r = 1; r <= ROUNDS; r++)); do
	order=()
	if ((r % 2)); then order=("${SERVERS[@]}"); else for ((i = ${#SERVERS[@]} - 1; i >= 0; i--)); do order+=("${SERVERS[$i]}"); done; fi
	for s in "${order[@]}"; do run_wrk "$s" small "$r" "$DURATION"; done
	for s in "${order[@]}"; do run_wrk "$s" big "$r" "$BIG_DURATION"; done
done
declare -A RSS_AFTER HWM_AFTER
for s in "${SERVERS[@]}"; do
	RSS_AFTER[$s]=$(status_kib VmRSS $(server_pids "$s"))
	HWM_AFTER[$s]=$(status_kib VmHWM $(server_pids "$s"))
done
for s in "${SERVERS[@]}"; do stop_pid "${PID[$s]}"; done

LOAD_AFTER=$(cpu_busy_pct 1)
log "CPU busy after the load runs (1 s sample): $LOAD_AFTER"

log "cold start: $COLD_N + 1 warm-up each, alternating ferry,$([ "$OLD" = 1 ] && echo " ferry (old),") nginx and the floor (a minimal static responder)"
for ((i = 0; i <= COLD_N; i++)); do
	if [ "$OLD" = 1 ] && ((i % 2)); then
		cold_one ferry-old "$i"
		cold_one ferry "$i"
	else
		cold_one ferry "$i"
		[ "$OLD" = 1 ] && cold_one ferry-old "$i"
	fi
	cold_one nginx "$i"
	cold_one floor "$i"
done

# ---- the report ----------------------------------------------------------------------------------
# round_median SERVER KIND EXPR: median over rounds of an awk expression on the run's fields
# ($4 requests, $5 seconds, $6 rps, $7 p99_us, $8 non2xx, $9 sockerr, $10 cpu ticks, $11 core ticks)
round_median() {
	awk -v s="$1" -v k="$2" -v hz="$HZ" -v big=$BIG_SIZE \
		"\$1 == s && \$2 == k {print $3}" "$RUNS" | median
}
sum_field() { awk -v s="$1" -v f="$2" '$1 == s {t += $f} END {print t + 0}' "$RUNS"; }
cold_stat() { awk -v s="$1" '$1 == s {print $3}' "$COLD" | $2; }

CPU_EXPR='$10 * 1e6 / hz / $4'
CORE_EXPR='$11 * 1e6 / hz / $4'
ALL_EXPR='$13 * 1e6 / hz / $4'
MBS_EXPR='$4 * big / $5 / 1e6'
declare -A RPS P99 CPU CORE ALL MBS BCPU BCORE BALL CS
CS[floor]=$(cold_stat floor median)
for s in "${SERVERS[@]}"; do
	RPS[$s]=$(round_median "$s" small '$6')
	P99[$s]=$(round_median "$s" small '$7')
	CPU[$s]=$(round_median "$s" small "$CPU_EXPR")
	CORE[$s]=$(round_median "$s" small "$CORE_EXPR")
	ALL[$s]=$(round_median "$s" small "$ALL_EXPR")
	MBS[$s]=$(round_median "$s" big "$MBS_EXPR")
	BCPU[$s]=$(round_median "$s" big "$CPU_EXPR")
	BCORE[$s]=$(round_median "$s" big "$CORE_EXPR")
	BALL[$s]=$(round_median "$s" big "$ALL_EXPR")
	CS[$s]=$(cold_stat "$s" median)
done
ERRS_N=$(($(sum_field nginx 8) + $(sum_field nginx 9)))
ERRS_F=$(($(sum_field ferry 8) + $(sum_field ferry 9)))

# Verdicts use the unrounded ratios; the table shows three decimals for them.
R_CPU=$(ratio "${CPU[ferry]}" "${CPU[nginx]}" %.6f)
R_MBS=$(ratio "${MBS[ferry]}" "${MBS[nginx]}" %.6f)

# ferry/nginx CPU per 612-byte request, paired within each round: the spread of the ratio.
CPU_RATIO_RANGE=$(paired_ratios "$RUNS" '$1 "/" $2' 3 ferry/small nginx/small '$10 / $4' | minmax %.3f)

# ferry (new) vs ferry (old): one table row per binary, then their ratios. old_row LABEL VALUES...
# prints a table row; new_old EXPR KIND: "ratio of medians; median of per-round ratios (min–max)".
old_row() { local l=$1 v; shift; printf '| %s |' "$l"; for v in "$@"; do printf ' %s |' "$v"; done; echo; }
paired_new_old() { # KIND EXPR: the per-round new/old ratios
	paired_ratios "$RUNS" '$1 "/" $2' 3 "ferry/$1" "ferry-old/$1" "$2"
}
old_table() {
	local s cols=() k
	echo "| ferry (new) vs ferry (old) | 612 B: server CPU per request | 612 B: core busy per request | 612 B: req/s | 1 MiB: server CPU per request | 1 MiB: throughput | cold start, median | idle RSS | RSS after the load |"
	echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
	for s in ferry ferry-old; do
		old_row "$([ $s = ferry ] && echo "ferry (new)" || echo "ferry (old)")" \
			"$(fmt "${CPU[$s]}" %.3f) µs" "$(fmt "${CORE[$s]}" %.3f) µs" "$(fmt "${RPS[$s]}" %.0f)" \
			"$(fmt "${BCPU[$s]}" %.1f) µs" "$(fmt "${MBS[$s]}" %.0f) MB/s" "$(fmt "${CS[$s]}" %.0f) µs" \
			"${RSS[$s]} KiB" "${RSS_AFTER[$s]} KiB"
	done
	old_row "new/old, ratio of the medians" "$(ratio "${CPU[ferry]}" "${CPU[ferry-old]}" %.3f)" \
		"$(ratio "${CORE[ferry]}" "${CORE[ferry-old]}" %.3f)" "$(ratio "${RPS[ferry]}" "${RPS[ferry-old]}" %.3f)" \
		"$(ratio "${BCPU[ferry]}" "${BCPU[ferry-old]}" %.3f)" "$(ratio "${MBS[ferry]}" "${MBS[ferry-old]}" %.3f)" \
		"$(ratio "${CS[ferry]}" "${CS[ferry-old]}" %.3f)" "$(ratio "${RSS[ferry]}" "${RSS[ferry-old]}" %.3f)" \
		"$(ratio "${RSS_AFTER[ferry]}" "${RSS_AFTER[ferry-old]}" %.3f)"
	for k in "small:$CPU_EXPR" "small:$CORE_EXPR" "small:\$6" "big:$CPU_EXPR" "big:\$4 / \$5"; do
		cols+=("$(fmt "$(paired_new_old "${k%%:*}" "${k#*:}" | median)" %.3f) ($(paired_new_old "${k%%:*}" "${k#*:}" | minmax %.3f))")
	done
	old_row "new/old, median of the per-round ratios (min–max)" "${cols[@]}" "" "" ""
}
R_OLD=""
[ "$OLD" = 1 ] && R_OLD=$(paired_new_old small "$CPU_EXPR" | median)

REPORT=$TMP/report.md
{
	echo "### $DATE"
	echo
	echo "Machine: nproc $NCPU, $CPU_MODEL, Linux $KERNEL."
	echo "ferry $FERRY_VERSION ($FERRY_REV), nginx $NGINX_VERSION, wrk $WRK_VERSION."
	[ "$OLD" = 1 ] && echo "Also $FERRY_OLD_DESC, with the same configuration."
	echo "Run: \`ROUNDS=$ROUNDS DURATION=$DURATION BIG_DURATION=$BIG_DURATION COLD_N=$COLD_N WAIT_IDLE=$WAIT_IDLE WAIT_IDLE_RUN=$WAIT_IDLE_RUN$([ "$OLD" = 1 ] && echo " FERRY_OLD=$FERRY_OLD_SRC") bench/run.sh\`;"
	echo "server on CPU $SERVER_CPU, \`wrk -t1\` on CPU $CLIENT_CPU; medians over $ROUNDS rounds (ABBA order$([ "$OLD" = 1 ] && echo "; ferry (new) and ferry (old) back to back in each round, their order alternating"))."
	echo "Other load on the machine (servers idle): before the run $LOAD_BEFORE, after the load runs $LOAD_AFTER;"
	echo "CPU time used by neither the server nor wrk during a load run (other work, plus kernel network work charged to neither; a few % when the machine is quiet): median $(awk '{print $12}' "$RUNS" | median)%, at most $(awk 'BEGIN {m = 0} $12 > m {m = $12} END {print m}' "$RUNS")% of a CPU (per run in the last column below)."
	echo
	echo "| | nginx | ferry | ferry/nginx | target | |"
	echo "|---|---:|---:|---:|---|---|"
	echo "| 612 B: req/s (wrk -c$CONNS) | $(fmt "${RPS[nginx]}" %.0f) | $(fmt "${RPS[ferry]}" %.0f) | $(ratio "${RPS[ferry]}" "${RPS[nginx]}") | | |"
	echo "| 612 B: p99 latency | $(fmt "${P99[nginx]}" %.0f) µs | $(fmt "${P99[ferry]}" %.0f) µs | $(ratio "${P99[ferry]}" "${P99[nginx]}") | | |"
	echo "| 612 B: server CPU per request | $(fmt "${CPU[nginx]}" %.2f) µs | $(fmt "${CPU[ferry]}" %.2f) µs | $(fmt "$R_CPU" %.3f) | ≤ 0.60 | $(verdict "$R_CPU" "<=" 0.60) |"
	echo "| 612 B: server core busy per request | $(fmt "${CORE[nginx]}" %.2f) µs | $(fmt "${CORE[ferry]}" %.2f) µs | $(ratio "${CORE[ferry]}" "${CORE[nginx]}") | | |"
	echo "| 612 B: all CPUs busy per request (wrk included) | $(fmt "${ALL[nginx]}" %.2f) µs | $(fmt "${ALL[ferry]}" %.2f) µs | $(ratio "${ALL[ferry]}" "${ALL[nginx]}") | | |"
	echo "| 1 MiB: throughput (wrk -c$BIG_CONNS) | $(fmt "${MBS[nginx]}" %.0f) MB/s | $(fmt "${MBS[ferry]}" %.0f) MB/s | $(fmt "$R_MBS" %.3f) | ≥ 1.00 | $(verdict "$R_MBS" ">=" 1.00) |"
	echo "| 1 MiB: server CPU per request | $(fmt "${BCPU[nginx]}" %.1f) µs | $(fmt "${BCPU[ferry]}" %.1f) µs | $(ratio "${BCPU[ferry]}" "${BCPU[nginx]}") | | |"
	echo "| 1 MiB: server core busy per request | $(fmt "${BCORE[nginx]}" %.1f) µs | $(fmt "${BCORE[ferry]}" %.1f) µs | $(ratio "${BCORE[ferry]}" "${BCORE[nginx]}") | | |"
	echo "| 1 MiB: all CPUs busy per request (wrk included) | $(fmt "${BALL[nginx]}" %.1f) µs | $(fmt "${BALL[ferry]}" %.1f) µs | $(ratio "${BALL[ferry]}" "${BALL[nginx]}") | | |"
	echo "| cold start: connect → first byte, median of $COLD_N | $(fmt "${CS[nginx]}" %.0f) µs | $(fmt "${CS[ferry]}" %.0f) µs | $(ratio "${CS[ferry]}" "${CS[nginx]}") | ferry ≤ 2000 µs | $(verdict "${CS[ferry]}" "<=" 2000) |"
	echo "| idle RSS after startup + first request | $(fmt "${RSS[nginx]}" %d) KiB | $(fmt "${RSS[ferry]}" %d) KiB | $(ratio "${RSS[ferry]}" "${RSS[nginx]}") | ferry ≤ 2048 KiB | $(verdict "${RSS[ferry]}" "<=" 2048) |"
	echo
	echo "- Server CPU = utime+stime of the server's processes, all threads (nginx: master+worker), from /proc/PID/stat before and after each wrk run, divided by the requests wrk completed. Core busy = wall time minus the idle time of CPU $SERVER_CPU (/proc/stat, precise under NO_HZ) over the same span (adds softirq work not charged to the server, and anything else that ran there); all CPUs busy is the same over every CPU, wrk included (loopback moves TCP work between the two cores)."
	echo "- ferry/nginx server CPU per 612-byte request within each round: $CPU_RATIO_RANGE."
	echo "- Errors during load (non-2xx/3xx responses + socket errors, all rounds): nginx $ERRS_N, ferry $ERRS_F."
	echo "- Response head: nginx ${HEAD[nginx]} bytes, ferry ${HEAD[ferry]} bytes (612-byte body)."
	echo "- Cold start: systemd-socket-activate (pinned to CPU $SERVER_CPU) listens; the client (CPU $CLIENT_CPU) times from connect(), which makes it exec the server, to the first response byte. nginx runs master+worker with the socket passed as NGINX=3;, so its figure includes forking the worker."
	echo "- Cold start range (min–max): nginx $(cold_stat nginx minmax) µs, ferry $(cold_stat ferry minmax) µs. The floor on this machine — the same activation of a static 50-line C program that accepts on fd 3 and answers 200 (bench/helper.c respond-fd3) — has a median of $(fmt "${CS[floor]}" %.0f) µs ($(cold_stat floor minmax) µs)."
	echo "- Memory: nginx RSS is master+worker (PSS ${PSS[nginx]} KiB, shared pages counted once); ferry PSS ${PSS[ferry]} KiB."
	echo "  After the load: RSS nginx ${RSS_AFTER[nginx]} KiB, ferry ${RSS_AFTER[ferry]} KiB (peak VmHWM nginx ${HWM_AFTER[nginx]}, ferry ${HWM_AFTER[ferry]} KiB)."
	echo
	if [ "$OLD" = 1 ]; then
		echo "ferry (new) is the table above; ferry (old) is $FERRY_OLD_SRC (sha256 $FERRY_OLD_SHA), measured in the same rounds the same way."
		echo
		old_table
		echo
		echo "- **612 B: server CPU per request, new/old: $(fmt "$R_OLD" %.3f)** (median of the $ROUNDS per-round ratios; target for a refactor < 1.03: $(verdict "$R_OLD" "<" 1.03)). Below 1: the new binary uses less. A difference smaller than the spread of the per-round ratios is not one this run can show: more rounds, or an A/A run (FERRY_OLD=FERRY) for the noise."
		echo
	fi
	echo "<details><summary>Every round</summary>"
	echo
	echo "| server | file | round | req/s | p99 µs | requests | CPU µs/req | core µs/req | all CPUs µs/req | errors | neither server nor wrk, % of a CPU |"
	echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
	awk -v hz="$HZ" '{printf "| %s | %s | %s | %.0f | %.0f | %d | %.2f | %.2f | %.2f | %d | %.1f%s |\n",
		$1, ($2 == "small" ? "612 B" : "1 MiB"), $3, $6, $7, $4,
		$10 * 1e6 / hz / $4, $11 * 1e6 / hz / $4, $13 * 1e6 / hz / $4, $8 + $9, $12,
		($12 > 10 ? " (disturbed)" : "")}' "$RUNS"
	echo
	echo "</details>"
} >"$REPORT"

echo
cat "$REPORT"

if [ "$RECORD" = 1 ]; then
	record_report '<!-- bench:begin (bench/run.sh --record replaces this block) -->' '<!-- bench:end -->'
fi
