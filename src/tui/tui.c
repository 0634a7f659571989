/* The explorer's terminal: setup and restore, colours from the theme, the event loop, screen dumps and the
 * keypress-to-screen benchmark. */
#include <curses.h>
#include <errno.h>
#include <langinfo.h>
#include <limits.h>
#include <locale.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <wchar.h>

#include "mpqx/view.h"
#include "tui.h"

static volatile sig_atomic_t stop_signal;
static volatile sig_atomic_t curses_active;

static void on_stop(int sig)
{
	stop_signal = sig;
}

/* A crash restores the terminal before the default action, so nothing is left in raw mode. */
static void on_crash(int sig)
{
	if (curses_active)
		endwin();
	curses_active = 0;
	signal(sig, SIG_DFL);
	raise(sig);
}

static void at_exit_restore(void)
{
	if (curses_active)
		endwin();
	curses_active = 0;
}

static void install_signals(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_stop;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sigaction(SIGQUIT, &sa, NULL);
	sa.sa_handler = on_crash;
	sa.sa_flags = SA_RESETHAND;
	sigaction(SIGSEGV, &sa, NULL);
	sigaction(SIGBUS, &sa, NULL);
	sigaction(SIGFPE, &sa, NULL);
	sigaction(SIGABRT, &sa, NULL);
	sigaction(SIGILL, &sa, NULL);
	atexit(at_exit_restore);
}

static bool locale_utf8(void)
{
	const char *cs = nl_langinfo(CODESET);
	return cs && (strcmp(cs, "UTF-8") == 0 || strcmp(cs, "utf8") == 0);
}

void tui_colors(struct tui_ctx *t, const struct tui_opts *o)
{
	t->depth = MPQX_DEPTH_MONO;
	if (!o->no_color && has_colors()) {
		start_color();
		use_default_colors();
		t->depth = COLORS >= 256 ? MPQX_DEPTH_256 : MPQX_DEPTH_8;
		for (int r = 0; r < MPQX_TH_COUNT; r++) {
			const struct mpqx_style *st = &t->theme.style[t->depth][r];
			init_pair((short)(r + 1), st->fg, st->bg);
		}
	}
	t->utf8 = !o->ascii && locale_utf8();
	t->braille = t->utf8 && t->depth != MPQX_DEPTH_MONO;
}

/* Colours, glyphs and the plot's points per cell for the app. */
static void setup_screen(struct tui_ctx *t, const struct tui_opts *o, struct mpqx_app *a, int rows, int cols)
{
	tui_colors(t, o);
	a->plot_per_cell = t->braille ? 2 : 1;
	app_resize(a, rows, cols);
}

/* Loads the theme named by the options into t; on failure keeps the built-in one and says why. */
static int load_theme(struct tui_ctx *t, const struct tui_opts *o, struct mpqx_err *err)
{
	theme_builtin(&t->theme);
	const char *name = o->theme_name ? o->theme_name : "default";
	char path[4300];
	if (theme_find(name, o->themes_dir, path, sizeof path)) {
		if (!o->theme_name)
			return MPQX_OK; /* no bundled default found: the built-in one is the same */
		return err_set(err, MPQX_EINPUT, "theme '%s' not found in $XDG_CONFIG_HOME/mpqx/themes or %s", name,
			       o->themes_dir ? o->themes_dir : "(no theme directory)");
	}
	return theme_load(path, &t->theme, err);
}

