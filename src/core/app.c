/* The explorer's state machine (see app.h). Knows the session and the geometry of view.h; paints nothing. */
#include "mpqx/app.h"

#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sys/stat.h>

#include "mpqx/fileio.h"
#include "mpqx/quant.h"
#include "mpqx/slots.h"
#include "mpqx/view.h"

const struct app_binding app_bindings[] = {
#define APP_BINDING(name, k1, k2, k3, label, help) {APP_ACT_##name, #name, {k1, k2, k3}, label, help},
	APP_ACTIONS(APP_BINDING)
#undef APP_BINDING
};

#define BIG_STEP 4

enum app_action app_key_action(int key)
{
	if (key == 0)
		return APP_ACT_NONE;
	for (int i = 0; i < APP_ACTION_COUNT - 1; i++)
		for (int j = 0; j < 3; j++)
			if (app_bindings[i].keys[j] == key)
				return app_bindings[i].action;
	return APP_ACT_NONE;
}

static int set_msg(struct mpqx_app *a, bool error, const char *fmt, ...)
#if defined(__GNUC__)
	__attribute__((format(printf, 3, 4)))
#endif
	;

static int set_msg(struct mpqx_app *a, bool error, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(a->msg, sizeof a->msg, fmt, ap);
	va_end(ap);
	a->msg_error = error;
	return APP_REDRAW;
}

static const struct mpqx_model *model(const struct mpqx_app *a)
{
	return a->s->model;
}

/* ---- slots and undo ---- */

static void slot_fini(struct app_slot *s)
{
	config_fini(&s->cfg);
	memset(s, 0, sizeof *s);
}

static int slot_copy(struct app_slot *dst, const struct app_slot *src)
{
	struct mpqx_config c = {0};
	if (src->used && config_copy(&c, &src->cfg))
		return MPQX_ENOMEM;
	config_fini(&dst->cfg);
	*dst = *src;
	dst->cfg = c;
	return MPQX_OK;
}

static void undo_fini(struct app_undo *u)
{
	config_fini(&u->before);
	config_fini(&u->after);
	slot_fini(&u->slot_before);
	slot_fini(&u->slot_after);
	free(u->path_before);
	free(u->path_after);
	config_fini(&u->saved_before);
	config_fini(&u->saved_after);
}

/* Drops the redo entries and makes room for one more entry; returns it (zeroed) or NULL. */
static struct app_undo *undo_push(struct mpqx_app *a)
{
	for (int i = a->n_undo; i < a->n_redo; i++)
		undo_fini(&a->undo[i]);
	a->n_redo = a->n_undo;
	if (a->n_undo == APP_UNDO_MAX) {
		undo_fini(&a->undo[0]);
		memmove(a->undo, a->undo + 1, sizeof *a->undo * (APP_UNDO_MAX - 1));
		a->n_undo--;
	}
	struct app_undo *u = &a->undo[a->n_undo];
	memset(u, 0, sizeof *u);
	return u;
}

/* Makes c (consumed: the app takes its layers) the edited config, recording the change. */
static int change(struct mpqx_app *a, struct mpqx_config *c, const char *what)
{
	a->quit_armed = false;
	if (config_equal(c, &a->cfg)) {
		config_fini(c);
		return set_msg(a, false, "%s: no change", what);
	}
	struct app_undo *u = undo_push(a);
	u->slot = -1;
	if (config_copy(&u->before, &a->cfg) || config_copy(&u->after, c)) {
		undo_fini(u);
		config_fini(c);
		return set_msg(a, true, "out of memory");
	}
	snprintf(u->what, sizeof u->what, "%s", what);
	a->n_undo++;
	a->n_redo = a->n_undo;
	config_fini(&a->cfg);
	a->cfg = *c;
	memset(c, 0, sizeof *c);
	set_msg(a, false, "%s", what);
	return APP_REDRAW | APP_RECOMPUTE;
}

/* A copy of the edited config to modify and pass to change(). */
static int edit_copy(struct mpqx_app *a, struct mpqx_config *c)
{
	memset(c, 0, sizeof *c);
	return config_copy(c, &a->cfg);
}

static void slot_fill(struct mpqx_app *a, struct app_slot *sl)
{
	const struct mpqx_session *s = a->s;
	sl->used = true;
	for (int r = 0; r < MPQX_RES_COUNT; r++) {
		sl->used_res[r] = session_used(s, (enum mpqx_resource)r);
		sl->util[r] = s->est.util[r];
	}
	sl->fits = s->est.fits;
	sl->limiting = s->est.limiting;
	sl->latency_us = s->est.latency_us;
	sl->eval_valid = s->eval_valid && !s->eval_pending;
	sl->mse = s->res.mse;
	sl->rmse_denorm = s->res.rmse_denorm;
	snprintf(sl->device, sizeof sl->device, "%s", s->dev.name);
}

/* Writes the slots to their file, when there is one. */
static void slots_keep(struct mpqx_app *a)
{
	struct mpqx_err err = {0};
	if (a->slots_path[0] && slots_save(a->slots_path, model(a), a->slots, APP_SLOTS, &err))
		set_msg(a, true, "slots not kept: %s", err.msg);
}

int app_slots_open(struct mpqx_app *a, const char *path)
{
	struct mpqx_err err = {0};
	char note[600];
	snprintf(a->slots_path, sizeof a->slots_path, "%s", path);
	if (slots_load(path, model(a), a->slots, APP_SLOTS, note, sizeof note, &err))
		return set_msg(a, true, "slots not restored: %s", err.msg);
	if (note[0])
		return set_msg(a, true, "%s", note);
	int n = 0;
	for (int k = 0; k < APP_SLOTS; k++)
		n += a->slots[k].used;
	if (n && !a->msg_error)
		set_msg(a, false, "%s on %s: %d slot%s restored (c compares); ? for keys", model(a)->name, a->s->dev.name, n,
			n == 1 ? "" : "s");
	return APP_REDRAW;
}

static int slot_set(struct mpqx_app *a, int k, const struct app_slot *nv, const char *what)
{
	struct app_undo *u = undo_push(a);
	u->slot = k;
	if (slot_copy(&u->slot_before, &a->slots[k]) || slot_copy(&u->slot_after, nv) || slot_copy(&a->slots[k], nv)) {
		undo_fini(u);
		return set_msg(a, true, "out of memory");
	}
	snprintf(u->what, sizeof u->what, "%s", what);
	a->n_undo++;
	a->n_redo = a->n_undo;
	set_msg(a, false, "%s", what);
	slots_keep(a);
	return APP_REDRAW;
}

static int store(struct mpqx_app *a, int k)
{
	/* The figures must belong to the edited config. */
	if (!config_equal(&a->cfg, &a->s->cfg))
		app_sync(a);
	session_wait(a->s);
	struct app_slot nv = {0};
	if (config_copy(&nv.cfg, &a->cfg))
		return set_msg(a, true, "out of memory");
	slot_fill(a, &nv);
	char what[64];
	snprintf(what, sizeof what, "stored in slot %d", k + 1);
	int f = slot_set(a, k, &nv, what);
	slot_fini(&nv);
	a->slot_sel = k;
	return f;
}

static int undo(struct mpqx_app *a, bool redo)
{
	if (redo ? a->n_undo >= a->n_redo : a->n_undo == 0)
		return set_msg(a, false, "nothing to %s", redo ? "redo" : "undo");
	struct app_undo *u = &a->undo[redo ? a->n_undo : a->n_undo - 1];
	int f = APP_REDRAW;
	if (u->slot >= 0) {
		if (slot_copy(&a->slots[u->slot], redo ? &u->slot_after : &u->slot_before))
			return set_msg(a, true, "out of memory");
		slots_keep(a);
	} else {
		if (config_copy(&a->cfg, redo ? &u->after : &u->before))
			return set_msg(a, true, "out of memory");
		f |= APP_RECOMPUTE;
		if (u->path_before && u->path_after) {
			snprintf(a->config_path, sizeof a->config_path, "%s", redo ? u->path_after : u->path_before);
			config_copy(&a->saved, redo ? &u->saved_after : &u->saved_before);
		}
	}
	a->n_undo += redo ? 1 : -1;
	set_msg(a, false, "%s: %s", redo ? "redo" : "undo", u->what);
	return f;
}

/* ---- init ---- */

static void export_commit_windows(struct mpqx_app *a);

int app_init(struct mpqx_app *a, struct mpqx_session *s, const char *config_path)
{
	memset(a, 0, sizeof *a);
	a->s = s;
	a->undo = calloc(APP_UNDO_MAX, sizeof *a->undo);
	if (!a->undo || config_copy(&a->cfg, &s->cfg) || config_copy(&a->saved, &s->cfg)) {
		app_fini(a);
		return MPQX_ENOMEM;
	}
	a->n_devices = session_list_devices(s->devices_dir, a->devices, MPQX_DEVICE_MAX);
	/* The search chooses on the calibration windows, so that the test MSE shown is not selected on. */
	a->search_split = MPQX_CALIB;
	a->export_windows = 10;
	export_commit_windows(a);
	a->export_sim = true;
	snprintf(a->export_dir, sizeof a->export_dir, "%s-export", s->model->name);
	/* No file yet: the title says so and s suggests MODEL.config.json. */
	if (config_path)
		snprintf(a->config_path, sizeof a->config_path, "%s", config_path);
	a->graph_rows = 20;
	a->plot_span = 64;
	a->plot_per_cell = 2;
	a->rows = VIEW_MIN_ROWS;
	a->cols = VIEW_MIN_COLS;
	/* Start on the first layer that has weights: the one a user most likely wants to change. */
	for (int l = 0; l < s->model->n_layers; l++)
		if (session_layer_has_wbits(s, l)) {
			a->sel = l;
			break;
		}
	if (s->note[0])
		set_msg(a, true, "%s", s->note);
	else
		set_msg(a, false, "%s on %s: ? for keys", s->model->name, s->dev.name);
	return MPQX_OK;
}

void app_fini(struct mpqx_app *a)
{
	if (!a)
		return;
	if (a->undo)
		for (int i = 0; i < a->n_redo; i++)
			undo_fini(&a->undo[i]);
	free(a->undo);
	for (int k = 0; k < APP_SLOTS; k++)
		slot_fini(&a->slots[k]);
	search_free(a->search);
	config_fini(&a->search_cand);
	config_fini(&a->fit_from);
	for (int c = 0; c <= APP_SLOTS; c++) {
		config_fini(&a->cmp_key[c]);
		config_fini(&a->cmp_res[c]);
	}
	export_job_free(a->export_job);
	config_fini(&a->cfg);
	config_fini(&a->saved);
	memset(a, 0, sizeof *a);
}

bool app_modified(const struct mpqx_app *a)
{
	return !config_equal(&a->cfg, &a->saved);
}

/* ---- selection and scrolling ---- */

