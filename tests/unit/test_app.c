/* The explorer's state machine without a terminal: the key table, every action, undo/redo, compare slots,
 * prompts, save/load, the export dialog, mouse and key scripts. Runs on the tiny model. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "mpqx/app.h"
#include "mpqx/hw.h"
#include "mpqx/view.h"

static const char *devices_dir(void)
{
	const char *d = getenv("MPQX_TEST_DEVICES");
	return d && *d ? d : SRC_DIR "/devices";
}

struct fx {
	struct mpqx_session *s;
	struct mpqx_app a;
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof *f);
	struct mpqx_session_opts o = {0};
	o.devices_dir = devices_dir();
	o.threads = 1;
	struct mpqx_err err = {0};
	if (session_open(DATA_DIR "/tiny", &o, &f->s, &err)) {
		fprintf(stderr, "session_open: %s\n", err.msg);
		free(f);
		return -1;
	}
	if (app_init(&f->a, f->s, NULL))
		return -1;
	app_resize(&f->a, 24, 80);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	app_fini(&f->a);
	session_free(f->s);
	free(f);
	return 0;
}

static int layer(const struct fx *f, const char *name)
{
	int l = model_find(f->s->model, name);
	assert_true(l >= 0);
	return l;
}

/* Applies an action and syncs the session when the config changed, as the event loop does. */
static int act(struct fx *f, enum app_action a)
{
	int fl = app_apply(&f->a, a);
	if (fl & APP_RECOMPUTE)
		app_sync(&f->a);
	return fl;
}

static void keys(struct fx *f, const char *script)
{
	int k[256];
	size_t bad = 0;
	int n = app_parse_keys(script, k, 256, &bad);
	assert_true(n >= 0);
	for (int i = 0; i < n; i++) {
		int fl = app_key(&f->a, k[i]);
		if (fl & APP_RECOMPUTE)
			app_sync(&f->a);
	}
}

static void test_key_table(void **state)
{
	(void)state;
	for (int i = 0; i < APP_ACTION_COUNT - 1; i++) {
		const struct app_binding *b = &app_bindings[i];
		assert_int_equal(b->action, i + 1);
		assert_true(b->keys[0] != 0);
		assert_non_null(b->label);
		assert_true(strlen(b->help) > 3);
		for (int j = 0; j < 3 && b->keys[j]; j++) {
			assert_int_equal(app_key_action(b->keys[j]), b->action);
			/* No key is bound twice. */
			for (int i2 = 0; i2 < APP_ACTION_COUNT - 1; i2++)
				for (int j2 = 0; j2 < 3; j2++)
					if (i2 != i && app_bindings[i2].keys[j2])
						assert_int_not_equal(app_bindings[i2].keys[j2], b->keys[j]);
		}
	}
	assert_int_equal(app_key_action('Z'), APP_ACT_NONE);
	assert_int_equal(app_key_action(0), APP_ACT_NONE);
	assert_string_equal(app_key_name(APP_KEY_UP), "Up");
	assert_string_equal(app_key_name(APP_CTRL('r')), "^R");
	assert_string_equal(app_key_name('q'), "q");
}

static void test_parse_keys(void **state)
{
	(void)state;
	int k[16];
	size_t bad = 99;
	assert_int_equal(app_parse_keys("j<Down><C-r><lt>\xc3\xa9<S-Tab><Enter>", k, 16, &bad), 7);
	assert_int_equal(k[0], 'j');
	assert_int_equal(k[1], APP_KEY_DOWN);
	assert_int_equal(k[2], APP_CTRL('r'));
	assert_int_equal(k[3], '<');
	assert_int_equal(k[4], 0xe9);
	assert_int_equal(k[5], APP_KEY_BTAB);
	assert_int_equal(k[6], APP_KEY_ENTER);
	assert_int_equal(app_parse_keys("ab<Nope>", k, 16, &bad), -1);
	assert_int_equal(bad, 2);
	assert_int_equal(app_parse_keys("<Down", k, 16, &bad), -1);
	assert_int_equal(app_parse_keys("", k, 16, &bad), 0);
}

static void test_navigation(void **state)
{
	struct fx *f = *state;
	int n = f->s->model->n_layers;
	assert_int_equal(f->a.sel, layer(f, "proj")); /* the first layer with weights */
	assert_int_equal(act(f, APP_ACT_TOP) & APP_REDRAW, APP_REDRAW);
	assert_int_equal(f->a.sel, 0);
	act(f, APP_ACT_UP);
	assert_int_equal(f->a.sel, 0);
	act(f, APP_ACT_DOWN);
	assert_int_equal(f->a.sel, 1);
	act(f, APP_ACT_BOTTOM);
	assert_int_equal(f->a.sel, n - 1);
	act(f, APP_ACT_DOWN);
	assert_int_equal(f->a.sel, n - 1);
	/* The graph scrolls to keep the selection visible. */
	app_resize(&f->a, 24, 80);
	assert_true(f->a.graph_top <= f->a.sel && f->a.sel < f->a.graph_top + f->a.graph_rows);
	act(f, APP_ACT_PAGE_UP);
	assert_true(f->a.sel < n - 1);
	act(f, APP_ACT_PAGE_DOWN);
	assert_int_equal(f->a.sel, n - 1);
	/* Focus cycles over the panes both ways. */
	assert_int_equal(f->a.focus, APP_PANE_GRAPH);
	act(f, APP_ACT_FOCUS_NEXT);
	assert_int_equal(f->a.focus, APP_PANE_LAYER);
	act(f, APP_ACT_FOCUS_NEXT);
	assert_int_equal(f->a.focus, APP_PANE_PLOT);
	act(f, APP_ACT_FOCUS_NEXT);
	assert_int_equal(f->a.focus, APP_PANE_GRAPH);
	act(f, APP_ACT_FOCUS_PREV);
	assert_int_equal(f->a.focus, APP_PANE_PLOT);
	/* Enter in the graph goes to the sliders. */
	act(f, APP_ACT_FOCUS_NEXT);
	act(f, APP_ACT_SLOT_LOAD);
	assert_int_equal(f->a.focus, APP_PANE_LAYER);
}

static void test_bits(void **state)
{
	struct fx *f = *state;
	int q = layer(f, "q");
	f->a.sel = q;
	int fl = act(f, APP_ACT_W_DEC);
	assert_true(fl & APP_RECOMPUTE);
	assert_int_equal(f->a.cfg.layers[q].w_bits, 7);
	assert_int_equal(f->s->cfg.layers[q].w_bits, 7); /* synced */
	act(f, APP_ACT_W_INC);
	act(f, APP_ACT_W_INC);
	assert_int_equal(f->a.cfg.layers[q].w_bits, 9);
	act(f, APP_ACT_A_DEC);
	assert_int_equal(f->a.cfg.layers[q].a_bits, 7);
	act(f, APP_ACT_A_INC);
	assert_int_equal(f->a.cfg.layers[q].a_bits, 8);
	/* Clamped to 2..16 with a message and no change. */
	for (int i = 0; i < 20; i++)
		act(f, APP_ACT_W_INC);
	assert_int_equal(f->a.cfg.layers[q].w_bits, MPQX_BITS_MAX);
	assert_int_equal(act(f, APP_ACT_W_INC) & APP_RECOMPUTE, 0);
	assert_non_null(strstr(f->a.msg, "already 16"));
	for (int i = 0; i < 20; i++)
		act(f, APP_ACT_A_DEC);
	assert_int_equal(f->a.cfg.layers[q].a_bits, MPQX_BITS_MIN);
	/* A layer without weights refuses weight bits. */
	f->a.sel = layer(f, "softmax");
	int before = f->a.cfg.layers[f->a.sel].w_bits;
	assert_int_equal(act(f, APP_ACT_W_DEC) & APP_RECOMPUTE, 0);
	assert_true(f->a.msg_error);
	assert_int_equal(f->a.cfg.layers[f->a.sel].w_bits, before);
}

