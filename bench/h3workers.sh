#!/usr/bin/env bash
# Word splitting of PID lists and parsed fields is intended in this script.
# shellcheck disable=SC2046,SC2086,SC2016
# HTTP/3 with two workers against one (issue 12: "measure that two workers serve more than
# one"). Not a test: it measures and reports. (`make bench` does not run it; run it by hand.)
#
#   bench/h3workers.sh [--record]     RECORD=1 is the same as --record
#
# The load must be the server's, not the load generator's: h3load costs about what ferry does
# per small request, so on a 2-CPU machine a small file measures h3load. Here every response is
# a $SIZE-byte text page compressed at serve time (`encode gzip`, `Accept-Encoding: gzip`; ferry
# keeps no compressed copy), which costs ferry far more than h3load. Two ferry processes from the
# same binary and config but for `workers 1` and `workers 2` (otherwise ferry's defaults, the
# access log too, on standard error; TLS and QUIC on one port each), on all CPUs, no pinning: with two CPUs the two workers share them with h3load
# ($CONNS connections x $STREAMS streams, -d $DURATION). They alternate over $ROUNDS rounds (the
# order reversed every other round). Every response must be a 2xx with exactly the gzip size that
# an HTTP/2 request got before the load (h3load -b), and that body must gunzip to the page.
# Reported: responses/s, server CPU (utime+stime, all threads) per response, h3load's CPU share,
# and workers 2 / workers 1 as the median of the per-round ratios (min-max).
# With --record the report replaces the block between the bench-h3workers markers in
# bench/RESULTS.md.
#
# Knobs (environment): ROUNDS=5 DURATION=10 WARMUP=2 CONNS=8 STREAMS=4 SIZE=102400
# FERRY=build/ferry WAIT_IDLE=60 WAIT_IDLE_RUN=10 KEEP_TMP=1
set -Eeuo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(dirname "$HERE")
# shellcheck source=bench/lib.sh
. "$HERE/lib.sh"

bench_args "$@"

ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-10}
WARMUP=${WARMUP:-2}
CONNS=${CONNS:-8}
STREAMS=${STREAMS:-4}
SIZE=${SIZE:-102400}
FERRY=${FERRY:-$REPO/build/ferry}
NGINX=${NGINX:-/usr/sbin/nginx} # (bench_setup checks it; not run here)
WAIT_IDLE=${WAIT_IDLE:-60}
WAIT_IDLE_RUN=${WAIT_IDLE_RUN:-10}

bench_install_deps /usr/include/ngtcp2/ngtcp2_crypto_gnutls.h:libngtcp2-crypto-gnutls-dev \
	/usr/include/nghttp3/nghttp3.h:libnghttp3-dev openssl:openssl
bench_setup ferry-bench-h3workers "the servers and h3load"
[ "${FERRY_OLD:-}" = "" ] || log "note: FERRY_OLD is not measured by this script"

H3LOAD=$(build_h3load)

