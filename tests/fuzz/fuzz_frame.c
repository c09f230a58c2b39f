/*
 * libFuzzer target: framing, JSON validation and message parsing, the
 * path every byte from the network takes before a handler sees it.
 *
 * The first byte picks the frame cap (small, so TOO_LONG is reached)
 * and the second how the rest is cut into chunks added to an evbuffer,
 * so the reader's resumable newline scan is exercised.  Every line is
 * checked against the framing contract, run through msg_parse(), and,
 * when it is valid JSON, walked with the iterators, each span
 * re-validated and each string decoded into buffers of several sizes.
 * A broken invariant aborts, which libFuzzer reports as a crash.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <cJSON.h>

#include "frame.h"
#include "json.h"
#include "log.h"
#include "msg.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);
int	LLVMFuzzerInitialize(int *, char ***);

#define CHECK(c) do {							\
	if (!(c)) {							\
		fprintf(stderr, "%s:%d: invariant failed: %s\n",	\
		    __FILE__, __LINE__, #c);				\
		abort();						\
	}								\
} while (0)

static struct msg	 msg;		/* 8 KB of string space: not on stack */

static void	walk(struct json_span, enum json_type, int);

/*
 * Decode a validated string's contents into buffers of several sizes:
 * a decode that fits must agree with the roomy one, byte for byte.
 */
static void
check_string(struct json_span s)
{
	static const size_t	 sizes[] = { 1, 2, 3, 4, 5, 8, 17, 64, 257 };
	struct json_span	 raw = { s.p + 1, s.len - 2 };
	char			*big, small[257];
	size_t			 bigsz = raw.len + 1, n, bn = 0, i;
	int			 brc;

	CHECK(s.len >= 2 && s.p[0] == '"' && s.p[s.len - 1] == '"');
	if ((big = malloc(bigsz)) == NULL)
		abort();
	/* Decoding never grows the text: raw.len + 1 always suffices. */
	brc = json_str_decode(raw, big, bigsz, &bn);
	if (brc == 0) {
		CHECK(bn <= raw.len);
		CHECK(big[bn] == '\0');
		CHECK(memchr(big, '\0', bn) == NULL);
	}
	for (i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
		memset(small, 0x5a, sizeof small);
		if (json_str_decode(raw, small, sizes[i], &n) != 0)
			continue;
		/* It fit: it must be the full decode. */
		CHECK(brc == 0);
		CHECK(n == bn && n < sizes[i]);
		CHECK(memcmp(small, big, n + 1) == 0);
		/* Nothing written past the buffer it was given. */
		if (sizes[i] < sizeof small)
			CHECK((unsigned char)small[sizes[i]] == 0x5a);
	}
	if (brc == 0) {
		/* A key equal to its own decoding, if short enough. */
		if (bn < 256 && memchr(raw.p, '\\', raw.len) == NULL)
			CHECK(json_key_eq(raw, big));
		CHECK(json_key_same(raw, raw) || bn >= 256);
	}
	free(big);
}

static void
check_number(struct json_span v)
{
	long long	 n;
	char		 buf[40];

	if (json_num_int(v, &n) != 0)
		return;
	/* An integer that parsed prints back as its own digits. */
	snprintf(buf, sizeof buf, "%lld", n);
	if (v.len < sizeof buf && memchr(v.p, '.', v.len) == NULL &&
	    !(v.len > 1 && v.p[0] == '-' && v.p[1] == '0'))
		CHECK(strlen(buf) == v.len && memcmp(buf, v.p, v.len) == 0);
}

/* Each span a walker yields must itself be exactly one valid value. */
static void
check_span(struct json_span v, enum json_type t, int depth)
{
	const char	*err;
	enum json_type	 vt;

	CHECK(v.len > 0);
	vt = json_validate(v.p, v.len, JSON_DEPTH_MAX, &err);
	CHECK(vt == t);
	walk(v, t, depth + 1);
}

