/* The search (include/mpqx/search.h) on the tiny model (every op): the memoised per-layer costs sum to
 * estimate_run's totals, the surrogate is exact where it was measured, the search reaches the exhaustive
 * optimum of a small space, the fronts are fronts, the worker job, and the pricing rate. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "mpqx/estimate.h"
#include "mpqx/quant.h"
#include "mpqx/search.h"
#include "mpqx/session.h"

static const char *devices_dir(void)
{
	const char *d = getenv("MPQX_TEST_DEVICES");
	return d && *d ? d : SRC_DIR "/devices";
}

static const char *model_dir(void)
{
	const char *d = getenv("MPQX_TEST_SAMPLE");
	return d && *d ? d : DATA_DIR "/tiny";
}

struct fix {
	struct mpqx_session *s;
	struct mpqx_search *sr;
};

static int setup(void **state)
{
	struct fix *f = calloc(1, sizeof *f);
	struct mpqx_session_opts o = {0};
	o.devices_dir = devices_dir();
	struct mpqx_err err = {0};
	if (session_open(model_dir(), &o, &f->s, &err) || search_new(f->s, MPQX_TEST, 0, &f->sr, &err)) {
		fprintf(stderr, "setup: %s\n", err.msg);
		return -1;
	}
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fix *f = *state;
	search_free(f->sr);
	session_free(f->s);
	free(f);
	return 0;
}

static uint64_t rnd(uint64_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	return *x;
}

/* Random configurations: the memoised per-layer costs (estimated one layer at a time) add up to exactly
 * what estimate_run says of the whole design, and the verdict agrees. */
static void test_costs_match_estimate(void **state)
{
	struct fix *f = *state;
	const struct mpqx_model *m = f->s->model;
	struct mpqx_config c = {0};
	struct mpqx_err err = {0};
	struct mpqx_estimate est;
	assert_int_equal(config_copy(&c, &f->s->cfg), 0);
	assert_int_equal(estimate_init(&est, m->n_layers), 0);
	struct mpqx_search_opts o;
	search_opts_default(&o);
	uint64_t seed = 88172645463325252ULL;
	for (int t = 0; t < 300; t++) {
		for (int l = 0; l < m->n_layers; l++) {
			c.layers[l].w_bits = MPQX_BITS_MIN + (int)(rnd(&seed) % 15);
			c.layers[l].a_bits = MPQX_BITS_MIN + (int)(rnd(&seed) % 15);
			c.layers[l].buffer = (enum mpqx_storage)(rnd(&seed) % MPQX_STORE_COUNT);
			c.layers[l].rom = (enum mpqx_storage)(rnd(&seed) % MPQX_STORE_COUNT);
			c.layers[l].mult = (enum mpqx_mult)(rnd(&seed) % MPQX_MULT_COUNT);
		}
		struct mpqx_search_point p;
		if (search_price(f->sr, &c, &o, &p, &err))
			fail_msg("search_price: %s", err.msg);
		struct mpqx_qmodel *q = NULL;
		if (quant_build(m, f->s->fref, &c, &q, &err) || estimate_run(q, &c, &f->s->dev, f->s->coeffs, &est, &err))
			fail_msg("estimate: %s", err.msg);
		quant_free(q);
		assert_true(p.used[MPQX_RES_LUT] == (double)(est.total.lut + est.total.lutram));
		assert_true(p.used[MPQX_RES_LUTRAM] == (double)est.total.lutram);
		assert_true(p.used[MPQX_RES_FF] == (double)est.total.ff);
		if (p.used[MPQX_RES_BRAM] != est.bram_tiles)
			fail_msg("t %d bram %g vs %g", t, p.used[MPQX_RES_BRAM], est.bram_tiles);
		assert_true(p.used[MPQX_RES_DSP] == (double)est.total.dsp);
		assert_true(fabs(p.latency_us - est.latency_us) < 1e-9);
		assert_int_equal(p.fits, est.fits);
		assert_false(p.exact);
	}
	estimate_fini(&est);
	config_fini(&c);
}

