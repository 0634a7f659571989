/* The explorer's state machine, without a terminal: focus, selection, sliders, undo/redo, compare slots,
 * prompts and the export dialog. Keys and mouse events become actions; app_apply returns what changed and
 * the caller paints. The key table below is the single source of the bindings and of the help overlay. */
#ifndef MPQX_APP_H
#define MPQX_APP_H

#include <stdbool.h>
#include <stddef.h>

#include "mpqx/config.h"
#include "mpqx/err.h"
#include "mpqx/export.h"
#include "mpqx/search.h"
#include "mpqx/session.h"

/* Key codes of the core: Unicode code points, control characters as themselves, and these for the keys
 * that have no character (the terminal layer maps its own codes to them). */
enum app_keycode {
	APP_KEY_TAB = '\t',
	APP_KEY_ENTER = '\r',
	APP_KEY_ESC = 27,
	APP_KEY_FIRST = 0x110000,
	APP_KEY_UP = APP_KEY_FIRST,
	APP_KEY_DOWN,
	APP_KEY_LEFT,
	APP_KEY_RIGHT,
	APP_KEY_SLEFT,
	APP_KEY_SRIGHT,
	APP_KEY_PGUP,
	APP_KEY_PGDN,
	APP_KEY_HOME,
	APP_KEY_END,
	APP_KEY_BTAB,
	APP_KEY_BACKSPACE,
	APP_KEY_DELETE,
	APP_KEY_F1,
};

#define APP_CTRL(c) ((c) & 0x1f)

/* X(name, keys (up to 3, 0 ends), label shown in help, help text). */
#define APP_ACTIONS(X)                                                                                       \
	X(QUIT, 'q', APP_CTRL('c'), 0, "q ^C", "quit (twice when the config has unsaved changes)")           \
	X(HELP, '?', APP_KEY_F1, 0, "? F1", "show or hide this help")                                        \
	X(FOCUS_NEXT, APP_KEY_TAB, 0, 0, "Tab", "next pane: layers, selected layer, accuracy plot")          \
	X(FOCUS_PREV, APP_KEY_BTAB, 0, 0, "S-Tab", "previous pane")                                          \
	X(UP, APP_KEY_UP, 'k', 0, "Up k", "previous layer / field / slot row")                               \
	X(DOWN, APP_KEY_DOWN, 'j', 0, "Down j", "next layer / field / slot row")                             \
	X(LEFT, APP_KEY_LEFT, 'h', 0, "Left h", "slider down one step; plot back; previous slot")           \
	X(RIGHT, APP_KEY_RIGHT, 'l', 0, "Right l", "slider up one step; plot forward; next slot")           \
	X(BIG_LEFT, APP_KEY_SLEFT, 'H', 0, "S-Left H", "slider down 4 bits; plot back a page")              \
	X(BIG_RIGHT, APP_KEY_SRIGHT, 'L', 0, "S-Right L", "slider up 4 bits; plot forward a page")          \
	X(PAGE_UP, APP_KEY_PGUP, APP_CTRL('b'), 0, "PgUp ^B", "layers: a page up")                           \
	X(PAGE_DOWN, APP_KEY_PGDN, APP_CTRL('f'), 0, "PgDn ^F", "layers: a page down")                       \
	X(TOP, APP_KEY_HOME, 'g', 0, "Home g", "first layer")                                                \
	X(BOTTOM, APP_KEY_END, 'G', 0, "End G", "last layer")                                                \
	X(W_DEC, 'w', 0, 0, "w", "selected layer: weight bits - 1")                                          \
	X(W_INC, 'W', 0, 0, "W", "selected layer: weight bits + 1")                                          \
	X(A_DEC, 'a', 0, 0, "a", "selected layer: output bits - 1")                                          \
	X(A_INC, 'A', 0, 0, "A", "selected layer: output bits + 1")                                          \
	X(BUFFER, 'b', 0, 0, "b", "selected layer: output buffer auto -> block -> distributed")              \
	X(ROM, 'r', 0, 0, "r", "selected layer: ROM auto -> block -> logic")                                 \
	X(MULT, 'm', 0, 0, "m", "selected layer: multipliers auto -> dsp -> logic")                          \
	X(WGRAN, 't', 0, 0, "t", "selected layer: weight scales per tensor <-> per channel (shown after the weight bits)") \
	X(CALIB, 'C', 0, 0, "C", "selected layer: output calibration minmax -> pct (percentile) -> mse (after the output bits)") \
	X(ALL_BITS, '=', 0, 0, "=", "set every layer to N bits (N, or W/A such as 6/8)")                     \
	X(UNDO, 'u', 0, 0, "u", "undo the last change")                                                      \
	X(REDO, APP_CTRL('r'), 0, 0, "^R", "redo")                                                           \
	X(SAVE, 's', 0, 0, "s", "save the config (atomic)")                                                  \
	X(LOAD, 'o', 0, 0, "o", "load a config file")                                                        \
	X(DEVICE, 'd', 0, 0, "d", "next device")                                                             \
	X(DEVICE_PREV, 'D', 0, 0, "D", "previous device")                                                    \
	X(COMPARE, 'c', 0, 0, "c", "compare slots side by side")                                             \
	X(STORE1, '1', 0, 0, "1", "store the config in slot 1")                                              \
	X(STORE2, '2', 0, 0, "2", "store the config in slot 2")                                              \
	X(STORE3, '3', 0, 0, "3", "store the config in slot 3")                                              \
	X(STORE4, '4', 0, 0, "4", "store the config in slot 4")                                              \
	X(SLOT_LOAD, APP_KEY_ENTER, '\n', 0, "Enter", "compare: load the selected slot; dialogs: confirm")    \
	X(SLOT_CLEAR, 'x', APP_KEY_DELETE, 0, "x Del", "compare: empty the selected slot")                   \
	X(EXPORT, 'e', 0, 0, "e", "export Verilog and testbench, optionally simulate (in the background; Esc cancels)")                       \
	X(FIT, 'f', 0, 0, "f", "search: apply the best configuration that fits the device (u undoes)")     \
	X(PARETO, 'p', 0, 0, "p", "Pareto view: MSE against LUT, BRAM or latency; Enter applies a point")  \
	X(FIND, '/', 0, 0, "/", "find a layer by name (as you type; Enter keeps it, Esc goes back)")         \
	X(FIND_NEXT, 'n', 0, 0, "n", "next layer whose name matches the last /")                             \
	X(CANCEL, APP_KEY_ESC, 0, 0, "Esc", "close the overlay or dialog")                                   \
	X(REDRAW, APP_CTRL('l'), 0, 0, "^L", "repaint the screen")

