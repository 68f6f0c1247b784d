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
stripped=$(stat -c %s "$ctx/ferry")
if [ "$stripped" -gt "$max" ]; then
	echo "build-image: $bin is $stripped bytes stripped, more than the image's 6 MiB" \
		"(a make BROTLI=1 build is; the image takes the default build)" >&2
	exit 1
fi
# The licences of exactly the libraries this binary links (its --version --verbose names
# each text), the GNU licences they refer to and the README.
mkdir "$ctx/licenses"
cp packaging/licenses/README packaging/licenses/*GPL*.txt "$ctx/licenses/"
texts=$("$bin" --version --verbose | grep -o '([a-z0-9_-]*\.txt)' | tr -d '()' | sort -u)
[ -n "$texts" ] || {
	echo "build-image: $bin --version --verbose names no licence text" >&2
	exit 1
}
for t in $texts; do
	cp "packaging/licenses/$t" "$ctx/licenses/"
done
$podman build --quiet --pull=never --network=none -f packaging/Containerfile -t "$tag" "$ctx" >/dev/null
size=$($podman image inspect --format '{{.Size}}' "$tag")
echo "image $tag: $size bytes"
if [ "$size" -gt "$max" ]; then
	echo "build-image: $tag is $size bytes, more than 6 MiB" >&2
	exit 1
fi
