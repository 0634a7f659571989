/* input: the normalised window, written by the testbench (or the caller) into the first buffer
 * (hdl_templates/input.v). */
#include <stdio.h>
#include <string.h>

#include "mpqx/op.h"

static int shape(const struct mpqx_model *m, const struct mpqx_layer *l, int *rows, int *cols, char *why,
		 size_t size)
{
	if (l->rows != m->window || l->cols != m->features) {
		snprintf(why, size, "shape must be [window, features] = [%d, %d]", m->window, m->features);
		return 1;
	}
	*rows = l->rows;
	*cols = l->cols;
	return 0;
}

static void fwd(const struct mpqx_op_fwd *c)
{
	memcpy(c->y, c->window, sizeof(float) * (size_t)c->l->rows * c->l->cols);
}

static void ieval(const struct mpqx_op_kernel *k)
{
	for (size_t i = 0; i < k->n; i++)
		k->y[i] = (int16_t)quant_value(k->window[i], k->ql->out, k->clip);
}

const struct mpqx_op_class op_class_INPUT = {
	.shape = shape,
	.forward = fwd,
	.ieval = ieval,
	.has_buf = true,
	.tmpl = "input.v",
	.tmpl_flags = MPQX_OP_TMPL_YAW,
	.top_ports = ".in_we(in_we), .in_addr(in_addr), .in_data(in_data),\n\t",
	.window_in = true,
};
