#!/usr/bin/env bash
# Word splitting of PID lists and parsed fields is intended in this script.
# shellcheck disable=SC2046,SC2086,SC2016,SC2119
# ferry's on-the-fly compression against nginx's `gzip on`. Not a test: it measures and reports.
# (`make bench` does not run it; run it by hand.)
#
#   bench/encode.sh [--record]     RECORD=1 is the same as --record
#
# One text file of $SIZE bytes (page.html: the text of ferry's own docs and sources in an HTML
# page, so that it compresses as real text does), served compressed at serve time to every
# request (`Accept-Encoding: gzip`; neither server caches a compressed copy) by:
#   ferry   workers 1, access-log off, site * { root DIR; encode gzip }: gzip level
#           ENCODE_GZIP_LEVEL of src/handler/encode.h (zlib), read from the source here
#   nginx   worker_processes 1, access_log off, gzip on, gzip_comp_level the same level,
#           gzip_types text/html (its default), gzip_vary on, open_file_cache, as bench/run.sh's
# each alone on CPU $SERVER_CPU, `wrk -t1 -c$CONNS` on CPU $CLIENT_CPU, the two alternating over
# $ROUNDS rounds (the order reversed every other round) of $DURATION after a warm-up. Before the
# load, each server's response must be gzip that decompresses to the file, byte for byte; the
# compressed sizes are reported. The figure to read: the servers' CPU time per compressed
# response (utime+stime of the server's processes from /proc/PID/stat, nginx master+worker,
# divided by the responses wrk completed), as ferry/nginx, the ratio of the medians and the
# median (min–max) of the ratios paired within each round. Compression is nearly all of it, so
# the ratio says how ferry's zlib use compares with nginx's at the same level.
# With --record the report replaces the block between the bench-encode markers in
# bench/RESULTS.md.
#
# Knobs (environment): ROUNDS=3 DURATION=10s WARMUP=2s CONNS=16 SIZE=102400 SERVER_CPU=1
# CLIENT_CPU=0 LEVEL=(ferry's) FERRY=build/ferry NGINX=/usr/sbin/nginx WAIT_IDLE=60
# WAIT_IDLE_RUN=10 KEEP_TMP=1
set -Eeuo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(dirname "$HERE")
# shellcheck source=bench/lib.sh
. "$HERE/lib.sh"

bench_args "$@"

ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-10s}
WARMUP=${WARMUP:-2s}
CONNS=${CONNS:-16}
SIZE=${SIZE:-102400}
SERVER_CPU=${SERVER_CPU:-1}
CLIENT_CPU=${CLIENT_CPU:-0}
FERRY=${FERRY:-$REPO/build/ferry}
NGINX=${NGINX:-/usr/sbin/nginx}
WAIT_IDLE=${WAIT_IDLE:-60}
WAIT_IDLE_RUN=${WAIT_IDLE_RUN:-10}
FERRY_LEVEL=$(awk '$1 == "#define" && $2 == "ENCODE_GZIP_LEVEL" {print $3}' "$REPO/src/handler/encode.h")
[ -n "$FERRY_LEVEL" ] || die "cannot read ENCODE_GZIP_LEVEL from src/handler/encode.h"
LEVEL=${LEVEL:-$FERRY_LEVEL}
[ "$LEVEL" = "$FERRY_LEVEL" ] || die "LEVEL=$LEVEL: ferry's gzip level is $FERRY_LEVEL (src/handler/encode.h), nginx must use the same"

bench_install_deps
bench_setup ferry-bench-encode "servers and wrk"
[ "${FERRY_OLD:-}" = "" ] || log "note: FERRY_OLD is not measured by this script"

