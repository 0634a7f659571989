/* Colour themes: ini files of semantic roles (see theme.h). inih values are copied inside the handler. */
#include "mpqx/theme.h"

#include <ini.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "mpqx/fileio.h"

static const char *const role_names[MPQX_TH_COUNT] = {
#define MPQX_THEME_NAME(e, n, h) n,
	MPQX_THEME_ROLES(MPQX_THEME_NAME)
#undef MPQX_THEME_NAME
};

const char *theme_role_name(enum mpqx_theme_role r)
{
	return (unsigned)r < MPQX_TH_COUNT ? role_names[r] : "?";
}

#define D MPQX_COLOR_DEFAULT
#define B MPQX_ATTR_BOLD
#define R MPQX_ATTR_REVERSE
#define U MPQX_ATTR_UNDERLINE
#define M MPQX_ATTR_DIM

/* Keep in step with themes/default.ini (a unit test compares them). */
static const struct mpqx_style builtin[MPQX_DEPTH_COUNT][MPQX_TH_COUNT] = {
	[MPQX_DEPTH_256] =
		{
			[MPQX_TH_NORMAL] = {252, D, 0},  [MPQX_TH_DIM] = {244, D, 0},
			[MPQX_TH_TITLE] = {231, 24, B},  [MPQX_TH_HEADER] = {250, 236, 0},
			[MPQX_TH_FOCUS] = {231, 31, B},  [MPQX_TH_SELECT] = {231, 25, B},
			[MPQX_TH_GOOD] = {114, D, B},    [MPQX_TH_WARN] = {214, D, B},
			[MPQX_TH_OVER] = {231, 160, B},  [MPQX_TH_BAR] = {75, D, 0},
			[MPQX_TH_BAR_EMPTY] = {238, D, 0}, [MPQX_TH_LANE] = {110, D, 0},
			[MPQX_TH_TRUTH] = {250, D, 0},   [MPQX_TH_FLOAT] = {114, D, 0},
			[MPQX_TH_QUANT] = {209, D, B},   [MPQX_TH_DIFF] = {222, D, B},
			[MPQX_TH_STATUS] = {252, 236, 0}, [MPQX_TH_ERROR] = {203, 236, B},
			[MPQX_TH_DIALOG] = {252, 237, 0}, [MPQX_TH_KEY] = {222, D, B},
		},
	[MPQX_DEPTH_8] =
		{
			[MPQX_TH_NORMAL] = {7, D, 0},    [MPQX_TH_DIM] = {7, D, M},
			[MPQX_TH_TITLE] = {7, 4, B},     [MPQX_TH_HEADER] = {0, 7, 0},
			[MPQX_TH_FOCUS] = {7, 6, B},     [MPQX_TH_SELECT] = {7, 4, B},
			[MPQX_TH_GOOD] = {2, D, B},      [MPQX_TH_WARN] = {3, D, B},
			[MPQX_TH_OVER] = {7, 1, B},      [MPQX_TH_BAR] = {6, D, 0},
			[MPQX_TH_BAR_EMPTY] = {7, D, M}, [MPQX_TH_LANE] = {4, D, B},
			[MPQX_TH_TRUTH] = {7, D, 0},     [MPQX_TH_FLOAT] = {2, D, 0},
			[MPQX_TH_QUANT] = {1, D, B},     [MPQX_TH_DIFF] = {3, D, B},
			[MPQX_TH_STATUS] = {0, 7, 0},    [MPQX_TH_ERROR] = {1, 7, B},
			[MPQX_TH_DIALOG] = {7, 4, 0},    [MPQX_TH_KEY] = {3, D, B},
		},
	[MPQX_DEPTH_MONO] =
		{
			[MPQX_TH_NORMAL] = {D, D, 0},   [MPQX_TH_DIM] = {D, D, M},
			[MPQX_TH_TITLE] = {D, D, R | B}, [MPQX_TH_HEADER] = {D, D, U},
			[MPQX_TH_FOCUS] = {D, D, R | B}, [MPQX_TH_SELECT] = {D, D, R},
			[MPQX_TH_GOOD] = {D, D, 0},     [MPQX_TH_WARN] = {D, D, B},
			[MPQX_TH_OVER] = {D, D, R | B}, [MPQX_TH_BAR] = {D, D, 0},
			[MPQX_TH_BAR_EMPTY] = {D, D, M}, [MPQX_TH_LANE] = {D, D, 0},
			[MPQX_TH_TRUTH] = {D, D, 0},    [MPQX_TH_FLOAT] = {D, D, 0},
			[MPQX_TH_QUANT] = {D, D, B},    [MPQX_TH_DIFF] = {D, D, B | U},
			[MPQX_TH_STATUS] = {D, D, R},   [MPQX_TH_ERROR] = {D, D, R | B},
			[MPQX_TH_DIALOG] = {D, D, 0},   [MPQX_TH_KEY] = {D, D, B},
		},
};

