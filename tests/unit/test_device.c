/* Device files (devices/NAME.ini) and the coefficient file: the bundled ones load, bad ones are refused
 * with the file and line named. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "mpqx/device.h"
#include "mpqx/estimate.h"

#ifndef SRC_DIR
#error SRC_DIR
#endif
#define DEV_DIR SRC_DIR "/devices"

static char tmpdir[256];

static int setup(void **state)
{
	(void)state;
	snprintf(tmpdir, sizeof tmpdir, "/tmp/mpqx-test-device-XXXXXX");
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	char cmd[512];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

static const char *write_file(const char *name, const char *text)
{
	static char path[512];
	snprintf(path, sizeof path, "%s/%s", tmpdir, name);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	return path;
}

static void test_bundled(void **state)
{
	(void)state;
	static const struct {
		const char *name;
		long lut, lutram, ff, bram18, dsp;
	} want[] = {
		{"xc7s15", 8000, 2400, 16000, 20, 20},
		{"xc7s25", 14600, 5000, 29200, 90, 80},
		{"xc7s50", 32600, 9600, 65200, 150, 120},
		{"xc7a35t", 20800, 9600, 41600, 100, 90},
	};
	for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
		struct mpqx_device d;
		struct mpqx_err err = {0};
		if (device_load(DEV_DIR, want[i].name, &d, &err))
			fail_msg("%s", err.msg);
		assert_string_equal(d.name, want[i].name);
		assert_string_equal(d.family, "xc7");
		assert_int_equal(d.lut, want[i].lut);
		assert_int_equal(d.lutram, want[i].lutram);
		assert_int_equal(d.ff, want[i].ff);
		assert_int_equal(d.bram18, want[i].bram18);
		assert_int_equal(d.dsp, want[i].dsp);
		assert_true(d.clock_mhz == 100);
	}
	struct mpqx_coeffs *k = NULL;
	struct mpqx_err err = {0};
	if (estimate_coeffs_load(DEV_DIR "/xc7-cost.ini", &k, &err))
		fail_msg("%s", err.msg);
	estimate_coeffs_free(k);
	estimate_coeffs_free(NULL);
}

/* The iCE40 devices: capacities in the family's words, SPRAM, the storage each offers. */
static void test_ice40(void **state)
{
	(void)state;
	struct mpqx_device d;
	struct mpqx_err err = {0};
	if (device_load(DEV_DIR, "ice40up5k", &d, &err))
		fail_msg("%s", err.msg);
	assert_int_equal(d.fam, MPQX_FAMILY_ICE40);
	assert_int_equal(d.lut, 5280);
	assert_int_equal(d.lutram, 4); /* the SPRAM blocks, in the lutram slot */
	assert_int_equal(d.bram18, 30);
	assert_int_equal(d.spram, 4);
	assert_int_equal(d.dsp, 8);
	assert_true(d.clock_mhz == 16);
	assert_true(device_storage_ok(&d, MPQX_STORE_SPRAM, false));
	assert_false(device_storage_ok(&d, MPQX_STORE_SPRAM, true));
	assert_string_equal(device_storage_label(&d, MPQX_STORE_BLOCK, false), "ebr");
	assert_string_equal(device_storage_label(&d, MPQX_STORE_DIST, false), "regs");
	assert_string_equal(device_resource_label(&d, 0), "lc");
	struct mpqx_device h;
	if (device_load(DEV_DIR, "ice40hx8k", &h, &err))
		fail_msg("%s", err.msg);
	assert_int_equal(h.lut, 7680);
	assert_int_equal(h.bram18, 32);
	assert_int_equal(h.spram, 0);
	assert_int_equal(h.dsp, 0);
	assert_false(device_storage_ok(&h, MPQX_STORE_SPRAM, false));
	struct mpqx_device x;
	if (device_load(DEV_DIR, "xc7s15", &x, &err))
		fail_msg("%s", err.msg);
	assert_int_equal(x.fam, MPQX_FAMILY_XC7);
	assert_false(device_storage_ok(&x, MPQX_STORE_SPRAM, false));
	assert_true(device_storage_ok(&x, MPQX_STORE_DIST, false));
	assert_string_equal(device_storage_label(&x, MPQX_STORE_DIST, false), "lut");
	struct mpqx_coeffs *k = NULL;
	if (estimate_coeffs_load(DEV_DIR "/ice40-cost.ini", &k, &err))
		fail_msg("%s", err.msg);
	estimate_coeffs_free(k);
	/* the rules of the family's memories and multipliers */
	assert_int_equal(estimate_ebr(32, 8), 1);
	assert_int_equal(estimate_ebr(512, 9), 2);   /* 512 x 8 twice, or 256 x 16 twice */
	assert_int_equal(estimate_ebr(4096, 2), 2);
	assert_int_equal(estimate_spram(64, 8), 1);
	assert_int_equal(estimate_spram(32768, 17), 4);
	assert_int_equal(estimate_dsp_ice40(8, 8, 16, true, true), 1);
	assert_int_equal(estimate_dsp_ice40(4, 4, 8, true, true), 0);   /* below an 11-bit product */
	assert_int_equal(estimate_dsp_ice40(20, 8, 28, true, true), 2); /* 16 + 4 bits of A */
}