static void scroll_to_sel(struct mpqx_app *a)
{
	int n = model(a)->n_layers;
	if (a->sel < 0)
		a->sel = 0;
	if (a->sel > n - 1)
		a->sel = n - 1;
	int rows = a->graph_rows > 0 ? a->graph_rows : 1;
	if (a->sel < a->graph_top)
		a->graph_top = a->sel;
	if (a->sel >= a->graph_top + rows)
		a->graph_top = a->sel - rows + 1;
	if (a->graph_top > n - rows)
		a->graph_top = n - rows;
	if (a->graph_top < 0)
		a->graph_top = 0;
}

static int select_layer(struct mpqx_app *a, int l)
{
	a->sel = l;
	scroll_to_sel(a);
	return APP_REDRAW;
}

static bool field_applies(const struct mpqx_app *a, enum app_field f)
{
	switch (f) {
	case APP_F_WBITS:
		return session_layer_has_wbits(a->s, a->sel);
	case APP_F_ROM:
		return session_layer_has_rom(a->s, a->sel);
	case APP_F_MULT:
		return session_layer_has_mult(a->s, a->sel);
	default:
		return true;
	}
}

static int move_field(struct mpqx_app *a, int d)
{
	int f = (int)a->field;
	for (int i = 0; i < APP_F_COUNT; i++) {
		f += d;
		if (f < 0 || f >= APP_F_COUNT)
			return APP_REDRAW;
		if (field_applies(a, (enum app_field)f)) {
			a->field = (enum app_field)f;
			return APP_REDRAW;
		}
	}
	return APP_REDRAW;
}

static int clamp_bits(int b)
{
	return b < MPQX_BITS_MIN ? MPQX_BITS_MIN : b > MPQX_BITS_MAX ? MPQX_BITS_MAX : b;
}

static const char *layer_name(const struct mpqx_app *a, int l)
{
	return model(a)->layers[l].name;
}

/* Sets a bit width of the selected layer (weights when w). */
static int set_bits(struct mpqx_app *a, bool w, int v)
{
	if (w && !session_layer_has_wbits(a->s, a->sel))
		return set_msg(a, true, "%s has no weights", layer_name(a, a->sel));
	v = clamp_bits(v);
	struct mpqx_config c;
	if (edit_copy(a, &c))
		return set_msg(a, true, "out of memory");
	struct mpqx_layer_cfg *lc = &c.layers[a->sel];
	int old = w ? lc->w_bits : lc->a_bits;
	if (old == v) {
		config_fini(&c);
		return set_msg(a, false, "%s %s bits already %d (range %d..%d)", layer_name(a, a->sel),
			       w ? "weight" : "output", v, MPQX_BITS_MIN, MPQX_BITS_MAX);
	}
	if (w)
		lc->w_bits = v;
	else
		lc->a_bits = v;
	char what[96];
	snprintf(what, sizeof what, "%s %s bits %d -> %d", layer_name(a, a->sel), w ? "weight" : "output", old, v);
	return change(a, &c, what);
}

static int cycle_storage(struct mpqx_app *a, bool rom, int d)
{
	if (rom && !session_layer_has_rom(a->s, a->sel))
		return set_msg(a, true, "%s has no ROM", layer_name(a, a->sel));
	struct mpqx_config c;
	if (edit_copy(a, &c))
		return set_msg(a, true, "out of memory");
	enum mpqx_storage *st = rom ? &c.layers[a->sel].rom : &c.layers[a->sel].buffer;
	enum mpqx_storage old = *st;
	/* only what the device's family offers (no SPRAM on xc7, none for a ROM) */
	do
		*st = (enum mpqx_storage)(((int)*st + d + MPQX_STORE_COUNT) % MPQX_STORE_COUNT);
	while (!device_storage_ok(&a->s->dev, *st, rom));
	char what[128];
	snprintf(what, sizeof what, "%s %s %s -> %s", layer_name(a, a->sel), rom ? "ROM" : "buffer",
		 config_storage_name(old, rom), config_storage_name(*st, rom));
	return change(a, &c, what);
}

static int cycle_mult(struct mpqx_app *a, int d)
{
	if (!session_layer_has_mult(a->s, a->sel))
		return set_msg(a, true, "%s has no multiplier to choose", layer_name(a, a->sel));
	struct mpqx_config c;
	if (edit_copy(a, &c))
		return set_msg(a, true, "out of memory");
	enum mpqx_mult *st = &c.layers[a->sel].mult, old = *st;
	*st = (enum mpqx_mult)(((int)*st + d + MPQX_MULT_COUNT) % MPQX_MULT_COUNT);
	char what[128];
	snprintf(what, sizeof what, "%s mult %s -> %s", layer_name(a, a->sel), config_mult_name(old),
		 config_mult_name(*st));
	return change(a, &c, what);
}

static int cycle_wgran(struct mpqx_app *a)
{
	if (!session_layer_has_wgran(a->s, a->sel))
		return set_msg(a, true, "%s has no weights to scale per channel", layer_name(a, a->sel));
	struct mpqx_config c;
	if (edit_copy(a, &c))
		return set_msg(a, true, "out of memory");
	enum mpqx_wgran *g = &c.layers[a->sel].w_gran, old = *g;
	*g = (enum mpqx_wgran)(((int)*g + 1) % MPQX_WGRAN_COUNT);
	char what[128];
	snprintf(what, sizeof what, "%s weight scales per %s -> per %s", layer_name(a, a->sel),
		 config_wgran_name(old), config_wgran_name(*g));
	return change(a, &c, what);
}

static int cycle_calib(struct mpqx_app *a)
{
	if (!session_layer_has_calib(a->s, a->sel))
		return set_msg(a, true, "%s has a range fixed by rule (no calibration method)", layer_name(a, a->sel));
	struct mpqx_config c;
	if (edit_copy(a, &c))
		return set_msg(a, true, "out of memory");
	enum mpqx_calib *m = &c.layers[a->sel].calib, old = *m;
	*m = (enum mpqx_calib)(((int)*m + 1) % MPQX_CALIB_COUNT);
	char what[128];
	snprintf(what, sizeof what, "%s calibration %s -> %s", layer_name(a, a->sel), config_calib_name(old),
		 config_calib_name(*m));
	return change(a, &c, what);
}

/* LEFT/RIGHT and their big steps on the current field. */
static int adjust(struct mpqx_app *a, int d)
{
	const struct mpqx_layer_cfg *lc = &a->cfg.layers[a->sel];
	if (!field_applies(a, a->field))
		move_field(a, -1);
	switch (a->field) {
	case APP_F_WBITS:
		return set_bits(a, true, lc->w_bits + d);
	case APP_F_ABITS:
		return set_bits(a, false, lc->a_bits + d);
	case APP_F_BUFFER:
		return cycle_storage(a, false, d > 0 ? 1 : -1);
	case APP_F_ROM:
		return cycle_storage(a, true, d > 0 ? 1 : -1);
	case APP_F_MULT:
		return cycle_mult(a, d > 0 ? 1 : -1);
	default:
		return 0;
	}
}

static int n_windows(const struct mpqx_app *a)
{
	return a->s->fref->windows;
}

static int scroll_plot(struct mpqx_app *a, int d)
{
	int max = n_windows(a) - a->plot_span;
	a->plot_off += d;
	if (a->plot_off > max)
		a->plot_off = max;
	if (a->plot_off < 0)
		a->plot_off = 0;
	return APP_REDRAW;
}

static int device_step(struct mpqx_app *a, int d)
{
	if (a->n_devices == 0)
		return set_msg(a, true, "no devices in %s", a->s->devices_dir);
	int cur = -1;
	for (int i = 0; i < a->n_devices; i++)
		if (strcmp(a->devices[i], a->cfg.device) == 0)
			cur = i;
	int next = cur < 0 ? 0 : (cur + d + a->n_devices) % a->n_devices;
	if (next == cur)
		return set_msg(a, false, "%s is the only device", a->cfg.device);
	struct mpqx_config c;
	if (edit_copy(a, &c))
		return set_msg(a, true, "out of memory");
	char what[160];
	snprintf(what, sizeof what, "device %s -> %s", a->cfg.device, a->devices[next]);
	snprintf(c.device, sizeof c.device, "%s", a->devices[next]);
	return change(a, &c, what);
}

/* ---- prompts ---- */

static int open_prompt(struct mpqx_app *a, enum app_prompt p, const char *initial)
{
	a->under_prompt = a->overlay;
	a->overlay = APP_OV_PROMPT;
	a->prompt = p;
	a->overwrite_path[0] = '\0';
	snprintf(a->text, sizeof a->text, "%s", initial);
	a->text_len = strlen(a->text);
	/* A number is typed anew; a path is edited. */
	a->text_fresh = p == APP_PROMPT_BITS;
	return APP_REDRAW;
}

static void close_prompt(struct mpqx_app *a)
{
	a->overlay = a->under_prompt;
	a->under_prompt = APP_OV_NONE;
}

/* The file s and o offer: the save target, else MODEL.config.json. */
static int open_file_prompt(struct mpqx_app *a, enum app_prompt p)
{
	char t[APP_TEXT_MAX];
	if (!a->config_path[0])
		snprintf(t, sizeof t, "%.1000s.config.json", model(a)->name);
	else
		snprintf(t, sizeof t, "%s", a->config_path);
	return open_prompt(a, p, t);
}

/* Loads a config file as an undoable change that also moves the save target (undo moves it back). A
 * config for another model loads with a warning; one naming an unknown device loads on the current one. */
static int load_config(struct mpqx_app *a, const char *path)
{
	struct mpqx_err err = {0};
	struct mpqx_config c = {0};
	if (config_load(path, model(a), &c, &err)) {
		config_fini(&c);
		return set_msg(a, true, "%s", err.msg);
	}
	char note[APP_TEXT_MAX + 300] = "";
	bool known = strchr(c.device, '/') != NULL;
	for (int i = 0; i < a->n_devices && !known; i++)
		known = strcmp(a->devices[i], c.device) == 0;
	if (!known) {
		char list[400] = "";
		for (int i = 0; i < a->n_devices && strlen(list) + strlen(a->devices[i]) + 3 < sizeof list; i++)
			snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", i ? ", " : "", a->devices[i]);
		snprintf(note, sizeof note, "%s: unknown device '%s', kept %s (known: %s)", path, c.device, a->cfg.device,
			 list);
		snprintf(c.device, sizeof c.device, "%s", a->cfg.device);
	} else if (c.model[0] && strcmp(c.model, model(a)->name) != 0) {
		snprintf(note, sizeof note, "loaded %s: saved for model '%s', not '%s'", path, c.model, model(a)->name);
	}
	char *before = strdup(a->config_path), *after = strdup(path);
	struct mpqx_config saved_before = {0};
	if (!before || !after || config_copy(&saved_before, &a->saved)) {
		free(before);
		free(after);
		config_fini(&c);
		return set_msg(a, true, "out of memory");
	}
	snprintf(a->config_path, sizeof a->config_path, "%s", path);
	config_copy(&a->saved, &c);
	char what[APP_TEXT_MAX + 16];
	snprintf(what, sizeof what, "loaded %s", path);
	int f = change(a, &c, what);
	if (f & APP_RECOMPUTE) {
		struct app_undo *u = &a->undo[a->n_undo - 1];
		u->path_before = before;
		u->path_after = after;
		u->saved_before = saved_before;
		config_copy(&u->saved_after, &a->saved);
	} else {
		free(before);
		free(after);
		config_fini(&saved_before);
		set_msg(a, false, "loaded %s (same as the current config)", path);
	}
	if (note[0])
		set_msg(a, true, "%s", note);
	return f;
}

