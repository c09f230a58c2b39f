/*
 * The input line: a prompt that shows whether we are online, then the
 * visible part of the line; the cursor is left where the caret is.
 */
#include <stdio.h>
#include <string.h>
#include <wchar.h>

#include "input.h"
#include "tui.h"
#include "ui.h"

/* Draw the input line and place the cursor. */
void
pane_input_draw(struct pane *p, struct tui *t)
{
	struct input	*in = &t->input;
	const char	*prompt;
	size_t		 start, i;
	int		 col, x, w, cw;
	cchar_t		 cc;
	wchar_t		 wc[2];

	if (t->paste_ask) {
		char	 q[128];

		snprintf(q, sizeof q, "send the %d pasted lines as one "
		    "message? (y/n) ", t->paste_ask);
		x = ui_put(p->win, 0, 0, p->r.w, q,
		    ui_attr(t->ui, UI_WARN) | A_BOLD);
		t->ui->cursor_y = 0;
		t->ui->cursor_x = x < p->r.w ? x : p->r.w - 1;
		return;
	}
	prompt = t->model.state == LINK_ONLINE ? "> " : "(offline) > ";
	x = ui_put(p->win, 0, 0, p->r.w, prompt,
	    ui_attr(t->ui, t->model.state == LINK_ONLINE ? UI_OK : UI_WARN) |
	    A_BOLD);
	w = p->r.w - x;
	input_view(in, w, &start, &col);
	wmove(p->win, 0, x);
	for (i = start, cw = 0; i < in->len; i++) {
		int	 cwid = wcwidth(in->buf[i]);

		if (cwid < 0)
			cwid = 1;
		if (cw + cwid > w)
			break;
		wc[0] = in->buf[i];
		wc[1] = L'\0';
		if (wc[0] < 0x20 || wc[0] == 0x7f)
			wc[0] = L'?';
		setcchar(&cc, wc, A_NORMAL, 0, NULL);
		wadd_wch(p->win, &cc);
		cw += cwid;
	}
	t->ui->cursor_y = 0;
	t->ui->cursor_x = x + col < p->r.w ? x + col : p->r.w - 1;
}