/* Curses key codes to the core's. */
static int map_key(int r, wint_t ch)
{
	if (r == OK) {
		if (ch == '\n')
			return APP_KEY_ENTER;
		if (ch == 127 || ch == 8)
			return APP_KEY_BACKSPACE;
		return (int)ch;
	}
	switch (ch) {
	case KEY_UP:
		return APP_KEY_UP;
	case KEY_DOWN:
		return APP_KEY_DOWN;
	case KEY_LEFT:
		return APP_KEY_LEFT;
	case KEY_RIGHT:
		return APP_KEY_RIGHT;
	case KEY_SLEFT:
		return APP_KEY_SLEFT;
	case KEY_SRIGHT:
		return APP_KEY_SRIGHT;
	case KEY_PPAGE:
		return APP_KEY_PGUP;
	case KEY_NPAGE:
		return APP_KEY_PGDN;
	case KEY_HOME:
	case KEY_FIND: /* ESC[1~ in xterm's terminfo */
	case KEY_A1:   /* keypad Home */
		return APP_KEY_HOME;
	case KEY_END:
	case KEY_SELECT: /* ESC[4~ in xterm's terminfo */
	case KEY_C1:     /* keypad End */
		return APP_KEY_END;
	case KEY_BTAB:
		return APP_KEY_BTAB;
	case KEY_BACKSPACE:
		return APP_KEY_BACKSPACE;
	case KEY_DC:
		return APP_KEY_DELETE;
	case KEY_ENTER:
		return APP_KEY_ENTER;
	case KEY_F(1):
		return APP_KEY_F1;
	default:
		return 0;
	}
}

/* Home and End arrive in several forms, whatever the terminfo entry says: ESC[1~ ESC[4~ (VT220, screen and
 * tmux), ESC[7~ ESC[8~ (rxvt), ESC[H ESC[F and ESCOH ESCOF (xterm). Without these the sequence would be
 * split into Esc and other keys. */
static void define_home_end(void)
{
	static const char *const home[] = {"\033[1~", "\033[7~", "\033[H", "\033OH"};
	static const char *const end[] = {"\033[4~", "\033[8~", "\033[F", "\033OF"};
	for (size_t i = 0; i < sizeof home / sizeof home[0]; i++) {
		if (key_defined(home[i]) <= 0)
			define_key(home[i], KEY_HOME);
		if (key_defined(end[i]) <= 0)
			define_key(end[i], KEY_END);
	}
}

static void handle_mouse(struct mpqx_app *a, int *flags)
{
	MEVENT ev;
	if (getmouse(&ev) != OK)
		return;
	if (ev.bstate & BUTTON1_PRESSED || ev.bstate & BUTTON1_CLICKED)
		*flags |= app_click(a, ev.y, ev.x);
	else if (ev.bstate & BUTTON4_PRESSED)
		*flags |= app_wheel(a, ev.y, ev.x, -1);
#ifdef BUTTON5_PRESSED
	else if (ev.bstate & BUTTON5_PRESSED)
		*flags |= app_wheel(a, ev.y, ev.x, 1);
#endif
}

/* Applies the flags of one event; returns false to quit. */
static bool settle(struct tui_ctx *t, struct mpqx_app *a, int flags)
{
	if (flags & APP_RECOMPUTE)
		app_sync(a);
	(void)t;
	if (flags & APP_RUN_EXPORT)
		app_export_run(a); /* in the background: app_export_poll reports its progress */
	return !(flags & APP_QUIT);
}