/* Parses "N" or "W/A" bit widths. */
static bool parse_bits(const char *t, int *w, int *ab)
{
	char *end;
	long x = strtol(t, &end, 10), y = x;
	if (end == t)
		return false;
	while (*end == ' ')
		end++;
	if (*end == '/') {
		const char *p = end + 1;
		y = strtol(p, &end, 10);
		if (end == p)
			return false;
	}
	while (*end == ' ')
		end++;
	if (*end || x < MPQX_BITS_MIN || x > MPQX_BITS_MAX || y < MPQX_BITS_MIN || y > MPQX_BITS_MAX)
		return false;
	*w = (int)x;
	*ab = (int)y;
	return true;
}

/* ---- finding a layer by name ---- */

static bool name_matches(const char *name, const char *pat)
{
	size_t n = strlen(pat);
	if (n == 0)
		return false;
	for (const char *p = name; *p; p++) {
		size_t i = 0;
		while (i < n && p[i] && tolower((unsigned char)p[i]) == tolower((unsigned char)pat[i]))
			i++;
		if (i == n)
			return true;
	}
	return false;
}

/* The first layer from `from` on (wrapping) whose name contains pat, ignoring case; -1 when none. */
static int find_layer(const struct mpqx_app *a, const char *pat, int from)
{
	int n = model(a)->n_layers;
	for (int k = 0; k < n; k++) {
		int l = ((from + k) % n + n) % n;
		if (name_matches(layer_name(a, l), pat))
			return l;
	}
	return -1;
}

static int count_matches(const struct mpqx_app *a, const char *pat)
{
	int c = 0;
	for (int l = 0; l < model(a)->n_layers; l++)
		c += name_matches(layer_name(a, l), pat);
	return c;
}

/* As the text of / changes: select the first match from the layer selected when / was pressed. */
static int find_update(struct mpqx_app *a)
{
	if (a->text_len == 0) {
		select_layer(a, a->find_from);
		return set_msg(a, false, "find: type part of a layer name");
	}
	int l = find_layer(a, a->text, a->find_from);
	if (l < 0)
		return set_msg(a, true, "find: no layer name contains '%s'", a->text);
	select_layer(a, l);
	return set_msg(a, false, "find '%s': %d of %d layers match (Enter keeps, n next)", a->text, count_matches(a, a->text),
		       model(a)->n_layers);
}

static int find_next(struct mpqx_app *a)
{
	if (!a->find[0])
		return set_msg(a, true, "n: nothing to find yet (/ finds a layer by name)");
	int l = find_layer(a, a->find, a->sel + 1);
	if (l < 0)
		return set_msg(a, true, "find: no layer name contains '%s'", a->find);
	select_layer(a, l);
	return set_msg(a, false, "find '%s': %s", a->find, layer_name(a, l));
}

static int confirm_prompt(struct mpqx_app *a)
{
	struct mpqx_err err = {0};
	enum app_prompt p = a->prompt;
	char path[APP_TEXT_MAX];
	if (p != APP_PROMPT_BITS && a->text_len > 0) {
		if (fileio_expand_home(a->text, path, sizeof path))
			return set_msg(a, true, "%s: the name is too long", a->text);
		/* Saving over a file that is not the config being edited asks once: Enter again replaces it. */
		struct stat st;
		if (p == APP_PROMPT_SAVE && stat(path, &st) == 0 && strcmp(path, a->config_path) != 0 &&
		    strcmp(path, a->overwrite_path) != 0) {
			snprintf(a->overwrite_path, sizeof a->overwrite_path, "%s", path);
			return set_msg(a, false, "%s exists: Enter again replaces it, Esc keeps it", path);
		}
	}
	if (p == APP_PROMPT_FIND) {
		if (a->text_len == 0 || find_layer(a, a->text, a->find_from) < 0) {
			if (a->text_len)
				return set_msg(a, true, "find: no layer name contains '%s'", a->text);
			close_prompt(a);
			return set_msg(a, false, "find: cancelled");
		}
		close_prompt(a);
		snprintf(a->find, sizeof a->find, "%.127s", a->text);
		return set_msg(a, false, "%s (n: next match)", layer_name(a, a->sel));
	}
	/* An error keeps the prompt open with the typed text, for a correction. */
	if (p == APP_PROMPT_BITS) {
		int w, ab;
		if (!parse_bits(a->text, &w, &ab))
			return set_msg(a, true, "'%s': give N or W/A with %d..%d", a->text, MPQX_BITS_MIN, MPQX_BITS_MAX);
		close_prompt(a);
		struct mpqx_config c;
		if (edit_copy(a, &c))
			return set_msg(a, true, "out of memory");
		for (int l = 0; l < c.n_layers; l++) {
			c.layers[l].w_bits = w;
			c.layers[l].a_bits = ab;
		}
		char what[64];
		snprintf(what, sizeof what, "every layer to %d/%d bits", w, ab);
		return change(a, &c, what);
	}
	if (a->text_len == 0)
		return set_msg(a, true, "no file name given");
	if (p == APP_PROMPT_SAVE) {
		if (config_save(path, model(a), &a->cfg, &err))
			return set_msg(a, true, "%s", err.msg);
		close_prompt(a);
		config_copy(&a->saved, &a->cfg);
		snprintf(a->config_path, sizeof a->config_path, "%s", path);
		return set_msg(a, false, "saved %s", path);
	}
	/* A file that does not load keeps the prompt and the name typed. */
	struct mpqx_config c = {0};
	if (config_load(path, model(a), &c, &err)) {
		config_fini(&c);
		return set_msg(a, true, "%s", err.msg);
	}
	config_fini(&c);
	close_prompt(a);
	return load_config(a, path);
}

/* ---- the export dialog ---- */

/* The windows field holds what will run: 1 up to the test windows. */
static void export_commit_windows(struct mpqx_app *a)
{
	if (a->export_windows > n_windows(a))
		a->export_windows = n_windows(a);
	if (a->export_windows < 1)
		a->export_windows = 1;
}

static void export_field(struct mpqx_app *a, int d)
{
	export_commit_windows(a);
	a->export_over_armed = false;
	a->xfield = (enum app_xfield)((a->xfield + d + APP_X_COUNT) % APP_X_COUNT);
}

bool app_export_busy(const struct mpqx_app *a)
{
	return a->export_job != NULL;
}

/* Keys while an export runs: Esc cancels it, e and q hide the dialog (it goes on); nothing else acts, so
 * keys typed while waiting do not start a second export or change its settings. */
static int export_running_action(struct mpqx_app *a, enum app_action act)
{
	switch (act) {
	case APP_ACT_CANCEL:
		export_job_cancel(a->export_job);
		snprintf(a->export_result, sizeof a->export_result, "cancelling...");
		return set_msg(a, false, "cancelling the export; %s is left as it was", a->export_target);
	case APP_ACT_EXPORT:
	case APP_ACT_QUIT:
		a->overlay = APP_OV_NONE;
		return set_msg(a, false, "the export goes on in the background: e shows it, Esc there cancels it");
	case APP_ACT_SLOT_LOAD:
		return set_msg(a, false, "an export is running: Esc cancels it, e hides this dialog");
	default:
		return 0;
	}
}

static int export_action(struct mpqx_app *a, enum app_action act)
{
	if (a->export_job)
		return export_running_action(a, act);
	switch (act) {
	case APP_ACT_CANCEL:
	case APP_ACT_EXPORT:
	case APP_ACT_QUIT:
		export_commit_windows(a);
		a->overlay = APP_OV_NONE;
		return APP_REDRAW;
	case APP_ACT_UP:
	case APP_ACT_FOCUS_PREV:
		export_field(a, -1);
		return APP_REDRAW;
	case APP_ACT_DOWN:
	case APP_ACT_FOCUS_NEXT:
		export_field(a, 1);
		return APP_REDRAW;
	case APP_ACT_LEFT:
	case APP_ACT_RIGHT:
	case APP_ACT_BIG_LEFT:
	case APP_ACT_BIG_RIGHT: {
		int d = act == APP_ACT_LEFT ? -1 : act == APP_ACT_RIGHT ? 1 : act == APP_ACT_BIG_LEFT ? -10 : 10;
		if (a->xfield == APP_X_WINDOWS) {
			a->export_windows += d;
			export_commit_windows(a);
		} else if (a->xfield == APP_X_SIM) {
			a->export_sim = !a->export_sim;
		}
		return APP_REDRAW;
	}
	case APP_ACT_SLOT_LOAD:
		/* Enter confirms a field and moves to the next; on the check box it toggles; only the button runs. */
		if (a->xfield == APP_X_SIM) {
			a->export_sim = !a->export_sim;
			return APP_REDRAW;
		}
		if (a->xfield != APP_X_RUN) {
			export_field(a, 1);
			return APP_REDRAW;
		}
		export_commit_windows(a);
		if (!a->s->est.fits && !a->export_over_armed) {
			a->export_over_armed = true;
			snprintf(a->export_result, sizeof a->export_result,
				 "OVER: the design does not fit %s (%s at %.0f%%): Enter again exports anyway", a->s->dev.name,
				 estimate_resource_name(a->s->est.limiting), 100 * a->s->est.util[a->s->est.limiting]);
			a->export_done = false;
			return set_msg(a, true, "the design does not fit %s: Enter again exports anyway", a->s->dev.name);
		}
		a->export_over_armed = false;
		a->export_done = false;
		snprintf(a->export_result, sizeof a->export_result, "starting...");
		return APP_REDRAW | APP_RUN_EXPORT;
	default:
		return 0;
	}
}

static int export_open(struct mpqx_app *a)
{
	a->overlay = APP_OV_EXPORT;
	if (a->export_job)
		return APP_REDRAW; /* the running export's progress */
	/* The settings stay as they were left; the focus goes to the button, the last result goes. */
	a->xfield = APP_X_RUN;
	a->export_done = false;
	a->export_over_armed = false;
	a->export_result[0] = '\0';
	if (!a->s->est.fits)
		snprintf(a->export_result, sizeof a->export_result, "OVER: the design does not fit %s", a->s->dev.name);
	return APP_REDRAW;
}

