/* layernorm over each row: exact integer mean and variance, an integer square root, one division per
 * value, then the affine part with gamma and beta (doc/quantization.md, hdl_templates/layernorm.v). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "mpqx/kern.h"
#include "mpqx/op.h"

static int parse(struct mpqx_attrs *a, struct mpqx_layer *l)
{
	int rc;
	l->eps = 1e-5;
	if ((rc = model_attr_tensor(a, "weight", 1, l->cols, &l->weight)) ||
	    (rc = model_attr_tensor(a, "bias", 1, l->cols, &l->bias)) ||
	    (rc = model_attr_num(a, "eps", false, &l->eps)))
		return rc;
	if (!(l->eps >= 0 && l->eps <= 1))
		return model_attr_bad(a, "eps", "expected a number from 0 to 1");
	return 0;
}

static int shape(const struct mpqx_model *m, const struct mpqx_layer *l, int *rows, int *cols, char *why,
		 size_t size)
{
	const struct mpqx_layer *a = &m->layers[l->inputs[0]];
	if (l->weight.cols != a->cols) {
		snprintf(why, size, "weight has %d channels but input '%s' has %d columns", l->weight.cols, a->name,
			 a->cols);
		return 1;
	}
	*rows = a->rows;
	*cols = a->cols;
	return 0;
}

static long macs(const struct mpqx_model *m, const struct mpqx_layer *l)
{
	return (long)l->rows * l->cols * 2;
}

static void fwd(const struct mpqx_op_fwd *c)
{
	const struct mpqx_layer *l = c->l;
	int R = l->rows, C = l->cols;
	for (int r = 0; r < R; r++) {
		const float *xr = c->x + r * C;
		double s = 0, v = 0;
		for (int k = 0; k < C; k++)
			s += xr[k];
		double mean = s / C;
		for (int k = 0; k < C; k++)
			v += ((double)xr[k] - mean) * ((double)xr[k] - mean);
		double sd = sqrt(v / C + l->eps);
		for (int k = 0; k < C; k++)
			c->y[r * C + k] = (float)(((double)xr[k] - mean) / sd * l->weight.data[k] + l->bias.data[k]);
	}
}

/* dmax = (C - 1) (2^b_x - 1), the largest |d_c|. */
static int64_t ln_dmax(int C, int xb)
{
	return (int64_t)(C - 1) * quant_span(xb);
}

/* F, E, the quantized gamma and beta, the multiplier and the accumulator bound. */
static int quantize(struct mpqx_op_quant *c)
{
	const struct mpqx_layer *l = c->l;
	struct mpqx_qlayer *ql = c->ql;
	int C = l->cols;
	int64_t dmax = ln_dmax(C, c->x->bits);
	/* V = sum d_c^2 must stay below 2^62 (only C in the thousands at 16 bits gets there) */
	if ((double)dmax * (double)dmax * C >= 0x1p62)
		return MPQX_OP_EFACTOR;
	int64_t cap = ((int64_t)1 << 62) - 1 - (int64_t)C * dmax * dmax;
	double e = round((double)C * C * C * l->eps / (c->x->s * c->x->s));
	ql->ln_e = e >= 0x1p62 ? cap : (int64_t)e;
	if (ql->ln_e > cap)
		ql->ln_e = cap;
	ql->ln_f = ql->out.bits + 2 + (quant_bitlen((uint64_t)C) + 1) / 2;
	struct mpqx_qparam n = {.s = sqrt((double)C) / (double)((int64_t)1 << ql->ln_f), .z = 0, .bits = 2};
	int rc = quant_weights(l, ql, &n, c->cfg->w_bits, 1, false);
	if (rc)
		return rc;
	int64_t bmax = 0;
	for (int k = 0; k < C; k++)
		bmax = llabs(ql->qb[k]) > bmax ? llabs(ql->qb[k]) : bmax;
	ql->acc_bound = bmax + ((int64_t)1 << ql->ln_f) * quant_span(c->cfg->w_bits);
	c->M = (n.s * ql->w.s) / ql->out.s;
	return MPQX_OK;
}

/* floor(sqrt(v)) exactly, v < 2^62 */
static int64_t isqrt64(int64_t v)
{
	int64_t r = (int64_t)sqrt((double)v);
	while (r > 0 && r * r > v)
		r--;
	while ((r + 1) * (r + 1) <= v)
		r++;
	return r;
}

static void ieval(const struct mpqx_op_kernel *k)
{
	const struct mpqx_layer *l = k->l;
	const struct mpqx_qlayer *ql = k->ql;
	const struct mpqx_qparam *px = &k->q->l[l->inputs[0]].out;
	const int16_t *x = k->in[0];
	int16_t *y = k->y;
	int R = l->rows, C = l->cols, F = ql->ln_f;
	int64_t *d = k->scratch;
	for (int r = 0; r < R; r++) {
		const int16_t *xr = x + r * C;
		int64_t S = 0, V = 0;
		for (int c = 0; c < C; c++)
			S += xr[c] - px->z;
		for (int c = 0; c < C; c++) {
			d[c] = (int64_t)C * (xr[c] - px->z) - S;
			V += d[c] * d[c];
		}
		int64_t rt = isqrt64(V + ql->ln_e);
		rt = rt > 1 ? rt : 1;
		for (int c = 0; c < C; c++) {
			int64_t a = d[c] < 0 ? -d[c] : d[c];
			int64_t n = ((a << (F + 1)) + rt) / (2 * rt);
			n = d[c] < 0 ? -n : n;
			int64_t acc = ql->qb[c] + (int64_t)(ql->qw[c] - ql->w.z) * n;
			y[r * C + c] = kern_finish(kern_rescale(acc, ql->rs[0]), &ql->out, k->clip);
		}
	}
}

