/* mpqx bench: times of the integer engine against the NumPy reference, medians over repeated runs. */
#include <cjson/cJSON.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "mpqx/device.h"
#include "mpqx/estimate.h"
#include "mpqx/ieval.h"

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* CPU time of every thread of the process: on a busy machine the wall time of a run includes waiting for
 * a core; the CPU time is the work itself. */
static double cpu_now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
	return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof *v, cmp);
	return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* One slider move on layer li: rebuild the integer model and re-evaluate incrementally. */
static int move(struct mpqx_ieval *ev, const struct mpqx_model *m, const struct mpqx_fref *f,
		struct mpqx_config *c, int li, int step, bool all, double *t, double *cpu, long *macs,
		struct mpqx_err *err)
{
	c->layers[li].a_bits = step % 2 ? 7 : 8;
	double t0 = now(), c0 = cpu_now();
	struct mpqx_qmodel *q = NULL;
	struct mpqx_eval_result r;
	int rc = quant_build(m, f, c, &q, err);
	if (!rc)
		rc = ieval_run(ev, q, c, all, &r, err);
	*t = now() - t0;
	if (cpu)
		*cpu = cpu_now() - c0;
	if (macs)
		*macs = r.macs;
	quant_free(q);
	return rc;
}

/* Runs tools/qref.py --time and reads its median seconds; NAN when it cannot run. */
static double reference_time(const char *model, int reps)
{
	char cmd[8800];
	snprintf(cmd, sizeof cmd, "/usr/bin/python3 '%s/qref.py' --time --repeat %d '%s' 2>/dev/null",
		 cli_data_dir("tools"), reps, model);
	FILE *p = popen(cmd, "r");
	if (!p)
		return NAN;
	char buf[4096];
	size_t n = fread(buf, 1, sizeof buf - 1, p);
	buf[n] = '\0';
	int st = pclose(p);
	if (st != 0)
		return NAN;
	cJSON *o = cJSON_Parse(buf);
	const cJSON *v = o ? cJSON_GetObjectItemCaseSensitive(o, "median_s") : NULL;
	double t = cJSON_IsNumber(v) ? v->valuedouble : NAN;
	cJSON_Delete(o);
	return t;
}

/* Median time of one whole-config resource estimate (estimate_run on a built integer model), in seconds:
 * batches of 200 calls, reps batches; and in *change that of a one-layer change as the explorer makes it
 * (the integer model built from the previous one, quant_build_from, then estimate_run), batches of 20.
 * NAN when the device or coefficients cannot be loaded. */
static double estimate_time(const struct mpqx_model *m, const struct mpqx_fref *f, const struct mpqx_config *c,
			    int reps, double *change, double *scratch, struct mpqx_err *err)
{
	*change = NAN;
	*scratch = NAN;
	char ddir[4400], kpath[4500];
	snprintf(ddir, sizeof ddir, "%s", cli_data_dir("devices"));
	struct mpqx_device dev;
	struct mpqx_coeffs *k = NULL;
	struct mpqx_qmodel *q = NULL;
	struct mpqx_estimate est;
	double r = NAN;
	double *t = calloc(2 * (size_t)reps, sizeof *t);
	if (!t || estimate_init(&est, m->n_layers)) {
		free(t);
		return NAN;
	}
	if (device_load(ddir, c->device, &dev, err))
		goto out;
	snprintf(kpath, sizeof kpath, "%s/%s-cost.ini", ddir, dev.family);
	if (estimate_coeffs_load(kpath, &k, err) || quant_build(m, f, c, &q, err))
		goto out;
	for (int i = 0; i < reps; i++) {
		double t0 = now();
		for (int j = 0; j < 200; j++)
			if (estimate_run(q, c, &dev, k, &est, err))
				goto out;
		t[i] = (now() - t0) / 200;
	}
	r = median(t, reps);
	/* a change of the weight bits of a layer with weights (the first one; else of the output bits) */
	struct mpqx_config cc = {0};
	if (config_copy(&cc, c))
		goto out;
	int wl = -1;
	for (int li = 0; li < m->n_layers && wl < 0; li++)
		if (model_layer_has_weights(&m->layers[li]))
			wl = li;
	for (int i = 0; i < reps; i++) {
		double t0 = now();
		for (int j = 0; j < 20; j++) {
			if (wl >= 0)
				cc.layers[wl].w_bits = cc.layers[wl].w_bits == 8 ? 7 : 8;
			else
				cc.layers[0].a_bits = cc.layers[0].a_bits == 8 ? 7 : 8;
			struct mpqx_qmodel *q2 = NULL;
			if ((i % 2 ? quant_build(m, f, &cc, &q2, err) : quant_build_from(m, f, &cc, q, &q2, err)) ||
			    estimate_run(q2, &cc, &dev, k, &est, err)) {
				quant_free(q2);
				config_fini(&cc);
				goto out;
			}
			quant_free(q);
			q = q2;
		}
		t[i] = (now() - t0) / 20;
	}
	config_fini(&cc);
	/* even batches from the previous integer model, odd ones from scratch (quant_build) */
	int ne = 0, no = 0;
	for (int i = 0; i < reps; i++) {
		if (i % 2)
			t[reps + no++] = t[i];
		else
			t[ne++] = t[i];
	}
	*change = median(t, ne);
	if (no)
		*scratch = median(t + reps, no);
out:
	free(t);
	quant_free(q);
	estimate_coeffs_free(k);
	estimate_fini(&est);
	return r;
}

