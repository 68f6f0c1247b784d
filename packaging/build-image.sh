#!/usr/bin/env bash
# Build the ferry image (packaging/Containerfile) from the static binary, offline:
#   packaging/build-image.sh [BINARY] [TAG]
# The build context holds only the stripped binary and packaging/licenses/. PODMAN may carry
# options (a private store: PODMAN="podman --root DIR --runroot DIR"). Fails when the image
# is larger than 6 MiB.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-build/ferry}
tag=${2:-localhost/ferry:latest}
podman=${PODMAN:-podman}
max=$((6 * 1024 * 1024))

command -v podman >/dev/null || {
	echo "build-image: podman is not installed (apt-get install podman runc)" >&2
	exit 1
}
if readelf -l "$bin" 2>/dev/null | grep -q INTERP || [ ! -x "$bin" ]; then
	echo "build-image: $bin is not a static binary (make build/ferry)" >&2
	exit 1
fi
ctx=$(mktemp -d /var/tmp/ferry-image.XXXXXX)
trap 'rm -rf "$ctx"' EXIT
objcopy --strip-all "$bin" "$ctx/ferry"
cp -r packaging/licenses "$ctx/licenses"
$podman build --quiet --pull=never --network=none -f packaging/Containerfile -t "$tag" "$ctx" >/dev/null
size=$($podman image inspect --format '{{.Size}}' "$tag")
echo "image $tag: $size bytes"
if [ "$size" -gt "$max" ]; then
	echo "build-image: $tag is $size bytes, more than 6 MiB" >&2
	exit 1
fi