int tui_run(struct mpqx_app *a, const struct tui_opts *o)
{
	struct tui_ctx t;
	memset(&t, 0, sizeof t);
	struct mpqx_err err = {0};
	if (load_theme(&t, o, &err)) {
		fprintf(stderr, "mpqx: %s\n", err.msg);
		return 1;
	}
	if (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO)) {
		fprintf(stderr, "mpqx: the explorer needs a terminal; use a subcommand (mpqx --help) in scripts\n");
		return 1;
	}
	install_signals();
	set_escdelay(25);
	if (!initscr()) {
		fprintf(stderr, "mpqx: cannot initialise the terminal (TERM=%s)\n", getenv("TERM") ? getenv("TERM") : "");
		return 1;
	}
	curses_active = 1;
	cbreak();
	noecho();
	nonl();
	keypad(stdscr, TRUE);
	define_home_end();
	curs_set(0);
	if (o->mouse) {
		mousemask(BUTTON1_PRESSED | BUTTON1_CLICKED | BUTTON4_PRESSED
#ifdef BUTTON5_PRESSED
				  | BUTTON5_PRESSED
#endif
			  ,
			  NULL);
		mouseinterval(0);
	}
	int rows, cols;
	getmaxyx(stdscr, rows, cols);
	setup_screen(&t, o, a, rows, cols);
	bool run = true, dirty = true;
	while (run) {
		/* ^C is the q key (it asks when the config has unsaved changes); other signals quit at once. */
		if (stop_signal == SIGINT) {
			stop_signal = 0;
			run = settle(&t, a, app_key(a, 'q'));
			dirty = true;
			continue;
		}
		if (stop_signal)
			break;
		if (session_poll(a->s))
			dirty = true;
		if (app_export_poll(a))
			dirty = true;
		/* The search: sensitivity marks, a best fit to apply, a Pareto front. */
		int pf = app_poll(a);
		if (pf) {
			run = settle(&t, a, pf);
			dirty = true;
			if (!run)
				break;
		}
		if (dirty) {
			tui_draw(&t, a);
			refresh();
			dirty = false;
		}
		/* Poll often while an evaluation is pending, else wake up only for signals. */
		timeout(a->s->eval_pending || a->s->sqnr_pending ? 10 : app_search_busy(a) || app_export_busy(a) ? 100 : 250);
		wint_t ch;
		int r = get_wch(&ch);
		if (r == ERR)
			continue;
		int flags = 0;
		if (r == KEY_CODE_YES && ch == KEY_RESIZE) {
			getmaxyx(stdscr, rows, cols);
			flags = app_resize(a, rows, cols);
		} else if (r == KEY_CODE_YES && ch == KEY_MOUSE) {
			handle_mouse(a, &flags);
		} else {
			int k = map_key(r, ch);
			struct view_layout l;
			view_layout(rows, cols, &l);
			if (l.too_small && k != 'q')
				continue;
			flags = l.too_small ? APP_QUIT : app_key(a, k);
			if (flags & APP_REDRAW && k == APP_CTRL('l'))
				clearok(curscr, TRUE);
		}
		run = settle(&t, a, flags);
		dirty = dirty || flags != 0;
	}
	endwin();
	curses_active = 0;
	return 0;
}

/* ---- hidden screens: dumps and the benchmark ---- */

static SCREEN *hidden_screen(int rows, int cols, FILE **fo, FILE **fi, struct mpqx_err *err)
{
	*fo = fopen("/dev/null", "w");
	*fi = fopen("/dev/null", "r");
	if (!*fo || !*fi) {
		if (*fo)
			fclose(*fo);
		if (*fi)
			fclose(*fi);
		err_set(err, MPQX_EIO, "cannot open /dev/null");
		return NULL;
	}
	/* A fixed terminal type keeps dumps the same whatever TERM says. */
	SCREEN *sc = newterm("xterm-256color", *fo, *fi);
	if (!sc) {
		fclose(*fo);
		fclose(*fi);
		err_set(err, MPQX_EIO, "no terminfo entry for xterm-256color");
		return NULL;
	}
	set_term(sc);
	resizeterm(rows, cols);
	return sc;
}

static void hidden_end(SCREEN *sc, FILE *fo, FILE *fi)
{
	endwin();
	delscreen(sc);
	fclose(fo);
	fclose(fi);
}

/* Writes the screen as UTF-8 text, trailing blanks removed. */
static void write_screen(FILE *out, int rows, int cols)
{
	char line[8192];
	for (int y = 0; y < rows; y++) {
		size_t o = 0;
		size_t keep = 0;
		for (int x = 0; x < cols; x++) {
			cchar_t cc;
			wchar_t wch[CCHARW_MAX + 1] = {0};
			attr_t at;
			short pair;
			if (mvin_wch(y, x, &cc) != OK || getcchar(&cc, wch, &at, &pair, NULL) == ERR)
				wch[0] = L' ';
			char mb[MB_LEN_MAX + 1];
			mbstate_t st;
			memset(&st, 0, sizeof st);
			size_t n = wcrtomb(mb, wch[0] ? wch[0] : L' ', &st);
			if (n == (size_t)-1) {
				mb[0] = '?';
				n = 1;
			}
			if (o + n + 2 > sizeof line)
				break;
			memcpy(line + o, mb, n);
			o += n;
			if (!(n == 1 && mb[0] == ' '))
				keep = o;
		}
		line[keep] = '\0';
		fprintf(out, "%s\n", line);
	}
}

