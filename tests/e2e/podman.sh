# End-to-end, no service manager (sourced by run.sh): the image, run by Podman under
# systemd-socket-activate, as in the Podman socket activation tutorial.
#   e2e_image      build the image into the private store; at most 6 MiB
#   e2e_podman     the httpd demo (welcome page, SIGTERM), --read-only + --user 65534 with a
#                  bind-mounted site, echo over TCP and UDP

# Every part that runs a container: Podman with runc (crun fails on this host's cgroups) and
# netavark + aardvark-dns (lib.sh's containers.conf, the proxy's networks); build-image.sh
# strips the binary (binutils); free_port is python3. uidmap and slirp4netns are Podman's
# recommends for rootless use, kept for a user running the parts rootless by hand.
E2E_NEEDS[image]="podman:podman runc:runc /usr/lib/podman/netavark:netavark \
/usr/lib/podman/aardvark-dns:aardvark-dns readelf:binutils objcopy:binutils python3:python3 \
newuidmap:uidmap slirp4netns:slirp4netns"
E2E_NEEDS[podman]="systemd-socket-activate:systemd curl:curl socat:socat"

# sa_start NAME SA_OPTS... -- PODMAN_RUN_ARGS...: systemd-socket-activate + podman run in the
# background; sets SA_PID (podman's pid once the first connection arrived: same process).
# The container gets --network=none, or --network=$SA_NETWORK.
sa_start() {
	local name=$1 sa=()
	shift
	while [ "$1" != -- ]; do sa+=("$1"); shift; done
	shift
	systemd-socket-activate -E CONTAINERS_CONF "${sa[@]}" $PODMAN run --rm \
		--network="${SA_NETWORK:-none}" $RUN_OPTS "$@" \
		</dev/null >"$E2E_TMP/$name.log" 2>&1 &
	SA_PID=$!
	at_exit "kill -KILL $SA_PID"
	wait_for "grep -q 'Listening on' $E2E_TMP/$name.log" 5
}

# sa_stop NAME: SIGTERM to podman (it forwards it to ferry, PID 1 in the container); ok when
# everything exits 0 within 15 s.
sa_stop() {
	local name=$1 rc i
	kill -TERM "$SA_PID" 2>/dev/null
	for ((i = 0; i < 150; i++)); do
		kill -0 "$SA_PID" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$SA_PID" 2>/dev/null; then
		not_ok "$name: SIGTERM stops the container" "still running after 15 s" \
			"$(tail -5 "$E2E_TMP/$name.log")"
		kill -KILL "$SA_PID"
		return
	fi
	wait "$SA_PID"
	rc=$?
	if [ $rc -eq 0 ]; then
		ok "$name: SIGTERM stops the container, exit 0"
	else
		not_ok "$name: SIGTERM stops the container, exit 0" "exit $rc" \
			"$(tail -5 "$E2E_TMP/$name.log")"
	fi
}

e2e_image() {
	local out
	if out=$(PODMAN="$PODMAN" packaging/build-image.sh "$FERRY" 2>&1); then
		ok "image: podman build offline, $(echo "$out" | grep -o '[0-9]* bytes') (at most 6 MiB)"
		e2e_image_licences
		return 0
	fi
	not_ok "image: podman build offline, at most 6 MiB" "$out"
	return 1
}