# ---- the page and the certificate -------------------------------------------------------------
WWW=$TMP/www
mkdir -p "$WWW"
text_page "$WWW/page.html" "$SIZE"
chmod 755 "$WWW"
chmod 644 "$WWW"/*
make_cert "$TMP/cert.pem" "$TMP/key.pem"

# ---- the servers ------------------------------------------------------------------------------
declare -A PID PORT LOG
SERVERS=(w1 w2) # the order of odd rounds; even rounds reverse it
server_pids() { echo "${PID[$1]}"; }

start_server() {
	local s=$1 n=${1#w}
	PORT[$s]=$(free_port)
	LOG[$s]=$TMP/ferry-$s.log
	cat >"$TMP/ferry-$s.conf" <<-EOF
		workers $n
		listen 127.0.0.1:${PORT[$s]} tls
		listen udp:127.0.0.1:${PORT[$s]} quic
		site * {
			tls $TMP/cert.pem $TMP/key.pem
			root $WWW
			encode gzip
		}
	EOF
	"$FERRY" serve --config "$TMP/ferry-$s.conf" >"${LOG[$s]}" 2>&1 &
	PID[$s]=$!
	STARTED_PIDS+=("${PID[$s]}")
}

# check_page SERVER: over HTTP/2, the page gzip-encoded, decompressing to the file; sets GZ_SIZE.
GZ_SIZE=
check_page() {
	local s=$1 i out size
	for ((i = 0; i < 200; i++)); do
		alive "${PID[$s]}" || server_failed "$s" "ferry ($s) exited"
		out=$(curl -sk --http2 -H 'Accept-Encoding: gzip' -D "$TMP/check.head" -o "$TMP/check.gz" \
			--max-time 5 -w '%{http_version} %{http_code}' "https://127.0.0.1:${PORT[$s]}/page.html" \
			2>/dev/null) && [ "$out" = "2 200" ] && break
		sleep 0.05
	done
	[ "$out" = "2 200" ] || server_failed "$s" "GET /page.html over HTTP/2 gave '$out'"
	grep -qi '^content-encoding: gzip' "$TMP/check.head" ||
		server_failed "$s" "the page was not gzip-encoded: $(cat "$TMP/check.head")"
	gzip -dc <"$TMP/check.gz" | cmp -s - "$WWW/page.html" ||
		server_failed "$s" "the gzip body does not decompress to the page"
	size=$(stat -c %s "$TMP/check.gz")
	[ -z "$GZ_SIZE" ] || [ "$GZ_SIZE" = "$size" ] ||
		server_failed "$s" "gzip size $size, the other server's $GZ_SIZE"
	GZ_SIZE=$size
}

RUNS=$TMP/runs.txt # server round responses seconds cpu_ticks client_ticks
: >"$RUNS"

# run_load SERVER ROUND SECONDS (ROUND 0 = warm-up, not recorded)
run_load() {
	local s=$1 round=$2 dur=$3 out pids c0 c1 w0 w1 n secs
	out=$TMP/load-$s-$round.txt
	[ "$round" = 0 ] || wait_quiet "$s round $round"
	pids=$(server_pids "$s")
	c0=$(cpu_ticks $pids)
	w0=$(children_ticks)
	"$H3LOAD" -c "$CONNS" -m "$STREAMS" -d "$dur" -b "$GZ_SIZE" -H 'accept-encoding: gzip' \
		127.0.0.1 "${PORT[$s]}" "localhost:${PORT[$s]}" /page.html >"$out" 2>&1 ||
		{ cat "$out" >&2; server_failed "$s" "h3load failed against $s (round $round)"; }
	w1=$(children_ticks)
	c1=$(cpu_ticks $pids)
	alive "${PID[$s]}" || server_failed "$s" "ferry ($s) exited during round $round"
	# requests N done, G good, F failed, X not done; K connections failed; B body bytes; S s; ...
	read -r n secs < <(awk '/^requests / {print $4, $17}' "$out")
	log "$(printf '%s round %s: %8.0f responses/s  server cpu %7.1f us/response  h3load %3.0f%%' \
		"$s" "$round" "$(awk -v n="$n" -v t="$secs" 'BEGIN {print n / t}')" \
		"$(per_req_us $((c1 - c0)) "$n")" \
		"$(awk -v w=$((w1 - w0)) -v t="$secs" -v h="$HZ" 'BEGIN {print 100 * w / h / t}')")"
	[ "$round" = 0 ] && return 0
	echo "$s $round $n $secs $((c1 - c0)) $((w1 - w0))" >>"$RUNS"
}

# ---- the run ----------------------------------------------------------------------------------
bench_describe
wait_for_idle
for s in "${SERVERS[@]}"; do start_server "$s"; done
for s in "${SERVERS[@]}"; do check_page "$s"; done
log "the $SIZE-byte page is $GZ_SIZE bytes gzip-encoded"
for s in "${SERVERS[@]}"; do run_load "$s" 0 "$WARMUP"; done
for ((r = 1; r <= ROUNDS; r++)); do
	order=("${SERVERS[@]}")
	[ $((r % 2)) = 0 ] && order=(w2 w1)
	for s in "${order[@]}"; do run_load "$s" "$r" "$DURATION"; done
done
for s in "${SERVERS[@]}"; do check_page "$s"; done

# ---- the report -------------------------------------------------------------------------------
RPS_EXPR='$3 / $4'
CPU_EXPR='$5 * 1e6 / hz / $3'
GEN_EXPR='100 * $6 / hz / $4'
med() { awk -v s="$1" -v hz="$HZ" "\$1 == s {print $2}" "$RUNS" | median; }
declare -A RPS CPU GEN
for s in "${SERVERS[@]}"; do
	RPS[$s]=$(med "$s" "$RPS_EXPR")
	CPU[$s]=$(med "$s" "$CPU_EXPR")
	GEN[$s]=$(med "$s" "$GEN_EXPR")
done
P_RPS=$(paired_ratios "$RUNS" '$1' 2 w2 w1 "$RPS_EXPR")
P_CPU=$(paired_ratios "$RUNS" '$1' 2 w2 w1 "$CPU_EXPR")
R_RPS=$(median <<<"$P_RPS")

REPORT=$TMP/report.md
{
	echo "### $DATE"
	echo
	echo "Machine: nproc $NCPU, $CPU_MODEL, Linux $KERNEL."
	echo "ferry $FERRY_VERSION ($FERRY_REV), h3load (bench/h3load.c)."
	echo "Run: \`ROUNDS=$ROUNDS DURATION=$DURATION CONNS=$CONNS STREAMS=$STREAMS SIZE=$SIZE bench/h3workers.sh\`; no CPU pinning; medians over $ROUNDS rounds (the order reversed every other round)."
	echo "Other load on the machine before the run: $LOAD_BEFORE."
	echo
	echo "| $SIZE-byte text/html, gzip at serve time ($GZ_SIZE B), HTTP/3, $CONNS conns × $STREAMS streams | ferry \`workers 1\` | ferry \`workers 2\` | workers 2 / workers 1 (per round: median (min–max)) |"
	echo "|---|---:|---:|---:|"
	echo "| **responses/s** | $(fmt "${RPS[w1]}" %.0f) | $(fmt "${RPS[w2]}" %.0f) | **$(fmt "$R_RPS" %.3f)** ($(minmax %.3f <<<"$P_RPS")) |"
	echo "| server CPU per response | $(fmt "${CPU[w1]}" %.1f) µs | $(fmt "${CPU[w2]}" %.1f) µs | $(fmt "$(median <<<"$P_CPU")" %.3f) ($(minmax %.3f <<<"$P_CPU")) |"
	echo "| h3load's CPU (of one CPU) | $(fmt "${GEN[w1]}" %.0f)% | $(fmt "${GEN[w2]}" %.0f)% | |"
	echo
	echo "- Every response was a 2xx with exactly the $GZ_SIZE gzip bytes (h3load -b); before and after the load, each server's HTTP/2 answer decompressed to the page. Server CPU = utime+stime of the ferry process (all threads) from /proc/PID/stat around each run, over the responses completed. Both servers run ferry's defaults but for \`workers\` and the site (\`encode gzip\` makes the load); the access log is on, to standard error. With $NCPU CPUs and h3load on them as well, two workers cannot reach twice one: the ratio is bounded by the CPU h3load leaves."
} >"$REPORT"

echo
cat "$REPORT"

if [ "$RECORD" = 1 ]; then
	record_report '<!-- bench-h3workers:begin -->' '<!-- bench-h3workers:end -->' "## HTTP/3: two workers against one

Produced by \`bench/h3workers.sh --record\` (run by hand): the same ferry with \`workers 1\` and
\`workers 2\`, under an HTTP/3 load whose cost is the server's (gzip at serve time); see the
header of bench/h3workers.sh."
fi
