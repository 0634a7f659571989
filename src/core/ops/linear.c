/* linear: y[r][o] = bias[o] + sum_i w[o][i] x[r][i], per row of the input (hdl_templates/linear.v). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mpqx/kern.h"
#include "mpqx/op.h"

static int parse(struct mpqx_attrs *a, struct mpqx_layer *l)
{
	int o = 0, i = 0, rc;
	if ((rc = model_attr_shape(a, "weight", &o, &i)))
		return rc;
	if ((rc = model_attr_tensor(a, "weight", o, i, &l->weight)))
		return rc;
	return model_attr_tensor(a, "bias", 1, o, &l->bias);
}

static int shape(const struct mpqx_model *m, const struct mpqx_layer *l, int *rows, int *cols, char *why,
		 size_t size)
{
	const struct mpqx_layer *a = &m->layers[l->inputs[0]];
	if (l->weight.cols != a->cols) {
		snprintf(why, size, "weight has %d inputs but input '%s' has %d columns", l->weight.cols, a->name,
			 a->cols);
		return 1;
	}
	*rows = a->rows;
	*cols = l->weight.rows;
	return 0;
}

static long macs(const struct mpqx_model *m, const struct mpqx_layer *l)
{
	return (long)l->rows * l->cols * l->weight.cols;
}

/* The weights transposed to [in][out], so that the inner loop runs over outputs in unit steps. */
static int fwd_init(struct mpqx_forward *f, int li, size_t *acc, size_t *pack)
{
	const struct mpqx_layer *l = &f->m->layers[li];
	int I = l->weight.cols, O = l->weight.rows;
	if (!(f->wt[li] = malloc(sizeof(float) * (size_t)I * (size_t)O + 1)))
		return MPQX_ENOMEM;
	*acc = 4 * (size_t)O > *acc ? 4 * (size_t)O : *acc; /* four rows of sums */
	for (int o = 0; o < O; o++)
		for (int k = 0; k < I; k++)
			f->wt[li][(size_t)k * O + o] = l->weight.data[(size_t)o * I + k];
	return MPQX_OK;
}

static void fwd(const struct mpqx_op_fwd *c)
{
	/* y[r][o] = bias[o] + sum_i w[o][i] x[r][i], i ascending, in double */
	const struct mpqx_layer *l = c->l;
	int R = l->rows, C = l->cols, I = l->weight.cols;
	const float *x = c->x, *wt = c->f->wt[c->li], *bias = l->bias.data;
	double *acc = c->f->acc;
	float *y = c->y;
	int r = 0;
	/* four rows at a time (forward_init reserves 4 * C sums): each weight row loaded once for four */
	for (; r + 4 <= R; r += 4) {
		for (int k = 0; k < 4; k++)
			for (int o = 0; o < C; o++)
				acc[(size_t)k * C + o] = bias[o];
		for (int i = 0; i < I; i++) {
			double a[4] = {x[r * I + i], x[(r + 1) * I + i], x[(r + 2) * I + i], x[(r + 3) * I + i]};
			forward_axpy4(acc, (size_t)C, a, wt + (size_t)i * C, C);
		}
		for (int k = 0; k < 4; k++)
			for (int o = 0; o < C; o++)
				y[(r + k) * C + o] = (float)acc[(size_t)k * C + o];
	}
	for (; r < R; r++) {
		for (int o = 0; o < C; o++)
			acc[o] = bias[o];
		for (int i = 0; i < I; i++)
			forward_axpy(acc, x[r * I + i], wt + (size_t)i * C, C);
		for (int o = 0; o < C; o++)
			y[r * C + o] = (float)acc[o];
	}
}

static int quantize(struct mpqx_op_quant *c)
{
	bool ch = c->cfg->w_gran == MPQX_WGRAN_CHANNEL;
	int rc = quant_weights(c->l, c->ql, c->x, c->cfg->w_bits, c->l->weight.cols, ch);
	if (rc)
		return rc;
	c->n_rs = ch;
	return quant_weight_rescale(c->ql, c->l->cols, c->x->s, c->ql->out.s, &c->M);
}

