/* const: a constant tensor (the positional encoding), quantized into a ROM the consumers read
 * (hdl_templates/const.v). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "mpqx/op.h"

static int parse(struct mpqx_attrs *a, struct mpqx_layer *l)
{
	return model_attr_tensor(a, "value", l->rows, l->cols, &l->weight);
}

static void fwd(const struct mpqx_op_fwd *c)
{
	memcpy(c->y, c->l->weight.data, sizeof(float) * (size_t)c->l->rows * c->l->cols);
}

/* The output range is the values' own. */
static void out_range(const struct mpqx_layer *l, double *lo, double *hi)
{
	size_t n = (size_t)l->rows * l->cols;
	*lo = INFINITY;
	*hi = -INFINITY;
	for (size_t i = 0; i < n; i++) {
		*lo = fmin(*lo, l->weight.data[i]);
		*hi = fmax(*hi, l->weight.data[i]);
	}
}

static int quantize(struct mpqx_op_quant *c)
{
	const struct mpqx_layer *l = c->l;
	struct mpqx_qlayer *ql = c->ql;
	size_t n = (size_t)l->rows * l->cols;
	int rc = MPQX_OK;
	if (!(ql->qconst = malloc(sizeof(int32_t) * n)))
		rc = MPQX_ENOMEM;
	for (size_t i = 0; !rc && i < n; i++)
		ql->qconst[i] = quant_value(l->weight.data[i], ql->out, NULL);
	return rc;
}

static void ieval(const struct mpqx_op_kernel *k)
{
	for (size_t i = 0; i < k->n; i++)
		k->y[i] = (int16_t)k->ql->qconst[i];
}

static void hw(const struct mpqx_op_hw *c, struct mpqx_hw_layer *h)
{
	h->n_roms = 1;
	h->rom[0] = hw_mem(MPQX_HW_CONST, c->words, c->yb);
}

const struct mpqx_op_class op_class_CONST = {
	.parse = parse,
	.forward = fwd,
	.out_range = out_range,
	.quantize = quantize,
	.ieval = ieval,
	.has_rom = true,
	.hw = hw,
	.tmpl = "const.v",
	.tmpl_flags = MPQX_OP_TMPL_YAW,
	.top_ports = "",
};