/* The surrogate reproduces the engine where it was measured: one layer alone off the reference. Off the
 * measured points it is an estimate, and search_exact is the engine's figure. */
static void test_surrogate(void **state)
{
	struct fix *f = *state;
	const struct mpqx_model *m = f->s->model;
	struct mpqx_err err = {0};
	const struct mpqx_sensitivity *sn;
	if (search_sensitivity(f->sr, &sn, &err))
		fail_msg("%s", err.msg);
	assert_int_equal(sn->n_layers, m->n_layers);
	assert_true(sn->ref_bits >= 8 && sn->ref_bits <= MPQX_BITS_MAX);
	assert_true(sn->runs > m->n_layers);
	assert_true(isfinite(sn->mse_ref) && sn->mse_ref > 0);
	struct mpqx_config c = {0};
	assert_int_equal(config_init(&c, m, sn->ref_bits), 0);
	struct mpqx_search_opts o;
	search_opts_default(&o);
	struct mpqx_search_point p;
	double exact;
	assert_int_equal(search_price(f->sr, &c, &o, &p, &err), 0);
	assert_true(fabs(p.mse - sn->mse_ref) <= 1e-9 * sn->mse_ref);
	assert_int_equal(search_exact(f->sr, &c, &exact, &err), 0);
	assert_true(exact == sn->mse_ref);
	int checked = 0;
	for (int l = 0; l < m->n_layers; l++)
		for (int kind = 0; kind < 2; kind++) {
			bool w = kind == 1;
			if (w && !model_layer_has_weights(&m->layers[l]))
				continue;
			for (int b = MPQX_BITS_MIN; b < sn->ref_bits; b++) {
				if (!(w ? sn->mw[l][b] : sn->ma[l][b]))
					continue;
				int *field = w ? &c.layers[l].w_bits : &c.layers[l].a_bits;
				*field = b;
				assert_int_equal(search_price(f->sr, &c, &o, &p, &err), 0);
				assert_int_equal(search_exact(f->sr, &c, &exact, &err), 0);
				double d = w ? sn->dw[l][b] : sn->da[l][b];
				assert_true(fabs(exact - (sn->mse_ref + d)) <= 1e-12 * (1 + exact));
				/* the forecast deviation is kept in float: agreement to float precision */
				if (fabs(p.mse - exact) > 1e-5 * exact + 1e-9)
					fail_msg("%s %s at %d bits: surrogate %.9g, engine %.9g", m->layers[l].name,
						 w ? "weights" : "outputs", b, p.mse, exact);
				*field = sn->ref_bits;
				checked++;
			}
		}
	assert_true(checked > m->n_layers);
	/* A step is what removing one bit costs by the curve. */
	c.layers[1].a_bits = 8;
	assert_true(search_sens_step(sn, &c, 1, false) == sn->da[1][7] - sn->da[1][8]);
	c.layers[1].a_bits = MPQX_BITS_MIN;
	assert_true(search_sens_step(sn, &c, 1, false) == 0);
	config_fini(&c);
}

static void test_parse_bits(void **state)
{
	(void)state;
	int b[MPQX_BITS_MAX + 1];
	assert_int_equal(search_parse_bits("4,6,8", b, 17), 3);
	assert_int_equal(b[0], 4);
	assert_int_equal(b[2], 8);
	assert_int_equal(search_parse_bits("8,2-4", b, 17), 4);
	assert_int_equal(b[0], 2);
	assert_int_equal(b[3], 8);
	assert_int_equal(search_parse_bits("2-16", b, 17), 15);
	assert_int_equal(search_parse_bits("1", b, 17), -1);
	assert_int_equal(search_parse_bits("17", b, 17), -1);
	assert_int_equal(search_parse_bits("5-3", b, 17), -1);
	assert_int_equal(search_parse_bits("4,x", b, 17), -1);
	assert_int_equal(search_parse_bits("", b, 17), -1);
	assert_int_equal(search_parse_bits("4,6,8", b, 2), -1);
}

