/* The float reference of a model on its data: calibration ranges and the float test-set activations. */
#ifndef MPQX_FREF_H
#define MPQX_FREF_H

#include <stdbool.h>

#include "mpqx/dataset.h"
#include "mpqx/model.h"

/* Calibration ranges are widened by this fraction of their width on each side that is not zero. */
#define MPQX_CALIB_HEADROOM 0.05

struct mpqx_fref {
	int n_layers;
	double *lo, *hi;   /* per layer: float output range over the train and calib windows, with headroom */
	int windows;       /* test windows */
	float **act;       /* per layer [windows * rows * cols] float outputs on the test windows, or NULL */
	float *pred;       /* [windows * out_features] float forecasts */
	double mse, mae;   /* float test-set errors (normalised) */
	double mse_persistence;
};

/* Runs the float model on the calibration windows (ranges) and the test windows (errors, and the
 * per-layer activations when keep_act). Uses both cores. The caller owns *out (fref_free). */
int fref_run(const struct mpqx_model *m, const struct mpqx_dataset *d, bool keep_act, struct mpqx_fref **out,
	     struct mpqx_err *err);

void fref_free(struct mpqx_fref *f);

#endif
