/* Config v1: defaults, per-layer keys, atomic save and load back, and errors naming the place. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "mpqx/config.h"

static struct mpqx_model *tiny(void)
{
	struct mpqx_model *m = NULL;
	struct mpqx_err err = {0};
	assert_int_equal(model_load(DATA_DIR "/tiny", &m, &err), 0);
	return m;
}

static int load_text(const char *text, const struct mpqx_model *m, struct mpqx_config *c, struct mpqx_err *err)
{
	char path[] = "/tmp/mpqx-test-config-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_true(write(fd, text, strlen(text)) == (ssize_t)strlen(text));
	close(fd);
	int rc = config_load(path, m, c, err);
	unlink(path);
	return rc;
}

static void test_load(void **state)
{
	(void)state;
	struct mpqx_model *m = tiny();
	struct mpqx_config c;
	struct mpqx_err err = {0};
	assert_int_equal(load_text("{\"format\":\"mpqx-config\",\"version\":1,\"device\":\"xc7s25\","
				   "\"defaults\":{\"w_bits\":6,\"a_bits\":5,\"buffer\":\"block\"},"
				   "\"layers\":{\"q\":{\"w_bits\":3,\"rom\":\"logic\",\"mult\":\"logic\"},\"add_pe\":{\"w_bits\":9}}}",
				   m, &c, &err),
			 0);
	assert_string_equal(c.device, "xc7s25");
	int q = model_find(m, "q");
	assert_int_equal(c.layers[q].w_bits, 3);
	assert_int_equal(c.layers[q].a_bits, 5);
	assert_int_equal(c.layers[q].buffer, MPQX_STORE_BLOCK);
	assert_int_equal(c.layers[q].rom, MPQX_STORE_DIST);
	assert_int_equal(c.layers[0].w_bits, 6);
	assert_int_equal(c.layers[0].rom, MPQX_STORE_AUTO);
	assert_int_equal(c.layers[q].mult, MPQX_MULT_LOGIC);
	assert_int_equal(c.layers[0].mult, MPQX_MULT_AUTO);
	assert_int_equal(c.layers[q].calib, MPQX_CALIB_DEFAULT);
	config_fini(&c);
	/* calibration: defaults, then per layer; saved and read back */
	assert_int_equal(load_text("{\"format\":\"mpqx-config\",\"version\":1,\"defaults\":{\"calibration\":\"mse\"},"
				   "\"layers\":{\"q\":{\"calibration\":\"minmax\"}}}",
				   m, &c, &err),
			 0);
	assert_int_equal(c.layers[q].calib, MPQX_CALIB_MINMAX);
	assert_int_equal(c.layers[0].calib, MPQX_CALIB_MSE);
	char *js = config_to_json(m, &c);
	assert_non_null(strstr(js, "\"minmax\""));
	assert_non_null(strstr(js, "\"mse\""));
	struct mpqx_config c2 = {0};
	assert_int_equal(config_parse(js, strlen(js), "saved", m, &c2, &err), 0);
	assert_true(config_equal(&c, &c2));
	c2.layers[q].calib = MPQX_CALIB_PERCENTILE;
	assert_false(config_equal(&c, &c2));
	free(js);
	config_fini(&c2);
	config_fini(&c);
	/* w_granularity: tensor by default, channel per layer; saved and read back */
	assert_int_equal(load_text("{\"format\":\"mpqx-config\",\"version\":1,"
				   "\"layers\":{\"q\":{\"w_granularity\":\"channel\"}}}",
				   m, &c, &err),
			 0);
	assert_int_equal(c.layers[q].w_gran, MPQX_WGRAN_CHANNEL);
	assert_int_equal(c.layers[0].w_gran, MPQX_WGRAN_TENSOR);
	js = config_to_json(m, &c);
	assert_non_null(strstr(js, "\"channel\""));
	assert_int_equal(config_parse(js, strlen(js), "saved", m, &c2, &err), 0);
	assert_true(config_equal(&c, &c2));
	c2.layers[q].w_gran = MPQX_WGRAN_TENSOR;
	assert_false(config_equal(&c, &c2));
	free(js);
	config_fini(&c2);
	config_fini(&c);
	model_free(m);
}

