/* The subcommands' JSON results, built once for the command line and the Python module. */
#include "mpqx/report.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mpqx/hw.h"
#include "mpqx/op.h"

const char report_auto_rule[] =
	"auto storage: a buffer or a layer's ROMs go to block RAM from 9216 bits (half a RAMB18, "
	"depth x width) on, else to LUTs; auto mult: a layer's multipliers go to logic when its data "
	"product is narrower than 9 bits (operand bits added), else to DSP slices";

static const char auto_rule_ice40[] =
	"auto storage (iCE40): a buffer goes to EBR from 256 bits (depth x width), to SPRAM when it would take "
	"more than 8 EBRs and the device has SPRAM, else to flip-flops; a layer's ROMs go to EBR from 1024 bits, "
	"else to logic; auto mult: logic on a device without DSP, else logic when the data product is narrower "
	"than 9 bits, else SB_MAC16";

const char *report_auto_rule_for(const struct mpqx_device *dev)
{
	return dev && dev->fam == MPQX_FAMILY_ICE40 ? auto_rule_ice40 : report_auto_rule;
}

struct cJSON *report_eval(const struct mpqx_model *m, const struct mpqx_config *c, const struct mpqx_qmodel *q,
			  const struct mpqx_fref *f, const struct mpqx_eval_result *r)
{
	/* The forecast is an integer of the output layer's scale: rounding to that step alone adds step^2 / 12
	 * to the MSE on average (doc/quantization.md, "What a bit width can reach"). */
	double step = q->l[m->output].out.s;
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "model", m->name);
	cJSON_AddStringToObject(o, "mode", "integer");
	cJSON_AddNumberToObject(o, "windows", r->windows);
	cJSON_AddNumberToObject(o, "mse", r->mse);
	cJSON_AddNumberToObject(o, "rmse", r->rmse);
	cJSON_AddNumberToObject(o, "mae", r->mae);
	cJSON_AddNumberToObject(o, "mse_float", r->mse_float);
	cJSON_AddNumberToObject(o, "rmse_denorm", r->rmse_denorm);
	cJSON_AddNumberToObject(o, "mae_denorm", r->mae_denorm);
	cJSON_AddNumberToObject(o, "mse_persistence", f->mse_persistence);
	cJSON_AddNumberToObject(o, "output_step", step);
	cJSON_AddNumberToObject(o, "output_rounding_mse", step * step / 12.0);
	cJSON *arr = cJSON_AddArrayToObject(o, "layers");
	for (int l = 0; l < m->n_layers; l++) {
		cJSON *e = cJSON_CreateObject();
		cJSON_AddStringToObject(e, "name", m->layers[l].name);
		cJSON_AddStringToObject(e, "op", model_op_name(m->layers[l].op));
		cJSON_AddNumberToObject(e, "w_bits", c->layers[l].w_bits);
		cJSON_AddNumberToObject(e, "a_bits", c->layers[l].a_bits);
		cJSON_AddNumberToObject(e, "sqnr_db", r->layers[l].sqnr_db);
		cJSON_AddNumberToObject(e, "clipped", (double)r->layers[l].clipped);
		cJSON_AddNumberToObject(e, "acc_bits", q->l[l].acc_bits);
		cJSON_AddItemToArray(arr, e);
	}
	return o;
}

/* A double that reads back exactly (17 significant digits), as a raw JSON number. */
static cJSON *exact(double v)
{
	char num[64];
	if (!isfinite(v))
		return cJSON_CreateNull();
	snprintf(num, sizeof num, "%.17g", v);
	return cJSON_CreateRaw(num);
}

static cJSON *qparam_json(struct mpqx_qparam p)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddItemToObject(o, "s", exact(p.s));
	cJSON_AddNumberToObject(o, "z", p.z);
	cJSON_AddNumberToObject(o, "bits", p.bits);
	if (p.fc) /* a softmax's float code: its exponent bits (doc/quantization.md) */
		cJSON_AddNumberToObject(o, "fc", p.fc);
	return o;
}

