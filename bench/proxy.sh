#!/usr/bin/env bash
# Word splitting of PID lists and parsed fields is intended in this script.
# shellcheck disable=SC2046,SC2086,SC2015,SC2016
# ferry's reverse-proxy benchmark against nginx and haproxy. Not a test: it measures and reports.
# (`make bench` runs bench/run.sh, the static-file benchmark; this one is run by hand.)
#
#   bench/proxy.sh [--record]      RECORD=1 is the same as --record
#   FERRY_OLD=/path/to/old/ferry bench/proxy.sh
#                                  also measures a second ferry binary, "ferry (old)", in the same
#                                  run and the same way as FERRY (see below)
#
# The same backend behind every proxy: a second private nginx (one worker, pinned to CPU
# $CLIENT_CPU together with wrk, so that nothing but the proxy runs on CPU $SERVER_CPU) answering
# every request with `return 200` and a fixed 612-byte body (nginx's welcome page, the file of
# bench/run.sh), listening on 127.0.0.1:PORT and on a Unix socket, keep-alive without limit.
# The proxies, each alone on CPU $SERVER_CPU with one worker, keep-alive on both sides:
#   ferry-tcp / ferry-unix   ferry as it ships: its defaults (upstream pool proxy-idle-max 32,
#                            sandbox on, ...) but for the two settings every proxy here gets
#                            (one worker, no access log): workers 1, access-log off,
#                            site * { proxy http://127.0.0.1:PORT | unix:/PATH }. The headline.
#   ferry-tcp-tuned          the same as ferry-tcp plus $FERRY_TUNED (default
#                            "proxy-idle-max $UPSTREAM_IDLE": a pool as large as nginx's), labelled
#                            "tuned" in the report
#   nginx-tcp / nginx-unix   nginx: worker_processes 1, access_log off, proxy_pass to an
#                            upstream { server ...; keepalive $UPSTREAM_IDLE; },
#                            proxy_http_version 1.1, proxy_set_header Connection ""
#   haproxy-tcp              haproxy (Debian's): mode http, nbthread 1, http-reuse always,
#                            run in the foreground (-db) on a private config
#   nginx-demo-tcp           nginx as the demos configure it (nginx-socket-activation.md):
#                            `location / { proxy_pass http://127.0.0.1:PORT; }` and nothing
#                            else, so HTTP/1.0 and a new upstream connection per request
# ($UPSTREAM_IDLE defaults to $CONNS, so that nginx, which keeps no upstream connection without
# `keepalive`, reuses them all; ferry-tcp and ferry-unix keep their default pool of 32.)
# Two ferry binaries: with FERRY_OLD set, every ferry configuration gets a twin NAME-old run by
# that binary with the same configuration file, right after NAME in each round (the order of the
# round reversed every other round, so new and old alternate which goes first). The report adds
# a table "ferry (new) vs ferry (old)": per configuration, both, the ratio of their medians and
# the median (min–max) of the ratios paired within each round, the figure to read. To show that a
# change costs < 3% of CPU per request, use ROUNDS=9 or more on a quiet machine (ONLY=ferry-tcp
# keeps the run short); FERRY_OLD=FERRY (an A/A run) shows the noise of the measure.
# Load: `wrk -t1 -c$CONNS` on CPU $CLIENT_CPU, GET / through each proxy. The configurations
# alternate over $ROUNDS rounds (the order reversed every other round); figures are medians.
# Per configuration: req/s, p99 latency, the proxy's CPU time per request (utime+stime from
# /proc/PID/stat, all threads; nginx: master+worker), the proxy core's busy time per request
# (wall minus the idle time of CPU $SERVER_CPU in /proc/stat: includes the softirq work of
# loopback TCP), the backend's CPU per request, the upstream connections the backend accepted
# during the run (from its stub_status: keep-alive to the backend at work), and errors.
# Before the load: every proxy must answer 200 with a body byte-identical to the backend's; the
# response head sizes are printed.
# Large responses: after the small ones, the configurations of $BIG_CONFIGS fetch a
# $BIG_SIZE-byte file the backend serves with sendfile (GET /big.bin, `wrk -c$BIG_CONNS`),
# $ROUNDS rounds of $BIG_DURATION: throughput and proxy CPU per response.
# With --record the report replaces the block between the bench-proxy markers in
# bench/RESULTS.md (the static block of bench/run.sh is left alone).
#
# Knobs (environment): ROUNDS=3 DURATION=10s WARMUP=2s CONNS=64 UPSTREAM_IDLE=$CONNS SERVER_CPU=1 CLIENT_CPU=0
# FERRY_TUNED="proxy-idle-max $UPSTREAM_IDLE" (directives of ferry-tcp-tuned, `;`-separated,
# e.g. "proxy-idle-max 64; sandbox off")
# BIG_SIZE=1048576 BIG_CONNS=16 BIG_DURATION=5s BIG_CONFIGS="ferry-tcp nginx-tcp haproxy-tcp" (empty: none)
# FERRY=build/ferry FERRY_OLD= (unset: none) NGINX=/usr/sbin/nginx HAPROXY=/usr/sbin/haproxy
# ONLY="ferry-tcp ..." (a subset of the configurations; their -old twins follow FERRY_OLD)
# WAIT_IDLE=60 WAIT_IDLE_RUN=20 (as in bench/run.sh) KEEP_TMP=1.
set -Eeuo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(dirname "$HERE")
# shellcheck source=bench/lib.sh
. "$HERE/lib.sh"

