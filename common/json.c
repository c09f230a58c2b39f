/*
 * Strict RFC 8259 validation with a depth limit and UTF-8 checks, and
 * cheap walks over text already validated.  Network input reaches the
 * walkers only after json_validate() said yes.
 */
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "xmalloc.h"

struct json_scan {
	const char		*p;
	const char		*end;
	int			 depth;
	int			 maxdepth;
	const char		*err;
	enum json_error		 code;
	struct json_member	*members;	/* top level, if wanted */
	int			 maxmembers;
	int			 nmembers;
};

static enum json_type	scan_value(struct json_scan *);

static void
scan_ws(struct json_scan *s)
{
	while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' ||
	    *s->p == '\n' || *s->p == '\r'))
		s->p++;
}

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static long
scan_hex4(const char *p, const char *end)
{
	long	 v = 0;
	int	 i, h;

	if (end - p < 4)
		return -1;
	for (i = 0; i < 4; i++) {
		if ((h = hexval(p[i])) < 0)
			return -1;
		v = (v << 4) | h;
	}
	return v;
}

/* Length of the well-formed UTF-8 sequence at p, or 0. */
static size_t
utf8_seq(const unsigned char *p, const unsigned char *end)
{
	size_t		 n, i;
	uint32_t	 cp;

	if (p[0] < 0x80)
		return 1;
	if (p[0] >= 0xc2 && p[0] <= 0xdf) {
		n = 2;
		cp = p[0] & 0x1f;
	} else if (p[0] >= 0xe0 && p[0] <= 0xef) {
		n = 3;
		cp = p[0] & 0x0f;
	} else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
		n = 4;
		cp = p[0] & 0x07;
	} else
		return 0;
	if ((size_t)(end - p) < n)
		return 0;
	for (i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (p[i] & 0x3f);
	}
	if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
	    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

static int
scan_string(struct json_scan *s)
{
	long	 hi, lo;
	size_t	 n;

	s->p++;		/* opening quote */
	while (s->p < s->end) {
		unsigned char c = (unsigned char)*s->p;
		if (c == '"') {
			s->p++;
			return 0;
		}
		if (c < 0x20) {
			s->err = "control character in string";
			return -1;
		}
		if (c == '\\') {
			if (s->end - s->p < 2)
				break;
			switch (s->p[1]) {
			case '"': case '\\': case '/': case 'b':
			case 'f': case 'n': case 'r': case 't':
				s->p += 2;
				continue;
			case 'u':
				hi = scan_hex4(s->p + 2, s->end);
				if (hi < 0) {
					s->err = "bad \\u escape";
					return -1;
				}
				s->p += 6;
				if (hi >= 0xdc00 && hi <= 0xdfff) {
					s->err = "lone surrogate in \\u escape";
					return -1;
				}
				if (hi >= 0xd800 && hi <= 0xdbff) {
					if (s->end - s->p < 6 || s->p[0] != '\\' ||
					    s->p[1] != 'u' ||
					    (lo = scan_hex4(s->p + 2, s->end)) < 0xdc00 ||
					    lo > 0xdfff) {
						s->err = "lone surrogate in \\u escape";
						return -1;
					}
					s->p += 6;
				}
				continue;
			default:
				s->err = "bad escape in string";
				return -1;
			}
		}
		if (c < 0x80) {
			s->p++;
			continue;
		}
		n = utf8_seq((const unsigned char *)s->p,
		    (const unsigned char *)s->end);
		if (n == 0) {
			s->err = "invalid UTF-8 in string";
			return -1;
		}
		s->p += n;
	}
	s->err = "unterminated string";
	return -1;
}

static int
scan_digits(struct json_scan *s)
{
	const char	*start = s->p;

	while (s->p < s->end && *s->p >= '0' && *s->p <= '9')
		s->p++;
	return s->p > start ? 0 : -1;
}

static int
scan_number(struct json_scan *s)
{
	if (*s->p == '-')
		s->p++;
	if (s->p >= s->end)
		goto bad;
	if (*s->p == '0')
		s->p++;
	else if (scan_digits(s) != 0)
		goto bad;
	if (s->p < s->end && *s->p == '.') {
		s->p++;
		if (scan_digits(s) != 0)
			goto bad;
	}
	if (s->p < s->end && (*s->p == 'e' || *s->p == 'E')) {
		s->p++;
		if (s->p < s->end && (*s->p == '+' || *s->p == '-'))
			s->p++;
		if (scan_digits(s) != 0)
			goto bad;
	}
	return 0;
bad:
	s->err = "malformed number";
	return -1;
}