struct cJSON *report_qparams(const struct mpqx_model *m, const struct mpqx_config *c, const struct mpqx_qmodel *q,
			     const struct mpqx_fref *f)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "model", m->name);
	if (m->finetuned[0])
		cJSON_AddStringToObject(o, "finetuned", m->finetuned);
	else
		cJSON_AddNullToObject(o, "finetuned");
	cJSON *arr = cJSON_AddArrayToObject(o, "layers");
	for (int l = 0; l < m->n_layers; l++) {
		const struct mpqx_layer *ly = &m->layers[l];
		const struct mpqx_op_class *oc = op_class(ly->op);
		/* The range the output is quantized over: after the calibration method and the headroom, the
		 * softmax's [0, largest probability], or the op's own or the model's fixed range. */
		double lo = q->l[l].lo, hi = q->l[l].hi;
		cJSON *e = cJSON_CreateObject();
		cJSON_AddStringToObject(e, "name", ly->name);
		cJSON_AddStringToObject(e, "op", model_op_name(ly->op));
		cJSON_AddNumberToObject(e, "a_bits", c->layers[l].a_bits);
		cJSON *r = cJSON_AddArrayToObject(e, "range");
		cJSON_AddItemToArray(r, exact(lo));
		cJSON_AddItemToArray(r, exact(hi));
		cJSON_AddStringToObject(e, "range_source", oc->out_range ? "op" : ly->fixed_range ? "fixed" : "calibration");
		cJSON_AddItemToObject(e, "out", qparam_json(q->l[l].out));
		if (model_layer_has_weights(ly)) {
			cJSON_AddNumberToObject(e, "w_bits", c->layers[l].w_bits);
			cJSON_AddItemToObject(e, "weight", qparam_json(q->l[l].w));
			/* per channel the per-row scales replace "weight"'s (which stays the tensor's) */
			cJSON_AddStringToObject(e, "w_granularity", q->l[l].wcs ? "channel" : "tensor");
		}
		cJSON_AddItemToArray(arr, e);
	}
	return o;
}

struct cJSON *report_eval_float(const struct mpqx_model *m, int windows, double mse, double mae,
				double mse_persistence, double ref_max_abs)
{
	double rmse = sqrt(mse), unit = model_target_unit(m);
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "model", m->name);
	cJSON_AddStringToObject(o, "mode", "float");
	cJSON_AddNumberToObject(o, "windows", windows);
	cJSON_AddNumberToObject(o, "mse", mse);
	cJSON_AddNumberToObject(o, "rmse", rmse);
	cJSON_AddNumberToObject(o, "mae", mae);
	cJSON_AddNumberToObject(o, "mse_float", mse);
	cJSON_AddNumberToObject(o, "rmse_denorm", rmse * unit);
	cJSON_AddNumberToObject(o, "mae_denorm", mae * unit);
	cJSON_AddNumberToObject(o, "mse_persistence", mse_persistence);
	if (!isnan(ref_max_abs))
		cJSON_AddNumberToObject(o, "reference_max_abs", ref_max_abs);
	else
		cJSON_AddNullToObject(o, "reference_max_abs");
	return o;
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

/* iCE40's names of the same counts (doc/estimator.md, "iCE40"): lc, ebr, spram next to lut, bram18, lutram. */
static void ice40_json(cJSON *o, const struct mpqx_cost *c)
{
	cJSON_AddNumberToObject(o, "lc", (double)c->lut);
	cJSON_AddNumberToObject(o, "ebr", (double)c->bram18);
	cJSON_AddNumberToObject(o, "spram", (double)c->lutram);
}

static cJSON *cost_json(const struct mpqx_cost *c)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddNumberToObject(o, "lut", (double)c->lut);
	cJSON_AddNumberToObject(o, "lutram", (double)c->lutram);
	cJSON_AddNumberToObject(o, "ff", (double)c->ff);
	cJSON_AddNumberToObject(o, "bram18", (double)c->bram18);
	cJSON_AddNumberToObject(o, "dsp", (double)c->dsp);
	cJSON_AddNumberToObject(o, "cycles", (double)c->cycles);
	return o;
}

/* The LUTs and FFs with the hierarchy kept (doc/estimator.md, "Flattened and hierarchical figures"). */
static void hier_json(cJSON *o, const struct mpqx_cost *h)
{
	cJSON *x = cJSON_AddObjectToObject(o, "hier");
	cJSON_AddNumberToObject(x, "lut", (double)h->lut);
	cJSON_AddNumberToObject(x, "ff", (double)h->ff);
}

