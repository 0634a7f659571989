/* Incremental integer evaluation of the test set: keeps every layer's integer outputs for all test
 * windows and recomputes only the layers whose inputs or settings changed. When those caches exceed the
 * memory budget (fref.h: MPQX_EVAL_MEMORY_MB), it streams the windows instead (chunked mode): same
 * results, no per-window cache, every run recomputes every layer. */
#ifndef MPQX_IEVAL_H
#define MPQX_IEVAL_H

#include <stdbool.h>
#include <stdint.h>

#include "mpqx/dataset.h"
#include "mpqx/fref.h"
#include "mpqx/quant.h"

struct mpqx_ieval;

struct mpqx_layer_stats {
	double sqnr_db;  /* against the float output of the same layer; 999 when exact */
	long clipped;    /* clamp events over the test windows */
};

struct mpqx_eval_result {
	int windows;
	double mse, rmse, mae;          /* normalised scale */
	double mse_float;               /* the float model on the same windows */
	double rmse_denorm, mae_denorm; /* in the target's unit */
	int n_layers;
	struct mpqx_layer_stats *layers; /* owned by the engine, valid until the next run or free */
	long recomputed;                 /* layers recomputed by the last run */
	long macs;                       /* multiply-accumulates done by the last run */
};

/* Creates an engine over the test windows of d. fref supplies the float outputs for SQNR (fref or its act
 * may be NULL: SQNR is then not computed, unless fref->act_wanted says the budget dropped them, in which
 * case the engine recomputes them). threads 0 means one per core. The caller owns *out. */
int ieval_new(const struct mpqx_model *m, const struct mpqx_dataset *d, const struct mpqx_fref *fref,
	      int threads, struct mpqx_ieval **out, struct mpqx_err *err);

/* As ieval_new, with the memory budget in bytes (ieval_new uses fref_memory_budget()): chunked mode when
 * every layer's int16 outputs, plus fref's activations when it holds them, exceed it, or when fref
 * dropped its activations for the budget (the float outputs are then recomputed window by window for the
 * SQNR). */
int ieval_new_budget(const struct mpqx_model *m, const struct mpqx_dataset *d, const struct mpqx_fref *fref,
		     int threads, size_t budget, struct mpqx_ieval **out, struct mpqx_err *err);

/* Whether e streams its windows (no per-window cache). Its runs then compute the SQNR (when fref is given)
 * whatever ieval_set_sqnr says, since no outputs remain to compute it later. */
bool ieval_chunked(const struct mpqx_ieval *e);

void ieval_free(struct mpqx_ieval *e);

/* Evaluates q. The first run computes every layer; later runs recompute the layers whose settings differ
 * from the previous run's config, and every layer downstream of them. force_all recomputes everything. */
int ieval_run(struct mpqx_ieval *e, const struct mpqx_qmodel *q, const struct mpqx_config *c, bool force_all,
	      struct mpqx_eval_result *res, struct mpqx_err *err);

/* With on = false, runs skip the per-layer SQNR (its sqnr_db is NAN until ieval_update_sqnr): the MSE is
 * ready sooner on a slider move, and the SQNR follows. */
void ieval_set_sqnr(struct mpqx_ieval *e, bool on);

/* Computes the SQNR of every layer whose value is missing since the last run; res->layers is refreshed
 * when res is not NULL. */
int ieval_update_sqnr(struct mpqx_ieval *e, struct mpqx_eval_result *res);

/* As ieval_update_sqnr, but asks stop(arg) before each layer (and every 128 windows) and returns false, with the layers done so
 * far kept, when it says true (an interface drops the SQNR when a newer change is waiting); true when every
 * layer's SQNR is current. */
bool ieval_update_sqnr_until(struct mpqx_ieval *e, struct mpqx_eval_result *res, bool (*stop)(void *), void *arg);

/* Integer outputs of layer l for test window w from the last run: rows*cols values, owned by e. In chunked
 * mode only the output layer is kept: NULL for the others. */
const int16_t *ieval_output(const struct mpqx_ieval *e, int layer, int window);

/* Evaluates one window from scratch without touching any cache: out[l] must hold rows*cols values per
 * layer. Adds clamp events into clipped[l] when clipped is not NULL. Returns MPQX_OK or MPQX_ENOMEM. */
int ieval_window(const struct mpqx_qmodel *q, const float *window, int16_t **out, long *clipped);

#endif
