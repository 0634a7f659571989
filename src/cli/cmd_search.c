/* mpqx search: the per-layer bits and storage of least test MSE that fit a device, the Pareto fronts of
 * MSE against LUTs, BRAM tiles and latency, and the layers' sensitivities. */
#include <cjson/cJSON.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "mpqx/config.h"
#include "mpqx/search.h"
#include "mpqx/session.h"

static int usage_text(void)
{
	printf("usage: mpqx search MODEL [-c CONFIG] [-d DEVICE] [-o CONFIG] [--json] [--sensitivity]\n"
	       "                   [--latency-us X] [--margin F] [--limit RES=N] [--wbits LIST] [--abits LIST]\n"
	       "                   [--keep-storage] [--select PART] [--exhaustive] [--bench-price] [--threads N]\n"
	       "  -c CONFIG        start config: its device, and its storage with --keep-storage\n"
	       "                   (default: uniform 8 bits, storage auto, xc7s15)\n"
	       "  -d DEVICE        device name (devices/NAME.ini) or an .ini path\n"
	       "  -o CONFIG        write the best configuration that fits (atomically)\n"
	       "  --json           one JSON object on stdout\n"
	       "  --sensitivity    only measure and print each layer's sensitivity\n"
	       "  --latency-us X   upper bound on the latency of one window\n"
	       "  --margin F       keep the fraction F (0..1) of every resource free\n"
	       "  --limit RES=N    cap one resource below the device's: lut, lutram, ff, bram (tiles), dsp\n"
	       "  --wbits LIST     weight bit choices, e.g. 4,6,8 or 2-16 (default 2-16)\n"
	       "  --abits LIST     output bit choices (default 2-16)\n"
	       "  --keep-storage   keep the start config's buffer and ROM storage instead of choosing it\n"
	       "  --select PART    windows the search minimises the MSE on: test (default), calib or train;\n"
	       "                   with calib or train the test MSE of what it chose is reported beside\n"
	       "  --exact N        exact evaluations around the best after the surrogate phase (default 48)\n"
	       "  --front N        points per Pareto front, each evaluated exactly (default 12)\n"
	       "  --exhaustive     also enumerate the whole bit space exactly (small spaces only) and compare\n"
	       "  --bench-price    also measure configurations priced per second on a random walk\n"
	       "  --threads N      evaluation threads (default: one per core)\n"
	       "MSE figures are on the normalised scale; each says whether the integer engine computed it (exact)\n"
	       "or the per-layer surrogate estimated it. Resources come from the estimator (mpqx estimate).\n");
	return CLI_OK;
}

static const char *const res_names[MPQX_RES_COUNT] = {"lut", "lutram", "ff", "bram_tiles", "dsp"};

static int parse_limit(const char *arg, double *limit)
{
	const char *eq = strchr(arg, '=');
	if (!eq)
		return -1;
	static const char *const keys[MPQX_RES_COUNT] = {"lut", "lutram", "ff", "bram", "dsp"};
	for (int r = 0; r < MPQX_RES_COUNT; r++)
		if ((size_t)(eq - arg) == strlen(keys[r]) && strncmp(arg, keys[r], (size_t)(eq - arg)) == 0) {
			char *end;
			double v = strtod(eq + 1, &end);
			if (end == eq + 1 || *end || !(v > 0) || !isfinite(v))
				return -1;
			limit[r] = v;
			return 0;
		}
	return -1;
}

static const char *const split_names[MPQX_SPLITS] = {"train", "calib", "test"};

/* The test MSE of a point found on other windows (the session evaluates the test part). */
static int test_mse(struct mpqx_session *s, const struct mpqx_search_point *p, double *mse, struct mpqx_err *err)
{
	int rc = session_apply(s, &p->cfg, err);
	if (!rc)
		*mse = s->res.mse;
	return rc;
}