static cJSON *blocks_json(const struct mpqx_est_block *b, int n)
{
	cJSON *a = cJSON_CreateArray();
	for (int i = 0; i < n; i++) {
		cJSON *e = cJSON_CreateObject();
		cJSON_AddStringToObject(e, "kind", b[i].kind);
		cJSON *f = cJSON_AddObjectToObject(e, "features");
		for (int k = 0; k < b[i].n_features; k++)
			cJSON_AddNumberToObject(f, b[i].names[k], b[i].f[k]);
		cJSON_AddNumberToObject(e, "lut", (double)b[i].cost.lut);
		cJSON_AddNumberToObject(e, "ff", (double)b[i].cost.ff);
		cJSON_AddNumberToObject(e, "rule_lut", (double)b[i].rule.lut);
		cJSON_AddNumberToObject(e, "rule_ff", (double)b[i].rule.ff);
		cJSON_AddItemToArray(a, e);
	}
	return a;
}

struct cJSON *report_estimate(const struct mpqx_model *m, const struct mpqx_config *c, const struct mpqx_qmodel *q,
			      const struct mpqx_device *dev, const struct mpqx_coeffs *k,
			      const struct mpqx_estimate *e, bool features)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "model", m->name);
	cJSON_AddStringToObject(o, "device", dev->name);
	cJSON_AddStringToObject(o, "family", dev->family);
	cJSON_AddNumberToObject(o, "clock_mhz", dev->clock_mhz);
	cJSON_AddBoolToObject(o, "fits", e->fits);
	cJSON_AddStringToObject(o, "limiting", estimate_resource_name(e->limiting));
	bool ice = dev->fam == MPQX_FAMILY_ICE40;
	cJSON *t = cost_json(&e->total);
	if (ice)
		ice40_json(t, &e->total);
	cJSON_AddNumberToObject(t, "bram_tiles", e->bram_tiles);
	cJSON_AddNumberToObject(t, "latency_us", e->latency_us);
	hier_json(t, &e->total_hier);
	cJSON_AddItemToObject(o, "total", t);
	/* the clock estimate (doc/estimator.md, "Clock"); null without a [clock] model */
	if (e->fmax_mhz > 0) {
		cJSON_AddNumberToObject(o, "fmax_mhz", e->fmax_mhz);
		cJSON_AddStringToObject(o, "fmax_path", e->fmax_layer >= 0 ? m->layers[e->fmax_layer].name : "(top)");
		cJSON_AddStringToObject(o, "fmax_kind", e->fmax_kind ? e->fmax_kind : "?");
		cJSON_AddBoolToObject(o, "clock_ok", dev->clock_mhz <= e->fmax_mhz);
	} else {
		cJSON_AddNullToObject(o, "fmax_mhz");
	}
	cJSON *cap = cJSON_CreateObject();
	for (int r = 0; r < MPQX_RES_COUNT; r++)
		cJSON_AddNumberToObject(cap, estimate_resource_name((enum mpqx_resource)r),
					(double)cap_of(dev, (enum mpqx_resource)r));
	cJSON_AddNumberToObject(cap, "bram_tiles", dev->bram18 / 2.0);
	if (ice) {
		cJSON_AddNumberToObject(cap, "lc", (double)dev->lut);
		cJSON_AddNumberToObject(cap, "ebr", (double)dev->bram18);
		cJSON_AddNumberToObject(cap, "spram", (double)dev->spram);
	}
	cJSON_AddItemToObject(o, "capacity", cap);
	cJSON *u = cJSON_CreateObject();
	for (int r = 0; r < MPQX_RES_COUNT; r++)
		cJSON_AddNumberToObject(u, estimate_resource_name((enum mpqx_resource)r),
					isfinite(e->util[r]) ? e->util[r] : 1e9);
	cJSON_AddItemToObject(o, "utilisation", u);
	cJSON *top = cost_json(&e->top);
	hier_json(top, &e->top_hier);
	struct mpqx_est_block blk[MPQX_EST_MAX_BLOCKS];
	if (features)
		cJSON_AddItemToObject(top, "blocks", blocks_json(blk, estimate_layer_blocks_on(q, c, dev, k, -1, blk)));
	cJSON_AddItemToObject(o, "top", top);
	cJSON *arr = cJSON_AddArrayToObject(o, "layers");
	for (int l = 0; l < m->n_layers; l++) {
		const struct mpqx_layer *ly = &m->layers[l];
		cJSON *L = cJSON_CreateObject();
		cJSON_AddStringToObject(L, "name", ly->name);
		cJSON_AddStringToObject(L, "op", model_op_name(ly->op));
		const struct mpqx_cost *cc = &e->layers[l];
		cJSON_AddNumberToObject(L, "lut", (double)cc->lut);
		cJSON_AddNumberToObject(L, "lutram", (double)cc->lutram);
		cJSON_AddNumberToObject(L, "ff", (double)cc->ff);
		cJSON_AddNumberToObject(L, "bram18", (double)cc->bram18);
		cJSON_AddNumberToObject(L, "dsp", (double)cc->dsp);
		cJSON_AddNumberToObject(L, "cycles", (double)cc->cycles);
		hier_json(L, &e->layers_hier[l]);
		if (ice)
			ice40_json(L, cc);
		cJSON_AddNumberToObject(L, "a_bits", q->l[l].out.bits);
		if (model_layer_has_weights(ly))
			cJSON_AddNumberToObject(L, "w_bits", q->l[l].w.bits);
		if (model_layer_has_buffer(ly)) {
			cJSON_AddStringToObject(L, "buffer", config_storage_name(e->buffer[l], false));
			cJSON_AddStringToObject(L, "buffer_configured", config_storage_name(c->layers[l].buffer, false));
		}
		if (model_layer_has_rom(ly)) {
			cJSON_AddStringToObject(L, "rom", config_storage_name(e->rom[l], true));
			cJSON_AddStringToObject(L, "rom_configured", config_storage_name(c->layers[l].rom, true));
		}
		if (hw_mult_kind(ly->op) != MPQX_HW_MULT_NONE) {
			cJSON_AddStringToObject(L, "mult", config_mult_name(e->mult[l]));
			cJSON_AddStringToObject(L, "mult_configured", config_mult_name(c->layers[l].mult));
		}
		if (features)
			cJSON_AddItemToObject(L, "blocks", blocks_json(blk, estimate_layer_blocks_on(q, c, dev, k, l, blk)));
		cJSON_AddItemToArray(arr, L);
	}
	cJSON_AddStringToObject(o, "auto_rule", report_auto_rule_for(dev));
	return o;
}

