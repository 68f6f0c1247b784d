#!/usr/bin/env bash
# Word splitting of PID lists and parsed fields is intended in this script.
# shellcheck disable=SC2046,SC2086,SC2016
# ferry's HTTP/3 against Caddy's, and against ferry's own HTTP/2. Not a test: it measures and
# reports. (`make bench` does not run it; run it by hand.)
#
#   bench/h3.sh [--record]         RECORD=1 is the same as --record
#
# Debian 12 has no HTTP/3 load generator: bench/h3load.c (ngtcp2 + nghttp3, built here) is one;
# HTTP/2 over TLS is h2load's (nghttp2-client). The same two files, a 612-byte index.html and a
# 1 MiB big.bin, served over https on 127.0.0.1 with the same certificate (an ECDSA P-256 one
# made here with openssl) by, each alone on CPU $SERVER_CPU, on one core:
#   ferry-h3  ferry, `workers 1`, `access-log off`, `listen 127.0.0.1:PORT tls` and
#             `listen udp:127.0.0.1:PORT quic` (ferry binds both itself), site * { tls; root }:
#             HTTP/3, measured with h3load
#   caddy-h3  Debian's caddy (2.6), GOMAXPROCS=1 (one core, as ferry's one worker), a Caddyfile
#             with `admin off`, no access log (its own log at level ERROR), the site
#             `https://localhost:PORT` with `bind 127.0.0.1`, `tls CERT KEY`, `root`,
#             `file_server`; HTTP/3 on the same port over UDP (its default protocols h1 h2 h3):
#             measured with h3load
#   ferry-h2  the same ferry process as ferry-h3, over TCP+TLS, measured with h2load (ALPN h2)
# The load generator runs on CPU $CLIENT_CPU. Three kinds of run, each for $DURATION seconds:
#   small  index.html, $SMALL_CONNS connections x $SMALL_STREAMS streams (many requests over a
#          few connections)
#   many   index.html, $MANY_CONNS connections x 1 stream (many connections)
#   big    big.bin, $BIG_CONNS connections x $BIG_STREAMS streams
# over $ROUNDS rounds, the three servers in turn (the order reversed every other round), after a
# warm-up of $WARMUP seconds each. Before the load every server must answer each file with 200
# and its exact size (h3load -b; curl over HTTP/2); during it a request counts only if it gets
# a 2xx with the exact size (h3load -b; h2load cuts off the requests in flight at the end: its
# data bytes must be between the completed and the started requests' bodies).
# Figures: the server's CPU time per request (utime+stime of its process, all threads, from
# /proc/PID/stat around each run, divided by the requests completed), its core's busy time per
# request (wall minus idle of CPU $SERVER_CPU), req/s, MB/s (10^6 body bytes a second), and the
# load generator's CPU share (near 100% means it, not the server, set the pace: then compare
# the CPU per request, not the throughput). Medians over the rounds, and the ratios paired
# within each round (median, min–max). Targets from issue 12: ferry's CPU per small HTTP/3
# request ≤ 0.5× Caddy's, ferry's 1 MiB HTTP/3 throughput ≥ 2× Caddy's.
# With --record the report replaces the block between the bench-h3 markers in bench/RESULTS.md.
#
# Knobs (environment): ROUNDS=5 DURATION=10 WARMUP=2 (seconds) SMALL_CONNS=4 SMALL_STREAMS=32
# MANY_CONNS=128 BIG_CONNS=4 BIG_STREAMS=4 SERVER_CPU=1 CLIENT_CPU=0 FERRY=build/ferry
# CADDY=/usr/bin/caddy WAIT_IDLE=60 WAIT_IDLE_RUN=10 KEEP_TMP=1
set -Eeuo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(dirname "$HERE")
# shellcheck source=bench/lib.sh
. "$HERE/lib.sh"

