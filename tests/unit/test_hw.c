/* The hardware facts of include/mpqx/hw.h and the auto storage rule, on the tiny model that has every op.
 * (That the cycle counts equal simulation is checked by the hdl suite.) */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "mpqx/config.h"
#include "mpqx/dataset.h"
#include "mpqx/estimate.h"
#include "mpqx/fref.h"
#include "mpqx/hw.h"
#include "mpqx/quant.h"

#ifndef DATA_DIR
#error DATA_DIR
#endif

struct fx {
	struct mpqx_model *m;
	struct mpqx_dataset *d;
	struct mpqx_fref *f;
	struct mpqx_config c;
	struct mpqx_qmodel *q;
};

static void build(struct fx *x, int bits)
{
	struct mpqx_err err = {0};
	quant_free(x->q);
	x->q = NULL;
	config_fini(&x->c);
	assert_int_equal(config_init(&x->c, x->m, bits), MPQX_OK);
	if (quant_build(x->m, x->f, &x->c, &x->q, &err))
		fail_msg("%s", err.msg);
}

static int setup(void **state)
{
	struct fx *x = calloc(1, sizeof *x);
	struct mpqx_err err = {0};
	if (model_load(DATA_DIR "/tiny", &x->m, &err) || dataset_load(x->m, &x->d, &err) ||
	    fref_run(x->m, x->d, false, &x->f, &err)) {
		fprintf(stderr, "%s\n", err.msg);
		return -1;
	}
	build(x, 8);
	*state = x;
	return 0;
}

static int teardown(void **state)
{
	struct fx *x = *state;
	quant_free(x->q);
	config_fini(&x->c);
	fref_free(x->f);
	dataset_free(x->d);
	model_free(x->m);
	free(x);
	return 0;
}

static int layer(const struct fx *x, const char *name)
{
	int i = model_find(x->m, name);
	if (i < 0)
		fail_msg("tiny model has no layer %s", name);
	return i;
}

static void addr_bits(void **state)
{
	(void)state;
	assert_int_equal(hw_addr_bits(1), 1);
	assert_int_equal(hw_addr_bits(2), 1);
	assert_int_equal(hw_addr_bits(3), 2);
	assert_int_equal(hw_addr_bits(384), 9);
	assert_int_equal(hw_addr_bits(512), 9);
	assert_int_equal(hw_addr_bits(513), 10);
	assert_int_equal(hw_addr_bits(1536), 11);
}

static void memories(void **state)
{
	struct fx *x = *state;
	struct mpqx_hw_layer h;
	for (int i = 0; i < x->m->n_layers; i++) {
		const struct mpqx_layer *l = &x->m->layers[i];
		hw_layer(x->q, i, &h);
		assert_int_equal(h.runs, l->op != MPQX_OP_INPUT && l->op != MPQX_OP_CONST);
		assert_int_equal(h.has_buf, l->op != MPQX_OP_CONST);
		if (h.has_buf) {
			assert_int_equal(h.buf.words, (long)l->rows * l->cols);
			assert_int_equal(h.buf.width, x->q->l[i].out.bits);
			assert_true(h.buf.depth >= h.buf.words && h.buf.depth < 2 * h.buf.words + 2);
			assert_int_equal(h.buf.depth, 1L << h.buf.aw);
		}
	}
	int q = layer(x, "q");
	hw_layer(x->q, q, &h);
	assert_int_equal(h.n_roms, 2);
	assert_int_equal(h.rom[0].role, MPQX_HW_WEIGHTS);
	assert_int_equal(h.rom[0].words, 16); /* [4, 4] */
	assert_int_equal(h.rom[0].width, 8);
	assert_int_equal(h.rom[1].role, MPQX_HW_BIAS);
	assert_int_equal(h.rom[1].words, 4);
	assert_true(h.rom[1].width >= x->q->l[q].bias_bits && h.rom[1].width >= 2);
	int sm = layer(x, "softmax");
	hw_layer(x->q, sm, &h);
	assert_int_equal(h.n_roms, 1);
	assert_int_equal(h.rom[0].role, MPQX_HW_EXP);
	assert_int_equal(h.rom[0].words, x->q->l[sm].sm_len);
	assert_int_equal(h.rom[0].width, x->q->l[sm].sm_k);
	assert_int_equal(x->q->l[sm].sm_n, quant_softmax_n(x->q->l[sm].hi, quant_vspan(&x->q->l[sm].out), 6));
	assert_int_equal(x->q->l[sm].out.fc, 3); /* 8 bits into a matmul: the float code */
	assert_true(x->q->l[sm].sm_n >= quant_fc_max(3, 8));
	assert_int_equal(h.div_q, quant_bitlen((uint64_t)x->q->l[sm].sm_n));
	assert_true(h.div_den == h.sm_sum + 1 && h.div_num > h.sm_sum);
	int pe = layer(x, "pe");
	hw_layer(x->q, pe, &h);
	assert_int_equal(h.n_roms, 1);
	assert_int_equal(h.rom[0].role, MPQX_HW_CONST);
	assert_int_equal(h.rom[0].words, 24);
}