static void expect_error(const char *text, const char *needle, int line)
{
	struct mpqx_device d;
	struct mpqx_err err = {0};
	const char *p = write_file("dev.ini", text);
	assert_int_equal(device_load(NULL, p, &d, &err), MPQX_EINPUT);
	if (!strstr(err.msg, p))
		fail_msg("no file name in '%s'", err.msg);
	if (!strstr(err.msg, needle))
		fail_msg("'%s' not in '%s'", needle, err.msg);
	if (line > 0) {
		char l[32];
		snprintf(l, sizeof l, "line %d:", line);
		if (!strstr(err.msg, l))
			fail_msg("'%s' not in '%s'", l, err.msg);
	}
}

#define GOOD "[device]\nname = t\nfamily = xc7\nlut = 100\nlutram = 10\nff = 200\nbram18 = 4\ndsp = 2\n"

static void test_device_errors(void **state)
{
	(void)state;
	struct mpqx_device d;
	struct mpqx_err err = {0};
	const char *p = write_file("good.ini", GOOD "clock_mhz = 150.5\n");
	if (device_load(NULL, p, &d, &err))
		fail_msg("%s", err.msg);
	assert_true(d.clock_mhz == 150.5);
	assert_int_equal(d.bram18, 4);
	p = write_file("noclock.ini", GOOD);
	assert_int_equal(device_load(NULL, p, &d, &err), MPQX_OK);
	assert_true(d.clock_mhz == 100);

	expect_error(GOOD "colour = red\n", "unknown key 'colour'", 9);
	expect_error("[device]\nname = t\nlut = 12x\n", "lut = '12x'", 3);
	expect_error("[device]\nname = t\nlut = -5\n", "non-negative", 3);
	expect_error("[chip]\nname = t\n", "unknown section [chip]", 2);
	expect_error(GOOD "lut = 5\n", "'lut' is set twice", 9);
	expect_error(GOOD "clock_mhz = 0\n", "clock_mhz", 9);
	expect_error("[device]\nname = t\nthis line has no equals sign\n", "expected", 3);
	expect_error("[device]\nname = t\nfamily = xc7\nlut = 100\nlutram = 10\nff = 1\nbram18 = 1\n", "no 'dsp'", 0);
	expect_error("[device]\nname = t\nfamily = xc7\nlut = 10\nlutram = 20\nff = 1\nbram18 = 1\ndsp = 1\n",
		     "lutram (20) is more than lut (10)", 0);
	expect_error("[device]\nname = a b\n", "expected a name", 2);

	/* by name: unknown device, and a name that is not a name */
	assert_int_equal(device_load(DEV_DIR, "xc9zz", &d, &err), MPQX_EINPUT);
	assert_non_null(strstr(err.msg, "unknown device 'xc9zz'"));
	assert_int_equal(device_load(DEV_DIR, "", &d, &err), MPQX_EINPUT);
	assert_int_equal(device_load(DEV_DIR, "a b", &d, &err), MPQX_EINPUT);
	/* a path that is missing, or a directory */
	assert_int_equal(device_load(NULL, "/nonexistent/x.ini", &d, &err), MPQX_EINPUT);
	assert_non_null(strstr(err.msg, "/nonexistent/x.ini"));
	assert_int_equal(device_load(NULL, tmpdir, &d, &err), MPQX_EINPUT);
}

static void expect_coeff_error(const char *text, const char *needle, int line)
{
	struct mpqx_coeffs *k = (struct mpqx_coeffs *)1;
	struct mpqx_err err = {0};
	const char *p = write_file("cost.ini", text);
	assert_int_equal(estimate_coeffs_load(p, &k, &err), MPQX_EINPUT);
	assert_null(k);
	if (!strstr(err.msg, p) || !strstr(err.msg, needle))
		fail_msg("'%s' or the file not in '%s'", needle, err.msg);
	if (line > 0) {
		char l[32];
		snprintf(l, sizeof l, "line %d:", line);
		if (!strstr(err.msg, l))
			fail_msg("'%s' not in '%s'", l, err.msg);
	}
}

static void test_coeff_errors(void **state)
{
	(void)state;
	struct mpqx_coeffs *k = NULL;
	struct mpqx_err err = {0};
	const char *p = write_file("ok.ini", "[family]\nname = xc7\n[linear]\nlut.one = 3.5\nff.regs = 1\n");
	if (estimate_coeffs_load(p, &k, &err))
		fail_msg("%s", err.msg);
	estimate_coeffs_free(k);
	expect_coeff_error("[family]\nname = xc7\n[lienar]\nlut.one = 1\n", "unknown section [lienar]", 4);
	expect_coeff_error("[family]\nname = xc7\n[linear]\nlut.bogus = 1\n", "unknown feature 'bogus'", 4);
	expect_coeff_error("[family]\nname = xc7\n[linear]\none = 1\n", "expected lut.FEATURE", 4);
	expect_coeff_error("[family]\nname = xc7\n[rom]\nlut.big = many\n", "expected a number", 4);
	expect_coeff_error("[rom]\nlut.big = 1\n", "no [family] name", 0);
	assert_int_equal(estimate_coeffs_load("/nonexistent/c.ini", &k, &err), MPQX_EINPUT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bundled),
		cmocka_unit_test(test_ice40),
		cmocka_unit_test(test_device_errors),
		cmocka_unit_test(test_coeff_errors),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
