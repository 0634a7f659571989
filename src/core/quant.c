/* The integer model of doc/quantization.md: parameters, weights, multipliers, softmax tables. */
#include "mpqx/quant.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "mpqx/op.h"

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
		free(q->l[i].tclamp);
	}
	free(q->l);
	free(q);
}

int quant_weights(const struct mpqx_layer *l, struct mpqx_qlayer *ql, const struct mpqx_qparam *x, int w_bits,
		  int fan_in)
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
	ql->acc_bound = bmax + (int64_t)fan_in * quant_span(x->bits) * quant_span(w_bits);
	return MPQX_OK;
}

/* A rescale factor that the fixed-point multiplier holds without overflow: m below 2^46, shift below 62.
 * Only a degenerate model misses it (float values that overflow or vanish along the graph). */
bool quant_factor_ok(double M)
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
		const struct mpqx_op_class *oc = op_class(l->op);
		if (oc->out_range) {
			double lo, hi;
			oc->out_range(l, &lo, &hi);
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
		struct mpqx_op_quant qc = {m, l, q, ql, cfg, x, xb, 0, 0};
		if (oc->quantize)
			rc = oc->quantize(&qc);
		double M = qc.M;
		if (rc == MPQX_ERANGE) {
			rc = err_set(err, MPQX_ERANGE, "%s: layer '%s': a bias does not fit the integer range", m->path,
				     l->name);
			break;
		}
		if (rc == MPQX_OP_EFACTOR || (rc == MPQX_OK && M != 0 && !quant_factor_ok(M))) {
			rc = err_set(err, MPQX_ERANGE,
				     "%s: layer '%s': its rescale factor is out of range (the float values of the layer "
				     "or its inputs overflow or vanish)", m->path, l->name);
			break;
		}
		if (rc)
			break;
		if (M > 0)
			ql->rs[0] = quant_multiplier(M);
		int nrs = qc.n_rs ? qc.n_rs : M > 0 ? 1 : 0;
		ql->m_bits = 0;
		for (int k = 0; k < nrs; k++) {
			int b = quant_bitlen((uint64_t)ql->rs[k].m);
			ql->m_bits = b > ql->m_bits ? b : ql->m_bits;
		}
		ql->acc_bits = quant_bitlen((uint64_t)ql->acc_bound) + 1;
		int need = quant_bitlen((uint64_t)ql->acc_bound) + (oc->acc_scaled ? 0 : ql->m_bits);
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
