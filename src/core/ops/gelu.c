/* gelu through a table indexed by the input code, like the softmax exponent (doc/quantization.md,
 * hdl_templates/gelu.v). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "mpqx/op.h"

static int parse(struct mpqx_attrs *a, struct mpqx_layer *l)
{
	char s[16] = "none";
	int rc = model_attr_str(a, "approximate", false, s, sizeof s);
	if (rc)
		return rc;
	if (strcmp(s, "none") != 0 && strcmp(s, "tanh") != 0)
		return model_attr_bad(a, "approximate", "expected \"none\" or \"tanh\"");
	l->gelu_tanh = strcmp(s, "tanh") == 0;
	return 0;
}

static int shape(const struct mpqx_model *m, const struct mpqx_layer *l, int *rows, int *cols, char *why,
		 size_t size)
{
	const struct mpqx_layer *a = &m->layers[l->inputs[0]];
	*rows = a->rows;
	*cols = a->cols;
	return 0;
}

/* torch's GELU of a double, with the C library's erf or tanh */
static double gelu(double v, bool tanh_form)
{
	if (tanh_form)
		return 0.5 * v * (1.0 + tanh(sqrt(2.0 / 3.14159265358979323846) * (v + 0.044715 * v * v * v)));
	return 0.5 * v * (1.0 + erf(v / sqrt(2.0)));
}

static void fwd(const struct mpqx_op_fwd *c)
{
	int n = c->l->rows * c->l->cols;
	for (int i = 0; i < n; i++)
		c->y[i] = (float)gelu(c->x[i], c->l->gelu_tanh);
}

/* The table T[i] at the middle of each bucket of 2^t input codes, and which entries were clamped. */
static int quantize(struct mpqx_op_quant *c)
{
	struct mpqx_qlayer *ql = c->ql;
	const struct mpqx_qparam *x = c->x, *y = &ql->out;
	int t = x->bits > 10 ? x->bits - 10 : 0;
	int len = 1 << (x->bits - t);
	int64_t h = t > 0 ? (int64_t)1 << (t - 1) : 0;
	ql->sm_t = t;
	ql->sm_len = len;
	ql->sm_table = malloc(sizeof(int64_t) * (size_t)len);
	ql->tclamp = malloc((size_t)len);
	if (!ql->sm_table || !ql->tclamp)
		return MPQX_ENOMEM;
	int64_t lo = quant_qmin(y->bits), hi = quant_qmax(y->bits);
	for (int i = 0; i < len; i++) {
		double v = x->s * (double)(((int64_t)i << t) + h + quant_qmin(x->bits) - x->z);
		double r = round(gelu(v, c->l->gelu_tanh) / y->s);
		r = r > 1e15 ? 1e15 : r < -1e15 ? -1e15 : r;
		int64_t q = (int64_t)r + y->z;
		ql->sm_table[i] = q < lo ? lo : q > hi ? hi : q;
		ql->tclamp[i] = q < lo || q > hi;
	}
	return MPQX_OK;
}

static void ieval(const struct mpqx_op_kernel *k)
{
	const struct mpqx_qlayer *ql = k->ql;
	const struct mpqx_qparam *px = &k->q->l[k->l->inputs[0]].out;
	const int16_t *x = k->in[0];
	int16_t *y = k->y;
	int t = ql->sm_t, lo = quant_qmin(px->bits);
	long clip = 0;
	for (size_t i = 0; i < k->n; i++) {
		int idx = (x[i] - lo) >> t;
		y[i] = (int16_t)ql->sm_table[idx];
		clip += ql->tclamp[idx];
	}
	*k->clip += clip;
}

/* gelu.v: the table ROM read like a one-input ROM; read x, read T, write. */
static void hw(const struct mpqx_op_hw *c, struct mpqx_hw_layer *h)
{
	h->n_roms = 1;
	h->rom[0] = hw_mem(MPQX_HW_TABLE, c->ql->sm_len, c->yb);
	h->phases = 3;
	h->rescale_m = 0;
}

/* gelu.v: the phase p, the element counter e (its step, its compare with the last element and the input
 * address `busy ? e : 0`). The table address is wiring (x with its sign bit inverted, shifted), and the
 * input, table and output widths do not change the module's own logic (doc/estimator.md, "layernorm
 * and gelu"). Yosys (synth_xilinx, 0.23) clears e on start with one LUT shared by its bits up to 7
 * bits, and with a LUT per bit from 8 bits on, except at 10 bits, where it shares it again (530..1023
 * elements; 513 and 1024 still have one per bit). */
static void est(const struct mpqx_op_est_in *c, struct mpqx_op_est *e)
{
	e->cnt = 2;
	e->addr1 = c->yaw;
	e->clr = c->yaw >= 8 && c->yaw != 10 ? c->yaw : 0;
}

static void bind_tmpl(struct mpqx_op_bind *b)
{
	const struct mpqx_layer *l = b->l;
	const struct mpqx_hw_layer *h = b->h;
	op_set_s(b, "TROM", b->rom);
	op_set_i(b, "WORDS", (long long)l->rows * l->cols);
	op_set_i(b, "XB", b->px->bits);
	op_set_i(b, "XAW", hw_src_aw(b->q, b->p0));
	op_set_i(b, "T", b->ql->sm_t);
	op_set_i(b, "TAW", h->rom[0].aw);
	op_set_q(b, "T_INIT", b->rom_file[0]);
}

const struct mpqx_op_class op_class_GELU = {
	.parse = parse,
	.shape = shape,
	.forward = fwd,
	.quantize = quantize,
	.ieval = ieval,
	.runs = true,
	.has_buf = true,
	.has_rom = true,
	.hw = hw,
	.est = est,
	.tmpl = "gelu.v",
	.tmpl_flags = MPQX_OP_TMPL_YAW,
	.bind = bind_tmpl,
};
