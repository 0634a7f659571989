/* Resource and latency estimate of the exported RTL, per layer (doc/estimator.md). */
#ifndef MPQX_ESTIMATE_H
#define MPQX_ESTIMATE_H

#include <stdbool.h>

#include "mpqx/config.h"
#include "mpqx/device.h"
#include "mpqx/quant.h"

/* Resources of one block or layer. lut counts logic LUTs only; LUTs used as memory are in lutram. */
struct mpqx_cost {
	long lut, lutram, ff, bram18, dsp;
	long cycles;
};

enum mpqx_resource { MPQX_RES_LUT, MPQX_RES_LUTRAM, MPQX_RES_FF, MPQX_RES_BRAM, MPQX_RES_DSP, MPQX_RES_COUNT };

struct mpqx_estimate {
	int n_layers;
	struct mpqx_cost *layers;            /* per model layer; owned */
	enum mpqx_storage *buffer, *rom;     /* per layer, auto resolved to block or distributed/logic; owned */
	struct mpqx_cost total;
	double bram_tiles;                   /* RAMB18 count / 2, as Vivado reports "Block RAM Tile" */
	double latency_us;                   /* total cycles at the device clock */
	double util[MPQX_RES_COUNT];         /* fraction of the device's capacity */
	bool fits;
	enum mpqx_resource limiting;         /* the resource with the highest utilisation */
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

const char *estimate_resource_name(enum mpqx_resource r);

#endif