int app_export_run(struct mpqx_app *a)
{
	struct mpqx_err err = {0};
	if (a->export_job)
		return set_msg(a, false, "an export is running: Esc in its dialog cancels it");
	export_commit_windows(a);
	if (fileio_expand_home(a->export_dir, a->export_target, sizeof a->export_target)) {
		snprintf(a->export_target, sizeof a->export_target, "%s", a->export_dir);
		err_set(&err, MPQX_EINPUT, "%s: the name is too long", a->export_dir);
	} else {
		export_job_start(a->s, &a->cfg, a->export_target, a->export_windows, a->export_sim, &a->export_job, &err);
	}
	if (err.code) {
		a->export_done = true;
		a->export_rc = err.code;
		snprintf(a->export_result, sizeof a->export_result, "%s", err.msg);
		return set_msg(a, true, "export failed: %s", err.msg);
	}
	a->export_done = false;
	a->export_rc = MPQX_OK;
	snprintf(a->export_result, sizeof a->export_result, "writing the files...");
	return APP_REDRAW;
}

/* "1 min 05 s" or "12 s". */
static void fmt_left(char *buf, size_t size, double s)
{
	long t = lround(s);
	if (t >= 60)
		snprintf(buf, size, "%ld min %02ld s", t / 60, t % 60);
	else
		snprintf(buf, size, "%ld s", t);
}

int app_export_poll(struct mpqx_app *a)
{
	if (!a->export_job)
		return 0;
	struct mpqx_export_progress p;
	export_job_progress(a->export_job, &p);
	char text[sizeof a->export_result];
	if (p.phase == MPQX_XP_WRITE) {
		snprintf(text, sizeof text, "writing the files...");
	} else if (p.phase == MPQX_XP_SIM) {
		char left[32] = "";
		if (p.left_s >= 0)
			fmt_left(left, sizeof left, p.left_s);
		snprintf(text, sizeof text, "simulating: %d/%d windows%s%s%s  (Esc cancels)", p.done, p.total,
			 p.done ? ", " : ", compiling", p.done ? left : "", p.done ? " left" : "");
	} else {
		export_job_free(a->export_job);
		a->export_job = NULL;
		a->export_done = true;
		a->export_rc = p.rc;
		if (p.cancelled) {
			a->export_rc = MPQX_EINPUT;
			snprintf(a->export_result, sizeof a->export_result, "cancelled: %.400s left as it was", a->export_target);
			return set_msg(a, false, "export cancelled: %s left as it was", a->export_target);
		}
		if (p.rc) {
			snprintf(a->export_result, sizeof a->export_result, "%.200s%s%.300s", p.result, p.result[0] ? ": " : "",
				 p.msg);
			return set_msg(a, true, "export failed: %s", p.msg);
		}
		snprintf(a->export_result, sizeof a->export_result, "%s", p.result);
		return set_msg(a, false, "exported to %s%s%s", a->export_target, p.result[0] ? ": " : "", p.result);
	}
	if (strcmp(text, a->export_result) == 0)
		return 0;
	snprintf(a->export_result, sizeof a->export_result, "%s", text);
	if (a->overlay != APP_OV_EXPORT)
		set_msg(a, false, "export: %s", text);
	return APP_REDRAW;
}

int app_export_wait(struct mpqx_app *a)
{
	if (a->export_job)
		export_job_wait(a->export_job);
	return app_export_poll(a);
}

/* ---- compare view ---- */

static int compare_action(struct mpqx_app *a, enum app_action act)
{
	switch (act) {
	case APP_ACT_CANCEL:
	case APP_ACT_COMPARE:
	case APP_ACT_QUIT:
		a->overlay = APP_OV_NONE;
		return APP_REDRAW;
	case APP_ACT_LEFT:
	case APP_ACT_BIG_LEFT:
		if (a->slot_sel > 0)
			a->slot_sel--;
		return APP_REDRAW;
	case APP_ACT_RIGHT:
	case APP_ACT_BIG_RIGHT:
		if (a->slot_sel < APP_SLOTS - 1)
			a->slot_sel++;
		return APP_REDRAW;
	case APP_ACT_UP:
	case APP_ACT_PAGE_UP:
		a->compare_top -= act == APP_ACT_UP ? 1 : 10;
		if (a->compare_top < 0)
			a->compare_top = 0;
		return APP_REDRAW;
	case APP_ACT_DOWN:
	case APP_ACT_PAGE_DOWN:
		a->compare_top += act == APP_ACT_DOWN ? 1 : 10;
		if (a->compare_top > model(a)->n_layers - 1)
			a->compare_top = model(a)->n_layers - 1;
		return APP_REDRAW;
	case APP_ACT_SLOT_LOAD: {
		struct app_slot *sl = &a->slots[a->slot_sel];
		if (!sl->used)
			return set_msg(a, true, "slot %d is empty", a->slot_sel + 1);
		struct mpqx_config c = {0};
		if (config_copy(&c, &sl->cfg))
			return set_msg(a, true, "out of memory");
		char what[64];
		snprintf(what, sizeof what, "loaded slot %d", a->slot_sel + 1);
		int f = change(a, &c, what);
		a->overlay = APP_OV_NONE;
		return f | APP_REDRAW;
	}
	case APP_ACT_BUFFER: {
		int c = a->slot_sel + 1;
		if (!a->slots[a->slot_sel].used && a->compare_base != c)
			return set_msg(a, true, "slot %d is empty: store a config there first (1-4)", c);
		a->compare_base = a->compare_base == c ? 0 : c;
		if (a->compare_base == 0)
			return set_msg(a, false, "compare: differences against the current config");
		return set_msg(a, false, "compare: differences against slot %d", a->compare_base);
	}
	case APP_ACT_TOP:
		a->compare_top = 0;
		return APP_REDRAW;
	case APP_ACT_SLOT_CLEAR: {
		if (!a->slots[a->slot_sel].used)
			return set_msg(a, false, "slot %d is already empty", a->slot_sel + 1);
		struct app_slot empty = {0};
		char what[64];
		snprintf(what, sizeof what, "emptied slot %d", a->slot_sel + 1);
		return slot_set(a, a->slot_sel, &empty, what);
	}
	default:
		return -1; /* not a compare action: handled as usual */
	}
}

/* ---- compare columns ---- */

static const struct mpqx_config *column_cfg(const struct mpqx_app *a, int c)
{
	if (c == 0)
		return &a->cfg;
	return c <= APP_SLOTS && a->slots[c - 1].used ? &a->slots[c - 1].cfg : NULL;
}

/* Resolves the storage of every column whose config changed since (a quantized model per config: a few
 * milliseconds, only when a slot or the edited config changed). */
static void compare_refresh(struct mpqx_app *a)
{
	const struct mpqx_session *s = a->s;
	for (int c = 0; c <= APP_SLOTS; c++) {
		const struct mpqx_config *cfg = column_cfg(a, c);
		if (!cfg || (a->cmp_key[c].layers && config_equal(&a->cmp_key[c], cfg)))
			continue;
		if (config_copy(&a->cmp_key[c], cfg) || config_copy(&a->cmp_res[c], cfg)) {
			config_fini(&a->cmp_key[c]);
			continue;
		}
		struct mpqx_config *r = &a->cmp_res[c];
		if (config_equal(cfg, &s->cfg)) {
			for (int l = 0; l < r->n_layers; l++) {
				r->layers[l].buffer = s->est.buffer[l];
				r->layers[l].rom = s->est.rom[l];
			}
			continue;
		}
		struct mpqx_qmodel *q = NULL;
		struct mpqx_err err = {0};
		if (quant_build(s->model, s->fref, cfg, &q, &err)) {
			config_fini(&a->cmp_key[c]); /* not known: shown as configured */
			continue;
		}
		for (int l = 0; l < r->n_layers; l++) {
			r->layers[l].buffer = estimate_resolve_buffer_on(q, cfg, l, &s->dev);
			r->layers[l].rom = estimate_resolve_rom_on(q, cfg, l, &s->dev);
		}
		quant_free(q);
	}
}

bool app_compare_column(const struct mpqx_app *a, int c, struct app_column *out)
{
	memset(out, 0, sizeof *out);
	const struct mpqx_config *cfg = column_cfg(a, c);
	if (!cfg)
		return false;
	out->cfg = cfg;
	out->resolved = a->cmp_key[c].layers && config_equal(&a->cmp_key[c], cfg) ? &a->cmp_res[c] : NULL;
	if (c == 0) {
		const struct mpqx_session *s = a->s;
		for (int r = 0; r < MPQX_RES_COUNT; r++) {
			out->used_res[r] = session_used(s, (enum mpqx_resource)r);
			out->util[r] = s->est.util[r];
		}
		out->fits = s->est.fits;
		out->limiting = s->est.limiting;
		out->latency_us = s->est.latency_us;
		out->mse = s->res.mse;
		out->rmse_denorm = s->res.rmse_denorm;
		out->eval_valid = s->eval_valid && !s->eval_pending;
		out->device = s->dev.name;
		return true;
	}
	const struct app_slot *sl = &a->slots[c - 1];
	memcpy(out->used_res, sl->used_res, sizeof out->used_res);
	memcpy(out->util, sl->util, sizeof out->util);
	out->fits = sl->fits;
	out->limiting = sl->limiting;
	out->latency_us = sl->latency_us;
	out->mse = sl->mse;
	out->rmse_denorm = sl->rmse_denorm;
	out->eval_valid = sl->eval_valid;
	out->device = sl->device;
	return true;
}

double app_compare_value(const struct app_column *col, enum app_crow row)
{
	if ((int)row < MPQX_RES_COUNT)
		return col->used_res[row];
	if (row == APP_CR_LATENCY)
		return col->latency_us;
	if (!col->eval_valid)
		return NAN;
	return row == APP_CR_MSE ? col->mse : col->rmse_denorm;
}

bool app_compare_best(const struct mpqx_app *a, enum app_crow row, int c)
{
	struct app_column col;
	if (!app_compare_column(a, c, &col))
		return false;
	double v = app_compare_value(&col, row);
	if (isnan(v))
		return false;
	bool worse = false;
	for (int k = 0; k <= APP_SLOTS; k++) {
		struct app_column o;
		if (k == c || !app_compare_column(a, k, &o))
			continue;
		double w = app_compare_value(&o, row);
		if (isnan(w))
			continue;
		if (w < v)
			return false;
		worse = worse || w > v;
	}
	return worse;
}