static void test_sliders(void **state)
{
	struct fx *f = *state;
	int q = layer(f, "q");
	f->a.sel = q;
	f->a.focus = APP_PANE_LAYER;
	f->a.field = APP_F_WBITS;
	act(f, APP_ACT_RIGHT);
	assert_int_equal(f->a.cfg.layers[q].w_bits, 9);
	act(f, APP_ACT_BIG_LEFT);
	assert_int_equal(f->a.cfg.layers[q].w_bits, 5);
	act(f, APP_ACT_BIG_LEFT);
	assert_int_equal(f->a.cfg.layers[q].w_bits, 2);
	act(f, APP_ACT_DOWN); /* to output bits */
	assert_int_equal(f->a.field, APP_F_ABITS);
	act(f, APP_ACT_BIG_RIGHT);
	assert_int_equal(f->a.cfg.layers[q].a_bits, 12);
	act(f, APP_ACT_LEFT);
	assert_int_equal(f->a.cfg.layers[q].a_bits, 11);
	act(f, APP_ACT_DOWN);
	assert_int_equal(f->a.field, APP_F_BUFFER);
	act(f, APP_ACT_RIGHT);
	assert_int_equal(f->a.cfg.layers[q].buffer, MPQX_STORE_BLOCK);
	act(f, APP_ACT_LEFT);
	assert_int_equal(f->a.cfg.layers[q].buffer, MPQX_STORE_AUTO);
	act(f, APP_ACT_DOWN);
	assert_int_equal(f->a.field, APP_F_ROM);
	act(f, APP_ACT_DOWN);
	assert_int_equal(f->a.field, APP_F_MULT);
	act(f, APP_ACT_RIGHT);
	assert_int_equal(f->a.cfg.layers[q].mult, MPQX_MULT_DSP);
	act(f, APP_ACT_LEFT);
	assert_int_equal(f->a.cfg.layers[q].mult, MPQX_MULT_AUTO);
	act(f, APP_ACT_DOWN);
	assert_int_equal(f->a.field, APP_F_MULT);
	/* On a layer without weights or ROM the fields that do not apply are skipped. */
	f->a.sel = layer(f, "add_pe");
	f->a.field = APP_F_BUFFER;
	act(f, APP_ACT_DOWN);
	assert_int_equal(f->a.field, APP_F_BUFFER);
	act(f, APP_ACT_UP);
	assert_int_equal(f->a.field, APP_F_ABITS);
	act(f, APP_ACT_UP);
	assert_int_equal(f->a.field, APP_F_ABITS);
	/* In the graph, left/right move the current field's slider of the selected layer. */
	f->a.focus = APP_PANE_GRAPH;
	int a0 = f->a.cfg.layers[f->a.sel].a_bits;
	act(f, APP_ACT_LEFT);
	assert_int_equal(f->a.cfg.layers[f->a.sel].a_bits, a0 - 1);
}

static void test_storage(void **state)
{
	struct fx *f = *state;
	int q = layer(f, "q");
	f->a.sel = q;
	act(f, APP_ACT_BUFFER);
	assert_int_equal(f->a.cfg.layers[q].buffer, MPQX_STORE_BLOCK);
	assert_int_equal(f->s->est.buffer[q], MPQX_STORE_BLOCK);
	act(f, APP_ACT_BUFFER);
	assert_int_equal(f->a.cfg.layers[q].buffer, MPQX_STORE_DIST);
	assert_int_equal(f->s->est.buffer[q], MPQX_STORE_DIST);
	act(f, APP_ACT_BUFFER);
	assert_int_equal(f->a.cfg.layers[q].buffer, MPQX_STORE_AUTO);
	act(f, APP_ACT_ROM);
	assert_int_equal(f->a.cfg.layers[q].rom, MPQX_STORE_BLOCK);
	act(f, APP_ACT_ROM);
	assert_int_equal(f->a.cfg.layers[q].rom, MPQX_STORE_DIST);
	f->a.sel = layer(f, "relu");
	assert_int_equal(act(f, APP_ACT_ROM) & APP_RECOMPUTE, 0);
	assert_true(f->a.msg_error);
	/* The multiplier choice: auto -> dsp -> logic; logic takes q's DSP away, dsp puts it back. */
	f->a.sel = q;
	long dsp_total = f->s->est.total.dsp;
	assert_int_equal(f->s->est.mult[q], MPQX_MULT_DSP); /* 8 bits: a 9 x 9 product */
	act(f, APP_ACT_MULT);
	assert_int_equal(f->a.cfg.layers[q].mult, MPQX_MULT_DSP);
	assert_int_equal(f->s->est.total.dsp, dsp_total);
	act(f, APP_ACT_MULT);
	assert_int_equal(f->a.cfg.layers[q].mult, MPQX_MULT_LOGIC);
	assert_int_equal(f->s->est.mult[q], MPQX_MULT_LOGIC);
	assert_int_equal(f->s->est.layers[q].dsp, 0);
	assert_int_equal(f->s->est.total.dsp, dsp_total - 1);
	act(f, APP_ACT_MULT);
	assert_int_equal(f->a.cfg.layers[q].mult, MPQX_MULT_AUTO);
	f->a.sel = layer(f, "softmax");
	assert_int_equal(act(f, APP_ACT_MULT) & APP_RECOMPUTE, 0);
	assert_true(f->a.msg_error);
}

/* t and C: the weight granularity and the calibration method of the selected layer, each a change the
 * integer model sees (undo restores it); layers where they mean nothing refuse with a message. */
static void test_granularity_and_calibration(void **state)
{
	struct fx *f = *state;
	int q = layer(f, "q");
	f->a.sel = q;
	assert_int_equal(f->a.cfg.layers[q].w_gran, MPQX_WGRAN_TENSOR);
	assert_int_not_equal(act(f, APP_ACT_WGRAN) & APP_RECOMPUTE, 0);
	assert_int_equal(f->a.cfg.layers[q].w_gran, MPQX_WGRAN_CHANNEL);
	assert_non_null(f->s->q->l[q].wcm);
	assert_int_equal(f->s->est.layers[q].cycles, hw_layer_cycles(f->s->q, q));
	act(f, APP_ACT_UNDO);
	assert_int_equal(f->a.cfg.layers[q].w_gran, MPQX_WGRAN_TENSOR);
	assert_null(f->s->q->l[q].wcm);
	assert_int_equal(f->a.cfg.layers[q].calib, MPQX_CALIB_PERCENTILE);
	act(f, APP_ACT_CALIB);
	assert_int_equal(f->a.cfg.layers[q].calib, MPQX_CALIB_MSE);
	act(f, APP_ACT_CALIB);
	assert_int_equal(f->a.cfg.layers[q].calib, MPQX_CALIB_MINMAX);
	f->a.sel = layer(f, "softmax");
	assert_int_equal(act(f, APP_ACT_CALIB) & APP_RECOMPUTE, 0);
	assert_true(f->a.msg_error);
	f->a.sel = layer(f, "ln"); /* layernorm: w_bits, but one scale for its weights */
	assert_int_equal(act(f, APP_ACT_WGRAN) & APP_RECOMPUTE, 0);
	assert_true(f->a.msg_error);
}

static void test_recompute_changes_figures(void **state)
{
	struct fx *f = *state;
	double mse8 = f->s->res.mse;
	long seq = f->s->eval_seq;
	f->a.sel = layer(f, "proj");
	for (int i = 0; i < 6; i++)
		act(f, APP_ACT_A_DEC);
	assert_int_equal(f->s->cfg.layers[f->a.sel].a_bits, 2);
	assert_true(f->s->eval_seq > seq);
	assert_true(f->s->res.mse != mse8);
	assert_true(config_equal(&f->s->eval_cfg, &f->a.cfg));
}

static void test_undo_redo(void **state)
{
	struct fx *f = *state;
	struct mpqx_config c0 = {0}, c3 = {0};
	config_copy(&c0, &f->a.cfg);
	act(f, APP_ACT_W_DEC);
	act(f, APP_ACT_BUFFER);
	act(f, APP_ACT_DOWN);
	act(f, APP_ACT_A_INC);
	config_copy(&c3, &f->a.cfg);
	assert_int_equal(f->a.n_undo, 3);
	act(f, APP_ACT_UNDO);
	act(f, APP_ACT_UNDO);
	int fl = act(f, APP_ACT_UNDO);
	assert_true(fl & APP_RECOMPUTE);
	assert_true(config_equal(&f->a.cfg, &c0));
	assert_true(config_equal(&f->s->cfg, &c0));
	act(f, APP_ACT_UNDO); /* nothing left */
	assert_non_null(strstr(f->a.msg, "nothing to undo"));
	act(f, APP_ACT_REDO);
	act(f, APP_ACT_REDO);
	act(f, APP_ACT_REDO);
	assert_true(config_equal(&f->a.cfg, &c3));
	act(f, APP_ACT_REDO);
	assert_non_null(strstr(f->a.msg, "nothing to redo"));
	/* A new change after an undo drops the redo entries. */
	act(f, APP_ACT_UNDO);
	act(f, APP_ACT_A_DEC);
	assert_int_equal(f->a.n_undo, 3);
	assert_int_equal(f->a.n_undo, f->a.n_redo);
	act(f, APP_ACT_REDO);
	assert_non_null(strstr(f->a.msg, "nothing to redo"));
	config_fini(&c0);
	config_fini(&c3);
}

