/* Resource and latency estimate of the exported RTL, per layer (doc/estimator.md). */
#ifndef MPQX_ESTIMATE_H
#define MPQX_ESTIMATE_H

#include <stdbool.h>
#include <stdint.h>

#include "mpqx/config.h"
#include "mpqx/device.h"
#include "mpqx/quant.h"

/* Resources of one block or layer. lut counts logic LUTs only; LUTs used as memory are in lutram. On an
 * iCE40 device (doc/estimator.md, "iCE40"): lut counts logic cells, lutram SPRAM blocks, bram18 EBRs and
 * dsp SB_MAC16 blocks, so that the search, the meters and the budgets read the same five resources. */
struct mpqx_cost {
	long lut, lutram, ff, bram18, dsp;
	long cycles;
};

enum mpqx_resource { MPQX_RES_LUT, MPQX_RES_LUTRAM, MPQX_RES_FF, MPQX_RES_BRAM, MPQX_RES_DSP, MPQX_RES_COUNT };

struct mpqx_estimate {
	int n_layers;
	/* Per model layer: its share of the whole design as a flow that flattens synthesizes it (each block
	 * kind's fitted LUTs and FFs times its flat.lut / flat.ff scale); they sum to total. owned */
	struct mpqx_cost *layers;
	/* Per model layer: the layer module as synthesized with the hierarchy kept (the blocks' fitted
	 * figures unscaled), what per-layer synthesis reports; only lut and ff differ from layers. owned */
	struct mpqx_cost *layers_hier;
	struct mpqx_cost top, top_hier;      /* the top module's own glue (start chain, shared read ports) */
	enum mpqx_storage *buffer, *rom;     /* per layer, auto resolved to block or distributed/logic; owned */
	enum mpqx_mult *mult;                /* per layer, auto resolved to dsp or logic; owned */
	struct mpqx_cost total;
	struct mpqx_cost total_hier;         /* the sum of layers_hier and top_hier */
	double bram_tiles;                   /* RAMB18 count / 2, as Vivado reports "Block RAM Tile" */
	double latency_us;                   /* total cycles at the device clock */
	double util[MPQX_RES_COUNT];         /* fraction of the device's capacity; LUT counts logic and memory
						LUTs against all LUTs, as Vivado's "Slice LUTs" */
	bool fits;
	enum mpqx_resource limiting;         /* the resource with the highest utilisation */
	/* The clock estimate (doc/estimator.md, "Clock"): the longest path of the block kinds the design
	 * has ([clock] of the cost file), 0 when the cost file has none. */
	double fmax_mhz;
	int fmax_layer;                      /* the layer with the longest path, -1 for the top module */
	const char *fmax_kind;               /* its block kind (static string), NULL when fmax_mhz is 0 */
};

struct mpqx_coeffs; /* the family's fitted LUT/FF coefficients, opaque */

/* Loads devices/FAMILY-cost.ini. The caller owns *out (estimate_coeffs_free). */
int estimate_coeffs_load(const char *path, struct mpqx_coeffs **out, struct mpqx_err *err);
void estimate_coeffs_free(struct mpqx_coeffs *c);

/* Estimates the whole design. est is initialised by estimate_init and reused across calls without
 * allocation. */
int estimate_init(struct mpqx_estimate *est, int n_layers);
void estimate_fini(struct mpqx_estimate *est);
int estimate_run(const struct mpqx_qmodel *q, const struct mpqx_config *c, const struct mpqx_device *dev,
		 const struct mpqx_coeffs *k, struct mpqx_estimate *est, struct mpqx_err *err);

/* The storage the RTL uses for layer l's output buffer / ROMs when the config says auto (the rule of
 * doc/estimator.md); other values are returned unchanged. Shared by the estimator and the exporter. */
enum mpqx_storage estimate_resolve_buffer(const struct mpqx_qmodel *q, const struct mpqx_config *c, int l);
enum mpqx_storage estimate_resolve_rom(const struct mpqx_qmodel *q, const struct mpqx_config *c, int l);

/* The same on device dev, whose family decides (NULL: xc7). iCE40: a buffer goes to EBR from 256 bits,
 * to SPRAM when it would take more than 8 EBRs and the device has SPRAM, else to flip-flops; a ROM to
 * EBR from 1024 bits, else to logic (doc/hardware.md, "iCE40"). */
enum mpqx_storage estimate_resolve_buffer_on(const struct mpqx_qmodel *q, const struct mpqx_config *c, int l,
					     const struct mpqx_device *dev);