/* The centred weights in the width the engine's path needs: int16 pairs with the bias as an int32 row
 * after them, or int32 transposed to [in][out]. */
static int ieval_prepare(const struct mpqx_model *m, const struct mpqx_qmodel *q, int li, int16_t **w16,
			 int32_t **w32)
{
	const struct mpqx_layer *l = &m->layers[li];
	const struct mpqx_qlayer *ql = &q->l[li];
	size_t n = (size_t)l->weight.rows * l->weight.cols;
	if (kern_narrow(q->l[l->inputs[0]].out.bits, ql->w.bits, ql->acc_bits)) {
		int I = l->weight.cols, O = l->weight.rows, Np = kern_pad8(O);
		/* the packed weights, then the bias as an int32 row of Np (it fits: kern_narrow() bounds acc) */
		size_t np = (size_t)((I + 1) / 2) * Np * 2;
		int16_t *wc = malloc(n * sizeof(int16_t));
		*w16 = malloc(np * sizeof(int16_t) + (size_t)Np * sizeof(int32_t));
		if (!wc || !*w16) {
			free(wc);
			return MPQX_ENOMEM;
		}
		for (size_t i = 0; i < n; i++)
			wc[i] = (int16_t)(ql->qw[i] - quant_wz(ql, (int)(i / (size_t)I)));
		kern_pack_pairs(wc, 1, I, 0, I, O, Np, *w16); /* B[i][o] = w'[o][i] */
		free(wc);
		for (int o = 0; o < Np; o++) {
			int32_t b = o < O ? (int32_t)ql->qb[o] : 0;
			memcpy(*w16 + np + 2 * (size_t)o, &b, sizeof b);
		}
	} else {
		if (!(*w32 = malloc(n * sizeof(int32_t))))
			return MPQX_ENOMEM;
		for (int o = 0; o < l->weight.rows; o++)
			for (int i = 0; i < l->weight.cols; i++)
				(*w32)[(size_t)i * l->weight.rows + o] =
					ql->qw[(size_t)o * l->weight.cols + i] - quant_wz(ql, o);
	}
	return MPQX_OK;
}

static void ieval(const struct mpqx_op_kernel *k)
{
	const struct mpqx_layer *l = k->l;
	const struct mpqx_qlayer *ql = k->ql;
	const struct mpqx_qparam *px = &k->q->l[l->inputs[0]].out;
	const int16_t *x = k->in[0];
	int16_t *y = k->y;
	int R = l->rows, O = l->cols, I = l->weight.cols;
	if (k->w16) {
		int Kp = (I + 1) / 2, Np = kern_pad8(O);
		int16_t *xs = k->scratch;
		int32_t *acc = (int32_t *)((int64_t *)k->scratch + (size_t)R * Kp);
		kern_pack_rows(x, I, 1, px->z, R, I, Kp, xs);
		const int32_t *bias = (const int32_t *)(k->w16 + (size_t)Kp * Np * 2);
		for (int r = 0; r < R; r++)
			memcpy(acc + (size_t)r * Np, bias, sizeof *acc * (size_t)Np);
		kern_gemm_pairs(xs, k->w16, R, Kp, Np, acc);
		if (ql->wcm) {
			/* per channel: each output column its own multiplier, the layer's shift */
			for (int r = 0; r < R; r++)
				for (int o = 0; o < O; o++)
					y[(size_t)r * O + o] = kern_finish(
						quant_rshift_round((int64_t)acc[(size_t)r * Np + o] * ql->wcm[o], ql->rs[0].n),
						&ql->out, k->clip);
			return;
		}
		if (Np == O) {
			*k->clip += kern_requant32(acc, R * O, ql->rs[0].m, ql->rs[0].n, ql->out.z, ql->out.bits, y);
			return;
		}
		for (int r = 0; r < R; r++)
			*k->clip += kern_requant32(acc + (size_t)r * Np, O, ql->rs[0].m, ql->rs[0].n, ql->out.z,
						   ql->out.bits, y + (size_t)r * O);
	} else {
		size_t nx = (size_t)R * I;
		int32_t *xs = k->scratch;
		int64_t *acc = (int64_t *)k->scratch + nx;
		kern_centre32(xs, x, nx, px->z);
		for (int r = 0; r < R; r++)
			for (int o = 0; o < O; o++)
				acc[r * O + o] = ql->qb[o];
		kern_gemm32(xs, I, k->w32, O, R, I, O, acc, O);
		if (ql->wcm) {
			for (int r = 0; r < R; r++)
				for (int o = 0; o < O; o++)
					y[(size_t)r * O + o] = kern_finish(quant_rshift_round(acc[r * O + o] * ql->wcm[o], ql->rs[0].n),
									   &ql->out, k->clip);
			return;
		}
		*k->clip += kern_requant64(acc, R * O, ql->rs[0], &ql->out, y);
	}
}

