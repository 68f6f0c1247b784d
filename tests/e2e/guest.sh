#!/bin/bash
# Runs inside the booted trixie guest (nspawn.sh copies it to /var/tmp/ferry-e2e and runs it
# with nsenter): one example, one variant, end to end under systemd 257 and Podman 5.
#   guest.sh EXAMPLE MODE FLAVOR CHECK [FERRY_UNITS_ARG...]
#     MODE    user | system | system-as=test       FLAVOR  quadlet | podman-run | native
#     CHECK   http:PORT:BODY | echo | hosts:PORT:HOST=BODY,HOST=BODY... |
#             https:HOST=BODY,HOST=BODY...  (ports 80, 443/TCP and 443/UDP; the CA in $E/pki)
# An example with backends/ (the proxies) gets them first, as test's quadlet services: each
# Volume=%h/DIR:...:ro is a site saying "hello CONTAINERNAME", each Volume=%h/DIR:...:rw a
# directory chowned to the container's uid 65534 (podman unshare chown); a backends/*.service
# is a system service, started as it is.
# Prints "ok - x" / "not ok - x" / "# note" lines; the host numbers them (TAP).
# Steps: ferry units --install, quadlet -dryrun + systemd-analyze verify, daemon-reload, start
# the socket, first request, the service is active with conmon as MainPID, a second request
# reaches the same container, reload (SIGHUP) keeps serving, stop leaves nothing failed, and
# the files are removed again. https (the Caddy examples 3 and 4): each request is, per HOST,
# a 308 to https on port 80, then HTTP/1.1, HTTP/2 and HTTP/3 on 443 verified against the test
# CA, each from its own source address 127.0.N.K (request N); after the second request, the
# access log has those addresses with the protocol, responses carry Alt-Svc h3, and all of it
# works over ::1 too; a reload while curl keeps asking (HTTP/1.1, HTTP/2) fails no request;
# with `tls acme`, NAME-acme.service first gets the certificate (the CA's root is then
# $E/pki/ca.crt). Native services (--native, ferry at /usr/local/bin/ferry): the MainPID
# is ferry itself, not root for a system service; also the score of systemd-analyze
# security, and a restart (a new MainPID serving).
set -u
E=/var/tmp/ferry-e2e
example=$1 mode=$2 flavor=$3 chk=$4
shift 4
extra=("$@")
name=$example
tag="$example ($mode, $flavor)"
uid=1000

ok() { echo "ok - $tag: $1"; }
not_ok() {
	echo "not ok - $tag: $1"
	shift
	local l
	for l in "$@"; do printf '%s\n' "$l" | sed 's/^/# /'; done
}

# Commands as the manager that owns the units, and Podman as the user that runs it.
if [ "$mode" = user ]; then
	as() { runuser -u test -- env HOME=/home/test XDG_RUNTIME_DIR=/run/user/$uid \
		DBUS_SESSION_BUS_ADDRESS=unix:path=/run/user/$uid/bus "$@"; }
	sc() { as systemctl --user "$@"; }
	pm() { as systemd-run --user --wait --pipe --quiet podman "$@"; }
	journal() { journalctl _UID=$uid -n 30 --no-pager -o cat; }
	run_units() { as "$@"; }
else
	sc() { systemctl "$@"; }
	if [ "$mode" = system ]; then
		pm() { systemd-run --wait --pipe --quiet podman "$@"; }
	else
		pm() { runuser -u test -- env HOME=/home/test XDG_RUNTIME_DIR=/run/user/$uid \
			DBUS_SESSION_BUS_ADDRESS=unix:path=/run/user/$uid/bus \
			systemd-run --user --wait --pipe --quiet podman "$@"; }
	fi
	journal() { journalctl -u "$1" -n 30 --no-pager -o cat; }
	run_units() { "$@"; }
fi

