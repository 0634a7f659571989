/* Pure geometry and formatting for the explorer (see view.h). No terminal here. */
#include "mpqx/view.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static struct view_rect rect(int y, int x, int h, int w)
{
	struct view_rect r = {y, x, h < 0 ? 0 : h, w < 0 ? 0 : w};
	return r;
}

static struct view_rect centred(int rows, int cols, int h, int w)
{
	if (h > rows - 2)
		h = rows - 2;
	if (w > cols - 2)
		w = cols - 2;
	return rect((rows - h) / 2, (cols - w) / 2, h, w);
}

void view_layout(int rows, int cols, struct view_layout *l)
{
	memset(l, 0, sizeof *l);
	l->too_small = rows < VIEW_MIN_ROWS || cols < VIEW_MIN_COLS;
	if (l->too_small)
		return;
	l->wide = cols >= 140 && rows >= 40;
	l->title = rect(0, 0, 1, cols);
	l->status = rect(rows - 1, 0, 1, cols);
	int body = rows - 2;
	int gw = l->wide ? cols * 48 / 100 : 42 + (cols - 80) / 3;
	l->graph = rect(1, 0, body, gw);
	int rx = gw + 1, rw = cols - rx;
	if (l->wide) {
		/* The selected layer and the meters side by side above a tall accuracy pane. */
		int lw = rw / 2;
		l->layer = rect(1, rx, 10, lw);
		l->meters = rect(1, rx + lw + 1, 10, rw - lw - 1);
		l->accuracy = rect(11, rx, body - 10, rw);
	} else {
		l->layer = rect(1, rx, 8, rw);
		l->meters = rect(9, rx, 7, rw);
		l->accuracy = rect(16, rx, body - 15, rw);
	}
	/* Header row and two rows of figures above the plot, a legend row below. */
	int figs = l->wide ? 4 : 3;
	l->plot = rect(l->accuracy.y + figs, rx, l->accuracy.h - figs - 1, rw);
	l->help = centred(rows, cols, rows - 2, cols > 100 ? 96 : cols - 2);
	l->compare = rect(1, 0, body, cols);
	l->dialog = centred(rows, cols, 12, 64);
	l->prompt = centred(rows, cols, 5, cols > 90 ? 80 : cols - 4);
}

bool view_hit(const struct view_rect *r, int y, int x)
{
	return y >= r->y && y < r->y + r->h && x >= r->x && x < r->x + r->w;
}

char *view_fmt_count(char *buf, size_t size, double v)
{
	double a = fabs(v);
	if (a < 9999.5)
		snprintf(buf, size, "%.0f", v);
	else if (a < 99950)
		snprintf(buf, size, "%.1fk", v / 1e3);
	else if (a < 999500)
		snprintf(buf, size, "%.0fk", v / 1e3);
	else if (a < 9.995e6)
		snprintf(buf, size, "%.2fM", v / 1e6);
	else if (a < 99.95e6)
		snprintf(buf, size, "%.1fM", v / 1e6);
	else
		snprintf(buf, size, "%.0fM", v / 1e6);
	return buf;
}

char *view_fmt_sig(char *buf, size_t size, double v, int sig)
{
	if (!isfinite(v)) {
		snprintf(buf, size, "%s", isnan(v) ? "n/a" : (v > 0 ? "inf" : "-inf"));
		return buf;
	}
	double a = fabs(v);
	if (a != 0 && (a < 1e-4 || a >= 1e6))
		snprintf(buf, size, "%.*e", sig > 1 ? sig - 1 : 0, v);
	else
		snprintf(buf, size, "%.*g", sig, v);
	return buf;
}

char *view_fmt_pct(char *buf, size_t size, double frac)
{
	double p = frac * 100;
	if (p == 0)
		snprintf(buf, size, "0%%");
	else if (p < 0.05)
		snprintf(buf, size, "<0.1%%");
	else if (p < 9.95)
		snprintf(buf, size, "%.1f%%", p);
	else
		snprintf(buf, size, "%.0f%%", p);
	return buf;
}

char *view_fmt_delta(char *buf, size_t size, double rel)
{
	double p = rel * 100;
	if (!isfinite(p))
		snprintf(buf, size, "n/a");
	else if (fabs(p) < 0.05)
		snprintf(buf, size, "+0%%");
	else if (fabs(p) < 9.95)
		snprintf(buf, size, "%+.1f%%", p);
	else
		snprintf(buf, size, "%+.0f%%", p);
	return buf;
}

