# End-to-end, no service manager (sourced by run.sh): the reverse-proxy examples
# (packaging/examples/proxy-*) with Podman 4.3 and netavark + aardvark-dns, as
# systemd-socket-activate + podman run. ferry's container gets what the generated units give
# it (--read-only, --user 65534:65534, --cap-drop=all, the config, the socket directory
# read-write, --network=none or the upstreams' network); the backends are ferry containers
# serving a static site each, as the examples' backends/*.container do.
#   proxy-network  Host routing to two containers on an internal network, by container name
#   proxy-unix     a backend reached over a Unix socket; every container --network=none
#   proxy-one      one fixed upstream on an internal network
#   proxy-any      {host} upstreams, only into the internal network's subnet (upstream-allow)
# Networks are created in the private store (lib.sh: network_config_dir) with names and
# bridge interfaces of their own, and removed at the end.

# netavark sets up bridge networks (internal ones too) with iptables.
E2E_NEEDS[proxy]="systemd-socket-activate:systemd curl:curl iptables:iptables"

PROXY_OPTS=(--read-only --user 65534:65534 --cap-drop=all --security-opt=no-new-privileges)

# proxy_net NAME: an internal network (DNS by aardvark-dns); prints nothing, fails loudly.
proxy_net() {
	local name=$1 out
	if ! out=$($PODMAN network create --internal \
		"ferry-e2e-$$-$name" 2>&1); then
		not_ok "proxy: podman network create --internal ferry-e2e-$$-$name" "$out"
		return 1
	fi
	at_exit "$PODMAN network rm -f ferry-e2e-$$-$name"
}

# proxy_backend NAME NETWORK LISTEN [PODMAN_RUN_ARGS...]: a ferry container serving
# "hello NAME" (from $E2E_TMP/proxy/NAME) on LISTEN, like backends/*.container.
proxy_backend() {
	local name=$1 net=$2 listen=$3 out
	shift 3
	mkdir -p "$E2E_TMP/proxy/$name"
	echo "hello $name" >"$E2E_TMP/proxy/$name/index.html"
	chmod -R a+rX "$E2E_TMP/proxy/$name"
	at_exit "$PODMAN rm -f -t 0 $name"
	if ! out=$($PODMAN run -d --name "$name" --network "$net" $RUN_OPTS "${PROXY_OPTS[@]}" \
		-v "$E2E_TMP/proxy/$name:/srv/www:ro" "$@" localhost/ferry \
		serve --root /srv/www --listen "$listen" 2>&1); then
		not_ok "proxy: backend $name" "$out"
		return 1
	fi
}

# proxy_conf EXAMPLE PORT [SED...]: the example's ferry.conf, listening on 127.0.0.1:PORT,
# with more sed expressions applied; prints the path.
proxy_conf() {
	local ex=$1 port=$2 f=$E2E_TMP/proxy/$1.conf
	shift 2
	sed -e "s/^listen .*/listen 127.0.0.1:$port/" "$@" "packaging/examples/$ex/ferry.conf" >"$f"
	chmod a+r "$f"
	echo "$f"
}

