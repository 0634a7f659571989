/* The integer model of doc/quantization.md: parameters, weights, multipliers, softmax tables. */
#include "mpqx/quant.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int quant_bitlen(uint64_t v)
{
	int n = 0;
	while (v) {
		n++;
		v >>= 1;
	}
	return n;
}

static int32_t clampi(int64_t v, int bits, long *clamped)
{
	int64_t lo = quant_qmin(bits), hi = quant_qmax(bits);
	if (v < lo || v > hi) {
		if (clamped)
			(*clamped)++;
		return (int32_t)(v < lo ? lo : hi);
	}
	return (int32_t)v;
}

struct mpqx_qparam quant_param(double lo, double hi, int bits)
{
	struct mpqx_qparam p;
	double l = fmin(lo, 0.0), h = fmax(hi, 0.0);
	p.bits = bits;
	p.s = fmax(h - l, 1e-6) / (double)((1L << bits) - 1);
	p.z = clampi((int64_t)quant_qmin(bits) - (int64_t)round(l / p.s), bits, NULL);
	return p;
}

int32_t quant_value(double x, struct mpqx_qparam p, long *clamped)
{
	double r = round(x / p.s);
	if (r > 1e15)
		r = 1e15;
	if (r < -1e15)
		r = -1e15;
	return clampi((int64_t)r + p.z, p.bits, clamped);
}

struct mpqx_rescale quant_multiplier(double M)
{
	struct mpqx_rescale r;
	int e;
	frexp(M, &e);
	r.n = 15 - e;
	if (r.n < 0)
		r.n = 0;
	r.m = (int64_t)round(ldexp(M, r.n));
	if (r.m == (1 << 15) && r.n > 0) {
		r.m = 1 << 14;
		r.n--;
	}
	return r;
}

void quant_free(struct mpqx_qmodel *q)
{
	if (!q)
		return;
	for (int i = 0; q->l && i < q->n_layers; i++) {
		free(q->l[i].qw);
		free(q->l[i].qb);
		free(q->l[i].qconst);
		free(q->l[i].sm_table);
	}
	free(q->l);
	free(q);
}

/* Internal: a rescale factor out of range (reported with the layer's name below). */
#define MPQX_EINVAL_FACTOR 100

static int64_t span(int bits)
{
	return ((int64_t)1 << bits) - 1;
}

/* Quantizes weights and bias of a linear or affine layer. */
static int weights(const struct mpqx_layer *l, struct mpqx_qlayer *ql, const struct mpqx_qparam *x, int w_bits)
{
	size_t n = (size_t)l->weight.rows * l->weight.cols;
	double lo = INFINITY, hi = -INFINITY;
	for (size_t i = 0; i < n; i++) {
		lo = fmin(lo, l->weight.data[i]);
		hi = fmax(hi, l->weight.data[i]);
	}
	ql->w = quant_param(lo, hi, w_bits);
	ql->qw = malloc(sizeof(int32_t) * n);
	ql->qb = malloc(sizeof(int64_t) * (size_t)l->bias.cols);
	if (!ql->qw || !ql->qb)
		return MPQX_ENOMEM;
	for (size_t i = 0; i < n; i++)
		ql->qw[i] = quant_value(l->weight.data[i], ql->w, NULL);
	double sb = x->s * ql->w.s;
	int64_t bmax = 0;
	for (int o = 0; o < l->bias.cols; o++) {
		double r = round((double)l->bias.data[o] / sb);
		if (fabs(r) > 4e15)
			return MPQX_ERANGE;
		ql->qb[o] = (int64_t)r;
		int64_t a = ql->qb[o] < 0 ? -ql->qb[o] : ql->qb[o];
		bmax = a > bmax ? a : bmax;
	}
	ql->bias_bits = quant_bitlen((uint64_t)bmax) + 1;
	int fan_in = l->op == MPQX_OP_LINEAR ? l->weight.cols : 1;
	ql->acc_bound = bmax + (int64_t)fan_in * span(x->bits) * span(w_bits);
	return MPQX_OK;
}

