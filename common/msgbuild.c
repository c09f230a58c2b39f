/* Message builders: {"command":NAME, fields...}\n into a jbuf. */
#include <string.h>

#include "msgbuild.h"

/* Start a message: appends to whatever the buffer already holds. */
void
msgb_begin(struct jbuf *b, enum msg_cmd cmd)
{
	jbuf_adds(b, "{\"command\":");
	jbuf_cstr(b, msg_cmd_name(cmd));
}

/*
 * A member's key, with the comma before it unless it is the first of its
 * object: callers never write a literal key to start an object.
 */
void
msgb_key(struct jbuf *b, enum msg_field f)
{
	if (b->len == 0 || b->p[b->len - 1] != '{')
		jbuf_addc(b, ',');
	jbuf_cstr(b, msg_field_name(f));
	jbuf_addc(b, ':');
}

void
msgb_str(struct jbuf *b, enum msg_field f, const char *s)
{
	msgb_key(b, f);
	jbuf_cstr(b, s);
}

void
msgb_null(struct jbuf *b, enum msg_field f)
{
	msgb_key(b, f);
	jbuf_adds(b, "null");
}

void
msgb_int(struct jbuf *b, enum msg_field f, long long v)
{
	msgb_key(b, f);
	jbuf_int(b, v);
}

void
msgb_bool(struct jbuf *b, enum msg_field f, int v)
{
	msgb_key(b, f);
	jbuf_adds(b, v ? "true" : "false");
}

/* A value that is already JSON text. */
void
msgb_raw(struct jbuf *b, enum msg_field f, const char *json, size_t len)
{
	msgb_key(b, f);
	jbuf_add(b, json, len);
}

void
msgb_end(struct jbuf *b)
{
	jbuf_adds(b, "}\n");
}

/* An object nested in a line (an element of "users", ...): open it. */
void
msgb_obj_begin(struct jbuf *b)
{
	jbuf_addc(b, '{');
}

/* Close a nested object. */
void
msgb_obj_end(struct jbuf *b)
{
	jbuf_addc(b, '}');
}

/*
 * A member of a map (an object whose keys are data, as "vv" and
 * "seen"), with the comma before it unless it is the first.
 */
void
msgb_map_int(struct jbuf *b, const char *key, long long v)
{
	if (b->len == 0 || b->p[b->len - 1] != '{')
		jbuf_addc(b, ',');
	jbuf_cstr(b, key);
	jbuf_addc(b, ':');
	jbuf_int(b, v);
}

/* An array of n strings as member f. */
void
msgb_strs(struct jbuf *b, enum msg_field f, char *const *v, int n)
{
	int	 i;

	msgb_key(b, f);
	jbuf_addc(b, '[');
	for (i = 0; i < n; i++) {
		if (i > 0)
			jbuf_addc(b, ',');
		jbuf_cstr(b, v[i]);
	}
	jbuf_addc(b, ']');
}

/* "features": the names of the features set in mask, in table order. */
void
msgb_features(struct jbuf *b, unsigned mask)
{
	int	 i, n = 0;

	msgb_key(b, F_FEATURES);
	jbuf_addc(b, '[');
	for (i = 0; i < FEAT__COUNT; i++) {
		if ((mask & FEAT_BIT(i)) == 0)
			continue;
		if (n++ > 0)
			jbuf_addc(b, ',');
		jbuf_cstr(b, msg_feature_names[i]);
	}
	jbuf_addc(b, ']');
}

/* The common {"command":X,"info":"..."} shape. */
void
msgb_info(struct jbuf *b, enum msg_cmd cmd, const char *info)
{
	msgb_begin(b, cmd);
	msgb_str(b, F_INFO, info);
	msgb_end(b);
}