static void test_all_bits_prompt(void **state)
{
	struct fx *f = *state;
	act(f, APP_ACT_ALL_BITS);
	assert_int_equal(f->a.overlay, APP_OV_PROMPT);
	keys(f, "<C-u>6/4<Enter>");
	assert_int_equal(f->a.overlay, APP_OV_NONE);
	for (int l = 0; l < f->a.cfg.n_layers; l++) {
		assert_int_equal(f->a.cfg.layers[l].w_bits, 6);
		assert_int_equal(f->a.cfg.layers[l].a_bits, 4);
	}
	assert_int_equal(f->s->cfg.layers[0].a_bits, 4);
	keys(f, "=<C-u>5<Enter>");
	assert_int_equal(f->a.cfg.layers[3].a_bits, 5);
	assert_int_equal(f->a.cfg.layers[3].w_bits, 5);
	/* Bad input changes nothing; Esc cancels; backspace edits. */
	keys(f, "=<C-u>17<Enter>");
	assert_true(f->a.msg_error);
	assert_int_equal(f->a.cfg.layers[3].a_bits, 5);
	keys(f, "=<C-u>3<Esc>");
	assert_int_equal(f->a.overlay, APP_OV_NONE);
	assert_int_equal(f->a.cfg.layers[3].a_bits, 5);
	keys(f, "=<C-u>39<BS><Enter>");
	assert_int_equal(f->a.cfg.layers[3].a_bits, 3);
	/* One undo step per prompt. */
	act(f, APP_ACT_UNDO);
	assert_int_equal(f->a.cfg.layers[3].a_bits, 5);
}

static void test_slots(void **state)
{
	struct fx *f = *state;
	struct mpqx_config c1 = {0};
	config_copy(&c1, &f->a.cfg);
	act(f, APP_ACT_STORE1);
	assert_true(f->a.slots[0].used);
	assert_true(config_equal(&f->a.slots[0].cfg, &c1));
	assert_true(f->a.slots[0].eval_valid);
	double mse1 = f->a.slots[0].mse;
	assert_true(mse1 == f->s->res.mse);
	f->a.sel = layer(f, "proj");
	for (int i = 0; i < 5; i++)
		act(f, APP_ACT_A_DEC);
	act(f, APP_ACT_BUFFER);
	act(f, APP_ACT_STORE2);
	assert_true(f->a.slots[1].used);
	assert_true(f->a.slots[1].mse != mse1);
	act(f, APP_ACT_STORE3);
	act(f, APP_ACT_STORE4);
	assert_true(f->a.slots[3].used);
	/* The compare view: pick slot 1 and load it back. */
	act(f, APP_ACT_COMPARE);
	assert_int_equal(f->a.overlay, APP_OV_COMPARE);
	act(f, APP_ACT_LEFT);
	act(f, APP_ACT_LEFT);
	act(f, APP_ACT_LEFT);
	act(f, APP_ACT_LEFT);
	assert_int_equal(f->a.slot_sel, 0);
	act(f, APP_ACT_DOWN);
	assert_int_equal(f->a.compare_top, 1);
	act(f, APP_ACT_TOP);
	assert_int_equal(f->a.compare_top, 0);
	int fl = act(f, APP_ACT_SLOT_LOAD);
	assert_true(fl & APP_RECOMPUTE);
	assert_int_equal(f->a.overlay, APP_OV_NONE);
	assert_true(config_equal(&f->a.cfg, &c1));
	assert_true(f->s->res.mse == mse1);
	/* Empty slot 4, undo brings it back, redo empties it again. */
	act(f, APP_ACT_COMPARE);
	for (int i = 0; i < 5; i++)
		act(f, APP_ACT_RIGHT);
	assert_int_equal(f->a.slot_sel, APP_SLOTS - 1);
	act(f, APP_ACT_SLOT_CLEAR);
	assert_false(f->a.slots[3].used);
	act(f, APP_ACT_SLOT_LOAD);
	assert_true(f->a.msg_error); /* empty */
	act(f, APP_ACT_UNDO);
	assert_true(f->a.slots[3].used);
	act(f, APP_ACT_REDO);
	assert_false(f->a.slots[3].used);
	act(f, APP_ACT_CANCEL);
	assert_int_equal(f->a.overlay, APP_OV_NONE);
	act(f, APP_ACT_SLOT_CLEAR); /* outside the compare view: a hint only */
	assert_false(f->a.msg_error);
	config_fini(&c1);
}

/* The compare view decides: the best value of each totals row, the dominated columns, storage resolved as
 * the main view shows it, each column's device, and differences against any column chosen as the base. */
static void test_compare_marks(void **state)
{
	struct fx *f = *state;
	/* slot 1: uniform 8 bits; slot 2: proj's outputs at 4 bits (less of everything, worse MSE); slot 3:
	 * slot 1 again on another device. */
	act(f, APP_ACT_STORE1);
	f->a.sel = layer(f, "proj");
	for (int i = 0; i < 4; i++)
		act(f, APP_ACT_A_DEC);
	act(f, APP_ACT_STORE2);
	for (int i = 0; i < 4; i++)
		act(f, APP_ACT_A_INC);
	act(f, APP_ACT_DEVICE);
	act(f, APP_ACT_STORE3);
	act(f, APP_ACT_DEVICE_PREV);
	act(f, APP_ACT_COMPARE);
	struct app_column c0, c1, c2, c3, c4;
	assert_true(app_compare_column(&f->a, 0, &c0));
	assert_true(app_compare_column(&f->a, 1, &c1));
	assert_true(app_compare_column(&f->a, 2, &c2));
	assert_true(app_compare_column(&f->a, 3, &c3));
	assert_false(app_compare_column(&f->a, 4, &c4));
	assert_string_equal(c1.device, f->s->dev.name);
	assert_string_not_equal(c3.device, c1.device);
	/* the current config equals slot 1: the same figures, so neither dominates the other */
	assert_true(c0.mse == c1.mse && c0.used_res[MPQX_RES_LUT] == c1.used_res[MPQX_RES_LUT]);
	assert_true(c2.mse > c1.mse);
	double l1 = app_compare_value(&c1, APP_CR_LUTRAM), l2 = app_compare_value(&c2, APP_CR_LUTRAM);
	assert_true(l2 < l1);
	assert_true(app_compare_best(&f->a, APP_CR_LUTRAM, 2));
	assert_false(app_compare_best(&f->a, APP_CR_LUTRAM, 1));
	assert_true(app_compare_best(&f->a, APP_CR_MSE, 0) == (c0.mse <= c3.mse));
	assert_false(app_compare_best(&f->a, APP_CR_MSE, 2));
	assert_int_equal(app_compare_dominated_by(&f->a, 0), -1);
	assert_int_equal(app_compare_dominated_by(&f->a, 1), -1);
	assert_int_equal(app_compare_dominated_by(&f->a, 2), -1); /* least resources: not dominated */
	/* Storage as resolved, the same rule as the main view. */
	assert_non_null(c1.resolved);
	assert_non_null(c2.resolved);
	for (int l = 0; l < f->s->model->n_layers; l++) {
		assert_int_equal(c1.cfg->layers[l].buffer, MPQX_STORE_AUTO);
		assert_int_equal(c1.resolved->layers[l].buffer, f->s->est.buffer[l]);
		assert_true(c2.resolved->layers[l].buffer != MPQX_STORE_AUTO);
	}
	/* Differences against the current config, then against slot 2 (b on it), and back. */
	int proj = layer(f, "proj");
	assert_false(app_compare_differs(&f->a, 1, proj));
	assert_true(app_compare_differs(&f->a, 2, proj));
	assert_false(app_compare_differs(&f->a, 0, proj)); /* the base itself */
	f->a.slot_sel = 1;
	act(f, APP_ACT_BUFFER);
	assert_int_equal(f->a.compare_base, 2);
	assert_true(app_compare_differs(&f->a, 1, proj));
	assert_true(app_compare_differs(&f->a, 0, proj));
	assert_false(app_compare_differs(&f->a, 2, proj));
	act(f, APP_ACT_BUFFER);
	assert_int_equal(f->a.compare_base, 0);
	/* an empty slot cannot be the base */
	f->a.slot_sel = 3;
	act(f, APP_ACT_BUFFER);
	assert_true(f->a.msg_error);
	assert_int_equal(f->a.compare_base, 0);
	/* A copy of slot 2 with one more bit in a late layer's output costs no less and is no worse in MSE
	 * only by chance: dominance is checked on constructed figures instead. */
	f->a.slots[3] = f->a.slots[1];
	f->a.slots[3].used_res[MPQX_RES_LUT] += 10;
	assert_int_equal(app_compare_dominated_by(&f->a, 4), 2);
	f->a.slots[3].used_res[MPQX_RES_LUT] -= 10;
	assert_int_equal(app_compare_dominated_by(&f->a, 4), -1); /* equal: no one dominates */
	f->a.slots[3].fits = false;
	f->a.slots[1].fits = true;
	assert_int_equal(app_compare_dominated_by(&f->a, 4), 2);
	memset(&f->a.slots[3], 0, sizeof f->a.slots[3]); /* a shallow copy: not freed twice */
}