enum mpqx_storage estimate_resolve_rom_on(const struct mpqx_qmodel *q, const struct mpqx_config *c, int l,
					  const struct mpqx_device *dev);

/* Where layer l's multipliers go when the config says auto (doc/hardware.md, "Multipliers"): logic when
 * its data product is narrower than MPQX_MULT_LOGIC_BELOW bits (the operands' widths added), else DSP
 * slices; layers without a choice (hw_mult_kind) and rescale-only layers resolve to DSP. */
#define MPQX_MULT_LOGIC_BELOW 9
enum mpqx_mult estimate_resolve_mult(const struct mpqx_qmodel *q, const struct mpqx_config *c, int l);
/* On dev: as above, and logic on a device without DSP blocks. */
enum mpqx_mult estimate_resolve_mult_on(const struct mpqx_qmodel *q, const struct mpqx_config *c, int l,
					const struct mpqx_device *dev);

const char *estimate_resource_name(enum mpqx_resource r);

/* ---- The rules, exposed for tests and tools (doc/estimator.md) ---- */

/* RAMB18 count of a simple dual-port memory of depth x width with a registered read, as Yosys maps it
 * (the cheapest RAMB18 shape; RAMB36 sites count as two). */
long estimate_bram18(long depth, int width);
/* RAMB18s of a ROM (no write port) of depth x width in block RAM: Yosys may also fold the depth in two
 * halves read side by side (depth/2 x 2*width) and pick one with a 2:1 multiplexer per bit; *fold (may
 * be NULL) receives 2 when that is cheaper, else 1. */
long estimate_bram18_rom(long depth, int width, int *fold);

/* SB_RAM40_4K count of a depth x width memory (256 x 16, 512 x 8, 1024 x 4 or 2048 x 2 each, the
 * cheapest as Yosys's memory_libmap picks) and SB_SPRAM256KA count (16K x 16 each). */
long estimate_ebr(long depth, int width);
long estimate_spram(long depth, int width);

/* SB_MAC16 count of an a-bit by b-bit product with y result bits, as synth_ice40 -dsp splits it (16 x 16
 * slices; operands of at least 2 bits and a product of at least 11). */
int estimate_dsp_ice40(int a, int b, int y, bool a_signed, bool b_signed);

/* LUTs used as memory by a distributed simple dual-port RAM of depth x width: RAM32M below 64 words,
 * RAM64M banks of 64 words above, RAM128X1D for 128 x 1. */
long estimate_lutram(long depth, int width);

/* DSP48E1 count of a product of an a-bit by a b-bit operand with y result bits, as Yosys's mul2dsp splits
 * it into 25 x 18 signed slices; 0 when it stays in LUTs (an operand below 2 bits or y below 9 bits). */
int estimate_dsp(int a, int b, int y, bool a_signed, bool b_signed);

/* DSP48E1 count of |v| (vbits unsigned) times the constant m: trailing zeros of m become a shift, a power
 * of two needs no multiplier. */
int estimate_dsp_const(int vbits, int64_t m);

/* ---- Features of the LUT/FF models, for refitting (tools/fit_costs.py) ---- */

#define MPQX_EST_MAX_FEATURES 16
#define MPQX_EST_MAX_BLOCKS 12

/* One block of a layer as the RTL builds it: its kind (a section of the cost ini), the values of the
 * kind's features (names[i], static strings), its cost and the part of it that comes from rules
 * (memories, DSPs, registers counted exactly) rather than from the fitted model. cost is the block with
 * the hierarchy kept (its kind's coefficients unscaled), which the blocks are fitted on. */
struct mpqx_est_block {
	const char *kind;
	int n_features;
	const char *const *names;
	double f[MPQX_EST_MAX_FEATURES];
	struct mpqx_cost cost, rule;
};

/* The blocks of layer l (at most MPQX_EST_MAX_BLOCKS; blocks of one kind are summed) and of the top
 * module (l = -1). Returns the number of blocks. */
int estimate_layer_blocks(const struct mpqx_qmodel *q, const struct mpqx_config *c,
			  const struct mpqx_coeffs *k, int l, struct mpqx_est_block *out);
/* The same on device dev (its family's rules; NULL: xc7). */
int estimate_layer_blocks_on(const struct mpqx_qmodel *q, const struct mpqx_config *c, const struct mpqx_device *dev,
			     const struct mpqx_coeffs *k, int l, struct mpqx_est_block *out);

#endif
