/*
 * Line editing in the readline manner (ctrl-u kills to the start, ctrl-w
 * the word before the cursor) and a history ring that skips repeats.
 * Browsing the history keeps the line being typed as a draft.
 */
#include <stdlib.h>
#include <string.h>
#include <wchar.h>
#include <wctype.h>

#include "input.h"
#include "log.h"
#include "text.h"
#include "xmalloc.h"

/* An empty line and history. */
void
input_init(struct input *in)
{
	memset(in, 0, sizeof *in);
	in->max = INPUT_MAX;
	in->cap = 256;
	in->buf = xcalloc(in->cap + 1, sizeof *in->buf);
}

/* At most max characters on the line (the server's message size). */
void
input_set_max(struct input *in, size_t max)
{
	in->max = max > 0 ? max : 1;
}

/* Room for n characters (and the NUL); 0, or -1 over the cap. */
static int
input_room(struct input *in, size_t n)
{
	wchar_t	*p;
	size_t	 cap;

	if (n > in->max)
		return -1;
	if (n <= in->cap)
		return 0;
	for (cap = in->cap; cap < n; cap *= 2)
		;
	if (cap > in->max)
		cap = in->max;
	p = xreallocarray(in->buf, cap + 1, sizeof *p);
	in->buf = p;
	in->cap = cap;
	return 0;
}

/* Free the history. */
void
input_free(struct input *in)
{
	size_t	 i;

	for (i = 0; i < INPUT_HISTORY_MAX; i++)
		free(in->hist[i]);
	free(in->draft);
	free(in->buf);
	memset(in, 0, sizeof *in);
}

/* Copy len wide characters into a new NUL-terminated string. */
static wchar_t *
wdup(const wchar_t *s, size_t len)
{
	wchar_t	*p;

	p = xcalloc(len + 1, sizeof *p);
	memcpy(p, s, len * sizeof *p);
	return p;
}

/* Replace the line with s (NULL: empty), cursor at the end. */
static void
input_load(struct input *in, const wchar_t *s)
{
	size_t	 n = s != NULL ? wcslen(s) : 0;

	if (n > in->max)
		n = in->max;
	input_room(in, n);
	if (n > 0)
		memcpy(in->buf, s, n * sizeof *s);
	in->len = in->cur = n;
	in->buf[n] = L'\0';
}

/* Insert a character at the cursor; -1 if the line is full. */
int
input_insert(struct input *in, wchar_t c)
{
	if (input_room(in, in->len + 1) != 0)
		return -1;
	memmove(in->buf + in->cur + 1, in->buf + in->cur,
	    (in->len - in->cur) * sizeof *in->buf);
	in->buf[in->cur++] = c;
	in->buf[++in->len] = L'\0';
	return 0;
}

/* Replace the line with UTF-8 text (invalid bytes become '?'). */
void
input_set(struct input *in, const char *s)
{
	mbstate_t	 ps;
	wchar_t		 wc;
	size_t		 n, len = strlen(s);

	in->len = in->cur = 0;
	in->buf[0] = L'\0';
	memset(&ps, 0, sizeof ps);
	while (len > 0) {
		n = mbrtowc(&wc, s, len, &ps);
		if (n == (size_t)-1 || n == (size_t)-2 || n == 0) {
			memset(&ps, 0, sizeof ps);
			wc = L'?';
			n = 1;
		}
		if (input_insert(in, wc) != 0)
			break;
		s += n;
		len -= n;
	}
}

/* Cursor one character left. */
void
input_left(struct input *in)
{
	if (in->cur > 0)
		in->cur--;
}

/* Cursor one character right. */
void
input_right(struct input *in)
{
	if (in->cur < in->len)
		in->cur++;
}

/* Cursor to the start of the line. */
void
input_home(struct input *in)
{
	in->cur = 0;
}

/* Cursor to the end of the line. */
void
input_end(struct input *in)
{
	in->cur = in->len;
}

/* Delete n characters starting at position at. */
static void
input_cut(struct input *in, size_t at, size_t n)
{
	memmove(in->buf + at, in->buf + at + n,
	    (in->len - at - n) * sizeof *in->buf);
	in->len -= n;
	in->buf[in->len] = L'\0';
	if (in->cur > at + n)
		in->cur -= n;
	else if (in->cur > at)
		in->cur = at;
}

/* Delete the character before the cursor. */
void
input_backspace(struct input *in)
{
	if (in->cur > 0)
		input_cut(in, in->cur - 1, 1);
}

/* Delete the character under the cursor. */
void
input_delete(struct input *in)
{
	if (in->cur < in->len)
		input_cut(in, in->cur, 1);
}

/* ctrl-u: delete from the start of the line to the cursor. */
void
input_kill_start(struct input *in)
{
	input_cut(in, 0, in->cur);
}

/* ctrl-k: delete from the cursor to the end of the line. */
void
input_kill_end(struct input *in)
{
	input_cut(in, in->cur, in->len - in->cur);
}

/* ctrl-w: delete the blank-separated word before the cursor. */
void
input_kill_word(struct input *in)
{
	size_t	 at = in->cur;

	while (at > 0 && iswspace((wint_t)in->buf[at - 1]))
		at--;
	while (at > 0 && !iswspace((wint_t)in->buf[at - 1]))
		at--;
	input_cut(in, at, in->cur - at);
}

/* Is c part of a word for Alt-b and Alt-f (letters and digits)? */
static int
input_wordc(wchar_t c)
{
	return iswalnum((wint_t)c);
}

