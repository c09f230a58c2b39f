#!/usr/bin/env bash
#
# make demo: a local 3-server cluster (a root and two servers joined to
# it) on free loopback ports, and activity-tui on it in this terminal.
# Quitting the client stops the servers this script started (by PID).
#
# DEMO_USER=name logs in as name (registered with a generated secret);
# the default is anonymous.  Registered users are kept in DEMO_DATA
# (default $XDG_STATE_HOME or ~/.local/state, /activity-server/demo), one
# directory per server, so they are still there the next time.

set -u

HERE=$(cd "$(dirname "$0")" && pwd)
BIN=${ACTIVITY_BIN:-$(cd "$HERE/../bin" 2>/dev/null && pwd)}
SERVER=$BIN/activity-server
TUI=$BIN/activity-tui
SECRET=demo-$$-$RANDOM
DIR=$(mktemp -d "${TMPDIR:-/tmp}/activity-demo.XXXXXX")
DATA=${DEMO_DATA:-${XDG_STATE_HOME:-$HOME/.local/state}/activity-server/demo}
PIDS=()

cleanup() {
	local p
	for p in "${PIDS[@]}"; do
		kill "$p" 2>/dev/null
	done
	for p in "${PIDS[@]}"; do
		wait "$p" 2>/dev/null
	done
	echo "demo: servers stopped; their logs are in $DIR"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

port_busy() {
	(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# start NAME [JOIN_PORT]: a server on a free port below the ephemeral
# range; sets PORT.
start() {
	local name=$1 join=${2:-} try i pid
	for try in 1 2 3 4 5; do
		PORT=$(( 20000 + (RANDOM * 32768 + RANDOM) % 12000 ))
		port_busy "$PORT" && continue
		if [ -n "$join" ]; then
			"$SERVER" -lh 127.0.0.1 -lp "$PORT" -rh 127.0.0.1 \
			    -rp "$join" -s "$SECRET" -a 1000 -v \
			    --data-dir "$DATA/$name" >>"$DIR/$name.log" 2>&1 &
		else
			"$SERVER" -lh 127.0.0.1 -lp "$PORT" -s "$SECRET" \
			    -a 1000 -v --data-dir "$DATA/$name" \
			    >>"$DIR/$name.log" 2>&1 &
		fi
		pid=$!
		for i in $(seq 100); do
			kill -0 "$pid" 2>/dev/null || break
			if port_busy "$PORT"; then
				PIDS+=("$pid")
				return 0
			fi
			sleep 0.05
		done
		kill "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
	done
	echo "demo: cannot start server $name; see $DIR/$name.log" >&2
	exit 1
}

if [ ! -x "$SERVER" ] || [ ! -x "$TUI" ]; then
	echo "demo: build first (make)" >&2
	exit 1
fi

if ! mkdir -p "$DATA"; then
	echo "demo: cannot create $DATA (set DEMO_DATA)" >&2
	exit 1
fi

start root
P1=$PORT
start two "$P1"
P2=$PORT
start three "$P1"
P3=$PORT

cat <<MSG
demo: a cluster of three servers on 127.0.0.1 ports $P1 (root), $P2, $P3
demo: chat from another terminal with
demo:   $TUI -rh 127.0.0.1 -rp $P2 -u bob
demo: or a script with
demo:   echo hi | $TUI --batch -rh 127.0.0.1 -rp $P3
demo: registered users are kept in $DATA
demo: kill one of the servers (PIDs ${PIDS[*]}) to watch the failover;
demo: /quit leaves and stops the servers.
MSG
sleep 2

args=(-rh 127.0.0.1 -rp "$P1")
if [ -n "${DEMO_USER:-}" ]; then
	args+=(-u "$DEMO_USER")
fi
"$TUI" "${args[@]}"
