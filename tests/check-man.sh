#!/bin/sh
# The man pages must be clean under mandoc -Tlint and installed by make
# install, and every long option a program's --help lists must appear in
# its man page.
fail=0
for m in man/*.[1-9]; do
	[ -f "$m" ] || continue
	out=$(mandoc -Tlint -W warning "$m" 2>&1)
	if [ -n "$out" ]; then
		printf '%s\n' "$out"
		fail=$((fail + 1))
	fi
	# make install installs every page.
	if ! grep -q "install .*$m" Makefile; then
		echo "$m: not installed by make install"
		fail=$((fail + 1))
	fi
done
bin=${BIN:-bin}
for prog in activity-server activity-tui; do
	page=man/$prog.1
	# A missing program is a failure, not a pass: build first (make
	# check-man does).
	if [ ! -x "$bin/$prog" ] || [ ! -f "$page" ]; then
		echo "$bin/$prog or $page is missing: cannot check --help"
		fail=$((fail + 1))
		continue
	fi
	for opt in $("$bin/$prog" --help 2>&1 | grep -o -- '--[a-z][a-z-]*' | sort -u); do
		name=${opt#--}
		if ! grep -q -- "$name" "$page"; then
			echo "$page: option $opt from --help is not documented"
			fail=$((fail + 1))
		fi
	done
done
if [ "$fail" -eq 0 ]; then
	echo "man: 1 passed, 0 failed"
else
	echo "man: 0 passed, 1 failed"
	exit 1
fi