bench_args "$@"

ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-10}
WARMUP=${WARMUP:-2}
SMALL_CONNS=${SMALL_CONNS:-4}
SMALL_STREAMS=${SMALL_STREAMS:-32}
MANY_CONNS=${MANY_CONNS:-128}
BIG_CONNS=${BIG_CONNS:-4}
BIG_STREAMS=${BIG_STREAMS:-4}
SERVER_CPU=${SERVER_CPU:-1}
CLIENT_CPU=${CLIENT_CPU:-0}
FERRY=${FERRY:-$REPO/build/ferry}
CADDY=${CADDY:-/usr/bin/caddy}
NGINX=${NGINX:-/usr/sbin/nginx} # bench_setup wants it; not measured here
WAIT_IDLE=${WAIT_IDLE:-60}
WAIT_IDLE_RUN=${WAIT_IDLE_RUN:-10}
SMALL_SIZE=612
BIG_SIZE=1048576
for v in DURATION WARMUP; do
	[[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "$v=${!v}: a whole number of seconds"
done

# caddy's package comes with a system service: bench_install_deps installs it with every
# service start denied (policy-rc.d), as nginx. h3load's headers: bench_install_deps checks
# executables, so a missing header is turned into a check that fails.
DEV=()
for h in ngtcp2/ngtcp2_crypto_gnutls.h:libngtcp2-crypto-gnutls-dev nghttp3/nghttp3.h:libnghttp3-dev \
	gnutls/gnutls.h:libgnutls28-dev; do
	[ -f "/usr/include/${h%%:*}" ] || DEV+=("/nonexistent/${h%%:*}:${h#*:}")
done
bench_install_deps "$CADDY:caddy" h2load:nghttp2-client openssl:openssl "${DEV[@]}"
bench_setup ferry-bench-h3 "servers and the load generators"
[ "${FERRY_OLD:-}" = "" ] || log "note: FERRY_OLD is not measured by this script"

H3LOAD=$(build_h3load)

# ---- the files and the certificate --------------------------------------------------------------
WWW=$TMP/www
mkdir -p "$WWW"
welcome_page "$WWW/index.html"
[ "$(stat -c %s "$WWW/index.html")" = $SMALL_SIZE ] || die "index.html is not $SMALL_SIZE bytes"
head -c $BIG_SIZE /dev/urandom >"$WWW/big.bin"
chmod 755 "$WWW"
chmod 644 "$WWW"/*
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$TMP/key.pem" \
	-out "$TMP/cert.pem" -days 30 -subj /CN=localhost \
	-addext subjectAltName=DNS:localhost,IP:127.0.0.1 2>"$TMP/openssl.log" ||
	{ cat "$TMP/openssl.log" >&2; die "openssl could not make the test certificate"; }

# ---- the servers ------------------------------------------------------------------------------
declare -A PID PORT LOG
SERVERS=(ferry-h3 caddy-h3 ferry-h2) # the order of odd rounds; even rounds reverse it

# ferry-h2 and ferry-h3 are the same process.
proc_of() { case $1 in ferry*) echo ferry ;; *) echo caddy ;; esac; }
server_pids() { echo "${PID[$(proc_of "$1")]}"; }

start_servers() {
	PORT[ferry]=$(free_port)
	LOG[ferry]=$TMP/ferry.log
	cat >"$TMP/ferry.conf" <<-EOF
		workers 1
		access-log off
		listen 127.0.0.1:${PORT[ferry]} tls
		listen udp:127.0.0.1:${PORT[ferry]} quic
		site * {
			tls $TMP/cert.pem $TMP/key.pem
			root $WWW
		}
	EOF
	taskset -c "$SERVER_CPU" "$FERRY" serve --config "$TMP/ferry.conf" >"${LOG[ferry]}" 2>&1 &
	PID[ferry]=$!
	STARTED_PIDS+=("${PID[ferry]}")

	PORT[caddy]=$(free_port)
	LOG[caddy]=$TMP/caddy.log
	mkdir -p "$TMP/caddy/data" "$TMP/caddy/config"
	cat >"$TMP/Caddyfile" <<-EOF
		{
			admin off
			storage file_system $TMP/caddy/data
			skip_install_trust
			log {
				level ERROR
			}
		}
		https://localhost:${PORT[caddy]} {
			bind 127.0.0.1
			tls $TMP/cert.pem $TMP/key.pem
			root * $WWW
			file_server
		}
	EOF
	"$CADDY" fmt --overwrite "$TMP/Caddyfile" # (else it warns that the file is not formatted)
	"$CADDY" validate --adapter caddyfile --config "$TMP/Caddyfile" >"$TMP/caddy-validate.log" 2>&1 ||
		{ cat "$TMP/caddy-validate.log" >&2; die "caddy validate failed on $TMP/Caddyfile"; }
	# Its data and config folders (it writes autosave.json, locks) go to $TMP, not to $HOME.
	HOME=$TMP/caddy XDG_DATA_HOME=$TMP/caddy/data XDG_CONFIG_HOME=$TMP/caddy/config GOMAXPROCS=1 \
		taskset -c "$SERVER_CPU" "$CADDY" run --adapter caddyfile --config "$TMP/Caddyfile" \
		>"${LOG[caddy]}" 2>&1 &
	PID[caddy]=$!
	STARTED_PIDS+=("${PID[caddy]}")

	local p
	for p in ferry caddy; do
		wait_https "$p" || server_failed "$p" "did not answer 200 on https://localhost:${PORT[$p]}/ within 10 s"
	done
}

# Wait (bounded, ~10 s) until PROC answers 200 over TLS; fail if it dies first.
wait_https() {
	local p=$1 i
	for ((i = 0; i < 200; i++)); do
		alive "${PID[$p]}" || return 1
		[ "$(curl -sk -o /dev/null -w '%{http_code}' --max-time 1 --resolve "localhost:${PORT[$p]}:127.0.0.1" \
			"https://localhost:${PORT[$p]}/index.html" 2>/dev/null)" = 200 ] && return 0
		sleep 0.05
	done
	return 1
}

# check_files SERVER: each file once with 200 and its exact size, over the server's protocol.
check_files() {
	local s=$1 p port f size out
	p=$(proc_of "$s")
	port=${PORT[$p]}
	for f in index.html:$SMALL_SIZE big.bin:$BIG_SIZE; do
		size=${f#*:}
		f=${f%%:*}
		case $s in
		*-h3)
			out=$("$H3LOAD" -c 1 -m 1 -n 1 -b "$size" 127.0.0.1 "$port" "localhost:$port" "/$f" 2>&1) ||
				server_failed "$p" "GET /$f over HTTP/3: $out"
			;;
		ferry-h2)
			out=$(curl -sk --http2 -o "$TMP/check.out" --max-time 10 -w '%{http_version} %{http_code}' \
				--resolve "localhost:$port:127.0.0.1" "https://localhost:$port/$f")
			if [ "$out" != "2 200" ] || ! cmp -s "$TMP/check.out" "$WWW/$f"; then
				server_failed "$p" "GET /$f over HTTP/2 gave '$out' (want HTTP/2 200 and the file)"
			fi
			;;
		esac
	done
}

# ---- load runs --------------------------------------------------------------------------------
RUNS=$TMP/runs.txt # server kind round requests seconds body_bytes cpu_ticks core_busy_ticks client_ticks
: >"$RUNS"

# run_load SERVER small|many|big ROUND SECONDS  (ROUND 0 = warm-up, not recorded)
run_load() {
	local s=$1 kind=$2 round=$3 dur=$4 p port path size conns streams out pids c0 c1 k0 k1 w0 w1 t0 t1 n secs bytes
	case $kind in
	small) path=/index.html size=$SMALL_SIZE conns=$SMALL_CONNS streams=$SMALL_STREAMS ;;
	many) path=/index.html size=$SMALL_SIZE conns=$MANY_CONNS streams=1 ;;
	big) path=/big.bin size=$BIG_SIZE conns=$BIG_CONNS streams=$BIG_STREAMS ;;
	esac
	p=$(proc_of "$s")
	port=${PORT[$p]}
	out=$TMP/load-$s-$kind-$round.txt
	[ "$round" = 0 ] || wait_quiet "$s $kind round $round"
	pids=$(server_pids "$s")
	c0=$(cpu_ticks $pids)
	k0=$(core_idle_ticks "$SERVER_CPU")
	w0=$(children_ticks)
	t0=$(now_ns)
	case $s in
	*-h3)
		taskset -c "$CLIENT_CPU" "$H3LOAD" -c "$conns" -m "$streams" -d "$dur" -b "$size" \
			127.0.0.1 "$port" "localhost:$port" "$path" >"$out" 2>&1 ||
			{ cat "$out" >&2; server_failed "$p" "h3load failed against $s ($kind, round $round)"; }
		;;
	ferry-h2)
		taskset -c "$CLIENT_CPU" h2load -t1 -c "$conns" -m "$streams" -D "$dur" \
			"https://127.0.0.1:$port$path" >"$out" 2>&1 ||
			{ cat "$out" >&2; server_failed "$p" "h2load failed against $s ($kind, round $round)"; }
		;;
	esac
	t1=$(now_ns)
	w1=$(children_ticks)
	k1=$(core_idle_ticks "$SERVER_CPU")
	c1=$(cpu_ticks $pids)
	check_after_wrk "$p" "$pids" "$s $kind, round $round" # (its message says wrk: the load generator)
	case $s in
	*-h3)
		# requests N done, G good, F failed, X not done; K connections failed; B body bytes; S s; ...
		read -r n secs bytes < <(awk '/^requests / {print $4, $17, $14}' "$out")
		;;
	ferry-h2)
		# requests: N total, N started, D done, S succeeded, F failed, E errored, T timeout
		# traffic: ... , H (H) headers (space savings X%), B (B) data
		# finished in 10.00s, ...
		# In duration mode the requests in flight at the end are cut off (started but not
		# done) and their partial bodies are in the data bytes: the data must be at least the
		# done requests' bodies and at most the started ones'; the MB/s are the done ones'.
		local started data
		read -r n started secs data < <(awk '
			/^requests:/ {done = $6; st = $4; ok = $8; bad = $10 + $12 + $14}
			/^traffic:/ {for (i = 1; i <= NF; i++) if ($i == "data") {d = $(i - 1); gsub(/[()]/, "", d)}}
			/^finished in/ {t = $3; sub(/s,$/, "", t)}
			END {if (bad > 0 || ok != done) ok = -1; print ok, st, t, d}' "$out")
		[ "$n" -gt 0 ] || { cat "$out" >&2; server_failed "$p" "h2load: failed requests against $s ($kind, round $round)"; }
		if [ "$data" -lt $((n * size)) ] || [ "$data" -gt $((started * size)) ]; then
			cat "$out" >&2
			server_failed "$p" "$s ($kind): $data body bytes for $n requests done and $started started, of $size bytes"
		fi
		bytes=$((n * size))
		;;
	esac
	[ "${n:-0}" -gt 0 ] || { cat "$out" >&2; die "no request completed against $s ($kind)"; }
	[ "$bytes" = $((n * size)) ] ||
		{ cat "$out" >&2; server_failed "$p" "$s ($kind): $bytes body bytes for $n requests of $size"; }
	log "$(printf '%-8s %-5s round %s: %8.0f req/s %8.1f MB/s  server cpu %7.2f us/req  client %3.0f%% of a CPU' \
		"$s" "$kind" "$round" "$(awk -v n="$n" -v t="$secs" 'BEGIN {print n / t}')" \
		"$(awk -v b="$bytes" -v t="$secs" 'BEGIN {print b / t / 1e6}')" "$(per_req_us $((c1 - c0)) "$n")" \
		"$(awk -v w=$((w1 - w0)) -v t=$((t1 - t0)) -v h="$HZ" 'BEGIN {print 100 * w / (t / 1e9 * h)}')")"
	[ "$round" = 0 ] && return 0
	echo "$s $kind $round $n $secs $bytes $((c1 - c0)) $(busy_ticks $((t1 - t0)) $((k1 - k0))) $((w1 - w0)) $(((t1 - t0) / 1000))" >>"$RUNS"
}

# ---- the run ---------------------------------------------------------------------------------------
bench_describe
CADDY_VERSION=$("$CADDY" version 2>/dev/null | awk '{print $1; exit}')
H2LOAD_VERSION=$(h2load --version 2>/dev/null | awk '{print $NF; exit}')
NGTCP2_VERSION=$(dpkg-query -W -f '${Version}' libngtcp2-dev 2>/dev/null || echo '?')
NGHTTP3_VERSION=$(dpkg-query -W -f '${Version}' libnghttp3-dev 2>/dev/null || echo '?')

log "ferry $FERRY_VERSION ($FERRY_REV) vs caddy $CADDY_VERSION; h3load (ngtcp2 $NGTCP2_VERSION, nghttp3 $NGHTTP3_VERSION), h2load $H2LOAD_VERSION; $NCPU CPUs, $CPU_MODEL, Linux $KERNEL"
log "servers on CPU $SERVER_CPU (ferry: 1 worker; caddy: GOMAXPROCS=1), load generators on CPU $CLIENT_CPU; ROUNDS=$ROUNDS DURATION=${DURATION}s"

wait_for_idle

start_servers
for s in "${SERVERS[@]}"; do check_files "$s"; done
log "every server answered index.html ($SMALL_SIZE B) and big.bin ($BIG_SIZE B) with 200 and the exact size"

KINDS=(small many big)
log "warm-up (${WARMUP}s each)"
for s in "${SERVERS[@]}"; do for k in "${KINDS[@]}"; do run_load "$s" "$k" 0 "$WARMUP"; done; done
for ((r = 1; r <= ROUNDS; r++)); do
	order=()
	if ((r % 2)); then order=("${SERVERS[@]}"); else for ((i = ${#SERVERS[@]} - 1; i >= 0; i--)); do order+=("${SERVERS[$i]}"); done; fi
	for k in "${KINDS[@]}"; do
		for s in "${order[@]}"; do run_load "$s" "$k" "$r" "$DURATION"; done
	done
done
for s in "${SERVERS[@]}"; do check_files "$s"; done
declare -A RSS_AFTER
for p in ferry caddy; do RSS_AFTER[$p]=$(status_kib VmRSS "${PID[$p]}"); done
for p in ferry caddy; do stop_pid "${PID[$p]}"; done
LOAD_AFTER=$(cpu_busy_pct 1)
log "CPU busy after the load runs (1 s sample): $LOAD_AFTER"

# ---- the report ----------------------------------------------------------------------------------
# Fields of $RUNS: $1 server $2 kind $3 round $4 requests $5 seconds $6 body bytes $7 server cpu
# ticks $8 server core busy ticks $9 client ticks $10 wall µs of the run
CPU_EXPR='$7 * 1e6 / hz / $4'
CORE_EXPR='$8 * 1e6 / hz / $4'
RPS_EXPR='$4 / $5'
MBS_EXPR='$6 / $5 / 1e6'
CLIENT_EXPR='100 * $9 / hz / ($10 / 1e6)'
# med SERVER KIND EXPR: the median over the rounds
med() { awk -v s="$1" -v k="$2" -v hz="$HZ" "\$1 == s && \$2 == k {print $3}" "$RUNS" | median; }
# pair A B KIND EXPR: A's EXPR over B's, paired within each round, one a line
pair() { paired_ratios "$RUNS" '$1 "/" $2' 3 "$1/$3" "$2/$3" "$4"; }
# pcell A B KIND EXPR: "median (min–max)" of the paired ratios
pcell() { printf '%s (%s)' "$(fmt "$(pair "$@" | median)" %.3f)" "$(pair "$@" | minmax %.3f)"; }

R_SMALL=$(pair ferry-h3 caddy-h3 small "$CPU_EXPR" | median)
R_BIG=$(pair ferry-h3 caddy-h3 big "$MBS_EXPR" | median)

REPORT=$TMP/report.md
{
	echo "### $DATE"
	echo
	echo "Machine: nproc $NCPU, $CPU_MODEL, Linux $KERNEL."
	echo "ferry $FERRY_VERSION ($FERRY_REV), caddy $CADDY_VERSION (Debian's), h3load (bench/h3load.c on ngtcp2 $NGTCP2_VERSION, nghttp3 $NGHTTP3_VERSION, GnuTLS), h2load $H2LOAD_VERSION."
	echo "Run: \`ROUNDS=$ROUNDS DURATION=$DURATION SMALL_CONNS=$SMALL_CONNS SMALL_STREAMS=$SMALL_STREAMS MANY_CONNS=$MANY_CONNS BIG_CONNS=$BIG_CONNS BIG_STREAMS=$BIG_STREAMS bench/h3.sh\`;"
	echo "each server on CPU $SERVER_CPU, on one core (ferry \`workers 1\`, caddy GOMAXPROCS=1), no access log; the load generator on CPU $CLIENT_CPU; ${DURATION} s a run, medians over $ROUNDS rounds (the order reversed every other round)."
	echo "Other load on the machine (servers idle): before the run $LOAD_BEFORE, after the load runs $LOAD_AFTER."
	echo
	echo "| | ferry HTTP/3 | caddy HTTP/3 | ferry HTTP/2 | ferry/caddy, HTTP/3 (per round: median (min–max)) | ferry HTTP/3 / HTTP/2 (per round) |"
	echo "|---|---:|---:|---:|---:|---:|"
	row() { # LABEL KIND EXPR FORMAT SUFFIX [noratio]
		printf '| %s | %s%s | %s%s | %s%s |' "$1" \
			"$(fmt "$(med ferry-h3 "$2" "$3")" "$4")" "$5" "$(fmt "$(med caddy-h3 "$2" "$3")" "$4")" "$5" \
			"$(fmt "$(med ferry-h2 "$2" "$3")" "$4")" "$5"
		if [ "${6:-}" = noratio ]; then echo ' | |'; else
			printf ' %s | %s |\n' "$(pcell ferry-h3 caddy-h3 "$2" "$3")" "$(pcell ferry-h3 ferry-h2 "$2" "$3")"
		fi
	}
	row "612 B, $SMALL_CONNS conns × $SMALL_STREAMS streams: **server CPU per request**" small "$CPU_EXPR" %.2f " µs"
	row "... server core busy per request" small "$CORE_EXPR" %.2f " µs"
	row "... req/s" small "$RPS_EXPR" %.0f ""
	row "... load generator's CPU" small "$CLIENT_EXPR" %.0f "%" noratio
	row "612 B, $MANY_CONNS conns × 1 stream: server CPU per request" many "$CPU_EXPR" %.2f " µs"
	row "... req/s" many "$RPS_EXPR" %.0f ""
	row "... load generator's CPU" many "$CLIENT_EXPR" %.0f "%" noratio
	row "1 MiB, $BIG_CONNS conns × $BIG_STREAMS streams: **throughput**" big "$MBS_EXPR" %.0f " MB/s"
	row "... server CPU per response" big "$CPU_EXPR" %.0f " µs"
	row "... server core busy per response" big "$CORE_EXPR" %.0f " µs"
	row "... load generator's CPU" big "$CLIENT_EXPR" %.0f "%" noratio
	echo
	echo "| target (issue 12) | value (median of the per-round ratios) | target | |"
	echo "|---|---:|---|---|"
	echo "| ferry / caddy, server CPU per 612-byte HTTP/3 request | $(fmt "$R_SMALL" %.3f) | ≤ 0.50 | $(verdict "$R_SMALL" "<=" 0.50) |"
	echo "| ferry / caddy, 1 MiB HTTP/3 throughput | $(fmt "$R_BIG" %.3f) | ≥ 2.00 | $(verdict "$R_BIG" ">=" 2.00) |"
	echo
	echo "- Server CPU = utime+stime of the server's process (all threads) from /proc/PID/stat before and after each run, divided by the requests completed; core busy = wall minus the idle time of CPU $SERVER_CPU over the same span (adds softirq work, the UDP and TCP loopback's receive side, charged to no process). ferry HTTP/2 is the same ferry process as ferry HTTP/3 (one config, TLS on TCP and QUIC on UDP, the same port). The load generator runs on the other core: when its CPU nears 100% it, not the server, sets the pace and the throughput says more about it than about the server; the CPU per request is then the figure to compare."
	echo "- Every request of every run got a 2xx with the exact body size (h3load -b checks each response; h2load, which cuts off the requests in flight when the time is up, must have received at least the bodies of the requests it completed and at most those of the requests it started), and before and after the load each server answered both files. The load generators: h3load (GnuTLS, TLS 1.3, one UDP socket per connection, each connection opened at the start and closed with CONNECTION_CLOSE at the end); h2load -t1 (OpenSSL). Both count a run from the first connection to the last response."
	echo "- caddy's configuration: \`admin off\`, \`log { level ERROR }\`, \`https://localhost:PORT { bind 127.0.0.1; tls CERT KEY; root * DIR; file_server }\` (HTTP/3 is on by default in 2.6); ferry's: \`workers 1\`, \`access-log off\`, \`listen 127.0.0.1:PORT tls\`, \`listen udp:127.0.0.1:PORT quic\`, \`site * { tls CERT KEY; root DIR }\`. The certificate: ECDSA P-256, self-signed (the clients do not verify it). RSS after the load: ferry ${RSS_AFTER[ferry]} KiB, caddy ${RSS_AFTER[caddy]} KiB."
	echo
	echo "<details><summary>Every round</summary>"
	echo
	echo "| server | run | round | requests | req/s | MB/s | server CPU µs/req | core µs/req | load generator CPU % |"
	echo "|---|---|---:|---:|---:|---:|---:|---:|---:|"
	awk -v hz="$HZ" '{printf "| %s | %s | %s | %d | %.0f | %.1f | %.2f | %.2f | %.0f |\n",
		$1, $2, $3, $4, $4 / $5, $6 / $5 / 1e6, $7 * 1e6 / hz / $4, $8 * 1e6 / hz / $4, 100 * $9 / hz / ($10 / 1e6)}' "$RUNS"
	echo
	echo "</details>"
} >"$REPORT"

echo
cat "$REPORT"

if [ "$RECORD" = 1 ]; then
	record_report '<!-- bench-h3:begin -->' '<!-- bench-h3:end -->' "## HTTP/3

Produced by \`bench/h3.sh --record\` (run by hand; \`make bench\` does not run it): ferry's HTTP/3
against Debian's Caddy and against ferry's own HTTP/2, each server on one core; see the header
of bench/h3.sh. Targets from issue 12: ferry's CPU per small HTTP/3 request ≤ 0.5× Caddy's, its
1 MiB HTTP/3 throughput ≥ 2× Caddy's."
fi
