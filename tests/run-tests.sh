#!/bin/sh
# Run cmocka test binaries and add up their results.
# usage: run-tests.sh LABEL BINARY...
# Prints each binary's output, then "LABEL: N passed, N failed"; exits
# nonzero if any test failed or any binary did not finish cleanly.
label=$1
shift
passed=0
failed=0
broken=0
for t in "$@"; do
	out=$("$t" 2>&1)
	rc=$?
	printf '%s\n' "$out"
	p=$(printf '%s\n' "$out" | sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' | awk '{s+=$1} END {print s+0}')
	f=$(printf '%s\n' "$out" | sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' | awk '{s+=$1} END {print s+0}')
	passed=$((passed + p))
	failed=$((failed + f))
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		echo "$t: exited with status $rc" >&2
		broken=$((broken + 1))
		failed=$((failed + 1))
	fi
done
echo "$label: $passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$broken" -eq 0 ]
