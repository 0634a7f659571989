/* split: columns offset .. offset + width - 1 of the input (one attention head; hdl_templates/split.v). */
#include <stdio.h>
#include <string.h>

#include "mpqx/kern.h"
#include "mpqx/op.h"

static int parse(struct mpqx_attrs *a, struct mpqx_layer *l)
{
	int rc;
	if ((rc = model_attr_int(a, "offset", true, 0, MPQX_MAX_DIM, &l->offset)))
		return rc;
	return model_attr_int(a, "width", true, 1, MPQX_MAX_DIM, &l->width);
}

static int shape(const struct mpqx_model *m, const struct mpqx_layer *l, int *rows, int *cols, char *why,
		 size_t size)
{
	const struct mpqx_layer *a = &m->layers[l->inputs[0]];
	if (l->offset + l->width > a->cols) {
		snprintf(why, size, "columns %d..%d are outside input '%s' with %d columns", l->offset,
			 l->offset + l->width - 1, a->name, a->cols);
		return 1;
	}
	*rows = a->rows;
	*cols = l->width;
	return 0;
}

static void fwd(const struct mpqx_op_fwd *c)
{
	int R = c->l->rows, C = c->l->cols;
	for (int r = 0; r < R; r++)
		memcpy(c->y + r * C, c->x + r * c->lx->cols + c->l->offset, sizeof(float) * (size_t)C);
}

static int quantize(struct mpqx_op_quant *c)
{
	c->M = c->x->s / c->ql->out.s;
	c->ql->acc_bound = quant_span(c->x->bits);
	return MPQX_OK;
}

static void ieval(const struct mpqx_op_kernel *k)
{
	const struct mpqx_layer *l = k->l;
	const struct mpqx_qlayer *ql = k->ql;
	const struct mpqx_qparam *px = &k->q->l[l->inputs[0]].out;
	const int16_t *x = k->in[0];
	int XC = k->m->layers[l->inputs[0]].cols;
	for (int r = 0; r < l->rows; r++)
		for (int c = 0; c < l->cols; c++)
			k->y[r * l->cols + c] =
				kern_finish(kern_rescale(x[r * XC + l->offset + c] - px->z, ql->rs[0]), &ql->out, k->clip);
}

/* split.v: the rescale's constant multiplier */
static void hw(const struct mpqx_op_hw *c, struct mpqx_hw_layer *h)
{
	h->phases = 3;
	h->acc_bits = c->xb + 1;
	h->rescale_in = c->xb + 1;
	h->n_mul = 1;
	h->mul_const = true;
	h->mul_a = h->rescale_in;
	h->mul_b = h->rescale_m;
}

/* split.v: p, c, xb, xa, ya */
static void est(const struct mpqx_op_est_in *c, struct mpqx_op_est *e)
{
	e->cnt = 2 + op_clog2(c->l->cols + 1);
	e->addr2 = 2 * c->xaw;
	e->addr1 = c->yaw;
	e->in = c->xb + 1;
}

static void bind_tmpl(struct mpqx_op_bind *b)
{
	const struct mpqx_layer *l = b->l;
	op_set_i(b, "R", l->rows);
	op_set_i(b, "W", l->cols);
	op_set_i(b, "XC", b->m->layers[b->p0].cols);
	op_set_i(b, "OFFSET", l->offset);
	op_bind_input_rescale(b);
}

const struct mpqx_op_class op_class_SPLIT = {
	.parse = parse,
	.shape = shape,
	.forward = fwd,
	.quantize = quantize,
	.ieval = ieval,
	.runs = true,
	.has_buf = true,
	.requant = MPQX_OP_RQ_RESCALE,
	.hw = hw,
	.est = est,
	.tmpl = "split.v",
	.tmpl_lib = "rescale",
	.tmpl_flags = MPQX_OP_TMPL_YAW | MPQX_OP_TMPL_YZ,
	.bind = bind_tmpl,
};
