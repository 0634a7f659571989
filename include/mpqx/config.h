/* Per-layer quantization and storage settings (config format v1, doc/config-format.md). */
#ifndef MPQX_CONFIG_H
#define MPQX_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "mpqx/err.h"
#include "mpqx/model.h"

#define MPQX_BITS_MIN 2
#define MPQX_BITS_MAX 16

/* Where a memory lives. For buffers: block RAM, distributed (LUT RAM on xc7, flip-flops on iCE40), SPRAM
 * (iCE40 UltraPlus single-port RAM, buffers only), or auto. For ROMs: block RAM, logic (LUTs), or auto.
 * What a device offers: device_storage_ok (device.h). */
enum mpqx_storage { MPQX_STORE_AUTO, MPQX_STORE_BLOCK, MPQX_STORE_DIST, MPQX_STORE_SPRAM, MPQX_STORE_COUNT };

/* Where a layer's multipliers go: DSP48 slices, logic (a LUT multiplier for the data product and a
 * shift-add network for the requantizer's constant), or auto (doc/hardware.md, "Multipliers"). */
enum mpqx_mult { MPQX_MULT_AUTO, MPQX_MULT_DSP, MPQX_MULT_LOGIC, MPQX_MULT_COUNT };
/* How an activation range is calibrated (doc/quantization.md, "Calibration methods"). */
enum mpqx_calib { MPQX_CALIB_MINMAX, MPQX_CALIB_PERCENTILE, MPQX_CALIB_MSE, MPQX_CALIB_COUNT };
/* The default method: the one with the least MSE on the calib windows (tools/calib_select.py). */
#define MPQX_CALIB_DEFAULT MPQX_CALIB_PERCENTILE
/* Weight scales of a layer with weights: one for the tensor, or one per output row (doc/quantization.md,
 * "Per-channel weight scales"). */
enum mpqx_wgran { MPQX_WGRAN_TENSOR, MPQX_WGRAN_CHANNEL, MPQX_WGRAN_COUNT };
#define MPQX_WGRAN_DEFAULT MPQX_WGRAN_TENSOR

struct mpqx_layer_cfg {
	int w_bits, a_bits;
	enum mpqx_storage buffer, rom;
	enum mpqx_mult mult;
	enum mpqx_calib calib;
	enum mpqx_wgran w_gran;
};

struct mpqx_config {
	char device[64];
	char model[128]; /* the model the loaded file names ("" when none); not compared by config_equal */
	struct mpqx_layer_cfg defaults;
	int n_layers;
	struct mpqx_layer_cfg *layers; /* one per model layer, every key resolved; owned */
};

/* Every layer at bits for weights and outputs, storage auto, device xc7s15. Returns MPQX_ENOMEM on
 * failure. The caller finalises with config_fini. */
int config_init(struct mpqx_config *c, const struct mpqx_model *m, int bits);
void config_fini(struct mpqx_config *c);

/* Deep copy; dst must be finalised or zeroed. */
int config_copy(struct mpqx_config *dst, const struct mpqx_config *src);

/* true when both configs set the same values for every layer and device. */
bool config_equal(const struct mpqx_config *a, const struct mpqx_config *b);

/* Loads a config file for model m into c (initialised by this call). Errors name the file and the JSON
 * path; an unknown layer name is an error, a key that means nothing for a layer is ignored. */
int config_load(const char *path, const struct mpqx_model *m, struct mpqx_config *c, struct mpqx_err *err);

/* As config_load, from text: len bytes NUL-terminated (text[len] == '\0'); name stands for the file in the
 * messages. */
int config_parse(const char *text, size_t len, const char *name, const struct mpqx_model *m, struct mpqx_config *c,
		 struct mpqx_err *err);

/* Writes c atomically (temporary file, fsync, rename). */
int config_save(const char *path, const struct mpqx_model *m, const struct mpqx_config *c,
		struct mpqx_err *err);

/* Serialises c as JSON text; the caller frees the result. NULL on out of memory. */
char *config_to_json(const struct mpqx_model *m, const struct mpqx_config *c);

/* Name of a storage value for buffers ("block", "distributed", "spram", "auto") or ROMs ("block", "logic",
 * "auto"; "?" for spram). The loader also reads "ebr" for block and, for buffers, "logic" and
 * "registers" for distributed (the iCE40 words). */
const char *config_storage_name(enum mpqx_storage s, bool rom);

/* Name of a multiplier choice ("auto", "dsp", "logic"). */
const char *config_mult_name(enum mpqx_mult m);
/* Name of a calibration method ("minmax", "percentile", "mse"). */
const char *config_calib_name(enum mpqx_calib m);
/* Name of a weight granularity ("tensor", "channel"). */
const char *config_wgran_name(enum mpqx_wgran g);

#endif
