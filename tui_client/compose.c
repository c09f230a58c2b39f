/*
 * Typed lines become activities: plain text a Note, a line starting with
 * '{' the object it is (only if it is exactly one valid JSON object),
 * "//text" a Note starting with '/', and other '/' lines commands.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compose.h"
#include "log.h"
#include "json.h"
#include "msg.h"
#include "xmalloc.h"

static size_t	compose_compact(const char *, size_t, char *, size_t);

/* Is c white space as JSON counts it? */
static int
compose_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/*
 * Classify a typed line; for an activity, put the object in act.  A
 * pasted input may hold several lines: a JSON object spread over them
 * (blank lines around it allowed) is sent compact, on one line, and
 * other text is one note with its line breaks.
 */
enum compose_kind
compose_line(const char *line, size_t len, struct jbuf *act, char *err,
    size_t errlen)
{
	enum json_type	 t;
	const char	*why;
	char		*tmp;
	size_t		 i, n;
	int		 multi;

	while (len > 0 && (line[len - 1] == '\r' || line[len - 1] == '\n'))
		len--;
	multi = memchr(line, '\n', len) != NULL ||
	    memchr(line, '\r', len) != NULL;
	for (i = 0; multi && i < len && compose_space(line[i]); i++)
		;
	if (multi && i < len && line[i] == '{') {
		line += i;
		len -= i;
		while (len > 0 && compose_space(line[len - 1]))
			len--;
	}
	for (i = 0; i < len && (line[i] == ' ' || line[i] == '\t'); i++)
		;
	if (i == len)
		return COMPOSE_EMPTY;
	if (line[0] == '/' && (len < 2 || line[1] != '/'))
		return COMPOSE_COMMAND;
	jbuf_reset(act);
	if (line[0] == '{') {
		t = json_validate(line, len, JSON_DEPTH_MAX, &why);
		if (t == JSON_NONE) {
			snprintf(err, errlen, "not sent: invalid JSON: %s",
			    why);
			return COMPOSE_ERROR;
		}
		if (!multi) {
			jbuf_add(act, line, len);
			return COMPOSE_ACTIVITY;
		}
		/* Line ends would end the message early: compact it. */
		tmp = xmalloc(len + 1);
		n = compose_compact(line, len, tmp, len + 1);
		jbuf_add(act, tmp, n);
		free(tmp);
		return COMPOSE_ACTIVITY;
	}
	if (line[0] == '/') {
		line++;
		len--;
	}
	compose_activity(act, COMPOSE_NOTE, line, len);
	/* Text that is not UTF-8 would make the whole message invalid. */
	t = json_validate(act->p, act->len, JSON_DEPTH_MAX, &why);
	if (t != JSON_OBJECT) {
		snprintf(err, errlen, "not sent: %s", why);
		return COMPOSE_ERROR;
	}
	return COMPOSE_ACTIVITY;
}

/* {"type": type, "content": text}: what a typed line or /me sends. */
void
compose_activity(struct jbuf *b, const char *type, const char *text,
    size_t len)
{
	jbuf_addc(b, '{');
	jbuf_cstr(b, COMPOSE_K_TYPE);
	jbuf_addc(b, ':');
	jbuf_cstr(b, type);
	jbuf_addc(b, ',');
	jbuf_cstr(b, COMPOSE_K_CONTENT);
	jbuf_addc(b, ':');
	jbuf_str(b, text, len);
	jbuf_addc(b, '}');
}

/* Drop white space outside strings: the compact form of valid JSON. */
static size_t
compose_compact(const char *s, size_t len, char *out, size_t outsz)
{
	size_t	 i, o = 0;
	int	 instr = 0, esc = 0;

	if (outsz == 0)
		return 0;
	for (i = 0; i < len && o + 1 < outsz; i++) {
		char c = s[i];

		if (instr) {
			if (esc)
				esc = 0;
			else if (c == '\\')
				esc = 1;
			else if (c == '"')
				instr = 0;
		} else if (c == '"')
			instr = 1;
		else if (c == ' ' || c == '\t' || c == '\n' || c == '\r')
			continue;
		out[o++] = c;
	}
	out[o] = '\0';
	return o;
}

/*
 * The object without its authenticated_user member (the stream shows
 * the sender already), as compact JSON.
 */
static void
compose_compact_object(const char *act, size_t len, char *out, size_t outsz)
{
	struct json_span	 whole = { act, len }, k, v;
	struct json_iter	 it;
	enum json_type		 t;
	size_t			 o = 0, n;
	int			 first = 1;

	if (outsz < 3 || json_iter_object(&it, whole) != 0) {
		compose_compact(act, len, out, outsz);
		return;
	}
	out[o++] = '{';
	while (json_next_member(&it, &k, &v, &t) && o + 1 < outsz) {
		if (json_key_eq(k, MSG_ACT_AUTH_USER))
			continue;
		if (!first)
			out[o++] = ',';
		first = 0;
		/* The key with its quotes, then ':' and the value. */
		n = compose_compact(k.p - 1, k.len + 2, out + o, outsz - o);
		o += n;
		if (o + 1 >= outsz)
			break;
		out[o++] = ':';
		o += compose_compact(v.p, v.len, out + o, outsz - o);
	}
	if (o + 1 < outsz)
		out[o++] = '}';
	out[o] = '\0';
}

/*
 * A Note's (or an Action's) content in out; one longer than out is cut
 * at a character and ends in "...", so a long note still reads as text,
 * not JSON.
 */
static int
compose_note(const char *act, size_t len, char *out, size_t outsz)
{
	struct json_span	 whole = { act, len }, v;
	char			*all;
	size_t			 n, cut;

	if (json_get(whole, COMPOSE_K_CONTENT, JSON_STRING, &v, NULL) != 0 ||
	    outsz < 8)
		return -1;
	v = json_str_inner(v);
	if (json_str_decode(v, out, outsz, NULL) == 0)
		return 0;
	/* Decoded text is never longer than its raw form. */
	all = xmalloc(v.len + 1);
	if (json_str_decode(v, all, v.len + 1, &n) != 0) {
		free(all);
		return -1;		/* a NUL in it: show the JSON */
	}
	cut = outsz - 4;
	while (cut > 0 && (all[cut] & 0xc0) == 0x80)
		cut--;
	memcpy(out, all, cut);
	memcpy(out + cut, "...", 4);
	free(all);
	return 0;
}

/*
 * The text to show for a validated activity object: a Note's or an
 * Action's (/me) content, or the object as compact JSON.  who gets
 * authenticated_user when the activity carries it.  Returns 1 for a
 * Note, 2 for an Action, 0 otherwise.
 */
int
compose_show(const char *act, size_t len, char *out, size_t outsz,
    char *who, size_t whosz)
{
	struct json_span	 whole = { act, len };
	char			 type[16];

	if (who != NULL && whosz > 0 &&
	    json_get_str(whole, MSG_ACT_AUTH_USER, who, whosz) != 0)
		who[0] = '\0';
	if (json_get_str(whole, COMPOSE_K_TYPE, type, sizeof type) == 0 &&
	    (strcmp(type, COMPOSE_NOTE) == 0 ||
	    strcmp(type, COMPOSE_ACTION) == 0) &&
	    compose_note(act, len, out, outsz) == 0)
		return strcmp(type, COMPOSE_NOTE) == 0 ? 1 : 2;
	compose_compact_object(act, len, out, outsz);
	return 0;
}
