/* Where `auto` storage goes (doc/hardware.md, "Storage"): the rule shared by the exporter and the
 * estimator, declared in include/mpqx/estimate.h. */
#include "mpqx/estimate.h"
#include "mpqx/hw.h"

/* Half a RAMB18 (18 Kbit): from here on a block RAM is at least half used, while distributed RAM would
 * take at least 9216 / 48 = 192 LUTs (a RAM64M holds 64 x 3 bits in 4 LUTs). */
#define BLOCK_BITS 9216L

static long bits(const struct mpqx_hw_mem *m)
{
	return m->depth * m->width;
}

enum mpqx_storage estimate_resolve_buffer(const struct mpqx_qmodel *q, const struct mpqx_config *c, int l)
{
	enum mpqx_storage s = c->layers[l].buffer;
	if (s != MPQX_STORE_AUTO)
		return s;
	struct mpqx_hw_layer h;
	hw_layer(q, l, &h);
	return h.has_buf && bits(&h.buf) >= BLOCK_BITS ? MPQX_STORE_BLOCK : MPQX_STORE_DIST;
}

enum mpqx_storage estimate_resolve_rom(const struct mpqx_qmodel *q, const struct mpqx_config *c, int l)
{
	enum mpqx_storage s = c->layers[l].rom;
	if (s != MPQX_STORE_AUTO)
		return s;
	struct mpqx_hw_layer h;
	hw_layer(q, l, &h);
	long b = 0;
	for (int i = 0; i < h.n_roms; i++)
		if (bits(&h.rom[i]) > b)
			b = bits(&h.rom[i]);
	return b >= BLOCK_BITS ? MPQX_STORE_BLOCK : MPQX_STORE_DIST;
}

enum mpqx_mult estimate_resolve_mult(const struct mpqx_qmodel *q, const struct mpqx_config *c, int l)
{
	if (hw_mult_kind(q->m->layers[l].op) == MPQX_HW_MULT_NONE)
		return MPQX_MULT_DSP;
	enum mpqx_mult s = c->layers[l].mult;
	if (s != MPQX_MULT_AUTO)
		return s;
	int a, b;
	hw_mult_data(q, l, &a, &b);
	return a > 0 && b > 0 && a + b < MPQX_MULT_LOGIC_BELOW ? MPQX_MULT_LOGIC : MPQX_MULT_DSP;
}
