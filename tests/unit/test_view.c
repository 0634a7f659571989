/* The explorer's pure functions: layout, number formats, bars, sliders, graph lanes, plot cells, themes. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "mpqx/theme.h"
#include "mpqx/view.h"

static bool inside(const struct view_rect *in, const struct view_rect *out)
{
	return in->y >= out->y && in->x >= out->x && in->y + in->h <= out->y + out->h && in->x + in->w <= out->x + out->w;
}

static bool overlap(const struct view_rect *a, const struct view_rect *b)
{
	return a->x < b->x + b->w && b->x < a->x + a->w && a->y < b->y + b->h && b->y < a->y + a->h;
}

static void test_layout(void **state)
{
	(void)state;
	struct view_layout l;
	view_layout(23, 80, &l);
	assert_true(l.too_small);
	view_layout(24, 79, &l);
	assert_true(l.too_small);
	int sizes[][2] = {{24, 80}, {48, 160}, {30, 100}, {60, 250}, {24, 200}};
	for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
		int rows = sizes[i][0], cols = sizes[i][1];
		view_layout(rows, cols, &l);
		assert_false(l.too_small);
		struct view_rect screen = {0, 0, rows, cols};
		const struct view_rect *panes[] = {&l.title, &l.status, &l.graph, &l.layer, &l.meters, &l.accuracy};
		for (size_t a = 0; a < 6; a++) {
			assert_true(inside(panes[a], &screen));
			assert_true(panes[a]->h > 0 && panes[a]->w > 0);
			for (size_t b = a + 1; b < 6; b++)
				assert_false(overlap(panes[a], panes[b]));
		}
		assert_true(inside(&l.plot, &l.accuracy));
		assert_true(l.plot.h >= 3);
		assert_true(l.meters.h >= 7);
		assert_true(l.layer.h >= 8);
		assert_true(inside(&l.help, &screen) && inside(&l.dialog, &screen) && inside(&l.prompt, &screen));
		/* Every row of the body is used: graph reaches the status bar. */
		assert_int_equal(l.graph.y + l.graph.h, l.status.y);
		assert_int_equal(l.accuracy.y + l.accuracy.h, l.status.y);
	}
	view_layout(24, 80, &l);
	assert_false(l.wide);
	assert_true(l.graph.w >= 42 && l.meters.w >= 35);
	view_layout(48, 160, &l);
	assert_true(l.wide);
	struct view_rect r = {2, 3, 4, 5};
	assert_true(view_hit(&r, 2, 3));
	assert_true(view_hit(&r, 5, 7));
	assert_false(view_hit(&r, 6, 3));
	assert_false(view_hit(&r, 2, 8));
}

static void test_formats(void **state)
{
	(void)state;
	char b[64];
	assert_string_equal(view_fmt_count(b, sizeof b, 987), "987");
	assert_string_equal(view_fmt_count(b, sizeof b, 9876), "9876");
	assert_string_equal(view_fmt_count(b, sizeof b, 16000), "16.0k");
	assert_string_equal(view_fmt_count(b, sizeof b, 98760), "98.8k");
	assert_string_equal(view_fmt_count(b, sizeof b, 987600), "988k");
	assert_string_equal(view_fmt_count(b, sizeof b, 9876000), "9.88M");
	assert_string_equal(view_fmt_count(b, sizeof b, 0), "0");
	assert_string_equal(view_fmt_sig(b, sizeof b, 0.0054321, 3), "0.00543");
	assert_string_equal(view_fmt_sig(b, sizeof b, 1.5e-6, 3), "1.50e-06");
	assert_string_equal(view_fmt_sig(b, sizeof b, NAN, 3), "n/a");
	assert_string_equal(view_fmt_pct(b, sizeof b, 0.394), "39%");
	assert_string_equal(view_fmt_pct(b, sizeof b, 0.004), "0.4%");
	assert_string_equal(view_fmt_pct(b, sizeof b, 0), "0%");
	assert_string_equal(view_fmt_pct(b, sizeof b, 0.0001), "<0.1%");
	assert_string_equal(view_fmt_pct(b, sizeof b, 1.093), "109%");
	assert_string_equal(view_fmt_delta(b, sizeof b, 0.004), "+0.4%");
	assert_string_equal(view_fmt_delta(b, sizeof b, -0.12), "-12%");
	assert_string_equal(view_fmt_delta(b, sizeof b, 0.0001), "+0%");
	assert_string_equal(view_fmt_time_us(b, sizeof b, 0.5, false), "500 ns");
	assert_string_equal(view_fmt_time_us(b, sizeof b, 123.44, false), "123.4 us");
	assert_string_equal(view_fmt_time_us(b, sizeof b, 123.44, true), "123.4 \xc2\xb5s");
	assert_string_equal(view_fmt_time_us(b, sizeof b, 12345, false), "12.35 ms");
	assert_string_equal(view_fmt_thousands(b, sizeof b, 12345), "12,345");
	assert_string_equal(view_fmt_thousands(b, sizeof b, -1234567), "-1,234,567");
	assert_string_equal(view_fmt_thousands(b, sizeof b, 999), "999");
	/* Never past the buffer. */
	char small[4];
	view_fmt_thousands(small, sizeof small, 1234567);
	assert_int_equal(strlen(small), 3);
}

