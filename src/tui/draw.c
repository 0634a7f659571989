/* Painting of the explorer's panes. Only paints: shapes and numbers come from core view and session. */
#include <curses.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "mpqx/view.h"
#include "tui.h"

#define LINE_MAX_BYTES 2048

static attr_t role_attr(const struct tui_ctx *t, enum mpqx_theme_role r)
{
	const struct mpqx_style *st = &t->theme.style[t->depth][r];
	attr_t a = 0;
	if (st->attrs & MPQX_ATTR_BOLD)
		a |= A_BOLD;
	if (st->attrs & MPQX_ATTR_REVERSE)
		a |= A_REVERSE;
	if (st->attrs & MPQX_ATTR_UNDERLINE)
		a |= A_UNDERLINE;
	if (st->attrs & MPQX_ATTR_DIM)
		a |= A_DIM;
	if (t->depth != MPQX_DEPTH_MONO)
		a |= COLOR_PAIR((int)r + 1);
	return a;
}

/* Paints s at (y, x), cut to at most w cells; returns the cells painted. */
static int put(const struct tui_ctx *t, int y, int x, int w, enum mpqx_theme_role r, const char *s)
{
	if (w <= 0)
		return 0;
	int n = view_width(s);
	if (n > w)
		n = w;
	char buf[LINE_MAX_BYTES];
	view_fit(buf, sizeof buf, s, n);
	attrset(role_attr(t, r));
	mvaddstr(y, x, buf);
	return n;
}

/* Paints s padded or cut to exactly w cells. */
static void put_pad(const struct tui_ctx *t, int y, int x, int w, enum mpqx_theme_role r, const char *s)
{
	if (w <= 0)
		return;
	char buf[LINE_MAX_BYTES];
	view_fit(buf, sizeof buf, s, w);
	attrset(role_attr(t, r));
	mvaddstr(y, x, buf);
}

static void fill(const struct tui_ctx *t, const struct view_rect *rc, enum mpqx_theme_role r)
{
	for (int y = rc->y; y < rc->y + rc->h; y++)
		put_pad(t, y, rc->x, rc->w, r, "");
}

/* A frame around rc with a title; the inside is filled. */
static void frame(const struct tui_ctx *t, const struct view_rect *rc, const char *title)
{
	const char *h = t->utf8 ? "\xe2\x94\x80" : "-", *v = t->utf8 ? "\xe2\x94\x82" : "|";
	const char *c[4] = {t->utf8 ? "\xe2\x94\x8c" : "+", t->utf8 ? "\xe2\x94\x90" : "+",
			    t->utf8 ? "\xe2\x94\x94" : "+", t->utf8 ? "\xe2\x94\x98" : "+"};
	fill(t, rc, MPQX_TH_DIALOG);
	attrset(role_attr(t, MPQX_TH_DIALOG));
	for (int x = rc->x + 1; x < rc->x + rc->w - 1; x++) {
		mvaddstr(rc->y, x, h);
		mvaddstr(rc->y + rc->h - 1, x, h);
	}
	for (int y = rc->y + 1; y < rc->y + rc->h - 1; y++) {
		mvaddstr(y, rc->x, v);
		mvaddstr(y, rc->x + rc->w - 1, v);
	}
	mvaddstr(rc->y, rc->x, c[0]);
	mvaddstr(rc->y, rc->x + rc->w - 1, c[1]);
	mvaddstr(rc->y + rc->h - 1, rc->x, c[2]);
	mvaddstr(rc->y + rc->h - 1, rc->x + rc->w - 1, c[3]);
	char tt[256];
	snprintf(tt, sizeof tt, " %s ", title);
	put(t, rc->y, rc->x + 2, rc->w - 4, MPQX_TH_FOCUS, tt);
}

/* The resources in the device family's words: iCE40 logic cells, SPRAM and EBR in the LUT, LUTRAM and
 * BRAM slots (doc/estimator.md, "iCE40"). */
static const char *res_short(const struct mpqx_device *d, enum mpqx_resource r)
{
	static const char *const n[MPQX_RES_COUNT] = {"LUT", "LR", "FF", "BR", "DSP"};
	static const char *const ice[MPQX_RES_COUNT] = {"LC", "SP", "FF", "EBR", "DSP"};
	return (unsigned)r < MPQX_RES_COUNT ? (d->fam == MPQX_FAMILY_ICE40 ? ice : n)[r] : "?";
}

static const char *res_long(const struct mpqx_device *d, enum mpqx_resource r)
{
	static const char *const n[MPQX_RES_COUNT] = {"LUT", "LUTRAM", "FF", "BRAM", "DSP"};
	static const char *const ice[MPQX_RES_COUNT] = {"LC", "SPRAM", "FF", "EBR", "DSP"};
	return (unsigned)r < MPQX_RES_COUNT ? (d->fam == MPQX_FAMILY_ICE40 ? ice : n)[r] : "?";
}

/* The config's word on xc7, the family's (ebr, regs, spram) on iCE40. */
static const char *storage_word(const struct mpqx_device *d, enum mpqx_storage st, bool rom)
{
	return d->fam == MPQX_FAMILY_ICE40 ? device_storage_label(d, st, rom) : config_storage_name(st, rom);
}

static double cost_value(const struct mpqx_device *d, const struct mpqx_cost *c, enum mpqx_resource r)
{
	bool ice = d->fam == MPQX_FAMILY_ICE40;
	switch (r) {
	case MPQX_RES_LUT:
		return (double)(c->lut + (ice ? 0 : c->lutram)); /* all LUTs, as the LUT meter; iCE40: logic cells */
	case MPQX_RES_LUTRAM:
		return (double)c->lutram;
	case MPQX_RES_FF:
		return (double)c->ff;
	case MPQX_RES_BRAM:
		return ice ? (double)c->bram18 : c->bram18 / 2.0;
	default:
		return (double)c->dsp;
	}
}

/* A resource amount: BRAM in tiles with halves, the others as counts. */
static char *fmt_res(char *buf, size_t size, enum mpqx_resource r, double v)
{
	if (r == MPQX_RES_BRAM)
		snprintf(buf, size, v == floor(v) ? "%.0f" : "%.1f", v);
	else
		view_fmt_count(buf, size, v);
	return buf;
}

/* Letter of a resolved storage: upper case when the config says so, lower case when auto chose it. */
static char storage_letter(enum mpqx_storage cfg, enum mpqx_storage resolved, bool rom)
{
	char c = resolved == MPQX_STORE_BLOCK ? 'B' : resolved == MPQX_STORE_DIST ? (rom ? 'L' : 'D') : 'A';
	return cfg == MPQX_STORE_AUTO ? (char)(c - 'A' + 'a') : c;
}

static enum mpqx_theme_role util_role(double u)
{
	return u > 1 ? MPQX_TH_OVER : u >= 0.85 ? MPQX_TH_WARN : MPQX_TH_NORMAL;
}

static bool pane_focused(const struct mpqx_app *a, enum app_pane p)
{
	return a->focus == p && a->overlay == APP_OV_NONE;
}

/* ---- title and status ---- */

static void draw_title(const struct tui_ctx *t, const struct mpqx_app *a, const struct view_layout *l)
{
	const struct mpqx_session *s = a->s;
	char buf[LINE_MAX_BYTES];
	const char *sep = t->utf8 ? " \xe2\x94\x82 " : " | ";
	const char *cfg = strrchr(a->config_path, '/');
	cfg = !a->config_path[0] ? "no file (s saves)" : cfg ? cfg + 1 : a->config_path;
	/* A fine-tuned model is shown with the config it was tuned for: its figures hold for that config. */
	const char *ft = strrchr(s->model->finetuned, '/');
	ft = ft ? ft + 1 : s->model->finetuned;
	snprintf(buf, sizeof buf, " mpqx%s%s%s%s%s%s%s%s%s%s", sep, s->model->name,
		 ft[0] ? " (fine-tuned for " : "", ft, ft[0] ? ")" : "", sep, s->dev.name, sep, cfg,
		 app_modified(a) ? " (modified)" : "");
	put_pad(t, l->title.y, 0, l->title.w, MPQX_TH_TITLE, buf);
	const char *v = s->est.fits ? (t->utf8 ? " \xe2\x9c\x93 FITS " : " FITS ") : (t->utf8 ? " \xe2\x9c\x97 OVER " : " OVER ");
	int vw = view_width(v);
	put(t, l->title.y, l->title.w - vw, vw, s->est.fits ? MPQX_TH_GOOD : MPQX_TH_OVER, v);
}