static void test_save_load(void **state)
{
	struct fx *f = *state;
	char path[] = "/tmp/mpqx-test-app-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	close(fd);
	assert_false(app_modified(&f->a));
	act(f, APP_ACT_W_DEC);
	assert_true(app_modified(&f->a));
	struct mpqx_config saved = {0};
	config_copy(&saved, &f->a.cfg);
	act(f, APP_ACT_SAVE);
	assert_int_equal(f->a.overlay, APP_OV_PROMPT);
	char script[256];
	snprintf(script, sizeof script, "<C-u>%s<Enter>", path);
	keys(f, script);
	/* The file exists and is not the config being edited: asked once, nothing written, prompt still open. */
	assert_false(f->a.msg_error);
	assert_non_null(strstr(f->a.msg, "exists"));
	assert_int_equal(f->a.overlay, APP_OV_PROMPT);
	assert_true(app_modified(&f->a));
	keys(f, "<Enter>");
	assert_false(f->a.msg_error);
	assert_false(app_modified(&f->a));
	assert_string_equal(f->a.config_path, path);
	struct mpqx_config back = {0};
	struct mpqx_err err = {0};
	assert_int_equal(config_load(path, f->s->model, &back, &err), 0);
	assert_true(config_equal(&back, &saved));
	config_fini(&back);
	/* Change, then load the file back. */
	act(f, APP_ACT_A_DEC);
	act(f, APP_ACT_A_DEC);
	assert_true(app_modified(&f->a));
	act(f, APP_ACT_LOAD);
	keys(f, script);
	assert_true(config_equal(&f->a.cfg, &saved));
	assert_true(config_equal(&f->s->cfg, &saved));
	assert_false(app_modified(&f->a));
	/* Saving again to the file being edited does not ask. */
	act(f, APP_ACT_SAVE);
	keys(f, script);
	assert_int_equal(f->a.overlay, APP_OV_NONE);
	assert_false(f->a.msg_error);
	/* "~/" is the home directory. */
	char home[] = "/tmp/mpqx-test-home-XXXXXX";
	assert_non_null(mkdtemp(home));
	char *old_home = getenv("HOME") ? strdup(getenv("HOME")) : NULL;
	setenv("HOME", home, 1);
	act(f, APP_ACT_SAVE);
	keys(f, "<C-u>~/c.json<Enter>");
	assert_false(f->a.msg_error);
	char in_home[512];
	snprintf(in_home, sizeof in_home, "%s/c.json", home);
	assert_string_equal(f->a.config_path, in_home);
	assert_int_equal(config_load(in_home, f->s->model, &back, &err), 0);
	config_fini(&back);
	unlink(in_home);
	rmdir(home);
	if (old_home) {
		setenv("HOME", old_home, 1);
		free(old_home);
	}
	/* A bad file is reported and changes nothing. */
	FILE *fp = fopen(path, "w");
	fputs("{\"format\":\"mpqx-config\",\"version\":1,\"layers\":{\"nope\":{}}}", fp);
	fclose(fp);
	act(f, APP_ACT_LOAD);
	keys(f, script);
	assert_true(f->a.msg_error);
	assert_non_null(strstr(f->a.msg, "nope"));
	assert_true(config_equal(&f->a.cfg, &saved));
	/* Saving into a directory that does not exist fails with a message. */
	act(f, APP_ACT_SAVE);
	keys(f, "<C-u>/nonexistent-dir/x.json<Enter>");
	assert_true(f->a.msg_error);
	unlink(path);
	config_fini(&saved);
}

/* The save target: none at start (s suggests MODEL.config.json), the loaded file after a load, the previous
 * one again after undoing the load; a config for another model or an unknown device loads with a warning. */
static void test_save_target(void **state)
{
	struct fx *f = *state;
	assert_string_equal(f->a.config_path, "");
	act(f, APP_ACT_SAVE);
	char want[300];
	snprintf(want, sizeof want, "%s.config.json", f->s->model->name);
	assert_string_equal(f->a.text, want);
	act(f, APP_ACT_CANCEL);

	char dir[] = "/tmp/mpqx-test-target-XXXXXX";
	assert_non_null(mkdtemp(dir));
	char a_path[400], b_path[400], script[500];
	snprintf(a_path, sizeof a_path, "%s/a.json", dir);
	snprintf(b_path, sizeof b_path, "%s/b.json", dir);
	/* a.json: every layer at 6 bits, saved for another model and naming an unknown device. */
	FILE *fp = fopen(a_path, "w");
	assert_non_null(fp);
	fputs("{\"format\":\"mpqx-config\",\"version\":1,\"model\":\"another-model\",\"device\":\"xc9z999\","
	      "\"defaults\":{\"w_bits\":6,\"a_bits\":6}}",
	      fp);
	fclose(fp);
	fp = fopen(b_path, "w");
	assert_non_null(fp);
	fputs("{\"format\":\"mpqx-config\",\"version\":1,\"model\":\"another-model\",\"defaults\":{\"w_bits\":5}}", fp);
	fclose(fp);
	char dev0[64];
	snprintf(dev0, sizeof dev0, "%s", f->a.cfg.device);

	act(f, APP_ACT_LOAD);
	snprintf(script, sizeof script, "<C-u>%s<Enter>", a_path);
	keys(f, script);
	assert_true(f->a.msg_error);
	assert_non_null(strstr(f->a.msg, "a.json"));
	assert_non_null(strstr(f->a.msg, "unknown device 'xc9z999'"));
	assert_non_null(strstr(f->a.msg, "xc7s15")); /* the known devices are listed */
	assert_string_equal(f->a.cfg.device, dev0);
	assert_int_equal(f->a.cfg.layers[layer(f, "input")].a_bits, 6);
	assert_string_equal(f->a.config_path, a_path);

	act(f, APP_ACT_LOAD);
	snprintf(script, sizeof script, "<C-u>%s<Enter>", b_path);
	keys(f, script);
	assert_true(f->a.msg_error);
	assert_non_null(strstr(f->a.msg, "saved for model 'another-model'"));
	assert_string_equal(f->a.config_path, b_path);
	assert_false(app_modified(&f->a));

	/* Undo the second load: the target is a.json again, and the config is a.json's as loaded. */
	act(f, APP_ACT_UNDO);
	assert_string_equal(f->a.config_path, a_path);
	assert_false(app_modified(&f->a));
	act(f, APP_ACT_UNDO);
	assert_string_equal(f->a.config_path, "");
	assert_false(app_modified(&f->a));
	act(f, APP_ACT_REDO);
	assert_string_equal(f->a.config_path, a_path);
	/* s offers the target: saving there does not ask. */
	act(f, APP_ACT_SAVE);
	assert_string_equal(f->a.text, a_path);
	keys(f, "<Enter>");
	assert_int_equal(f->a.overlay, APP_OV_NONE);
	assert_false(f->a.msg_error);
	unlink(a_path);
	unlink(b_path);
	rmdir(dir);
}

/* Slots are kept in their file and come back in a new app on the same model. */
static void test_slots_persist(void **state)
{
	struct fx *f = *state;
	char dir[] = "/tmp/mpqx-test-slots-XXXXXX";
	assert_non_null(mkdtemp(dir));
	char path[300];
	snprintf(path, sizeof path, "%s/state/mpqx/slots/tiny.json", dir);
	app_slots_open(&f->a, path);
	assert_false(f->a.msg_error);
	assert_int_not_equal(access(path, F_OK), 0); /* nothing written before a slot changes */
	act(f, APP_ACT_STORE1);
	act(f, APP_ACT_A_DEC);
	act(f, APP_ACT_STORE3);
	assert_int_equal(access(path, F_OK), 0);
	struct mpqx_app b;
	assert_int_equal(app_init(&b, f->s, NULL), 0);
	app_slots_open(&b, path);
	assert_false(b.msg_error);
	assert_non_null(strstr(b.msg, "2 slots restored"));
	for (int k = 0; k < APP_SLOTS; k++) {
		assert_int_equal(b.slots[k].used, f->a.slots[k].used);
		if (!b.slots[k].used)
			continue;
		assert_true(config_equal(&b.slots[k].cfg, &f->a.slots[k].cfg));
		assert_string_equal(b.slots[k].device, f->a.slots[k].device);
		assert_int_equal(b.slots[k].fits, f->a.slots[k].fits);
		assert_int_equal(b.slots[k].limiting, f->a.slots[k].limiting);
		assert_true(fabs(b.slots[k].mse - f->a.slots[k].mse) <= 1e-12 * fabs(f->a.slots[k].mse));
		for (int r = 0; r < MPQX_RES_COUNT; r++)
			assert_true(fabs(b.slots[k].used_res[r] - f->a.slots[k].used_res[r]) < 1e-9);
	}
	app_fini(&b);
	/* Undoing a store is kept too. */
	act(f, APP_ACT_UNDO);
	assert_false(f->a.slots[2].used);
	assert_int_equal(app_init(&b, f->s, NULL), 0);
	app_slots_open(&b, path);
	assert_true(b.slots[0].used);
	assert_false(b.slots[2].used);
	app_fini(&b);
	/* Slots kept for an earlier version of the model file are not restored, and the message says so. */
	char cmd[700];
	snprintf(cmd, sizeof cmd, "sed -i 's/\"model_mtime\":.*/\"model_mtime\": 1,/' '%s'", path);
	assert_int_equal(system(cmd), 0);
	assert_int_equal(app_init(&b, f->s, NULL), 0);
	app_slots_open(&b, path);
	assert_true(b.msg_error);
	assert_non_null(strstr(b.msg, "earlier version"));
	assert_false(b.slots[0].used);
	app_fini(&b);
	/* A broken file is reported with its name. */
	FILE *fp = fopen(path, "w");
	fputs("{\"format\":\"mpqx-slots\",\"version\":1,\"slots\":3}", fp);
	fclose(fp);
	assert_int_equal(app_init(&b, f->s, NULL), 0);
	app_slots_open(&b, path);
	assert_true(b.msg_error);
	assert_non_null(strstr(b.msg, "tiny.json: slots: expected an array"));
	app_fini(&b);
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
}