static cJSON *point_json(const struct mpqx_model *m, const struct mpqx_search_point *p, bool layers, double mse_test)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddNumberToObject(o, "mse", p->mse);
	if (!isnan(mse_test))
		cJSON_AddNumberToObject(o, "mse_test", mse_test);
	cJSON_AddBoolToObject(o, "exact", p->exact);
	cJSON_AddNumberToObject(o, "mse_surrogate", p->mse_surrogate);
	cJSON_AddBoolToObject(o, "fits", p->fits);
	for (int r = 0; r < MPQX_RES_COUNT; r++)
		cJSON_AddNumberToObject(o, res_names[r], p->used[r]);
	cJSON_AddNumberToObject(o, "latency_us", p->latency_us);
	if (!layers)
		return o;
	cJSON *a = cJSON_AddArrayToObject(o, "layers");
	for (int l = 0; l < m->n_layers; l++) {
		const struct mpqx_layer *ly = &m->layers[l];
		const struct mpqx_layer_cfg *lc = &p->cfg.layers[l];
		cJSON *L = cJSON_CreateObject();
		cJSON_AddStringToObject(L, "name", ly->name);
		if (model_layer_has_weights(ly))
			cJSON_AddNumberToObject(L, "w_bits", lc->w_bits);
		cJSON_AddNumberToObject(L, "a_bits", lc->a_bits);
		if (model_layer_has_buffer(ly))
			cJSON_AddStringToObject(L, "buffer", config_storage_name(lc->buffer, false));
		if (model_layer_has_rom(ly))
			cJSON_AddStringToObject(L, "rom", config_storage_name(lc->rom, true));
		cJSON_AddItemToArray(a, L);
	}
	return o;
}

static cJSON *sens_json(const struct mpqx_model *m, const struct mpqx_sensitivity *sn)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddNumberToObject(o, "ref_bits", sn->ref_bits);
	cJSON_AddNumberToObject(o, "mse_ref", sn->mse_ref);
	cJSON_AddNumberToObject(o, "mse_float", sn->mse_float);
	cJSON_AddNumberToObject(o, "runs", (double)sn->runs);
	cJSON_AddNumberToObject(o, "ms", sn->ms);
	cJSON *a = cJSON_AddArrayToObject(o, "layers");
	for (int l = 0; l < m->n_layers; l++) {
		cJSON *L = cJSON_CreateObject();
		cJSON_AddStringToObject(L, "name", m->layers[l].name);
		for (int k = 0; k < 2; k++) {
			bool w = k == 0;
			if (w && !model_layer_has_weights(&m->layers[l]))
				continue;
			const double *d = w ? sn->dw[l] : sn->da[l];
			const bool *ms = w ? sn->mw[l] : sn->ma[l];
			/* MSE increase per bit removed, on average from 8 down to 4 bits */
			cJSON_AddNumberToObject(L, w ? "w_per_bit" : "a_per_bit", (d[4] - d[8]) / 4);
			cJSON *c = cJSON_AddArrayToObject(L, w ? "w_delta" : "a_delta");
			cJSON *mm = cJSON_AddArrayToObject(L, w ? "w_measured" : "a_measured");
			for (int b = MPQX_BITS_MIN; b <= MPQX_BITS_MAX; b++) {
				cJSON_AddItemToArray(c, cJSON_CreateNumber(d[b]));
				cJSON_AddItemToArray(mm, cJSON_CreateBool(ms[b]));
			}
		}
		cJSON_AddItemToArray(a, L);
	}
	return o;
}

static void print_sens(const struct mpqx_model *m, const struct mpqx_sensitivity *sn)
{
	printf("sensitivity: test MSE increase with one layer alone at b bits, the others at %d bits\n"
	       "(reference MSE %.6g, float %.6g; %ld evaluations in %.2f s); per bit = mean increase per bit "
	       "removed from 8 to 4 bits\n\n",
	       sn->ref_bits, sn->mse_ref, sn->mse_float, sn->runs, sn->ms / 1e3);
	int nw = cli_name_width(m, 16);
	printf("%-*s %-9s %11s %11s %11s %11s | %11s %11s %11s %11s\n", nw, "layer", "op", "w per bit", "w@8", "w@6", "w@4",
	       "out per bit", "out@8", "out@6", "out@4");
	for (int l = 0; l < m->n_layers; l++) {
		const struct mpqx_layer *ly = &m->layers[l];
		char w[4][16];
		if (model_layer_has_weights(ly)) {
			const double *d = sn->dw[l];
			snprintf(w[0], sizeof w[0], "%.3g", (d[4] - d[8]) / 4);
			snprintf(w[1], sizeof w[1], "%.3g", d[8]);
			snprintf(w[2], sizeof w[2], "%.3g", d[6]);
			snprintf(w[3], sizeof w[3], "%.3g", d[4]);
		} else {
			for (int k = 0; k < 4; k++)
				snprintf(w[k], sizeof w[k], "-");
		}
		const double *d = sn->da[l];
		printf("%-*s %-9s %11s %11s %11s %11s | %11.3g %11.3g %11.3g %11.3g\n", nw, ly->name, model_op_name(ly->op),
		       w[0], w[1], w[2], w[3], (d[4] - d[8]) / 4, d[8], d[6], d[4]);
	}
}

