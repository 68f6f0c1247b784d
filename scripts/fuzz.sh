#!/usr/bin/env bash
# Runs the libFuzzer targets (fuzz/fuzz-*.c) under ASan+UBSan for a bounded time each.
#   scripts/fuzz.sh [SECONDS] [TARGET...]     default: 60 s, every target
# Each target runs on a scratch copy of fuzz/corpus/TARGET. A crash (or leak, or timeout) input
# is copied into fuzz/corpus/TARGET/ so it becomes a regression entry that make check replays:
# commit it with the fix. Prints "ok TARGET ..." or "FAIL TARGET ..." per target; exit 1 if any
# failed.
set -u
cd "$(dirname "$0")/.."
FERRY_EXTRA_PKGS="clang-14 libfuzzer-14-dev libclang-rt-14-dev" scripts/deps.sh >/dev/null || exit 1
secs=${1:-${FUZZ_SECONDS:-60}}
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
	for f in fuzz/fuzz-*.c; do
		t=${f#fuzz/fuzz-}
		targets+=("${t%.c}")
	done
fi
# Not the p11-kit stub: the fuzzers link the real GnuTLS (and p11-kit) dynamically, with
# the libraries the Makefile names (LDLIBS, without -lp11-kit's stand-in).
libs=$(make -s --no-print-directory print-ldlibs)
# ferry's sources compiled once (instrumented, not linked with libFuzzer's main), into one
# archive every target links.
san="-g -O1 -fsanitize=address,undefined -fno-sanitize-recover=all"
cflags="$san -std=c17 -D_GNU_SOURCE -Isrc -pthread $(pkg-config --cflags gnutls)"
obj=build-fuzz/obj
# Kept between runs (make check runs one target a call) while nothing in src/ and this script
# is newer than the archive; rebuilt whole otherwise.
lib=build-fuzz/libferry.a
if [ ! -f "$lib" ] || [ -n "$(find src scripts/fuzz.sh -newer "$lib" -print -quit)" ]; then
	rm -rf "$obj" "$lib" "$lib.tmp" && mkdir -p "$obj"
	compile() { # one source file into $obj
		# shellcheck disable=SC2086 # word list
		clang-14 $cflags -DFERRY_VERSION='"fuzz"' -fsanitize=fuzzer-no-link -c "$1" \
			-o "$obj/$(echo "$1" | tr / _).o"
	}
	export -f compile
	export cflags obj
	if ! find src -name '*.c' ! -name main.c ! -name p11kit_stub.c | sort |
		xargs -P "$(nproc)" -n 1 bash -c 'compile "$1"' _ 2>"$obj/build.log" ||
		! ar rcs "$lib.tmp" "$obj"/*.o 2>>"$obj/build.log"; then
		echo "FAIL fuzz: ferry's sources do not build with clang-14"
		tail -20 "$obj/build.log"
		rm -f "$lib.tmp"
		exit 1
	fi
	mv "$lib.tmp" "$lib"
fi
rc=0
for t in "${targets[@]}"; do
	out=build-fuzz/$t
	rm -rf "$out"
	mkdir -p "$out/corpus" "$out/artifacts"
	cp -r "fuzz/corpus/$t/." "$out/corpus/" 2>/dev/null || true
	# shellcheck disable=SC2086 # word lists
	if ! clang-14 $cflags -DFERRY_VERSION='"fuzz"' -fsanitize=fuzzer "fuzz/fuzz-$t.c" "$lib" \
		-o "$out/fuzzer" $libs >"$out/build.log" 2>&1; then
		echo "FAIL fuzz/$t: does not build with clang-14"
		tail -20 "$out/build.log"
		rc=1
		continue
	fi
	if (cd "$out" && ASAN_OPTIONS=detect_leaks=1 ./fuzzer -max_total_time="$secs" \
		-timeout=10 -rss_limit_mb=2048 -artifact_prefix=artifacts/ -print_final_stats=1 \
		corpus >log 2>&1); then
		runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$out/log" | grep -o '[0-9]*$')
		echo "ok fuzz/$t (${secs}s, ${runs:-?} runs, no crash)"
	else
		echo "FAIL fuzz/$t: see $out/log"
		tail -40 "$out/log"
		for a in "$out"/artifacts/*; do
			[ -f "$a" ] || continue
			cp "$a" "fuzz/corpus/$t/regress-$(basename "$a")"
			echo "  new regression input: fuzz/corpus/$t/regress-$(basename "$a")"
		done
		rc=1
	fi
done
exit $rc
