/* The integer model of doc/quantization.md: parameters, weights, multipliers, softmax tables. */
#include "mpqx/quant.h"

#include <math.h>
#include <stdatomic.h>
#include <stddef.h>
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

/* Quantized weights are shared between integer models built from one another (quant_build_from) and
 * freed with their last user: a reference count before the values. */
struct qw_block {
	atomic_int refs;
	int pad;
	int32_t v[];
};

static int32_t *qw_new(size_t n)
{
	struct qw_block *b = malloc(sizeof *b + sizeof(int32_t) * (n ? n : 1));
	if (!b)
		return NULL;
	atomic_init(&b->refs, 1);
	return b->v;
}

static struct qw_block *qw_block_of(int32_t *qw)
{
	return (struct qw_block *)(void *)((char *)qw - offsetof(struct qw_block, v));
}

static int32_t *qw_share(int32_t *qw)
{
	atomic_fetch_add(&qw_block_of(qw)->refs, 1);
	return qw;
}

static void qw_release(int32_t *qw)
{
	if (qw && atomic_fetch_sub(&qw_block_of(qw)->refs, 1) == 1)
		free(qw_block_of(qw));
}

void quant_layer_free(struct mpqx_qlayer *ql)
{
	qw_release(ql->qw);
	free(ql->qb);
	free(ql->wcs);
	free(ql->wcz);
	free(ql->wcm);
	free(ql->wcw);
	free(ql->qconst);
	free(ql->sm_table);
	free(ql->tclamp);
}

void quant_free(struct mpqx_qmodel *q)
{
	if (!q)
		return;
	for (int i = 0; q->l && i < q->n_layers; i++)
		quant_layer_free(&q->l[i]);
	free(q->l);
	free(q);
}