char *view_fmt_time_us(char *buf, size_t size, double us, bool utf8)
{
	if (us < 1)
		snprintf(buf, size, "%.0f ns", us * 1e3);
	else if (us < 1000)
		snprintf(buf, size, "%.1f %s", us, utf8 ? "\xc2\xb5s" : "us");
	else
		snprintf(buf, size, "%.2f ms", us / 1e3);
	return buf;
}

char *view_fmt_thousands(char *buf, size_t size, long v)
{
	char t[32];
	snprintf(t, sizeof t, "%ld", v < 0 ? -v : v);
	size_t n = strlen(t), o = 0;
	char r[48];
	if (v < 0)
		r[o++] = '-';
	for (size_t i = 0; i < n; i++) {
		if (i && (n - i) % 3 == 0)
			r[o++] = ',';
		r[o++] = t[i];
	}
	r[o] = '\0';
	snprintf(buf, size, "%s", r);
	return buf;
}

struct view_bar view_bar(double frac, int width)
{
	struct view_bar b = {0, 0, false};
	if (width <= 0 || !(frac > 0))
		return b;
	if (frac > 1) {
		b.over = true;
		b.full = width;
		return b;
	}
	long e = lround(frac * width * 8);
	if (e == 0)
		e = 1; /* anything used shows */
	b.full = (int)(e / 8);
	b.eighths = (int)(e % 8);
	return b;
}

/* Appends s to buf at *o, keeping room for the NUL. */
static void put(char *buf, size_t size, size_t *o, const char *s)
{
	size_t n = strlen(s);
	if (*o + n + 1 > size)
		return;
	memcpy(buf + *o, s, n);
	*o += n;
	buf[*o] = '\0';
}

char *view_bar_str(char *buf, size_t size, double frac, int width, bool utf8)
{
	static const char *const part[8] = {"", "\xe2\x96\x8f", "\xe2\x96\x8e", "\xe2\x96\x8d",
					    "\xe2\x96\x8c", "\xe2\x96\x8b", "\xe2\x96\x8a", "\xe2\x96\x89"};
	struct view_bar b = view_bar(frac, width);
	size_t o = 0;
	buf[0] = '\0';
	const char *fill = b.over ? (utf8 ? "\xe2\x96\x93" : "!") : (utf8 ? "\xe2\x96\x88" : "#");
	for (int i = 0; i < b.full; i++)
		put(buf, size, &o, fill);
	int used = b.full;
	if (b.eighths) {
		put(buf, size, &o, utf8 ? part[b.eighths] : "=");
		used++;
	}
	for (int i = used; i < width; i++)
		put(buf, size, &o, utf8 ? "\xe2\x96\x91" : ".");
	return buf;
}

int view_slider_knob(int v, int lo, int hi, int width)
{
	if (width <= 1 || hi <= lo)
		return 0;
	if (v < lo)
		v = lo;
	if (v > hi)
		v = hi;
	return (int)lround((double)(v - lo) * (width - 1) / (hi - lo));
}

int view_slider_value(int cell, int lo, int hi, int width)
{
	if (width <= 1 || hi <= lo)
		return lo;
	if (cell < 0)
		cell = 0;
	if (cell > width - 1)
		cell = width - 1;
	return lo + (int)lround((double)cell * (hi - lo) / (width - 1));
}

char *view_slider_str(char *buf, size_t size, int v, int lo, int hi, int width, bool utf8)
{
	int k = view_slider_knob(v, lo, hi, width);
	size_t o = 0;
	buf[0] = '\0';
	for (int i = 0; i < width; i++) {
		if (i == k)
			put(buf, size, &o, utf8 ? "\xe2\x97\x8f" : "O");
		else if (i < k)
			put(buf, size, &o, utf8 ? "\xe2\x94\x81" : "=");
		else
			put(buf, size, &o, utf8 ? "\xe2\x94\x80" : "-");
	}
	return buf;
}

