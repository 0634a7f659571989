/* The subcommands' JSON results (include/mpqx/report.h), which the command line prints and the Python module
 * turns into dicts: the keys DESIGN.md section 4 promises, values taken from the session they describe, the
 * simulation's problems, and config_parse (the Python module's dict configs) with its messages. Tiny model. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <cmocka.h>

#include "mpqx/config.h"
#include "mpqx/report.h"
#include "mpqx/session.h"

static struct mpqx_session *open_tiny(void)
{
	struct mpqx_session_opts o = {0};
	o.devices_dir = SRC_DIR "/devices";
	struct mpqx_session *s = NULL;
	struct mpqx_err err = {0};
	if (session_open(DATA_DIR "/tiny", &o, &s, &err))
		fail_msg("session_open: %s", err.msg);
	return s;
}

static double num(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
	if (!cJSON_IsNumber(v))
		fail_msg("key %s: not a number", key);
	return v->valuedouble;
}

static void test_eval(void **state)
{
	(void)state;
	struct mpqx_session *s = open_tiny();
	cJSON *o = report_eval(s->model, &s->cfg, s->q, s->fref, &s->res);
	assert_non_null(o);
	assert_true(num(o, "mse") == s->res.mse);
	assert_true(num(o, "rmse") == s->res.rmse);
	assert_true(num(o, "mae") == s->res.mae);
	assert_true(num(o, "mse_float") == s->res.mse_float);
	assert_true(num(o, "rmse_denorm") == s->res.rmse_denorm);
	assert_int_equal((int)num(o, "windows"), s->fref->windows);
	const cJSON *layers = cJSON_GetObjectItemCaseSensitive(o, "layers");
	assert_int_equal(cJSON_GetArraySize(layers), s->model->n_layers);
	int l = 0;
	for (const cJSON *e = layers->child; e; e = e->next, l++) {
		assert_string_equal(cJSON_GetObjectItemCaseSensitive(e, "name")->valuestring, s->model->layers[l].name);
		assert_true(num(e, "sqnr_db") == s->res.layers[l].sqnr_db);
		assert_true(num(e, "clipped") == (double)s->res.layers[l].clipped);
	}
	cJSON_Delete(o);
	o = report_eval_float(s->model, 10, 0.25, 0.5, 0.75, NAN);
	assert_true(num(o, "rmse") == 0.5);
	assert_true(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(o, "reference_max_abs")));
	cJSON_Delete(o);
	session_free(s);
}

static void test_estimate(void **state)
{
	(void)state;
	struct mpqx_session *s = open_tiny();
	cJSON *o = report_estimate(s->model, &s->cfg, s->q, &s->dev, s->coeffs, &s->est, true);
	assert_string_equal(cJSON_GetObjectItemCaseSensitive(o, "device")->valuestring, s->dev.name);
	assert_true(cJSON_IsBool(cJSON_GetObjectItemCaseSensitive(o, "fits")));
	assert_int_equal(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "fits")), s->est.fits);
	assert_string_equal(cJSON_GetObjectItemCaseSensitive(o, "limiting")->valuestring,
			    estimate_resource_name(s->est.limiting));
	const cJSON *t = cJSON_GetObjectItemCaseSensitive(o, "total");
	assert_true(num(t, "lut") == (double)s->est.total.lut);
	assert_true(num(t, "bram_tiles") == s->est.bram_tiles);
	assert_true(num(t, "latency_us") == s->est.latency_us);
	assert_true(num(cJSON_GetObjectItemCaseSensitive(o, "capacity"), "dsp") == (double)s->dev.dsp);
	const cJSON *layers = cJSON_GetObjectItemCaseSensitive(o, "layers");
	assert_int_equal(cJSON_GetArraySize(layers), s->model->n_layers);
	int l = 0;
	for (const cJSON *e = layers->child; e; e = e->next, l++) {
		static const char *const keys[] = {"lut", "lutram", "ff", "bram18", "dsp", "cycles"};
		for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++)
			num(e, keys[k]);
		assert_true(num(e, "cycles") == (double)s->est.layers[l].cycles);
		assert_true(cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(e, "blocks")));
	}
	cJSON_Delete(o);
	session_free(s);
}

static void test_export(void **state)
{
	(void)state;
	struct mpqx_export_info info = {.windows = 3, .files = 40, .cycles = 1234};
	snprintf(info.top, sizeof info.top, "mpqx_top");
	cJSON *o = report_export("out", &info, NULL);
	assert_null(cJSON_GetObjectItemCaseSensitive(o, "sim"));
	assert_true(num(o, "cycles") == 1234);
	cJSON_Delete(o);

	struct mpqx_sim_result r = {0};
	r.have_result = true;
	r.windows = 3;
	r.mismatches = 2;
	r.cycles = 1200;
	r.expected_cycles = 1234;
	r.dump_complete = true;
	r.status = 1;
	snprintf(r.result, sizeof r.result, "RESULT windows=3 mismatches=2 cycles=1200");
	snprintf(r.log, sizeof r.log, "out/sim/sim.log");
	char buf[1024];
	report_sim_problems(&r, buf, sizeof buf);
	assert_non_null(strstr(buf, "2 output values differ from the integer model (see out/sim/sim.log)"));
	assert_non_null(strstr(buf, "\nthe simulation took 1200 cycles per window, the latency formula says 1234"));
	assert_null(strstr(buf, "exited with status")); /* said by the mismatches already */
	char small[16];
	report_sim_problems(&r, small, sizeof small); /* truncated, terminated */
	assert_true(strlen(small) < sizeof small);
	o = report_export("out", &info, &r);
	const cJSON *sim = cJSON_GetObjectItemCaseSensitive(o, "sim");
	assert_true(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(sim, "ok")));
	assert_string_equal(cJSON_GetObjectItemCaseSensitive(sim, "problems")->valuestring, buf);
	cJSON_Delete(o);
}