static int softmax_table(struct mpqx_qlayer *ql, const struct mpqx_qparam *x)
{
	int by = ql->out.bits;
	ql->sm_k = by + 8 < 24 ? by + 8 : 24;
	ql->sm_t = x->bits > 10 ? x->bits - 10 : 0;
	int max_len = 1 << (x->bits - ql->sm_t);
	ql->sm_table = malloc(sizeof(int64_t) * (size_t)max_len);
	if (!ql->sm_table)
		return MPQX_ENOMEM;
	double top = (double)(((int64_t)1 << ql->sm_k) - 1);
	int len = 0;
	for (int i = 0; i < max_len; i++) {
		double arg = x->s * (double)((int64_t)i << ql->sm_t);
		ql->sm_table[i] = (int64_t)round(top * exp(-arg));
		len = i + 1;
		if (ql->sm_table[i] == 0)
			break;
	}
	ql->sm_len = len;
	return MPQX_OK;
}

/* A rescale factor that the fixed-point multiplier holds without overflow: m below 2^46, shift below 62.
 * Only a degenerate model misses it (float values that overflow or vanish along the graph). */
static bool factor_ok(double M)
{
	return isfinite(M) && M >= 0x1p-46 && M < 0x1p46;
}

int quant_build(const struct mpqx_model *m, const struct mpqx_fref *ranges, const struct mpqx_config *c,
		struct mpqx_qmodel **out, struct mpqx_err *err)
{
	*out = NULL;
	struct mpqx_qmodel *q = calloc(1, sizeof *q);
	if (!q || !(q->l = calloc((size_t)m->n_layers, sizeof *q->l))) {
		free(q);
		return err_set(err, MPQX_ENOMEM, "out of memory");
	}
	q->m = m;
	q->n_layers = m->n_layers;
	int rc = MPQX_OK;
	for (int li = 0; li < m->n_layers && !rc; li++) {
		const struct mpqx_layer *l = &m->layers[li];
		struct mpqx_qlayer *ql = &q->l[li];
		const struct mpqx_layer_cfg *cfg = &c->layers[li];
		const struct mpqx_qparam *x = l->n_inputs ? &q->l[l->inputs[0]].out : NULL;
		const struct mpqx_qparam *xb = l->n_inputs > 1 ? &q->l[l->inputs[1]].out : NULL;
		int by = cfg->a_bits;
		if (l->op == MPQX_OP_SOFTMAX) {
			ql->out.bits = by;
			ql->out.s = 1.0 / (double)span(by);
			ql->out.z = quant_qmin(by);
		} else if (l->op == MPQX_OP_CONST) {
			size_t n = (size_t)l->rows * l->cols;
			double lo = INFINITY, hi = -INFINITY;
			for (size_t i = 0; i < n; i++) {
				lo = fmin(lo, l->weight.data[i]);
				hi = fmax(hi, l->weight.data[i]);
			}
			ql->out = quant_param(lo, hi, by);
		} else {
			if (!isfinite(ranges->lo[li]) || !isfinite(ranges->hi[li])) {
				rc = err_set(err, MPQX_ERANGE,
					     "%s: layer '%s': the float model gives no finite range on the calibration "
					     "windows (its values overflow)", m->path, l->name);
				break;
			}
			ql->out = quant_param(ranges->lo[li], ranges->hi[li], by);
		}
		const double sy = ql->out.s;
		double M = 0;
		switch (l->op) {
		case MPQX_OP_INPUT:
			break;
		case MPQX_OP_CONST: {
			size_t n = (size_t)l->rows * l->cols;
			if (!(ql->qconst = malloc(sizeof(int32_t) * n)))
				rc = MPQX_ENOMEM;
			for (size_t i = 0; !rc && i < n; i++)
				ql->qconst[i] = quant_value(l->weight.data[i], ql->out, NULL);
			break;
		}
		case MPQX_OP_LINEAR:
		case MPQX_OP_AFFINE:
			rc = weights(l, ql, x, cfg->w_bits);
			M = (x->s * ql->w.s) / sy;
			break;
		case MPQX_OP_ADD: {
			double Ma = x->s / sy, Mb = xb->s / sy;
			if (!factor_ok(fmax(Ma, Mb))) {
				rc = MPQX_EINVAL_FACTOR;
				break;
			}
			struct mpqx_rescale r = quant_multiplier(fmax(Ma, Mb));
			ql->rs[0] = (struct mpqx_rescale){(int64_t)round(ldexp(Ma, r.n)), r.n};
			ql->rs[1] = (struct mpqx_rescale){(int64_t)round(ldexp(Mb, r.n)), r.n};
			ql->acc_bound = ql->rs[0].m * span(x->bits) + ql->rs[1].m * span(xb->bits);
			break;
		}
		case MPQX_OP_RELU:
		case MPQX_OP_SPLIT:
			M = x->s / sy;
			ql->acc_bound = span(x->bits);
			break;
		case MPQX_OP_AVGPOOL:
			M = x->s / ((double)m->layers[l->inputs[0]].rows * sy);
			ql->acc_bound = (int64_t)m->layers[l->inputs[0]].rows * span(x->bits);
			break;
		case MPQX_OP_MATMUL: {
			const struct mpqx_layer *la = &m->layers[l->inputs[0]];
			int64_t K = l->transpose_b ? la->cols / l->heads : la->cols;
			M = ((l->scale * x->s) * xb->s) / sy;
			ql->acc_bound = K * span(x->bits) * span(xb->bits);
			break;
		}
		case MPQX_OP_SOFTMAX:
			rc = softmax_table(ql, x);
			break;
		case MPQX_OP_CONCAT:
			ql->acc_bound = 0;
			for (int k = 0; k < l->n_inputs; k++) {
				const struct mpqx_qparam *xk = &q->l[l->inputs[k]].out;
				if (!factor_ok(xk->s / sy)) {
					rc = MPQX_EINVAL_FACTOR;
					break;
				}
				ql->rs[k] = quant_multiplier(xk->s / sy);
				if (span(xk->bits) > ql->acc_bound)
					ql->acc_bound = span(xk->bits);
			}
			break;
		case MPQX_OP_COUNT:
			break;
		}
		if (rc == MPQX_ERANGE) {
			rc = err_set(err, MPQX_ERANGE, "%s: layer '%s': a bias does not fit the integer range", m->path,
				     l->name);
			break;
		}
		if (rc == MPQX_EINVAL_FACTOR || (rc == MPQX_OK && M != 0 && !factor_ok(M))) {
			rc = err_set(err, MPQX_ERANGE,
				     "%s: layer '%s': its rescale factor is out of range (the float values of the layer "
				     "or its inputs overflow or vanish)", m->path, l->name);
			break;
		}
		if (rc)
			break;
		if (M > 0)
			ql->rs[0] = quant_multiplier(M);
		int nrs = l->op == MPQX_OP_ADD ? 2 : l->op == MPQX_OP_CONCAT ? l->n_inputs : M > 0 ? 1 : 0;
		ql->m_bits = 0;
		for (int k = 0; k < nrs; k++) {
			int b = quant_bitlen((uint64_t)ql->rs[k].m);
			ql->m_bits = b > ql->m_bits ? b : ql->m_bits;
		}
		ql->acc_bits = quant_bitlen((uint64_t)ql->acc_bound) + 1;
		int need = quant_bitlen((uint64_t)ql->acc_bound) + (l->op == MPQX_OP_ADD ? 0 : ql->m_bits);
		if (need > 62) {
			rc = err_set(err, MPQX_ERANGE,
				     "%s: layer '%s': the rescale needs %d bits (at most 62); lower its bit widths",
				     m->path, l->name, need);
			break;
		}
	}
	if (rc) {
		if (rc == MPQX_ENOMEM)
			err_set(err, rc, "out of memory");
		quant_free(q);
		return rc;
	}
	*out = q;
	return MPQX_OK;
}
