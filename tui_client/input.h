/*
 * The input line: an editor over wide characters with a capped history.
 * Pure logic; the input pane only draws what input_view() says.
 */
#ifndef INPUT_H
#define INPUT_H

#include <stddef.h>
#include <wchar.h>

#define INPUT_MAX		(1024 * 1024)	/* default cap, characters */
#define INPUT_HISTORY_MAX	200
#define INPUT_HIST_LINE_MAX	16384	/* longer lines are not kept */

struct input {
	wchar_t		*buf;		/* grows up to max */
	size_t		 cap;
	size_t		 max;		/* characters on the line */
	size_t		 len;
	size_t		 cur;
	size_t		 view;		/* first character shown */

	wchar_t		*hist[INPUT_HISTORY_MAX];
	size_t		 hist_head;	/* next slot */
	size_t		 hist_n;
	size_t		 hist_pos;	/* 0: the line being typed */
	wchar_t		*draft;		/* that line, while browsing */
};

void	input_init(struct input *);
void	input_free(struct input *);
void	input_set_max(struct input *, size_t);
int	input_insert(struct input *, wchar_t);
void	input_set(struct input *, const char *);
void	input_left(struct input *);
void	input_right(struct input *);
void	input_home(struct input *);
void	input_end(struct input *);
void	input_backspace(struct input *);
void	input_delete(struct input *);
void	input_kill_start(struct input *);
void	input_kill_end(struct input *);
void	input_kill_word(struct input *);
void	input_word_left(struct input *);
void	input_word_right(struct input *);
void	input_hist_prev(struct input *);
void	input_hist_next(struct input *);
char	*input_take(struct input *, size_t *);
size_t	input_utf8(const struct input *, char *, size_t);
char	*input_utf8_dup(const wchar_t *, size_t, size_t *);
void	input_view(struct input *, int, size_t *, int *);

#endif