static void test_bar(void **state)
{
	(void)state;
	struct view_bar b = view_bar(0.5, 10);
	assert_int_equal(b.full, 5);
	assert_int_equal(b.eighths, 0);
	assert_false(b.over);
	b = view_bar(0.55, 10);
	assert_int_equal(b.full, 5);
	assert_int_equal(b.eighths, 4);
	b = view_bar(0.0001, 10); /* anything used shows */
	assert_int_equal(b.full * 8 + b.eighths, 1);
	b = view_bar(0, 10);
	assert_int_equal(b.full + b.eighths, 0);
	b = view_bar(1.0, 10);
	assert_int_equal(b.full, 10);
	assert_false(b.over);
	b = view_bar(1.3, 10);
	assert_int_equal(b.full, 10);
	assert_true(b.over);
	char s[256];
	assert_string_equal(view_bar_str(s, sizeof s, 0.5, 4, false), "##..");
	assert_string_equal(view_bar_str(s, sizeof s, 0.55, 4, false), "##=.");
	assert_string_equal(view_bar_str(s, sizeof s, 1.2, 4, false), "!!!!");
	assert_string_equal(view_bar_str(s, sizeof s, 0.5, 2, true), "\xe2\x96\x88\xe2\x96\x91");
	/* Over capacity has its own glyph, so it stays visible without colour. */
	assert_string_equal(view_bar_str(s, sizeof s, 1.2, 2, true), "\xe2\x96\x93\xe2\x96\x93");
	assert_int_equal(view_width(view_bar_str(s, sizeof s, 0.37, 13, true)), 13);
}

static void test_slider(void **state)
{
	(void)state;
	assert_int_equal(view_slider_knob(2, 2, 16, 15), 0);
	assert_int_equal(view_slider_knob(16, 2, 16, 15), 14);
	assert_int_equal(view_slider_knob(9, 2, 16, 15), 7);
	assert_int_equal(view_slider_knob(99, 2, 16, 15), 14);
	for (int w = 2; w < 40; w++)
		for (int v = 2; v <= 16; v++) {
			int k = view_slider_knob(v, 2, 16, w);
			assert_true(k >= 0 && k < w);
			if (w >= 15)
				assert_int_equal(view_slider_value(k, 2, 16, w), v);
		}
	assert_int_equal(view_slider_value(-5, 2, 16, 15), 2);
	assert_int_equal(view_slider_value(500, 2, 16, 15), 16);
	char s[256];
	assert_string_equal(view_slider_str(s, sizeof s, 9, 2, 16, 15, false), "=======O-------");
	assert_int_equal(view_width(view_slider_str(s, sizeof s, 9, 2, 16, 15, true)), 15);
}

