# End-to-end, native services (sourced by run.sh after nspawn.sh): `ferry units --native` under
# systemd 257 in the trixie guest that nspawn.sh boots, with no Podman involved: ferry itself
# at /usr/local/bin/ferry (as `make install` puts it), each example through tests/e2e/guest.sh
# with the flavor "native": install, systemd-analyze verify, first request, MainPID is ferry
# (not root: DynamicUser=), second request, reload (SIGHUP, Type=notify-reload), restart,
# the systemd-analyze security score, stop.
#   native-system  a system service, port 80, PrivateNetwork=yes
#   native-user    test's user service, port 8080, ~/www bound read-only into a hidden home
#   native-proxy   a system service proxying to a TCP backend (another ferry, a system service)
#   fd store       a system service on 127.0.0.1:8090 (FileDescriptorStoreMax=): keep-alive
#                  connections idle across `systemctl restart` answered on the same TCP
#                  connection, wrk with keep-alive during 20 restarts without an error
#                  (tests/e2e/fdstore-client.py, in the guest's network namespace)

# wrk: the fd store's load, run from the host into the guest's network namespace.
E2E_NEEDS[native]="${E2E_NEEDS[nspawn]} wrk:wrk"

e2e_native() {
	local rootfs e out t0=$SECONDS
	nspawn_prepare native || return
	rootfs=$NSPAWN_ROOTFS e=$NSPAWN_E
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
	native_fdstore "$rootfs"

	out=$(g systemctl --failed --plain --no-legend 2>&1; g runuser -u test -- env \
		XDG_RUNTIME_DIR=/run/user/1000 systemctl --user --failed --plain --no-legend 2>&1)
	if [ -z "$out" ]; then ok "native: no failed units in the guest"; else
		not_ok "native: no failed units in the guest" "$out"; fi
	g rm -rf /srv/www /home/test/www
	nspawn_poweroff
	note "native part: $((SECONDS - t0)) s"
}

# The fd store under systemd itself: ferry hands its idle connections over at each restart and
# takes them back. The client runs in the guest's network namespace only (nsenter -n), with
# the host's python3 and wrk; it restarts the service through nsenter into the whole guest.
native_fdstore() {
	local rootfs=$1 e=/var/tmp/ferry-e2e/fdstore out unit py wrk line n
	py=$(command -v python3)
	wrk=$(command -v wrk)
	if [ -z "$wrk" ]; then
		not_ok "fd store: wrk is not installed (scripts/deps.sh installs it)"
		return
	fi
	# (access-log off: wrk's requests would reach journald's rate limit, and with them
	# the lines checked below)
	g sh -c "mkdir -p $e && printf 'listen http 127.0.0.1:8090\naccess-log off\n' >$e/ferry.conf &&
		printf 'site * { root /srv/www }\n' >>$e/ferry.conf && chmod -R a+rX $e"
	at_exit "nsenter -t $GUEST -a sh -c 'systemctl stop fdstore.socket fdstore.service; \
rm -rf /etc/systemd/system/fdstore.* /etc/ferry/fdstore.conf; systemctl daemon-reload; \
systemctl reset-failed fdstore.service fdstore.socket'"
	if ! out=$(g /var/tmp/ferry-e2e/ferry units --native --mode system --name fdstore \
		--config $e/ferry.conf --install 2>&1); then
		not_ok "fd store: ferry units --native --install" "$out"
		return
	fi
	# 23 starts in a few seconds: past systemd's default start limit (5 in 10 s), which
	# is not what this checks.
	g sh -c 'mkdir -p /etc/systemd/system/fdstore.service.d &&
		printf "[Unit]\nStartLimitIntervalSec=0\n" >/etc/systemd/system/fdstore.service.d/e2e.conf'
	g systemctl daemon-reload
	unit=$(g systemctl show -P FragmentPath fdstore.service)
	if out=$(g grep -x 'FileDescriptorStoreMax=[0-9]*' "$unit") && [ "${out#*=}" -gt 0 ]; then
		ok "fd store: the native service has $out"
	else
		not_ok "fd store: the native service has FileDescriptorStoreMax=" "$(g cat "$unit")"
	fi
	if ! out=$(g systemctl start fdstore.socket 2>&1); then
		not_ok "fd store: start fdstore.socket" "$out"
		return
	fi
	while IFS= read -r line; do
		case $line in
		"ok - "*) ok "${line#ok - }" ;;
		"not ok - "*) not_ok "${line#not ok - }" ;;
		*) echo "$line" ;;
		esac
	done < <(timeout 400 nsenter -t "$GUEST" -n "$py" tests/e2e/fdstore-client.py 8090 \
		"$rootfs/srv/www/index.html" "$wrk" nsenter -t "$GUEST" -a sh -c \
		'systemctl restart fdstore.service && systemctl show -P MainPID fdstore.service' 2>&1)
	# This boot's journal (the cached rootfs keeps older ones): each of the 23 restarts
	# handed connections over and the next ferry took them back.
	out=$(g journalctl -b -u fdstore.service --no-pager -o cat)
	n=$(grep -c 'idle connections\? handed over' <<<"$out")
	local back
	back=$(grep -c 'idle connections\? taken back' <<<"$out")
	if [ "$n" -ge 23 ] && [ "$back" -ge 23 ]; then
		ok "fd store: the journal says so ($n stops handed connections over, $back starts took them back)"
	else
		not_ok "fd store: the journal says connections were handed over and taken back" \
			"$n stops handed connections over, $back starts took them back" \
			"$(grep 'fd store' <<<"$out" | tail -8)"
	fi
	# Taken back means out of the store: systemd must not hold a connection ferry closed.
	n=$(g systemctl show -P NFileDescriptorStore fdstore.service)
	if [ "$n" = 0 ]; then ok "fd store: empty while ferry serves (the connections were removed)"
	else not_ok "fd store: empty while ferry serves" "NFileDescriptorStore=$n"; fi
	g systemctl stop fdstore.socket fdstore.service
	if [ "$(g systemctl is-failed fdstore.service)" = inactive ]; then
		ok "fd store: stop leaves nothing failed"
	else
		not_ok "fd store: stop leaves nothing failed" \
			"$(g systemctl status fdstore.service --no-pager | tail -5)"
	fi
	g sh -c "rm -rf /etc/systemd/system/fdstore.* /etc/ferry/fdstore.conf; systemctl daemon-reload"
}
