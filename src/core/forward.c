#include "mpqx/forward.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "mpqx/op.h"

int forward_init(struct mpqx_forward *f, const struct mpqx_model *m)
{
	f->m = m;
	f->wt = NULL;
	f->acc = NULL;
	f->pack = NULL;
	f->act = calloc((size_t)m->n_layers, sizeof *f->act);
	f->wt = calloc((size_t)m->n_layers, sizeof *f->wt);
	if (!f->act || !f->wt) {
		forward_fini(f);
		return MPQX_ENOMEM;
	}
	size_t acc = 1, pack = 1;
	for (int i = 0; i < m->n_layers; i++) {
		const struct mpqx_layer *l = &m->layers[i];
		f->act[i] = malloc(sizeof(float) * (size_t)l->rows * (size_t)l->cols);
		if (!f->act[i]) {
			forward_fini(f);
			return MPQX_ENOMEM;
		}
		acc = (size_t)l->cols > acc ? (size_t)l->cols : acc;
		const struct mpqx_op_class *oc = op_class(l->op);
		if (oc->forward_init && oc->forward_init(f, i, &acc, &pack)) {
			forward_fini(f);
			return MPQX_ENOMEM;
		}
	}
	f->acc = malloc(sizeof(double) * acc);
	f->pack = malloc(sizeof(float) * pack);
	if (!f->acc || !f->pack) {
		forward_fini(f);
		return MPQX_ENOMEM;
	}
	return MPQX_OK;
}

void forward_fini(struct mpqx_forward *f)
{
	if (f->m)
		for (int i = 0; i < f->m->n_layers; i++) {
			if (f->act)
				free(f->act[i]);
			if (f->wt)
				free(f->wt[i]);
		}
	free(f->act);
	free(f->wt);
	free(f->acc);
	free(f->pack);
	f->act = NULL;
	f->wt = NULL;
	f->acc = NULL;
	f->pack = NULL;
}

#if defined(__GNUC__) && defined(__x86_64__) && !defined(__clang__) && defined(__OPTIMIZE__)
#define MULTI __attribute__((target_clones("avx2", "default")))
#else
#define MULTI
#endif

/* acc[n] += (double)a * b[n]: one more product in each of n independent sums (exact products of floats,
 * so contracting into a fused multiply-add would not change a bit). */
MULTI void forward_axpy(double *restrict acc, double a, const float *restrict b, int n)
{
	for (int i = 0; i < n; i++)
		acc[i] += a * (double)b[i];
}

/* forward_axpy on four rows at once: acc_k[n] += (double)a[k] * b[n] for k < 4, acc_k = acc + k * stride.
 * Each load of b serves four sums (the same products, in the same order per sum, as four forward_axpy). */
MULTI void forward_axpy4(double *restrict acc, size_t stride, const double *a, const float *restrict b, int n)
{
	double *restrict c0 = acc, *restrict c1 = acc + stride, *restrict c2 = acc + 2 * stride,
			 *restrict c3 = acc + 3 * stride;
	double a0 = a[0], a1 = a[1], a2 = a[2], a3 = a[3];
	for (int i = 0; i < n; i++) {
		double v = (double)b[i];
		c0[i] += a0 * v;
		c1[i] += a1 * v;
		c2[i] += a2 * v;
		c3[i] += a3 * v;
	}
}

const float *forward_run(struct mpqx_forward *f, const float *window)
{
	const struct mpqx_model *m = f->m;
	for (int li = 0; li < m->n_layers; li++) {
		const struct mpqx_layer *l = &m->layers[li];
		float *y = f->act[li];
		const float *x = l->n_inputs ? f->act[l->inputs[0]] : NULL;
		const struct mpqx_layer *lx = l->n_inputs ? &m->layers[l->inputs[0]] : NULL;
		struct mpqx_op_fwd c = {f, li, l, x, lx, window, y};
		op_class(l->op)->forward(&c);
	}
	return f->act[m->output];
}
