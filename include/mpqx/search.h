/* Resource-aware search over per-layer bit widths and storage (doc/search.md): how much the test MSE
 * depends on each layer's bits (sensitivity), the configuration of least MSE that fits every resource of
 * a device, and the Pareto fronts of MSE against LUTs, BRAM tiles and latency.
 *
 * Pricing a configuration is cheap: its MSE comes from a per-layer surrogate built from the measured
 * sensitivities, its resources from the estimator (estimate_run, memoised per layer and setting: a
 * layer's cost depends only on its own settings and its inputs' output bits). The finalists and every
 * point of the fronts are then evaluated exactly by the integer engine; each figure says whether it is
 * exact. */
#ifndef MPQX_SEARCH_H
#define MPQX_SEARCH_H

#include <stdbool.h>

#include "mpqx/config.h"
#include "mpqx/device.h"
#include "mpqx/err.h"
#include "mpqx/estimate.h"
#include "mpqx/session.h"

struct mpqx_search; /* opaque: the engine, the device, the caches and an optional worker thread */

/* The test MSE's dependence on each layer's bits, measured with the incremental engine: from the
 * reference configuration (every layer at ref_bits), one layer's weights (or outputs) alone at b bits. */
struct mpqx_sensitivity {
	int n_layers;
	int ref_bits;
	double mse_ref;   /* MSE of the reference configuration (normalised scale) on the search's windows */
	double mse_float; /* of the float model on the same windows */
	/* dw[l][b] and da[l][b], b in MPQX_BITS_MIN..MPQX_BITS_MAX: test MSE with layer l's weights (outputs)
	 * at b bits minus mse_ref. dw is 0 for a layer without weights. Owned. */
	double (*dw)[MPQX_BITS_MAX + 1];
	double (*da)[MPQX_BITS_MAX + 1];
	/* Where a value was measured; the others (bits where the effect had already vanished twice in a row)
	 * are extrapolated as quantization noise, a quarter per added bit. Owned. */
	bool (*mw)[MPQX_BITS_MAX + 1];
	bool (*ma)[MPQX_BITS_MAX + 1];
	long runs;  /* engine evaluations */
	double ms;  /* wall time */
};

/* What the search may change and what must hold. */
struct mpqx_search_opts {
	int n_wbits, wbits[MPQX_BITS_MAX + 1]; /* weight bit choices, ascending; n_wbits 0: 2..16 */
	int n_abits, abits[MPQX_BITS_MAX + 1]; /* output bit choices, ascending; n_abits 0: 2..16 */
	bool keep_storage;   /* keep the base config's buffer and ROM storage instead of choosing it */
	double margin;       /* fraction of every resource left free, 0 <= margin < 1 */
	double limit[MPQX_RES_COUNT]; /* explicit caps below the device's (BRAM in tiles); 0: none */
	double latency_us;   /* upper bound on the latency of one window; 0: none */
	int finalists;       /* best configurations by surrogate re-evaluated exactly (default 8) */
	int polish;          /* further exact evaluations around the best (default 48) */
	int front_points;    /* points per Pareto front, each evaluated exactly (default 12) */
	/* After the exact polish, try per-channel weights (w_granularity "channel") on the best, one layer
	 * with weights at a time, each evaluated exactly and kept when it still fits and lowers the MSE. */
	bool channel;
	/* A configuration that competes with what the search finds (borrowed, NULL: none): when it fits, it
	 * is evaluated exactly after the search and becomes the best when its MSE is lower, so that the result
	 * is never worse than it (the explorer passes the edited config). The search itself does not start
	 * from it. */
	const struct mpqx_config *candidate;
};

/* One configuration with its figures. */
struct mpqx_search_point {
	struct mpqx_config cfg;   /* owned */
	double mse;               /* the engine's test MSE when exact, else the surrogate's */
	double mse_surrogate;
	bool exact;
	double used[MPQX_RES_COUNT]; /* LUT (logic and memory), LUTRAM, FF, BRAM tiles, DSP */
	double latency_us;
	bool fits;                /* within the budget: every resource and the latency bound */
};

enum mpqx_front { MPQX_FRONT_LUT, MPQX_FRONT_BRAM, MPQX_FRONT_LATENCY, MPQX_FRONT_COUNT };

struct mpqx_search_result {
	enum mpqx_split split;          /* the windows every MSE below is computed on */
	bool found;                     /* some configuration fits */
	struct mpqx_search_point best;  /* the best that fits (exact), when found */
	char why[320];                  /* when nothing fits: the resource that cannot be met and why */
	bool candidate_fits;            /* the options' candidate fits (then candidate_mse is its exact MSE) */
	double candidate_mse;
	bool candidate_best;            /* best is the candidate: the search found nothing better */
	double budget[MPQX_RES_COUNT];  /* the caps applied (BRAM in tiles) */
	double latency_max;             /* 0: none */
	/* Each front: the configurations of least MSE for their use of the resource among those that meet
	 * every other resource and the latency bound, by increasing use. Owned. */
	int n_front[MPQX_FRONT_COUNT];
	struct mpqx_search_point *front[MPQX_FRONT_COUNT];
	/* How it went. */
	long priced;        /* configurations priced (surrogate MSE and resources) */
	double price_ms;    /* wall time of the surrogate phase (pricing and the moves around it) */
	double rate;        /* priced / price_ms, per second */
	long cost_misses;   /* layer settings estimated afresh (quant_build + estimate_run) */
	long exact_runs;    /* exact evaluations by the engine */
	double exact_ms;
	double best_surrogate_mse; /* the surrogate's figure for best, before the exact phase */
	double total_ms;
};

