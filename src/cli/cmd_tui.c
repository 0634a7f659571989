/* mpqx [MODEL]: the explorer, and its headless forms (--dump-screen, --bench-ui). */
#include <cjson/cJSON.h>
#include <getopt.h>
#include <locale.h>
#include <langinfo.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "mpqx/app.h"
#include "mpqx/session.h"
#include "mpqx/slots.h"
#include "tui.h"

/* The bench replays this on every layer: the output bits down and up (recomputing the layer and all after
 * it), the buffer storage round (estimate only), and the next layer. */
static char *default_bench_keys(const struct mpqx_model *m)
{
	size_t n = (size_t)m->n_layers * 8 + 16;
	char *s = malloc(n);
	if (!s)
		return NULL;
	size_t o = 0;
	s[o++] = 'g';
	for (int l = 0; l < m->n_layers; l++) {
		memcpy(s + o, "aAbbbj", 6);
		o += 6;
	}
	s[o] = '\0';
	return s;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* The p-th percentile (0..100) of v[0..n) by the nearest-rank rule; sorts v. */
static double percentile(double *v, int n, double p)
{
	if (n <= 0)
		return NAN;
	qsort(v, (size_t)n, sizeof *v, cmp_double);
	int k = (int)ceil(p / 100 * n) - 1;
	if (k < 0)
		k = 0;
	if (k > n - 1)
		k = n - 1;
	return v[k];
}

static int run_bench(struct mpqx_app *a, const struct tui_opts *to, int rows, int cols, const char *keys, int repeat,
		     bool json, bool first_only)
{
	struct mpqx_err err = {0};
	char *owned = NULL;
	if (!keys)
		keys = owned = default_bench_keys(a->s->model);
	if (!keys) {
		cli_error("out of memory");
		return CLI_FAIL;
	}
	int max = (int)strlen(keys) * repeat + 1;
	double *scr = malloc(sizeof *scr * (size_t)max), *full = malloc(sizeof *full * (size_t)max);
	double *cpu = malloc(sizeof *cpu * (size_t)max), *first = malloc(sizeof *first * (size_t)max);
	int n = scr && full && cpu && first ? tui_bench(a, to, rows, cols, keys, repeat, scr, first,
							first_only ? NULL : full, cpu, max, &err)
					    : -1;
	free(owned);
	if (n < 0) {
		cli_error("%s", err.msg[0] ? err.msg : "out of memory");
		free(scr);
		free(full);
		free(cpu);
		free(first);
		return CLI_FAIL;
	}
	double i50 = percentile(first, n, 50), i95 = percentile(first, n, 95), imax = first[n ? n - 1 : 0];
	int sub = session_subset_windows(a->s); /* 0: the first MSE is the whole set's */
	double c50 = percentile(cpu, n, 50), c95 = percentile(cpu, n, 95), cmax = cpu[n ? n - 1 : 0];
	double s50 = percentile(scr, n, 50), s95 = percentile(scr, n, 95), smax = scr[n ? n - 1 : 0];
	double f50 = NAN, f95 = NAN, fmax = NAN;
	if (!first_only) {
		f50 = percentile(full, n, 50);
		f95 = percentile(full, n, 95);
		fmax = full[n ? n - 1 : 0];
	}
	if (json) {
		cJSON *o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "model", a->s->model->name);
		cJSON_AddNumberToObject(o, "keys", n);
		cJSON_AddNumberToObject(o, "rows", rows);
		cJSON_AddNumberToObject(o, "cols", cols);
		cJSON *sc = cJSON_AddObjectToObject(o, "screen_ms");
		cJSON_AddNumberToObject(sc, "p50", s50);
		cJSON_AddNumberToObject(sc, "p95", s95);
		cJSON_AddNumberToObject(sc, "max", smax);
		cJSON *cp = cJSON_AddObjectToObject(o, "screen_cpu_ms");
		cJSON_AddNumberToObject(cp, "p50", c50);
		cJSON_AddNumberToObject(cp, "p95", c95);
		cJSON_AddNumberToObject(cp, "max", cmax);
		cJSON_AddNumberToObject(o, "subset_windows", sub);
		cJSON_AddNumberToObject(o, "test_windows", a->s->fref->windows);
		cJSON *fi = cJSON_AddObjectToObject(o, "first_mse_ms");
		cJSON_AddNumberToObject(fi, "p50", i50);
		cJSON_AddNumberToObject(fi, "p95", i95);
		cJSON_AddNumberToObject(fi, "max", imax);
		if (!first_only) {
			cJSON *fu = cJSON_AddObjectToObject(o, "with_error_ms");
			cJSON_AddNumberToObject(fu, "p50", f50);
			cJSON_AddNumberToObject(fu, "p95", f95);
			cJSON_AddNumberToObject(fu, "max", fmax);
		}
		char *t = cJSON_Print(o);
		puts(t);
		free(t);
		cJSON_Delete(o);
	} else {
		printf("model %s, %d keypresses replayed on a %dx%d screen\n", a->s->model->name, n, cols, rows);
		printf("key to repainted screen (estimate current)  p50 %.2f ms  p95 %.2f ms  max %.2f ms\n", s50, s95,
		       smax);
		printf("  CPU time of the interface thread          p50 %.2f ms  p95 %.2f ms  max %.2f ms\n", c50, c95,
		       cmax);
		if (sub)
			printf("key to screen with the subset's MSE         p50 %.2f ms  p95 %.2f ms  max %.2f ms  (%d of %d "
			       "windows)\n", i50, i95, imax, sub, a->s->fref->windows);
		if (!first_only)
			printf("key to screen with the new MSE              p50 %.2f ms  p95 %.2f ms  max %.2f ms%s\n", f50,
			       f95, fmax, sub ? "  (all windows)" : "");
		else
			printf("(each key sent once its first MSE was on screen: the whole set's evaluations abandoned)\n");
	}
	free(first);
	free(scr);
	free(full);
	free(cpu);
	return CLI_OK;
}

