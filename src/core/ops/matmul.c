/* matmul: per head, y = scale * A B, with B transposed or not (attention scores and attention times V;
 * hdl_templates/matmul.v). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "mpqx/kern.h"
#include "mpqx/op.h"

static int parse(struct mpqx_attrs *a, struct mpqx_layer *l)
{
	int rc;
	if ((rc = model_attr_bool(a, "transpose_b", &l->transpose_b)))
		return rc;
	if ((rc = model_attr_num(a, "scale", false, &l->scale)))
		return rc;
	if (!(l->scale > 0) || l->scale > 1e6)
		return model_attr_bad(a, "scale", "expected a positive number up to 1e6");
	return model_attr_int(a, "heads", false, 1, 64, &l->heads);
}

static int shape(const struct mpqx_model *m, const struct mpqx_layer *l, int *rows, int *cols, char *why,
		 size_t size)
{
	const struct mpqx_layer *a = &m->layers[l->inputs[0]], *b = &m->layers[l->inputs[1]];
	int h = l->heads;
	if (l->transpose_b) {
		if (a->cols != b->cols || a->cols % h) {
			snprintf(why, size, "a [%d, %d] and b [%d, %d] need equal columns divisible by heads %d", a->rows,
				 a->cols, b->rows, b->cols, h);
			return 1;
		}
		*rows = h * a->rows;
		*cols = b->rows;
	} else {
		if (a->rows % h || a->cols != b->rows || b->cols % h) {
			snprintf(why, size, "a [%d, %d] and b [%d, %d] do not chain with %d heads", a->rows, a->cols,
				 b->rows, b->cols, h);
			return 1;
		}
		*rows = a->rows / h;
		*cols = b->cols;
	}
	return 0;
}

static long macs(const struct mpqx_model *m, const struct mpqx_layer *l)
{
	const struct mpqx_layer *a = &m->layers[l->inputs[0]];
	long k = l->transpose_b ? a->cols / l->heads : a->cols;
	return (long)l->rows * l->cols * k;
}

static int fwd_init(struct mpqx_forward *f, int li, size_t *acc, size_t *pack)
{
	const struct mpqx_model *m = f->m;
	const struct mpqx_layer *l = &m->layers[li];
	if (l->transpose_b) {
		const struct mpqx_layer *la = &m->layers[l->inputs[0]], *lb = &m->layers[l->inputs[1]];
		size_t n = (size_t)lb->rows * (size_t)(la->cols / (l->heads > 0 ? l->heads : 1));
		*pack = n > *pack ? n : *pack;
		*acc = (size_t)lb->rows > *acc ? (size_t)lb->rows : *acc;
	}
	return MPQX_OK;
}

/* Per head: y[i][j] = scale * sum_k A[i][k] B[k][j], k ascending, in double. */
static void fwd(const struct mpqx_op_fwd *c)
{
	struct mpqx_forward *f = c->f;
	const struct mpqx_layer *l = c->l;
	const struct mpqx_model *m = f->m;
	const struct mpqx_layer *la = &m->layers[l->inputs[0]], *lb = &m->layers[l->inputs[1]];
	const float *a = f->act[l->inputs[0]], *b = f->act[l->inputs[1]];
	float *y = c->y;
	double *acc = f->acc;
	int h = l->heads;
	if (l->transpose_b) {
		int M = la->rows, N = lb->rows, K = la->cols / h;
		for (int hh = 0; hh < h; hh++) {
			float *bt = f->pack; /* bt[k][j] = b[j][hK + k] */
			for (int j = 0; j < N; j++)
				for (int k = 0; k < K; k++)
					bt[(size_t)k * N + j] = b[j * lb->cols + hh * K + k];
			for (int i = 0; i < M; i++) {
				for (int j = 0; j < N; j++)
					acc[j] = 0;
				for (int k = 0; k < K; k++)
					forward_axpy(acc, a[i * la->cols + hh * K + k], bt + (size_t)k * N, N);
				for (int j = 0; j < N; j++)
					y[(hh * M + i) * N + j] = (float)(acc[j] * l->scale);
			}
		}
	} else {
		int M = la->rows / h, K = la->cols, N = lb->cols / h;
		for (int hh = 0; hh < h; hh++)
			for (int i = 0; i < M; i++) {
				for (int j = 0; j < N; j++)
					acc[j] = 0;
				for (int k = 0; k < K; k++)
					forward_axpy(acc, a[(hh * M + i) * K + k], b + k * lb->cols + hh * N, N);
				for (int j = 0; j < N; j++)
					y[i * l->cols + hh * N + j] = (float)(acc[j] * l->scale);
			}
	}
}

