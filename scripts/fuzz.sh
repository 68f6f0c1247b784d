#!/usr/bin/env bash
# make fuzz: build every fuzz/fuzz-*.c with libFuzzer (clang-14, ASan+UBSan) and run each for
# FUZZ_SECONDS (default 60) on a scratch copy of its corpus. New crashers are left in
# build-fuzz/TARGET/ as crash-*: copy them into fuzz/corpus/TARGET/ once fixed.
set -eu
cd "$(dirname "$0")/.."
FERRY_EXTRA_PKGS="clang-14 libfuzzer-14-dev libclang-rt-14-dev" scripts/deps.sh
secs=${FUZZ_SECONDS:-60}
srcs=$(find src -name '*.c' ! -name main.c | sort)
rc=0
for f in fuzz/fuzz-*.c; do
	t=${f#fuzz/fuzz-}
	t=${t%.c}
	out=build-fuzz/$t
	mkdir -p "$out/corpus"
	cp -r "fuzz/corpus/$t/." "$out/corpus/" 2>/dev/null || true
	clang-14 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
		-std=c17 -D_GNU_SOURCE -Isrc -DFERRY_VERSION='"fuzz"' -pthread \
		"$f" $srcs -o "$out/fuzzer"
	echo "== fuzz $t for ${secs}s"
	if ! (cd "$out" && ./fuzzer -max_total_time="$secs" -print_final_stats=1 corpus >log 2>&1); then
		echo "fuzz $t: FAILED, see $out/log"
		tail -40 "$out/log"
		rc=1
	else
		grep -E "stat::number_of_executed_units|cov:" "$out/log" | tail -2
	fi
done
exit $rc