static int
scan_literal(struct json_scan *s, const char *lit)
{
	size_t	 n = strlen(lit);

	if ((size_t)(s->end - s->p) < n || memcmp(s->p, lit, n) != 0) {
		s->err = "unexpected character";
		return -1;
	}
	s->p += n;
	return 0;
}

static int
scan_container(struct json_scan *s, int object)
{
	char	 close = object ? '}' : ']';

	if (++s->depth > s->maxdepth) {
		s->err = "nested too deeply";
		return -1;
	}
	s->p++;
	scan_ws(s);
	if (s->p < s->end && *s->p == close) {
		s->p++;
		s->depth--;
		return 0;
	}
	for (;;) {
		struct json_member	*mb = NULL;
		const char		*vstart;
		enum json_type		 vt;

		if (object) {
			scan_ws(s);
			if (s->p >= s->end || *s->p != '"') {
				s->err = s->p >= s->end ? "truncated" :
				    "object key is not a string";
				return -1;
			}
			if (s->members != NULL && s->depth == 1) {
				if (s->nmembers == s->maxmembers) {
					s->err = "too many fields";
					s->code = JSON_ERR_TOO_MANY_MEMBERS;
					return -1;
				}
				mb = &s->members[s->nmembers++];
				mb->key.p = s->p + 1;
			}
			if (scan_string(s) != 0)
				return -1;
			if (mb != NULL)
				mb->key.len = (size_t)(s->p - 1 - mb->key.p);
			scan_ws(s);
			if (s->p >= s->end || *s->p != ':') {
				s->err = s->p >= s->end ? "truncated" :
				    "missing ':' after object key";
				return -1;
			}
			s->p++;
		}
		scan_ws(s);
		vstart = s->p;
		if ((vt = scan_value(s)) == JSON_NONE)
			return -1;
		if (mb != NULL) {
			mb->val.p = vstart;
			mb->val.len = (size_t)(s->p - vstart);
			mb->type = vt;
		}
		scan_ws(s);
		if (s->p >= s->end) {
			s->err = "truncated";
			return -1;
		}
		if (*s->p == ',') {
			s->p++;
			continue;
		}
		if (*s->p == close) {
			s->p++;
			s->depth--;
			return 0;
		}
		s->err = object ? "expected ',' or '}'" : "expected ',' or ']'";
		return -1;
	}
}

static enum json_type
scan_value(struct json_scan *s)
{
	scan_ws(s);
	if (s->p >= s->end) {
		s->err = "truncated";
		return JSON_NONE;
	}
	switch (*s->p) {
	case '{':
		return scan_container(s, 1) == 0 ? JSON_OBJECT : JSON_NONE;
	case '[':
		return scan_container(s, 0) == 0 ? JSON_ARRAY : JSON_NONE;
	case '"':
		return scan_string(s) == 0 ? JSON_STRING : JSON_NONE;
	case 't':
		return scan_literal(s, "true") == 0 ? JSON_BOOL : JSON_NONE;
	case 'f':
		return scan_literal(s, "false") == 0 ? JSON_BOOL : JSON_NONE;
	case 'n':
		return scan_literal(s, "null") == 0 ? JSON_NULL : JSON_NONE;
	default:
		if (*s->p == '-' || (*s->p >= '0' && *s->p <= '9'))
			return scan_number(s) == 0 ? JSON_NUMBER : JSON_NONE;
		s->err = "unexpected character";
		return JSON_NONE;
	}
}

/*
 * Validate that buf holds exactly one JSON value (surrounding white space
 * allowed).  Returns its type, or JSON_NONE with *err set to a reason.
 */
enum json_type
json_validate(const char *buf, size_t len, int maxdepth, const char **err)
{
	int	 n;

	return json_validate_members(buf, len, maxdepth, NULL, 0, &n, err,
	    NULL);
}

/*
 * Validate, and if the value is an object record its members (at most
 * max, else it is refused) in the same pass: a caller needs no second
 * walk over the text.  On failure *err is a reason a person can read
 * and *code (if not NULL) the kind of failure a program can test.
 */
enum json_type
json_validate_members(const char *buf, size_t len, int maxdepth,
    struct json_member *members, int max, int *n, const char **err,
    enum json_error *code)
{
	struct json_scan	 s = { buf, buf + len, 0, maxdepth, NULL,
				    JSON_ERR_SYNTAX, members, max, 0 };
	enum json_type		 t;

