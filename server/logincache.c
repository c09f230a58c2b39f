/*
 * Logins verified lately, so a client that logs in again and again (a
 * reconnecting one, a script) does not cost a slow hash each time, as
 * Dovecot's auth cache does.  After the slow hash has accepted a
 * secret, a keyed digest of the user name and the secret is kept for a
 * while (--login-cache-ttl), with a fingerprint of the stored hash it
 * was checked against; a LOGIN whose digest matches is answered at
 * once.  Never the secret itself: the digest is SipHash-2-4-128 under a
 * random key of this process, which no one outside it knows.  A wrong
 * secret never gets in (only the slow hash adds), a changed hash
 * (re-registration, USER_SYNC, a journal read again) no longer matches
 * the fingerprint and drops the entry, and the table is capped
 * (--login-cache-size): the oldest entry makes room.
 *
 * The same digest, without the table, is what an ACTIVITY_MESSAGE's
 * secret is checked against on a logged-in connection.
 */
#include <sys/queue.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "clock.h"
#include "log.h"
#include "secret.h"
#include "server.h"
#include "siphash.h"
#include "strmap.h"
#include "xmalloc.h"

struct logincache_entry {
	TAILQ_ENTRY(logincache_entry)	 entry;	/* oldest first */
	char				*name;
	uint8_t				 digest[LOGINCACHE_DIGEST_LEN];
	uint64_t			 stored_fp;	/* the hash checked */
	uint64_t			 added_ms;
};
TAILQ_HEAD(logincache_list, logincache_entry);

struct logincache {
	uint8_t			 key[16];	/* random, this process */
	struct strmap		*byname;
	struct logincache_list	 order;		/* by time added */
	size_t			 max;		/* 0: keep nothing */
	uint64_t		 ttl_ms;	/* 0: keep nothing */
	uint64_t		 hits;
};

/* A cache of up to max logins for ttl_ms each; 0 for either: none. */
struct logincache *
logincache_new(size_t max, uint64_t ttl_ms)
{
	struct logincache	*lc;

	lc = xcalloc(1, sizeof *lc);
	if (secret_random_bytes(lc->key, sizeof lc->key) != 0)
		fatal("getrandom");
	lc->byname = strmap_new();
	TAILQ_INIT(&lc->order);
	lc->max = max;
	lc->ttl_ms = ttl_ms;
	return lc;
}

/* Drop e, wiping its digest. */
static void
logincache_drop(struct logincache *lc, struct logincache_entry *e)
{
	TAILQ_REMOVE(&lc->order, e, entry);
	(void)strmap_del(lc->byname, e->name);
	free(e->name);
	explicit_bzero(e, sizeof *e);
	free(e);
}

void
logincache_free(struct logincache *lc)
{
	struct logincache_entry	*e;

	if (lc == NULL)
		return;
	while ((e = TAILQ_FIRST(&lc->order)) != NULL)
		logincache_drop(lc, e);
	strmap_free(lc->byname);
	explicit_bzero(lc, sizeof *lc);
	free(lc);
}

/*
 * The keyed digest of user and secret: the name's length first, so no
 * two different pairs make the same input.
 */
void
logincache_digest(const struct logincache *lc, const char *user,
    const char *secret, uint8_t out[LOGINCACHE_DIGEST_LEN])
{
	uint8_t		 small[512], *buf = small;
	size_t		 ulen = strlen(user), slen = strlen(secret), len;
	int		 i;

	len = 8 + ulen + slen;
	if (len > sizeof small)
		buf = xmalloc(len);
	for (i = 0; i < 8; i++)
		buf[i] = (uint8_t)((uint64_t)ulen >> (8 * i));
	memcpy(buf + 8, user, ulen);
	memcpy(buf + 8 + ulen, secret, slen);
	siphash24_128(lc->key, buf, len, out);
	explicit_bzero(buf, len);
	if (buf != small)
		free(buf);
}

/* Is want the digest of user and secret?  Compared in constant time. */
int
logincache_matches(const struct logincache *lc, const char *user,
    const char *secret, const uint8_t want[LOGINCACHE_DIGEST_LEN])
{
	uint8_t	 d[LOGINCACHE_DIGEST_LEN];
	int	 ok;

	logincache_digest(lc, user, secret, d);
	ok = auth_equal(d, want, sizeof d);
	explicit_bzero(d, sizeof d);
	return ok;
}

/* A fingerprint of a stored hash: has it changed since? */
static uint64_t
logincache_fp(const struct logincache *lc, const char *stored)
{
	return siphash24(lc->key, stored, strlen(stored));
}

/* Drop what has outlived the TTL: the oldest come first. */
static void
logincache_expire(struct logincache *lc, uint64_t now)
{
	struct logincache_entry	*e;

	while ((e = TAILQ_FIRST(&lc->order)) != NULL &&
	    now - e->added_ms >= lc->ttl_ms)
		logincache_drop(lc, e);
}

/*
 * Has user logged in lately with this secret, checked against the
 * hash that is stored now?  An entry made for another stored hash is
 * dropped: the user's secret has changed since.
 */
int
logincache_check(struct logincache *lc, const char *user, const char *secret,
    const char *stored)
{
	struct logincache_entry	*e;
	int			 ok;

	if (lc->max == 0 || lc->ttl_ms == 0)
		return 0;
	logincache_expire(lc, now_ms());
	if ((e = strmap_get(lc->byname, user)) == NULL)
		return 0;
	if (e->stored_fp != logincache_fp(lc, stored)) {
		logincache_drop(lc, e);
		return 0;
	}
	if ((ok = logincache_matches(lc, user, secret, e->digest)))
		lc->hits++;
	return ok;
}

/*
 * The slow hash has just accepted secret for user against stored:
 * remember it (in place of what was known of the user), from now.
 */
void
logincache_add(struct logincache *lc, const char *user, const char *secret,
    const char *stored)
{
	struct logincache_entry	*e;

	if (lc->max == 0 || lc->ttl_ms == 0)
		return;
	logincache_forget(lc, user);
	logincache_expire(lc, now_ms());
	while (strmap_count(lc->byname) >= lc->max)
		logincache_drop(lc, TAILQ_FIRST(&lc->order));
	e = xcalloc(1, sizeof *e);
	e->name = xstrdup(user);
	logincache_digest(lc, user, secret, e->digest);
	e->stored_fp = logincache_fp(lc, stored);
	e->added_ms = now_ms();
	TAILQ_INSERT_TAIL(&lc->order, e, entry);
	(void)strmap_put(lc->byname, e->name, e);
}

/* Forget what is known of user's logins. */
void
logincache_forget(struct logincache *lc, const char *user)
{
	struct logincache_entry	*e;

	if ((e = strmap_get(lc->byname, user)) != NULL)
		logincache_drop(lc, e);
}

/* Entries held now (stats, tests). */
size_t
logincache_count(const struct logincache *lc)
{
	return strmap_count(lc->byname);
}

/* LOGINs answered from the cache since the start (stats). */
uint64_t
logincache_hits(const struct logincache *lc)
{
	return lc->hits;
}