# ---- the file ---------------------------------------------------------------------------------
WWW=$TMP/www
mkdir -p "$WWW"
text_page "$WWW/page.html" "$SIZE"
chmod 755 "$WWW"
chmod 644 "$WWW"/*

declare -A PID PORT LOG
SERVERS=(nginx ferry)

server_pids() {
	case $1 in
	nginx) echo "${PID[nginx]}" $(children_of "${PID[nginx]}") ;;
	*) echo "${PID[$1]}" ;;
	esac
}

start_servers() {
	local dir=$TMP/nginx s
	PORT[nginx]=$(free_port)
	mkdir -p "$dir/logs" "$dir/tmp"
	cat >"$dir/nginx.conf" <<EOF
# Private nginx for bench/encode.sh: one worker, gzip at ferry's level.
worker_processes 1;
daemon off;
master_process on;
pid $dir/nginx.pid;
error_log $dir/logs/error.log warn;
events {
    worker_connections 4096;
}
http {
    types {
        text/html html;
    }
    default_type application/octet-stream;
    access_log off;
    sendfile on;
    open_file_cache max=1000 inactive=20s;
    keepalive_requests 100000;
    keepalive_timeout 65s;
    gzip on;
    gzip_comp_level $LEVEL;
    gzip_min_length 256;
    gzip_vary on;
    client_body_temp_path $dir/tmp/body;
    proxy_temp_path $dir/tmp/proxy;
    fastcgi_temp_path $dir/tmp/fastcgi;
    uwsgi_temp_path $dir/tmp/uwsgi;
    scgi_temp_path $dir/tmp/scgi;
    server {
        listen 127.0.0.1:${PORT[nginx]};
        root $WWW;
    }
}
EOF
	start_nginx nginx "$SERVER_CPU"

	PORT[ferry]=$(free_port)
	LOG[ferry]=$TMP/ferry.log
	cat >"$TMP/ferry.conf" <<EOF
# ferry for bench/encode.sh: one worker, no access log, gzip at serve time.
workers 1
access-log off
site * {
	root $WWW
	encode gzip
}
EOF
	"$FERRY" check "$TMP/ferry.conf" >/dev/null || die "$FERRY check $TMP/ferry.conf failed"
	taskset -c "$SERVER_CPU" "$FERRY" serve --config "$TMP/ferry.conf" \
		--listen "127.0.0.1:${PORT[ferry]}" >"${LOG[ferry]}" 2>&1 &
	PID[ferry]=$!
	STARTED_PIDS+=("${PID[ferry]}")
	for s in "${SERVERS[@]}"; do
		wait_http "http://127.0.0.1:${PORT[$s]}/page.html" "${PID[$s]}" ||
			server_failed "$s" "did not answer 200 on 127.0.0.1:${PORT[$s]} within 10 s"
	done
}

# check_response NAME: gzip that decompresses to the file; prints the compressed size.
declare -A GZ_SIZE
check_response() {
	local s=$1 out
	out=$(curl -s -o "$TMP/body-$s.gz" -D "$TMP/head-$s" --max-time 5 -H 'Accept-Encoding: gzip' \
		-w '%{http_code} %{size_download}' "http://127.0.0.1:${PORT[$s]}/page.html")
	set -- $out
	[ "$1" = 200 ] || server_failed "$s" "GET /page.html gave status $1"
	grep -qi '^content-encoding: *gzip' "$TMP/head-$s" ||
		server_failed "$s" "GET /page.html with Accept-Encoding: gzip was not gzip (see $TMP/head-$s; KEEP_TMP=1)"
	gzip -dc "$TMP/body-$s.gz" | cmp -s - "$WWW/page.html" ||
		server_failed "$s" "the gzip body of $s does not decompress to page.html"
	GZ_SIZE[$s]=$2
}

RUNS=$TMP/runs.txt # server round requests seconds rps p99_us non2xx sockerr cpu_ticks core_busy_ticks
: >"$RUNS"

# run_wrk SERVER ROUND DURATION (ROUND 0 = warm-up, not recorded)
run_wrk() {
	local s=$1 round=$2 dur=$3 out pids c0 c1 k0 k1 t0 t1 parsed
	out=$TMP/wrk-$s-$round.txt
	[ "$round" = 0 ] || wait_quiet "$s round $round"
	pids=$(server_pids "$s")
	c0=$(cpu_ticks $pids)
	k0=$(core_idle_ticks "$SERVER_CPU")
	t0=$(now_ns)
	taskset -c "$CLIENT_CPU" wrk -t1 -c"$CONNS" -d"$dur" --latency -H 'Accept-Encoding: gzip' \
		"http://127.0.0.1:${PORT[$s]}/page.html" >"$out" 2>&1 ||
		{ cat "$out" >&2; die "wrk failed against $s"; }
	t1=$(now_ns)
	k1=$(core_idle_ticks "$SERVER_CPU")
	c1=$(cpu_ticks $pids)
	check_after_wrk "$s" "$pids" "round $round"
	wrk_result "$out" "$s" "$s round $round"
	parsed=$WRK
	set -- $parsed
	log "$(printf '%-5s round %s: %8.0f responses/s  p99 %8.1f us  cpu %7.1f us/response' \
		"$s" "$round" "$3" "$4" "$(per_req_us $((c1 - c0)) "$1")")"
	[ "$round" = 0 ] && return 0
	echo "$s $round $parsed $((c1 - c0)) $(busy_ticks $((t1 - t0)) $((k1 - k0)))" >>"$RUNS"
}

# ---- the run ----------------------------------------------------------------------------------
bench_describe
wait_for_idle
start_servers
for s in "${SERVERS[@]}"; do check_response "$s"; done
log "compressed sizes of the $SIZE-byte page at level $LEVEL: ferry ${GZ_SIZE[ferry]}, nginx ${GZ_SIZE[nginx]}"
for s in "${SERVERS[@]}"; do run_wrk "$s" 0 "$WARMUP"; done
for ((r = 1; r <= ROUNDS; r++)); do
	order=("${SERVERS[@]}")
	[ $((r % 2)) = 0 ] && order=(ferry nginx)
	for s in "${order[@]}"; do run_wrk "$s" "$r" "$DURATION"; done
done
for s in "${SERVERS[@]}"; do check_response "$s"; done

# ---- the report -------------------------------------------------------------------------------
CPU_EXPR='$9 * 1e6 / hz / $3'
med() { awk -v s="$1" -v hz="$HZ" "\$1 == s {print $2}" "$RUNS" | median; }
declare -A RPS P99 CPU CORE
for s in "${SERVERS[@]}"; do
	RPS[$s]=$(med "$s" '$5')
	P99[$s]=$(med "$s" '$6')
	CPU[$s]=$(med "$s" "$CPU_EXPR")
	CORE[$s]=$(med "$s" '$10 * 1e6 / hz / $3')
done
PAIRED=$(paired_ratios "$RUNS" '$1' 2 ferry nginx "$CPU_EXPR")
R_CPU=$(ratio "${CPU[ferry]}" "${CPU[nginx]}" %.3f)

REPORT=$TMP/report.md
{
	echo "### $DATE"
	echo
	echo "Machine: nproc $NCPU, $CPU_MODEL, Linux $KERNEL."
	echo "ferry $FERRY_VERSION ($FERRY_REV), nginx $NGINX_VERSION, wrk $WRK_VERSION."
	echo "Run: \`ROUNDS=$ROUNDS DURATION=$DURATION CONNS=$CONNS SIZE=$SIZE bench/encode.sh\`; gzip level $LEVEL on both; each server alone on CPU $SERVER_CPU, \`wrk -t1 -c$CONNS -H 'Accept-Encoding: gzip'\` on CPU $CLIENT_CPU; medians over $ROUNDS rounds."
	echo "Other load on the machine before the run: $LOAD_BEFORE."
	echo
	echo "| $SIZE-byte text/html, gzip at serve time | ferry \`encode gzip\` | nginx \`gzip on\` | ferry / nginx |"
	echo "|---|---:|---:|---:|"
	echo "| compressed size | ${GZ_SIZE[ferry]} B | ${GZ_SIZE[nginx]} B | $(ratio "${GZ_SIZE[ferry]}" "${GZ_SIZE[nginx]}" %.3f) |"
	echo "| responses/s | $(fmt "${RPS[ferry]}" %.0f) | $(fmt "${RPS[nginx]}" %.0f) | $(ratio "${RPS[ferry]}" "${RPS[nginx]}" %.3f) |"
	echo "| p99 latency | $(fmt "${P99[ferry]}" %.0f) µs | $(fmt "${P99[nginx]}" %.0f) µs | $(ratio "${P99[ferry]}" "${P99[nginx]}" %.3f) |"
	echo "| **server CPU per compressed response** | $(fmt "${CPU[ferry]}" %.1f) µs | $(fmt "${CPU[nginx]}" %.1f) µs | **$R_CPU** (per round: $(fmt "$(median <<<"$PAIRED")" %.3f), $(minmax %.3f <<<"$PAIRED")) |"
	echo "| server core busy per response | $(fmt "${CORE[ferry]}" %.1f) µs | $(fmt "${CORE[nginx]}" %.1f) µs | $(ratio "${CORE[ferry]}" "${CORE[nginx]}" %.3f) |"
	echo
	echo "- CPU per response: utime+stime of the server's processes (nginx: master+worker) from /proc/PID/stat around each wrk run, over the responses wrk completed; core busy: wall time less CPU $SERVER_CPU's idle time (/proc/stat) over the same span. Both servers compress every response anew (no cache of compressed copies)."
} >"$REPORT"

echo
cat "$REPORT"

if [ "$RECORD" = 1 ]; then
	record_report '<!-- bench-encode:begin -->' '<!-- bench-encode:end -->' "## On-the-fly compression

Produced by \`bench/encode.sh --record\` (run by hand): ferry's \`encode gzip\` against nginx's
\`gzip on\` at the same level, on one ~100 KiB text page; see the header of bench/encode.sh."
fi
