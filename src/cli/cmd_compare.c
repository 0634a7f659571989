/* mpqx compare: configurations side by side, per layer and in total, with the differences marked. */
#include <cjson/cJSON.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "mpqx/session.h"

#define MAX_CONFIGS 8

struct column {
	const char *path;
	struct mpqx_config cfg;
	struct mpqx_estimate est;
	struct mpqx_eval_result res;
	struct mpqx_layer_stats *stats;
	struct mpqx_device dev;
};

static const char *basename_of(const char *p)
{
	const char *s = strrchr(p, '/');
	return s ? s + 1 : p;
}

/* "w8 a6 B/L": the layer's settings in a few characters; the resolved storage in upper case when auto
 * decided it. */
static void settings(const struct mpqx_model *m, const struct column *c, int l, char *out, size_t size)
{
	const struct mpqx_layer_cfg *lc = &c->cfg.layers[l];
	char w[8] = "  ";
	if (model_layer_has_weights(&m->layers[l]))
		snprintf(w, sizeof w, "%2d", lc->w_bits);
	char b = c->est.buffer[l] == MPQX_STORE_BLOCK ? 'b' : 'l';
	if (lc->buffer == MPQX_STORE_AUTO)
		b = (char)(b - 'a' + 'A');
	snprintf(out, size, "%s/%-2d %c", w, lc->a_bits, b);
}

static bool same_layer(const struct column *a, const struct column *b, int l)
{
	const struct mpqx_layer_cfg *x = &a->cfg.layers[l], *y = &b->cfg.layers[l];
	return x->w_bits == y->w_bits && x->a_bits == y->a_bits && a->est.buffer[l] == b->est.buffer[l] &&
	       a->est.rom[l] == b->est.rom[l];
}

static cJSON *column_json(const struct mpqx_model *m, const struct column *c)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "config", c->path);
	cJSON_AddStringToObject(o, "device", c->dev.name);
	cJSON_AddBoolToObject(o, "fits", c->est.fits);
	cJSON_AddStringToObject(o, "limiting", estimate_resource_name(c->est.limiting));
	cJSON_AddNumberToObject(o, "mse", c->res.mse);
	cJSON_AddNumberToObject(o, "mse_float", c->res.mse_float);
	cJSON_AddNumberToObject(o, "rmse_denorm", c->res.rmse_denorm);
	cJSON *t = cJSON_AddObjectToObject(o, "total");
	cJSON_AddNumberToObject(t, "lut", (double)c->est.total.lut);
	cJSON_AddNumberToObject(t, "lutram", (double)c->est.total.lutram);
	cJSON_AddNumberToObject(t, "ff", (double)c->est.total.ff);
	cJSON_AddNumberToObject(t, "bram18", (double)c->est.total.bram18);
	cJSON_AddNumberToObject(t, "bram_tiles", c->est.bram_tiles);
	cJSON_AddNumberToObject(t, "dsp", (double)c->est.total.dsp);
	cJSON_AddNumberToObject(t, "cycles", (double)c->est.total.cycles);
	cJSON_AddNumberToObject(t, "latency_us", c->est.latency_us);
	cJSON *arr = cJSON_AddArrayToObject(o, "layers");
	for (int l = 0; l < m->n_layers; l++) {
		cJSON *e = cJSON_CreateObject();
		const struct mpqx_cost *k = &c->est.layers[l];
		cJSON_AddStringToObject(e, "name", m->layers[l].name);
		cJSON_AddNumberToObject(e, "w_bits", c->cfg.layers[l].w_bits);
		cJSON_AddNumberToObject(e, "a_bits", c->cfg.layers[l].a_bits);
		cJSON_AddStringToObject(e, "buffer", config_storage_name(c->est.buffer[l], false));
		cJSON_AddStringToObject(e, "rom", config_storage_name(c->est.rom[l], true));
		cJSON_AddNumberToObject(e, "lut", (double)k->lut);
		cJSON_AddNumberToObject(e, "lutram", (double)k->lutram);
		cJSON_AddNumberToObject(e, "ff", (double)k->ff);
		cJSON_AddNumberToObject(e, "bram18", (double)k->bram18);
		cJSON_AddNumberToObject(e, "dsp", (double)k->dsp);
		cJSON_AddNumberToObject(e, "cycles", (double)k->cycles);
		cJSON_AddNumberToObject(e, "sqnr_db", c->stats[l].sqnr_db);
		cJSON_AddNumberToObject(e, "clipped", (double)c->stats[l].clipped);
		cJSON_AddItemToArray(arr, e);
	}
	return o;
}