enum app_action {
	APP_ACT_NONE = 0,
#define APP_ACTION_ENUM(name, k1, k2, k3, label, help) APP_ACT_##name,
	APP_ACTIONS(APP_ACTION_ENUM)
#undef APP_ACTION_ENUM
	APP_ACTION_COUNT
};

struct app_binding {
	enum app_action action;
	const char *name; /* "QUIT" */
	int keys[3];      /* 0 where unused */
	const char *label;
	const char *help;
};

/* The table, APP_ACTION_COUNT - 1 entries in enum order (the entry of action a is at a - 1). */
extern const struct app_binding app_bindings[];

/* What app_apply changed. */
enum {
	APP_REDRAW = 1,    /* repaint */
	APP_RECOMPUTE = 2, /* the config changed: call app_sync */
	APP_QUIT = 4,
	APP_RUN_EXPORT = 8, /* the export dialog asked to run: paint, then call app_export_run */
};

enum app_pane { APP_PANE_GRAPH, APP_PANE_LAYER, APP_PANE_PLOT, APP_PANE_COUNT };
enum app_overlay { APP_OV_NONE, APP_OV_HELP, APP_OV_COMPARE, APP_OV_PROMPT, APP_OV_EXPORT, APP_OV_PARETO };
enum app_prompt { APP_PROMPT_BITS, APP_PROMPT_SAVE, APP_PROMPT_LOAD, APP_PROMPT_FIND };

/* Fields of the selected-layer pane. */
enum app_field { APP_F_WBITS, APP_F_ABITS, APP_F_BUFFER, APP_F_ROM, APP_F_MULT, APP_F_COUNT };