# request N: the check for this example; prints what went wrong.
request() {
	case $chk in
	http:*)
		local port=${chk#http:} body
		body=${port#*:}
		port=${port%%:*}
		local got
		got=$(curl -sS --max-time 30 "http://127.0.0.1:$port/" 2>&1)
		[ "$got" = "$body" ] || { echo "got: $got"; return 1; }
		;;
	hosts:*)
		local rest=${chk#hosts:} port pair got
		port=${rest%%:*}
		IFS=, read -r -a pairs <<<"${rest#*:}"
		for pair in "${pairs[@]}"; do
			got=$(curl -sS --max-time 30 -H "Host: ${pair%%=*}" "http://127.0.0.1:$port/" 2>&1)
			[ "$got" = "${pair#*=}" ] || { echo "Host ${pair%%=*}: got: $got"; return 1; }
		done
		;;
	https:*)
		local pair host body got v k=0
		IFS=, read -r -a pairs <<<"${chk#https:}"
		for pair in "${pairs[@]}"; do
			host=${pair%%=*} body=${pair#*=}
			got=$(curl -sS --max-time 30 -o /dev/null -w '%{http_code} %{redirect_url}' \
				--resolve "$host:80:127.0.0.1" "http://$host/" 2>&1)
			[ "$got" = "308 https://$host/" ] || { echo "http://$host/: got: $got"; return 1; }
			for v in 1.1 2 3; do
				k=$((k + 1))
				got=$(curl -sS --max-time 30 "$(proto_opt $v)" --cacert "$E/pki/ca.crt" \
					--interface "127.0.$1.$k" --resolve "$host:443:127.0.0.1" \
					-w '\n%{http_version}' "https://$host/" 2>&1)
				[ "${got##*$'\n'}" = "$v" ] && [ "${got%$'\n'*}" = "$body"$'\n' ] || {
					echo "https://$host/ over HTTP/$v from 127.0.$1.$k: got: $got"
					return 1
				}
			done
		done
		;;
	echo)
		local got
		got=$(echo "hello $1" | timeout 30 socat -t 25 - tcp4:127.0.0.1:3000 2>&1)
		[ "$got" = "hello $1" ] || { echo "got: $got"; return 1; }
		;;
	esac
}

proto_opt() { case $1 in 1.1) echo --http1.1 ;; 2) echo --http2 ;; 3) echo --http3-only ;; esac; }

