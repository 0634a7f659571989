/* Where `auto` storage goes (doc/hardware.md, "Storage"): the rule shared by the exporter and the
 * estimator, declared in include/mpqx/estimate.h. One rule per family. */
#include "mpqx/estimate.h"
#include "mpqx/hw.h"

/* Half a RAMB18 (18 Kbit): from here on a block RAM is at least half used, while distributed RAM would
 * take at least 9216 / 48 = 192 LUTs (a RAM64M holds 64 x 3 bits in 4 LUTs). */
#define BLOCK_BITS 9216L

/* iCE40 has no LUT RAM: a buffer outside an EBR is one flip-flop per bit plus its read multiplexer
 * (about a third of a LUT4 per bit), so from 256 bits (some 340 logic cells, 6% of a UP5K) an EBR
 * (one of 30, 3%) is the cheaper share of the device. A ROM in logic needs no flip-flops per word, only
 * its LUT4s: from 1024 bits (a quarter EBR) it goes to EBR. A buffer that would take more than 8 EBRs
 * goes to SPRAM when the device has SPRAM and the buffer fits one block's 16K words. */
#define ICE40_BUF_EBR_BITS 256L
#define ICE40_ROM_EBR_BITS 1024L
#define ICE40_SPRAM_FROM_EBR 8L

static long bits(const struct mpqx_hw_mem *m)
{
	return m->depth * m->width;
}

static bool ice40(const struct mpqx_device *d)
{
	return d && d->fam == MPQX_FAMILY_ICE40;
}

enum mpqx_storage estimate_resolve_buffer_on(const struct mpqx_qmodel *q, const struct mpqx_config *c, int l,
					     const struct mpqx_device *dev)
{
	enum mpqx_storage s = c->layers[l].buffer;
	if (s != MPQX_STORE_AUTO)
		return s;
	struct mpqx_hw_layer h;
	hw_layer(q, l, &h);
	if (!h.has_buf)
		return MPQX_STORE_DIST;
	if (ice40(dev)) {
		if (dev->spram > 0 && h.buf.depth <= 16384 &&
		    estimate_ebr(h.buf.depth, h.buf.width) > ICE40_SPRAM_FROM_EBR)
			return MPQX_STORE_SPRAM;
		return bits(&h.buf) >= ICE40_BUF_EBR_BITS ? MPQX_STORE_BLOCK : MPQX_STORE_DIST;
	}
	return bits(&h.buf) >= BLOCK_BITS ? MPQX_STORE_BLOCK : MPQX_STORE_DIST;
}

enum mpqx_storage estimate_resolve_rom_on(const struct mpqx_qmodel *q, const struct mpqx_config *c, int l,
					  const struct mpqx_device *dev)
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
	return b >= (ice40(dev) ? ICE40_ROM_EBR_BITS : BLOCK_BITS) ? MPQX_STORE_BLOCK : MPQX_STORE_DIST;
}

enum mpqx_mult estimate_resolve_mult_on(const struct mpqx_qmodel *q, const struct mpqx_config *c, int l,
					const struct mpqx_device *dev)
{
	if (hw_mult_kind(q->m->layers[l].op) == MPQX_HW_MULT_NONE)
		return MPQX_MULT_DSP;
	/* a device without DSP blocks (iCE40 HX) multiplies in logic, whatever the config asks (the config
	 * check warns about "dsp" there) */
	if (dev && dev->dsp == 0)
		return MPQX_MULT_LOGIC;
	enum mpqx_mult s = c->layers[l].mult;
	if (s != MPQX_MULT_AUTO)
		return s;
	int a, b;
	hw_mult_data(q, l, &a, &b);
	return a > 0 && b > 0 && a + b < MPQX_MULT_LOGIC_BELOW ? MPQX_MULT_LOGIC : MPQX_MULT_DSP;
}

enum mpqx_storage estimate_resolve_buffer(const struct mpqx_qmodel *q, const struct mpqx_config *c, int l)
{
	return estimate_resolve_buffer_on(q, c, l, NULL);
}

enum mpqx_storage estimate_resolve_rom(const struct mpqx_qmodel *q, const struct mpqx_config *c, int l)
{
	return estimate_resolve_rom_on(q, c, l, NULL);
}

enum mpqx_mult estimate_resolve_mult(const struct mpqx_qmodel *q, const struct mpqx_config *c, int l)
{
	return estimate_resolve_mult_on(q, c, l, NULL);
}