static int quantize(struct mpqx_op_quant *c)
{
	const struct mpqx_layer *l = c->l;
	const struct mpqx_layer *la = &c->m->layers[l->inputs[0]];
	int64_t K = l->transpose_b ? la->cols / l->heads : la->cols;
	c->M = ((l->scale * c->x->s) * c->xb->s) / c->ql->out.s;
	int64_t ka = K * quant_vspan(c->x);
	if (c->x->fc && !l->transpose_b) {
		/* a float-coded softmax's rows are summed: its values add up to at most N + K (1 + 2^(2^fc - 3))
		 * (each rounded quotient exceeds e N / S by at most 1/2, each code's value it by half a step) */
		int64_t n = llround(1.0 / c->x->s), h = 1 + ((int64_t)1 << ((1 << c->x->fc) - 3));
		ka = n + K * h < ka ? n + K * h : ka;
	}
	c->ql->acc_bound = ka * quant_vspan(c->xb);
	return MPQX_OK;
}

static void ieval(const struct mpqx_op_kernel *k)
{
	const struct mpqx_model *m = k->m;
	const struct mpqx_layer *l = k->l;
	const struct mpqx_layer *la = &m->layers[l->inputs[0]], *lb = &m->layers[l->inputs[1]];
	const struct mpqx_qlayer *ql = k->ql;
	const struct mpqx_qparam *pa = &k->q->l[l->inputs[0]].out, *pb = &k->q->l[l->inputs[1]].out;
	const int16_t *a = k->in[0], *b = k->in[1];
	int16_t *y = k->y;
	long *clip = k->clip;
	int h = l->heads, AC = la->cols, BR = lb->rows, BC = lb->cols;
	bool tb = l->transpose_b;
	/* Per head: out[M][N] = A[M][K] * B[K][N]. transpose_b: A = a[:, hK..], B[k][n] = b[n][hK + k], output
	 * rows hM..; otherwise A = a[hM.., :], B[k][n] = b[k][hN + n], output columns hN... */
	int M = tb ? la->rows : la->rows / h, K = tb ? AC / h : AC, N = tb ? BR : BC / h;
	if (kern_narrow(quant_vbits(pa), quant_vbits(pb), ql->acc_bits)) {
		int Kp = (K + 1) / 2, Np = kern_pad8(N);
		int16_t *xs = k->scratch, *bp = xs + (size_t)M * 2 * Kp;
		int32_t *acc = (int32_t *)((int64_t *)k->scratch + (size_t)M * Kp + (size_t)Kp * Np);
		for (int hh = 0; hh < h; hh++) {
			if (tb) {
				kern_pack_rows(a + hh * K, AC, 1, pa->z, M, K, Kp, xs);
				kern_pack_pairs(b + hh * K, 1, BC, pb->z, K, N, Np, bp);
			} else {
				kern_pack_rows(a + (size_t)hh * M * AC, AC, 1, pa->z, M, K, Kp, xs);
				kern_pack_pairs(b + hh * N, BC, 1, pb->z, K, N, Np, bp);
			}
			memset(acc, 0, sizeof *acc * (size_t)M * Np);
			kern_gemm_pairs(xs, bp, M, Kp, Np, acc);
			if (tb && Np == N) {
				*clip += kern_requant32(acc, M * N, ql->rs[0].m, ql->rs[0].n, ql->out.z, ql->out.bits,
							y + (size_t)hh * M * N);
				continue;
			}
			for (int i = 0; i < M; i++) {
				int16_t *dst = tb ? y + (size_t)(hh * M + i) * N : y + (size_t)i * l->cols + hh * N;
				*clip += kern_requant32(acc + (size_t)i * Np, N, ql->rs[0].m, ql->rs[0].n, ql->out.z,
							ql->out.bits, dst);
			}
		}
		return;
	}
	size_t na = (size_t)la->rows * AC, nb = (size_t)BR * BC, ny = (size_t)l->rows * l->cols;
	int32_t *as = k->scratch, *bs = as + na;
	int64_t *acc = (int64_t *)k->scratch + na + nb;
	kern_centre32(as, a, na, pa->z);
	memset(acc, 0, ny * sizeof *acc);
	if (tb) {
		for (int n = 0; n < BR; n++) /* bs[c][n] = b[n][c] - z */
			for (int c = 0; c < BC; c++)
				bs[(size_t)c * BR + n] = (int32_t)b[(size_t)n * BC + c] - pb->z;
		for (int hh = 0; hh < h; hh++)
			kern_gemm32(as + hh * K, AC, bs + (size_t)hh * K * BR, BR, M, K, N, acc + (size_t)hh * M * N, N);
	} else {
		kern_centre32(bs, b, nb, pb->z);
		for (int hh = 0; hh < h; hh++)
			kern_gemm32(as + (size_t)hh * M * K, K, bs + hh * N, BC, M, K, N, acc + hh * N, l->cols);
	}
	*clip += kern_requant64(acc, (int)ny, ql->rs[0], &ql->out, y);
}