int app_compare_dominated_by(const struct mpqx_app *a, int c)
{
	struct app_column x;
	if (!app_compare_column(a, c, &x) || !x.eval_valid)
		return -1;
	for (int k = 0; k <= APP_SLOTS; k++) {
		struct app_column y;
		if (k == c || !app_compare_column(a, k, &y) || !y.eval_valid || (x.fits && !y.fits))
			continue;
		bool le = true, lt = y.fits && !x.fits;
		for (int r = 0; r < APP_CR_RMSE; r++) {
			double vx = app_compare_value(&x, (enum app_crow)r), vy = app_compare_value(&y, (enum app_crow)r);
			le = le && vy <= vx;
			lt = lt || vy < vx;
		}
		if (le && lt)
			return k;
	}
	return -1;
}

bool app_compare_differs(const struct mpqx_app *a, int c, int l)
{
	struct app_column x, b;
	int base = a->compare_base;
	if (c == base || !app_compare_column(a, c, &x) || !app_compare_column(a, base, &b))
		return false;
	const struct mpqx_layer_cfg *p = &x.cfg->layers[l], *q = &b.cfg->layers[l];
	const struct mpqx_layer_cfg *pr = x.resolved ? &x.resolved->layers[l] : p, *qr = b.resolved ? &b.resolved->layers[l] : q;
	bool w = session_layer_has_wbits(a->s, l), rom = session_layer_has_rom(a->s, l);
	return (w && p->w_bits != q->w_bits) || p->a_bits != q->a_bits || pr->buffer != qr->buffer ||
	       (rom && pr->rom != qr->rom);
}

/* ---- the search: sensitivity marks, best fit, Pareto view ---- */

static bool ensure_search(struct mpqx_app *a)
{
	if (a->search)
		return true;
	if (a->search_off)
		return false;
	struct mpqx_err err = {0};
	/* One engine thread: the session's evaluations keep the cores for the sliders. */
	if (search_new(a->s, a->search_split, 1, &a->search, &err)) {
		a->search_off = true;
		set_msg(a, true, "search: %s", err.msg);
		return false;
	}
	return true;
}

const struct mpqx_search_result *app_pareto(const struct mpqx_app *a)
{
	if (!a->search)
		return NULL;
	const struct mpqx_search_result *r = search_last(a->search);
	return r && strcmp(a->result_device, a->cfg.device) == 0 ? r : NULL;
}

bool app_search_busy(const struct mpqx_app *a)
{
	return a->search && search_busy(a->search);
}

double app_front_x(const struct mpqx_search_point *p, int f)
{
	return f == MPQX_FRONT_LUT ? p->used[MPQX_RES_LUT] : f == MPQX_FRONT_BRAM ? p->used[MPQX_RES_BRAM] : p->latency_us;
}

/* The point the Pareto view selects first: the best that fits when it is on the front, else the last. */
static void pareto_default_sel(struct mpqx_app *a)
{
	const struct mpqx_search_result *r = app_pareto(a);
	a->pareto_sel = 0;
	if (!r)
		return;
	int f = a->pareto_front, n = r->n_front[f];
	a->pareto_sel = n > 0 ? n - 1 : 0;
	for (int i = 0; r->found && i < n; i++)
		if (config_equal(&r->front[f][i].cfg, &r->best.cfg))
			a->pareto_sel = i;
}

/* Applies a configuration found by the search as an undoable change. */
static int apply_found(struct mpqx_app *a, const struct mpqx_search_point *p, const char *label)
{
	struct mpqx_config c = {0};
	if (config_copy(&c, &p->cfg))
		return set_msg(a, true, "out of memory");
	/* The figure names its windows: the test MSE of the applied config follows in the accuracy pane. A
	 * figure selected on the test windows is called what it is. */
	const struct mpqx_search_result *r = search_last(a->search);
	enum mpqx_split sp = r ? r->split : a->search_split;
	char what[240];
	snprintf(what, sizeof what, "%s: %s MSE %.4g%s, LUT %.0f, BRAM %.1f, DSP %.0f, %.1f us", label,
		 sp == MPQX_TEST ? "test" : sp == MPQX_CALIB ? "calib" : "train", p->mse,
		 !p->exact ? " (surrogate)" : sp == MPQX_TEST ? " (selected on the test windows: optimistic)" : "",
		 p->used[MPQX_RES_LUT], p->used[MPQX_RES_BRAM], p->used[MPQX_RES_DSP], p->latency_us);
	return change(a, &c, what);
}

static int apply_best(struct mpqx_app *a)
{
	const struct mpqx_search_result *r = app_pareto(a);
	if (!r)
		return set_msg(a, true, "no search result for %s", a->cfg.device);
	if (!r->found)
		return set_msg(a, true, "nothing fits %s: %s", a->cfg.device, r->why);
	a->fit_offer = false;
	if (config_equal(&r->best.cfg, &a->cfg))
		return set_msg(a, false, "best fit on %s: the config is already the best found (%s MSE %.4g)", a->cfg.device,
			       r->split == MPQX_TEST ? "test" : r->split == MPQX_CALIB ? "calib" : "train", r->best.mse);
	char label[96];
	snprintf(label, sizeof label, "best fit on %s", a->cfg.device);
	return apply_found(a, &r->best, label);
}

const char *app_split_name(enum mpqx_split sp)
{
	return sp == MPQX_TEST ? "test" : sp == MPQX_CALIB ? "calibration" : "training";
}

double app_current_search_mse(const struct mpqx_app *a)
{
	const struct mpqx_search_result *r = app_pareto(a);
	if (!r || !r->candidate_fits || !config_equal(&a->cfg, &a->search_cand))
		return NAN;
	return r->candidate_mse;
}

int app_poll(struct mpqx_app *a)
{
	if (!ensure_search(a))
		return 0;
	int f = 0;
	struct mpqx_err err = {0};
	if (search_poll(a->search, &err)) {
		f |= APP_REDRAW;
		bool had_base = a->search_running;
		a->search_running = false;
		if (err.code) {
			a->want_fit = false;
			a->want_search = false;
			f |= set_msg(a, true, "search: %s", err.msg);
		} else if (had_base) {
			snprintf(a->result_device, sizeof a->result_device, "%s", a->search_device);
			pareto_default_sel(a);
			if (a->want_fit) {
				a->want_fit = false;
				if (strcmp(a->search_device, a->cfg.device) != 0) {
					f |= set_msg(a, true, "the device changed during the search: f searches again");
				} else if (!config_equal(&a->search_cand, &a->fit_from)) {
					/* It ran for another config than the one f was pressed on: again, with that one
					 * as the candidate. */
					a->want_fit = true;
					a->want_search = true;
				} else if (!config_equal(&a->cfg, &a->fit_from)) {
					/* Edits made while it ran stay; the result is offered. */
					a->fit_offer = true;
					const struct mpqx_search_result *r = search_last(a->search);
					f |= set_msg(a, false, "best fit found (%s MSE %.4g): your edits since f are kept; f applies it",
						     r->split == MPQX_TEST ? "test" : r->split == MPQX_CALIB ? "calib" : "train", r->best.mse);
				} else {
					f |= apply_best(a);
				}
			} else {
				const struct mpqx_search_result *r = search_last(a->search);
				f |= set_msg(a, !r->found, "search on %s: %s", a->result_device,
					     r->found ? "done (f applies the best that fits)" : "nothing fits");
			}
		}
	}
	if (!search_busy(a->search)) {
		if (a->want_search) {
			a->want_search = false;
			/* The search starts from uniform 8 bits with storage auto on the edited config's device, whatever
			 * the edited config is, so that it finds the same whatever it starts from; the edited config
			 * competes as a candidate, so that the result is never worse than it. */
			struct mpqx_search_opts o;
			search_opts_default(&o);
			struct mpqx_config base = {0};
			int rc = config_init(&base, model(a), 8);
			if (!rc)
				rc = config_copy(&a->search_cand, a->want_fit && a->fit_from.layers ? &a->fit_from : &a->cfg);
			if (rc) {
				config_fini(&base);
				a->want_fit = false;
				return f | set_msg(a, true, "out of memory");
			}
			snprintf(base.device, sizeof base.device, "%s", a->cfg.device);
			o.candidate = &a->search_cand;
			rc = search_start(a->search, &base, &o, &err);
			config_fini(&base);
			a->fit_offer = false;
			if (rc) {
				a->want_fit = false;
				f |= set_msg(a, true, "search: %s", err.msg);
			} else {
				a->search_running = true;
				snprintf(a->search_device, sizeof a->search_device, "%s", a->cfg.device);
				f |= APP_REDRAW;
			}
		} else if (!a->sens_started && !search_sens(a->search)) {
			a->sens_started = true;
			if (search_start(a->search, NULL, NULL, &err))
				f |= set_msg(a, true, "sensitivity: %s", err.msg);
		}
	}
	return f;
}

int app_search_wait(struct mpqx_app *a)
{
	int f = app_poll(a);
	while (app_search_busy(a) || (a->search && a->want_search)) {
		search_wait(a->search);
		f |= app_poll(a);
	}
	return f;
}

double app_sens(const struct mpqx_app *a, int l)
{
	const struct mpqx_sensitivity *sn = a->search ? search_sens(a->search) : NULL;
	if (!sn || !(sn->mse_ref > 0) || l < 0 || l >= sn->n_layers)
		return NAN;
	double v = search_sens_step(sn, &a->cfg, l, false);
	if (model_layer_has_weights(&model(a)->layers[l])) {
		double w = search_sens_step(sn, &a->cfg, l, true);
		v = w > v ? w : v;
	}
	return v > 0 ? v / sn->mse_ref : 0;
}

/* Asks for a search on the edited config's device unless its result is at hand. */
static int want_search(struct mpqx_app *a, bool fit)
{
	if (!ensure_search(a))
		return set_msg(a, true, "no search in this session");
	if (app_pareto(a) && !(a->search_running && strcmp(a->search_device, a->cfg.device) != 0)) {
		/* A result at hand is applied when it was offered or the config is the one it competed with;
		 * after other edits the search runs again with the edited config as its candidate. */
		if (!fit)
			return APP_REDRAW;
		if (a->fit_offer || config_equal(&a->cfg, &a->search_cand))
			return apply_best(a);
	}
	a->want_fit = a->want_fit || fit;
	if (fit && config_copy(&a->fit_from, &a->cfg))
		return set_msg(a, true, "out of memory");
	if (!a->search_running || strcmp(a->search_device, a->cfg.device) != 0)
		a->want_search = true;
	return set_msg(a, false, "searching %s for the best configuration that fits, chosen on the %s windows%s",
		       a->cfg.device, app_split_name(a->search_split), fit ? "; applied when found" : "");
}