int view_graph_lanes(const struct mpqx_model *m, unsigned char *lanes)
{
	int n = m->n_layers;
	memset(lanes, 0, (size_t)n * VIEW_LANES_MAX);
	int busy_until[VIEW_LANES_MAX]; /* last row a lane is taken */
	for (int j = 0; j < VIEW_LANES_MAX; j++)
		busy_until[j] = -1;
	int used = 0;
	for (int src = 0; src < n; src++) {
		/* The consumers of src other than the next layer, in order. */
		int last = -1;
		for (int d = src + 2; d < n; d++)
			for (int i = 0; i < m->layers[d].n_inputs; i++)
				if (m->layers[d].inputs[i] == src)
					last = d;
		if (last < 0)
			continue;
		int lane = -1;
		for (int j = 0; j < VIEW_LANES_MAX && lane < 0; j++)
			if (busy_until[j] < src)
				lane = j;
		if (lane < 0)
			continue;
		busy_until[lane] = last;
		if (lane + 1 > used)
			used = lane + 1;
		lanes[src * VIEW_LANES_MAX + lane] = VIEW_L_START;
		for (int r = src + 1; r <= last; r++) {
			bool tap = false;
			for (int i = 0; i < m->layers[r].n_inputs; i++)
				if (m->layers[r].inputs[i] == src && r >= src + 2)
					tap = true;
			lanes[r * VIEW_LANES_MAX + lane] = r == last ? VIEW_L_END : tap ? VIEW_L_TAP : VIEW_L_VERT;
		}
	}
	/* Connections from a lane's start, taps and end run to the node across the lanes nearer to it. */
	for (int r = 0; r < n; r++) {
		unsigned char *row = lanes + r * VIEW_LANES_MAX;
		int outer = -1;
		for (int j = 0; j < used; j++)
			if (row[j] == VIEW_L_START || row[j] == VIEW_L_TAP || row[j] == VIEW_L_END)
				outer = j;
		for (int j = 0; j < outer; j++) {
			if (row[j] == VIEW_L_NONE)
				row[j] = VIEW_L_HORIZ;
			else if (row[j] == VIEW_L_VERT)
				row[j] = VIEW_L_CROSS;
		}
	}
	return used;
}

char *view_lanes_str(char *buf, size_t size, const unsigned char *row, int n, bool utf8)
{
	static const char *const u[] = {" ", "\xe2\x94\x82", "\xe2\x95\xad", "\xe2\x94\x9c", "\xe2\x95\xb0",
					"\xe2\x94\x80", "\xe2\x94\xbc"};
	static const char *const a[] = {" ", "|", ",", "+", "`", "-", "+"};
	size_t o = 0;
	buf[0] = '\0';
	for (int j = n - 1; j >= 0; j--)
		put(buf, size, &o, (utf8 ? u : a)[row[j] <= VIEW_L_CROSS ? row[j] : 0]);
	return buf;
}

/* Braille dot bit of sub-column c (0, 1) and sub-row r (0..3, top first). */
static unsigned char braille_bit(int c, int r)
{
	static const unsigned char bits[2][4] = {{0x01, 0x02, 0x04, 0x40}, {0x08, 0x10, 0x20, 0x80}};
	return bits[c][r];
}

void view_plot(const double *const *ys, int n_series, int n, double lo, double hi, int w, int h, bool braille,
	       struct view_cell *cells)
{
	memset(cells, 0, sizeof *cells * (size_t)(w > 0 && h > 0 ? w * h : 0));
	if (w <= 0 || h <= 0 || n <= 0 || !(hi > lo))
		return;
	int sx = braille ? 2 : 1, sy = braille ? 4 : 1;
	int W = w * sx, H = h * sy;
	for (int k = 0; k < n_series && k < 8; k++) {
		int prev = -1;
		for (int px = 0; px < W; px++) {
			/* The points of column px: one per column, or their mean when there are more points. */
			long a = (long)px * n / W, b = (long)(px + 1) * n / W;
			if (b <= a)
				b = a + 1;
			if (a >= n)
				break;
			double sum = 0;
			int cnt = 0;
			for (long i = a; i < b && i < n; i++)
				if (!isnan(ys[k][i])) {
					sum += ys[k][i];
					cnt++;
				}
			if (!cnt) {
				prev = -1;
				continue;
			}
			double v = sum / cnt;
			int py = (int)lround((hi - v) / (hi - lo) * (H - 1));
			if (py < 0)
				py = 0;
			if (py > H - 1)
				py = H - 1;
			/* Join to the previous column so a line stays connected. */
			int y0 = py, y1 = py;
			if (prev >= 0 && braille) {
				if (prev < py)
					y0 = prev + 1;
				else if (prev > py)
					y1 = prev - 1;
			}
			for (int y = y0; y <= y1; y++) {
				struct view_cell *c = &cells[(y / sy) * w + px / sx];
				if (braille)
					c->dots |= braille_bit(px % 2, y % 4);
				c->series |= (unsigned char)(1u << k);
			}
			prev = py;
		}
	}
}

