#!/usr/bin/env bash
# Regenerate the units of every example from its ferry.conf, with the `ferry units` options
# below (the table is the source of truth; the generated files quote them in their header):
#   packaging/examples/generate.sh [FERRY] [OUTROOT]
# With OUTROOT the files go to OUTROOT/EXAMPLE/ instead of next to ferry.conf (the e2e suite
# uses that to check the committed files are up to date). User-mode examples are generated for
# the user "test" (HOME=/home/test, uid 1000), as in the demos. The proxy examples' backends
# (backends/: quadlet files for test's manager) are written by hand, not generated.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
ferry=$(realpath "${1:-$here/../../build/ferry}")
outroot=${2:-}

# example                 ferry units options
examples=(
	"echo                   --mode user --podman-run --name echo --echo"
	"static-user            --mode user --quadlet --name static-user"
	"static-system          --mode system --quadlet --name static-system"
	"static-system-as-user  --mode system-as=test:1000 --podman-run --name static-system-as-user"
	"proxy-network          --mode system-as=test:1000 --podman-run --name proxy-network --network systemd-proxy-net"
	"proxy-unix             --mode system-as=test:1000 --podman-run --name proxy-unix"
	"proxy-one              --mode user --quadlet --name proxy-one --network proxy-one.network"
	"proxy-any              --mode user --quadlet --name proxy-any --network mynet.network"
	"native-system          --mode system --native --name native-system"
	"native-user            --mode user --native --name native-user"
	"native-proxy           --mode system --native --name native-proxy"
	"caddy-example3         --mode user --quadlet --name caddy-example3"
	"caddy-example4         --mode user --quadlet --name caddy-example4 --network mynet.network"
	"caddy-example3-acme    --mode user --quadlet --name caddy-example3-acme"
)

for e in "${examples[@]}"; do
	read -r name args <<<"$e"
	out=$here/$name
	[ -n "$outroot" ] && out=$outroot/$name && mkdir -p "$out"
	# shellcheck disable=SC2086 # args is a list of words
	(cd "$here/$name" && HOME=/home/test "$ferry" units --config ferry.conf $args --out "$out" 2>/dev/null)
done