static void test_lanes(void **state)
{
	(void)state;
	/* input -> a -> b -> c(add of a and b) -> d -> e(add of c and d): two skip edges. */
	struct mpqx_layer ls[6];
	memset(ls, 0, sizeof ls);
	int inputs[6][2] = {{-1, -1}, {0, -1}, {1, -1}, {1, 2}, {3, -1}, {3, 4}};
	for (int i = 0; i < 6; i++) {
		snprintf(ls[i].name, sizeof ls[i].name, "l%d", i);
		for (int k = 0; k < 2; k++)
			if (inputs[i][k] >= 0)
				ls[i].inputs[ls[i].n_inputs++] = inputs[i][k];
	}
	struct mpqx_model m;
	memset(&m, 0, sizeof m);
	m.n_layers = 6;
	m.layers = ls;
	unsigned char lanes[6 * VIEW_LANES_MAX];
	int n = view_graph_lanes(&m, lanes);
	/* c ends one lane and starts the next on the same row: two lanes. */
	assert_int_equal(n, 2);
	assert_int_equal(lanes[1 * VIEW_LANES_MAX], VIEW_L_START);
	assert_int_equal(lanes[2 * VIEW_LANES_MAX], VIEW_L_VERT);
	assert_int_equal(lanes[3 * VIEW_LANES_MAX], VIEW_L_END);
	assert_int_equal(lanes[3 * VIEW_LANES_MAX + 1], VIEW_L_START);
	assert_int_equal(lanes[4 * VIEW_LANES_MAX + 1], VIEW_L_VERT);
	assert_int_equal(lanes[5 * VIEW_LANES_MAX + 1], VIEW_L_END);
	assert_int_equal(lanes[4 * VIEW_LANES_MAX], VIEW_L_NONE);
	assert_int_equal(lanes[0], VIEW_L_NONE);
	char s[64];
	assert_string_equal(view_lanes_str(s, sizeof s, lanes + 1 * VIEW_LANES_MAX, n, false), " ,");
	assert_string_equal(view_lanes_str(s, sizeof s, lanes + 3 * VIEW_LANES_MAX, n, false), ",`");
	assert_string_equal(view_lanes_str(s, sizeof s, lanes + 5 * VIEW_LANES_MAX, n, false), "`-");
	/* Overlapping edges take two lanes, the outer one crossing the inner one. */
	ls[5].inputs[0] = 1; /* e now adds a and d: a's lane spans 1..5 */
	n = view_graph_lanes(&m, lanes);
	assert_int_equal(n, 1); /* same source: one lane with a tap */
	assert_int_equal(lanes[3 * VIEW_LANES_MAX], VIEW_L_TAP);
	ls[4].inputs[0] = 2; /* d reads b: b's lane spans 2..4 inside a's */
	n = view_graph_lanes(&m, lanes);
	assert_int_equal(n, 2);
	assert_int_equal(lanes[2 * VIEW_LANES_MAX + 1], VIEW_L_START);
	assert_int_equal(lanes[2 * VIEW_LANES_MAX + 0], VIEW_L_CROSS);
	assert_string_equal(view_lanes_str(s, sizeof s, lanes + 2 * VIEW_LANES_MAX, n, false), ",+");
}

static void test_plot(void **state)
{
	(void)state;
	double a[8] = {0, 1, 2, 3, 4, 5, 6, 7}, b[8];
	for (int i = 0; i < 8; i++)
		b[i] = 7 - i;
	const double *ys[2] = {a, b};
	struct view_cell c[4 * 2];
	/* Character mode: one point a cell, 8 points over 4 cells average in pairs. */
	view_plot(ys, 2, 8, 0, 7, 4, 2, false, c);
	int marked = 0;
	for (int i = 0; i < 8; i++)
		if (c[i].series)
			marked++;
	assert_true(marked >= 4);
	/* Rising series 0: bottom-left and top-right. */
	assert_true(c[1 * 4 + 0].series & 1);
	assert_true(c[0 * 4 + 3].series & 1);
	assert_true(c[0 * 4 + 0].series & 2);
	char s[8];
	assert_string_equal(view_cell_str(s, sizeof s, &c[1 * 4 + 0], false), ".");
	assert_string_equal(view_cell_str(s, sizeof s, &c[0 * 4 + 0], false), "o");
	struct view_cell e = {0, 0};
	assert_string_equal(view_cell_str(s, sizeof s, &e, false), " ");
	assert_int_equal(view_cell_top(&e), -1);
	/* Braille: 2 x 4 dots a cell, lines joined vertically. */
	struct view_cell bc[4 * 2];
	view_plot(ys, 1, 8, 0, 7, 4, 2, true, bc);
	assert_int_equal(bc[1 * 4 + 0].dots & 0x40, 0x40); /* first point: left column, bottom dot */
	assert_int_equal(bc[0 * 4 + 3].dots & 0x08, 0x08); /* last point: right column, top dot */
	view_cell_str(s, sizeof s, &bc[0 * 4 + 3], true);
	assert_int_equal((unsigned char)s[0], 0xe2);
	/* NaN points are skipped; an empty range draws nothing. */
	double nan8[8];
	for (int i = 0; i < 8; i++)
		nan8[i] = NAN;
	const double *ns[1] = {nan8};
	view_plot(ns, 1, 8, 0, 7, 4, 2, true, bc);
	for (int i = 0; i < 8; i++)
		assert_int_equal(bc[i].dots, 0);
	view_plot(ys, 1, 8, 3, 3, 4, 2, true, bc);
	for (int i = 0; i < 8; i++)
		assert_int_equal(bc[i].series, 0);
}

