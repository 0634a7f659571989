/* add: the residual sum of two tensors of one shape, each at its own scale (hdl_templates/add.v). */
#include <math.h>
#include <stdio.h>

#include "mpqx/kern.h"
#include "mpqx/op.h"

static int shape(const struct mpqx_model *m, const struct mpqx_layer *l, int *rows, int *cols, char *why,
		 size_t size)
{
	const struct mpqx_layer *a = &m->layers[l->inputs[0]], *b = &m->layers[l->inputs[1]];
	if (a->rows != b->rows || a->cols != b->cols) {
		snprintf(why, size, "inputs '%s' [%d, %d] and '%s' [%d, %d] differ in shape", a->name, a->rows,
			 a->cols, b->name, b->rows, b->cols);
		return 1;
	}
	*rows = a->rows;
	*cols = a->cols;
	return 0;
}

static void fwd(const struct mpqx_op_fwd *c)
{
	const float *b = c->f->act[c->l->inputs[1]];
	int n = c->l->rows * c->l->cols;
	for (int i = 0; i < n; i++)
		c->y[i] = c->x[i] + b[i];
}

/* Bits the smaller multiplier keeps at least before the common shift is raised for it (the rule below). */
#define ADD_MIN_BITS 12

/* Both inputs on a common shift: MA = s_a / s_y and MB = s_b / s_y as integers over 2^n, n from the larger
 * (doc/quantization.md, "add"). When the smaller would keep fewer than ADD_MIN_BITS bits, n is raised by d
 * until the smaller has its own 15 bits (or the bound would pass 62 bits), and the larger multiplier becomes
 * its 15 bits shifted left by d: the hardware multiplies by those and shifts the product (rs[].lsh). */
static int quantize(struct mpqx_op_quant *c)
{
	const struct mpqx_qparam *x = c->x, *xb = c->xb;
	struct mpqx_qlayer *ql = c->ql;
	double M[2] = {x->s / ql->out.s, xb->s / ql->out.s};
	int bits[2] = {x->bits, xb->bits};
	int big = M[1] > M[0], small = !big;
	if (!quant_factor_ok(M[big]))
		return MPQX_OP_EFACTOR;
	struct mpqx_rescale r = quant_multiplier(M[big]);
	int64_t mbig = (int64_t)round(ldexp(M[big], r.n));
	int d = 0;
	if ((int64_t)round(ldexp(M[small], r.n)) < (int64_t)1 << (ADD_MIN_BITS - 1) && quant_factor_ok(M[small])) {
		for (d = quant_multiplier(M[small]).n - r.n; d > 0; d--) {
			int64_t ms = (int64_t)round(ldexp(M[small], r.n + d));
			if (quant_bitlen((uint64_t)mbig) + d + bits[big] <= 61 &&
			    quant_bitlen((uint64_t)ms) + bits[small] <= 61)
				break;
		}
		if (d < 0)
			d = 0;
	}
	ql->rs[big] = (struct mpqx_rescale){.m = mbig << d, .n = r.n + d, .lsh = d};
	ql->rs[small] = (struct mpqx_rescale){.m = (int64_t)round(ldexp(M[small], r.n + d)), .n = r.n + d};
	ql->acc_bound = ql->rs[0].m * quant_span(x->bits) + ql->rs[1].m * quant_span(xb->bits);
	c->n_rs = 2;
	return MPQX_OK;
}

static void ieval(const struct mpqx_op_kernel *k)
{
	const struct mpqx_layer *l = k->l;
	const struct mpqx_qlayer *ql = k->ql;
	const struct mpqx_qparam *px = &k->q->l[l->inputs[0]].out, *pb = &k->q->l[l->inputs[1]].out;
	const int16_t *x = k->in[0], *b = k->in[1];
	int16_t *y = k->y;
	size_t n = k->n;
	int64_t ma = ql->rs[0].m, mb = ql->rs[1].m;
	int sh = ql->rs[0].n;
	if (ql->acc_bits <= 32) {
		int32_t *acc = k->scratch;
		int32_t a32 = (int32_t)ma, b32 = (int32_t)mb;
		for (size_t i = 0; i < n; i++)
			acc[i] = a32 * (x[i] - px->z) + b32 * (b[i] - pb->z);
		*k->clip += kern_requant32(acc, (int)n, 1, sh, ql->out.z, ql->out.bits, y);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		int64_t acc = ma * (x[i] - px->z) + mb * (b[i] - pb->z);
		y[i] = kern_finish(quant_rshift_round(acc, sh), &ql->out, k->clip);
	}
}