static void test_quit(void **state)
{
	struct fx *f = *state;
	assert_int_equal(act(f, APP_ACT_QUIT), APP_QUIT);
	act(f, APP_ACT_W_DEC);
	int fl = act(f, APP_ACT_QUIT);
	assert_int_equal(fl & APP_QUIT, 0);
	assert_true(f->a.quit_armed);
	act(f, APP_ACT_DOWN); /* any other key disarms */
	assert_int_equal(act(f, APP_ACT_QUIT) & APP_QUIT, 0);
	assert_int_equal(act(f, APP_ACT_QUIT) & APP_QUIT, APP_QUIT);
}

/* = pre-fills the selected layer's output bits: the first digit typed replaces them ('116' was 11 + 6);
 * a bad value keeps the prompt open with the text typed, for a correction. */
static void test_prompt_replace_and_errors(void **state)
{
	struct fx *f = *state;
	int l = f->a.sel;
	act(f, APP_ACT_ALL_BITS);
	char pre[16];
	snprintf(pre, sizeof pre, "%d", f->a.cfg.layers[l].a_bits);
	assert_string_equal(f->a.text, pre);
	keys(f, "6");
	assert_string_equal(f->a.text, "6");
	keys(f, "<Enter>");
	assert_int_equal(f->a.overlay, APP_OV_NONE);
	assert_int_equal(f->a.cfg.layers[l].a_bits, 6);
	/* Backspace first edits the pre-filled value instead. */
	keys(f, "=<BS>");
	assert_string_equal(f->a.text, "");
	keys(f, "<Esc>");
	/* An error keeps the dialog and the text. */
	keys(f, "=6/99<Enter>");
	assert_true(f->a.msg_error);
	assert_int_equal(f->a.overlay, APP_OV_PROMPT);
	assert_string_equal(f->a.text, "6/99");
	keys(f, "<BS><BS>5<Enter>");
	assert_int_equal(f->a.overlay, APP_OV_NONE);
	assert_int_equal(f->a.cfg.layers[l].a_bits, 5);
	assert_int_equal(f->a.cfg.layers[l].w_bits, 6);
	/* A load that fails keeps the path typed. */
	act(f, APP_ACT_LOAD);
	keys(f, "<C-u>/nonexistent/dir/cfg.json<Enter>");
	assert_true(f->a.msg_error);
	assert_int_equal(f->a.overlay, APP_OV_PROMPT);
	assert_string_equal(f->a.text, "/nonexistent/dir/cfg.json");
	keys(f, "<Esc>");
	assert_int_equal(f->a.overlay, APP_OV_NONE);
}

/* / selects, as it is typed, the next layer whose name contains the text; Enter keeps it, Esc goes back;
 * n goes to the next match. */
static void test_find(void **state)
{
	struct fx *f = *state;
	const struct mpqx_model *m = f->s->model;
	int start = f->a.sel;
	/* a text that matches a layer other than the selected one: the end of the last layer's name */
	const char *last = m->layers[m->n_layers - 1].name;
	char pat[80];
	snprintf(pat, sizeof pat, "%s", last + strlen(last) - (strlen(last) > 3 ? 3 : strlen(last)));
	act(f, APP_ACT_FIND);
	assert_int_equal(f->a.overlay, APP_OV_PROMPT);
	assert_int_equal(f->a.prompt, APP_PROMPT_FIND);
	keys(f, pat);
	assert_non_null(strstr(m->layers[f->a.sel].name, pat));
	int found = f->a.sel;
	keys(f, "<Esc>");
	assert_int_equal(f->a.sel, start);
	act(f, APP_ACT_FIND);
	keys(f, pat);
	keys(f, "<Enter>");
	assert_int_equal(f->a.overlay, APP_OV_NONE);
	assert_int_equal(f->a.sel, found);
	assert_string_equal(f->a.find, pat);
	/* Case does not matter; no match says so and keeps the prompt. */
	act(f, APP_ACT_FIND);
	keys(f, "ZZqq");
	assert_true(f->a.msg_error);
	assert_int_equal(f->a.sel, found);
	keys(f, "<Enter>");
	assert_int_equal(f->a.overlay, APP_OV_PROMPT);
	keys(f, "<Esc>");
	/* n cycles through every layer that matches one letter of the last text. */
	act(f, APP_ACT_FIND);
	keys(f, "e<Enter>");
	int n = 0, first = f->a.sel;
	for (int l = 0; l < m->n_layers; l++)
		n += strchr(m->layers[l].name, 'e') != NULL || strchr(m->layers[l].name, 'E') != NULL;
	assert_true(n >= 2);
	int seen = 1;
	for (act(f, APP_ACT_FIND_NEXT); f->a.sel != first; act(f, APP_ACT_FIND_NEXT)) {
		assert_true(strchr(m->layers[f->a.sel].name, 'e') != NULL || strchr(m->layers[f->a.sel].name, 'E') != NULL);
		seen++;
		assert_true(seen <= n);
	}
	assert_int_equal(seen, n);
}

/* Lines of the help in its current context, checked against the width. */
static int help_lines(struct fx *f, struct app_help_line *lines, int max)
{
	int tw, rows;
	app_help_geometry(f->a.rows, f->a.cols, &tw, &rows);
	int n = app_help_lines(&f->a, tw, lines, max);
	assert_true(n > 0 && n <= max);
	for (int i = 0; i < n; i++)
		assert_true(view_width(lines[i].text) <= tw + (lines[i].heading ? 12 : 0));
	return n;
}

static bool help_has(const struct app_help_line *lines, int n, const char *key, const char *text)
{
	for (int i = 0; i < n; i++)
		if ((!key || strcmp(lines[i].key, key) == 0) && strstr(lines[i].text, text))
			return true;
	return false;
}

