#!/usr/bin/env bash
# Does scripts/deps.sh install everything the build and the tests need? Runs it in a minimal
# Debian 12 (debootstrap --variant=minbase bookworm) chroot, then builds and runs the unit,
# fuzz-replay and integration tests there (`make test`: tests/run.sh build), as a fresh
# machine would. A package deps.sh forgets shows as a build error or a failing test.
#   scripts/chroot-check.sh [--fresh] [--keep]
#     --fresh   debootstrap the rootfs again instead of using the cached one
#     --keep    leave the chroot directory (its path is printed) for a look afterwards
# The pristine rootfs is cached as a tarball in $FERRY_CHROOT_CACHE (default
# /var/cache/ferry-chroot): about a minute to build, seconds to unpack. Every run unpacks it
# into a new directory, so what deps.sh installed in one run cannot hide a gap in the next.
# The tree copied in is the working tree's tracked and untracked-but-not-ignored files.
# Needs root. Ends with the tests' last line ("N passed, N failed, N skipped"); exits with
# their status.
set -eu
cd "$(dirname "$0")/.."
repo=$PWD
fresh=0
keep=0
for a in "$@"; do
	case $a in
	--fresh) fresh=1 ;;
	--keep) keep=1 ;;
	*)
		sed -n '2,/^set -eu/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2
		exit 2
		;;
	esac
done
[ "$(id -u)" -eq 0 ] || { echo "chroot-check: needs root (debootstrap, chroot, mount)" >&2; exit 1; }
cache=${FERRY_CHROOT_CACHE:-/var/cache/ferry-chroot}
tarball=$cache/bookworm-minbase.tar
mirror=${FERRY_CHROOT_MIRROR:-http://deb.debian.org/debian}
t0=$SECONDS

command -v debootstrap >/dev/null ||
	DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq \
		--no-install-recommends debootstrap >/dev/null

# The cached rootfs: built under a lock, so two runs at once neither build it twice nor read
# a half-written tarball.
mkdir -p "$cache"
exec 9>"$cache/.lock"
flock 9
if [ $fresh -eq 1 ] || [ ! -s "$tarball" ]; then
	echo "chroot-check: debootstrap --variant=minbase bookworm (about a minute)"
	tmp=$cache/rootfs.tmp
	rm -rf --one-file-system "$tmp"
	if ! debootstrap --variant=minbase bookworm "$tmp" "$mirror" >"$cache/debootstrap.log" 2>&1; then
		tail -5 "$cache/debootstrap.log" >&2
		exit 1
	fi
	tar -C "$tmp" -cf "$tarball.tmp" .
	mv "$tarball.tmp" "$tarball"
	rm -rf --one-file-system "$tmp"
fi
flock -u 9

dir=$(mktemp -d /var/tmp/ferry-chroot.XXXXXX)
mounts=()
# Undo in reverse: processes a test left behind in the chroot (by pid), then the mounts; the
# directory goes only when nothing is mounted below it any more (else rm would reach /dev).
cleanup() {
	local p m
	for p in /proc/[0-9]*; do
		[ "$(readlink "$p/root" 2>/dev/null)" = "$dir" ] && kill -KILL "${p#/proc/}" 2>/dev/null
	done
	for ((m = ${#mounts[@]} - 1; m >= 0; m--)); do
		umount -R "${mounts[$m]}" 2>/dev/null || umount -R -l "${mounts[$m]}" 2>/dev/null || true
	done
	if grep -q " $dir/" /proc/self/mounts; then
		echo "chroot-check: still mounted below $dir, left in place" >&2
	elif [ $keep -eq 1 ]; then
		echo "chroot-check: the chroot is kept in $dir"
	else
		rm -rf --one-file-system "$dir"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

tar -C "$dir" -xf "$tarball"
# As a fresh install has them: the suite's updates and security, the host's name service.
cat >"$dir/etc/apt/sources.list" <<EOF
deb $mirror bookworm main
deb $mirror bookworm-updates main
deb ${mirror%/debian}/debian-security bookworm-security main
EOF
cp /etc/resolv.conf /etc/hosts "$dir/etc/"

mkdir -p "$dir/src/ferry"
git -C "$repo" ls-files -z --cached --others --exclude-standard |
	(cd "$repo" && xargs -0 sh -c 'for f; do [ -e "$f" ] && printf "%s\0" "$f"; done' sh) |
	tar -C "$repo" --null -T - -cf - | tar -C "$dir/src/ferry" -xf -

# Each mount is listed for cleanup as soon as it exists. The bound trees are made slaves: an
# unmount inside them must not propagate back to the host's /dev or /sys.
mount -t proc proc "$dir/proc"
mounts+=("$dir/proc")
mount --rbind /sys "$dir/sys"
mounts+=("$dir/sys")
mount --make-rslave "$dir/sys"
mount --rbind /dev "$dir/dev"
mounts+=("$dir/dev")
mount --make-rslave "$dir/dev"
# A tmpfs /tmp, as most hosts have: scratch files of the tests stay out of the tree.
mount -t tmpfs -o mode=1777 tmpfs "$dir/tmp"
mounts+=("$dir/tmp")

echo "chroot-check: $dir: scripts/deps.sh, then make test"
set +e
chroot "$dir" /usr/bin/env -i HOME=/root LANG=C.UTF-8 TERM=dumb \
	PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
	bash -c 'cd /src/ferry && scripts/deps.sh && make -j"$(nproc)" -s test' 2>&1 |
	tee "$dir.log"
rc=${PIPESTATUS[0]}
set -e
echo "chroot-check: exit $rc after $((SECONDS - t0)) s (log: $dir.log)"
line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$dir.log" | tail -1)
echo "${line:-no result line (the build or deps.sh failed)}"
exit "$rc"