/* Fields of the export dialog. */
enum app_xfield { APP_X_DIR, APP_X_WINDOWS, APP_X_SIM, APP_X_RUN, APP_X_COUNT };

#define APP_SLOTS 4
#define APP_UNDO_MAX 512
#define APP_TEXT_MAX 1024

/* What a compare slot remembers: the config and the figures it had when stored. */
struct app_slot {
	bool used;
	struct mpqx_config cfg;
	double used_res[MPQX_RES_COUNT]; /* LUT, LUTRAM, FF, BRAM tiles, DSP */
	double util[MPQX_RES_COUNT];
	bool fits;
	enum mpqx_resource limiting;
	double latency_us;
	double mse, rmse_denorm;
	bool eval_valid;
	char device[64];
};

/* One undoable change: the configs before and after, or a slot before and after. */
struct app_undo {
	int slot; /* -1: a config change */
	struct mpqx_config before, after;
	struct app_slot slot_before, slot_after;
	char what[96];
	/* A load also moves the save target and the saved state: undo puts them back (NULL paths: no move). */
	char *path_before, *path_after;
	struct mpqx_config saved_before, saved_after;
};

struct mpqx_app {
	struct mpqx_session *s; /* borrowed */
	struct mpqx_config cfg; /* the config being edited; the session follows it on app_sync */
	int sel;                /* selected layer */
	enum app_field field;
	enum app_pane focus;
	int graph_top;  /* first layer shown in the graph pane */
	int graph_rows; /* rows the graph pane shows, set by app_resize */
	int plot_off;   /* first test window of the plot */
	int plot_span;  /* windows the plot shows, set by app_resize */
	int plot_per_cell; /* test windows a plot cell shows across: 2 for braille (the default), 1 else */
	enum app_overlay overlay;
	enum app_overlay under_prompt; /* the overlay a prompt returns to */
	int rows, cols;

	/* Undo: entries [0, n_undo); entries [n_undo, n_redo) can be redone. */
	struct app_undo *undo;
	int n_undo, n_redo;

	struct app_slot slots[APP_SLOTS];
	char slots_path[APP_TEXT_MAX]; /* the file that keeps the slots between runs (slots.h), "" for none */
	int slot_sel;
	int compare_top; /* first layer row of the compare view */
	int compare_base; /* the column the others are diffed against: 0 the current config, k slot k */
	/* Per compare column (0 current, k slot k): the config whose storage was resolved, and it with auto
	 * storage replaced by what auto chose, as the main view shows it. Refreshed by app_apply. */
	struct mpqx_config cmp_key[APP_SLOTS + 1], cmp_res[APP_SLOTS + 1];

	enum app_prompt prompt;
	char text[APP_TEXT_MAX]; /* prompt text being edited */
	size_t text_len;
	bool text_fresh; /* the pre-filled value: the first character typed replaces it */
	enum app_overlay help_under; /* the view or dialog the help was opened from (its keys are shown) */
	int help_top;                /* first line of the help shown */
	int help_rows;               /* lines the help shows, set by app_resize */
	char find[128];  /* the last text looked for with / (n finds the next match) */
	int find_from;   /* the layer selected when / was pressed (Esc goes back to it) */

	/* Export dialog. */
	char export_dir[APP_TEXT_MAX];
	int export_windows;
	bool export_sim;
	enum app_xfield xfield;
	bool export_done;
	int export_rc;
	char export_result[512];     /* the running export's progress, then its RESULT line or error */
	struct mpqx_export_job *export_job; /* owned: the export running in the background, or NULL */
	bool export_over_armed;      /* the design is OVER: warned once, Enter again exports */
	char export_target[APP_TEXT_MAX]; /* the directory of the running or last export */

	char config_path[APP_TEXT_MAX]; /* the save target: last saved or loaded, "" when none yet */
	char overwrite_path[APP_TEXT_MAX]; /* an existing file the user was asked about once (Enter again saves) */
	struct mpqx_config saved;       /* the config as last saved or loaded, for the unsaved-changes check */
	bool quit_armed;

	char msg[256]; /* status line message */
	bool msg_error;

	char devices[MPQX_DEVICE_MAX][64];
	int n_devices;

