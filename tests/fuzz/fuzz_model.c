/* Fuzzes the model loader (model JSON), and when the input is a valid small model, the whole engine on it:
 * float forward and calibration, quantization at a bit width taken from the input, integer evaluation.
 * A model the loader accepts must never crash what comes after it. */
#include <math.h>

#include "fuzz_util.h"
#include "mpqx/config.h"
#include "mpqx/dataset.h"
#include "mpqx/fref.h"
#include "mpqx/ieval.h"
#include "mpqx/model.h"
#include "mpqx/quant.h"

/* Keeps one execution short: the engine runs only on models this small. */
#define MAX_ACT (1L << 16)
#define MAX_MACS (1L << 21)

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	return 0;
}

/* A dataset of three parts of one window each, filled from the input bytes, without a CSV. */
static struct mpqx_dataset *fake_data(const struct mpqx_model *m, const uint8_t *data, size_t size)
{
	struct mpqx_dataset *d = calloc(1, sizeof *d);
	int part = m->window + m->data.horizon;
	d->n_rows = 3 * part + 1;
	d->features = m->features;
	d->window = m->window;
	d->horizon = m->data.horizon;
	d->x = malloc(sizeof(float) * (size_t)d->n_rows * (size_t)d->features);
	d->y = malloc(sizeof(float) * (size_t)d->n_rows);
	d->raw_y = malloc(sizeof(double) * (size_t)d->n_rows);
	for (long i = 0; i < (long)d->n_rows * d->features; i++)
		d->x[i] = size ? (float)((int)data[(size_t)i % size] - 128) / 32.0f : 0.0f;
	for (int i = 0; i < d->n_rows; i++) {
		d->y[i] = (float)sin(i);
		d->raw_y[i] = d->y[i];
	}
	for (int s = 0; s < MPQX_SPLITS; s++) {
		d->begin[s] = s * part;
		d->end[s] = (s + 1) * part + (s == MPQX_TEST);
		d->windows[s] = 1 + (s == MPQX_TEST);
	}
	return d;
}

static void engine(const struct mpqx_model *m, const uint8_t *data, size_t size)
{
	long act = 0;
	for (int i = 0; i < m->n_layers; i++)
		act += (long)m->layers[i].rows * m->layers[i].cols;
	if (act > MAX_ACT || m->macs > MAX_MACS)
		return;
	int bits = MPQX_BITS_MIN + (size ? data[size / 2] : 0) % (MPQX_BITS_MAX - MPQX_BITS_MIN + 1);
	struct mpqx_dataset *d = fake_data(m, data, size);
	struct mpqx_err err = {0};
	struct mpqx_fref *f = NULL;
	struct mpqx_config c = {0};
	struct mpqx_qmodel *q = NULL;
	struct mpqx_ieval *ev = NULL;
	struct mpqx_eval_result r;
	if (fref_run(m, d, true, &f, &err) == MPQX_OK && config_init(&c, m, bits) == MPQX_OK) {
		/* vary the settings per layer as a user would */
		for (int i = 0; i < c.n_layers; i++) {
			uint8_t b = size ? data[(size_t)i * 7 % size] : 0;
			c.layers[i].w_bits = MPQX_BITS_MIN + b % 15;
			c.layers[i].a_bits = MPQX_BITS_MIN + (b >> 4) % 15;
		}
		if (quant_build(m, f, &c, &q, &err) == MPQX_OK && ieval_new(m, d, f, 1, &ev, &err) == MPQX_OK) {
			if (ieval_run(ev, q, &c, true, &r, &err) == MPQX_OK && !(r.windows == 2))
				abort();
			/* an incremental run after a change of the last layer */
			c.layers[c.n_layers - 1].a_bits = bits;
			quant_free(q);
			q = NULL;
			if (quant_build(m, f, &c, &q, &err) == MPQX_OK)
				ieval_run(ev, q, &c, false, &r, &err);
		}
	}
	ieval_free(ev);
	quant_free(q);
	config_fini(&c);
	fref_free(f);
	dataset_free(d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *path = fuzz_write(0, ".json", data, size);
	struct mpqx_model *m = NULL;
	struct mpqx_err err = {0};
	int rc = model_load(path, &m, &err);
	if (rc) {
		if (m || (rc != MPQX_EINPUT && rc != MPQX_ENOMEM && rc != MPQX_EIO))
			abort();
		fuzz_check_msg(err.msg, path);
		return 0;
	}
	/* the accessors on every layer */
	long macs = 0;
	for (int i = 0; i < m->n_layers; i++) {
		macs += model_layer_macs(m, i);
		if (model_find(m, m->layers[i].name) != i)
			abort();
		(void)model_op_name(m->layers[i].op);
	}
	if (macs != m->macs || !isfinite(model_target_unit(m)))
		abort();
	engine(m, data, size);
	model_free(m);
	return 0;
}
