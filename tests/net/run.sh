#!/bin/sh
# Run the network rig's scenarios (tests/net): servers and clients on
# hosts of their own, network namespaces around a router, with
# partitions, one-way and slow links, and lost hosts.
# usage: run.sh NET_TEST_BINARY
# Needs root and ip netns; without them it says so and passes.  Every
# namespace, link and hosts file of this run carries the suffix NET_RUN
# and is removed at the end, also when the binary fails or is
# interrupted (the binary cleans up after itself; this is the backstop).
bin=$1
probe=an-probe-$$
if [ "$(id -u)" != 0 ] || ! command -v ip >/dev/null 2>&1 ||
    ! ip netns add "$probe" 2>/dev/null; then
	echo "net: skipped: needs root and ip netns"
	exit 0
fi
ip netns del "$probe"
if ! command -v tc >/dev/null 2>&1; then
	echo "net: tc (iproute2) is missing" >&2
	exit 1
fi

NET_RUN=$(od -An -N3 -tx1 /dev/urandom | tr -d ' \n')
export NET_RUN

cleanup() {
	for ns in $(ip netns list 2>/dev/null | awk '{print $1}' |
	    grep -- "^an-$NET_RUN-"); do
		# Whatever still runs there was started by this run.
		for pid in $(ip netns pids "$ns" 2>/dev/null); do
			kill -9 "$pid" 2>/dev/null
		done
		ip netns del "$ns" 2>/dev/null
		rm -rf "/etc/netns/$ns"
	done
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

tests/run-tests.sh net "$bin"