bench_args "$@"

ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-10s}
WARMUP=${WARMUP:-2s}
WAIT_IDLE=${WAIT_IDLE:-60}
WAIT_IDLE_RUN=${WAIT_IDLE_RUN:-20}
CONNS=${CONNS:-64}
# Idle upstream connections kept per proxy worker (nginx `keepalive`; ferry `proxy-idle-max` in
# ferry-tcp-tuned only: ferry's default keeps every connection a finished request leaves;
# haproxy keeps them all). Below CONNS, nginx closes the connections that come back while its
# pool is full and opens new ones.
UPSTREAM_IDLE=${UPSTREAM_IDLE:-$CONNS}
FERRY_TUNED=${FERRY_TUNED:-proxy-idle-max $UPSTREAM_IDLE}
SERVER_CPU=${SERVER_CPU:-1}
CLIENT_CPU=${CLIENT_CPU:-0}
FERRY=${FERRY:-$REPO/build/ferry}
NGINX=${NGINX:-/usr/sbin/nginx}
HAPROXY=${HAPROXY:-/usr/sbin/haproxy}
ALL_CONFIGS="ferry-tcp ferry-tcp-tuned nginx-tcp haproxy-tcp ferry-unix nginx-unix nginx-demo-tcp"
CONFIGS=${ONLY:-$ALL_CONFIGS}
BODY_SIZE=612
BIG_SIZE=${BIG_SIZE:-1048576}
BIG_CONNS=${BIG_CONNS:-16}
BIG_DURATION=${BIG_DURATION:-5s}
BIG_CONFIGS=${BIG_CONFIGS-ferry-tcp nginx-tcp haproxy-tcp}

bench_install_deps /usr/sbin/haproxy:haproxy
[ -x "$HAPROXY" ] || die "$HAPROXY is missing"
for c in $CONFIGS; do
	case " $ALL_CONFIGS " in *" $c "*) ;; *) die "ONLY: unknown configuration '$c' (one of: $ALL_CONFIGS; the -old twins come with FERRY_OLD)" ;; esac
done
bench_setup ferry-bench-proxy "proxy, backend and wrk"
# With FERRY_OLD, each ferry configuration's twin run by the old binary, right after it.
BASE_CONFIGS=$CONFIGS
if [ "$OLD" = 1 ]; then
	with_old=""
	for c in $CONFIGS; do
		with_old+=" $c"
		case $c in ferry-*) with_old+=" $c-old" ;; esac
	done
	CONFIGS=${with_old# }
	with_old=""
	for c in $BIG_CONFIGS; do
		with_old+=" $c"
		case $c in ferry-*) with_old+=" $c-old" ;; esac
	done
	BIG_CONFIGS=${with_old# }
fi

# ---- the backend ------------------------------------------------------------------------------
# nginx's classic welcome page, exactly 612 bytes (the file bench/run.sh serves). It goes
# verbatim into a single-quoted nginx string (checked below).
BODY=$TMP/body.html
welcome_page "$BODY"
[ "$(stat -c %s "$BODY")" = $BODY_SIZE ] || die "the body is not $BODY_SIZE bytes"
head -c "$BIG_SIZE" /dev/urandom >"$TMP/big.bin"
grep -q "[\\\\'\$]" "$BODY" && die "the body cannot be quoted for nginx's return"

declare -A PID PORT LOG
BACKEND_SOCK=$TMP/backend.sock

# Common http{} settings of every private nginx: temp paths inside its prefix, no access log.
nginx_http_common() {
	local dir=$1
	cat <<EOF
    access_log off;
    keepalive_requests 1000000;
    keepalive_timeout 65s;
    client_body_temp_path $dir/tmp/body;
    proxy_temp_path $dir/tmp/proxy;
    fastcgi_temp_path $dir/tmp/fastcgi;
    uwsgi_temp_path $dir/tmp/uwsgi;
    scgi_temp_path $dir/tmp/scgi;
EOF
}

nginx_main_common() {
	local dir=$1
	cat <<EOF
worker_processes 1;
daemon off;
master_process on;
pid $dir/nginx.pid;
error_log $dir/logs/error.log warn;
events {
    worker_connections 4096;
}
EOF
}

backend_conf() {
	local dir=$TMP/backend
	mkdir -p "$dir/logs" "$dir/tmp"
	{
		echo "# Private nginx: the backend of bench/proxy.sh (one worker, fixed 612-byte body)."
		nginx_main_common "$dir"
		echo "http {"
		nginx_http_common "$dir"
		cat <<EOF
    sendfile on;
    server {
        listen 127.0.0.1:${PORT[backend]};
        listen unix:$BACKEND_SOCK;
        location = /big.bin {
            root $TMP;
        }
        location / {
            default_type text/html;
            return 200 '$(cat "$BODY")
';
        }
    }
    server {
        listen 127.0.0.1:${PORT[backend-status]};
        location / { stub_status; }
    }
}
EOF
	} >"$dir/nginx.conf"
}