static void draw_status(const struct tui_ctx *t, const struct mpqx_app *a, const struct view_layout *l)
{
	/* The message wins: the key hints shrink, then go, rather than cut it. */
	const char *full = t->utf8 ? " ?:keys Tab:pane \xe2\x86\x90\xe2\x86\x92:bits b:buffer u:undo c:compare e:export q:quit "
				   : " ?:keys Tab:pane <>:bits b:buffer u:undo c:compare e:export q:quit ";
	const char *hints[] = {full, " ?:keys q:quit ", ""};
	char m[600];
	if (a->overlay == APP_OV_PROMPT && a->prompt == APP_PROMPT_FIND)
		/* / is typed on the status line, so that the layers it selects stay in sight */
		snprintf(m, sizeof m, " /%.200s_   %s", a->text, a->msg);
	else
		snprintf(m, sizeof m, " %s", a->msg);
	int msgw = view_width(m), w = l->status.w;
	const char *h = "";
	for (size_t i = 0; i < sizeof hints / sizeof *hints; i++)
		if (msgw + 1 + view_width(hints[i]) <= w || !*hints[i]) {
			h = hints[i];
			break;
		}
	int hw = view_width(h);
	put_pad(t, l->status.y, 0, w, MPQX_TH_STATUS, "");
	put(t, l->status.y, 0, w - hw, a->msg_error ? MPQX_TH_ERROR : MPQX_TH_STATUS, m);
	if (hw)
		put(t, l->status.y, w - hw, hw, MPQX_TH_STATUS, h);
}

/* ---- the layer graph ---- */

struct graph_cols {
	int lanes, name, wide;
};

static void draw_graph(const struct tui_ctx *t, const struct mpqx_app *a, const struct view_layout *l)
{
	const struct mpqx_session *s = a->s;
	const struct mpqx_model *m = s->model;
	const struct view_rect *g = &l->graph;
	static unsigned char lanes[4096 * VIEW_LANES_MAX];
	int nl = m->n_layers <= 4096 ? view_graph_lanes(m, lanes) : 0;
	int name_w = 4;
	for (int i = 0; i < m->n_layers; i++) {
		int w = (int)strlen(m->layers[i].name);
		if (w > name_w)
			name_w = w;
	}
	/* Columns: lanes, marker, bits, storage, cost (narrow layouts), sensitivity, then in the wide layout
	 * the layer's LUT, LUTRAM, FF, BRAM and DSP (the cost column is left out there: all of them are shown)
	 * and its cycles when the names keep at least 12 cells. The cost column shows one resource for every
	 * row: the device's limiting one (the highest share of its capacity), named in its header. */
	bool cost_col = !l->wide, cyc_col = l->wide;
	int fixed = nl + 2 + 6 + 3 + (cost_col ? 9 : 0) + 6 + (l->wide ? 25 : 0) + (cyc_col ? 7 : 0);
	if (cyc_col && g->w - fixed < 12) {
		cyc_col = false;
		fixed -= 7;
	}
	if (name_w > g->w - fixed)
		name_w = g->w - fixed;
	if (name_w < 6)
		name_w = 6;
	enum mpqx_resource cres = s->est.limiting;

	char buf[LINE_MAX_BYTES], t1[32], t2[32];
	int hx = nl + 2 + name_w;
	snprintf(buf, sizeof buf, " Layers (%d)", m->n_layers);
	enum mpqx_theme_role hr = pane_focused(a, APP_PANE_GRAPH) ? MPQX_TH_FOCUS : MPQX_TH_HEADER;
	put_pad(t, g->y, g->x, g->w, hr, buf);
	int o = snprintf(buf, sizeof buf, "   w/a st");
	if (cost_col)
		o += snprintf(buf + o, sizeof buf - (size_t)o, " %8s", res_short(&s->dev, cres));
	o += snprintf(buf + o, sizeof buf - (size_t)o, "  sens");
	if (l->wide)
		o += snprintf(buf + o, sizeof buf - (size_t)o, "  LUT   LR   FF   BR  DSP");
	if (cyc_col)
		snprintf(buf + o, sizeof buf - (size_t)o, " cycles");
	/* The heading starts over the name column's end when the names leave no room for it. */
	int hw = view_width(buf);
	int hx0 = hx + hw <= g->w ? hx : g->w - hw;
	if (hx0 >= 12)
		put(t, g->y, g->x + hx0, g->w - hx0, hr, buf);

	int rows = g->h - 1;
	for (int r = 0; r < rows; r++) {
		int i = a->graph_top + r;
		int y = g->y + 1 + r;
		put_pad(t, y, g->x, g->w, MPQX_TH_NORMAL, "");
		if (i >= m->n_layers)
			continue;
		bool sel = i == a->sel;
		const struct mpqx_layer *ly = &m->layers[i];
		const struct mpqx_layer_cfg *lc = &a->cfg.layers[i];
		int x = g->x;
		view_lanes_str(buf, sizeof buf, lanes + i * VIEW_LANES_MAX, nl, t->utf8);
		x += put(t, y, x, nl, MPQX_TH_LANE, buf);
		enum mpqx_theme_role row = sel ? MPQX_TH_SELECT : MPQX_TH_NORMAL;
		x += put(t, y, x, 1, row, sel ? (t->utf8 ? "\xe2\x96\xb6" : ">") : " ");
		char nm[MPQX_NAME_MAX * 2];
		snprintf(buf, sizeof buf, " %s", view_short_name(nm, sizeof nm, ly->name, name_w, t->utf8));
		put_pad(t, y, x, name_w + 1, row, buf);
		x += name_w + 1;
		if (session_layer_has_wbits(s, i))
			snprintf(t1, sizeof t1, "%d/%d", lc->w_bits, lc->a_bits);
		else
			snprintf(t1, sizeof t1, "-/%d", lc->a_bits);
		snprintf(buf, sizeof buf, "%6s", t1);
		x += put(t, y, x, 6, row, buf);
		char rom = session_layer_has_rom(s, i) ? storage_letter(lc->rom, s->est.rom[i], true) : '-';
		snprintf(buf, sizeof buf, " %c%c", storage_letter(lc->buffer, s->est.buffer[i], false), rom);
		x += put(t, y, x, 3, MPQX_TH_NORMAL, buf);
		if (cost_col) {
			double dv = cost_value(&s->dev, &s->est.layers[i], cres), cap = session_capacity(s, cres);
			if (dv > 0)
				snprintf(buf, sizeof buf, " %8s", fmt_res(t1, sizeof t1, cres, dv));
			else
				snprintf(buf, sizeof buf, " %8s", "-");
			x += put(t, y, x, 9, util_role(cap > 0 ? dv / cap : 0), buf);
		}
		/* The measured sensitivity: MSE increase if the layer lost one bit, against the reference MSE. */
		double sens = app_sens(a, i);
		static const char *const marks_u[4] = {" ", "\xe2\x96\x82", "\xe2\x96\x84", "\xe2\x96\x86"};
		static const char *const marks_a[4] = {" ", "!", "!!", "!!!"};
		int lv = !(sens >= 0.005) ? 0 : sens < 0.02 ? 1 : sens < 0.10 ? 2 : 3;
		/* at most four characters, so that the column keeps a space before it */
		if (isnan(sens))
			snprintf(buf, sizeof buf, "%5s", t->utf8 ? "\xe2\x80\xa6" : "...");
		else if (sens >= 9.995)
			snprintf(buf, sizeof buf, " >10x");
		else if (sens >= 0.0995)
			snprintf(buf, sizeof buf, "%4.0f%%", 100 * sens);
		else if (sens >= 0.0005)
			snprintf(buf, sizeof buf, "%4.1f%%", 100 * sens);
		else
			snprintf(buf, sizeof buf, "%5s", "0%");
		x += put(t, y, x, 5, isnan(sens) ? MPQX_TH_DIM : MPQX_TH_NORMAL, buf);
		x += put(t, y, x, t->utf8 ? 1 : 3, lv >= 3 ? MPQX_TH_OVER : lv == 2 ? MPQX_TH_WARN : MPQX_TH_NORMAL,
			 (t->utf8 ? marks_u : marks_a)[lv]);
		if (l->wide) {
			x = g->x + hx + 15;
			const struct mpqx_cost *c = &s->est.layers[i];
			for (int k = 0; k < MPQX_RES_COUNT; k++) {
				snprintf(buf, sizeof buf, "%5s",
					 fmt_res(t2, sizeof t2, (enum mpqx_resource)k, cost_value(&s->dev, c, (enum mpqx_resource)k)));
				x += put(t, y, x, 5, k == (int)cres ? MPQX_TH_KEY : MPQX_TH_NORMAL, buf);
			}
			if (cyc_col) {
				snprintf(buf, sizeof buf, "%7s", view_fmt_count(t2, sizeof t2, (double)c->cycles));
				put(t, y, x, g->x + g->w - x, MPQX_TH_DIM, buf);
			}
		}
	}
	/* Scroll marks. */
	if (a->graph_top > 0)
		put(t, g->y, g->x + g->w - 1, 1, hr, t->utf8 ? "\xe2\x96\xb2" : "^");
	if (a->graph_top + rows < m->n_layers)
		put(t, g->y + g->h - 1, g->x + g->w - 1, 1, MPQX_TH_DIM, t->utf8 ? "\xe2\x96\xbc" : "v");
}