	/* The search (include/mpqx/search.h): started by app_poll (the sensitivity marks), by f and by p. */
	struct mpqx_search *search; /* owned; NULL until first needed */
	bool search_off;            /* could not be created: no marks, no search */
	bool want_fit;              /* apply the best that fits when the running or next search finishes */
	bool want_search;           /* a search for the current device is wanted (f, p) */
	bool sens_started;          /* the sensitivity job was started */
	char search_device[64];     /* device of the running search */
	char result_device[64];     /* device of search_last's result */
	bool search_running;        /* a job with a base runs */
	enum mpqx_split search_split; /* the windows the search selects on: MPQX_CALIB (app_init) */
	struct mpqx_config search_cand; /* the edited config when the running or last search started: its
					 * candidate, and what f applies over only if nothing was edited since */
	struct mpqx_config fit_from; /* the edited config when f was pressed */
	bool fit_offer;             /* a best fit found while the config was being edited: f applies it */
	int pareto_front;           /* enum mpqx_front shown */
	int pareto_sel;             /* selected point of that front */
};

/* The figures of compare column c (0 the current config, k = 1..APP_SLOTS slot k). false for an empty
 * slot. The pointers are borrowed from the app. */
struct app_column {
	const struct mpqx_config *cfg;
	const struct mpqx_config *resolved; /* storage as auto resolved it; NULL when not known yet */
	double used_res[MPQX_RES_COUNT];   /* LUT (logic and memory), LUTRAM, FF, BRAM tiles, DSP */
	double util[MPQX_RES_COUNT];
	bool fits;
	enum mpqx_resource limiting;
	double latency_us, mse, rmse_denorm;
	bool eval_valid;
	const char *device;
};
bool app_compare_column(const struct mpqx_app *a, int c, struct app_column *out);

/* Rows of the compare view's totals. */
enum app_crow {
	APP_CR_LUT, APP_CR_LUTRAM, APP_CR_FF, APP_CR_BRAM, APP_CR_DSP, /* as enum mpqx_resource */
	APP_CR_LATENCY, APP_CR_MSE, APP_CR_RMSE, APP_CR_COUNT
};
/* The value of a totals row in column c (NAN when the column has none). */
double app_compare_value(const struct app_column *col, enum app_crow row);
/* true when column c holds the best (least) value of the row and some other column's is worse. */
bool app_compare_best(const struct mpqx_app *a, enum app_crow row, int c);
/* The column that dominates column c (fits when c fits, no more of any resource, latency or MSE, less of
 * one), or -1. */
int app_compare_dominated_by(const struct mpqx_app *a, int c);
/* true when layer l of column c differs from the base column's: bits, or storage as resolved. */
bool app_compare_differs(const struct mpqx_app *a, int c, int l);

/* One line of the help overlay: a key column and its text (a long text continues on lines without a key),
 * or a heading. */
#define APP_HELP_TEXT 256
struct app_help_line {
	char key[24];
	char text[APP_HELP_TEXT];
	bool heading;
};

/* The help of the view or dialog it was opened from (main view, compare, Pareto, export dialog, prompts),
 * texts wrapped at width cells; writes up to max lines into out and returns the count of all lines. */
int app_help_lines(const struct mpqx_app *a, int width, struct app_help_line *out, int max);

/* The text width of the help's lines and the rows it shows for a rows x cols screen. */
void app_help_geometry(int rows, int cols, int *text_w, int *view_rows);

/* Name of the help's context: "main view", "compare", "Pareto view", "export dialog", "prompt". */
const char *app_help_context(const struct mpqx_app *a);

/* Starts the app on a session (borrowed; it must outlive the app). config_path names the config the
 * session was opened with, or NULL. Returns MPQX_OK or MPQX_ENOMEM. */
int app_init(struct mpqx_app *a, struct mpqx_session *s, const char *config_path);
void app_fini(struct mpqx_app *a);

/* Applies one action; returns the APP_* flags of what changed. */
int app_apply(struct mpqx_app *a, enum app_action act);

/* Handles a key: text entry while a prompt or the export dialog's text field is active, else the bound
 * action. Returns app_apply's flags (0 for an unbound key). */
int app_key(struct mpqx_app *a, int key);