# nginx_proxy_conf NAME UPSTREAM_SERVER [demo]: a private proxying nginx in $TMP/NAME; with
# demo, the demos' plain proxy_pass (no upstream block, no keep-alive to the backend).
nginx_proxy_conf() {
	local name=$1 server=$2 dir=$TMP/$1
	mkdir -p "$dir/logs" "$dir/tmp"
	if [ "${3:-}" = demo ]; then
		{
			echo "# Private nginx for bench/proxy.sh: the demos' proxy_pass, as it ships."
			nginx_main_common "$dir"
			echo "http {"
			nginx_http_common "$dir"
			cat <<EOF
    server {
        listen 127.0.0.1:${PORT[$name]};
        location / {
            proxy_pass http://$server;
        }
    }
}
EOF
		} >"$dir/nginx.conf"
		return
	fi
	{
		echo "# Private nginx for bench/proxy.sh: reverse proxy, keep-alive to the backend."
		nginx_main_common "$dir"
		echo "http {"
		nginx_http_common "$dir"
		cat <<EOF
    upstream backend {
        server $server;
        keepalive $UPSTREAM_IDLE;
    }
    server {
        listen 127.0.0.1:${PORT[$name]};
        location / {
            proxy_pass http://backend;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
    }
}
EOF
	} >"$dir/nginx.conf"
}

haproxy_conf() {
	local dir=$TMP/haproxy-tcp
	mkdir -p "$dir"
	cat >"$dir/haproxy.cfg" <<EOF
# Private haproxy for bench/proxy.sh: one thread, HTTP mode, keep-alive and reuse to the backend.
global
    nbthread 1
    maxconn 4096
defaults
    mode http
    timeout connect 5s
    timeout client 65s
    timeout server 65s
    timeout http-keep-alive 65s
frontend fe
    bind 127.0.0.1:${PORT[haproxy-tcp]}
    default_backend be
backend be
    http-reuse always
    server backend 127.0.0.1:${PORT[backend]}
EOF
}

# ferry_conf NAME UPSTREAM [EXTRA]: ferry's defaults but for one worker and no access log (as
# every proxy here), plus EXTRA (directives, `;`-separated) for a tuned configuration.
ferry_conf() {
	local name=$1 upstream=$2 extra=${3:-}
	{
		echo "# ferry for bench/proxy.sh: one worker, no access log, proxy to the backend${extra:+, tuned}."
		echo "workers 1"
		echo "access-log off"
		[ -z "$extra" ] || echo "$extra"
		echo "site * { proxy $upstream }"
	} >"$TMP/$name.conf"
}

# The directives of a ferry configuration file on one line, `;`-separated, comments left out.
conf_line() { sed -e 's/#.*//' -e '/^[[:space:]]*$/d' "$1" | paste -sd';' | sed 's/;/; /g'; }

# The binary of a ferry configuration: NAME-old -> FERRY_OLD, else FERRY.
ferry_bin() { case $1 in *-old) echo "$FERRY_OLD" ;; *) echo "$FERRY" ;; esac; }

# The PIDs whose CPU time counts for a server: nginx's master and worker, else the one process.
server_pids() {
	case $1 in
	nginx-* | backend) echo "${PID[$1]}" $(children_of "${PID[$1]}") ;;
	*) echo "${PID[$1]}" ;;
	esac
}

start_all() {
	local s
	PORT[backend]=$(free_port)
	PORT[backend-status]=$(free_port)
	backend_conf
	start_nginx backend "$CLIENT_CPU"
	wait_http "http://127.0.0.1:${PORT[backend]}/" "${PID[backend]}" ||
		server_failed backend "did not answer 200 on 127.0.0.1:${PORT[backend]} within 10 s"
	for s in $CONFIGS; do
		PORT[$s]=$(free_port)
		case $s in
		nginx-tcp)
			nginx_proxy_conf "$s" "127.0.0.1:${PORT[backend]}"
			start_nginx "$s" "$SERVER_CPU"
			;;
		nginx-unix)
			nginx_proxy_conf "$s" "unix:$BACKEND_SOCK"
			start_nginx "$s" "$SERVER_CPU"
			;;
		nginx-demo-tcp)
			nginx_proxy_conf "$s" "127.0.0.1:${PORT[backend]}" demo
			start_nginx "$s" "$SERVER_CPU"
			;;
		haproxy-tcp)
			haproxy_conf
			LOG[$s]=$TMP/$s/haproxy.log
			"$HAPROXY" -c -q -f "$TMP/$s/haproxy.cfg" >"${LOG[$s]}" 2>&1 ||
				server_failed "$s" "haproxy -c failed on $TMP/$s/haproxy.cfg"
			taskset -c "$SERVER_CPU" "$HAPROXY" -f "$TMP/$s/haproxy.cfg" -db >>"${LOG[$s]}" 2>&1 &
			PID[$s]=$!
			STARTED_PIDS+=("${PID[$s]}")
			;;
		ferry-*)
			# NAME-old runs the old binary on NAME's configuration file.
			case ${s%-old} in
			ferry-tcp) ferry_conf "${s%-old}" "http://127.0.0.1:${PORT[backend]}" ;;
			ferry-tcp-tuned) ferry_conf "${s%-old}" "http://127.0.0.1:${PORT[backend]}" "$FERRY_TUNED" ;;
			ferry-unix) ferry_conf "${s%-old}" "unix:$BACKEND_SOCK" ;;
			esac
			"$(ferry_bin "$s")" check "$TMP/${s%-old}.conf" >/dev/null ||
				die "$(ferry_bin "$s") check $TMP/${s%-old}.conf failed"
			LOG[$s]=$TMP/$s.log
			taskset -c "$SERVER_CPU" "$(ferry_bin "$s")" serve --config "$TMP/${s%-old}.conf" \
				--listen "127.0.0.1:${PORT[$s]}" >"${LOG[$s]}" 2>&1 &
			PID[$s]=$!
			STARTED_PIDS+=("${PID[$s]}")
			;;
		esac
	done
	for s in $CONFIGS; do
		wait_http "http://127.0.0.1:${PORT[$s]}/" "${PID[$s]}" ||
			server_failed "$s" "did not answer 200 on 127.0.0.1:${PORT[$s]} within 10 s"
	done
}