/* LUT use of uniform bits under the options' space. */
static double lut_at(struct fix *f, const struct mpqx_search_opts *o, int bits)
{
	struct mpqx_config c = {0};
	struct mpqx_err err = {0};
	assert_int_equal(config_copy(&c, &f->s->cfg), 0);
	for (int l = 0; l < c.n_layers; l++)
		c.layers[l].w_bits = bits;
	struct mpqx_search_point p;
	assert_int_equal(search_price(f->sr, &c, o, &p, &err), 0);
	config_fini(&c);
	return p.used[MPQX_RES_LUT];
}

/* A space small enough to enumerate, with a LUT budget that binds: the search's best is the exhaustive
 * optimum or within 1% of it, fits, and is exact. */
static void test_against_exhaustive(void **state)
{
	struct fix *f = *state;
	struct mpqx_err err = {0};
	struct mpqx_search_opts o;
	search_opts_default(&o);
	o.n_wbits = search_parse_bits("3,5,8", o.wbits, 17);
	o.n_abits = search_parse_bits("8", o.abits, 17);
	o.keep_storage = true;
	double lo = lut_at(f, &o, 3), hi = lut_at(f, &o, 8);
	assert_true(hi > lo);
	o.limit[MPQX_RES_LUT] = (lo + hi) / 2;
	struct mpqx_search_exhaustive x;
	if (search_exhaustive(f->sr, &f->s->cfg, &o, 100000, &x, &err))
		fail_msg("exhaustive: %s", err.msg);
	assert_true(x.found);
	assert_true(x.fit > 0 && x.fit < x.configs);
	int nw = 0;
	for (int l = 0; l < f->s->model->n_layers; l++)
		nw += model_layer_has_weights(&f->s->model->layers[l]);
	assert_true(x.configs == lround(pow(3, nw)));
	struct mpqx_search_result r;
	if (search_run(f->sr, &f->s->cfg, &o, &r, &err))
		fail_msg("search: %s", err.msg);
	assert_true(r.found);
	assert_true(r.best.exact && r.best.fits);
	assert_true(r.best.used[MPQX_RES_LUT] <= o.limit[MPQX_RES_LUT]);
	assert_true(r.best.mse >= x.best.mse * (1 - 1e-12));
	if (r.best.mse > 1.01 * x.best.mse)
		fail_msg("search %.9g, exhaustive optimum %.9g", r.best.mse, x.best.mse);
	double exact;
	assert_int_equal(search_exact(f->sr, &r.best.cfg, &exact, &err), 0);
	assert_true(exact == r.best.mse);
	/* The space was respected. */
	for (int l = 0; l < r.best.cfg.n_layers; l++) {
		assert_int_equal(r.best.cfg.layers[l].a_bits, 8);
		if (model_layer_has_weights(&f->s->model->layers[l])) {
			int w = r.best.cfg.layers[l].w_bits;
			assert_true(w == 3 || w == 5 || w == 8);
		}
		assert_int_equal(r.best.cfg.layers[l].buffer, f->s->cfg.layers[l].buffer);
	}
	assert_true(r.priced > 0 && r.rate > 0);
	search_result_fini(&r);
	search_exhaustive_fini(&x);
}

/* The fronts: increasing resource, decreasing exact MSE, every other constraint met; the best that fits
 * is no better than the front allows at its resource use. */
