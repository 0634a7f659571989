/* Architecture facts of the exported RTL (include/mpqx/hw.h, doc/hardware.md). Every number here mirrors
 * a template in hdl_templates/; the hdl tests compare the cycle counts with simulation. */
#include "mpqx/hw.h"

#include <string.h>

int hw_addr_bits(long words)
{
	int aw = 1;
	while ((1L << aw) < words)
		aw++;
	return aw;
}

static struct mpqx_hw_mem mem(enum mpqx_hw_role role, long words, int width)
{
	struct mpqx_hw_mem m = {.role = role, .words = words, .width = width};
	m.aw = hw_addr_bits(words);
	m.depth = 1L << m.aw;
	return m;
}

static int imax(int a, int b)
{
	return a > b ? a : b;
}

static int mbits(int64_t m)
{
	return imax(1, quant_bitlen((uint64_t)m));
}

/* Softmax widths: the row sum S <= C * (2^k - 1); the numerator 2 e (2^b - 1) + S with e <= 2^k - 1.
 * One spare bit each keeps the zero-extensions in the template well-formed. */
static void softmax_widths(int C, int k, int by, int *sum, int *num)
{
	uint64_t top = ((uint64_t)1 << k) - 1;
	*sum = imax(quant_bitlen((uint64_t)C * top), k + 1);
	*num = imax(quant_bitlen(top * (((uint64_t)2 << by) - 2 + (uint64_t)C)), *sum + 1);
}

