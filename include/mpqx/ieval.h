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
	int windows;                    /* windows evaluated */
	int windows_total;              /* test windows of the dataset (more than windows for a subset) */
	double mse, rmse, mae;          /* normalised scale */
	double mse_se;                  /* subset: standard error of mse as an estimate of the whole test set's
					 * MSE; 0 for the whole set */
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

/* Subset engines: the MSE on a fixed, stratified subset of the test windows, as a quick estimate of the
 * whole set's (the explorer shows it first, `mpqx eval --quick`). The test windows in time order are cut
 * into n strata of consecutive windows, [k N / n, (k + 1) N / n), and the middle window of each is taken:
 * deterministic, spread evenly over the test period. Its standard error (mse_se) is the
 * successive-difference estimate for one sample per stratum, with the finite-population correction. A
 * subset engine is incremental like the whole set's (its own cache of the n windows' outputs), computes
 * no SQNR, and its mse_float is the float model's MSE on the same windows. */

/* Multiply-accumulates a subset's full evaluation aims at (the subset size is this over the model's MACs
 * per window, within [MIN, MAX] and at most the test windows). */
#define MPQX_SUBSET_MACS 2.0e9
#define MPQX_SUBSET_MIN 16
#define MPQX_SUBSET_MAX 128

/* The subset size for m over `windows` test windows (the rule above). */
int ieval_subset_size(const struct mpqx_model *m, int windows);

/* Whether a subset is worth evaluating first: the whole set's evaluation from scratch costs more than
 * MPQX_SUBSET_MACS (a bundled sample's does not: its whole-set MSE comes as fast). */
bool ieval_subset_wanted(const struct mpqx_model *m, int windows);

/* The n windows of the stratified subset of `windows` test windows, ascending, into idx[n]. */
void ieval_subset_windows(int windows, int n, int *idx);

/* An engine over the stratified subset of n test windows (n <= 0: ieval_subset_size). fref may be NULL
 * (then mse_float is NAN); only its forecasts are used. */
int ieval_new_subset(const struct mpqx_model *m, const struct mpqx_dataset *d, const struct mpqx_fref *fref,
		     int threads, int n, struct mpqx_ieval **out, struct mpqx_err *err);

/* Whether e is a subset engine. */
bool ieval_subset(const struct mpqx_ieval *e);

/* Whether e streams its windows (no per-window cache). Its SQNR (when fref is given) comes from the run,
 * or, with ieval_set_sqnr off, from ieval_update_sqnr running the windows again (no outputs remain). */
bool ieval_chunked(const struct mpqx_ieval *e);

void ieval_free(struct mpqx_ieval *e);

/* Evaluates q. The first run computes every layer; later runs recompute the layers whose settings differ
 * from the previous run's config, and every layer downstream of them. force_all recomputes everything. */
int ieval_run(struct mpqx_ieval *e, const struct mpqx_qmodel *q, const struct mpqx_config *c, bool force_all,
	      struct mpqx_eval_result *res, struct mpqx_err *err);

/* Returned by ieval_run_until when stop said true (not an error: no message is set). */
#define MPQX_IEVAL_STOPPED 100

/* As ieval_run, but asks stop(arg) before each window (from every thread: it must be thread-safe) and
 * abandons the run when it says true, returning MPQX_IEVAL_STOPPED with *res untouched; the outputs it
 * left half done are recomputed by the next run. */
int ieval_run_until(struct mpqx_ieval *e, const struct mpqx_qmodel *q, const struct mpqx_config *c,
		    bool force_all, bool (*stop)(void *), void *arg, struct mpqx_eval_result *res,
		    struct mpqx_err *err);

/* With on = false, runs skip the per-layer SQNR (its sqnr_db is NAN until ieval_update_sqnr): the MSE is
 * ready sooner on a slider move, and the SQNR follows. */
void ieval_set_sqnr(struct mpqx_ieval *e, bool on);

/* Computes the SQNR of every layer whose value is missing since the last run; res->layers is refreshed
 * when res is not NULL. In chunked mode this runs the last run's windows again with its integer model,
 * which must still be alive (the q given to ieval_run). */
int ieval_update_sqnr(struct mpqx_ieval *e, struct mpqx_eval_result *res);

/* As ieval_update_sqnr, but asks stop(arg) before each layer (and every 128 windows; chunked: before each
 * window, from every thread, so stop must be thread-safe) and returns false, with the layers done so
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