static void test_fit(void **state)
{
	(void)state;
	char b[64];
	assert_string_equal(view_fit(b, sizeof b, "abc", 5), "abc  ");
	assert_string_equal(view_fit(b, sizeof b, "abcdef", 3), "abc");
	assert_string_equal(view_fit(b, sizeof b, "\xe2\x94\x80\xe2\x94\x80x", 2), "\xe2\x94\x80\xe2\x94\x80");
	assert_int_equal(view_width("\xe2\x94\x80\xc2\xb5s"), 3);
	int nw, cw;
	view_compare_cols(80, 5, &nw, &cw);
	assert_true(nw + 5 * cw <= 80);
	assert_true(cw >= 8);
}

static void test_themes(void **state)
{
	(void)state;
	struct mpqx_theme builtin, t;
	struct mpqx_err err = {0};
	theme_builtin(&builtin);
	/* themes/default.ini says exactly what the built-in default does. */
	assert_int_equal(theme_load(SRC_DIR "/themes/default.ini", &t, &err), 0);
	assert_string_equal(t.name, "default");
	for (int d = 0; d < MPQX_DEPTH_COUNT; d++)
		for (int r = 0; r < MPQX_TH_COUNT; r++) {
			const struct mpqx_style *x = &t.style[d][r], *y = &builtin.style[d][r];
			if (x->fg != y->fg || x->bg != y->bg || x->attrs != y->attrs)
				fail_msg("default.ini differs from the built-in theme at depth %d role %s", d,
					 theme_role_name((enum mpqx_theme_role)r));
		}
	assert_int_equal(theme_load(SRC_DIR "/themes/mono.ini", &t, &err), 0);
	assert_int_equal(t.style[MPQX_DEPTH_256][MPQX_TH_OVER].fg, MPQX_COLOR_DEFAULT);
	assert_true(t.style[MPQX_DEPTH_256][MPQX_TH_OVER].attrs & MPQX_ATTR_REVERSE);
	assert_int_equal(theme_load(SRC_DIR "/themes/light.ini", &t, &err), 0);
	assert_int_equal(t.style[MPQX_DEPTH_256][MPQX_TH_NORMAL].bg, 255);
	/* Errors name the file, the line and what was expected. */
	char path[] = "/tmp/mpqx-theme-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	const char *bad = "[256]\nnormal = 1 2\nover = 300 1\n";
	assert_true(write(fd, bad, strlen(bad)) == (ssize_t)strlen(bad));
	close(fd);
	assert_int_equal(theme_load(path, &t, &err), MPQX_EINPUT);
	assert_non_null(strstr(err.msg, path));
	assert_non_null(strstr(err.msg, "line 3"));
	assert_non_null(strstr(err.msg, "0..255"));
	FILE *f = fopen(path, "w");
	fputs("[256]\nshiny = 1 2\n", f);
	fclose(f);
	assert_int_equal(theme_load(path, &t, &err), MPQX_EINPUT);
	assert_non_null(strstr(err.msg, "unknown role"));
	f = fopen(path, "w");
	fputs("[mono]\nover = red\n", f);
	fclose(f);
	assert_int_equal(theme_load(path, &t, &err), MPQX_EINPUT);
	f = fopen(path, "w");
	fputs("[colours]\nover = red\n", f);
	fclose(f);
	assert_int_equal(theme_load(path, &t, &err), MPQX_EINPUT);
	assert_non_null(strstr(err.msg, "section"));
	unlink(path);
	assert_int_equal(theme_load("/nonexistent/x.ini", &t, &err), MPQX_EIO);
	/* Lookup: the user's directory first, then the bundled one. */
	char dir[] = "/tmp/mpqx-xdg-XXXXXX";
	assert_non_null(mkdtemp(dir));
	char sub[256], file[300], out[512];
	snprintf(sub, sizeof sub, "%s/mpqx", dir);
	mkdir(sub, 0700);
	snprintf(sub, sizeof sub, "%s/mpqx/themes", dir);
	mkdir(sub, 0700);
	snprintf(file, sizeof file, "%s/light.ini", sub);
	f = fopen(file, "w");
	fputs("[256]\nnormal = 1 2\n", f);
	fclose(f);
	setenv("XDG_CONFIG_HOME", dir, 1);
	assert_int_equal(theme_find("light", SRC_DIR "/themes", out, sizeof out), 0);
	assert_string_equal(out, file);
	assert_int_equal(theme_find("mono", SRC_DIR "/themes", out, sizeof out), 0);
	assert_string_equal(out, SRC_DIR "/themes/mono.ini");
	assert_int_equal(theme_find("nope", SRC_DIR "/themes", out, sizeof out), -1);
	unlink(file);
	rmdir(sub);
	snprintf(sub, sizeof sub, "%s/mpqx", dir);
	rmdir(sub);
	rmdir(dir);
}

