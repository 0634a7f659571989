/* mpqx estimate: resources and latency of the exported RTL, per layer, against a device. */
#include <cjson/cJSON.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "mpqx/config.h"
#include "mpqx/device.h"
#include "mpqx/estimate.h"
#include "mpqx/hw.h"
#include "mpqx/fileio.h"
#include "mpqx/fref.h"
#include "mpqx/quant.h"
#include "mpqx/report.h"

static int usage_text(void)
{
	printf("usage: mpqx estimate MODEL [-c CONFIG] [-d DEVICE] [--json]\n"
	       "  -c CONFIG     per-layer bits and storage (default: uniform 8 bits, storage auto)\n"
	       "  -d DEVICE     device name (devices/NAME.ini) or an .ini path (default: the config's device)\n"
	       "  --costs INI   estimator coefficients (default: devices/FAMILY-cost.ini)\n"
	       "  --json        one JSON object on stdout\n"
	       "  --features    with --json: each layer's blocks and model features (for tools/fit_costs.py)\n"
	       "Resources: logic LUTs, LUTs as memory, flip-flops, RAMB18 (a Block RAM tile is two), DSP48E1;\n"
	       "on iCE40: logic cells (LC), SPRAM, flip-flops, EBR (SB_RAM40_4K), DSP (SB_MAC16).\n"
	       "The LUT utilisation counts logic and memory LUTs against all LUTs of the device.\n");
	return CLI_OK;
}

static long res_of(const struct mpqx_cost *c, enum mpqx_resource r)
{
	switch (r) {
	case MPQX_RES_LUT:
		return c->lut;
	case MPQX_RES_LUTRAM:
		return c->lutram;
	case MPQX_RES_FF:
		return c->ff;
	case MPQX_RES_BRAM:
		return c->bram18;
	case MPQX_RES_DSP:
		return c->dsp;
	default:
		return 0;
	}
}

static long cap_of(const struct mpqx_device *d, enum mpqx_resource r)
{
	switch (r) {
	case MPQX_RES_LUT:
		return d->lut;
	case MPQX_RES_LUTRAM:
		return d->lutram;
	case MPQX_RES_FF:
		return d->ff;
	case MPQX_RES_BRAM:
		return d->bram18;
	case MPQX_RES_DSP:
		return d->dsp;
	default:
		return 0;
	}
}

static void print_json(const struct mpqx_model *m, const struct mpqx_config *c, const struct mpqx_qmodel *q,
		       const struct mpqx_device *dev, const struct mpqx_coeffs *k, const struct mpqx_estimate *e,
		       bool features)
{
	cJSON *o = report_estimate(m, c, q, dev, k, e, features);
	char *s = cJSON_Print(o);
	puts(s);
	free(s);
	cJSON_Delete(o);
}

/* "1234" or "12.3k" in at most 6 characters. */
static const char *num(char *buf, size_t size, long v)
{
	if (v < 100000)
		snprintf(buf, size, "%ld", v);
	else
		snprintf(buf, size, "%.1fk", (double)v / 1000);
	return buf;
}

static const char *storage_cell(char *buf, size_t size, const struct mpqx_device *dev, enum mpqx_storage resolved,
				enum mpqx_storage configured, bool rom)
{
	const char *n = device_storage_label(dev, resolved, rom);
	snprintf(buf, size, "%s%s", n, configured == MPQX_STORE_AUTO ? "*" : "");
	return buf;
}

