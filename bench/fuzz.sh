#!/usr/bin/env bash
# Runs every native Go fuzz target in the repository (every `func FuzzX` in
# a *_test.go under host/, cmd/ and abi/) for FUZZTIME each, one after the
# other. FUZZ narrows the run to the targets whose name matches a regular
# expression. A finding is written by `go test` to the package's
# testdata/fuzz/<Target>/ (commit it with the fix: it becomes a seed that
# `make test` replays) and fails the run once every target had its turn.
#
#   make fuzz                              # every target, 10 s each
#   make fuzz FUZZTIME=10m                 # a longer campaign
#   make fuzz FUZZ=FuzzFrames FUZZTIME=2h  # one target
set -u
GO=${GO:-go}
FUZZTIME=${FUZZTIME:-10s}
FUZZ=${FUZZ:-.}
cd "$(dirname "$0")/.."

failed=()
for f in $(grep -rl --include='*_test.go' '^func Fuzz' host cmd abi | sort); do
	dir=$(dirname "$f")
	for fn in $(sed -n 's/^func \(Fuzz[A-Za-z0-9_]*\)(.*/\1/p' "$f"); do
		[[ $fn =~ $FUZZ ]] || continue
		corpus=$dir/testdata/fuzz/$fn
		before=$(ls "$corpus" 2>/dev/null)
		echo "== ./$dir $fn ($FUZZTIME)"
		out=$("$GO" test -run '^$' -fuzz "^$fn\$" -fuzztime "$FUZZTIME" "./$dir" 2>&1)
		rc=$?
		echo "$out" | grep -E '^fuzz: elapsed' | tail -1
		if [ $rc -eq 0 ]; then
			continue
		fi
		# Go 1.26's fuzzing coordinator can report the end of -fuzztime
		# itself as a failure ("context deadline exceeded") when a worker
		# is slow to stop on a busy machine. That is no finding: nothing
		# was written and nothing else failed.
		if [ "$before" == "$(ls "$corpus" 2>/dev/null)" ] &&
			[ "$(echo "$out" | grep -c -E '^\s+context deadline exceeded$')" -eq 1 ] &&
			! echo "$out" | grep -q -E 'Failing input|panic:|_test\.go:[0-9]+:'; then
			echo "   the fuzzing coordinator stopped late (no input failed): not a finding"
			continue
		fi
		echo "$out"
		failed+=("$fn")
	done
done
if [ ${#failed[@]} -gt 0 ]; then
	echo "fuzz: findings in ${failed[*]}" >&2
	exit 1
fi
echo "fuzz: no findings"
