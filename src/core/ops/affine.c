/* affine: y[r][c] = w[c] x[r][c] + b[c], a BatchNorm folded per channel (hdl_templates/affine.v). */
#include <stdio.h>

#include "mpqx/kern.h"
#include "mpqx/op.h"

static int parse(struct mpqx_attrs *a, struct mpqx_layer *l)
{
	int rc;
	if ((rc = model_attr_tensor(a, "weight", 1, l->cols, &l->weight)))
		return rc;
	return model_attr_tensor(a, "bias", 1, l->cols, &l->bias);
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
	return (long)l->rows * l->cols;
}

static void fwd(const struct mpqx_op_fwd *c)
{
	const struct mpqx_layer *l = c->l;
	int R = l->rows, C = l->cols;
	for (int r = 0; r < R; r++)
		for (int k = 0; k < C; k++)
			c->y[r * C + k] = (float)((double)l->weight.data[k] * c->x[r * C + k] + l->bias.data[k]);
}

static int quantize(struct mpqx_op_quant *c)
{
	bool ch = c->cfg->w_gran == MPQX_WGRAN_CHANNEL;
	int rc = quant_weights(c->l, c->ql, c->x, c->cfg->w_bits, 1, ch);
	if (rc)
		return rc;
	c->n_rs = ch;
	return quant_weight_rescale(c->ql, c->l->cols, c->x->s, c->ql->out.s, &c->M);
}

static void ieval(const struct mpqx_op_kernel *k)
{
	const struct mpqx_layer *l = k->l;
	const struct mpqx_qlayer *ql = k->ql;
	const struct mpqx_qparam *px = &k->q->l[l->inputs[0]].out;
	const int16_t *x = k->in[0];
	int16_t *y = k->y;
	int R = l->rows, C = l->cols;
	if (ql->wcm) {
		for (int r = 0; r < R; r++)
			for (int c = 0; c < C; c++) {
				int64_t acc = ql->qb[c] + (int64_t)(ql->qw[c] - ql->wcz[c]) * (x[r * C + c] - px->z);
				struct mpqx_rescale rs = {.m = ql->wcm[c], .n = ql->rs[0].n};
				y[r * C + c] = kern_finish(kern_rescale(acc, rs), &ql->out, k->clip);
			}
		return;
	}
	if (ql->acc_bits <= 32) {
		int32_t *acc = k->scratch;
		for (int r = 0; r < R; r++)
			for (int c = 0; c < C; c++)
				acc[r * C + c] = (int32_t)ql->qb[c] + (ql->qw[c] - ql->w.z) * (x[r * C + c] - px->z);
		*k->clip += kern_requant32(acc, R * C, ql->rs[0].m, ql->rs[0].n, ql->out.z, ql->out.bits, y);
		return;
	}
	for (int r = 0; r < R; r++)
		for (int c = 0; c < C; c++) {
			int64_t acc = ql->qb[c] + (int64_t)(ql->qw[c] - ql->w.z) * (x[r * C + c] - px->z);
			y[r * C + c] = kern_finish(kern_rescale(acc, ql->rs[0]), &ql->out, k->clip);
		}
}

/* affine.v: one multiplier for x' * w' and |acc + b| * m */
static void hw(const struct mpqx_op_hw *c, struct mpqx_hw_layer *h)
{
	const struct mpqx_layer *l = c->l;
	int wb = c->ql->w.bits;
	h->n_roms = 2;
	h->rom[0] = hw_mem(MPQX_HW_WEIGHTS, l->cols, wb);
	h->rom[1] = hw_mem(MPQX_HW_BIAS, l->cols, op_imax(2, c->ql->bias_bits));
	if (c->ql->wcw) /* per channel: {z_w, m} per output row */
		h->rom[h->n_roms++] = hw_mem(MPQX_HW_SCALE, l->cols, wb + hw_mbits(c->ql->rs[0].m));
	h->phases = 1 + 3;
	h->acc_bits = op_imax(c->ql->acc_bits, c->xb + wb + 1);
	h->n_mul = 1;
	h->mul_a = h->acc_bits;
	h->mul_b = op_imax(wb + 1, h->rescale_m + 1);
	h->rescale_in = h->acc_bits;
}

/* affine.v: p, c, e; acc, pr, neg */
static void est(const struct mpqx_op_est_in *c, struct mpqx_op_est *e)
{
	e->cnt = 2 + op_clog2(c->l->cols + 1);
	e->addr1 = c->yaw;
	op_est_mac(c, e);
}

static void bind_tmpl(struct mpqx_op_bind *b)
{
	const struct mpqx_layer *l = b->l;
	op_bind_weighted(b);
	op_bind_mac_scale(b);
	op_set_i(b, "R", l->rows);
	op_set_i(b, "C", l->cols);
}

const struct mpqx_op_class op_class_AFFINE = {
	.parse = parse,
	.shape = shape,
	.macs = macs,
	.has_weights = true,
	.forward = fwd,
	.w_channel = true,
	.quantize = quantize,
	.ieval = ieval,
	.runs = true,
	.has_buf = true,
	.has_rom = true,
	.requant = MPQX_OP_RQ_MAC,
	.hw = hw,
	.est = est,
	.tmpl = "affine.v",
	.tmpl_lib = "requant",
	.tmpl_flags = MPQX_OP_TMPL_YAW | MPQX_OP_TMPL_YZ,
	.bind = bind_tmpl,
};