/* Exhaustive enumeration of a (small) space, for checking the search. */
struct mpqx_search_exhaustive {
	long configs;   /* enumerated */
	long fit;       /* within the budget, evaluated exactly */
	bool found;
	struct mpqx_search_point best; /* least exact MSE among those that fit */
	double ms;
};

/* Creates a search over the session's model, data and float reference (borrowed: the session must
 * outlive it). Its MSE figures (sensitivity, surrogate, exact) are computed on the windows of the part
 * split of the data: MPQX_TEST, the figure mpqx reports everywhere, or MPQX_CALIB (or MPQX_TRAIN) to
 * select configurations on other windows than those their test MSE is then reported on. The device and
 * its coefficients are loaded from the session's devices directory by the name in each base config.
 * threads: engine threads (0: one per core). The caller owns *out. */
int search_new(const struct mpqx_session *s, enum mpqx_split split, int threads, struct mpqx_search **out,
	       struct mpqx_err *err);

/* Stops a running job and frees everything; NULL is a no-op. */
void search_free(struct mpqx_search *s);

/* Default options: bits 2..16, storage chosen, no margin, no latency bound. */
void search_opts_default(struct mpqx_search_opts *o);

/* Parses a bit list such as "4,6,8" or "4-8" into bits (ascending, unique). Returns the count, or -1. */
int search_parse_bits(const char *text, int *bits, int max);

/* Measures the sensitivities once (later calls return the same); *out stays owned by s. */
int search_sensitivity(struct mpqx_search *s, const struct mpqx_sensitivity **out, struct mpqx_err *err);

/* MSE increase (normalised scale) when layer l loses one bit of its weights (weights true) or outputs
 * from its settings in c, from the measured curve; 0 at MPQX_BITS_MIN or without weights. */
double search_sens_step(const struct mpqx_sensitivity *sn, const struct mpqx_config *c, int l, bool weights);

/* Finds the configuration of least MSE that fits the device named by base->device (bits from the
 * options' choices, storage chosen unless keep_storage), and the fronts. base gives the device and, with
 * keep_storage, the storage. res is filled (search_result_fini). */
int search_run(struct mpqx_search *s, const struct mpqx_config *base, const struct mpqx_search_opts *o,
	       struct mpqx_search_result *res, struct mpqx_err *err);

void search_result_fini(struct mpqx_search_result *res);

/* Prices c under the options' budget: surrogate MSE (not exact), resources, fit. p->cfg is left
 * untouched. Needs the sensitivities (measured on first use). */
int search_price(struct mpqx_search *s, const struct mpqx_config *c, const struct mpqx_search_opts *o,
		 struct mpqx_search_point *p, struct mpqx_err *err);

/* The engine's test MSE of c. */
int search_exact(struct mpqx_search *s, const struct mpqx_config *c, double *mse, struct mpqx_err *err);

/* Configurations priced per second on random configurations of the options' space around base (warm
 * caches), over at least min_ms of wall time. */
int search_bench_price(struct mpqx_search *s, const struct mpqx_config *base, const struct mpqx_search_opts *o,
		       double min_ms, double *rate, struct mpqx_err *err);

/* Enumerates every bit assignment of the options' space (storage kept from base), in a reflected Gray
 * order whose fastest digit is the last layer, so that each step re-evaluates as few layers as possible;
 * evaluates exactly those that fit. Refuses spaces above max_configs. out is filled
 * (search_exhaustive_fini). */
int search_exhaustive(struct mpqx_search *s, const struct mpqx_config *base, const struct mpqx_search_opts *o,
		      long max_configs, struct mpqx_search_exhaustive *out, struct mpqx_err *err);

void search_exhaustive_fini(struct mpqx_search_exhaustive *x);

/* ---- A job on a worker thread, for an interface ---- */

/* Starts the sensitivity measurement and then, when base is not NULL, search_run(base, o) on a worker
 * thread below the caller's priority. One job at a time: MPQX_EINPUT while one runs. */
int search_start(struct mpqx_search *s, const struct mpqx_config *base, const struct mpqx_search_opts *o,
		 struct mpqx_err *err);

/* true when a job is running. */
bool search_busy(struct mpqx_search *s);

/* true once per finished job: then search_last (for a job with a base) and search_sens are current, and
 * *err holds the job's error (code 0 when it succeeded). */
bool search_poll(struct mpqx_search *s, struct mpqx_err *err);

/* Blocks until no job runs (then search_poll reports it). */
void search_wait(struct mpqx_search *s);

/* The measured sensitivities, or NULL before they are; owned by s. */
const struct mpqx_sensitivity *search_sens(struct mpqx_search *s);

/* The result of the last finished job with a base, or NULL; owned by s until the next job finishes. */
const struct mpqx_search_result *search_last(struct mpqx_search *s);

const char *search_front_name(enum mpqx_front f);

#endif