void app_pareto_axes(const struct mpqx_app *a, struct app_axes *ax)
{
	const struct mpqx_search_result *r = app_pareto(a);
	int f = a->pareto_front;
	double lo = INFINITY, hi = -INFINITY, ylo = INFINITY, yhi = -INFINITY;
	const double cur_x = f == MPQX_FRONT_LUT	 ? session_used(a->s, MPQX_RES_LUT)
			     : f == MPQX_FRONT_BRAM ? session_used(a->s, MPQX_RES_BRAM)
						    : a->s->est.latency_us;
	lo = hi = cur_x;
	double cur_mse = app_current_search_mse(a);
	if (cur_mse > 0)
		ylo = yhi = log10(cur_mse);
	if (r) {
		for (int i = 0; i < r->n_front[f]; i++) {
			const struct mpqx_search_point *p = &r->front[f][i];
			double x = app_front_x(p, f);
			lo = fmin(lo, x);
			hi = fmax(hi, x);
			if (p->mse > 0) {
				ylo = fmin(ylo, log10(p->mse));
				yhi = fmax(yhi, log10(p->mse));
			}
		}
		/* The axis follows the data; the budget joins it only when it lies close to the data (the view
		 * names a budget beyond the axis at its end). */
		double cap = f == MPQX_FRONT_LUT ? r->budget[MPQX_RES_LUT] : f == MPQX_FRONT_BRAM ? r->budget[MPQX_RES_BRAM] : r->latency_max;
		double span = hi > lo ? hi - lo : fabs(hi) * 0.1 + 1;
		if (cap > 0 && cap <= hi + 0.25 * span)
			hi = fmax(hi, cap);
	}
	if (!(hi > lo)) {
		lo -= 1;
		hi += 1;
	}
	double pad = (hi - lo) * 0.04;
	ax->lo = fmax(0, lo - pad);
	ax->hi = hi + pad;
	if (!isfinite(ylo) || !(yhi > ylo)) {
		ylo = isfinite(ylo) ? ylo - 0.5 : -3;
		yhi = ylo + 1;
	}
	double ypad = (yhi - ylo) * 0.06;
	ax->ylo = ylo - ypad;
	ax->yhi = yhi + ypad;
}

bool app_pareto_cell(const struct app_axes *ax, double x, double mse, int w, int h, int *col, int *row)
{
	if (w < 1 || h < 1 || !(mse > 0) || !isfinite(x) || !(ax->hi > ax->lo) || !(ax->yhi > ax->ylo))
		return false;
	double fx = (x - ax->lo) / (ax->hi - ax->lo), fy = (ax->yhi - log10(mse)) / (ax->yhi - ax->ylo);
	if (fx < 0 || fx > 1 || fy < 0 || fy > 1)
		return false;
	*col = (int)lround(fx * (w - 1));
	*row = (int)lround(fy * (h - 1));
	return true;
}

static int pareto_action(struct mpqx_app *a, enum app_action act)
{
	const struct mpqx_search_result *r = app_pareto(a);
	int n = r ? r->n_front[a->pareto_front] : 0;
	switch (act) {
	case APP_ACT_CANCEL:
	case APP_ACT_PARETO:
	case APP_ACT_QUIT:
		a->overlay = APP_OV_NONE;
		return APP_REDRAW;
	case APP_ACT_UP:
	case APP_ACT_DOWN:
	case APP_ACT_FOCUS_NEXT:
	case APP_ACT_FOCUS_PREV: {
		int d = act == APP_ACT_UP || act == APP_ACT_FOCUS_PREV ? -1 : 1;
		a->pareto_front = (a->pareto_front + d + MPQX_FRONT_COUNT) % MPQX_FRONT_COUNT;
		pareto_default_sel(a);
		return APP_REDRAW;
	}
	case APP_ACT_LEFT:
	case APP_ACT_RIGHT:
	case APP_ACT_BIG_LEFT:
	case APP_ACT_BIG_RIGHT: {
		int d = act == APP_ACT_LEFT ? -1 : act == APP_ACT_RIGHT ? 1 : act == APP_ACT_BIG_LEFT ? -BIG_STEP : BIG_STEP;
		a->pareto_sel += d;
		if (a->pareto_sel > n - 1)
			a->pareto_sel = n - 1;
		if (a->pareto_sel < 0)
			a->pareto_sel = 0;
		return APP_REDRAW;
	}
	case APP_ACT_TOP:
		a->pareto_sel = 0;
		return APP_REDRAW;
	case APP_ACT_BOTTOM:
		a->pareto_sel = n > 0 ? n - 1 : 0;
		return APP_REDRAW;
	case APP_ACT_SLOT_LOAD: {
		if (!r || a->pareto_sel >= n)
			return set_msg(a, true, "no Pareto point to apply yet");
		char label[96];
		snprintf(label, sizeof label, "Pareto point %d/%d (%s)", a->pareto_sel + 1, n,
			 search_front_name((enum mpqx_front)a->pareto_front));
		int f = apply_found(a, &r->front[a->pareto_front][a->pareto_sel], label);
		a->overlay = APP_OV_NONE;
		return f | APP_REDRAW;
	}
	case APP_ACT_FIT:
	case APP_ACT_UNDO:
	case APP_ACT_REDO:
	case APP_ACT_REDRAW:
	case APP_ACT_HELP:
		return -1; /* handled as usual */
	default:
		return 0;
	}
}

/* ---- help ---- */

#define HELP_KEY_W 12 /* the key column */

void app_help_geometry(int rows, int cols, int *text_w, int *view_rows)
{
	struct view_layout l;
	view_layout(rows, cols, &l);
	/* inside the frame: one column margin each side, the key column, a last row for the scroll hint */
	*text_w = l.help.w - 4 - HELP_KEY_W;
	*view_rows = l.help.h - 3;
	if (*text_w < 10)
		*text_w = 10;
	if (*view_rows < 1)
		*view_rows = 1;
}

struct help_out {
	struct app_help_line *out;
	int max, n, width;
};

static void help_put(struct help_out *h, const char *key, const char *text, bool heading)
{
	if (h->n < h->max) {
		struct app_help_line *l = &h->out[h->n];
		snprintf(l->key, sizeof l->key, "%s", key ? key : "");
		snprintf(l->text, sizeof l->text, "%s", text);
		l->heading = heading;
	}
	h->n++;
}

/* A key and its text, wrapped at word boundaries to the width (a word longer than it is cut). */
static void help_add(struct help_out *h, const char *key, const char *text)
{
	const char *p = text;
	bool first = true;
	do {
		while (*p == ' ')
			p++;
		/* the longest run of whole words within width cells (UTF-8: count code points) */
		const char *q = p, *brk = NULL;
		int cells = 0;
		while (*q && cells < h->width) {
			if (*q == ' ')
				brk = q;
			q++;
			while ((*q & 0xc0) == 0x80)
				q++;
			cells++;
		}
		const char *end = !*q || *q == ' ' ? q : brk && brk > p ? brk : q;
		char line[APP_HELP_TEXT];
		size_t n = (size_t)(end - p) < sizeof line - 1 ? (size_t)(end - p) : sizeof line - 1;
		memcpy(line, p, n);
		line[n] = '\0';
		help_put(h, first ? key : "", line, false);
		first = false;
		p = end;
	} while (*p && *(p + strspn(p, " ")));
}

static void help_binding(struct help_out *h, enum app_action act)
{
	const struct app_binding *b = &app_bindings[act - 1];
	help_add(h, b->label, b->help);
}

const char *app_help_context(const struct mpqx_app *a)
{
	switch (a->help_under) {
	case APP_OV_COMPARE:
		return "compare";
	case APP_OV_PARETO:
		return "Pareto view";
	case APP_OV_EXPORT:
		return "export dialog";
	case APP_OV_PROMPT:
		return a->prompt == APP_PROMPT_FIND ? "find" : "prompt";
	default:
		return "main view";
	}
}

int app_help_lines(const struct mpqx_app *a, int width, struct app_help_line *out, int max)
{
	struct help_out h = {out, max, 0, width > 10 ? width : 10};
	switch (a->help_under) {
	case APP_OV_COMPARE:
		help_put(&h, NULL, "Compare: the current config and four slots side by side", true);
		help_add(&h, "Left Right", "select a column (current, slot 1..4); h l as well");
		help_add(&h, "Up Down", "scroll the layer rows; PgUp PgDn a page, Home the first layer");
		help_add(&h, "b", "make the selected column the base: the other columns mark where they differ from it");
		help_add(&h, "Enter", "load the selected slot into the editor (u undoes)");
		help_add(&h, "1 2 3 4", "store the current config in that slot, with its figures");
		help_add(&h, "x Del", "empty the selected slot (u undoes)");
		help_add(&h, "u ^R", "undo, redo");
		help_add(&h, "Esc c q", "back to the main view");
		help_put(&h, NULL, "Reading it", true);
		help_add(&h, "cells", "W/A bits, then buffer and ROM storage as the main view shows them: B block, D "
				      "distributed, L logic; lower case when auto chose it (resolved for the slot's own "
				      "config and device), - none");
		help_add(&h, "\xe2\x97\x86 / *", "differs from the base column (the base is marked 'base' in its heading)");
		help_add(&h, "\xe2\x98\x85 / +", "the best value of a totals row among the columns (least resource, "
				      "latency, MSE; a fit)");
		help_add(&h, "dominated", "a column another one beats or equals in every resource, the latency and "
				      "the MSE while fitting too: it is never the better choice");
		help_add(&h, "MSE", "test MSE, and against the float model in %; '?' while it is computed");
		help_add(&h, "device", "each column's device: its resources count against that device");
		break;
	case APP_OV_PARETO:
		help_put(&h, NULL, "Pareto view: the least MSE for each use of a resource", true);
		help_add(&h, "Up Down", "the resource on x: LUT, BRAM tiles, latency (Tab as well)");
		help_add(&h, "Left Right", "the previous, next point of the front; H L four points; Home End the ends");
		help_add(&h, "Enter", "apply the selected point (u undoes)");
		help_add(&h, "f", "apply the best configuration that fits");
		help_add(&h, "Esc p q", "back to the main view");
		help_put(&h, NULL, "Reading it", true);
		help_add(&h, "y", "MSE on the windows the search chose on (the calibration windows; log scale); "
				  "the test MSE of what you apply is in the main view");
		help_add(&h, "x", "the resource, with ticks along the axis; the budget as a dotted vertical line");
		help_add(&h, "\xe2\x97\x8f o", "a point of the front; \xe2\x97\x89 @ the selected point");
		help_add(&h, "\xe2\x97\x86 *", "the current configuration, when the search measured it on the same windows");
		break;
	case APP_OV_EXPORT:
		help_put(&h, NULL, "Export: Verilog, ROM images and a self-checking testbench", true);
		help_add(&h, "Up Down Tab", "the next field");
		help_add(&h, "typing", "edits the directory or the number of test windows; BS deletes, ^U clears");
		help_add(&h, "Space", "simulate with Icarus Verilog or not");
		help_add(&h, "Enter", "the next field; on the button: export (and simulate) in the background, the "
				  "progress and then the RESULT line below; a design that does not fit asks for a "
				  "second Enter");
		help_add(&h, "Esc", "cancel a running export (nothing is left behind), else close the dialog");
		help_add(&h, "e q", "hide the dialog; a running export goes on, the status line reports it, e shows "
				    "it again");
		help_add(&h, "F1", "this help (? too, outside the text fields)");
		break;
	case APP_OV_PROMPT:
		if (a->prompt == APP_PROMPT_FIND) {
			help_put(&h, NULL, "Find a layer by name", true);
			help_add(&h, "typing", "selects the first layer from the one selected before whose name contains "
					       "the text, as you type (case does not matter)");
			help_add(&h, "Enter", "keep that layer; n then goes to the next match");
			help_add(&h, "Esc", "back to the layer selected before");
		} else {
			help_put(&h, NULL, a->prompt == APP_PROMPT_BITS ? "Every layer to N bits" : "A file name", true);
			if (a->prompt == APP_PROMPT_BITS)
				help_add(&h, "typing", "N, or W/A (weights/outputs) such as 6/8; the first character replaces "
						       "the value shown");
			else
				help_add(&h, "typing", "a path; ~/ is the home directory");
			help_add(&h, "BS ^U", "delete a character, clear");
			help_add(&h, "Enter", "confirm; an error keeps the text for a correction");
			help_add(&h, "Esc", "cancel");
		}
		help_add(&h, "F1", "this help");
		break;
	default:
		help_put(&h, NULL, "Keys", true);
		for (int i = 1; i < APP_ACTION_COUNT; i++)
			help_binding(&h, (enum app_action)i);
		help_put(&h, NULL, "The layer graph", true);
		help_add(&h, "w/a", "weight/output bits");
		help_add(&h, "st", "buffer and ROM storage: B block RAM, D distributed RAM, L logic; lower case when auto "
				   "chose it, - none");
		help_add(&h, "LUT...", "the cost column: what the layer takes of the device's limiting resource (named "
				       "in the heading; the one nearest or over capacity), the same resource on every row");
		help_add(&h, "sens", "how much the MSE grows if the layer lost one bit (the larger of weights and "
				     "outputs), measured on the calibration windows; marked at 0.5, 2 and 10%");
		help_put(&h, NULL, "Meters and search", true);
		help_add(&h, "meters", "used against the device's capacity; over capacity has its own glyph and OVER");
		help_add(&h, "f p", "the search chooses on the calibration windows, not on the test windows whose MSE "
				    "is shown; it starts from uniform 8 bits whatever is edited and keeps the edited "
				    "config if nothing better fits");
		break;
	}
	return h.n;
}

