/* mpqx: the command line. Subcommands share the core; the bare command opens the TUI. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "cli.h"
#include "mpqx/fileio.h"
#include "mpqx_config.h"

struct command {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *usage;
};

static const struct command commands[] = {
	{"eval", cmd_eval, "eval MODEL [-c CONFIG] [--float] [--json]   test-set error of the model"},
	{"compare", cmd_compare, "compare MODEL CONFIG CONFIG... [--json]    configurations side by side"},
	{"bench", cmd_bench, "bench MODEL [--json]                       speed of the integer engine"},
	{"estimate", cmd_estimate, "estimate MODEL [-c CONFIG] [-d DEVICE] [--json]   resources and latency"},
	{"export", cmd_export, "export MODEL [-c CONFIG] -o DIR [--windows N] [--sim]   Verilog and testbench"},
	{"search", cmd_search, "search MODEL [-d DEVICE] [-o CONFIG] [--json] [--sensitivity]   best fit, Pareto fronts"},
};

static void usage(FILE *out)
{
	fprintf(out, "usage: mpqx [MODEL] [-c CONFIG] [-d DEVICE] [--theme NAME] [--no-color] [--ascii] [--no-mouse]\n"
		     "                                   open the explorer (default: the bundled sample)\n");
	for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
		fprintf(out, "       mpqx %s\n", commands[i].usage);
	fprintf(out, "       mpqx --help | --version\n"
		     "\nMODEL is a model file (model.json) or a sample directory.\n"
		     "Exit status: 0 ok, 1 bad input or a failed run, 2 usage error.\n"
		     "See mpqx(1) for keys, files and environment.\n");
}

void cli_error(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("mpqx: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

void cli_config_check(const char *path, const struct mpqx_config *c, const struct mpqx_model *m)
{
	if (path && c->model[0] && strcmp(c->model, m->name) != 0)
		fprintf(stderr, "mpqx: warning: %s: saved for model '%s', not '%s': check that it is meant for this one\n",
			path, c->model, m->name);
}

int cli_device(const char *config, const char *device, struct mpqx_config *c, const struct mpqx_model *m,
	       struct mpqx_device *dev, struct mpqx_err *err)
{
	char ddir[4400];
	snprintf(ddir, sizeof ddir, "%s", cli_data_dir("devices"));
	if (device_load(ddir, device ? device : c->device, dev, err)) {
		if (config && !device) {
			struct mpqx_err e2 = *err;
			err_set(err, e2.code, "%s: device: %s", config, e2.msg);
		}
		return err->code ? err->code : MPQX_EINPUT;
	}
	if (device)
		snprintf(c->device, sizeof c->device, "%s", dev->name);
	char warn[2048];
	int rc = device_check_config(dev, m, c, config, warn, sizeof warn, err);
	if (rc)
		return rc;
	for (char *line = warn, *nl; *line; line = nl ? nl + 1 : line + strlen(line)) {
		nl = strchr(line, '\n');
		if (nl)
			*nl = '\0';
		fprintf(stderr, "mpqx: warning: %s\n", line);
	}
	return MPQX_OK;
}

int cli_name_width(const struct mpqx_model *m, int min)
{
	int w = min;
	for (int l = 0; l < m->n_layers; l++) {
		int n = (int)strlen(m->layers[l].name);
		w = n > w ? n : w;
	}
	return w;
}

int cli_usage_error(const char *cmd, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "mpqx%s%s: ", cmd ? " " : "", cmd ? cmd : "");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\nTry 'mpqx --help'.\n");
	va_end(ap);
	return CLI_USAGE;
}

static bool is_dir(const char *p)
{
	struct stat st;
	return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

const char *cli_data_dir(const char *what)
{
	static char buf[4200];
	const char *env = getenv("MPQX_DATA_DIR");
	if (env && *env) {
		snprintf(buf, sizeof buf, "%s/%s", env, what);
		return buf;
	}
	snprintf(buf, sizeof buf, "%s/%s", MPQX_SRCDIR, what);
	if (is_dir(buf))
		return buf;
	snprintf(buf, sizeof buf, "%s/%s", MPQX_DATADIR, what);
	return buf;
}

const char *cli_model_path(const char *arg)
{
	static char buf[4300];
	if (arg)
		return arg;
	snprintf(buf, sizeof buf, "%s/seattle-hourly", cli_data_dir("samples"));
	return buf;
}

int cli_load(const char *arg, struct mpqx_model **m, struct mpqx_dataset **d)
{
	struct mpqx_err err = {0};
	*m = NULL;
	if (d)
		*d = NULL;
	if (model_load(cli_model_path(arg), m, &err)) {
		cli_error("%s", err.msg);
		return CLI_FAIL;
	}
	if (d && dataset_load(*m, d, &err)) {
		cli_error("%s", err.msg);
		model_free(*m);
		*m = NULL;
		return CLI_FAIL;
	}
	return CLI_OK;
}

/* MPQX_TEST_SAVE_DELAY_MS: every atomic save pauses this long halfway through writing its temporary file,
 * so that a test can kill mpqx in the middle of a save and check that the old file is intact. */
static long save_delay_ms;

static void save_delay(const char *tmp_path, const char *path)
{
	(void)tmp_path;
	(void)path;
	struct timespec ts = {save_delay_ms / 1000, (save_delay_ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) != 0)
		;
}

int main(int argc, char **argv)
{
	const char *delay = getenv("MPQX_TEST_SAVE_DELAY_MS");
	if (delay && (save_delay_ms = strtol(delay, NULL, 10)) > 0)
		fileio_set_save_hook(save_delay);
	if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		usage(stdout);
		return CLI_OK;
	}
	if (argc >= 2 && strcmp(argv[1], "--version") == 0) {
		printf("mpqx %s\n", MPQX_VERSION);
		return CLI_OK;
	}
	if (argc >= 2) {
		for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
			if (strcmp(argv[1], commands[i].name) == 0)
				return commands[i].run(argc - 1, argv + 1);
		if (argv[1][0] != '-' && !strchr(argv[1], '/') && !strchr(argv[1], '.') && !is_dir(argv[1]))
			return cli_usage_error(NULL, "unknown subcommand '%s'", argv[1]);
	}
	return cmd_tui(argc, argv);
}
