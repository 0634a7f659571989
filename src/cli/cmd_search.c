/* mpqx search: the per-layer bits and storage of least test MSE that fit a device, the Pareto fronts of
 * MSE against LUTs, BRAM tiles and latency, and the layers' sensitivities. */
#include <cjson/cJSON.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "mpqx/hw.h"
#include "mpqx/config.h"
#include "mpqx/report.h"
#include "mpqx/search.h"
#include "mpqx/session.h"

static int usage_text(void)
{
	printf("usage: mpqx search MODEL [-c CONFIG] [-d DEVICE] [-o CONFIG] [--json] [--sensitivity]\n"
	       "                   [--latency-us X] [--margin F] [--limit RES=N] [--wbits LIST] [--abits LIST]\n"
	       "                   [--keep-storage] [--channel] [--select PART] [--exhaustive] [--bench-price] [--threads N]\n"
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
	       "  --keep-storage   keep the start config's buffer and ROM storage and multipliers instead of choosing them\n"
	       "  --channel        then try each linear and affine layer's weights per channel on the best (exact)\n"
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

/* "LUT 5123  LUTRAM 1392  FF 1680  BRAM tiles 8.0  DSP 17" in the device family's words: on iCE40 the slots
 * hold logic cells, SPRAM blocks and EBR (counted in tiles of two, printed as EBR). */
static void print_resources(const struct mpqx_device *d, const double *u)
{
	if (d->fam == MPQX_FAMILY_ICE40)
		printf("LC %.0f  SPRAM %.0f  FF %.0f  EBR %.0f  DSP %.0f", u[MPQX_RES_LUT], u[MPQX_RES_LUTRAM],
		       u[MPQX_RES_FF], 2 * u[MPQX_RES_BRAM], u[MPQX_RES_DSP]);
	else
		printf("LUT %.0f  LUTRAM %.0f  FF %.0f  BRAM tiles %.1f  DSP %.0f", u[MPQX_RES_LUT], u[MPQX_RES_LUTRAM],
		       u[MPQX_RES_FF], u[MPQX_RES_BRAM], u[MPQX_RES_DSP]);
}

/* The config's word on xc7, the family's (ebr, regs, spram) on iCE40, as the explorer shows them. */
static const char *store_word(const struct mpqx_device *d, enum mpqx_storage st, bool rom)
{
	return d->fam == MPQX_FAMILY_ICE40 ? device_storage_label(d, st, rom) : config_storage_name(st, rom);
}

static void print_point_line(const struct mpqx_device *d, const char *label, const struct mpqx_search_point *p,
			     double mse_test)
{
	char t[48] = "";
	if (!isnan(mse_test))
		snprintf(t, sizeof t, ", test %.6g", mse_test);
	printf("%-10s MSE %.6g (%s%s)  ", label, p->mse, p->exact ? "exact" : "surrogate", t);
	print_resources(d, p->used);
	printf("  %.2f us\n", p->latency_us);
}

static void print_result(const struct mpqx_session *s, const struct mpqx_search_result *r,
			 const struct mpqx_search_opts *o, double mse8, bool fits8, double best_test, double u8_test,
			 double *const *front_test)
{
	const struct mpqx_model *m = s->model;
	printf("%s on %s: weight bits %s, output bits %s, storage %s; MSE on the %s windows\n", m->name, s->dev.name,
	       o->n_wbits ? "chosen" : "2-16", o->n_abits ? "chosen" : "2-16", o->keep_storage ? "kept" : "chosen",
	       split_names[r->split]);
	printf("budget: ");
	print_resources(&s->dev, r->budget);
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
		printf("  ");
		print_resources(&s->dev, b->used);
		printf("  latency %.2f us\n\n", b->latency_us);
		int nw = cli_name_width(m, 16);
		printf("%-*s %-9s %6s %-12s %-6s %-6s\n", nw, "layer", "op", "bits", "buffer", "rom", "mult");
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
			printf("%-*s %-9s %6s %-12s %-6s %-6s\n", nw, ly->name, model_op_name(ly->op), bits,
			       !model_layer_has_buffer(ly) ? "-" : store_word(&s->dev, lc->buffer, false),
			       rom ? store_word(&s->dev, lc->rom, true) : "-",
			       hw_mult_kind(ly->op) != MPQX_HW_MULT_NONE ? config_mult_name(lc->mult) : "-");
		}
	}
	bool ice = s->dev.fam == MPQX_FAMILY_ICE40;
	const char *const fl[MPQX_FRONT_COUNT] = {ice ? "logic cells" : "LUT", ice ? "EBR (tiles of two)" : "BRAM tiles",
						  "latency (us)"};
	for (int f = 0; f < MPQX_FRONT_COUNT; f++) {
		printf("\nPareto front, MSE against %s (the other resources%s within budget): %d points\n", fl[f],
		       f == MPQX_FRONT_LATENCY ? "" : " and the latency bound", r->n_front[f]);
		for (int i = 0; i < r->n_front[f]; i++) {
			char lab[16];
			snprintf(lab, sizeof lab, "  %2d%s", i + 1, r->found && config_equal(&r->front[f][i].cfg, &r->best.cfg) ? "*" : " ");
			print_point_line(&s->dev, lab, &r->front[f][i], front_test[f] ? front_test[f][i] : NAN);
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
		{"channel", no_argument, NULL, 'C'},
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
	struct mpqx_report_search r;
	report_search_init(&r);
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
		case 'C':
			so.channel = true;
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
			r.threads = (int)v;
			break;
		}
		case 'S': {
			int k = -1;
			for (int i = 0; i < MPQX_SPLITS; i++)
				if (strcmp(optarg, split_names[i]) == 0)
					k = i;
			if (k < 0)
				return cli_usage_error("search", "--select '%s': expected test, calib or train", optarg);
			r.split = (enum mpqx_split)k;
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

	r.opts = so;
	r.sens_only = sens_only;
	r.exhaustive = exhaustive;
	r.bench = bench;
	r.output = output;
	struct mpqx_session_opts o = {0};
	char ddir[4400];
	snprintf(ddir, sizeof ddir, "%s", cli_data_dir("devices"));
	o.devices_dir = ddir;
	o.config = config;
	o.device = device;
	o.threads = r.threads;
	struct mpqx_session *s = NULL;
	struct mpqx_err err = {0};
	int rc = CLI_FAIL;
	if (session_open(cli_model_path(optind < argc ? argv[optind] : NULL), &o, &s, &err))
		goto fail;
	if (s->note[0])
		fprintf(stderr, "mpqx: warning: %s\n", s->note);
	if (report_search_run(s, &r, &err))
		goto fail;
	if (json) {
		cJSON *out = report_search(s, &r);
		char *t = cJSON_Print(out);
		if (t)
			puts(t);
		free(t);
		cJSON_Delete(out);
	} else if (sens_only) {
		print_sens(s->model, r.sn);
	} else {
		print_result(s, &r.res, &r.opts, r.mse8, r.p8.fits, r.best_test, r.u8_test, r.front_test);
		if (bench)
			printf("random walk of single moves (warm caches): %.0f configurations priced per second\n", r.rate);
		if (exhaustive) {
			const struct mpqx_search_exhaustive *ex = &r.ex;
			printf("\nexhaustive: %ld configurations, %ld fit, %.2f s\n", ex->configs, ex->fit, ex->ms / 1e3);
			if (ex->found) {
				print_point_line(&s->dev, "optimum", &ex->best, NAN);
				if (r.res.found)
					printf("search / optimum: %.6g / %.6g = %.4f\n", r.res.best.mse, ex->best.mse,
					       r.res.best.mse / ex->best.mse);
			} else {
				printf("nothing in the space fits\n");
			}
		}
		if (r.written)
			printf("wrote %s\n", output);
		else if (output)
			printf("nothing fits: %s not written\n", output);
	}
	rc = sens_only || r.res.found || !output ? CLI_OK : CLI_FAIL;
	goto out;
fail:
	cli_error("%s", err.msg);
	rc = CLI_FAIL;
out:
	report_search_fini(&r);
	session_free(s);
	return rc;
}
