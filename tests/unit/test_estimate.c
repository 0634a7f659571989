/* The estimator: memory and DSP rules on shapes whose Yosys mapping was measured (doc/estimator.md),
 * and the whole estimate of the tiny model (every op): totals, cycles, storage, verdict. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "mpqx/config.h"
#include "mpqx/dataset.h"
#include "mpqx/device.h"
#include "mpqx/estimate.h"
#include "mpqx/fileio.h"
#include "mpqx/fref.h"
#include "mpqx/hw.h"
#include "mpqx/quant.h"

#ifndef DATA_DIR
#error DATA_DIR
#endif
#ifndef SRC_DIR
#error SRC_DIR
#endif

/* RAMB18 counts Yosys 0.23 gave for ram.v with ram_style "block" (RAMB36 counted as two). */
static void test_bram(void **state)
{
	(void)state;
	static const struct {
		long depth;
		int width;
		long bram18;
	} cases[] = {
		{4, 1, 1},      {4, 36, 1},     {4, 40, 2},    {32, 8, 1},     {512, 36, 1},   {512, 40, 2},
		{1024, 18, 1},  {1024, 20, 2},  {1024, 36, 2}, {1024, 40, 3},  {2048, 9, 1},   {2048, 12, 2},
		{2048, 18, 2},  {2048, 20, 3},  {2048, 36, 4}, {2048, 40, 5},  {4096, 4, 1},   {4096, 8, 2},
		{4096, 9, 2},   {4096, 12, 3},  {4096, 18, 4}, {4096, 20, 5},  {4096, 36, 8},  {4096, 40, 10},
		{8192, 2, 1},   {8192, 4, 2},   {8192, 8, 4},  {8192, 9, 4},   {8192, 12, 6},  {8192, 18, 8},
		{8192, 20, 10}, {8192, 36, 16}, {8192, 40, 20},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
		if (estimate_bram18(cases[i].depth, cases[i].width) != cases[i].bram18)
			fail_msg("%ld x %d: %ld RAMB18, Yosys %ld", cases[i].depth, cases[i].width,
				 estimate_bram18(cases[i].depth, cases[i].width), cases[i].bram18);
	assert_int_equal(estimate_bram18(0, 8), 0);
	/* ROMs (rom.v alone, Yosys 0.23): the depth folded in two halves where that is cheaper */
	int fold = 0;
	assert_int_equal(estimate_bram18_rom(4096, 13, &fold), 3);
	assert_int_equal(fold, 2);
	assert_int_equal(estimate_bram18_rom(8192, 13, &fold), 6);
	assert_int_equal(fold, 2);
	assert_int_equal(estimate_bram18_rom(4096, 22, &fold), 5);
	assert_int_equal(fold, 2);
	assert_int_equal(estimate_bram18_rom(2048, 9, &fold), 1);
	assert_int_equal(fold, 1);
	assert_int_equal(estimate_bram18_rom(1, 5, NULL), 1);
}

/* LUTs as memory Yosys 0.23 gave for ram.v with ram_style "distributed". */
static void test_lutram(void **state)
{
	(void)state;
	static const struct {
		long depth;
		int width;
		long luts;
	} cases[] = {
		{4, 1, 4},     {16, 3, 4},    {32, 6, 4},     {32, 8, 8},     {32, 12, 8},    {64, 1, 4},
		{64, 3, 4},    {64, 6, 8},    {64, 8, 12},    {64, 12, 16},   {128, 1, 4},    {128, 2, 8},
		{128, 3, 8},   {128, 8, 24},  {256, 1, 16},   {256, 8, 48},   {512, 1, 32},   {512, 12, 128},
		{1024, 1, 64}, {1024, 8, 192}, {2048, 4, 256}, {2048, 8, 384}, {4096, 8, 768},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
		if (estimate_lutram(cases[i].depth, cases[i].width) != cases[i].luts)
			fail_msg("%ld x %d: %ld LUTs, Yosys %ld", cases[i].depth, cases[i].width,
				 estimate_lutram(cases[i].depth, cases[i].width), cases[i].luts);
}

/* DSP48E1 counts Yosys 0.23 gave for rescale.v (|v| times a constant) and for signed products. */
static void test_dsp(void **state)
{
	(void)state;
	assert_int_equal(estimate_dsp_const(5, 16384), 0);  /* a power of two: a shift */
	assert_int_equal(estimate_dsp_const(26, 16384), 0);
	assert_int_equal(estimate_dsp_const(5, 24576), 0);  /* 3 << 13: a 7-bit product stays in LUTs */
	assert_int_equal(estimate_dsp_const(9, 24576), 1);
	assert_int_equal(estimate_dsp_const(5, 20480), 0);  /* 5 << 12: 8 bits */
	assert_int_equal(estimate_dsp_const(9, 20480), 1);
	assert_int_equal(estimate_dsp_const(5, 21845), 1);
	assert_int_equal(estimate_dsp_const(24, 21845), 1);
	assert_int_equal(estimate_dsp_const(26, 21845), 2); /* 27 x 16 signed: split in two */
	assert_int_equal(estimate_dsp_const(26, 3), 2);
	assert_int_equal(estimate_dsp_const(9, 1), 0);
	assert_int_equal(estimate_dsp_const(5, 3), 0);
	assert_int_equal(estimate_dsp_const(9, 5), 1);
	/* signed products: the wider operand goes to the 25-bit port */
	assert_int_equal(estimate_dsp(19, 16, 35, true, true), 1);
	assert_int_equal(estimate_dsp(16, 19, 35, true, true), 1);
	assert_int_equal(estimate_dsp(25, 18, 43, true, true), 1);
	assert_int_equal(estimate_dsp(26, 18, 44, true, true), 2);
	assert_int_equal(estimate_dsp(25, 19, 44, true, true), 2);
	assert_int_equal(estimate_dsp(3, 4, 7, true, true), 0);   /* 7-bit product: LUTs */
	assert_int_equal(estimate_dsp(1, 20, 21, true, true), 0); /* a 1-bit operand: LUTs */
	/* multi-slice products, each checked with Yosys on a registered a * b */
	assert_int_equal(estimate_dsp(43, 17, 60, true, true), 3);
	assert_int_equal(estimate_dsp(37, 16, 53, true, true), 2);
	assert_int_equal(estimate_dsp(42, 16, 58, true, true), 2);
	assert_int_equal(estimate_dsp(44, 16, 60, true, true), 3);
	assert_int_equal(estimate_dsp(60, 16, 76, true, true), 4);
	assert_int_equal(estimate_dsp(20, 20, 40, true, true), 2);
	assert_int_equal(estimate_dsp(26, 26, 52, true, true), 4);
	assert_int_equal(estimate_dsp(30, 30, 60, true, true), 4);
}

struct fx {
	struct mpqx_model *m;
	struct mpqx_dataset *d;
	struct mpqx_fref *f;
	struct mpqx_coeffs *k;
};

static int setup(void **state)
{
	struct fx *x = calloc(1, sizeof *x);
	struct mpqx_err err = {0};
	if (model_load(DATA_DIR "/tiny", &x->m, &err) || dataset_load(x->m, &x->d, &err) ||
	    fref_run(x->m, x->d, false, &x->f, &err) ||
	    estimate_coeffs_load(SRC_DIR "/devices/xc7-cost.ini", &x->k, &err)) {
		fprintf(stderr, "%s\n", err.msg);
		return -1;
	}
	*state = x;
	return 0;
}

static int teardown(void **state)
{
	struct fx *x = *state;
	estimate_coeffs_free(x->k);
	fref_free(x->f);
	dataset_free(x->d);
	model_free(x->m);
	free(x);
	return 0;
}

static struct mpqx_qmodel *build(struct fx *x, struct mpqx_config *c)
{
	struct mpqx_err err = {0};
	struct mpqx_qmodel *q = NULL;
	if (quant_build(x->m, x->f, c, &q, &err))
		fail_msg("%s", err.msg);
	return q;
}

static void sum_equals(const struct mpqx_estimate *e)
{
	struct mpqx_cost s = e->top;
	for (int i = 0; i < e->n_layers; i++) {
		s.lut += e->layers[i].lut;
		s.lutram += e->layers[i].lutram;
		s.ff += e->layers[i].ff;
		s.bram18 += e->layers[i].bram18;
		s.dsp += e->layers[i].dsp;
		s.cycles += e->layers[i].cycles;
	}
	assert_int_equal(s.lut, e->total.lut);
	assert_int_equal(s.lutram, e->total.lutram);
	assert_int_equal(s.ff, e->total.ff);
	assert_int_equal(s.bram18, e->total.bram18);
	assert_int_equal(s.dsp, e->total.dsp);
	assert_int_equal(s.cycles, e->total.cycles);
}

static void test_whole(void **state)
{
	struct fx *x = *state;
	struct mpqx_err err = {0};
	struct mpqx_device dev;
	if (device_load(SRC_DIR "/devices", "xc7s15", &dev, &err))
		fail_msg("%s", err.msg);
	struct mpqx_config c = {0};
	assert_int_equal(config_init(&c, x->m, 8), MPQX_OK);
	struct mpqx_qmodel *q = build(x, &c);
	struct mpqx_estimate e;
	assert_int_equal(estimate_init(&e, x->m->n_layers), MPQX_OK);
	if (estimate_run(q, &c, &dev, x->k, &e, &err))
		fail_msg("%s", err.msg);
	sum_equals(&e);
	/* cycles: the templates' state machines, as hw.h counts them */
	assert_int_equal(e.total.cycles, hw_cycles(q));
	assert_true(fabs(e.latency_us - (double)hw_cycles(q) / 100.0) < 1e-9);
	for (int i = 0; i < x->m->n_layers; i++)
		assert_int_equal(e.layers[i].cycles, hw_layer_cycles(q, i));
	/* all small: every buffer auto-resolves to LUTRAM, nothing in block RAM; measured by synthesis:
	 * 184 LUTs as memory and 17 DSPs (one per layer with a multiplier whose constant is not 2^k, two in
	 * the concat; the softmax's e * N is a shift-add in logic with its float code) */
	assert_int_equal(e.total.bram18, 0);
	assert_int_equal(e.total.lutram, 184);
	assert_int_equal(e.total.dsp, 17);
	for (int i = 0; i < x->m->n_layers; i++)
		if (x->m->layers[i].op != MPQX_OP_CONST)
			assert_int_equal(e.buffer[i], MPQX_STORE_DIST);
	assert_true(e.fits);
	assert_int_equal(e.limiting, MPQX_RES_DSP);
	assert_true(fabs(e.util[MPQX_RES_DSP] - 17.0 / 20) < 1e-12);
	assert_true(fabs(e.util[MPQX_RES_LUT] - (double)(e.total.lut + e.total.lutram) / 8000) < 1e-12);

	/* every buffer in block RAM: one RAMB18 per buffer, no LUTRAM left */
	long before_lut = e.total.lut;
	for (int i = 0; i < c.n_layers; i++)
		c.layers[i].buffer = MPQX_STORE_BLOCK;
	assert_int_equal(estimate_run(q, &c, &dev, x->k, &e, &err), MPQX_OK);
	int bufs = 0;
	for (int i = 0; i < x->m->n_layers; i++)
		bufs += x->m->layers[i].op != MPQX_OP_CONST;
	assert_int_equal(e.total.bram18, bufs);
	assert_true(fabs(e.bram_tiles - bufs / 2.0) < 1e-12);
	assert_int_equal(e.total.lutram, 0);
	assert_true(e.total.lut <= before_lut);
	/* 17 RAMB18 of 20 on the XC7S15 */
	assert_true(e.fits);
	assert_int_equal(e.limiting, MPQX_RES_BRAM);

	/* a device with fewer DSPs than the design needs: does not fit, DSP limits */
	dev.dsp = 10;
	dev.bram18 = 100;
	assert_int_equal(estimate_run(q, &c, &dev, x->k, &e, &err), MPQX_OK);
	assert_false(e.fits);
	assert_int_equal(e.limiting, MPQX_RES_DSP);
	assert_true(e.util[MPQX_RES_DSP] > 1);
	/* a device without DSPs at all */
	dev.dsp = 0;
	assert_int_equal(estimate_run(q, &c, &dev, x->k, &e, &err), MPQX_OK);
	assert_false(e.fits);
	assert_int_equal(e.limiting, MPQX_RES_DSP);

	/* a mismatched estimate is refused */
	struct mpqx_estimate small;
	assert_int_equal(estimate_init(&small, 3), MPQX_OK);
	assert_int_equal(estimate_run(q, &c, &dev, x->k, &small, &err), MPQX_EINPUT);
	estimate_fini(&small);
	estimate_fini(&e);
	estimate_fini(&e); /* twice is harmless */
	quant_free(q);
	config_fini(&c);
}

/* Layer blocks: the features the fitter sees add up to the layer's estimate. */
static void test_blocks(void **state)
{
	struct fx *x = *state;
	struct mpqx_err err = {0};
	struct mpqx_device dev;
	assert_int_equal(device_load(SRC_DIR "/devices", "xc7s15", &dev, &err), MPQX_OK);
	struct mpqx_config c = {0};
	assert_int_equal(config_init(&c, x->m, 6), MPQX_OK);
	struct mpqx_qmodel *q = build(x, &c);
	struct mpqx_estimate e;
	assert_int_equal(estimate_init(&e, x->m->n_layers), MPQX_OK);
	assert_int_equal(estimate_run(q, &c, &dev, x->k, &e, &err), MPQX_OK);
	for (int l = -1; l < x->m->n_layers; l++) {
		struct mpqx_est_block b[MPQX_EST_MAX_BLOCKS];
		int n = estimate_layer_blocks(q, &c, x->k, l, b);
		long lut = 0, ff = 0;
		for (int i = 0; i < n; i++) {
			lut += b[i].cost.lut;
			ff += b[i].cost.ff;
			assert_true(b[i].n_features > 0 && b[i].n_features <= MPQX_EST_MAX_FEATURES);
		}
		/* the blocks are fitted with the hierarchy kept: they sum to the layer's hierarchical figures */
		const struct mpqx_cost *lc = l < 0 ? &e.top_hier : &e.layers_hier[l];
		assert_int_equal(lut, lc->lut);
		/* a block RAM output buffer has no model block */
		assert_int_equal(ff, lc->ff);
	}
	estimate_fini(&e);
	quant_free(q);
	config_fini(&c);
}

/* The flattened figures (layers, total) scale each kind's fitted part by its flat.lut / flat.ff; the
 * hierarchical ones (layers_hier) are the unscaled blocks: without the scales in the ini the two agree,
 * and the layers' scaled figures equal the hierarchical figures of the ini without scales. */
static void test_flat_scales(void **state)
{
	struct fx *x = *state;
	struct mpqx_err err = {0};
	struct mpqx_device dev;
	assert_int_equal(device_load(SRC_DIR "/devices", "xc7s15", &dev, &err), MPQX_OK);
	char *text = NULL;
	assert_int_equal(fileio_read(SRC_DIR "/devices/xc7-cost.ini", &text, NULL, &err), MPQX_OK);
	char path[] = "/tmp/mpqx-test-costXXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	FILE *fp = fdopen(fd, "w");
	int dropped = 0;
	for (char *ln = strtok(text, "\n"); ln; ln = strtok(NULL, "\n")) {
		if (strncmp(ln, "flat.", 5) == 0)
			dropped++;
		else
			fprintf(fp, "%s\n", ln);
	}
	fclose(fp);
	free(text);
	assert_true(dropped > 10);
	struct mpqx_coeffs *k1 = NULL;
	assert_int_equal(estimate_coeffs_load(path, &k1, &err), MPQX_OK);
	unlink(path);

	struct mpqx_config c = {0};
	assert_int_equal(config_init(&c, x->m, 6), MPQX_OK);
	struct mpqx_qmodel *q = build(x, &c);
	struct mpqx_estimate e, e1;
	assert_int_equal(estimate_init(&e, x->m->n_layers), MPQX_OK);
	assert_int_equal(estimate_init(&e1, x->m->n_layers), MPQX_OK);
	assert_int_equal(estimate_run(q, &c, &dev, x->k, &e, &err), MPQX_OK);
	assert_int_equal(estimate_run(q, &c, &dev, k1, &e1, &err), MPQX_OK);
	struct mpqx_cost sum = e.top, sumh = e.top_hier;
	int differ = 0;
	for (int l = 0; l < x->m->n_layers; l++) {
		const struct mpqx_cost *f = &e.layers[l], *h = &e.layers_hier[l];
		assert_int_equal(f->lutram, h->lutram);
		assert_int_equal(f->bram18, h->bram18);
		assert_int_equal(f->dsp, h->dsp);
		assert_int_equal(f->cycles, h->cycles);
		differ += f->lut != h->lut;
		/* without scales: flattened = hierarchical = the hierarchical figures with the scales */
		assert_int_equal(e1.layers[l].lut, e1.layers_hier[l].lut);
		assert_int_equal(e1.layers[l].ff, e1.layers_hier[l].ff);
		assert_int_equal(e1.layers_hier[l].lut, h->lut);
		assert_int_equal(e1.layers_hier[l].ff, h->ff);
		sum.lut += f->lut;
		sum.ff += f->ff;
		sumh.lut += h->lut;
		sumh.ff += h->ff;
	}
	assert_true(differ > 0);
	assert_int_equal(sum.lut, e.total.lut);
	assert_int_equal(sum.ff, e.total.ff);
	assert_int_equal(sumh.lut, e.total_hier.lut);
	assert_int_equal(sumh.ff, e.total_hier.ff);
	assert_int_equal(e.total_hier.dsp, e.total.dsp);
	estimate_fini(&e);
	estimate_fini(&e1);
	estimate_coeffs_free(k1);
	quant_free(q);
	config_fini(&c);
}

/* Adder bits of x * m as a shift-add over m's canonical signed digits into a pw-bit sum, by the
 * non-adjacent form's digit recurrence (estimate.c takes the digits from 3m and m): every digit adds
 * bits pos .. pw-1 but the lowest, which is free when positive (a shift) and a negation when negative. */
static double naf_adder_bits(int64_t m, int pw)
{
	double s = 0;
	int first = 1;
	for (int i = 0; m != 0; i++, m /= 2) {
		if (m & 1) {
			int d = 2 - (int)(m & 3); /* +1 or -1 */
			m -= d;
			if (!first || d < 0) /* the lowest digit: a shift, or a negation when negative */
				s += pw - i;
			first = 0;
		}
	}
	return s;
}

static double feature(const struct mpqx_est_block *b, int n, const char *kind, const char *name)
{
	for (int i = 0; i < n; i++)
		if (strcmp(b[i].kind, kind) == 0)
			for (int j = 0; j < b[i].n_features; j++)
				if (strcmp(b[i].names[j], name) == 0)
					return b[i].f[j];
	fail_msg("no feature %s.%s", kind, name);
	return 0;
}

/* add with a raised shift (doc/quantization.md, "add"): the shifted product's low zero bits take no adder
 * bit (and, for a's product, no flip-flop of pa) */
static void test_add_shift_features(void **state)
{
	struct fx *x = *state;
	struct mpqx_config c = {0};
	assert_int_equal(config_init(&c, x->m, 8), MPQX_OK);
	int la = model_find(x->m, "add_pe");
	assert_true(la >= 0);
	struct mpqx_est_block b[MPQX_EST_MAX_BLOCKS];
	struct mpqx_hw_layer h;
	struct mpqx_qmodel *q = build(x, &c);
	int n = estimate_layer_blocks(q, &c, x->k, la, b);
	hw_layer(q, la, &h);
	assert_int_equal(q->l[la].rs[0].lsh + q->l[la].rs[1].lsh, 0);
	assert_true(feature(b, n, "add", "acc") == h.acc_bits);
	double regs0 = feature(b, n, "add", "regs") - h.acc_bits;
	quant_free(q);
	c.layers[model_find(x->m, "proj")].a_bits = 4;
	c.layers[model_find(x->m, "pe")].a_bits = 16;
	q = build(x, &c);
	n = estimate_layer_blocks(q, &c, x->k, la, b);
	hw_layer(q, la, &h);
	int lsh = q->l[la].rs[0].lsh;
	assert_true(lsh > 0 && q->l[la].rs[1].lsh == 0);
	assert_true(feature(b, n, "add", "acc") == h.acc_bits - lsh);
	assert_true(feature(b, n, "add", "regs") - (h.acc_bits - lsh) == regs0);
	quant_free(q);
	config_fini(&c);
}

/* Multipliers in logic: the features the [mult] coefficients were fitted on (doc/estimator.md,
 * "Multipliers in logic"), counted from the RTL's shift-adds (linear.v, rescale.v). */
static void test_mult_features(void **state)
{
	/* by hand: 27376 = 2^15 - 2^12 - 2^10 - 2^8 - 2^4 into 24 bits: the negation 20, then 16 + 14 + 12 + 9;
	 * 16424 = 2^14 + 2^5 + 2^3: 19 + 10 */
	assert_true(naf_adder_bits(27376, 24) == 71);
	assert_true(naf_adder_bits(16424, 24) == 29);
	struct fx *x = *state;
	struct mpqx_config c = {0};
	assert_int_equal(config_init(&c, x->m, 3), MPQX_OK);
	for (int i = 0; i < x->m->n_layers; i++)
		c.layers[i].mult = MPQX_MULT_LOGIC;
	struct mpqx_qmodel *q = build(x, &c);
	int lq = model_find(x->m, "q"), lr = model_find(x->m, "relu");
	assert_true(lq >= 0 && lr >= 0);
	struct mpqx_est_block b[MPQX_EST_MAX_BLOCKS];
	int n = estimate_layer_blocks(q, &c, x->k, lq, b);
	/* 4-bit x' times 4-bit w': rows 1..3 of the 7-bit sum add 6 + 5 + 4 bits */
	assert_true(feature(b, n, "mult", "pp") == 15);
	struct mpqx_hw_layer h;
	hw_layer(q, lq, &h);
	int64_t m = q->l[lq].rs[0].m;
	assert_true(m > 0 && (m & (m - 1)) != 0);
	assert_true(feature(b, n, "mult", "csd") == naf_adder_bits(m, h.acc_bits - 1 + h.rescale_m));
	assert_true(feature(b, n, "mult", "csd") > 0);
	assert_true(feature(b, n, "mult", "one") == 1);
	assert_true(feature(b, n, "mult", "ppm") == 0);
	/* relu: no data product, the rescale's shift-add only */
	n = estimate_layer_blocks(q, &c, x->k, lr, b);
	hw_layer(q, lr, &h);
	m = q->l[lr].rs[0].m;
	assert_true(feature(b, n, "mult", "pp") == 0);
	assert_true(feature(b, n, "mult", "csd") == naf_adder_bits(m, h.rescale_in + hw_mbits(m)));
	/* head: one output column, so linear.v's column counter and weight row base stay 0 (synthesis removes
	 * them): the counters are the phase's alone, the addresses x's base and pointer and w's pointer */
	int lh = model_find(x->m, "head");
	assert_true(lh >= 0 && x->m->layers[lh].cols == 1);
	n = estimate_layer_blocks(q, &c, x->k, lh, b);
	hw_layer(q, lh, &h);
	int xaw = hw_src_aw(q, x->m->layers[lh].inputs[0]);
	int pw = 0;
	while ((1 << pw) < h.phases)
		pw++;
	assert_true(feature(b, n, "linear", "cnt") == pw);
	assert_true(feature(b, n, "linear", "addr2") == 2 * xaw + h.rom[0].aw);
	quant_free(q);
	/* q per channel: m is data, a second shift-add of bitlen(m) rows over the product width */
	c.layers[lq].w_gran = MPQX_WGRAN_CHANNEL;
	q = build(x, &c);
	n = estimate_layer_blocks(q, &c, x->k, lq, b);
	hw_layer(q, lq, &h);
	int rpw = h.acc_bits - 1 + h.rescale_m;
	double rows = 0;
	for (int j = 1; j < h.rescale_m; j++)
		rows += rpw - j;
	assert_true(h.rescale_m > 1);
	assert_true(feature(b, n, "mult", "ppm") == rows);
	assert_true(feature(b, n, "mult", "csd") == 0);
	assert_true(feature(b, n, "mult", "pp") == 15);
	quant_free(q);
	config_fini(&c);
}

/* A block ROM's RAMB18s follow the bit lanes that vary over its image: Yosys's opt_mem removes lanes
 * that are constant over every word, the zero fill included, before it picks the shape. The tiny
 * model's head has one output: its bias ROM holds one word and 2^1 words of image. */
static void test_rom_lanes(void **state)
{
	struct fx *x = *state;
	struct mpqx_err err = {0};
	struct mpqx_device dev;
	assert_int_equal(device_load(SRC_DIR "/devices", "xc7s15", &dev, &err), MPQX_OK);
	struct mpqx_config c = {0};
	assert_int_equal(config_init(&c, x->m, 8), MPQX_OK);
	int h = x->m->n_layers - 1;
	assert_string_equal(x->m->layers[h].name, "head");
	c.layers[h].rom = MPQX_STORE_BLOCK;
	c.layers[h].buffer = MPQX_STORE_DIST;
	struct mpqx_qmodel *q = build(x, &c);
	struct mpqx_hw_layer hl;
	hw_layer(q, h, &hl);
	assert_int_equal(hl.n_roms, 2);
	assert_int_equal(hl.rom[1].words, 1);
	struct mpqx_estimate e;
	assert_int_equal(estimate_init(&e, x->m->n_layers), MPQX_OK);
	/* a non-zero bias word: its set bits vary against the zero fill, one RAMB18 */
	q->l[h].qb[0] = 0x4050;
	assert_int_equal(estimate_run(q, &c, &dev, x->k, &e, &err), MPQX_OK);
	long w18 = estimate_bram18(hl.rom[0].depth, hl.rom[0].width);
	assert_true(w18 >= 1);
	assert_int_equal(e.layers[h].bram18, w18 + 1);
	/* a zero bias is a constant: no block RAM (seattle-hourly-r902-5's head) */
	q->l[h].qb[0] = 0;
	assert_int_equal(estimate_run(q, &c, &dev, x->k, &e, &err), MPQX_OK);
	assert_int_equal(e.layers[h].bram18, w18);
	/* weights all zero: nothing of the layer's ROMs reaches block RAM */
	for (long i = 0; i < hl.rom[0].words; i++)
		q->l[h].qw[i] = 0;
	assert_int_equal(estimate_run(q, &c, &dev, x->k, &e, &err), MPQX_OK);
	assert_int_equal(e.layers[h].bram18, 0);
	estimate_fini(&e);
	quant_free(q);
	config_fini(&c);
}

/* A logic ROM above 64 words pays per 64-word block for each bit that varies inside it (the big
 * feature): a table constant within its blocks has none but the last, zero-filled one; a bit that
 * toggles every word counts in every block. */
static void test_rom_blocks(void **state)
{
	struct fx *x = *state;
	struct mpqx_config c = {0};
	assert_int_equal(config_init(&c, x->m, 8), MPQX_OK);
	int s = -1;
	for (int l = 0; l < x->m->n_layers; l++)
		if (x->m->layers[l].op == MPQX_OP_SOFTMAX)
			s = l;
	assert_true(s >= 0);
	c.layers[s].rom = MPQX_STORE_DIST;
	struct mpqx_qmodel *q = build(x, &c);
	struct mpqx_hw_layer hl;
	hw_layer(q, s, &hl);
	assert_int_equal(hl.n_roms, 1);
	long n = hl.rom[0].words;
	assert_true(n > 64);
	long blocks = (n + 63) / 64, last = blocks - 1;
	int64_t *t = q->l[s].sm_table;
	struct mpqx_est_block b[MPQX_EST_MAX_BLOCKS];
	/* constant within each block, the block's index: none varies but a last block with zero fill */
	for (long i = 0; i < n; i++)
		t[i] = i / 64 + 1;
	int nb = estimate_layer_blocks(q, &c, x->k, s, b);
	double want = n % 64 && n < hl.rom[0].depth ? (double)__builtin_popcountll((unsigned long long)(last + 1)) : 0;
	assert_true(fabs(feature(b, nb, "rom", "big") - want) < 1e-9);
	/* bit 0 toggles every word: one bit in every block */
	for (long i = 0; i < n; i++)
		t[i] = i & 1;
	nb = estimate_layer_blocks(q, &c, x->k, s, b);
	assert_true(fabs(feature(b, nb, "rom", "big") - (double)blocks) < 1e-9);
	quant_free(q);
	config_fini(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bram),
		cmocka_unit_test(test_lutram),
		cmocka_unit_test(test_dsp),
		cmocka_unit_test(test_whole),
		cmocka_unit_test(test_blocks),
		cmocka_unit_test(test_flat_scales),
		cmocka_unit_test(test_rom_lanes),
		cmocka_unit_test(test_rom_blocks),
		cmocka_unit_test(test_mult_features), cmocka_unit_test(test_add_shift_features),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
