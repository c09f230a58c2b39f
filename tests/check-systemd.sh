#!/bin/sh
# The service unit and the example configuration: make install-systemd
# installs the unit with the binary's path filled in, the unit has the
# sandboxing it promises, systemd-analyze verify finds nothing to say
# about it (where systemd is installed), and the annotated example in
# contrib/ is a valid configuration.
BIN=${ACTIVITY_BIN:-bin}
TMP=$(mktemp -d "${TMPDIR:-/tmp}/activity-systemd.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
fail=0
passed=0
ok() { passed=$((passed + 1)); }
bad() { echo "check-systemd: $*"; fail=$((fail + 1)); }

unit=activity-server@.service
if make --no-print-directory DESTDIR="$TMP/root" PREFIX=/usr \
    install-systemd >"$TMP/install.log" 2>&1; then
	ok
else
	cat "$TMP/install.log"
	bad "make install-systemd failed"
fi
inst="$TMP/root/usr/lib/systemd/system/$unit"
if [ -f "$inst" ] && grep -q '^ExecStart=/usr/bin/activity-server -c /etc/activity-server/%i.conf ' "$inst" &&
    ! grep -q '@BINDIR@' "$inst"; then
	ok
else
	bad "$inst missing or its ExecStart is not /usr/bin/activity-server"
fi
for key in 'DynamicUser=yes' 'StateDirectory=activity-server' \
    'ProtectSystem=strict' 'NoNewPrivileges=yes' 'Restart=on-failure' \
    'ExecReload=/bin/kill -HUP $MAINPID' 'KillSignal=SIGTERM' \
    'LoadCredential=secret:/etc/activity-server/secret'; do
	if grep -qxF "$key" "contrib/systemd/$unit"; then
		ok
	else
		bad "the unit lacks $key"
	fi
done

if command -v systemd-analyze >/dev/null 2>&1; then
	# The unit as installed, pointing at the binary just built.
	mkdir -p "$TMP/units"
	sed "s|@BINDIR@|$(cd "$BIN" && pwd)|g" "contrib/systemd/$unit" \
	    >"$TMP/units/$unit"
	out=$(systemd-analyze verify --man=no \
	    "$TMP/units/activity-server@8001.service" 2>&1)
	if [ $? -eq 0 ] && [ -z "$out" ]; then
		ok
	else
		printf '%s\n' "$out"
		bad "systemd-analyze verify complains about the unit"
	fi
	# The check can fail: a misspelt key is reported.
	sed 's/^NoNewPrivileges=/NoNewPrivilege=/' "$TMP/units/$unit" \
	    >"$TMP/units/activity-bad@.service"
	out=$(systemd-analyze verify --man=no \
	    "$TMP/units/activity-bad@8001.service" 2>&1)
	if [ -n "$out" ]; then
		ok
	else
		bad "systemd-analyze verify missed a misspelt key"
	fi
else
	echo "check-systemd: systemd-analyze is not installed; unit not verified"
fi

# The example is valid (its secret file exists only on a real system).
if "$BIN/activity-server" -c contrib/activity-server.conf -s example \
    --check-config >"$TMP/check.log" 2>&1; then
	ok
else
	cat "$TMP/check.log"
	bad "contrib/activity-server.conf is not a valid configuration"
fi
# Every key the example sets or mentions is a long option of the server.
for key in $(sed -n 's/^#\{0,1\}\([a-z][a-z-]*\) = .*/\1/p' \
    contrib/activity-server.conf | sort -u); do
	if "$BIN/activity-server" --help | grep -q -- "--$key\b"; then
		ok
	else
		bad "contrib/activity-server.conf: $key is not an option"
	fi
done

if [ "$fail" -eq 0 ]; then
	echo "systemd: $passed passed, 0 failed"
else
	echo "systemd: $passed passed, $fail failed"
	exit 1
fi