	if (code != NULL)
		*code = JSON_ERR_NONE;
	if (len == 0) {
		*err = "empty message";
		if (code != NULL)
			*code = JSON_ERR_SYNTAX;
		return JSON_NONE;
	}
	t = scan_value(&s);
	if (t != JSON_NONE) {
		scan_ws(&s);
		if (s.p != s.end) {
			s.err = "trailing data after JSON value";
			t = JSON_NONE;
		}
	}
	if (t == JSON_NONE) {
		*err = s.err != NULL ? s.err : "invalid JSON";
		if (code != NULL)
			*code = s.code;
	}
	*n = s.nmembers;
	return t;
}

const char *
json_type_name(enum json_type t)
{
	switch (t) {
	case JSON_NULL:
		return "null";
	case JSON_BOOL:
		return "boolean";
	case JSON_NUMBER:
		return "number";
	case JSON_STRING:
		return "string";
	case JSON_ARRAY:
		return "array";
	case JSON_OBJECT:
		return "object";
	default:
		return "nothing";
	}
}

/* Walkers: input is known valid, so they only skip. */

static const char *
skip_ws(const char *p, const char *end)
{
	while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
		p++;
	return p;
}

static const char *
skip_string(const char *p, const char *end)
{
	for (p++; p < end; p++) {
		if (*p == '\\')
			p++;
		else if (*p == '"')
			return p + 1;
	}
	return end;
}

static const char *
skip_value(const char *p, const char *end, enum json_type *type)
{
	int	 depth;

	switch (*p) {
	case '"':
		*type = JSON_STRING;
		return skip_string(p, end);
	case '{':
	case '[':
		*type = *p == '{' ? JSON_OBJECT : JSON_ARRAY;
		depth = 0;
		while (p < end) {
			if (*p == '"') {
				p = skip_string(p, end);
				continue;
			}
			if (*p == '{' || *p == '[')
				depth++;
			else if ((*p == '}' || *p == ']') && --depth == 0)
				return p + 1;
			p++;
		}
		return end;
	case 't':
	case 'f':
		*type = JSON_BOOL;
		break;
	case 'n':
		*type = JSON_NULL;
		break;
	default:
		*type = JSON_NUMBER;
		break;
	}
	while (p < end && *p != ',' && *p != '}' && *p != ']' && *p != ' ' &&
	    *p != '\t' && *p != '\n' && *p != '\r')
		p++;
	return p;
}

static int
iter_init(struct json_iter *it, struct json_span v, char open)
{
	const char	*p = skip_ws(v.p, v.p + v.len);

	if (p >= v.p + v.len || *p != open)
		return -1;
	it->p = p + 1;
	it->end = v.p + v.len;
	it->first = 1;
	return 0;
}

int
json_iter_object(struct json_iter *it, struct json_span v)
{
	return iter_init(it, v, '{');
}

int
json_iter_array(struct json_iter *it, struct json_span v)
{
	return iter_init(it, v, '[');
}

/* Step past the separator; 0 at the container's end. */
static int
iter_step(struct json_iter *it)
{
	it->p = skip_ws(it->p, it->end);
	if (it->p >= it->end || *it->p == '}' || *it->p == ']')
		return 0;
	if (!it->first && *it->p == ',')
		it->p = skip_ws(it->p + 1, it->end);
	it->first = 0;
	return it->p < it->end;
}

/* Next member of a validated object: key without quotes, raw value. */
int
json_next_member(struct json_iter *it, struct json_span *key,
    struct json_span *val, enum json_type *type)
{
	const char	*q;

	if (!iter_step(it))
		return 0;
	q = skip_string(it->p, it->end);
	key->p = it->p + 1;
	key->len = (size_t)(q - it->p) - 2;
	it->p = skip_ws(q, it->end);
	it->p = skip_ws(it->p + 1, it->end);	/* ':' */
	val->p = it->p;
	it->p = skip_value(it->p, it->end, type);
	val->len = (size_t)(it->p - val->p);
	return 1;
}

/* Next element of a validated array. */
int
json_next_element(struct json_iter *it, struct json_span *val,
    enum json_type *type)
{
	if (!iter_step(it))
		return 0;
	val->p = it->p;
	it->p = skip_value(it->p, it->end, type);
	val->len = (size_t)(it->p - val->p);
	return 1;
}

static void
utf8_put(uint32_t cp, char *out, size_t *n)
{
	if (cp < 0x80)
		out[(*n)++] = (char)cp;
	else if (cp < 0x800) {
		out[(*n)++] = (char)(0xc0 | (cp >> 6));
		out[(*n)++] = (char)(0x80 | (cp & 0x3f));
	} else if (cp < 0x10000) {
		out[(*n)++] = (char)(0xe0 | (cp >> 12));
		out[(*n)++] = (char)(0x80 | ((cp >> 6) & 0x3f));
		out[(*n)++] = (char)(0x80 | (cp & 0x3f));
	} else {
		out[(*n)++] = (char)(0xf0 | (cp >> 18));
		out[(*n)++] = (char)(0x80 | ((cp >> 12) & 0x3f));
		out[(*n)++] = (char)(0x80 | ((cp >> 6) & 0x3f));
		out[(*n)++] = (char)(0x80 | (cp & 0x3f));
	}
}

