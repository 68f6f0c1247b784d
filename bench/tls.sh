#!/usr/bin/env bash
# Word splitting of PID lists and parsed fields is intended in this script.
# shellcheck disable=SC2046,SC2086,SC2015,SC2016
# ferry's TLS and HTTP/2 benchmark against nginx (run by hand). Not a test: it measures and reports.
#
#   bench/tls.sh [--record]        RECORD=1 is the same as --record
#
# Both servers, one worker each, pinned to CPU $SERVER_CPU, serve the same directory (nginx's
# 612-byte welcome page as index.html and a 1 MiB big.bin) over TLS with the same ECDSA P-256
# certificate (made with openssl in the private temp dir), their defaults otherwise:
#   ferry   workers 1, access-log off, `listen https 127.0.0.1:PORT tls`,
#           site * { tls CERT KEY; root DIR } (TLS 1.3 and 1.2, its suites, tickets on)
#   nginx   (Debian's, OpenSSL 3.0) the settings of bench/nginx.conf.in (worker_processes 1,
#           access_log off, sendfile, open_file_cache, keepalive_requests 100000) plus
#           `listen 127.0.0.1:PORT ssl http2`, ssl_certificate, ssl_certificate_key and
#           `ssl_protocols TLSv1.2 TLSv1.3` (ferry's; nginx 1.22's default has no TLS 1.3 but
#           TLS 1 and 1.1); its default suites and session tickets

# The clients run pinned to CPU $CLIENT_CPU. Every client here negotiates TLS 1.3 (the suite and
# group each server chose are printed). Kinds of load, each a measured run per server per round:
#   hs     full TLS 1.3 handshakes: $HS_CONNS bench/tlsclient.c `handshakes` processes (GnuTLS)
#          at once, each making one connection after the other: a full handshake, one GET
#          /index.html with Connection: close, the whole 200 read. wrk cannot measure this: it
#          resumes its TLS session on every new connection (checked below).
#   resume resumed TLS 1.3 handshakes (session tickets, with ECDHE): wrk -t1 -c$HS_CONNS
#          -H 'Connection: close' GET /index.html, which reconnects after each response and
#          offers the ticket it got. Before the rounds the script checks both clients on nginx,
#          whose access log says $ssl_session_reused: tlsclient must resume none (it stops
#          otherwise), and how many wrk resumed is reported.
#   small  612 B on kept-alive TLS connections: wrk -t1 -c$CONNS https://.../index.html
#   big    1 MiB over kept-alive TLS: wrk -t1 -c$BIG_CONNS https://.../big.bin (MB/s)
#   h2     HTTP/2 over TLS (ALPN h2), 612 B: h2load -t1 -c$H2_CONNS -m$H2_STREAMS -D DURATION
# Per run: requests/s, and per request the server's CPU time (utime+stime of its processes,
# all threads; nginx master+worker, from /proc/PID/stat) and the server core's busy time (wall
# minus idle of CPU $SERVER_CPU from /proc/stat). The servers alternate over $ROUNDS rounds
# (ABBA order); figures are medians, and ferry/nginx is also given per round (paired ratios).
# Cold start with TLS: under systemd-socket-activate (pinned to CPU $SERVER_CPU), from connect()
# (which makes it exec the server) to the first byte of the response, $COLD_N times (plus a
# discarded warm-up), alternating: ferry plain HTTP (bench/helper.c first-byte, as bench/run.sh),
# ferry over TLS (bench/tlsclient.c first-byte: a full TLS 1.3 handshake, then GET), nginx plain
# and nginx over TLS (socket passed as NGINX=3;). Reported: each median, and TLS − plain (the
# median of the differences paired within each iteration); beside them, the same TLS first byte
# against the running servers (the handshake's own latency, client side included).
# kTLS: ferry uses kernel TLS only when GnuTLS's system configuration turns it on. With KTLS=auto
# (the default) the script checks the kernel (the `tls` ULP in
# /proc/sys/net/ipv4/tcp_available_ulp; load it with `modprobe tls`) and whether the GnuTLS
# ferry links has kTLS code (Debian 12's 3.7.9 is built without: its ktls.o is a stub); when
# the kernel has it, it adds "ferry-ktls" (GNUTLS_SYSTEM_PRIORITY_FILE pointing at a file with
# `[global] ktls = true`) and "nginx-ktls" (`ssl_conf_command Options KTLS`) to every round, and
# reads /proc/net/tls_stat to tell whether each really used it. Whether kTLS was on, and why
# not, is in the report. KTLS=off skips it; KTLS=on adds the two servers whatever the checks say
# (to check the script where kTLS cannot be on: their rows then say "off").
# With --record the report replaces the block between the bench-tls markers in bench/RESULTS.md.
#
# Knobs (environment): ROUNDS=3 DURATION=10s (each measured run) WARMUP=2s CONNS=64 BIG_CONNS=16
# HS_CONNS=16 H2_CONNS=64 H2_STREAMS=10 COLD_N=20 KTLS=auto|on|off SERVER_CPU=1 CLIENT_CPU=0
# FERRY=build/ferry NGINX=/usr/sbin/nginx WAIT_IDLE=60 WAIT_IDLE_RUN=10 KEEP_TMP=1
set -Eeuo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(dirname "$HERE")
# shellcheck source=bench/lib.sh
. "$HERE/lib.sh"

