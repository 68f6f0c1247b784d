# End-to-end, Caddy's socket-activation examples 3 and 4 with ferry (sourced by run.sh): the
# trixie guest that nspawn.sh boots, the user "test" (linger), one socket unit passing
# 80/TCP, 443/TCP and 443/UDP to ferry in rootless Podman (packaging/examples/caddy-example3,
# caddy-example4), each through tests/e2e/guest.sh with the check "https": install, quadlet
# -dryrun, systemd-analyze verify, start the socket; per site a 308 from port 80 to https,
# then HTTP/1.1, HTTP/2 and HTTP/3 (the guest's curl 8.14 speaks it) verified against a test
# CA; conmon as MainPID; the same container for a second round; the clients' own addresses
# and protocols in the access log; Alt-Svc h3; reload (SIGHUP) and a third round; stop.
# The certificates are files made here with openssl (a test CA, as tests/integration/lib/
# pki.py does), in ~test/tls, mounted read-only, readable by the container's uid 65534.
# Ports 80 and 443 for the user's manager: net.ipv4.ip_unprivileged_port_start=80 in the
# guest's own network namespace (the host's is untouched). Then caddy-example3-acme: the
# certificate from pebble (run in the guest's network namespace) by the generated acme
# oneshot, http-01 answered through the socket unit's port 80 by the server, which has no
# network, verified against pebble's root over all three protocols.

E2E_NEEDS[caddy]="${E2E_NEEDS[nspawn]} openssl:openssl pebble:pebble"

# caddy_pebble DIR: pebble and pebble-challtestsrv (the host's binaries) in the guest's
# network namespace only: the ACME directory on the guest's 127.0.0.1:14000, every name
# resolving to 127.0.0.1 (so http-01 is validated on the guest's port 80: the socket unit).
# pebble's own HTTPS has a certificate from a test CA made here (DIR/pebble-ca.pem); its
# issuing root, once it runs, goes to DIR/ca.crt.
caddy_pebble() {
	local d=$1
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
		-subj "/CN=ferry e2e CA for pebble" -keyout "$d/pebble-ca.key" -out "$d/pebble-ca.pem" &&
		openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=localhost \
			-keyout "$d/pebble.key" -out "$d/pebble.csr" &&
		printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' >"$d/pebble.ext" &&
		openssl x509 -req -in "$d/pebble.csr" -CA "$d/pebble-ca.pem" -CAkey "$d/pebble-ca.key" \
			-set_serial 1 -days 2 -extfile "$d/pebble.ext" -out "$d/pebble.pem" || return 1
	printf '{"pebble": {"listenAddress": "127.0.0.1:14000", "managementListenAddress":
"127.0.0.1:15000", "certificate": "%s", "privateKey": "%s", "httpPort": 80, "tlsPort": 443,
"ocspResponderURL": "", "externalAccountBindingRequired": false}}\n' \
		"$d/pebble.pem" "$d/pebble.key" >"$d/pebble.json"
	nsenter -t "$GUEST" -n pebble-challtestsrv -dns01 127.0.0.1:8053 -http01 "" -https01 "" \
		-tlsalpn01 "" -management 127.0.0.1:8055 -defaultIPv4 127.0.0.1 -defaultIPv6 "" \
		</dev/null >"$d/challtestsrv.log" 2>&1 &
	PEBBLE_PIDS=$!
	PEBBLE_VA_NOSLEEP=1 nsenter -t "$GUEST" -n pebble -config "$d/pebble.json" \
		-dnsserver 127.0.0.1:8053 </dev/null >"$d/pebble.log" 2>&1 &
	PEBBLE_PIDS+=" $!"
	# (nsenter execs them: these are their pids)
	at_exit "kill $PEBBLE_PIDS"
	if ! wait_for "grep -q 'Listening on' $d/pebble.log && grep -q 'Starting challenge servers' $d/challtestsrv.log" 20; then
		tail -5 "$d/pebble.log" "$d/challtestsrv.log"
		return 1
	fi
	nsenter -t "$GUEST" -n curl -sS --max-time 20 --cacert "$d/pebble-ca.pem" \
		-o "$d/ca.crt" https://127.0.0.1:15000/roots/0
}