void theme_builtin(struct mpqx_theme *t)
{
	memset(t, 0, sizeof *t);
	snprintf(t->name, sizeof t->name, "builtin");
	memcpy(t->style, builtin, sizeof builtin);
}

struct ctx {
	const char *path;
	struct mpqx_theme *t;
	struct mpqx_err *err;
	int line; /* counted by the handler for the message */
	bool failed;
};

static const char *const color_names[8] = {"black", "red", "green", "yellow", "blue", "magenta", "cyan", "white"};

/* Parses a colour word: 0..255, a name, or default. Returns -2 when it is not a colour. */
static int parse_color(const char *w, int max)
{
	if (strcasecmp(w, "default") == 0)
		return D;
	for (int i = 0; i < 8; i++)
		if (strcasecmp(w, color_names[i]) == 0)
			return i;
	char *end;
	long v = strtol(w, &end, 10);
	if (end != w && !*end && v >= 0 && v <= max)
		return (int)v;
	return -2;
}

static int handler(void *user, const char *section, const char *name, const char *value)
{
	struct ctx *c = user;
	if (c->failed)
		return 0;
	if (strcmp(section, "theme") == 0) {
		if (strcmp(name, "name") == 0)
			snprintf(c->t->name, sizeof c->t->name, "%s", value);
		return 1; /* other keys (description) are informative */
	}
	int depth = strcmp(section, "256") == 0 ? MPQX_DEPTH_256
		    : strcmp(section, "8") == 0  ? MPQX_DEPTH_8
		    : strcmp(section, "mono") == 0 ? MPQX_DEPTH_MONO
						   : -1;
	if (depth < 0) {
		err_set(c->err, MPQX_EINPUT, "%s: unknown section [%s]: expected [theme], [256], [8] or [mono]", c->path,
			section);
		c->failed = true;
		return 0;
	}
	int role = -1;
	for (int r = 0; r < MPQX_TH_COUNT; r++)
		if (strcmp(name, role_names[r]) == 0)
			role = r;
	if (role < 0) {
		err_set(c->err, MPQX_EINPUT, "%s: [%s] %s: unknown role", c->path, section, name);
		c->failed = true;
		return 0;
	}
	char buf[256];
	snprintf(buf, sizeof buf, "%s", value);
	struct mpqx_style st = {D, D, 0};
	int colors = 0, max = depth == MPQX_DEPTH_256 ? 255 : 7;
	char *save = NULL;
	for (char *w = strtok_r(buf, " \t,", &save); w; w = strtok_r(NULL, " \t,", &save)) {
		if (strcasecmp(w, "bold") == 0)
			st.attrs |= MPQX_ATTR_BOLD;
		else if (strcasecmp(w, "reverse") == 0)
			st.attrs |= MPQX_ATTR_REVERSE;
		else if (strcasecmp(w, "underline") == 0)
			st.attrs |= MPQX_ATTR_UNDERLINE;
		else if (strcasecmp(w, "dim") == 0)
			st.attrs |= MPQX_ATTR_DIM;
		else if (strcasecmp(w, "on") == 0)
			continue;
		else {
			int v = parse_color(w, max);
			if (v == -2 || depth == MPQX_DEPTH_MONO || colors == 2) {
				err_set(c->err, MPQX_EINPUT,
					"%s: [%s] %s: '%s': expected %s", c->path, section, name, w,
					depth == MPQX_DEPTH_MONO ? "bold, reverse, underline or dim"
					: colors == 2	  ? "at most a foreground and a background colour"
					: max == 255	  ? "a colour 0..255, a colour name or default, or an attribute"
							  : "a colour 0..7, a colour name or default, or an attribute");
				c->failed = true;
				return 0;
			}
			if (colors++ == 0)
				st.fg = (short)v;
			else
				st.bg = (short)v;
		}
	}
	c->t->style[depth][role] = st;
	return 1;
}

