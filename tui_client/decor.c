/*
 * Decorations of the panes, without ncurses: see decor.h.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "decor.h"
#include "text.h"

/*
 * A colour for a name, from a hash of it: the same name gets the same
 * colour in every run and on every client (FNV-1a, as irssi and weechat
 * hash nick colours).
 */
int
decor_name_color(const char *name)
{
	uint32_t	 h = 2166136261u;

	while (*name != '\0') {
		h ^= (unsigned char)*name++;
		h *= 16777619u;
	}
	return (int)(h % DECOR_COLORS);
}

/* Is c part of a name, for telling whole-word mentions apart? */
static int
decor_namec(unsigned char c)
{
	return isalnum(c) || c == '_' || c == '-' || c >= 0x80;
}

/*
 * Does text mention name as a whole word (ASCII letters compared
 * without case)?  "alice:" and "@alice" do; "malice" does not.
 */
int
decor_mentions(const char *text, size_t len, const char *name)
{
	size_t	 n = strlen(name), i;

	if (n == 0 || n > len)
		return 0;
	for (i = 0; i + n <= len; i++) {
		if (strncasecmp(text + i, name, n) != 0)
			continue;
		if (i > 0 && decor_namec((unsigned char)text[i - 1]))
			continue;
		if (i + n < len && decor_namec((unsigned char)text[i + n]))
			continue;
		return 1;
	}
	return 0;
}

/* The local calendar day of a wall-clock time, as yyyymmdd. */
long
decor_day(uint64_t wall_ms)
{
	time_t		 secs = (time_t)(wall_ms / 1000);
	struct tm	 tm;

	if (localtime_r(&secs, &tm) == NULL)
		return 0;
	return (long)(tm.tm_year + 1900) * 10000 + (tm.tm_mon + 1) * 100 +
	    tm.tm_mday;
}

/* "Sunday 6 December 2026", for the line where the day changes. */
void
decor_fmt_day(uint64_t wall_ms, char *buf, size_t len)
{
	time_t		 secs = (time_t)(wall_ms / 1000);
	struct tm	 tm;

	if (localtime_r(&secs, &tm) == NULL ||
	    strftime(buf, len, "%A %-d %B %Y", &tm) == 0)
		snprintf(buf, len, "?");
}

/* Where the last at most want columns of s[from..len) start. */
static size_t
decor_tail(const char *s, size_t from, size_t len, int want)
{
	size_t	 t = len, b;
	int	 w = 0, cw;

	while (t > from) {
		b = t - 1;
		while (b > from && ((unsigned char)s[b] & 0xc0) == 0x80)
			b--;
		cw = text_width(s + b, t - b);
		if (w + cw > want)
			break;
		w += cw;
		t = b;
	}
	return t;
}

/*
 * host:port in at most width columns.  The port is never cut: the host
 * loses its middle to "..." (its start and end tell hosts apart, as in
 * "app-...-3.example"), and only if nothing of it fits is it dropped.
 */
void
decor_hostport(const char *host, int port, int width, char *out,
    size_t outsz)
{
	char	 ps[16];
	size_t	 hlen = strlen(host), head, tail;
	int	 pw, hw, used;

	snprintf(ps, sizeof ps, ":%d", port);
	pw = (int)strlen(ps);
	if (text_width(host, hlen) + pw <= width) {
		snprintf(out, outsz, "%s%s", host, ps);
		return;
	}
	hw = width - pw;
	if (hw < 5) {
		snprintf(out, outsz, "%s", ps + (hw < 1 ? 1 : 0));
		return;
	}
	head = text_fit(host, hlen, (hw - 3 + 1) / 2, &used);
	tail = decor_tail(host, head, hlen, hw - 3 - used);
	snprintf(out, outsz, "%.*s...%s%s", (int)head, host, host + tail, ps);
}