/* add.v: one multiplier, MA * a' then MB * b' (each product shifted left by its lsh); the rescale only
 * shifts */
static void hw(const struct mpqx_op_hw *c, struct mpqx_hw_layer *h)
{
	const struct mpqx_qlayer *ql = c->ql;
	int xw = op_imax(c->xb, c->bb) + 1;
	int mx = op_imax(hw_mbits(ql->rs[0].m >> ql->rs[0].lsh), hw_mbits(ql->rs[1].m >> ql->rs[1].lsh)) + 1;
	h->phases = 4;
	h->acc_bits = op_imax(ql->acc_bits, xw + mx);
	h->n_mul = 1;
	h->mul_a = xw;
	h->mul_b = mx;
	h->rescale_in = h->acc_bits;
	h->rescale_m = 1;
}

/* add.v: p, e; pa. A product shifted left by lsh has lsh low zero bits: pa holds them as constants when
 * it is a's, and the sum passes them through either way. */
static void est(const struct mpqx_op_est_in *c, struct mpqx_op_est *e)
{
	const struct mpqx_hw_layer *h = c->h;
	int la = c->ql->rs[0].lsh, lb = c->ql->rs[1].lsh;
	e->cnt = 2;
	e->addr1 = c->yaw;
	e->regs = h->acc_bits - la;
	e->acc = h->acc_bits - la - lb;
	e->mux = h->mul_a + h->mul_b;
	e->in = c->xb + 1 + c->q->l[c->l->inputs[1]].out.bits + 1;
}

/* add.v: the shift alone */
static int est_rescales(const struct mpqx_op_est_in *c, struct mpqx_op_rescale *out)
{
	out[0] = (struct mpqx_op_rescale){c->h->acc_bits, 1, c->ql->rs[0].n};
	return 1;
}

static void bind_tmpl(struct mpqx_op_bind *b)
{
	const struct mpqx_layer *l = b->l;
	const struct mpqx_qlayer *ql = b->ql;
	int64_t ma = ql->rs[0].m >> ql->rs[0].lsh, mb = ql->rs[1].m >> ql->rs[1].lsh;
	int maw = quant_bitlen((uint64_t)ma), mbw = quant_bitlen((uint64_t)mb);
	op_set_i(b, "WORDS", (long long)l->rows * l->cols);
	op_set_i(b, "AB", b->px->bits);
	op_set_i(b, "AZ", b->px->z);
	op_set_i(b, "AAW", hw_src_aw(b->q, b->p0));
	op_set_i(b, "BB", b->pb->bits);
	op_set_i(b, "BZ", b->pb->z);
	op_set_i(b, "BAW", hw_src_aw(b->q, b->p1));
	op_set_u64(b, "MA", ma);
	op_set_i(b, "MAW", maw > 0 ? maw : 1);
	op_set_u64(b, "MB", mb);
	op_set_i(b, "MBW", mbw > 0 ? mbw : 1);
	op_set_i(b, "SHR", ql->rs[0].n);
	op_set_i(b, "ACCW", b->h->acc_bits);
	/* the products as accumulator words, shifted left by lsh (written only when there is a shift) */
	for (int i = 0; i < 2; i++) {
		char v[40];
		if (ql->rs[i].lsh)
			snprintf(v, sizeof v, "(prod_x <<< %d)", ql->rs[i].lsh);
		else
			snprintf(v, sizeof v, "prod_x");
		op_set_s(b, i ? "PB" : "PA", v);
	}
}

const struct mpqx_op_class op_class_ADD = {
	.shape = shape,
	.forward = fwd,
	.quantize = quantize,
	.acc_scaled = true,
	.ieval = ieval,
	.runs = true,
	.has_buf = true,
	.requant = MPQX_OP_RQ_RESCALE,
	.hw = hw,
	.est = est,
	.est_rescales = est_rescales,
	.tmpl = "add.v",
	.tmpl_lib = "rescale",
	.tmpl_flags = MPQX_OP_TMPL_YAW | MPQX_OP_TMPL_YZ,
	.bind = bind_tmpl,
	.in_port = op_port_ab,
};