/*
 * Decode the raw contents of a validated string (quotes excluded) into
 * out, NUL-terminated.  Fails if it does not fit or holds a NUL, so a
 * decoded name can be used as a C string.
 */
int
json_str_decode(struct json_span raw, char *out, size_t outsz, size_t *outlen)
{
	const char	*p = raw.p, *end = raw.p + raw.len;
	size_t		 n = 0, need;
	uint32_t	 cp, lo;

	if (outsz == 0)
		return -1;
	while (p < end) {
		if (*p != '\\') {
			if (*p == '\0' || n + 1 >= outsz)
				return -1;
			out[n++] = *p++;
			continue;
		}
		p++;
		if (*p != 'u') {
			if (n + 1 >= outsz)
				return -1;
			switch (*p) {
			case 'b': out[n++] = '\b'; break;
			case 'f': out[n++] = '\f'; break;
			case 'n': out[n++] = '\n'; break;
			case 'r': out[n++] = '\r'; break;
			case 't': out[n++] = '\t'; break;
			default: out[n++] = *p; break;
			}
			p++;
			continue;
		}
		cp = (uint32_t)scan_hex4(p + 1, end);
		p += 5;
		if (cp >= 0xd800 && cp <= 0xdbff) {
			lo = (uint32_t)scan_hex4(p + 2, end);
			p += 6;
			cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
		}
		if (cp == 0)
			return -1;
		need = cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
		if (n + need >= outsz)
			return -1;
		utf8_put(cp, out, &n);
	}
	out[n] = '\0';
	if (outlen != NULL)
		*outlen = n;
	return 0;
}

/* Compare a raw key (escapes and all) with a plain string. */
int
json_key_eq(struct json_span key, const char *lit)
{
	char	 buf[256];
	size_t	 n, litlen = strlen(lit);

	if (memchr(key.p, '\\', key.len) == NULL)
		return key.len == litlen && memcmp(key.p, lit, litlen) == 0;
	if (json_str_decode(key, buf, sizeof buf, &n) != 0)
		return 0;
	return n == litlen && memcmp(buf, lit, n) == 0;
}

/* Do two raw keys name the same member? */
int
json_key_same(struct json_span a, struct json_span b)
{
	char	 buf[256];

	if (memchr(a.p, '\\', a.len) == NULL &&
	    memchr(b.p, '\\', b.len) == NULL)
		return a.len == b.len && memcmp(a.p, b.p, a.len) == 0;
	if (json_str_decode(a, buf, sizeof buf, NULL) != 0)
		return 0;
	return json_key_eq(b, buf);
}

/* A validated number that is an integer within long long. */
int
json_num_int(struct json_span v, long long *out)
{
	char		 buf[32];
	char		*end;
	long long	 n;

	if (v.len == 0 || v.len >= sizeof buf)
		return -1;
	memcpy(buf, v.p, v.len);
	buf[v.len] = '\0';
	if (strpbrk(buf, ".eE") != NULL)
		return -1;
	errno = 0;
	n = strtoll(buf, &end, 10);
	if (errno != 0 || *end != '\0')
		return -1;
	*out = n;
	return 0;
}

int
json_is_bool_true(struct json_span v)
{
	return v.len == 4 && memcmp(v.p, "true", 4) == 0;
}

/* A string value's contents: the span inside its quotes, still escaped. */
struct json_span
json_str_inner(struct json_span v)
{
	struct json_span	 in = { v.p + 1, v.len - 2 };

	return in;
}

/*
 * The member key of the validated object obj, if its type is one of
 * types (a mask of enum json_type).  0 and *val (and *t) if found with
 * such a type, 1 if absent, -1 if present with another type.
 */
int
json_get(struct json_span obj, const char *key, unsigned types,
    struct json_span *val, enum json_type *t)
{
	struct json_iter	 it;
	struct json_span	 k, v;
	enum json_type		 vt;

	if (json_iter_object(&it, obj) != 0)
		return -1;
	while (json_next_member(&it, &k, &v, &vt)) {
		if (!json_key_eq(k, key))
			continue;
		if ((vt & types) == 0)
			return -1;
		*val = v;
		if (t != NULL)
			*t = vt;
		return 0;
	}
	return 1;
}