# proxy_get NAME PORT HOST WANT: ok when a request with this Host gets WANT (a body, or a
# status code with WANT=status:NNN).
proxy_get() {
	local name=$1 port=$2 host=$3 want=$4 got
	if [[ $want == status:* ]]; then
		got=$(curl -sS --max-time 20 -o /dev/null -w '%{http_code}' -H "Host: $host" \
			"http://127.0.0.1:$port/" 2>&1)
		want=${want#status:}
	else
		got=$(curl -sS --max-time 20 -H "Host: $host" "http://127.0.0.1:$port/" 2>&1)
	fi
	if [ "$got" = "$want" ]; then ok "$name: Host $host -> $want"; else
		not_ok "$name: Host $host -> $want" "got: $got" "$(tail -5 "$E2E_TMP/$name.log")"; fi
}

# proxy_units EXAMPLE WANT...: the committed units give the container what this test does.
proxy_units() {
	local ex=$1 f
	shift
	f=$(ls "packaging/examples/$ex/$ex.service" "packaging/examples/$ex/$ex.container" 2>/dev/null)
	local w missing=()
	for w in "$@"; do grep -qF -- "$w" "$f" || missing+=("$w"); done
	if [ ${#missing[@]} -eq 0 ]; then ok "$ex: $(basename "$f") has $*"; else
		not_ok "$ex: $(basename "$f") has $*" "missing: ${missing[*]}"; fi
}

e2e_proxy() {
	local port conf net sub t0=$SECONDS
	mkdir -p "$E2E_TMP/proxy"

	# proxy-network: nginx example 4. Two backends by container name on an internal network.
	proxy_units proxy-network "--network=systemd-proxy-net" \
		"RestrictAddressFamilies=AF_UNIX AF_NETLINK AF_INET AF_INET6"
	if proxy_net pn; then
		net=ferry-e2e-$$-pn
		proxy_backend site-a "$net" 0.0.0.0:8080 && proxy_backend site-b "$net" 0.0.0.0:8080
		port=$(free_port)
		conf=$(proxy_conf proxy-network "$port")
		SA_NETWORK=$net sa_start proxy-network -l "127.0.0.1:$port" -- "${PROXY_OPTS[@]}" \
			-v "$conf:/etc/ferry/ferry.conf:ro" localhost/ferry serve --config /etc/ferry/ferry.conf
		proxy_get proxy-network "$port" apache.example.com "hello site-a"
		proxy_get proxy-network "$port" caddy.example.com "hello site-b"
		proxy_get proxy-network "$port" apache.example.com "hello site-a"
		sa_stop proxy-network
		$PODMAN rm -f -t 0 site-a site-b >/dev/null 2>&1
	fi

	# proxy-unix: nginx example 5. The backend listens on a Unix socket in a directory both
	# containers mount; neither has a network.
	proxy_units proxy-unix "--network=none" \
		"--volume=/home/test/proxy-unix:/home/test/proxy-unix:rw,z"
	local sock=$E2E_TMP/proxy/proxy-unix
	mkdir -p "$sock"
	chown 65534:65534 "$sock"
	if proxy_backend site-unix none unix:/run/backend/backend.sock -v "$sock:/run/backend:rw" &&
		wait_for "[ -S $sock/backend.sock ]" 10; then
		ok "proxy-unix: the backend listens on a Unix socket, --network=none"
		port=$(free_port)
		conf=$(proxy_conf proxy-unix "$port" -e "s|/home/test/proxy-unix|$sock|")
		sa_start proxy-unix -l "127.0.0.1:$port" -- --name ferry-e2e-proxy-unix "${PROXY_OPTS[@]}" \
			-v "$conf:/etc/ferry/ferry.conf:ro" -v "$sock:$sock:rw" \
			localhost/ferry serve --config /etc/ferry/ferry.conf
		proxy_get proxy-unix "$port" caddy.example.com "hello site-unix"
		proxy_get proxy-unix "$port" caddy.example.com "hello site-unix"
		local modes
		modes=$($PODMAN inspect --format '{{.HostConfig.NetworkMode}}' site-unix \
			ferry-e2e-proxy-unix 2>&1 | tr '\n' ' ')
		if [ "$modes" = "none none " ]; then ok "proxy-unix: both containers --network=none"; else
			not_ok "proxy-unix: both containers --network=none" "network modes: $modes"; fi
		sa_stop proxy-unix
	else
		not_ok "proxy-unix: the backend listens on a Unix socket, --network=none" \
			"$($PODMAN logs site-unix 2>&1 | tail -5)"
	fi
	$PODMAN rm -f -t 0 site-unix >/dev/null 2>&1

	# proxy-one: workerd example 1. One fixed upstream.
	proxy_units proxy-one "Network=proxy-one.network"
	if proxy_net po; then
		net=ferry-e2e-$$-po
		proxy_backend one-backend "$net" 0.0.0.0:8080
		port=$(free_port)
		conf=$(proxy_conf proxy-one "$port")
		SA_NETWORK=$net sa_start proxy-one -l "127.0.0.1:$port" -- "${PROXY_OPTS[@]}" \
			-v "$conf:/etc/ferry/ferry.conf:ro" localhost/ferry serve --config /etc/ferry/ferry.conf
		proxy_get proxy-one "$port" localhost "hello one-backend"
		proxy_get proxy-one "$port" anything.example "hello one-backend"
		sa_stop proxy-one
		$PODMAN rm -f -t 0 one-backend >/dev/null 2>&1
	fi

	# proxy-any: workerd example 2. {host}: whichever container the Host names, only inside
	# the network's subnet (the example fixes 10.89.7.0/24; here Podman picks a free one).
	proxy_units proxy-any "Network=mynet.network" \
		"RestrictAddressFamilies=AF_UNIX AF_NETLINK AF_INET AF_INET6"
	if proxy_net pa; then
		net=ferry-e2e-$$-pa
		sub=$($PODMAN network inspect --format '{{range .Subnets}}{{.Subnet}} {{end}}' "$net" \
			2>/dev/null | awk '{print $1}')
		proxy_backend any-a "$net" 0.0.0.0:8080 && proxy_backend any-b "$net" 0.0.0.0:8080
		port=$(free_port)
		conf=$(proxy_conf proxy-any "$port" -e "s|10\.89\.7\.0/24|$sub|")
		SA_NETWORK=$net sa_start proxy-any -l "127.0.0.1:$port" -- "${PROXY_OPTS[@]}" \
			-v "$conf:/etc/ferry/ferry.conf:ro" localhost/ferry serve --config /etc/ferry/ferry.conf
		proxy_get proxy-any "$port" any-a "hello any-a"
		proxy_get proxy-any "$port" any-b "hello any-b"
		proxy_get proxy-any "$port" any-a:8081 "hello any-a"
		# outside upstream-allow ($sub): refused, whatever the name resolves to
		proxy_get proxy-any "$port" localhost status:403
		proxy_get proxy-any "$port" 1.1.1.1 status:403
		sa_stop proxy-any
		$PODMAN rm -f -t 0 any-a any-b >/dev/null 2>&1
	fi
	note "proxy part: $((SECONDS - t0)) s"
}