static void print_text(const struct mpqx_model *m, const struct mpqx_config *c, const struct mpqx_qmodel *q,
		       const char *config, const struct mpqx_device *dev, const struct mpqx_estimate *e)
{
	char b1[32], b2[32], n[6][24];
	printf("%s on %s (%s, %g MHz), %s\n\n", m->name, dev->name, dev->family, dev->clock_mhz,
	       config ? config : "uniform 8 bits, storage auto");
	int nw = cli_name_width(m, 16);
	bool ice = dev->fam == MPQX_FAMILY_ICE40;
	printf("%-*s %-9s %5s %-7s %-7s %-6s %6s %6s %6s %6s %4s %9s\n", nw, "layer", "op", "bits", "buffer", "rom",
	       "mult", ice ? "LC" : "LUT", ice ? "SPRAM" : "LUTRAM", "FF", ice ? "EBR" : "BRAM18", "DSP", "cycles");
	for (int l = 0; l < m->n_layers; l++) {
		const struct mpqx_layer *ly = &m->layers[l];
		const struct mpqx_cost *cc = &e->layers[l];
		char bits[16];
		if (model_layer_has_weights(ly))
			snprintf(bits, sizeof bits, "%d/%d", q->l[l].w.bits, q->l[l].out.bits);
		else
			snprintf(bits, sizeof bits, "%d", q->l[l].out.bits);
		bool has_rom = model_layer_has_rom(ly);
		char b3[32] = "-";
		if (hw_mult_kind(ly->op) != MPQX_HW_MULT_NONE)
			snprintf(b3, sizeof b3, "%s%s", config_mult_name(e->mult[l]),
				 c->layers[l].mult == MPQX_MULT_AUTO ? "*" : "");
		printf("%-*s %-9s %5s %-7s %-7s %-6s %6s %6s %6s %6s %4s %9ld\n", nw, ly->name, model_op_name(ly->op), bits,
		       !model_layer_has_buffer(ly) ? "-"
					       : storage_cell(b1, sizeof b1, dev, e->buffer[l], c->layers[l].buffer, false),
		       has_rom ? storage_cell(b2, sizeof b2, dev, e->rom[l], c->layers[l].rom, true) : "-", b3,
		       num(n[0], sizeof n[0], cc->lut), num(n[1], sizeof n[1], cc->lutram), num(n[2], sizeof n[2], cc->ff),
		       num(n[3], sizeof n[3], cc->bram18), num(n[4], sizeof n[4], cc->dsp), cc->cycles);
	}
	const struct mpqx_cost *t = &e->top;
	printf("%-*s %-9s %5s %-7s %-7s %-6s %6s %6s %6s %6s %4s %9s\n", nw, "(top)", "", "", "", "", "", num(n[0], sizeof n[0], t->lut),
	       num(n[1], sizeof n[1], t->lutram), num(n[2], sizeof n[2], t->ff), num(n[3], sizeof n[3], t->bram18), num(n[4], sizeof n[4], t->dsp), "");
	t = &e->total;
	printf("%-*s %-9s %5s %-7s %-7s %-6s %6s %6s %6s %6s %4s %9ld\n", nw, "total", "", "", "", "", "", num(n[0], sizeof n[0], t->lut),
	       num(n[1], sizeof n[1], t->lutram), num(n[2], sizeof n[2], t->ff), num(n[3], sizeof n[3], t->bram18), num(n[4], sizeof n[4], t->dsp),
	       t->cycles);

	printf("\n%-12s %12s %12s %8s\n", "resource", "used", "available", "use");
	for (int r = 0; r < MPQX_RES_COUNT; r++) {
		char used[32], avail[32], pct[16];
		enum mpqx_resource rr = (enum mpqx_resource)r;
		if (rr == MPQX_RES_LUT && !ice)
			snprintf(used, sizeof used, "%ld", e->total.lut + e->total.lutram);
		else if (rr == MPQX_RES_BRAM && !ice)
			snprintf(used, sizeof used, "%.1f", e->bram_tiles);
		else
			snprintf(used, sizeof used, "%ld", res_of(&e->total, rr));
		if (rr == MPQX_RES_BRAM && !ice)
			snprintf(avail, sizeof avail, "%.1f", dev->bram18 / 2.0);
		else if (rr == MPQX_RES_LUTRAM && ice)
			snprintf(avail, sizeof avail, "%ld", dev->spram);
		else
			snprintf(avail, sizeof avail, "%ld", cap_of(dev, rr));
		if (isfinite(e->util[r]))
			snprintf(pct, sizeof pct, "%.1f%%", 100 * e->util[r]);
		else
			snprintf(pct, sizeof pct, "inf");
		static const char *const label[MPQX_RES_COUNT] = {"LUT (all)", "LUT as mem", "FF", "BRAM tiles", "DSP"};
		static const char *const label_ice[MPQX_RES_COUNT] = {"LC", "SPRAM", "FF", "EBR", "DSP"};
		printf("%-12s %12s %12s %8s%s\n", ice ? label_ice[r] : label[r], used, avail, pct,
		       e->util[r] > 1 ? "  OVER" : (rr == e->limiting ? "  <- limiting" : ""));
	}
	printf("\n%s: limiting resource %s at %.1f%%; latency %.2f us per window (%ld cycles at %g MHz)\n",
	       e->fits ? "FITS" : "DOES NOT FIT", device_resource_label(dev, (int)e->limiting), 100 * e->util[e->limiting],
	       e->latency_us, e->total.cycles, dev->clock_mhz);
	if (e->fmax_mhz > 0) {
		printf("expected maximum clock %.1f MHz (longest path: %s, %s)%s\n", e->fmax_mhz,
		       e->fmax_layer >= 0 ? m->layers[e->fmax_layer].name : "(top)", e->fmax_kind ? e->fmax_kind : "?",
		       dev->fam == MPQX_FAMILY_ICE40 ? "; fitted on nextpnr-ice40 post-route reports"
						     : "; a model from logic levels, not yet checked against a timing report");
		if (dev->clock_mhz > e->fmax_mhz)
			fprintf(stderr, "mpqx: warning: the device clock %g MHz is above the expected maximum clock %.1f MHz "
					"of %s: the latency above assumes a clock the design may not meet\n",
				dev->clock_mhz, e->fmax_mhz, dev->name);
	}
	printf("* = resolved from auto; %s.\n", report_auto_rule_for(dev));
}