/* The action bound to key in the table, or APP_ACT_NONE. */
enum app_action app_key_action(int key);

/* Mouse: a press of button 1 at (y, x), or the wheel (dir -1 up, +1 down) over (y, x). */
int app_click(struct mpqx_app *a, int y, int x);
int app_wheel(struct mpqx_app *a, int y, int x, int dir);

/* Tells the app the screen size (for paging, scrolling and mouse hit tests). Returns APP_REDRAW. */
int app_resize(struct mpqx_app *a, int rows, int cols);

/* Makes the session follow a->cfg (session_request). On a refused config it restores the session's, drops
 * the undo entry and sets an error message. Returns APP_REDRAW. */
int app_sync(struct mpqx_app *a);

/* Drives the search: starts the sensitivity measurement once, starts a search asked for by f or p when
 * none runs, and publishes a finished one (f then applies its best as an undoable change). Call it from
 * the event loop; returns the APP_* flags of what changed. */
int app_poll(struct mpqx_app *a);

/* true while a search job runs. */
bool app_search_busy(const struct mpqx_app *a);

/* Blocks until no search job runs, then app_poll. */
int app_search_wait(struct mpqx_app *a);

/* The sensitivity mark of layer l at the edited config: the test MSE increase, as a fraction of the
 * reference MSE, if the layer lost one bit of its weights or of its outputs (the larger), from the
 * measured sensitivities. NAN before they are measured. */
double app_sens(const struct mpqx_app *a, int l);

/* The Pareto view's result: the last finished search for the edited config's device, or NULL. */
const struct mpqx_search_result *app_pareto(const struct mpqx_app *a);

/* The MSE of the edited config on the windows the search selects on (the result's split), when the last
 * search measured it (the config was its candidate and fits); NAN otherwise. */
double app_current_search_mse(const struct mpqx_app *a);

/* Name of a split's windows as the explorer says it: "calibration", "training", "test". */
const char *app_split_name(enum mpqx_split sp);

/* Axes of the Pareto view: the resource from lo to hi (the budget and the current configuration
 * included), log10 of the MSE from ylo to yhi. */
struct app_axes {
	double lo, hi, ylo, yhi;
};
void app_pareto_axes(const struct mpqx_app *a, struct app_axes *ax);

/* The plot cell (column, row from the top) of resource x and MSE mse in a w x h plot; false when it lies
 * outside. */
bool app_pareto_cell(const struct app_axes *ax, double x, double mse, int w, int h, int *col, int *row);

/* The x of a point on front f: LUT (all), BRAM tiles or latency in us. */
double app_front_x(const struct mpqx_search_point *p, int f);

/* Starts the export dialog's job in the background (export_job_start on the edited config). Returns
 * app_apply's flags. */
int app_export_run(struct mpqx_app *a);

/* Publishes the running export's progress into export_result and, when it ended, its result (the status
 * line says so when the dialog is hidden). Call it from the event loop; returns APP_REDRAW when something
 * changed. */
int app_export_poll(struct mpqx_app *a);

/* true while an export runs. */
bool app_export_busy(const struct mpqx_app *a);

/* Blocks until the running export ends, then app_export_poll. */
int app_export_wait(struct mpqx_app *a);

/* Keeps the compare slots in path from now on (every store, empty, undo and redo of a slot writes it) and
 * restores the slots it holds. Returns APP_REDRAW; a problem with the file is the status message. */
int app_slots_open(struct mpqx_app *a, const char *path);

/* true when the edited config differs from the one last saved or loaded. */
bool app_modified(const struct mpqx_app *a);

/* Parses a key script: characters stand for themselves; <Up> <Down> <Left> <Right> <S-Left> <S-Right>
 * <PgUp> <PgDn> <Home> <End> <Tab> <S-Tab> <Enter> <Esc> <BS> <Del> <F1> <C-x> <lt> name keys. Writes up
 * to max keys into keys and returns their count, or -1 with *bad at the offending offset. */
int app_parse_keys(const char *script, int *keys, int max, size_t *bad);

/* Label of a key for the help overlay ("Up", "^R", "q"). Returns a static buffer for characters. */
const char *app_key_name(int key);

#endif