/* ---- the selected layer ---- */

static void draw_layer(const struct tui_ctx *t, const struct mpqx_app *a, const struct view_layout *l)
{
	const struct mpqx_session *s = a->s;
	const struct mpqx_model *m = s->model;
	const struct view_rect *p = &l->layer;
	int i = a->sel;
	const struct mpqx_layer *ly = &m->layers[i];
	const struct mpqx_layer_cfg *lc = &a->cfg.layers[i];
	char buf[LINE_MAX_BYTES], t1[32], t2[32], t3[32];
	bool foc = pane_focused(a, APP_PANE_LAYER);

	int o = snprintf(buf, sizeof buf, " %s  %s [%dx%d]", ly->name, model_op_name(ly->op), ly->rows, ly->cols);
	for (int k = 0; k < ly->n_inputs && o > 0 && (size_t)o < sizeof buf - 80; k++)
		o += snprintf(buf + o, sizeof buf - (size_t)o, "%s%s", k ? ", " : (t->utf8 ? " \xe2\x86\x90 " : " <- "),
			      m->layers[ly->inputs[k]].name);
	put_pad(t, p->y, p->x, p->w, foc ? MPQX_TH_FOCUS : MPQX_TH_HEADER, buf);
	for (int y = p->y + 1; y < p->y + p->h; y++)
		put_pad(t, y, p->x, p->w, MPQX_TH_NORMAL, "");

	int sw = p->w - 25;
	if (sw < 6)
		sw = 6;
	for (int f = 0; f < APP_F_COUNT; f++) {
		int y = p->y + 1 + f;
		bool cur = (int)a->field == f;
		enum mpqx_theme_role lr = cur && foc ? MPQX_TH_SELECT : cur ? MPQX_TH_KEY : MPQX_TH_NORMAL;
		static const char *const labels[APP_F_COUNT] = {"weights", "outputs", "buffer", "ROM", "mult"};
		snprintf(buf, sizeof buf, "%s%-8s", cur ? (t->utf8 ? "\xe2\x96\xb8" : ">") : " ", labels[f]);
		int x = p->x + put(t, y, p->x, 9, lr, buf) + 1;
		switch (f) {
		case APP_F_WBITS:
		case APP_F_ABITS: {
			bool has = f == APP_F_ABITS || session_layer_has_wbits(s, i);
			if (!has) {
				put(t, y, x, p->w - 10, MPQX_TH_DIM, "- (no weights)");
				break;
			}
			int v = f == APP_F_WBITS ? lc->w_bits : lc->a_bits;
			view_slider_str(buf, sizeof buf, v, MPQX_BITS_MIN, MPQX_BITS_MAX, sw, t->utf8);
			x += put(t, y, x, sw, cur ? MPQX_TH_BAR : MPQX_TH_DIM, buf);
			/* the weight scales' granularity after the weight bits, the calibration method after the
			 * output bits (t and C switch them) */
			const char *word = "";
			if (f == APP_F_WBITS && session_layer_has_wgran(s, i))
				word = lc->w_gran == MPQX_WGRAN_CHANNEL ? "channel" : "tensor";
			else if (f == APP_F_ABITS)
				/* a softmax's scale has its rule; "float" when its code is (doc/quantization.md) */
				word = !session_layer_has_calib(s, i)
					       ? (s->q && s->q->l[i].out.fc ? "float" : "rule")
				       : lc->calib == MPQX_CALIB_PERCENTILE ? "pct"
									    : config_calib_name(lc->calib);
			snprintf(buf, sizeof buf, " %2d bit %s", v, word);
			put(t, y, x, p->x + p->w - x, cur ? MPQX_TH_KEY : MPQX_TH_NORMAL, buf);
			break;
		}
		case APP_F_BUFFER:
		case APP_F_ROM: {
			bool rom = f == APP_F_ROM;
			if (rom && !session_layer_has_rom(s, i)) {
				put(t, y, x, p->w - 10, MPQX_TH_DIM, "- (no ROM)");
				break;
			}
			enum mpqx_storage cs = rom ? lc->rom : lc->buffer, rs = rom ? s->est.rom[i] : s->est.buffer[i];
			if (cs == MPQX_STORE_AUTO)
				snprintf(buf, sizeof buf, "auto %s %s", t->utf8 ? "\xe2\x86\x92" : "->", storage_word(&s->dev, rs, rom));
			else
				snprintf(buf, sizeof buf, "%s", storage_word(&s->dev, cs, rom));
			put(t, y, x, p->x + p->w - x, cur ? MPQX_TH_KEY : MPQX_TH_NORMAL, buf);
			break;
		}
		case APP_F_MULT: {
			if (!session_layer_has_mult(s, i)) {
				put(t, y, x, p->w - 10, MPQX_TH_DIM, "- (none to choose)");
				break;
			}
			if (lc->mult == MPQX_MULT_AUTO)
				snprintf(buf, sizeof buf, "auto %s %s", t->utf8 ? "\xe2\x86\x92" : "->",
					 config_mult_name(s->est.mult[i]));
			else
				snprintf(buf, sizeof buf, "%s", config_mult_name(lc->mult));
			put(t, y, x, p->x + p->w - x, cur ? MPQX_TH_KEY : MPQX_TH_NORMAL, buf);
			break;
		}
		default:
			break;
		}
	}
	const struct mpqx_cost *c = &s->est.layers[i];
	int y = p->y + 1 + APP_F_COUNT;
	bool ice = s->dev.fam == MPQX_FAMILY_ICE40;
	snprintf(buf, sizeof buf, ice ? " LC %s  SPRAM %s  FF %s" : " logic LUT %s  LUTRAM %s  FF %s",
		 view_fmt_count(t1, sizeof t1, (double)c->lut), view_fmt_count(t2, sizeof t2, (double)c->lutram),
		 view_fmt_count(t3, sizeof t3, (double)c->ff));
	put(t, y++, p->x, p->w, MPQX_TH_NORMAL, buf);
	if (ice)
		snprintf(buf, sizeof buf, " EBR %ld  DSP %ld  cycles %s", c->bram18, c->dsp,
			 view_fmt_thousands(t2, sizeof t2, c->cycles));
	else
		snprintf(buf, sizeof buf, " BRAM %s  DSP %ld  cycles %s", fmt_res(t1, sizeof t1, MPQX_RES_BRAM, c->bram18 / 2.0),
			 c->dsp, view_fmt_thousands(t2, sizeof t2, c->cycles));
	put(t, y++, p->x, p->w, MPQX_TH_NORMAL, buf);
	const struct mpqx_layer_stats *st = &s->layer_stats[i];
	const struct mpqx_qlayer *ql = &s->q->l[i];
	if (isnan(st->sqnr_db))
		snprintf(t1, sizeof t1, "...");
	else if (st->sqnr_db >= 999)
		snprintf(t1, sizeof t1, "exact");
	else
		snprintf(t1, sizeof t1, "%.1f dB", st->sqnr_db);
	snprintf(buf, sizeof buf, " SQNR %s  clamps %ld  acc %db", t1, st->clipped, ql->acc_bits);
	if (y < p->y + p->h)
		put(t, y++, p->x, p->w, s->eval_pending ? MPQX_TH_DIM : MPQX_TH_NORMAL, buf);
	if (l->wide && y < p->y + p->h) {
		const struct mpqx_sensitivity *sn = a->search ? search_sens(a->search) : NULL;
		if (sn && sn->mse_ref > 0) {
			char wd[32] = "-";
			if (session_layer_has_wbits(s, i))
				view_fmt_delta(wd, sizeof wd, search_sens_step(sn, &a->cfg, i, true) / sn->mse_ref);
			view_fmt_delta(t3, sizeof t3, search_sens_step(sn, &a->cfg, i, false) / sn->mse_ref);
			snprintf(buf, sizeof buf, " one bit less: weights %s, outputs %s MSE  MACs %s", wd, t3,
				 view_fmt_thousands(t1, sizeof t1, model_layer_macs(m, i)));
		} else {
			snprintf(buf, sizeof buf, " sensitivity: measuring%s  MACs %s", t->utf8 ? "\xe2\x80\xa6" : "...",
				 view_fmt_thousands(t1, sizeof t1, model_layer_macs(m, i)));
		}
		put(t, y++, p->x, p->w, MPQX_TH_DIM, buf);
	}
	if (l->wide && y < p->y + p->h) {
		snprintf(buf, sizeof buf, " %s 1 bit  H/L 4 bits  w/W a/A  b buffer  r ROM  t scales  C calib",
			 t->utf8 ? "\xe2\x86\x90\xe2\x86\x92" : "<>");
		put(t, y++, p->x, p->w, MPQX_TH_DIM, buf);
	}
}