/* The formulas of doc/hardware.md, written out for the tiny model's shapes. */
static void cycles(void **state)
{
	struct fx *x = *state;
	assert_int_equal(hw_layer_cycles(x->q, layer(x, "input")), 0);
	assert_int_equal(hw_layer_cycles(x->q, layer(x, "pe")), 0);
	assert_int_equal(hw_layer_cycles(x->q, layer(x, "proj")), 6 * 4 * (2 + 3) + 1);
	assert_int_equal(hw_layer_cycles(x->q, layer(x, "add_pe")), 6 * 4 * 4 + 1);
	assert_int_equal(hw_layer_cycles(x->q, layer(x, "scores")), 2 * 6 * 6 * (2 + 3) + 1);
	int smq = quant_bitlen((uint64_t)x->q->l[layer(x, "softmax")].sm_n);
	assert_int_equal(hw_layer_cycles(x->q, layer(x, "softmax")), 12 * (2 * 6 + 2 + 6 * (smq + 4)) + 1);
	assert_int_equal(hw_layer_cycles(x->q, layer(x, "ctx")), 6 * 2 * 2 * (6 + 3) + 1);
	assert_int_equal(hw_layer_cycles(x->q, layer(x, "lo")), 6 * 2 * 3 + 1);
	assert_int_equal(hw_layer_cycles(x->q, layer(x, "cat")), 6 * 4 * 3 + 1);
	assert_int_equal(hw_layer_cycles(x->q, layer(x, "bn")), 6 * 4 * 4 + 1);
	assert_int_equal(hw_layer_cycles(x->q, layer(x, "relu")), 6 * 4 * 3 + 1);
	/* layernorm: F = 8 + 2 + ceil(bitlen(4) / 2) = 12, RW = ceil(bitlen(4 dmax^2 + E) / 2) */
	int ln = layer(x, "ln");
	const struct mpqx_qlayer *qln = &x->q->l[ln];
	uint64_t dmax = 3 * 255;
	int rw = (quant_bitlen(4 * dmax * dmax + (uint64_t)qln->ln_e) + 1) / 2;
	assert_int_equal(qln->ln_f, 12);
	assert_int_equal(hw_layer_cycles(x->q, ln), 6 * (2 * 4 + 1 + rw + 4 * (12 + 6)) + 1);
	assert_int_equal(hw_layer_cycles(x->q, layer(x, "gelu")), 6 * 4 * 3 + 1);
	assert_int_equal(hw_layer_cycles(x->q, layer(x, "pool")), 4 * (6 + 3) + 1);
	assert_int_equal(hw_layer_cycles(x->q, layer(x, "head")), 1 * 1 * (4 + 3) + 1);
	long sum = 0;
	for (int i = 0; i < x->m->n_layers; i++)
		sum += hw_layer_cycles(x->q, i);
	assert_int_equal(hw_cycles(x->q), sum);
	/* Only the softmax's and the layernorm's bits change the count. */
	long ln8 = hw_layer_cycles(x->q, ln);
	int sm = layer(x, "softmax");
	long sm8 = hw_layer_cycles(x->q, sm);
	build(x, 4);
	qln = &x->q->l[ln];
	dmax = 3 * 15;
	int rw4 = (quant_bitlen(4 * dmax * dmax + (uint64_t)qln->ln_e) + 1) / 2;
	assert_int_equal(qln->ln_f, 8);
	assert_int_equal(hw_layer_cycles(x->q, ln), 6 * (2 * 4 + 1 + rw4 + 4 * (8 + 6)) + 1);
	int smq4 = quant_bitlen((uint64_t)x->q->l[sm].sm_n);
	assert_int_equal(hw_layer_cycles(x->q, sm), 12 * (2 * 6 + 2 + 6 * (smq4 + 4)) + 1);
	assert_int_equal(hw_cycles(x->q), sum - sm8 + hw_layer_cycles(x->q, sm) - ln8 + hw_layer_cycles(x->q, ln));
	build(x, 8);
}

static void widths(void **state)
{
	struct fx *x = *state;
	for (int bits = 2; bits <= 16; bits += 7) {
		build(x, bits);
		for (int i = 0; i < x->m->n_layers; i++) {
			struct mpqx_hw_layer h;
			const struct mpqx_qlayer *ql = &x->q->l[i];
			hw_layer(x->q, i, &h);
			if (!h.runs || x->m->layers[i].op == MPQX_OP_SOFTMAX || x->m->layers[i].op == MPQX_OP_GELU)
				continue;
			/* the RTL's accumulator holds the quantizer's bound */
			assert_true(h.acc_bits >= ql->acc_bits);
			/* and the rescale product fits 63 bits */
			if (h.rescale_in - 1 + h.rescale_m > 63)
				fail_msg("%s at %d bits: rescale %d x %d", x->m->layers[i].name, bits, h.rescale_in, h.rescale_m);
		}
	}
	build(x, 8);
}