/* linear.v: one multiplier for x' * w' and |acc + b| * m */
static void hw(const struct mpqx_op_hw *c, struct mpqx_hw_layer *h)
{
	const struct mpqx_layer *l = c->l;
	int wb = c->ql->w.bits;
	h->n_roms = 2;
	h->rom[0] = hw_mem(MPQX_HW_WEIGHTS, (long)l->weight.rows * l->weight.cols, wb);
	h->rom[1] = hw_mem(MPQX_HW_BIAS, l->cols, op_imax(2, c->ql->bias_bits));
	if (c->ql->wcw) /* per channel: {z_w, m} per output row */
		h->rom[h->n_roms++] = hw_mem(MPQX_HW_SCALE, l->cols, wb + hw_mbits(c->ql->rs[0].m));
	h->phases = l->weight.cols + 3;
	h->acc_bits = op_imax(c->ql->acc_bits, c->xb + wb + 1);
	h->n_mul = 1;
	h->mul_a = h->acc_bits;
	h->mul_b = op_imax(wb + 1, h->rescale_m + 1);
	h->rescale_in = h->acc_bits;
}

/* linear.v: p, o, xb, xa, wb, wa, ya; acc, pr, neg */
static void est(const struct mpqx_op_est_in *c, struct mpqx_op_est *e)
{
	const struct mpqx_hw_layer *h = c->h;
	/* one output column: o and the weight row base wb stay 0, and synthesis removes them */
	bool one = c->l->cols == 1;
	e->cnt = op_clog2(h->phases) + (one ? 0 : op_clog2(c->l->cols + 1));
	e->addr2 = 2 * c->xaw + (one ? 1 : 2) * h->rom[0].aw;
	e->addr1 = c->yaw;
	op_est_mac(c, e);
}

static void bind_tmpl(struct mpqx_op_bind *b)
{
	const struct mpqx_layer *l = b->l;
	const struct mpqx_hw_layer *h = b->h;
	op_bind_weighted(b);
	op_bind_mac_scale(b);
	op_set_i(b, "R", l->rows);
	op_set_i(b, "I", l->weight.cols);
	op_set_i(b, "O", l->cols);
	op_set_i(b, "BAW", h->rom[1].aw);
}

const struct mpqx_op_class op_class_LINEAR = {
	.parse = parse,
	.shape = shape,
	.macs = macs,
	.has_weights = true,
	.forward_init = fwd_init,
	.forward = fwd,
	.w_channel = true,
	.quantize = quantize,
	.ieval = ieval,
	.ieval_prepare = ieval_prepare,
	.runs = true,
	.has_buf = true,
	.has_rom = true,
	.requant = MPQX_OP_RQ_MAC,
	.hw = hw,
	.est = est,
	.tmpl = "linear.v",
	.tmpl_lib = "requant",
	.tmpl_flags = MPQX_OP_TMPL_YAW | MPQX_OP_TMPL_YZ,
	.bind = bind_tmpl,
};