int cmd_estimate(int argc, char **argv)
{
	static const struct option opts[] = {
		{"config", required_argument, NULL, 'c'},
		{"device", required_argument, NULL, 'd'},
		{"costs", required_argument, NULL, 'k'},
		{"json", no_argument, NULL, 'j'},
		{"features", no_argument, NULL, 'f'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *config = NULL, *device = NULL, *costs = NULL;
	bool json = false, features = false;
	int ch;
	optind = 1;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, "c:d:h", opts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			config = optarg;
			break;
		case 'd':
			device = optarg;
			break;
		case 'k':
			costs = optarg;
			break;
		case 'j':
			json = true;
			break;
		case 'f':
			features = true;
			break;
		case 'h':
			return usage_text();
		default:
			return cli_usage_error("estimate", "unknown or incomplete option '%s'", argv[optind - 1]);
		}
	}
	if (argc - optind > 1)
		return cli_usage_error("estimate", "expected one MODEL, got %d arguments", argc - optind);
	if (features && !json)
		return cli_usage_error("estimate", "--features needs --json");

	struct mpqx_model *m;
	struct mpqx_dataset *d;
	if (cli_load(optind < argc ? argv[optind] : NULL, &m, &d))
		return CLI_FAIL;
	struct mpqx_err err = {0};
	struct mpqx_config cfg = {0};
	struct mpqx_fref *f = NULL;
	struct mpqx_qmodel *q = NULL;
	struct mpqx_coeffs *k = NULL;
	struct mpqx_estimate est;
	struct mpqx_device dev;
	int rc = CLI_FAIL;
	if (estimate_init(&est, m->n_layers)) {
		err_set(&err, MPQX_ENOMEM, "out of memory");
		goto fail;
	}
	if (config ? config_load(config, m, &cfg, &err) : config_init(&cfg, m, 8)) {
		if (!config)
			err_set(&err, MPQX_ENOMEM, "out of memory");
		goto fail;
	}
	char ddir[4400];
	snprintf(ddir, sizeof ddir, "%s", cli_data_dir("devices"));
	cli_config_check(config, &cfg, m);
	if (cli_device(config, device, &cfg, m, &dev, &err))
		goto fail;
	char kpath[4500];
	if (costs)
		snprintf(kpath, sizeof kpath, "%s", costs);
	else
		snprintf(kpath, sizeof kpath, "%s/%s-cost.ini", ddir, dev.family);
	if (estimate_coeffs_load(kpath, &k, &err))
		goto fail;
	if (fref_run(m, d, false, &f, &err) || quant_build(m, f, &cfg, &q, &err) ||
	    estimate_run(q, &cfg, &dev, k, &est, &err))
		goto fail;
	if (json)
		print_json(m, &cfg, q, &dev, k, &est, features);
	else
		print_text(m, &cfg, q, config, &dev, &est);
	rc = CLI_OK;
	goto out;
fail:
	cli_error("%s", err.msg);
out:
	estimate_coeffs_free(k);
	estimate_fini(&est);
	quant_free(q);
	fref_free(f);
	config_fini(&cfg);
	dataset_free(d);
	model_free(m);
	return rc;
}