static void print_table(const struct mpqx_model *m, struct column *cols, int n)
{
	printf("%s: %d configurations; '*' marks a layer that differs from the first column;\n"
	       "cells are w_bits/a_bits and the buffer (b block RAM, l LUT RAM; capital: chosen by auto)\n\n",
	       m->name, n);
	int nw = cli_name_width(m, 14);
	printf("%-*s", nw, "layer");
	for (int i = 0; i < n; i++)
		printf(" %12.12s", basename_of(cols[i].path));
	printf("\n");
	for (int l = 0; l < m->n_layers; l++) {
		printf("%-*s", nw, m->layers[l].name);
		for (int i = 0; i < n; i++) {
			char s[32];
			settings(m, &cols[i], l, s, sizeof s);
			printf(" %11s%c", s, i > 0 && !same_layer(&cols[0], &cols[i], l) ? '*' : ' ');
		}
		printf("\n");
	}
	printf("\n");
	struct {
		const char *name;
		int kind;
	} rows[] = {{"LUT", 0}, {"LUTRAM", 1}, {"FF", 2}, {"BRAM tiles", 3}, {"DSP", 4}, {"latency us", 5},
		    {"fits", 6},  {"MSE", 7},    {"vs float %", 8}, {"RMSE unit", 9}};
	for (size_t r = 0; r < sizeof rows / sizeof rows[0]; r++) {
		printf("%-*s", nw, rows[r].name);
		for (int i = 0; i < n; i++) {
			const struct column *c = &cols[i];
			char s[32];
			switch (rows[r].kind) {
			case 0: snprintf(s, sizeof s, "%ld", c->est.total.lut); break;
			case 1: snprintf(s, sizeof s, "%ld", c->est.total.lutram); break;
			case 2: snprintf(s, sizeof s, "%ld", c->est.total.ff); break;
			case 3: snprintf(s, sizeof s, "%.1f", c->est.bram_tiles); break;
			case 4: snprintf(s, sizeof s, "%ld", c->est.total.dsp); break;
			case 5: snprintf(s, sizeof s, "%.1f", c->est.latency_us); break;
			case 6:
				snprintf(s, sizeof s, "%s", c->est.fits ? "yes" : "NO");
				if (!c->est.fits)
					snprintf(s, sizeof s, "NO:%s", estimate_resource_name(c->est.limiting));
				break;
			case 7: snprintf(s, sizeof s, "%.5g", c->res.mse); break;
			case 8: snprintf(s, sizeof s, "%+.1f", 100.0 * (c->res.mse - c->res.mse_float) / c->res.mse_float); break;
			default: snprintf(s, sizeof s, "%.4g", c->res.rmse_denorm); break;
			}
			printf(" %12s", s);
		}
		printf("\n");
	}
}

