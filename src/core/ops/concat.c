/* concat: the inputs side by side by columns, each rescaled to the output (the heads joined;
 * hdl_templates/concat.v). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mpqx/kern.h"
#include "mpqx/op.h"

static int shape(const struct mpqx_model *m, const struct mpqx_layer *l, int *rows, int *cols, char *why,
		 size_t size)
{
	const struct mpqx_layer *a = &m->layers[l->inputs[0]];
	int er = a->rows, ec = 0;
	for (int i = 0; i < l->n_inputs; i++) {
		const struct mpqx_layer *x = &m->layers[l->inputs[i]];
		if (x->rows != er) {
			snprintf(why, size, "input '%s' has %d rows, '%s' has %d", x->name, x->rows, a->name, a->rows);
			return 1;
		}
		ec += x->cols;
	}
	*rows = er;
	*cols = ec;
	return 0;
}

static void fwd(const struct mpqx_op_fwd *c)
{
	const struct mpqx_model *m = c->f->m;
	const struct mpqx_layer *l = c->l;
	int R = l->rows, C = l->cols, off = 0;
	for (int k = 0; k < l->n_inputs; k++) {
		const struct mpqx_layer *lk = &m->layers[l->inputs[k]];
		const float *xk = c->f->act[l->inputs[k]];
		for (int r = 0; r < R; r++)
			memcpy(c->y + r * C + off, xk + r * lk->cols, sizeof(float) * (size_t)lk->cols);
		off += lk->cols;
	}
}

/* One rescale per input. */
static int quantize(struct mpqx_op_quant *c)
{
	const struct mpqx_layer *l = c->l;
	struct mpqx_qlayer *ql = c->ql;
	int rc = MPQX_OK;
	ql->acc_bound = 0;
	for (int k = 0; k < l->n_inputs; k++) {
		const struct mpqx_qparam *xk = &c->q->l[l->inputs[k]].out;
		if (!quant_factor_ok(xk->s / ql->out.s)) {
			rc = MPQX_OP_EFACTOR;
			break;
		}
		ql->rs[k] = quant_multiplier(xk->s / ql->out.s);
		if (quant_span(xk->bits) > ql->acc_bound)
			ql->acc_bound = quant_span(xk->bits);
	}
	c->n_rs = l->n_inputs;
	return rc;
}

static void ieval(const struct mpqx_op_kernel *k)
{
	const struct mpqx_layer *l = k->l;
	const struct mpqx_qlayer *ql = k->ql;
	int off = 0;
	for (int i = 0; i < l->n_inputs; i++) {
		const struct mpqx_layer *lk = &k->m->layers[l->inputs[i]];
		const int16_t *xk = k->in[i];
		int zk = k->q->l[l->inputs[i]].out.z;
		for (int r = 0; r < l->rows; r++)
			for (int c = 0; c < lk->cols; c++)
				k->y[r * l->cols + off + c] =
					kern_finish(kern_rescale(xk[r * lk->cols + c] - zk, ql->rs[i]), &ql->out, k->clip);
		off += lk->cols;
	}
}

/* concat.v: one constant multiplier per input */
static void hw(const struct mpqx_op_hw *c, struct mpqx_hw_layer *h)
{
	const struct mpqx_layer *l = c->l;
	h->phases = 3;
	h->n_rescale = l->n_inputs;
	for (int k = 0; k < l->n_inputs; k++) {
		int b = c->q->l[l->inputs[k]].out.bits + 1;
		h->rescale_in = op_imax(h->rescale_in, b);
		h->rescale_m = op_imax(h->rescale_m, hw_mbits(c->ql->rs[k].m));
	}
	h->acc_bits = h->rescale_in;
	h->n_mul = l->n_inputs;
	h->mul_const = true;
	h->mul_a = h->rescale_in;
	h->mul_b = h->rescale_m;
}

/* concat.v: p, seg, r, j, xa, yrow, yo, ya */
static void est(const struct mpqx_op_est_in *c, struct mpqx_op_est *e)
{
	const struct mpqx_layer *l = c->l;
	int maw = 0, in = 0;
	for (int i = 0; i < l->n_inputs; i++) {
		maw = op_imax(maw, hw_src_aw(c->q, l->inputs[i]));
		in += c->q->l[l->inputs[i]].out.bits + 1;
	}
	e->cnt = 2 + op_clog2(l->n_inputs + 1) + op_clog2(l->rows + 1) + op_clog2(l->cols + 1);
	e->addr2 = maw + 2 * c->yaw;
	e->addr1 = c->yaw;
	e->in = in;
	e->mux = (double)(l->n_inputs - 1) * c->yb;
}

