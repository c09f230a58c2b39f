/* Builders for outgoing lines: the only place, with msg.c, wire names live. */
#ifndef MSGBUILD_H
#define MSGBUILD_H

#include "json.h"
#include "msg.h"

void	msgb_begin(struct jbuf *, enum msg_cmd);
void	msgb_key(struct jbuf *, enum msg_field);
void	msgb_str(struct jbuf *, enum msg_field, const char *);
void	msgb_null(struct jbuf *, enum msg_field);
void	msgb_int(struct jbuf *, enum msg_field, long long);
void	msgb_bool(struct jbuf *, enum msg_field, int);
void	msgb_raw(struct jbuf *, enum msg_field, const char *, size_t);
void	msgb_end(struct jbuf *);
void	msgb_obj_begin(struct jbuf *);
void	msgb_obj_end(struct jbuf *);
void	msgb_map_int(struct jbuf *, const char *, long long);
void	msgb_strs(struct jbuf *, enum msg_field, char *const *, int);
void	msgb_features(struct jbuf *, unsigned);
void	msgb_info(struct jbuf *, enum msg_cmd, const char *);

#endif
