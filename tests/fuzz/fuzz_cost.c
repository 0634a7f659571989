/* Fuzzes the estimator's coefficient ini (devices/FAMILY-cost.ini), then estimates the tiny model with the
 * coefficients it accepts: every figure must stay a non-negative count. */
#include <math.h>

#include "fuzz_util.h"
#include "mpqx/config.h"
#include "mpqx/dataset.h"
#include "mpqx/device.h"
#include "mpqx/estimate.h"
#include "mpqx/fref.h"
#include "mpqx/model.h"
#include "mpqx/quant.h"

static struct mpqx_model *model;
static struct mpqx_qmodel *q;
static struct mpqx_config cfg;
static struct mpqx_device dev;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	struct mpqx_err err = {0};
	struct mpqx_dataset *d = NULL;
	struct mpqx_fref *f = NULL;
	if (model_load(FUZZ_SRC_DIR "/tests/data/tiny", &model, &err) || dataset_load(model, &d, &err) ||
	    fref_run(model, d, false, &f, &err) || config_init(&cfg, model, 8) ||
	    quant_build(model, f, &cfg, &q, &err) || device_load(FUZZ_SRC_DIR "/devices", "xc7s15", &dev, &err)) {
		fprintf(stderr, "%s\n", err.msg);
		abort();
	}
	/* one block-RAM buffer so the memory rules run too */
	cfg.layers[1].buffer = MPQX_STORE_BLOCK;
	fref_free(f);
	dataset_free(d);
	return 0;
}

static void check(const struct mpqx_cost *c)
{
	if (c->lut < 0 || c->lutram < 0 || c->ff < 0 || c->bram18 < 0 || c->dsp < 0 || c->cycles < 0)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *path = fuzz_write(0, ".ini", data, size);
	struct mpqx_coeffs *k = NULL;
	struct mpqx_err err = {0};
	int rc = estimate_coeffs_load(path, &k, &err);
	if (rc) {
		if (k || (rc != MPQX_EINPUT && rc != MPQX_ENOMEM))
			abort();
		fuzz_check_msg(err.msg, path);
		return 0;
	}
	struct mpqx_estimate est;
	if (estimate_init(&est, model->n_layers))
		abort();
	if (estimate_run(q, &cfg, &dev, k, &est, &err) == MPQX_OK) {
		for (int l = 0; l < est.n_layers; l++)
			check(&est.layers[l]);
		check(&est.total);
		if (!isfinite(est.latency_us))
			abort();
	}
	estimate_fini(&est);
	estimate_coeffs_free(k);
	return 0;
}