static int parse_size(const char *s, int *cols, int *rows)
{
	char x;
	return sscanf(s, "%d%c%d", cols, &x, rows) == 3 && (x == 'x' || x == 'X') && *cols > 0 && *rows > 0 &&
			       *cols <= 1000 && *rows <= 500
		       ? 0
		       : -1;
}

int cmd_tui(int argc, char **argv)
{
	static const struct option opts[] = {
		{"config", required_argument, NULL, 'c'},
		{"device", required_argument, NULL, 'd'},
		{"theme", required_argument, NULL, 't'},
		{"no-color", no_argument, NULL, 'C'},
		{"no-colour", no_argument, NULL, 'C'},
		{"ascii", no_argument, NULL, 'a'},
		{"no-mouse", no_argument, NULL, 'M'},
		{"dump-screen", required_argument, NULL, 'D'},
		{"keys", required_argument, NULL, 'k'},
		{"bench-ui", no_argument, NULL, 'B'},
		{"repeat", required_argument, NULL, 'r'},
		{"json", no_argument, NULL, 'j'},
		{"subset", required_argument, NULL, 'S'},
		{"dump-subset", no_argument, NULL, 'U'},
		{"first-only", no_argument, NULL, 'F'},
		{NULL, 0, NULL, 0},
	};
	const char *config = NULL, *device = NULL, *keys = NULL, *dump = NULL;
	struct tui_opts to = {0};
	to.mouse = true;
	bool bench = false, json = false, dump_subset = false, first_only = false;
	int repeat = 3, c, subset = 0;
	const char *nc = getenv("NO_COLOR");
	if (nc && *nc)
		to.no_color = true;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "c:d:", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			config = optarg;
			break;
		case 'd':
			device = optarg;
			break;
		case 't':
			to.theme_name = optarg;
			break;
		case 'C':
			to.no_color = true;
			break;
		case 'a':
			to.ascii = true;
			break;
		case 'M':
			to.mouse = false;
			break;
		case 'D':
			dump = optarg;
			break;
		case 'k':
			keys = optarg;
			break;
		case 'B':
			bench = true;
			break;
		case 'r':
			repeat = atoi(optarg);
			if (repeat < 1 || repeat > 1000)
				return cli_usage_error(NULL, "--repeat takes 1..1000");
			break;
		case 'j':
			json = true;
			break;
		case 'S': {
			char *end;
			long v = strtol(optarg, &end, 10);
			if (end == optarg || *end || v < 0 || v > 1000000)
				return cli_usage_error(NULL, "--subset takes a number of windows (0: none)");
			subset = v == 0 ? -1 : (int)v;
			break;
		}
		case 'U':
			dump_subset = true;
			break;
		case 'F':
			first_only = true;
			break;
		default:
			return cli_usage_error(NULL, "unknown option '%s'", argv[optind - 1]);
		}
	}
	if (argc - optind > 1)
		return cli_usage_error(NULL, "one MODEL at most (got '%s' and '%s')", argv[optind], argv[optind + 1]);
	int rows = 24, cols = 80;
	if (dump_subset && (!dump || bench))
		return cli_usage_error(NULL, "--dump-subset goes with --dump-screen");
	if (first_only && !bench)
		return cli_usage_error(NULL, "--first-only goes with --bench-ui");
	if (dump && parse_size(dump, &cols, &rows))
		return cli_usage_error(NULL, "--dump-screen takes COLSxROWS, such as 80x24");

	if (!dump && !bench && (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO))) {
		cli_error("the explorer needs a terminal; in scripts use a subcommand (mpqx --help) or --dump-screen");
		return CLI_FAIL;
	}
	setlocale(LC_ALL, "");
	if ((dump || bench) && !to.ascii) {
		/* Headless output is UTF-8 whatever the caller's locale, so dumps compare byte for byte. */
		const char *cs = nl_langinfo(CODESET);
		if (!cs || strcmp(cs, "UTF-8") != 0)
			if (!setlocale(LC_CTYPE, "C.UTF-8"))
				to.ascii = true;
	}
	char themes[4300];
	snprintf(themes, sizeof themes, "%s", cli_data_dir("themes"));
	to.themes_dir = themes;

	struct mpqx_session_opts so = {0};
	so.devices_dir = cli_data_dir("devices");
	char devdir[4300];
	snprintf(devdir, sizeof devdir, "%s", so.devices_dir);
	so.devices_dir = devdir;
	so.config = config;
	so.device = device;
	so.async = !dump || bench;
	so.device_fallback = true;
	so.subset = subset;
	so.subset_always = dump_subset;
	if (so.async) {
		/* The evaluation uses every core: the interface needs under a millisecond of CPU a key and the
		 * worker runs below its priority, so a repaint still gets a core first. */
		long cores = sysconf(_SC_NPROCESSORS_ONLN);
		so.threads = cores > 1 ? (int)cores : 1;
	}
	struct mpqx_session *s = NULL;
	struct mpqx_err err = {0};
	if (session_open(cli_model_path(optind < argc ? argv[optind] : NULL), &so, &s, &err)) {
		cli_error("%s", err.msg);
		return CLI_FAIL;
	}
	if (s->note[0] && (dump || bench))
		fprintf(stderr, "mpqx: warning: %s\n", s->note);
	struct mpqx_app app;
	if (app_init(&app, s, config)) {
		cli_error("out of memory");
		session_free(s);
		return CLI_FAIL;
	}
	int rc;
	if (bench) {
		rc = run_bench(&app, &to, dump ? rows : 48, dump ? cols : 160, keys, repeat, json, first_only);
	} else if (dump) {
		rc = tui_dump(&app, &to, rows, cols, keys, dump_subset, stdout, &err) ? CLI_FAIL : CLI_OK;
		if (rc)
			cli_error("%s", err.msg);
	} else {
		/* The slots come back on the next start (not in the headless forms, which must not depend on them). */
		char sp[4200];
		struct mpqx_err se = {0};
		if (slots_default_path(s->model, sp, sizeof sp, &se) == MPQX_OK)
			app_slots_open(&app, sp);
		rc = tui_run(&app, &to) ? CLI_FAIL : CLI_OK;
	}
	app_fini(&app);
	session_free(s);
	return rc;
}
