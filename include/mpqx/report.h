/* The results of the subcommands as JSON trees: the one place that decides the keys and values of
 * `mpqx eval|estimate|search|export --json`, so that the command line (which prints them) and the Python
 * module (which turns them into dicts) cannot drift apart. The search's own orchestration (sensitivity,
 * the search, the uniform 8-bit reference, the test MSE of points chosen on other windows) lives here too,
 * for the same reason. Nothing here prints. */
#ifndef MPQX_REPORT_H
#define MPQX_REPORT_H

#include <stdbool.h>

#include "mpqx/config.h"
#include "mpqx/device.h"
#include "mpqx/err.h"
#include "mpqx/estimate.h"
#include "mpqx/export.h"
#include "mpqx/fref.h"
#include "mpqx/ieval.h"
#include "mpqx/model.h"
#include "mpqx/quant.h"
#include "mpqx/search.h"
#include "mpqx/session.h"

struct cJSON; /* <cjson/cJSON.h>; every tree returned here is the caller's (cJSON_Delete) */

/* `eval --json` of the integer model q built from c, evaluated as r (r->layers with the SQNR). NULL on out
 * of memory. */
struct cJSON *report_eval(const struct mpqx_model *m, const struct mpqx_config *c, const struct mpqx_qmodel *q,
			  const struct mpqx_fref *f, const struct mpqx_eval_result *r);

/* `eval --params`: every layer's quantization parameters for config c (q built from c and f): the output's
 * range, where it comes from (calibration, a fixed range of the model file, or the op), its scale, zero point
 * and bits, and the weights' scale, zero point and bits. The one accessor through which tools (the
 * fine-tuning of tools/mpqx_torch.py) obtain what the integer model uses. NULL on out of memory. */
struct cJSON *report_qparams(const struct mpqx_model *m, const struct mpqx_config *c, const struct mpqx_qmodel *q,
			     const struct mpqx_fref *f);

/* `eval --float --json`; ref_max_abs is NAN when there is no reference.json (the key is then null). */
struct cJSON *report_eval_float(const struct mpqx_model *m, int windows, double mse, double mae,
				double mse_persistence, double ref_max_abs);

/* `estimate --json` of q (built from c) on dev; features adds each layer's blocks (needs k). */
struct cJSON *report_estimate(const struct mpqx_model *m, const struct mpqx_config *c, const struct mpqx_qmodel *q,
			      const struct mpqx_device *dev, const struct mpqx_coeffs *k,
			      const struct mpqx_estimate *e, bool features);

/* The auto storage rule in words (doc/estimator.md, "Storage"), as `estimate` prints it. */
extern const char report_auto_rule[];
/* The auto rule of dev's family (report_auto_rule on xc7). Static string. */
const char *report_auto_rule_for(const struct mpqx_device *dev);

/* A whole `mpqx search` run: inputs first, then what report_search_run fills. */
struct mpqx_report_search {
	enum mpqx_split split;   /* the windows the MSE is minimised on */
	int threads;             /* engine threads, 0: one per core */
	bool sens_only;          /* only the sensitivities */
	bool exhaustive;         /* also enumerate the space exactly */
	bool bench;              /* also measure the pricing rate on a random walk */
	const char *output;      /* write the best config here (atomically) when found, or NULL */
	struct mpqx_search_opts opts;

	struct mpqx_search *sr;                 /* owned */
	const struct mpqx_sensitivity *sn;      /* owned by sr */
	struct mpqx_search_result res;
	struct mpqx_search_exhaustive ex;
	struct mpqx_config u8;                  /* uniform 8 bits with the start config's storage */
	struct mpqx_search_point p8;            /* its price */
	double mse8, rate;
	double best_test, u8_test;              /* test MSE when split is not test, else NAN */
	double *front_test[MPQX_FRONT_COUNT];   /* idem per front point, or NULL */
	bool written;                           /* output was written */
};

/* Initialises r's outputs; set the inputs after this. */
void report_search_init(struct mpqx_report_search *r);
void report_search_fini(struct mpqx_report_search *r);

/* Runs the search on the session's current config (its device, and its storage with keep_storage) as
 * `mpqx search` does. The session's config changes when split is not test (the test MSEs are measured
 * through it). */
int report_search_run(struct mpqx_session *s, struct mpqx_report_search *r, struct mpqx_err *err);

/* `search --json` of a finished run. */
struct cJSON *report_search(const struct mpqx_session *s, const struct mpqx_report_search *r);

/* `export --json`: what export_write wrote into dir, and the simulation when sim is not NULL. */
struct cJSON *report_export(const char *dir, const struct mpqx_export_info *info, const struct mpqx_sim_result *sim);

/* The problems of a simulation that did not match, one line each (the lines `mpqx export --sim` prints),
 * into buf; empty when it matched. */
void report_sim_problems(const struct mpqx_sim_result *r, char *buf, size_t size);

#endif