# check_response NAME: status 200, a body byte-identical to the backend's; prints the head size.
check_response() {
	local s=$1 out
	out=$(curl -s -o "$TMP/body-$s" -D "$TMP/head-$s" --max-time 5 \
		-w '%{http_code} %{size_download} %{size_header}' "http://127.0.0.1:${PORT[$s]}/")
	set -- $out
	[ "$1" = 200 ] && [ "$2" = "$BODY_SIZE" ] ||
		server_failed "$s" "GET / gave status $1 with $2 body bytes (want 200, $BODY_SIZE)"
	cmp -s "$BODY" "$TMP/body-$s" ||
		server_failed "$s" "the body through $s differs from the backend's (see $TMP/body-$s; KEEP_TMP=1)"
	echo "$3"
}

# Accepted connections and handled requests of the backend, from its stub_status.
backend_counts() {
	curl -s --max-time 2 "http://127.0.0.1:${PORT[backend-status]}/" |
		awk 'f {print $1, $3; exit} /server accepts handled requests/ {f = 1}'
}

RUNS=$TMP/runs.txt # name round requests seconds rps p99_us non2xx sockerr cpu_ticks core_busy_ticks backend_ticks backend_conns backend_reqs cpu0_busy_ticks user_ticks
: >"$RUNS"

# run_wrk NAME ROUND DURATION [PATH CONNS TAG] (ROUND 0 = warm-up, not recorded; TAG, e.g.
# "big", is appended to the name in $RUNS as NAME/TAG)
run_wrk() {
	local s=$1 round=$2 dur=$3 path=${4:-/} conns=${5:-$CONNS} tag=${6:-}
	local out pids bpids c0 c1 u0 u1 k0 k1 z0 z1 b0 b1 t0 t1 busy busy0 parsed worker0 bc0 bc1
	out=$TMP/wrk-$s-$round${tag:+-$tag}.txt
	[ "$round" = 0 ] || wait_quiet "$s round $round"
	pids=$(server_pids "$s")
	worker0=$pids
	bpids=$(server_pids backend)
	bc0=$(backend_counts)
	c0=$(cpu_ticks $pids)
	u0=$(user_ticks $pids)
	b0=$(cpu_ticks $bpids)
	k0=$(core_idle_ticks "$SERVER_CPU")
	z0=$(core_idle_ticks "$CLIENT_CPU")
	t0=$(now_ns)
	taskset -c "$CLIENT_CPU" wrk -t1 -c"$conns" -d"$dur" --latency \
		"http://127.0.0.1:${PORT[$s]}$path" >"$out" 2>&1 ||
		{ cat "$out" >&2; die "wrk failed against $s"; }
	t1=$(now_ns)
	k1=$(core_idle_ticks "$SERVER_CPU")
	z1=$(core_idle_ticks "$CLIENT_CPU")
	c1=$(cpu_ticks $pids)
	u1=$(user_ticks $pids)
	b1=$(cpu_ticks $bpids)
	bc1=$(backend_counts)
	check_after_wrk "$s" "$worker0" "round $round"
	alive "${PID[backend]}" || server_failed backend "the backend died during wrk against $s"
	wrk_result "$out" "$s" "$s round $round"
	parsed=$WRK
	set -- $parsed
	local bconns breqs
	bconns=$(($(cut -d' ' -f1 <<<"$bc1") - $(cut -d' ' -f1 <<<"$bc0") - 1)) # less our status request
	breqs=$(($(cut -d' ' -f2 <<<"$bc1") - $(cut -d' ' -f2 <<<"$bc0") - 1))
	log "$(printf '%-15s round %s: %7.0f req/s  p99 %7.0f us  proxy cpu %6.2f us/req  backend cpu %5.2f us/req  backend conns %d' \
		"$s${tag:+/$tag}" "$round" "$3" "$4" "$(per_req_us $((c1 - c0)) "$1")" "$(per_req_us $((b1 - b0)) "$1")" "$bconns")"
	[ "$round" = 0 ] && return 0
	busy=$(busy_ticks $((t1 - t0)) $((k1 - k0)))
	busy0=$(busy_ticks $((t1 - t0)) $((z1 - z0)))
	echo "$s${tag:+/$tag} $round $parsed $((c1 - c0)) $busy $((b1 - b0)) $bconns $breqs $busy0 $((u1 - u0))" >>"$RUNS"
}

