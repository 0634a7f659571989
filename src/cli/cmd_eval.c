/* mpqx eval: test-set error of the float or the integer model. */
#include <cjson/cJSON.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"
#include "mpqx/forward.h"

static int eval_float(const struct mpqx_model *m, const struct mpqx_dataset *d, bool json)
{
	struct mpqx_forward f;
	if (forward_init(&f, m)) {
		cli_error("out of memory");
		return CLI_FAIL;
	}
	int n = d->windows[MPQX_TEST];
	double se = 0, ae = 0, pse = 0;
	for (int i = 0; i < n; i++) {
		const float *y = forward_run(&f, dataset_window(d, MPQX_TEST, i));
		double t = dataset_target(d, MPQX_TEST, i);
		double e = y[0] - t, p = dataset_persistence(d, MPQX_TEST, i) - t;
		se += e * e;
		ae += fabs(e);
		pse += p * p;
	}
	forward_fini(&f);
	double mse = se / n, rmse = sqrt(mse), mae = ae / n, unit = model_target_unit(m);
	if (json) {
		cJSON *o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "model", m->name);
		cJSON_AddStringToObject(o, "mode", "float");
		cJSON_AddNumberToObject(o, "windows", n);
		cJSON_AddNumberToObject(o, "mse", mse);
		cJSON_AddNumberToObject(o, "rmse", rmse);
		cJSON_AddNumberToObject(o, "mae", mae);
		cJSON_AddNumberToObject(o, "mse_float", mse);
		cJSON_AddNumberToObject(o, "rmse_denorm", rmse * unit);
		cJSON_AddNumberToObject(o, "mae_denorm", mae * unit);
		cJSON_AddNumberToObject(o, "mse_persistence", pse / n);
		char *s = cJSON_Print(o);
		puts(s);
		free(s);
		cJSON_Delete(o);
	} else {
		printf("model        %s (float)\n", m->name);
		printf("test windows %d\n", n);
		printf("MSE          %.6g (normalised)\n", mse);
		printf("RMSE         %.6g (normalised), %.4g in %s's unit\n", rmse, rmse * unit, m->data.target);
		printf("MAE          %.6g (normalised), %.4g in %s's unit\n", mae, mae * unit, m->data.target);
		printf("persistence  MSE %.6g (last observed value)\n", pse / n);
	}
	return CLI_OK;
}

int cmd_eval(int argc, char **argv)
{
	static const struct option opts[] = {
		{"config", required_argument, NULL, 'c'},
		{"float", no_argument, NULL, 'f'},
		{"json", no_argument, NULL, 'j'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *config = NULL;
	bool flt = false, json = false;
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
		case 'h':
			printf("usage: mpqx eval MODEL [-c CONFIG] [--float] [--json]\n");
			return CLI_OK;
		default:
			return cli_usage_error("eval", "unknown or incomplete option '%s'", argv[optind - 1]);
		}
	}
	if (argc - optind > 1)
		return cli_usage_error("eval", "expected one MODEL, got %d arguments", argc - optind);
	if (config && flt)
		return cli_usage_error("eval", "--float evaluates the float model; it takes no -c CONFIG");
	struct mpqx_model *m;
	struct mpqx_dataset *d;
	if (cli_load(optind < argc ? argv[optind] : NULL, &m, &d))
		return CLI_FAIL;
	int rc = eval_float(m, d, json);
	dataset_free(d);
	model_free(m);
	return rc;
}
