#!/usr/bin/env bash
# tests/bench/run.sh - `make bench`: the standard benchmark set, then one
# markdown table of the results with the machine and the date.
#
#  1. our workloads with bin/activity-bench (each on its own fresh
#     loopback cluster): fanout on 3 and on 9 servers (chain and star), an
#     unpaced flood, steady 10k/s, failover (base protocol, and with
#     session resume), register on 1/3/5 servers, 10000 idle clients,
#     steady 10k/s without and with 200 LOGINs/s (a slow hash each),
#     interleaved
#  2. if nats-server and the shared load generator (bench-peer) are
#     available: the SAME fan-out (30 subs, 3 pubs, 3 servers, 200 B,
#     window 100; NATS with --pubs-subscribe) and steady (10k/s) workloads
#     with the shared loadgen against both systems, interleaved
#     (ours, nats, ours, nats, ...), and the ratio of the medians.
#  3. high availability and delivery (issues 3 and 4): failover after
#     kill -9 of one of 3 servers at 2000 activities/s, ours (activity-bench
#     failover: a publisher that resends what has no delivery report,
#     subscribers that resume and drop repeats) interleaved with
#     bench-peer/bench.sh's failover scenario on nats-server (same shape:
#     30 subscribers, 1 publisher on the first server, the second one
#     killed 4 s into 10 s); the publisher's own server killed; SIGSTOP (a
#     silent failure); ordering on vs off (--order-wait 0), interleaved;
#     delivery report latency and counts.
#  4. TLS on every link (issues 10 and 15): the shared loadgen's fan-out
#     (30 subs, 3 pubs, 3 servers; 200 B with window 100 and 4 KB with
#     window 50) on our plaintext chain and on the same chain with TLS
#     on every client and server link (--no-plaintext, --remote-tls,
#     certificates verified; made with openssl at run time), and, if
#     nats-server is there, on a nats-server cluster plaintext and with
#     TLS on client and route links; runs interleaved (ours plain, ours
#     tls, nats tls, nats plain, then the reverse); the medians, each
#     system's TLS/plaintext and ours/nats with TLS.
#  6. size sweep (issue 15): the shared loadgen's closed-loop fan-out
#     (30 subs, 3 pubs, 3 servers) at 200 B w100, 1 KB w100, 4 KB w50
#     and w500, 16 KB w50, 60000 B w10, ours and nats-server, each run
#     on a fresh cluster, interleaved A B B A; medians of deliveries/s,
#     p99 and server CPU per delivery, and the ratios.  Without
#     nats-server only our rows run.
#  5. the history log (issue 16): fan-out (30 subs, 3 pubs, 1 server,
#     200 B, window 100) with the history on (a fresh --data-dir) and off
#     (--history-max 0), interleaved, and the ratio of the medians (target:
#     history at most 10% lower), with the server CPU per activity of each;
#     activity-bench history after each pair: the CPU of one append measured
#     in-process (100000 of 200 B, written per 100), and fetching 1000
#     activities from a server holding those 100000 (target under 10 ms).
#
# Every step runs under timeout(1), so this never hangs; only processes
# this script started are stopped, by PID.
#
# Environment:
#   BENCH_OUT=DIR        where results go (default build/bench/<date>)
#   BENCH_RUNS=N         comparison runs per system (default 3)
#   BENCH_SETS="..."     which of: ours cmp sweep ha tls hist (default all)
#   BENCH_SWEEP="S:W:N ..." sweep rows: size, window, activities (default
#                        200:100:100000 1024:100:60000 4096:50:30000
#                        4096:500:30000 16384:50:10000 60000:10:3000)
#   BENCH_SWEEP_RUNS=N   sweep runs per system and row (default 3)
#   BENCH_HIST_RUNS=N    history on and off runs each (default 3)
#   BENCH_TLS_RUNS=N     TLS and plaintext runs each, per size and system
#                        (default 3)
#   BENCH_SKIP_OURS=1    no set 1
#   BENCH_SKIP_NATS=1    no nats-server runs (set 2 skipped, sets 3, 4, 6
#                        ours only)
#   BENCH_FAILOVER_RUNS=N  interleaved failover runs per system (default 3)
#   BENCH_VARIANT_RUNS=N runs of each failover variant (default 1)
#   BENCH_ORDER_RUNS=N   ordering runs, on and off alternately (default 6)
#   BENCH_REPORT_RUNS=N  delivery report runs (default 1)
#   BENCH_PEER=DIR       the shared bench-peer directory (default
#                        ../shared/bench-peer from the repository root,
#                        then /work/shared/bench-peer)
#   NATS_SERVER=PATH     nats-server binary (make bench-deps installs it)
#   BENCH_QUIET_PCT=P, BENCH_QUIET_MAX_S=S  before each comparison run wait
#                        up to S s (default 10) for the CPUs to be under
#                        P % busy (default 25)
#   BENCH_IDLE_CONNS=N   idle clients (default 10000)
#   ACTIVITY_BIN=DIR     where activity-server and activity-bench are (a
#                        file COMMIT there names the commit they are of)
set -u

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${ACTIVITY_BIN:-$ROOT/bin}
BENCH=$BIN/activity-bench
SERVER=$BIN/activity-server
OUT=${BENCH_OUT:-$ROOT/build/bench/$(date +%Y%m%d-%H%M%S)}
RUNS=${BENCH_RUNS:-3}
IDLE_CONNS=${BENCH_IDLE_CONNS:-10000}
NATS=${NATS_SERVER:-$(command -v nats-server 2>/dev/null || echo /usr/sbin/nats-server)}

mkdir -p "$OUT"
ROWS=$OUT/rows.md
CMP=$OUT/compare.txt
: > "$ROWS"
: > "$CMP"

declare -a NATS_PIDS=()
declare -a TLS_PIDS=()
HOLD_PID=""
TMPD=""

log() { echo "[bench $(date +%H:%M:%S)] $*" >&2; }
load1() { cut -d' ' -f1 /proc/loadavg; }

cleanup() {
    local p
    [ -n "$HOLD_PID" ] && kill -TERM "$HOLD_PID" 2>/dev/null
    for p in "${NATS_PIDS[@]:-}" "${TLS_PIDS[@]:-}"; do
        [ -n "$p" ] && kill -TERM "$p" 2>/dev/null
    done
    [ -n "$HOLD_PID" ] && wait "$HOLD_PID" 2>/dev/null
    for p in "${TLS_PIDS[@]:-}"; do
        [ -n "$p" ] && wait "$p" 2>/dev/null
    done
    for p in "${NATS_PIDS[@]:-}"; do
        [ -n "$p" ] && wait "$p" 2>/dev/null
    done
    [ -n "$TMPD" ] && rm -rf "$TMPD"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

for f in "$BENCH" "$SERVER"; do
    [ -x "$f" ] || { echo "run.sh: $f missing (run make first)" >&2; exit 1; }
done
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
TMPD=$(mktemp -d /tmp/activity-bench-run.XXXXXX)

# ours NAME SECONDS ARGS...: one activity-bench run, its rows kept
ours() {
    local name=$1 secs=$2; shift 2
    log "$name: activity-bench $*"
    timeout -k 5 "$secs" "$BENCH" "$@" --server-bin "$SERVER" \
        --timeout "$((secs - 10))" > "$OUT/$name.out" 2> "$OUT/$name.err"
    local rc=$?
    grep -v '^{' "$OUT/$name.out" | grep -v '^| ' >&2
    grep '^| ' "$OUT/$name.out" >> "$ROWS"
    if [ $rc -ne 0 ]; then
        log "$name: exit status $rc (see $OUT/$name.err)"
        grep -q '^| ' "$OUT/$name.out" ||
            echo "| $name | FAILED (exit $rc; $(tail -n 1 "$OUT/$name.err" | tr '|' '/')) | $(load1) |" >> "$ROWS"
    fi
}

SETS=${BENCH_SETS:-ours cmp sweep ha tls hist}
has_set() { case " $SETS " in *" $1 "*) return 0;; esac; return 1; }

