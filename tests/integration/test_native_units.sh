#!/usr/bin/env bash
# `ferry units --native` as systemd judges it, without running it (tests/e2e/native.sh runs it
# under systemd 257): `systemd-analyze security --offline=true` rates the service of a static
# site at most 1.5 (OK) and one with a TCP upstream at most 2.5; `systemd-analyze verify`
# accepts the units; the commands printed after --out are the right ones. With this host's
# systemd 252, Type=notify-reload (systemd 253) is the one line verify may complain about;
# when the e2e suite's trixie rootfs is cached ($FERRY_E2E_CACHE, default
# /var/cache/ferry-e2e), its systemd 257 is run too, in a chroot. TAP output.
set -u
cd "$(dirname "$0")/../.."
FERRY=$(realpath "${FERRY:-build/ferry}")
n=0
failed=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() {
	n=$((n + 1))
	failed=$((failed + 1))
	echo "not ok $n - $1"
	shift
	local l
	for l in "$@"; do printf '%s\n' "$l" | head -20 | sed 's/^/# /'; done
}
skip() { n=$((n + 1)); echo "ok $n - $1 # SKIP $2"; }

tmp=$(mktemp -d /tmp/ferry-native.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
printf 'listen http 0.0.0.0:80\nsite * { root /srv/www }\n' >"$tmp/static.conf"
printf 'listen 0.0.0.0:80\nsite * { root /srv/www\npath /api/ { proxy http://127.0.0.1:8081 } }\n' \
	>"$tmp/proxy.conf"
printf 'listen 127.0.0.1:8080\nsite * { root /home/someone/www }\n' >"$tmp/user.conf"

gen() { # NAME CONF ARGS...: units into $tmp/NAME; prints stderr
	local name=$1 conf=$2
	shift 2
	"$FERRY" units --config "$conf" --native --name "$name" --out "$tmp/$name" "$@" 2>&1
}
if out=$(gen static "$tmp/static.conf" --mode system --binary "$FERRY") &&
	out2=$(gen proxy "$tmp/proxy.conf" --mode system --binary "$FERRY") &&
	out3=$(HOME=/home/someone gen user "$tmp/user.conf" --mode user --binary "$FERRY"); then
	ok "ferry units --native --out: a static site, a TCP upstream, a user service"
else
	not_ok "ferry units --native --out" "$out" "${out2:-}" "${out3:-}"
	echo "1..$n"
	exit 1
fi

# What to run next names the real places: ~/.config/ferry/, not h/.config/ferry/.
if grep -qF "install -D -m 0644 $tmp/user.conf ~/.config/ferry/user.conf" <<<"$out3" &&
	grep -qF "install -D -m 0644 $tmp/user/user.service ~/.config/systemd/user/user.service" <<<"$out3" &&
	grep -qF "test -x $FERRY || sudo make install" <<<"$out3" &&
	grep -qF "systemctl --user enable --now user.socket" <<<"$out3" &&
	grep -qF "sudo install -D -m 0644 $tmp/static.conf /etc/ferry/static.conf" <<<"$out" &&
	! grep -q 'podman' <<<"$out$out3"; then
	ok "the next steps: ~/.config/ferry/NAME.conf, the unit directories, the binary, no podman"
else
	not_ok "the next steps name ~/.config/ferry/ and the binary" "$out3" "$out"
fi

score() { # UNIT [ANALYZE...]: the overall exposure level systemd-analyze gives it
	local unit=$1
	shift
	"${@:-systemd-analyze}" security --offline=true --no-pager "$unit" 2>&1 |
		sed -n 's/.*Overall exposure level for .*: \([0-9.]*\) .*/\1/p'
}
le() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a != "" && a <= b) }'; }

if ! command -v systemd-analyze >/dev/null; then
	skip "systemd-analyze security and verify" "no systemd-analyze"
