/* relu: max(x, 0), requantized to the layer's own scale (hdl_templates/relu.v). */
#include "mpqx/kern.h"
#include "mpqx/op.h"

static int shape(const struct mpqx_model *m, const struct mpqx_layer *l, int *rows, int *cols, char *why,
		 size_t size)
{
	const struct mpqx_layer *a = &m->layers[l->inputs[0]];
	*rows = a->rows;
	*cols = a->cols;
	return 0;
}

static void fwd(const struct mpqx_op_fwd *c)
{
	int n = c->l->rows * c->l->cols;
	for (int i = 0; i < n; i++)
		c->y[i] = c->x[i] > 0 ? c->x[i] : 0.0f;
}

static int quantize(struct mpqx_op_quant *c)
{
	c->M = c->x->s / c->ql->out.s;
	c->ql->acc_bound = quant_span(c->x->bits);
	return MPQX_OK;
}

static void ieval(const struct mpqx_op_kernel *k)
{
	const struct mpqx_qlayer *ql = k->ql;
	const struct mpqx_qparam *px = &k->q->l[k->l->inputs[0]].out;
	const int16_t *x = k->in[0];
	size_t n = k->n;
	int32_t *acc = k->scratch;
	for (size_t i = 0; i < n; i++)
		acc[i] = x[i] > px->z ? x[i] - px->z : 0;
	*k->clip += kern_requant32(acc, (int)n, ql->rs[0].m, ql->rs[0].n, ql->out.z, ql->out.bits, k->y);
}

/* relu.v: the rescale's constant multiplier */
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

/* relu.v: p, e */
static void est(const struct mpqx_op_est_in *c, struct mpqx_op_est *e)
{
	e->cnt = 2;
	e->addr1 = c->yaw;
	e->in = c->xb + 1;
}

static void bind_tmpl(struct mpqx_op_bind *b)
{
	const struct mpqx_layer *l = b->l;
	op_set_i(b, "WORDS", (long long)l->rows * l->cols);
	op_bind_input_rescale(b);
}

const struct mpqx_op_class op_class_RELU = {
	.shape = shape,
	.forward = fwd,
	.quantize = quantize,
	.ieval = ieval,
	.runs = true,
	.has_buf = true,
	.requant = MPQX_OP_RQ_RESCALE,
	.hw = hw,
	.est = est,
	.tmpl = "relu.v",
	.tmpl_lib = "rescale",
	.tmpl_flags = MPQX_OP_TMPL_YAW | MPQX_OP_TMPL_YZ,
	.bind = bind_tmpl,
};