int cmd_bench(int argc, char **argv)
{
	static const struct option opts[] = {
		{"json", no_argument, NULL, 'j'},
		{"repeat", required_argument, NULL, 'r'},
		{"no-reference", no_argument, NULL, 'n'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	bool json = false, ref = true;
	int reps = 21, c;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'j':
			json = true;
			break;
		case 'r':
			reps = atoi(optarg);
			if (reps < 1 || reps > 10000)
				return cli_usage_error("bench", "--repeat takes 1 to 10000");
			break;
		case 'n':
			ref = false;
			break;
		case 'h':
			printf("usage: mpqx bench MODEL [--json] [--repeat N] [--no-reference]\n");
			return CLI_OK;
		default:
			return cli_usage_error("bench", "unknown or incomplete option '%s'", argv[optind - 1]);
		}
	}
	if (argc - optind > 1)
		return cli_usage_error("bench", "expected one MODEL");
	const char *arg = optind < argc ? argv[optind] : NULL;
	struct mpqx_model *m;
	struct mpqx_dataset *d;
	if (cli_load(arg, &m, &d))
		return CLI_FAIL;
	struct mpqx_err err = {0};
	struct mpqx_config cfg = {0};
	struct mpqx_fref *f = NULL;
	struct mpqx_ieval *ev = NULL;
	double *full = calloc((size_t)reps, sizeof(double)), *first = calloc((size_t)reps, sizeof(double)),
	       *last = calloc((size_t)reps, sizeof(double)), *cfull = calloc((size_t)reps, sizeof(double)),
	       *cfirst = calloc((size_t)reps, sizeof(double));
	long macs = 0;
	int rc = CLI_FAIL;
	if (!full || !first || !last || !cfull || !cfirst || config_init(&cfg, m, 8)) {
		cli_error("out of memory");
		goto out;
	}
	if (fref_run(m, d, true, &f, &err) || ieval_new(m, d, f, 0, &ev, &err))
		goto fail;
	int first_layer = 0, last_layer = m->output;
	double t;
	ieval_set_sqnr(ev, false); /* timed: until the MSE is ready; the SQNR pass is timed on its own */
	if (move(ev, m, f, &cfg, first_layer, 0, true, &t, NULL, NULL, &err)) /* warm-up */
		goto fail;
	for (int i = 0; i < reps; i++)
		if (move(ev, m, f, &cfg, first_layer, i + 1, true, &full[i], &cfull[i], &macs, &err))
			goto fail;
	for (int i = 0; i < reps; i++)
		if (move(ev, m, f, &cfg, first_layer, i + 1, false, &first[i], &cfirst[i], NULL, &err))
			goto fail;
	for (int i = 0; i < reps; i++)
		if (move(ev, m, f, &cfg, last_layer, i + 1, false, &last[i], NULL, NULL, &err))
			goto fail;
	/* The SQNR of the last run (a chunked engine runs the windows again with its integer model). */
	struct mpqx_qmodel *qs = NULL;
	struct mpqx_eval_result rs;
	if (quant_build(m, f, &cfg, &qs, &err) || ieval_run(ev, qs, &cfg, false, &rs, &err)) {
		quant_free(qs);
		goto fail;
	}
	double t0 = now();
	ieval_update_sqnr(ev, NULL);
	double tsq = now() - t0;
	quant_free(qs);
	double tf = median(full, reps), t1 = median(first, reps), tl = median(last, reps);
	double cf = median(cfull, reps), c1 = median(cfirst, reps);
	double tr = ref ? reference_time(m->path, 3) : NAN;
	struct mpqx_err eerr = {0};
	double tc = NAN, ts = NAN;
	double te = estimate_time(m, f, &cfg, reps < 2 ? 2 : reps, &tc, &ts, &eerr);
	double macps = (double)macs / tf;
	if (json) {
		cJSON *o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "model", m->name);
		cJSON_AddNumberToObject(o, "windows", d->windows[MPQX_TEST]);
		cJSON_AddNumberToObject(o, "repeat", reps);
		cJSON_AddNumberToObject(o, "full_ms", tf * 1e3);
		cJSON_AddNumberToObject(o, "first_layer_ms", t1 * 1e3);
		cJSON_AddNumberToObject(o, "full_cpu_ms", cf * 1e3);
		cJSON_AddNumberToObject(o, "first_layer_cpu_ms", c1 * 1e3);
		cJSON_AddNumberToObject(o, "last_layer_ms", tl * 1e3);
		cJSON_AddNumberToObject(o, "sqnr_ms", tsq * 1e3);
		if (isfinite(tr)) {
			cJSON_AddNumberToObject(o, "reference_ms", tr * 1e3);
			cJSON_AddNumberToObject(o, "speedup", tr / tf);
		} else {
			cJSON_AddNullToObject(o, "reference_ms");
			cJSON_AddNullToObject(o, "speedup");
		}
		if (isfinite(te))
			cJSON_AddNumberToObject(o, "estimate_us", te * 1e6);
		else
			cJSON_AddNullToObject(o, "estimate_us");
		if (isfinite(tc))
			cJSON_AddNumberToObject(o, "change_estimate_us", tc * 1e6);
		else
			cJSON_AddNullToObject(o, "change_estimate_us");
		if (isfinite(ts))
			cJSON_AddNumberToObject(o, "change_estimate_scratch_us", ts * 1e6);
		else
			cJSON_AddNullToObject(o, "change_estimate_scratch_us");
		cJSON_AddNumberToObject(o, "macs", (double)macs);
		cJSON_AddNumberToObject(o, "macs_per_s", macps);
		char *s = cJSON_Print(o);
		puts(s);
		free(s);
		cJSON_Delete(o);
	} else {
		printf("model %s, %d test windows, medians of %d runs\n", m->name, d->windows[MPQX_TEST], reps);
		printf("full integer evaluation      %9.3f ms  (%.3g MAC/s; CPU time of all threads %.3f ms)\n",
		       tf * 1e3, macps, cf * 1e3);
		printf("change to the first layer    %9.3f ms  (%s; CPU %.3f ms)\n", t1 * 1e3,
		       m->layers[first_layer].name, c1 * 1e3);
		printf("change to the last layer     %9.3f ms  (%s)\n", tl * 1e3, m->layers[last_layer].name);
		printf("per-layer SQNR, all layers   %9.3f ms  (after the MSE, once)\n", tsq * 1e3);
		if (isfinite(te))
			printf("resource estimate, whole     %9.3f us  (estimate_run, %d layers)\n", te * 1e6,
			       m->n_layers);
		if (isfinite(tc))
			printf("estimate of a changed config %9.3f us  (one layer's bits: integer model from the previous "
			       "one, and estimate)\n", tc * 1e6);
		if (isfinite(ts))
			printf("  the same, model from scratch %7.3f us  (quant_build: every layer's weights)\n", ts * 1e6);
		else
			printf("resource estimate            not run (%s)\n", eerr.msg);
		if (isfinite(tr))
			printf("NumPy reference (tools/qref) %9.3f ms  (mpqx is %.1fx faster)\n", tr * 1e3, tr / tf);
		else
			printf("NumPy reference              not run%s\n", ref ? " (tools/qref.py or numpy missing)" : "");
	}
	rc = CLI_OK;
	goto out;
fail:
	cli_error("%s", err.msg);
out:
	free(full);
	free(cfull);
	free(cfirst);
	free(first);
	free(last);
	ieval_free(ev);
	fref_free(f);
	config_fini(&cfg);
	dataset_free(d);
	model_free(m);
	return rc;
}