static void test_ticks(void **state)
{
	(void)state;
	double t[16];
	int n = view_ticks(5233, 7855, 6, t);
	assert_true(n >= 2 && n <= 6);
	for (int i = 0; i < n; i++) {
		assert_true(t[i] >= 5233 && t[i] <= 7855);
		assert_true(fmod(t[i], 500) == 0);
		if (i)
			assert_true(t[i] > t[i - 1]);
	}
	assert_true(t[0] == 5500 && t[n - 1] == 7500);
	n = view_ticks(0, 10, 6, t);
	assert_int_equal(n, 6);
	assert_true(t[0] == 0 && t[5] == 10);
	n = view_ticks(1251.2, 1291.6, 4, t);
	assert_true(n >= 2 && n <= 4);
	assert_true(t[0] == 1260 && t[n - 1] == 1290);
	n = view_ticks(0.5, 0.8, 4, t);
	assert_true(n >= 2 && fabs(t[0] - 0.5) < 1e-12);
	assert_int_equal(view_ticks(3, 3, 5, t), 0);
	assert_int_equal(view_ticks(3, 2, 5, t), 0);
}

static void test_short_name(void **state)
{
	(void)state;
	char b[128];
	const char *n = "encoder.encoder_layers.1.mha.linear_q";
	assert_string_equal(view_short_name(b, sizeof b, n, 40, true), n);
	assert_string_equal(view_short_name(b, sizeof b, n, 31, true), "e.encoder_layers.1.mha.linear_q");
	assert_string_equal(view_short_name(b, sizeof b, n, 26, true), "e.e.1.mha.linear_q");
	assert_string_equal(view_short_name(b, sizeof b, n, 16, true), "e.e.1.m.linear_q");
	assert_int_equal(view_width(view_short_name(b, sizeof b, n, 14, true)), 14);
	assert_string_equal(view_short_name(b, sizeof b, n, 14, true), "\xe2\x80\xa6" ".1.m.linear_q");
	assert_string_equal(view_short_name(b, sizeof b, n, 8, false), "~inear_q");
	assert_string_equal(view_short_name(b, sizeof b, "enc0.q", 6, false), "enc0.q");
	assert_int_equal(view_width(view_short_name(b, sizeof b, "a..b", 3, false)), 3);
	assert_string_equal(view_short_name(b, sizeof b, "abcdef", 1, true), "\xe2\x80\xa6");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_layout), cmocka_unit_test(test_formats), cmocka_unit_test(test_bar),
		cmocka_unit_test(test_slider), cmocka_unit_test(test_lanes),   cmocka_unit_test(test_plot),
		cmocka_unit_test(test_fit),    cmocka_unit_test(test_themes), cmocka_unit_test(test_short_name), cmocka_unit_test(test_ticks),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
