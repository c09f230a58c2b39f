/*
 * The monitoring endpoint (--monitor HOST:PORT): read-only HTTP served
 * by libevent's evhttp, for load balancers, orchestrators and
 * Prometheus.
 *
 *   /healthz  200 "ok" while this server serves and the cluster status
 *             it gives its clients (CLUSTER_STATUS, known_cluster_state)
 *             is NORMAL; 503 and the reason otherwise
 *   /status   JSON: who we are, our links, the cluster view, counters
 *   /metrics  the Prometheus text format, version 0.0.4
 *
 * Only GET and HEAD are allowed, requests are small and slow ones time
 * out; nothing here changes the server.
 */
#include <sys/types.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "clock.h"
#include "json.h"
#include "log.h"
#include "opt.h"
#include "server.h"
#include "xmalloc.h"

#define MONITOR_TIMEOUT_S	5
#define MONITOR_MAX_HEADERS	8192
#define MONITOR_MAX_BODY	1024
#define MONITOR_HOST_MAX	256
#define MONITOR_STATES_MAX	8	/* known-server states counted */

struct monitor {
	struct evhttp	*http;
	struct server	*srv;
	char		 host[MONITOR_HOST_MAX];
	int		 port;
};

/* Upper bounds of the delivery report latency buckets, in ms. */
static const uint64_t monitor_report_le[STATS_REPORT_BUCKETS] = {
	1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000,
};

/*
 * Split "HOST:PORT", "[V6]:PORT" or a bare "PORT" (loopback).  With a
 * NULL host only checks the syntax.
 */
int
monitor_parse(const char *spec, char *host, size_t hostlen, int *port)
{
	const char	*colon, *h = "127.0.0.1", *p = spec;
	size_t		 hlen = strlen(h);
	long		 v;

	if ((colon = strrchr(spec, ':')) != NULL) {
		h = spec;
		hlen = (size_t)(colon - spec);
		p = colon + 1;
		if (hlen >= 2 && h[0] == '[' && h[hlen - 1] == ']') {
			h++;
			hlen -= 2;
		} else if (memchr(h, ':', hlen) != NULL)
			return -1;	/* a bare IPv6 address needs [] */
		if (hlen == 0)
			return -1;
	}
	if (opt_long(p, 1, 65535, &v) != 0 || hlen >= MONITOR_HOST_MAX)
		return -1;
	if (host != NULL) {
		if (hlen >= hostlen)
			return -1;
		memcpy(host, h, hlen);
		host[hlen] = '\0';
	}
	if (port != NULL)
		*port = (int)v;
	return 0;
}

/* Count one delivery report sent to its sender, ms after the activity. */
void
monitor_report_latency(struct server *srv, uint64_t ms)
{
	int	 i;

	for (i = 0; i < STATS_REPORT_BUCKETS; i++)
		if (ms <= monitor_report_le[i])
			break;
	srv->stats.report_bucket[i]++;
	srv->stats.report_count++;
	srv->stats.report_sum_ms += ms;
}

/*
 * Is this server healthy, and if not why?  The cluster part is the one
 * definition its clients get in CLUSTER_STATUS: known_cluster_state().
 */
static int
monitor_health(struct server *srv, char *why, size_t len)
{
	char	 cwhy[512];

	if (srv->stopping) {
		snprintf(why, len, "the server is shutting down");
		return 0;
	}
	if (srv->listener == NULL) {
		snprintf(why, len, "the server is not listening");
		return 0;
	}
	if (known_cluster_state(srv, cwhy, sizeof cwhy) == CLUSTER_NORMAL)
		return 1;
	snprintf(why, len, "the cluster is OUT_OF_SERVICE: %s",
	    log_safe(cwhy));
	return 0;
}

/* Resident memory from /proc, 0 where it cannot be read. */
static uint64_t
monitor_rss(void)
{
	unsigned long long	 size, rss;
	FILE			*f;
	long			 page = sysconf(_SC_PAGESIZE);
	int			 n;

	if ((f = fopen("/proc/self/statm", "r")) == NULL)
		return 0;
	n = fscanf(f, "%llu %llu", &size, &rss);
	fclose(f);
	if (n != 2 || page <= 0)
		return 0;
	return (uint64_t)rss * (uint64_t)page;
}