static void test_help(void **state)
{
	struct fx *f = *state;
	static struct app_help_line lines[256];
	act(f, APP_ACT_HELP);
	assert_int_equal(f->a.overlay, APP_OV_HELP);
	assert_string_equal(app_help_context(&f->a), "main view");
	int n = help_lines(f, lines, 256);
	/* every binding, with its keys (long texts wrap onto lines without a key) */
	for (int i = 0; i < APP_ACTION_COUNT - 1; i++)
		assert_true(help_has(lines, n, app_bindings[i].label, ""));
	/* Other keys do nothing while the help is up; Up/Down/PgDn/End/Home scroll it at 80x24. */
	int sel = f->a.sel;
	int tw, rows;
	app_help_geometry(24, 80, &tw, &rows);
	assert_true(n > rows);
	assert_int_equal(act(f, APP_ACT_W_DEC), 0);
	act(f, APP_ACT_DOWN);
	assert_int_equal(f->a.sel, sel);
	assert_int_equal(f->a.help_top, 1);
	act(f, APP_ACT_UP);
	act(f, APP_ACT_UP);
	assert_int_equal(f->a.help_top, 0);
	act(f, APP_ACT_PAGE_DOWN);
	assert_int_equal(f->a.help_top, rows - 1);
	act(f, APP_ACT_BOTTOM);
	assert_int_equal(f->a.help_top, n - rows);
	act(f, APP_ACT_DOWN);
	assert_int_equal(f->a.help_top, n - rows);
	act(f, APP_ACT_TOP);
	assert_int_equal(f->a.help_top, 0);
	act(f, APP_ACT_HELP);
	assert_int_equal(f->a.overlay, APP_OV_NONE);
	act(f, APP_ACT_HELP);
	act(f, APP_ACT_QUIT); /* q closes the overlay, does not quit */
	assert_int_equal(f->a.overlay, APP_OV_NONE);

	/* The compare view's own keys, back to it on Esc. */
	act(f, APP_ACT_COMPARE);
	act(f, APP_ACT_HELP);
	assert_int_equal(f->a.overlay, APP_OV_HELP);
	assert_string_equal(app_help_context(&f->a), "compare");
	n = help_lines(f, lines, 256);
	assert_true(help_has(lines, n, "x Del", "empty the selected slot"));
	assert_true(help_has(lines, n, "b", "base"));
	assert_false(help_has(lines, n, "w", "weight bits"));
	act(f, APP_ACT_CANCEL);
	assert_int_equal(f->a.overlay, APP_OV_COMPARE);
	act(f, APP_ACT_CANCEL);

	/* The Pareto view's. */
	act(f, APP_ACT_PARETO);
	act(f, APP_ACT_HELP);
	assert_string_equal(app_help_context(&f->a), "Pareto view");
	n = help_lines(f, lines, 256);
	assert_true(help_has(lines, n, "Enter", "apply the selected point"));
	assert_true(help_has(lines, n, NULL, "calibration"));
	act(f, APP_ACT_HELP);
	assert_int_equal(f->a.overlay, APP_OV_PARETO);
	act(f, APP_ACT_CANCEL);

	/* A prompt's (F1: ? is text there), which keeps the text typed. */
	keys(f, "=6/<F1>");
	assert_int_equal(f->a.overlay, APP_OV_HELP);
	assert_string_equal(app_help_context(&f->a), "prompt");
	n = help_lines(f, lines, 256);
	assert_true(help_has(lines, n, NULL, "W/A"));
	keys(f, "<Esc>");
	assert_int_equal(f->a.overlay, APP_OV_PROMPT);
	assert_string_equal(f->a.text, "6/");
	keys(f, "<Esc>");
	/* The export dialog's (? on its button). */
	act(f, APP_ACT_EXPORT);
	keys(f, "?");
	assert_int_equal(f->a.overlay, APP_OV_HELP);
	assert_string_equal(app_help_context(&f->a), "export dialog");
	keys(f, "<Esc>");
	assert_int_equal(f->a.overlay, APP_OV_EXPORT);
	keys(f, "<Esc>");
	assert_int_equal(f->a.overlay, APP_OV_NONE);
}

static bool have_iverilog(void)
{
	return system("command -v iverilog > /dev/null 2>&1 && command -v vvp > /dev/null 2>&1") == 0;
}

/* Names in dir other than . and .., for the check that nothing temporary is left behind. */
static int dir_entries(const char *dir)
{
	char cmd[512];
	snprintf(cmd, sizeof cmd, "test $(ls -A '%s' | wc -l) -eq", dir);
	for (int n = 0; n < 8; n++) {
		char c[600];
		snprintf(c, sizeof c, "%s %d", cmd, n);
		if (system(c) == 0)
			return n;
	}
	return -1;
}

static bool exists(const char *dir, const char *rel)
{
	char p[600];
	snprintf(p, sizeof p, "%s/%s", dir, rel);
	return access(p, F_OK) == 0;
}

static void test_export_dialog(void **state)
{
	struct fx *f = *state;
	char parent[] = "/tmp/mpqx-app-export-XXXXXX";
	assert_non_null(mkdtemp(parent));
	char dir[256];
	snprintf(dir, sizeof dir, "%s/out", parent);
	int nw = f->s->fref->windows;

	act(f, APP_ACT_EXPORT);
	assert_int_equal(f->a.overlay, APP_OV_EXPORT);
	assert_int_equal(f->a.xfield, APP_X_RUN);
	/* The windows field shows what will run. */
	assert_true(f->a.export_windows >= 1 && f->a.export_windows <= nw);
	act(f, APP_ACT_DOWN); /* wraps to the directory */
	assert_int_equal(f->a.xfield, APP_X_DIR);
	keys(f, "<C-u>");
	for (const char *p = dir; *p; p++) {
		char k[2] = {*p, 0};
		keys(f, *p == '<' ? "<lt>" : k);
	}
	assert_string_equal(f->a.export_dir, dir);
	/* Enter confirms the field and moves to the next one, not to the button. */
	act(f, APP_ACT_SLOT_LOAD);
	assert_int_equal(f->a.xfield, APP_X_WINDOWS);
	keys(f, "<C-u>0");
	assert_int_equal(f->a.export_windows, 0);
	act(f, APP_ACT_SLOT_LOAD); /* 0 windows cannot run: the field shows the 1 that will */
	assert_int_equal(f->a.export_windows, 1);
	assert_int_equal(f->a.xfield, APP_X_SIM);
	act(f, APP_ACT_UP);
	keys(f, "<C-u>9999<Down>");
	assert_int_equal(f->a.export_windows, nw);
	act(f, APP_ACT_UP);
	keys(f, "<C-u>3");
	assert_int_equal(f->a.export_windows, 3);
	act(f, APP_ACT_RIGHT);
	assert_int_equal(f->a.export_windows, 4 < nw ? 4 : nw);
	act(f, APP_ACT_BIG_LEFT);
	assert_int_equal(f->a.export_windows, 1);
	act(f, APP_ACT_DOWN);
	assert_int_equal(f->a.xfield, APP_X_SIM);
	keys(f, " ");
	assert_false(f->a.export_sim);
	act(f, APP_ACT_SLOT_LOAD); /* Enter on the check box toggles it */
	assert_true(f->a.export_sim);
	keys(f, "<Space>");
	assert_false(f->a.export_sim);

	/* Settings are kept between opens. */
	act(f, APP_ACT_CANCEL);
	assert_int_equal(f->a.overlay, APP_OV_NONE);
	act(f, APP_ACT_EXPORT);
	assert_string_equal(f->a.export_dir, dir);
	assert_int_equal(f->a.export_windows, 1);
	assert_false(f->a.export_sim);
	assert_int_equal(f->a.xfield, APP_X_RUN);

	/* An export without simulation, in the background. */
	int fl = act(f, APP_ACT_SLOT_LOAD);
	assert_true(fl & APP_RUN_EXPORT);
	app_export_run(&f->a);
	assert_true(app_export_busy(&f->a));
	/* Keys typed meanwhile are not export actions: no second run, no edits, no moves. */
	fl = act(f, APP_ACT_SLOT_LOAD);
	assert_int_equal(fl & APP_RUN_EXPORT, 0);
	keys(f, "<Up>x<Space>");
	assert_int_equal(f->a.xfield, APP_X_RUN);
	assert_string_equal(f->a.export_dir, dir);
	assert_false(f->a.export_sim);
	app_export_wait(&f->a);
	assert_false(app_export_busy(&f->a));
	assert_true(f->a.export_done);
	assert_int_equal(f->a.export_rc, 0);
	assert_non_null(strstr(f->a.export_result, "1 windows"));
	assert_true(exists(dir, "manifest.json"));
	assert_false(exists(dir, "sim"));
	assert_int_equal(dir_entries(parent), 1); /* no temporary sibling left */
	assert_non_null(strstr(f->a.msg, "exported to"));

	if (have_iverilog()) {
		/* Simulation, cancelled at once: the earlier export stays as it was, nothing temporary remains. */
		act(f, APP_ACT_UP);
		keys(f, " ");
		assert_true(f->a.export_sim);
		act(f, APP_ACT_DOWN);
		assert_int_equal(f->a.xfield, APP_X_RUN);
		assert_int_equal(f->a.export_windows, 1);
		fl = act(f, APP_ACT_SLOT_LOAD);
		assert_true(fl & APP_RUN_EXPORT);
		app_export_run(&f->a);
		assert_true(app_export_busy(&f->a));
		act(f, APP_ACT_CANCEL);
		assert_int_equal(f->a.overlay, APP_OV_EXPORT); /* Esc cancels the run, the dialog stays */
		app_export_wait(&f->a);
		assert_true(f->a.export_done);
		assert_non_null(strstr(f->a.export_result, "cancelled"));
		assert_true(exists(dir, "manifest.json"));
		assert_false(exists(dir, "sim"));
		assert_int_equal(dir_entries(parent), 1);

		/* Simulated to the end, with the dialog hidden meanwhile: the status line reports. */
		fl = act(f, APP_ACT_SLOT_LOAD);
		assert_true(fl & APP_RUN_EXPORT);
		app_export_run(&f->a);
		act(f, APP_ACT_EXPORT);
		assert_int_equal(f->a.overlay, APP_OV_NONE);
		assert_true(app_export_busy(&f->a));
		/* q while it runs asks first. */
		fl = act(f, APP_ACT_QUIT);
		assert_int_equal(fl & APP_QUIT, 0);
		assert_non_null(strstr(f->a.msg, "export is running"));
		act(f, APP_ACT_REDRAW);
		app_export_wait(&f->a);
		assert_int_equal(f->a.export_rc, 0);
		assert_non_null(strstr(f->a.export_result, "RESULT windows=1 mismatches=0"));
		assert_non_null(strstr(f->a.msg, "mismatches=0"));
		assert_true(exists(dir, "sim/sim.log"));
		assert_int_equal(dir_entries(parent), 1);
		act(f, APP_ACT_EXPORT);
	}

	/* A directory that is not an export is refused before anything runs. */
	char other[300];
	snprintf(other, sizeof other, "%s/keep", parent);
	assert_int_equal(system(NULL) != 0, 1);
	FILE *fp = fopen(other, "w");
	assert_non_null(fp);
	fclose(fp);
	snprintf(f->a.export_dir, sizeof f->a.export_dir, "%s", other);
	fl = act(f, APP_ACT_SLOT_LOAD);
	app_export_run(&f->a);
	assert_false(app_export_busy(&f->a));
	assert_int_not_equal(f->a.export_rc, 0);
	assert_non_null(strstr(f->a.export_result, "not a directory"));
	assert_true(f->a.msg_error);
	act(f, APP_ACT_CANCEL);
	assert_int_equal(f->a.overlay, APP_OV_NONE);

	/* An over-capacity design: the dialog says so and Enter asks once more. */
	act(f, APP_ACT_ALL_BITS);
	keys(f, "<C-u>16<Enter>");
	session_wait(f->s);
	assert_false(f->s->est.fits);
	act(f, APP_ACT_EXPORT);
	assert_non_null(strstr(f->a.export_result, "OVER"));
	fl = act(f, APP_ACT_SLOT_LOAD);
	assert_int_equal(fl & APP_RUN_EXPORT, 0);
	assert_non_null(strstr(f->a.export_result, "Enter again"));
	fl = act(f, APP_ACT_SLOT_LOAD);
	assert_true(fl & APP_RUN_EXPORT);
	act(f, APP_ACT_CANCEL);

	char cmd[300];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", parent);
	assert_int_equal(system(cmd), 0);
}

