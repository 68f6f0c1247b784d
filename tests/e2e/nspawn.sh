# End-to-end under a real systemd manager (sourced by run.sh): a Debian trixie rootfs
# (systemd 257, Podman 5 with quadlet) booted with systemd-nspawn, as MACHINE-NOTES.md says:
# the launching process gets cgroups of its own first (or the guest's manager would
# reorganise the host's), the guest has a private network, and everything is stopped by pid
# and removed again at the end. The rootfs is cached in $FERRY_E2E_CACHE (default
# /var/cache/ferry-e2e): about 60 s the first time, a few seconds after.
# Every example runs through tests/e2e/guest.sh inside the guest, rootful, rootless (user
# service with linger) and system-with-User=; the proxy examples with their backends.

E2E_NEEDS[nspawn]="debootstrap:debootstrap systemd-nspawn:systemd-container nsenter:util-linux \
ps:procps"
NSPAWN_STAMP=.ferry-e2e-rootfs-v1
# Written into the rootfs once a boot of it got to running. On a fresh machine the first boot
# of a new rootfs was not running after 90 s where the next boot took 3 s: the first boot
# gets a generous bound of its own.
NSPAWN_BOOTED=.ferry-e2e-booted
NSPAWN_BOOT_SECS=${FERRY_E2E_BOOT_SECS:-120}
NSPAWN_FIRST_BOOT_SECS=${FERRY_E2E_FIRST_BOOT_SECS:-300}
NSPAWN_PKGS=systemd,systemd-sysv,dbus,dbus-user-session,libpam-systemd,podman,crun,conmon,uidmap,passt,catatonit,curl,ca-certificates,procps,socat,aardvark-dns

# The rootfs, built once: debootstrap, then a user "test" (uid 1000, subuids, linger),
# Podman without pids limits (the guest's cgroup has no controllers).
nspawn_rootfs() {
	local cache=$1 tmp=$1/rootfs.tmp
	if [ -e "$cache/rootfs/$NSPAWN_STAMP" ]; then
		# Caches from before the proxy examples lack aardvark-dns (container names on
		# Podman networks): add it.
		[ -x "$cache/rootfs/usr/lib/podman/aardvark-dns" ] && return 0
		note "adding aardvark-dns to the cached rootfs"
		chroot "$cache/rootfs" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
			--no-install-recommends aardvark-dns >"$cache/apt.log" 2>&1 ||
			{ chroot "$cache/rootfs" apt-get update -qq >>"$cache/apt.log" 2>&1 &&
				chroot "$cache/rootfs" env DEBIAN_FRONTEND=noninteractive apt-get install \
					-y -qq --no-install-recommends aardvark-dns >>"$cache/apt.log" 2>&1; } ||
			{ tail -5 "$cache/apt.log"; return 1; }
		return 0
	fi
	note "building the trixie rootfs in $cache (once; about a minute)"
	rm -rf "$tmp"
	mkdir -p "$cache"
	timeout 900 debootstrap --variant=minbase --include="$NSPAWN_PKGS" trixie "$tmp" \
		http://deb.debian.org/debian >"$cache/debootstrap.log" 2>&1 || {
		tail -5 "$cache/debootstrap.log"
		return 1
	}
	echo ferry-e2e >"$tmp/etc/hostname"
	mkdir -p "$tmp/etc/containers/containers.conf.d" "$tmp/var/lib/systemd/linger"
	printf '[containers]\npids_limit = 0\n' >"$tmp/etc/containers/containers.conf.d/ferry-e2e.conf"
	chroot "$tmp" useradd -m -u 1000 -s /bin/bash test || return 1
	grep -q '^test:' "$tmp/etc/subuid" || echo test:100000:65536 >>"$tmp/etc/subuid"
	grep -q '^test:' "$tmp/etc/subgid" || echo test:100000:65536 >>"$tmp/etc/subgid"
	touch "$tmp/var/lib/systemd/linger/test"
	touch "$tmp/$NSPAWN_STAMP"
	rm -rf "$cache/rootfs"
	mv "$tmp" "$cache/rootfs"
}

# The guest's pid 1: the child of systemd-nspawn that is pid 1 in a pid namespace of its own
# (NSpid "N 1"), not a helper nspawn forks before it and that exits.
nspawn_guest_pid() {
	local p
	for p in $(ps -o pid= --ppid "$NSPAWN_PID" 2>/dev/null); do
		awk '/^NSpid:/ { found = NF == 3 && $3 == 1 } END { exit !found }' \
			"/proc/$p/status" 2>/dev/null && echo "$p" && return 0
	done
	return 1
}