/* Send a reply with a body and its type; HEAD gets the headers only. */
static void
monitor_reply(struct evhttp_request *req, int code, const char *reason,
    const char *type, struct evbuffer *body)
{
	struct evkeyvalq	*h = evhttp_request_get_output_headers(req);

	evhttp_add_header(h, "Content-Type", type);
	evhttp_add_header(h, "Cache-Control", "no-store");
	if (evhttp_request_get_command(req) == EVHTTP_REQ_HEAD)
		evbuffer_drain(body, evbuffer_get_length(body));
	evhttp_send_reply(req, code, reason, body);
}

static void
monitor_healthz_cb(struct evhttp_request *req, void *arg)
{
	struct monitor	*m = arg;
	struct evbuffer	*b;
	char		 why[2048];

	if ((b = evbuffer_new()) == NULL) {
		evhttp_send_error(req, HTTP_INTERNAL, NULL);
		return;
	}
	if (monitor_health(m->srv, why, sizeof why)) {
		evbuffer_add_printf(b, "ok\n");
		monitor_reply(req, HTTP_OK, "OK", "text/plain; charset=utf-8",
		    b);
	} else {
		evbuffer_add_printf(b, "%s\n", why);
		monitor_reply(req, HTTP_SERVUNAVAIL, "Service Unavailable",
		    "text/plain; charset=utf-8", b);
	}
	evbuffer_free(b);
}

/* A "host:port" pair of members. */
static void
monitor_json_addr(struct jbuf *j, const char *host, int port)
{
	jbuf_adds(j, "\"host\":");
	jbuf_cstr(j, host != NULL ? host : "");
	jbuf_adds(j, ",\"port\":");
	jbuf_int(j, port);
}

/* One counter as a JSON member, after the first. */
static void
monitor_json_u64(struct jbuf *j, const char *key, uint64_t v)
{
	jbuf_addc(j, ',');
	jbuf_cstr(j, key);
	jbuf_addc(j, ':');
	jbuf_int(j, (long long)v);
}

