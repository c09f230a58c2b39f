/*
 * A strict JSON scanner that works on the bytes as received: validate a
 * text once, then walk objects and arrays as spans of the original
 * buffer.  Values are never rebuilt, so an activity passes through with
 * its large integers and odd spacing unchanged.
 */
#ifndef JSON_H
#define JSON_H

#include <stddef.h>

enum json_type {
	JSON_NONE = 0,
	JSON_NULL = 1 << 0,
	JSON_BOOL = 1 << 1,
	JSON_NUMBER = 1 << 2,
	JSON_STRING = 1 << 3,
	JSON_ARRAY = 1 << 4,
	JSON_OBJECT = 1 << 5,
};

#define JSON_ANY	(JSON_NULL | JSON_BOOL | JSON_NUMBER | JSON_STRING | \
			    JSON_ARRAY | JSON_OBJECT)
#define JSON_DEPTH_MAX	64

/* Why validation failed, for callers that answer differently. */
enum json_error {
	JSON_ERR_NONE = 0,
	JSON_ERR_SYNTAX,		/* not JSON, or not strict JSON */
	JSON_ERR_TOO_MANY_MEMBERS,	/* more top-level members than asked */
};

struct json_span {
	const char	*p;
	size_t		 len;
};

/* Walks the members of an object or the elements of an array. */
struct json_iter {
	const char	*p;
	const char	*end;
	int		 first;
};

/* A top-level member recorded while validating. */
struct json_member {
	struct json_span	 key;	/* without its quotes, still escaped */
	struct json_span	 val;
	enum json_type		 type;
};

enum json_type	 json_validate(const char *, size_t, int, const char **);
enum json_type	 json_validate_members(const char *, size_t, int,
		    struct json_member *, int, int *, const char **,
		    enum json_error *);
const char	*json_type_name(enum json_type);

int	json_iter_object(struct json_iter *, struct json_span);
int	json_iter_array(struct json_iter *, struct json_span);
int	json_next_member(struct json_iter *, struct json_span *,
	    struct json_span *, enum json_type *);
int	json_next_element(struct json_iter *, struct json_span *,
	    enum json_type *);

int	json_key_eq(struct json_span, const char *);
int	json_key_same(struct json_span, struct json_span);
int	json_str_decode(struct json_span, char *, size_t, size_t *);
int	json_num_int(struct json_span, long long *);
int	json_is_bool_true(struct json_span);
struct json_span json_str_inner(struct json_span);

/* Typed getters on a validated object: 0 found, 1 absent, -1 bad. */
int	json_get(struct json_span, const char *, unsigned,
	    struct json_span *, enum json_type *);
int	json_get_str(struct json_span, const char *, char *, size_t);
int	json_get_int(struct json_span, const char *, long long *);
int	json_next_map_member(struct json_iter *, unsigned, char *, size_t,
	    size_t *, struct json_span *);

/* A growable output buffer with JSON-aware appenders. */
struct jbuf {
	char	*p;
	size_t	 len;
	size_t	 cap;
};

void	jbuf_init(struct jbuf *);
void	jbuf_free(struct jbuf *);
void	jbuf_reset(struct jbuf *);
void	jbuf_add(struct jbuf *, const void *, size_t);
void	jbuf_adds(struct jbuf *, const char *);
void	jbuf_addc(struct jbuf *, char);
void	jbuf_str(struct jbuf *, const char *, size_t);
void	jbuf_cstr(struct jbuf *, const char *);
void	jbuf_int(struct jbuf *, long long);
char	*jbuf_detach(struct jbuf *, size_t *);

#endif
