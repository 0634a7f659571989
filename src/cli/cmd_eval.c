/* mpqx eval: test-set error of the float or the integer model. */
#include <cjson/cJSON.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "mpqx/fileio.h"
#include "mpqx/forward.h"
#include "mpqx/ieval.h"
#include "mpqx/report.h"

/* Largest |mpqx float forward - PyTorch prediction| over the test windows, against the reference.json
 * beside the model file (written by tools/mpqx_torch.py import/export/train). Returns 0 and sets *max_abs;
 * 1 when there is no reference.json (nothing to compare); -1 with a message printed on a bad one. */
static int reference_diff(const struct mpqx_model *m, const struct mpqx_dataset *d, double *max_abs)
{
	char path[4200];
	const char *slash = strrchr(m->path, '/');
	int dirlen = slash ? (int)(slash - m->path) : 1;
	snprintf(path, sizeof path, "%.*s/reference.json", dirlen, slash ? m->path : ".");
	struct stat st;
	if (stat(path, &st) != 0)
		return 1;
	struct mpqx_err err = {0};
	char *text = NULL;
	if (fileio_read(path, &text, NULL, &err)) {
		cli_error("%s", err.msg);
		return -1;
	}
	cJSON *ref = cJSON_Parse(text);
	free(text);
	const cJSON *pred = cJSON_GetObjectItem(ref, "predictions");
	int n = d->windows[MPQX_TEST], k = m->out_features;
	if (!cJSON_IsArray(pred) || cJSON_GetArraySize(pred) != n * k) {
		cli_error("%s: predictions: expected an array of %d numbers (test windows x outputs)", path, n * k);
		cJSON_Delete(ref);
		return -1;
	}
	struct mpqx_forward fw;
	if (forward_init(&fw, m)) {
		cJSON_Delete(ref);
		cli_error("out of memory");
		return -1;
	}
	double worst = 0;
	const cJSON *p = pred->child;
	for (int w = 0; w < n; w++) {
		const float *y = forward_run(&fw, dataset_window(d, MPQX_TEST, w));
		for (int j = 0; j < k; j++, p = p->next) {
			if (!cJSON_IsNumber(p)) {
				cli_error("%s: predictions[%d]: expected a number", path, w * k + j);
				forward_fini(&fw);
				cJSON_Delete(ref);
				return -1;
			}
			double dv = fabs((double)y[j] - p->valuedouble);
			worst = dv > worst ? dv : worst;
		}
	}
	forward_fini(&fw);
	cJSON_Delete(ref);
	*max_abs = worst;
	return 0;
}

static int eval_float(const struct mpqx_model *m, const struct mpqx_dataset *d, bool json)
{
	struct mpqx_err err = {0};
	int n = d->windows[MPQX_TEST];
	double mse, mae, pse;
	if (fref_test(m, d, &mse, &mae, &pse, &err)) {
		cli_error("%s", err.msg);
		return CLI_FAIL;
	}
	double rmse = sqrt(mse), unit = model_target_unit(m), ref_diff = NAN;
	int ref = reference_diff(m, d, &ref_diff);
	if (ref < 0)
		return CLI_FAIL;
	if (json) {
		cJSON *o = report_eval_float(m, n, mse, mae, pse, ref == 0 ? ref_diff : NAN);
		char *t = cJSON_Print(o);
		puts(t);
		free(t);
		cJSON_Delete(o);
	} else {
		printf("model        %s (float)\n", m->name);
		printf("test windows %d\n", n);
		printf("MSE          %.6g (normalised)\n", mse);
		printf("RMSE         %.6g (normalised), %.4g in %s's unit\n", rmse, rmse * unit, m->data.target);
		printf("MAE          %.6g (normalised), %.4g in %s's unit\n", mae, mae * unit, m->data.target);
		printf("persistence  MSE %.6g (last observed value)\n", pse);
		if (ref == 0)
			printf("reference    max |mpqx - PyTorch| %.3g over the test windows (reference.json)\n",
			       ref_diff);
	}
	return CLI_OK;
}

/* Writes one window's outputs of a layer as little-endian int16. */
static void put_i16(FILE *fp, const int16_t *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char b[2] = {(unsigned char)(v[i] & 0xff), (unsigned char)((uint16_t)v[i] >> 8)};
		fwrite(b, 1, 2, fp);
	}
}

/* Writes every layer's integer test-set outputs and the calibration ranges for tools/qref.py. Every layer's
 * file is open at once and written window by window: an engine in chunked mode keeps no outputs, and each
 * window is then recomputed alone (ieval_window gives the same values). */
