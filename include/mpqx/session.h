/* A working session on one model: the model, its data and float reference, the current config, the
 * integer model built from it, its evaluation on the test set and its resource estimate on a device. The
 * explorer, the CLI and the search drive the same object; it knows nothing of a terminal.
 *
 * Two ways to apply a config:
 *  - session_apply: everything at once (quant_build, estimate, integer evaluation), for the CLI;
 *  - session_request + session_poll: the integer model and the estimate now, the evaluation on a
 *    worker thread, so a user interface can paint the new estimate at once and the new error when it
 *    arrives: first the MSE on a stratified subset of the test windows (eval_subset), then the whole
 *    set's, which the worker abandons when a newer request arrives. Only the evaluation is deferred; every field below changes only inside session_apply,
 *    session_request and session_poll, on the caller's thread. */
#ifndef MPQX_SESSION_H
#define MPQX_SESSION_H

#include <stdbool.h>

#include "mpqx/config.h"
#include "mpqx/dataset.h"
#include "mpqx/device.h"
#include "mpqx/err.h"
#include "mpqx/estimate.h"
#include "mpqx/fref.h"
#include "mpqx/ieval.h"
#include "mpqx/model.h"
#include "mpqx/quant.h"

#define MPQX_DEVICE_MAX 32 /* devices listed from a directory */

struct mpqx_session_opts {
	const char *devices_dir; /* DIR/NAME.ini and DIR/FAMILY-cost.ini; required */
	const char *config;      /* config file to start from, or NULL: uniform 8 bits, storage auto */
	const char *device;      /* device name or .ini path overriding the config's, or NULL */
	int threads;             /* evaluation threads, 0: one per core */
	bool async;              /* start a worker thread for session_request */
	bool device_fallback;    /* a config naming an unknown device opens on the default device (note says
				  * so) instead of failing */
	int subset;              /* test windows of the subset whose MSE the worker shows first after a change
				  * (ieval.h); 0: ieval_subset_size when async and ieval_subset_wanted, else
				  * none; < 0: none */
	bool subset_always;      /* with subset 0: ieval_subset_size's subset in any case (screen dumps) */
};

struct mpqx_session_priv; /* opaque: the worker and scratch space */

struct mpqx_session {
	struct mpqx_model *model;  /* owned */
	struct mpqx_dataset *data; /* owned */
	struct mpqx_fref *fref;    /* owned, with the float test-set activations */
	char devices_dir[4096];

	/* The config of the integer model and estimate below. */
	struct mpqx_config cfg;
	struct mpqx_qmodel *q; /* owned */
	struct mpqx_device dev;
	char coeffs_family[32];
	struct mpqx_coeffs *coeffs; /* owned */
	struct mpqx_estimate est;

	/* Evaluation of eval_cfg (equal to cfg unless eval_pending). */
	struct mpqx_config eval_cfg;
	bool eval_valid;   /* an evaluation has completed at least once */
	bool eval_pending; /* an evaluation of cfg is running or queued */
	bool sqnr_pending; /* the per-layer SQNR of the shown run is still being computed */
	bool eval_subset;  /* res is the MSE on the worker's stratified subset of the test windows (ieval.h:
			    * res.windows of res.windows_total, res.mse_se), shown first after a change; the
			    * clamps, SQNR and forecasts are the last whole-set run's until it follows */
	struct mpqx_eval_result res; /* res.layers points to layer_stats */
	struct mpqx_layer_stats *layer_stats; /* [n_layers], owned */
	float *pred_q;    /* [windows * out_features] dequantized forecasts (normalised), owned */
	double eval_ms;   /* wall time of the last evaluation */
	long eval_seq;    /* increases with every published evaluation */

	struct mpqx_err eval_err; /* code != 0 when the last deferred evaluation failed */

	/* A warning from session_open for the user ("" when none): the config was saved for another model,
	 * or its unknown device was replaced by the default. */
	char note[MPQX_ERR_LEN];
	struct mpqx_session_priv *priv;
};

/* Loads the model (a file or a sample directory), its dataset, the float reference, the start config,
 * the device and its coefficients, and evaluates once (synchronously). The caller owns *out
 * (session_free). Errors name the file and place. */
int session_open(const char *path, const struct mpqx_session_opts *opts, struct mpqx_session **out,
		 struct mpqx_err *err);

/* Stops the worker and frees everything; NULL is a no-op. */
void session_free(struct mpqx_session *s);