if [ "${BENCH_SKIP_OURS:-0}" != 1 ] && has_set ours; then
    ours fanout3 120 fanout --cluster 3 --subs 30 --pubs 3 --msgs 100000 --size 200 --window 100
    ours fanout9 120 fanout --cluster 9 --subs 30 --pubs 3 --msgs 100000 --size 200 --window 100
    ours fanout9star 120 fanout --cluster 9 --topology star --subs 30 --pubs 3 --msgs 100000 --size 200 --window 100
    ours flood 120 fanout --cluster 3 --subs 30 --pubs 3 --msgs 100000 --size 200 --window 0
    ours steady 60 steady --cluster 3 --subs 30 --pubs 3 --rate 10000 --duration 5
    ours register 150 register --cluster 1 --sizes 1,3,5 --count 200
    ours idle 120 idle --cluster 1 --conns "$IDLE_CONNS"
    ours logins 240 logins --cluster 3 --subs 30 --pubs 3 --rate 10000 --duration 5 --logins 200 --runs 4
    ours logins-cold 300 logins --cluster 3 --subs 30 --pubs 3 --rate 10000 --duration 5 --logins 200 --runs 4 --logins-users 1000
    ours logins-anon 240 logins --cluster 3 --subs 30 --pubs 3 --rate 10000 --duration 5 --logins 200 --runs 4 --logins-anonymous
fi

