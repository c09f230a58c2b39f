/*
 * The network rig: every server and client group on its own host, a
 * network namespace, around one router namespace, so links can be cut,
 * split, made one-way and slowed, which loopback cannot do.
 *
 * Host i (1..RIG_MAX_HOSTS) is namespace "an-SFX-hI" with 10.77.I.2/24
 * on veth "vhI-SFX"; the router "an-SFX-r" holds 10.77.I.1 on the other
 * end "vrI-SFX" and forwards.  SFX is unique per run (NET_RUN from
 * tests/net/run.sh, or made up), so runs on one machine do not meet.
 * Every host's /etc/netns/NS/hosts names every host "hI-SFX", plus the
 * aliases given.  Only these 10.77.0.0/16 and 10.78.0.0/24 addresses
 * are used, and they never leave the namespaces.
 *
 * Faults, all silent (no FIN, no RST, no ICMP from the cut):
 *   rig_link	the host's own link down (its cable pulled)
 *   rig_split	two groups; the router drops every packet between them
 *   rig_block	the router drops packets from one host to another only
 *   rig_wan	a direct link between two hosts capped with tc tbf, and
 *		a relay on it that adds latency (the kernel has no netem)
 * rig_down removes everything the rig made; run.sh removes it too if
 * the test binary dies.
 */
#ifndef NET_RIG_H
#define NET_RIG_H

#define RIG_MAX_HOSTS	12

void		 rig_up(int);
void		 rig_down(void);
const char	*rig_sfx(void);
const char	*rig_ns(int);
const char	*rig_ip(int);
const char	*rig_host(int);		/* its name, "hI-SFX" */
/* Another name of host i in every hosts file, e.g. for -lh. */
void		 rig_alias(int, const char *);
/* The address a name stands for, from the hosts table; NULL if none. */
const char	*rig_resolve(const char *);

void		 rig_link(int, int);		/* host i's link up or down */
void		 rig_split(unsigned);		/* hosts in the mask vs rest */
void		 rig_block(int, int);		/* drop from i to j only */
void		 rig_heal(void);		/* undo split and block */
/*
 * A link from host a to host b of rate (tc syntax, each way) with a
 * relay in a's namespace on 10.78.0.1:port that forwards to b's
 * 10.78.0.2:bport after delay_ms each way.
 */
void		 rig_wan(int, int, const char *, int, int, int);
/* Bytes the relay holds (read but not yet written), both ways. */
long long	 rig_wan_queued(void);

/* Run a shell command; its exit status (the test fails on -1). */
int		 rig_sh(const char *, ...)
		    __attribute__((format(printf, 1, 2)));

#endif
