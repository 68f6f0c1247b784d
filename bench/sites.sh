#!/usr/bin/env bash
# Word splitting of PID lists and parsed fields is intended in this script.
# shellcheck disable=SC2046,SC2086,SC2016,SC2119
# Thousands of sites: ferry against nginx. Not a test: it measures and reports.
#
#   bench/sites.sh [--record]      RECORD=1 is the same as --record
#   SIZES="1 1000" ROUNDS=1 DURATION=1s bench/sites.sh      a short run while developing
#
# For each number of sites N in $SIZES (default 1 1000 20000), both servers get the same N
# site blocks, site i answering to s<i>.example.com and *.w<i>.example.org, all with the same
# root (a 612-byte index.html). ferry: one file of `site` blocks, `workers 1`, `access-log off`,
# otherwise its defaults (sandbox on); nginx: one `server` block per site, `server_name` the
# same two names, the tuning of bench/nginx.conf.in (worker_processes 1, access_log off,
# open_file_cache, sendfile, keepalive_requests 100000) and server_names_hash_max_size /
# server_names_hash_bucket_size large enough for N (printed with the results).
#   1. CPU per request: for the first, middle and last site (sites 0, N/2, N-1; with N=1 only
#      the one), by its exact name (Host: s<i>.example.com) and by its wildcard
#      (Host: x.w<i>.example.org): wrk -t1 -c$CONNS -d$DURATION on CPU $CLIENT_CPU, the server
#      pinned to CPU $SERVER_CPU (all its threads / processes), GET /index.html; the server's
#      utime+stime (/proc/PID/stat, all threads; nginx: master+worker) over the requests wrk
#      completed. $ROUNDS rounds, the two servers in ABBA order within each; medians.
#   2. Memory: VmRSS after start-up and one request (nginx: master+worker), and per site:
#      (RSS with N sites - RSS with 1) / (N - 1).
#   3. Start-up of ferry with N sites ($READY_N times each, medians): `ferry check` (wall
#      time, read + parse + the indexes), and from fork() to READY=1 (bench/helper.c `ready`:
#      exec, parse, roots opened, sockets bound, workers started), for the sites in one file and
#      in N files (`include sites/*.conf`, one site per file); then $RELOADS reloads (SIGHUP to
#      the READY=1 after RELOADING=1) and the RSS after them.
#   4. A reload under load, with the largest N: wrk for $DURATION against the last site, twice:
#      without, then with $RELOADS SIGHUPs during the run; p99 and max latency of each. The
#      workers keep the old generation while the main thread builds the new one; the server's
#      threads share CPU $SERVER_CPU, so the build competes with the worker for it.
# Targets (issue 15): with the largest N, ferry's CPU per request within 5% of its 1-site
# figure, and at most nginx's with the same sites; start-up (parse + open) ≤ 100 ms.
# Other work on the machine skews all of it (a shared 2-core machine: the figures are noisy);
# it waits for an idle machine (WAIT_IDLE) and for a quiet moment before each run
# (WAIT_IDLE_RUN), and reports how busy the machine was.
# With --record the report replaces the block between the bench-sites markers in
# bench/RESULTS.md.
#
# Knobs (environment): SIZES="1 1000 20000" ROUNDS=3 DURATION=3s WARMUP=1s CONNS=64 READY_N=5
# RELOADS=3 SERVER_CPU=1 CLIENT_CPU=0 FERRY=build/ferry NGINX=/usr/sbin/nginx WAIT_IDLE=60
# WAIT_IDLE_RUN=10 KEEP_TMP=1 (keep the temp dir with every config, wrk output and log).
set -Eeuo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(dirname "$HERE")
# shellcheck source=bench/lib.sh
. "$HERE/lib.sh"

bench_args "$@"

SIZES=${SIZES:-1 1000 20000}
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-3s}
WARMUP=${WARMUP:-1s}
CONNS=${CONNS:-64}
READY_N=${READY_N:-5}
RELOADS=${RELOADS:-3}
SERVER_CPU=${SERVER_CPU:-1}
CLIENT_CPU=${CLIENT_CPU:-0}
FERRY=${FERRY:-$REPO/build/ferry}
NGINX=${NGINX:-/usr/sbin/nginx}
WAIT_IDLE=${WAIT_IDLE:-60}
WAIT_IDLE_RUN=${WAIT_IDLE_RUN:-10}
SMALL_SIZE=612

bench_install_deps
bench_setup ferry-bench-sites "server and wrk"

