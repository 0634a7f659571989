/* The arithmetic pieces of doc/quantization.md on hand-computed values. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "mpqx/quant.h"

#include <stdlib.h>

static void test_param(void **state)
{
	(void)state;
	struct mpqx_qparam p = quant_param(-1.0, 3.0, 8); /* s = 4/255, z = -128 - round(-1/s) = -128 + 64 */
	assert_true(fabs(p.s - 4.0 / 255) < 1e-15);
	assert_int_equal(p.z, -64);
	assert_int_equal(quant_value(0.0, p, NULL), p.z); /* zero exactly representable */
	long clamped = 0;
	assert_int_equal(quant_value(100.0, p, &clamped), 127);
	assert_int_equal(quant_value(-100.0, p, &clamped), -128);
	assert_int_equal(clamped, 2);
	p = quant_param(0.5, 2.0, 4); /* lo' = 0: z = qmin */
	assert_int_equal(p.z, -8);
	p = quant_param(-2.0, -0.5, 4); /* hi' = 0: z = qmin + 15 = qmax */
	assert_int_equal(p.z, 7);
	p = quant_param(0.0, 0.0, 8); /* degenerate: s from the 1e-6 floor */
	assert_true(p.s > 0);
	assert_int_equal(quant_qmin(2), -2);
	assert_int_equal(quant_qmax(16), 32767);
}

static void test_multiplier(void **state)
{
	(void)state;
	struct mpqx_rescale r = quant_multiplier(0.5); /* frexp: 0.5 * 2^0 -> n = 15, m = 2^14 */
	assert_int_equal(r.n, 15);
	assert_int_equal(r.m, 16384);
	r = quant_multiplier(0.001);
	assert_true(r.m >= 16384 && r.m < 32768);
	assert_true(fabs(ldexp((double)r.m, -r.n) - 0.001) / 0.001 < 1.0 / 16384);
	r = quant_multiplier(1.99999999); /* rounds up to 2^15: renormalised */
	assert_int_equal(r.m, 16384);
	assert_int_equal(r.n, 13);
	r = quant_multiplier(100000.0); /* beyond 2^15: n = 0, m = round(M) */
	assert_int_equal(r.n, 0);
	assert_int_equal(r.m, 100000);
}

static void test_rshift(void **state)
{
	(void)state;
	assert_int_equal(quant_rshift_round(5, 1), 3);   /* 2.5 -> 3 */
	assert_int_equal(quant_rshift_round(-5, 1), -3); /* -2.5 -> -3: away from zero */
	assert_int_equal(quant_rshift_round(4, 1), 2);
	assert_int_equal(quant_rshift_round(-7, 2), -2); /* -1.75 -> -2 */
	assert_int_equal(quant_rshift_round(6, 2), 2);   /* 1.5 -> 2 */
	assert_int_equal(quant_rshift_round(-6, 2), -2);
	assert_int_equal(quant_rshift_round(123, 0), 123);
	assert_int_equal(quant_rshift_round(INT64_C(1) << 61, 61), 1);
	assert_int_equal(quant_bitlen(0), 0);
	assert_int_equal(quant_bitlen(1), 1);
	assert_int_equal(quant_bitlen(255), 8);
	assert_int_equal(quant_bitlen(256), 9);
}