static void test_config_parse(void **state)
{
	(void)state;
	struct mpqx_session *s = open_tiny();
	struct mpqx_config c = {0};
	struct mpqx_err err = {0};
	const char *ok = "{\"format\":\"mpqx-config\",\"version\":1,\"layers\":{\"q\":{\"w_bits\":5,\"a_bits\":7}}}";
	assert_int_equal(config_parse(ok, strlen(ok), "config", s->model, &c, &err), MPQX_OK);
	int q = model_find(s->model, "q");
	assert_true(q >= 0);
	assert_int_equal(c.layers[q].w_bits, 5);
	assert_int_equal(c.layers[q].a_bits, 7);
	assert_int_equal(c.layers[0].a_bits, 8);
	config_fini(&c);

	const char *bad = "{\"format\":\"mpqx-config\",\"version\":1,\n \"layers\":{\"nope\":{}}}";
	assert_int_not_equal(config_parse(bad, strlen(bad), "config", s->model, &c, &err), MPQX_OK);
	assert_string_equal(err.msg, "config: layers.nope: model 'tiny' has no layer of this name");
	const char *trunc = "{\"format\":\n \"mpqx-";
	assert_int_not_equal(config_parse(trunc, strlen(trunc), "cfg", s->model, &c, &err), MPQX_OK);
	assert_non_null(strstr(err.msg, "cfg: line 2, column"));
	const char nul[] = "{\"format\":\"mpqx\0-config\",\"version\":1}";
	assert_int_not_equal(config_parse(nul, sizeof nul - 1, "cfg", s->model, &c, &err), MPQX_OK);
	assert_non_null(strstr(err.msg, "invalid JSON"));
	session_free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_eval),
		cmocka_unit_test(test_estimate),
		cmocka_unit_test(test_export),
		cmocka_unit_test(test_config_parse),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