/* matmul.v: one multiplier for a' * b' and |acc| * m */
static void hw(const struct mpqx_op_hw *c, struct mpqx_hw_layer *h)
{
	const struct mpqx_layer *l = c->l;
	int kd = l->transpose_b ? c->lx->cols / l->heads : c->lx->cols;
	h->phases = kd + 3;
	h->acc_bits = op_imax(c->ql->acc_bits, c->xb + c->bb + 1);
	h->n_mul = 1;
	h->mul_a = h->acc_bits;
	h->mul_b = op_imax(c->bb + 1, h->rescale_m + 1);
	h->rescale_in = h->acc_bits;
}

static int check_ports(const struct mpqx_model *m, const struct mpqx_layer *l, struct mpqx_err *err)
{
	if (l->inputs[0] == l->inputs[1])
		return err_set(err, MPQX_EINPUT,
			       "%s: layer '%s': a matmul of a buffer with itself needs two read ports; the "
			       "exported hardware has one per buffer",
			       m->path, l->name);
	return MPQX_OK;
}

/* matmul.v: p, n, m, h, ab, hb, bb, aa, ba, ya; acc, pr, neg */
static void est(const struct mpqx_op_est_in *c, struct mpqx_op_est *e)
{
	const struct mpqx_model *mo = c->m;
	const struct mpqx_layer *l = c->l;
	const struct mpqx_hw_layer *h = c->h;
	const struct mpqx_layer *la = &mo->layers[l->inputs[0]], *lb = &mo->layers[l->inputs[1]];
	int acc = h->acc_bits;
	int baw = hw_src_aw(c->q, l->inputs[1]);
	int heads = l->heads > 0 ? l->heads : 1;
	int md, nd;
	if (l->transpose_b) {
		md = la->rows;
		nd = lb->rows;
	} else {
		md = la->rows / heads;
		nd = lb->cols / heads;
	}
	e->cnt = op_clog2(h->phases) + op_clog2(nd + 1) + op_clog2(md + 1) + op_clog2(heads + 1);
	e->addr2 = 2 * c->xaw + op_imax(c->xaw, baw) + 2 * baw;
	e->addr1 = c->yaw;
	e->prod = hw_prod_kept(acc - 1 + h->rescale_m, c->ql->rs[0].n);
	e->regs = acc + (int)e->prod + 1;
	e->acc = acc;
	e->mux = h->mul_a + h->mul_b;
	e->in = c->xb + 1 + quant_vbits(&c->q->l[l->inputs[1]].out) + 1;
	const struct mpqx_qparam *pa = &c->q->l[l->inputs[0]].out, *pb = &c->q->l[l->inputs[1]].out;
	e->fc_dec = (pa->fc ? pa->bits : 0) + (pb->fc ? pb->bits : 0);
}

static void bind_tmpl(struct mpqx_op_bind *b)
{
	const struct mpqx_model *m = b->m;
	const struct mpqx_layer *l = b->l;
	const struct mpqx_qlayer *ql = b->ql;
	const struct mpqx_layer *la = &m->layers[b->p0], *lb = &m->layers[b->p1];
	int H = l->heads;
	bool tb = l->transpose_b;
	op_set_i(b, "TB", tb ? 1 : 0);
	op_set_i(b, "HEADS", H);
	op_set_i(b, "MD", tb ? la->rows : la->rows / H);
	op_set_i(b, "ND", tb ? lb->rows : lb->cols / H);
	op_set_i(b, "KD", tb ? la->cols / H : la->cols);
	op_set_i(b, "ACOLS", la->cols);
	op_set_i(b, "BCOLS", lb->cols);
	op_set_i(b, "AB", b->px->bits);
	op_set_i(b, "AZ", b->px->z);
	op_set_i(b, "AF", b->px->fc);
	op_set_i(b, "AAW", hw_src_aw(b->q, b->p0));
	op_set_i(b, "BB", b->pb->bits);
	op_set_i(b, "BZ", b->pb->z);
	op_set_i(b, "BF", b->pb->fc);
	op_set_i(b, "BAW", hw_src_aw(b->q, b->p1));
	op_set_i(b, "ACCW", b->h->acc_bits);
	op_set_i(b, "MW", b->mw);
	op_set_u64(b, "MUL", ql->rs[0].m);
	op_set_i(b, "LOGIC", b->logic);
	op_set_i(b, "SHR", ql->rs[0].n);
}

const struct mpqx_op_class op_class_MATMUL = {
	.parse = parse,
	.shape = shape,
	.macs = macs,
	.forward_init = fwd_init,
	.forward = fwd,
	.quantize = quantize,
	.ieval = ieval,
	.runs = true,
	.has_buf = true,
	.requant = MPQX_OP_RQ_MAC,
	.hw = hw,
	.hw_check = check_ports,
	.est = est,
	.tmpl = "matmul.v",
	.tmpl_lib = "requant",
	.tmpl_flags = MPQX_OP_TMPL_YAW | MPQX_OP_TMPL_YZ,
	.bind = bind_tmpl,
	.in_port = op_port_ab,
};