static void
walk(struct json_span v, enum json_type t, int depth)
{
	struct json_iter	 it;
	struct json_span	 key, val, prev = { NULL, 0 };
	enum json_type		 mt;
	int			 n = 0;

	CHECK(depth <= JSON_DEPTH_MAX);
	switch (t) {
	case JSON_OBJECT:
		CHECK(json_iter_object(&it, v) == 0);
		CHECK(json_iter_array(&it, v) != 0);
		CHECK(json_iter_object(&it, v) == 0);
		while (json_next_member(&it, &key, &val, &mt)) {
			struct json_span q = { key.p - 1, key.len + 2 };

			CHECK(key.p >= v.p && key.p + key.len <= v.p + v.len);
			CHECK(val.p >= v.p && val.p + val.len <= v.p + v.len);
			check_string(q);
			if (prev.p != NULL)
				(void)json_key_same(prev, key);
			prev = key;
			check_span(val, mt, depth);
			n++;
		}
		break;
	case JSON_ARRAY:
		CHECK(json_iter_array(&it, v) == 0);
		while (json_next_element(&it, &val, &mt)) {
			CHECK(val.p >= v.p && val.p + val.len <= v.p + v.len);
			check_span(val, mt, depth);
			n++;
		}
		break;
	case JSON_STRING:
		check_string(v);
		break;
	case JSON_NUMBER:
		check_number(v);
		break;
	case JSON_BOOL:
		CHECK(json_is_bool_true(v) == (v.len == 4));
		break;
	case JSON_NULL:
		CHECK(v.len == 4 && memcmp(v.p, "null", 4) == 0);
		break;
	default:
		CHECK(0);
	}
	(void)n;
}

/* A parsed message must be what the command table promises. */
static void
check_msg(const char *line, size_t len)
{
	char		 err[512];
	const struct msg_def *def;
	long long	 v;
	unsigned	 mask;
	int		 i, port;

	if (msg_parse(line, len, &msg, err, sizeof err) != 0) {
		CHECK(strlen(err) > 0 && strlen(err) < sizeof err);
		return;
	}
	CHECK((unsigned)msg.cmd < CMD__COUNT);
	CHECK(msg.line == line && msg.len == len);
	def = &msg_defs[msg.cmd];
	for (i = 0; i < MSG_FIELDS_MAX && def->fields[i].types != 0; i++) {
		const struct msg_field_def *fd = &def->fields[i];
		unsigned t = msg.type[fd->field];

		if (fd->flags & MSG_REQ)
			CHECK(t != JSON_NONE);
		if (t == JSON_NONE)
			continue;
		CHECK((fd->types & t) != 0);
		CHECK(msg.val[fd->field].p >= line &&
		    msg.val[fd->field].p + msg.val[fd->field].len <=
		    line + len);
		if (t == JSON_STRING) {
			const char *s = msg.str[fd->field];

			CHECK(s >= msg.strbuf &&
			    s < msg.strbuf + sizeof msg.strbuf);
			CHECK(memchr(s, '\0', (size_t)(msg.strbuf +
			    sizeof msg.strbuf - s)) != NULL);
			if (fd->maxlen != 0)
				CHECK(strlen(s) <= fd->maxlen);
		} else
			CHECK(msg.str[fd->field] == NULL);
		(void)msg_has(&msg, fd->field);
		(void)msg_int(&msg, fd->field, &v);
		(void)msg_port(&msg, fd->field, &port);
	}
	if (msg_port(&msg, F_PORT, &port) == 0)
		CHECK(port >= 1 && port <= 65535);
	(void)msg_features(&msg, msg_feature_names, &mask);
	CHECK(mask < (1u << FEAT__COUNT));
}