# caddy_pki DIR NAME...: a CA (ca.crt) and, per NAME, NAME.crt + NAME.key (ECDSA P-256).
caddy_pki() {
	local d=$1 n
	shift
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$d/ca.key" \
		-out "$d/ca.crt" -days 2 -subj "/CN=ferry e2e test CA" || return 1
	for n in "$@"; do
		openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$d/$n.key" &&
			openssl req -new -key "$d/$n.key" -subj "/CN=$n" -out "$d/$n.csr" &&
			printf 'subjectAltName=DNS:%s\n' "$n" >"$d/$n.ext" &&
			openssl x509 -req -in "$d/$n.csr" -CA "$d/ca.crt" -CAkey "$d/ca.key" \
				-set_serial "$RANDOM" -days 2 -extfile "$d/$n.ext" -out "$d/$n.crt" || return 1
	done
	rm -f "$d/ca.key" "$d"/*.csr "$d"/*.ext
}

# caddy_tls NAME...: the guest's ~test/tls gets NAME.crt and NAME.key, the key owned by the
# container's uid 65534 (podman unshare chown), mode 0600, as the example's README says.
caddy_tls() {
	local n out
	g sh -c 'rm -rf /home/test/tls && install -d -o test -g test -m 0755 /home/test/tls' || return 1
	for n in "$@"; do
		g install -o test -g test -m 0644 "/var/tmp/ferry-e2e/pki/$n.crt" /home/test/tls/ &&
			g install -o test -g test -m 0600 "/var/tmp/ferry-e2e/pki/$n.key" /home/test/tls/ ||
			return 1
		out=$(g runuser -u test -- env XDG_RUNTIME_DIR=/run/user/1000 \
			DBUS_SESSION_BUS_ADDRESS=unix:path=/run/user/1000/bus systemd-run --user --wait \
			--pipe --quiet podman unshare chown 65534:65534 "/home/test/tls/$n.key" 2>&1) ||
			{ echo "$out"; return 1; }
	done
}

e2e_caddy() {
	local rootfs e out t0=$SECONDS
	nspawn_prepare caddy || return
	rootfs=$NSPAWN_ROOTFS e=$NSPAWN_E
	mkdir -p "$e/pki"
	if ! out=$(caddy_pki "$e/pki" example.com whoami.example.com static.example.com 2>&1); then
		not_ok "caddy: a test CA and certificates (openssl)" "$out"
		return
	fi
	if ! out=$($PODMAN save --format oci-archive -o "$e/ferry.tar" localhost/ferry:latest 2>&1); then
		not_ok "caddy: podman save the image" "$out"
		return
	fi
	chmod -R a+rX "$e"

	if nspawn_boot "$rootfs"; then
		ok "caddy: boot the trixie guest (systemd $(g systemctl --version | awk 'NR==1{print $2}'), $(g podman --version), $(g curl --version | head -1 | cut -d' ' -f1-2)), $BOOT_NOTE"
	else
		not_ok "caddy: boot the trixie guest" "$(tail -12 "$E2E_TMP/nspawn.log")"
		return
	fi
	g timeout 30 sh -c 'until [ -S /run/user/1000/bus ]; do sleep 0.2; done'
	check "caddy: podman load (user test)" \
		g runuser -u test -- env XDG_RUNTIME_DIR=/run/user/1000 \
		DBUS_SESSION_BUS_ADDRESS=unix:path=/run/user/1000/bus \
		systemd-run --user --wait --pipe --quiet podman load -q -i /var/tmp/ferry-e2e/ferry.tar
	# As the demo: the user's manager binds 80 and 443 (the guest's network namespace).
	check "caddy: sysctl net.ipv4.ip_unprivileged_port_start=80 (guest)" \
		g sysctl -q -w net.ipv4.ip_unprivileged_port_start=80
	g runuser -u test -- sh -c 'rm -rf ~/www ~/static && mkdir -p ~/www ~/static &&
		echo "Hello world" >~/www/index.html && echo "hello static" >~/static/index.html'

	if out=$(caddy_tls example.com 2>&1); then
		guest_tap caddy-example3 user quadlet "https:example.com=Hello world"
	else
		not_ok "caddy: certificate files in ~test/tls" "$out"
	fi
	if out=$(caddy_tls whoami.example.com static.example.com 2>&1); then
		guest_tap caddy-example4 user quadlet \
			"https:whoami.example.com=hello whoami,static.example.com=hello static" \
			--network mynet.network
	else
		not_ok "caddy: certificate files in ~test/tls" "$out"
	fi

	# The same example, the certificate from ACME: pebble in the guest, the acme oneshot
	# (caddy-example3-acme-acme.container) with the guest's network (a drop-in: the guest
	# has no network but loopback, where pebble is; elsewhere it is Podman's default
	# network, and the CA on the Internet), the server with Network=none.
	local ae=$e/examples/caddy-example3-acme qd=/home/test/.config/containers/systemd
	# Not in $(...): its background processes and their cleanup belong to this shell.
	PEBBLE_PIDS=""
	if ! caddy_pebble "$E2E_TMP" >"$E2E_TMP/pebble-setup.log" 2>&1; then
		not_ok "caddy: pebble and pebble-challtestsrv in the guest's network" \
			"$(tail -8 "$E2E_TMP/pebble-setup.log")"
	else
		printf 'acme-ca https://127.0.0.1:14000/dir\nacme-ca-root /home/test/pebble/ca.pem\n' \
			>>"$ae/ferry.conf"
		cp "$E2E_TMP/ca.crt" "$e/pki/ca.crt"
		cp "$E2E_TMP/pebble-ca.pem" "$e/pki/pebble-ca.pem"
		chmod -R a+rX "$e"
		g runuser -u test -- sh -c "rm -rf ~/acme ~/pebble && mkdir -p ~/acme ~/pebble $qd/caddy-example3-acme-acme.container.d &&
			cp /var/tmp/ferry-e2e/pki/pebble-ca.pem ~/pebble/ca.pem &&
			printf '[Container]\nNetwork=host\n' >$qd/caddy-example3-acme-acme.container.d/e2e.conf"
		g runuser -u test -- env XDG_RUNTIME_DIR=/run/user/1000 \
			DBUS_SESSION_BUS_ADDRESS=unix:path=/run/user/1000/bus systemd-run --user --wait \
			--pipe --quiet podman unshare chown 65534:65534 /home/test/acme
		guest_tap caddy-example3-acme user quadlet "https:example.com=Hello world"
		# The acme oneshot wants the system's network-online.target, as it should for a CA
		# on the Internet; this guest has no network to be online with, and Podman's unit
		# waiting for it fails (the oneshot ran anyway: Wants=).
		g runuser -u test -- env XDG_RUNTIME_DIR=/run/user/1000 \
			DBUS_SESSION_BUS_ADDRESS=unix:path=/run/user/1000/bus systemctl --user \
			reset-failed podman-user-wait-network-online.service >/dev/null 2>&1
		g rm -rf "$qd/caddy-example3-acme-acme.container.d"
		g runuser -u test -- env XDG_RUNTIME_DIR=/run/user/1000 \
			DBUS_SESSION_BUS_ADDRESS=unix:path=/run/user/1000/bus systemd-run --user --wait \
			--pipe --quiet podman unshare rm -rf /home/test/acme /home/test/pebble
	fi
	[ -n "$PEBBLE_PIDS" ] && kill $PEBBLE_PIDS 2>/dev/null

	out=$(g systemctl --failed --plain --no-legend 2>&1; g runuser -u test -- env \
		XDG_RUNTIME_DIR=/run/user/1000 systemctl --user --failed --plain --no-legend 2>&1)
	if [ -z "$out" ]; then ok "caddy: no failed units in the guest"; else
		not_ok "caddy: no failed units in the guest" "$out"; fi
	g runuser -u test -- sh -c 'rm -rf ~/www ~/static'
	g runuser -u test -- env XDG_RUNTIME_DIR=/run/user/1000 \
		DBUS_SESSION_BUS_ADDRESS=unix:path=/run/user/1000/bus systemd-run --user --wait \
		--pipe --quiet podman unshare rm -rf /home/test/tls
	nspawn_poweroff
	note "caddy part: $((SECONDS - t0)) s"
}