bench_args "$@"

ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-10s}
WARMUP=${WARMUP:-2s}
CONNS=${CONNS:-64}
BIG_CONNS=${BIG_CONNS:-16}
HS_CONNS=${HS_CONNS:-16}
H2_CONNS=${H2_CONNS:-64}
H2_STREAMS=${H2_STREAMS:-10}
COLD_N=${COLD_N:-20}
KTLS=${KTLS:-auto}
SERVER_CPU=${SERVER_CPU:-1}
CLIENT_CPU=${CLIENT_CPU:-0}
FERRY=${FERRY:-$REPO/build/ferry}
NGINX=${NGINX:-/usr/sbin/nginx}
WAIT_IDLE=${WAIT_IDLE:-60}
WAIT_IDLE_RUN=${WAIT_IDLE_RUN:-10}
SMALL_SIZE=612
BIG_SIZE=1048576
KINDS=(hs resume small big h2)

case $KTLS in auto | off | on) ;; *) die "KTLS must be auto, on or off, not '$KTLS'" ;; esac

bench_install_deps systemd-socket-activate:systemd h2load:nghttp2-client openssl:openssl \
	/usr/include/gnutls/gnutls.h:libgnutls28-dev
bench_setup ferry-bench-tls "servers and clients"
TLSCLIENT=$(build_tlsclient)