/* Peer bytes made safe for a log line: printable, bounded, terminated. */
static void
check_escape(const char *line, size_t len)
{
	static const size_t	 sizes[] = { 1, 2, 5, 6, 9, 64,
				    LOG_ESCAPE_MAX * 4 + 8 };
	char			 buf[LOG_ESCAPE_MAX * 4 + 8 + 1];
	const char		*e;
	size_t			 i, k, n;

	for (k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
		memset(buf, 0x5a, sizeof buf);
		e = log_escape(line, len, buf, sizes[k]);
		n = strlen(e);
		CHECK(n < sizes[k]);
		CHECK((unsigned char)buf[sizes[k]] == 0x5a || sizes[k] ==
		    sizeof buf);
		for (i = 0; i < n; i++)
			CHECK(e[i] >= 0x20 && e[i] < 0x7f);
	}
	/* The roomy buffer holds the first LOG_ESCAPE_MAX bytes, all. */
	e = log_escape(line, len, buf, LOG_ESCAPE_MAX * 4 + 8);
	if (len <= LOG_ESCAPE_MAX)
		CHECK(strstr(e, "...") == NULL || memmem(line, len, "...", 3));
}

static int
is_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static void
check_line(const char *line, size_t len)
{
	const char	*err = NULL;
	enum json_type	 t;
	struct json_span whole = { line, len };
	cJSON		*j;

	check_escape(line, len);
	t = json_validate(line, len, JSON_DEPTH_MAX, &err);
	if (t == JSON_NONE) {
		CHECK(err != NULL && *err != '\0');
	} else {
		/* The value without the white space around it. */
		while (whole.len > 0 && is_ws(whole.p[0])) {
			whole.p++;
			whole.len--;
		}
		while (whole.len > 0 &&
		    is_ws(whole.p[whole.len - 1]))
			whole.len--;
		walk(whole, t, 0);
		/*
		 * Differential: what our strict scanner accepts, lenient
		 * cJSON accepts too (it nests to 1000, we to 64).
		 */
		j = cJSON_ParseWithLength(line, len);
		CHECK(j != NULL);
		cJSON_Delete(j);
	}
	/* A shallower limit never accepts more. */
	if (json_validate(line, len, 2, &err) != JSON_NONE)
		CHECK(t != JSON_NONE);
	check_msg(line, len);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	log_init("fuzz", LOG_LVL_WARN);
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct frame_reader	 fr;
	struct frame		 f;
	struct evbuffer		*in;
	enum frame_status	 st;
	size_t			 max, chunk, off = 0, n;
	int			 done = 0;

	if (size < 2)
		return 0;
	max = 1 + (size_t)data[0] * 8;		/* 1 .. 2041 */
	chunk = 1 + (size_t)(data[1] % 64);
	data += 2;
	size -= 2;
	if (data[-1] & 0x80)
		chunk = size;			/* all at once */
	if ((in = evbuffer_new()) == NULL)
		abort();
	frame_init(&fr, max);
	while (!done && off < size) {
		n = size - off < chunk ? size - off : chunk;
		evbuffer_add(in, data + off, n);
		off += n;
		for (;;) {
			st = frame_next(&fr, in, &f);
			if (st == FRAME_NEED_MORE) {
				/* Holding more than the cap without a
				 * newline must have been refused. */
				CHECK(evbuffer_get_length(in) <= max + 1 ||
				    evbuffer_search(in, "\n", 1, NULL).pos >=
				    0);
				break;
			}
			if (st == FRAME_TOO_LONG || st == FRAME_BAD_NUL) {
				/* The server replies and closes here. */
				done = 1;
				break;
			}
			CHECK(st == FRAME_LINE);
			CHECK(f.len > 0 && f.len <= max);
			CHECK(f.total == f.len + 1 || f.total == f.len + 2);
			CHECK(f.total <= evbuffer_get_length(in));
			CHECK(memchr(f.line, '\n', f.len) == NULL);
			CHECK(memchr(f.line, '\0', f.len) == NULL);
			CHECK(f.line[f.total - 1] == '\n');
			check_line(f.line, f.len);
			frame_done(&fr, in, &f);
		}
	}
	evbuffer_free(in);
	return 0;
}