/* Widths of layernorm.v: S (signed), d (signed), V + E, r and the divider. */
static void hw(const struct mpqx_op_hw *c, struct mpqx_hw_layer *h)
{
	const struct mpqx_layer *l = c->l;
	const struct mpqx_qlayer *ql = c->ql;
	int C = l->cols, wb = ql->w.bits, F = ql->ln_f;
	int64_t dmax = ln_dmax(C, c->xb);
	int dw = quant_bitlen((uint64_t)dmax) + 1;
	h->n_roms = 2;
	h->rom[0] = hw_mem(MPQX_HW_WEIGHTS, C, wb);
	h->rom[1] = hw_mem(MPQX_HW_BIAS, C, op_imax(2, ql->bias_bits));
	h->phases = F + 6;
	h->sm_sum = quant_bitlen((uint64_t)C * (uint64_t)quant_span(c->xb)) + 1;
	h->ln_vw = op_imax(1, quant_bitlen((uint64_t)C * (uint64_t)dmax * (uint64_t)dmax + (uint64_t)ql->ln_e));
	h->ln_rw = (h->ln_vw + 1) / 2;
	h->div_num = op_imax(F + 2 + quant_bitlen((uint64_t)dmax), h->ln_rw) + 1;
	h->div_den = h->ln_rw + 1;
	h->div_q = F + 1;
	h->acc_bits = ql->acc_bits;
	h->n_mul = 1;
	h->mul_a = op_imax(op_imax(dw, h->acc_bits), F + 2);
	h->mul_b = op_imax(op_imax(dw, wb + 1), h->rescale_m + 1);
	h->rescale_in = h->acc_bits;
}

/* Per row: the two scans (2C + 1), the square root (one bit per cycle), C elements of F + 6 phases. */
static long cycles(const struct mpqx_layer *l, const struct mpqx_hw_layer *h)
{
	return (long)l->rows * (2L * l->cols + 1 + h->ln_rw + (long)l->cols * h->phases) + 1;
}

/* layernorm.v: scan, p, col, c, u; ya; xa, rb; s, v, res, bq, acc, pr, neg, dneg */
static void est(const struct mpqx_op_est_in *c, struct mpqx_op_est *e)
{
	const struct mpqx_layer *l = c->l;
	const struct mpqx_hw_layer *h = c->h;
	int cw = op_clog2(l->cols + 1);
	int qs = 2 * h->ln_rw + 1;
	int rpw = h->acc_bits - 1 + h->rescale_m;
	e->cnt = 1 + op_clog2(2L * l->cols + h->ln_rw + 1) + 2 * cw + op_clog2(h->phases);
	e->addr1 = c->yaw;
	e->addr2 = 2 * c->xaw;
	e->regs = h->sm_sum + h->ln_vw + 2 * qs + h->acc_bits + rpw + 2;
	e->acc = h->sm_sum + h->ln_vw + qs + h->acc_bits;
	e->prod = rpw;
	e->mux = h->mul_a + h->mul_b;
	e->in = c->xb + 1 + h->sm_sum;
	e->bias = h->rom[1].width;
}

static void bind_tmpl(struct mpqx_op_bind *b)
{
	const struct mpqx_layer *l = b->l;
	const struct mpqx_qlayer *ql = b->ql;
	const struct mpqx_hw_layer *h = b->h;
	op_bind_weighted(b);
	op_set_s(b, "DIV", b->div);
	op_set_i(b, "R", l->rows);
	op_set_i(b, "C", l->cols);
	op_set_i(b, "F", ql->ln_f);
	op_set_i(b, "SW", h->sm_sum);
	op_set_i(b, "DW", quant_bitlen((uint64_t)ln_dmax(l->cols, b->px->bits)) + 1);
	op_set_i(b, "VW", h->ln_vw);
	op_set_i(b, "RW", h->ln_rw);
	op_set_u64(b, "E", ql->ln_e);
	op_set_i(b, "NW", h->div_num);
}

const struct mpqx_op_class op_class_LAYERNORM = {
	.parse = parse,
	.shape = shape,
	.macs = macs,
	.has_weights = true,
	.forward = fwd,
	.quantize = quantize,
	.ieval = ieval,
	.runs = true,
	.has_buf = true,
	.has_rom = true,
	.requant = MPQX_OP_RQ_MAC,
	.divider = true,
	.hw = hw,
	.cycles = cycles,
	.est = est,
	.tmpl = "layernorm.v",
	.tmpl_lib = "requant",
	.tmpl_flags = MPQX_OP_TMPL_YAW | MPQX_OP_TMPL_YZ,
	.bind = bind_tmpl,
};