static void
monitor_status_cb(struct evhttp_request *req, void *arg)
{
	struct monitor		*m = arg;
	struct server		*srv = m->srv;
	const struct server_stats *st = &srv->stats;
	struct evbuffer		*b;
	struct jbuf		 j, cs;
	struct peer		*p;
	int			 first;

	if ((b = evbuffer_new()) == NULL) {
		evhttp_send_error(req, HTTP_INTERNAL, NULL);
		return;
	}
	jbuf_init(&j);
	jbuf_adds(&j, "{\"id\":");
	jbuf_cstr(&j, srv->id);
	jbuf_adds(&j, ",\"version\":");
	jbuf_cstr(&j, SERVER_VERSION);
	jbuf_adds(&j, ",\"listen\":{");
	monitor_json_addr(&j, srv->cfg.listen_host, srv->cfg.listen_port);
	jbuf_adds(&j, ",\"bind\":");
	jbuf_cstr(&j, srv->cfg.bind_addr != NULL ? srv->cfg.bind_addr :
	    srv->cfg.listen_host);
	jbuf_adds(&j, ",\"tls_port\":");
	if (srv->cfg.tls_port != 0)
		jbuf_int(&j, srv->cfg.tls_port);
	else
		jbuf_adds(&j, "null");
	jbuf_adds(&j, "},\"monitor\":{");
	monitor_json_addr(&j, m->host, m->port);
	jbuf_adds(&j, "},\"uptime_ms\":");
	jbuf_int(&j, (long long)(now_ms() - srv->start_ms));
	jbuf_adds(&j, ",\"started_ms\":");
	jbuf_int(&j, (long long)srv->start_wall_ms);
	jbuf_adds(&j, ",\"data_dir\":");
	if (srv->cfg.data_dir != NULL)
		jbuf_cstr(&j, srv->cfg.data_dir);
	else
		jbuf_adds(&j, "null");
	jbuf_adds(&j, ",\"parent\":");
	first = 1;
	TAILQ_FOREACH(p, &srv->links, role_entry) {
		if (!p->outgoing || !first)
			continue;
		first = 0;
		jbuf_adds(&j, "{\"id\":");
		jbuf_cstr(&j, p->remote_id != NULL ? p->remote_id : "");
		jbuf_addc(&j, ',');
		monitor_json_addr(&j, p->remote_host, p->remote_port);
		jbuf_addc(&j, '}');
	}
	if (first)
		jbuf_adds(&j, "null");
	jbuf_adds(&j, ",\"children\":[");
	first = 1;
	TAILQ_FOREACH(p, &srv->links, role_entry) {
		if (p->outgoing)
			continue;
		if (!first)
			jbuf_addc(&j, ',');
		first = 0;
		jbuf_adds(&j, "{\"id\":");
		jbuf_cstr(&j, p->remote_id != NULL ? p->remote_id : "");
		jbuf_addc(&j, ',');
		monitor_json_addr(&j, p->remote_host, p->remote_port);
		jbuf_addc(&j, '}');
	}
	/* The cluster view is the CLUSTER_STATUS message itself. */
	jbuf_adds(&j, "],\"cluster\":");
	jbuf_init(&cs);
	known_build_status(srv, &cs);
	while (cs.len > 0 && cs.p[cs.len - 1] == '\n')
		cs.len--;
	jbuf_add(&j, cs.p, cs.len);
	jbuf_free(&cs);
	jbuf_adds(&j, ",\"counters\":{\"clients\":");
	jbuf_int(&j, srv->nclients);
	monitor_json_u64(&j, "connections", (uint64_t)srv->npeers);
	monitor_json_u64(&j, "server_links", (uint64_t)srv->nservers);
	monitor_json_u64(&j, "activities_from_clients", st->act_from_clients);
	monitor_json_u64(&j, "activities_from_servers", st->act_from_servers);
	monitor_json_u64(&j, "activities_delivered", st->act_delivered);
	monitor_json_u64(&j, "bytes_in", st->bytes_in);
	monitor_json_u64(&j, "bytes_out", st->bytes_out);
	monitor_json_u64(&j, "slow_consumer_drops", st->slow_drops);
	monitor_json_u64(&j, "redirects", st->redirects);
	monitor_json_u64(&j, "failovers", st->failovers);
	monitor_json_u64(&j, "rejoins", st->rejoins);
	monitor_json_u64(&j, "registrations_succeeded", st->reg_ok);
	monitor_json_u64(&j, "registrations_failed", st->reg_failed);
	monitor_json_u64(&j, "registrations_timed_out", st->reg_timeout);
	monitor_json_u64(&j, "logins_succeeded", st->login_ok);
	monitor_json_u64(&j, "logins_failed", st->login_failed);
	monitor_json_u64(&j, "replay_log_entries", replay_count(srv));
	monitor_json_u64(&j, "replay_log_bytes", replay_bytes(srv));
	monitor_json_u64(&j, "order_holdbacks", st->holdbacks);
	monitor_json_u64(&j, "delivery_reports", st->report_count);
	monitor_json_u64(&j, "resident_memory_bytes", monitor_rss());
	jbuf_adds(&j, "}}\n");
	evbuffer_add(b, j.p, j.len);
	jbuf_free(&j);
	monitor_reply(req, HTTP_OK, "OK", "application/json", b);
	evbuffer_free(b);
}

/* HELP and TYPE lines of one metric family. */
static void
monitor_family(struct evbuffer *b, const char *name, const char *type,
    const char *help)
{
	evbuffer_add_printf(b, "# HELP activity_%s %s\n# TYPE activity_%s %s\n",
	    name, help, name, type);
}

/* A family with one unlabelled sample. */
static void
monitor_metric(struct evbuffer *b, const char *name, const char *type,
    const char *help, uint64_t v)
{
	monitor_family(b, name, type, help);
	evbuffer_add_printf(b, "activity_%s %llu\n", name,
	    (unsigned long long)v);
}

/* One labelled sample; label values here are fixed words, not input. */
static void
monitor_sample(struct evbuffer *b, const char *name, const char *label,
    const char *value, uint64_t v)
{
	evbuffer_add_printf(b, "activity_%s{%s=\"%s\"} %llu\n", name, label,
	    value, (unsigned long long)v);
}

