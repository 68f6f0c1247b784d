# End-to-end (sourced by run.sh): the committed example units are exactly what `ferry units`
# generates from the committed configs, and the host's systemd-analyze accepts the ones that
# need no quadlet (the quadlet ones are checked in the trixie rootfs: nspawn.sh).

# The units' Exec lines name /usr/bin/podman (and runuser, util-linux's).
E2E_NEEDS[examples]="systemd-analyze:systemd /usr/bin/podman:podman"

e2e_examples() {
	local gen=$E2E_TMP/examples out name f
	if ! out=$(packaging/examples/generate.sh "$FERRY" "$gen" 2>&1); then
		not_ok "examples: generate.sh" "$out"
		return
	fi
	for d in "$gen"/*/; do
		name=$(basename "$d")
		out=""
		for f in "$d"*; do
			out+=$(diff -u "packaging/examples/$name/$(basename "$f")" "$f" 2>&1)
		done
		if [ -z "$out" ]; then ok "examples: $name units are up to date"; else
			not_ok "examples: $name units are up to date (packaging/examples/generate.sh)" \
				"$(echo "$out" | head -20)"; fi
	done

	mkdir -p "$E2E_TMP/xdg" && chmod 700 "$E2E_TMP/xdg"
	for f in packaging/examples/*/*.service; do
		name=$(basename "$f" .service)
		# Native services run /usr/local/bin/ferry and use systemd 253's Type=notify-reload:
		# verified in the trixie guest (native.sh), where both are there.
		grep -q -- '--native' "$f" && continue
		[ -e "$(dirname "$f")/$name.socket" ] || continue # a backend
		local user=()
		grep -q -- '--mode user' "$f" && user=(--user)
		check "examples: systemd-analyze verify ${user[*]} $name.socket $name.service" \
			env XDG_RUNTIME_DIR="$E2E_TMP/xdg" systemd-analyze verify --man=no "${user[@]}" \
			"$(dirname "$f")/$name.socket" "$f"
	done
}
