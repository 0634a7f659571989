/* The session: open, apply and request configs (sync and on the worker), errors keep the old state, and
 * the helpers the explorer and the CLI read. Runs on the tiny model. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "mpqx/session.h"

static const char *devices_dir(void)
{
	const char *d = getenv("MPQX_TEST_DEVICES");
	return d && *d ? d : SRC_DIR "/devices";
}

static struct mpqx_session *open_tiny(bool async)
{
	struct mpqx_session_opts o = {0};
	o.devices_dir = devices_dir();
	o.async = async;
	struct mpqx_session *s = NULL;
	struct mpqx_err err = {0};
	if (session_open(DATA_DIR "/tiny", &o, &s, &err))
		fail_msg("session_open: %s", err.msg);
	return s;
}

static void test_open(void **state)
{
	(void)state;
	struct mpqx_session *s = open_tiny(false);
	assert_true(s->eval_valid);
	assert_false(s->eval_pending);
	assert_int_equal(s->cfg.n_layers, s->model->n_layers);
	assert_int_equal(s->cfg.layers[0].a_bits, 8);
	assert_string_equal(s->dev.name, s->cfg.device);
	assert_true(s->res.mse > 0 && isfinite(s->res.mse));
	assert_true(s->res.mse_float > 0);
	assert_true(s->est.total.lut > 0);
	assert_true(s->est.latency_us > 0);
	assert_true(session_capacity(s, MPQX_RES_BRAM) == s->dev.bram18 / 2.0);
	assert_true(session_used(s, MPQX_RES_LUT) == (double)(s->est.total.lut + s->est.total.lutram));
	/* Forecasts in the target's unit: the quantized one is close to the float one at 8 bits. */
	double se = 0;
	for (int w = 0; w < s->fref->windows; w++) {
		double d = session_pred_quant(s, w) - session_pred_float(s, w);
		se += d * d;
		assert_true(isfinite(session_truth(s, w)));
	}
	assert_true(sqrt(se / s->fref->windows) < 0.5 * model_target_unit(s->model));
	for (int l = 0; l < s->model->n_layers; l++) {
		double frac;
		enum mpqx_resource r = session_dominant(s, l, &frac);
		assert_true(r >= 0 && r < MPQX_RES_COUNT);
		assert_true(frac >= 0);
		assert_true(session_layer_loss_db(s, l) >= 0);
	}
	assert_true(session_layer_has_wbits(s, model_find(s->model, "q")));
	assert_false(session_layer_has_wbits(s, model_find(s->model, "relu")));
	assert_true(session_layer_has_rom(s, model_find(s->model, "pe")));
	assert_false(session_layer_has_rom(s, model_find(s->model, "add_pe")));
	/* the softmax's exponent table is a ROM whose storage the config, estimate and search honour */
	assert_true(session_layer_has_rom(s, model_find(s->model, "softmax")));
	session_free(s);
	session_free(NULL);
}

static void test_apply_and_errors(void **state)
{
	(void)state;
	struct mpqx_session *s = open_tiny(false);
	struct mpqx_err err = {0};
	double mse8 = s->res.mse;
	long seq = s->eval_seq;
	assert_int_equal(session_set_all_bits(s, 4, 4, &err), 0);
	assert_int_equal(s->cfg.layers[1].w_bits, 4);
	assert_true(s->res.mse != mse8);
	assert_true(s->eval_seq > seq);
	assert_true(session_clipped(s) >= 0);
	/* One layer changes; the evaluation recomputes that layer and downstream only. */
	int head = model_find(s->model, "head");
	struct mpqx_layer_cfg lc = s->cfg.layers[head];
	lc.a_bits = 12;
	assert_int_equal(session_set_layer(s, head, &lc, &err), 0);
	assert_true(s->res.recomputed < s->model->n_layers);
	/* An unknown device is refused and the session keeps what it had. */
	struct mpqx_config before = {0};
	config_copy(&before, &s->cfg);
	double mse = s->res.mse;
	assert_int_not_equal(session_set_device(s, "no-such-device", &err), 0);
	assert_non_null(strstr(err.msg, "no-such-device"));
	assert_true(config_equal(&s->cfg, &before));
	assert_true(s->res.mse == mse);
	assert_int_not_equal(session_set_layer(s, 999, &lc, &err), 0);
	assert_int_not_equal(session_set_all_bits(s, 17, 8, &err), 0);
	config_fini(&before);
	session_free(s);
}