static void
monitor_metrics_cb(struct evhttp_request *req, void *arg)
{
	struct monitor		*m = arg;
	struct server		*srv = m->srv;
	const struct server_stats *st = &srv->stats;
	const char		*names[MONITOR_STATES_MAX];
	uint64_t		 counts[MONITOR_STATES_MAX], reg = 0, anon = 0;
	uint64_t		 fresh = 0, up = 0, down = 0, cum;
	struct evbuffer		*b;
	struct peer		*p;
	int			 i, k, nnames = 0;

	if ((b = evbuffer_new()) == NULL) {
		evhttp_send_error(req, HTTP_INTERNAL, NULL);
		return;
	}
	TAILQ_FOREACH(p, &srv->peers, entry) {
		if (p->closing)
			continue;
		if (p->role == PEER_CLIENT && p->anonymous)
			anon++;
		else if (p->role == PEER_CLIENT)
			reg++;
		else if (p->role == PEER_NEW)
			fresh++;
		else if (p->outgoing)
			up++;
		else
			down++;
	}
	monitor_family(b, "clients", "gauge", "Connected clients by kind.");
	monitor_sample(b, "clients", "kind", "registered", reg);
	monitor_sample(b, "clients", "kind", "anonymous", anon);
	monitor_sample(b, "clients", "kind", "unauthenticated", fresh);
	monitor_family(b, "server_links", "gauge",
	    "Server links by direction (our parent, our children).");
	monitor_sample(b, "server_links", "direction", "parent", up);
	monitor_sample(b, "server_links", "direction", "child", down);

	/*
	 * States by name, so a state added to known.c shows up here.  A
	 * server that left, or whose address a restart took, is kept only
	 * for presence.c's replay: the cluster view no longer lists it.
	 */
	for (i = 0; i < srv->nknown; i++) {
		const char *n = known_state_name(srv->known[i].state);

		if (srv->known[i].state == KNOWN_GONE)
			continue;
		for (k = 0; k < nnames; k++)
			if (strcmp(names[k], n) == 0)
				break;
		if (k == nnames) {
			if (nnames == MONITOR_STATES_MAX)
				continue;
			names[nnames] = n;
			counts[nnames++] = 0;
		}
		counts[k]++;
	}
	monitor_family(b, "known_servers", "gauge",
	    "Other servers this one knows of, by state.");
	for (k = 0; k < nnames; k++)
		monitor_sample(b, "known_servers", "state", names[k],
		    counts[k]);
	if (nnames == 0)
		monitor_sample(b, "known_servers", "state", "up", 0);
	monitor_metric(b, "cluster_normal", "gauge", "1 while the cluster "
	    "status given to clients is NORMAL.",
	    known_cluster_normal(srv));

	monitor_family(b, "activities_received_total", "counter",
	    "Activities taken in, by where they came from.");
	monitor_sample(b, "activities_received_total", "source", "client",
	    st->act_from_clients);
	monitor_sample(b, "activities_received_total", "source", "server",
	    st->act_from_servers);
	monitor_metric(b, "activities_delivered_total", "counter",
	    "Activity lines queued to clients.", st->act_delivered);
	monitor_metric(b, "received_bytes_total", "counter",
	    "Bytes read from clients and servers.", st->bytes_in);
	monitor_metric(b, "sent_bytes_total", "counter",
	    "Bytes queued to clients and servers.", st->bytes_out);
	monitor_metric(b, "slow_consumer_drops_total", "counter",
	    "Connections dropped for not reading their output.",
	    st->slow_drops);
	monitor_metric(b, "redirects_total", "counter",
	    "Clients sent to a less loaded server.", st->redirects);
	monitor_metric(b, "failovers_total", "counter",
	    "Times this server lost its parent.", st->failovers);
	monitor_metric(b, "rejoins_total", "counter",
	    "Times this server joined the tree again after losing it.",
	    st->rejoins);
	monitor_family(b, "registrations_total", "counter",
	    "Registrations asked of this server, by result.");
	monitor_sample(b, "registrations_total", "result", "succeeded",
	    st->reg_ok);
	monitor_sample(b, "registrations_total", "result", "failed",
	    st->reg_failed);
	monitor_sample(b, "registrations_total", "result", "timed_out",
	    st->reg_timeout);
	monitor_family(b, "logins_total", "counter",
	    "Logins at this server, by result.");
	monitor_sample(b, "logins_total", "result", "succeeded", st->login_ok);
	monitor_sample(b, "logins_total", "result", "failed",
	    st->login_failed);
	monitor_metric(b, "replay_log_entries", "gauge",
	    "Activities kept for replay.", replay_count(srv));
	monitor_metric(b, "replay_log_bytes", "gauge",
	    "Bytes of activities kept for replay.", replay_bytes(srv));
	monitor_metric(b, "order_holdbacks_total", "counter",
	    "Activities held back behind a gap in their sender's order.",
	    st->holdbacks);
	monitor_metric(b, "password_hashes_rescued_total", "counter",
	    "Password hashes the rescuer took over because the idle-priority "
	    "workers found no idle CPU for 200 ms.",
	    hashpool_rescues(srv->hashpool));
	monitor_metric(b, "password_hashes_total", "counter",
	    "Slow password hashes asked for (REGISTER, and LOGIN unless the "
	    "login cache knew the secret).",
	    hashpool_submitted(srv->hashpool));
	monitor_metric(b, "login_cache_hits_total", "counter",
	    "LOGINs answered from the login cache, without a slow hash.",
	    logincache_hits(srv->logincache));

	monitor_family(b, "delivery_report_latency_seconds", "histogram",
	    "From taking in a client's activity to sending it its delivery "
	    "report.");
	cum = 0;
	for (i = 0; i < STATS_REPORT_BUCKETS; i++) {
		cum += st->report_bucket[i];
		evbuffer_add_printf(b, "activity_delivery_report_latency_seconds"
		    "_bucket{le=\"%g\"} %llu\n",
		    (double)monitor_report_le[i] / 1000,
		    (unsigned long long)cum);
	}
	cum += st->report_bucket[STATS_REPORT_BUCKETS];
	evbuffer_add_printf(b, "activity_delivery_report_latency_seconds_bucket"
	    "{le=\"+Inf\"} %llu\n", (unsigned long long)cum);
	evbuffer_add_printf(b, "activity_delivery_report_latency_seconds_sum "
	    "%llu.%03llu\n", (unsigned long long)(st->report_sum_ms / 1000),
	    (unsigned long long)(st->report_sum_ms % 1000));
	evbuffer_add_printf(b, "activity_delivery_report_latency_seconds_count "
	    "%llu\n", (unsigned long long)st->report_count);

	monitor_metric(b, "resident_memory_bytes", "gauge",
	    "Resident memory of the server process.", monitor_rss());
	monitor_metric(b, "uptime_seconds", "gauge",
	    "Seconds since the server started.",
	    (now_ms() - srv->start_ms) / 1000);
	monitor_family(b, "build_info", "gauge", "The server's version.");
	evbuffer_add_printf(b, "activity_build_info{version=\"%s\"} 1\n",
	    SERVER_VERSION);
	monitor_reply(req, HTTP_OK, "OK",
	    "text/plain; version=0.0.4; charset=utf-8", b);
	evbuffer_free(b);
}