# ------------------------------------------------------------ history
# hist_run MODE RUN: fan-out on one server, history on or off.
hist_run() {
    local d=$TMPD/hist-$1-$2
    mkdir -p "$d" && chmod 700 "$d"
    if [ "$1" = on ]; then
        ours "hist-on-$2" 120 fanout --cluster 1 --subs 30 --pubs 3 --msgs 100000 \
            --size 200 --window 100 --server-arg --data-dir --server-arg "$d"
    else
        ours "hist-off-$2" 120 fanout --cluster 1 --subs 30 --pubs 3 --msgs 100000 \
            --size 200 --window 100 --server-arg --data-dir --server-arg "$d" \
            --server-arg --history-max --server-arg 0
    fi
    # the table's row says which run it was
    sed -i '$ s/^| fanout/| hist-'"$1"': fanout/' "$ROWS"
    HIST_SEGS=$(cat "$d"/history/*.seg 2>/dev/null | wc -l)
    [ "$1" = on ] && log "hist run $2: $HIST_SEGS records in the history"
    rm -rf "$d"
}
HIST_NOTE=""
if has_set hist; then
    for r in $(seq 1 "${BENCH_HIST_RUNS:-3}"); do
        # on, off, off, on, ...: drift hits both alike
        if [ $((r % 2)) = 1 ]; then modes="on off"; else modes="off on"; fi
        for m in $modes; do hist_run "$m" "$r"; done
        # append cost in-process, and fetching 1000 from 100000
        ours "hist-log-$r" 120 history --cluster 1 --msgs 100000 --size 200 --window 100
    done
else
    HIST_NOTE="not run (BENCH_SETS=\"$SETS\")"
fi

# ------------------------------------------------------------ comparison
LOADGEN=""
find_loadgen() {
    local d
    for d in "${BENCH_PEER:-}" "$ROOT/../shared/bench-peer" /work/shared/bench-peer; do
        [ -n "$d" ] && [ -f "$d/loadgen.c" ] && [ -f "$d/Makefile" ] || continue
        cp -r "$d" "$TMPD/bench-peer" 2>/dev/null || continue
        chmod -R u+w "$TMPD/bench-peer"
        rm -f "$TMPD/bench-peer/loadgen"
        if timeout 120 make -s -C "$TMPD/bench-peer" > "$OUT/loadgen-build.log" 2>&1; then
            LOADGEN=$TMPD/bench-peer/loadgen
            return 0
        fi
        log "building the shared loadgen failed: $(tail -n 3 "$OUT/loadgen-build.log")"
        return 1
    done
    return 1
}

port_free() { ! ss -Hltn "sport = :$1" 2>/dev/null | grep -q .; }
free_base() {
    local base=$((14000 + RANDOM % 20000)) i ok tries=0
    while :; do
        ok=1
        for i in 0 1 2; do
            for p in $((base + i)) $((base + 1000 + i)) $((base + 2000 + i)); do
                port_free "$p" || ok=0
            done
        done
        [ $ok = 1 ] && { echo "$base"; return 0; }
        tries=$((tries + 1)); [ $tries -gt 50 ] && return 1
        base=$((base + 10))
    done
}

# nats_start NAME [TLSDIR]: a 3-node nats-server cluster as
# bench-peer/bench.sh runs it; with TLSDIR (ca.crt, srv.crt, srv.key)
# TLS on client and route links, one tls block at the top and one
# inside cluster (nats-server always verifies a route's certificate;
# clients verify the servers' with the loadgen's --tls-ca)
NATS_LIST=""
nats_start() {
    local base i j routes dir=$TMPD/nats.$1 tdir=${2:-} tls=""
    if [ -n "$tdir" ]; then
        tls="tls {
  cert_file: \"$tdir/srv.crt\"
  key_file: \"$tdir/srv.key\"
  ca_file: \"$tdir/ca.crt\"
  timeout: 5
}"
    fi
    base=$(free_base) || return 1
    mkdir -p "$dir"
    NATS_PIDS=()
    NATS_LIST=""
    for i in 0 1 2; do
        routes=""
        for j in 0 1 2; do
            [ "$i" = "$j" ] && continue
            routes="$routes${routes:+,} nats-route://127.0.0.1:$((base + 1000 + j))"
        done
        cat > "$dir/n$i.conf" <<EOF
server_name: n$i
listen: 127.0.0.1:$((base + i))
http: 127.0.0.1:$((base + 2000 + i))
log_file: "$dir/n$i.log"
$tls
cluster {
  name: bench
  listen: 127.0.0.1:$((base + 1000 + i))
  routes: [$routes ]
  $tls
}
EOF
        "$NATS" -c "$dir/n$i.conf" > "$dir/n$i.stdout" 2>&1 &
        NATS_PIDS[$i]=$!
        NATS_LIST="$NATS_LIST${NATS_LIST:+,}127.0.0.1:$((base + i))"
    done
    # formed = every server reports 2 routes (monitoring port), when curl
    # is there; the loadgen's warm-up (probes until every subscriber has
    # one from every publisher) covers the rest
    local deadline=$((SECONDS + 30)) n
    if command -v curl > /dev/null; then
        for i in 0 1 2; do
            while :; do
                n=$(curl -s --max-time 1 "http://127.0.0.1:$((base + 2000 + i))/routez" 2>/dev/null |
                    grep -o '"num_routes": *[0-9]*' | grep -o '[0-9]*$')
                [ "${n:-0}" -ge 2 ] && break
                kill -0 "${NATS_PIDS[$i]}" 2>/dev/null || return 1
                [ $SECONDS -gt $deadline ] && return 1
                sleep 0.1
            done
        done
    fi
    return 0
}
nats_stop() {
    local p
    for p in "${NATS_PIDS[@]:-}"; do [ -n "$p" ] && kill -TERM "$p" 2>/dev/null; done
    for p in "${NATS_PIDS[@]:-}"; do [ -n "$p" ] && timeout 10 tail --pid="$p" -f /dev/null; done
    for p in "${NATS_PIDS[@]:-}"; do
        [ -n "$p" ] && kill -0 "$p" 2>/dev/null && kill -KILL "$p" 2>/dev/null
        [ -n "$p" ] && wait "$p" 2>/dev/null
    done
    NATS_PIDS=()
}

# our 3-server cluster, held by activity-bench while the loadgen runs
OURS_LIST=""
ours_start() {
    local f=$TMPD/hold.$1 deadline=$((SECONDS + 40))
    timeout -k 5 300 "$BENCH" cluster --cluster 3 --server-bin "$SERVER" \
        --hold 280 > "$f" 2> "$f.err" &
    HOLD_PID=$!
    until grep -q '^CLUSTER_READY' "$f" 2>/dev/null; do
        kill -0 "$HOLD_PID" 2>/dev/null || { cat "$f.err" >&2; HOLD_PID=""; return 1; }
        [ $SECONDS -gt $deadline ] && return 1
        sleep 0.05
    done
    OURS_LIST=$(sed -n 's/^CLUSTER_READY servers=\([^ ]*\).*/\1/p' "$f")
    OURS_PIDS=$(sed -n 's/^CLUSTER_READY .*pids=\([^ ]*\).*/\1/p' "$f")
}
ours_stop() {
    [ -n "$HOLD_PID" ] || return 0
    kill -TERM "$HOLD_PID" 2>/dev/null
    timeout 20 tail --pid="$HOLD_PID" -f /dev/null
    kill -0 "$HOLD_PID" 2>/dev/null && kill -KILL "$HOLD_PID" 2>/dev/null
    wait "$HOLD_PID" 2>/dev/null
    HOLD_PID=""
}

# busy_pct: CPU use of the whole machine over one second, in percent
busy_pct() {
    local a b
    a=$(awk '/^cpu /{print $2+$3+$4+$7+$8+$9, $2+$3+$4+$5+$6+$7+$8+$9}' /proc/stat)
    sleep 1
    b=$(awk '/^cpu /{print $2+$3+$4+$7+$8+$9, $2+$3+$4+$5+$6+$7+$8+$9}' /proc/stat)
    echo "$a $b" | awk '{ t = $4 - $2; print (t > 0) ? int(100 * ($3 - $1) / t) : 0 }'
}
# wait_quiet: wait (at most QUIET_MAX_S) until other work leaves the CPUs
# mostly idle; the figure is recorded next to each run either way
QUIET_PCT=${BENCH_QUIET_PCT:-25}
QUIET_MAX_S=${BENCH_QUIET_MAX_S:-10}
BUSY=0
wait_quiet() {
    local start=$SECONDS
    while :; do
        BUSY=$(busy_pct)
        [ "$BUSY" -lt "$QUIET_PCT" ] && return 0
        [ $((SECONDS - start)) -ge "$QUIET_MAX_S" ] && return 0
    done
}

# cpu_share TICKS RESULT-LINE: the servers' CPU over the run's wall
# time, in CPUs (1.00 = one CPU all along): on a shared machine what a
# system got of the CPUs bounds what it can do in a closed loop
cpu_share() {
    local el
    el=$(echo "$2" | tr ' ' '\n' | sed -n 's/^elapsed_s=//p')
    awk -v c="$1" -v hz="$(getconf CLK_TCK)" -v e="${el:-0}" \
        'BEGIN{ if (e > 0) printf "%.2f", c / hz / e; else print "-" }'
}

# cpu_ticks PID...: user+system CPU ticks of these processes
cpu_ticks() {
    local p t=0 v
    for p in "$@"; do
        v=$(awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$p/stat" 2>/dev/null)
        t=$((t + ${v:-0}))
    done
    echo "$t"
}

# cmp_run SYSTEM SCENARIO RUN ARGS...: one loadgen run, a line in $CMP.
# Besides the loadgen's figures it records the CPU the three servers used:
# microseconds per delivered activity, which other work on the machine
# skews far less than throughput does.
cmp_run() {
    local sys=$1 scen=$2 r=$3 l out c0 c1 pids; shift 3
    out=$OUT/cmp-$scen-$sys-$r.out
    if [ "$sys" = ours ]; then pids=${OURS_PIDS//,/ }; else pids="${NATS_PIDS[*]}"; fi
    wait_quiet
    l="$(load1)/${BUSY}%"
    # shellcheck disable=SC2086
    c0=$(cpu_ticks $pids)
    timeout -k 5 120 "$LOADGEN" "$@" --max-run-s 100 > "$out" 2> "${out%.out}.err"
    # shellcheck disable=SC2086
    c1=$(cpu_ticks $pids)
    local line sent us
    line=$(grep '^RESULT ' "$out" || echo "RESULT status=no_result")
    sent=$(echo "$line" | tr ' ' '\n' | sed -n 's/^sent=//p')
    us=$(awk -v c=$((c1 - c0)) -v hz="$(getconf CLK_TCK)" -v n="${sent:-0}" \
        'BEGIN{ if (n > 0) printf "%.2f", c / hz * 1e6 / (n * 33); else print "-" }')
    echo "$line system=$sys cmp=$scen run=$r load1=$l server_us_per_delivery=$us server_cpus=$(cpu_share $((c1 - c0)) "$line")" >> "${CMP_TO:-$CMP}"
    log "$scen $sys run $r: $(echo "$line" | grep -o 'rx_msgs_per_s=[0-9]*') $(echo "$line" | grep -o 'p99_us=[0-9.]*') status=$(echo "$line" | grep -o 'status=[a-z_]*' | head -1 | cut -d= -f2) load $l"
}

FANOUT_ARGS="--subs 30 --pubs 3 --msgs 100000 --size 200 --window 100"
STEADY_ARGS="--subs 30 --pubs 3 --msgs 50000 --size 200 --window 0 --rate 10000"
NATS_NOTE=""
if ! has_set cmp; then
    NATS_NOTE="comparison not run (BENCH_SETS=\"$SETS\")"
elif [ "${BENCH_SKIP_NATS:-0}" = 1 ]; then
    NATS_NOTE="comparison skipped (BENCH_SKIP_NATS=1)"
elif [ ! -x "$NATS" ]; then
    NATS_NOTE="nats-server not installed (apt-get install nats-server): comparison skipped"
elif ! find_loadgen; then
    NATS_NOTE="the shared load generator (bench-peer) is not available: comparison skipped"
else
    log "comparison: $("$NATS" --version 2>&1), loadgen $LOADGEN, $RUNS runs each, interleaved"
    for r in $(seq 1 "$RUNS"); do
        for scen in fanout steady; do
            if [ $scen = fanout ]; then args=$FANOUT_ARGS; else args=$STEADY_ARGS; fi
            if ours_start "$scen$r"; then
                # shellcheck disable=SC2086
                cmp_run ours $scen "$r" --proto activity --scenario $scen --servers "$OURS_LIST" $args
            else
                echo "RESULT status=cluster_failed system=ours cmp=$scen run=$r load1=$(load1)" >> "$CMP"
            fi
            ours_stop
            if nats_start "$scen$r"; then
                # shellcheck disable=SC2086
                cmp_run nats $scen "$r" --proto nats --scenario $scen --servers "$NATS_LIST" $args --pubs-subscribe
            else
                echo "RESULT status=cluster_failed system=nats cmp=$scen run=$r load1=$(load1)" >> "$CMP"
            fi
            nats_stop
        done
    done
fi

# ------------------------------------------------------------ size sweep
# The same closed-loop fan-out at growing activity sizes, ours and
# nats-server, a fresh cluster per run, interleaved A B B A (ours, nats,
# nats, ours, ...) so drift hits both alike.  SIZE:WINDOW:MSGS each;
# the loadgen takes at most 60000 B, so that stands for 64 KB.
SWEEP=$OUT/sweep.txt
: > "$SWEEP"
SWEEP_ROWS=${BENCH_SWEEP:-200:100:100000 1024:100:60000 4096:50:30000 4096:500:30000 16384:50:10000 60000:10:3000}
SWEEP_RUNS=${BENCH_SWEEP_RUNS:-3}
SWEEP_NOTE=""
# sweep_one SYSTEM SIZE WINDOW MSGS RUN: one run on a fresh cluster
sweep_one() {
    local sys=$1 size=$2 w=$3 n=$4 r=$5 scen=sweep-$2-w$3
    local args="--subs 30 --pubs 3 --msgs $n --size $size --window $w"
    if [ "$sys" = ours ]; then
        if ours_start "$scen-$r"; then
            # shellcheck disable=SC2086
            CMP_TO=$SWEEP cmp_run ours "$scen" "$r" --proto activity \
                --scenario "$scen" --servers "$OURS_LIST" $args
        else
            echo "RESULT status=cluster_failed system=ours cmp=$scen run=$r load1=$(load1)" >> "$SWEEP"
        fi
        ours_stop
    else
        if nats_start "$scen-$r"; then
            # shellcheck disable=SC2086
            CMP_TO=$SWEEP cmp_run nats "$scen" "$r" --proto nats \
                --scenario "$scen" --servers "$NATS_LIST" $args --pubs-subscribe
        else
            echo "RESULT status=cluster_failed system=nats cmp=$scen run=$r load1=$(load1)" >> "$SWEEP"
        fi
        nats_stop
    fi
}
if ! has_set sweep; then
    SWEEP_NOTE="not run (BENCH_SETS=\"$SETS\")"
elif [ -z "$LOADGEN" ] && ! find_loadgen; then
    SWEEP_NOTE="the shared load generator (bench-peer) is not available: not run"
else
    SWEEP_SYS="ours nats"
    if [ "${BENCH_SKIP_NATS:-0}" = 1 ]; then
        SWEEP_SYS=ours
        SWEEP_NOTE="nats-server rows skipped (BENCH_SKIP_NATS=1)"
    elif [ ! -x "$NATS" ]; then
        SWEEP_SYS=ours
        SWEEP_NOTE="nats-server not installed (make bench-deps, or apt-get install nats-server): nats-server rows skipped"
    fi
    [ -n "$SWEEP_NOTE" ] && log "size sweep: $SWEEP_NOTE"
    log "size sweep: $SWEEP_ROWS; $SWEEP_RUNS runs of each of: $SWEEP_SYS"
    for r in $(seq 1 "$SWEEP_RUNS"); do
        for row in $SWEEP_ROWS; do
            IFS=: read -r size w n <<< "$row"
            if [ $((r % 2)) = 1 ]; then order=$SWEEP_SYS; else order=$(echo "$SWEEP_SYS" | awk '{for (i = NF; i > 0; i--) printf "%s ", $i}'); fi
            for sys in $order; do sweep_one "$sys" "$size" "$w" "$n" "$r"; done
        done
    done
fi

# ------------------------------------------------------------ HA and delivery
HA=$OUT/ha.txt
HAROWS=$OUT/ha-rows.md
: > "$HA"
: > "$HAROWS"
FO_RUNS=${BENCH_FAILOVER_RUNS:-3}
VAR_RUNS=${BENCH_VARIANT_RUNS:-1}
ORDER_RUNS=${BENCH_ORDER_RUNS:-6}
REPORT_RUNS=${BENCH_REPORT_RUNS:-1}
# the shape of bench-peer/bench.sh's failover scenario
FO_SECONDS=10
FO_KILL_MS=4000
FO_RATE=2000
HA_NATS=""

# field NAME < RESULT line
field() { tr ' ' '\n' | sed -n "s/^$1=//p" | head -n 1; }
median() { sort -g | awk '{v[NR]=$1} END{ if (NR == 0) { print "-"; exit }
    m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; print m }'; }
# the largest of the numbers on stdin ("-" if none)
maxof() { sort -g | tail -n 1 | grep . || echo -; }
# ratio A B: A / B to two places, "-" if B is no positive number
ratio() { awk -v a="${1:-}" -v b="${2:-}" 'BEGIN{ if (b + 0 > 0 && a != "-" && a != "") printf "%.2f", a / b; else print "-" }'; }
# ms US: microseconds as milliseconds
ms() { awk -v v="${1:-}" 'BEGIN{ if (v == "" || v == "-") print "-"; else printf "%.2f", v / 1000 }'; }
# cell < RESULT line: deliveries/s, p99, server CPU (load) status
cell() {
    local l
    l=$(cat)
    [ -n "$l" ] || { echo "-"; return; }
    printf "%s/s, %s ms, %s µs, %s CPUs (%s) %s" "$(echo "$l" | field rx_msgs_per_s)" \
        "$(ms "$(echo "$l" | field p99_us)")" "$(echo "$l" | field server_us_per_delivery)" \
        "$(echo "$l" | field server_cpus)" "$(echo "$l" | field load1)" "$(echo "$l" | field status)"
}
# jnum KEY FILE: the first number under "KEY" in the JSON objects of FILE
jnum() { grep -o "\"$1\":-\{0,1\}[0-9.]*" "$2" 2>/dev/null | head -n 1 | cut -d: -f2; }

# ha_ours NAME SECONDS ARGS...: one activity-bench invocation; its last
# row (the summary over --runs, or the run's) goes to the HA table
ha_ours() {
    local name=$1 secs=$2 rc; shift 2
    log "$name: activity-bench $*"
    timeout -k 5 "$secs" "$BENCH" "$@" --server-bin "$SERVER" \
        --timeout "$((secs - 10 < 120 ? secs - 10 : 120))" > "$OUT/$name.out" 2> "$OUT/$name.err"
    rc=$?
    grep '^==' "$OUT/$name.out" | tail -n 1 >&2
    if grep -q '^| ' "$OUT/$name.out"; then
        grep '^| ' "$OUT/$name.out" | tail -n 1 >> "$HAROWS"
    else
        echo "| $name | FAILED (exit $rc; $(tail -n 1 "$OUT/$name.err" | tr '|' '/')) | $(load1) |" >> "$HAROWS"
    fi
    return $rc
}

# one failover run of ours, a line in $HA
ha_fo_ours() {
    local r=$1 f=$OUT/fo-ours-$1.out l
    wait_quiet
    l="$(load1)/${BUSY}%"
    log "failover ours run $r (load $l)"
    timeout -k 5 90 "$BENCH" failover --cluster 3 --subs 30 --rate "$FO_RATE" \
        --duration "$FO_SECONDS" --kill-after-ms "$FO_KILL_MS" --pub-server 0 --kill-index 1 \
        --server-bin "$SERVER" --timeout 80 > "$f" 2> "${f%.out}.err"
    echo "FO sys=ours run=$r load=$l status=$(grep -o '"status":"[a-z]*"' "$f" | head -n 1 | cut -d'"' -f4)" \
        "login_med=$(jnum login_again_median_ms "$f") login_max=$(jnum login_again_max_ms "$f")" \
        "first_med=$(jnum receiving_again_median_ms "$f") first_max=$(jnum receiving_again_max_ms "$f")" \
        "detect_max=$(jnum detect_max_ms "$f") tree=$(jnum tree_reformed_ms "$f")" \
        "status_ms=$(jnum status_normal_everywhere_ms "$f") orphans=$(jnum orphans "$f")" \
        "lost=$(jnum lost "$f") dup=$(jnum duplicated "$f") ooo=$(jnum out_of_order "$f")" \
        "orphan_lost_max=$(jnum orphan_lost_max "$f") repeats=$(jnum repeats_dropped_by_clients "$f")" \
        "rss_kb=$(jnum killed_server_rss_kb "$f") redirects=$(jnum orphan_redirects "$f")" >> "$HA"
    grep '^==' "$f" >&2
}

# one run of bench-peer/bench.sh's failover scenario, a line in $HA
ha_fo_nats() {
    local r=$1 d=$OUT/fo-nats-$1 res js fmed rmed l try
    wait_quiet
    l="$(load1)/${BUSY}%"
    log "failover nats run $r (load $l)"
    mkdir -p "$d"
    # bench.sh (set -e, pipefail) sometimes exits in one of its /proc
    # scans (a process vanishing under it), before or after its loadgen
    # ran: the loadgen's own output then has the result; else once more
    for try in 1 2; do
        rm -f "$d/failover-1.out" "$d/failover-1.json"
        SCENARIOS=failover RUNS=1 QUIET_PCT=0 FO_RATE=$FO_RATE FO_SECONDS=$FO_SECONDS \
            FO_KILL_MS=$FO_KILL_MS LOADGEN="$LOADGEN" NATS_SERVER="$NATS" OUT="$d" \
            timeout -k 5 120 bash "$HA_NATS/bench.sh" > "$d/bench.out" 2> "$d/bench.err"
        res=$(grep -h '^RESULT scenario=failover' "$d/results.txt" "$d/failover-1.out" 2>/dev/null | head -n 1)
        [ -n "$res" ] && break
        log "failover nats run $r: bench.sh gave no result (try $try): $(tail -n 1 "$d/bench.err")"
    done
    js=$d/failover-1.json
    [ -s "$js" ] || js=$d/failover-1.out
    fmed=$(grep -o '"first_msg_ms":[0-9.]*' "$js" 2>/dev/null | cut -d: -f2 | median)
    rmed=$(echo "$res" | field resub_median_ms)
    echo "FO sys=nats run=$r load=$l status=$(echo "$res" | field status)" \
        "login_med=${rmed:--} login_max=$(echo "$res" | field resub_max_ms)" \
        "first_med=${fmed:--} first_max=$(echo "$res" | field first_msg_max_ms)" \
        "detect_max=$(echo "$res" | field detect_max_ms) orphans=$(echo "$res" | field orphans)" \
        "lost=$(echo "$res" | field lost) dup=$(echo "$res" | field dups) ooo=$(echo "$res" | field order_viol)" \
        "orphan_lost_max=$(echo "$res" | field orphan_lost_max)" \
        "orphan_lost_total=$(echo "$res" | field orphan_lost_total)" >> "$HA"
    log "failover nats run $r: resub median ${rmed:--} ms, max $(echo "$res" | field resub_max_ms) ms, first message median ${fmed:--} ms, orphan lost max $(echo "$res" | field orphan_lost_max)"
}

if has_set ha; then
    if [ "${BENCH_SKIP_NATS:-0}" != 1 ] && [ -x "$NATS" ] && { [ -n "$LOADGEN" ] || find_loadgen; }; then
        HA_NATS=$(dirname "$LOADGEN")
    fi
    log "HA and delivery: $FO_RUNS failover runs per system, interleaved${HA_NATS:+ with nats-server}"
    for r in $(seq 1 "$FO_RUNS"); do
        # A B B A: drift over the session hits both alike
        if [ $((r % 2)) = 1 ] || [ -z "$HA_NATS" ]; then
            ha_fo_ours "$r"; [ -n "$HA_NATS" ] && ha_fo_nats "$r"
        else
            ha_fo_nats "$r"; ha_fo_ours "$r"
        fi
    done
    ha_ours fo-pubkill $((VAR_RUNS * 40 + 30)) failover --cluster 3 --runs "$VAR_RUNS" \
        --rate "$FO_RATE" --duration 8 --kill-after-ms 3000 --pub-server 1 --kill-index 1
    ha_ours fo-stop $((VAR_RUNS * 40 + 30)) failover --cluster 3 --runs "$VAR_RUNS" \
        --rate "$FO_RATE" --duration 8 --kill-after-ms 3000 --pub-server 0 --kill-index 1 \
        --kill-signal stop
    ha_ours fo-base 60 failover --cluster 3 --rate "$FO_RATE" --duration 6 \
        --kill-after-ms 2000 --features backup_list
    ha_ours ordering $((ORDER_RUNS * 20 + 30)) ordering --cluster 3 --runs "$ORDER_RUNS"
    ha_ours report $((REPORT_RUNS * 30 + 30)) report --cluster 3 --runs "$REPORT_RUNS"
fi

# ------------------------------------------------------------ TLS
TLSRES=$OUT/tls.txt
: > "$TLSRES"
TLS_RUNS=${BENCH_TLS_RUNS:-3}
TLS_NOTE=""
TLS_LIST=""

# tls_certs: a CA and a server certificate for 127.0.0.1 and localhost
tls_certs() {
    local d=$TMPD/tls
    mkdir -p "$d" && (
        cd "$d" &&
        printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' > srv.ext &&
        openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
            -keyout ca.key -out ca.crt -days 2 -subj '/CN=bench CA' &&
        openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
            -keyout srv.key -out srv.csr -subj '/CN=bench server' &&
        openssl x509 -req -in srv.csr -CA ca.crt -CAkey ca.key \
            -CAcreateserial -days 2 -out srv.crt -extfile srv.ext
    ) > "$OUT/tls-certs.log" 2>&1
}

# tls_cluster_start MODE NAME: 3 servers in a chain, started the same way
# for both modes; with MODE tls every listener and link is TLS.  Ready
# when both joiners logged that they joined.
tls_cluster_start() {
    local mode=$1 name=$2 base i d=$TMPD/tls extra deadline=$((SECONDS + 30))
    base=$(free_base) || return 1
    TLS_PIDS=()
    TLS_LIST=""
    for i in 0 1 2; do
        extra=()
        if [ "$mode" = tls ]; then
            extra=(--tls-port $((base + i)) --no-plaintext --tls-cert "$d/srv.crt"
                --tls-key "$d/srv.key" --tls-ca "$d/ca.crt")
            [ $i -gt 0 ] && extra+=(--remote-tls)
        fi
        [ $i -gt 0 ] && extra+=(-rh 127.0.0.1 -rp $((base + i - 1)))
        "$SERVER" -lh 127.0.0.1 -lp $((base + i)) -s bench-tls-secret \
            --data-dir none "${extra[@]}" > "$OUT/tls-$name-s$i.log" 2>&1 &
        TLS_PIDS[$i]=$!
        TLS_LIST="$TLS_LIST${TLS_LIST:+,}127.0.0.1:$((base + i))"
        until grep -qs 'listening on' "$OUT/tls-$name-s$i.log" &&
            { [ $i = 0 ] || grep -qs 'joined the cluster' "$OUT/tls-$name-s$i.log"; }; do
            kill -0 "${TLS_PIDS[$i]}" 2>/dev/null || return 1
            [ $SECONDS -gt $deadline ] && return 1
            sleep 0.05
        done
    done
}
tls_cluster_stop() {
    local p
    for p in "${TLS_PIDS[@]:-}"; do [ -n "$p" ] && kill -TERM "$p" 2>/dev/null; done
    for p in "${TLS_PIDS[@]:-}"; do [ -n "$p" ] && wait "$p" 2>/dev/null; done
    TLS_PIDS=()
}

# tls_run SYSTEM MODE SIZE RUN ARGS...: one loadgen fan-out on a fresh
# cluster of SYSTEM (ours: a chain; nats: a full mesh), a line in $TLSRES
tls_run() {
    local sys=$1 mode=$2 size=$3 r=$4 out l c0 c1 line sent us pids ok=1
    shift 4
    out=$OUT/tls-$size-$sys-$mode-$r.out
    if [ "$sys" = ours ]; then
        tls_cluster_start "$mode" "$size-$mode-$r" || ok=0
        pids="${TLS_PIDS[*]}"
    else
        if [ "$mode" = tls ]; then
            nats_start "tls-$size-$r" "$TMPD/tls" || ok=0
        else
            nats_start "plain-$size-$r" || ok=0
        fi
        pids="${NATS_PIDS[*]}"
    fi
    if [ $ok = 0 ]; then
        echo "RESULT status=cluster_failed sys=$sys mode=$mode size=$size run=$r" >> "$TLSRES"
        if [ "$sys" = ours ]; then tls_cluster_stop; else nats_stop; fi
        return
    fi
    wait_quiet
    l="$(load1)/${BUSY}%"
    # shellcheck disable=SC2086
    c0=$(cpu_ticks $pids)
    if [ "$sys" = ours ]; then
        timeout -k 5 120 "$LOADGEN" --proto activity --scenario fanout \
            --servers "$TLS_LIST" "$@" --max-run-s 100 > "$out" 2> "${out%.out}.err"
    else
        timeout -k 5 120 "$LOADGEN" --proto nats --scenario fanout \
            --servers "$NATS_LIST" "$@" --pubs-subscribe --max-run-s 100 \
            > "$out" 2> "${out%.out}.err"
    fi
    # shellcheck disable=SC2086
    c1=$(cpu_ticks $pids)
    if [ "$sys" = ours ]; then tls_cluster_stop; else nats_stop; fi
    line=$(grep '^RESULT ' "$out" || echo "RESULT status=no_result")
    sent=$(echo "$line" | tr ' ' '\n' | sed -n 's/^sent=//p')
    us=$(awk -v c=$((c1 - c0)) -v hz="$(getconf CLK_TCK)" -v n="${sent:-0}" \
        'BEGIN{ if (n > 0) printf "%.2f", c / hz * 1e6 / (n * 33); else print "-" }')
    echo "$line sys=$sys mode=$mode size=$size run=$r load1=$l server_us_per_delivery=$us server_cpus=$(cpu_share $((c1 - c0)) "$line")" >> "$TLSRES"
    log "tls $size $sys $mode run $r: $(echo "$line" | grep -o 'rx_msgs_per_s=[0-9]*') $(echo "$line" | grep -o 'p99_us=[0-9.]*') server $us us/delivery, load $l"
}

TLS_SIZES="200 4096"
TLS_SYS="ours"
TLS_NATS_NOTE=""
if ! has_set tls; then
    TLS_NOTE="not run (BENCH_SETS=\"$SETS\")"
elif ! command -v openssl > /dev/null; then
    TLS_NOTE="the openssl command is missing: not run"
elif [ -z "$LOADGEN" ] && ! find_loadgen; then
    TLS_NOTE="the shared load generator (bench-peer) is not available: not run"
elif ! tls_certs; then
    TLS_NOTE="making the certificates failed (see $OUT/tls-certs.log): not run"
else
    if [ "${BENCH_SKIP_NATS:-0}" = 1 ]; then
        TLS_NATS_NOTE="nats-server rows skipped (BENCH_SKIP_NATS=1)"
    elif [ ! -x "$NATS" ]; then
        TLS_NATS_NOTE="nats-server not installed (make bench-deps, or apt-get install nats-server): nats-server rows skipped"
    else
        TLS_SYS="ours nats"
    fi
    [ -n "$TLS_NATS_NOTE" ] && log "TLS: $TLS_NATS_NOTE"
    log "TLS on every link vs plaintext ($TLS_SYS): loadgen $LOADGEN, $TLS_RUNS runs each, interleaved"
    for r in $(seq 1 "$TLS_RUNS"); do
        for size in $TLS_SIZES; do
            if [ "$size" = 200 ]; then w=100 n=100000; else w=50 n=30000; fi
            args="--subs 30 --pubs 3 --msgs $n --size $size --window $w"
            # ours plain, ours tls, nats tls, nats plain, then the
            # reverse: drift hits every pair alike
            order="ours:plain ours:tls"
            [ "$TLS_SYS" = "ours nats" ] && order="$order nats:tls nats:plain"
            [ $((r % 2)) = 0 ] && order=$(echo "$order" | awk '{for (i = NF; i > 0; i--) printf "%s ", $i}')
            for sm in $order; do
                # shellcheck disable=SC2086
                if [ "${sm#*:}" = tls ]; then
                    tls_run "${sm%:*}" tls "$size" "$r" $args --tls --tls-ca "$TMPD/tls/ca.crt" --tls-name localhost
                else
                    tls_run "${sm%:*}" plain "$size" "$r" $args
                fi
            done
        done
    done
fi

# ------------------------------------------------------------ the table
vals() { # vals SYSTEM SCEN KEY
    grep " system=$1 cmp=$2 " "$CMP" | grep ' status=ok\| status=degraded' | while read -r line; do
        echo "$line" | field "$3"; done
}

mem_gib=$(awk '/MemTotal/{printf "%.1f GiB", $2/1048576}' /proc/meminfo)
cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')
commit=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
# binaries built elsewhere (ACTIVITY_BIN) may name their commit in COMMIT
[ -s "$BIN/COMMIT" ] && commit="$(head -n 1 "$BIN/COMMIT") (binaries in $BIN)"
{
    echo "## Benchmarks"
    echo
    echo "Measured $(date -u '+%Y-%m-%d %H:%M UTC') on $(nproc) CPUs (${cpu:-unknown CPU}), $mem_gib RAM,"
    echo "Linux $(uname -r), commit $commit, by \`make bench\` (tests/bench/run.sh)."
    echo "Load is the 1-minute load average when the run started: other work on the machine skews figures."
    echo
    echo "| workload | result | load |"
    echo "| --- | --- | --- |"
    cat "$ROWS"
    echo
    echo "### Against nats-server: the shared load generator, same workloads, interleaved"
    echo
    if [ -n "$NATS_NOTE" ]; then
        echo "$NATS_NOTE."
    else
        echo "$("$NATS" --version 2>&1) 3-node cluster vs our 3-server chain; 30 subscribers + 3 publishers"
        echo "spread over the servers, 200-byte activities; NATS with --pubs-subscribe (our publishers receive"
        echo "every broadcast too). fanout: 100000 messages, window 100; steady: 10000 publishes/s, 50000 messages."
        echo
        echo "Load: the 1-minute load average / the CPU busy % of the machine in the second before the run"
        echo "(each run first waits up to ${QUIET_MAX_S} s for the CPUs to be under ${QUIET_PCT}% busy)."
        echo
        echo "Server CPU: microseconds of CPU the three servers used per delivered activity (33 receivers each)."
        echo
        echo "| run | workload | ours: deliveries/s, p50, p99, server CPU (load) | nats: deliveries/s, p50, p99, server CPU (load) | ours/nats |"
        echo "| --- | --- | --- | --- | --- |"
        for r in $(seq 1 "$RUNS"); do
            for scen in fanout steady; do
                o=$(grep " system=ours cmp=$scen run=$r " "$CMP")
                n=$(grep " system=nats cmp=$scen run=$r " "$CMP")
                orx=$(echo "$o" | field rx_msgs_per_s); nrx=$(echo "$n" | field rx_msgs_per_s)
                ratio=$(awk -v a="${orx:-0}" -v b="${nrx:-0}" 'BEGIN{ if (b > 0) printf "%.2f", a / b; else print "-" }')
                printf "| %s | %s | %s/s, %s ms, %s ms, %s µs (%s) %s | %s/s, %s ms, %s ms, %s µs (%s) %s | %s |\n" "$r" "$scen" \
                    "${orx:--}" "$(awk -v v="$(echo "$o" | field p50_us)" 'BEGIN{printf "%.2f", v/1000}')" \
                    "$(awk -v v="$(echo "$o" | field p99_us)" 'BEGIN{printf "%.2f", v/1000}')" \
                    "$(echo "$o" | field server_us_per_delivery)" "$(echo "$o" | field load1)" \
                    "$(echo "$o" | field status)" \
                    "${nrx:--}" "$(awk -v v="$(echo "$n" | field p50_us)" 'BEGIN{printf "%.2f", v/1000}')" \
                    "$(awk -v v="$(echo "$n" | field p99_us)" 'BEGIN{printf "%.2f", v/1000}')" \
                    "$(echo "$n" | field server_us_per_delivery)" "$(echo "$n" | field load1)" \
                    "$(echo "$n" | field status)" "$ratio"
            done
        done
        echo
        for scen in fanout steady; do
            om=$(vals ours $scen rx_msgs_per_s | median); nm=$(vals nats $scen rx_msgs_per_s | median)
            op=$(vals ours $scen p99_us | median); np=$(vals nats $scen p99_us | median)
            oc=$(vals ours $scen server_us_per_delivery | median); nc=$(vals nats $scen server_us_per_delivery | median)
            awk -v s=$scen -v om="$om" -v nm="$nm" -v op="$op" -v np="$np" -v oc="$oc" -v nc="$nc" 'BEGIN{
                r = (nm + 0 > 0) ? sprintf("%.2f", om / nm) : "-";
                printf "**%s, medians:** ours %s deliveries/s, nats %s deliveries/s, **ratio ours/nats %s**; p99 ours %.2f ms, nats %.2f ms; server CPU per delivery ours %s µs, nats %s µs.\n\n",
                    s, om, nm, r, op / 1000, np / 1000, oc, nc }'
        done
    fi
    echo
    echo "### Size sweep against nats-server (issue 15)"
    echo
    if [ -n "$SWEEP_NOTE" ] && ! [ -s "$SWEEP" ]; then
        echo "$SWEEP_NOTE."
    else
        [ -n "$SWEEP_NOTE" ] && echo "$SWEEP_NOTE." && echo
        echo "The shared load generator, closed loop: 30 subscribers + 3 publishers spread over 3 servers"
        echo "(ours a chain, nats-server a full mesh, publishers subscribed), a window per publisher; each"
        echo "run on a fresh cluster, interleaved (ours, nats, then nats, ours, ...), $SWEEP_RUNS runs each."
        echo "60000 B is the loadgen's largest activity. Server CPU: µs of CPU the three servers used"
        echo "(utime + stime from /proc/PID/stat over the run) per delivery (33 receivers)."
        echo "Load: 1-minute load average / CPU busy % in the second before the run."
        echo
        echo "| size | window | ours: deliveries/s, p99, server CPU | nats: deliveries/s, p99, server CPU | ours/nats | CPU ours/nats | CPUs the servers got, ours / nats | runs (ours/nats, load) |"
        echo "| --- | --- | --- | --- | --- | --- | --- | --- |"
        sv() { grep " system=$1 cmp=$2 " "$SWEEP" | grep ' status=ok\| status=degraded' | while read -r line; do
            echo "$line" | field "$3"; done | median; }
        for row in $SWEEP_ROWS; do
            IFS=: read -r size w n <<< "$row"
            scen=sweep-$size-w$w
            om=$(sv ours "$scen" rx_msgs_per_s); nm=$(sv nats "$scen" rx_msgs_per_s)
            oc=$(sv ours "$scen" server_us_per_delivery); nc=$(sv nats "$scen" server_us_per_delivery)
            runs=$(grep " cmp=$scen " "$SWEEP" | while read -r line; do
                printf "%s %s %s (%s); " "$(echo "$line" | field system)" \
                    "$(echo "$line" | field rx_msgs_per_s)" "$(echo "$line" | field status)" \
                    "$(echo "$line" | field load1)"; done)
            printf "| %s B | %s | %s/s, %s ms, %s µs | %s/s, %s ms, %s µs | **%s** | %s | %s / %s | %s |\n" "$size" "$w" \
                "$om" "$(ms "$(sv ours "$scen" p99_us)")" "$oc" \
                "$nm" "$(ms "$(sv nats "$scen" p99_us)")" "$nc" \
                "$(ratio "$om" "$nm")" "$(ratio "$oc" "$nc")" \
                "$(sv ours "$scen" server_cpus)" "$(sv nats "$scen" server_cpus)" "${runs%; }"
        done
        echo
        echo "Medians of the runs; ours/nats > 1 is faster, CPU ours/nats < 1 is less work per delivery."
        echo "CPUs the servers got: their CPU time over the run's wall time (1.00 = one CPU throughout);"
        echo "a closed loop on a shared machine runs at the speed of what it gets."
        echo "Targets (issue 15): 1 KB and 4 KB (windows 100 and 50) at least 1.0x; CPU at most nats on every row."
    fi
    echo
    if has_set ha; then
        echo "### High availability and delivery (issues 3 and 4)"
        echo
        echo "Failover: 3 servers (ours: a chain, the middle one killed; nats-server: a full mesh, the"
        echo "second one killed), 30 subscribers + 1 publisher on the first server at $FO_RATE/s, kill -9"
        echo "$FO_KILL_MS ms into $FO_SECONDS s; runs interleaved (A B B A ...), each on a fresh cluster."
        echo "Ours: activity-bench failover with the server's defaults; the clients ask for backup_list,"
        echo "activity_seq, sending_report, resume, heartbeat; the publisher resends what has no report."
        echo "NATS: bench-peer/bench.sh's failover scenario (at-most-once core NATS)."
        echo "Re-login: ours LOGIN_SUCCESS on a live server (after any REDIRECT), nats re-subscribed;"
        echo "receiving: the first new activity/message after that, per orphan, from the kill."
        echo "Load: 1-minute load average / CPU busy % of the machine in the second before the run."
        echo
        echo "| run | ours: loss seen max, re-login med/max, receiving med/max, tree re-formed (ms); REDIRECTs of orphans; lost/dup/ooo (load) | nats: loss seen max, re-subscribed med/max, receiving med/max (ms); lost per orphan max (load) |"
        echo "| --- | --- | --- |"
        for r in $(seq 1 "$FO_RUNS"); do
            o=$(grep "^FO sys=ours run=$r " "$HA")
            n=$(grep "^FO sys=nats run=$r " "$HA")
            printf "| %s | %s, %s / %s, %s / %s, %s; %s; %s/%s/%s (%s) %s | %s, %s / %s, %s / %s; %s (%s) %s |\n" "$r" \
                "$(echo "$o" | field detect_max)" \
                "$(echo "$o" | field login_med)" "$(echo "$o" | field login_max)" \
                "$(echo "$o" | field first_med)" "$(echo "$o" | field first_max)" \
                "$(echo "$o" | field tree)" "$(echo "$o" | field redirects)" \
                "$(echo "$o" | field lost)" "$(echo "$o" | field dup)" \
                "$(echo "$o" | field ooo)" "$(echo "$o" | field load)" "$(echo "$o" | field status)" \
                "$(echo "$n" | field detect_max)" \
                "$(echo "$n" | field login_med)" "$(echo "$n" | field login_max)" \
                "$(echo "$n" | field first_med)" "$(echo "$n" | field first_max)" \
                "$(echo "$n" | field orphan_lost_max)" "$(echo "$n" | field load)" "$(echo "$n" | field status)"
        done
        echo
        hv() { grep "^FO sys=$1 " "$HA" | while read -r line; do echo "$line" | field "$2"; done | grep -v '^-\{0,1\}$' | grep -v '^-1'; }
        hsum() { grep "^FO sys=$1 " "$HA" | while read -r line; do echo "$line" | field "$2"; done | awk '{ s += $1 } END { print s + 0 }'; }
        olm=$(hv ours login_med | median); olw=$(hv ours login_max | maxof)
        ofm=$(hv ours first_med | median); ofw=$(hv ours first_max | maxof)
        otm=$(hv ours tree | median); otw=$(hv ours tree | maxof)
        nlm=$(hv nats login_med | median); nlw=$(hv nats login_max | maxof)
        nfm=$(hv nats first_med | median); nfw=$(hv nats first_max | maxof)
        nol=$(hv nats orphan_lost_max | median)
        echo "**Failover, $FO_RUNS runs each:** ours re-login median $olm ms (worst $olw), receiving again median $ofm ms"
        echo "(worst $ofw), tree re-formed median $otm ms (worst $otw), lost $(hsum ours lost), duplicated $(hsum ours dup),"
        if grep -q '^FO sys=nats' "$HA"; then
            echo "out of order $(hsum ours ooo) over all runs and receivers; nats re-subscribed median $nlm ms (worst $nlw),"
            echo "receiving again median $nfm ms (worst $nfw), lost $(hsum nats lost) in all (per orphan: median of the runs' worst $nol)."
        else
            echo "out of order $(hsum ours ooo) over all runs and receivers; nats-server not run (BENCH_SKIP_NATS, or"
            echo "nats-server or bench-peer missing)."
        fi
        echo "Medians are of the per-run medians; worst is over every orphan of every run."
        echo
        echo "| workload | result | load |"
        echo "| --- | --- | --- |"
        cat "$HAROWS"
        echo
    fi
    echo "### TLS on every link against plaintext, ours and nats-server (issues 10 and 15)"
    echo
    if [ -n "$TLS_NOTE" ]; then
        echo "$TLS_NOTE."
    else
        echo "The shared load generator, 30 subscribers + 3 publishers spread over 3 servers, 200 B with"
        echo "window 100 (100000 activities) and 4 KB with window 50 (30000); each run on a fresh cluster."
        echo "Ours: a chain, started plaintext, and with TLS on every client and server link (--tls-port,"
        echo "--no-plaintext, --remote-tls; certificates verified, ECDSA P-256, TLS 1.3)."
        if [ -n "$TLS_NATS_NOTE" ]; then
            echo "$TLS_NATS_NOTE."
        else
            echo "nats-server ($("$NATS" --version 2>&1)): a full mesh, plaintext, and with TLS on client and"
            echo "route links (a tls block at the top and one inside cluster, the same certificates; routes"
            echo "verify each other, the loadgen verifies the servers); publishers subscribed."
        fi
        if [ -n "$TLS_NATS_NOTE" ]; then
            echo "Runs interleaved (plain, TLS, then TLS, plain); load:"
        else
            echo "Runs interleaved (ours plain, ours TLS, nats TLS, nats plain, then the reverse); load:"
        fi
        echo "1-minute load average / CPU busy % before the run; server CPU: µs per delivery (33 receivers)."
        echo
        echo "| run | size | system | plaintext: deliveries/s, p99, server CPU (load) | TLS: deliveries/s, p99, server CPU (load) | TLS/plain |"
        echo "| --- | --- | --- | --- | --- | --- |"
        for r in $(seq 1 "$TLS_RUNS"); do
            for size in $TLS_SIZES; do
                for sys in $TLS_SYS; do
                    p=$(grep " sys=$sys mode=plain size=$size run=$r " "$TLSRES")
                    t=$(grep " sys=$sys mode=tls size=$size run=$r " "$TLSRES")
                    printf "| %s | %s B | %s | %s | %s | %s |\n" "$r" "$size" "$sys" \
                        "$(echo "$p" | cell)" "$(echo "$t" | cell)" \
                        "$(ratio "$(echo "$t" | field rx_msgs_per_s)" "$(echo "$p" | field rx_msgs_per_s)")"
                done
            done
        done
        echo
        tv() { grep " sys=$1 mode=$2 size=$3 " "$TLSRES" | grep ' status=ok\| status=degraded' | while read -r line; do
            echo "$line" | field "$4"; done | median; }
        for size in $TLS_SIZES; do
            opm=$(tv ours plain "$size" rx_msgs_per_s); otm=$(tv ours tls "$size" rx_msgs_per_s)
            opc=$(tv ours plain "$size" server_us_per_delivery); otc=$(tv ours tls "$size" server_us_per_delivery)
            otp=$(tv ours tls "$size" p99_us)
            printf "**%s B, medians:** ours plaintext %s deliveries/s, TLS %s/s, **TLS/plaintext %s** (target 0.6); server CPU per delivery %s µs plaintext, %s µs TLS." \
                "$size" "$opm" "$otm" "$(ratio "$otm" "$opm")" "$opc" "$otc"
            if [ "$TLS_SYS" = "ours nats" ]; then
                npm=$(tv nats plain "$size" rx_msgs_per_s); ntm=$(tv nats tls "$size" rx_msgs_per_s)
                npc=$(tv nats plain "$size" server_us_per_delivery); ntc=$(tv nats tls "$size" server_us_per_delivery)
                ntp=$(tv nats tls "$size" p99_us)
                printf " nats-server plaintext %s/s, TLS %s/s, TLS/plaintext %s; %s µs plaintext, %s µs TLS. **With TLS, ours/nats %s** (target 1.0); p99 ours %s ms, nats %s ms; server CPU per delivery ours %s µs, nats %s µs. Plaintext ours/nats %s." \
                    "$npm" "$ntm" "$(ratio "$ntm" "$npm")" "$npc" "$ntc" "$(ratio "$otm" "$ntm")" \
                    "$(ms "$otp")" "$(ms "$ntp")" "$otc" "$ntc" "$(ratio "$opm" "$npm")"
            fi
            printf "\n\n"
        done
    fi
    echo
    echo "### History log on against off (issue 16)"
    echo
    if [ -n "$HIST_NOTE" ]; then
        echo "$HIST_NOTE."
    else
        hv() { for f in "$OUT"/hist-"$1"-*.out; do jnum delivered_per_s "$f"; done | grep . ; }
        # server CPU seconds of a fan-out run (its one server)
        hc() { for f in "$OUT"/hist-"$1"-*.out; do
            grep -o '"server_cpu_s":\[[0-9.]*' "$f" | head -n 1 | cut -d[ -f2; done | grep . ; }
        hl() { for f in "$OUT"/hist-log-*.out; do jnum "$1" "$f"; done | grep . ; }
        hon=$(hv on | median); hoff=$(hv off | median)
        con=$(hc on | median); coff=$(hc off | median)
        awk -v a="$hon" -v b="$hoff" -v ca="$con" -v cb="$coff" 'BEGIN{
            r = (b + 0 > 0) ? sprintf("%.2f", a / b) : "-";
            d = (ca != "-" && cb != "-") ? sprintf("%+.0f", (ca - cb) * 1e9 / 100000) : "-";
            printf "Fan-out on 1 server (30 subscribers + 3 publishers, 200 B, window 100), runs interleaved; the rows are in the table above (hist-on, hist-off).\n\n**Medians:** history on %.0f deliveries/s, off (--history-max 0) %.0f deliveries/s, **on/off %s** (target at least 0.90); server CPU of a run %s s on, %s s off: %s ns per activity with the history on.\n\n", a, b, r, ca, cb, d }'
        awk -v ac="$(hl append_cpu_ns | median)" -v aw="$(hl append_ns | median)" \
            -v f50="$(hl p50_us | median)" -v f90="$(hl p90_us | median)" \
            -v sc="$(hl server_cpu_ms_per_page | median)" -v st="$(hl start_ms | median)" 'BEGIN{
            printf "**Append** (activity-bench history, in-process through server/history.c, 100000 of 200 B written per 100): **%.0f ns of CPU per activity** (wall %.0f ns). **Fetching 1000** activities (HISTORY -> HISTORY_END, every line read and checked, from a server holding those 100000): **p50 %.2f ms**, p90 %.2f ms (target under 10 ms); server CPU %.2f ms a page; the server read the 100000 back in %.0f ms at start.\n", ac, aw, f50 / 1000, f90 / 1000, sc, st }'
    fi
} > "$OUT/table.md"
echo
cat "$OUT/table.md"
log "results in $OUT (table.md, *.out with one JSON object per run)"
