# End-to-end (sourced by run.sh): `podman kube play` of the YAML `ferry units --kube` writes.
# No socket activation: ferry binds its own port in the pod (--listen), Podman publishes it.

# kube play builds its pause image locally around catatonit; the pod is on Podman's default
# bridge network, which netavark sets up (and publishes hostPort) with iptables.
E2E_NEEDS[kube]="catatonit:catatonit iptables:iptables curl:curl"

e2e_kube() {
	local port dir=$E2E_TMP/kube body out
	port=$(free_port)
	mkdir -p "$dir/www"
	echo "hello from the kube pod" >"$dir/www/index.html"
	printf 'access-log stderr\nsite * {\n\troot %s\n}\n' "$dir/www" >"$dir/ferry.conf"
	chmod -R a+rX "$dir"
	if ! out=$("$FERRY" units --kube --config "$dir/ferry.conf" --config-path "$dir/ferry.conf" \
		--name ferry-e2e-kube --listen "127.0.0.1:$port" --out "$dir" 2>&1); then
		not_ok "kube: ferry units --kube" "$out"
		return
	fi
	ok "kube: ferry units --kube writes ferry-e2e-kube.yaml"
	at_exit "$PODMAN kube down $dir/ferry-e2e-kube.yaml"
	if ! out=$($PODMAN kube play "$dir/ferry-e2e-kube.yaml" 2>&1); then
		not_ok "kube: podman kube play" "$out"
		return
	fi
	wait_for "curl -sf http://127.0.0.1:$port/" 20
	body=$(curl -sS --max-time 5 "http://127.0.0.1:$port/" 2>&1)
	if [ "$body" = "hello from the kube pod" ]; then
		ok "kube: podman kube play serves the site on hostPort $port"
	else
		not_ok "kube: podman kube play serves the site on hostPort $port" "$body" \
			"$($PODMAN pod logs ferry-e2e-kube 2>&1 | tail -5)"
	fi
	check "kube: podman kube down" $PODMAN kube down "$dir/ferry-e2e-kube.yaml"
}