static int dump(const char *dir, const struct mpqx_model *m, const struct mpqx_dataset *d,
		const struct mpqx_config *c, const struct mpqx_fref *f, const struct mpqx_qmodel *q,
		const struct mpqx_ieval *ev)
{
	if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
		cli_error("%s: cannot create: %s", dir, strerror(errno));
		return CLI_FAIL;
	}
	int L = m->n_layers;
	FILE **fps = calloc((size_t)L, sizeof *fps);
	int16_t **win = calloc((size_t)L, sizeof *win);
	if (!fps || !win) {
		free(fps);
		free(win);
		cli_error("out of memory");
		return CLI_FAIL;
	}
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "format", "mpqx-dump");
	cJSON_AddNumberToObject(o, "version", 1);
	cJSON_AddStringToObject(o, "model", m->path);
	cJSON_AddNumberToObject(o, "windows", f->windows);
	cJSON *arr = cJSON_AddArrayToObject(o, "layers");
	int rc = CLI_OK;
	for (int l = 0; l < L && !rc; l++) {
		const struct mpqx_layer *ly = &m->layers[l];
		char name[300], path[4400], num[64];
		snprintf(name, sizeof name, "%03d_%s.i16", l, ly->name);
		cJSON *e = cJSON_CreateObject();
		cJSON_AddStringToObject(e, "name", ly->name);
		cJSON_AddStringToObject(e, "op", model_op_name(ly->op));
		cJSON_AddNumberToObject(e, "rows", ly->rows);
		cJSON_AddNumberToObject(e, "cols", ly->cols);
		/* the range the layer's output is quantized over (quant_range), not the raw min/max */
		snprintf(num, sizeof num, "%.17g", q->l[l].lo);
		cJSON_AddItemToObject(e, "lo", cJSON_CreateRaw(isfinite(q->l[l].lo) ? num : "null"));
		snprintf(num, sizeof num, "%.17g", q->l[l].hi);
		cJSON_AddItemToObject(e, "hi", cJSON_CreateRaw(isfinite(q->l[l].hi) ? num : "null"));
		cJSON_AddNumberToObject(e, "a_bits", c->layers[l].a_bits);
		cJSON_AddNumberToObject(e, "w_bits", c->layers[l].w_bits);
		cJSON_AddStringToObject(e, "file", name);
		cJSON_AddItemToArray(arr, e);
		snprintf(path, sizeof path, "%s/%s", dir, name);
		if (!(fps[l] = fopen(path, "wb"))) {
			cli_error("%s: cannot create: %s", path, strerror(errno));
			rc = CLI_FAIL;
		}
		if (!rc && ieval_chunked(ev) &&
		    !(win[l] = malloc(sizeof(int16_t) * (size_t)ly->rows * ly->cols))) {
			cli_error("out of memory");
			rc = CLI_FAIL;
		}
	}
	for (int w = 0; w < f->windows && !rc; w++) {
		if (ieval_chunked(ev) && ieval_window(q, dataset_window(d, MPQX_TEST, w), win, NULL)) {
			cli_error("out of memory");
			rc = CLI_FAIL;
			break;
		}
		for (int l = 0; l < L; l++)
			put_i16(fps[l], ieval_chunked(ev) ? win[l] : ieval_output(ev, l, w),
				(size_t)m->layers[l].rows * m->layers[l].cols);
	}
	for (int l = 0; l < L; l++) {
		if (fps[l] && fclose(fps[l]) != 0 && !rc) {
			cli_error("%s/%03d_%s.i16: write failed", dir, l, m->layers[l].name);
			rc = CLI_FAIL;
		}
		free(win[l]);
	}
	free(fps);
	free(win);
	char *s = cJSON_Print(o);
	cJSON_Delete(o);
	char path[4400];
	snprintf(path, sizeof path, "%s/dump.json", dir);
	struct mpqx_err err = {0};
	if (!rc && fileio_write_atomic(path, s, strlen(s), &err)) {
		cli_error("%s", err.msg);
		rc = CLI_FAIL;
	}
	free(s);
	return rc;
}

/* eval --params: the quantization parameters of every layer for the config, without evaluating. */
static int eval_params(const struct mpqx_model *m, const struct mpqx_dataset *d, const char *config)
{
	struct mpqx_err err = {0};
	struct mpqx_config c = {0};
	struct mpqx_fref *f = NULL;
	struct mpqx_qmodel *q = NULL;
	int rc = CLI_FAIL;
	if (config ? config_load(config, m, &c, &err) : config_init(&c, m, 8)) {
		cli_error("%s", err.msg);
		return CLI_FAIL;
	}
	if (fref_run(m, d, false, &f, &err) || quant_build(m, f, &c, &q, &err)) {
		cli_error("%s", err.msg);
	} else {
		cJSON *o = report_qparams(m, &c, q, f);
		char *s = o ? cJSON_Print(o) : NULL;
		if (s) {
			puts(s);
			rc = CLI_OK;
		} else {
			cli_error("out of memory");
		}
		free(s);
		cJSON_Delete(o);
	}
	quant_free(q);
	fref_free(f);
	config_fini(&c);
	return rc;
}

