#!/usr/bin/env bash
# Word splitting of PID lists is intended in this script.
# shellcheck disable=SC2046,SC2086
# Memory per idle connection: ferry against nginx. Not a test: it measures and reports.
#
#   bench/idle.sh [--record]       RECORD=1 is the same as --record
#   N=2000 MODE=h1 bench/idle.sh   (the defaults)
#   FERRY_OLD=/path/to/old/ferry bench/idle.sh
#                                  also measures a second ferry binary, "ferry (old)"
#
# Each server in turn gets N idle connections, of the kind MODE says:
#   h1   HTTP/1.1 keep-alive connections (bench/helper.c `hold`)
#   tls  HTTP/1.1 keep-alive connections over TLS 1.3 (bench/tlsclient.c `hold ... tls`: a full
#        handshake with ALPN http/1.1, GnuTLS, X25519)
#   h2   HTTP/2 connections over TLS 1.3 (bench/tlsclient.c `hold ... h2`: ALPN h2, the
#        preface, an empty SETTINGS, one GET on stream 1, the server's SETTINGS ACK awaited)
# The client (pinned to CPU $CLIENT_CPU) opens them one after the other, sends one complete GET
# of a 612-byte index.html on each and reads the whole response, then leaves them all open and
# idle until the script has read the server's memory, then checks that the server closed none
# of them (and sent nothing on them: no ping, no record) and closes them. Per server: VmRSS
# (/proc/PID/status) after one warm-up request ("before"), with the N connections open and idle,
# and after closing them; and (with - before) / N, the memory one idle connection costs, in KiB. The count of ESTABLISHED server-side sockets on the port
# (/proc/net/tcp) is checked to be N while the RSS is read.
# The servers, one worker each, pinned to CPU $SERVER_CPU, serving the same file:
#   ferry   started by systemd-socket-activate on 127.0.0.1 (the warm-up connection makes it exec
#           ferry), its defaults but for: workers 1, access-log off, keepalive-timeout
#           $KEEPALIVE (default 60s: the connections must outlive the measurement) and, only when
#           N + 64 exceeds its default of 10000, max-connections N + 64. tls and h2: also
#           `listen https tls` (the socket passed as https) and site * { tls CERT KEY; root DIR }
#           with an ECDSA P-256 certificate made by openssl in the temp dir.
#   nginx   (Debian's) worker_processes 1, access_log off, keepalive_timeout $KEEPALIVE (default
#           75s), worker_connections N + N/8 + 64 (default 512, never set lower: nginx closes
#           idle keep-alive connections when fewer than 1/16 of its slots are free) and
#           worker_rlimit_nofile 256 above that;
#           its RSS is the worker process's (the master holds no connection). tls: `listen ...
#           ssl`, h2: `listen ... ssl http2`, with the same certificate and `ssl_protocols
#           TLSv1.2 TLSv1.3` (nginx 1.22's default has no TLS 1.3); idle HTTP/2 connections
#           follow keepalive_timeout too (http2_idle_timeout is obsolete since nginx 1.19.7).
# RLIMIT_NOFILE is raised (ulimit -n, inherited by the client and the servers) to N + N/8 + 320
# when it is lower. What each server was set to is printed with the results.
# Target (issue 10) for tls and h2: per idle connection ≤ 0.5× nginx's.
# With --record the report replaces the block of MODE in bench/RESULTS.md (between the
# bench-idle markers for h1, bench-idle-tls for tls, bench-idle-h2 for h2).
#
# Knobs (environment): N=2000 MODE=h1 (h1, tls or h2) KEEPALIVE=600s SETTLE=1 (seconds to wait
# before each RSS reading) SERVER_CPU=1 CLIENT_CPU=0 FERRY=build/ferry FERRY_OLD= (unset: none)
# NGINX=/usr/sbin/nginx KEEP_TMP=1.
set -Eeuo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(dirname "$HERE")
# shellcheck source=bench/lib.sh
. "$HERE/lib.sh"

bench_args "$@"

N=${N:-2000}
MODE=${MODE:-h1}
KEEPALIVE=${KEEPALIVE:-600s}
SETTLE=${SETTLE:-1}
SERVER_CPU=${SERVER_CPU:-1}
CLIENT_CPU=${CLIENT_CPU:-0}
FERRY=${FERRY:-$REPO/build/ferry}
NGINX=${NGINX:-/usr/sbin/nginx}
BODY_SIZE=612