int cmd_compare(int argc, char **argv)
{
	static const struct option opts[] = {
		{"json", no_argument, NULL, 'j'},
		{"device", required_argument, NULL, 'd'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	bool json = false;
	const char *device = NULL;
	int c;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "d:h", opts, NULL)) != -1) {
		switch (c) {
		case 'j':
			json = true;
			break;
		case 'd':
			device = optarg;
			break;
		case 'h':
			printf("usage: mpqx compare MODEL CONFIG CONFIG... [-d DEVICE] [--json]\n"
			       "  Each CONFIG's bits and storage, resources, fit and test-set error side by side;\n"
			       "  the word 'uniform8' (or uniformN) stands for every layer at N bits.\n");
			return CLI_OK;
		default:
			return cli_usage_error("compare", "unknown or incomplete option '%s'", argv[optind - 1]);
		}
	}
	int n = argc - optind - 1;
	if (n < 2)
		return cli_usage_error("compare", "expected MODEL and at least two CONFIGs");
	if (n > MAX_CONFIGS)
		return cli_usage_error("compare", "at most %d CONFIGs", MAX_CONFIGS);
	struct mpqx_err err = {0};
	struct mpqx_session_opts so = {0};
	so.devices_dir = cli_data_dir("devices");
	char devdir[4300];
	snprintf(devdir, sizeof devdir, "%s", so.devices_dir);
	so.devices_dir = devdir;
	so.device = device;
	struct mpqx_session *s = NULL;
	if (session_open(argv[optind], &so, &s, &err)) {
		cli_error("%s", err.msg);
		return CLI_FAIL;
	}
	struct column *cols = calloc((size_t)n, sizeof *cols);
	int rc = cols ? CLI_OK : CLI_FAIL;
	for (int i = 0; i < n && !rc; i++) {
		struct column *col = &cols[i];
		const char *p = argv[optind + 1 + i];
		int bits = 0;
		col->path = p;
		if (sscanf(p, "uniform%d", &bits) == 1 && bits >= MPQX_BITS_MIN && bits <= MPQX_BITS_MAX)
			rc = config_init(&col->cfg, s->model, bits);
		else
			rc = config_load(p, s->model, &col->cfg, &err);
		if (!rc && col->cfg.model[0])
			cli_config_check(p, &col->cfg, s->model);
		if (!rc && device)
			snprintf(col->cfg.device, sizeof col->cfg.device, "%s", device);
		if (!rc)
			rc = session_apply(s, &col->cfg, &err);
		if (!rc)
			rc = estimate_init(&col->est, s->model->n_layers);
		if (rc) {
			cli_error("%s", err.msg[0] ? err.msg : "out of memory");
			rc = CLI_FAIL;
			break;
		}
		/* keep this column's figures: the session moves on to the next config */
		memcpy(col->est.layers, s->est.layers, sizeof *col->est.layers * (size_t)s->model->n_layers);
		memcpy(col->est.buffer, s->est.buffer, sizeof *col->est.buffer * (size_t)s->model->n_layers);
		memcpy(col->est.rom, s->est.rom, sizeof *col->est.rom * (size_t)s->model->n_layers);
		col->est.total = s->est.total;
		col->est.bram_tiles = s->est.bram_tiles;
		col->est.latency_us = s->est.latency_us;
		col->est.fits = s->est.fits;
		col->est.limiting = s->est.limiting;
		memcpy(col->est.util, s->est.util, sizeof col->est.util);
		col->dev = s->dev;
		col->res = s->res;
		col->stats = malloc(sizeof *col->stats * (size_t)s->model->n_layers);
		if (!col->stats) {
			rc = CLI_FAIL;
			break;
		}
		memcpy(col->stats, s->res.layers, sizeof *col->stats * (size_t)s->model->n_layers);
	}
	if (!rc) {
		if (json) {
			cJSON *o = cJSON_CreateObject();
			cJSON_AddStringToObject(o, "model", s->model->name);
			cJSON *arr = cJSON_AddArrayToObject(o, "configs");
			for (int i = 0; i < n; i++)
				cJSON_AddItemToArray(arr, column_json(s->model, &cols[i]));
			char *txt = cJSON_Print(o);
			puts(txt);
			free(txt);
			cJSON_Delete(o);
		} else {
			print_table(s->model, cols, n);
		}
	}
	for (int i = 0; cols && i < n; i++) {
		config_fini(&cols[i].cfg);
		estimate_fini(&cols[i].est);
		free(cols[i].stats);
	}
	free(cols);
	session_free(s);
	return rc;
}
