#!/usr/bin/env bash
#
# End-to-end tests of activity-tui: the real client in tmux (send-keys,
# capture-pane) and in batch mode, against real activity-server
# processes on free loopback ports.  Every wait polls for a condition
# with a timeout.  Only the processes started here are stopped, by PID,
# and tmux runs on a private socket so no other session is touched.
#
# usage: ACTIVITY_BIN=dir tests/tui/run.sh
# Prints "N passed, N failed" last; exits nonzero if anything failed.

set -u

HERE=$(cd "$(dirname "$0")" && pwd)
BIN=${ACTIVITY_BIN:-$HERE/../../bin}
SERVER=$BIN/activity-server
TUI=$BIN/activity-tui
TMP=$(mktemp -d "${TMPDIR:-/tmp}/activity-tui-test.XXXXXX")
SOCK=activity-tui-test-$$
SECRET=tui-test-secret
PIDS=()
passed=0
failed=0

export LANG=C.UTF-8 LC_ALL=C.UTF-8

tm() {
	tmux -L "$SOCK" "$@"
}

cleanup() {
	local p
	tm kill-server 2>/dev/null
	for p in "${PIDS[@]}"; do
		kill "$p" 2>/dev/null
	done
	for p in "${PIDS[@]}"; do
		wait "$p" 2>/dev/null
	done
	if [ "${KEEP_TMP:-}" = "" ]; then
		rm -rf "$TMP"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

now_ms() {
	date +%s%3N
}

# wait_until TIMEOUT_S COMMAND...: poll COMMAND until it succeeds.
wait_until() {
	local to=$1 end
	shift
	end=$(( $(now_ms) + to * 1000 ))
	while ! "$@"; do
		if [ "$(now_ms)" -ge "$end" ]; then
			return 1
		fi
		sleep 0.05
	done
}

# Is something listening on the loopback port?
port_busy() {
	(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

port_free() {
	! port_busy "$1"
}

# A port nothing listens on now, not handed out before in this run,
# below the kernel's ephemeral range so no outgoing connection has it.
USED_PORTS=" "
free_port() {
	local p
	while :; do
		p=$(( 20000 + (RANDOM * 32768 + RANDOM) % 12000 ))
		case $USED_PORTS in
		*" $p "*) continue ;;
		esac
		if port_free "$p"; then
			USED_PORTS="$USED_PORTS$p "
			echo "$p"
			return
		fi
	done
}

# launch NAME PORT [JOIN_PORT]: start a server on PORT and wait until it
# listens; 1 if it could not (the port was taken after all).
launch() {
	local name=$1 port=$2 join=${3:-} i
	if [ -n "$join" ]; then
		"$SERVER" -lh 127.0.0.1 -lp "$port" -rh 127.0.0.1 -rp "$join" \
		    -s "$SECRET" -a 500 -v --data-dir none \
		    >>"$TMP/$name.log" 2>&1 &
	else
		"$SERVER" -lh 127.0.0.1 -lp "$port" -s "$SECRET" -a 500 -v \
		    --data-dir "${LAUNCH_DATA:-none}" >>"$TMP/$name.log" 2>&1 &
	fi
	SERVER_PID=$!
	PIDS+=("$SERVER_PID")
	for i in $(seq 100); do
		if ! kill -0 "$SERVER_PID" 2>/dev/null; then
			wait "$SERVER_PID" 2>/dev/null
			return 1
		fi
		if port_busy "$port"; then
			return 0
		fi
		sleep 0.05
	done
	return 1
}

# start_server NAME [JOIN_PORT]: a server on a free port; sets
# SERVER_PORT and SERVER_PID.
start_server() {
	local i
	for i in 1 2 3 4 5; do
		SERVER_PORT=$(free_port)
		if launch "$1" "$SERVER_PORT" "${2:-}"; then
			return 0
		fi
		stop_pid "$SERVER_PID"
	done
	echo "server $1 did not start" >&2
	tail -5 "$TMP/$1.log" >&2
	return 1
}

stop_pid() {
	kill "$2" "$1" 2>/dev/null
	wait "$1" 2>/dev/null
}

capture() {
	tm capture-pane -p -t "t:$1" 2>/dev/null
}

# shows WINDOW REGEX: does the window show text matching REGEX now?
shows() {
	capture "$1" | grep -Eq -- "$2"
}

# see WINDOW REGEX [TIMEOUT]: wait until the window shows it.
see() {
	if ! wait_until "${3:-10}" shows "$1" "$2"; then
		echo "    window $1 never showed: $2" >&2
		capture "$1" | sed 's/^/    | /' >&2
		return 1
	fi
}

# type_line WINDOW TEXT: type text and Enter.
type_line() {
	tm send-keys -t "t:$1" -l -- "$2"
	tm send-keys -t "t:$1" Enter
}

# client WINDOW PORT ARGS...: open activity-tui in a new 80x24 window.
client() {
	local w=$1 port=$2
	shift 2
	tm new-window -d -t t: -n "$w" \
	    "exec $TUI -rh 127.0.0.1 -rp $port $* --log $TMP/$w.log -v" ||
	    return 1
}

run() {
	local name=$1
	shift
	if "$@"; then
		passed=$((passed + 1))
		echo "ok - $name"
	else
		failed=$((failed + 1))
		echo "FAIL - $name"
	fi
}

# ---------------------------------------------------------------------

setup_cluster() {
	start_server a || return 1
	PA=$SERVER_PORT
	PID_A=$SERVER_PID
	start_server b "$PA" || return 1
	PB=$SERVER_PORT
	start_server c "$PA" || return 1
	PC=$SERVER_PORT
	tm -f /dev/null new-session -d -s t -x 80 -y 24 -n idle "sleep 600" ||
	    return 1
	tm set -g remain-on-exit off
	client alice "$PA" -u alice || return 1
	client bob "$PB" -u bob || return 1
	see alice '^ online .*alice@127\.0\.0\.1:'"$PA" &&
	see bob '^ online .*bob@127\.0\.0\.1:'"$PB"
}

t_layout_80x24() {
	local cap
	cap=$(capture alice)
	[ "$(printf '%s\n' "$cap" | wc -l)" -eq 24 ] &&
	printf '%s\n' "$cap" | sed -n 2p | grep -q '^ Activity' &&
	printf '%s\n' "$cap" | sed -n 17p | grep -q 'Reports.*Failover.*Cluster' &&
	printf '%s\n' "$cap" | sed -n 24p | grep -q '^>'
}

t_chat() {
	type_line alice "hello from alice"
	see bob '[0-9:]{8} alice: hello from alice' &&
	see alice '[0-9:]{8} alice: hello from alice'
}

t_report() {
	# A row for the sent activity, with counts when reports are offered.
	if grep -q 'features:.*sending_report' "$TMP/alice.log"; then
		see alice '#1 +[0-9]+/[0-9]+ +(done|short|partial)'
	else
		see alice 'server offers no' &&
		see alice '^ - +sent'
	fi
}

t_json_and_errors() {
	type_line alice '{"type":"Like","n":12345678901234567890}'
	see bob 'alice: \{"type":"Like","n":12345678901234567890\}' || return 1
	type_line alice '{"type": broken'
	see alice 'not sent: invalid JSON' || return 1
	type_line alice '/nosuch'
	see alice 'unknown command /nosuch'
}

t_long_lines() {
	# A typed line is not cut at 1,024 characters, a long JSON object
	# goes whole, and over --max-message the client says so first.
	local long json
	long=$(printf 'w%.0s' $(seq 1496))
	type_line alice "${long}E1500"
	see bob "wE1500\$" || return 1
	json='{"type":"Like","pad":"'$(printf 'p%.0s' $(seq 1090))'","t":"E1131"}'
	type_line alice "$json"
	see bob '"t":"E1131"\}$' || return 1
	! shows alice 'not sent' || return 1
	client maxed "$PA" --max-message 300 || return 1
	see maxed '^ online' || return 1
	type_line maxed "$(printf 'm%.0s' $(seq 400))"
	see maxed 'not sent: the message would be [0-9]+ bytes, over the 300' ||
	    return 1
	type_line maxed "/quit"
}

# paste WINDOW TEXT: paste as a terminal does, in bracketed paste marks
# (tmux adds them because the client asked for them).
paste() {
	tm set-buffer -b tp -- "$2" && tm paste-buffer -p -d -b tp -t "t:$1"
}

t_paste() {
	# A pretty-printed JSON object is one activity, not a refused line
	# and three notes.
	paste alice $'{\n  "type": "Like",\n  "object": "pasted-json"\n}\n' ||
	    return 1
	see bob 'alice: \{"type":"Like","object":"pasted-json"\}' || return 1
	! shows bob 'alice: +"(type|object)": ' || return 1
	# Text with line breaks is one note, shown with its line breaks:
	# the second line on the next row, under the first.
	paste alice $'first pasted\nsecond pasted' || return 1
	see bob 'alice: first pasted$' || return 1
	capture bob | grep -A1 -E 'alice: first pasted$' | tail -1 |
	    grep -Eq '^ +second pasted$' || {
		echo "    second line not on its own row:" >&2
		capture bob | sed 's/^/    | /' >&2
		return 1
	}
	# More lines than the threshold: asked first, y sends, n drops.
	paste alice "$(seq -f 'row %g' 8)" || return 1
	see alice 'send the 8 pasted lines as one message\? \(y/n\)' || return 1
	! shows bob 'row 1' || return 1
	tm send-keys -t t:alice y
	see bob 'alice: row 1$' || return 1
	see bob '^ +row 8$' || return 1
	paste alice "$(seq -f 'drop %g' 9)" || return 1
	see alice 'send the 9 pasted lines' || return 1
	tm send-keys -t t:alice n
	see alice 'paste dropped' || return 1
	! shows bob 'drop 1' || return 1
	# A paste without a line break waits in the input line.
	paste alice 'one pasted line' || return 1
	see alice '^> one pasted line' || return 1
	tm send-keys -t t:alice Enter
	see bob 'alice: one pasted line$'
}

t_unicode() {
	# A client in a locale that is not UTF-8 says so and escapes.
	tm new-window -d -t t: -n carl "exec env LC_ALL=C LANG=C $TUI \
	    -rh 127.0.0.1 -rp $PB --log $TMP/carl.log -v" || return 1
	see carl '^ online' || return 1
	see carl 'the locale is not UTF-8' || return 1
	type_line bob "héllo 日本語 ok"
	see alice 'bob: héllo 日本語 ok' || return 1
	see carl 'bob: h\\u00e9llo \\u65e5\\u672c\\u8a9e ok' || return 1
	type_line carl "/quit"
}

t_editing() {
	tm send-keys -t t:alice -l -- "abc def"
	tm send-keys -t t:alice C-w
	tm send-keys -t t:alice -l -- "xyz"
	tm send-keys -t t:alice Enter
	see bob 'alice: abc xyz$' || return 1
	tm send-keys -t t:alice -l -- "world"
	tm send-keys -t t:alice Home
	tm send-keys -t t:alice -l -- "hello "
	tm send-keys -t t:alice Left BSpace Enter
	see bob 'alice: hell world$' || return 1
	tm send-keys -t t:alice -l -- "junk"
	tm send-keys -t t:alice C-u
	tm send-keys -t t:alice Up Enter
	# History: Up brought back the last line, sent twice now.
	wait_until 10 twice bob 'alice: hell world$'
}

# twice WINDOW REGEX: does the window show two rows matching REGEX?
twice() {
	[ "$(capture "$1" | grep -Ec -- "$2")" -ge 2 ]
}

t_scroll_wheel_end() {
	# The mouse wheel scrolls the stream (X10 mouse reports, as the
	# terminal sends them), End brings back the newest line, and PgUp
	# stops at a full page of the oldest lines.
	local i
	for i in 1 2 3; do
		type_line alice "/help"
	done
	see alice '/quit +log out and exit' || return 1
	tm send-keys -t t:alice -l $'\e[M`+(' || return 1
	see alice 'scrolled: 3 newer below' 5 || return 1
	tm send-keys -t t:alice -l $'\e[Ma+(' || return 1
	see alice '[0-9]+ lines *$' 5 || return 1
	for i in $(seq 30); do
		tm send-keys -t t:alice PPage
	done
	see alice 'activity-tui [0-9.]+; /help' 5 || return 1
	# A full page below the oldest line, not one line over an empty
	# pane: at most a row of a wrapped line's height is left blank.
	[ "$(capture alice | sed -n 3,16p | grep -c '[a-z]')" -ge 13 ] ||
	    { capture alice >&2; return 1; }
	tm send-keys -t t:alice End
	see alice '[0-9]+ lines *$' 5
}

t_help_and_focus() {
	type_line alice "/help"
	see alice '/connect host port' || return 1
	type_line alice "/cluster"
	see alice 'Cluster \*'
	tm send-keys -t t:alice Escape
	see alice 'Activity \*'
}

t_cluster_pane() {
	# Either the live table or a plain notice that it is not offered.
	see alice "127\.0\.0\.1:$PA +[0-9]+ +[0-9a-z]+ +(self|up)|server offers no cluster" 10
}

normalize() {
	sed -E 's/[0-9]+(\.[0-9]+)?(ms|s|m|h)?//g; s/ +/ /g'
}

# Ages and counters move; everything else must match a full redraw.
same_after_redraw() {
	local a b
	a=$(capture alice | normalize)
	tm send-keys -t t:alice C-l
	sleep 0.3
	b=$(capture alice | normalize)
	[ "$a" = "$b" ]
}

t_resize() {
	tm resize-window -t t:alice -x 130 -y 40 || return 1
	# Wide: the stream on the left, the side bar on the right.
	see alice '^ Activity.* Failover' || return 1
	[ "$(capture alice | wc -l)" -eq 40 ] || return 1
	wait_until 3 same_after_redraw || return 1
	tm resize-window -t t:alice -x 60 -y 20 || return 1
	see alice 'Reports.*Failover.*Cluster' || return 1
	capture alice | sed -n 20p | grep -q '^>' || return 1
	wait_until 3 same_after_redraw || return 1
	tm resize-window -t t:alice -x 30 -y 8 || return 1
	see alice 'terminal too small' || return 1
	tm resize-window -t t:alice -x 80 -y 24 || return 1
	see alice '^ online' && wait_until 3 same_after_redraw
}

t_batch() {
	local out=$TMP/batch.out err=$TMP/batch.err rc
	printf 'from batch\n{"type":"Like"}\n{bad\n' |
	    timeout 20 "$TUI" --batch -rh 127.0.0.1 -rp "$PC" -u carol \
	    --wait 3 >"$out" 2>"$err"
	rc=$?
	[ "$rc" -eq 0 ] || { echo "    batch exit $rc" >&2; cat "$err" >&2; return 1; }
	grep -q '^{"command":"LOGIN_SUCCESS"' "$out" &&
	grep -q '"content":"from batch"' "$out" &&
	grep -q 'invalid JSON' "$err" &&
	grep -q 'generated secret for carol' "$err" &&
	see bob 'carol: from batch' &&
	see bob 'carol: \{"type":"Like"\}'
}

# History: --batch --history N prints the page, then HISTORY_END, then
# live traffic; without --history batch prints none; interactive shows
# the latest page above a divider and /history N fetches the one before.
t_history() {
	local dir=$TMP/histdata out=$TMP/hist.out port n1 n2
	mkdir -p "$dir" && chmod 700 "$dir" || return 1
	LAUNCH_DATA=$dir start_server hist || return 1
	port=$SERVER_PORT
	printf 'h1\nh2\nh3\nh4\nh5\n' | timeout 20 "$TUI" --batch \
	    -rh 127.0.0.1 -rp "$port" --wait 3 >/dev/null 2>&1 || return 1
	printf 'live1\n' | timeout 20 "$TUI" --batch --history 3 \
	    -rh 127.0.0.1 -rp "$port" --wait 3 >"$out" 2>"$TMP/hist.err" ||
	    return 1
	n1=$(grep -n '^{"command":"HISTORY_END","count":3,"more":true}' \
	    "$out" | cut -d: -f1)
	n2=$(grep -n '^{"command":"ACTIVITY_BROADCAST".*"content":"live1"' \
	    "$out" | head -1 | cut -d: -f1)
	if [ "$(grep -c '^{"command":"HISTORY_ACTIVITY"' "$out")" -ne 3 ] ||
	    ! grep '^{"command":"HISTORY_ACTIVITY"' "$out" | head -1 |
	    grep -q '"content":"h3"' || [ -z "$n1" ] || [ -z "$n2" ] ||
	    [ "$n1" -ge "$n2" ]; then
		sed 's/^/    | /' "$out" >&2
		return 1
	fi
	timeout 20 "$TUI" --batch -rh 127.0.0.1 -rp "$port" </dev/null \
	    >"$TMP/hist2.out" 2>&1 || return 1
	! grep -q HISTORY "$TMP/hist2.out" || return 1
	client hist "$port" --history 2 || return 1
	see hist 'history: 2 activities above' || return 1
	see hist 'anonymous: h5' && see hist 'anonymous: live1' || return 1
	shows hist 'anonymous: h4' && return 1
	# Earlier pages go on top of what is shown (few lines: all fit).
	type_line hist '/clear'
	type_line hist '/history 2'
	see hist 'anonymous: h3' && see hist 'anonymous: h4' || return 1
	shows hist 'anonymous: h2' && return 1
	above hist 'anonymous: h3' 'anonymous: h4' &&
	    above hist 'anonymous: h4' '2 earlier activities' || return 1
	# Scrolling past the top fetches the page before.
	tm send-keys -t t:hist PPage
	see hist 'anonymous: h1' && see hist 'that is all the' || return 1
	above hist 'anonymous: h1' 'anonymous: h2' &&
	    above hist 'anonymous: h2' 'anonymous: h3'
}

# above WINDOW A B: A is shown on a line above B's.
above() {
	local a b
	a=$(capture "$1" | grep -n -- "$2" | head -1 | cut -d: -f1)
	b=$(capture "$1" | grep -n -- "$3" | head -1 | cut -d: -f1)
	if [ -z "$a" ] || [ -z "$b" ] || [ "$a" -ge "$b" ]; then
		echo "    window $1: \"$2\" not above \"$3\"" >&2
		capture "$1" | sed 's/^/    | /' >&2
		return 1
	fi
}

# Has process $1 ended (gone, or a zombie not yet waited for)?
proc_gone() {
	[ ! -e "/proc/$1" ] || grep -q '^[0-9]* (.*) Z' "/proc/$1/stat" 2>/dev/null
}

t_batch_follow() {
	# The man page's watcher: no input, yet it keeps receiving.
	local out=$TMP/follow.out err=$TMP/follow.err fpid rc
	: >"$out"
	"$TUI" --batch --follow -rh 127.0.0.1 -rp "$PC" </dev/null \
	    >"$out" 2>"$err" &
	fpid=$!
	PIDS+=("$fpid")
	wait_until 10 grep -q '"command":"LOGIN_SUCCESS"' "$out" || return 1
	type_line alice "for the watcher"
	wait_until 10 grep -q '"content":"for the watcher"' "$out" ||
	    { echo "    the watcher stopped" >&2; cat "$err" >&2; return 1; }
	kill -TERM "$fpid"
	wait_until 5 proc_gone "$fpid" || return 1
	wait "$fpid"
	rc=$?
	[ "$rc" -eq 0 ] || { echo "    watcher exit $rc" >&2; return 1; }
}

t_secret_sources() {
	# Register dora, then log in with her secret from a file and from
	# ACTIVITY_SECRET: no secret on the command line.
	local secret f=$TMP/dora.secret rc
	timeout 20 "$TUI" --batch -rh 127.0.0.1 -rp "$PC" -u dora </dev/null \
	    >"$TMP/dora.out" 2>"$TMP/dora.err" || return 1
	secret=$(sed -n 's/.*generated secret for dora: \([0-9a-f]*\).*/\1/p' \
	    "$TMP/dora.err")
	[ -n "$secret" ] || { cat "$TMP/dora.err" >&2; return 1; }
	(umask 077 && printf '%s\n' "$secret" >"$f")
	timeout 20 "$TUI" --batch -rh 127.0.0.1 -rp "$PC" -u dora \
	    --secret-file "$f" </dev/null >"$TMP/dora2.out" 2>&1 || return 1
	grep -q '"command":"LOGIN_SUCCESS"' "$TMP/dora2.out" || return 1
	ACTIVITY_SECRET=$secret timeout 20 "$TUI" --batch -rh 127.0.0.1 \
	    -rp "$PC" -u dora </dev/null >"$TMP/dora3.out" 2>&1 || return 1
	grep -q '"command":"LOGIN_SUCCESS"' "$TMP/dora3.out" || return 1
	# A wrong one is refused: the file was really read.
	(umask 077 && echo wrong >"$f")
	timeout 20 "$TUI" --batch -rh 127.0.0.1 -rp "$PC" -u dora \
	    --secret-file "$f" </dev/null >/dev/null 2>"$TMP/dora4.err"
	rc=$?
	[ "$rc" -eq 1 ] && grep -q 'login failed' "$TMP/dora4.err" || return 1
	# A file others can read is refused before anything is sent.
	chmod 644 "$f"
	"$TUI" --batch -rh 127.0.0.1 -rp "$PC" -u dora --secret-file "$f" \
	    </dev/null >/dev/null 2>"$TMP/dora5.err"
	[ $? -eq 1 ] && grep -q 'private' "$TMP/dora5.err"
}

t_batch_login_failed() {
	local rc
	timeout 20 "$TUI" --batch -rh 127.0.0.1 -rp "$PB" -u bob -s wrong \
	    </dev/null >"$TMP/fail.out" 2>"$TMP/fail.err"
	rc=$?
	[ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] &&
	grep -q 'login failed' "$TMP/fail.err"
}

t_failover() {
	# Kill alice's server outright; she moves to a backup and chats on.
	stop_pid "$PID_A" -9
	see alice "lost 127\.0\.0\.1:$PA" 10 || return 1
	see alice 'failover done|back online' 15 || return 1
	see alice "^ online .*alice@127\.0\.0\.1:($PB|$PC)" 10 || return 1
	see alice 'failovers 1' 5 || return 1
	# The tree re-forms in the background: retry until bob hears it.
	local i
	for i in 1 2 3 4 5 6; do
		type_line alice "after failover $i"
		if wait_until 2 shows bob "alice: after failover"; then
			return 0
		fi
	done
	see bob 'alice: after failover' 1
}

t_out_of_service() {
	# A lone server: no backup to go to, so the client shows the
	# outage and retries with backoff until the server is back.
	local pd pid_d
	start_server d || return 1
	pd=$SERVER_PORT
	pid_d=$SERVER_PID
	client erin "$pd" || return 1
	see erin '^ online' || return 1
	stop_pid "$pid_d" -9
	see erin 'OUT_OF_SERVICE' 10 || return 1
	see erin 'try [0-9]+, backoff [0-9]+ms' 10 || return 1
	see erin 'next: 127\.0\.0\.1:'"$pd"'|trying 127\.0\.0\.1:'"$pd" 5 ||
	    return 1
	see erin 'try [2-9]' 10 || return 1
	# Retries stay out of the stream: one line for the loss.
	see erin '^ reconnecting .*try [0-9]+, next in' 5 || return 1
	[ "$(capture erin | grep -c "lost 127\.0\.0\.1:$pd")" -eq 1 ] ||
	    { echo "    not one 'lost' line" >&2; return 1; }
	! shows erin 'trying|failover: ' ||
	    { echo "    retries in the stream" >&2; return 1; }
	launch d "$pd" || return 1
	see erin '^ online' 15 || return 1
	see erin 'NORMAL' 5 || return 1
	see erin "back online at 127\.0\.0\.1:$pd after [0-9]+ ms" 5 || return 1
	shows erin '^ online .*rtt' || return 1
	type_line erin "/quit"
}

t_bad_term() {
	# An unknown TERM and a terminal that cannot move the cursor: say
	# why and suggest --batch, instead of exiting mute or a blank screen.
	tm new-window -d -t t: -n term1 "TERM=no-such-term $TUI -rh 127.0.0.1 \
	    -rp $PA; echo rc=\$?; sleep 60" || return 1
	see term1 'unknown terminal type "no-such-term"' || return 1
	see term1 'batch' 1 && see term1 '^rc=1' 5 || return 1
	tm new-window -d -t t: -n term2 "TERM=dumb $TUI -rh 127.0.0.1 \
	    -rp $PA; echo rc=\$?; sleep 60" || return 1
	see term2 'terminal "dumb" \(TERM\) cannot move the cursor' || return 1
	see term2 'batch' 1 && see term2 '^rc=1' 5 || return 1
	tm kill-window -t t:term1
	tm kill-window -t t:term2
}

t_stopped_server() {
	# A SIGSTOPped server is silent before it is called dead: the
	# outage counts from the last thing heard, so at least the 3 s of
	# silence, however soon it comes back after that.
	local pg pid_g
	start_server g || return 1
	pg=$SERVER_PORT
	pid_g=$SERVER_PID
	client gina "$pg" || return 1
	see gina '^ online' || return 1
	kill -STOP "$pid_g"
	see gina "lost 127\.0\.0\.1:$pg: no reply" 15 ||
	    { kill -CONT "$pid_g"; return 1; }
	kill -CONT "$pid_g"
	see gina "back online at 127\.0\.0\.1:$pg after ([3-9][0-9]{3}|[0-9]{5,}) ms" 20 ||
	    return 1
	type_line gina "/quit"
}

t_first_connect_fails() {
	# Nothing listens: say so, plainly, once; it is no failover.
	local pz
	pz=$(free_port)
	client zed "$pz" || return 1
	see zed "cannot connect to 127\.0\.0\.1:$pz: .*is the server" 10 ||
	    return 1
	see zed "running at 127\.0\.0\.1:$pz\?" 1 || return 1
	see zed 'try [2-9]' 10 || return 1
	[ "$(capture zed | grep -c 'is the server')" -eq 1 ] || return 1
	! shows zed 'failover|lost ' || return 1
	type_line zed "/quit"
}

t_batch_failover() {
	# A script keeps sending while its server is killed under it.
	local pe pf pid_e n=40 out=$TMP/bf.out err=$TMP/bf.err bpid rc i
	start_server e || return 1
	pe=$SERVER_PORT
	pid_e=$SERVER_PID
	start_server f "$pe" || return 1
	pf=$SERVER_PORT
	# Wait until e knows f, so its backup list names it.
	wait_until 10 grep -q "$pf" "$TMP/e.log" || return 1
	# Lines 6 on go only after the kill, so the failover is always
	# mid-stream (a slow poll here once saw the whole input sent and
	# the client gone before the kill).
	(for i in $(seq $n); do
		[ "$i" -ne 6 ] || wait_until 20 test -e "$TMP/bf.killed"
		echo "batch $i"; sleep 0.03
	done) |
	    timeout 30 "$TUI" --batch -rh 127.0.0.1 -rp "$pe" -u fred \
	    --wait 3 >"$out" 2>"$err" &
	bpid=$!
	wait_until 10 grep -q '"content":"batch 5"' "$out" || return 1
	stop_pid "$pid_e" -9
	touch "$TMP/bf.killed"
	wait "$bpid"
	rc=$?
	[ "$rc" -eq 0 ] || { echo "    batch exit $rc" >&2; cat "$err" >&2; return 1; }
	grep -q "lost 127.0.0.1:$pe" "$err" &&
	grep -q "back online at 127.0.0.1:$pf after [0-9]* ms" "$err" &&
	[ "$(grep -o '"content":"batch [0-9]*"' "$out" | sort -u | wc -l)" -eq "$n" ]
}

# make_certs: a CA and a certificate for 127.0.0.1 and localhost, made
# now (no key is kept in the tree); a second CA that signed nothing here.
make_certs() {
	local d=$TMP/tls
	mkdir -p "$d" && cd "$d" || return 1
	printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' > srv.ext
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	    -keyout ca.key -out ca.crt -days 2 -subj '/CN=tui test CA' &&
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	    -keyout ca2.key -out ca2.crt -days 2 -subj '/CN=other CA' &&
	openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	    -keyout srv.key -out srv.csr -subj '/CN=tui test server' &&
	openssl x509 -req -in srv.csr -CA ca.crt -CAkey ca.key \
	    -CAcreateserial -days 2 -out srv.crt -extfile srv.ext
	local rc=$?
	cd - >/dev/null
	return $rc
} >/dev/null 2>&1

# start_tls NAME [JOIN_PORT [PLAIN_PORT]]: a server whose TLS port is
# SERVER_PORT, TLS only unless given a plaintext port; sets SERVER_PID.
start_tls() {
	local d=$TMP/tls port i j np=--no-plaintext
	[ -n "${3:-}" ] && np=
	for i in 1 2 3 4 5; do
		port=$(free_port)
		"$SERVER" -lh 127.0.0.1 -lp "${3:-$port}" --tls-port "$port" \
		    $np --tls-cert "$d/srv.crt" \
		    --tls-key "$d/srv.key" --tls-ca "$d/ca.crt" \
		    ${2:+-rh 127.0.0.1 -rp "$2" --remote-tls} \
		    -s "$SECRET" -a 500 -v --data-dir none \
		    >>"$TMP/$1.log" 2>&1 &
		SERVER_PID=$!
		PIDS+=("$SERVER_PID")
		SERVER_PORT=$port
		for j in $(seq 100); do
			kill -0 "$SERVER_PID" 2>/dev/null || break
			port_busy "$port" && return 0
			sleep 0.05
		done
		stop_pid "$SERVER_PID" -TERM
	done
	return 1
}

t_tls_batch() {
	# A wrong trust anchor is refused with the reason; the right one
	# sends and receives, and when the server is killed the client
	# fails over over TLS to the TLS port in the backup list (h has a
	# plaintext port too, which would not do).
	local pg ph pid_g n=30 out=$TMP/tls.out err=$TMP/tls.err bpid rc i
	make_certs || { echo "    openssl failed" >&2; return 1; }
	start_tls g || return 1
	pg=$SERVER_PORT
	pid_g=$SERVER_PID
	start_tls h "$pg" "$(free_port)" || return 1
	ph=$SERVER_PORT
	wait_until 10 grep -q "joined the cluster" "$TMP/h.log" || return 1
	wait_until 10 grep -q "learned of server" "$TMP/g.log" || return 1
	timeout 20 "$TUI" --batch --tls --tls-ca "$TMP/tls/ca2.crt" \
	    -rh 127.0.0.1 -rp "$pg" --give-up 1 </dev/null \
	    >"$TMP/tls-bad.out" 2>"$TMP/tls-bad.err"
	rc=$?
	[ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] &&
	grep -q "127.0.0.1:$pg.*TLS refused: certificate verify failed" \
	    "$TMP/tls-bad.err" ||
	    { echo "    wrong CA not refused (exit $rc)" >&2;
	      cat "$TMP/tls-bad.err" >&2; return 1; }
	# Lines 6 on only after the kill (see t_batch_failover).
	(for i in $(seq $n); do
		[ "$i" -ne 6 ] || wait_until 20 test -e "$TMP/tls.killed"
		echo "tls $i"; sleep 0.03
	done) |
	    timeout 30 "$TUI" --batch --tls --tls-ca "$TMP/tls/ca.crt" \
	    -rh 127.0.0.1 -rp "$pg" -u gina --wait 3 >"$out" 2>"$err" &
	bpid=$!
	wait_until 10 grep -q '"content":"tls 5"' "$out" || return 1
	stop_pid "$pid_g" -9
	touch "$TMP/tls.killed"
	wait "$bpid"
	rc=$?
	[ "$rc" -eq 0 ] || { echo "    batch exit $rc" >&2; cat "$err" >&2; return 1; }
	grep -q "back online at 127.0.0.1:$ph after [0-9]* ms" "$err" &&
	[ "$(grep -o '"content":"tls [0-9]*"' "$out" | sort -u | wc -l)" -eq "$n" ]
}

t_commands() {
	local secret
	secret=$(sed -n 's/.*generated secret for bob: \([0-9a-f]*\).*/\1/p' \
	    "$TMP/bob.log" | head -1)
	[ -n "$secret" ] || { echo "    no secret shown" >&2; return 1; }
	type_line bob "/logout"
	see bob '^ logged out' || return 1
	type_line bob "/login bob $secret"
	# Clients that failed over to B earlier stay there (a resumed
	# session is not redirected), so B may send bob on: any server.
	see bob "logged in to 127\.0\.0\.1:$PB as bob" || return 1
	see bob "^ online .*bob@" || return 1
	type_line bob "/login bob not-the-secret"
	see bob 'login failed as bob' || return 1
	see bob '^ login failed' || return 1
	# The history keeps "/login bob", never the secret.
	tm send-keys -t t:bob Up
	see bob '^(\(offline\) )?> /login bob *$' || return 1
	! shows bob 'not-the-secret' || return 1
	tm send-keys -t t:bob C-u
	type_line bob "/login bob $secret"
	see bob "^ online .*bob@" || return 1
	# A dead address: say so, stay online where bob is, no failover.
	local dead
	dead=$(free_port)
	type_line bob "/connect 127.0.0.1 $dead"
	see bob "cannot connect to 127\.0\.0\.1:$dead: .*staying on" || return 1
	see bob "^ online .*bob@" || return 1
	! shows bob 'failovers [1-9]|OUT_OF_SERVICE' || return 1
	type_line bob "/connect 127.0.0.1 $PC"
	# The server there may redirect bob on: it is enough to get there.
	see bob "logged in to 127\.0\.0\.1:$PC as bob" || return 1
	see bob "^ online .*bob@" || return 1
	type_line bob "/quit"
	wait_until 5 sh -c "! tmux -L $SOCK list-windows -t t -F '#W' | grep -qx bob"
}

# The Cluster pane row for a port: "127.0.0.1:PORT" then its columns.
cluster_row() {
	capture "$1" | grep -E "127\.0\.0\.1:$2 " | head -1
}

no_cluster_row() {
	! capture "$1" | grep -qE "127\.0\.0\.1:$2 "
}

row_down() {
	cluster_row "$1" "$2" | grep -qE ' down *$'
}

t_cluster_view() {
	# Two more servers under B: one leaves with SIGTERM, one crashes.
	local pe pid_e pf pid_f
	start_server e "$PB" || return 1
	pe=$SERVER_PORT
	pid_e=$SERVER_PID
	start_server f "$PB" || return 1
	pf=$SERVER_PORT
	pid_f=$SERVER_PID
	see alice "127\.0\.0\.1:$pe +[0-9]+ +[0-9a-z]+ +up" || return 1
	see alice "127\.0\.0\.1:$pf +[0-9]+ +[0-9a-z]+ +up" || return 1
	stop_pid "$pid_e" -TERM
	wait_until 3 no_cluster_row alice "$pe" ||
	    { echo "    a server that left is still listed" >&2; return 1; }
	stop_pid "$pid_f" -9
	wait_until 5 row_down alice "$pf" ||
	    { echo "    a crashed server is not shown down" >&2; return 1; }
	# Dimmed, with its age in the seen column.
	tm capture-pane -e -p -t t:alice | grep -E "127\.0\.0\.1:$pf" |
	    grep -q $'\e\\[2m' || { echo "    down row not dim" >&2; return 1; }
	# One status: no second "cluster says" line.
	! shows alice 'cluster says' || return 1
	# Wide: every row shows its server's id.
	tm resize-window -t t:alice -x 200 -y 40 || return 1
	see alice "[0-9a-f]{16} 127\.0\.0\.1:$PA " || return 1
	# 60 columns: ports are never cut, in the Cluster pane nor in the
	# Failover pane's address and backup list.
	tm resize-window -t t:alice -x 60 -y 24 || return 1
	see alice ":$PA +self" || return 1
	see alice ":$PB +up" || return 1
	see alice "│ on [^│]*:$PA *│" || return 1
	see alice "│ +[^│]*:$PB *│" || return 1
	see alice "│ +[^│]*:$PC *│" || return 1
	tm resize-window -t t:alice -x 80 -y 24 || return 1
	see alice '^ online'
}

bell_rang() {
	[ "$(tm display -p -t "t:$1" '#{window_bell_flag}')" = 1 ]
}

# The escape sequences a window draws "NAME: " with, on its last line.
name_sgr() {
	tm capture-pane -e -p -t "t:$1" |
	    grep -o $'\e\\[[0-9;]*m\(\e\\[[0-9;]*m\)*'"$2: " | tail -1
}

t_chat_extras() {
	local a b
	type_line bob "/me waves"
	see alice '[0-9:]{8} \* bob waves' || return 1
	# bob's name in a colour of its own, the same on both screens.
	type_line bob "colours"
	see alice 'bob: colours' || return 1
	a=$(name_sgr alice bob)
	b=$(name_sgr bob bob)
	printf '%s' "$a" | has_colour && [ "$a" = "$b" ] ||
	    { echo "    bob's name: '$a' at alice, '$b' at bob" | cat -v >&2
	    return 1; }
	tm select-window -t t:alice
	tm select-window -t t:idle
	type_line bob "look here alice"
	see alice 'bob: look here alice' || return 1
	wait_until 3 bell_rang alice ||
	    { echo "    no bell for a mention" >&2; return 1; }
	tm capture-pane -e -p -t t:alice | grep 'look here alice' |
	    grep -q $'\e\\[30m\e\\[43m' ||
	    { echo "    mention not highlighted" >&2; return 1; }
	type_line alice "/who"
	see alice 'online: .*alice' || return 1
	see alice 'online: .*bob' || return 1
	# The window loses the focus: what comes is below a marker.
	tm send-keys -t t:alice -H 1b 5b 4f
	sleep 0.2
	type_line bob "while you were out"
	see alice 'new since you looked away' || return 1
	tm send-keys -t t:alice -H 1b 5b 49
	type_line alice "/clear"
	wait_until 3 sh -c "! tmux -L $SOCK capture-pane -p -t t:alice |
	    grep -q 'while you were out'"
}

t_help_overlay() {
	tm send-keys -t t:alice F1
	see alice 'Help \(any key closes\)' || return 1
	see alice 'Alt-b Alt-f' || return 1
	tm send-keys -t t:alice x
	wait_until 3 sh -c "! tmux -L $SOCK capture-pane -p -t t:alice |
	    grep -q 'any key closes'" || return 1
	# The key that closed it was not typed.
	capture alice | tail -1 | grep -q '^> *$' || return 1
	tm send-keys -t t:alice '?'
	see alice 'Help \(any key closes\)' || return 1
	tm send-keys -t t:alice Escape
	wait_until 3 sh -c "! tmux -L $SOCK capture-pane -p -t t:alice |
	    grep -q 'any key closes'"
}

t_word_keys() {
	tm send-keys -t t:alice -l "one two three"
	tm send-keys -t t:alice M-b
	tm send-keys -t t:alice -l "X"
	tm send-keys -t t:alice C-Left
	tm send-keys -t t:alice -l "Y"
	tm send-keys -t t:alice M-b M-b M-f
	tm send-keys -t t:alice -l "Z"
	see alice '^> one twoZ YXthree' 5 || return 1
	tm send-keys -t t:alice C-e C-u
	see alice '^> *$'
}

# Colour codes (foreground or background 30-37, 40-47, 90-97, 256).
has_colour() {
	grep -qE $'\e\\[(3[0-7]|4[0-7]|9[0-7]|38;|48;)'
}

t_no_color() {
	local cap
	# Timestamps are not blue (unreadable on a dark background).
	cap=$(tm capture-pane -e -p -t t:alice)
	printf '%s\n' "$cap" | has_colour ||
	    { echo "    no colour at all by default" >&2; return 1; }
	! printf '%s\n' "$cap" | grep -qE $'\e\\[34m[0-9]{2}:[0-9]{2}:' ||
	    { echo "    blue timestamps" >&2; return 1; }
	tm new-window -d -t t: -n mono \
	    "NO_COLOR=1 exec $TUI -rh 127.0.0.1 -rp $PB --log $TMP/mono.log" ||
	    return 1
	see mono '^ online' || return 1
	tm capture-pane -e -p -t t:mono | has_colour &&
	    { echo "    colours despite NO_COLOR" >&2; return 1; }
	tm kill-window -t t:mono
	tm new-window -d -t t: -n mono2 \
	    "exec $TUI -rh 127.0.0.1 -rp $PB --no-color --log $TMP/mono2.log" ||
	    return 1
	see mono2 '^ online' || return 1
	tm capture-pane -e -p -t t:mono2 | has_colour &&
	    { echo "    colours despite --no-color" >&2; return 1; }
	tm kill-window -t t:mono2
}

t_flags() {
	# One version for the project, from the Makefile.
	local want v out rc f
	want=$(sed -n 's/^VERSION[	 ]*=[	 ]*//p' "$HERE/../../Makefile")
	[ -n "$want" ] || { echo "    no VERSION in the Makefile" >&2; return 1; }
	[ "$("$SERVER" --version)" = "activity-server $want" ] || return 1
	[ "$("$TUI" --version)" = "activity-tui $want" ] || return 1
	# An unknown flag: the one-line error and where to look, no help.
	for v in "$SERVER" "$TUI"; do
		for f in --no-such-flag -Z; do
			out=$("$v" $f 2>&1 >/dev/null </dev/null)
			rc=$?
			[ "$rc" -eq 1 ] && [ "$(printf '%s\n' "$out" | wc -l)" -eq 2 ] &&
			    printf '%s\n' "$out" | tail -1 | grep -q -- "try '.* --help'" ||
			    { echo "    $v $f: rc $rc: $out" >&2; return 1; }
		done
	done
	# The server's one-dash flags work with two dashes too.
	[ "$("$SERVER" --V)" = "activity-server $want" ] || return 1
	"$SERVER" --h | grep -q '^usage: activity-server' || return 1
	"$SERVER" --s abc --a 500 --v --lh 127.0.0.1 --lp 1 --check-config \
	    >/dev/null 2>&1 ||
	    { echo "    --s --a --v --lh --lp refused" >&2; return 1; }
	# The one-letter names are no config keys for what the command
	# line alone may say.
	printf 'h\n' >"$TMP/h.conf"
	! "$SERVER" -c "$TMP/h.conf" --check-config >/dev/null 2>&1 || return 1
}

if [ ! -x "$SERVER" ] || [ ! -x "$TUI" ]; then
	echo "missing $SERVER or $TUI (run make)" >&2
	echo "0 passed, 1 failed"
	exit 1
fi

start=$(now_ms)
run "one version, one-line flag errors, two-dash server flags" t_flags
if setup_cluster; then
	passed=$((passed + 1))
	echo "ok - three servers and two clients online"
	run "layout at 80x24" t_layout_80x24
	run "a line typed by alice arrives at bob" t_chat
	run "send report for alice's activity" t_report
	run "JSON activities and errors in words" t_json_and_errors
	run "UTF-8 text both ways" t_unicode
	run "bracketed paste: JSON and text as one input, long ones asked" t_paste
	run "input editing: ctrl-w, home, left, backspace, ctrl-u, history" t_editing
	run "/help, /cluster focus, Escape" t_help_and_focus
	run "mouse wheel, PgUp to a full page, End to the newest" t_scroll_wheel_end
	run "cluster pane" t_cluster_pane
	run "cluster view: left, crashed, wide ids, ports at 60 columns" t_cluster_view
	run "/me, mention highlight and bell, /who, unread marker, /clear" t_chat_extras
	run "help overlay on F1 and ?" t_help_overlay
	run "word movement: Alt-b, Alt-f, Ctrl-Left" t_word_keys
	run "colours: readable timestamps, NO_COLOR, --no-color" t_no_color
	run "long lines: 1,500 characters, long JSON, over --max-message" t_long_lines
	run "resize re-lays out without garbage" t_resize
	run "batch mode sends and prints" t_batch
	run "batch --follow keeps receiving after the input, until SIGTERM" t_batch_follow
	run "batch mode fails clearly on a wrong secret" t_batch_login_failed
	run "history: batch --history, the divider, /history" t_history
	run "--secret-file and ACTIVITY_SECRET" t_secret_sources
	run "kill a server: failover on screen, chat goes on" t_failover
	run "lone server dies and returns: OUT_OF_SERVICE, backoff, recovery" t_out_of_service
	run "batch mode fails over and delivers every line" t_batch_failover
	run "a stopped server's outage counts from the last thing heard" t_stopped_server
	run "a first connection that fails asks if the server runs" t_first_connect_fails
	run "--tls: refused with the reason, then delivers and fails over" t_tls_batch
	run "unknown TERM and TERM=dumb say why and suggest --batch" t_bad_term
	run "/logout, /login, /connect, /quit" t_commands
else
	failed=$((failed + 1))
	echo "FAIL - three servers and two clients online"
fi
echo "# $(( ($(now_ms) - start) / 1000 )) s"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
