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

/* An empty line and history. */
void
input_init(struct input *in)
{
	memset(in, 0, sizeof *in);
}

/* Free the history. */
void
input_free(struct input *in)
{
	size_t	 i;

	for (i = 0; i < INPUT_HISTORY_MAX; i++)
		free(in->hist[i]);
	free(in->draft);
	memset(in, 0, sizeof *in);
}

/* Copy len wide characters into a new NUL-terminated string. */
static wchar_t *
wdup(const wchar_t *s, size_t len)
{
	wchar_t	*p;

	if ((p = calloc(len + 1, sizeof *p)) == NULL)
		fatal("calloc");
	memcpy(p, s, len * sizeof *p);
	return p;
}

/* Replace the line with s (NULL: empty), cursor at the end. */
static void
input_load(struct input *in, const wchar_t *s)
{
	size_t	 n = s != NULL ? wcslen(s) : 0;

	if (n > INPUT_MAX)
		n = INPUT_MAX;
	if (n > 0)
		memcpy(in->buf, s, n * sizeof *s);
	in->len = in->cur = n;
	in->buf[n] = L'\0';
}

/* Insert a character at the cursor; -1 if the line is full. */
int
input_insert(struct input *in, wchar_t c)
{
	if (in->len >= INPUT_MAX)
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

/*
 * Enter: hand the line out as UTF-8, remember it in the history (unless
 * empty or the same as the newest entry) and start a fresh line.
 */
size_t
input_take(struct input *in, char *out, size_t outsz)
{
	const wchar_t	*last;
	size_t		 n, slot;

	n = input_utf8(in, out, outsz);
	last = input_hist_get(in, 1);
	if (in->len > 0 && (last == NULL || wcslen(last) != in->len ||
	    wmemcmp(last, in->buf, in->len) != 0)) {
		slot = in->hist_head;
		free(in->hist[slot]);
		in->hist[slot] = wdup(in->buf, in->len);
		in->hist_head = (slot + 1) % INPUT_HISTORY_MAX;
		if (in->hist_n < INPUT_HISTORY_MAX)
			in->hist_n++;
	}
	free(in->draft);
	in->draft = NULL;
	in->hist_pos = 0;
	in->len = in->cur = in->view = 0;
	in->buf[0] = L'\0';
	return n;
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
	for (;;) {
		w = 0;
		for (i = in->view; i < in->cur; i++)
			w += wc_cols(in->buf[i]);
		/* Keep one column free for the cursor past the end. */
		if (w <= width - 1 || in->view >= in->cur)
			break;
		in->view++;
	}
	*start = in->view;
	*col = w;
}