/* quant_range on a made-up layer: one value in each of the 2048 bins of [-1, 3] (n = 2048, t = 2). */
static void test_range_methods(void **state)
{
	(void)state;
	struct mpqx_layer ly[1];
	memset(ly, 0, sizeof ly);
	ly[0].op = MPQX_OP_INPUT;
	ly[0].rows = ly[0].cols = 1;
	struct mpqx_model m;
	memset(&m, 0, sizeof m);
	m.layers = ly;
	m.n_layers = 1;
	static uint64_t h[MPQX_CALIB_BINS];
	for (int i = 0; i < MPQX_CALIB_BINS; i++)
		h[i] = 1;
	uint64_t *hp[1] = {h};
	double lo0 = -1, hi0 = 3, w = 4.0 / MPQX_CALIB_BINS;
	struct mpqx_fref f;
	memset(&f, 0, sizeof f);
	f.n_layers = 1;
	f.lo = &lo0;
	f.hi = &hi0;
	f.hist = hp;
	struct mpqx_layer_cfg c = {.w_bits = 8, .a_bits = 8, .calib = MPQX_CALIB_MINMAX};
	double lo, hi;
	quant_range(&m, &f, 0, &c, &lo, &hi);
	assert_true(fabs(lo - (-1 - 0.05 * 4)) < 1e-12 && fabs(hi - (3 + 0.05 * 4)) < 1e-12);
	/* two values may stay out on each side: bins 0, 1 below and 2046, 2047 above */
	c.calib = MPQX_CALIB_PERCENTILE;
	quant_range(&m, &f, 0, &c, &lo, &hi);
	double pl = -1 + 2 * w, ph = -1 + 2046 * w;
	assert_true(fabs(lo - (pl - 0.05 * (ph - pl))) < 1e-12 && fabs(hi - (ph + 0.05 * (ph - pl))) < 1e-12);
	/* mse: a range alpha * [-1, 3], then the headroom; at 2 bits it clips (alpha = 0.86), at 16 it does not */
	c.calib = MPQX_CALIB_MSE;
	c.a_bits = 2;
	quant_range(&m, &f, 0, &c, &lo, &hi);
	assert_true(hi < 3 && hi > 1 && fabs(hi * 3 + lo * 8) < 1e-9);
	c.a_bits = 16;
	quant_range(&m, &f, 0, &c, &lo, &hi);
	assert_true(hi > 3 * 0.99);
	/* a softmax: [0, the largest probability], no method, no headroom; N from it */
	ly[0].op = MPQX_OP_SOFTMAX;
	ly[0].cols = 24;
	lo0 = 0.001;
	hi0 = 0.9487;
	quant_range(&m, &f, 0, &c, &lo, &hi);
	assert_true(lo == 0 && hi == 0.9487);
	assert_int_equal(quant_softmax_n(0.9487, 255, 24), 268); /* floor(255 / 0.9487) */
	assert_int_equal(quant_softmax_n(1.0, 255, 24), 255);
	assert_int_equal(quant_softmax_n(0.001, 255, 24), 255 * 24);
	assert_int_equal(quant_softmax_n(0.9487, 15, 24), 15);
	assert_int_equal(quant_softmax_n(0.9487, 4032, 24), 4250); /* the float code's top at 8 bits */
}

/* The float code of a softmax output (doc/quantization.md, "softmax"), 3 exponent and 5 fraction bits at
 * 8 bits: values by hand, the nearest code with halves up, the carry into the exponent, every code's value
 * coded back to itself, and the rule (8..10 bits, every consumer a matmul). */
static void test_float_code(void **state)
{
	(void)state;
	assert_int_equal(quant_fc_max(3, 8), 4032); /* 63 << 6 */
	assert_int_equal(quant_fc_max(3, 10), 255 << 6);
	assert_int_equal(quant_fc_value(3, 8, 31), 31);   /* E = 0: F */
	assert_int_equal(quant_fc_value(3, 8, 63), 63);   /* E = 1: 32 + F */
	assert_int_equal(quant_fc_value(3, 8, 64), 64);   /* E = 2: (32 + 0) << 1 */
	assert_int_equal(quant_fc_value(3, 8, 255), 4032);
	assert_int_equal(quant_fc_code(3, 8, 63), 63);
	assert_int_equal(quant_fc_code(3, 8, 65), 65);    /* 65 is half way from 64 to 66: up, code 65 = 66 */
	assert_int_equal(quant_fc_value(3, 8, 65), 66);
	assert_int_equal(quant_fc_code(3, 8, 127), 96);   /* rounds to 128: the carry, E = 3, F = 0 */
	assert_int_equal(quant_fc_code(3, 8, 4031), 255);
	assert_int_equal(quant_fc_code(3, 8, 4032), 255);
	for (int c = 0; c < 256; c++)
		assert_int_equal(quant_fc_code(3, 8, quant_fc_value(3, 8, c)), c);
	for (int64_t u = 0; u <= 4032; u++) { /* nearest: no value of the code closer than the one chosen */
		int64_t v = quant_fc_value(3, 8, quant_fc_code(3, 8, u));
		for (int c = 0; c < 256; c++) {
			int64_t w = quant_fc_value(3, 8, c), dv = v > u ? v - u : u - v, dw = w > u ? w - u : u - w;
			assert_true(dw > dv || (dw == dv && v >= w));
		}
	}
	struct mpqx_layer ly[3];
	memset(ly, 0, sizeof ly);
	ly[1].op = MPQX_OP_SOFTMAX;
	ly[1].n_inputs = 1;
	ly[2].op = MPQX_OP_MATMUL;
	ly[2].n_inputs = 2;
	ly[2].inputs[0] = 1;
	struct mpqx_model m = {.layers = ly, .n_layers = 3};
	model_mark_consumers(&m);
	assert_int_equal(quant_softmax_fc(&m, 1, 8), 3);
	assert_int_equal(quant_softmax_fc(&m, 1, 10), 3);
	assert_int_equal(quant_softmax_fc(&m, 1, 7), 0);
	assert_int_equal(quant_softmax_fc(&m, 1, 11), 0);
	ly[2].op = MPQX_OP_AVGPOOL;
	model_mark_consumers(&m);
	assert_int_equal(quant_softmax_fc(&m, 1, 8), 0);
	ly[2].op = MPQX_OP_MATMUL;
	ly[0].op = MPQX_OP_RELU; /* a second consumer that is no matmul */
	ly[0].n_inputs = 1;
	ly[0].inputs[0] = 1;
	model_mark_consumers(&m);
	assert_int_equal(quant_softmax_fc(&m, 1, 8), 0);
	struct mpqx_qparam p = {0.001, 0, 8, 3};
	assert_int_equal(quant_vspan(&p), 4032);
	assert_int_equal(quant_vbits(&p), 12);
}