WWW=$TMP/www
mkdir -p "$WWW"
welcome_page "$WWW/index.html"
[ "$(stat -c %s "$WWW/index.html")" = $SMALL_SIZE ] || die "index.html is not $SMALL_SIZE bytes"
chmod 755 "$WWW"
chmod 644 "$WWW"/*

declare -A PID PORT LOG

server_pids() { # the PIDs whose CPU time counts for a server
	case $1 in
	ferry) echo "${PID[ferry]}" ;;
	nginx) echo "${PID[nginx]}" $(children_of "${PID[nginx]}") ;;
	esac
}

# ---- the configurations -----------------------------------------------------------------------

# ferry_conf N FILE: N site blocks in one file. ferry_conf_dir N DIR: the same, one file per
# site in DIR/sites/, included by DIR/ferry.conf.
ferry_site() { awk -v n="$1" -v root="$WWW" 'BEGIN {
	for (i = 0; i < n; i++) printf "site s%d.example.com *.w%d.example.org {\n\troot %s\n}\n", i, i, root }'; }
ferry_conf() { { printf 'workers 1\naccess-log off\n'; ferry_site "$1"; } >"$2"; }
ferry_conf_dir() {
	mkdir -p "$2/sites"
	printf 'workers 1\naccess-log off\ninclude sites/*.conf\n' >"$2/ferry.conf"
	awk -v n="$1" -v root="$WWW" -v dir="$2/sites" 'BEGIN {
		for (i = 0; i < n; i++) {
			f = sprintf("%s/s%05d.conf", dir, i)
			printf "site s%d.example.com *.w%d.example.org {\n\troot %s\n}\n", i, i, root > f
			close(f) } }'
}

# The hash sizes nginx needs for 2N names (it refuses to start when they are too small).
nginx_hash_max() { awk -v n="$1" 'BEGIN {m = 512; while (m < 4 * n) m *= 2; print m}'; }
NGINX_BUCKET=128

# nginx_conf N DIR PORT: a private prefix DIR whose nginx.conf has N server blocks on PORT.
nginx_conf() {
	local n=$1 dir=$2 port=$3
	mkdir -p "$dir/logs" "$dir/tmp"
	{
		cat <<EOF
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
    server_names_hash_max_size $(nginx_hash_max "$n");
    server_names_hash_bucket_size $NGINX_BUCKET;
    client_body_temp_path $dir/tmp/body;
    proxy_temp_path $dir/tmp/proxy;
    fastcgi_temp_path $dir/tmp/fastcgi;
    uwsgi_temp_path $dir/tmp/uwsgi;
    scgi_temp_path $dir/tmp/scgi;
EOF
		awk -v n="$n" -v port="$port" -v root="$WWW" 'BEGIN {
			for (i = 0; i < n; i++)
				printf "    server {\n        listen 127.0.0.1:%d;\n        server_name s%d.example.com *.w%d.example.org;\n        root %s;\n        index index.html;\n    }\n", port, i, i, root }'
		echo "}"
	} >"$dir/nginx.conf"
}

# ---- the servers ------------------------------------------------------------------------------

# wait_host PORT HOST PID: (bounded, ~10 s) until GET /index.html with that Host answers 200.
wait_host() {
	local i
	for ((i = 0; i < 400; i++)); do
		alive "$3" || return 1
		[ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 -H "Host: $2" \
			"http://127.0.0.1:$1/index.html" 2>/dev/null)" = 200 ] && return 0
		sleep 0.05
	done
	return 1
}

check_host() { # SERVER HOST: 200 with the 612-byte body
	local out
	out=$(curl -s -o /dev/null --max-time 5 -w '%{http_code} %{size_download}' -H "Host: $2" \
		"http://127.0.0.1:${PORT[$1]}/index.html")
	[ "$out" = "200 $SMALL_SIZE" ] || server_failed "$1" "GET /index.html for Host $2 gave '$out' (want 200 $SMALL_SIZE)"
}

start_servers() { # N
	local n=$1
	PORT[nginx]=$(free_port)
	nginx_conf "$n" "$TMP/nginx-$n" "${PORT[nginx]}"
	LOG[nginx]=$TMP/nginx-$n/logs/error.log
	start_nginx "nginx-$n" "$SERVER_CPU"
	PID[nginx]=${PID[nginx-$n]}
	PORT[ferry]=$(free_port)
	LOG[ferry]=$TMP/ferry-$n.log
	taskset -c "$SERVER_CPU" "$FERRY" serve --config "$TMP/ferry-$n.conf" \
		--listen "127.0.0.1:${PORT[ferry]}" >"${LOG[ferry]}" 2>&1 &
	PID[ferry]=$!
	STARTED_PIDS+=("${PID[ferry]}")
	local s
	for s in ferry nginx; do
		wait_host "${PORT[$s]}" s0.example.com "${PID[$s]}" ||
			server_failed "$s" "did not answer 200 for s0.example.com on 127.0.0.1:${PORT[$s]} within 20 s"
	done
}

# The Hosts measured for N sites: "position kind host".
hosts_for() {
	local n=$1 pos i
	for pos in first middle last; do
		case $pos in first) i=0 ;; middle) i=$((n / 2)) ;; last) i=$((n - 1)) ;; esac
		[ "$n" = 1 ] && [ "$pos" != first ] && continue
		echo "$pos exact s$i.example.com"
		echo "$pos wildcard x.w$i.example.org"
	done
}

RUNS=$TMP/runs.txt # n server position kind round requests seconds rps p99_us non2xx sockerr cpu_ticks
: >"$RUNS"

# run_wrk SERVER N POSITION KIND HOST ROUND DURATION (ROUND 0: warm-up, not recorded)
run_wrk() {
	local s=$1 n=$2 pos=$3 kind=$4 host=$5 round=$6 dur=$7 out pids c0 c1
	out=$TMP/wrk-$s-$n-$pos-$kind-$round.txt
	[ "$round" = 0 ] || wait_quiet "$s $n $pos $kind round $round"
	pids=$(server_pids "$s")
	c0=$(cpu_ticks $pids)
	taskset -c "$CLIENT_CPU" wrk -t1 -c"$CONNS" -d"$dur" --latency -H "Host: $host" \
		"http://127.0.0.1:${PORT[$s]}/index.html" >"$out" 2>&1 ||
		{ cat "$out" >&2; die "wrk failed against $s"; }
	c1=$(cpu_ticks $pids)
	check_after_wrk "$s" "$pids" "$n sites, $pos $kind, round $round"
	wrk_result "$out" "$s ($n sites, $host)" "$s $n sites $pos $kind round $round"
	set -- $WRK
	log "$(printf '%-5s %5s sites %-6s %-8s round %s: %8.0f req/s  cpu %6.2f us/req' \
		"$s" "$n" "$pos" "$kind" "$round" "$3" "$(per_req_us $((c1 - c0)) "$1")")"
	[ "$round" = 0 ] && return 0
	echo "$n $s $pos $kind $round $WRK $((c1 - c0))" >>"$RUNS"
}

# ---- start-up ---------------------------------------------------------------------------------

STARTUP=$TMP/startup.txt # n layout what value (check_ms ready_ms reload_ms rss_kib)
: >"$STARTUP"

# startup LAYOUT N CONFIG: READY_N runs of ferry check and of helper ready.
startup() {
	local layout=$1 n=$2 cfg=$3 i t0 t1 out port
	port=$(free_port)
	for ((i = 0; i < READY_N; i++)); do
		t0=$(now_ns)
		taskset -c "$SERVER_CPU" "$FERRY" check "$cfg" >/dev/null || die "ferry check $cfg failed"
		t1=$(now_ns)
		echo "$n $layout check_ms $(awk -v t=$((t1 - t0)) 'BEGIN {print t / 1e6}')" >>"$STARTUP"
		out=$(taskset -c "$SERVER_CPU" "$HELPER" ready "$([ $i = 0 ] && echo "$RELOADS" || echo 0)" \
			"$FERRY" serve --config "$cfg" --listen "127.0.0.1:$port" 2>"$TMP/ready-$n-$layout.log") ||
			{ tail "$TMP/ready-$n-$layout.log" >&2; die "ferry with $n sites ($layout) did not get ready"; }
		awk -v n="$n" -v l="$layout" -v first="$i" '
			$1 == "ready_us" {print n, l, "ready_ms", $2 / 1000}
			$1 == "reload_us" {print n, l, "reload_ms", $2 / 1000}
			$1 == "rss_kib" && first == 0 {print n, l, "rss_after_reloads_kib", $2}' <<<"$out" >>"$STARTUP"
	done
}

# ---- the run ----------------------------------------------------------------------------------
bench_describe
log "ferry $FERRY_VERSION ($FERRY_REV) vs nginx $NGINX_VERSION; wrk $WRK_VERSION; $NCPU CPUs, $CPU_MODEL, Linux $KERNEL"
log "SIZES=$SIZES ROUNDS=$ROUNDS DURATION=$DURATION CONNS=$CONNS; servers on CPU $SERVER_CPU, wrk on CPU $CLIENT_CPU"
wait_for_idle

declare -A RSS CONF_BYTES NGINX_HASH
declare -a RELOAD_RUN=()
RELOADED=0
LARGEST=1
for n in $SIZES; do
	[ "$n" -gt "$LARGEST" ] && LARGEST=$n
	ferry_conf "$n" "$TMP/ferry-$n.conf"
	CONF_BYTES[$n]=$(stat -c %s "$TMP/ferry-$n.conf")
	ferry_conf_dir "$n" "$TMP/inc-$n"
	NGINX_HASH[$n]="server_names_hash_max_size $(nginx_hash_max "$n"), server_names_hash_bucket_size $NGINX_BUCKET"

	log "$n sites: start-up of ferry (one file of ${CONF_BYTES[$n]} bytes; then $n files)"
	startup one "$n" "$TMP/ferry-$n.conf"
	startup include "$n" "$TMP/inc-$n/ferry.conf"

	log "$n sites: CPU per request"
	start_servers "$n"
	for s in ferry nginx; do
		while read -r pos kind host; do check_host "$s" "$host"; done < <(hosts_for "$n")
		sleep 0.2
		RSS[$n,$s]=$(status_kib VmRSS $(server_pids "$s"))
	done
	log "$n sites: RSS after start-up and one request: ferry ${RSS[$n,ferry]} KiB, nginx ${RSS[$n,nginx]} KiB (master+worker)"
	while read -r pos kind host; do
		for s in ferry nginx; do run_wrk "$s" "$n" "$pos" "$kind" "$host" 0 "$WARMUP"; done
	done < <(hosts_for "$n")
	for ((r = 1; r <= ROUNDS; r++)); do
		if ((r % 2)); then order=(ferry nginx); else order=(nginx ferry); fi
		while read -r pos kind host; do
			for s in "${order[@]}"; do run_wrk "$s" "$n" "$pos" "$kind" "$host" "$r" "$DURATION"; done
		done < <(hosts_for "$n")
	done

	if [ "$n" = "$(echo $SIZES | tr ' ' '\n' | sort -n | tail -n 1)" ]; then
		log "$n sites: ferry under load, without and with $RELOADS reloads during the run"
		host=s$((n - 1)).example.com
		for with in 0 1; do
			out=$TMP/wrk-reload-$with.txt
			wait_quiet "reload run $with"
			taskset -c "$CLIENT_CPU" wrk -t1 -c"$CONNS" -d"$DURATION" --latency -H "Host: $host" \
				"http://127.0.0.1:${PORT[ferry]}/index.html" >"$out" 2>&1 &
			wrk_pid=$!
			if [ "$with" = 1 ]; then
				secs=$(awk -v d="$DURATION" 'BEGIN {print d + 0}')
				for ((k = 1; k <= RELOADS; k++)); do
					sleep "$(awk -v s="$secs" -v r="$RELOADS" 'BEGIN {print s / (r + 1)}')"
					kill -HUP "${PID[ferry]}"
				done
			fi
			wait "$wrk_pid" || { cat "$out" >&2; die "wrk failed (reload run)"; }
			wrk_result "$out" "ferry (reload run)" "ferry reload run $with"
			RELOAD_RUN[with]="$WRK $(awk '$1 == "Latency" && NF >= 4 {print $4; exit}' "$out")"
		done
		check_after_wrk ferry "${PID[ferry]}" "reload runs"
		RELOADED=$(grep -c 'SIGHUP: reloaded' "${LOG[ferry]}" || true)
	fi
	for s in ferry nginx; do stop_pid "${PID[$s]}"; done
done
LOAD_AFTER=$(cpu_busy_pct 1)

# ---- the report -------------------------------------------------------------------------------
# cpu N SERVER POSITION KIND: median over rounds of the CPU µs per request.
cpu() {
	awk -v n="$1" -v s="$2" -v p="$3" -v k="$4" -v hz="$HZ" \
		'$1 == n && $2 == s && $3 == p && $4 == k {print $12 * 1e6 / hz / $6}' "$RUNS" | median
}
rps() {
	awk -v n="$1" -v s="$2" -v p="$3" -v k="$4" \
		'$1 == n && $2 == s && $3 == p && $4 == k {print $8}' "$RUNS" | median
}
st() { awk -v n="$1" -v l="$2" -v w="$3" '$1 == n && $2 == l && $3 == w {print $4}' "$STARTUP" | median; }
stmax() { awk -v n="$1" -v l="$2" -v w="$3" '$1 == n && $2 == l && $3 == w {print $4}' "$STARTUP" | minmax %.1f; }
SMALLEST=$(echo $SIZES | tr ' ' '\n' | sort -n | head -n 1)

REPORT=$TMP/report.md
{
	echo "### $DATE"
	echo
	echo "Machine: nproc $NCPU, $CPU_MODEL, Linux $KERNEL."
	echo "ferry $FERRY_VERSION ($FERRY_REV), nginx $NGINX_VERSION, wrk $WRK_VERSION."
	echo "Run: \`SIZES=\"$SIZES\" ROUNDS=$ROUNDS DURATION=$DURATION CONNS=$CONNS READY_N=$READY_N RELOADS=$RELOADS bench/sites.sh\`;"
	echo "servers on CPU $SERVER_CPU (all threads / processes), \`wrk -t1 -c$CONNS\` on CPU $CLIENT_CPU; medians over $ROUNDS rounds (ABBA order)."
	echo "Other load on the machine (servers idle): before the run $LOAD_BEFORE, after it $LOAD_AFTER."
	echo
	echo "**Server CPU per request** (µs; GET /index.html, 612 bytes; site i is \`s<i>.example.com *.w<i>.example.org\`; exact: Host s<i>.example.com, wildcard: Host x.w<i>.example.org):"
	echo
	printf '| sites | site | Host | ferry | nginx | ferry/nginx | ferry / ferry with %s site | ferry req/s | nginx req/s |\n' "$SMALLEST"
	echo "|---:|---|---|---:|---:|---:|---:|---:|---:|"
	for n in $SIZES; do
		while read -r pos kind host; do
			f=$(cpu "$n" ferry "$pos" "$kind")
			g=$(cpu "$n" nginx "$pos" "$kind")
			base=$(cpu "$SMALLEST" ferry first "$kind")
			echo "| $n | $pos ($(case $pos in first) echo 0 ;; middle) echo $((n / 2)) ;; last) echo $((n - 1)) ;; esac)) | $kind | $(fmt "$f" %.2f) | $(fmt "$g" %.2f) | $(ratio "$f" "$g" %.3f) | $(ratio "$f" "$base" %.3f) | $(fmt "$(rps "$n" ferry "$pos" "$kind")" %.0f) | $(fmt "$(rps "$n" nginx "$pos" "$kind")" %.0f) |"
		done < <(hosts_for "$n")
	done
	echo
	# The targets, with the largest N: every position and kind against the smallest N's.
	worst_self=0 worst_nginx=0
	while read -r pos kind host; do
		f=$(cpu "$LARGEST" ferry "$pos" "$kind")
		worst_self=$(awk -v a="$worst_self" -v b="$(ratio "$f" "$(cpu "$SMALLEST" ferry first "$kind")" %.6f)" 'BEGIN {print (b > a ? b : a)}')
		worst_nginx=$(awk -v a="$worst_nginx" -v b="$(ratio "$f" "$(cpu "$LARGEST" nginx "$pos" "$kind")" %.6f)" 'BEGIN {print (b > a ? b : a)}')
	done < <(hosts_for "$LARGEST")
	echo "- Target: with $LARGEST sites, ferry's CPU per request within 5% of its $SMALLEST-site figure: worst ratio $(fmt "$worst_self" %.3f) (≤ 1.05: $(verdict "$worst_self" "<=" 1.05)); at most nginx's: worst ferry/nginx $(fmt "$worst_nginx" %.3f) (≤ 1.00: $(verdict "$worst_nginx" "<=" 1.00))."
	echo "- CPU = utime+stime of the server's processes, all threads (nginx: master+worker), from /proc/PID/stat before and after each wrk run, over the requests wrk completed; clock ticks of $((1000 / HZ)) ms, so a ${DURATION} run resolves a few tenths of a percent."
	echo "- nginx: one \`server\` block per site with \`server_name s<i>.example.com *.w<i>.example.org\` and the same root; per N: $(for n in $SIZES; do printf '%s: %s; ' "$n" "${NGINX_HASH[$n]}"; done)"
	echo
	echo "**Memory** (VmRSS after start-up and one request per measured Host; nginx: master+worker):"
	echo
	echo "| sites | config | ferry RSS | nginx RSS | ferry per site | nginx per site |"
	echo "|---:|---:|---:|---:|---:|---:|"
	for n in $SIZES; do
		fp=""
		gp=""
		if [ "$n" != "$SMALLEST" ]; then
			fp="$(awk -v a="${RSS[$n,ferry]}" -v b="${RSS[$SMALLEST,ferry]}" -v n="$n" -v m="$SMALLEST" 'BEGIN {printf "%.0f B", (a - b) * 1024 / (n - m)}')"
			gp="$(awk -v a="${RSS[$n,nginx]}" -v b="${RSS[$SMALLEST,nginx]}" -v n="$n" -v m="$SMALLEST" 'BEGIN {printf "%.0f B", (a - b) * 1024 / (n - m)}')"
		fi
		echo "| $n | ${CONF_BYTES[$n]} bytes | ${RSS[$n,ferry]} KiB | ${RSS[$n,nginx]} KiB | $fp | $gp |"
	done
	echo
	echo "**ferry's start-up** (medians of $READY_N; min–max in parentheses): \`ferry check\` wall time (starting the process included: the 1-site row is that floor); fork() → READY=1 under \`helper ready\` (exec, parse, indexes, roots opened, socket bound, sandbox, worker started); SIGHUP → READY=1 (a reload builds the new generation beside the old one, whose worker keeps serving):"
	echo
	echo "| sites | layout | ferry check | to READY=1 | reload | RSS after $RELOADS reloads |"
	echo "|---:|---|---:|---:|---:|---:|"
	for n in $SIZES; do
		for layout in one include; do
			echo "| $n | $([ $layout = one ] && echo "one file" || echo "$n files, include") | $(fmt "$(st "$n" $layout check_ms)" %.1f) ms ($(stmax "$n" $layout check_ms)) | $(fmt "$(st "$n" $layout ready_ms)" %.1f) ms ($(stmax "$n" $layout ready_ms)) | $(fmt "$(st "$n" $layout reload_ms)" %.1f) ms ($(stmax "$n" $layout reload_ms)) | $(st "$n" $layout rss_after_reloads_kib) KiB |"
		done
	done
	echo
	r_one=$(st "$LARGEST" one ready_ms)
	echo "- Target: parse + open ≤ 100 ms with $LARGEST sites: to READY=1 from one file $(fmt "$r_one" %.1f) ms ($(verdict "$r_one" "<=" 100)); \`ferry check\` $(fmt "$(st "$LARGEST" one check_ms)" %.1f) ms. With $LARGEST files the open/read/close of each file dominates: $(fmt "$(st "$LARGEST" include check_ms)" %.0f) ms for \`ferry check\`."
	echo
	if [ -n "${RELOAD_RUN[0]:-}" ]; then
		set -- ${RELOAD_RUN[0]}
		a_rps=$3 a_p99=$4 a_max=${7:-?}
		set -- ${RELOAD_RUN[1]}
		echo "**A reload under load** ($LARGEST sites, Host s$((LARGEST - 1)).example.com, wrk -c$CONNS for $DURATION): without reloads $(fmt "$a_rps" %.0f) req/s, p99 $(fmt "$a_p99" %.0f) µs, max $a_max; with $RELOADS SIGHUPs during the run ($RELOADED reloads logged in all) $(fmt "$3" %.0f) req/s, p99 $(fmt "$4" %.0f) µs, max ${7:-?}; errors: $5 non-2xx, $6 socket errors. The worker and the main thread share CPU $SERVER_CPU here, so the build of the new generation takes CPU time from the worker; it does not block it."
	fi
	echo
	echo "<details><summary>Every run</summary>"
	echo
	echo "| sites | server | site | Host | round | req/s | p99 µs | requests | CPU µs/req |"
	echo "|---:|---|---|---|---:|---:|---:|---:|---:|"
	awk -v hz="$HZ" '{printf "| %s | %s | %s | %s | %s | %.0f | %.0f | %d | %.2f |\n", $1, $2, $3, $4, $5, $8, $9, $6, $12 * 1e6 / hz / $6}' "$RUNS"
	echo
	echo "</details>"
} >"$REPORT"

echo
cat "$REPORT"

if [ "$RECORD" = 1 ]; then
	record_report '<!-- bench-sites:begin -->' '<!-- bench-sites:end -->' "## Thousands of sites

Produced by \`bench/sites.sh --record\` (run by hand; \`make bench\` does not run it); see the
header of bench/sites.sh."
fi
