/* Model loader: the tiny model loads; each broken variant is rejected with a message naming the place. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "mpqx/fileio.h"
#include "mpqx/model.h"

static char *tiny_text(void)
{
	char *text = NULL;
	struct mpqx_err err = {0};
	assert_int_equal(fileio_read(DATA_DIR "/tiny/model.json", &text, NULL, &err), 0);
	return text;
}

/* Replaces the first occurrence of from by to; fails the test if from is absent. */
static char *replace(const char *s, const char *from, const char *to)
{
	const char *p = strstr(s, from);
	if (!p)
		fail_msg("fixture text '%s' not found", from);
	size_t a = (size_t)(p - s), nf = strlen(from), nt = strlen(to), n = strlen(s);
	char *r = malloc(n - nf + nt + 1);
	memcpy(r, s, a);
	memcpy(r + a, to, nt);
	memcpy(r + a + nt, p + nf, n - a - nf + 1);
	return r;
}

static int load_text(const char *text, struct mpqx_model **m, struct mpqx_err *err)
{
	char path[] = "/tmp/mpqx-test-model-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	FILE *f = fdopen(fd, "w");
	fputs(text, f);
	fclose(f);
	int rc = model_load(path, m, err);
	unlink(path);
	return rc;
}

static void test_good(void **state)
{
	(void)state;
	struct mpqx_model *m = NULL;
	struct mpqx_err err = {0};
	assert_int_equal(model_load(DATA_DIR "/tiny", &m, &err), 0);
	assert_string_equal(m->name, "tiny");
	assert_int_equal(m->n_layers, 20);
	assert_int_equal(m->window, 6);
	assert_int_equal(m->layers[model_find(m, "scores")].heads, 2);
	assert_true(m->layers[model_find(m, "scores")].transpose_b);
	assert_int_equal(m->output, model_find(m, "head"));
	assert_true(m->layers[model_find(m, "ln")].eps == 1e-5);
	assert_int_equal(m->layers[model_find(m, "ln")].weight.cols, 4);
	assert_true(m->layers[model_find(m, "gelu")].gelu_tanh);
	assert_true(m->macs > 0);
	model_free(m);
	model_free(NULL);
}

struct bad {
	const char *from, *to, *expect;
};

