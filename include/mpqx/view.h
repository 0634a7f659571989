/* Pure functions behind the explorer's panes: screen geometry, bar and slider shapes, graph lanes, plot
 * cells and number formats. The terminal code only paints what these return; all are unit-tested. */
#ifndef MPQX_VIEW_H
#define MPQX_VIEW_H

#include <stdbool.h>
#include <stddef.h>

#include "mpqx/model.h"

#define VIEW_MIN_ROWS 24
#define VIEW_MIN_COLS 80
#define VIEW_PLOT_LABEL_W 6 /* the y-axis labels left of the plot */

struct view_rect {
	int y, x, h, w;
};

struct view_layout {
	bool too_small;
	bool wide; /* room for the per-layer resource columns and a side-by-side right column */
	struct view_rect title, status;
	struct view_rect graph;    /* header row included */
	struct view_rect layer;    /* the selected layer */
	struct view_rect meters;
	struct view_rect accuracy; /* figures and the plot below them */
	struct view_rect plot;     /* the plot area inside accuracy */
	struct view_rect help, compare, dialog, prompt; /* overlays */
};

/* Splits a rows x cols screen into panes. */
void view_layout(int rows, int cols, struct view_layout *l);

/* true when (y, x) lies in r. */
bool view_hit(const struct view_rect *r, int y, int x);

/* Number formats, written into buf (always NUL-terminated) and returned. */
/* A count in at most 5 characters: 987, 9876, 98.8k, 988k, 9.88M. */
char *view_fmt_count(char *buf, size_t size, double v);
/* A value with sig significant digits, plain or in exponent form when very small or large. */
char *view_fmt_sig(char *buf, size_t size, double v, int sig);
/* A fraction as a percentage: 0.394 -> "39%", 0.004 -> "0.4%", 0 -> "0%", 1.093 -> "109%". */
char *view_fmt_pct(char *buf, size_t size, double frac);
/* A signed relative change in percent: "+0.4%", "-12%", "+0%" for tiny ones. */
char *view_fmt_delta(char *buf, size_t size, double rel);
/* A duration in microseconds: "812 ns", "123.4 us", "12.35 ms" (ASCII "us" unless utf8: "µs"). */
char *view_fmt_time_us(char *buf, size_t size, double us, bool utf8);
/* A number with thousands separators: 12345 -> "12,345". */
char *view_fmt_thousands(char *buf, size_t size, long v);

/* A horizontal bar of width cells for a fraction of capacity. full cells are filled, then a partial cell
 * of eighths/8 when eighths > 0; over is set when frac > 1 (the whole bar is then full). */
struct view_bar {
	int full, eighths;
	bool over;
};
struct view_bar view_bar(double frac, int width);

/* The bar as text: filled, partial and empty glyphs (UTF-8 blocks, or '#', '=' and '.'); an over-capacity
 * bar is drawn with its own glyph ('▓' or '!') so it stays distinct without colour. */
char *view_bar_str(char *buf, size_t size, double frac, int width, bool utf8);

/* A slider of width cells for v in [lo, hi]: the knob's cell, and the value a cell stands for. */
int view_slider_knob(int v, int lo, int hi, int width);
int view_slider_value(int cell, int lo, int hi, int width);
/* The slider as text: a track with the knob ('━━━●───' or '===O---'). */
char *view_slider_str(char *buf, size_t size, int v, int lo, int hi, int width, bool utf8);

/* Lanes of the layer graph: the edges that do not go from a layer to the next one (residual and fan-out
 * edges) are drawn as vertical lanes left of the layer names, one lane per source layer. */
#define VIEW_LANES_MAX 8
enum view_lane {
	VIEW_L_NONE,
	VIEW_L_VERT,  /* the lane passes this row */
	VIEW_L_START, /* the lane's source layer: it leaves here */
	VIEW_L_TAP,   /* a consumer in the middle of the lane */
	VIEW_L_END,   /* the last consumer */
	VIEW_L_HORIZ, /* a connection to the node crossing an empty lane */
	VIEW_L_CROSS, /* a connection crossing a vertical lane */
};
/* Fills lanes[l * VIEW_LANES_MAX + j] for every layer l and lane j (lane 0 nearest the names) and returns
 * the lane count. Edges that need more than VIEW_LANES_MAX lanes are left out. */
int view_graph_lanes(const struct mpqx_model *m, unsigned char *lanes);
/* Row l of the lanes as text, n lanes wide, the outermost lane first. */
char *view_lanes_str(char *buf, size_t size, const unsigned char *row, int n, bool utf8);

/* A plot of up to 3 series over n points into w x h cells: braille (2 x 4 dots a cell) or one point a cell.
 * Series k's points are ys[k][0..n), drawn between lo and hi; NaN points are skipped. */
struct view_cell {
	unsigned char dots;   /* braille dot bits (U+2800 + dots) */
	unsigned char series; /* bit k: series k touches the cell */
};
void view_plot(const double *const *ys, int n_series, int n, double lo, double hi, int w, int h, bool braille,
	       struct view_cell *cells);
/* The glyph of a cell: a braille character, or in character mode the mark of the highest series present
 * ("." "o" "*" for series 0, 1, 2), or a space. */
char *view_cell_str(char *buf, size_t size, const struct view_cell *c, bool braille);
/* The highest series present in a cell, or -1. */
int view_cell_top(const struct view_cell *c);

/* Columns of the compare view: width of the name column and of each of n value columns in w cells. */
void view_compare_cols(int w, int n, int *name_w, int *col_w);

/* Round tick values for an axis from lo to hi: multiples of 1, 2 or 5 times a power of ten, at most max of
 * them, all within [lo, hi]. Returns the count written into ticks (0 when the range is empty). */
int view_ticks(double lo, double hi, int max, double *ticks);

/* Number of display cells of a UTF-8 string (every code point counts one). */
int view_width(const char *s);

/* A layer name shortened to at most w display cells, into buf: unchanged when it fits; else its leading
 * dot-separated parts are cut to their first letter from the left (encoder.encoder_layers.1.mha.linear_q ->
 * e.e.1.mha.linear_q), and if that is still too long, its end is kept behind an ellipsis ("..." without
 * UTF-8: "~"). Imported models name layers by their module paths, whose end tells them apart. */
char *view_short_name(char *buf, size_t size, const char *name, int w, bool utf8);

/* Copies s into buf padded with spaces or cut to exactly w display cells. */
char *view_fit(char *buf, size_t size, const char *s, int w);

#endif