static void test_device(void **state)
{
	struct fx *f = *state;
	if (f->a.n_devices < 2) {
		act(f, APP_ACT_DEVICE);
		assert_int_equal(f->a.n_devices, f->a.n_devices);
		skip();
	}
	char first[64];
	snprintf(first, sizeof first, "%s", f->s->dev.name);
	int fl = act(f, APP_ACT_DEVICE);
	assert_true(fl & APP_RECOMPUTE);
	assert_string_not_equal(f->s->dev.name, first);
	assert_string_equal(f->s->dev.name, f->a.cfg.device);
	act(f, APP_ACT_DEVICE_PREV);
	assert_string_equal(f->s->dev.name, first);
	act(f, APP_ACT_DEVICE);
	act(f, APP_ACT_UNDO);
	assert_string_equal(f->s->dev.name, first);
}

static void test_mouse(void **state)
{
	struct fx *f = *state;
	struct view_layout l;
	view_layout(24, 80, &l);
	/* A click on the third layer row of the graph selects it. */
	app_click(&f->a, l.graph.y + 1 + 2, l.graph.x + 10);
	assert_int_equal(f->a.sel, f->a.graph_top + 2);
	assert_int_equal(f->a.focus, APP_PANE_GRAPH);
	app_wheel(&f->a, l.graph.y + 3, l.graph.x + 10, 1);
	assert_int_equal(f->a.sel, f->a.graph_top + 3);
	/* The layer pane: a click picks a field, the wheel moves its slider. */
	f->a.sel = layer(f, "q");
	app_click(&f->a, l.layer.y + 2, l.layer.x + 3);
	assert_int_equal(f->a.focus, APP_PANE_LAYER);
	assert_int_equal(f->a.field, APP_F_ABITS);
	int fl = app_wheel(&f->a, l.layer.y + 2, l.layer.x + 3, -1);
	if (fl & APP_RECOMPUTE)
		app_sync(&f->a);
	assert_int_equal(f->a.cfg.layers[f->a.sel].a_bits, 9);
	app_click(&f->a, l.accuracy.y + 1, l.accuracy.x + 1);
	assert_int_equal(f->a.focus, APP_PANE_PLOT);
	/* Too small a screen ignores the mouse. */
	app_resize(&f->a, 20, 60);
	assert_int_equal(app_click(&f->a, 3, 3), 0);
}

static void test_plot_scroll(void **state)
{
	struct fx *f = *state;
	f->a.focus = APP_PANE_PLOT;
	int span = f->a.plot_span;
	assert_true(span >= 1 && span <= f->s->fref->windows);
	act(f, APP_ACT_RIGHT);
	act(f, APP_ACT_BIG_RIGHT);
	assert_true(f->a.plot_off >= 0 && f->a.plot_off <= f->s->fref->windows - span);
	act(f, APP_ACT_BIG_LEFT);
	act(f, APP_ACT_BIG_LEFT);
	assert_int_equal(f->a.plot_off, 0);
}

/* Every action from every overlay leaves a consistent state. */
static void test_every_action(void **state)
{
	struct fx *f = *state;
	enum app_action opener[] = {APP_ACT_NONE, APP_ACT_HELP, APP_ACT_COMPARE, APP_ACT_EXPORT, APP_ACT_ALL_BITS};
	for (size_t o = 0; o < sizeof opener / sizeof opener[0]; o++)
		for (int a = 1; a < APP_ACTION_COUNT; a++) {
			if (a == APP_ACT_SLOT_LOAD && opener[o] == APP_ACT_EXPORT)
				continue; /* would run the exporter: covered above */
			act(f, APP_ACT_CANCEL);
			act(f, APP_ACT_CANCEL);
			if (opener[o])
				act(f, opener[o]);
			int fl = act(f, (enum app_action)a);
			assert_true(fl >= 0 && fl < 16);
			assert_true(f->a.sel >= 0 && f->a.sel < f->s->model->n_layers);
			assert_true(config_equal(&f->a.cfg, &f->s->cfg));
			if (fl & APP_QUIT)
				assert_int_equal(a, APP_ACT_QUIT);
		}
	assert_int_equal(act(f, (enum app_action)0), 0);
	assert_int_equal(act(f, APP_ACTION_COUNT), 0);
}

/* The search keys: sensitivity marks once measured, f applies the best that fits as one undoable change,
 * p shows the fronts and applies a point; the Pareto view's geometry. */
static void test_search_keys(void **state)
{
	struct fx *f = *state;
	assert_true(isnan(app_sens(&f->a, 1)));
	app_search_wait(&f->a);
	for (int l = 0; l < f->s->model->n_layers; l++) {
		double v = app_sens(&f->a, l);
		assert_true(v >= 0 && v < 1e6);
	}
	struct mpqx_config before = {0};
	assert_int_equal(config_copy(&before, &f->a.cfg), 0);
	act(f, APP_ACT_FIT);
	assert_true(f->a.want_search && f->a.want_fit);
	if (app_search_wait(&f->a) & APP_RECOMPUTE)
		app_sync(&f->a);
	session_wait(f->s);
	const struct mpqx_search_result *r = app_pareto(&f->a);
	assert_non_null(r);
	assert_true(r->found);
	assert_true(config_equal(&f->a.cfg, &r->best.cfg));
	assert_false(config_equal(&f->a.cfg, &before));
	/* Chosen on the calibration windows, and said so: the test MSE in the accuracy pane is not selected on. */
	assert_int_equal(r->split, MPQX_CALIB);
	assert_true(f->s->est.fits);
	assert_non_null(strstr(f->a.msg, "best fit on xc7s15"));
	assert_non_null(strstr(f->a.msg, "calib MSE"));
	assert_null(strstr(f->a.msg, "exact"));
	double calib;
	struct mpqx_err err = {0};
	struct mpqx_search *sc;
	assert_int_equal(search_new(f->s, MPQX_CALIB, 1, &sc, &err), 0);
	assert_int_equal(search_exact(sc, &f->a.cfg, &calib, &err), 0);
	search_free(sc);
	assert_true(calib == r->best.mse);
	assert_true(f->s->res.mse != r->best.mse);
	act(f, APP_ACT_UNDO);
	assert_true(config_equal(&f->a.cfg, &before));
	/* the result is at hand: applied at once */
	assert_true(act(f, APP_ACT_FIT) & APP_RECOMPUTE);
	assert_true(config_equal(&f->a.cfg, &r->best.cfg));
	act(f, APP_ACT_UNDO);

	act(f, APP_ACT_PARETO);
	assert_int_equal(f->a.overlay, APP_OV_PARETO);
	assert_false(f->a.want_search);
	int n = r->n_front[f->a.pareto_front];
	assert_true(n >= 1);
	act(f, APP_ACT_TOP);
	assert_int_equal(f->a.pareto_sel, 0);
	act(f, APP_ACT_LEFT);
	assert_int_equal(f->a.pareto_sel, 0);
	act(f, APP_ACT_BOTTOM);
	assert_int_equal(f->a.pareto_sel, n - 1);
	act(f, APP_ACT_RIGHT);
	assert_int_equal(f->a.pareto_sel, n - 1);
	act(f, APP_ACT_DOWN);
	assert_int_equal(f->a.pareto_front, MPQX_FRONT_BRAM);
	act(f, APP_ACT_UP);
	act(f, APP_ACT_UP);
	assert_int_equal(f->a.pareto_front, MPQX_FRONT_LATENCY);
	act(f, APP_ACT_TOP);
	act(f, APP_ACT_SLOT_LOAD);
	assert_int_equal(f->a.overlay, APP_OV_NONE);
	assert_true(config_equal(&f->a.cfg, &r->front[MPQX_FRONT_LATENCY][0].cfg));
	act(f, APP_ACT_UNDO);
	assert_true(config_equal(&f->a.cfg, &before));
	act(f, APP_ACT_PARETO);
	act(f, APP_ACT_CANCEL);
	assert_int_equal(f->a.overlay, APP_OV_NONE);

	/* A device change asks for a new search. */
	act(f, APP_ACT_DEVICE);
	assert_null(app_pareto(&f->a));
	act(f, APP_ACT_PARETO);
	assert_true(f->a.want_search);
	act(f, APP_ACT_CANCEL);

	struct app_axes ax = {0, 100, -3, -1};
	int c, rr;
	assert_true(app_pareto_cell(&ax, 0, 0.1, 11, 5, &c, &rr));
	assert_int_equal(c, 0);
	assert_int_equal(rr, 0);
	assert_true(app_pareto_cell(&ax, 100, 0.001, 11, 5, &c, &rr));
	assert_int_equal(c, 10);
	assert_int_equal(rr, 4);
	assert_true(app_pareto_cell(&ax, 50, 0.01, 11, 5, &c, &rr));
	assert_int_equal(c, 5);
	assert_int_equal(rr, 2);
	assert_false(app_pareto_cell(&ax, 101, 0.01, 11, 5, &c, &rr));
	assert_false(app_pareto_cell(&ax, 50, 0, 11, 5, &c, &rr));
	assert_false(app_pareto_cell(&ax, 50, 1, 11, 5, &c, &rr));
	config_fini(&before);
}

