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
# Two mistakes mandoc does not flag: a Qq inside a Qq (it runs to the
# end of the line, so the second one nests: "type: "Note""), and a
# plain word after a flag, which Fl dashes too ("--wait -seconds").
for m in man/*.[1-9]; do
	[ -f "$m" ] || continue
	if grep -nE 'Qq.*Qq' "$m"; then
		echo "$m: nested Qq (close the first with Qo ... Qc)"
		fail=$((fail + 1))
	fi
	if grep -nE 'Fl \\?-?[a-z][a-z-]* [a-z][a-z]*( |$)' "$m"; then
		echo "$m: a word after Fl is dashed too (use Ar)"
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
# /help and the man page give each command the same syntax: the usage
# "/name a [b]" of command.c's table is ".It Ic /name Ar a Op Ar b".
grep -o '^	{ "[a-z]*", [0-9], [0-9], "/[^"]*"' tui_client/command.c |
    sed 's/.*"\(\/[^"]*\)"$/\1/' | while read -r cmd args; do
	want=".It Ic $cmd"
	last=
	for a in $args; do
		case $a in
		\[*\]) a=${a#[}; want="$want Op Ar ${a%]}"; last= ;;
		*) if [ "$last" = ar ]; then want="$want $a"
		   else want="$want Ar $a"; fi; last=ar ;;
		esac
	done
	if ! grep -qxF -- "$want" man/activity-tui.1; then
		echo "man/activity-tui.1: /help says $cmd $args, the page has no '$want'"
		echo x
	fi
done >"${TMPDIR:-/tmp}/check-man.$$"
if grep -q '^x$' "${TMPDIR:-/tmp}/check-man.$$"; then
	grep -v '^x$' "${TMPDIR:-/tmp}/check-man.$$"
	fail=$((fail + 1))
fi
rm -f "${TMPDIR:-/tmp}/check-man.$$"

# make help lists every target the Makefile declares.
targets=$(sed -n '/^\.PHONY:/,/[^\\]$/p' Makefile | tr -d '\\' |
    sed 's/^\.PHONY://' | tr ' \t' '\n\n' | grep -v '^$')
helped=$(make -s --no-print-directory help 2>/dev/null)
for t in $targets; do
	if ! printf '%s\n' "$helped" | grep -q "^make $t "; then
		echo "Makefile: make help does not list the target $t"
		fail=$((fail + 1))
	fi
done
if [ "$fail" -eq 0 ]; then
	echo "man: 1 passed, 0 failed"
else
	echo "man: 0 passed, 1 failed"
	exit 1
fi