int tui_dump(struct mpqx_app *a, const struct tui_opts *o, int rows, int cols, const char *keys, bool subset,
	     FILE *out, struct mpqx_err *err)
{
	struct tui_ctx t;
	memset(&t, 0, sizeof t);
	t.dump = true;
	if (load_theme(&t, o, err))
		return 1;
	int kb[4096];
	int nk = 0;
	if (keys) {
		size_t bad = 0;
		nk = app_parse_keys(keys, kb, 4096, &bad);
		if (nk < 0)
			return err_set(err, MPQX_EINPUT, "--keys: bad key name at offset %zu of '%s'", bad, keys) ? 1 : 1;
	}
	FILE *fo, *fi;
	SCREEN *sc = hidden_screen(rows, cols, &fo, &fi, err);
	if (!sc)
		return 1;
	setup_screen(&t, o, a, rows, cols);
	/* Searches complete too (the sensitivity marks, a best fit), so that dumps compare. */
	app_search_wait(a);
	for (int i = 0; i < nk; i++) {
		int f = app_key(a, kb[i]);
		if (f & APP_RECOMPUTE)
			app_sync(a);
		if (f & APP_RUN_EXPORT) {
			app_export_run(a);
			app_export_wait(a);
		}
		session_wait(a->s);
		if (app_search_wait(a) & APP_RECOMPUTE)
			app_sync(a);
		session_wait(a->s);
		if (f & APP_QUIT)
			break;
	}
	session_wait(a->s);
	if (subset && session_show_subset(a->s, err)) {
		hidden_end(sc, fo, fi);
		return 1;
	}
	tui_draw(&t, a);
	write_screen(out, rows, cols);
	hidden_end(sc, fo, fi);
	return 0;
}

static double clock_ms(clockid_t id)
{
	struct timespec ts;
	clock_gettime(id, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

int tui_bench(struct mpqx_app *a, const struct tui_opts *o, int rows, int cols, const char *keys, int repeat,
	      double *screen_ms, double *first_ms, double *full_ms, double *cpu_ms, int max, struct mpqx_err *err)
{
	struct tui_ctx t;
	memset(&t, 0, sizeof t);
	if (load_theme(&t, o, err))
		return -1;
	int kb[4096];
	size_t bad = 0;
	int nk = app_parse_keys(keys, kb, 4096, &bad);
	if (nk < 0) {
		err_set(err, MPQX_EINPUT, "bad key name at offset %zu of '%s'", bad, keys);
		return -1;
	}
	FILE *fo, *fi;
	SCREEN *sc = hidden_screen(rows, cols, &fo, &fi, err);
	if (!sc)
		return -1;
	setup_screen(&t, o, a, rows, cols);
	tui_draw(&t, a);
	doupdate();
	int n = 0;
	for (int r = 0; r < repeat; r++)
		for (int i = 0; i < nk && n < max; i++, n++) {
			double t0 = clock_ms(CLOCK_MONOTONIC), c0 = clock_ms(CLOCK_THREAD_CPUTIME_ID);
			int f = app_key(a, kb[i]);
			if (f & APP_RECOMPUTE)
				app_sync(a);
			session_poll(a->s);
			tui_draw(&t, a);
			refresh();
			screen_ms[n] = clock_ms(CLOCK_MONOTONIC) - t0;
			if (cpu_ms)
				cpu_ms[n] = clock_ms(CLOCK_THREAD_CPUTIME_ID) - c0;
			if (first_ms) {
				session_wait_first(a->s);
				tui_draw(&t, a);
				refresh();
				first_ms[n] = clock_ms(CLOCK_MONOTONIC) - t0;
			}
			if (full_ms) {
				session_wait(a->s);
				tui_draw(&t, a);
				refresh();
				full_ms[n] = clock_ms(CLOCK_MONOTONIC) - t0;
			}
		}
	session_wait(a->s);
	hidden_end(sc, fo, fi);
	return n;
}