/* ---- meters ---- */

static void draw_meters(const struct tui_ctx *t, const struct mpqx_app *a, const struct view_layout *l)
{
	const struct mpqx_session *s = a->s;
	const struct view_rect *p = &l->meters;
	char buf[LINE_MAX_BYTES], t1[32], t2[32], t3[32];
	snprintf(buf, sizeof buf, " %s  %s @ %.0f MHz", s->dev.name, s->dev.family, s->dev.clock_mhz);
	put_pad(t, p->y, p->x, p->w, MPQX_TH_HEADER, buf);
	for (int y = p->y + 1; y < p->y + p->h; y++)
		put_pad(t, y, p->x, p->w, MPQX_TH_NORMAL, "");
	int numw = 16; /* "99.9k/99.9k 100%" */
	int bw = p->w - 7 - 1 - numw - 2;
	if (bw < 4)
		bw = 4;
	for (int r = 0; r < MPQX_RES_COUNT; r++) {
		int y = p->y + 1 + r;
		double used = session_used(s, (enum mpqx_resource)r), cap = session_capacity(s, (enum mpqx_resource)r);
		double u = s->est.util[r];
		bool over = u > 1;
		int x = p->x;
		snprintf(buf, sizeof buf, " %-6s", res_long(&s->dev, (enum mpqx_resource)r));
		x += put(t, y, x, 7, over ? MPQX_TH_OVER : MPQX_TH_NORMAL, buf) + 1;
		view_bar_str(buf, sizeof buf, u, bw, t->utf8);
		struct view_bar b = view_bar(u, bw);
		int filled = b.full + (b.eighths ? 1 : 0);
		/* Filled and empty parts in their own roles. */
		char part[LINE_MAX_BYTES];
		view_fit(part, sizeof part, buf, filled);
		put(t, y, x, filled, over ? MPQX_TH_OVER : u >= 0.85 ? MPQX_TH_WARN : MPQX_TH_BAR, part);
		const char *rest = buf;
		for (int k = 0; k < filled && *rest; k++) {
			rest++;
			while ((*rest & 0xc0) == 0x80)
				rest++;
		}
		put(t, y, x + filled, bw - filled, MPQX_TH_BAR_EMPTY, rest);
		x += bw + 1;
		snprintf(buf, sizeof buf, "%s/%s %s", fmt_res(t1, sizeof t1, (enum mpqx_resource)r, used),
			 fmt_res(t2, sizeof t2, (enum mpqx_resource)r, cap), view_fmt_pct(t3, sizeof t3, u));
		char right[LINE_MAX_BYTES + 64];
		snprintf(right, sizeof right, "%*s", numw, buf);
		x += put(t, y, x, numw, util_role(u), right);
		if (over)
			put(t, y, x, 2, MPQX_TH_OVER, t->utf8 ? "\xe2\x9c\x97" : "!");
	}
	int y = p->y + 1 + MPQX_RES_COUNT;
	if (l->wide)
		y++;
	const char *lim = res_long(&s->dev, s->est.limiting);
	double lu = s->est.util[s->est.limiting];
	view_fmt_pct(t1, sizeof t1, lu);
	view_fmt_time_us(t2, sizeof t2, s->est.latency_us, t->utf8);
	int x = p->x;
	if (s->est.fits) {
		x += put(t, y, x, p->w, MPQX_TH_GOOD, t->utf8 ? " \xe2\x9c\x93 FITS" : " OK FITS");
		snprintf(buf, sizeof buf, " (%s %s)  latency %s", lim, t1, t2);
		put(t, y, x, p->x + p->w - x, MPQX_TH_NORMAL, buf);
	} else {
		snprintf(buf, sizeof buf, t->utf8 ? " \xe2\x9c\x97 OVER %s %s" : " XX OVER %s %s", lim, t1);
		x += put(t, y, x, p->w, MPQX_TH_OVER, buf);
		snprintf(buf, sizeof buf, "  latency %s", t2);
		put(t, y, x, p->x + p->w - x, MPQX_TH_NORMAL, buf);
	}
	if (l->wide && y + 1 < p->y + p->h) {
		snprintf(buf, sizeof buf, " %s cycles a window, %d layers in sequence",
			 view_fmt_thousands(t1, sizeof t1, s->est.total.cycles), s->model->n_layers);
		put(t, y + 1, p->x, p->w, MPQX_TH_DIM, buf);
	}
}

/* ---- accuracy and the forecast plot ---- */

static void draw_plot(const struct tui_ctx *t, const struct mpqx_app *a, const struct view_rect *p)
{
	const struct mpqx_session *s = a->s;
	int lw = VIEW_PLOT_LABEL_W;
	int w = p->w - lw, h = p->h;
	if (w < 4 || h < 1)
		return;
	int per = t->braille ? 2 : 1;
	int n = w * per;
	int total = s->fref->windows;
	int off = a->plot_off;
	if (n > total - off)
		n = total - off;
	if (n <= 0)
		return;
	static double ys[3][2048];
	if (n > 2048)
		n = 2048;
	double lo = INFINITY, hi = -INFINITY;
	for (int i = 0; i < n; i++) {
		ys[0][i] = session_truth(s, off + i);
		ys[1][i] = session_pred_float(s, off + i);
		ys[2][i] = s->eval_valid ? session_pred_quant(s, off + i) : NAN;
		for (int k = 0; k < 3; k++)
			if (!isnan(ys[k][i])) {
				if (ys[k][i] < lo)
					lo = ys[k][i];
				if (ys[k][i] > hi)
					hi = ys[k][i];
			}
	}
	if (!(hi > lo)) {
		hi = lo + 1;
		lo -= 1;
	}
	double pad = (hi - lo) * 0.05;
	lo -= pad;
	hi += pad;
	static struct view_cell cells[2048 * 64];
	if ((long)w * h > (long)(sizeof cells / sizeof cells[0]))
		h = (int)(sizeof cells / sizeof cells[0]) / w;
	const double *series[3] = {ys[0], ys[1], ys[2]};
	/* The plot covers n points over w cells (fewer at the end of the test set). */
	int pw = (n + per - 1) / per;
	view_plot(series, 3, n, lo, hi, pw, h, t->braille, cells);
	char buf[64];
	for (int y = 0; y < h; y++) {
		buf[0] = '\0';
		if (y == 0)
			view_fmt_sig(buf, sizeof buf, hi, 3);
		else if (y == h - 1)
			view_fmt_sig(buf, sizeof buf, lo, 3);
		char lab[80];
		snprintf(lab, sizeof lab, "%5s ", buf);
		put(t, p->y + y, p->x, lw, MPQX_TH_DIM, lab);
		for (int x = 0; x < pw; x++) {
			const struct view_cell *c = &cells[y * pw + x];
			int top = view_cell_top(c);
			static const enum mpqx_theme_role roles[3] = {MPQX_TH_TRUTH, MPQX_TH_FLOAT, MPQX_TH_QUANT};
			view_cell_str(buf, sizeof buf, c, t->braille);
			put(t, p->y + y, p->x + lw + x, 1, top < 0 ? MPQX_TH_NORMAL : roles[top], buf);
		}
	}
}