/* Makes c the session's config: rebuilds the integer model, re-estimates (loading the device when
 * c->device changed) and re-evaluates the layers whose settings changed and those downstream. Waits for
 * any deferred evaluation first. On error the session keeps its previous config and results. */
int session_apply(struct mpqx_session *s, const struct mpqx_config *c, struct mpqx_err *err);

/* Like session_apply, but the evaluation runs on the worker (sync when opened without async). The
 * estimate is current on return; eval_pending says the error figures belong to eval_cfg. */
int session_request(struct mpqx_session *s, const struct mpqx_config *c, struct mpqx_err *err);

/* Publishes a finished deferred evaluation into the fields above. Returns true when it did. */
bool session_poll(struct mpqx_session *s);

/* Blocks until the first MSE of the last request is out (the subset's, or the whole set's when the session
 * has no subset), or nothing is pending, then publishes it. */
void session_wait_first(struct mpqx_session *s);

/* Shows the subset's MSE of the current config in place of the whole set's (as after a change, before the
 * whole set's arrives; eval_subset true), waiting for the worker first: for screen dumps. A no-op without
 * a subset. */
int session_show_subset(struct mpqx_session *s, struct mpqx_err *err);

/* The windows of the worker's subset, 0 when it has none (no worker, or a test set no larger). */
int session_subset_windows(const struct mpqx_session *s);

/* Blocks until no evaluation is pending, then publishes it. The worker publishes a run's MSE, forecasts
 * and clamp counts first; the per-layer SQNR of the layers it recomputed is NAN until a second publish. */
void session_wait(struct mpqx_session *s);

/* As session_wait, and also waits for the SQNR of the last run (none comes when a newer change was
 * waiting; then the next run's does). */
void session_wait_sqnr(struct mpqx_session *s);

/* Layer conveniences over session_request: one layer's settings, every layer's bit widths (w_bits for
 * layers with weights, a_bits for all; a value < MPQX_BITS_MIN leaves that width alone), the device. */
int session_set_layer(struct mpqx_session *s, int layer, const struct mpqx_layer_cfg *lc, struct mpqx_err *err);
int session_set_all_bits(struct mpqx_session *s, int w_bits, int a_bits, struct mpqx_err *err);
int session_set_device(struct mpqx_session *s, const char *name, struct mpqx_err *err);

/* Which settings mean something for a layer: weight bits (linear, affine), a ROM (the op class says: weights, a
 * const, the softmax table). */
bool session_layer_has_wbits(const struct mpqx_session *s, int layer);
bool session_layer_has_rom(const struct mpqx_session *s, int layer);
/* true when the layer has a multiplier choice (config "mult"; hw_mult_kind). */
bool session_layer_has_mult(const struct mpqx_session *s, int layer);
/* true when the layer's weights may be per channel (config "w_granularity": linear, affine). */
bool session_layer_has_wgran(const struct mpqx_session *s, int layer);
/* true when the layer's output range comes from its calibration method (config "calibration": every
 * layer but const and softmax). */
bool session_layer_has_calib(const struct mpqx_session *s, int layer);

/* The resource of layer l's estimate that takes the largest share of the device; *frac gets the share
 * (may be NULL). */
enum mpqx_resource session_dominant(const struct mpqx_session *s, int layer, double *frac);

/* Capacity of the device for resource r, BRAM in tiles (RAMB18 / 2), and the design's use of it. LUT
 * counts logic and memory LUTs (Vivado's "Slice LUTs"), as the estimate's utilisation does. */
double session_capacity(const struct mpqx_session *s, enum mpqx_resource r);
double session_used(const struct mpqx_session *s, enum mpqx_resource r);

/* How much layer l itself degrades the signal: its SQNR below the worst SQNR of its inputs, in dB
 * (>= 0; for input and const layers, below 60 dB). A cheap stand-in for the MSE sensitivity that a
 * search measures; 0 before the first evaluation. */
double session_layer_loss_db(const struct mpqx_session *s, int layer);

/* Test-set forecasts of window w in the target's unit: truth, float and quantized. */
double session_truth(const struct mpqx_session *s, int w);
double session_pred_float(const struct mpqx_session *s, int w);
double session_pred_quant(const struct mpqx_session *s, int w);

/* Total clamp events of the last evaluation. */
long session_clipped(const struct mpqx_session *s);

/* Lists the device names of dir (NAME.ini files other than *-cost.ini), sorted, into names. Returns the
 * count (at most max). */
int session_list_devices(const char *dir, char (*names)[64], int max);

#endif