elif ! systemd-analyze security --help 2>&1 | grep -q -- '--offline'; then
	skip "systemd-analyze security --offline=true" "this systemd-analyze has no --offline (systemd < 250)"
else
	v=$(systemd-analyze --version | awk 'NR==1{print $2}')
	s1=$(score "$tmp/static/static.service")
	s2=$(score "$tmp/proxy/proxy.service")
	if le "$s1" 1.5; then ok "systemd $v: security --offline=true static.service: $s1 (at most 1.5)"; else
		not_ok "systemd $v: security --offline=true static.service: ${s1:-?} (at most 1.5)" \
			"$(systemd-analyze security --offline=true --no-pager "$tmp/static/static.service" 2>&1 | grep -v '✓')"; fi
	if le "$s2" 2.5; then ok "systemd $v: security --offline=true proxy.service (TCP upstream): $s2 (at most 2.5)"; else
		not_ok "systemd $v: security --offline=true proxy.service: ${s2:-?} (at most 2.5)" \
			"$(systemd-analyze security --offline=true --no-pager "$tmp/proxy/proxy.service" 2>&1 | grep -v '✓')"; fi
	# verify: all clean but for the service type systemd 252 does not know yet
	all=""
	for d in static proxy; do
		all+=$(systemd-analyze verify --man=no "$tmp/$d/$d.socket" "$tmp/$d/$d.service" 2>&1)
	done
	mkdir -p "$tmp/xdg" && chmod 700 "$tmp/xdg"
	all+=$(XDG_RUNTIME_DIR=$tmp/xdg systemd-analyze verify --user --man=no "$tmp/user/user.socket" \
		"$tmp/user/user.service" 2>&1)
	rest=$(grep -v 'Failed to parse service type, ignoring: notify-reload' <<<"$all" | grep -v '^$')
	if [ -z "$rest" ]; then ok "systemd $v: verify the units (system and user)"; else
		not_ok "systemd $v: verify the units (system and user)" "$rest"; fi
fi

# systemd 257 (the e2e rootfs), when it is there: the same, in a chroot.
rootfs=${FERRY_E2E_CACHE:-/var/cache/ferry-e2e}/rootfs
if [ "$(id -u)" -eq 0 ] && [ -x "$rootfs/usr/bin/systemd-analyze" ]; then
	w=$rootfs/var/tmp/ferry-native-units.$$
	mkdir -p "$w"
	cp -r "$tmp/static" "$tmp/proxy" "$w/"
	c=/var/tmp/ferry-native-units.$$
	v=$(chroot "$rootfs" systemd-analyze --version | awk 'NR==1{print $2}')
	s1=$(score "$c/static/static.service" chroot "$rootfs" systemd-analyze)
	s2=$(score "$c/proxy/proxy.service" chroot "$rootfs" systemd-analyze)
	if le "$s1" 1.5 && le "$s2" 2.5; then
		ok "systemd $v (chroot): security --offline=true: static $s1 (at most 1.5), TCP upstream $s2 (at most 2.5)"
	else
		not_ok "systemd $v (chroot): security: static ${s1:-?} (at most 1.5), proxy ${s2:-?} (at most 2.5)"
	fi
	# the binary the units name must exist there: point them at one that does
	sed -i "s|^ExecStart=$FERRY |ExecStart=/bin/true |" "$w"/*/*.service
	out=$(chroot "$rootfs" systemd-analyze verify --man=no "$c/static/static.socket" \
		"$c/static/static.service" "$c/proxy/proxy.socket" "$c/proxy/proxy.service" 2>&1)
	if [ $? -eq 0 ] && [ -z "$out" ]; then ok "systemd $v (chroot): verify the units, no message"; else
		not_ok "systemd $v (chroot): verify the units" "$out"; fi
	rm -rf "$w"
else
	skip "systemd 257 in the e2e rootfs (chroot)" "no cached rootfs at $rootfs (make e2e builds it)"
fi

echo "1..$n"
[ "$failed" -eq 0 ]
