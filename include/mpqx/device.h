/* FPGA device capacities (devices/NAME.ini) and the family's estimator coefficients
 * (devices/FAMILY-cost.ini). */
#ifndef MPQX_DEVICE_H
#define MPQX_DEVICE_H

#include <stdbool.h>
#include <stddef.h>

#include "mpqx/config.h"
#include "mpqx/err.h"
#include "mpqx/model.h"

/* The families whose primitives the templates and the estimator know (doc/hardware.md). A device file
 * naming another family is read as an xc7-like one (LUT RAM, block RAM, DSP slices). */
enum mpqx_family_id { MPQX_FAMILY_XC7, MPQX_FAMILY_ICE40 };

/* Capacities. On iCE40 (doc/hardware.md, "iCE40"): lut counts logic cells (a LUT4 and a flip-flop each),
 * lutram is 0 (no LUT RAM), ff the flip-flops (one per logic cell), bram18 the EBRs (SB_RAM40_4K, 4 Kbit)
 * and spram the SB_SPRAM256KA blocks; dsp counts DSP48E1 slices on xc7 and SB_MAC16 on iCE40. The device
 * file spells them in the family's words (ice40: lc, ebr, spram). */
struct mpqx_device {
	char name[64];
	char family[32];
	enum mpqx_family_id fam;
	long lut, lutram, ff, bram18, dsp, spram;
	double clock_mhz;
};

/* Loads a device by name (looked up as DIR/NAME.ini) or by a path ending in .ini. Errors name the file
 * and line. */
int device_load(const char *dir, const char *name_or_path, struct mpqx_device *d, struct mpqx_err *err);

/* Lists the device names of dir (NAME.ini files other than *-cost.ini), sorted, into names. Returns the
 * count (at most max). */
int device_list(const char *dir, char (*names)[64], int max);

/* The family of a family name ("ice40", otherwise xc7). */
enum mpqx_family_id device_family_of(const char *family);

/* true when a config may ask d for storage s of a buffer (rom false) or a ROM (rom true): auto, block
 * and distributed/logic always; spram only for buffers on a device with SPRAM blocks. d NULL: an xc7. */
bool device_storage_ok(const struct mpqx_device *d, enum mpqx_storage s, bool rom);

/* The storage's name in the family's words for tables and the explorer: xc7 "block", "lut" (buffers),
 * "logic" (ROMs); iCE40 "ebr", "regs" (buffers in flip-flops), "logic" (ROMs), "spram". Static string. */
const char *device_storage_label(const struct mpqx_device *d, enum mpqx_storage s, bool rom);

/* Names of the resources as the family calls them, for tables: lut, lutram, ff, bram18, dsp on xc7;
 * lc, -, ff, ebr, dsp on iCE40 (index: enum mpqx_resource of estimate.h, 0..4; 5 is spram). */
const char *device_resource_label(const struct mpqx_device *d, int r);

/* Checks config c of model m against what device d has: a buffer in SPRAM on a device without SPRAM is
 * an error naming where (file, "layers.NAME.buffer" or "defaults.buffer"; file NULL: "config"). DSP
 * multipliers asked of a device without DSP are not an error (they go to logic,
 * estimate_resolve_mult_on): they go into warn (one line per layer, "" when none). */
int device_check_config(const struct mpqx_device *d, const struct mpqx_model *m, const struct mpqx_config *c,
			const char *file, char *warn, size_t warn_size, struct mpqx_err *err);

#endif