[[ $N =~ ^[1-9][0-9]*$ ]] || die "N must be a positive number, not '$N'"
case $MODE in
h1) WHAT="HTTP/1.1 keep-alive connections" ;;
tls) WHAT="HTTP/1.1 keep-alive connections over TLS 1.3" ;;
h2) WHAT="HTTP/2 connections over TLS 1.3" ;;
*) die "unknown MODE '$MODE' (h1, tls or h2)" ;;
esac

# nginx's worker_connections: room for the N connections, never below its default of 512. When
# fewer than 1/16 of its slots are free, nginx closes idle keep-alive connections to make room
# (ngx_drain_connections), so it needs N + N/8 and some.
NGINX_CONNS=$((N + N / 8 + 64 > 512 ? N + N / 8 + 64 : 512))
# Every server and the client hold N sockets (and a few files); nginx's worker may open
# NGINX_CONNS.
NOFILE=$((NGINX_CONNS + 256))
if [ "$(ulimit -Hn)" != unlimited ] && [ "$(ulimit -Hn)" -lt $NOFILE ]; then
	ulimit -Hn $NOFILE 2>/dev/null || die "cannot raise the hard RLIMIT_NOFILE to $NOFILE (run as root, or lower N)"
fi
if [ "$(ulimit -Sn)" != unlimited ] && [ "$(ulimit -Sn)" -lt $NOFILE ]; then
	ulimit -Sn $NOFILE || die "cannot raise RLIMIT_NOFILE to $NOFILE"
fi
NOFILE_SET=$(ulimit -Sn)

if [ "$MODE" = h1 ]; then
	bench_install_deps systemd-socket-activate:systemd
else
	bench_install_deps systemd-socket-activate:systemd openssl:openssl \
		/usr/include/gnutls/gnutls.h:libgnutls28-dev
fi
bench_setup ferry-bench-idle "servers and the client"
if [ "$MODE" != h1 ]; then
	TLSCLIENT=$(build_tlsclient)
	make_cert "$TMP/cert.pem" "$TMP/key.pem"
fi
SCHEME=http
[ "$MODE" = h1 ] || SCHEME=https