static void print_point_line(const char *label, const struct mpqx_search_point *p, double mse_test)
{
	char t[48] = "";
	if (!isnan(mse_test))
		snprintf(t, sizeof t, ", test %.6g", mse_test);
	printf("%-10s MSE %.6g (%s%s)  LUT %.0f  LUTRAM %.0f  FF %.0f  BRAM %.1f  DSP %.0f  %.2f us\n", label, p->mse,
	       p->exact ? "exact" : "surrogate", t, p->used[MPQX_RES_LUT], p->used[MPQX_RES_LUTRAM], p->used[MPQX_RES_FF],
	       p->used[MPQX_RES_BRAM], p->used[MPQX_RES_DSP], p->latency_us);
}

static void print_result(const struct mpqx_session *s, const struct mpqx_search_result *r,
			 const struct mpqx_search_opts *o, double mse8, bool fits8, double best_test, double u8_test,
			 double *const *front_test)
{
	const struct mpqx_model *m = s->model;
	printf("%s on %s: weight bits %s, output bits %s, storage %s; MSE on the %s windows\n", m->name, s->dev.name,
	       o->n_wbits ? "chosen" : "2-16", o->n_abits ? "chosen" : "2-16", o->keep_storage ? "kept" : "chosen",
	       split_names[r->split]);
	printf("budget: LUT %.0f  LUTRAM %.0f  FF %.0f  BRAM tiles %.1f  DSP %.0f", r->budget[MPQX_RES_LUT],
	       r->budget[MPQX_RES_LUTRAM], r->budget[MPQX_RES_FF], r->budget[MPQX_RES_BRAM], r->budget[MPQX_RES_DSP]);
	if (r->latency_max > 0)
		printf("  latency %.2f us", r->latency_max);
	printf("\nfloat MSE %.6g (test); uniform 8 bits (start storage): MSE %.6g (exact, %s), %s\n\n", s->fref->mse, mse8,
	       split_names[r->split], fits8 ? "fits" : "does not fit");
	if (!r->found) {
		printf("no configuration fits: %s\n", r->why);
	} else {
		const struct mpqx_search_point *b = &r->best;
		printf("best that fits: MSE %.6g (exact; surrogate %.6g), %+.1f%% against uniform 8 bits\n", b->mse,
		       b->mse_surrogate, 100 * (b->mse / mse8 - 1));
		if (!isnan(best_test))
			printf("  its test MSE %.6g (exact), %+.1f%% against the float model's, %+.1f%% against uniform 8 "
			       "bits' (%.6g)\n", best_test, 100 * (best_test / s->fref->mse - 1), 100 * (best_test / u8_test - 1),
			       u8_test);
		printf("  LUT %.0f  LUTRAM %.0f  FF %.0f  BRAM tiles %.1f  DSP %.0f  latency %.2f us\n\n", b->used[MPQX_RES_LUT],
		       b->used[MPQX_RES_LUTRAM], b->used[MPQX_RES_FF], b->used[MPQX_RES_BRAM], b->used[MPQX_RES_DSP],
		       b->latency_us);
		int nw = cli_name_width(m, 16);
		printf("%-*s %-9s %6s %-12s %-6s\n", nw, "layer", "op", "bits", "buffer", "rom");
		for (int l = 0; l < m->n_layers; l++) {
			const struct mpqx_layer *ly = &m->layers[l];
			const struct mpqx_layer_cfg *lc = &b->cfg.layers[l];
			char bits[16];
			bool w = model_layer_has_weights(ly);
			bool rom = model_layer_has_rom(ly);
			if (w)
				snprintf(bits, sizeof bits, "%d/%d", lc->w_bits, lc->a_bits);
			else
				snprintf(bits, sizeof bits, "%d", lc->a_bits);
			printf("%-*s %-9s %6s %-12s %-6s\n", nw, ly->name, model_op_name(ly->op), bits,
			       !model_layer_has_buffer(ly) ? "-" : config_storage_name(lc->buffer, false),
			       rom ? config_storage_name(lc->rom, true) : "-");
		}
	}
	static const char *const fl[MPQX_FRONT_COUNT] = {"LUT", "BRAM tiles", "latency (us)"};
	for (int f = 0; f < MPQX_FRONT_COUNT; f++) {
		printf("\nPareto front, MSE against %s (the other resources%s within budget): %d points\n", fl[f],
		       f == MPQX_FRONT_LATENCY ? "" : " and the latency bound", r->n_front[f]);
		for (int i = 0; i < r->n_front[f]; i++) {
			char lab[16];
			snprintf(lab, sizeof lab, "  %2d%s", i + 1, r->found && config_equal(&r->front[f][i].cfg, &r->best.cfg) ? "*" : " ");
			print_point_line(lab, &r->front[f][i], front_test[f] ? front_test[f][i] : NAN);
		}
	}
	printf("\npriced %ld configurations in %.2f s: %.0f per second (%ld layer settings estimated afresh);\n"
	       "%ld exact evaluations in %.2f s; total %.2f s. * = the best that fits\n",
	       r->priced, r->price_ms / 1e3, r->rate, r->cost_misses, r->exact_runs, r->exact_ms / 1e3, r->total_ms / 1e3);
}