# The image carries the licence of every library the binary names, and no other.
e2e_image_licences() {
	local c want have
	want=$( ("$FERRY" --version --verbose | grep -o '([a-z0-9_-]*\.txt)' | tr -d '()'
		cd packaging/licenses && printf '%s\n' README ./*GPL*.txt | sed 's|^\./||') | sort -u)
	c=$($PODMAN create localhost/ferry:latest 2>/dev/null) &&
		have=$($PODMAN export "$c" | tar -t | sed -n 's|^usr/share/licenses/ferry/\(..*\)|\1|p' |
			sort)
	[ -n "$c" ] && $PODMAN rm "$c" >/dev/null 2>&1
	if [ -n "$have" ] && [ "$have" = "$want" ]; then
		ok "image: the licences of the $(echo "$want" | grep -vc 'GPL\|README') linked libraries, no other"
	else
		not_ok "image: the licences of the linked libraries, no other" \
			"want: $(tr '\n' ' ' <<<"$want")" "have: $(tr '\n' ' ' <<<"$have")"
	fi
}

e2e_podman() {
	local port body

	# The httpd demo: systemd-socket-activate -l 8080 podman run --rm --network=none IMAGE
	port=$(free_port)
	sa_start httpd -l "127.0.0.1:$port" -- localhost/ferry
	body=$(curl -sS --max-time 20 "http://127.0.0.1:$port/" 2>&1)
	if echo "$body" | grep -q 'ferry works!'; then
		ok "httpd: socket-activated podman run --network=none serves the welcome page"
	else
		not_ok "httpd: socket-activated podman run --network=none serves the welcome page" \
			"$body" "$(tail -5 "$E2E_TMP/httpd.log")"
	fi
	check "httpd: a second request, same container" \
		curl -sSf --max-time 5 -o /dev/null "http://127.0.0.1:$port/"
	sa_stop httpd

	# --read-only, --user 65534:65534, a bind-mounted site and config.
	mkdir -p "$E2E_TMP/www"
	echo "hello from the e2e site" >"$E2E_TMP/www/index.html"
	printf 'listen 127.0.0.1:%s\nsite * {\n\troot %s\n}\n' "$port" "$E2E_TMP/www" \
		>"$E2E_TMP/site.conf"
	chmod -R a+rX "$E2E_TMP/www" "$E2E_TMP/site.conf"
	sa_start site -l "127.0.0.1:$port" -- --read-only --user 65534:65534 \
		-v "$E2E_TMP/site.conf:/etc/ferry/ferry.conf:ro" -v "$E2E_TMP/www:$E2E_TMP/www:ro" \
		localhost/ferry serve --config /etc/ferry/ferry.conf
	body=$(curl -sS --max-time 20 "http://127.0.0.1:$port/" 2>&1)
	if [ "$body" = "hello from the e2e site" ]; then
		ok "site: --read-only --user 65534:65534, bind-mounted config and root"
	else
		not_ok "site: --read-only --user 65534:65534, bind-mounted config and root" \
			"$body" "$(tail -5 "$E2E_TMP/site.log")"
	fi
	sa_stop site

	# echo over TCP, then UDP (systemd-socket-activate -d is for every socket of a call).
	port=$(free_port_tcp_udp)
	sa_start echo-tcp -l "127.0.0.1:$port" -- localhost/ferry echo
	body=$(echo hello | timeout 20 socat -t 15 - "tcp4:127.0.0.1:$port" 2>&1)
	if [ "$body" = hello ]; then ok "echo: TCP"; else
		not_ok "echo: TCP" "$body" "$(tail -5 "$E2E_TMP/echo-tcp.log")"; fi
	sa_stop echo-tcp

	sa_start echo-udp -d -l "127.0.0.1:$port" -- localhost/ferry echo
	body=$(echo hello | timeout 20 socat -T 15 - "udp4:127.0.0.1:$port" 2>&1)
	if [ "$body" = hello ]; then ok "echo: UDP"; else
		not_ok "echo: UDP" "$body" "$(tail -5 "$E2E_TMP/echo-udp.log")"; fi
	sa_stop echo-udp

	# The same UDP socket named by the config (`listen udp:...`), as the echo example does.
	printf 'listen udp:127.0.0.1:%s\n' "$port" >"$E2E_TMP/echo.conf"
	sa_start echo-udp-conf -d -l "127.0.0.1:$port" -- \
		-v "$E2E_TMP/echo.conf:/etc/ferry/ferry.conf:ro" localhost/ferry echo \
		--config /etc/ferry/ferry.conf
	body=$(echo hello | timeout 20 socat -T 15 - "udp4:127.0.0.1:$port" 2>&1)
	if [ "$body" = hello ]; then ok "echo: UDP socket matched by a 'listen udp:' line"; else
		not_ok "echo: UDP socket matched by a 'listen udp:' line" "$body" \
			"$(tail -3 "$E2E_TMP/echo-udp-conf.log")"; fi
	kill -TERM "$SA_PID" 2>/dev/null
	wait "$SA_PID" 2>/dev/null
}
