/*
 * Terminal-safe UTF-8: control characters (C0, DEL, C1) never reach the
 * screen, since a peer could otherwise move the cursor or retitle the
 * terminal; widths come from wcwidth() so CJK and emoji line up.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <wchar.h>

#include "text.h"

/* Decode one UTF-8 sequence; returns its length, or 0 if malformed. */
static size_t
utf8_get(const unsigned char *p, size_t len, uint32_t *cp)
{
	size_t		 n, i;
	uint32_t	 c;

	if (len == 0)
		return 0;
	if (p[0] < 0x80) {
		*cp = p[0];
		return 1;
	}
	if (p[0] >= 0xc2 && p[0] <= 0xdf) {
		n = 2;
		c = p[0] & 0x1f;
	} else if (p[0] >= 0xe0 && p[0] <= 0xef) {
		n = 3;
		c = p[0] & 0x0f;
	} else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
		n = 4;
		c = p[0] & 0x07;
	} else
		return 0;
	if (len < n)
		return 0;
	for (i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		c = (c << 6) | (p[i] & 0x3f);
	}
	if ((n == 3 && c < 0x800) || (n == 4 && c < 0x10000) ||
	    c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		return 0;
	*cp = c;
	return n;
}

/* Encode a code point; out needs room for 4 bytes. */
size_t
text_utf8_put(unsigned int cp, char *out)
{
	if (cp < 0x80) {
		out[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		out[0] = (char)(0xc0 | (cp >> 6));
		out[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		out[0] = (char)(0xe0 | (cp >> 12));
		out[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		out[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	out[0] = (char)(0xf0 | (cp >> 18));
	out[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
	out[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
	out[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

/* Columns a code point takes; unprintable ones were replaced already. */
static int
cp_width(uint32_t cp)
{
	int	 w;

	w = wcwidth((wchar_t)cp);
	return w < 0 ? 1 : w;
}

/*
 * The terminal's locale is not UTF-8: show what is beyond ASCII as
 * \uXXXX escapes rather than bytes the terminal would garble.
 */
static int	text_ascii;

/* Escape everything beyond ASCII from now on (or stop). */
void
text_set_ascii(int on)
{
	text_ascii = on;
}

/*
 * Copy in to out (NUL-terminated, cut at a character boundary when out
 * is full): tabs and line ends become spaces (line feeds stay when
 * lines is set, a CR before one goes), other control characters and
 * malformed bytes become '?', and with text_set_ascii() anything beyond
 * ASCII becomes \uXXXX.  Returns the bytes written.
 */
static size_t
text_clean(const char *in, size_t len, char *out, size_t outsz, int lines)
{
	const unsigned char	*p = (const unsigned char *)in;
	size_t			 i = 0, o = 0, n;
	uint32_t		 cp;

	if (outsz == 0)
		return 0;
	while (i < len) {
		n = utf8_get(p + i, len - i, &cp);
		if (n == 0) {
			cp = '?';
			n = 1;
		} else if (lines && cp == '\r' && i + 1 < len &&
		    p[i + 1] == '\n') {
			/* CR LF is one line break: keep the LF only. */
			i++;
			continue;
		} else if (lines && cp == '\n') {
			/* A line break the caller draws as one. */
		} else if (cp == '\t' || cp == '\n' || cp == '\r')
			cp = ' ';
		else if (cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp < 0xa0))
			cp = '?';
		{
			char	 enc[12];
			size_t	 en;

			if (text_ascii && cp >= 0x80)
				en = (size_t)snprintf(enc, sizeof enc,
				    cp > 0xffff ? "\\U%08x" : "\\u%04x",
				    (unsigned)cp);
			else
				en = text_utf8_put(cp, enc);

			if (o + en + 1 > outsz)
				break;
			memcpy(out + o, enc, en);
			o += en;
		}
		i += n;
	}
	out[o] = '\0';
	return o;
}

/* One line of text for the screen: every control character goes. */
size_t
text_sanitize(const char *in, size_t len, char *out, size_t outsz)
{
	return text_clean(in, len, out, outsz, 0);
}

/* Text of several lines (a note with line breaks): line feeds stay. */
size_t
text_sanitize_lines(const char *in, size_t len, char *out, size_t outsz)
{
	return text_clean(in, len, out, outsz, 1);
}

/* Columns the (sanitised) text takes. */
int
text_width(const char *s, size_t len)
{
	const unsigned char	*p = (const unsigned char *)s;
	size_t			 i = 0, n;
	uint32_t		 cp;
	int			 w = 0;

	while (i < len) {
		if ((n = utf8_get(p + i, len - i, &cp)) == 0) {
			n = 1;
			cp = '?';
		}
		w += cp_width(cp);
		i += n;
	}
	return w;
}

/*
 * The longest prefix of s that fits in cols columns, in bytes; *used
 * gets its width.  A wide character that would straddle the edge is
 * left out.
 */
size_t
text_fit(const char *s, size_t len, int cols, int *used)
{
	const unsigned char	*p = (const unsigned char *)s;
	size_t			 i = 0, n;
	uint32_t		 cp;
	int			 w = 0, cw;

	while (i < len) {
		if ((n = utf8_get(p + i, len - i, &cp)) == 0) {
			n = 1;
			cp = '?';
		}
		cw = cp_width(cp);
		if (w + cw > cols)
			break;
		w += cw;
		i += n;
	}
	if (used != NULL)
		*used = w;
	return i;
}

/*
 * Where to break s for a row of cols columns: after the last space that
 * fits, or mid-word when a word alone is wider than the row.  Always at
 * least one character, so a caller looping over rows ends.
 */
size_t
text_wrap(const char *s, size_t len, int cols)
{
	size_t	 fit, i;

	fit = text_fit(s, len, cols, NULL);
	if (fit >= len)
		return len;
	if (fit == 0) {
		uint32_t	 cp;
		size_t		 n;

		n = utf8_get((const unsigned char *)s, len, &cp);
		return n == 0 ? 1 : n;
	}
	if (s[fit] == ' ')
		return fit + 1;
	for (i = fit; i > 0; i--)
		if (s[i - 1] == ' ')
			return i;
	return fit;
}
