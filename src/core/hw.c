/* Architecture facts of the exported RTL (include/mpqx/hw.h, doc/hardware.md). Every number here mirrors
 * a template in hdl_templates/; the hdl tests compare the cycle counts with simulation. */
#include "mpqx/hw.h"

#include <string.h>

#include "mpqx/op.h"

int hw_addr_bits(long words)
{
	int aw = 1;
	while ((1L << aw) < words)
		aw++;
	return aw;
}

struct mpqx_hw_mem hw_mem(enum mpqx_hw_role role, long words, int width)
{
	struct mpqx_hw_mem m = {.role = role, .words = words, .width = width};
	m.aw = hw_addr_bits(words);
	m.depth = 1L << m.aw;
	return m;
}

int hw_mbits(int64_t m)
{
	return op_imax(1, quant_bitlen((uint64_t)m));
}

enum mpqx_hw_mult hw_mult_kind(enum mpqx_op op)
{
	switch (op) {
	case MPQX_OP_LINEAR:
	case MPQX_OP_AFFINE:
	case MPQX_OP_MATMUL:
		return MPQX_HW_MULT_MAC;
	case MPQX_OP_RELU:
	case MPQX_OP_SPLIT:
	case MPQX_OP_AVGPOOL:
	case MPQX_OP_CONCAT:
		return MPQX_HW_MULT_RESCALE;
	default:
		return MPQX_HW_MULT_NONE;
	}
}

void hw_mult_data(const struct mpqx_qmodel *q, int li, int *a, int *b)
{
	const struct mpqx_layer *l = &q->m->layers[li];
	*a = *b = 0;
	if (hw_mult_kind(l->op) != MPQX_HW_MULT_MAC || l->n_inputs < 1)
		return;
	*a = quant_vbits(&q->l[l->inputs[0]].out) + 1;
	if (l->op == MPQX_OP_MATMUL)
		*b = l->n_inputs > 1 ? quant_vbits(&q->l[l->inputs[1]].out) + 1 : 0;
	else
		*b = q->l[li].w.bits + 1;
}

int hw_csd_digits(int64_t m)
{
	uint64_t x = (uint64_t)m, t = 3 * x;
	/* m < 2^62 (doc/quantization.md), so 3m does not wrap */
	uint64_t cp = (t & ~x) >> 1, cn = (~t & x) >> 1;
	return __builtin_popcountll(cp) + __builtin_popcountll(cn);
}

void hw_layer(const struct mpqx_qmodel *q, int li, struct mpqx_hw_layer *h)
{
	const struct mpqx_model *m = q->m;
	const struct mpqx_layer *l = &m->layers[li];
	const struct mpqx_qlayer *ql = &q->l[li];
	const struct mpqx_layer *lx = l->n_inputs ? &m->layers[l->inputs[0]] : NULL;
	/* the width of the values an op computes with (a float-coded softmax's decoded value) */
	int xb = l->n_inputs ? quant_vbits(&q->l[l->inputs[0]].out) : 0;
	int bb = l->n_inputs > 1 ? quant_vbits(&q->l[l->inputs[1]].out) : 0;
	int yb = ql->out.bits;
	long words = (long)l->rows * l->cols;

	memset(h, 0, sizeof *h);
	const struct mpqx_op_class *oc = op_class(l->op);
	h->runs = oc->runs;
	h->has_buf = oc->has_buf;
	if (h->has_buf)
		h->buf = hw_mem(MPQX_HW_BUFFER, words, yb);
	h->elements = h->runs ? words : 0;
	h->n_rescale = h->runs && oc->requant != MPQX_OP_RQ_NONE ? 1 : 0;
	h->rescale_m = hw_mbits(ql->rs[0].m);
	if (oc->hw) {
		struct mpqx_op_hw c = {q, m, l, ql, lx, xb, bb, yb, words};
		oc->hw(&c, h);
	}
	if (!h->runs)
		return;
	h->cycles = oc->cycles ? oc->cycles(l, h) : h->elements * h->phases + 1;
}

int hw_src_aw(const struct mpqx_qmodel *q, int src)
{
	struct mpqx_hw_layer h;
	hw_layer(q, src, &h);
	return h.has_buf ? h.buf.aw : h.rom[0].aw;
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
		const struct mpqx_op_class *oc = op_class(l->op);
		int rc = oc->hw_check ? oc->hw_check(m, l, err) : MPQX_OK;
		if (rc)
			return rc;
	}
	const struct mpqx_layer *o = &m->layers[m->output];
	if (!op_class(o->op)->runs)
		return err_set(err, MPQX_EINPUT, "%s: the output layer '%s' computes nothing to export", m->path,
			       o->name);
	return MPQX_OK;
}