/* ---- search ---- */

static const char *const res_names[MPQX_RES_COUNT] = {"lut", "lutram", "ff", "bram_tiles", "dsp"};
static const char *const split_names[MPQX_SPLITS] = {"train", "calib", "test"};

void report_search_init(struct mpqx_report_search *r)
{
	memset(r, 0, sizeof *r);
	r->split = MPQX_TEST;
	search_opts_default(&r->opts);
	r->best_test = r->u8_test = NAN;
}

void report_search_fini(struct mpqx_report_search *r)
{
	config_fini(&r->u8);
	for (int f = 0; f < MPQX_FRONT_COUNT; f++) {
		free(r->front_test[f]);
		r->front_test[f] = NULL;
	}
	search_exhaustive_fini(&r->ex);
	search_result_fini(&r->res);
	config_fini(&r->p8.cfg);
	search_free(r->sr);
	r->sr = NULL;
}

/* The test MSE of a point found on other windows (the session evaluates the test part). */
static int test_mse(struct mpqx_session *s, const struct mpqx_config *c, double *mse, struct mpqx_err *err)
{
	int rc = session_apply(s, c, err);
	if (!rc)
		*mse = s->res.mse;
	return rc;
}

int report_search_run(struct mpqx_session *s, struct mpqx_report_search *r, struct mpqx_err *err)
{
	int rc;
	if ((rc = search_new(s, r->split, r->threads, &r->sr, err)) || (rc = search_sensitivity(r->sr, &r->sn, err)))
		return rc;
	if (r->sens_only)
		return MPQX_OK;
	if ((rc = search_run(r->sr, &s->cfg, &r->opts, &r->res, err)))
		return rc;
	/* The uniform 8-bit reference with the start config's storage. */
	if (config_copy(&r->u8, &s->cfg))
		return err_set(err, MPQX_ENOMEM, "out of memory");
	for (int l = 0; l < r->u8.n_layers; l++)
		r->u8.layers[l].w_bits = r->u8.layers[l].a_bits = 8;
	if ((rc = search_exact(r->sr, &r->u8, &r->mse8, err)) || (rc = search_price(r->sr, &r->u8, &r->opts, &r->p8, err)))
		return rc;
	if (r->bench && (rc = search_bench_price(r->sr, &s->cfg, &r->opts, 1000, &r->rate, err)))
		return rc;
	if (r->exhaustive && (rc = search_exhaustive(r->sr, &s->cfg, &r->opts, 20000000L, &r->ex, err)))
		return rc;
	if (r->output && r->res.found) {
		if ((rc = config_save(r->output, s->model, &r->res.best.cfg, err)))
			return rc;
		r->written = true;
	}
	/* Chosen on other windows: their test MSE, as every other figure of mpqx. */
	if (r->split != MPQX_TEST) {
		if (r->res.found && (rc = test_mse(s, &r->res.best.cfg, &r->best_test, err)))
			return rc;
		if ((rc = test_mse(s, &r->u8, &r->u8_test, err)))
			return rc;
		for (int f = 0; f < MPQX_FRONT_COUNT; f++) {
			r->front_test[f] = calloc((size_t)r->res.n_front[f] + 1, sizeof *r->front_test[f]);
			if (!r->front_test[f])
				return err_set(err, MPQX_ENOMEM, "out of memory");
			for (int i = 0; i < r->res.n_front[f]; i++)
				if ((rc = test_mse(s, &r->res.front[f][i].cfg, &r->front_test[f][i], err)))
					return rc;
		}
	}
	return MPQX_OK;
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
		if (hw_mult_kind(ly->op) != MPQX_HW_MULT_NONE)
			cJSON_AddStringToObject(L, "mult", config_mult_name(lc->mult));
		if (lc->w_gran == MPQX_WGRAN_CHANNEL && op_class(ly->op)->w_channel)
			cJSON_AddStringToObject(L, "w_granularity", config_wgran_name(lc->w_gran));
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

struct cJSON *report_search(const struct mpqx_session *s, const struct mpqx_report_search *r)
{
	const struct mpqx_model *m = s->model;
	cJSON *out = cJSON_CreateObject();
	cJSON_AddStringToObject(out, "model", m->name);
	cJSON_AddStringToObject(out, "device", s->dev.name);
	cJSON_AddItemToObject(out, "sensitivity", sens_json(m, r->sn));
	if (r->sens_only)
		return out;
	const struct mpqx_search_result *res = &r->res;
	cJSON_AddStringToObject(out, "select", split_names[r->split]);
	cJSON_AddBoolToObject(out, "found", res->found);
	if (res->found)
		cJSON_AddItemToObject(out, "best", point_json(m, &res->best, true, r->best_test));
	else
		cJSON_AddStringToObject(out, "why", res->why);
	cJSON *u = cJSON_AddObjectToObject(out, "uniform8");
	cJSON_AddNumberToObject(u, "mse", r->mse8);
	if (!isnan(r->u8_test))
		cJSON_AddNumberToObject(u, "mse_test", r->u8_test);
	cJSON_AddBoolToObject(u, "fits", r->p8.fits);
	cJSON_AddNumberToObject(out, "mse_float", s->fref->mse);
	cJSON *b = cJSON_AddObjectToObject(out, "budget");
	for (int k = 0; k < MPQX_RES_COUNT; k++)
		cJSON_AddNumberToObject(b, res_names[k], res->budget[k]);
	cJSON_AddNumberToObject(b, "latency_us", res->latency_max);
	cJSON *fr = cJSON_AddObjectToObject(out, "fronts");
	for (int f = 0; f < MPQX_FRONT_COUNT; f++) {
		cJSON *a = cJSON_AddArrayToObject(fr, search_front_name((enum mpqx_front)f));
		for (int i = 0; i < res->n_front[f]; i++)
			cJSON_AddItemToArray(a, point_json(m, &res->front[f][i], false,
							   r->front_test[f] ? r->front_test[f][i] : NAN));
	}
	cJSON *st = cJSON_AddObjectToObject(out, "stats");
	cJSON_AddNumberToObject(st, "priced", (double)res->priced);
	cJSON_AddNumberToObject(st, "price_ms", res->price_ms);
	cJSON_AddNumberToObject(st, "priced_per_s", res->rate);
	if (r->bench)
		cJSON_AddNumberToObject(st, "priced_per_s_random_walk", r->rate);
	cJSON_AddNumberToObject(st, "cost_misses", (double)res->cost_misses);
	cJSON_AddNumberToObject(st, "exact_runs", (double)res->exact_runs);
	cJSON_AddNumberToObject(st, "exact_ms", res->exact_ms);
	cJSON_AddNumberToObject(st, "best_surrogate_mse", res->best_surrogate_mse);
	cJSON_AddNumberToObject(st, "total_ms", res->total_ms);
	if (r->exhaustive) {
		const struct mpqx_search_exhaustive *ex = &r->ex;
		cJSON *x = cJSON_AddObjectToObject(out, "exhaustive");
		cJSON_AddNumberToObject(x, "configs", (double)ex->configs);
		cJSON_AddNumberToObject(x, "fit", (double)ex->fit);
		cJSON_AddBoolToObject(x, "found", ex->found);
		if (ex->found)
			cJSON_AddItemToObject(x, "best", point_json(m, &ex->best, true, NAN));
		cJSON_AddNumberToObject(x, "ms", ex->ms);
		if (ex->found && res->found)
			cJSON_AddNumberToObject(x, "search_over_optimum", res->best.mse / ex->best.mse);
	}
	if (r->written)
		cJSON_AddStringToObject(out, "written", r->output);
	return out;
}

/* ---- export ---- */

/* Appends one line to buf (a newline before it unless it is the first). */
static void add_line(char *buf, size_t size, const char *fmt, ...)
#if defined(__GNUC__)
	__attribute__((format(printf, 3, 4)))
#endif
	;

static void add_line(char *buf, size_t size, const char *fmt, ...)
{
	size_t n = strlen(buf);
	if (n && n + 1 < size) {
		buf[n++] = '\n';
		buf[n] = '\0';
	}
	if (n + 1 >= size)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf + n, size - n, fmt, ap);
	va_end(ap);
}