/* Alt-b, Ctrl-Left: to the start of this or the previous word. */
void
input_word_left(struct input *in)
{
	while (in->cur > 0 && !input_wordc(in->buf[in->cur - 1]))
		in->cur--;
	while (in->cur > 0 && input_wordc(in->buf[in->cur - 1]))
		in->cur--;
}

/* Alt-f, Ctrl-Right: to the end of this or the next word. */
void
input_word_right(struct input *in)
{
	while (in->cur < in->len && !input_wordc(in->buf[in->cur]))
		in->cur++;
	while (in->cur < in->len && input_wordc(in->buf[in->cur]))
		in->cur++;
}

/* The history entry i steps back (1 = newest). */
static const wchar_t *
input_hist_get(const struct input *in, size_t i)
{
	if (i == 0 || i > in->hist_n)
		return NULL;
	return in->hist[(in->hist_head + INPUT_HISTORY_MAX - i) %
	    INPUT_HISTORY_MAX];
}

/* Up: the previous history entry, keeping what was typed as a draft. */
void
input_hist_prev(struct input *in)
{
	if (in->hist_pos >= in->hist_n)
		return;
	if (in->hist_pos == 0) {
		free(in->draft);
		in->draft = wdup(in->buf, in->len);
	}
	in->hist_pos++;
	input_load(in, input_hist_get(in, in->hist_pos));
}

/* Down: the next entry, or back to the draft. */
void
input_hist_next(struct input *in)
{
	if (in->hist_pos == 0)
		return;
	in->hist_pos--;
	if (in->hist_pos == 0) {
		input_load(in, in->draft);
		free(in->draft);
		in->draft = NULL;
	} else
		input_load(in, input_hist_get(in, in->hist_pos));
}

/* The line as UTF-8 in out (NUL-terminated); returns its length. */
size_t
input_utf8(const struct input *in, char *out, size_t outsz)
{
	char	 tmp[4];
	size_t	 i, o = 0, n;

	if (outsz == 0)
		return 0;
	for (i = 0; i < in->len; i++) {
		n = text_utf8_put((unsigned)in->buf[i], tmp);
		if (o + n + 1 > outsz)
			break;
		memcpy(out + o, tmp, n);
		o += n;
	}
	out[o] = '\0';
	return o;
}

/* len wide characters as a new NUL-terminated UTF-8 string. */
char *
input_utf8_dup(const wchar_t *s, size_t len, size_t *outlen)
{
	char	*out;
	size_t	 i, o = 0;

	out = xreallocarray(NULL, len + 1, 4);
	for (i = 0; i < len; i++)
		o += text_utf8_put((unsigned)s[i], out + o);
	out[o] = '\0';
	if (outlen != NULL)
		*outlen = o;
	return out;
}

/*
 * How much of the line the history keeps: all of it, but of "/login
 * user secret" and "/register user secret" only up to the user, so a
 * secret is never brought back by Up or kept in memory longer than
 * needed.
 */
static size_t
input_hist_len(const wchar_t *s, size_t len)
{
	static const wchar_t	*cmds[] = { L"/login", L"/register" };
	size_t			 i, n, at;

	for (i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
		n = wcslen(cmds[i]);
		if (len <= n || wmemcmp(s, cmds[i], n) != 0 ||
		    !iswspace((wint_t)s[n]))
			continue;
		at = n;
		while (at < len && iswspace((wint_t)s[at]))
			at++;			/* to the user */
		while (at < len && !iswspace((wint_t)s[at]))
			at++;			/* past it */
		return at;
	}
	return len;
}

/*
 * Enter: hand the line out as UTF-8 (*len bytes; the caller frees it),
 * remember it in the history (unless empty, too long, or the same as
 * the newest entry) and start a fresh line.
 */
char *
input_take(struct input *in, size_t *len)
{
	const wchar_t	*last;
	char		*out;
	size_t		 slot, keep;

	out = input_utf8_dup(in->buf, in->len, len);
	keep = input_hist_len(in->buf, in->len);
	last = input_hist_get(in, 1);
	if (keep > 0 && keep <= INPUT_HIST_LINE_MAX && (last == NULL ||
	    wcslen(last) != keep || wmemcmp(last, in->buf, keep) != 0)) {
		slot = in->hist_head;
		free(in->hist[slot]);
		in->hist[slot] = wdup(in->buf, keep);
		in->hist_head = (slot + 1) % INPUT_HISTORY_MAX;
		if (in->hist_n < INPUT_HISTORY_MAX)
			in->hist_n++;
	}
	free(in->draft);
	in->draft = NULL;
	in->hist_pos = 0;
	wmemset(in->buf, L'\0', in->len);	/* a secret may have been here */
	in->len = in->cur = in->view = 0;
	return out;
}

/* Columns a wide character takes (1 if unknown). */
static int
wc_cols(wchar_t c)
{
	int	 w = wcwidth(c);

	return w < 0 ? 1 : w;
}

/*
 * Scroll the line horizontally so the cursor shows in width columns:
 * *start is the first character to draw, *col the cursor's column.
 */
void
input_view(struct input *in, int width, size_t *start, int *col)
{
	size_t	 i;
	int	 w;

	if (width < 2)
		width = 2;
	if (in->view > in->cur)
		in->view = in->cur;
	/*
	 * Walk back from the cursor, not forward from the old view: a long
	 * paste moves the cursor a million characters at once.  One column
	 * stays free for the cursor past the end.
	 */
	w = 0;
	for (i = in->cur; i > in->view; i--) {
		if (w + wc_cols(in->buf[i - 1]) > width - 1)
			break;
		w += wc_cols(in->buf[i - 1]);
	}
	in->view = i;
	*start = in->view;
	*col = w;
}
