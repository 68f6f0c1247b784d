# End-to-end, native services (sourced by run.sh after nspawn.sh): `ferry units --native` under
# systemd 257 in the trixie guest that nspawn.sh boots, with no Podman involved: ferry itself
# at /usr/local/bin/ferry (as `make install` puts it), each example through tests/e2e/guest.sh
# with the flavor "native": install, systemd-analyze verify, first request, MainPID is ferry
# (not root: DynamicUser=), second request, reload (SIGHUP, Type=notify-reload), restart,
# the systemd-analyze security score, stop.
#   native-system  a system service, port 80, PrivateNetwork=yes
#   native-user    test's user service, port 8080, ~/www bound read-only into a hidden home
#   native-proxy   a system service proxying to a TCP backend (another ferry, a system service)

E2E_NEEDS[native]=${E2E_NEEDS[nspawn]}

e2e_native() {
	local cache=${FERRY_E2E_CACHE:-/var/cache/ferry-e2e} rootfs out t0=$SECONDS
	rootfs=$cache/rootfs
	if [ ! -d /sys/fs/cgroup/systemd ] || [ ! -d /sys/fs/cgroup/unified ]; then
		skip "native: boot the trixie guest" "expects the hybrid cgroup layout of MACHINE-NOTES.md"
		return
	fi
	# One run at a time on the cached rootfs (as nspawn.sh; this part's lock replaces that
	# part's when both run: reopening fd 8 lets the first go).
	mkdir -p "$cache"
	exec 8>>"$cache/.lock"
	if ! flock -n 8; then
		note "another e2e run uses $cache: waiting for it (at most 900 s)"
		if ! flock -w 900 8; then
			not_ok "native: $cache still in use by another run after 900 s"
			return
		fi
	fi
	at_exit "flock -u 8"
	if ! nspawn_rootfs "$cache"; then
		not_ok "native: debootstrap trixie rootfs"
		return
	fi

	local e=$rootfs/var/tmp/ferry-e2e
	rm -rf "$e"
	mkdir -p "$e"
	at_exit "rm -rf $e"
	cp "$FERRY" "$e/ferry"
	cp -r packaging/examples "$e/examples"
	cp tests/e2e/guest.sh "$e/guest.sh"
	chmod -R a+rX "$e"
	# Where the units expect it (and the only place a DynamicUser= service with
	# PrivateTmp= can run it from: /var/tmp is its own).
	install -D -m 0755 "$FERRY" "$rootfs/usr/local/bin/ferry"
	at_exit "rm -f $rootfs/usr/local/bin/ferry"

	if nspawn_boot "$rootfs" "landlock_create_ruleset landlock_add_rule landlock_restrict_self"; then
		ok "native: boot the trixie guest (systemd $(g systemctl --version | awk 'NR==1{print $2}')), $BOOT_NOTE"
	else
		not_ok "native: boot the trixie guest" "$(tail -12 "$E2E_TMP/nspawn.log")"
		return
	fi
	g timeout 30 sh -c 'until [ -S /run/user/1000/bus ]; do sleep 0.2; done'
	# A DynamicUser= service reads the site as "others".
	g sh -c 'mkdir -p /srv/www && echo "hello native-system" >/srv/www/index.html && chmod -R a+rX /srv/www'
	g runuser -u test -- sh -c 'mkdir -p ~/www && echo "hello native-user" >~/www/index.html'

	guest_tap native-system system native "http:80:hello native-system"
	guest_tap native-user user native "http:8080:hello native-user"
	guest_tap native-proxy system native "http:8082:hello native-system"

	out=$(g systemctl --failed --plain --no-legend 2>&1; g runuser -u test -- env \
		XDG_RUNTIME_DIR=/run/user/1000 systemctl --user --failed --plain --no-legend 2>&1)
	if [ -z "$out" ]; then ok "native: no failed units in the guest"; else
		not_ok "native: no failed units in the guest" "$out"; fi
	g rm -rf /srv/www /home/test/www
	nspawn_poweroff
	note "native part: $((SECONDS - t0)) s"
}
