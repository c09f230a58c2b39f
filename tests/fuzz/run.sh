#!/bin/sh
# Build the libFuzzer targets with clang into build-fuzz/ and run each for
# FUZZ_SECONDS (default 60) on a working copy of its seed corpus.
#
# usage: tests/fuzz/run.sh [TARGET...]     (default: every tests/fuzz/fuzz_*.c)
#
#   FUZZ_SECONDS=N     seconds per target (60)
#   FUZZ_ARGS="..."    extra libFuzzer flags (e.g. -jobs=2 -workers=2)
#   FUZZ_KEEP=1        keep the working corpus in build-fuzz/corpus/TARGET
#                      and start from it next time (default: a temp copy)
#   FUZZ_BUILD_ONLY=1  build, do not run
#   FUZZ_VERBOSE=1     show the targets' own stderr (server logs)
#
# The repository's corpus (tests/fuzz/corpus/TARGET) is never written.
# Crash inputs go to build-fuzz/artifacts/.  Exits nonzero if a target
# crashed, leaked, timed out or ran out of memory.  Reproduce one with
#   build-fuzz/TARGET build-fuzz/artifacts/TARGET-crash-...
# Needs clang and libclang-rt-14-dev (make deps).
set -u

cd "$(dirname "$0")/../.." || exit 2
ROOT=$(pwd)
OUT=$ROOT/build-fuzz
SECONDS_EACH=${FUZZ_SECONDS:-60}
CC=${FUZZ_CC:-clang}

if ! command -v "$CC" >/dev/null 2>&1; then
	echo "fuzz: $CC not found; run 'make deps' (clang, libclang-rt-14-dev)" >&2
	exit 2
fi

CFLAGS="-g -O1 -fno-omit-frame-pointer -std=gnu11 -D_GNU_SOURCE \
-fsanitize=address,undefined -fsanitize-recover=undefined \
-Icommon -Iserver $(pkg-config --cflags libevent libevent_openssl openssl libcjson)"
LIBS="$(pkg-config --libs libevent libevent_openssl openssl libcjson libcrypto libcrypt) -lpthread -lm"

mkdir -p "$OUT/obj" "$OUT/artifacts" || exit 2

# The sources under test, built once (instrumented, without libFuzzer's
# main) and shared by every target.  An object is rebuilt when its source
# or any header is newer, or the flags changed.
newest_header=$(ls -t common/*.h server/*.h 2>/dev/null | head -1)
if [ "$(cat "$OUT/obj/flags" 2>/dev/null)" != "$CC $CFLAGS" ]; then
	rm -f "$OUT"/obj/*.o
	echo "$CC $CFLAGS" >"$OUT/obj/flags"
fi
objs=
for src in common/*.c server/*.c; do
	[ "$src" = server/main.c ] && continue
	obj=$OUT/obj/$(echo "$src" | tr / _ | sed 's/\.c$/.o/')
	if [ ! -f "$obj" ] || [ "$src" -nt "$obj" ] ||
	    [ "$newest_header" -nt "$obj" ]; then
		echo "fuzz: cc $src"
		# shellcheck disable=SC2086
		$CC $CFLAGS -fsanitize=fuzzer-no-link -c -o "$obj" "$src" || exit 2
	fi
	objs="$objs $obj"
done

if [ $# -gt 0 ]; then
	targets=$*
else
	targets=$(for f in tests/fuzz/fuzz_*.c; do basename "$f" .c; done)
fi

for t in $targets; do
	src=tests/fuzz/$t.c
	[ -f "$src" ] || { echo "fuzz: no $src" >&2; exit 2; }
	echo "fuzz: cc $src"
	# shellcheck disable=SC2086
	$CC $CFLAGS -fsanitize=fuzzer -o "$OUT/$t" "$src" $objs $LIBS || exit 2
done
[ "${FUZZ_BUILD_ONLY:-0}" = 1 ] && exit 0

# UBSan findings are fatal except the known, reported ones.
UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:suppressions=$ROOT/tests/fuzz/known-bugs.supp${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"
export UBSAN_OPTIONS

tmp=$(mktemp -d "${TMPDIR:-/tmp}/activity-fuzz-XXXXXX") || exit 2
trap 'rm -rf "$tmp"' EXIT INT TERM

status=0
summary=
for t in $targets; do
	seeds=tests/fuzz/corpus/$t
	if [ "${FUZZ_KEEP:-0}" = 1 ]; then
		work=$OUT/corpus/$t
	else
		work=$tmp/$t
	fi
	mkdir -p "$work" || exit 2
	[ -d "$seeds" ] && cp -n "$seeds"/* "$work"/ 2>/dev/null
	dict=
	[ -f "tests/fuzz/$t.dict" ] && dict=-dict=tests/fuzz/$t.dict
	quiet=-close_fd_mask=2
	[ "${FUZZ_VERBOSE:-0}" = 1 ] && quiet=
	log=$OUT/$t.log
	echo "fuzz: $t for ${SECONDS_EACH}s (corpus $(ls "$work" | wc -l) files, log $log)"
	# shellcheck disable=SC2086
	"$OUT/$t" -max_total_time="$SECONDS_EACH" -print_final_stats=1 \
	    -timeout=10 -rss_limit_mb=2048 -max_len=8192 \
	    -artifact_prefix="$OUT/artifacts/$t-" $dict $quiet \
	    ${FUZZ_ARGS:-} "$work" >"$log" 2>&1
	rc=$?
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | awk '{s+=$1} END {print s+0}')
	last=$(grep -E '^#[0-9]+' "$log" | grep 'cov:' | tail -1)
	cov=$(echo "$last" | sed -n 's/.*cov: \([0-9]*\).*/\1/p')
	ft=$(echo "$last" | sed -n 's/.*ft: \([0-9]*\).*/\1/p')
	corp=$(echo "$last" | sed -n 's/.*corp: \([0-9]*\/[0-9a-zA-Z]*\).*/\1/p')
	line="$t: ${execs} executions, cov ${cov:-?}, ft ${ft:-?}, corpus ${corp:-?}"
	if [ "$rc" -ne 0 ]; then
		line="$line: FAILED (exit $rc)"
		status=1
		grep -E 'ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error|invariant failed|SUMMARY|Test unit written' "$log" | head -20
	fi
	echo "$line"
	summary="$summary$line
"
done
printf '\nfuzz summary:\n%s' "$summary"
exit $status