void report_sim_problems(const struct mpqx_sim_result *r, char *buf, size_t size)
{
	buf[0] = '\0';
	if (r->mismatches)
		add_line(buf, size, "%d output values differ from the integer model (see %s)", r->mismatches, r->log);
	if (r->diverged || !r->dump_complete) {
		char msg[512];
		export_sim_divergence(r, msg, sizeof msg);
		add_line(buf, size, "%s", msg);
	}
	if (r->cycles != r->expected_cycles)
		add_line(buf, size, "the simulation took %ld cycles per window, the latency formula says %ld", r->cycles,
			 r->expected_cycles);
	if (r->status != 0 && !r->mismatches)
		add_line(buf, size, "the testbench exited with status %d (see %s)", r->status, r->log);
}

struct cJSON *report_export(const char *dir, const struct mpqx_export_info *info, const struct mpqx_sim_result *sim)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "dir", dir);
	cJSON_AddStringToObject(o, "top", info->top);
	cJSON_AddNumberToObject(o, "files", info->files);
	cJSON_AddNumberToObject(o, "windows", info->windows);
	cJSON_AddNumberToObject(o, "cycles", (double)info->cycles);
	if (!sim)
		return o;
	char problems[2048];
	report_sim_problems(sim, problems, sizeof problems);
	cJSON *s = cJSON_AddObjectToObject(o, "sim");
	cJSON_AddStringToObject(s, "simulator", export_simulator_name(sim->simulator));
	cJSON_AddBoolToObject(s, "ok", export_sim_ok(sim));
	cJSON_AddStringToObject(s, "result", sim->result);
	cJSON_AddNumberToObject(s, "windows", sim->windows);
	cJSON_AddNumberToObject(s, "mismatches", sim->mismatches);
	cJSON_AddNumberToObject(s, "cycles", (double)sim->cycles);
	cJSON_AddNumberToObject(s, "expected_cycles", (double)sim->expected_cycles);
	cJSON_AddNumberToObject(s, "status", sim->status);
	cJSON_AddStringToObject(s, "log", sim->log);
	if (problems[0])
		cJSON_AddStringToObject(s, "problems", problems);
	else
		cJSON_AddNullToObject(s, "problems");
	return o;
}