has() { case " $CONFIGS " in *" $1 "*) return 0 ;; esac; return 1; }

# ---- the run ---------------------------------------------------------------------------------------
bench_describe
HAPROXY_VERSION=$("$HAPROXY" -v 2>&1 | awk 'NR == 1 {print $3}')

log "ferry $FERRY_VERSION ($FERRY_REV), nginx $NGINX_VERSION, haproxy $HAPROXY_VERSION; wrk $WRK_VERSION; $NCPU CPUs, $CPU_MODEL, Linux $KERNEL"
[ "$OLD" = 1 ] && log "and $FERRY_OLD_DESC"
log "proxies on CPU $SERVER_CPU, wrk and the backend on CPU $CLIENT_CPU; ROUNDS=$ROUNDS DURATION=$DURATION CONNS=$CONNS"
log "configurations: $CONFIGS"

wait_for_idle

start_all
declare -A HEAD
HEAD[backend]=$(check_response backend)
for s in $CONFIGS; do HEAD[$s]=$(check_response "$s"); done
log "response head bytes (612-byte body, identical through every proxy): backend ${HEAD[backend]}$(for s in $CONFIGS; do printf ', %s %s' "$s" "${HEAD[$s]}"; done)"

log "warm-up ($WARMUP each)"
for s in $CONFIGS; do run_wrk "$s" 0 "$WARMUP"; done
read -r -a ORDER <<<"$CONFIGS"
for ((r = 1; r <= ROUNDS; r++)); do
	if ((r % 2)); then order=("${ORDER[@]}"); else order=(); for ((i = ${#ORDER[@]} - 1; i >= 0; i--)); do order+=("${ORDER[$i]}"); done; fi
	for s in "${order[@]}"; do run_wrk "$s" "$r" "$DURATION"; done
done
for s in $BIG_CONFIGS; do
	has "$s" || continue
	curl -s --max-time 10 -o "$TMP/big-$s" "http://127.0.0.1:${PORT[$s]}/big.bin" &&
		cmp -s "$TMP/big.bin" "$TMP/big-$s" || server_failed "$s" "GET /big.bin through $s differs from the file"
	run_wrk "$s" 0 "$WARMUP" /big.bin "$BIG_CONNS" big
done
read -r -a BIG_ORDER <<<"$BIG_CONFIGS"
for ((r = 1; r <= ROUNDS; r++)); do
	if ((r % 2)); then order=("${BIG_ORDER[@]}"); else order=(); for ((i = ${#BIG_ORDER[@]} - 1; i >= 0; i--)); do order+=("${BIG_ORDER[$i]}"); done; fi
	for s in "${order[@]}"; do has "$s" && run_wrk "$s" "$r" "$BIG_DURATION" /big.bin "$BIG_CONNS" big; done
done
# Still answering correctly after the load?
for s in $CONFIGS; do check_response "$s" >/dev/null; done
declare -A RSS_AFTER
for s in $CONFIGS; do RSS_AFTER[$s]=$(status_kib VmRSS $(server_pids "$s")); done
for s in $CONFIGS; do stop_pid "${PID[$s]}"; done
stop_pid "${PID[backend]}"
LOAD_AFTER=$(cpu_busy_pct 1)
log "CPU busy after the load runs (1 s sample): $LOAD_AFTER"

# ---- the report ----------------------------------------------------------------------------------
# Fields of $RUNS: $1 name $2 round $3 requests $4 seconds $5 rps $6 p99_us $7 non2xx $8 sockerr
# $9 proxy cpu ticks $10 proxy core busy ticks $11 backend ticks $12 backend conns $13 backend
# requests $14 CPU $CLIENT_CPU busy ticks $15 proxy user-space ticks
round_median() {
	awk -v s="$1" -v hz="$HZ" "\$1 == s {print $2}" "$RUNS" | median
}
sum_errors() { awk -v s="$1" '$1 == s {t += $7 + $8} END {print t + 0}' "$RUNS"; }
# Ratios of A's to B's CPU per request paired within each round, one a line: A B [EXPR]
paired() { paired_ratios "$RUNS" '$1' 2 "$1" "$2" "${3:-\$9 / \$3}"; }
# ... and their min–max
paired_range() { paired "$@" | minmax %.3f; }

CPU_EXPR='$9 * 1e6 / hz / $3'
CORE_EXPR='$10 * 1e6 / hz / $3'
BCPU_EXPR='$11 * 1e6 / hz / $3'
CPU0_EXPR='$14 * 1e6 / hz / $3'
USER_EXPR='$15 * 1e6 / hz / $3'
declare -A RPS P99 CPU CORE BCPU BCONN CPU0 ERRS USERCPU
for s in $CONFIGS; do
	RPS[$s]=$(round_median "$s" '$5')
	P99[$s]=$(round_median "$s" '$6')
	CPU[$s]=$(round_median "$s" "$CPU_EXPR")
	CORE[$s]=$(round_median "$s" "$CORE_EXPR")
	BCPU[$s]=$(round_median "$s" "$BCPU_EXPR")
	CPU0[$s]=$(round_median "$s" "$CPU0_EXPR")
	USERCPU[$s]=$(round_median "$s" "$USER_EXPR")
	BCONN[$s]=$(round_median "$s" '$12')
	ERRS[$s]=$(sum_errors "$s")
done
# shellcheck disable=SC2034 # read through the nameref in row()
for s in $ALL_CONFIGS; do has "$s" || { RPS[$s]="" P99[$s]="" USERCPU[$s]="" CPU[$s]="" CORE[$s]="" BCPU[$s]="" CPU0[$s]="" BCONN[$s]="" ERRS[$s]="" RSS_AFTER[$s]="" HEAD[$s]=""; }; done

R_TN=$(ratio "${CPU[ferry-tcp]}" "${CPU[nginx-tcp]}" %.6f)
R_UN=$(ratio "${CPU[ferry-unix]}" "${CPU[nginx-unix]}" %.6f)
R_TH=$(ratio "${CPU[ferry-tcp]}" "${CPU[haproxy-tcp]}" %.6f)
R_TD=$(ratio "${CPU[ferry-tcp]}" "${CPU[nginx-demo-tcp]}" %.6f)
R_TUN=$(ratio "${CPU[ferry-tcp-tuned]}" "${CPU[nginx-tcp]}" %.6f)

# ferry (new) vs ferry (old), with FERRY_OLD: per configuration (and its /big runs), a row for
# each binary and two rows of ratios. old_cells NAME: the cells of one row.
OLD_COLS=("req/s" "p99 latency" "**proxy CPU per request**" "... in user space" "proxy core busy per request" "upstream connections opened per run" "RSS after the load")
old_cells() {
	local s=$1
	printf ' %s |' "$(fmt "$(round_median "$s" '$5')" %.0f)" "$(fmt "$(round_median "$s" '$6')" %.0f) µs" \
		"$(fmt "$(round_median "$s" "$CPU_EXPR")" %.3f) µs" "$(fmt "$(round_median "$s" "$USER_EXPR")" %.3f) µs" \
		"$(fmt "$(round_median "$s" "$CORE_EXPR")" %.3f) µs" "$(fmt "$(round_median "$s" '$12')" %.0f)" \
		"${RSS_AFTER[${s%/big}]:-} KiB"
}
old_ratio_cells() { # NAME: new/old ratio of the medians
	local s=$1 e
	for e in '$5' '$6' "$CPU_EXPR" "$USER_EXPR" "$CORE_EXPR"; do
		printf ' %s |' "$(ratio "$(round_median "$s" "$e")" "$(round_median "${s%/big}-old${s#"${s%/big}"}" "$e")" %.3f)"
	done
	printf ' |'
	printf ' %s |' "$(ratio "${RSS_AFTER[${s%/big}]:-}" "${RSS_AFTER[${s%/big}-old]:-}" %.3f)"
}
old_paired_cells() { # NAME: new/old, median (min–max) of the per-round ratios
	local s=$1 o e
	o=${s%/big}-old${s#"${s%/big}"}
	for e in '$5' '$6' "$CPU_EXPR" "$USER_EXPR" "$CORE_EXPR"; do
		printf ' %s (%s) |' "$(fmt "$(paired "$s" "$o" "$e" | median)" %.3f)" "$(paired "$s" "$o" "$e" | minmax %.3f)"
	done
	printf ' | |'
}
old_table() {
	local s label
	printf '| ferry (new) vs ferry (old) |'
	printf ' %s |' "${OLD_COLS[@]}"
	echo
	printf '|---|'
	printf -- '---:|%.0s' "${OLD_COLS[@]}"
	echo
	for s in $CONFIGS $(for b in $BIG_CONFIGS; do echo "$b/big"; done); do
		case $s in ferry-*-old | ferry-*-old/big | [!f]*) continue ;; esac
		case ${s%/big} in
		ferry-tcp) label="ferry TCP" ;;
		ferry-tcp-tuned) label="ferry TCP, tuned" ;;
		ferry-unix) label="ferry Unix" ;;
		esac
		[ "$s" = "${s%/big}" ] || label="$label, $BIG_SIZE-byte responses"
		printf '| %s (new) |' "$label"
		old_cells "$s"
		echo
		printf '| %s (old) |' "$label"
		old_cells "${s%/big}-old${s#"${s%/big}"}"
		echo
		printf '| %s: new/old, ratio of the medians |' "$label"
		old_ratio_cells "$s"
		echo
		printf '| %s: new/old, median (min–max) of the per-round ratios |' "$label"
		old_paired_cells "$s"
		echo
	done
}

REPORT=$TMP/report.md
{
	echo "### $DATE"
	echo
	echo "Machine: nproc $NCPU, $CPU_MODEL, Linux $KERNEL."
	echo "ferry $FERRY_VERSION ($FERRY_REV), nginx $NGINX_VERSION, haproxy $HAPROXY_VERSION, wrk $WRK_VERSION."
	[ "$OLD" = 1 ] && echo "Also $FERRY_OLD_DESC, with the same configuration files."
	echo "Run: \`ROUNDS=$ROUNDS DURATION=$DURATION CONNS=$CONNS UPSTREAM_IDLE=$UPSTREAM_IDLE FERRY_TUNED=\"$FERRY_TUNED\"$([ "$OLD" = 1 ] && echo " FERRY_OLD=$FERRY_OLD_SRC") bench/proxy.sh\`$([ "$BASE_CONFIGS" = "$ALL_CONFIGS" ] || echo " with ONLY=\"$BASE_CONFIGS\"");"
	echo "each proxy alone on CPU $SERVER_CPU (one worker/thread), \`wrk -t1 -c$CONNS\` and the backend on CPU $CLIENT_CPU; medians over $ROUNDS rounds (order reversed every other round)."
	echo "Backend: a private nginx $NGINX_VERSION, one worker, \`return 200\` with a fixed 612-byte text/html body, on 127.0.0.1 (TCP) and a Unix socket; keep-alive without a request limit."
	echo "Other load on the machine (servers idle): before the run $LOAD_BEFORE, after the load runs $LOAD_AFTER."
	echo
	echo "| | ferry TCP | nginx TCP | haproxy TCP | ferry Unix | nginx Unix | nginx TCP, demo config | ferry TCP, tuned |"
	echo "|---|---:|---:|---:|---:|---:|---:|---:|"
	row() { # LABEL ARRAY FORMAT SUFFIX
		local -n a=$2
		printf '| %s |' "$1"
		for s in ferry-tcp nginx-tcp haproxy-tcp ferry-unix nginx-unix nginx-demo-tcp ferry-tcp-tuned; do
			if [ -n "${a[$s]}" ]; then printf ' %s%s |' "$(fmt "${a[$s]}" "$3")" "$4"; else printf ' – |'; fi
		done
		echo
	}
	row "req/s" RPS %.0f ""
	row "p99 latency" P99 %.0f " µs"
	row "**proxy CPU per request**" CPU %.2f " µs"
	row "... of which in user space (the rest is the kernel's)" USERCPU %.2f " µs"
	row "proxy core (CPU $SERVER_CPU) busy per request" CORE %.2f " µs"
	row "backend CPU per request" BCPU %.2f " µs"
	row "CPU $CLIENT_CPU (wrk + backend) busy per request" CPU0 %.2f " µs"
	row "upstream connections opened per run" BCONN %.0f ""
	row "errors (non-2xx + socket, all rounds)" ERRS %d ""
	row "response head bytes (612-byte body)" HEAD %d ""
	row "RSS after the load" RSS_AFTER %d " KiB"
	echo
	echo "| ratio of proxy CPU per request | value | per round (min–max) | target | |"
	echo "|---|---:|---:|---|---|"
	echo "| ferry / nginx, TCP | $(fmt "$R_TN" %.3f) | $(paired_range ferry-tcp nginx-tcp) | ≤ 1.00 | $(verdict "$R_TN" "<=" 1.00) |"
	echo "| ferry / nginx, Unix socket | $(fmt "$R_UN" %.3f) | $(paired_range ferry-unix nginx-unix) | ≤ 1.00 | $(verdict "$R_UN" "<=" 1.00) |"
	echo "| ferry / haproxy, TCP | $(fmt "$R_TH" %.3f) | $(paired_range ferry-tcp haproxy-tcp) | ≤ 1.00 | $(verdict "$R_TH" "<=" 1.00) |"
	echo "| ferry / nginx as in the demos (no upstream keep-alive), TCP | $(fmt "$R_TD" %.3f) | $(paired_range ferry-tcp nginx-demo-tcp) | ≤ 0.70 | $(verdict "$R_TD" "<=" 0.70) |"
	echo "| ferry / nginx, core busy, TCP | $(ratio "${CORE[ferry-tcp]}" "${CORE[nginx-tcp]}" %.3f) | | | |"
	echo "| ferry / nginx, core busy, Unix socket | $(ratio "${CORE[ferry-unix]}" "${CORE[nginx-unix]}" %.3f) | | | |"
	echo "| ferry / haproxy, core busy, TCP | $(ratio "${CORE[ferry-tcp]}" "${CORE[haproxy-tcp]}" %.3f) | | | |"
	echo "| ferry tuned ($FERRY_TUNED) / nginx, TCP | $(fmt "$R_TUN" %.3f) | $(paired_range ferry-tcp-tuned nginx-tcp) | (not the target's row) | |"
	echo
	if [ -n "$BIG_CONFIGS" ]; then
		echo "| $BIG_SIZE-byte responses (\`wrk -c$BIG_CONNS\`, $BIG_DURATION × $ROUNDS) | ferry TCP | nginx TCP | haproxy TCP | ferry / nginx | ferry / haproxy |"
		echo "|---|---:|---:|---:|---:|---:|"
		big_row() { # LABEL EXPR FORMAT SUFFIX
			local v=() t
			for t in ferry-tcp nginx-tcp haproxy-tcp; do
				if has "$t" && [[ " $BIG_CONFIGS " == *" $t "* ]]; then v+=("$(round_median "$t/big" "$2")"); else v+=(""); fi
			done
			printf '| %s |' "$1"
			for t in 0 1 2; do if [ -n "${v[$t]}" ]; then printf ' %s%s |' "$(fmt "${v[$t]}" "$3")" "$4"; else printf ' – |'; fi; done
			printf ' %s | %s |\n' "$(ratio "${v[0]}" "${v[1]}" %.3f)" "$(ratio "${v[0]}" "${v[2]}" %.3f)"
		}
		big_row "throughput" "\$5 * $BIG_SIZE / 1048576" %.0f " MiB/s"
		big_row "p99 latency" '$6' %.0f " µs"
		big_row "**proxy CPU per response**" "$CPU_EXPR" %.1f " µs"
		big_row "proxy core busy per response" "$CORE_EXPR" %.1f " µs"
		echo
	fi
	echo "- Proxy CPU = utime+stime of the proxy's processes, all threads (nginx: master+worker), from /proc/PID/stat before and after each wrk run, divided by the requests wrk completed. Core busy = wall time minus the idle time of CPU $SERVER_CPU (/proc/stat) over the same span: it adds kernel work on that core not charged to the proxy (softirq) and anything else that ran there; the last column of the per-round table is that excess (core busy less proxy CPU) as a share of the core, and a run where it exceeds 10% is marked disturbed (this machine is shared; the proxy CPU figure, the process's own time, is the least affected)."
	echo "- Every proxy but nginx as in the demos keeps its connections to the backend open: \"upstream connections opened per run\" counts the connections the backend accepted during a measured run (its stub_status), against about $(awk '$1 !~ /\// {t += $13; n++} END {printf "%.0f", t / n}' "$RUNS") requests per run."
	echo "- Configurations. ferry (the headline columns, ferry TCP and ferry Unix): its defaults but for one worker and no access log, as every proxy here: \`$(conf_line "$TMP/ferry-tcp.conf" 2>/dev/null || echo "workers 1; access-log off; site * { proxy http://127.0.0.1:PORT }")\` (or \`proxy unix:PATH\`); so its upstream pool is its default (\`proxy-idle-max auto\`: every connection a finished request leaves is kept) and its sandbox is on. ferry TCP, tuned: the same plus \`$FERRY_TUNED\`. nginx: \`worker_processes 1\`, \`access_log off\`, \`upstream { server ...; keepalive $UPSTREAM_IDLE; }\`, \`proxy_http_version 1.1\`, \`proxy_set_header Connection \"\"\`, otherwise defaults (proxy_buffering on). haproxy: \`nbthread 1\`, \`mode http\`, \`http-reuse always\`, otherwise defaults (idle server connections not limited), run with \`-db\`. nginx as in the demos: only \`location / { proxy_pass http://127.0.0.1:PORT; }\` (the proxy blocks of the nginx socket-activation demo), so HTTP/1.0 to the backend and one new upstream connection per request: the tuned nginx is the fair comparison, this one is what the demo's users run. nginx's idle upstream pool is $UPSTREAM_IDLE for wrk's $CONNS connections, ferry's its default (auto; tuned: $FERRY_TUNED): a pool smaller than the client connections closes the connections that come back to a full pool and opens new ones, and the CPU per request then includes that churn (see the upstream connections row). ferry adds X-Forwarded-For/-Proto/-Host and Forwarded to each upstream request; nginx and haproxy as configured add none."
	echo "- Before the load, a GET through every proxy answered 200 with a body byte-identical to the backend's; each did again after the load."
	echo
	if [ "$OLD" = 1 ]; then
		echo "ferry (new) is the columns above; ferry (old) is $FERRY_OLD_SRC (sha256 $FERRY_OLD_SHA), run on the same configuration files in the same rounds (each -old run right after or before its new twin, alternately)."
		echo
		old_table
		echo
		R_OLD=$(paired ferry-tcp ferry-tcp-old | median)
		has ferry-tcp || R_OLD=""
		echo "- **ferry TCP: proxy CPU per request, new/old: $(fmt "$R_OLD" %.3f)** (median of the per-round ratios; target for a refactor < 1.03: $(verdict "$R_OLD" "<" 1.03)). Below 1: the new binary uses less. A difference smaller than the spread of the per-round ratios is not one this run can show: more rounds, or an A/A run (FERRY_OLD=FERRY) for the noise."
		echo
	fi
	echo "<details><summary>Every round</summary>"
	echo
	echo "| proxy | round | req/s | p99 µs | requests | proxy CPU µs/req | core µs/req | backend CPU µs/req | upstream conns | errors | core busy beyond the proxy, % |"
	echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
	awk -v hz="$HZ" '{o = 100 * ($10 - $9) / ($4 * hz); if (o < 0) o = 0
		printf "| %s | %s | %.0f | %.0f | %d | %.2f | %.2f | %.2f | %d | %d | %.1f%s |\n",
		$1, $2, $5, $6, $3, $9 * 1e6 / hz / $3, $10 * 1e6 / hz / $3, $11 * 1e6 / hz / $3, $12, $7 + $8,
		o, (o > 10 ? " (disturbed)" : "")}' "$RUNS"
	echo
	echo "</details>"
} >"$REPORT"

echo
cat "$REPORT"

if [ "$RECORD" = 1 ]; then
	record_report '<!-- bench-proxy:begin -->' '<!-- bench-proxy:end -->' "## Reverse proxy

Produced by \`bench/proxy.sh --record\` (run by hand; \`make bench\` does not run it): ferry,
nginx and haproxy proxying to the same backend, each alone on one core; see the header of
bench/proxy.sh. Targets from the issue: proxy CPU per request ≤ 0.7× nginx's and ≤ haproxy's."
fi
