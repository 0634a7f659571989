/* The float reference of a model on its data: calibration ranges and the float test-set activations. */
#ifndef MPQX_FREF_H
#define MPQX_FREF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mpqx/dataset.h"
#include "mpqx/model.h"

struct mpqx_qparam;

/* Calibration ranges are widened by this fraction of their width on each side that is not zero
 * (quant_range). */
#define MPQX_CALIB_HEADROOM 0.05
/* Bins of the per-layer histogram of the calibration values, over [lo, hi] of the layer. */
#define MPQX_CALIB_BINS 2048

/* Default memory budget, in MiB, of an evaluation's per-window caches: the float test-set activations
 * kept here and the int16 layer outputs kept by ieval. The environment variable MPQX_EVAL_MEMORY_MB
 * overrides it. Over the budget, nothing is cached per window and the evaluation streams the windows. */
#define MPQX_EVAL_MEMORY_MB 1024

struct mpqx_fref {
	int n_layers;
	double *lo, *hi;   /* per layer: float output min/max over the train and calib windows (quant_range
			    * widens them) */
	uint64_t **hist;   /* per layer [MPQX_CALIB_BINS]: counts of the calibration values (quant_range) */
	int windows;       /* test windows */
	float **act;       /* per layer [windows * rows * cols] float outputs on the test windows, or NULL */
	float *pred;       /* [windows * out_features] float forecasts */
	double mse, mae;   /* float test-set errors (normalised) */
	double mse_persistence;
	/* Per layer, or NULL: output parameters given as they are (bits > 0), bypassing quant_range. The
	 * search's one-layer sub-models set them for the stand-ins of a layer's producers. Not owned. */
	const struct mpqx_qparam *fixed;
	bool act_wanted;   /* keep_act was asked: act NULL then means the caches exceed the memory budget, and
			    * users recompute the activations window by window (forward_run) */
};

/* Runs the float model on the calibration windows (ranges) and the test windows (errors, and the
 * per-layer activations when keep_act). Uses both cores. The caller owns *out (fref_free). */
int fref_run(const struct mpqx_model *m, const struct mpqx_dataset *d, bool keep_act, struct mpqx_fref **out,
	     struct mpqx_err *err);

/* As fref_run, with the memory budget in bytes: the activations are kept only when keep_act and
 * fref_cache_bytes(m, test windows) <= budget. fref_run uses fref_memory_budget(). */
int fref_run_budget(const struct mpqx_model *m, const struct mpqx_dataset *d, bool keep_act, size_t budget,
		    struct mpqx_fref **out, struct mpqx_err *err);

void fref_free(struct mpqx_fref *f);

/* The budget in bytes: MPQX_EVAL_MEMORY_MB from the environment when it is a positive whole number of MiB,
 * else the default above. */
size_t fref_memory_budget(void);

/* Bytes that caching every layer's outputs for `windows` windows takes: float activations plus int16
 * integer outputs (SIZE_MAX when that does not fit a size_t). */
size_t fref_cache_bytes(const struct mpqx_model *m, int windows);

/* The float model's test-set errors alone (no calibration ranges, no activations) over both cores, summed
 * in window order: the figures do not depend on the number of threads. Returns MPQX_OK or MPQX_ENOMEM. */
int fref_test(const struct mpqx_model *m, const struct mpqx_dataset *d, double *mse, double *mae,
	      double *mse_persistence, struct mpqx_err *err);

#endif