# ---- the files and the certificate --------------------------------------------------------------
WWW=$TMP/www
mkdir -p "$WWW"
welcome_page "$WWW/index.html"
[ "$(stat -c %s "$WWW/index.html")" = $SMALL_SIZE ] || die "index.html is not $SMALL_SIZE bytes"
head -c $BIG_SIZE /dev/urandom >"$WWW/big.bin"
chmod 755 "$WWW"
chmod 644 "$WWW"/*
make_cert "$TMP/cert.pem" "$TMP/key.pem"

# ---- kTLS: can it be on here? -----------------------------------------------------------------------
# Sets KTLS_ON (1: add the -ktls servers) and KTLS_WHY (what stops it, for the report).
KTLS_ON=0 KTLS_WHY=""
ktls_probe() {
	local why=() lib
	# (grep without -q: with pipefail, a grep that stops early makes its writer fail)
	if [ "$KTLS" = off ]; then
		KTLS_WHY="not measured (KTLS=off)"
		return 0
	fi
	if ! grep -qw tls /proc/sys/net/ipv4/tcp_available_ulp 2>/dev/null; then
		if [ -r /proc/config.gz ] && zcat /proc/config.gz | grep '^# CONFIG_TLS is not set' >/dev/null; then
			why+=("this kernel ($(uname -r)) is built without kernel TLS (CONFIG_TLS is not set)")
		else
			why+=("the kernel's tls module is not loaded (no \`tls\` in /proc/sys/net/ipv4/tcp_available_ulp; \`modprobe tls\` as root)")
		fi
	fi
	lib=$(pkg-config --variable=libdir gnutls 2>/dev/null || true)/libgnutls.a
	if [ -f "$lib" ] && ar p "$lib" ktls.o >"$TMP/ktls.o" 2>/dev/null &&
		! nm "$TMP/ktls.o" 2>/dev/null | grep ' U setsockopt' >/dev/null; then
		why+=("the GnuTLS ferry links ($lib, $(pkg-config --modversion gnutls)) is built without kTLS: its ktls.o is a stub whose gnutls_transport_is_ktls_enabled() always returns 0, so \`[global] ktls = true\` in its system configuration cannot turn it on")
	fi
	if [ "$KTLS" = on ] || grep -qw tls /proc/sys/net/ipv4/tcp_available_ulp 2>/dev/null; then
		KTLS_ON=1 # measured even if the library looks kTLS-less: /proc/net/tls_stat tells
	fi
	KTLS_WHY=$(printf '%s; ' "${why[@]}" | sed 's/; $//')
	[ ${#why[@]} -gt 0 ] || KTLS_WHY="the kernel has the tls ULP and GnuTLS has kTLS code"
}
ktls_probe
printf '[global]\nktls = true\n' >"$TMP/gnutls-ktls.config"

# kTLS records the kernel has handled so far (0 without the tls module).
tls_stat_tx() { awk '$1 == "TlsTxSw" || $1 == "TlsTxDevice" {n += $2} END {print n + 0}' /proc/net/tls_stat 2>/dev/null || echo 0; }

# ---- the servers --------------------------------------------------------------------------------------
declare -A PID PORT LOG KTLS_USED
SERVERS=(nginx ferry)
[ "$KTLS_ON" = 1 ] && SERVERS+=(nginx-ktls ferry-ktls)

server_pids() {
	case $1 in
	ferry*) echo "${PID[$1]}" ;;
	nginx*) echo "${PID[$1]}" $(children_of "${PID[$1]}") ;;
	esac
}

# ferry_conf FILE PORT: ferry's configuration (the same for the load and, with the socket passed
# under the name https, for the TLS cold start).
ferry_conf() {
	cat >"$1" <<EOF
# ferry for bench/tls.sh: its defaults but for one worker and no access log.
workers 1
access-log off
listen https 127.0.0.1:$2 tls
site * {
    tls $TMP/cert.pem $TMP/key.pem
    root $WWW
}
EOF
}

# nginx_conf DIR PORT [ssl] [ktls] [resume-log PORT2]: a private prefix DIR for 127.0.0.1:PORT
# (with ssl: TLS and HTTP/2 on it; ktls: `ssl_conf_command Options KTLS`; resume-log: a second
# TLS server on PORT2 whose access log says whether each TLS session was resumed).
nginx_conf() {
	local dir=$1 port=$2 ssl="" extra="" a
	shift 2
	mkdir -p "$dir/logs" "$dir/tmp"
	while [ $# -gt 0 ]; do
		case $1 in
		ssl) ssl=1 ;;
		ktls) extra+="        ssl_conf_command Options KTLS;"$'\n' ;;
		resume-log)
			a=$2
			shift
			;;
		esac
		shift
	done
	{
		sed -e "s|@PREFIX@|$dir|g" -e "s|@PORT@|$port${ssl:+ ssl http2}|g" -e "s|@ROOT@|$WWW|g" \
			"$HERE/nginx.conf.in" | head -n -2 # without the closing braces of server and http
		if [ -n "$ssl" ]; then
			printf '        ssl_certificate %s;\n        ssl_certificate_key %s;\n%s%s' \
				"$TMP/cert.pem" "$TMP/key.pem" "        ssl_protocols TLSv1.2 TLSv1.3;"$'\n' "$extra"
		fi
		echo "    }"
		if [ -n "${a:-}" ]; then
			cat <<EOF
    log_format resume '\$ssl_session_reused \$ssl_protocol \$ssl_cipher \$ssl_curve';
    server {
        listen 127.0.0.1:$a ssl;
        ssl_certificate $TMP/cert.pem;
        ssl_certificate_key $TMP/key.pem;
        ssl_protocols TLSv1.2 TLSv1.3;
        root $WWW;
        access_log $dir/logs/resume.log resume;
    }
EOF
		fi
		echo "}"
	} >"$dir/nginx.conf"
}

start_servers() {
	local s
	for s in "${SERVERS[@]}"; do
		PORT[$s]=$(free_port)
		case $s in
		nginx)
			PORT[resume]=$(free_port)
			nginx_conf "$TMP/$s" "${PORT[$s]}" ssl resume-log "${PORT[resume]}"
			start_nginx "$s" "$SERVER_CPU"
			;;
		nginx-ktls)
			nginx_conf "$TMP/$s" "${PORT[$s]}" ssl ktls
			start_nginx "$s" "$SERVER_CPU"
			;;
		ferry | ferry-ktls)
			ferry_conf "$TMP/$s.conf" "${PORT[$s]}"
			"$FERRY" check "$TMP/$s.conf" >/dev/null || die "ferry check $TMP/$s.conf failed"
			LOG[$s]=$TMP/$s.log
			if [ $s = ferry-ktls ]; then
				GNUTLS_SYSTEM_PRIORITY_FILE=$TMP/gnutls-ktls.config taskset -c "$SERVER_CPU" \
					"$FERRY" serve --config "$TMP/$s.conf" >"${LOG[$s]}" 2>&1 &
			else
				taskset -c "$SERVER_CPU" "$FERRY" serve --config "$TMP/$s.conf" >"${LOG[$s]}" 2>&1 &
			fi
			PID[$s]=$!
			STARTED_PIDS+=("${PID[$s]}")
			;;
		esac
	done
	for s in "${SERVERS[@]}"; do
		wait_http "https://127.0.0.1:${PORT[$s]}/index.html" "${PID[$s]}" ||
			server_failed "$s" "did not answer 200 over TLS on 127.0.0.1:${PORT[$s]} within 10 s"
	done
}

# What each server sends over TLS: 200 with the whole file, over HTTP/1.1 and HTTP/2.
check_responses() {
	local s=$1 path size ver out
	for path in /index.html:$SMALL_SIZE /big.bin:$BIG_SIZE; do
		size=${path#*:} path=${path%%:*}
		for ver in --http1.1 --http2; do
			out=$(curl -sk $ver -o /dev/null --max-time 5 -w '%{http_code} %{size_download} %{http_version}' \
				"https://127.0.0.1:${PORT[$s]}$path")
			[ "$out" = "200 $size $([ $ver = --http2 ] && echo 2 || echo 1.1)" ] ||
				server_failed "$s" "curl $ver GET $path gave '$out' (want 200, $size bytes)"
		done
	done
}

# What OpenSSL's client (wrk's library) negotiates: "TLSv1.3 TLS_AES_256_GCM_SHA384 X25519".
negotiated() {
	timeout 10 openssl s_client -connect "127.0.0.1:$1" -servername localhost </dev/null 2>/dev/null |
		awk '/^New, / {p = $2; sub(/,$/, "", p); c = $NF} /^Server Temp Key:/ {k = $4; sub(/,$/, "", k)}
			/^Protocol *:/ {p = $3} /^ *Cipher *:/ {c = $3}
			END {print p, c, k}'
}

# resumed LOG: "R of N resumed (PROTOCOL SUITE GROUP, ...)" from the resume-log server's log.
resumed() {
	local n r
	n=$(wc -l <"$1")
	r=$(awk '$1 != "."' "$1" | wc -l)
	echo "$r of $n resumed ($(awk '{print $2, $3, $4}' "$1" | sort -u | paste -sd, - | sed 's/,/, /g'))"
}

# Against nginx's resume-log server (nginx logs "." for a new TLS session, "r" for a resumed
# one), 1 s of each client with Connection: close: tlsclient must resume none (the hs rows are
# full handshakes); wrk's figure says what its resume rows are.
check_resumption() {
	local log=$TMP/nginx/logs/resume.log out=$TMP/resume-check.txt n
	taskset -c "$CLIENT_CPU" "$TLSCLIENT" handshakes 127.0.0.1 "${PORT[resume]}" /index.html 1 >"$out" 2>&1 ||
		{ cat "$out" >&2; die "tlsclient handshakes failed against nginx's resume-log server"; }
	sleep 0.2
	n=$(wc -l <"$log")
	[ "$n" -gt 10 ] || die "nginx logged only $n requests from tlsclient handshakes"
	[ "$(awk '$1 != "."' "$log" | wc -l)" = 0 ] || die "nginx resumed TLS sessions of tlsclient: $(resumed "$log")"
	RESUME_CHECK="tlsclient (hs rows): $(resumed "$log")"
	: >"$log"
	taskset -c "$CLIENT_CPU" wrk -t1 -c2 -d1s -H 'Connection: close' \
		"https://127.0.0.1:${PORT[resume]}/index.html" >"$out" 2>&1 ||
		{ cat "$out" >&2; die "wrk failed against nginx's resume-log server"; }
	sleep 0.2
	RESUME_CHECK+="; wrk with Connection: close (resume rows): $(resumed "$log")"
	log "resumption check, 1 s each against nginx: $RESUME_CHECK"
}

# DURATION in seconds (wrk's 10s, 1m, or a bare number).
dur_s() { awk -v d="$1" 'BEGIN {n = d + 0; if (d ~ /m$/) n *= 60; if (d ~ /h$/) n *= 3600; print n}'; }

# hs_load URL DURATION: HS_CONNS tlsclient handshakes at once; prints their sum in parse_wrk's
# form ("requests seconds rps 0 0 failed"); fails when a session was resumed. What the clients
# said on stderr goes to $TMP/hs-errors.txt.
hs_load() {
	local j pids=() out=$TMP/hs.out sum
	for ((j = 0; j < HS_CONNS; j++)); do
		taskset -c "$CLIENT_CPU" "$TLSCLIENT" handshakes 127.0.0.1 "${1##*:}" /index.html "$(dur_s "$2")" \
			>"$out.$j" 2>>"$TMP/hs-errors.txt" &
		pids+=($!)
	done
	for j in "${pids[@]}"; do wait "$j" || true; done
	sum=$(cat "$out".* | awk '/^handshakes / {n += $2; r += $4; f += $6; if ($8 > s) s = $8}
		END {printf "%d %.3f %.1f 0 0 %d %d\n", n, s, s ? n / s : 0, f, r}')
	rm -f "$out".*
	set -- $sum
	[ "$7" = 0 ] || { echo "tlsclient: $7 sessions resumed" >&2; return 1; }
	echo "$1 $2 $3 $4 $5 $6"
}

# ---- the load runs ---------------------------------------------------------------------------------
COLD=$TMP/cold.txt # what i microseconds (cold starts, and the -warm first bytes)
: >"$COLD"
RUNS=$TMP/runs.txt # server kind round requests seconds rps p99_us non2xx errors cpu_ticks core_busy_ticks rest_pct
: >"$RUNS"

# parse_h2load: "requests seconds rps 0 failed errored" (the fields of parse_wrk; no p99)
parse_h2load() {
	awk '/^finished in / {s = $3; sub(/s,$/, "", s); rps = $4}
		/^requests: / {ok = $8; failed = $10 + $12 + $14}
		/^status codes: / {non2xx = $5 + $7 + $9}
		END {printf "%d %.3f %.1f 0 %d %d\n", ok, s, rps, non2xx, failed}'
}

# run_load SERVER KIND ROUND DURATION  (ROUND 0 = warm-up, not recorded)
run_load() {
	local s=$1 kind=$2 round=$3 dur=$4 url out pids c0 c1 k0 k1 a0 a1 w0 w1 t0 t1 busy rest_pct parsed x0 x1
	url="https://127.0.0.1:${PORT[$s]}"
	out=$TMP/load-$s-$kind-$round.txt
	[ "$round" = 0 ] || wait_quiet "$s $kind round $round"
	pids=$(server_pids "$s")
	x0=$(tls_stat_tx)
	c0=$(cpu_ticks $pids)
	k0=$(core_idle_ticks "$SERVER_CPU")
	w0=$(children_ticks)
	a0=$(all_idle_ticks)
	t0=$(now_ns)
	case $kind in
	hs) hs_load "$url" "$dur" ;;
	resume) taskset -c "$CLIENT_CPU" wrk -t1 -c"$HS_CONNS" -d"$dur" --latency -H 'Connection: close' "$url/index.html" ;;
	small) taskset -c "$CLIENT_CPU" wrk -t1 -c"$CONNS" -d"$dur" --latency "$url/index.html" ;;
	big) taskset -c "$CLIENT_CPU" wrk -t1 -c"$BIG_CONNS" -d"$dur" --latency "$url/big.bin" ;;
	h2) taskset -c "$CLIENT_CPU" h2load -t1 -c"$H2_CONNS" -m"$H2_STREAMS" -D "$dur" "$url/index.html" ;;
	esac >"$out" 2>&1 || { cat "$out" >&2; die "the $kind client failed against $s"; }
	t1=$(now_ns)
	k1=$(core_idle_ticks "$SERVER_CPU")
	a1=$(all_idle_ticks)
	w1=$(children_ticks)
	c1=$(cpu_ticks $pids)
	x1=$(tls_stat_tx)
	[ "$x1" -gt "$x0" ] && KTLS_USED[$s]=1
	rest_pct=$(awk -v t=$((t1 - t0)) -v i=$((a1 - a0)) -v h="$HZ" -v n="$NCPU" -v c=$((c1 - c0)) \
		-v w=$((w1 - w0)) 'BEGIN {wall = t / 1e9 * h; r = 100 * (n * wall - i - c - w) / wall
		printf "%.1f", r < 0 ? 0 : r}')
	check_after_wrk "$s" "$pids" "$kind, round $round"
	if [ $kind = hs ]; then
		parsed=$(cat "$out")
		set -- $parsed
		[ "$1" -gt 0 ] || die "tlsclient completed no handshake against $s"
		[ "$6" = 0 ] || { log "warning: $s hs round $round: $6 connections failed:"; sort "$TMP/hs-errors.txt" | uniq -c | sort -rn | head -n 5 >&2; }
		: >"$TMP/hs-errors.txt"
	elif [ $kind = h2 ]; then
		parsed=$(parse_h2load <"$out")
		set -- $parsed
		[ "$1" -gt 0 ] || { cat "$out" >&2; die "h2load completed no request against $s"; }
		{ [ "$5" = 0 ] && [ "$6" = 0 ]; } || log "warning: $s h2 round $round: $5 non-2xx, $6 failed/errored/timed out"
	else
		wrk_result "$out" "$s ($kind)" "$s $kind round $round"
		parsed=$WRK
	fi
	set -- $parsed
	log "$(printf '%-10s %-5s round %s: %9.0f req/s  cpu %7.2f us/req  CPU used by neither server nor client %5.1f%% of a CPU' \
		"$s" "$kind" "$round" "$3" "$(per_req_us $((c1 - c0)) "$1")" "$rest_pct")"
	[ "$round" = 0 ] && return 0
	busy=$(busy_ticks $((t1 - t0)) $((k1 - k0)))
	echo "$s $kind $round $parsed $((c1 - c0)) $busy $rest_pct" >>"$RUNS"
}

# ---- cold start ------------------------------------------------------------------------------------

# cold_one ferry-plain|ferry-tls|nginx-plain|nginx-tls I
cold_one() {
	local what=$1 i=$2 port pid us cmd=() env=() log client=()
	port=$(free_port)
	log=$TMP/cold-$what.log
	case $what in
	ferry-plain)
		cmd=("$FERRY" serve --config "$TMP/ferry-plain.conf")
		client=("$HELPER" first-byte)
		;;
	ferry-tls)
		env=(--fdname=https)
		cmd=("$FERRY" serve --config "$TMP/ferry.conf")
		client=("$TLSCLIENT" first-byte)
		;;
	nginx-plain | nginx-tls)
		if [ $what = nginx-tls ]; then
			nginx_conf "$TMP/nginx-cold" "$port" ssl
			client=("$TLSCLIENT" first-byte)
		else
			nginx_conf "$TMP/nginx-cold" "$port"
			client=("$HELPER" first-byte)
		fi
		env=(-E "NGINX=3;")
		cmd=("$NGINX" -p "$TMP/nginx-cold" -c "$TMP/nginx-cold/nginx.conf" -e "$TMP/nginx-cold/logs/error.log")
		;;
	esac
	taskset -c "$SERVER_CPU" systemd-socket-activate -l "127.0.0.1:$port" "${env[@]}" -- \
		"${cmd[@]}" >>"$log" 2>&1 &
	pid=$!
	STARTED_PIDS+=("$pid")
	wait_listening "$port" || { tail "$log" >&2; die "systemd-socket-activate did not listen on $port"; }
	sleep 0.05 # let it reach its poll(); the connect below is what makes it exec the server
	if ! us=$(taskset -c "$CLIENT_CPU" "${client[@]}" 127.0.0.1 "$port" /index.html); then
		tail -n 20 "$log" >&2
		die "$what under systemd-socket-activate gave no 200 response"
	fi
	stop_pid "$pid"
	[ "$i" = 0 ] || echo "$what $i $us" >>"$COLD"
}

# ---- the run ---------------------------------------------------------------------------------------
bench_describe
H2LOAD_VERSION=$(h2load --version 2>&1 | awk '{print $2; exit}')
OPENSSL_VERSION=$(openssl version | awk '{print $2}')
GNUTLS_VERSION=$(pkg-config --modversion gnutls 2>/dev/null || echo "?")
log "ferry $FERRY_VERSION ($FERRY_REV, GnuTLS $GNUTLS_VERSION) vs nginx $NGINX_VERSION (OpenSSL $OPENSSL_VERSION); wrk $WRK_VERSION, h2load $H2LOAD_VERSION; $NCPU CPUs, $CPU_MODEL, Linux $KERNEL"
log "servers on CPU $SERVER_CPU, clients on CPU $CLIENT_CPU; ROUNDS=$ROUNDS DURATION=$DURATION COLD_N=$COLD_N"
log "kTLS: $([ "$KTLS_ON" = 1 ] && echo "measured (ferry-ktls, nginx-ktls)" || echo "not measured"): $KTLS_WHY"

wait_for_idle

start_servers
declare -A NEG
for s in "${SERVERS[@]}"; do
	check_responses "$s"
	NEG[$s]=$(negotiated "${PORT[$s]}")
	log "$s: OpenSSL's client negotiates ${NEG[$s]}"
done
check_resumption
# The same TLS first byte on the running (warm) servers: the handshake's own latency, to tell it
# from the start-up in the cold-start figures.
for ((i = 1; i <= COLD_N; i++)); do
	for s in nginx ferry; do
		us=$(taskset -c "$CLIENT_CPU" "$TLSCLIENT" first-byte 127.0.0.1 "${PORT[$s]}" /index.html) ||
			server_failed "$s" "tlsclient first-byte failed"
		echo "$s-warm $i $us" >>"$COLD"
	done
done

log "warm-up ($WARMUP each)"
for s in "${SERVERS[@]}"; do
	for k in "${KINDS[@]}"; do run_load "$s" "$k" 0 "$WARMUP"; done
done
for ((r = 1; r <= ROUNDS; r++)); do
	order=()
	if ((r % 2)); then order=("${SERVERS[@]}"); else for ((i = ${#SERVERS[@]} - 1; i >= 0; i--)); do order+=("${SERVERS[$i]}"); done; fi
	for k in "${KINDS[@]}"; do
		for s in "${order[@]}"; do run_load "$s" "$k" "$r" "$DURATION"; done
	done
done
declare -A RSS_AFTER
for s in "${SERVERS[@]}"; do RSS_AFTER[$s]=$(status_kib VmRSS $(server_pids "$s")); done
for s in "${SERVERS[@]}"; do stop_pid "${PID[$s]}"; done
LOAD_AFTER=$(cpu_busy_pct 1)
log "CPU busy after the load runs (1 s sample): $LOAD_AFTER"

printf 'workers 1\naccess-log off\nsite * {\n    root %s\n}\n' "$WWW" >"$TMP/ferry-plain.conf"
log "cold start: $COLD_N + 1 warm-up each, alternating ferry plain, ferry TLS, nginx plain, nginx TLS"
for ((i = 0; i <= COLD_N; i++)); do
	for w in ferry-plain ferry-tls nginx-plain nginx-tls; do cold_one "$w" "$i"; done
done

# ---- the report ----------------------------------------------------------------------------------
# round_median SERVER KIND EXPR: the median over rounds of an awk expression of a run's fields
# ($4 requests, $5 seconds, $6 rps, $8 non2xx, $9 errors, $10 cpu ticks, $11 core busy ticks)
round_median() {
	awk -v s="$1" -v k="$2" -v hz="$HZ" -v big=$BIG_SIZE "\$1 == s && \$2 == k {print $3}" "$RUNS" | median
}
CPU_EXPR='$10 * 1e6 / hz / $4'
CORE_EXPR='$11 * 1e6 / hz / $4'
MBS_EXPR='$4 * big / $5 / 1e6'
pr() { paired_ratios "$RUNS" '$1 "/" $2' 3 "$1/$3" "$2/$3" "$4"; } # A B KIND EXPR
cold_med() { awk -v w="$1" '$1 == w {print $3}' "$COLD" | median; }
cold_range() { awk -v w="$1" '$1 == w {print $3}' "$COLD" | minmax; }
# The TLS − plain difference of one server, paired within each iteration.
cold_diff() { awk -v a="$1-tls" -v b="$1-plain" '{v[$1, $2] = $3; n[$2] = 1}
	END {for (i in n) if ((a, i) in v && (b, i) in v) print v[a, i] - v[b, i]}' "$COLD"; }

declare -A M
for s in "${SERVERS[@]}"; do
	for k in "${KINDS[@]}"; do
		M[$s.$k.rps]=$(round_median "$s" "$k" '$6')
		M[$s.$k.cpu]=$(round_median "$s" "$k" "$CPU_EXPR")
		M[$s.$k.core]=$(round_median "$s" "$k" "$CORE_EXPR")
	done
	M[$s.big.mbs]=$(round_median "$s" big "$MBS_EXPR")
	M[$s.errors]=$(awk -v s="$s" '$1 == s {t += $8 + $9} END {print t + 0}' "$RUNS")
done
for w in ferry-plain ferry-tls nginx-plain nginx-tls ferry-warm nginx-warm; do M[cold.$w]=$(cold_med "$w"); done
M[cold.ferry.diff]=$(cold_diff ferry | median)
M[cold.nginx.diff]=$(cold_diff nginx | median)

# row LABEL VALUE_NGINX VALUE_FERRY FORMAT UNIT [OP TARGET]: one table row, with ferry/nginx (the
# ratio of the medians) and, with a target, its verdict.
row() {
	local label=$1 vn=$2 vf=$3 f=$4 unit=$5 op=${6:-} target=${7:-} r shown
	r=$(ratio "$vf" "$vn" %.6f)
	shown=$(sed 's/<=/≤/; s/>=/≥/' <<<"$op")
	printf '| %s | %s%s | %s%s | %s | %s | %s |\n' "$label" "$(fmt "$vn" "$f")" "$unit" "$(fmt "$vf" "$f")" "$unit" \
		"$(fmt "$r" %.3f)" "${op:+$shown $target}" "$([ -z "$op" ] || verdict "$r" "$op" "$target")"
}
# Spread of ferry/nginx within rounds: "median (min–max)" for KIND and EXPR.
spread() { echo "$(fmt "$(pr "$1" "$2" "$3" "$4" | median)" %.3f) ($(pr "$1" "$2" "$3" "$4" | minmax %.3f))"; }

ktls_state() { # SERVER: "on" or "off" as /proc/net/tls_stat saw it
	if [ "${KTLS_USED[$1]:-0}" = 1 ]; then echo on; else echo off; fi
}

REPORT=$TMP/report.md
{
	echo "### $DATE"
	echo
	echo "Machine: nproc $NCPU, $CPU_MODEL, Linux $KERNEL."
	echo "ferry $FERRY_VERSION ($FERRY_REV; GnuTLS $GNUTLS_VERSION linked in), nginx $NGINX_VERSION (OpenSSL $OPENSSL_VERSION), wrk $WRK_VERSION, h2load $H2LOAD_VERSION."
	echo "Run: \`ROUNDS=$ROUNDS DURATION=$DURATION CONNS=$CONNS BIG_CONNS=$BIG_CONNS HS_CONNS=$HS_CONNS H2_CONNS=$H2_CONNS H2_STREAMS=$H2_STREAMS COLD_N=$COLD_N KTLS=$KTLS bench/tls.sh\`;"
	echo "servers (one worker each) on CPU $SERVER_CPU, the clients on CPU $CLIENT_CPU; medians over $ROUNDS rounds (ABBA order)."
	echo "Same ECDSA P-256 certificate for both; negotiated by OpenSSL's client (wrk's library): nginx ${NEG[nginx]}, ferry ${NEG[ferry]}."
	echo "Other load on the machine: before the run $LOAD_BEFORE, after the load runs $LOAD_AFTER; CPU used by neither server nor client during a load run: median $(awk '{print $12}' "$RUNS" | median)%, at most $(awk 'BEGIN {m = 0} $12 > m {m = $12} END {print m}' "$RUNS")% of a CPU."
	echo
	echo "| | nginx | ferry | ferry/nginx | target | |"
	echo "|---|---:|---:|---:|---|---|"
	row "full TLS 1.3 handshake ($HS_CONNS tlsclient, a new connection per GET): handshakes/s" "${M[nginx.hs.rps]}" "${M[ferry.hs.rps]}" %.0f ""
	row "full TLS 1.3 handshake: server CPU per handshake (+ its GET)" "${M[nginx.hs.cpu]}" "${M[ferry.hs.cpu]}" %.1f " µs" "<=" 1.0
	row "full TLS 1.3 handshake: server core busy per handshake" "${M[nginx.hs.core]}" "${M[ferry.hs.core]}" %.1f " µs"
	row "resumed TLS 1.3 handshake (wrk -c$HS_CONNS, Connection: close): handshakes/s" "${M[nginx.resume.rps]}" "${M[ferry.resume.rps]}" %.0f ""
	row "resumed TLS 1.3 handshake: server CPU per handshake (+ its GET)" "${M[nginx.resume.cpu]}" "${M[ferry.resume.cpu]}" %.1f " µs"
	row "612 B, kept-alive TLS (wrk -c$CONNS): req/s" "${M[nginx.small.rps]}" "${M[ferry.small.rps]}" %.0f ""
	row "612 B, kept-alive TLS: server CPU per request" "${M[nginx.small.cpu]}" "${M[ferry.small.cpu]}" %.2f " µs" "<=" 0.8
	row "612 B, kept-alive TLS: server core busy per request" "${M[nginx.small.core]}" "${M[ferry.small.core]}" %.2f " µs"
	row "1 MiB over TLS (wrk -c$BIG_CONNS): throughput" "${M[nginx.big.mbs]}" "${M[ferry.big.mbs]}" %.0f " MB/s" ">=" 1.2
	row "1 MiB over TLS: server CPU per response" "${M[nginx.big.cpu]}" "${M[ferry.big.cpu]}" %.0f " µs"
	row "HTTP/2 over TLS, 612 B (h2load -c$H2_CONNS -m$H2_STREAMS): req/s" "${M[nginx.h2.rps]}" "${M[ferry.h2.rps]}" %.0f ""
	row "HTTP/2 over TLS: server CPU per request" "${M[nginx.h2.cpu]}" "${M[ferry.h2.cpu]}" %.2f " µs" "<=" 0.8
	row "HTTP/2 over TLS: server core busy per request" "${M[nginx.h2.core]}" "${M[ferry.h2.core]}" %.2f " µs"
	row "cold start, plain HTTP: connect → first byte, median of $COLD_N" "${M[cold.nginx-plain]}" "${M[cold.ferry-plain]}" %.0f " µs"
	row "cold start over TLS (full handshake included)" "${M[cold.nginx-tls]}" "${M[cold.ferry-tls]}" %.0f " µs"
	row "for comparison, a warm server: TLS connect → first byte (the handshake's latency), median of $COLD_N" "${M[cold.nginx-warm]}" "${M[cold.ferry-warm]}" %.0f " µs"
	printf '| cold start: TLS − plain (median of the paired differences) | %s µs | %s µs | | ferry ≤ 2000 µs | %s |\n' \
		"$(fmt "${M[cold.nginx.diff]}" %.0f)" "$(fmt "${M[cold.ferry.diff]}" %.0f)" "$(verdict "${M[cold.ferry.diff]}" "<=" 2000)"
	echo
	echo "- ferry/nginx paired within each round, median (min–max): handshake CPU $(spread ferry nginx hs "$CPU_EXPR"); kept-alive 612 B CPU $(spread ferry nginx small "$CPU_EXPR"); 1 MiB throughput $(spread ferry nginx big '$4 / $5'); HTTP/2 CPU $(spread ferry nginx h2 "$CPU_EXPR")."
	echo "- Server CPU = utime+stime of the server's processes (nginx: master+worker), all threads, per completed request; core busy = wall − idle of CPU $SERVER_CPU over the run (softirq and anything else that ran there included). In the handshake rows every request is a new TCP connection with a TLS 1.3 handshake (full: ECDHE and the ECDSA P-256 signature; resumed: ECDHE and a ticket) and one 612-byte GET."
	echo "- TLS sessions resumed, checked against nginx (its \$ssl_session_reused) for 1 s each before the rounds: $RESUME_CHECK."
	echo "- Errors during load (non-2xx + socket errors or failed h2 requests, all rounds): $(for s in "${SERVERS[@]}"; do printf '%s %s, ' "$s" "${M[$s.errors]}"; done | sed 's/, $//')."
	echo "- Cold start: systemd-socket-activate (CPU $SERVER_CPU) execs the server when the client (CPU $CLIENT_CPU) connects; plain: \`helper first-byte\`; TLS: \`tlsclient first-byte\` (GnuTLS, TLS 1.3, X25519, the session made before the clock starts), from connect() through the full handshake to the first response byte. Ranges (min–max): ferry plain $(cold_range ferry-plain), TLS $(cold_range ferry-tls); nginx plain $(cold_range nginx-plain), TLS $(cold_range nginx-tls) µs. nginx gets the socket as NGINX=3; and forks its worker."
	echo "- kTLS: ferry $(ktls_state ferry), nginx $(ktls_state nginx) in the default rows (/proc/net/tls_stat). $([ "$KTLS_ON" = 1 ] && echo "Measured beside them with kTLS asked for: ferry-ktls (GnuTLS \`[global] ktls = true\`) $(ktls_state ferry-ktls), nginx-ktls (\`ssl_conf_command Options KTLS\`) $(ktls_state nginx-ktls)." || echo "No kTLS rows.") What the script found: ${KTLS_WHY}."
	echo "- RSS after the load: $(for s in "${SERVERS[@]}"; do printf '%s %s KiB, ' "$s" "${RSS_AFTER[$s]}"; done | sed 's/, $//') (nginx: master+worker)."
	if [ "$KTLS_ON" = 1 ]; then
		echo
		echo "| with kTLS asked for | nginx-ktls | ferry-ktls | ferry-ktls/nginx-ktls | ferry-ktls/ferry |"
		echo "|---|---:|---:|---:|---:|"
		for k in "small:cpu:612 B kept-alive: server CPU per request:%.2f: µs" "big:mbs:1 MiB: throughput:%.0f: MB/s" \
			"big:cpu:1 MiB: server CPU per response:%.0f: µs" "h2:cpu:HTTP/2: server CPU per request:%.2f: µs"; do
			IFS=: read -r kk f l1 l2 ff u <<<"$k"
			echo "| $l1:$l2 | $(fmt "${M[nginx-ktls.$kk.$f]}" "$ff")$u | $(fmt "${M[ferry-ktls.$kk.$f]}" "$ff")$u | $(ratio "${M[ferry-ktls.$kk.$f]}" "${M[nginx-ktls.$kk.$f]}" %.3f) | $(ratio "${M[ferry-ktls.$kk.$f]}" "${M[ferry.$kk.$f]}" %.3f) |"
		done
	fi
	echo
	echo "<details><summary>Every round</summary>"
	echo
	echo "| server | load | round | req/s | requests | CPU µs/req | core µs/req | errors | neither server nor client, % of a CPU |"
	echo "|---|---|---:|---:|---:|---:|---:|---:|---:|"
	awk -v hz="$HZ" '{printf "| %s | %s | %s | %.0f | %d | %.2f | %.2f | %d | %.1f%s |\n",
		$1, $2, $3, $6, $4, $10 * 1e6 / hz / $4, $11 * 1e6 / hz / $4, $8 + $9, $12,
		($12 > 10 ? " (disturbed)" : "")}' "$RUNS"
	echo
	echo "</details>"
} >"$REPORT"

echo
cat "$REPORT"

if [ "$RECORD" = 1 ]; then
	record_report '<!-- bench-tls:begin -->' '<!-- bench-tls:end -->' "## TLS and HTTP/2

Produced by \`bench/tls.sh --record\` (run by hand); see the header of bench/tls.sh."
fi