static void test_fronts(void **state)
{
	struct fix *f = *state;
	struct mpqx_err err = {0};
	struct mpqx_search_opts o;
	search_opts_default(&o);
	o.polish = 8;
	struct mpqx_search_result r;
	if (search_run(f->sr, &f->s->cfg, &o, &r, &err))
		fail_msg("search: %s", err.msg);
	assert_true(r.found);
	/* never worse than a uniform start that fits (uniform 8 bits fits the tiny model) */
	assert_true(f->s->est.fits);
	assert_true(r.best.mse <= f->s->res.mse);
	for (int fr = 0; fr < MPQX_FRONT_COUNT; fr++) {
		assert_true(r.n_front[fr] >= 1);
		for (int i = 0; i < r.n_front[fr]; i++) {
			const struct mpqx_search_point *p = &r.front[fr][i];
			assert_true(p->exact);
			double x = fr == MPQX_FRONT_LUT ? p->used[MPQX_RES_LUT] : fr == MPQX_FRONT_BRAM ? p->used[MPQX_RES_BRAM] : p->latency_us;
			for (int res = 0; res < MPQX_RES_COUNT; res++)
				if (!(fr == MPQX_FRONT_LUT && res == MPQX_RES_LUT) && !(fr == MPQX_FRONT_BRAM && res == MPQX_RES_BRAM))
					assert_true(p->used[res] <= r.budget[res]);
			if (i == 0)
				continue;
			const struct mpqx_search_point *q = &r.front[fr][i - 1];
			double xq = fr == MPQX_FRONT_LUT ? q->used[MPQX_RES_LUT] : fr == MPQX_FRONT_BRAM ? q->used[MPQX_RES_BRAM] : q->latency_us;
			assert_true(xq <= x);
			assert_true(q->mse > p->mse);
		}
		/* no front point that fits within the best's use beats it */
		for (int i = 0; i < r.n_front[fr]; i++) {
			const struct mpqx_search_point *p = &r.front[fr][i];
			if (p->fits)
				assert_true(p->mse >= r.best.mse);
		}
	}
	search_result_fini(&r);
}

/* A budget nothing meets: no best, and the reason names the resource. */
static void test_nothing_fits(void **state)
{
	struct fix *f = *state;
	struct mpqx_err err = {0};
	struct mpqx_search_opts o;
	search_opts_default(&o);
	o.limit[MPQX_RES_DSP] = 1;
	struct mpqx_search_result r;
	if (search_run(f->sr, &f->s->cfg, &o, &r, &err))
		fail_msg("search: %s", err.msg);
	assert_false(r.found);
	assert_non_null(strstr(r.why, "DSP needs at least"));
	search_result_fini(&r);
	o.limit[MPQX_RES_DSP] = 0;
	o.margin = 1.5;
	assert_int_equal(search_run(f->sr, &f->s->cfg, &o, &r, &err), MPQX_EINPUT);
	assert_non_null(strstr(err.msg, "margin"));
}

/* Restricts the options to the bit widths bits[0..n). */
static void only_bits(struct mpqx_search_opts *o, const int *bits, int n)
{
	o->n_wbits = o->n_abits = n;
	for (int i = 0; i < n; i++)
		o->wbits[i] = o->abits[i] = bits[i];
}

/* A candidate: when it fits and beats what the search finds, it is the best; the result is never worse
 * than it. Two searches in disjoint spaces (2-3 bits, 6-8 bits); the better one's best is the candidate
 * of a search in the other space, where the search cannot reach it. A candidate the search beats leaves
 * its result alone; one over the budget is not measured. */
