/* The float reference forward of the graph, one window at a time. */
#ifndef MPQX_FORWARD_H
#define MPQX_FORWARD_H

#include <stddef.h>

#include "mpqx/model.h"

struct mpqx_forward {
	const struct mpqx_model *m; /* borrowed */
	float **act;                /* per layer, rows*cols floats, owned */
	/* Scratch, owned: linear weights transposed to [in][out] (NULL for other layers), a row of double
	 * sums and a packed matmul operand, so that inner loops run over outputs in unit steps. Each output
	 * still sums its products in the same order as a plain dot product: the same values. */
	float **wt;
	double *acc;
	float *pack;
};

/* Allocates the activation buffers. Returns MPQX_OK or MPQX_ENOMEM. */
int forward_init(struct mpqx_forward *f, const struct mpqx_model *m);
void forward_fini(struct mpqx_forward *f);

/* Runs the graph on one normalised window [window, features]; act[l] hold every layer's output. Sums are
 * accumulated in double and stored as float. Returns the output layer's values. */
const float *forward_run(struct mpqx_forward *f, const float *window);

/* acc[n] += (double)a * b[n]: one more product in each of n independent sums (the op classes' products). */
void forward_axpy(double *restrict acc, double a, const float *restrict b, int n);
/* The same for four rows: acc[k * stride + i] += (double)a[k] * b[i], k < 4 (the same values as four
 * forward_axpy calls). */
void forward_axpy4(double *restrict acc, size_t stride, const double *a, const float *restrict b, int n);

#endif