int cmd_search(int argc, char **argv)
{
	static const struct option opts[] = {
		{"config", required_argument, NULL, 'c'},
		{"device", required_argument, NULL, 'd'},
		{"output", required_argument, NULL, 'o'},
		{"json", no_argument, NULL, 'j'},
		{"sensitivity", no_argument, NULL, 's'},
		{"latency-us", required_argument, NULL, 'L'},
		{"margin", required_argument, NULL, 'M'},
		{"limit", required_argument, NULL, 'l'},
		{"wbits", required_argument, NULL, 'W'},
		{"abits", required_argument, NULL, 'A'},
		{"keep-storage", no_argument, NULL, 'k'},
		{"exact", required_argument, NULL, 'e'},
		{"front", required_argument, NULL, 'f'},
		{"exhaustive", no_argument, NULL, 'x'},
		{"bench-price", no_argument, NULL, 'b'},
		{"threads", required_argument, NULL, 't'},
		{"select", required_argument, NULL, 'S'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *config = NULL, *device = NULL, *output = NULL;
	bool json = false, sens_only = false, exhaustive = false, bench = false;
	int threads = 0;
	enum mpqx_split split = MPQX_TEST;
	struct mpqx_search_opts so;
	search_opts_default(&so);
	int ch;
	char *end;
	optind = 1;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, "c:d:o:h", opts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			config = optarg;
			break;
		case 'd':
			device = optarg;
			break;
		case 'o':
			output = optarg;
			break;
		case 'j':
			json = true;
			break;
		case 's':
			sens_only = true;
			break;
		case 'L':
			so.latency_us = strtod(optarg, &end);
			if (end == optarg || *end || !(so.latency_us > 0) || !isfinite(so.latency_us))
				return cli_usage_error("search", "--latency-us '%s': expected a positive number", optarg);
			break;
		case 'M':
			so.margin = strtod(optarg, &end);
			if (end == optarg || *end || !(so.margin >= 0 && so.margin < 1))
				return cli_usage_error("search", "--margin '%s': expected a fraction from 0 to below 1", optarg);
			break;
		case 'l':
			if (parse_limit(optarg, so.limit))
				return cli_usage_error("search", "--limit '%s': expected RES=N with RES lut, lutram, ff, "
						       "bram or dsp and N > 0", optarg);
			break;
		case 'W':
		case 'A': {
			int *bits = ch == 'W' ? so.wbits : so.abits;
			int n = search_parse_bits(optarg, bits, MPQX_BITS_MAX + 1);
			if (n <= 0)
				return cli_usage_error("search", "--%s '%s': expected bit widths %d..%d such as 4,6,8 or 2-8",
						       ch == 'W' ? "wbits" : "abits", optarg, MPQX_BITS_MIN, MPQX_BITS_MAX);
			if (ch == 'W')
				so.n_wbits = n;
			else
				so.n_abits = n;
			break;
		}
		case 'k':
			so.keep_storage = true;
			break;
		case 'e':
		case 'f': {
			long v = strtol(optarg, &end, 10);
			if (end == optarg || *end || v < 0 || v > 100000)
				return cli_usage_error("search", "--%s '%s': expected a count", ch == 'e' ? "exact" : "front",
						       optarg);
			if (ch == 'e')
				so.polish = (int)v;
			else
				so.front_points = (int)v;
			break;
		}
		case 'x':
			exhaustive = true;
			break;
		case 'b':
			bench = true;
			break;
		case 't': {
			long v = strtol(optarg, &end, 10);
			if (end == optarg || *end || v < 0 || v > 64)
				return cli_usage_error("search", "--threads '%s': expected 0..64", optarg);
			threads = (int)v;
			break;
		}
		case 'S': {
			int k = -1;
			for (int i = 0; i < MPQX_SPLITS; i++)
				if (strcmp(optarg, split_names[i]) == 0)
					k = i;
			if (k < 0)
				return cli_usage_error("search", "--select '%s': expected test, calib or train", optarg);
			split = (enum mpqx_split)k;
			break;
		}
		case 'h':
			return usage_text();
		default:
			return cli_usage_error("search", "unknown or incomplete option '%s'", argv[optind - 1]);
		}
	}
	if (argc - optind > 1)
		return cli_usage_error("search", "expected one MODEL, got %d arguments", argc - optind);
	if (sens_only && (output || exhaustive))
		return cli_usage_error("search", "--sensitivity takes no -o or --exhaustive");

	struct mpqx_session_opts o = {0};
	char ddir[4400];
	snprintf(ddir, sizeof ddir, "%s", cli_data_dir("devices"));
	o.devices_dir = ddir;
	o.config = config;
	o.device = device;
	o.threads = threads;
	struct mpqx_session *s = NULL;
	struct mpqx_search *sr = NULL;
	struct mpqx_err err = {0};
	struct mpqx_search_result res = {0};
	struct mpqx_search_exhaustive ex = {0};
	struct mpqx_config u8 = {0};
	double best_test = NAN, u8_test = NAN, *front_test[MPQX_FRONT_COUNT] = {NULL};
	cJSON *out = NULL;
	int rc = CLI_FAIL;
	if (session_open(cli_model_path(optind < argc ? argv[optind] : NULL), &o, &s, &err) ||
	    search_new(s, split, threads, &sr, &err))
		goto fail;
	const struct mpqx_model *m = s->model;
	const struct mpqx_sensitivity *sn;
	if (search_sensitivity(sr, &sn, &err))
		goto fail;
	if (json) {
		out = cJSON_CreateObject();
		cJSON_AddStringToObject(out, "model", m->name);
		cJSON_AddStringToObject(out, "device", s->dev.name);
		cJSON_AddItemToObject(out, "sensitivity", sens_json(m, sn));
	}
	if (sens_only) {
		if (!json)
			print_sens(m, sn);
		rc = CLI_OK;
		goto out;
	}
	if (search_run(sr, &s->cfg, &so, &res, &err))
		goto fail;
	/* The uniform 8-bit reference with the start config's storage. */
	double mse8;
	struct mpqx_search_point p8 = {0};
	if (config_copy(&u8, &s->cfg)) {
		err_set(&err, MPQX_ENOMEM, "out of memory");
		goto fail;
	}
	for (int l = 0; l < u8.n_layers; l++)
		u8.layers[l].w_bits = u8.layers[l].a_bits = 8;
	if (search_exact(sr, &u8, &mse8, &err) || search_price(sr, &u8, &so, &p8, &err))
		goto fail;
	double rate = 0;
	if (bench && search_bench_price(sr, &s->cfg, &so, 1000, &rate, &err))
		goto fail;
	if (exhaustive && search_exhaustive(sr, &s->cfg, &so, 20000000L, &ex, &err))
		goto fail;
	if (output && res.found && config_save(output, m, &res.best.cfg, &err))
		goto fail;
	/* Chosen on other windows: their test MSE, as every other figure of mpqx. */
	if (split != MPQX_TEST) {
		if (res.found && test_mse(s, &res.best, &best_test, &err))
			goto fail;
		if (session_apply(s, &u8, &err))
			goto fail;
		u8_test = s->res.mse;
		for (int f = 0; f < MPQX_FRONT_COUNT; f++) {
			front_test[f] = calloc((size_t)res.n_front[f] + 1, sizeof *front_test[f]);
			if (!front_test[f]) {
				err_set(&err, MPQX_ENOMEM, "out of memory");
				goto fail;
			}
			for (int i = 0; i < res.n_front[f]; i++)
				if (test_mse(s, &res.front[f][i], &front_test[f][i], &err))
					goto fail;
		}
	}
	if (json) {
		cJSON_AddStringToObject(out, "select", split_names[split]);
		cJSON_AddBoolToObject(out, "found", res.found);
		if (res.found)
			cJSON_AddItemToObject(out, "best", point_json(m, &res.best, true, best_test));
		else
			cJSON_AddStringToObject(out, "why", res.why);
		cJSON *u = cJSON_AddObjectToObject(out, "uniform8");
		cJSON_AddNumberToObject(u, "mse", mse8);
		if (!isnan(u8_test))
			cJSON_AddNumberToObject(u, "mse_test", u8_test);
		cJSON_AddBoolToObject(u, "fits", p8.fits);
		cJSON_AddNumberToObject(out, "mse_float", s->fref->mse);
		cJSON *b = cJSON_AddObjectToObject(out, "budget");
		for (int r = 0; r < MPQX_RES_COUNT; r++)
			cJSON_AddNumberToObject(b, res_names[r], res.budget[r]);
		cJSON_AddNumberToObject(b, "latency_us", res.latency_max);
		cJSON *fr = cJSON_AddObjectToObject(out, "fronts");
		for (int f = 0; f < MPQX_FRONT_COUNT; f++) {
			cJSON *a = cJSON_AddArrayToObject(fr, search_front_name((enum mpqx_front)f));
			for (int i = 0; i < res.n_front[f]; i++)
				cJSON_AddItemToArray(a, point_json(m, &res.front[f][i], false, front_test[f] ? front_test[f][i] : NAN));
		}
		cJSON *st = cJSON_AddObjectToObject(out, "stats");
		cJSON_AddNumberToObject(st, "priced", (double)res.priced);
		cJSON_AddNumberToObject(st, "price_ms", res.price_ms);
		cJSON_AddNumberToObject(st, "priced_per_s", res.rate);
		if (bench)
			cJSON_AddNumberToObject(st, "priced_per_s_random_walk", rate);
		cJSON_AddNumberToObject(st, "cost_misses", (double)res.cost_misses);
		cJSON_AddNumberToObject(st, "exact_runs", (double)res.exact_runs);
		cJSON_AddNumberToObject(st, "exact_ms", res.exact_ms);
		cJSON_AddNumberToObject(st, "best_surrogate_mse", res.best_surrogate_mse);
		cJSON_AddNumberToObject(st, "total_ms", res.total_ms);
		if (exhaustive) {
			cJSON *x = cJSON_AddObjectToObject(out, "exhaustive");
			cJSON_AddNumberToObject(x, "configs", (double)ex.configs);
			cJSON_AddNumberToObject(x, "fit", (double)ex.fit);
			cJSON_AddBoolToObject(x, "found", ex.found);
			if (ex.found)
				cJSON_AddItemToObject(x, "best", point_json(m, &ex.best, true, NAN));
			cJSON_AddNumberToObject(x, "ms", ex.ms);
			if (ex.found && res.found)
				cJSON_AddNumberToObject(x, "search_over_optimum", res.best.mse / ex.best.mse);
		}
		if (output && res.found)
			cJSON_AddStringToObject(out, "written", output);
	} else {
		print_result(s, &res, &so, mse8, p8.fits, best_test, u8_test, front_test);
		if (bench)
			printf("random walk of single moves (warm caches): %.0f configurations priced per second\n", rate);
		if (exhaustive) {
			printf("\nexhaustive: %ld configurations, %ld fit, %.2f s\n", ex.configs, ex.fit, ex.ms / 1e3);
			if (ex.found) {
				print_point_line("optimum", &ex.best, NAN);
				if (res.found)
					printf("search / optimum: %.6g / %.6g = %.4f\n", res.best.mse, ex.best.mse,
					       res.best.mse / ex.best.mse);
			} else {
				printf("nothing in the space fits\n");
			}
		}
		if (output && res.found)
			printf("wrote %s\n", output);
		else if (output)
			printf("nothing fits: %s not written\n", output);
	}
	rc = res.found || !output ? CLI_OK : CLI_FAIL;
	goto out;
fail:
	cli_error("%s", err.msg);
	cJSON_Delete(out);
	out = NULL;
	rc = CLI_FAIL;
out:
	if (out) {
		char *t = cJSON_Print(out);
		if (t)
			puts(t);
		free(t);
		cJSON_Delete(out);
	}
	config_fini(&u8);
	for (int f = 0; f < MPQX_FRONT_COUNT; f++)
		free(front_test[f]);
	search_exhaustive_fini(&ex);
	search_result_fini(&res);
	search_free(sr);
	session_free(s);
	return rc;
}