/* One integer evaluation: the config (or uniform 8 bits), its quantized model and the engine's result. */
struct int_run {
	struct mpqx_config c;
	struct mpqx_fref *f;
	struct mpqx_qmodel *q;
	struct mpqx_ieval *ev;
	struct mpqx_eval_result r;
};

static void int_run_fini(struct int_run *run)
{
	ieval_free(run->ev);
	quant_free(run->q);
	fref_free(run->f);
	config_fini(&run->c);
}

/* Evaluates on the whole test set, or (subset) on the stratified subset of ieval.h without float
 * activations. On failure prints the error, frees what was made and returns CLI_FAIL. */
static int int_run_eval(struct int_run *run, const struct mpqx_model *m, const struct mpqx_dataset *d,
			const char *config, bool subset)
{
	struct mpqx_err err = {0};
	memset(run, 0, sizeof *run);
	if (config ? config_load(config, m, &run->c, &err) : config_init(&run->c, m, 8))
		goto fail;
	cli_config_check(config, &run->c, m);
	/* The subset needs no float activations: with the model's calibration cache, no float forward runs. */
	if (fref_run(m, d, !subset, &run->f, &err) || quant_build(m, run->f, &run->c, &run->q, &err) ||
	    (subset ? ieval_new_subset(m, d, run->f, 0, 0, &run->ev, &err)
		    : ieval_new(m, d, run->f, 0, &run->ev, &err)) ||
	    ieval_run(run->ev, run->q, &run->c, true, &run->r, &err))
		goto fail;
	return CLI_OK;
fail:
	cli_error("%s", err.msg);
	int_run_fini(run);
	return CLI_FAIL;
}

static int eval_int(const struct mpqx_model *m, const struct mpqx_dataset *d, const char *config, bool json,
		    const char *dump_dir)
{
	struct int_run run;
	if (int_run_eval(&run, m, d, config, false) != CLI_OK)
		return CLI_FAIL;
	if (dump_dir && dump(dump_dir, m, d, &run.c, run.f, run.q, run.ev)) {
		int_run_fini(&run);
		return CLI_FAIL;
	}
	const struct mpqx_config *cfg = &run.c;
	const struct mpqx_qmodel *q = run.q;
	const struct mpqx_eval_result *r = &run.r;
	/* The forecast is an integer of the output layer's scale: rounding to that step alone adds step^2 / 12
	 * to the MSE on average (doc/quantization.md, "What a bit width can reach"). */
	double step = q->l[m->output].out.s;
	if (json) {
		cJSON *o = report_eval(m, cfg, q, run.f, r);
		char *s = cJSON_Print(o);
		puts(s);
		free(s);
		cJSON_Delete(o);
	} else {
		printf("model        %s (integer, %s)\n", m->name, config ? config : "uniform 8 bits");
		printf("test windows %d\n", r->windows);
		printf("MSE          %.6g (float %.6g, %+.2f%%)\n", r->mse, r->mse_float,
		       100.0 * (r->mse - r->mse_float) / r->mse_float);
		printf("RMSE         %.6g (normalised), %.4g in %s's unit\n", r->rmse, r->rmse_denorm, m->data.target);
		printf("MAE          %.6g (normalised), %.4g in %s's unit\n", r->mae, r->mae_denorm, m->data.target);
		printf("output step  %.4g (normalised), %.4g in %s's unit; rounding to it adds %.3g to the MSE "
		       "(%+.1f%%)\n", step, step * model_target_unit(m), m->data.target, step * step / 12.0,
		       100.0 * step * step / 12.0 / r->mse_float);
		int nw = cli_name_width(m, 14);
		printf("\n%-*s %-9s %5s %5s %9s %9s %4s\n", nw, "layer", "op", "w", "a", "SQNR dB", "clamped", "acc");
		for (int l = 0; l < m->n_layers; l++) {
			const struct mpqx_layer *ly = &m->layers[l];
			char wb[8] = "-";
			if (model_layer_has_weights(ly))
				snprintf(wb, sizeof wb, "%d", cfg->layers[l].w_bits);
			printf("%-*s %-9s %5s %5d %9.2f %9ld %4d\n", nw, ly->name, model_op_name(ly->op), wb,
			       cfg->layers[l].a_bits, r->layers[l].sqnr_db, r->layers[l].clipped, q->l[l].acc_bits);
		}
	}
	int_run_fini(&run);
	return CLI_OK;
}

