/* The arithmetic pieces of doc/quantization.md on hand-computed values. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "mpqx/quant.h"

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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_param),
		cmocka_unit_test(test_multiplier),
		cmocka_unit_test(test_rshift),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
