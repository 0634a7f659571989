/* Colour themes of the explorer: semantic names mapped to 256-colour, 8-colour and monochrome styles,
 * read from ini files (themes/NAME.ini, $XDG_CONFIG_HOME/mpqx/themes/NAME.ini). No terminal here: the
 * terminal layer turns styles into colour pairs. */
#ifndef MPQX_THEME_H
#define MPQX_THEME_H

#include <stddef.h>

#include "mpqx/err.h"

/* X(enum, name in the file, what it colours). */
#define MPQX_THEME_ROLES(X)                                             \
	X(NORMAL, "normal", "text")                                      \
	X(DIM, "dim", "secondary text, units, empty lanes")              \
	X(TITLE, "title", "the title bar")                               \
	X(HEADER, "header", "a pane's header")                           \
	X(FOCUS, "focus", "the header of the focused pane")              \
	X(SELECT, "select", "the selected row or field")                 \
	X(GOOD, "good", "fits, within budget")                           \
	X(WARN, "warn", "close to capacity (>= 85%)")                    \
	X(OVER, "over", "over capacity, failed")                         \
	X(BAR, "bar", "the filled part of a meter")                      \
	X(BAR_EMPTY, "bar_empty", "the empty part of a meter")           \
	X(LANE, "lane", "graph lanes of residual edges")                 \
	X(TRUTH, "truth", "plot: measured target")                       \
	X(FLOAT, "float", "plot: float model")                           \
	X(QUANT, "quant", "plot: quantized model")                       \
	X(DIFF, "diff", "compare: a value that differs")                 \
	X(STATUS, "status", "the status bar")                            \
	X(ERROR, "error", "an error message")                            \
	X(DIALOG, "dialog", "dialogs and overlays")                      \
	X(KEY, "key", "key names in the help and status bar")

enum mpqx_theme_role {
#define MPQX_THEME_ENUM(e, n, h) MPQX_TH_##e,
	MPQX_THEME_ROLES(MPQX_THEME_ENUM)
#undef MPQX_THEME_ENUM
	MPQX_TH_COUNT
};

enum { MPQX_ATTR_BOLD = 1, MPQX_ATTR_REVERSE = 2, MPQX_ATTR_UNDERLINE = 4, MPQX_ATTR_DIM = 8 };

#define MPQX_COLOR_DEFAULT (-1)

struct mpqx_style {
	short fg, bg;    /* 0..255, or MPQX_COLOR_DEFAULT */
	unsigned attrs;  /* MPQX_ATTR_* */
};

enum mpqx_theme_depth { MPQX_DEPTH_256, MPQX_DEPTH_8, MPQX_DEPTH_MONO, MPQX_DEPTH_COUNT };

struct mpqx_theme {
	char name[64];
	struct mpqx_style style[MPQX_DEPTH_COUNT][MPQX_TH_COUNT];
};

/* The built-in default (what themes/default.ini also says). */
void theme_builtin(struct mpqx_theme *t);

/* Reads a theme file on top of the built-in default: sections [256], [8] and [mono], each line
 * `role = FG BG [bold] [reverse] [underline] [dim]` (colours as 0..255, a name such as red, or default;
 * in [mono] only attributes). Errors name the file and line. */
int theme_load(const char *path, struct mpqx_theme *t, struct mpqx_err *err);

/* Finds NAME (or a path ending in .ini) in the user's theme directory ($XDG_CONFIG_HOME/mpqx/themes, or
 * ~/.config/mpqx/themes) and then in data_dir. Writes the path into out and returns 0, or -1. */
int theme_find(const char *name, const char *data_dir, char *out, size_t size);

const char *theme_role_name(enum mpqx_theme_role r);

#endif