/* eval --quick: the MSE on the stratified subset of the test windows (ieval.h), with its standard error. */
static int eval_quick(const struct mpqx_model *m, const struct mpqx_dataset *d, const char *config, bool json)
{
	struct int_run run;
	if (int_run_eval(&run, m, d, config, true) != CLI_OK)
		return CLI_FAIL;
	const struct mpqx_eval_result *r = &run.r;
	double rel = r->mse > 0 ? r->mse_se / r->mse : 0;
	if (json) {
		cJSON *o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "model", m->name);
		cJSON_AddStringToObject(o, "config", config ? config : "uniform 8 bits");
		cJSON_AddBoolToObject(o, "quick", true);
		cJSON_AddNumberToObject(o, "windows", r->windows);
		cJSON_AddNumberToObject(o, "test_windows", r->windows_total);
		cJSON_AddNumberToObject(o, "mse", r->mse);
		cJSON_AddNumberToObject(o, "mse_se", r->mse_se);
		cJSON_AddNumberToObject(o, "mse_float", r->mse_float);
		cJSON_AddNumberToObject(o, "rmse", r->rmse);
		cJSON_AddNumberToObject(o, "mae", r->mae);
		cJSON_AddNumberToObject(o, "macs", (double)r->macs);
		char *t = cJSON_Print(o);
		if (t)
			puts(t);
		free(t);
		cJSON_Delete(o);
	} else {
		printf("model        %s (integer, %s)\n", m->name, config ? config : "uniform 8 bits");
		printf("test windows %d of %d (stratified subset: the middle window of %d equal spans in time order)\n",
		       r->windows, r->windows_total, r->windows);
		printf("MSE          ~%.6g +- %.2g (standard error, %.1f%%); 95%% interval %.6g to %.6g\n", r->mse,
		       r->mse_se, 100.0 * rel, r->mse - 1.96 * r->mse_se, r->mse + 1.96 * r->mse_se);
		printf("float MSE    %.6g on the same windows (%+.2f%%)\n", r->mse_float,
		       100.0 * (r->mse - r->mse_float) / r->mse_float);
		printf("RMSE         ~%.6g (normalised), ~%.4g in %s's unit\n", r->rmse, r->rmse_denorm, m->data.target);
		printf("MAE          ~%.6g (normalised), ~%.4g in %s's unit\n", r->mae, r->mae_denorm, m->data.target);
	}
	int_run_fini(&run);
	return CLI_OK;
}

int cmd_eval(int argc, char **argv)
{
	static const struct option opts[] = {
		{"config", required_argument, NULL, 'c'},
		{"float", no_argument, NULL, 'f'},
		{"json", no_argument, NULL, 'j'},
		{"dump", required_argument, NULL, 'D'},
		{"params", no_argument, NULL, 'P'},
		{"quick", no_argument, NULL, 'Q'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *config = NULL, *dump_dir = NULL;
	bool flt = false, json = false, params = false, quick = false;
	int c;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			config = optarg;
			break;
		case 'f':
			flt = true;
			break;
		case 'j':
			json = true;
			break;
		case 'D':
			dump_dir = optarg;
			break;
		case 'P':
			params = true;
			break;
		case 'Q':
			quick = true;
			break;
		case 'h':
			printf("usage: mpqx eval MODEL [-c CONFIG] [--float] [--json] [--dump DIR] [--params] [--quick]\n"
			       "  -c CONFIG   per-layer bits and storage (default: uniform 8 bits)\n"
			       "  --float     the float model instead of the integer one\n"
			       "  --json      one JSON object on stdout\n"
			       "  --dump DIR  write every layer's integer test-set outputs (for tools/qref.py)\n"
			       "  --params    print every layer's quantization parameters as JSON instead\n"
			       "  --quick     the MSE on a stratified subset of the test windows, with its standard\n"
			       "              error (no SQNR; the subset the explorer shows first)\n");
			return CLI_OK;
		default:
			return cli_usage_error("eval", "unknown or incomplete option '%s'", argv[optind - 1]);
		}
	}
	if (argc - optind > 1)
		return cli_usage_error("eval", "expected one MODEL, got %d arguments", argc - optind);
	if ((config || dump_dir || params) && flt)
		return cli_usage_error("eval", "--float evaluates the float model; it takes no -c, --dump or --params");
	if (params && dump_dir)
		return cli_usage_error("eval", "--params prints the parameters without evaluating; it takes no --dump");
	if (quick && (flt || params || dump_dir))
		return cli_usage_error("eval", "--quick evaluates a subset of the integer model; it takes no --float, --params or --dump");
	struct mpqx_model *m;
	struct mpqx_dataset *d;
	if (cli_load(optind < argc ? argv[optind] : NULL, &m, &d))
		return CLI_FAIL;
	int rc = flt      ? eval_float(m, d, json)
		 : params ? eval_params(m, d, config)
		 : quick  ? eval_quick(m, d, config, json)
			  : eval_int(m, d, config, json, dump_dir);
	dataset_free(d);
	model_free(m);
	return rc;
}
