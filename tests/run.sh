#!/usr/bin/env bash
# Runs every test against each build directory given (build, build-san): unit binaries,
# fuzz-corpus replays and integration scenarios. Integration scripts speak TAP ("ok N - x",
# "not ok N - x", "ok N - x # SKIP why"); the others count as one test each. A skipped test
# is no pass: it is counted, and listed with its reason, on its own. Ends with
# "N passed, N failed, N skipped".
set -u
cd "$(dirname "$0")/.."
pass=0
fail=0
skipped=0
failed=()
skips=()
log=$(mktemp -d /tmp/ferry-tests.XXXXXX)

record() { # name rc
	if [ "$2" -eq 0 ]; then pass=$((pass + 1)); else fail=$((fail + 1)); failed+=("$1"); fi
}

# tap NAME FILE: add a TAP stream's results to the counts; sets ok, bad and nskip for the caller.
# "ok ... # SKIP why" (any case, as TAP allows) is a skip, not a pass.
tap() {
	local n=$1 f=$2 line
	nskip=$(grep -Eic '^ok .*# *skip' "$f")
	ok=$(($(grep -c '^ok ' "$f") - nskip))
	bad=$(grep -c '^not ok ' "$f")
	pass=$((pass + ok))
	fail=$((fail + bad))
	skipped=$((skipped + nskip))
	while IFS= read -r line; do failed+=("$n: $line"); done < <(grep '^not ok ' "$f")
	while IFS= read -r line; do skips+=("$n: $line"); done < <(grep -Ei '^ok .*# *skip' "$f")
}

for b in "$@"; do
	echo "== $b"
	for t in "$b"/tests/test-*; do
		[ -x "$t" ] || continue
		n="$b/unit/$(basename "$t")"
		timeout 120 "$t" >"$log/out" 2>&1
		rc=$?
		[ $rc -ne 0 ] && cat "$log/out"
		# A unit binary is one test; the checks it left out say why on their own line.
		[ $rc -eq 0 ] && grep -i 'skipping' "$log/out" | sed "s|^|  $n: |"
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
		grep -E '^(not ok|# )' "$log/out" | sed "s|^|  $n: |"
		tap "$n" "$log/out"
		if [ $rc -ne 0 ] && [ "$bad" -eq 0 ]; then
			tail -30 "$log/err"
			record "$n (exit $rc)" 1
		elif [ "$bad" -gt 0 ]; then
			tail -30 "$log/err"
		fi
		echo "$([ $rc -eq 0 ] && [ "$bad" -eq 0 ] && echo ok || echo FAIL) $n ($ok ok, $bad not ok, $nskip skipped)"
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
	grep -E '^(not ok|# |1\.\.)' "$log/out" | sed "s|^|  e2e: |" | tail -40
	tap e2e "$log/out"
	# "1..0 # SKIP why": the whole suite left out (not root) is one skip.
	if grep -Eiq '^1\.\.0 *# *skip' "$log/out"; then
		skipped=$((skipped + 1))
		nskip=$((nskip + 1))
		skips+=("e2e: $(grep -Ei '^1\.\.0' "$log/out")")
	fi
	if [ $rc -ne 0 ] && [ "$bad" -eq 0 ]; then
		tail -30 "$log/err"
		record "e2e (exit $rc)" 1
	fi
	echo "$([ $rc -eq 0 ] && [ "$bad" -eq 0 ] && echo ok || echo FAIL) e2e ($ok ok, $bad not ok, $nskip skipped)"
fi
rm -rf "$log"
if [ ${#skips[@]} -gt 0 ]; then
	echo "skipped:"
	printf '  %s\n' "${skips[@]}"
fi
if [ ${#failed[@]} -gt 0 ]; then
	echo "failed:"
	printf '  %s\n' "${failed[@]}"
fi
echo "$pass passed, $fail failed, $skipped skipped"
[ "$fail" -eq 0 ]
