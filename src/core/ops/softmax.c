/* softmax over each row: an exp lookup table and an integer divider (hdl_templates/softmax.v). */
#include <math.h>
#include <stdlib.h>

#include "mpqx/estimate.h"
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
	int R = c->l->rows, C = c->l->cols;
	for (int r = 0; r < R; r++) {
		const float *xr = c->x + r * C;
		float mx = xr[0];
		for (int k = 1; k < C; k++)
			mx = fmaxf(mx, xr[k]);
		double s = 0;
		for (int k = 0; k < C; k++)
			s += exp((double)xr[k] - mx);
		for (int k = 0; k < C; k++)
			c->y[r * C + k] = (float)(exp((double)xr[k] - mx) / s);
	}
}

/* The exp table: round((2^k - 1) exp(-s_x i 2^t)) until it reaches 0. */
static int quantize(struct mpqx_op_quant *c)
{
	struct mpqx_qlayer *ql = c->ql;
	const struct mpqx_qparam *x = c->x;
	int by = ql->out.bits;
	ql->sm_k = by + 8 < 24 ? by + 8 : 24;
	ql->sm_t = x->bits > 10 ? x->bits - 10 : 0;
	int max_len = 1 << (x->bits - ql->sm_t);
	ql->sm_table = malloc(sizeof(int64_t) * (size_t)max_len);
	if (!ql->sm_table)
		return MPQX_ENOMEM;
	double top = (double)(((int64_t)1 << ql->sm_k) - 1);
	int len = 0;
	for (int i = 0; i < max_len; i++) {
		double arg = x->s * (double)((int64_t)i << ql->sm_t);
		ql->sm_table[i] = (int64_t)round(top * exp(-arg));
		len = i + 1;
		if (ql->sm_table[i] == 0)
			break;
	}
	ql->sm_len = len;
	ql->sm_n = quant_softmax_n(ql->hi, quant_vspan(&ql->out), c->l->cols);
	return MPQX_OK;
}

static void ieval(const struct mpqx_op_kernel *k)
{
	const struct mpqx_layer *l = k->l;
	const struct mpqx_qlayer *ql = k->ql;
	const int16_t *x = k->in[0];
	int16_t *y = k->y;
	int R = l->rows, C = l->cols, t = ql->sm_t, last = ql->sm_len - 1;
	int64_t top = quant_vspan(&ql->out), N = ql->sm_n;
	int fc = ql->out.fc, b = ql->out.bits;
	int64_t *e = k->scratch;
	for (int r = 0; r < R; r++) {
		const int16_t *xr = x + r * C;
		int mx = xr[0];
		for (int c = 1; c < C; c++)
			mx = xr[c] > mx ? xr[c] : mx;
		int64_t S = 0;
		for (int c = 0; c < C; c++) {
			int idx = (mx - xr[c]) >> t;
			e[c] = ql->sm_table[idx < last ? idx : last];
			S += e[c];
		}
		/* floor(num / den) through a double quotient (both below 2^53, so exact inputs) corrected by one */
		int64_t den = 2 * S;
		double inv = 1.0 / (double)den;
		for (int c = 0; c < C; c++) {
			int64_t num = 2 * e[c] * N + S;
			int64_t qt = (int64_t)((double)num * inv);
			qt -= qt * den > num;
			qt += (qt + 1) * den <= num;
			if (qt > top) {
				qt = top;
				(*k->clip)++;
			}
			/* a float code keeps the value of the code nearest to qt (its consumer multiplies values) */
			y[r * C + c] = (int16_t)(fc ? quant_fc_value(fc, b, quant_fc_code(fc, b, qt)) : quant_qmin(b) + qt);
		}
	}
}

/* Softmax widths: the row sum S <= C * (2^k - 1); the numerator 2 e N + S with e <= 2^k - 1; the quotient
 * at most N (e <= S). One spare bit each keeps the zero-extensions in the template well-formed. */