/*
 * The string member key of obj, decoded into out: 0, 1 if absent, -1 if
 * not a string or too long for out.
 */
int
json_get_str(struct json_span obj, const char *key, char *out, size_t outsz)
{
	struct json_span	 v;
	int			 rc;

	if ((rc = json_get(obj, key, JSON_STRING, &v, NULL)) != 0)
		return rc;
	return json_str_decode(json_str_inner(v), out, outsz, NULL) == 0 ?
	    0 : -1;
}

/*
 * The next member of an object used as a map (its keys are data, every
 * value of one type): the key decoded into key (keysz bytes with the
 * NUL, *keylen its length), the value in *val.  1 a member, 0 the end,
 * -1 a member whose key does not fit or whose value is not of types.
 */
int
json_next_map_member(struct json_iter *it, unsigned types, char *key,
    size_t keysz, size_t *keylen, struct json_span *val)
{
	struct json_span	 k;
	enum json_type		 t;

	if (!json_next_member(it, &k, val, &t))
		return 0;
	if ((t & types) == 0 || json_str_decode(k, key, keysz, keylen) != 0)
		return -1;
	return 1;
}

/* The integer member key of obj: 0, 1 if absent, -1 if not an integer. */
int
json_get_int(struct json_span obj, const char *key, long long *out)
{
	struct json_span	 v;
	int			 rc;

	if ((rc = json_get(obj, key, JSON_NUMBER, &v, NULL)) != 0)
		return rc;
	return json_num_int(v, out) == 0 ? 0 : -1;
}

void
jbuf_init(struct jbuf *b)
{
	b->p = NULL;
	b->len = b->cap = 0;
}

void
jbuf_free(struct jbuf *b)
{
	free(b->p);
	jbuf_init(b);
}

void
jbuf_reset(struct jbuf *b)
{
	b->len = 0;
}

/*
 * Make room for need more bytes.  Out of line and rarely taken, so the
 * appenders that call jbuf_grow stay small enough to be inlined on the
 * fan-out path.
 */
static void __attribute__((__noinline__))
jbuf_grow_slow(struct jbuf *b, size_t need)
{
	size_t	 cap;

	cap = b->cap ? b->cap : 256;
	while (cap < b->len + need)
		cap *= 2;
	b->p = xrealloc(b->p, cap);
	b->cap = cap;
}

/* Room for need more bytes: the common case is one compare. */
static inline void
jbuf_grow(struct jbuf *b, size_t need)
{
	if (b->len + need > b->cap)
		jbuf_grow_slow(b, need);
}

void
jbuf_add(struct jbuf *b, const void *d, size_t n)
{
	jbuf_grow(b, n + 1);
	memcpy(b->p + b->len, d, n);
	b->len += n;
	b->p[b->len] = '\0';
}

void
jbuf_adds(struct jbuf *b, const char *s)
{
	jbuf_add(b, s, strlen(s));
}

void
jbuf_addc(struct jbuf *b, char c)
{
	jbuf_add(b, &c, 1);
}

/* Append s as a quoted JSON string. */
void
jbuf_str(struct jbuf *b, const char *s, size_t n)
{
	static const char	 hex[] = "0123456789abcdef";
	size_t			 i;
	unsigned char		 c;

	jbuf_grow(b, n * 6 + 3);
	b->p[b->len++] = '"';
	for (i = 0; i < n; i++) {
		c = (unsigned char)s[i];
		if (c == '"' || c == '\\') {
			b->p[b->len++] = '\\';
			b->p[b->len++] = (char)c;
		} else if (c == '\n') {
			b->p[b->len++] = '\\';
			b->p[b->len++] = 'n';
		} else if (c < 0x20) {
			memcpy(b->p + b->len, "\\u00", 4);
			b->len += 4;
			b->p[b->len++] = hex[c >> 4];
			b->p[b->len++] = hex[c & 15];
		} else
			b->p[b->len++] = (char)c;
	}
	b->p[b->len++] = '"';
	b->p[b->len] = '\0';
}

void
jbuf_cstr(struct jbuf *b, const char *s)
{
	jbuf_str(b, s, strlen(s));
}

void
jbuf_int(struct jbuf *b, long long v)
{
	char	 buf[32];
	int	 n;

	n = snprintf(buf, sizeof buf, "%lld", v);
	jbuf_add(b, buf, (size_t)n);
}

/* Hand the bytes to the caller, who frees them. */
char *
jbuf_detach(struct jbuf *b, size_t *len)
{
	char	*p;

	if (b->p == NULL)
		jbuf_add(b, "", 0);
	p = b->p;
	if (len != NULL)
		*len = b->len;
	jbuf_init(b);
	return p;
}