static int help_open(struct mpqx_app *a)
{
	a->help_under = a->overlay;
	a->overlay = APP_OV_HELP;
	a->help_top = 0;
	return APP_REDRAW;
}

static int help_action(struct mpqx_app *a, enum app_action act)
{
	int tw, rows;
	app_help_geometry(a->rows, a->cols, &tw, &rows);
	int n = app_help_lines(a, tw, NULL, 0);
	int max_top = n - rows > 0 ? n - rows : 0;
	switch (act) {
	case APP_ACT_HELP:
	case APP_ACT_CANCEL:
	case APP_ACT_QUIT:
		a->overlay = a->help_under;
		a->help_under = APP_OV_NONE;
		return APP_REDRAW;
	case APP_ACT_UP:
		a->help_top--;
		break;
	case APP_ACT_DOWN:
		a->help_top++;
		break;
	case APP_ACT_PAGE_UP:
	case APP_ACT_BIG_LEFT:
		a->help_top -= rows > 1 ? rows - 1 : 1;
		break;
	case APP_ACT_PAGE_DOWN:
	case APP_ACT_BIG_RIGHT:
	case APP_ACT_SLOT_LOAD:
		a->help_top += rows > 1 ? rows - 1 : 1;
		break;
	case APP_ACT_TOP:
		a->help_top = 0;
		break;
	case APP_ACT_BOTTOM:
		a->help_top = max_top;
		break;
	case APP_ACT_REDRAW:
		return APP_REDRAW;
	default:
		return 0;
	}
	if (a->help_top > max_top)
		a->help_top = max_top;
	if (a->help_top < 0)
		a->help_top = 0;
	return APP_REDRAW;
}

/* ---- dispatch ---- */

static int apply(struct mpqx_app *a, enum app_action act);

int app_apply(struct mpqx_app *a, enum app_action act)
{
	int f = apply(a, act);
	if (a->overlay == APP_OV_COMPARE || (a->overlay == APP_OV_HELP && a->help_under == APP_OV_COMPARE) ||
	    (a->overlay == APP_OV_PROMPT && a->under_prompt == APP_OV_COMPARE))
		compare_refresh(a);
	return f;
}

static int apply(struct mpqx_app *a, enum app_action act)
{
	if (act <= APP_ACT_NONE || act >= APP_ACTION_COUNT)
		return 0;
	if (act != APP_ACT_QUIT)
		a->quit_armed = false;
	switch (a->overlay) {
	case APP_OV_HELP:
		return help_action(a, act);
	case APP_OV_PROMPT:
		if (act == APP_ACT_HELP)
			return help_open(a);
		if (act == APP_ACT_CANCEL) {
			close_prompt(a);
			if (a->prompt == APP_PROMPT_FIND)
				select_layer(a, a->find_from);
			return set_msg(a, false, "cancelled");
		}
		if (act == APP_ACT_SLOT_LOAD)
			return confirm_prompt(a);
		return act == APP_ACT_REDRAW ? APP_REDRAW : 0;
	case APP_OV_EXPORT:
		if (act == APP_ACT_HELP)
			return help_open(a);
		return act == APP_ACT_REDRAW ? APP_REDRAW : export_action(a, act);
	case APP_OV_COMPARE: {
		if (act == APP_ACT_HELP)
			return help_open(a);
		int f = compare_action(a, act);
		if (f >= 0)
			return f;
		break;
	}
	case APP_OV_PARETO: {
		if (act == APP_ACT_HELP)
			return help_open(a);
		int f = pareto_action(a, act);
		if (f >= 0)
			return f;
		break;
	}
	case APP_OV_NONE:
		break;
	}

	switch (act) {
	case APP_ACT_QUIT:
		if (a->export_job && !a->quit_armed) {
			a->quit_armed = true;
			return set_msg(a, true, "an export is running%s: q again cancels it and quits",
				       app_modified(a) ? " and the config has unsaved changes" : "");
		}
		if (app_modified(a) && !a->quit_armed) {
			a->quit_armed = true;
			return set_msg(a, true, "unsaved changes: q again to quit, s to save");
		}
		return APP_QUIT;
	case APP_ACT_HELP:
		return help_open(a);
	case APP_ACT_FOCUS_NEXT:
		a->focus = (enum app_pane)((a->focus + 1) % APP_PANE_COUNT);
		return APP_REDRAW;
	case APP_ACT_FOCUS_PREV:
		a->focus = (enum app_pane)((a->focus + APP_PANE_COUNT - 1) % APP_PANE_COUNT);
		return APP_REDRAW;
	case APP_ACT_UP:
	case APP_ACT_DOWN:
		if (a->focus == APP_PANE_LAYER)
			return move_field(a, act == APP_ACT_UP ? -1 : 1);
		return select_layer(a, a->sel + (act == APP_ACT_UP ? -1 : 1));
	case APP_ACT_LEFT:
	case APP_ACT_RIGHT:
	case APP_ACT_BIG_LEFT:
	case APP_ACT_BIG_RIGHT: {
		bool big = act == APP_ACT_BIG_LEFT || act == APP_ACT_BIG_RIGHT;
		int d = (act == APP_ACT_LEFT || act == APP_ACT_BIG_LEFT) ? -1 : 1;
		if (a->focus == APP_PANE_PLOT)
			return scroll_plot(a, d * (big ? a->plot_span : a->plot_span / 8 > 0 ? a->plot_span / 8 : 1));
		return adjust(a, d * (big ? BIG_STEP : 1));
	}
	case APP_ACT_PAGE_UP:
	case APP_ACT_PAGE_DOWN: {
		int page = a->graph_rows > 2 ? a->graph_rows - 1 : 1;
		return select_layer(a, a->sel + (act == APP_ACT_PAGE_UP ? -page : page));
	}
	case APP_ACT_TOP:
		return select_layer(a, 0);
	case APP_ACT_BOTTOM:
		return select_layer(a, model(a)->n_layers - 1);
	case APP_ACT_W_DEC:
	case APP_ACT_W_INC:
		return set_bits(a, true, a->cfg.layers[a->sel].w_bits + (act == APP_ACT_W_INC ? 1 : -1));
	case APP_ACT_A_DEC:
	case APP_ACT_A_INC:
		return set_bits(a, false, a->cfg.layers[a->sel].a_bits + (act == APP_ACT_A_INC ? 1 : -1));
	case APP_ACT_BUFFER:
		return cycle_storage(a, false, 1);
	case APP_ACT_ROM:
		return cycle_storage(a, true, 1);
	case APP_ACT_MULT:
		return cycle_mult(a, 1);
	case APP_ACT_WGRAN:
		return cycle_wgran(a);
	case APP_ACT_CALIB:
		return cycle_calib(a);
	case APP_ACT_ALL_BITS: {
		char t[16];
		snprintf(t, sizeof t, "%d", a->cfg.layers[a->sel].a_bits);
		return open_prompt(a, APP_PROMPT_BITS, t);
	}
	case APP_ACT_UNDO:
		return undo(a, false);
	case APP_ACT_REDO:
		return undo(a, true);
	case APP_ACT_SAVE:
		return open_file_prompt(a, APP_PROMPT_SAVE);
	case APP_ACT_LOAD:
		return open_file_prompt(a, APP_PROMPT_LOAD);
	case APP_ACT_DEVICE:
	case APP_ACT_DEVICE_PREV:
		return device_step(a, act == APP_ACT_DEVICE ? 1 : -1);
	case APP_ACT_COMPARE:
		a->overlay = APP_OV_COMPARE;
		return APP_REDRAW;
	case APP_ACT_STORE1:
	case APP_ACT_STORE2:
	case APP_ACT_STORE3:
	case APP_ACT_STORE4:
		return store(a, act - APP_ACT_STORE1);
	case APP_ACT_SLOT_LOAD:
		/* Enter in the main view: from the graph to the sliders. */
		if (a->focus == APP_PANE_GRAPH) {
			a->focus = APP_PANE_LAYER;
			return APP_REDRAW;
		}
		return 0;
	case APP_ACT_SLOT_CLEAR:
		return set_msg(a, false, "x empties a slot in the compare view (c)");
	case APP_ACT_EXPORT:
		return export_open(a);
	case APP_ACT_FIT:
		return want_search(a, true);
	case APP_ACT_PARETO: {
		a->overlay = APP_OV_PARETO;
		int f = want_search(a, false);
		pareto_default_sel(a);
		return f | APP_REDRAW;
	}
	case APP_ACT_FIND:
		a->find_from = a->sel;
		a->focus = APP_PANE_GRAPH;
		open_prompt(a, APP_PROMPT_FIND, "");
		return set_msg(a, false, "find: type part of a layer name");
	case APP_ACT_FIND_NEXT:
		return find_next(a);
	case APP_ACT_CANCEL:
		a->msg[0] = '\0';
		return APP_REDRAW;
	case APP_ACT_REDRAW:
		return APP_REDRAW;
	default:
		return 0;
	}
}

