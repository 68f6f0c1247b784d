#!/usr/bin/env bash
# ferry's end-to-end suite: the container image under Podman, without and with a real systemd
# manager. `make e2e` runs it; `tests/e2e/run.sh [FERRY] [PART...]` runs some parts:
#   examples  packaging/examples/*: the committed units are what `ferry units` generates
#   podman    image build, systemd-socket-activate + podman run (httpd demo, echo TCP/UDP)
#   proxy     the reverse-proxy examples (packaging/examples/proxy-*): backends in containers,
#             on an internal network (netavark, aardvark-dns) or over a Unix socket
#   kube      podman kube play of `ferry units --kube`
#   nspawn    every example under systemd 257 + Podman 5 in a Debian trixie rootfs booted with
#             systemd-nspawn (cached in $FERRY_E2E_CACHE, default /var/cache/ferry-e2e)
#   native    the native-* examples (ferry units --native) in the same guest, no Podman
#   caddy     Caddy's examples 3 and 4 (packaging/examples/caddy-example*) in the same guest:
#             one socket unit with 80/TCP, 443/TCP and 443/UDP, HTTPS, HTTP/2 and HTTP/3
# Output is TAP ("ok N - x", "not ok N - x", plan at the end); exit 1 when a check failed.
# Needs root; installs what the wanted parts run (E2E_NEEDS in each part's file) when missing.
# FERRY_E2E_SKIP="nspawn kube" leaves parts out.
set -uo pipefail
cd "$(dirname "$0")/../.."
FERRY=$(realpath "${1:-build/ferry}")
shift || true
parts=("$@")
[ ${#parts[@]} -eq 0 ] && parts=(examples podman proxy kube nspawn native caddy)

. tests/e2e/lib.sh
. tests/e2e/examples.sh
. tests/e2e/podman.sh
. tests/e2e/proxy.sh
. tests/e2e/kube.sh
. tests/e2e/nspawn.sh
. tests/e2e/native.sh
. tests/e2e/caddy.sh

if [ "$(id -u)" -ne 0 ]; then
	echo "1..0 # SKIP the end-to-end suite needs root (podman, systemd-nspawn)"
	exit 0
fi
[ -x "$FERRY" ] || { echo "Bail out! no ferry binary at $FERRY (make build/ferry)"; exit 1; }

E2E_TMP=$(mktemp -d /var/tmp/ferry-e2e.XXXXXX)
chmod 755 "$E2E_TMP"
trap 'run_cleanups; rm -rf "$E2E_TMP"' EXIT
trap 'exit 130' INT TERM

want() { local p; for p in "${parts[@]}"; do [ "$p" = "$1" ] && ! [[ " ${FERRY_E2E_SKIP:-} " == *" $1 "* ]] && return 0; done; return 1; }
want_image() { want podman || want proxy || want kube || want nspawn || want caddy; }

start=$SECONDS
# Everything the wanted parts run, installed before the first of them runs (the examples'
# units name /usr/bin/podman: systemd-analyze verify needs it there, a fresh machine has not).
needs=()
want_image && needs+=(${E2E_NEEDS[image]:-})
for p in examples podman proxy kube nspawn native caddy; do want $p && needs+=(${E2E_NEEDS[$p]:-}); done
if ! need "${needs[@]}"; then
	not_ok "e2e: install the packages the parts need"
	echo "1..$E2E_N"
	exit 1
fi
want examples && e2e_examples
if want_image; then
	setup_podman
	e2e_image && image_ok=1 || image_ok=0
	if [ $image_ok -eq 1 ]; then
		want podman && e2e_podman
		want proxy && e2e_proxy
		want kube && e2e_kube
		want nspawn && e2e_nspawn
		want caddy && e2e_caddy
	fi
fi
want native && e2e_native
run_cleanups
echo "1..$E2E_N"
note "$((E2E_N - E2E_FAILED)) passed, $E2E_FAILED failed, $((SECONDS - start)) s"
[ "$E2E_FAILED" -eq 0 ]
