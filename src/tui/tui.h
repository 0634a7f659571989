/* The terminal front end of the explorer: ncursesw painting of the app state, the event loop, screen dumps
 * and the keypress-to-screen benchmark. Everything that is not painting lives in core app/view. */
#ifndef MPQX_TUI_H
#define MPQX_TUI_H

#include <stdbool.h>
#include <stdio.h>

#include "mpqx/app.h"
#include "mpqx/theme.h"

struct tui_opts {
	const char *theme_name;  /* NULL: "default" */
	const char *themes_dir;  /* the bundled themes */
	bool no_color;           /* --no-color or NO_COLOR */
	bool ascii;              /* no UTF-8 glyphs even in a UTF-8 locale */
	bool mouse;              /* report mouse clicks and the wheel (default on) */
};

/* Runs the explorer on the terminal until the user quits or a signal arrives; the terminal is restored on
 * every path. Returns 0, or 1 with a message on stderr when the terminal cannot be used. */
int tui_run(struct mpqx_app *a, const struct tui_opts *o);

/* Paints the app into a rows x cols screen that is never shown, after replaying keys (app_parse_keys
 * syntax; every evaluation completes before the next key), and writes the screen as text to out, one line
 * a row, trailing blanks removed; subset: with the subset's MSE of the final config shown, as after a
 * change before the whole set's arrives (session_show_subset). Returns 0, or 1 with a message in err. */
int tui_dump(struct mpqx_app *a, const struct tui_opts *o, int rows, int cols, const char *keys, bool subset,
	     FILE *out, struct mpqx_err *err);

/* Replays keys `repeat` times through the app and a hidden rows x cols screen and measures, per key, the
 * time from the key to the repainted screen (the estimate is current, the error figures may be pending),
 * to the repainted screen with the first MSE of the new config (the subset's, session.h) and to the one
 * with the whole test set's error figures. Writes milliseconds into screen_ms[], first_ms[], full_ms[]
 * and cpu_ms[] (the CPU time of the interface's thread for the first, which leaves out the time other
 * processes took the core), n_keys * repeat entries each, caller allocates; first_ms, full_ms and cpu_ms
 * may be NULL. Without full_ms the next key goes as soon as the first MSE is on screen (the whole set's
 * evaluation of the previous key is then abandoned). Returns the number of samples, or -1 with a message
 * in err. */
int tui_bench(struct mpqx_app *a, const struct tui_opts *o, int rows, int cols, const char *keys, int repeat,
	      double *screen_ms, double *first_ms, double *full_ms, double *cpu_ms, int max, struct mpqx_err *err);

/* ---- inside the tui ---- */

struct tui_ctx {
	struct mpqx_theme theme;
	int depth;     /* enum mpqx_theme_depth in use */
	bool utf8;     /* UTF-8 glyphs */
	bool braille;  /* plot in braille cells (UTF-8 and colour) */
	bool dump;     /* a screen dump: leave out wall-clock times so dumps compare */
};

/* Prepares colours for the theme on the current screen. */
void tui_colors(struct tui_ctx *t, const struct tui_opts *o);

/* Paints the whole screen from the app (no refresh). */
void tui_draw(const struct tui_ctx *t, const struct mpqx_app *a);

#endif