static void test_async(void **state)
{
	(void)state;
	struct mpqx_session *s = open_tiny(true);
	struct mpqx_session *ref = open_tiny(false);
	struct mpqx_err err = {0};
	/* Several requests in a row: the estimate is current at once, the error figures follow. */
	for (int b = 8; b >= 3; b--) {
		assert_int_equal(session_set_all_bits(s, b, b, &err), 0);
		assert_int_equal(s->cfg.layers[0].a_bits, b);
	}
	session_wait(s);
	assert_false(s->eval_pending);
	assert_true(config_equal(&s->eval_cfg, &s->cfg));
	assert_int_equal(session_set_all_bits(ref, 3, 3, &err), 0);
	assert_true(s->res.mse == ref->res.mse);
	assert_true(s->res.rmse_denorm == ref->res.rmse_denorm);
	for (int w = 0; w < s->fref->windows; w++)
		assert_true(session_pred_quant(s, w) == session_pred_quant(ref, w));
	/* The SQNR follows the MSE, and equals the one evaluated inline. */
	session_wait_sqnr(s);
	for (int l = 0; l < s->model->n_layers; l++) {
		assert_false(isnan(s->layer_stats[l].sqnr_db));
		assert_true(s->layer_stats[l].sqnr_db == ref->layer_stats[l].sqnr_db);
	}
	/* One layer changed: the others keep their SQNR through the first publish. */
	struct mpqx_layer_cfg lc = s->cfg.layers[s->model->n_layers - 1];
	lc.a_bits = 7;
	assert_int_equal(session_set_layer(s, s->model->n_layers - 1, &lc, &err), 0);
	assert_int_equal(session_set_layer(ref, ref->model->n_layers - 1, &lc, &err), 0);
	session_wait(s);
	assert_true(s->layer_stats[0].sqnr_db == ref->layer_stats[0].sqnr_db);
	session_wait_sqnr(s);
	for (int l = 0; l < s->model->n_layers; l++)
		assert_true(s->layer_stats[l].sqnr_db == ref->layer_stats[l].sqnr_db);
	/* Poll until published without session_wait. */
	assert_int_equal(session_set_all_bits(s, 6, 6, &err), 0);
	assert_true(s->eval_pending);
	while (!session_poll(s))
		;
	session_wait(s);
	assert_false(s->eval_pending);
	assert_int_equal(s->eval_cfg.layers[0].a_bits, 6);
	/* Freeing with a job queued is clean. */
	assert_int_equal(session_set_all_bits(s, 5, 5, &err), 0);
	session_free(s);
	session_free(ref);
}

/* Progressive evaluation: a session with a subset shows the subset's MSE first (labelled as such), then the
 * whole set's, equal to a session without one; the subset's MSE equals a subset engine's. */
static void test_progressive(void **state)
{
	(void)state;
	struct mpqx_session_opts o = {0};
	o.devices_dir = devices_dir();
	o.async = true;
	o.subset = 4;
	struct mpqx_session *s = NULL, *ref = open_tiny(false);
	struct mpqx_err err = {0};
	if (session_open(DATA_DIR "/tiny", &o, &s, &err))
		fail_msg("session_open: %s", err.msg);
	int N = s->fref->windows;
	assert_true(N > 4);
	assert_int_equal(session_subset_windows(s), 4);
	assert_int_equal(session_subset_windows(ref), 0); /* no worker, no subset unless asked */
	for (int b = 8; b >= 5; b--) {
		assert_int_equal(session_set_all_bits(s, b, b, &err), 0);
		session_wait_first(s);
		/* the first MSE: the subset's, or already the whole set's */
		assert_true(s->eval_subset ? s->res.windows == 4 && s->res.mse_se >= 0 : s->res.windows == N);
		assert_int_equal(s->res.windows_total, N);
		session_wait(s);
		assert_false(s->eval_subset);
		assert_int_equal(s->res.windows, N);
		assert_int_equal(session_set_all_bits(ref, b, b, &err), 0);
		assert_true(s->res.mse == ref->res.mse);
	}
	/* the subset's figures of the current config, as a screen dump shows them */
	assert_int_equal(session_show_subset(s, &err), 0);
	assert_true(s->eval_subset);
	assert_int_equal(s->res.windows, 4);
	struct mpqx_ieval *sub = NULL;
	struct mpqx_eval_result r;
	assert_int_equal(ieval_new_subset(s->model, s->data, s->fref, 1, 4, &sub, &err), 0);
	assert_int_equal(ieval_run(sub, s->q, &s->cfg, true, &r, &err), 0);
	assert_true(r.mse == s->res.mse && r.mse_se == s->res.mse_se && r.mse_float == s->res.mse_float);
	ieval_free(sub);
	/* session_apply on a session with a worker evaluates in full (never stopped) */
	struct mpqx_config c7 = {0};
	assert_int_equal(config_copy(&c7, &s->cfg), 0);
	c7.layers[0].a_bits = 7;
	assert_int_equal(session_apply(s, &c7, &err), 0);
	assert_false(s->eval_subset);
	assert_int_equal(s->res.windows, N);
	assert_int_equal(session_apply(ref, &c7, &err), 0);
	assert_true(s->res.mse == ref->res.mse);
	config_fini(&c7);
	/* a burst of requests: the stale whole-set runs are dropped, the last one's figures arrive */
	for (int b = 3; b <= 8; b++)
		assert_int_equal(session_set_all_bits(s, b, 8, &err), 0);
	session_wait(s);
	assert_false(s->eval_subset);
	assert_true(config_equal(&s->eval_cfg, &s->cfg));
	assert_int_equal(session_set_all_bits(ref, 8, 8, &err), 0);
	assert_true(s->res.mse == ref->res.mse);
	session_free(s);
	session_free(ref);
}