static const struct bad cases[] = {
	{"\"format\": \"mpqx-model\"", "\"format\": \"other\"", "format: expected \"mpqx-model\""},
	{"\"version\": 1", "\"version\": 2", "version: unsupported version"},
	{"\"version\": 1", "\"version\": \"1\"", "version: expected an integer"},
	{"\"op\": \"relu\"", "\"op\": \"swish\"", "layers[15].op: unknown op 'swish'"},
	{"\"eps\": 1e-05", "\"eps\": -0.5", "layers[16].eps: expected a number from 0 to 1"},
	{"\"approximate\": \"tanh\"", "\"approximate\": \"exact\"", "layers[17].approximate: expected \"none\" or \"tanh\""},
	{"\"inputs\": [\"bn\"]", "\"inputs\": [\"nothere\"]", "layers[15].inputs[0]: 'nothere' is not an earlier layer"},
	{"\"inputs\": [\"relu\"]", "\"inputs\": [\"head\"]", "layers[16].inputs[0]: 'head' is not an earlier layer"},
	{"\"shape\": [6, 4], \"weight\"", "\"shape\": [6, 5], \"weight\"", "declared shape [6, 5]"},
	{"\"inputs\": [\"proj\", \"pe\"]", "\"inputs\": [\"proj\"]", "layers[3].inputs: op add takes 2 input(s), got 1"},
	{"\"weight\": {\"shape\": [4, 2]", "\"weight\": {\"shape\": [4, 3]", "layers[1].weight.data: expected 12 numbers (shape 4 x 3), got 8"},
	{"\"window\": 6, \"features\": 2", "\"window\": 6, \"features\": 3", "expected as many columns as input.features"},
	{"\"heads\": 2", "\"heads\": 3", "need equal columns divisible by heads 3"},
	{"\"heads\": 2", "\"heads\": 0", "layers[7].heads: expected an integer from 1 to 64"},
	{"\"offset\": 2, \"width\": 2", "\"offset\": 3, \"width\": 2", "columns 3..4 are outside input 'ctx'"},
	{"\"target\": \"a\"", "\"target\": 5", "dataset.target: expected a string"},
	{"\"train\": 0.7", "\"train\": 0.8", "dataset.split: fractions must be positive and add up to 1"},
	{"\"method\": \"standard\"", "\"method\": \"zscore\"", "normalization.method: expected"},
	{"\"name\": \"pool\"", "\"name\": \"relu\"", "layers[18].name: duplicate layer name"},
	{"\"name\": \"pool\"", "\"name\": \"po ol\"", "layers[18].name: expected letters"},
	{"\"layer\": \"head\"", "\"layer\": \"pool\"", "output layer 'pool' has shape [1, 4], expected [1, 1]"},
	{"\"scale\": 0.7071", "\"scale\": -1, \"x\": 0.7071", "layers[7].scale: expected a positive number"},
	{"\"shape\": [6, 2]}", "\"shape\": [7, 2]}", "shape must be [window, features] = [6, 2]"},
	{"\"shape\": [6, 2]}", "\"shape\": [6, 0]}", "layers[0].shape[1]: expected a dimension from 1 to 65536"},
	{"\"data\": [-0.176167", "\"data\": [\"x\"", "layers[1].weight.data[0]: expected a finite number"},
	{"\"data\": [-0.176167", "\"data\": [1e999", "layers[1].weight.data[0]: expected a finite number"},
	{"\"data\": [-0.176167,", "\"data\": [", "layers[1].weight.data: expected 8 numbers (shape 4 x 2), got 7"},
	{"\"mean\": ", "\"mean\": null, \"x\": ", "normalization.columns.a.mean: expected a finite number"},
	{"\"std\": ", "\"x\": ", "normalization.columns.a.std: missing"},
	{"\"layers\": [", "\"layers\": 7, \"x\": [", "layers: expected an array"},
};

static void test_bad(void **state)
{
	(void)state;
	char *text = tiny_text();
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char *t = replace(text, cases[i].from, cases[i].to);
		struct mpqx_model *m = NULL;
		struct mpqx_err err = {0};
		int rc = load_text(t, &m, &err);
		if (rc != MPQX_EINPUT || !strstr(err.msg, cases[i].expect) || !strstr(err.msg, "/tmp/mpqx-test-model-"))
			fail_msg("case %zu: rc %d, message '%s', expected '%s'", i, rc, err.msg, cases[i].expect);
		assert_null(m);
		free(t);
	}
	free(text);
}

static void test_truncated(void **state)
{
	(void)state;
	char *text = tiny_text();
	size_t n = strlen(text);
	for (size_t cut = 0; cut < n; cut += n / 37 + 1) {
		char c = text[cut];
		text[cut] = '\0';
		struct mpqx_model *m = NULL;
		struct mpqx_err err = {0};
		assert_int_equal(load_text(text, &m, &err), MPQX_EINPUT);
		assert_non_null(strstr(err.msg, "mpqx-test-model"));
		text[cut] = c;
	}
	free(text);
}

static void test_missing(void **state)
{
	(void)state;
	struct mpqx_model *m = NULL;
	struct mpqx_err err = {0};
	assert_int_equal(model_load("/nonexistent/model.json", &m, &err), MPQX_EINPUT);
	assert_non_null(strstr(err.msg, "/nonexistent/model.json: cannot open"));
	assert_int_equal(model_load("/tmp", &m, &err), MPQX_EINPUT); /* a directory without model.json */
	assert_non_null(strstr(err.msg, "/tmp/model.json"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good),
		cmocka_unit_test(test_bad),
		cmocka_unit_test(test_truncated),
		cmocka_unit_test(test_missing),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