# https: the h3 advertisement on TCP; the redirect and the three protocols over IPv6; request
# N's lines in the access log (the journal), each with its client's own address and protocol.
https_checks() {
	local n=$1 pairs pair host k=0 v want miss log hdr
	IFS=, read -r -a pairs <<<"${chk#https:}"
	host=${pairs[0]%%=*}
	hdr=$(curl -sS --max-time 30 --http2 --cacert "$E/pki/ca.crt" -D - -o /dev/null \
		--resolve "$host:443:127.0.0.1" "https://$host/" 2>&1)
	if grep -qi '^alt-svc: h3=":443"' <<<"$hdr"; then ok "Alt-Svc advertises h3 on 443"; else
		not_ok "Alt-Svc advertises h3 on 443" "$hdr"; fi
	# The sockets are dual-stack ([::]:PORT, BindIPv6Only=both): IPv6 too.
	miss=()
	for v in 1.1 2 3; do
		log=$(curl -sS --max-time 30 "$(proto_opt $v)" --cacert "$E/pki/ca.crt" \
			--resolve "$host:443:[::1]" -w '\n%{http_version}' "https://$host/" 2>&1)
		[ "${log##*$'\n'}" = "$v" ] && [ "${log%$'\n'*}" = "${pairs[0]#*=}"$'\n' ] ||
			miss+=("HTTP/$v: $log")
	done
	log=$(curl -sS --max-time 30 -o /dev/null -w '%{http_code} %{redirect_url}' \
		--resolve "$host:80:[::1]" "http://$host/" 2>&1)
	[ "$log" = "308 https://$host/" ] || miss+=("http://$host/: $log")
	if [ ${#miss[@]} -eq 0 ]; then ok "over IPv6 (::1): the redirect, HTTP/1.1, HTTP/2, HTTP/3"
	else not_ok "over IPv6 (::1): the redirect, HTTP/1.1, HTTP/2, HTTP/3" "${miss[@]}"; fi
	want=()
	for pair in "${pairs[@]}"; do
		for v in 1.1 2.0 3.0; do
			k=$((k + 1))
			want+=("127\\.0\\.$n\\.$k - .*\"GET / HTTP/$v\" 200 ")
		done
	done
	for _ in $(seq 50); do
		log=$(journalctl -b --no-pager -o cat 2>&1)
		miss=()
		for v in "${want[@]}"; do grep -Eq "(^|[ :])$v" <<<"$log" || miss+=("$v"); done
		[ ${#miss[@]} -eq 0 ] && break
		sleep 0.2
	done
	if [ ${#miss[@]} -eq 0 ]; then
		ok "access log: the clients' own addresses 127.0.$n.1-$k, HTTP/1.1, HTTP/2.0 and HTTP/3.0"
	else
		not_ok "access log: the clients' own addresses 127.0.$n.1-$k with their protocol" \
			"missing: ${miss[*]}" "$(grep -E '"GET ' <<<"$log" | tail -8)"
	fi
}

# https: a reload while clients keep asking, 10 requests per connection (curl moves to a new
# connection after the GOAWAY): no request may fail, over HTTP/1.1, HTTP/2 and HTTP/3. (This
# curl over OpenSSL's QUIC, when the second datagram of its ClientHello reaches ferry late, as
# a hand-over between workers makes it, never sends its control and QPACK streams: ferry offers
# no QPACK dynamic table, so that its requests do not wait for them.)
reload_under_load() {
	local pairs host d v i pids=() urls=() seen=() n bad out protos=(1.1 2 3)
	IFS=, read -r -a pairs <<<"${chk#https:}"
	host=${pairs[0]%%=*}
	d=$(mktemp -d /var/tmp/ferry-e2e-load.XXXXXX)
	for i in $(seq 10); do urls+=(-o /dev/null "https://$host/"); done
	for v in "${protos[@]}"; do
		(
			while [ ! -e "$d/stop" ]; do
				curl -sS --max-time 20 "$(proto_opt "$v")" --cacert "$E/pki/ca.crt" \
					--resolve "$host:443:127.0.0.1" -w '%{http_code}\n' "${urls[@]}" \
					>>"$d/$v.codes" 2>>"$d/$v.err" || echo "curl exit $?" >>"$d/$v.err"
			done
		) &
		pids+=($!)
	done
	codes() { local c; c=$(grep -c '^200$' "$d/$1.codes" 2>/dev/null); echo "${c:-0}"; }
	# Every client has been answered before the reload, and again 20 times after it.
	# answered: each protocol has at least $1 more 200s than seen[] (empty: than none)
	answered() {
		local i=0 v
		for v in "${protos[@]}"; do
			[ "$(codes "$v")" -ge $((${seen[i]:-0} + $1)) ] || return 1
			i=$((i + 1))
		done
	}
	for _ in $(seq 100); do
		answered 1 && break
		sleep 0.1
	done
	for v in "${protos[@]}"; do seen+=("$(codes "$v")"); done
	local reloads
	reloads=$(journalctl -b --no-pager -o cat | grep -c 'SIGHUP: reloaded')
	out=$(sc reload "$name.service" 2>&1)
	for _ in $(seq 200); do
		answered 20 && break
		sleep 0.1
	done
	touch "$d/stop"
	wait "${pids[@]}"
	n="" bad=""
	for v in "${protos[@]}"; do
		n+=" HTTP/$v $(codes "$v")"
		bad+=$(grep -v '^200$' "$d/$v.codes" | sort | uniq -c | sed "s|^|HTTP/$v: |")
		[ -s "$d/$v.err" ] && bad+=$(sed "s|^|HTTP/$v: |" "$d/$v.err" | sort | uniq -c | head -5)
	done
	local ok_all=1
	answered 20 || ok_all=""
	# the reload did happen (ferry logs it once done)
	for _ in $(seq 50); do
		[ "$(journalctl -b --no-pager -o cat | grep -c 'SIGHUP: reloaded')" -gt "$reloads" ] &&
			break
		sleep 0.2
	done
	[ "$(journalctl -b --no-pager -o cat | grep -c 'SIGHUP: reloaded')" -gt "$reloads" ] ||
		bad+="ferry did not log 'SIGHUP: reloaded'"
	if [ -z "$bad" ] && [ -n "$ok_all" ] && [ "$(main_pid)" = "$pid" ]; then
		ok "reload under load: ferry reloaded, no request failed (answered:$n), same MainPID"
	else
		not_ok "reload under load: no request failed, 20 more each after it, same MainPID" \
			"answered:$n (before the reload: ${seen[*]})" "$out" "$bad" \
			"MainPID $(main_pid) (was $pid)"
	fi
	rm -rf "$d"
}

main_pid() { sc show -P MainPID "$name.service"; }
if [ "$flavor" = native ]; then
	container_id() { echo none; }
else
	container_id() { pm ps -q --no-trunc --filter "name=^systemd-$name\$"; }
fi

cleanup() {
	sc stop "$name.socket" "$name.service" >/dev/null 2>&1
	if [ "$mode" = user ]; then
		rm -f /home/test/.config/systemd/user/$name.* /home/test/.config/containers/systemd/$name.* \
			/home/test/.config/containers/systemd/$name-acme.{container,timer} \
			/home/test/.config/systemd/user/$name-acme.{service,timer} \
			/home/test/.config/ferry/$name.conf
	else
		rm -rf /etc/systemd/system/$name.* /etc/containers/systemd/$name.* \
			/etc/containers/systemd/$name-acme.{container,timer} \
			/etc/systemd/system/$name-acme.{service,timer} /etc/ferry/$name.conf
	fi
	sc daemon-reload
	sc reset-failed "$name.service" "$name.socket" "$name-acme.service" >/dev/null 2>&1
}

# The backends, as test's user services (the proxy examples).
bdir=$E/examples/$example/backends
buser() { runuser -u test -- env HOME=/home/test XDG_RUNTIME_DIR=/run/user/$uid \
	DBUS_SESSION_BUS_ADDRESS=unix:path=/run/user/$uid/bus "$@"; }
backends_down() {
	[ -d "$bdir" ] || return 0
	local f
	for f in "$bdir"/*.service; do
		[ -e "$f" ] || continue
		systemctl stop "$(basename "$f")" >/dev/null 2>&1
		rm -f "/etc/systemd/system/$(basename "$f")"
		systemctl daemon-reload
		systemctl reset-failed "$(basename "$f")" >/dev/null 2>&1
	done
	ls "$bdir"/*.container >/dev/null 2>&1 || return 0
	for f in "$bdir"/*.container; do
		buser systemctl --user stop "$(basename "$f" .container).service" >/dev/null 2>&1
	done
	for f in "$bdir"/*.network; do
		buser systemctl --user stop "$(basename "$f" .network)-network.service" >/dev/null 2>&1
		buser systemd-run --user --wait --pipe --quiet podman network rm -f \
			"systemd-$(basename "$f" .network)" >/dev/null 2>&1
	done
	for f in "$bdir"/*; do rm -f "/home/test/.config/containers/systemd/$(basename "$f")"; done
	buser systemctl --user daemon-reload >/dev/null 2>&1
	buser systemctl --user reset-failed >/dev/null 2>&1
	for f in "$bdir"/*.container; do
		sed -n 's|^Volume=%h/\([^:]*\):.*|\1|p' "$f" | while read -r d; do
			buser systemd-run --user --wait --pipe --quiet podman unshare rm -rf \
				"/home/test/$d" >/dev/null 2>&1
		done
	done
}
backends_up() {
	[ -d "$bdir" ] || return 0
	local f d cname units=() out
	for f in "$bdir"/*.service; do
		[ -e "$f" ] || continue
		install -m 0644 "$f" /etc/systemd/system/
		systemctl daemon-reload
		if out=$(systemctl start "$(basename "$f")" 2>&1); then
			ok "backend $(basename "$f") started (a system service)"
		else
			not_ok "backend $(basename "$f") started (a system service)" "$out" \
				"$(journalctl -u "$(basename "$f")" -n 10 --no-pager -o cat)"
		fi
	done
	ls "$bdir"/*.container >/dev/null 2>&1 || return 0
	buser mkdir -p /home/test/.config/containers/systemd
	for f in "$bdir"/*; do
		install -o test -m 0644 "$f" /home/test/.config/containers/systemd/
	done
	for f in "$bdir"/*.container; do
		cname=$(sed -n 's/^ContainerName=//p' "$f")
		units+=("$(basename "$f" .container).service")
		sed -n 's|^Volume=%h/\([^:]*\):[^:]*:ro.*|\1|p' "$f" | while read -r d; do
			buser sh -c "mkdir -p ~/$d && echo 'hello $cname' >~/$d/index.html && chmod -R a+rX ~/$d"
		done
		sed -n 's|^Volume=%h/\([^:]*\):[^:]*:rw.*|\1|p' "$f" | while read -r d; do
			buser mkdir -p "/home/test/$d"
			buser systemd-run --user --wait --pipe --quiet podman unshare chown 65534:65534 "/home/test/$d"
		done
	done
	chmod a+x /home/test
	buser systemctl --user daemon-reload
	if out=$(buser systemctl --user start "${units[@]}" 2>&1); then
		ok "backends ${units[*]} started (test's quadlet services)"
	else
		not_ok "backends ${units[*]} started (test's quadlet services)" "$out" \
			"$(journalctl _UID=$uid -n 10 --no-pager -o cat)"
	fi
}

cleanup
backends_down
backends_up
args=(--config "$E/examples/$example/ferry.conf" --mode "$mode" "--$flavor" --name "$name"
	"${extra[@]}")
[ "$chk" = echo ] && args+=(--echo)
if out=$(cd "$E/examples/$example" && run_units "$E/ferry" units "${args[@]}" --install 2>&1); then
	ok "ferry units --install"
else
	not_ok "ferry units --install" "$out"
	backends_down
	exit 0
fi

if [ "$flavor" = quadlet ]; then
	if [ "$mode" = user ]; then
		out=$(as /usr/libexec/podman/quadlet -dryrun -user 2>&1)
	else
		out=$(/usr/libexec/podman/quadlet -dryrun 2>&1)
	fi
	if [ $? -eq 0 ] && ! grep -qi 'unsupported\|error' <<<"$out"; then ok "quadlet -dryrun"; else
		not_ok "quadlet -dryrun" "$(grep -i 'unsupported\|error\|converting' <<<"$out" | head -5)"; fi
fi
sc daemon-reload
# Verify the files themselves: the service quadlet generated, or ours.
units=("$(sc show -P FragmentPath "$name.socket")" "$(sc show -P FragmentPath "$name.service")")
if [ "$mode" = user ]; then
	out=$(as systemd-analyze --user verify --man=no "${units[@]}" 2>&1)
else
	out=$(systemd-analyze verify --man=no "${units[@]}" 2>&1)
fi
if [ $? -eq 0 ] && [ -z "$out" ]; then ok "systemd-analyze verify"; else
	not_ok "systemd-analyze verify" "$out"; fi

if out=$(sc start "$name.socket" 2>&1); then ok "start $name.socket"; else
	not_ok "start $name.socket" "$out" "$(sc status "$name.socket" --no-pager 2>&1 | tail -5)"
	cleanup
	backends_down
	exit 0
fi

# `tls acme` (split mode): the acme oneshot gets the certificate (the CA validates through the
# socket's port 80, which starts the server), and the server picks it up by itself.
if [ "$(sc show -P LoadState "$name-acme.service")" = loaded ]; then
	if out=$(sc start "$name-acme.service" 2>&1); then
		ok "$name-acme.service (ferry acme) got the certificate"
	else
		not_ok "$name-acme.service (ferry acme) got the certificate" "$out" \
			"$(journal "$name-acme.service" | tail -12)"
	fi
	host=${chk#https:}
	host=${host%%=*}
	t0=$SECONDS
	until out=$(curl -sS --max-time 10 --cacert "$E/pki/ca.crt" --resolve "$host:443:127.0.0.1" \
		-o /dev/null "https://$host/" 2>&1); do
		[ $((SECONDS - t0)) -lt 30 ] || break
		sleep 0.2
	done
	if [ -z "$out" ]; then
		ok "the server serves the new certificate, no restart ($((SECONDS - t0)) s after)"
	else
		not_ok "the server serves the new certificate, no restart" "$out" \
			"$(journal "$name.service" | tail -8)"
	fi
fi

if out=$(request 1); then ok "first request"; else
	not_ok "first request" "$out" "$(journal "$name.service" | tail -8)"
	cleanup
	backends_down
	exit 0
fi

pid=$(main_pid)
state=$(sc show -P ActiveState "$name.service")
comm=$(cat "/proc/$pid/comm" 2>/dev/null)
cid=$(container_id)
if [ "$flavor" = native ]; then
	# ferry itself; a system service's user is allocated at start (DynamicUser=), never root
	puid=$(awk '/^Uid:/{print $2}' "/proc/$pid/status" 2>/dev/null)
	if [ "$mode" = user ]; then want_uid=$uid; uid_ok=$([ "$puid" = "$uid" ] && echo 1); else
		want_uid="not 0"; uid_ok=$([ -n "$puid" ] && [ "$puid" != 0 ] && echo 1); fi
	if [ "$state" = active ] && [ "$comm" = ferry ] && [ -n "$uid_ok" ]; then
		ok "service active, MainPID $pid is ferry, uid $puid"
	else
		not_ok "service active, MainPID $pid is ferry, uid $want_uid" \
			"state=$state comm=$comm uid=$puid" "$(journal "$name.service" | tail -8)"
	fi
elif [ "$state" = active ] && [ "$comm" = conmon ] && [ -n "$cid" ]; then
	ok "service active, MainPID $pid is conmon"
else
	not_ok "service active, MainPID $pid is conmon" "state=$state comm=$comm cid=$cid" \
		"$(journal "$name.service" | tail -8)"
fi

sleep 1 # long enough for a service that fails after its first answer to show it
if out=$(request 2) && [ "$(main_pid)" = "$pid" ] && [ "$(container_id)" = "$cid" ]; then
	ok "second request, same MainPID$([ "$flavor" = native ] || echo " and container")"
else
	not_ok "second request, same MainPID$([ "$flavor" = native ] || echo " and container")" "$out" \
		"MainPID $(main_pid) (was $pid), container $(container_id) (was $cid)"
fi

[[ $chk == https:* ]] && https_checks 2

if [ "$chk" = echo ]; then
	# Every other socket of the unit, as in the Podman tutorial.
	for t in "tcp6:[::1]:3000" "udp4:127.0.0.1:3000" "udp6:[::1]:3000" \
		"unix:/home/test/echo_stream_sock"; do
		got=$(echo "hello $t" | timeout 10 socat -T 5 - "$t" 2>&1)
		if [ "$got" = "hello $t" ]; then ok "echo over $t"; else
			not_ok "echo over $t" "got: $got"; fi
	done
	if [ -e /dev/vsock ] && timeout 3 socat -u /dev/null VSOCK-CONNECT:1:3000 2>/dev/null; then
		got=$(echo "hello vsock" | timeout 20 socat -t 15 - VSOCK-CONNECT:1:3000 2>&1)
		if [ "$got" = "hello vsock" ]; then ok "echo over vsock"; else
			not_ok "echo over vsock" "got: $got"; fi
	else
		echo "ok - $tag: echo over vsock # SKIP no vsock loopback (vsock_loopback) here"
	fi
fi

[[ $chk == https:* ]] && reload_under_load

if out=$(sc reload "$name.service" 2>&1) && out=$(request 3) && [ "$(main_pid)" = "$pid" ]; then
	ok "reload (SIGHUP) keeps serving, same MainPID"
else
	not_ok "reload (SIGHUP) keeps serving, same MainPID" "$out" "MainPID $(main_pid) (was $pid)" \
		"$(journal "$name.service" | tail -5)"
fi

if [ "$flavor" = native ]; then
	# A restart: a new ferry, serving the same sockets.
	if out=$(sc restart "$name.service" 2>&1) && out=$(request 4) &&
		[ "$(sc show -P ActiveState "$name.service")" = active ] &&
		[ "$(main_pid)" != "$pid" ] && [ "$(cat "/proc/$(main_pid)/comm" 2>/dev/null)" = ferry ]; then
		ok "restart: a new MainPID $(main_pid) serves"
	else
		not_ok "restart: a new MainPID serves" "$out" "MainPID $(main_pid) (was $pid)" \
			"$(journal "$name.service" | tail -5)"
	fi
	# reload-on-change (when the example has it): an edit of the installed config reloads,
	# inside the service's sandbox (inotify under SystemCallFilter=, ProtectSystem=)
	if grep -q '^reload-on-change on' "$E/examples/$example/ferry.conf"; then
		conf=/etc/ferry/$name.conf
		[ "$mode" = user ] && conf=/home/test/.config/ferry/$name.conf
		before=$(journal "$name.service" | grep -c 'changed: reloading')
		pid2=$(main_pid)
		echo "# edited by tests/e2e/guest.sh" >>"$conf"
		for _ in $(seq 50); do
			[ "$(journal "$name.service" | grep -c 'changed: reloading')" -gt "$before" ] && break
			sleep 0.2
		done
		if [ "$(journal "$name.service" | grep -c 'changed: reloading')" -gt "$before" ] &&
			out=$(request 5) && [ "$(main_pid)" = "$pid2" ]; then
			ok "reload-on-change: an edit of $conf reloads, same MainPID"
		else
			not_ok "reload-on-change: an edit of $conf reloads, same MainPID" "$out" \
				"$(journal "$name.service" | tail -5)"
		fi
	fi
	# systemd-analyze security: <= 1.5 without network, <= 2.5 with a TCP upstream
	unit=$(sc show -P FragmentPath "$name.service")
	limit=$(grep -q '^PrivateNetwork=yes' "$unit" && echo 1.5 || echo 2.5)
	if [ "$mode" = user ]; then
		out=$(as systemd-analyze --user security --offline=true --no-pager "$unit" 2>&1)
	else
		out=$(systemd-analyze security --offline=true --no-pager "$unit" 2>&1)
	fi
	score=$(sed -n 's/.*Overall exposure level for .*: \([0-9.]*\) .*/\1/p' <<<"$out")
	if [ "$mode" = user ]; then
		echo "# $tag: systemd-analyze --user security: ${score:-?} (no target for user services)"
	elif [ -n "$score" ] && awk -v s="$score" -v l="$limit" 'BEGIN{exit !(s <= l)}'; then
		ok "systemd-analyze security --offline=true: $score (at most $limit)"
	else
		not_ok "systemd-analyze security --offline=true: ${score:-?} (at most $limit)" \
			"$(tail -3 <<<"$out")"
	fi
fi

sc stop "$name.socket" "$name.service"
svc=$(sc is-failed "$name.service")
sock=$(sc is-failed "$name.socket")
left=""
[ "$flavor" = native ] || left=$(pm ps -a -q --filter "name=^systemd-$name\$")
if [ "$svc" = inactive ] && [ "$sock" = inactive ] && [ -z "$left" ]; then
	ok "stop leaves nothing failed, no container"
else
	not_ok "stop leaves nothing failed, no container" "service $svc, socket $sock, containers: $left" \
		"$(journal "$name.service" | tail -5)"
fi
cleanup
backends_down