void hw_layer(const struct mpqx_qmodel *q, int li, struct mpqx_hw_layer *h)
{
	const struct mpqx_model *m = q->m;
	const struct mpqx_layer *l = &m->layers[li];
	const struct mpqx_qlayer *ql = &q->l[li];
	const struct mpqx_layer *lx = l->n_inputs ? &m->layers[l->inputs[0]] : NULL;
	int xb = l->n_inputs ? q->l[l->inputs[0]].out.bits : 0;
	int bb = l->n_inputs > 1 ? q->l[l->inputs[1]].out.bits : 0;
	int yb = ql->out.bits;
	long words = (long)l->rows * l->cols;

	memset(h, 0, sizeof *h);
	h->runs = l->op != MPQX_OP_INPUT && l->op != MPQX_OP_CONST;
	h->has_buf = l->op != MPQX_OP_CONST;
	if (h->has_buf)
		h->buf = mem(MPQX_HW_BUFFER, words, yb);
	h->elements = h->runs ? words : 0;
	h->n_rescale = h->runs && l->op != MPQX_OP_SOFTMAX ? 1 : 0;
	h->rescale_m = mbits(ql->rs[0].m);

	switch (l->op) {
	case MPQX_OP_INPUT:
	case MPQX_OP_COUNT:
		break;
	case MPQX_OP_CONST:
		h->n_roms = 1;
		h->rom[0] = mem(MPQX_HW_CONST, words, yb);
		break;
	case MPQX_OP_LINEAR:
	case MPQX_OP_AFFINE: {
		/* linear.v / affine.v: one multiplier for x' * w' and |acc + b| * m */
		bool lin = l->op == MPQX_OP_LINEAR;
		int wb = ql->w.bits;
		h->n_roms = 2;
		h->rom[0] = mem(MPQX_HW_WEIGHTS, lin ? (long)l->weight.rows * l->weight.cols : l->cols, wb);
		h->rom[1] = mem(MPQX_HW_BIAS, l->cols, imax(2, ql->bias_bits));
		h->phases = (lin ? l->weight.cols : 1) + 3;
		h->acc_bits = imax(ql->acc_bits, xb + wb + 1);
		h->n_mul = 1;
		h->mul_a = h->acc_bits;
		h->mul_b = imax(wb + 1, h->rescale_m + 1);
		h->rescale_in = h->acc_bits;
		break;
	}
	case MPQX_OP_MATMUL: {
		/* matmul.v: one multiplier for a' * b' and |acc| * m */
		int kd = l->transpose_b ? lx->cols / l->heads : lx->cols;
		h->phases = kd + 3;
		h->acc_bits = imax(ql->acc_bits, xb + bb + 1);
		h->n_mul = 1;
		h->mul_a = h->acc_bits;
		h->mul_b = imax(bb + 1, h->rescale_m + 1);
		h->rescale_in = h->acc_bits;
		break;
	}
	case MPQX_OP_ADD: {
		/* add.v: one multiplier, MA * a' then MB * b'; the rescale only shifts */
		int xw = imax(xb, bb) + 1, mx = imax(mbits(ql->rs[0].m), mbits(ql->rs[1].m)) + 1;
		h->phases = 4;
		h->acc_bits = imax(ql->acc_bits, xw + mx);
		h->n_mul = 1;
		h->mul_a = xw;
		h->mul_b = mx;
		h->rescale_in = h->acc_bits;
		h->rescale_m = 1;
		break;
	}
	case MPQX_OP_RELU:
	case MPQX_OP_SPLIT:
		h->phases = 3;
		h->acc_bits = xb + 1;
		h->rescale_in = xb + 1;
		h->n_mul = 1;
		h->mul_const = true;
		h->mul_a = h->rescale_in;
		h->mul_b = h->rescale_m;
		break;
	case MPQX_OP_AVGPOOL:
		h->phases = lx->rows + 3;
		h->acc_bits = imax(ql->acc_bits, xb + 1);
		h->rescale_in = h->acc_bits;
		h->n_mul = 1;
		h->mul_const = true;
		h->mul_a = h->rescale_in;
		h->mul_b = h->rescale_m;
		break;
	case MPQX_OP_CONCAT:
		h->phases = 3;
		h->n_rescale = l->n_inputs;
		for (int k = 0; k < l->n_inputs; k++) {
			int b = q->l[l->inputs[k]].out.bits + 1;
			h->rescale_in = imax(h->rescale_in, b);
			h->rescale_m = imax(h->rescale_m, mbits(ql->rs[k].m));
		}
		h->acc_bits = h->rescale_in;
		h->n_mul = l->n_inputs;
		h->mul_const = true;
		h->mul_a = h->rescale_in;
		h->mul_b = h->rescale_m;
		break;
	case MPQX_OP_SOFTMAX:
		h->n_roms = 1;
		h->rom[0] = mem(MPQX_HW_EXP, ql->sm_len, ql->sm_k);
		h->phases = yb + 4;
		softmax_widths(l->cols, ql->sm_k, yb, &h->sm_sum, &h->div_num);
		h->div_den = h->sm_sum + 1;
		h->div_q = yb;
		h->rescale_m = 0;
		break;
	}
	if (!h->runs)
		return;
	if (l->op == MPQX_OP_SOFTMAX)
		h->cycles = (long)l->rows * (2L * l->cols + 2 + (long)l->cols * h->phases) + 1;
	else
		h->cycles = h->elements * h->phases + 1;
}

long hw_layer_cycles(const struct mpqx_qmodel *q, int l)
{
	struct mpqx_hw_layer h;
	hw_layer(q, l, &h);
	return h.cycles;
}

long hw_cycles(const struct mpqx_qmodel *q)
{
	long c = 0;
	for (int l = 0; l < q->n_layers; l++)
		c += hw_layer_cycles(q, l);
	return c;
}

int hw_check(const struct mpqx_qmodel *q, struct mpqx_err *err)
{
	const struct mpqx_model *m = q->m;
	for (int i = 0; i < m->n_layers; i++) {
		const struct mpqx_layer *l = &m->layers[i];
		if (l->op == MPQX_OP_MATMUL && l->inputs[0] == l->inputs[1])
			return err_set(err, MPQX_EINPUT,
				       "%s: layer '%s': a matmul of a buffer with itself needs two read ports; the "
				       "exported hardware has one per buffer",
				       m->path, l->name);
	}
	const struct mpqx_layer *o = &m->layers[m->output];
	if (o->op == MPQX_OP_INPUT || o->op == MPQX_OP_CONST)
		return err_set(err, MPQX_EINPUT, "%s: the output layer '%s' computes nothing to export", m->path,
			       o->name);
	return MPQX_OK;
}
