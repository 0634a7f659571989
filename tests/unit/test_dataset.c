/* Dataset: split and windows of the tiny model, normalisation fitted on the train rows, and CSV errors
 * that name the line. Also the float forward against the PyTorch predictions stored with each sample. */
#include <cjson/cJSON.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "mpqx/dataset.h"
#include "mpqx/fileio.h"
#include "mpqx/forward.h"

static void test_windows(void **state)
{
	(void)state;
	struct mpqx_model *m = NULL;
	struct mpqx_dataset *d = NULL;
	struct mpqx_err err = {0};
	assert_int_equal(model_load(DATA_DIR "/tiny", &m, &err), 0);
	assert_int_equal(dataset_load(m, &d, &err), 0);
	assert_int_equal(d->n_rows, 80);
	assert_int_equal(d->end[MPQX_TRAIN], 56); /* floor(0.7 * 80) */
	assert_int_equal(d->end[MPQX_CALIB], 64);
	assert_int_equal(d->windows[MPQX_TRAIN], 56 - 7 + 1);
	assert_int_equal(d->windows[MPQX_CALIB], 8 - 7 + 1);
	assert_int_equal(d->windows[MPQX_TEST], 16 - 7 + 1);
	/* the first test window starts at row 64; its target is row 64 + 6 */
	assert_ptr_equal(dataset_window(d, MPQX_TEST, 0), d->x + 64 * 2);
	assert_true(dataset_target(d, MPQX_TEST, 0) == d->y[70]);
	assert_true(dataset_persistence(d, MPQX_TEST, 0) == d->y[69]);
	struct mpqx_norm norm[MPQX_MAX_COLUMNS], target;
	assert_int_equal(dataset_fit_norm(m, norm, &target, &err), 0);
	for (int c = 0; c < m->features; c++) {
		assert_true(fabs(norm[c].a - m->norm[c].a) < 1e-9);
		assert_true(fabs(norm[c].b - m->norm[c].b) < 1e-9);
	}
	dataset_free(d);
	model_free(m);
}

/* Writes csv next to a copy of the tiny model and loads it. */
static int load_csv(const char *csv, struct mpqx_err *err)
{
	char dir[] = "/tmp/mpqx-test-csv-XXXXXX";
	assert_non_null(mkdtemp(dir));
	char path[300], *text = NULL;
	assert_int_equal(fileio_read(DATA_DIR "/tiny/model.json", &text, NULL, err), 0);
	snprintf(path, sizeof path, "%s/model.json", dir);
	FILE *f = fopen(path, "w");
	fputs(text, f);
	fclose(f);
	free(text);
	snprintf(path, sizeof path, "%s/data.csv", dir);
	f = fopen(path, "w");
	fputs(csv, f);
	fclose(f);
	struct mpqx_model *m = NULL;
	struct mpqx_dataset *d = NULL;
	int rc = model_load(dir, &m, err);
	assert_int_equal(rc, 0);
	rc = dataset_load(m, &d, err);
	dataset_free(d);
	model_free(m);
	unlink(path);
	snprintf(path, sizeof path, "%s/model.json", dir);
	unlink(path);
	rmdir(dir);
	return rc;
}

static char *rows(const char *header, int n, int bad_line, const char *bad)
{
	size_t cap = 64 + (size_t)n * 64;
	char *s = malloc(cap), *p = s;
	p += sprintf(p, "%s\n", header);
	for (int i = 2; i <= n + 1; i++)
		p += i == bad_line ? sprintf(p, "%s\n", bad) : sprintf(p, "%d,%d.5,%d.25\n", i, i % 7, i % 5);
	return s;
}

static void test_bad_csv(void **state)
{
	(void)state;
	struct {
		char *csv;
		const char *expect;
	} cases[] = {
		{rows("step,a,c", 80, 0, ""), "line 1: no column named 'b'"},
		{rows("step,a,b", 80, 17, "17,1.0,abc"), "line 17, column 'b': expected a finite number, got 'abc'"},
		{rows("step,a,b", 80, 30, "30,1.0"), "line 30: expected 3 fields as in the header, got 2"},
		{rows("step,a,b", 80, 44, "44,nan,1"), "line 44, column 'a': expected a finite number"},
		{rows("step,a,b", 80, 45, "45,1e999,1"), "line 45, column 'a': expected a finite number"},
		{rows("step,a,b", 80, 46, "46,,1"), "line 46, column 'a': expected a finite number, got ''"},
		{rows("step,a,b", 20, 0, ""), "the calib part has 2 rows, fewer than window + horizon = 7"},
		{strdup(""), "line 1: empty file"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct mpqx_err err = {0};
		int rc = load_csv(cases[i].csv, &err);
		if (rc != MPQX_EINPUT || !strstr(err.msg, cases[i].expect) || !strstr(err.msg, "data.csv"))
			fail_msg("case %zu: rc %d, '%s', expected '%s'", i, rc, err.msg, cases[i].expect);
		free(cases[i].csv);
	}
}

/* mpqx's float forward equals the PyTorch predictions of reference.json to 1e-5 on every test window. */
static void check_reference(const char *sample)
{
	char path[512];
	struct mpqx_model *m = NULL;
	struct mpqx_dataset *d = NULL;
	struct mpqx_err err = {0};
	if (model_load(sample, &m, &err))
		fail_msg("%s", err.msg);
	assert_int_equal(dataset_load(m, &d, &err), 0);
	snprintf(path, sizeof path, "%s/reference.json", sample);
	char *text = NULL;
	assert_int_equal(fileio_read(path, &text, NULL, &err), 0);
	cJSON *ref = cJSON_Parse(text);
	assert_non_null(ref);
	const cJSON *pred = cJSON_GetObjectItem(ref, "predictions"), *tgt = cJSON_GetObjectItem(ref, "targets");
	int n = d->windows[MPQX_TEST];
	assert_int_equal(cJSON_GetArraySize(pred), n * m->out_features);
	struct mpqx_forward fw;
	assert_int_equal(forward_init(&fw, m), 0);
	double worst = 0, worst_t = 0;
	for (int w = 0; w < n; w++) {
		const float *y = forward_run(&fw, dataset_window(d, MPQX_TEST, w));
		double dv = fabs(y[0] - cJSON_GetArrayItem(pred, w)->valuedouble);
		double dt = fabs(dataset_target(d, MPQX_TEST, w) - cJSON_GetArrayItem(tgt, w)->valuedouble);
		worst = dv > worst ? dv : worst;
		worst_t = dt > worst_t ? dt : worst_t;
	}
	print_message("# %s: %d windows, max |mpqx - torch| = %.3g, max target difference %.3g\n", sample, n,
		      worst, worst_t);
	assert_true(worst <= 1e-5);
	assert_true(worst_t <= 1e-5);
	forward_fini(&fw);
	cJSON_Delete(ref);
	free(text);
	dataset_free(d);
	model_free(m);
}

static void test_reference_hourly(void **state)
{
	(void)state;
	check_reference(SRC_DIR "/samples/seattle-hourly");
}

static void test_reference_daily(void **state)
{
	(void)state;
	check_reference(SRC_DIR "/samples/seattle-daily");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_windows),
		cmocka_unit_test(test_bad_csv),
		cmocka_unit_test(test_reference_hourly),
		cmocka_unit_test(test_reference_daily),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
