/* The model's data: CSV rows, normalised, cut into windows of the train / calib / test parts. */
#ifndef MPQX_DATASET_H
#define MPQX_DATASET_H

#include "mpqx/model.h"

enum mpqx_split { MPQX_TRAIN, MPQX_CALIB, MPQX_TEST, MPQX_SPLITS };

struct mpqx_dataset {
	int n_rows, features;
	float *x;      /* normalised inputs [n_rows, features], row-major */
	float *y;      /* normalised target per row */
	double *raw_y; /* target in its own unit per row */
	int begin[MPQX_SPLITS], end[MPQX_SPLITS]; /* row range of each part */
	int windows[MPQX_SPLITS];                  /* number of windows in each part */
	int window, horizon;
};

/* Reads the model's CSV (m->data.csv), normalises it with the model's statistics and cuts the parts.
 * The caller owns *out (dataset_free). Errors name the CSV file and line. */
int dataset_load(const struct mpqx_model *m, struct mpqx_dataset **out, struct mpqx_err *err);

void dataset_free(struct mpqx_dataset *d);

/* The i-th window of a part: [window, features] normalised, contiguous, owned by d. */
const float *dataset_window(const struct mpqx_dataset *d, enum mpqx_split s, int i);

/* Normalised target of the i-th window of a part. */
float dataset_target(const struct mpqx_dataset *d, enum mpqx_split s, int i);

/* Persistence forecast of the i-th window: the last observed target value (normalised). */
float dataset_persistence(const struct mpqx_dataset *d, enum mpqx_split s, int i);

/* Fits the normalisation on the train rows of raw CSV data, as the exporter does, for checking the
 * statistics stored in the model: fills norm[c] for each input column and *target. */
int dataset_fit_norm(const struct mpqx_model *m, struct mpqx_norm *norm, struct mpqx_norm *target,
		     struct mpqx_err *err);

#endif