/* f never replaces edits made while the search ran (it offers the result, f applies it); the search
 * starts from the same configuration whatever is being edited, and the edited config is a candidate. */
static void test_fit_edits_and_start(void **state)
{
	struct fx *f = *state;
	app_search_wait(&f->a);
	act(f, APP_ACT_FIT);
	app_poll(&f->a); /* starts the search */
	assert_true(f->a.search_running);
	act(f, APP_ACT_A_DEC); /* an edit while it runs */
	struct mpqx_config edited = {0}, best1 = {0};
	assert_int_equal(config_copy(&edited, &f->a.cfg), 0);
	if (app_search_wait(&f->a) & APP_RECOMPUTE)
		app_sync(&f->a);
	assert_true(config_equal(&f->a.cfg, &edited));
	assert_true(f->a.fit_offer);
	assert_non_null(strstr(f->a.msg, "kept"));
	const struct mpqx_search_result *r = app_pareto(&f->a);
	assert_non_null(r);
	assert_true(r->found);
	assert_int_equal(config_copy(&best1, &r->best.cfg), 0);
	/* f now applies the offer. */
	assert_true(act(f, APP_ACT_FIT) & APP_RECOMPUTE);
	assert_true(config_equal(&f->a.cfg, &best1));
	assert_false(f->a.fit_offer);
	/* An edit after f but before the search started (it waits for a running job): offered as well. */
	act(f, APP_ACT_UNDO);
	act(f, APP_ACT_A_DEC);
	act(f, APP_ACT_FIT);
	act(f, APP_ACT_A_DEC);
	assert_int_equal(config_copy(&edited, &f->a.cfg), 0);
	if (app_search_wait(&f->a) & APP_RECOMPUTE)
		app_sync(&f->a);
	assert_true(config_equal(&f->a.cfg, &edited));
	assert_true(f->a.fit_offer);
	assert_true(act(f, APP_ACT_FIT) & APP_RECOMPUTE);
	assert_true(config_equal(&f->a.cfg, &app_pareto(&f->a)->best.cfg));
	/* Another start: other bits and storage everywhere. f searches again (the edited config is a new
	 * candidate) and finds the same, unless the candidate is better. */
	keys(f, "=4<Enter>bjb");
	act(f, APP_ACT_FIT);
	assert_true(f->a.want_search);
	if (app_search_wait(&f->a) & APP_RECOMPUTE)
		app_sync(&f->a);
	r = app_pareto(&f->a);
	assert_non_null(r);
	assert_true(r->found);
	if (r->candidate_fits)
		assert_true(r->best.mse <= r->candidate_mse);
	if (!r->candidate_best) {
		assert_true(config_equal(&r->best.cfg, &best1));
		assert_true(config_equal(&f->a.cfg, &best1));
	}
	/* From the best itself: it is its own candidate, and nothing changes. */
	keys(f, "=8<Enter>");
	act(f, APP_ACT_FIT);
	if (app_search_wait(&f->a) & APP_RECOMPUTE)
		app_sync(&f->a);
	assert_true(config_equal(&f->a.cfg, &app_pareto(&f->a)->best.cfg));
	int n = f->a.n_undo;
	act(f, APP_ACT_FIT);
	assert_true(app_pareto(&f->a)->candidate_best || config_equal(&f->a.cfg, &app_pareto(&f->a)->best.cfg));
	if (app_search_wait(&f->a) & APP_RECOMPUTE)
		app_sync(&f->a);
	assert_int_equal(f->a.n_undo, n);
	assert_non_null(strstr(f->a.msg, "already the best"));
	config_fini(&edited);
	config_fini(&best1);
}

/* The man page lists every binding with its keys and help text (doc/mpqx.1 is generated from the same
 * table; this catches a table change that the page did not follow). */
static void test_man_page_keys(void **state)
{
	(void)state;
	FILE *f = fopen(SRC_DIR "/doc/mpqx.1", "r");
	assert_non_null(f);
	static char text[1 << 17];
	size_t n = fread(text, 1, sizeof text - 1, f);
	fclose(f);
	/* Unescape troff's \- and \e. */
	size_t o = 0;
	for (size_t i = 0; i < n; i++) {
		if (text[i] == '\\' && i + 1 < n && (text[i + 1] == '-' || text[i + 1] == 'e')) {
			text[o++] = text[i + 1] == '-' ? '-' : '\\';
			i++;
		} else {
			text[o++] = text[i];
		}
	}
	text[o] = '\0';
	for (int i = 0; i < APP_ACTION_COUNT - 1; i++) {
		char want[256];
		snprintf(want, sizeof want, ".B %s\n%s\n", app_bindings[i].label, app_bindings[i].help);
		if (!strstr(text, want))
			fail_msg("doc/mpqx.1 lacks the binding %s: %s", app_bindings[i].label, app_bindings[i].help);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_key_table),
		cmocka_unit_test(test_parse_keys),
		cmocka_unit_test(test_man_page_keys),
		cmocka_unit_test_setup_teardown(test_navigation, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bits, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sliders, setup, teardown),
		cmocka_unit_test_setup_teardown(test_storage, setup, teardown),
		cmocka_unit_test_setup_teardown(test_granularity_and_calibration, setup, teardown),
		cmocka_unit_test_setup_teardown(test_recompute_changes_figures, setup, teardown),
		cmocka_unit_test_setup_teardown(test_undo_redo, setup, teardown),
		cmocka_unit_test_setup_teardown(test_all_bits_prompt, setup, teardown),
		cmocka_unit_test_setup_teardown(test_slots, setup, teardown),
		cmocka_unit_test_setup_teardown(test_compare_marks, setup, teardown),
		cmocka_unit_test_setup_teardown(test_save_load, setup, teardown),
		cmocka_unit_test_setup_teardown(test_save_target, setup, teardown),
		cmocka_unit_test_setup_teardown(test_slots_persist, setup, teardown),
		cmocka_unit_test_setup_teardown(test_quit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_prompt_replace_and_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_find, setup, teardown),
		cmocka_unit_test_setup_teardown(test_help, setup, teardown),
		cmocka_unit_test_setup_teardown(test_export_dialog, setup, teardown),
		cmocka_unit_test_setup_teardown(test_device, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mouse, setup, teardown),
		cmocka_unit_test_setup_teardown(test_plot_scroll, setup, teardown),
		cmocka_unit_test_setup_teardown(test_every_action, setup, teardown),
		cmocka_unit_test_setup_teardown(test_search_keys, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fit_edits_and_start, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