# ---- the file ---------------------------------------------------------------------------------
WWW=$TMP/www
mkdir -p "$WWW"
welcome_page "$WWW/index.html" # nginx's classic welcome page: exactly 612 bytes
[ "$(stat -c %s "$WWW/index.html")" = $BODY_SIZE ] || die "index.html is not $BODY_SIZE bytes"
chmod 755 "$WWW"
chmod 644 "$WWW"/*

# ---- the servers ------------------------------------------------------------------------------
declare -A PID PORT LOG
SERVERS=(ferry)
[ "$OLD" = 1 ] && SERVERS+=(ferry-old)
SERVERS+=(nginx)

# What each server is set to beyond its defaults, for the report.
declare -A SETTINGS

# ferry's configuration for MODE (tls and h2: the TLS listener and the site with the certificate;
# h1: the root is given with --root).
FERRY_MAXCONN_DEFAULT=10000
ferry_conf() {
	local f=$TMP/ferry.conf
	{
		echo "# ferry for bench/idle.sh ($MODE): its defaults but for these."
		echo "workers 1"
		echo "access-log off"
		echo "keepalive-timeout $KEEPALIVE"
		[ $((N + 64)) -le $FERRY_MAXCONN_DEFAULT ] || echo "max-connections $((N + 64))"
		if [ "$MODE" != h1 ]; then
			echo "listen https tls"
			printf 'site * {\n    tls %s %s\n    root %s\n}\n' "$TMP/cert.pem" "$TMP/key.pem" "$WWW"
		fi
	} >"$f"
	SETTINGS[ferry]="\`workers 1\`, \`access-log off\`, \`keepalive-timeout $KEEPALIVE\` (default 60s)"
	if [ $((N + 64)) -le $FERRY_MAXCONN_DEFAULT ]; then
		SETTINGS[ferry]+=", max-connections left at its default $FERRY_MAXCONN_DEFAULT (≥ N + 64)"
	else
		SETTINGS[ferry]+=", \`max-connections $((N + 64))\` (default $FERRY_MAXCONN_DEFAULT)"
	fi
	[ "$MODE" = h1 ] || SETTINGS[ferry]+=", \`listen https tls\` and \`site * { tls CERT KEY; root DIR }\` (ECDSA P-256)"
	SETTINGS[ferry]+="; otherwise its defaults (sandbox on, ...); started by systemd-socket-activate on 127.0.0.1"
}

# nginx_conf NAME WORKER_CONNECTIONS: the private nginx in $TMP/NAME.
nginx_conf() {
	local name=$1 conns=$2 dir=$TMP/$1 listen tls=""
	mkdir -p "$dir/logs" "$dir/tmp"
	case $MODE in
	h1) listen="" ;;
	tls) listen=" ssl" ;;
	h2) listen=" ssl http2" ;;
	esac
	[ "$MODE" = h1 ] || tls="
        ssl_certificate $TMP/cert.pem;
        ssl_certificate_key $TMP/key.pem;
        ssl_protocols TLSv1.2 TLSv1.3;"
	cat >"$dir/nginx.conf" <<EOF
# Private nginx for bench/idle.sh ($MODE): one worker, $conns connection slots, long keep-alive.
worker_processes 1;
worker_rlimit_nofile $NOFILE;
daemon off;
master_process on;
pid $dir/nginx.pid;
error_log $dir/logs/error.log warn;
events {
    worker_connections $conns;
}
http {
    types { text/html html; }
    default_type application/octet-stream;
    access_log off;
    keepalive_timeout $KEEPALIVE;
    client_body_temp_path $dir/tmp/body;
    proxy_temp_path $dir/tmp/proxy;
    fastcgi_temp_path $dir/tmp/fastcgi;
    uwsgi_temp_path $dir/tmp/uwsgi;
    scgi_temp_path $dir/tmp/scgi;
    server {
        listen 127.0.0.1:${PORT[$name]}$listen;
        root $WWW;$tls
    }
}
EOF
	[ "$name" = nginx ] || return 0
	SETTINGS[nginx]="$([ "$MODE" = h1 ] || echo "\`listen 127.0.0.1:PORT$listen\` with the same certificate and \`ssl_protocols TLSv1.2 TLSv1.3\` (1.22's default lacks TLS 1.3), ")\`worker_processes 1\`, \`access_log off\`, \`keepalive_timeout $KEEPALIVE\` (default 75s), \`worker_connections $NGINX_CONNS\` (default 512; nginx closes idle keep-alive connections when fewer than 1/16 of these slots are free, hence N + N/8 + 64), \`worker_rlimit_nofile $NOFILE\`; otherwise its defaults; started directly (master + worker)"
}

# The PIDs whose memory counts: ferry's one process, nginx's worker (not its master).
server_pids() {
	case $1 in
	ferry | ferry-old) echo "${PID[$1]}" ;;
	nginx*) children_of "${PID[$1]}" ;;
	esac
}

ferry_bin() { if [ "$1" = ferry-old ]; then echo "$FERRY_OLD"; else echo "$FERRY"; fi; }

start_servers() {
	local s
	ferry_conf
	"$FERRY" check "$TMP/ferry.conf" >/dev/null || die "ferry check $TMP/ferry.conf failed"
	for s in "${SERVERS[@]}"; do
		PORT[$s]=$(free_port)
		case $s in
		ferry | ferry-old)
			LOG[$s]=$TMP/$s.log
			if [ "$MODE" = h1 ]; then
				taskset -c "$SERVER_CPU" systemd-socket-activate -l "127.0.0.1:${PORT[$s]}" -- \
					"$(ferry_bin "$s")" serve --config "$TMP/ferry.conf" --root "$WWW" >"${LOG[$s]}" 2>&1 &
			else
				taskset -c "$SERVER_CPU" systemd-socket-activate -l "127.0.0.1:${PORT[$s]}" --fdname=https -- \
					"$(ferry_bin "$s")" serve --config "$TMP/ferry.conf" >"${LOG[$s]}" 2>&1 &
			fi
			PID[$s]=$!
			STARTED_PIDS+=("${PID[$s]}")
			wait_listening "${PORT[$s]}" || server_failed "$s" "systemd-socket-activate did not listen on ${PORT[$s]}"
			;;
		nginx)
			nginx_conf nginx "$NGINX_CONNS"
			start_nginx nginx "$SERVER_CPU"
			;;
		esac
	done
}

# warm_up NAME: one GET (for ferry, the connection that makes systemd-socket-activate exec it);
# 200 with the whole file, and the process is the server.
warm_up() {
	local s=$1 out exe
	out=$(curl -sk -o /dev/null --max-time 10 -w '%{http_code} %{size_download}' \
		"$SCHEME://127.0.0.1:${PORT[$s]}/index.html") || true
	[ "$out" = "200 $BODY_SIZE" ] || server_failed "$s" "the warm-up GET gave '$out' (want 200 $BODY_SIZE)"
	alive "${PID[$s]}" || server_failed "$s" "process ${PID[$s]} is gone after the warm-up"
	case $s in
	ferry | ferry-old)
		exe=$(readlink "/proc/${PID[$s]}/exe")
		[ "$exe" = "$(ferry_bin "$s")" ] || server_failed "$s" "PID ${PID[$s]} runs $exe, not $(ferry_bin "$s")"
		;;
	nginx*)
		[ "$(server_pids "$s" | wc -w)" = 1 ] || server_failed "$s" "nginx has not exactly one worker: $(server_pids "$s")"
		;;
	esac
}

# Server-side sockets on 127.0.0.1:PORT in state ESTABLISHED (/proc/net/tcp, state 01).
established() {
	awk -v a="$(printf '0100007F:%04X' "$1")" '$2 == a && $4 == "01" {n++} END {print n + 0}' /proc/net/tcp
}

# The client for MODE that holds N connections to server NAME (helper hold: see bench/helper.c).
# tls and h2: bench/tlsclient.c hold, with the same protocol on stdin/stdout.
hold_client() {
	case $MODE in
	h1) taskset -c "$CLIENT_CPU" "$HELPER" hold 127.0.0.1 "${PORT[$1]}" /index.html "$N" ;;
	*) taskset -c "$CLIENT_CPU" "$TLSCLIENT" hold 127.0.0.1 "${PORT[$1]}" /index.html "$N" "$MODE" ;;
	esac
}

declare -A RSS_BEFORE RSS_HELD RSS_CLOSED EST HELD_T STILL
# measure NAME: the RSS before, with N idle connections, and after closing them.
measure() {
	local s=$1 line t0 t1 pids
	warm_up "$s"
	pids=$(server_pids "$s")
	sleep "$SETTLE"
	RSS_BEFORE[$s]=$(status_kib VmRSS $pids)
	t0=$(now_ns)
	coproc HOLD { hold_client "$s" 2>"$TMP/hold-$s.err"; }
	# shellcheck disable=SC2153 # HOLD_PID is set by coproc
	local hold_pid=$HOLD_PID hold_out=${HOLD[0]} hold_in=${HOLD[1]}
	STARTED_PIDS+=("$hold_pid")
	if ! read -r -t 300 -u "$hold_out" line || [ "$line" != "open $N" ]; then
		cat "$TMP/hold-$s.err" >&2
		server_failed "$s" "the client could not open $N idle connections (it said '${line:-}')"
	fi
	t1=$(now_ns)
	HELD_T[$s]=$(awk -v t=$((t1 - t0)) 'BEGIN {printf "%.1f", t / 1e9}')
	sleep "$SETTLE"
	RSS_HELD[$s]=$(status_kib VmRSS $pids)
	EST[$s]=$(established "${PORT[$s]}")
	echo close >&"$hold_in"
	read -r -t 60 -u "$hold_out" line || line="(no answer)"
	STILL[$s]=$line
	wait "$hold_pid" || true
	local keep=() p
	for p in "${STARTED_PIDS[@]}"; do [ "$p" = "$hold_pid" ] || keep+=("$p"); done
	STARTED_PIDS=("${keep[@]}")
	[ "$line" = "still-open $N closed 0 unexpected-data 0" ] ||
		log "warning: $s: not every connection stayed open and idle until the end: $line"
	[ "${EST[$s]}" = "$N" ] ||
		log "warning: $s: ${EST[$s]} established server-side sockets while the RSS was read, not $N"
	alive "${PID[$s]}" || server_failed "$s" "process ${PID[$s]} died while holding the connections"
	[ "$(server_pids "$s")" = "$pids" ] || server_failed "$s" "worker changed: $pids -> $(server_pids "$s")"
	sleep "$SETTLE"
	RSS_CLOSED[$s]=$(status_kib VmRSS $pids)
	log "$(printf '%-9s RSS before %6d KiB, with %d idle connections %7d KiB (opened in %s s), after closing them %6d KiB: %.2f KiB per idle connection' \
		"$s" "${RSS_BEFORE[$s]}" "$N" "${RSS_HELD[$s]}" "${HELD_T[$s]}" "${RSS_CLOSED[$s]}" \
		"$(per_conn "$s")")"
}

per_conn() { awk -v a="${RSS_HELD[$1]}" -v b="${RSS_BEFORE[$1]}" -v n="$N" 'BEGIN {printf "%.3f", (a - b) / n}'; }

# ---- the run ---------------------------------------------------------------------------------------
bench_describe
log "ferry $FERRY_VERSION ($FERRY_REV) vs nginx $NGINX_VERSION; $NCPU CPUs, $CPU_MODEL, Linux $KERNEL"
[ "$OLD" = 1 ] && log "and $FERRY_OLD_DESC"
log "MODE=$MODE N=$N KEEPALIVE=$KEEPALIVE; RLIMIT_NOFILE $NOFILE_SET; servers on CPU $SERVER_CPU, the client on CPU $CLIENT_CPU"
LOAD_BEFORE=$(cpu_busy_pct 1)
log "CPU busy before the run: $LOAD_BEFORE (memory figures do not depend on it much)"

start_servers
for s in "${SERVERS[@]}"; do measure "$s"; done
for s in "${SERVERS[@]}"; do stop_pid "${PID[$s]}"; done

# What nginx's preallocated connection slots cost (they are in its "before"): the same nginx
# with its default 512 worker_connections, after one request.
SLOT_KIB=""
if [ "$NGINX_CONNS" -gt 512 ]; then
	PORT[nginx-512]=$(free_port)
	nginx_conf nginx-512 512
	start_nginx nginx-512 "$SERVER_CPU"
	wait_http "$SCHEME://127.0.0.1:${PORT[nginx-512]}/index.html" "${PID[nginx-512]}" ||
		server_failed nginx-512 "did not answer 200 within 10 s"
	warm_up nginx-512
	sleep "$SETTLE"
	RSS_BEFORE[nginx-512]=$(status_kib VmRSS $(server_pids nginx-512))
	stop_pid "${PID[nginx-512]}"
	SLOT_KIB=$(awk -v a="${RSS_BEFORE[nginx]}" -v b="${RSS_BEFORE[nginx-512]}" -v n=$((NGINX_CONNS - 512)) \
		'BEGIN {printf "%.3f", (a - b) / n}')
	log "nginx's worker with 512 slots: RSS ${RSS_BEFORE[nginx-512]} KiB after one request, against ${RSS_BEFORE[nginx]} KiB with $NGINX_CONNS: $SLOT_KIB KiB per slot"
fi

# ---- the report ----------------------------------------------------------------------------------
label() { case $1 in ferry) echo ferry ;; ferry-old) echo "ferry (old)" ;; nginx) echo "nginx (worker)" ;; esac; }
REPORT=$TMP/report.md
{
	echo "### $DATE"
	echo
	echo "Machine: nproc $NCPU, $CPU_MODEL, Linux $KERNEL."
	echo "ferry $FERRY_VERSION ($FERRY_REV), nginx $NGINX_VERSION."
	[ "$OLD" = 1 ] && echo "Also $FERRY_OLD_DESC, with the same configuration."
	echo "Run: \`N=$N MODE=$MODE KEEPALIVE=$KEEPALIVE$([ "$OLD" = 1 ] && echo " FERRY_OLD=$FERRY_OLD_SRC") bench/idle.sh\`; CPU busy before the run: $LOAD_BEFORE."
	echo
	echo "| $N idle $WHAT (MODE=$MODE) | RSS before (after 1 request) | RSS with $N idle connections | RSS after closing them | **per idle connection** |"
	echo "|---|---:|---:|---:|---:|"
	for s in "${SERVERS[@]}"; do
		echo "| $(label "$s") | ${RSS_BEFORE[$s]} KiB | ${RSS_HELD[$s]} KiB | ${RSS_CLOSED[$s]} KiB | **$(fmt "$(per_conn "$s")" %.2f) KiB** |"
	done
	echo "| ferry / nginx | $(ratio "${RSS_BEFORE[ferry]}" "${RSS_BEFORE[nginx]}") | $(ratio "${RSS_HELD[ferry]}" "${RSS_HELD[nginx]}") | | $(ratio "$(per_conn ferry)" "$(per_conn nginx)") |"
	[ -z "$SLOT_KIB" ] || echo "| nginx (worker), with the connection slot each connection needs | | | | $(fmt "$(awk -v a="$(per_conn nginx)" -v b="$SLOT_KIB" 'BEGIN {print a + b}')" %.2f) KiB |"
	[ "$OLD" = 1 ] && echo "| ferry new / old | $(ratio "${RSS_BEFORE[ferry]}" "${RSS_BEFORE[ferry-old]}" %.3f) | $(ratio "${RSS_HELD[ferry]}" "${RSS_HELD[ferry-old]}" %.3f) | | $(ratio "$(per_conn ferry)" "$(per_conn ferry-old)" %.3f) |"
	echo
	if [ "$MODE" != h1 ]; then
		R_CONN=$(ratio "$(per_conn ferry)" "$(per_conn nginx)" %.6f)
		echo "- **Per idle connection, ferry/nginx: $(fmt "$R_CONN" %.3f)** (target ≤ 0.5: $(verdict "$R_CONN" "<=" 0.5))."
	fi
	echo "- Per idle connection = (RSS with the connections − RSS before) / $N; VmRSS from /proc/PID/status (ferry: its one process; nginx: its worker). Kernel socket buffers are not in it."
	echo "- Each connection $(case $MODE in tls) echo "made a full TLS 1.3 handshake (GnuTLS client, X25519, ALPN http/1.1), then " ;; h2) echo "made a full TLS 1.3 handshake (GnuTLS client, X25519, ALPN h2) and sent the HTTP/2 preface and an empty SETTINGS, then " ;; esac)sent one complete \`GET /index.html\` (612 bytes, 200) and read the whole response$([ "$MODE" = h2 ] && echo " and the server's SETTINGS ACK"), then stayed open and idle; the RSS was read $SETTLE s after the last one opened. Then: $(for s in "${SERVERS[@]}"; do printf '%s: %s established server-side sockets, the client found %s; ' "$(label "$s")" "${EST[$s]}" "${STILL[$s]}"; done | sed 's/; $//')."
	echo "- ferry: ${SETTINGS[ferry]}."
	echo "- nginx: ${SETTINGS[nginx]}. nginx allocates its worker_connections slots when the worker starts, so part of what a connection costs it is already in \"before\"$([ -z "$SLOT_KIB" ] || echo ": the same nginx with the default 512 slots had a worker RSS of ${RSS_BEFORE[nginx-512]} KiB after one request, against ${RSS_BEFORE[nginx]} KiB with $NGINX_CONNS, so $(fmt "$SLOT_KIB" %.2f) KiB per slot, added in the row \"with the connection slot\"")."
	echo "- RLIMIT_NOFILE: $NOFILE_SET for the client and ferry (ferry also raises its soft limit to the hard one itself); nginx's worker: its \`worker_rlimit_nofile $NOFILE\`."
} >"$REPORT"

echo
cat "$REPORT"

if [ "$RECORD" = 1 ]; then
	case $MODE in
	h1)
		record_report '<!-- bench-idle:begin -->' '<!-- bench-idle:end -->' "## Memory per idle connection

Produced by \`bench/idle.sh --record\` (run by hand; \`make bench\` does not run it); see the
header of bench/idle.sh."
		;;
	*)
		record_report "<!-- bench-idle-$MODE:begin -->" "<!-- bench-idle-$MODE:end -->" "## Memory per idle connection: $WHAT

Produced by \`MODE=$MODE bench/idle.sh --record\` (run by hand); see the header of bench/idle.sh."
		;;
	esac
fi