static int est_rescales(const struct mpqx_op_est_in *c, struct mpqx_op_rescale *out)
{
	const struct mpqx_layer *l = c->l;
	for (int i = 0; i < l->n_inputs; i++)
		out[i] = (struct mpqx_op_rescale){c->q->l[l->inputs[i]].out.bits + 1, c->ql->rs[i].m, c->ql->rs[i].n};
	return l->n_inputs;
}

/* The per-input blocks of the template: ports, rescales, and the multiplexers by segment. */
static void bind_tmpl(struct mpqx_op_bind *b)
{
	const struct mpqx_model *m = b->m;
	const struct mpqx_layer *l = b->l;
	const struct mpqx_qlayer *ql = b->ql;
	int n = l->n_inputs, sgw = op_clog2(n + 1), cw = op_clog2(l->cols + 1), yaw = b->h->buf.aw;
	char *txt[5] = {NULL};
	size_t len[5];
	FILE *f[5];
	bool ok = true;
	for (int i = 0; i < 5; i++)
		ok &= (f[i] = open_memstream(&txt[i], &len[i])) != NULL;
	FILE *ports = f[0], *inputs = f[1], *cols = f[2], *offs = f[3], *sel = f[4];
	int off = 0;
	for (int k = 0; ok && k < n; k++) {
		int p = l->inputs[k], aw = hw_src_aw(b->q, p);
		const struct mpqx_qparam *px = &b->q->l[p].out;
		int ck = m->layers[p].cols;
		int mw = quant_bitlen((uint64_t)ql->rs[k].m);
		fprintf(ports, "output wire [%d:0] x%d_addr,\ninput  wire [%d:0] x%d_data,\n", aw - 1, k, px->bits - 1, k);
		fprintf(inputs,
			"// input %d: '%s', columns %d..%d of the result\n"
			"assign x%d_addr = (busy && seg == %d'd%d) ? xa[%d:0] : %d'd0;\n"
			"wire signed [%d:0] v%d = $signed(x%d_data) - %d;\n"
			"wire [YB-1:0] q%d;\n"
			"%s #(.IW(%d), .MW(%d), .MUL(64'd%" PRId64 "), .SHR(%d), .Z(%d), .OB(YB)) u_rs%d (\n"
			"\t.clk(clk), .en(rs_en && seg == %d'd%d), .v(v%d), .q(q%d));\n",
			k, m->layers[p].name, off, off + ck - 1, k, sgw, k, aw - 1, aw, px->bits, k, k, px->z, k,
			b->rescale, px->bits + 1, mw > 0 ? mw : 1, ql->rs[k].m, ql->rs[k].n, ql->out.z, k, sgw, k, k,
			k);
		if (k < n - 1) {
			fprintf(cols, "(seg == %d'd%d) ? %d'd%d : ", sgw, k, cw, ck - 1);
			fprintf(offs, "(seg == %d'd%d) ? %d'd%d : ", sgw, k, yaw, off + ck);
			fprintf(sel, "(seg == %d'd%d) ? q%d : ", sgw, k, k);
		} else {
			fprintf(cols, "%d'd%d", cw, ck - 1);
			fprintf(offs, "%d'd%d", yaw, 0);
			fprintf(sel, "q%d", k);
		}
		off += ck;
	}
	for (int i = 0; i < 5; i++)
		if (f[i])
			ok &= fclose(f[i]) == 0;
	if (!ok && !b->rc)
		b->rc = err_set(b->err, MPQX_ENOMEM, "out of memory");
	int xaw = 1;
	for (int k = 0; k < n; k++)
		xaw = hw_src_aw(b->q, l->inputs[k]) > xaw ? hw_src_aw(b->q, l->inputs[k]) : xaw;
	op_set_i(b, "R", l->rows);
	op_set_i(b, "C", l->cols);
	op_set_i(b, "NIN", n);
	op_set_i(b, "XAW", xaw);
	op_set_s(b, "PORTS", txt[0] ? txt[0] : "");
	op_set_s(b, "INPUTS", txt[1] ? txt[1] : "");
	op_set_s(b, "COLS_LAST", txt[2] ? txt[2] : "");
	op_set_s(b, "OFF_NEXT", txt[3] ? txt[3] : "");
	op_set_s(b, "SELECT", txt[4] ? txt[4] : "");
	for (int i = 0; i < 5; i++)
		free(txt[i]);
}

static const char *in_port(int k, char *buf, size_t size)
{
	snprintf(buf, size, "x%d", k);
	return buf;
}

const struct mpqx_op_class op_class_CONCAT = {
	.shape = shape,
	.forward = fwd,
	.quantize = quantize,
	.ieval = ieval,
	.runs = true,
	.has_buf = true,
	.requant = MPQX_OP_RQ_RESCALE,
	.hw = hw,
	.est = est,
	.est_rescales = est_rescales,
	.tmpl = "concat.v",
	.tmpl_flags = MPQX_OP_TMPL_YAW,
	.bind = bind_tmpl,
	.in_port = in_port,
};