static void storage_rule(void **state)
{
	struct fx *x = *state;
	int in = layer(x, "input"), q = layer(x, "q");
	/* Tiny buffers and ROMs resolve to distributed RAM and logic. */
	assert_int_equal(estimate_resolve_buffer(x->q, &x->c, in), MPQX_STORE_DIST);
	assert_int_equal(estimate_resolve_rom(x->q, &x->c, q), MPQX_STORE_DIST);
	/* Explicit settings pass through. */
	x->c.layers[q].buffer = MPQX_STORE_BLOCK;
	x->c.layers[q].rom = MPQX_STORE_BLOCK;
	assert_int_equal(estimate_resolve_buffer(x->q, &x->c, q), MPQX_STORE_BLOCK);
	assert_int_equal(estimate_resolve_rom(x->q, &x->c, q), MPQX_STORE_BLOCK);
	x->c.layers[q].buffer = MPQX_STORE_DIST;
	assert_int_equal(estimate_resolve_buffer(x->q, &x->c, q), MPQX_STORE_DIST);
	x->c.layers[q].buffer = MPQX_STORE_AUTO;
	x->c.layers[q].rom = MPQX_STORE_AUTO;
}

static void unsupported(void **state)
{
	struct fx *x = *state;
	struct mpqx_err err = {0};
	assert_int_equal(hw_check(x->q, &err), MPQX_OK);
	int s = layer(x, "scores");
	int keep = x->m->layers[s].inputs[1];
	x->m->layers[s].inputs[1] = x->m->layers[s].inputs[0];
	assert_int_equal(hw_check(x->q, &err), MPQX_EINPUT);
	assert_non_null(strstr(err.msg, "'scores'"));
	x->m->layers[s].inputs[1] = keep;
}

/* add's rule (doc/quantization.md, "add"): inputs whose scales differ by far get each a multiplier of 15 bits,
 * the larger shifted left onto the smaller's shift; inputs of one width keep the common shift unchanged. */
static void add_alignment(void **state)
{
	struct fx *x = *state;
	struct mpqx_err err = {0};
	int add = layer(x, "add_pe"), proj = layer(x, "proj"), pe = layer(x, "pe");
	for (int i = 0; i < x->m->n_layers; i++)
		if (x->m->layers[i].op == MPQX_OP_ADD) {
			const struct mpqx_qlayer *ql = &x->q->l[i];
			assert_int_equal(ql->rs[0].lsh + ql->rs[1].lsh, 0);
		}
	x->c.layers[proj].a_bits = 4;
	x->c.layers[pe].a_bits = 16;
	quant_free(x->q);
	x->q = NULL;
	if (quant_build(x->m, x->f, &x->c, &x->q, &err))
		fail_msg("%s", err.msg);
	const struct mpqx_qlayer *ql = &x->q->l[add];
	const struct mpqx_rescale *big = &ql->rs[0], *small = &ql->rs[1];
	double Ms = x->q->l[pe].out.s / ql->out.s, Mb = x->q->l[proj].out.s / ql->out.s;
	assert_true(Mb > 1024 * Ms);
	assert_int_equal(big->n, small->n);
	assert_true(big->lsh > 0 && small->lsh == 0);
	/* each its own 15 bits, so each factor to 2^-14 of itself (the smaller kept a few bits before) */
	assert_int_equal(quant_bitlen((uint64_t)(big->m >> big->lsh)), 15);
	assert_int_equal(big->m & (((int64_t)1 << big->lsh) - 1), 0);
	assert_true(quant_bitlen((uint64_t)small->m) >= 15);
	assert_true(fabs(ldexp((double)small->m, -small->n) / Ms - 1) < 0x1p-14);
	assert_true(fabs(ldexp((double)big->m, -big->n) / Mb - 1) < 0x1p-14);
	/* the hardware multiplies by the 15 bits and shifts: its accumulator holds the bound */
	struct mpqx_hw_layer h;
	hw_layer(x->q, add, &h);
	assert_int_equal(h.mul_b, 16);
	assert_true(h.acc_bits >= ql->acc_bits);
	build(x, 8);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(addr_bits),
		cmocka_unit_test(memories),
		cmocka_unit_test(cycles),
		cmocka_unit_test(widths),
		cmocka_unit_test(storage_rule),
		cmocka_unit_test(unsupported),
		cmocka_unit_test(add_alignment),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