# Boot the guest; sets NSPAWN_PID (systemd-nspawn), GUEST (the guest's pid 1) and BOOT_NOTE
# (how long it took). Waits until the guest's manager says running (or degraded), at most
# NSPAWN_BOOT_SECS, or NSPAWN_FIRST_BOOT_SECS for the first boot of a new rootfs. A second
# argument adds system calls to those nspawn allows the guest (native.sh: Landlock's, which
# this host's systemd-nspawn 252 does not know to allow).
nspawn_boot() {
	local rootfs=$1 cg=ferry-e2e-$$ limit=$NSPAWN_BOOT_SECS first="" t0=$SECONDS deadline state
	local extra=${2:-}
	NSPAWN_CG=$cg
	if [ ! -e "$rootfs/$NSPAWN_BOOTED" ]; then
		limit=$NSPAWN_FIRST_BOOT_SECS
		first="first boot, "
		note "first boot of the new rootfs: waiting up to $limit s for the guest to be running"
	fi
	deadline=$((SECONDS + limit))
	# Rootless Podman's networks need pasta, and pasta /dev/net/tun, which nspawn does not
	# give: a node of our own, mode 0666 as on most hosts (the host's may be 0600).
	rm -f "$E2E_TMP/tun"
	mknod -m 0666 "$E2E_TMP/tun" c 10 200 || return 1
	mkdir -p "/sys/fs/cgroup/systemd/$cg" "/sys/fs/cgroup/unified/$cg" || return 1
	# nspawn makes payload/ and supervisor/ below: remove the tree, deepest first.
	at_exit "find /sys/fs/cgroup/systemd/$cg /sys/fs/cgroup/unified/$cg -depth -type d -exec rmdir {} +"
	(
		echo "$BASHPID" >"/sys/fs/cgroup/systemd/$cg/cgroup.procs" &&
			echo "$BASHPID" >"/sys/fs/cgroup/unified/$cg/cgroup.procs" || exit 1
		SYSTEMD_NSPAWN_UNIFIED_HIERARCHY=1 exec systemd-nspawn -D "$rootfs" -b \
			--register=no --keep-unit --private-network --console=passive \
			--system-call-filter="@keyring bpf${extra:+ $extra}" --bind="$E2E_TMP/tun:/dev/net/tun" -M ferry-e2e
	) </dev/null >"$E2E_TMP/nspawn.log" 2>&1 &
	NSPAWN_PID=$!
	at_exit "nspawn_poweroff"
	GUEST=""
	until GUEST=$(nspawn_guest_pid); do
		kill -0 "$NSPAWN_PID" 2>/dev/null || return 1
		if [ $SECONDS -ge $deadline ]; then
			echo "no guest pid 1 after $limit s" >>"$E2E_TMP/nspawn.log"
			return 1
		fi
		sleep 0.1
	done
	# Until the guest's manager has its bus, systemctl fails at once; while the manager is
	# busy, a call may wait for it: each is bounded, and so is the whole wait.
	while :; do
		state=$(timeout 20 nsenter -t "$GUEST" -a systemctl is-system-running 2>"$E2E_TMP/state.err")
		case $state in
		running | degraded)
			touch "$rootfs/$NSPAWN_BOOTED"
			BOOT_NOTE="${first}booted in $((SECONDS - t0)) s"
			return 0
			;;
		maintenance | stopping) break ;; # will not get to running
		esac
		kill -0 "$NSPAWN_PID" 2>/dev/null || break
		[ $SECONDS -lt $deadline ] || break
		sleep 0.5
	done
	{
		echo "guest state after $((SECONDS - t0)) s (${first}limit $limit s): ${state:-none}" \
			"$(head -c 300 "$E2E_TMP/state.err")"
		echo "jobs still queued:"
		timeout 20 nsenter -t "$GUEST" -a systemctl list-jobs --no-pager 2>&1 | head -8
	} >>"$E2E_TMP/nspawn.log"
	return 1
}

nspawn_poweroff() {
	local i
	[ -n "${NSPAWN_PID:-}" ] || return 0
	kill -0 "$NSPAWN_PID" 2>/dev/null || return 0
	nsenter -t "$GUEST" -a systemctl poweroff >/dev/null 2>&1
	for ((i = 0; i < 300; i++)); do
		kill -0 "$NSPAWN_PID" 2>/dev/null || break
		sleep 0.1
	done
	kill -0 "$NSPAWN_PID" 2>/dev/null && kill -KILL "$NSPAWN_PID"
	wait "$NSPAWN_PID" 2>/dev/null
	NSPAWN_PID=""
}

# A command in the guest, with a clean environment (not this suite's CONTAINERS_CONF...).
g() {
	nsenter -t "$GUEST" -a env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
		HOME=/root LANG=C.UTF-8 "$@"
}

# Number the guest's "ok - x" lines into this suite's TAP stream.
guest_tap() {
	local line
	while IFS= read -r line; do
		case $line in
		"ok - "*" # SKIP "*)
			line=${line#ok - }
			skip "${line%% # SKIP *}" "${line#* # SKIP }"
			;;
		"ok - "*) ok "${line#ok - }" ;;
		"not ok - "*) not_ok "${line#not ok - }" ;;
		*) echo "$line" ;;
		esac
	done < <(g timeout 300 /var/tmp/ferry-e2e/guest.sh "$@" 2>&1)
}