static void test_candidate(void **state)
{
	struct fix *f = *state;
	struct mpqx_err err = {0};
	static const int lo[] = {2, 3}, hi[] = {6, 7, 8};
	struct mpqx_search_opts olo, ohi;
	search_opts_default(&olo);
	olo.polish = 4;
	ohi = olo;
	only_bits(&olo, lo, 2);
	only_bits(&ohi, hi, 3);
	struct mpqx_search_result rlo, rhi, r;
	assert_int_equal(search_run(f->sr, &f->s->cfg, &olo, &rlo, &err), 0);
	assert_int_equal(search_run(f->sr, &f->s->cfg, &ohi, &rhi, &err), 0);
	assert_true(rlo.found && rhi.found);
	assert_false(rlo.candidate_best || rhi.candidate_best);
	assert_true(rlo.best.mse != rhi.best.mse);
	bool lo_wins = rlo.best.mse < rhi.best.mse;
	const struct mpqx_search_result *win = lo_wins ? &rlo : &rhi, *lose = lo_wins ? &rhi : &rlo;
	struct mpqx_search_opts o = lo_wins ? ohi : olo;
	o.candidate = &win->best.cfg;
	assert_int_equal(search_run(f->sr, &f->s->cfg, &o, &r, &err), 0);
	assert_true(r.found && r.candidate_fits && r.candidate_best);
	assert_true(config_equal(&r.best.cfg, &win->best.cfg));
	assert_true(r.best.mse == win->best.mse && r.candidate_mse == win->best.mse);
	assert_true(r.best.exact && r.best.fits);
	search_result_fini(&r);
	/* The other way round the search's best stays. */
	o = lo_wins ? olo : ohi;
	o.candidate = &lose->best.cfg;
	assert_int_equal(search_run(f->sr, &f->s->cfg, &o, &r, &err), 0);
	assert_true(r.candidate_fits && r.candidate_mse == lose->best.mse);
	assert_false(r.candidate_best);
	assert_true(config_equal(&r.best.cfg, &win->best.cfg));
	assert_true(r.best.mse == win->best.mse);
	search_result_fini(&r);
	/* Over the budget: not measured. */
	o = lo_wins ? ohi : olo;
	o.candidate = &win->best.cfg;
	o.limit[MPQX_RES_LUT] = win->best.used[MPQX_RES_LUT] - 1;
	assert_int_equal(search_run(f->sr, &f->s->cfg, &o, &r, &err), 0);
	assert_false(r.candidate_fits || r.candidate_best);
	search_result_fini(&r);
	search_result_fini(&rlo);
	search_result_fini(&rhi);
}

/* The same base and options give the same result whatever ran before on the same search object: no
 * surrogate anchor and no exact evaluation of an earlier run steers a later one (its exact cache only
 * saves time). The explorer relies on it: f finds the same from any edited config. */
static void test_repeatable(void **state)
{
	struct fix *f = *state;
	struct mpqx_err err = {0};
	struct mpqx_search *sc;
	assert_int_equal(search_new(f->s, MPQX_CALIB, 1, &sc, &err), 0);
	struct mpqx_search_opts o;
	search_opts_default(&o);
	struct mpqx_config base = {0}, other = {0};
	assert_int_equal(config_init(&base, f->s->model, 8), 0);
	assert_int_equal(config_init(&other, f->s->model, 4), 0);
	for (int l = 0; l < other.n_layers; l++)
		other.layers[l].buffer = MPQX_STORE_BLOCK;
	struct mpqx_search_result r1, r2, r3;
	assert_int_equal(search_run(sc, &base, &o, &r1, &err), 0);
	assert_int_equal(search_run(sc, &base, &o, &r2, &err), 0);
	assert_int_equal(search_run(sc, &other, &o, &r3, &err), 0);
	search_result_fini(&r3);
	o.candidate = &other;
	assert_int_equal(search_run(sc, &base, &o, &r3, &err), 0);
	assert_true(r1.found && r2.found && r3.found);
	assert_true(config_equal(&r1.best.cfg, &r2.best.cfg) && r1.best.mse == r2.best.mse);
	if (!r3.candidate_best)
		assert_true(config_equal(&r1.best.cfg, &r3.best.cfg) && r1.best.mse == r3.best.mse);
	for (int k = 0; k < MPQX_FRONT_COUNT; k++)
		assert_int_equal(r1.n_front[k], r2.n_front[k]);
	search_result_fini(&r1);
	search_result_fini(&r2);
	search_result_fini(&r3);
	config_fini(&base);
	config_fini(&other);
	search_free(sc);
}

