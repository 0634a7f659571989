/* mpqx export: the integer model as Verilog with a self-checking testbench, optionally simulated. */
#include <cjson/cJSON.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "mpqx/config.h"
#include "mpqx/export.h"
#include "mpqx/fref.h"
#include "mpqx/quant.h"
#include "mpqx/report.h"

static void print_json(const char *dir, const struct mpqx_export_info *info, const struct mpqx_sim_result *sim)
{
	cJSON *o = report_export(dir, info, sim);
	char *t = cJSON_Print(o);
	if (t)
		puts(t);
	free(t);
	cJSON_Delete(o);
}

static int usage_text(void)
{
	printf("usage: mpqx export MODEL [-c CONFIG] [-d DEVICE] -o DIR [--windows N] [--sim [--simulator S]]\n"
	       "  -c CONFIG      per-layer bits and storage (default: uniform 8 bits, storage auto)\n"
	       "  -d DEVICE      device name (devices/NAME.ini) or an .ini path (default: the config's device);\n"
	       "                 its family picks the RAM variants and the Yosys script (xc7, ice40)\n"
	       "  -o DIR         output directory; replaced only if it is an earlier export or empty\n"
	       "  --windows N    test windows for the testbench (default %d; at most the test split)\n"
	       "  --sim          run Icarus Verilog on the export and compare with the integer model:\n"
	       "                 prints 'RESULT windows=N mismatches=M cycles=C', exit 1 on any difference\n"
	       "  --simulator S  icarus (default, the reference) or verilator: Verilator 5 builds the same\n"
	       "                 testbench (slower to start, far faster per window); implies --sim\n"
	       "  --json         one JSON object on stdout: what was written, and the simulation with --sim\n"
	       "  --prefix P     module name prefix (default mpqx_)\n"
	       "  -q, --quiet    print only the RESULT line and errors\n",
	       MPQX_EXPORT_WINDOWS);
	return CLI_OK;
}

/* Runs the simulation of dir; with json prints export --json (info and the simulation) instead of the
 * RESULT line. */
static int simulate(const char *dir, enum mpqx_simulator simulator, bool quiet, bool json,
		    const struct mpqx_export_info *info)
{
	struct mpqx_err err = {0};
	struct mpqx_sim_result r;
	if (export_simulate_with(dir, simulator, &r, &err)) {
		cli_error("%s", err.msg);
		return CLI_FAIL;
	}
	if (json)
		print_json(dir, info, &r);
	else
		puts(r.result);
	fflush(stdout);
	bool ok = export_sim_ok(&r);
	char problems[2048];
	report_sim_problems(&r, problems, sizeof problems);
	for (char *line = problems, *nl; *line; line = nl ? nl + 1 : line + strlen(line)) {
		nl = strchr(line, '\n');
		if (nl)
			*nl = '\0';
		cli_error("%s", line);
	}
	if (ok && !quiet)
		fprintf(stderr, "mpqx: %s: every buffer of every window matches the integer model; %ld cycles per "
				"window as computed\n",
			export_simulator_name(simulator), r.cycles);
	return ok ? CLI_OK : CLI_FAIL;
}

int cmd_export(int argc, char **argv)
{
	static const struct option opts[] = {
		{"config", required_argument, NULL, 'c'},
		{"device", required_argument, NULL, 'd'},
		{"output", required_argument, NULL, 'o'},
		{"windows", required_argument, NULL, 'w'},
		{"sim", no_argument, NULL, 's'},
		{"simulator", required_argument, NULL, 'S'},
		{"prefix", required_argument, NULL, 'p'},
		{"quiet", no_argument, NULL, 'q'},
		{"json", no_argument, NULL, 'j'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *config = NULL, *out = NULL, *prefix = NULL, *device = NULL;
	int windows = MPQX_EXPORT_WINDOWS;
	bool sim = false, quiet = false, json = false;
	enum mpqx_simulator simulator = MPQX_SIM_ICARUS;
	int c;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "c:d:o:hq", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			config = optarg;
			break;
		case 'd':
			device = optarg;
			break;
		case 'o':
			out = optarg;
			break;
		case 'w': {
			char *end;
			long v = strtol(optarg, &end, 10);
			if (*optarg == '\0' || *end || v < 1 || v > 1000000)
				return cli_usage_error("export", "--windows: expected a positive number, got '%s'", optarg);
			windows = (int)v;
			break;
		}
		case 's':
			sim = true;
			break;
		case 'S':
			if (export_simulator_parse(optarg, &simulator))
				return cli_usage_error("export", "--simulator: expected icarus or verilator, got '%s'", optarg);
			sim = true;
			break;
		case 'p':
			prefix = optarg;
			break;
		case 'q':
			quiet = true;
			break;
		case 'j':
			json = true;
			break;
		case 'h':
			return usage_text();
		default:
			return cli_usage_error("export", "unknown or incomplete option '%s'", argv[optind - 1]);
		}
	}
	if (!out)
		return cli_usage_error("export", "-o DIR is required");
	if (argc - optind > 1)
		return cli_usage_error("export", "expected one MODEL, got %d arguments", argc - optind);

	struct mpqx_model *m;
	struct mpqx_dataset *d;
	if (cli_load(optind < argc ? argv[optind] : NULL, &m, &d))
		return CLI_FAIL;
	struct mpqx_err err = {0};
	struct mpqx_config cfg = {0};
	struct mpqx_fref *f = NULL;
	struct mpqx_qmodel *q = NULL;
	struct mpqx_export_info info;
	int rc = CLI_FAIL;
	if (config ? config_load(config, m, &cfg, &err) : config_init(&cfg, m, 8)) {
		if (!config)
			err_set(&err, MPQX_ENOMEM, "out of memory");
		goto fail;
	}
	cli_config_check(config, &cfg, m);
	struct mpqx_device dev;
	if (cli_device(config, device, &cfg, m, &dev, &err))
		goto fail;
	char tdir[4400];
	snprintf(tdir, sizeof tdir, "%s", cli_data_dir("hdl_templates"));
	struct mpqx_export_opts o = {.templates = tdir, .windows = windows, .config_path = config, .prefix = prefix,
				     .device = &dev};
	if (fref_run(m, d, false, &f, &err) || quant_build(m, f, &cfg, &q, &err) ||
	    export_write(out, q, &cfg, d, &o, &info, &err))
		goto fail;
	if (json && !sim)
		print_json(out, &info, NULL);
	if (!quiet)
		fprintf(stderr, "mpqx: exported %s to %s: %d files, top %s, %d test windows, %ld cycles per window\n",
			m->name, out, info.files, info.top, info.windows, info.cycles);
	rc = sim ? simulate(out, simulator, quiet, json, &info) : CLI_OK;
	goto out;
fail:
	cli_error("%s", err.msg);
out:
	quant_free(q);
	fref_free(f);
	config_fini(&cfg);
	dataset_free(d);
	model_free(m);
	return rc;
}