# nspawn_prepare PART: what a part that boots the guest does first: skip (return 1) without the
# hybrid cgroup layout, take the cached rootfs's lock (another run on this machine may be
# building or booting it: one at a time; reopening fd 8 lets an earlier part's lock go), build
# the rootfs once, and fill the guest's /var/tmp/ferry-e2e afresh with ferry, the examples and
# the guest script. Sets NSPAWN_ROOTFS and NSPAWN_E (that folder, seen from the host); 1 when
# the part cannot go on (already reported).
nspawn_prepare() {
	local part=$1 cache=${FERRY_E2E_CACHE:-/var/cache/ferry-e2e}
	if [ ! -d /sys/fs/cgroup/systemd ] || [ ! -d /sys/fs/cgroup/unified ]; then
		skip "$part: boot the trixie guest" "expects the hybrid cgroup layout of MACHINE-NOTES.md"
		return 1
	fi
	mkdir -p "$cache"
	exec 8>>"$cache/.lock"
	if ! flock -n 8; then
		note "another e2e run uses $cache: waiting for it (at most 900 s)"
		if ! flock -w 900 8; then
			not_ok "$part: $cache still in use by another run after 900 s"
			return 1
		fi
	fi
	at_exit "flock -u 8"
	if ! nspawn_rootfs "$cache"; then
		not_ok "$part: debootstrap trixie rootfs"
		return 1
	fi
	NSPAWN_ROOTFS=$cache/rootfs
	NSPAWN_E=$NSPAWN_ROOTFS/var/tmp/ferry-e2e
	rm -rf "$NSPAWN_E"
	mkdir -p "$NSPAWN_E"
	at_exit "rm -rf $NSPAWN_E"
	cp "$FERRY" "$NSPAWN_E/ferry"
	cp -r packaging/examples "$NSPAWN_E/examples"
	cp tests/e2e/guest.sh "$NSPAWN_E/guest.sh"
}

e2e_nspawn() {
	local rootfs e out t0=$SECONDS
	nspawn_prepare nspawn || return
	rootfs=$NSPAWN_ROOTFS e=$NSPAWN_E
	if ! out=$($PODMAN save --format oci-archive -o "$e/ferry.tar" localhost/ferry:latest 2>&1); then
		not_ok "nspawn: podman save the image" "$out"
		return
	fi
	chmod -R a+rX "$e"

	if nspawn_boot "$rootfs"; then
		ok "nspawn: boot the trixie guest (systemd $(g systemctl --version | awk 'NR==1{print $2}'), $(g podman --version)), $BOOT_NOTE"
	else
		not_ok "nspawn: boot the trixie guest" "$(tail -12 "$E2E_TMP/nspawn.log")"
		return
	fi

	# The image, in root's store and in test's (the user manager runs thanks to linger).
	check "nspawn: podman load (root)" \
		g systemd-run --wait --pipe --quiet podman load -q -i /var/tmp/ferry-e2e/ferry.tar
	g timeout 30 sh -c 'until [ -S /run/user/1000/bus ]; do sleep 0.2; done'
	check "nspawn: podman load (user test)" \
		g runuser -u test -- env XDG_RUNTIME_DIR=/run/user/1000 \
		DBUS_SESSION_BUS_ADDRESS=unix:path=/run/user/1000/bus \
		systemd-run --user --wait --pipe --quiet podman load -q -i /var/tmp/ferry-e2e/ferry.tar
	g sh -c 'mkdir -p /srv/www && echo "hello static-system" >/srv/www/index.html'
	g runuser -u test -- sh -c 'mkdir -p ~/www && echo "hello static-user" >~/www/index.html'

	guest_tap static-user user quadlet "http:8080:hello static-user"
	guest_tap static-system system quadlet "http:80:hello static-system"
	guest_tap static-system system podman-run "http:80:hello static-system"
	guest_tap static-system-as-user system-as=test podman-run "http:80:hello static-system"
	guest_tap static-system-as-user system-as=test quadlet "http:80:hello static-system"
	guest_tap echo user podman-run echo
	# The reverse proxies, their backends test's quadlet services (backends/).
	guest_tap proxy-network system-as=test podman-run \
		"hosts:80:apache.example.com=hello site-a,caddy.example.com=hello site-b" \
		--network systemd-proxy-net
	guest_tap proxy-unix system-as=test podman-run "hosts:80:caddy.example.com=hello unix-backend"
	guest_tap proxy-one user quadlet "hosts:8080:localhost=hello one-backend" \
		--network proxy-one.network
	guest_tap proxy-any user quadlet "hosts:8081:any-a=hello any-a,any-b=hello any-b" \
		--network mynet.network

	# Nothing failed in the guest, nothing left running from the tests.
	out=$(g systemctl --failed --plain --no-legend 2>&1; g runuser -u test -- env \
		XDG_RUNTIME_DIR=/run/user/1000 systemctl --user --failed --plain --no-legend 2>&1)
	if [ -z "$out" ]; then ok "nspawn: no failed units in the guest"; else
		not_ok "nspawn: no failed units in the guest" "$out"; fi
	g rm -rf /srv/www /home/test/www
	nspawn_poweroff
	note "nspawn part: $((SECONDS - t0)) s"
}
