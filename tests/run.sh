#!/usr/bin/env bash
# Runs every test against each build directory given (build, build-san): unit binaries,
# fuzz-corpus replays and integration scenarios. Integration scripts speak TAP ("ok N - x",
# "not ok N - x"); the others count as one test each. Ends with "N passed, N failed".
set -u
cd "$(dirname "$0")/.."
pass=0
fail=0
failed=()
log=$(mktemp -d /tmp/ferry-tests.XXXXXX)

record() { # name rc
	if [ "$2" -eq 0 ]; then pass=$((pass + 1)); else fail=$((fail + 1)); failed+=("$1"); fi
}

for b in "$@"; do
	echo "== $b"
	for t in "$b"/tests/test-*; do
		[ -x "$t" ] || continue
		n="$b/unit/$(basename "$t")"
		timeout 120 "$t" >"$log/out" 2>&1
		rc=$?
		[ $rc -ne 0 ] && cat "$log/out"
		echo "$([ $rc -eq 0 ] && echo ok || echo FAIL) $n"
		record "$n" $rc
	done
	for r in "$b"/fuzz/replay-*; do
		[ -x "$r" ] || continue
		tgt=${r##*/replay-}
		n="$b/fuzz-replay/$tgt"
		if [ -d "fuzz/corpus/$tgt" ]; then
			timeout 300 "$r" "fuzz/corpus/$tgt" >"$log/out" 2>&1
			rc=$?
		else
			echo "no corpus for $tgt" >"$log/out"
			rc=1
		fi
		[ $rc -ne 0 ] && tail -30 "$log/out"
		echo "$([ $rc -eq 0 ] && echo ok || echo FAIL) $n ($(tail -1 "$log/out"))"
		record "$n" $rc
	done
	for s in tests/integration/*.py tests/integration/*.sh; do
		[ -f "$s" ] || continue
		n="$b/integration/$(basename "$s")"
		case "$s" in
		*.py) cmd=(python3 "$s") ;;
		*) cmd=(bash "$s") ;;
		esac
		FERRY="$PWD/$b/ferry" timeout 600 "${cmd[@]}" >"$log/out" 2>"$log/err"
		rc=$?
		ok=$(grep -c '^ok ' "$log/out")
		bad=$(grep -c '^not ok ' "$log/out")
		grep -E '^(not ok|# )' "$log/out" | sed "s|^|  $n: |"
		pass=$((pass + ok))
		fail=$((fail + bad))
		for f in $(grep '^not ok ' "$log/out" | sed 's/ /_/g'); do failed+=("$n: $f"); done
		if [ $rc -ne 0 ] && [ "$bad" -eq 0 ]; then
			tail -30 "$log/err"
			record "$n (exit $rc)" 1
		elif [ "$bad" -gt 0 ]; then
			tail -30 "$log/err"
		fi
		echo "$([ $rc -eq 0 ] && [ "$bad" -eq 0 ] && echo ok || echo FAIL) $n ($ok ok, $bad not ok)"
	done
done
# Bounded libFuzzer runs (make check sets FERRY_FUZZ_SECONDS), one test per target.
if [ -n "${FERRY_FUZZ_SECONDS:-}" ]; then
	echo "== fuzz (${FERRY_FUZZ_SECONDS}s per target)"
	for f in fuzz/fuzz-*.c; do
		t=${f#fuzz/fuzz-}
		t=${t%.c}
		timeout 600 scripts/fuzz.sh "$FERRY_FUZZ_SECONDS" "$t" >"$log/out" 2>&1
		rc=$?
		cat "$log/out" | head -50
		record "fuzz/$t" $rc
	done
fi
# End to end (make check sets FERRY_E2E=1): the image under Podman, with and without a
# systemd manager; needs root, skipped with its reason otherwise. Runs on the first build.
if [ "${FERRY_E2E:-0}" = 1 ]; then
	echo "== e2e ($1/ferry)"
	timeout 1800 tests/e2e/run.sh "$1/ferry" >"$log/out" 2>"$log/err"
	rc=$?
	ok=$(grep -c '^ok ' "$log/out")
	bad=$(grep -c '^not ok ' "$log/out")
	grep -E '^(not ok|# |1\.\.)' "$log/out" | sed "s|^|  e2e: |" | tail -40
	pass=$((pass + ok))
	fail=$((fail + bad))
	for f in $(grep '^not ok ' "$log/out" | sed 's/ /_/g'); do failed+=("e2e: $f"); done
	if [ $rc -ne 0 ] && [ "$bad" -eq 0 ]; then
		tail -30 "$log/err"
		record "e2e (exit $rc)" 1
	fi
	echo "$([ $rc -eq 0 ] && [ "$bad" -eq 0 ] && echo ok || echo FAIL) e2e ($ok ok, $bad not ok)"
fi
rm -rf "$log"
if [ ${#failed[@]} -gt 0 ]; then
	echo "failed:"
	printf '  %s\n' "${failed[@]}"
fi
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
