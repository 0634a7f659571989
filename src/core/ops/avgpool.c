/* avgpool: the mean over time (rows) per column (hdl_templates/avgpool.v). */
#include "mpqx/kern.h"
#include "mpqx/op.h"

static int shape(const struct mpqx_model *m, const struct mpqx_layer *l, int *rows, int *cols, char *why,
		 size_t size)
{
	*rows = 1;
	*cols = m->layers[l->inputs[0]].cols;
	return 0;
}

static void fwd(const struct mpqx_op_fwd *c)
{
	int C = c->l->cols;
	for (int k = 0; k < C; k++) {
		double s = 0;
		for (int r = 0; r < c->lx->rows; r++)
			s += c->x[r * C + k];
		c->y[k] = (float)(s / c->lx->rows);
	}
}

/* The division by the row count folds into the rescale. */
static int quantize(struct mpqx_op_quant *c)
{
	int rows = c->m->layers[c->l->inputs[0]].rows;
	c->M = c->x->s / ((double)rows * c->ql->out.s);
	c->ql->acc_bound = (int64_t)rows * quant_span(c->x->bits);
	return MPQX_OK;
}

static void ieval(const struct mpqx_op_kernel *k)
{
	const struct mpqx_layer *l = k->l;
	const struct mpqx_qlayer *ql = k->ql;
	const struct mpqx_qparam *px = &k->q->l[l->inputs[0]].out;
	const int16_t *x = k->in[0];
	int R = k->m->layers[l->inputs[0]].rows, C = l->cols;
	for (int c = 0; c < C; c++) {
		int64_t acc = 0;
		for (int r = 0; r < R; r++)
			acc += x[r * C + c] - px->z;
		k->y[c] = kern_finish(kern_rescale(acc, ql->rs[0]), &ql->out, k->clip);
	}
}

/* avgpool.v: a sum over the rows, then the rescale's constant multiplier */
static void hw(const struct mpqx_op_hw *c, struct mpqx_hw_layer *h)
{
	h->phases = c->lx->rows + 3;
	h->acc_bits = op_imax(c->ql->acc_bits, c->xb + 1);
	h->rescale_in = h->acc_bits;
	h->n_mul = 1;
	h->mul_const = true;
	h->mul_a = h->rescale_in;
	h->mul_b = h->rescale_m;
}

/* avgpool.v: p, xb, xa, ya; acc */
static void est(const struct mpqx_op_est_in *c, struct mpqx_op_est *e)
{
	e->cnt = op_clog2(c->h->phases);
	e->addr2 = 2 * c->xaw;
	e->addr1 = c->yaw;
	e->regs = c->h->acc_bits;
	e->acc = c->h->acc_bits;
	e->in = c->xb + 1;
}

static void bind_tmpl(struct mpqx_op_bind *b)
{
	op_set_i(b, "RIN", b->m->layers[b->p0].rows);
	op_set_i(b, "C", b->l->cols);
	op_set_i(b, "ACCW", b->h->acc_bits);
	op_bind_input_rescale(b);
}

const struct mpqx_op_class op_class_AVGPOOL = {
	.shape = shape,
	.forward = fwd,
	.quantize = quantize,
	.ieval = ieval,
	.runs = true,
	.has_buf = true,
	.requant = MPQX_OP_RQ_RESCALE,
	.hw = hw,
	.est = est,
	.tmpl = "avgpool.v",
	.tmpl_lib = "rescale",
	.tmpl_flags = MPQX_OP_TMPL_YAW | MPQX_OP_TMPL_YZ,
	.bind = bind_tmpl,
};