int view_cell_top(const struct view_cell *c)
{
	for (int k = 7; k >= 0; k--)
		if (c->series & (1u << k))
			return k;
	return -1;
}

char *view_cell_str(char *buf, size_t size, const struct view_cell *c, bool braille)
{
	if (braille) {
		if (!c->dots) {
			snprintf(buf, size, " ");
			return buf;
		}
		unsigned cp = 0x2800u + c->dots;
		char t[4] = {(char)(0xe0 | (cp >> 12)), (char)(0x80 | ((cp >> 6) & 0x3f)), (char)(0x80 | (cp & 0x3f)),
			     0};
		snprintf(buf, size, "%s", t);
		return buf;
	}
	static const char marks[] = ".o*";
	int k = view_cell_top(c);
	snprintf(buf, size, "%c", k < 0 ? ' ' : k < 3 ? marks[k] : '#');
	return buf;
}

void view_compare_cols(int w, int n, int *name_w, int *col_w)
{
	int nw = 14;
	int cw = n > 0 ? (w - nw) / n : 0;
	if (cw > 22)
		cw = 22;
	if (cw < 8)
		cw = 8;
	*name_w = nw;
	*col_w = cw;
}

int view_ticks(double lo, double hi, int max, double *ticks)
{
	if (!(hi > lo) || !isfinite(lo) || !isfinite(hi) || max < 1)
		return 0;
	double span = hi - lo, p = pow(10, floor(log10(span)));
	static const double mult[] = {0.1, 0.2, 0.5, 1, 2, 5, 10};
	for (size_t k = 0; k < sizeof mult / sizeof mult[0]; k++) {
		double step = p * mult[k];
		double first = ceil(lo / step - 1e-9) * step;
		int n = (int)floor((hi - first) / step + 1e-9) + 1;
		if (n <= max && n >= 1) {
			for (int i = 0; i < n; i++) {
				double v = first + i * step;
				ticks[i] = fabs(v) < step * 1e-9 ? 0 : v;
			}
			return n;
		}
	}
	ticks[0] = lo;
	return 1;
}

int view_width(const char *s)
{
	int n = 0;
	for (; *s; s++)
		if (((unsigned char)*s & 0xc0) != 0x80)
			n++;
	return n;
}

char *view_short_name(char *buf, size_t size, const char *name, int w, bool utf8)
{
	char tmp[256];
	snprintf(tmp, sizeof tmp, "%s", name);
	if (w < 1 || size < 2) {
		if (size)
			buf[0] = '\0';
		return buf;
	}
	/* Cut leading parts to their first letter, left to right, while too long and a dot follows. */
	char *p = tmp;
	while ((int)strlen(tmp) > w) {
		char *dot = strchr(p, '.');
		if (!dot)
			break;
		if (dot > p + 1)
			memmove(p + 1, dot, strlen(dot) + 1);
		p += 2;
	}
	int n = (int)strlen(tmp);
	if (n <= w) {
		snprintf(buf, size, "%s", tmp);
		return buf;
	}
	const char *ell = utf8 ? "\xe2\x80\xa6" : "~";
	if (w == 1) {
		snprintf(buf, size, "%s", ell);
		return buf;
	}
	snprintf(buf, size, "%s%s", ell, tmp + n - (w - 1));
	return buf;
}

char *view_fit(char *buf, size_t size, const char *s, int w)
{
	size_t o = 0;
	int cells = 0;
	buf[0] = '\0';
	for (const char *p = s; *p && cells <= w;) {
		size_t len = 1;
		while ((p[len] & 0xc0) == 0x80)
			len++;
		if (cells == w)
			break;
		if (o + len + 1 > size)
			break;
		memcpy(buf + o, p, len);
		o += len;
		cells++;
		p += len;
	}
	while (cells < w && o + 2 <= size) {
		buf[o++] = ' ';
		cells++;
	}
	buf[o] = '\0';
	return buf;
}