int quant_weights(const struct mpqx_layer *l, struct mpqx_qlayer *ql, const struct mpqx_qparam *x, int w_bits,
		  int fan_in, bool channel)
{
	size_t n = (size_t)l->weight.rows * l->weight.cols;
	int n_ch = l->bias.cols;
	size_t per = n / (size_t)n_ch;
	/* The same layer of an earlier build (quant_build_from) gives the weights' range, and its quantized
	 * weights when they have the same parameters: per tensor, q_w depends on the weights and ql->w only
	 * (per channel they are always requantized). */
	const struct mpqx_qlayer *re = ql->reuse;
	double lo = INFINITY, hi = -INFINITY;
	if (re && re->w_range) {
		lo = re->w_lo;
		hi = re->w_hi;
	} else {
		for (size_t i = 0; i < n; i++) {
			lo = fmin(lo, l->weight.data[i]);
			hi = fmax(hi, l->weight.data[i]);
		}
	}
	ql->w_lo = lo;
	ql->w_hi = hi;
	ql->w_range = true;
	ql->w = quant_param(lo, hi, w_bits);
	bool same = !channel && re && re->qw && !re->wcs && re->w.bits == ql->w.bits && re->w.s == ql->w.s &&
		    re->w.z == ql->w.z;
	ql->qw = same ? qw_share(re->qw) : qw_new(n);
	ql->qb = malloc(sizeof(int64_t) * (size_t)n_ch);
	if (!ql->qw || !ql->qb)
		return MPQX_ENOMEM;
	if (channel) {
		ql->wcs = malloc(sizeof(double) * (size_t)n_ch);
		ql->wcz = malloc(sizeof(int32_t) * (size_t)n_ch);
		ql->wcm = malloc(sizeof(int64_t) * (size_t)n_ch);
		ql->wcw = malloc(sizeof(int64_t) * (size_t)n_ch);
		if (!ql->wcs || !ql->wcz || !ql->wcm || !ql->wcw)
			return MPQX_ENOMEM;
		/* Each row's own range, its span at least 1/64 of the tensor's (doc/quantization.md). */
		double floor_span = fmax(fmax(hi, 0.0) - fmin(lo, 0.0), 1e-6) / 64;
		for (int o = 0; o < n_ch; o++) {
			const float *w = l->weight.data + (size_t)o * per;
			double rl = 0.0, rh = 0.0;
			for (size_t i = 0; i < per; i++) {
				rl = fmin(rl, w[i]);
				rh = fmax(rh, w[i]);
			}
			struct mpqx_qparam p = quant_param(rl, rl + fmax(rh - rl, floor_span), w_bits);
			ql->wcs[o] = p.s;
			ql->wcz[o] = p.z;
			for (size_t i = 0; i < per; i++)
				ql->qw[(size_t)o * per + i] = quant_value(w[i], p, NULL);
		}
	} else {
		for (size_t i = 0; !same && i < n; i++)
			ql->qw[i] = quant_value(l->weight.data[i], ql->w, NULL);
	}
	int64_t bmax = 0;
	for (int o = 0; o < n_ch; o++) {
		double sb = x->s * (channel ? ql->wcs[o] : ql->w.s);
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

int quant_weight_rescale(struct mpqx_qlayer *ql, int n_ch, double sx, double sy, double *M)
{
	if (!ql->wcs) {
		*M = (sx * ql->w.s) / sy;
		return MPQX_OK;
	}
	*M = 0;
	double mx = 0;
	for (int o = 0; o < n_ch; o++)
		mx = fmax(mx, (sx * ql->wcs[o]) / sy);
	if (!quant_factor_ok(mx))
		return MPQX_OP_EFACTOR;
	ql->rs[0] = quant_multiplier(mx);
	int mw = quant_bitlen((uint64_t)ql->rs[0].m);
	uint64_t zmask = ((uint64_t)1 << ql->w.bits) - 1;
	for (int o = 0; o < n_ch; o++) {
		ql->wcm[o] = (int64_t)round(ldexp((sx * ql->wcs[o]) / sy, ql->rs[0].n));
		ql->wcw[o] = (int64_t)((((uint64_t)ql->wcz[o] & zmask) << mw) | (uint64_t)ql->wcm[o]);
	}
	return MPQX_OK;
}

/* A rescale factor that the fixed-point multiplier holds without overflow: m below 2^46, shift below 62.
 * Only a degenerate model misses it (float values that overflow or vanish along the graph). */
bool quant_factor_ok(double M)
{
	return isfinite(M) && M >= 0x1p-46 && M < 0x1p46;
}

int quant_vbits(const struct mpqx_qparam *p)
{
	return p->fc ? quant_bitlen((uint64_t)quant_fc_max(p->fc, p->bits)) : p->bits;
}

int quant_softmax_fc(const struct mpqx_model *m, int li, int bits)
{
	const struct mpqx_layer *l = &m->layers[li];
	return l->op == MPQX_OP_SOFTMAX && l->to_matmul && bits >= MPQX_FC_MIN && bits <= MPQX_FC_MAX ? MPQX_FC_BITS : 0;
}

int64_t quant_softmax_n(double p, int64_t top, int C)
{
	if (!(p > 0) || !isfinite(p))
		return top;
	double n = floor((double)top / p);
	if (n < (double)top)
		return top;
	if (n > (double)top * C)
		return top * C;
	return (int64_t)n;
}

/* Percentile method: the smallest range of whole bins that leaves at most floor(n / 1000) values out on
 * each side (the 0.1th and 99.9th percentiles, to a bin). */
static void calib_percentile(const uint64_t *h, double *lo, double *hi)
{
	uint64_t n = 0;
	for (int i = 0; i < MPQX_CALIB_BINS; i++)
		n += h[i];
	uint64_t t = n / 1000, out = 0;
	int a = 0, b = MPQX_CALIB_BINS - 1;
	while (a < MPQX_CALIB_BINS - 1 && out + h[a] <= t)
		out += h[a++];
	out = 0;
	while (b > a && out + h[b] <= t)
		out += h[b--];
	double w = (*hi - *lo) / MPQX_CALIB_BINS, l = *lo;
	if (a > 0)
		*lo = l + a * w;
	if (b < MPQX_CALIB_BINS - 1)
		*hi = l + (b + 1) * w;
}

/* MSE method: of the ranges alpha * [min(lo, 0), max(hi, 0)], alpha = 1/100 .. 100/100, the one whose
 * bits-wide quantization of the bin centres, weighted by their counts, has the least squared error (the
 * first on ties). */
static void calib_mse(const uint64_t *h, int bits, double *lo, double *hi)
{
	double w = (*hi - *lo) / MPQX_CALIB_BINS, l0 = fmin(*lo, 0.0), h0 = fmax(*hi, 0.0);
	double best = INFINITY, bl = l0, bh = h0;
	for (int a = 1; a <= 100; a++) {
		double la = l0 * a / 100.0, ha = h0 * a / 100.0;
		struct mpqx_qparam p = quant_param(la, ha, bits);
		double e = 0;
		for (int i = 0; i < MPQX_CALIB_BINS; i++) {
			if (!h[i])
				continue;
			double c = *lo + (i + 0.5) * w;
			double d = c - p.s * (double)(quant_value(c, p, NULL) - p.z);
			e += (double)h[i] * d * d;
		}
		if (e < best) {
			best = e;
			bl = la;
			bh = ha;
		}
	}
	*lo = bl;
	*hi = bh;
}

void quant_range(const struct mpqx_model *m, const struct mpqx_fref *f, int li, const struct mpqx_layer_cfg *cfg,
		 double *lo, double *hi)
{
	const struct mpqx_layer *l = &m->layers[li];
	const struct mpqx_op_class *oc = op_class(l->op);
	if (oc->out_range) {
		oc->out_range(l, lo, hi);
		return;
	}
	/* A fine-tuned model's fixed range replaces the calibration as it is: the model was trained with it
	 * (doc/model-format.md, "Fixed ranges"). */
	if (l->fixed_range) {
		*lo = l->fixed_lo;
		*hi = l->fixed_hi;
		return;
	}
	*lo = f->lo[li];
	*hi = f->hi[li];
	if (oc->calib_peak) {
		*lo = 0;
		return;
	}
	if (f->hist && f->hist[li] && isfinite(*lo) && isfinite(*hi) && *hi > *lo) {
		if (cfg->calib == MPQX_CALIB_PERCENTILE)
			calib_percentile(f->hist[li], lo, hi);
		else if (cfg->calib == MPQX_CALIB_MSE)
			calib_mse(f->hist[li], cfg->a_bits, lo, hi);
	}
	/* Headroom for test data beyond the calibration data: without it, a forecast colder than any
	 * training day clamps even at 16 bits. A bound at zero stays at zero. */
	double w = *hi - *lo;
	if (*lo < 0)
		*lo -= MPQX_CALIB_HEADROOM * w;
	if (*hi > 0)
		*hi += MPQX_CALIB_HEADROOM * w;
}

struct mpqx_qparam quant_out(const struct mpqx_model *m, const struct mpqx_fref *f, int li,
			     const struct mpqx_layer_cfg *cfg, double *lo, double *hi)
{
	const struct mpqx_layer *l = &m->layers[li];
	quant_range(m, f, li, cfg, lo, hi);
	if (f->fixed && f->fixed[li].bits > 0)
		return f->fixed[li];
	if (!op_class(l->op)->calib_peak)
		return quant_param(*lo, *hi, cfg->a_bits);
	int fc = quant_softmax_fc(m, li, cfg->a_bits);
	int64_t top = fc ? quant_fc_max(fc, cfg->a_bits) : quant_span(cfg->a_bits);
	struct mpqx_qparam p = {1.0 / (double)quant_softmax_n(*hi, top, l->cols), fc ? 0 : quant_qmin(cfg->a_bits),
				cfg->a_bits, fc};
	return p;
}

int quant_build(const struct mpqx_model *m, const struct mpqx_fref *ranges, const struct mpqx_config *c,
		struct mpqx_qmodel **out, struct mpqx_err *err)
{
	return quant_build_from(m, ranges, c, NULL, out, err);
}

int quant_build_from(const struct mpqx_model *m, const struct mpqx_fref *ranges, const struct mpqx_config *c,
		     const struct mpqx_qmodel *prev, struct mpqx_qmodel **out, struct mpqx_err *err)
{
	if (prev && (prev->m != m || prev->n_layers != m->n_layers))
		prev = NULL;
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
		const struct mpqx_op_class *oc = op_class(l->op);
		ql->out = quant_out(m, ranges, li, cfg, &ql->lo, &ql->hi);
		if (!isfinite(ql->lo) || !isfinite(ql->hi)) {
			rc = err_set(err, MPQX_ERANGE,
				     "%s: layer '%s': the float model gives no finite range on the calibration "
				     "windows (its values overflow)", m->path, l->name);
			break;
		}
		struct mpqx_op_quant qc = {m, l, q, ql, cfg, x, xb, 0, 0};
		ql->reuse = prev ? &prev->l[li] : NULL;
		if (oc->quantize)
			rc = oc->quantize(&qc);
		ql->reuse = NULL;
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