/* Per-channel weights: each row's own scale and zero point (its span at least 1/64 of the tensor's), the
 * bias at its row's product scale, one multiplier per row with the layer's shift. */
static void test_channel_weights(void **state)
{
	(void)state;
	float w[3 * 2] = {1.0f, -0.5f, 0.25f, 0.125f, 0.0f, 0.0f}; /* rows: [-0.5, 1], [0, 0.25], zeros */
	float b[3] = {0.1f, 0.1f, 0.1f};
	struct mpqx_layer l;
	memset(&l, 0, sizeof l);
	l.op = MPQX_OP_LINEAR;
	l.rows = 1;
	l.cols = 3;
	l.weight = (struct mpqx_tensor){3, 2, w};
	l.bias = (struct mpqx_tensor){1, 3, b};
	struct mpqx_qparam x = {0.01, 0, 8, 0};
	struct mpqx_qlayer ql;
	memset(&ql, 0, sizeof ql);
	assert_int_equal(quant_weights(&l, &ql, &x, 8, 2, true), MPQX_OK);
	assert_true(fabs(ql.wcs[0] - 1.5 / 255) < 1e-15 && fabs(ql.wcs[1] - 0.25 / 255) < 1e-15);
	assert_true(fabs(ql.wcs[2] - 1.5 / 64 / 255) < 1e-15); /* the zero row: the floor, 1/64 of 1.5 */
	assert_int_equal(ql.wcz[1], -128);
	assert_int_equal(ql.qw[2], 127);                      /* 0.25 at the top of row 1 */
	assert_int_equal(ql.qw[3] - ql.wcz[1], 128);          /* 0.125: half of 255 steps, rounded up */
	assert_true(ql.qb[1] == (int64_t)round(0.1f / (0.01 * ql.wcs[1])));
	double M;
	assert_int_equal(quant_weight_rescale(&ql, 3, 0.01, 0.001, &M), MPQX_OK);
	assert_true(M == 0);
	struct mpqx_rescale r0 = quant_multiplier((0.01 * ql.wcs[0]) / 0.001);
	assert_int_equal(ql.rs[0].m, r0.m);
	assert_int_equal(ql.rs[0].n, r0.n);
	assert_int_equal(ql.wcm[0], r0.m);
	assert_int_equal(ql.wcm[1], (int64_t)round(ldexp((0.01 * ql.wcs[1]) / 0.001, r0.n)));
	assert_true(ql.wcm[2] >= 1 << 8); /* the floor keeps at least 9 bits */
	/* the scale ROM's words: z_w above m */
	int mw = quant_bitlen((uint64_t)ql.rs[0].m);
	assert_int_equal(ql.wcw[1], ((int64_t)(ql.wcz[1] & 0xff) << mw) | ql.wcm[1]);
	quant_layer_free(&ql);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_param),
		cmocka_unit_test(test_multiplier),
		cmocka_unit_test(test_rshift),
		cmocka_unit_test(test_range_methods),
		cmocka_unit_test(test_float_code),
		cmocka_unit_test(test_channel_weights),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