int theme_load(const char *path, struct mpqx_theme *t, struct mpqx_err *err)
{
	theme_builtin(t);
	const char *base = strrchr(path, '/');
	base = base ? base + 1 : path;
	snprintf(t->name, sizeof t->name, "%.*s", (int)(strcspn(base, ".") < 63 ? strcspn(base, ".") : 63), base);
	struct ctx c = {path, t, err, 0, false};
	/* Read through fileio (size limit, regular files only) and refuse binary data, as the other loaders. */
	char *text = NULL;
	size_t len = 0;
	int rc = fileio_read(path, &text, &len, err);
	if (rc) { /* a file that cannot be read stays MPQX_EIO, as before */
		if (rc != MPQX_ENOMEM)
			rc = MPQX_EIO;
		if (err)
			err->code = rc;
		return rc;
	}
	if (memchr(text, '\0', len)) {
		free(text);
		return err_set(err, MPQX_EINPUT, "%s: not a text file (a NUL byte)", path);
	}
	rc = ini_parse_string(text, handler, &c);
	free(text);
	if (rc < 0)
		return err_set(err, MPQX_ENOMEM, "%s: out of memory", path);
	if (rc > 0) {
		if (c.failed) {
			char m[MPQX_ERR_LEN];
			snprintf(m, sizeof m, "%s", err ? err->msg : "");
			/* Put the line after the file name, as every other loader does. */
			size_t pl = strlen(path);
			if (err && strncmp(m, path, pl) == 0 && m[pl] == ':')
				return err_set(err, MPQX_EINPUT, "%s: line %d:%s", path, rc, m + pl + 1);
			return MPQX_EINPUT;
		}
		return err_set(err, MPQX_EINPUT, "%s: line %d: expected `name = value` or [section]", path, rc);
	}
	return MPQX_OK;
}

static bool is_file(const char *p)
{
	struct stat st;
	return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

int theme_find(const char *name, const char *data_dir, char *out, size_t size)
{
	size_t n = strlen(name);
	if (strchr(name, '/') || (n > 4 && strcmp(name + n - 4, ".ini") == 0)) {
		snprintf(out, size, "%s", name);
		return is_file(out) ? 0 : -1;
	}
	const char *xdg = getenv("XDG_CONFIG_HOME"), *home = getenv("HOME");
	char dir[4096];
	dir[0] = '\0';
	if (xdg && *xdg == '/')
		snprintf(dir, sizeof dir, "%s/mpqx/themes", xdg);
	else if (home && *home)
		snprintf(dir, sizeof dir, "%s/.config/mpqx/themes", home);
	if (dir[0]) {
		int w = snprintf(out, size, "%s/%s.ini", dir, name);
		if (w > 0 && (size_t)w < size && is_file(out))
			return 0;
	}
	if (data_dir) {
		int w = snprintf(out, size, "%s/%s.ini", data_dir, name);
		if (w > 0 && (size_t)w < size && is_file(out))
			return 0;
	}
	return -1;
}