/* The worker: sensitivity and search on a thread, results published by search_poll. */
static void test_job(void **state)
{
	(void)state;
	struct mpqx_session_opts so = {0};
	so.devices_dir = devices_dir();
	struct mpqx_session *s;
	struct mpqx_search *sr;
	struct mpqx_err err = {0};
	assert_int_equal(session_open(model_dir(), &so, &s, &err), 0);
	assert_int_equal(search_new(s, MPQX_TEST, 1, &sr, &err), 0);
	assert_null(search_last(sr));
	struct mpqx_search_opts o;
	search_opts_default(&o);
	o.polish = 4;
	assert_int_equal(search_start(sr, &s->cfg, &o, &err), 0);
	assert_int_equal(search_start(sr, &s->cfg, &o, &err), MPQX_EINPUT);
	search_wait(sr);
	assert_false(search_busy(sr));
	assert_true(search_poll(sr, &err));
	assert_int_equal(err.code, 0);
	assert_false(search_poll(sr, &err));
	assert_non_null(search_sens(sr));
	const struct mpqx_search_result *r = search_last(sr);
	assert_non_null(r);
	assert_true(r->found);
	/* A job freed while it runs is stopped. */
	assert_int_equal(search_start(sr, &s->cfg, &o, &err), 0);
	search_free(sr);
	session_free(s);
}

/* Configurations priced per second on a random walk (the search's moves): at least 50,000 (an optimised
 * build without sanitizers; the rate is printed either way). */
static void test_rate(void **state)
{
	struct fix *f = *state;
	struct mpqx_err err = {0};
	struct mpqx_search_opts o;
	search_opts_default(&o);
	double rate;
	assert_int_equal(search_bench_price(f->sr, &f->s->cfg, &o, 300, &rate, &err), 0);
	printf("# %.0f configurations priced per second\n", rate);
#if defined(__SANITIZE_ADDRESS__)
	assert_true(rate > 0);
#else
	assert_true(rate >= 50000);
#endif
}

/* On the calibration windows: the engine's figures are those of another part of the data, the surrogate
 * still reproduces them where measured. */
static void test_other_split(void **state)
{
	struct fix *f = *state;
	struct mpqx_search *sc;
	struct mpqx_err err = {0};
	assert_int_equal(search_new(f->s, MPQX_CALIB, 0, &sc, &err), 0);
	const struct mpqx_sensitivity *sn, *st;
	assert_int_equal(search_sensitivity(sc, &sn, &err), 0);
	assert_int_equal(search_sensitivity(f->sr, &st, &err), 0);
	assert_true(sn->mse_ref > 0 && sn->mse_ref != st->mse_ref);
	assert_true(isfinite(sn->mse_float) && sn->mse_float != st->mse_float);
	double test8, calib8;
	assert_int_equal(search_exact(f->sr, &f->s->cfg, &test8, &err), 0);
	assert_int_equal(search_exact(sc, &f->s->cfg, &calib8, &err), 0);
	assert_true(test8 == f->s->res.mse);
	assert_true(calib8 != test8);
	struct mpqx_search_opts o;
	search_opts_default(&o);
	o.polish = 4;
	struct mpqx_search_result r;
	assert_int_equal(search_run(sc, &f->s->cfg, &o, &r, &err), 0);
	assert_int_equal(r.split, MPQX_CALIB);
	assert_true(r.found);
	double mse;
	assert_int_equal(search_exact(sc, &r.best.cfg, &mse, &err), 0);
	assert_true(mse == r.best.mse);
	search_result_fini(&r);
	search_free(sc);
	assert_int_equal(search_new(f->s, MPQX_SPLITS, 0, &sc, &err), MPQX_EINPUT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_bits),
		cmocka_unit_test(test_costs_match_estimate),
		cmocka_unit_test(test_surrogate),
		cmocka_unit_test(test_against_exhaustive),
		cmocka_unit_test(test_fronts),
		cmocka_unit_test(test_nothing_fits),
		cmocka_unit_test(test_other_split),
		cmocka_unit_test(test_candidate),
		cmocka_unit_test(test_repeatable),
		cmocka_unit_test(test_rate),
		cmocka_unit_test(test_job),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
