#!/bin/sh
# Run test binaries and add up their results.
# usage: run-tests.sh [--repeat N] [--hog] LABEL BINARY...
#
# A binary is a cmocka test program, or any program whose last line is
# "N passed, N failed" (tests/tui/run.sh).  Prints each binary's output,
# then "LABEL: N passed, N failed"; exits nonzero if any test failed, was
# skipped (a skipped test proves nothing) or any binary did not finish
# cleanly.
#
# --repeat N runs the whole list N times and prints only the output of
# runs that failed, then one line per binary: how many of its runs
# failed.  --hog keeps one core busy (a shell loop pinned to CPU 0 when
# taskset exists) for as long as the tests run, so that timing
# assumptions a quiet machine hides show up.  The hog is stopped by its
# PID on exit.
repeat=1
hog=
while [ $# -gt 0 ]; do
	case $1 in
	--repeat)
		repeat=$2
		shift 2
		;;
	--hog)
		hog=1
		shift
		;;
	*)
		break
		;;
	esac
done
case $repeat in
''|*[!0-9]*|0)
	echo "run-tests.sh: --repeat needs a positive number" >&2
	exit 2
	;;
esac
label=$1
shift
passed=0
failed=0
broken=0
hogpid=
tally=$(mktemp "${TMPDIR:-/tmp}/run-tests.XXXXXX")
cleanup() {
	if [ -n "$hogpid" ]; then
		kill "$hogpid" 2>/dev/null
		wait "$hogpid" 2>/dev/null
	fi
	rm -f "$tally"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
if [ -n "$hog" ]; then
	# The hog also ends when this script is gone, even killed by
	# SIGKILL (no trap runs then): it looks every 100000 turns.
	hogloop='while kill -0 "$1" 2>/dev/null; do
		i=0; while [ $i -lt 100000 ]; do i=$((i + 1)); done; done'
	if command -v taskset >/dev/null 2>&1; then
		taskset -c 0 sh -c "$hogloop" hog $$ &
	else
		sh -c "$hogloop" hog $$ &
	fi
	hogpid=$!
	sleep 1
	if ! kill -0 "$hogpid" 2>/dev/null; then
		echo "$label: the CPU hog did not start" >&2
		exit 2
	fi
	echo "$label: CPU hog running (pid $hogpid)"
fi

# count PATTERN: the sum of the numbers a summary line matching PATTERN
# (with the number as \1) carries in $out.
count() {
	printf '%s\n' "$out" | sed -n "s/$1/\\1/p" |
	    awk '{s+=$1} END {print s+0}'
}

run=1
while [ "$run" -le "$repeat" ]; do
	for t in "$@"; do
		out=$("$t" 2>&1)
		rc=$?
		p=$(count '^\[  PASSED  \] \([0-9]*\) test.*')
		f=$(count '^\[  FAILED  \] \([0-9]*\) test.*')
		s=$(count '^\[  SKIPPED \] \([0-9]*\) test.*')
		if [ "$p" -eq 0 ] && [ "$f" -eq 0 ]; then
			p=$(count '^\([0-9]*\) passed, [0-9]* failed$')
			f=$(count '^[0-9]* passed, \([0-9]*\) failed$')
		fi
		bad=$((f + s))
		if [ "$rc" -ne 0 ] && [ "$bad" -eq 0 ]; then
			echo "$t: exited with status $rc" >&2
			broken=$((broken + 1))
			bad=1
		elif [ "$p" -eq 0 ] && [ "$bad" -eq 0 ]; then
			# No result at all proves nothing either.
			echo "$t: reported no test result: counted as failed" >&2
			broken=$((broken + 1))
			bad=1
		fi
		if [ "$s" -gt 0 ]; then
			echo "$t: $s test(s) skipped: counted as failed" >&2
		fi
		passed=$((passed + p))
		failed=$((failed + bad))
		if [ "$repeat" -eq 1 ]; then
			printf '%s\n' "$out"
		elif [ "$bad" -gt 0 ]; then
			printf '=== %s, run %d of %d: FAILED\n%s\n' \
			    "$t" "$run" "$repeat" "$out"
			echo "$t" >>"$tally"
		fi
	done
	if [ "$repeat" -gt 1 ]; then
		echo "$label: run $run of $repeat done, $failed failed so far"
	fi
	run=$((run + 1))
done
if [ "$repeat" -gt 1 ]; then
	for t in "$@"; do
		n=$(grep -cxF -- "$t" "$tally")
		echo "$label: ${t##*/tests/}: $n of $repeat runs failed"
	done
fi
echo "$label: $passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$broken" -eq 0 ]
