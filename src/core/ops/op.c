/* The op table (include/mpqx/op.h): one class per op of MPQX_OPS, each defined in its own file here, and
 * the helpers the op files share for template binding. */
#include "mpqx/op.h"

#include <inttypes.h>
#include <stdio.h>

const struct mpqx_op_class *const mpqx_op_classes[MPQX_OP_COUNT] = {
#define MPQX_OP_CLASS_ROW(e, s, n) [MPQX_OP_##e] = &op_class_##e,
	MPQX_OPS(MPQX_OP_CLASS_ROW)
#undef MPQX_OP_CLASS_ROW
};

void op_set_s(struct mpqx_op_bind *b, const char *name, const char *v)
{
	if (!b->rc)
		b->rc = tmpl_set(b->t, name, v, b->err);
}

void op_set_i(struct mpqx_op_bind *b, const char *name, long long v)
{
	if (!b->rc)
		b->rc = tmpl_setf(b->t, b->err, name, "%lld", v);
}

void op_set_q(struct mpqx_op_bind *b, const char *name, const char *v)
{
	if (!b->rc)
		b->rc = tmpl_setf(b->t, b->err, name, "\"%s\"", v);
}

void op_set_u64(struct mpqx_op_bind *b, const char *name, int64_t v)
{
	if (!b->rc)
		b->rc = tmpl_setf(b->t, b->err, name, "64'd%" PRId64, v);
}

void op_bind_input_rescale(struct mpqx_op_bind *b)
{
	op_set_i(b, "XB", b->px->bits);
	op_set_i(b, "XZ", b->px->z);
	op_set_i(b, "XAW", hw_src_aw(b->q, b->p0));
	op_set_i(b, "MW", b->mw);
	op_set_u64(b, "MUL", b->ql->rs[0].m);
	op_set_i(b, "SHR", b->ql->rs[0].n);
}

void op_bind_weighted(struct mpqx_op_bind *b)
{
	const struct mpqx_qlayer *ql = b->ql;
	const struct mpqx_hw_layer *h = b->h;
	op_bind_input_rescale(b);
	op_set_s(b, "WROM", b->rom);
	op_set_s(b, "BROM", b->rom);
	op_set_i(b, "WB", ql->w.bits);
	op_set_i(b, "WZ", ql->w.z);
	op_set_i(b, "WAW", h->rom[0].aw);
	op_set_q(b, "W_INIT", b->rom_file[0]);
	op_set_i(b, "BB", h->rom[1].width);
	op_set_q(b, "B_INIT", b->rom_file[1]);
	op_set_i(b, "ACCW", h->acc_bits);
}

void op_bind_mac_scale(struct mpqx_op_bind *b)
{
	op_set_i(b, "LOGIC", b->logic);
	op_set_i(b, "CH", b->ql->wcw != NULL);
	op_set_s(b, "SROM", b->rom);
	op_set_q(b, "S_INIT", b->ql->wcw ? b->rom_file[2] : "");
}

void op_est_mac(const struct mpqx_op_est_in *c, struct mpqx_op_est *e)
{
	const struct mpqx_hw_layer *h = c->h;
	int acc = h->acc_bits;
	e->prod = hw_prod_kept(acc - 1 + h->rescale_m, c->ql->rs[0].n);
	e->regs = acc + (int)e->prod + 1;
	e->acc = acc;
	e->mux = h->mul_a + h->mul_b;
	e->in = c->xb + 1 + c->ql->w.bits + 1;
	e->bias = h->rom[1].width;
}

const char *op_port_ab(int k, char *buf, size_t size)
{
	snprintf(buf, size, "%s", k == 0 ? "a" : "b");
	return buf;
}