static void draw_accuracy(const struct tui_ctx *t, const struct mpqx_app *a, const struct view_layout *l)
{
	const struct mpqx_session *s = a->s;
	const struct mpqx_model *m = s->model;
	const struct view_rect *p = &l->accuracy;
	char buf[LINE_MAX_BYTES], t1[32], t2[32], t3[32];
	bool foc = pane_focused(a, APP_PANE_PLOT);
	const struct mpqx_eval_result *r = &s->res;
	const char *dots = t->utf8 ? "\xe2\x80\xa6" : "...";
	if (s->eval_subset) /* the subset's estimate first, the whole set's being computed */
		snprintf(buf, sizeof buf, " Accuracy subset %d of %d windows, %s%s%s", r->windows, r->windows_total,
			 m->data.target, s->eval_pending ? "  computing all" : "", s->eval_pending ? dots : "");
	else
		snprintf(buf, sizeof buf, " Accuracy %d windows, %s%s", s->fref->windows, m->data.target,
			 s->eval_pending ? (t->utf8 ? "  computing\xe2\x80\xa6" : "  computing...") : "");
	put_pad(t, p->y, p->x, p->w, foc ? MPQX_TH_FOCUS : MPQX_TH_HEADER, buf);
	for (int y = p->y + 1; y < p->y + p->h; y++)
		put_pad(t, y, p->x, p->w, MPQX_TH_NORMAL, "");
	enum mpqx_theme_role fr = s->eval_pending ? MPQX_TH_DIM : MPQX_TH_NORMAL;
	double unit = model_target_unit(m);
	double rel = r->mse_float > 0 ? r->mse / r->mse_float - 1 : 0;
	view_fmt_delta(t3, sizeof t3, rel);
	int x = p->x;
	int sig = l->wide ? 5 : 3;
	if (s->eval_subset) /* an estimate: ~value, its standard error, the windows it comes from */
		snprintf(buf, sizeof buf, " MSE ~%s %s%.0f%% (%d of %d)  float %s  ", view_fmt_sig(t1, sizeof t1, r->mse, sig),
			 t->utf8 ? "\xc2\xb1" : "+-", r->mse > 0 ? 100.0 * r->mse_se / r->mse : 0.0, r->windows,
			 r->windows_total, view_fmt_sig(t2, sizeof t2, r->mse_float, sig));
	else
		snprintf(buf, sizeof buf, " MSE %s  float %s  ", view_fmt_sig(t1, sizeof t1, r->mse, sig),
			 view_fmt_sig(t2, sizeof t2, r->mse_float, sig));
	x += put(t, p->y + 1, x, p->w, fr, buf);
	put(t, p->y + 1, x, p->x + p->w - x, s->eval_pending ? MPQX_TH_DIM : rel > 0.1 ? MPQX_TH_WARN : MPQX_TH_GOOD,
	    t3);
	long clipped = session_clipped(s);
	const char *est = s->eval_subset ? "~" : "";
	if (l->wide)
		snprintf(buf, sizeof buf, " RMSE %s%s %s (float %s)  clamps %ld", est,
			 view_fmt_sig(t1, sizeof t1, r->rmse_denorm, sig), m->data.target,
			 view_fmt_sig(t2, sizeof t2, sqrt(r->mse_float) * unit, sig), clipped);
	else
		snprintf(buf, sizeof buf, " RMSE %s%s (float %s)  clamps %ld", est,
			 view_fmt_sig(t1, sizeof t1, r->rmse_denorm, sig),
			 view_fmt_sig(t2, sizeof t2, sqrt(r->mse_float) * unit, sig), clipped);
	put(t, p->y + 2, p->x, p->w, clipped && !s->eval_pending ? MPQX_TH_WARN : fr, buf);
	if (l->wide) {
		int o = snprintf(buf, sizeof buf, " MAE %s %s   persistence MSE %s",
				 view_fmt_sig(t1, sizeof t1, r->mae_denorm, 4), m->data.target,
				 view_fmt_sig(t2, sizeof t2, s->fref->mse_persistence, 4));
		if (!t->dump && o > 0 && (size_t)o < sizeof buf)
			snprintf(buf + o, sizeof buf - (size_t)o, "   evaluated in %.1f ms", s->eval_ms);
		put(t, p->y + 3, p->x, p->w, MPQX_TH_DIM, buf);
	}
	draw_plot(t, a, &l->plot);
	int y = p->y + p->h - 1;
	x = p->x + 1;
	const char *mk[3] = {t->braille ? "\xe2\xa0\xa4" : ".", t->braille ? "\xe2\xa0\xa4" : "o",
			     t->braille ? "\xe2\xa0\xa4" : "*"};
	static const char *const names[3] = {"truth", "float", "quant"};
	static const enum mpqx_theme_role roles[3] = {MPQX_TH_TRUTH, MPQX_TH_FLOAT, MPQX_TH_QUANT};
	for (int k = 0; k < 3; k++) {
		x += put(t, y, x, p->x + p->w - x, roles[k], mk[k]);
		snprintf(buf, sizeof buf, "%s ", names[k]);
		x += put(t, y, x, p->x + p->w - x, MPQX_TH_DIM, buf);
	}
	int n = a->plot_span;
	if (a->plot_off + n > s->fref->windows)
		n = s->fref->windows - a->plot_off;
	snprintf(buf, sizeof buf, " %d-%d", a->plot_off, a->plot_off + n - 1);
	put(t, y, x, p->x + p->w - x, MPQX_TH_DIM, buf);
}

/* ---- overlays ---- */

/* The help of the view or dialog it was opened from, one key a line, scrolled by the app. */
static void draw_help(const struct tui_ctx *t, const struct mpqx_app *a, const struct view_layout *l)
{
	const struct view_rect *r = &l->help;
	int rows, cols;
	getmaxyx(stdscr, rows, cols);
	int tw, vr;
	app_help_geometry(rows, cols, &tw, &vr);
	static struct app_help_line lines[256];
	int n = app_help_lines(a, tw, lines, 256);
	if (n > 256)
		n = 256;
	int top = a->help_top;
	if (top > n - vr)
		top = n - vr;
	if (top < 0)
		top = 0;
	char title[128];
	snprintf(title, sizeof title, "Help: %s", app_help_context(a));
	frame(t, r, title);
	for (int k = 0; k < vr && top + k < n; k++) {
		const struct app_help_line *hl = &lines[top + k];
		int y = r->y + 1 + k, x = r->x + 2;
		if (hl->heading) {
			put(t, y, x, r->w - 4, MPQX_TH_HEADER, hl->text);
			continue;
		}
		char lab[64];
		snprintf(lab, sizeof lab, "%-12s", hl->key);
		put(t, y, x, 12, MPQX_TH_KEY, lab);
		put(t, y, x + 12, r->w - 4 - 12, MPQX_TH_DIALOG, hl->text);
	}
	char foot[160];
	if (n > vr)
		snprintf(foot, sizeof foot, "lines %d-%d of %d  %s PgUp PgDn Home End scroll  Esc ? close", top + 1,
			 top + vr < n ? top + vr : n, n, t->utf8 ? "\xe2\x86\x91\xe2\x86\x93" : "Up Down");
	else
		snprintf(foot, sizeof foot, "Esc ? close");
	put(t, r->y + r->h - 2, r->x + 2, r->w - 4, MPQX_TH_DIM, foot);
}

/* A layer's cell: bits, then buffer and ROM storage as the main view shows them (lower case when auto
 * chose it). */