static void test_roundtrip(void **state)
{
	(void)state;
	struct mpqx_model *m = tiny();
	struct mpqx_config a, b;
	struct mpqx_err err = {0};
	assert_int_equal(config_init(&a, m, 8), 0);
	for (int i = 0; i < a.n_layers; i++) {
		a.layers[i].a_bits = 2 + i % 15;
		a.layers[i].w_bits = 16 - i % 15;
		a.layers[i].buffer = (enum mpqx_storage)(i % 3);
		a.layers[i].rom = (enum mpqx_storage)((i + 1) % 3);
		a.layers[i].mult = (enum mpqx_mult)((i + 2) % 3);
	}
	char dir[] = "/tmp/mpqx-test-save-XXXXXX";
	assert_non_null(mkdtemp(dir));
	char path[256];
	snprintf(path, sizeof path, "%s/cfg.json", dir);
	assert_int_equal(config_save(path, m, &a, &err), 0);
	assert_int_equal(config_load(path, m, &b, &err), 0);
	assert_true(config_equal(&a, &b));
	/* a save into a directory that cannot take it fails and leaves the old file alone */
	assert_int_equal(chmod(dir, 0500), 0);
	a.layers[0].a_bits = 3;
	if (getuid() != 0) { /* root may write anyway */
		assert_int_not_equal(config_save(path, m, &a, &err), 0);
		struct mpqx_config c;
		assert_int_equal(config_load(path, m, &c, &err), 0);
		assert_true(config_equal(&b, &c));
		config_fini(&c);
	}
	chmod(dir, 0700);
	unlink(path);
	rmdir(dir);
	config_fini(&a);
	config_fini(&b);
	model_free(m);
}

struct bad {
	const char *text, *expect;
};

static void test_bad(void **state)
{
	(void)state;
	static const struct bad cases[] = {
		{"{\"format\":\"mpqx-config\",\"version\":1,\"layers\":{\"nope\":{}}}", "layers.nope: model 'tiny' has no layer"},
		{"{\"format\":\"mpqx-config\",\"version\":1,\"layers\":{\"q\":{\"w_bits\":17}}}", "layers.q.w_bits: expected an integer from 2 to 16"},
		{"{\"format\":\"mpqx-config\",\"version\":1,\"layers\":{\"q\":{\"a_bits\":1}}}", "layers.q.a_bits: expected an integer from 2 to 16"},
		{"{\"format\":\"mpqx-config\",\"version\":1,\"layers\":{\"q\":{\"a_bits\":4.5}}}", "layers.q.a_bits"},
		{"{\"format\":\"mpqx-config\",\"version\":1,\"layers\":{\"q\":{\"buffer\":\"lut\"}}}", "layers.q.buffer: expected \"block\", \"distributed\", \"spram\" or \"auto\""},
		{"{\"format\":\"mpqx-config\",\"version\":1,\"layers\":{\"q\":{\"mult\":\"lut\"}}}", "layers.q.mult: expected \"dsp\", \"logic\" or \"auto\""},
		{"{\"format\":\"mpqx-config\",\"version\":1,\"layers\":{\"q\":{\"rom\":\"distributed\"}}}", "layers.q.rom: expected \"block\", \"logic\" or \"auto\""},
		{"{\"format\":\"mpqx-config\",\"version\":1,\"layers\":{\"q\":{\"bits\":4}}}", "layers.q.bits: unknown key"},
		{"{\"format\":\"mpqx-config\",\"version\":1,\"layers\":{\"q\":{\"calibration\":\"max\"}}}", "layers.q.calibration: expected \"minmax\", \"percentile\" or \"mse\""},
		{"{\"format\":\"mpqx-config\",\"version\":1,\"defaults\":{\"calibration\":3}}", "defaults.calibration: expected"},
		{"{\"format\":\"mpqx-config\",\"version\":1,\"layers\":{\"q\":{\"w_granularity\":\"row\"}}}", "layers.q.w_granularity: expected \"tensor\" or \"channel\""},
		{"{\"format\":\"mpqx-config\",\"version\":2}", "version: unsupported version 2"},
		{"{\"format\":\"mpqx-model\",\"version\":1}", "format: expected \"mpqx-config\""},
		{"{\"format\":\"mpqx-config\",\"version\":1,\"defaults\":[]}", "defaults: expected an object"},
		{"{\"format\":\"mpqx-config\",\"version\":1,\n\"layers\":{\"q\":{\"w_bits\":4,}}}", "line 2, column"},
		{"", "line 1, column 1: invalid JSON"},
	};
	struct mpqx_model *m = tiny();
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct mpqx_config c = {0};
		struct mpqx_err err = {0};
		int rc = load_text(cases[i].text, m, &c, &err);
		if (rc != MPQX_EINPUT || !strstr(err.msg, cases[i].expect) || !strstr(err.msg, "mpqx-test-config"))
			fail_msg("case %zu: rc %d, '%s', expected '%s'", i, rc, err.msg, cases[i].expect);
		assert_null(c.layers);
	}
	model_free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_load),
		cmocka_unit_test(test_roundtrip),
		cmocka_unit_test(test_bad),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