static void
monitor_notfound_cb(struct evhttp_request *req, void *arg)
{
	(void)arg;
	evhttp_send_error(req, HTTP_NOTFOUND, "try /healthz, /status or "
	    "/metrics");
}

/* Listen for monitoring requests at spec ("HOST:PORT"). */
int
monitor_start(struct server *srv, const char *spec)
{
	struct monitor	*m;

	m = xcalloc(1, sizeof *m);
	m->srv = srv;
	if (monitor_parse(spec, m->host, sizeof m->host, &m->port) != 0) {
		log_errorx("--monitor %s: expected HOST:PORT", log_safe(spec));
		free(m);
		return -1;
	}
	if ((m->http = evhttp_new(srv->base)) == NULL)
		fatalx("evhttp_new");
	evhttp_set_allowed_methods(m->http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD);
	evhttp_set_max_headers_size(m->http, MONITOR_MAX_HEADERS);
	evhttp_set_max_body_size(m->http, MONITOR_MAX_BODY);
	evhttp_set_timeout(m->http, MONITOR_TIMEOUT_S);
	evhttp_set_cb(m->http, "/healthz", monitor_healthz_cb, m);
	evhttp_set_cb(m->http, "/status", monitor_status_cb, m);
	evhttp_set_cb(m->http, "/metrics", monitor_metrics_cb, m);
	evhttp_set_gencb(m->http, monitor_notfound_cb, m);
	if (evhttp_bind_socket_with_handle(m->http, m->host,
	    (ev_uint16_t)m->port) == NULL) {
		log_errorx("cannot listen on %s:%d for --monitor", m->host,
		    m->port);
		evhttp_free(m->http);
		free(m);
		return -1;
	}
	srv->monitor = m;
	log_info("monitoring on http://%s%s%s:%d/ (/healthz, /status, "
	    "/metrics)", strchr(m->host, ':') != NULL ? "[" : "", m->host,
	    strchr(m->host, ':') != NULL ? "]" : "", m->port);
	return 0;
}

void
monitor_free(struct server *srv)
{
	if (srv->monitor == NULL)
		return;
	evhttp_free(srv->monitor->http);
	free(srv->monitor);
	srv->monitor = NULL;
}