static void slot_cell(char *buf, size_t size, const struct mpqx_app *a, const struct app_column *col, int i)
{
	const struct mpqx_layer_cfg *lc = &col->cfg->layers[i];
	const struct mpqx_layer_cfg *rs = col->resolved ? &col->resolved->layers[i] : lc;
	char w[8];
	if (session_layer_has_wbits(a->s, i))
		snprintf(w, sizeof w, "%d", lc->w_bits);
	else
		snprintf(w, sizeof w, "-");
	char rom = session_layer_has_rom(a->s, i) ? storage_letter(lc->rom, rs->rom, true) : '-';
	snprintf(buf, size, "%s/%d %c%c", w, lc->a_bits, storage_letter(lc->buffer, rs->buffer, false), rom);
}

static void draw_compare(const struct tui_ctx *t, const struct mpqx_app *a, const struct view_layout *l)
{
	const struct mpqx_session *s = a->s;
	const struct mpqx_model *m = s->model;
	const struct view_rect *r = &l->compare;
	fill(t, r, MPQX_TH_NORMAL);
	char buf[LINE_MAX_BYTES], t1[32], t2[32];
	put_pad(t, r->y, r->x, r->w, MPQX_TH_FOCUS,
		t->utf8 ? " Compare  \xe2\x86\x90\xe2\x86\x92 slot  \xe2\x86\x91\xe2\x86\x93 scroll  b base  Enter load  1-4 store  x empty  ? help  Esc close"
			: " Compare  <> slot  ^v scroll  b base  Enter load  1-4 store  x empty  ? help  Esc close");
	int ncol = 1 + APP_SLOTS, nw, cw;
	view_compare_cols(r->w, ncol, &nw, &cw);
	struct app_column cols[1 + APP_SLOTS];
	bool used[1 + APP_SLOTS];
	for (int c = 0; c < ncol; c++)
		used[c] = app_compare_column(a, c, &cols[c]);
	const char *mark = t->utf8 ? "\xe2\x97\x86" : "*", *best = t->utf8 ? "\xe2\x98\x85" : "+";
	/* headings: the selected slot highlighted, the base column named */
	int y = r->y + 1;
	put_pad(t, y, r->x, nw, MPQX_TH_HEADER, " layer");
	for (int c = 0; c < ncol; c++) {
		int o = c == 0 ? snprintf(buf, sizeof buf, " current") : snprintf(buf, sizeof buf, " slot %d%s", c, used[c] ? "" : " -");
		if (c == a->compare_base && o > 0)
			snprintf(buf + o, sizeof buf - (size_t)o, " base");
		put_pad(t, y, r->x + nw + c * cw, cw, c > 0 && c - 1 == a->slot_sel ? MPQX_TH_SELECT : MPQX_TH_HEADER, buf);
	}
	/* each column's device */
	y++;
	put_pad(t, y, r->x, nw, MPQX_TH_NORMAL, " device");
	for (int c = 0; c < ncol; c++) {
		bool other = used[c] && used[a->compare_base] && strcmp(cols[c].device, cols[a->compare_base].device) != 0;
		snprintf(buf, sizeof buf, " %s%s", used[c] ? cols[c].device : " .", other ? mark : "");
		put_pad(t, y, r->x + nw + c * cw, cw, !used[c] ? MPQX_TH_DIM : other ? MPQX_TH_DIFF : MPQX_TH_NORMAL, buf);
	}
	int totals = APP_CR_COUNT + 5; /* heading, the rows, vs float, fit, dominated, legend */
	int body = r->h - 3 - totals;
	for (int k = 0; k < body; k++) {
		int i = a->compare_top + k;
		y = r->y + 3 + k;
		if (i >= m->n_layers)
			break;
		bool any = false;
		for (int c = 0; c < ncol; c++)
			any = any || (used[c] && app_compare_differs(a, c, i));
		char nm[MPQX_NAME_MAX * 2];
		snprintf(buf, sizeof buf, "%s%s", any ? mark : " ",
			 view_short_name(nm, sizeof nm, m->layers[i].name, nw - 1, t->utf8));
		put_pad(t, y, r->x, nw, any ? MPQX_TH_DIFF : MPQX_TH_NORMAL, buf);
		for (int c = 0; c < ncol; c++) {
			int x = r->x + nw + c * cw;
			if (!used[c]) {
				put_pad(t, y, x, cw, MPQX_TH_DIM, "  .");
				continue;
			}
			slot_cell(t1, sizeof t1, a, &cols[c], i);
			bool d = app_compare_differs(a, c, i);
			snprintf(buf, sizeof buf, " %s%s", t1, d ? mark : "");
			put_pad(t, y, x, cw, d ? MPQX_TH_DIFF : MPQX_TH_NORMAL, buf);
		}
	}
	/* Totals: the current figures and each slot's as stored; the best of a row starred, a value that
	 * differs from the base column's marked. */
	y = r->y + r->h - totals;
	put_pad(t, y++, r->x, r->w, MPQX_TH_HEADER, " totals");
	static const char *const rows[APP_CR_COUNT] = {"LUT", "LUTRAM", "FF", "BRAM tiles", "DSP", "latency", "MSE", "RMSE"};
	for (int k = 0; k < APP_CR_COUNT; k++, y++) {
		put_pad(t, y, r->x, nw, MPQX_TH_NORMAL, rows[k]);
		double base_v = used[a->compare_base] ? app_compare_value(&cols[a->compare_base], (enum app_crow)k) : NAN;
		for (int c = 0; c < ncol; c++) {
			int x = r->x + nw + c * cw;
			if (!used[c]) {
				put_pad(t, y, x, cw, MPQX_TH_DIM, "  .");
				continue;
			}
			const struct app_column *sl = &cols[c];
			double v = app_compare_value(sl, (enum app_crow)k);
			enum mpqx_theme_role role = MPQX_TH_NORMAL;
			if (k < MPQX_RES_COUNT) {
				snprintf(buf, sizeof buf, " %s %s", fmt_res(t1, sizeof t1, (enum mpqx_resource)k, v),
					 view_fmt_pct(t2, sizeof t2, sl->util[k]));
				role = util_role(sl->util[k]);
			} else if (k == APP_CR_LATENCY) {
				snprintf(buf, sizeof buf, " %s", view_fmt_time_us(t1, sizeof t1, v, t->utf8));
			} else {
				double x0 = k == APP_CR_MSE ? sl->mse : sl->rmse_denorm;
				snprintf(buf, sizeof buf, " %s%s", view_fmt_sig(t1, sizeof t1, x0, 4), sl->eval_valid ? "" : "?");
			}
			size_t len = strlen(buf);
			if (app_compare_best(a, (enum app_crow)k, c)) {
				snprintf(buf + len, sizeof buf - len, "%s", best);
				if (role == MPQX_TH_NORMAL)
					role = MPQX_TH_GOOD;
			} else if (c != a->compare_base && !isnan(v) && !isnan(base_v) &&
				   fabs(v - base_v) > 1e-12 * (fabs(v) + fabs(base_v))) {
				/* Marked by a glyph as well as by colour. */
				snprintf(buf + len, sizeof buf - len, "%s", mark);
				if (role == MPQX_TH_NORMAL)
					role = MPQX_TH_DIFF;
			}
			put_pad(t, y, x, cw, role, buf);
		}
	}
	/* MSE against the float model's, the verdict, and the columns another one beats everywhere. */
	put_pad(t, y, r->x, nw, MPQX_TH_NORMAL, "MSE vs float");
	for (int c = 0; c < ncol; c++, (void)0) {
		int x = r->x + nw + c * cw;
		if (!used[c]) {
			put_pad(t, y, x, cw, MPQX_TH_DIM, "  .");
			continue;
		}
		double rel = s->fref->mse > 0 ? cols[c].mse / s->fref->mse - 1 : 0;
		snprintf(buf, sizeof buf, " %s%s", view_fmt_delta(t1, sizeof t1, rel), cols[c].eval_valid ? "" : "?");
		put_pad(t, y, x, cw, rel > 0.1 ? MPQX_TH_WARN : MPQX_TH_NORMAL, buf);
	}
	y++;
	put_pad(t, y, r->x, nw, MPQX_TH_NORMAL, "fit");
	for (int c = 0; c < ncol; c++) {
		int x = r->x + nw + c * cw;
		if (!used[c]) {
			put_pad(t, y, x, cw, MPQX_TH_DIM, "  .");
			continue;
		}
		snprintf(buf, sizeof buf, " %s %s", cols[c].fits ? "fits" : "OVER", res_long(&s->dev, cols[c].limiting));
		put_pad(t, y, x, cw, cols[c].fits ? MPQX_TH_GOOD : MPQX_TH_OVER, buf);
	}
	y++;
	put_pad(t, y, r->x, nw, MPQX_TH_NORMAL, "dominated by");
	for (int c = 0; c < ncol; c++) {
		int x = r->x + nw + c * cw;
		int by = used[c] ? app_compare_dominated_by(a, c) : -1;
		if (by < 0)
			snprintf(buf, sizeof buf, "  %s", used[c] ? "-" : ".");
		else if (by == 0)
			snprintf(buf, sizeof buf, " current");
		else
			snprintf(buf, sizeof buf, " slot %d", by);
		put_pad(t, y, x, cw, by >= 0 ? MPQX_TH_WARN : MPQX_TH_DIM, buf);
	}
	y++;
	snprintf(buf, sizeof buf, " %s differs from the base column  %s best of the row  dominated: another column is no "
		 "worse in any resource, latency and MSE, and better in one", mark, best);
	put(t, y, r->x, r->w, MPQX_TH_DIM, buf);
}

