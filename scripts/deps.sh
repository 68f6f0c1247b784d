#!/usr/bin/env bash
# Installs the Debian packages ferry's build and tests need, only those missing.
# Uses apt-get (with sudo when not root). Safe to run repeatedly. scripts/chroot-check.sh
# proves the list on a minimal Debian 12: add a package here when that check misses one.
set -eu
need=()
have_cmd() { command -v "$1" >/dev/null 2>&1; }
have_pkg() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "ok installed"; }

have_cmd gcc || need+=(gcc)
have_cmd make || need+=(make)
have_pkg libc6-dev || need+=(libc6-dev)
# HTTP/2: nghttp2 (its .a is linked into the static binary), and the test clients
have_pkg libnghttp2-dev || need+=(libnghttp2-dev)
have_cmd nghttp || need+=(nghttp2-client)
# basic-auth: libxcrypt (crypt_rn: yescrypt, bcrypt), its .a linked into the static binary
have_pkg libcrypt-dev || need+=(libcrypt-dev)
# encode: zlib, zstd (their .a are linked into the static binary) and brotli (its encoder's
# .a in the `make BROTLI=1` build, which the tests build too: build/ferry-br); zstd and
# python3-brotli to decode in tests
have_pkg zlib1g-dev || need+=(zlib1g-dev)
have_pkg libzstd-dev || need+=(libzstd-dev)
have_cmd zstd || need+=(zstd)
have_pkg libbrotli-dev || need+=(libbrotli-dev)
have_pkg python3-brotli || need+=(python3-brotli)
have_pkg python3-h2 || need+=(python3-h2)
have_cmd python3 || need+=(python3)
have_cmd curl || need+=(curl)
# the system CA bundle (test_proxy_tls checks that it does not trust the test CA)
have_pkg ca-certificates || need+=(ca-certificates)
have_cmd socat || need+=(socat)
have_cmd systemd-socket-activate || need+=(systemd)
have_cmd ip || need+=(iproute2)
have_cmd slowhttptest || need+=(slowhttptest)
# the man pages: rendered, linted and parsed by tests/integration/test_install.sh
have_cmd lexgrog || need+=(man-db)
have_cmd mandoc || need+=(mandoc)
have_cmd wrk || need+=(wrk)
# TLS: GnuTLS and, for the static link, every library `pkg-config --static --libs gnutls`
# names (libunistring-dev is not among libgnutls28-dev's dependencies; p11-kit's headers are
# for src/xport/p11kit_stub.c); openssl makes the tests' certificates, testssl checks them.
have_cmd pkg-config || need+=(pkg-config)
for p in libgnutls28-dev libunistring-dev libidn2-dev nettle-dev libgmp-dev libtasn1-6-dev \
	libp11-kit-dev; do
	have_pkg "$p" || need+=("$p")
done
# ACME: jansson (JSON, linked in), pebble and pebble-challtestsrv (tests/integration/test_acme.py)
have_pkg libjansson-dev || need+=(libjansson-dev)
have_cmd pebble || need+=(pebble)
have_cmd openssl || need+=(openssl)
have_cmd testssl || need+=(testssl.sh)
# libFuzzer for the bounded fuzzing runs of make check
have_cmd clang-14 || need+=(clang-14)
have_pkg libfuzzer-14-dev || need+=(libfuzzer-14-dev)
have_pkg libclang-rt-14-dev || need+=(libclang-rt-14-dev)
for extra in ${FERRY_EXTRA_PKGS:-}; do have_pkg "$extra" || need+=("$extra"); done
# HTTP/3: ngtcp2 (QUIC, with its GnuTLS crypto helper) and nghttp3 1.x come from Debian's
# bookworm-backports (bookworm's own are pre-1.0); their .a files link into the static binary.
# ngtcp2-client's gtlsclient is one of the tests' HTTP/3 clients; the other, for any request
# field and body, is tests/tools/h3client.c (make builds it on these libraries and GnuTLS).
bp=()
for p in libngtcp2-dev libngtcp2-crypto-gnutls-dev libnghttp3-dev ngtcp2-client; do
	have_pkg "$p" || bp+=("$p")
done

[ ${#need[@]} -eq 0 ] && [ ${#bp[@]} -eq 0 ] && exit 0
echo "installing: ${need[*]} ${bp[*]}"
sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
# Another apt on the machine (a package manager, a second checkout) may hold the lock: wait.
apt=(apt-get -o DPkg::Lock::Timeout=600)
if [ ${#bp[@]} -gt 0 ] && ! grep -rqs 'bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/; then
	printf '%s\n' 'Types: deb' 'URIs: http://deb.debian.org/debian' 'Suites: bookworm-backports' \
		'Components: main' 'Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg' |
		$sudo tee /etc/apt/sources.list.d/bookworm-backports.sources >/dev/null
fi
$sudo "${apt[@]}" update -qq || true
[ ${#need[@]} -eq 0 ] || $sudo "${apt[@]}" install -y -qq --no-install-recommends "${need[@]}"
[ ${#bp[@]} -eq 0 ] || $sudo "${apt[@]}" install -y -qq --no-install-recommends \
	-t bookworm-backports "${bp[@]}"