static void test_devices(void **state)
{
	(void)state;
	char names[MPQX_DEVICE_MAX][64];
	int n = session_list_devices(devices_dir(), names, MPQX_DEVICE_MAX);
	assert_true(n >= 1);
	for (int i = 0; i < n; i++) {
		assert_null(strstr(names[i], "-cost"));
		assert_null(strstr(names[i], ".ini"));
		if (i)
			assert_true(strcmp(names[i - 1], names[i]) < 0);
	}
	assert_int_equal(session_list_devices("/nonexistent", names, MPQX_DEVICE_MAX), 0);
	struct mpqx_session_opts o = {0};
	o.devices_dir = devices_dir();
	o.device = "no-such-device";
	struct mpqx_session *s = NULL;
	struct mpqx_err err = {0};
	assert_int_not_equal(session_open(DATA_DIR "/tiny", &o, &s, &err), 0);
	assert_null(s);
	assert_non_null(strstr(err.msg, "known: "));
	o.device = NULL;
	assert_int_not_equal(session_open(DATA_DIR "/nonexistent", &o, &s, &err), 0);
	assert_non_null(strstr(err.msg, "nonexistent"));

	/* A config naming an unknown device: the error names the config and the known devices; with
	 * device_fallback the session opens on the default device and its note says so. */
	char cfg[] = "/tmp/mpqx-test-baddev-XXXXXX";
	int fd = mkstemp(cfg);
	assert_true(fd >= 0);
	FILE *fp = fdopen(fd, "w");
	fputs("{\"format\":\"mpqx-config\",\"version\":1,\"model\":\"other\",\"device\":\"xc9z999\"}", fp);
	fclose(fp);
	o.config = cfg;
	assert_int_not_equal(session_open(DATA_DIR "/tiny", &o, &s, &err), 0);
	assert_non_null(strstr(err.msg, cfg));
	assert_non_null(strstr(err.msg, "xc9z999"));
	assert_non_null(strstr(err.msg, "xc7s15"));
	o.device_fallback = true;
	assert_int_equal(session_open(DATA_DIR "/tiny", &o, &s, &err), 0);
	assert_string_equal(s->dev.name, "xc7s15");
	assert_non_null(strstr(s->note, cfg));
	assert_non_null(strstr(s->note, "opened on xc7s15"));
	session_free(s);
	/* A config saved for another model opens with a note. */
	fp = fopen(cfg, "w");
	fputs("{\"format\":\"mpqx-config\",\"version\":1,\"model\":\"other\"}", fp);
	fclose(fp);
	o.device_fallback = false;
	assert_int_equal(session_open(DATA_DIR "/tiny", &o, &s, &err), 0);
	assert_non_null(strstr(s->note, "saved for model 'other'"));
	session_free(s);
	unlink(cfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_open),
		cmocka_unit_test(test_apply_and_errors),
		cmocka_unit_test(test_async),
		cmocka_unit_test(test_progressive),
		cmocka_unit_test(test_devices),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