/* The Pareto view: the front of MSE (log scale) against the chosen resource, the budget as a vertical
 * line, the current configuration marked apart, the selected point described below. */
static void draw_pareto(const struct tui_ctx *t, const struct mpqx_app *a, const struct view_layout *l)
{
	const struct mpqx_session *s = a->s;
	const struct view_rect *r = &l->compare;
	fill(t, r, MPQX_TH_NORMAL);
	static const char *const names[MPQX_FRONT_COUNT] = {"LUT", "BRAM tiles", "latency"};
	int f = a->pareto_front;
	char buf[LINE_MAX_BYTES], t1[32], t2[32], t3[32], t4[32];
	snprintf(buf, sizeof buf, " Pareto: MSE against %s  %s resource  %s point  Enter apply  f best fit  Esc close",
		 names[f], t->utf8 ? "\xe2\x86\x91\xe2\x86\x93" : "^v", t->utf8 ? "\xe2\x86\x90\xe2\x86\x92" : "<>");
	put_pad(t, r->y, r->x, r->w, MPQX_TH_FOCUS, buf);
	const struct mpqx_search_result *res = app_pareto(a);
	int info = 4;
	int lw = 9, px = r->x + lw, pw = r->w - lw - 1, py = r->y + 2, ph = r->h - 3 - info;
	if (!res) {
		snprintf(buf, sizeof buf, " %s", app_search_busy(a) ? "searching: sensitivities, then the search and the exact "
								      "evaluation of the front..." : "no search yet");
		put(t, r->y + 2, r->x, r->w, MPQX_TH_DIM, buf);
		return;
	}
	snprintf(buf, sizeof buf, " %d points on %s: MSE on the %s windows, the other resources%s within budget",
		 res->n_front[f], s->dev.name, app_split_name(res->split), f == MPQX_FRONT_LATENCY ? "" : " and latency");
	put(t, r->y + 1, r->x, r->w, MPQX_TH_DIM, buf);
	if (pw < 10 || ph < 3)
		return;
	struct app_axes ax;
	app_pareto_axes(a, &ax);
	/* y labels: top, middle and bottom MSE */
	for (int k = 0; k < 3; k++) {
		int yy = k == 0 ? 0 : k == 1 ? ph / 2 : ph - 1;
		double v = pow(10, ax.yhi - (ax.yhi - ax.ylo) * yy / (ph > 1 ? ph - 1 : 1));
		snprintf(buf, sizeof buf, "%8s ", view_fmt_sig(t1, sizeof t1, v, 3));
		put(t, py + yy, r->x, lw, MPQX_TH_DIM, buf);
	}
	/* the budget */
	double cap = f == MPQX_FRONT_LUT ? res->budget[MPQX_RES_LUT] : f == MPQX_FRONT_BRAM ? res->budget[MPQX_RES_BRAM] : res->latency_max;
	int col, row;
	if (cap > 0 && app_pareto_cell(&ax, cap, pow(10, ax.ylo + 1e-9), pw, ph, &col, &row))
		for (int yy = 0; yy < ph; yy++)
			put(t, py + yy, px + col, 1, MPQX_TH_OVER, t->utf8 ? "\xe2\x94\x8a" : ":");
	/* the front, then the selection and the current configuration on top */
	int n = res->n_front[f];
	for (int i = 0; i < n; i++) {
		const struct mpqx_search_point *p = &res->front[f][i];
		if (app_pareto_cell(&ax, app_front_x(p, f), p->mse, pw, ph, &col, &row))
			put(t, py + row, px + col, 1, MPQX_TH_FLOAT, t->utf8 ? "\xe2\x97\x8f" : "o");
	}
	const struct mpqx_search_point *sel = n > 0 && a->pareto_sel < n ? &res->front[f][a->pareto_sel] : NULL;
	if (sel && app_pareto_cell(&ax, app_front_x(sel, f), sel->mse, pw, ph, &col, &row))
		put(t, py + row, px + col, 1, MPQX_TH_SELECT, t->utf8 ? "\xe2\x97\x89" : "@");
	double cur_x = f == MPQX_FRONT_LUT ? session_used(s, MPQX_RES_LUT) : f == MPQX_FRONT_BRAM ? session_used(s, MPQX_RES_BRAM) : s->est.latency_us;
	/* The current configuration on the same windows as the front, when the search measured it. */
	double cur_mse = app_current_search_mse(a);
	if (!isnan(cur_mse) && app_pareto_cell(&ax, cur_x, cur_mse, pw, ph, &col, &row))
		put(t, py + row, px + col, 1, MPQX_TH_QUANT, t->utf8 ? "\xe2\x97\x86" : "*");
	/* x axis */
	int ya = py + ph;
	for (int xx = 0; xx < pw; xx++)
		put(t, ya, px + xx, 1, MPQX_TH_DIM, t->utf8 ? "\xe2\x94\x80" : "-");
	/* Ticks at round values, each labelled under its column where the labels do not touch; a budget
	 * beyond the axis is named at its right end. */
	bool bram = f == MPQX_FRONT_BRAM, lat = f == MPQX_FRONT_LATENCY;
	double ticks[16];
	int nt = view_ticks(ax.lo, ax.hi, pw / 10 > 1 ? (pw / 10 < 16 ? pw / 10 : 16) : 2, ticks);
	int free_x = 0;
	for (int k = 0; k < nt; k++) {
		if (!app_pareto_cell(&ax, ticks[k], pow(10, ax.ylo + 1e-9), pw, ph, &col, &row))
			continue;
		if (lat)
			view_fmt_time_us(t1, sizeof t1, ticks[k], t->utf8);
		else
			fmt_res(t1, sizeof t1, bram ? MPQX_RES_BRAM : MPQX_RES_LUT, ticks[k]);
		put(t, ya, px + col, 1, MPQX_TH_DIM, t->utf8 ? "\xe2\x94\xbc" : "+");
		int w = view_width(t1), lx = col - w / 2;
		if (lx < free_x || lx + w > pw)
			continue;
		put(t, ya + 1, px + lx, w, MPQX_TH_DIM, t1);
		free_x = lx + w + 2;
	}
	if (cap > 0 && cap > ax.hi) {
		if (lat)
			view_fmt_time_us(t2, sizeof t2, cap, t->utf8);
		else
			fmt_res(t2, sizeof t2, bram ? MPQX_RES_BRAM : MPQX_RES_LUT, cap);
		snprintf(buf, sizeof buf, "budget %s %s", t2, t->utf8 ? "\xe2\x86\x92" : "->");
		int bw = view_width(buf);
		put(t, ya, px + pw - bw, bw, MPQX_TH_OVER, buf);
	}
	(void)t3;
	/* legend and the two configurations */
	int y = ya + 2;
	snprintf(buf, sizeof buf, " %s front  %s selected  %s current  %s budget", t->utf8 ? "\xe2\x97\x8f" : "o",
		 t->utf8 ? "\xe2\x97\x89" : "@", t->utf8 ? "\xe2\x97\x86" : "*", t->utf8 ? "\xe2\x94\x8a" : ":");
	put(t, y++, r->x, r->w, MPQX_TH_DIM, buf);
	if (sel) {
		snprintf(buf, sizeof buf, " point %d/%d: %s MSE %s%s  LUT %s  BRAM %s  DSP %.0f  latency %s  %s", a->pareto_sel + 1,
			 n, res->split == MPQX_TEST ? "test" : res->split == MPQX_CALIB ? "calib" : "train",
			 view_fmt_sig(t1, sizeof t1, sel->mse, 4), sel->exact ? "" : " (surrogate)",
			 view_fmt_count(t2, sizeof t2, sel->used[MPQX_RES_LUT]),
			 fmt_res(t3, sizeof t3, MPQX_RES_BRAM, sel->used[MPQX_RES_BRAM]), sel->used[MPQX_RES_DSP],
			 view_fmt_time_us(t4, sizeof t4, sel->latency_us, t->utf8), sel->fits ? "fits" : "over budget");
		put(t, y, r->x, r->w, sel->fits ? MPQX_TH_SELECT : MPQX_TH_WARN, buf);
	}
	y++;
	char cm[64];
	if (!isnan(cur_mse))
		snprintf(cm, sizeof cm, "%s MSE %s", res->split == MPQX_TEST ? "test" : res->split == MPQX_CALIB ? "calib" : "train",
			 view_fmt_sig(t4, sizeof t4, cur_mse, 4));
	else
		snprintf(cm, sizeof cm, "%s", "not on the plot (f measures it)");
	snprintf(buf, sizeof buf, " current: %s  test MSE %s%s  LUT %s  BRAM %s  DSP %.0f  %s", cm,
		 view_fmt_sig(t1, sizeof t1, s->res.mse, 4), s->eval_pending ? "?" : "",
		 view_fmt_count(t2, sizeof t2, session_used(s, MPQX_RES_LUT)),
		 fmt_res(t3, sizeof t3, MPQX_RES_BRAM, session_used(s, MPQX_RES_BRAM)), session_used(s, MPQX_RES_DSP),
		 s->est.fits ? "fits" : "OVER");
	put(t, y, r->x, r->w, MPQX_TH_QUANT, buf);
}