/* Text entry: printable characters, backspace. */
static int edit_text(struct mpqx_app *a, int key, bool digits_only)
{
	if (key == APP_KEY_BACKSPACE || key == 127 || key == 8) {
		/* Remove a whole UTF-8 sequence. */
		while (a->text_len > 0) {
			a->text_len--;
			if (((unsigned char)a->text[a->text_len] & 0xc0) != 0x80)
				break;
		}
		a->text[a->text_len] = '\0';
		return APP_REDRAW;
	}
	if (key == APP_CTRL('u')) {
		a->text_len = 0;
		a->text[0] = '\0';
		return APP_REDRAW;
	}
	if (key < 32 || key >= APP_KEY_FIRST || key == 127)
		return -1;
	if (digits_only && (key < '0' || key > '9'))
		return -1;
	char u[5];
	int n;
	if (key < 0x80) {
		u[0] = (char)key;
		n = 1;
	} else if (key < 0x800) {
		u[0] = (char)(0xc0 | (key >> 6));
		u[1] = (char)(0x80 | (key & 0x3f));
		n = 2;
	} else if (key < 0x10000) {
		u[0] = (char)(0xe0 | (key >> 12));
		u[1] = (char)(0x80 | ((key >> 6) & 0x3f));
		u[2] = (char)(0x80 | (key & 0x3f));
		n = 3;
	} else {
		u[0] = (char)(0xf0 | (key >> 18));
		u[1] = (char)(0x80 | ((key >> 12) & 0x3f));
		u[2] = (char)(0x80 | ((key >> 6) & 0x3f));
		u[3] = (char)(0x80 | (key & 0x3f));
		n = 4;
	}
	if (a->text_len + (size_t)n + 1 > sizeof a->text)
		return APP_REDRAW;
	memcpy(a->text + a->text_len, u, (size_t)n);
	a->text_len += (size_t)n;
	a->text[a->text_len] = '\0';
	return APP_REDRAW;
}

int app_key(struct mpqx_app *a, int key)
{
	if (a->overlay == APP_OV_PROMPT) {
		if (a->text_fresh && key >= 32 && key < APP_KEY_FIRST && key != 127) {
			a->text_len = 0;
			a->text[0] = '\0';
		}
		if (key != APP_KEY_F1)
			a->text_fresh = false;
		int f = edit_text(a, key, false);
		if (f >= 0)
			return a->prompt == APP_PROMPT_FIND ? f | find_update(a) : f;
	} else if (a->overlay == APP_OV_EXPORT && !a->export_job &&
		   (a->xfield == APP_X_DIR || a->xfield == APP_X_WINDOWS)) {
		/* The dialog's text fields edit in place; the text buffer is shared with prompts. */
		bool dir = a->xfield == APP_X_DIR;
		if (dir)
			snprintf(a->text, sizeof a->text, "%s", a->export_dir);
		else
			snprintf(a->text, sizeof a->text, "%d", a->export_windows);
		a->text_len = strlen(a->text);
		int f = edit_text(a, key, !dir);
		if (f >= 0) {
			if (dir) {
				snprintf(a->export_dir, sizeof a->export_dir, "%s", a->text);
			} else {
				long v = a->text_len ? strtol(a->text, NULL, 10) : 0;
				a->export_windows = v > n_windows(a) ? n_windows(a) : (int)v;
			}
			return f;
		}
	} else if (a->overlay == APP_OV_EXPORT && !a->export_job && a->xfield == APP_X_SIM && key == ' ') {
		a->export_sim = !a->export_sim;
		return APP_REDRAW;
	}
	return app_apply(a, app_key_action(key));
}

int app_resize(struct mpqx_app *a, int rows, int cols)
{
	a->rows = rows;
	a->cols = cols;
	struct view_layout l;
	view_layout(rows, cols, &l);
	if (!l.too_small) {
		a->graph_rows = l.graph.h - 1;
		int span = (l.plot.w - VIEW_PLOT_LABEL_W) * (a->plot_per_cell > 0 ? a->plot_per_cell : 2);
		a->plot_span = span > 0 ? span : 1;
	}
	if (a->plot_span > n_windows(a))
		a->plot_span = n_windows(a);
	scroll_to_sel(a);
	scroll_plot(a, 0);
	return APP_REDRAW;
}

int app_click(struct mpqx_app *a, int y, int x)
{
	struct view_layout l;
	view_layout(a->rows, a->cols, &l);
	if (l.too_small || a->overlay != APP_OV_NONE)
		return 0;
	if (view_hit(&l.graph, y, x)) {
		a->focus = APP_PANE_GRAPH;
		int row = y - l.graph.y - 1;
		if (row >= 0 && a->graph_top + row < model(a)->n_layers)
			return select_layer(a, a->graph_top + row);
		return APP_REDRAW;
	}
	if (view_hit(&l.layer, y, x)) {
		a->focus = APP_PANE_LAYER;
		int row = y - l.layer.y - 1;
		if (row >= 0 && row < APP_F_COUNT && field_applies(a, (enum app_field)row))
			a->field = (enum app_field)row;
		return APP_REDRAW;
	}
	if (view_hit(&l.accuracy, y, x)) {
		a->focus = APP_PANE_PLOT;
		return APP_REDRAW;
	}
	return 0;
}

int app_wheel(struct mpqx_app *a, int y, int x, int dir)
{
	struct view_layout l;
	view_layout(a->rows, a->cols, &l);
	if (l.too_small)
		return 0;
	if (a->overlay == APP_OV_COMPARE)
		return app_apply(a, dir < 0 ? APP_ACT_UP : APP_ACT_DOWN);
	if (a->overlay != APP_OV_NONE)
		return 0;
	if (view_hit(&l.graph, y, x))
		return select_layer(a, a->sel + dir);
	if (view_hit(&l.layer, y, x))
		return adjust(a, -dir);
	if (view_hit(&l.accuracy, y, x))
		return scroll_plot(a, dir * (a->plot_span / 8 > 0 ? a->plot_span / 8 : 1));
	return 0;
}

int app_sync(struct mpqx_app *a)
{
	struct mpqx_err err = {0};
	if (config_equal(&a->cfg, &a->s->cfg) && a->s->eval_valid)
		return APP_REDRAW;
	if (session_request(a->s, &a->cfg, &err) == MPQX_OK) {
		/* Follow the device's real name (a path given on the command line resolves to it). */
		return APP_REDRAW;
	}
	/* Refused: go back to the session's config and forget the change that led here. */
	if (a->n_undo > 0 && a->undo[a->n_undo - 1].slot < 0 && config_equal(&a->undo[a->n_undo - 1].after, &a->cfg)) {
		a->n_undo--;
		undo_fini(&a->undo[a->n_undo]);
		for (int i = a->n_undo + 1; i < a->n_redo; i++)
			undo_fini(&a->undo[i]);
		a->n_redo = a->n_undo;
	}
	config_copy(&a->cfg, &a->s->cfg);
	return set_msg(a, true, "%s", err.msg);
}

/* ---- key scripts ---- */

static const struct {
	const char *name;
	int key;
} key_names[] = {
	{"Up", APP_KEY_UP},       {"Down", APP_KEY_DOWN},     {"Left", APP_KEY_LEFT},   {"Right", APP_KEY_RIGHT},
	{"S-Left", APP_KEY_SLEFT}, {"S-Right", APP_KEY_SRIGHT}, {"PgUp", APP_KEY_PGUP},   {"PgDn", APP_KEY_PGDN},
	{"Home", APP_KEY_HOME},   {"End", APP_KEY_END},       {"Tab", APP_KEY_TAB},     {"S-Tab", APP_KEY_BTAB},
	{"Enter", APP_KEY_ENTER}, {"Esc", APP_KEY_ESC},       {"BS", APP_KEY_BACKSPACE}, {"Del", APP_KEY_DELETE},
	{"F1", APP_KEY_F1},       {"lt", '<'},                {"Space", ' '},
};

int app_parse_keys(const char *script, int *keys, int max, size_t *bad)
{
	int n = 0;
	const unsigned char *p = (const unsigned char *)script;
	while (*p) {
		int k;
		size_t off = (size_t)((const char *)p - script);
		if (*p == '<') {
			const char *end = strchr((const char *)p, '>');
			if (!end) {
				*bad = off;
				return -1;
			}
			size_t len = (size_t)(end - (const char *)p - 1);
			const char *name = (const char *)p + 1;
			k = -1;
			if (len == 3 && name[0] == 'C' && name[1] == '-' && name[2] >= '@' && name[2] <= 'z')
				k = APP_CTRL(name[2]);
			for (size_t i = 0; k < 0 && i < sizeof key_names / sizeof key_names[0]; i++)
				if (strlen(key_names[i].name) == len && strncmp(key_names[i].name, name, len) == 0)
					k = key_names[i].key;
			if (k < 0) {
				*bad = off;
				return -1;
			}
			p = (const unsigned char *)end + 1;
		} else if (*p < 0x80) {
			k = *p++;
		} else {
			/* A UTF-8 sequence: one code point. */
			int len = (*p & 0xe0) == 0xc0 ? 2 : (*p & 0xf0) == 0xe0 ? 3 : (*p & 0xf8) == 0xf0 ? 4 : 0;
			if (!len) {
				*bad = off;
				return -1;
			}
			k = *p & (0x7f >> len);
			for (int i = 1; i < len; i++) {
				if ((p[i] & 0xc0) != 0x80) {
					*bad = off;
					return -1;
				}
				k = (k << 6) | (p[i] & 0x3f);
			}
			p += len;
		}
		if (n < max)
			keys[n] = k;
		n++;
	}
	return n < max ? n : max;
}

const char *app_key_name(int key)
{
	static char buf[16];
	for (size_t i = 0; i < sizeof key_names / sizeof key_names[0]; i++)
		if (key_names[i].key == key && key != '<' && key != ' ')
			return key_names[i].name;
	if (key == ' ')
		return "Space";
	if (key > 0 && key < 32) {
		snprintf(buf, sizeof buf, "^%c", key + '@');
		return buf;
	}
	if (key < 0x80) {
		snprintf(buf, sizeof buf, "%c", key);
		return buf;
	}
	snprintf(buf, sizeof buf, "U+%04X", (unsigned)key);
	return buf;
}