static void softmax_widths(int C, int k, int64_t N, int *sum, int *num, int *qw)
{
	uint64_t top = ((uint64_t)1 << k) - 1;
	*sum = op_imax(quant_bitlen((uint64_t)C * top), k + 1);
	*num = op_imax(quant_bitlen(top * (2 * (uint64_t)N + (uint64_t)C)), *sum + 1);
	*qw = quant_bitlen((uint64_t)N);
}

static void hw(const struct mpqx_op_hw *c, struct mpqx_hw_layer *h)
{
	const struct mpqx_qlayer *ql = c->ql;
	h->n_roms = 1;
	h->rom[0] = hw_mem(MPQX_HW_EXP, ql->sm_len, ql->sm_k);
	softmax_widths(c->l->cols, ql->sm_k, ql->sm_n, &h->sm_sum, &h->div_num, &h->div_q);
	h->phases = h->div_q + 4;
	h->div_den = h->sm_sum + 1;
	/* softmax.v: e * N is (e << b) - e when N = 2^b - 1, a shift-add in logic with the float code
	 * (estimate.c prices it as the mult kind's csd), else a constant multiplication */
	bool mul = ql->sm_n != quant_span(c->yb) && !ql->out.fc;
	h->const_dsp = mul ? estimate_dsp_const(ql->sm_k, ql->sm_n) : 0;
	if (mul) {
		h->const_vbits = ql->sm_k;
		h->const_m = ql->sm_n;
	}
	h->rescale_m = 0;
}

/* Per row: the max scan, the sums, then the division per element. */
static long cycles(const struct mpqx_layer *l, const struct mpqx_hw_layer *h)
{
	return (long)l->rows * (2L * l->cols + 2 + (long)l->cols * h->phases) + 1;
}

/* softmax.v: scan, p, col, c, u, rb, xa, ya; mx, s */
static void est(const struct mpqx_op_est_in *c, struct mpqx_op_est *e)
{
	const struct mpqx_layer *l = c->l;
	const struct mpqx_hw_layer *h = c->h;
	int cw = op_clog2(l->cols + 1);
	e->cnt = 1 + op_clog2(2L * l->cols + 2) + 2 * cw + op_clog2(h->phases);
	e->addr2 = 2 * c->xaw;
	e->addr1 = c->xaw;
	e->regs = c->xb + h->sm_sum;
	e->acc = h->sm_sum;
	e->prod = h->div_num;
	e->mux = c->ql->sm_k;
	e->in = c->xb + 1;
	e->fc_enc = c->ql->out.fc ? h->div_q : 0;
}

static void bind_tmpl(struct mpqx_op_bind *b)
{
	const struct mpqx_layer *l = b->l;
	const struct mpqx_qlayer *ql = b->ql;
	const struct mpqx_hw_layer *h = b->h;
	op_set_s(b, "EROM", b->rom);
	op_set_s(b, "DIV", b->div);
	op_set_i(b, "R", l->rows);
	op_set_i(b, "C", l->cols);
	op_set_i(b, "XB", b->px->bits);
	op_set_i(b, "XAW", hw_src_aw(b->q, b->p0));
	op_set_i(b, "T", ql->sm_t);
	op_set_i(b, "L", ql->sm_len);
	op_set_i(b, "EW", ql->sm_k);
	op_set_i(b, "EAW", h->rom[0].aw);
	op_set_q(b, "E_INIT", b->rom_file[0]);
	op_set_i(b, "SW", h->sm_sum);
	op_set_i(b, "NW", h->div_num);
	op_set_i(b, "QW", h->div_q);
	op_set_i(b, "N", (int)ql->sm_n);
	op_set_i(b, "FC", ql->out.fc);
}

const struct mpqx_op_class op_class_SOFTMAX = {
	.shape = shape,
	.forward = fwd,
	.calib_peak = true,
	.quantize = quantize,
	.ieval = ieval,
	.runs = true,
	.has_buf = true,
	.has_rom = true,
	.divider = true,
	.hw = hw,
	.cycles = cycles,
	.est = est,
	.tmpl = "softmax.v",
	.bind = bind_tmpl,
};