static void draw_export(const struct tui_ctx *t, const struct mpqx_app *a, const struct view_layout *l)
{
	const struct view_rect *r = &l->dialog;
	frame(t, r, "Export Verilog and testbench");
	char buf[LINE_MAX_BYTES];
	int x = r->x + 2, w = r->w - 4, y = r->y + 2;
	static const char *const labels[APP_X_COUNT] = {"directory", "windows", "simulate", ""};
	for (int f = 0; f < APP_X_COUNT; f++, y++) {
		bool cur = (int)a->xfield == f;
		enum mpqx_theme_role vr = cur ? MPQX_TH_SELECT : MPQX_TH_DIALOG;
		put_pad(t, y, x, 11, cur ? MPQX_TH_KEY : MPQX_TH_DIALOG, labels[f]);
		switch (f) {
		case APP_X_DIR:
			snprintf(buf, sizeof buf, "%s%s", a->export_dir, cur ? "_" : "");
			put_pad(t, y, x + 11, w - 11, vr, buf);
			break;
		case APP_X_WINDOWS:
			snprintf(buf, sizeof buf, "%d%s  of %d test windows", a->export_windows, cur ? "_" : "",
				 a->s->fref->windows);
			put_pad(t, y, x + 11, w - 11, vr, buf);
			break;
		case APP_X_SIM:
			snprintf(buf, sizeof buf, "[%c] run Icarus Verilog on the testbench", a->export_sim ? 'x' : ' ');
			put_pad(t, y, x + 11, w - 11, vr, buf);
			break;
		default:
			y++;
			put(t, y, x + 11, w - 11, vr, a->export_sim ? "[ Export and simulate ]" : "[ Export ]");
			break;
		}
	}
	y++;
	if (a->export_result[0]) {
		enum mpqx_theme_role rr = !a->export_done ? MPQX_TH_WARN : a->export_rc ? MPQX_TH_OVER : MPQX_TH_GOOD;
		/* Long results (an error with a path) wrap over two rows. */
		const char *res = a->export_result;
		int len = view_width(res);
		put(t, y, x, w, rr, res);
		if (len > w && y + 1 < r->y + r->h - 1) {
			const char *p = res;
			for (int k = 0; k < w && *p; k++) {
				p++;
				while ((*p & 0xc0) == 0x80)
					p++;
			}
			put(t, y + 1, x, w, rr, p);
		}
	}
	put(t, r->y + r->h - 2, x, w, MPQX_TH_DIM,
	    app_export_busy(a) ? "runs in the background:  Esc cancel  e hide"
			       : "Up/Down field  Enter next/run  Space toggle  Esc close");
}

static void draw_prompt(const struct tui_ctx *t, const struct mpqx_app *a, const struct view_layout *l)
{
	const struct view_rect *r = &l->prompt;
	static const char *const titles[] = {"Set every layer to N bits (or W/A)", "Save config to", "Load config from",
					     "Find a layer by name"};
	frame(t, r, titles[a->prompt]);
	char buf[LINE_MAX_BYTES];
	int w = r->w - 4;
	/* Show the end of a long text. */
	const char *txt = a->text;
	while (view_width(txt) > w - 1) {
		txt++;
		while ((*txt & 0xc0) == 0x80)
			txt++;
	}
	snprintf(buf, sizeof buf, "%s_", txt);
	put_pad(t, r->y + 2, r->x + 2, w, MPQX_TH_SELECT, buf);
	put(t, r->y + 3, r->x + 2, w, MPQX_TH_DIM, "Enter confirm  Esc cancel  ^U clear");
}

void tui_draw(const struct tui_ctx *t, const struct mpqx_app *a)
{
	struct view_layout l;
	int rows, cols;
	getmaxyx(stdscr, rows, cols);
	view_layout(rows, cols, &l);
	attrset(role_attr(t, MPQX_TH_NORMAL));
	bkgdset(' ' | role_attr(t, MPQX_TH_NORMAL));
	erase();
	if (l.too_small) {
		char buf[160];
		snprintf(buf, sizeof buf, "mpqx needs a terminal of at least %dx%d; this one is %dx%d.", VIEW_MIN_COLS,
			 VIEW_MIN_ROWS, cols, rows);
		int w = view_width(buf);
		int y = rows / 2, x = (cols - w) / 2;
		put(t, y > 0 ? y - 1 : 0, x > 0 ? x : 0, cols, MPQX_TH_WARN, buf);
		const char *hint = "Enlarge the window, or press q to quit.";
		w = view_width(hint);
		x = (cols - w) / 2;
		put(t, y + 1 < rows ? y + 1 : y, x > 0 ? x : 0, cols, MPQX_TH_NORMAL, hint);
		return;
	}
	draw_title(t, a, &l);
	/* The view under the help and the prompts. */
	enum app_overlay base = a->overlay == APP_OV_HELP ? a->help_under : a->overlay;
	if (base == APP_OV_PROMPT)
		base = a->under_prompt;
	if (base == APP_OV_COMPARE) {
		draw_compare(t, a, &l);
	} else if (base == APP_OV_PARETO) {
		draw_pareto(t, a, &l);
	} else {
		draw_graph(t, a, &l);
		/* The column between the graph and the right-hand panes. */
		attrset(role_attr(t, MPQX_TH_DIM));
		for (int y = l.graph.y; y < l.graph.y + l.graph.h; y++)
			mvaddstr(y, l.graph.x + l.graph.w, t->utf8 ? "\xe2\x94\x82" : "|");
		draw_layer(t, a, &l);
		if (l.wide) {
			attrset(role_attr(t, MPQX_TH_DIM));
			for (int y = l.layer.y; y < l.layer.y + l.layer.h; y++)
				mvaddstr(y, l.layer.x + l.layer.w, t->utf8 ? "\xe2\x94\x82" : "|");
		}
		draw_meters(t, a, &l);
		draw_accuracy(t, a, &l);
	}
	if (a->overlay == APP_OV_HELP && a->help_under == APP_OV_EXPORT)
		draw_export(t, a, &l);
	if (a->overlay == APP_OV_HELP)
		draw_help(t, a, &l);
	else if (a->overlay == APP_OV_EXPORT)
		draw_export(t, a, &l);
	else if (a->overlay == APP_OV_PROMPT && a->prompt != APP_PROMPT_FIND)
		draw_prompt(t, a, &l);
	draw_status(t, a, &l);
}
