/* Resource-aware search (include/mpqx/search.h, doc/search.md).
 *
 * The space: per layer the weight bits, the output bits, the buffer's and the ROMs' storage. Pricing a
 * configuration takes a few microseconds:
 *  - MSE: the surrogate mse_ref + sum over layers of the measured single-layer increases dw[l][w_l] and
 *    da[l][a_l] (test-set MSE with that layer alone at those bits, the rest at the reference bits);
 *  - resources: the estimator's per-layer costs, memoised. A layer's cost depends only on its own
 *    settings and on the output bits of its inputs (they fix its input scales, accumulator and
 *    multiplier widths), so it is looked up by that key; a key not seen before is filled by quant_build +
 *    estimate_run on the whole configuration (every layer's key at once). The sum over layers plus the
 *    top module's glue (shape only) equals estimate_run's totals exactly (tests/unit/test_search.c).
 * The search itself: from several starts, a greedy repair (the move that removes the most overshoot per
 * surrogate MSE it adds) until everything fits, then a local search (single moves, and a one-step rise
 * paired with any compensating move) on the surrogate; the best distinct configurations are re-evaluated
 * exactly by the integer engine, then exact hill climbing polishes the best. The fronts come from
 * Lagrangian sweeps (MSE + lambda * resource) and from every configuration priced on the way; a few
 * points per front, evenly spread, are evaluated exactly and filtered again. */
#include "mpqx/search.h"

#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "mpqx/fileio.h"
#include "mpqx/hw.h"
#include "mpqx/forward.h"
#include "mpqx/ieval.h"
#include "mpqx/op.h"
#include "mpqx/quant.h"

#define NB (MPQX_BITS_MAX + 1)
#define EXACT_CACHE_MAX 8192
#define FRONT_MAX 4096
/* The iterated local search: rounds and configurations priced at most. */
#define ILS_ROUNDS 400
#define ILS_PRICINGS 400000L

static double now_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

/* ---- per-layer facts ---- */

struct linfo {
	bool has_w, has_buf, has_rom, has_mult;
	int n_in;
	int in[MPQX_MAX_INPUTS];
};

/* ---- the cost cache ---- */

struct centry {
	uint64_t key; /* 0: empty */
	struct mpqx_cost cost;
};

struct ccache {
	struct centry *t;
	size_t cap, n;
};

static uint64_t mix(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ULL;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebULL;
	x ^= x >> 31;
	return x;
}

static const struct mpqx_cost *cc_find(const struct ccache *cc, uint64_t key)
{
	if (!cc->cap)
		return NULL;
	size_t mask = cc->cap - 1;
	for (size_t i = mix(key) & mask;; i = (i + 1) & mask) {
		if (cc->t[i].key == key)
			return &cc->t[i].cost;
		if (cc->t[i].key == 0)
			return NULL;
	}
}

static int cc_put(struct ccache *cc, uint64_t key, const struct mpqx_cost *c)
{
	if ((cc->n + 1) * 2 > cc->cap) {
		size_t ncap = cc->cap ? cc->cap * 2 : 4096;
		struct centry *nt = calloc(ncap, sizeof *nt);
		if (!nt)
			return MPQX_ENOMEM;
		for (size_t i = 0; i < cc->cap; i++) {
			if (!cc->t[i].key)
				continue;
			size_t j = mix(cc->t[i].key) & (ncap - 1);
			while (nt[j].key)
				j = (j + 1) & (ncap - 1);
			nt[j] = cc->t[i];
		}
		free(cc->t);
		cc->t = nt;
		cc->cap = ncap;
	}
	size_t mask = cc->cap - 1;
	size_t i = mix(key) & mask;
	while (cc->t[i].key && cc->t[i].key != key)
		i = (i + 1) & mask;
	if (!cc->t[i].key)
		cc->n++;
	cc->t[i].key = key;
	cc->t[i].cost = *c;
	return MPQX_OK;
}

static void cc_clear(struct ccache *cc)
{
	free(cc->t);
	memset(cc, 0, sizeof *cc);
}

/* ---- exact results ---- */

struct exact {
	signed char *bits; /* w, a per layer */
	double mse;
	unsigned run; /* the last run that evaluated it (or found it here) */
};

/* ---- the search object ---- */

struct mpqx_search {
	const struct mpqx_model *m;
	const struct mpqx_dataset *d;
	const struct mpqx_fref *f;
	char devices_dir[4096];
	int L;
	struct linfo *li;

	/* the device of the last base config */
	char dev_name[64];
	bool have_dev;
	struct mpqx_device dev;
	struct mpqx_coeffs *k;
	char family[32];

	enum mpqx_split split;     /* the windows the MSE figures are computed on */
	struct mpqx_dataset dview; /* the session's data, its test part being those windows */
	struct mpqx_ieval *ev;
	struct mpqx_estimate est;
	struct mpqx_estimate sub_est[MPQX_MAX_INPUTS + 1]; /* for fill_layer, by input count */
	struct ccache cc;
	struct mpqx_cost top;
	bool have_top;
	long misses, priced, exact_runs;
	double exact_ms;

	struct exact *ex;
	int n_ex;
	unsigned run; /* runs started: what this run evaluated is told apart from what earlier ones did */

	bool have_sens;
	struct mpqx_sensitivity sens;

	/* The surrogate: bit variables k (a layer's weights or outputs), entries u = k * NB + bits. The
	 * forecast of a configuration is taken as the reference's plus the sum of each variable's measured
	 * deviation delta_u (linear superposition), so its MSE is a quadratic form:
	 *   mse = mse_ref + sum_k lin[u_k] + sum_k sum_j G[u_k][u_j]
	 * with lin[u] = 2/N <r, delta_u> (r: the reference's residual) and G[u][v] = 1/N <delta_u, delta_v>. */
	int nbv, U;
	int *bv_l;
	bool *bv_w;
	double *lin, *G;
	/* The anchor: a configuration whose terms are kept, so that a neighbour (one or two variables
	 * changed) prices in O(1). */
	int *asel, *sel;
	double *ah; /* [U] sum_k G[u][asel_k] */
	double amse;
	bool have_anchor;

	/* the worker */
	pthread_mutex_t mu;
	pthread_t th;
	bool started, busy, finished;
	atomic_int cancel;
	struct mpqx_config job_base;
	struct mpqx_config job_cand; /* the copy of job_opts.candidate */
	bool job_has_base;
	struct mpqx_search_opts job_opts;
	struct mpqx_err job_err;
	struct mpqx_search_result pending, last;
	bool have_pending, have_last;
};

static bool cancelled(struct mpqx_search *s)
{
	return atomic_load(&s->cancel) != 0;
}

static int cancel_err(struct mpqx_err *err)
{
	return err_set(err, MPQX_EINPUT, "search cancelled");
}

const char *search_front_name(enum mpqx_front f)
{
	static const char *const n[MPQX_FRONT_COUNT] = {"lut", "bram_tiles", "latency_us"};
	return (unsigned)f < MPQX_FRONT_COUNT ? n[f] : "?";
}

void search_opts_default(struct mpqx_search_opts *o)
{
	memset(o, 0, sizeof *o);
	o->finalists = 16;
	o->polish = 48;
	o->front_points = 12;
}

int search_parse_bits(const char *text, int *bits, int max)
{
	bool on[NB] = {false};
	const char *p = text;
	if (!*p)
		return -1;
	while (*p) {
		char *end;
		long a = strtol(p, &end, 10), b;
		if (end == p)
			return -1;
		p = end;
		b = a;
		if (*p == '-') {
			p++;
			b = strtol(p, &end, 10);
			if (end == p)
				return -1;
			p = end;
		}
		if (a < MPQX_BITS_MIN || b > MPQX_BITS_MAX || a > b)
			return -1;
		for (long x = a; x <= b; x++)
			on[x] = true;
		if (*p == ',')
			p++;
		else if (*p)
			return -1;
	}
	int n = 0;
	for (int x = MPQX_BITS_MIN; x <= MPQX_BITS_MAX; x++)
		if (on[x]) {
			if (n >= max)
				return -1;
			bits[n++] = x;
		}
	return n;
}

int search_new(const struct mpqx_session *ses, enum mpqx_split split, int threads, struct mpqx_search **out,
	       struct mpqx_err *err)
{
	*out = NULL;
	struct mpqx_search *s = calloc(1, sizeof *s);
	if (!s)
		return err_set(err, MPQX_ENOMEM, "out of memory");
	s->m = ses->model;
	/* The engine evaluates the "test" part of its dataset: a copy whose test part is the chosen one. */
	s->split = split;
	s->dview = *ses->data;
	if ((unsigned)split >= MPQX_SPLITS || ses->data->windows[split] < 1) {
		free(s);
		return err_set(err, MPQX_EINPUT, "%s: no windows to select on in that part of the data", ses->model->path);
	}
	s->dview.begin[MPQX_TEST] = ses->data->begin[split];
	s->dview.end[MPQX_TEST] = ses->data->end[split];
	s->dview.windows[MPQX_TEST] = ses->data->windows[split];
	s->d = &s->dview;
	s->f = ses->fref;
	s->L = s->m->n_layers;
	snprintf(s->devices_dir, sizeof s->devices_dir, "%s", ses->devices_dir);
	atomic_init(&s->cancel, 0);
	if (pthread_mutex_init(&s->mu, NULL)) {
		free(s);
		return err_set(err, MPQX_ENOMEM, "cannot create a mutex");
	}
	int rc = MPQX_OK;
	s->li = calloc((size_t)s->L, sizeof *s->li);
	if (!s->li || estimate_init(&s->est, s->L)) {
		rc = err_set(err, MPQX_ENOMEM, "out of memory");
		goto fail;
	}
	if (s->L > 0xffff) {
		rc = err_set(err, MPQX_EINPUT, "%s: %d layers: the search handles at most 65535", s->m->path, s->L);
		goto fail;
	}
	for (int l = 0; l < s->L; l++) {
		const struct mpqx_layer *ly = &s->m->layers[l];
		struct linfo *li = &s->li[l];
		li->has_w = model_layer_has_weights(ly);
		li->has_buf = model_layer_has_buffer(ly);
		li->has_rom = model_layer_has_rom(ly); /* softmax: its exp table */
		li->has_mult = hw_mult_kind(ly->op) != MPQX_HW_MULT_NONE;
		li->n_in = ly->n_inputs;
		memcpy(li->in, ly->inputs, sizeof li->in);
		s->nbv += li->has_w ? 2 : 1;
	}
	s->U = s->nbv * NB;
	s->bv_l = calloc((size_t)s->nbv, sizeof *s->bv_l);
	s->bv_w = calloc((size_t)s->nbv, sizeof *s->bv_w);
	s->asel = calloc((size_t)s->nbv, sizeof *s->asel);
	s->sel = calloc((size_t)s->nbv, sizeof *s->sel);
	s->ah = calloc((size_t)s->U, sizeof *s->ah);
	if (!s->bv_l || !s->bv_w || !s->asel || !s->sel || !s->ah) {
		rc = err_set(err, MPQX_ENOMEM, "out of memory");
		goto fail;
	}
	for (int l = 0, k = 0; l < s->L; l++) {
		s->bv_l[k] = l;
		s->bv_w[k++] = false;
		if (s->li[l].has_w) {
			s->bv_l[k] = l;
			s->bv_w[k++] = true;
		}
	}
	if ((rc = ieval_new(s->m, s->d, NULL, threads, &s->ev, err)))
		goto fail;
	*out = s;
	return MPQX_OK;
fail:
	search_free(s);
	return rc;
}

static void sens_fini(struct mpqx_sensitivity *sn)
{
	free(sn->dw);
	free(sn->da);
	free(sn->mw);
	free(sn->ma);
	memset(sn, 0, sizeof *sn);
}

void search_free(struct mpqx_search *s)
{
	if (!s)
		return;
	atomic_store(&s->cancel, 1);
	if (s->started)
		pthread_join(s->th, NULL);
	pthread_mutex_destroy(&s->mu);
	ieval_free(s->ev);
	estimate_fini(&s->est);
	for (int i = 0; i <= MPQX_MAX_INPUTS; i++)
		estimate_fini(&s->sub_est[i]);
	estimate_coeffs_free(s->k);
	cc_clear(&s->cc);
	for (int i = 0; i < s->n_ex; i++)
		free(s->ex[i].bits);
	free(s->ex);
	sens_fini(&s->sens);
	config_fini(&s->job_base);
	config_fini(&s->job_cand);
	search_result_fini(&s->pending);
	search_result_fini(&s->last);
	free(s->li);
	free(s->bv_l);
	free(s->bv_w);
	free(s->asel);
	free(s->sel);
	free(s->ah);
	free(s->lin);
	free(s->G);
	free(s);
}

/* Loads the device named in c (and its family's coefficients) unless it is the current one. */
static int use_device(struct mpqx_search *s, const char *name, struct mpqx_err *err)
{
	if (s->have_dev && strcmp(name, s->dev_name) == 0)
		return MPQX_OK;
	struct mpqx_device dev;
	int rc = device_load(s->devices_dir, name, &dev, err);
	if (rc)
		return rc;
	if (!s->k || strcmp(dev.family, s->family) != 0) {
		char file[128], path[4300];
		snprintf(file, sizeof file, "%s-cost.ini", dev.family);
		if (fileio_join(path, sizeof path, s->devices_dir, file))
			return err_set(err, MPQX_EINPUT, "%s: path too long", s->devices_dir);
		struct mpqx_coeffs *k = NULL;
		if ((rc = estimate_coeffs_load(path, &k, err)))
			return rc;
		estimate_coeffs_free(s->k);
		s->k = k;
		snprintf(s->family, sizeof s->family, "%s", dev.family);
		cc_clear(&s->cc); /* costs come from the coefficients */
		s->have_top = false;
	}
	s->dev = dev;
	snprintf(s->dev_name, sizeof s->dev_name, "%s", name);
	s->have_dev = true;
	return MPQX_OK;
}

/* ---- pricing ---- */

static uint64_t ckey(const struct mpqx_search *s, const struct mpqx_config *c, int l)
{
	const struct linfo *li = &s->li[l];
	const struct mpqx_layer_cfg *x = &c->layers[l];
	uint64_t k = (uint64_t)l | (uint64_t)(li->has_w ? x->w_bits - MPQX_BITS_MIN : 0) << 16 |
		     (uint64_t)(x->a_bits - MPQX_BITS_MIN) << 20 | (uint64_t)(li->has_buf ? x->buffer : 0) << 24 |
		     (uint64_t)(li->has_rom ? x->rom : 0) << 26 | (uint64_t)(li->has_mult ? x->mult : 0) << 60 |
		     (uint64_t)(li->has_w ? x->w_gran : 0) << 62;
	for (int i = 0; i < li->n_in; i++)
		k |= (uint64_t)(c->layers[li->in[i]].a_bits - MPQX_BITS_MIN) << (28 + 4 * i);
	return k | (uint64_t)1 << 63;
}

/* Estimates c afresh and memoises every layer's cost under its key. MPQX_ERANGE: c cannot be built. */
static int fill(struct mpqx_search *s, const struct mpqx_config *c, struct mpqx_err *err)
{
	struct mpqx_qmodel *q = NULL;
	int rc = quant_build(s->m, s->f, c, &q, err);
	if (rc)
		return rc;
	rc = estimate_run(q, c, &s->dev, s->k, &s->est, err);
	quant_free(q);
	if (rc)
		return rc;
	s->misses++;
	for (int l = 0; l < s->L; l++)
		if (cc_put(&s->cc, ckey(s, c, l), &s->est.layers[l]))
			return err_set(err, MPQX_ENOMEM, "out of memory");
	s->top = s->est.top;
	s->have_top = true;
	return MPQX_OK;
}

/* Estimates layer l of c alone and memoises it: quant_build and estimate_run on a model of layer l
 * whose inputs are input layers standing in for its producers, with their ranges and output bits (so
 * their scales, zero points, shapes and address widths are the producers'). A few microseconds where
 * the whole model takes tens; test_search checks that the sums equal estimate_run's. */
static int fill_layer(struct mpqx_search *s, const struct mpqx_config *c, int l, struct mpqx_err *err)
{
	const struct mpqx_layer *ly = &s->m->layers[l];
	int n = ly->n_inputs;
	struct mpqx_layer sl[MPQX_MAX_INPUTS + 1];
	struct mpqx_layer_cfg slc[MPQX_MAX_INPUTS + 1];
	double lo[MPQX_MAX_INPUTS + 1], hi[MPQX_MAX_INPUTS + 1];
	struct mpqx_qparam fixed[MPQX_MAX_INPUTS + 1];
	uint64_t *hist[MPQX_MAX_INPUTS + 1] = {NULL};
	struct mpqx_model sm = *s->m;
	struct mpqx_fref sf = {0};
	struct mpqx_config sc = *c;
	sm.layers = sl;
	sm.n_layers = n + 1;
	sm.output = n;
	sf.n_layers = n + 1;
	sf.lo = lo;
	sf.hi = hi;
	sf.fixed = fixed;
	sf.hist = hist;
	sc.n_layers = n + 1;
	sc.layers = slc;
	for (int i = 0; i < n; i++) {
		int src = ly->inputs[i];
		const struct mpqx_layer *x = &s->m->layers[src];
		memset(&sl[i], 0, sizeof sl[i]);
		memcpy(sl[i].name, x->name, sizeof sl[i].name);
		sl[i].op = MPQX_OP_INPUT;
		sl[i].rows = x->rows;
		sl[i].cols = x->cols;
		/* the producer's own output parameters, as quant_build gives them in the whole model */
		fixed[i] = quant_out(s->m, s->f, src, &c->layers[src], &lo[i], &hi[i]);
		slc[i] = c->layers[src];
	}
	sl[n] = *ly;
	for (int i = 0; i < n; i++)
		sl[n].inputs[i] = i;
	slc[n] = c->layers[l];
	lo[n] = s->f->lo[l];
	hi[n] = s->f->hi[l];
	fixed[n].bits = 0;
	hist[n] = s->f->hist ? s->f->hist[l] : NULL;
	struct mpqx_qmodel *q = NULL;
	int rc = quant_build(&sm, &sf, &sc, &q, err);
	if (rc)
		return rc;
	struct mpqx_estimate *e = &s->sub_est[n];
	if (!e->layers && estimate_init(e, n + 1)) {
		quant_free(q);
		return err_set(err, MPQX_ENOMEM, "out of memory");
	}
	rc = estimate_run(q, &sc, &s->dev, s->k, e, err);
	quant_free(q);
	if (rc)
		return rc;
	s->misses++;
	if (cc_put(&s->cc, ckey(s, c, l), &e->layers[n]))
		return err_set(err, MPQX_ENOMEM, "out of memory");
	return MPQX_OK;
}

struct budget {
	double cap[MPQX_RES_COUNT];
	double lat; /* 0: none */
};

struct price {
	double mse;
	double used[MPQX_RES_COUNT];
	double lat;
	double viol;  /* total relative overshoot; 0 when everything fits */
	bool fits;
	bool ok_except[MPQX_FRONT_COUNT]; /* meets everything but the front's own resource */
};

static double over(double used, double cap)
{
	if (cap > 0)
		return used > cap ? (used - cap) / cap : 0;
	return used > 0 ? used : 0;
}

static double front_x(const struct price *p, int f)
{
	return f == MPQX_FRONT_LUT ? p->used[MPQX_RES_LUT] : f == MPQX_FRONT_BRAM ? p->used[MPQX_RES_BRAM] : p->lat;
}

static int entry(const struct mpqx_search *s, const struct mpqx_config *c, int k)
{
	const struct mpqx_layer_cfg *x = &c->layers[s->bv_l[k]];
	return k * NB + (s->bv_w[k] ? x->w_bits : x->a_bits);
}

static double surrogate_full(const struct mpqx_search *s, const int *sel)
{
	double v = s->sens.mse_ref;
	for (int k = 0; k < s->nbv; k++) {
		const double *row = s->G + (size_t)sel[k] * s->U;
		double r = 0;
		for (int j = 0; j < s->nbv; j++)
			r += row[sel[j]];
		v += s->lin[sel[k]] + r;
	}
	return v;
}

/* Makes c the anchor. */
static void set_anchor(struct mpqx_search *s, const struct mpqx_config *c)
{
	for (int k = 0; k < s->nbv; k++)
		s->asel[k] = entry(s, c, k);
	memset(s->ah, 0, sizeof *s->ah * (size_t)s->U);
	for (int k = 0; k < s->nbv; k++) {
		const double *row = s->G + (size_t)s->asel[k] * s->U; /* G is symmetric */
		for (int u = 0; u < s->U; u++)
			s->ah[u] += row[u];
	}
	s->amse = surrogate_full(s, s->asel);
	s->have_anchor = true;
}

/* The surrogate MSE of c: from the anchor when c differs from it in at most two bit variables. */
static double surrogate(struct mpqx_search *s, const struct mpqx_config *c)
{
	int d[2], n = 0;
	for (int k = 0; k < s->nbv; k++) {
		s->sel[k] = entry(s, c, k);
		if (s->have_anchor && s->sel[k] != s->asel[k]) {
			if (n < 2)
				d[n] = k;
			n++;
		}
	}
	if (!s->have_anchor || n > 2)
		return surrogate_full(s, s->sel);
	const double *G = s->G;
	size_t U = (size_t)s->U;
	double v = s->amse;
	for (int i = 0; i < n; i++) {
		size_t u = (size_t)s->asel[d[i]], u2 = (size_t)s->sel[d[i]];
		v += s->lin[u2] - s->lin[u] + 2 * (s->ah[u2] - s->ah[u]) + G[u2 * U + u2] - 2 * G[u2 * U + u] + G[u * U + u];
	}
	if (n == 2) {
		size_t u = (size_t)s->asel[d[0]], u2 = (size_t)s->sel[d[0]];
		size_t w = (size_t)s->asel[d[1]], w2 = (size_t)s->sel[d[1]];
		v += 2 * (G[u2 * U + w2] - G[u2 * U + w] - G[u * U + w2] + G[u * U + w]);
	}
	return v;
}

/* Prices c. MPQX_ERANGE when c cannot be built (then *p marks it as not fitting). */
static int price(struct mpqx_search *s, const struct mpqx_config *c, const struct budget *b, struct price *p,
		 struct mpqx_err *err)
{
	struct mpqx_cost t = {0};
	for (int l = 0; l < s->L; l++) {
		const struct mpqx_cost *e = cc_find(&s->cc, ckey(s, c, l));
		if (!e) {
			int rc = s->have_top ? fill_layer(s, c, l, err) : fill(s, c, err);
			if (rc) {
				memset(p, 0, sizeof *p);
				p->mse = INFINITY;
				p->viol = INFINITY;
				return rc;
			}
			e = cc_find(&s->cc, ckey(s, c, l));
		}
		t.lut += e->lut;
		t.lutram += e->lutram;
		t.ff += e->ff;
		t.bram18 += e->bram18;
		t.dsp += e->dsp;
		t.cycles += e->cycles;
	}
	t.lut += s->top.lut;
	t.lutram += s->top.lutram;
	t.ff += s->top.ff;
	t.bram18 += s->top.bram18;
	t.dsp += s->top.dsp;
	t.cycles += s->top.cycles;
	s->priced++;
	p->mse = surrogate(s, c);

	/* iCE40: logic cells alone (the lutram slot holds SPRAM blocks) */
	p->used[MPQX_RES_LUT] = (double)(t.lut + (s->dev.fam == MPQX_FAMILY_ICE40 ? 0 : t.lutram));
	p->used[MPQX_RES_LUTRAM] = (double)t.lutram;
	p->used[MPQX_RES_FF] = (double)t.ff;
	p->used[MPQX_RES_BRAM] = (double)t.bram18 / 2.0;
	p->used[MPQX_RES_DSP] = (double)t.dsp;
	p->lat = (double)t.cycles / s->dev.clock_mhz;
	double vl = b->lat > 0 ? over(p->lat, b->lat) : 0;
	int n_over = vl > 0, lut_over = 0, bram_over = 0;
	p->viol = vl;
	for (int r = 0; r < MPQX_RES_COUNT; r++) {
		double v = over(p->used[r], b->cap[r]);
		p->viol += v;
		n_over += v > 0;
		if (v > 0 && r == MPQX_RES_LUT)
			lut_over = 1;
		if (v > 0 && r == MPQX_RES_BRAM)
			bram_over = 1;
	}
	p->fits = n_over == 0;
	p->ok_except[MPQX_FRONT_LUT] = n_over == lut_over;
	p->ok_except[MPQX_FRONT_BRAM] = n_over == bram_over;
	p->ok_except[MPQX_FRONT_LATENCY] = n_over == (vl > 0);
	return MPQX_OK;
}

static void set_budget(const struct mpqx_search *s, const struct mpqx_search_opts *o, struct budget *b)
{
	const struct mpqx_device *d = &s->dev;
	double cap[MPQX_RES_COUNT] = {(double)d->lut, (double)d->lutram, (double)d->ff, d->bram18 / 2.0, (double)d->dsp};
	for (int r = 0; r < MPQX_RES_COUNT; r++) {
		b->cap[r] = cap[r] * (1 - o->margin);
		if (o->limit[r] > 0 && o->limit[r] < b->cap[r])
			b->cap[r] = o->limit[r];
	}
	b->lat = o->latency_us > 0 ? o->latency_us : 0;
}

/* ---- exact evaluation ---- */

/* The exact cache's key of c: per layer the weight bits with the weights' granularity above them (bit 5)
 * and the output bits with the calibration method above them (bits 5, 6), everything the MSE depends on. */
static void bits_of(const struct mpqx_search *s, const struct mpqx_config *c, signed char *bits)
{
	for (int l = 0; l < s->L; l++) {
		const struct mpqx_layer_cfg *x = &c->layers[l];
		bits[2 * l] = (signed char)(s->li[l].has_w ? x->w_bits | (int)x->w_gran << 5 : 0);
		bits[2 * l + 1] = (signed char)(x->a_bits | (int)x->calib << 5);
	}
}

static int exact_find(const struct mpqx_search *s, const signed char *bits)
{
	for (int i = 0; i < s->n_ex; i++)
		if (memcmp(s->ex[i].bits, bits, (size_t)s->L * 2) == 0)
			return i;
	return -1;
}

/* The engine's MSE of c, without the cache; pred (when not NULL) gets the first forecast value of every
 * test window, normalised. */
static int run_engine(struct mpqx_search *s, const struct mpqx_config *c, double *mse, float *pred,
		      struct mpqx_err *err)
{
	struct mpqx_qmodel *q = NULL;
	int rc = quant_build(s->m, s->f, c, &q, err);
	if (rc)
		return rc;
	struct mpqx_eval_result r;
	double t0 = now_ms();
	rc = ieval_run(s->ev, q, c, false, &r, err);
	if (!rc && pred) {
		int out = s->m->output;
		const struct mpqx_qparam *po = &q->l[out].out;
		for (int w = 0; w < r.windows; w++)
			pred[w] = (float)(po->s * (ieval_output(s->ev, out, w)[0] - po->z));
	}
	quant_free(q);
	s->exact_ms += now_ms() - t0;
	s->exact_runs++;
	if (!rc)
		*mse = r.mse;
	return rc;
}

int search_exact(struct mpqx_search *s, const struct mpqx_config *c, double *mse, struct mpqx_err *err)
{
	if (c->n_layers != s->L)
		return err_set(err, MPQX_EINPUT, "config has %d layers, %s has %d", c->n_layers, s->m->name, s->L);
	signed char *bits = malloc((size_t)s->L * 2);
	if (!bits)
		return err_set(err, MPQX_ENOMEM, "out of memory");
	bits_of(s, c, bits);
	int i = exact_find(s, bits);
	if (i >= 0) {
		*mse = s->ex[i].mse;
		s->ex[i].run = s->run;
		free(bits);
		return MPQX_OK;
	}
	int rc = run_engine(s, c, mse, NULL, err);
	if (rc || s->n_ex >= EXACT_CACHE_MAX) {
		free(bits);
		return rc;
	}
	if (s->n_ex % 64 == 0) {
		struct exact *n = realloc(s->ex, sizeof *n * (size_t)(s->n_ex + 64));
		if (!n) {
			free(bits);
			return MPQX_OK;
		}
		s->ex = n;
	}
	s->ex[s->n_ex].bits = bits;
	s->ex[s->n_ex].mse = *mse;
	s->ex[s->n_ex].run = s->run;
	s->n_ex++;
	return MPQX_OK;
}

/* true when this run has evaluated c: what earlier runs did is only a cache, so that a run's path does
 * not depend on them. */
static bool known_exact(const struct mpqx_search *s, const struct mpqx_config *c, signed char *scratch)
{
	bits_of(s, c, scratch);
	int i = exact_find(s, scratch);
	return i >= 0 && s->ex[i].run == s->run;
}

/* ---- sensitivity ---- */

/* The float model's MSE on the search's windows (fref has the test part's). */
static double float_mse(const struct mpqx_search *s)
{
	struct mpqx_forward fw;
	if (forward_init(&fw, s->m))
		return NAN;
	double se = 0;
	int W = s->d->windows[MPQX_TEST];
	for (int w = 0; w < W; w++) {
		double e = forward_run(&fw, dataset_window(s->d, MPQX_TEST, w))[0] - dataset_target(s->d, MPQX_TEST, w);
		se += e * e;
	}
	forward_fini(&fw);
	return W > 0 ? se / W : NAN;
}

/* The reference configuration: every layer at this many bits. Close to the float model (uniform 12 and
 * 16 bits differ by well under 1% of MSE on the samples) and on the engine's fast 16-bit path, unlike 16
 * bits (six times slower). A layer above it is taken to add no error of its own. */
#define REF_BITS 12
/* A layer's deviation has vanished when its mean square falls below this share of the reference MSE
 * twice in a row; the higher bits are then extrapolated (the deviation halves with every bit). */
#define SENS_TINY 1e-4

static double dot(const float *a, const float *b, int n)
{
	double v = 0;
	for (int i = 0; i < n; i++)
		v += (double)a[i] * b[i];
	return v;
}

int search_sensitivity(struct mpqx_search *s, const struct mpqx_sensitivity **out, struct mpqx_err *err)
{
	if (s->have_sens) {
		*out = &s->sens;
		return MPQX_OK;
	}
	double t0 = now_ms();
	long runs0 = s->exact_runs;
	struct mpqx_sensitivity sn = {0};
	struct mpqx_config c = {0};
	int L = s->L, W = s->d->windows[MPQX_TEST], U = s->U, rc = MPQX_OK;
	float **dv = calloc((size_t)U, sizeof *dv); /* delta_u, NULL for zero */
	float *yref = malloc(sizeof *yref * (size_t)W + 1), *y = malloc(sizeof *y * (size_t)W + 1);
	float *r = malloc(sizeof *r * (size_t)W + 1);
	double *lin = calloc((size_t)U, sizeof *lin), *G = calloc((size_t)U * U, sizeof *G);
	sn.n_layers = L;
	sn.ref_bits = REF_BITS;
	sn.mse_float = s->split == MPQX_TEST ? s->f->mse : float_mse(s);
	sn.dw = calloc((size_t)L, sizeof *sn.dw);
	sn.da = calloc((size_t)L, sizeof *sn.da);
	sn.mw = calloc((size_t)L, sizeof *sn.mw);
	sn.ma = calloc((size_t)L, sizeof *sn.ma);
	if (!dv || !yref || !y || !r || !lin || !G || !sn.dw || !sn.da || !sn.mw || !sn.ma ||
	    config_init(&c, s->m, sn.ref_bits)) {
		rc = err_set(err, MPQX_ENOMEM, "out of memory");
		goto done;
	}
	ieval_set_sqnr(s->ev, false);
	if ((rc = run_engine(s, &c, &sn.mse_ref, yref, err)))
		goto done;
	for (int w = 0; w < W; w++)
		r[w] = yref[w] - dataset_target(s->d, MPQX_TEST, w);
	double tiny = SENS_TINY * sn.mse_ref;
	for (int k = 0; k < s->nbv; k++) {
		int l = s->bv_l[k];
		bool wt = s->bv_w[k];
		double *d = wt ? sn.dw[l] : sn.da[l];
		bool *meas = wt ? sn.mw[l] : sn.ma[l];
		int *field = wt ? &c.layers[l].w_bits : &c.layers[l].a_bits;
		int small = 0, b, last = -1;
		for (b = MPQX_BITS_MIN; b < sn.ref_bits; b++) {
			if (cancelled(s)) {
				rc = cancel_err(err);
				goto done;
			}
			*field = b;
			double mse;
			if ((rc = run_engine(s, &c, &mse, y, err)))
				goto done;
			float *v = malloc(sizeof *v * (size_t)W + 1);
			if (!v) {
				rc = err_set(err, MPQX_ENOMEM, "out of memory");
				goto done;
			}
			for (int w = 0; w < W; w++)
				v[w] = y[w] - yref[w];
			dv[k * NB + b] = v;
			d[b] = mse - sn.mse_ref;
			meas[b] = true;
			last = b;
			small = dot(v, v, W) / W <= tiny ? small + 1 : 0;
			if (small >= 2)
				break;
		}
		*field = sn.ref_bits;
		for (int x = last + 1; last >= 0 && x < sn.ref_bits; x++) {
			float *v = malloc(sizeof *v * (size_t)W + 1);
			if (!v) {
				rc = err_set(err, MPQX_ENOMEM, "out of memory");
				goto done;
			}
			const float *p = dv[k * NB + x - 1];
			for (int w = 0; w < W; w++)
				v[w] = p[w] * 0.5f;
			dv[k * NB + x] = v;
		}
		meas[sn.ref_bits] = true;
	}
	/* The quadratic form. */
	for (int u = 0; u < U; u++) {
		if (!dv[u])
			continue;
		if (cancelled(s)) {
			rc = cancel_err(err);
			goto done;
		}
		lin[u] = 2 * dot(r, dv[u], W) / W;
		for (int v = u; v < U; v++)
			if (dv[v])
				G[(size_t)u * U + v] = G[(size_t)v * U + u] = dot(dv[u], dv[v], W) / W;
	}
	for (int k = 0; k < s->nbv; k++) {
		int l = s->bv_l[k];
		double *d = s->bv_w[k] ? sn.dw[l] : sn.da[l];
		const bool *meas = s->bv_w[k] ? sn.mw[l] : sn.ma[l];
		for (int b = MPQX_BITS_MIN; b < sn.ref_bits; b++)
			if (!meas[b]) {
				size_t u = (size_t)k * NB + (size_t)b;
				d[b] = lin[u] + G[u * U + u];
			}
	}
	/* Leave the engine at the reference (each run recomputes what differs from the last). */
	double dummy;
	if ((rc = run_engine(s, &c, &dummy, NULL, err)))
		goto done;
	sn.runs = s->exact_runs - runs0;
	sn.ms = now_ms() - t0;
done:
	config_fini(&c);
	for (int u = 0; dv && u < U; u++)
		free(dv[u]);
	free(dv);
	free(yref);
	free(y);
	free(r);
	if (rc) {
		free(lin);
		free(G);
		sens_fini(&sn);
		return rc;
	}
	pthread_mutex_lock(&s->mu);
	s->lin = lin;
	s->G = G;
	s->sens = sn;
	s->have_sens = true;
	pthread_mutex_unlock(&s->mu);
	*out = &s->sens;
	return MPQX_OK;
}

double search_sens_step(const struct mpqx_sensitivity *sn, const struct mpqx_config *c, int l, bool weights)
{
	if (!sn || l < 0 || l >= sn->n_layers)
		return 0;
	int b = weights ? c->layers[l].w_bits : c->layers[l].a_bits;
	if (b <= MPQX_BITS_MIN || b > MPQX_BITS_MAX)
		return 0;
	const double *d = weights ? sn->dw[l] : sn->da[l];
	return d[b - 1] - d[b];
}

/* ---- the run: variables, moves, finalists, fronts ---- */

enum vkind { V_W, V_A, V_BUF, V_ROM, V_MULT };

struct var {
	int l;
	enum vkind k;
	int n;
	int vals[NB];
};

static int var_get(const struct mpqx_config *c, const struct var *v)
{
	const struct mpqx_layer_cfg *x = &c->layers[v->l];
	switch (v->k) {
	case V_W:
		return x->w_bits;
	case V_A:
		return x->a_bits;
	case V_BUF:
		return (int)x->buffer;
	case V_MULT:
		return (int)x->mult;
	default:
		return (int)x->rom;
	}
}

static void var_set(struct mpqx_config *c, const struct var *v, int val)
{
	struct mpqx_layer_cfg *x = &c->layers[v->l];
	switch (v->k) {
	case V_W:
		x->w_bits = val;
		break;
	case V_A:
		x->a_bits = val;
		break;
	case V_BUF:
		x->buffer = (enum mpqx_storage)val;
		break;
	case V_MULT:
		x->mult = (enum mpqx_mult)val;
		break;
	default:
		x->rom = (enum mpqx_storage)val;
		break;
	}
}

static bool is_bits(const struct var *v)
{
	return v->k == V_W || v->k == V_A;
}

/* A configuration kept by value: its layer settings. */
struct kept {
	struct mpqx_layer_cfg *lc;
	struct price p;
	double x; /* front: the resource */
};

struct front {
	struct kept *pt; /* by increasing x, decreasing mse */
	int n, cap;
};

struct run {
	struct mpqx_search *s;
	const struct mpqx_search_opts *o;
	struct budget b;
	struct var *v;
	int nv;
	struct kept *fin; /* finalists by increasing surrogate mse */
	int n_fin, k_fin;
	struct front fr[MPQX_FRONT_COUNT];
	int rc;
	struct mpqx_err *err;
	long range_errors;
};

static size_t lc_size(const struct run *R)
{
	return sizeof(struct mpqx_layer_cfg) * (size_t)R->s->L;
}

static void kept_fini(struct kept *k)
{
	free(k->lc);
	k->lc = NULL;
}

static void front_add(struct run *R, int f, const struct mpqx_config *c, const struct price *p)
{
	struct front *fr = &R->fr[f];
	double x = front_x(p, f), y = p->mse;
	/* i: the last point with x <= the new x (the least mse among those). */
	int lo = 0, hi = fr->n;
	while (lo < hi) {
		int mid = (lo + hi) / 2;
		if (fr->pt[mid].x <= x)
			lo = mid + 1;
		else
			hi = mid;
	}
	int i = lo - 1;
	if (i >= 0 && fr->pt[i].p.mse <= y)
		return;
	int start = i + 1;
	while (start > 0 && fr->pt[start - 1].x >= x)
		start--;
	int end = i + 1;
	while (end < fr->n && fr->pt[end].p.mse >= y)
		end++;
	struct mpqx_layer_cfg *lc = malloc(lc_size(R));
	if (!lc)
		return;
	memcpy(lc, c->layers, lc_size(R));
	for (int j = start; j < end; j++)
		kept_fini(&fr->pt[j]);
	int removed = end - start;
	if (removed == 0) {
		if (fr->n >= FRONT_MAX) {
			free(lc);
			return;
		}
		if (fr->n == fr->cap) {
			int nc = fr->cap ? fr->cap * 2 : 64;
			struct kept *np = realloc(fr->pt, sizeof *np * (size_t)nc);
			if (!np) {
				free(lc);
				return;
			}
			fr->pt = np;
			fr->cap = nc;
		}
		memmove(fr->pt + start + 1, fr->pt + start, sizeof *fr->pt * (size_t)(fr->n - start));
		fr->n++;
	} else if (removed > 1) {
		memmove(fr->pt + start + 1, fr->pt + end, sizeof *fr->pt * (size_t)(fr->n - end));
		fr->n -= removed - 1;
	}
	fr->pt[start] = (struct kept){lc, *p, x};
}

/* Bit settings in which two configurations differ. */
static int bit_distance(const struct run *R, const struct mpqx_layer_cfg *a, const struct mpqx_layer_cfg *b)
{
	int d = 0;
	for (int l = 0; l < R->s->L; l++)
		d += (a[l].a_bits != b[l].a_bits) + (R->s->li[l].has_w && a[l].w_bits != b[l].w_bits);
	return d;
}

/* The finalists: the best configurations that fit by surrogate, kept apart from one another (none within
 * one bit setting of a better one), so that the exact evaluation sees several regions of the space; the
 * neighbours of the best are the exact polish's. */
static void fin_add(struct run *R, const struct mpqx_config *c, const struct price *p)
{
	if (R->n_fin == R->k_fin && p->mse >= R->fin[R->n_fin - 1].p.mse)
		return;
	for (int i = 0; i < R->n_fin; i++)
		if (R->fin[i].p.mse <= p->mse && bit_distance(R, R->fin[i].lc, c->layers) <= 1)
			return;
	struct mpqx_layer_cfg *lc = malloc(lc_size(R));
	if (!lc)
		return;
	memcpy(lc, c->layers, lc_size(R));
	int k = 0;
	for (int i = 0; i < R->n_fin; i++) {
		if (bit_distance(R, R->fin[i].lc, lc) <= 1)
			kept_fini(&R->fin[i]); /* worse and next to the new one */
		else
			R->fin[k++] = R->fin[i];
	}
	R->n_fin = k;
	if (R->n_fin == R->k_fin)
		kept_fini(&R->fin[--R->n_fin]);
	int i = R->n_fin;
	while (i > 0 && R->fin[i - 1].p.mse > p->mse) {
		R->fin[i] = R->fin[i - 1];
		i--;
	}
	R->fin[i] = (struct kept){lc, *p, 0};
	R->n_fin++;
}

/* Prices c and records it in the finalists and the fronts. false on a hard error (R->rc). */
static bool rprice(struct run *R, const struct mpqx_config *c, struct price *p)
{
	int rc = price(R->s, c, &R->b, p, R->err);
	if (rc == MPQX_ERANGE) {
		R->range_errors++;
		return true; /* not buildable: never fits */
	}
	if (rc) {
		R->rc = rc;
		return false;
	}
	if (p->fits)
		fin_add(R, c, p);
	for (int f = 0; f < MPQX_FRONT_COUNT; f++)
		if (p->ok_except[f])
			front_add(R, f, c, p);
	return true;
}

static int build_vars(struct run *R, const struct mpqx_search_opts *o)
{
	struct mpqx_search *s = R->s;
	R->v = calloc((size_t)s->L * 5, sizeof *R->v);
	if (!R->v)
		return MPQX_ENOMEM;
	int wb[NB], nw = o->n_wbits, ab[NB], na = o->n_abits;
	if (nw <= 0)
		for (nw = 0; nw <= MPQX_BITS_MAX - MPQX_BITS_MIN; nw++)
			wb[nw] = MPQX_BITS_MIN + nw;
	else
		memcpy(wb, o->wbits, sizeof(int) * (size_t)nw);
	if (na <= 0)
		for (na = 0; na <= MPQX_BITS_MAX - MPQX_BITS_MIN; na++)
			ab[na] = MPQX_BITS_MIN + na;
	else
		memcpy(ab, o->abits, sizeof(int) * (size_t)na);
	for (int l = 0; l < s->L; l++) {
		const struct linfo *li = &s->li[l];
		if (li->has_w) {
			struct var *v = &R->v[R->nv++];
			*v = (struct var){.l = l, .k = V_W, .n = nw};
			memcpy(v->vals, wb, sizeof(int) * (size_t)nw);
		}
		struct var *v = &R->v[R->nv++];
		*v = (struct var){.l = l, .k = V_A, .n = na};
		memcpy(v->vals, ab, sizeof(int) * (size_t)na);
		if (o->keep_storage)
			continue;
		if (li->has_buf && s->have_dev && device_storage_ok(&s->dev, MPQX_STORE_SPRAM, false))
			R->v[R->nv++] = (struct var){.l = l, .k = V_BUF, .n = 3,
						     .vals = {MPQX_STORE_BLOCK, MPQX_STORE_DIST, MPQX_STORE_SPRAM}};
		else if (li->has_buf)
			R->v[R->nv++] = (struct var){.l = l, .k = V_BUF, .n = 2, .vals = {MPQX_STORE_BLOCK, MPQX_STORE_DIST}};
		if (li->has_rom)
			R->v[R->nv++] = (struct var){.l = l, .k = V_ROM, .n = 2, .vals = {MPQX_STORE_BLOCK, MPQX_STORE_DIST}};
		if (li->has_mult)
			R->v[R->nv++] = s->have_dev && s->dev.dsp == 0
						? (struct var){.l = l, .k = V_MULT, .n = 1, .vals = {MPQX_MULT_LOGIC}}
						: (struct var){.l = l, .k = V_MULT, .n = 2, .vals = {MPQX_MULT_DSP, MPQX_MULT_LOGIC}};
	}
	return MPQX_OK;
}

/* Index of c's value of v among its choices, or -1. */
static int var_index(const struct mpqx_config *c, const struct var *v)
{
	int x = var_get(c, v);
	for (int i = 0; i < v->n; i++)
		if (v->vals[i] == x)
			return i;
	return -1;
}

/* Every bit variable at its choice i (clamped to its range: -1 = the last). */
static void set_uniform(struct run *R, struct mpqx_config *c, int i)
{
	for (int j = 0; j < R->nv; j++) {
		const struct var *v = &R->v[j];
		if (!is_bits(v))
			continue;
		int k = i < 0 || i >= v->n ? v->n - 1 : i;
		var_set(c, v, v->vals[k]);
	}
}

/* Replaces auto storage by what auto resolves to (the storage variables take block or distributed). */
static int resolve_storage(struct run *R, struct mpqx_config *c)
{
	struct mpqx_search *s = R->s;
	if (R->o->keep_storage)
		return MPQX_OK;
	struct mpqx_qmodel *q = NULL;
	int rc = quant_build(s->m, s->f, c, &q, R->err);
	if (rc)
		return rc;
	for (int l = 0; l < s->L; l++) {
		const struct mpqx_device *dev = s->have_dev ? &s->dev : NULL;
		if (c->layers[l].buffer == MPQX_STORE_AUTO)
			c->layers[l].buffer = estimate_resolve_buffer_on(q, c, l, dev);
		if (c->layers[l].rom == MPQX_STORE_AUTO)
			c->layers[l].rom = estimate_resolve_rom_on(q, c, l, dev);
		if (c->layers[l].mult == MPQX_MULT_AUTO)
			c->layers[l].mult = estimate_resolve_mult_on(q, c, l, dev);
	}
	quant_free(q);
	return MPQX_OK;
}

/* Greedy repair: until c fits, the move that removes the most overshoot per surrogate MSE added (a move
 * that adds none goes first). Bit moves only go down; storage_only: storage moves alone. Returns true when
 * c fits. */
static bool repair(struct run *R, struct mpqx_config *c, struct price *p, bool storage_only)
{
	while (!p->fits && R->rc == MPQX_OK && !cancelled(R->s)) {
		set_anchor(R->s, c);
		int bj = -1, bv = 0;
		double bscore = -1, bdv = 0;
		struct price bp = {0}, q;
		for (int j = 0; j < R->nv; j++) {
			const struct var *v = &R->v[j];
			int cur = var_get(c, v);
			for (int i = 0; i < v->n; i++) {
				int x = v->vals[i];
				if (x == cur || (is_bits(v) && (x > cur || storage_only)))
					continue;
				var_set(c, v, x);
				bool ok = rprice(R, c, &q);
				var_set(c, v, cur);
				if (!ok)
					return false;
				double dv = p->viol - q.viol;
				if (!(dv > 1e-12))
					continue;
				double dm = q.mse - p->mse;
				double score = dm <= 0 ? INFINITY : dv / dm;
				if (score > bscore || (score == bscore && dv > bdv)) {
					bscore = score;
					bdv = dv;
					bj = j;
					bv = x;
					bp = q;
				}
			}
		}
		if (bj < 0)
			return false;
		var_set(c, &R->v[bj], bv);
		*p = bp;
	}
	return p->fits;
}

/* Local search on the surrogate among configurations that fit: the best single move (a variable to any of
 * its values), else the best pair of moves (each variable within two steps of its value, or its storage
 * flipped). */
struct move {
	int j, x;
};

static void improve(struct run *R, struct mpqx_config *c, struct price *p)
{
	const double eps = 1e-15;
	struct move *mv = malloc(sizeof *mv * (size_t)R->nv * 4 + 1);
	if (!mv) {
		R->rc = err_set(R->err, MPQX_ENOMEM, "out of memory");
		return;
	}
	while (R->rc == MPQX_OK && !cancelled(R->s)) {
		set_anchor(R->s, c);
		int bj = -1, bv = 0, bj2 = -1, bv2 = 0;
		struct price bp = *p, q;
		for (int j = 0; j < R->nv; j++) {
			const struct var *v = &R->v[j];
			if (!is_bits(v))
				continue;
			int cur = var_get(c, v);
			for (int i = 0; i < v->n; i++) {
				if (v->vals[i] == cur)
					continue;
				var_set(c, v, v->vals[i]);
				bool ok = rprice(R, c, &q);
				var_set(c, v, cur);
				if (!ok)
					goto out;
				if (q.fits && q.mse < bp.mse - eps) {
					bp = q;
					bj = j;
					bv = v->vals[i];
				}
			}
		}
		if (bj < 0) {
			int nm = 0;
			for (int j = 0; j < R->nv; j++) {
				const struct var *v = &R->v[j];
				int ci = var_index(c, v);
				for (int d = -2; d <= 2; d++) {
					int k = ci + d;
					if (d == 0 || ci < 0 || k < 0 || k >= v->n || (!is_bits(v) && (d < -1 || d > 1)))
						continue;
					mv[nm++] = (struct move){j, v->vals[k]};
				}
			}
			for (int a = 0; a < nm; a++) {
				const struct var *va = &R->v[mv[a].j];
				int ca = var_get(c, va);
				var_set(c, va, mv[a].x);
				for (int b = a + 1; b < nm; b++) {
					if (mv[b].j == mv[a].j)
						continue;
					const struct var *vb = &R->v[mv[b].j];
					int cb = var_get(c, vb);
					var_set(c, vb, mv[b].x);
					bool ok = rprice(R, c, &q);
					var_set(c, vb, cb);
					if (!ok) {
						var_set(c, va, ca);
						goto out;
					}
					if (q.fits && q.mse < bp.mse - eps) {
						bp = q;
						bj = mv[a].j;
						bv = mv[a].x;
						bj2 = mv[b].j;
						bv2 = mv[b].x;
					}
				}
				var_set(c, va, ca);
			}
		}
		if (bj < 0)
			break;
		var_set(c, &R->v[bj], bv);
		if (bj2 >= 0)
			var_set(c, &R->v[bj2], bv2);
		*p = bp;
	}
out:
	free(mv);
}

/* Coordinate descent on mse + lambda * x / scale among configurations that meet every resource but the
 * front's own (which the fronts then record). */
static void sweep(struct run *R, struct mpqx_config *c, int f, double lambda, double scale)
{
	struct price p, q;
	if (!rprice(R, c, &p) || !p.ok_except[f])
		return;
	for (int pass = 0; pass < 8 && R->rc == MPQX_OK && !cancelled(R->s); pass++) {
		bool moved = false;
		for (int j = 0; j < R->nv; j++) {
			const struct var *v = &R->v[j];
			int cur = var_get(c, v), best = cur;
			if (is_bits(v))
				set_anchor(R->s, c);
			double bj = p.mse + lambda * front_x(&p, f) / scale;
			struct price bp = p;
			for (int i = 0; i < v->n; i++) {
				if (v->vals[i] == cur)
					continue;
				var_set(c, v, v->vals[i]);
				bool ok = rprice(R, c, &q);
				var_set(c, v, cur);
				if (!ok)
					return;
				double J = q.mse + lambda * front_x(&q, f) / scale;
				if (q.ok_except[f] && J < bj - 1e-15 * fabs(bj)) {
					bj = J;
					best = v->vals[i];
					bp = q;
				}
			}
			if (best != cur) {
				var_set(c, v, best);
				p = bp;
				moved = true;
			}
		}
		if (!moved)
			break;
	}
}

/* The least use of resource r (or latency, r = MPQX_RES_COUNT) the space allows, by coordinate descent
 * from the cheapest bits: for the message when nothing fits. */
static double least_use(struct run *R, struct mpqx_config *c, int r)
{
	struct price p, q;
	set_uniform(R, c, 0);
	if (!rprice(R, c, &p))
		return NAN;
	double best = r < MPQX_RES_COUNT ? p.used[r] : p.lat;
	for (int pass = 0; pass < 4; pass++) {
		bool moved = false;
		for (int j = 0; j < R->nv; j++) {
			const struct var *v = &R->v[j];
			int cur = var_get(c, v), bx = cur;
			for (int i = 0; i < v->n; i++) {
				if (v->vals[i] == cur)
					continue;
				var_set(c, v, v->vals[i]);
				if (!rprice(R, c, &q))
					return NAN;
				var_set(c, v, cur);
				double u = r < MPQX_RES_COUNT ? q.used[r] : q.lat;
				if (u < best) {
					best = u;
					bx = v->vals[i];
				}
			}
			if (bx != cur) {
				var_set(c, v, bx);
				moved = true;
			}
		}
		if (!moved)
			break;
	}
	return best;
}

static const char *res_label(int r)
{
	static const char *const n[MPQX_RES_COUNT + 1] = {"LUT", "LUTRAM", "FF", "BRAM tiles", "DSP", "latency"};
	return n[r];
}

static void explain_none(struct run *R, struct mpqx_config *c, struct mpqx_search_result *res)
{
	char buf[sizeof res->why] = "";
	size_t o = 0;
	for (int r = 0; r <= MPQX_RES_COUNT; r++) {
		double cap = r < MPQX_RES_COUNT ? R->b.cap[r] : R->b.lat;
		if (r == MPQX_RES_COUNT && cap <= 0)
			continue;
		double u = least_use(R, c, r);
		if (isnan(u) || u <= cap)
			continue;
		int n = snprintf(buf + o, sizeof buf - o, "%s%s needs at least %.6g, the budget is %.6g", o ? "; " : "",
				 res_label(r), u, cap);
		if (n > 0 && (size_t)n < sizeof buf - o)
			o += (size_t)n;
	}
	if (!o)
		snprintf(buf, sizeof buf, "each resource can be met alone, but no configuration found meets them all at once");
	snprintf(res->why, sizeof res->why, "%s", buf);
}

static int point_from(struct run *R, const struct mpqx_layer_cfg *lc, const struct mpqx_config *base,
		      const struct price *p, struct mpqx_search_point *pt)
{
	memset(pt, 0, sizeof *pt);
	if (config_copy(&pt->cfg, base))
		return MPQX_ENOMEM;
	memcpy(pt->cfg.layers, lc, lc_size(R));
	pt->mse = p->mse;
	pt->mse_surrogate = p->mse;
	memcpy(pt->used, p->used, sizeof pt->used);
	pt->latency_us = p->lat;
	pt->fits = p->fits;
	return MPQX_OK;
}

static void point_fini(struct mpqx_search_point *p)
{
	config_fini(&p->cfg);
}

/* Per-channel weights tried on best (opts.channel): each linear or affine layer in turn, evaluated
 * exactly, kept when the configuration still fits and its MSE is lower. */
static int try_channel(struct run *R, struct mpqx_search_point *best)
{
	struct mpqx_search *s = R->s;
	struct mpqx_config c = {0};
	if (config_copy(&c, &best->cfg))
		return MPQX_ENOMEM;
	int rc = MPQX_OK;
	for (int l = 0; l < s->L && !rc && !cancelled(s); l++) {
		if (!op_class(s->m->layers[l].op)->w_channel || c.layers[l].w_gran == MPQX_WGRAN_CHANNEL)
			continue;
		c.layers[l].w_gran = MPQX_WGRAN_CHANNEL;
		struct price p;
		double mse = INFINITY;
		bool keep = false;
		if (!rprice(R, &c, &p)) {
			rc = R->rc;
			break;
		}
		if (p.fits) {
			rc = search_exact(s, &c, &mse, R->err);
			if (rc == MPQX_ERANGE)
				rc = MPQX_OK;
			else if (!rc && mse < best->mse)
				keep = true;
		}
		if (keep) {
			struct mpqx_search_point np;
			if ((rc = point_from(R, c.layers, &best->cfg, &p, &np)))
				break;
			np.mse = mse;
			np.exact = true;
			point_fini(best);
			*best = np;
		} else {
			c.layers[l].w_gran = MPQX_WGRAN_TENSOR;
		}
	}
	config_fini(&c);
	return rc;
}

/* Exact hill climbing from best: the most promising feasible neighbours by surrogate (single bit moves,
 * and a one-step rise paired with a compensating move), evaluated exactly, a few per round. */
static int polish(struct run *R, struct mpqx_search_point *best, int budget)
{
	struct mpqx_search *s = R->s;
	enum { PER_ROUND = 8 };
	int used = 0;
	signed char *scratch = malloc((size_t)s->L * 2);
	struct mpqx_config c = {0};
	if (!scratch || config_copy(&c, &best->cfg)) {
		free(scratch);
		config_fini(&c);
		return MPQX_ENOMEM;
	}
	while (used < budget && R->rc == MPQX_OK && !cancelled(s)) {
		/* candidates: (j, x, j2, x2) with their surrogate mse */
		struct cand {
			int j, x, j2, x2;
			double mse;
		} top[PER_ROUND];
		int nt = 0;
		struct price q;
		memcpy(c.layers, best->cfg.layers, lc_size(R));
		set_anchor(s, &c);
		for (int j = 0; j < R->nv; j++) {
			const struct var *v = &R->v[j];
			if (!is_bits(v))
				continue;
			int cur = var_get(&c, v);
			for (int i = 0; i < v->n; i++) {
				int x = v->vals[i];
				if (x == cur)
					continue;
				var_set(&c, v, x);
				bool ok = rprice(R, &c, &q);
				bool pairs = ok && !q.fits && x > cur && i > 0 && v->vals[i - 1] == cur;
				if (ok && q.fits && !known_exact(s, &c, scratch)) {
					struct cand cd = {j, x, -1, 0, q.mse};
					if (nt < PER_ROUND || cd.mse < top[nt - 1].mse) {
						int k = nt < PER_ROUND ? nt++ : nt - 1;
						while (k > 0 && top[k - 1].mse > cd.mse) {
							top[k] = top[k - 1];
							k--;
						}
						top[k] = cd;
					}
				}
				for (int j2 = 0; pairs && j2 < R->nv; j2++) {
					const struct var *v2 = &R->v[j2];
					if (j2 == j)
						continue;
					int cur2 = var_get(&c, v2);
					for (int i2 = 0; i2 < v2->n; i2++) {
						int x2 = v2->vals[i2];
						if (x2 == cur2 || (is_bits(v2) && x2 > cur2))
							continue;
						var_set(&c, v2, x2);
						bool ok2 = rprice(R, &c, &q);
						if (ok2 && q.fits && (nt < PER_ROUND || q.mse < top[nt - 1].mse) &&
						    !known_exact(s, &c, scratch)) {
							struct cand cd = {j, x, j2, x2, q.mse};
							int k = nt < PER_ROUND ? nt++ : nt - 1;
							while (k > 0 && top[k - 1].mse > cd.mse) {
								top[k] = top[k - 1];
								k--;
							}
							top[k] = cd;
						}
						var_set(&c, v2, cur2);
						if (!ok2)
							break;
					}
				}
				var_set(&c, v, cur);
			}
		}
		if (R->rc)
			break;
		bool better = false;
		struct mpqx_layer_cfg *bl = NULL;
		double bm = best->mse;
		struct price bp = {0};
		for (int k = 0; k < nt && used < budget; k++) {
			memcpy(c.layers, best->cfg.layers, lc_size(R));
			var_set(&c, &R->v[top[k].j], top[k].x);
			if (top[k].j2 >= 0)
				var_set(&c, &R->v[top[k].j2], top[k].x2);
			double mse;
			int rc = search_exact(s, &c, &mse, R->err);
			if (rc == MPQX_ERANGE)
				continue;
			if (rc) {
				R->rc = rc;
				break;
			}
			used++;
			if (mse < bm) {
				bm = mse;
				free(bl);
				bl = malloc(lc_size(R));
				if (bl)
					memcpy(bl, c.layers, lc_size(R));
				rprice(R, &c, &bp);
			}
		}
		if (bl) {
			memcpy(best->cfg.layers, bl, lc_size(R));
			free(bl);
			best->mse = bm;
			best->mse_surrogate = bp.mse;
			memcpy(best->used, bp.used, sizeof best->used);
			best->latency_us = bp.lat;
			better = true;
		}
		/* No better neighbour among these: the next round takes the next ones by surrogate. */
		(void)better;
		if (nt == 0)
			break;
	}
	free(scratch);
	config_fini(&c);
	return R->rc;
}

/* The final front f: up to n points spread evenly over the surrogate front, plus the best, evaluated
 * exactly, then filtered again on exact MSE. */
static int final_front(struct run *R, int f, const struct mpqx_config *base, const struct mpqx_search_point *best,
		       struct mpqx_search_result *res)
{
	struct front *fr = &R->fr[f];
	int n = R->o->front_points > 0 ? R->o->front_points : 12;
	int take = fr->n < n ? fr->n : n;
	struct mpqx_search_point *pts = calloc((size_t)take + 1, sizeof *pts);
	if (!pts)
		return MPQX_ENOMEM;
	int np = 0, rc = MPQX_OK;
	for (int k = 0; k < take; k++) {
		int i = take == 1 ? 0 : (int)lround((double)k * (fr->n - 1) / (take - 1));
		if (k > 0 && i == 0)
			continue;
		if ((rc = point_from(R, fr->pt[i].lc, base, &fr->pt[i].p, &pts[np])))
			goto fail;
		np++;
	}
	if (best && best->cfg.layers) {
		if (config_copy(&pts[np].cfg, &best->cfg)) {
			rc = MPQX_ENOMEM;
			goto fail;
		}
		struct mpqx_config tmp = pts[np].cfg;
		pts[np] = *best;
		pts[np].cfg = tmp;
		np++;
	}
	for (int i = 0; i < np; i++) {
		if (cancelled(R->s)) {
			rc = cancel_err(R->err);
			goto fail;
		}
		if (!pts[i].exact) {
			double mse;
			rc = search_exact(R->s, &pts[i].cfg, &mse, R->err);
			if (rc == MPQX_ERANGE) {
				pts[i].mse = INFINITY;
				rc = MPQX_OK;
				continue;
			}
			if (rc)
				goto fail;
			pts[i].mse = mse;
			pts[i].exact = true;
		}
	}
	/* Sort by x, then keep the points that lower the exact MSE. */
	for (int i = 1; i < np; i++) {
		struct mpqx_search_point t = pts[i];
		double xt = f == MPQX_FRONT_LUT ? t.used[MPQX_RES_LUT] : f == MPQX_FRONT_BRAM ? t.used[MPQX_RES_BRAM] : t.latency_us;
		int j = i;
		while (j > 0) {
			const struct mpqx_search_point *u = &pts[j - 1];
			double xu = f == MPQX_FRONT_LUT ? u->used[MPQX_RES_LUT] : f == MPQX_FRONT_BRAM ? u->used[MPQX_RES_BRAM] : u->latency_us;
			if (xu < xt || (xu == xt && u->mse <= t.mse))
				break;
			pts[j] = pts[j - 1];
			j--;
		}
		pts[j] = t;
	}
	int keep = 0;
	double least = INFINITY;
	for (int i = 0; i < np; i++) {
		if (pts[i].mse < least) {
			least = pts[i].mse;
			pts[keep++] = pts[i];
		} else {
			point_fini(&pts[i]);
		}
	}
	res->front[f] = pts;
	res->n_front[f] = keep;
	return MPQX_OK;
fail:
	for (int i = 0; i < np; i++)
		point_fini(&pts[i]);
	free(pts);
	return rc;
}

static void run_fini(struct run *R)
{
	for (int i = 0; i < R->n_fin; i++)
		kept_fini(&R->fin[i]);
	free(R->fin);
	for (int f = 0; f < MPQX_FRONT_COUNT; f++) {
		for (int i = 0; i < R->fr[f].n; i++)
			kept_fini(&R->fr[f].pt[i]);
		free(R->fr[f].pt);
	}
	free(R->v);
}

void search_result_fini(struct mpqx_search_result *res)
{
	if (!res)
		return;
	point_fini(&res->best);
	for (int f = 0; f < MPQX_FRONT_COUNT; f++) {
		for (int i = 0; i < res->n_front[f]; i++)
			point_fini(&res->front[f][i]);
		free(res->front[f]);
	}
	memset(res, 0, sizeof *res);
}

static int check_opts(const struct mpqx_search_opts *o, struct mpqx_err *err)
{
	if (!(o->margin >= 0 && o->margin < 1))
		return err_set(err, MPQX_EINPUT, "search: margin %g: expected 0 <= margin < 1", o->margin);
	if (!(o->latency_us >= 0) || !isfinite(o->latency_us))
		return err_set(err, MPQX_EINPUT, "search: latency bound %g: expected a positive number of us", o->latency_us);
	const int *lists[2] = {o->wbits, o->abits};
	int ns[2] = {o->n_wbits, o->n_abits};
	for (int k = 0; k < 2; k++) {
		if (ns[k] > NB)
			return err_set(err, MPQX_EINPUT, "search: too many bit choices");
		for (int i = 0; i < ns[k]; i++)
			if (lists[k][i] < MPQX_BITS_MIN || lists[k][i] > MPQX_BITS_MAX || (i && lists[k][i] <= lists[k][i - 1]))
				return err_set(err, MPQX_EINPUT, "search: bit choices must rise within %d..%d", MPQX_BITS_MIN,
					       MPQX_BITS_MAX);
	}
	for (int r = 0; r < MPQX_RES_COUNT; r++)
		if (!(o->limit[r] >= 0) || !isfinite(o->limit[r]))
			return err_set(err, MPQX_EINPUT, "search: a resource limit must be a positive number");
	return MPQX_OK;
}

/* Sets up a run on base: device, sensitivities, budget, variables. */
static int run_init(struct mpqx_search *s, struct run *R, const struct mpqx_config *base,
		    const struct mpqx_search_opts *o, struct mpqx_err *err)
{
	memset(R, 0, sizeof *R);
	R->s = s;
	R->o = o;
	R->err = err;
	int rc;
	if (base->n_layers != s->L)
		return err_set(err, MPQX_EINPUT, "config has %d layers, %s has %d", base->n_layers, s->m->name, s->L);
	if ((rc = check_opts(o, err)) || (rc = use_device(s, base->device, err)))
		return rc;
	const struct mpqx_sensitivity *sn;
	if ((rc = search_sensitivity(s, &sn, err)))
		return rc;
	/* No anchor from an earlier run: the surrogate's rounding then follows this run alone, so that the
	 * same base and options give the same result whatever ran before. */
	s->have_anchor = false;
	s->run++;
	set_budget(s, o, &R->b);
	R->k_fin = o->finalists > 0 ? o->finalists : 8;
	R->fin = calloc((size_t)R->k_fin, sizeof *R->fin);
	if (!R->fin || build_vars(R, o))
		return err_set(err, MPQX_ENOMEM, "out of memory");
	return MPQX_OK;
}

int search_price(struct mpqx_search *s, const struct mpqx_config *c, const struct mpqx_search_opts *o,
		 struct mpqx_search_point *pt, struct mpqx_err *err)
{
	struct run R;
	int rc = run_init(s, &R, c, o, err);
	run_fini(&R);
	if (rc)
		return rc;
	struct price p;
	if ((rc = price(s, c, &R.b, &p, err)))
		return rc;
	pt->mse = pt->mse_surrogate = p.mse;
	pt->exact = false;
	memcpy(pt->used, p.used, sizeof pt->used);
	pt->latency_us = p.lat;
	pt->fits = p.fits;
	return MPQX_OK;
}

int search_run(struct mpqx_search *s, const struct mpqx_config *base, const struct mpqx_search_opts *o,
	       struct mpqx_search_result *res, struct mpqx_err *err)
{
	memset(res, 0, sizeof *res);
	res->split = s->split;
	double t0 = now_ms();
	struct run R;
	struct mpqx_config c = {0}, start = {0};
	struct mpqx_layer_cfg *uni[8] = {NULL}; /* the uniform starts that storage alone makes fit */
	int n_uni = 0;
	int rc = run_init(s, &R, base, o, err);
	if (rc)
		goto done;
	long priced0 = s->priced, misses0 = s->misses, exact0 = s->exact_runs;
	double exact_ms0 = s->exact_ms;
	memcpy(res->budget, R.b.cap, sizeof res->budget);
	res->latency_max = R.b.lat;
	if (config_copy(&c, base) || config_copy(&start, base)) {
		rc = err_set(err, MPQX_ENOMEM, "out of memory");
		goto done;
	}
	/* The starts: the top of the range, then uniform configurations down the choices. */
	set_uniform(&R, &start, -1);
	if ((rc = resolve_storage(&R, &start)))
		goto done;
	double ts = now_ms();
	int levels[] = {-1, 8, 6, 4, 12};
	struct price p;
	for (size_t k = 0; k < sizeof levels / sizeof levels[0]; k++) {
		memcpy(c.layers, start.layers, lc_size(&R));
		if (levels[k] >= 0) {
			/* the highest choice at or below levels[k] bits, for every bit variable */
			for (int j = 0; j < R.nv; j++) {
				const struct var *v = &R.v[j];
				if (!is_bits(v))
					continue;
				int x = v->vals[0];
				for (int i = 0; i < v->n; i++)
					if (v->vals[i] <= levels[k])
						x = v->vals[i];
				var_set(&c, v, x);
			}
			if (memcmp(c.layers, start.layers, lc_size(&R)) == 0)
				continue;
		}
		if (!rprice(&R, &c, &p))
			break;
		/* The start with its bits kept, made to fit by its storage alone: evaluated exactly at the end,
		 * so the search never reports worse than a uniform start that some storage makes fit. */
		if (repair(&R, &c, &p, true) && n_uni < (int)(sizeof uni / sizeof uni[0])) {
			if (!(uni[n_uni] = malloc(lc_size(&R)))) {
				rc = err_set(err, MPQX_ENOMEM, "out of memory");
				goto done;
			}
			memcpy(uni[n_uni++], c.layers, lc_size(&R));
		}
		if (repair(&R, &c, &p, false))
			improve(&R, &c, &p);
		if (R.rc || cancelled(s))
			break;
	}
	/* Iterated local search on the surrogate: a few variables of the best so far set at random, then
	 * repair and improve again; the finalists keep the best distinct configurations seen. */
	uint64_t seed = 0x2545f4914f6cdd1dULL;
	long ils0 = s->priced;
	int kickable = 0;
	for (int j = 0; j < R.nv; j++)
		kickable += R.v[j].n > 1;
	for (int it = 0; it < ILS_ROUNDS && kickable && R.n_fin && s->priced - ils0 < ILS_PRICINGS && !R.rc && !cancelled(s); it++) {
		memcpy(c.layers, R.fin[0].lc, lc_size(&R));
		seed = mix(seed + (uint64_t)it);
		int kicks = 2 + (int)(seed % 5);
		for (int k = 0; k < kicks; k++) {
			seed = mix(seed);
			const struct var *v = &R.v[seed % (uint64_t)R.nv];
			if (v->n < 2) {
				k--; /* nothing to kick: another (some variable has choices, or R.n_fin would be 0) */
				continue;
			}
			var_set(&c, v, v->vals[(seed >> 32) % (uint64_t)v->n]);
		}
		if (!rprice(&R, &c, &p))
			break;
		if (repair(&R, &c, &p, false))
			improve(&R, &c, &p);
	}
	/* Lagrangian sweeps for the fronts, from the best found (or the top). */
	if (R.n_fin)
		memcpy(start.layers, R.fin[0].lc, lc_size(&R));
	double scale_mse = s->sens.mse_ref > 0 ? s->sens.mse_ref : 1;
	for (int f = 0; f < MPQX_FRONT_COUNT && !R.rc && !cancelled(s); f++) {
		memcpy(c.layers, start.layers, lc_size(&R));
		struct price p0;
		if (!rprice(&R, &c, &p0))
			break;
		double scale = front_x(&p0, f) > 0 ? front_x(&p0, f) : 1;
		for (int k = 0; k <= 12 && !R.rc && !cancelled(s); k++)
			sweep(&R, &c, f, scale_mse * pow(10, -3 + 0.5 * k), scale);
	}
	if (cancelled(s)) {
		rc = cancel_err(err);
		goto done;
	}
	if ((rc = R.rc))
		goto done;
	res->price_ms = now_ms() - ts;
	res->priced = s->priced - priced0;
	res->cost_misses = s->misses - misses0;
	res->rate = res->price_ms > 0 ? res->priced / (res->price_ms / 1e3) : 0;

	/* Exact: the finalists and the uniform starts that fit, then polish the best. */
	if (R.n_fin) {
		res->best_surrogate_mse = R.fin[0].p.mse;
		int bi = -1;
		double bm = INFINITY;
		for (int i = 0; i < R.n_fin + n_uni; i++) {
			memcpy(c.layers, i < R.n_fin ? R.fin[i].lc : uni[i - R.n_fin], lc_size(&R));
			double mse;
			rc = search_exact(s, &c, &mse, err);
			if (rc == MPQX_ERANGE)
				continue;
			if (rc)
				goto done;
			if (mse < bm) {
				bm = mse;
				bi = i;
			}
		}
		if (bi >= 0) {
			struct price bp;
			memcpy(c.layers, bi < R.n_fin ? R.fin[bi].lc : uni[bi - R.n_fin], lc_size(&R));
			/* rprice may drop finalists (their storage freed): the copy in c is the one to keep */
			if (!rprice(&R, &c, &bp) || (rc = point_from(&R, c.layers, base, &bp, &res->best))) {
				rc = rc ? rc : R.rc;
				goto done;
			}
			res->best.mse = bm;
			res->best.exact = true;
			res->found = true;
			int budget = o->polish >= 0 ? o->polish : 48;
			if ((rc = polish(&R, &res->best, budget)))
				goto done;
			if (o->channel && (rc = try_channel(&R, &res->best)))
				goto done;
			res->best.fits = true;
		}
	}
	/* The candidate, as given: the result is never worse than it. */
	if (o->candidate && o->candidate->n_layers == s->L && !cancelled(s)) {
		struct mpqx_config cc = {0};
		struct price cp;
		if (config_copy(&cc, o->candidate)) {
			rc = err_set(err, MPQX_ENOMEM, "out of memory");
			goto done;
		}
		snprintf(cc.device, sizeof cc.device, "%s", base->device);
		double mse = INFINITY;
		rc = resolve_storage(&R, &cc);
		if (!rc && !rprice(&R, &cc, &cp))
			rc = R.rc ? R.rc : MPQX_ENOMEM;
		if (!rc && cp.fits) {
			rc = search_exact(s, &cc, &mse, err);
			if (rc == MPQX_ERANGE)
				rc = MPQX_OK, mse = INFINITY;
		}
		config_fini(&cc);
		if (rc)
			goto done;
		if (cp.fits && isfinite(mse)) {
			res->candidate_fits = true;
			res->candidate_mse = mse;
			if (!res->found || mse < res->best.mse) {
				point_fini(&res->best);
				memset(&res->best, 0, sizeof res->best);
				if (config_copy(&res->best.cfg, o->candidate)) {
					rc = err_set(err, MPQX_ENOMEM, "out of memory");
					goto done;
				}
				snprintf(res->best.cfg.device, sizeof res->best.cfg.device, "%s", base->device);
				res->best.mse = mse;
				res->best.mse_surrogate = cp.mse;
				res->best.exact = true;
				memcpy(res->best.used, cp.used, sizeof res->best.used);
				res->best.latency_us = cp.lat;
				res->best.fits = true;
				res->found = true;
				res->candidate_best = true;
			}
		}
	}
	if (!res->found)
		explain_none(&R, &c, res);
	for (int f = 0; f < MPQX_FRONT_COUNT; f++)
		if ((rc = final_front(&R, f, base, res->found ? &res->best : NULL, res)))
			goto done;
	/* A front point is evaluated exactly too: one that fits with a lower MSE than the best is the best. */
	for (int f = 0; f < MPQX_FRONT_COUNT; f++)
		for (int i = 0; i < res->n_front[f]; i++) {
			const struct mpqx_search_point *q = &res->front[f][i];
			if (!q->fits || !q->exact || !(q->mse < (res->found ? res->best.mse : INFINITY)))
				continue;
			struct mpqx_config cc = {0};
			if (config_copy(&cc, &q->cfg)) {
				rc = err_set(err, MPQX_ENOMEM, "out of memory");
				goto done;
			}
			point_fini(&res->best);
			res->best = *q;
			res->best.cfg = cc;
			res->found = true;
			res->candidate_best = false;
			res->why[0] = '\0';
		}
	res->exact_runs = s->exact_runs - exact0;
	res->exact_ms = s->exact_ms - exact_ms0;
done:
	res->total_ms = now_ms() - t0;
	if (rc && rc == MPQX_ENOMEM && err && !err->msg[0])
		err_set(err, rc, "out of memory");
	for (int i = 0; i < n_uni; i++)
		free(uni[i]);
	config_fini(&c);
	config_fini(&start);
	run_fini(&R);
	if (rc)
		search_result_fini(res);
	return rc;
}

/* ---- the pricing benchmark ---- */

int search_bench_price(struct mpqx_search *s, const struct mpqx_config *base, const struct mpqx_search_opts *o,
		       double min_ms, double *rate, struct mpqx_err *err)
{
	struct run R;
	struct mpqx_config c = {0};
	int rc = run_init(s, &R, base, o, err);
	if (!rc && config_copy(&c, base))
		rc = err_set(err, MPQX_ENOMEM, "out of memory");
	if (!rc)
		rc = resolve_storage(&R, &c);
	if (rc) {
		config_fini(&c);
		run_fini(&R);
		return rc;
	}
	/* A random walk of single moves, as the search makes them: warm the caches first. */
	uint64_t seed = 0x9e3779b97f4a7c15ULL;
	struct price p;
	long n = 0;
	double t0 = 0, t = 0;
	for (int phase = 0; phase < 2 && !rc; phase++) {
		long count = 0;
		t0 = now_ms();
		do {
			for (int i = 0; i < 256; i++) {
				seed = mix(seed + 0x9e3779b97f4a7c15ULL);
				const struct var *v = &R.v[seed % (uint64_t)R.nv];
				var_set(&c, v, v->vals[(seed >> 32) % (uint64_t)v->n]);
				rc = price(s, &c, &R.b, &p, err);
				if (rc == MPQX_ERANGE)
					rc = MPQX_OK;
				if (rc)
					break;
				count++;
			}
			t = now_ms() - t0;
		} while (!rc && t < (phase ? min_ms : min_ms / 2));
		n = count;
	}
	*rate = t > 0 ? n / (t / 1e3) : 0;
	config_fini(&c);
	run_fini(&R);
	return rc;
}

/* ---- exhaustive enumeration ---- */

void search_exhaustive_fini(struct mpqx_search_exhaustive *x)
{
	if (!x)
		return;
	point_fini(&x->best);
	memset(x, 0, sizeof *x);
}

int search_exhaustive(struct mpqx_search *s, const struct mpqx_config *base, const struct mpqx_search_opts *o,
		      long max_configs, struct mpqx_search_exhaustive *out, struct mpqx_err *err)
{
	memset(out, 0, sizeof *out);
	double t0 = now_ms();
	struct mpqx_search_opts ko = *o;
	ko.keep_storage = true;
	struct run R;
	struct mpqx_config c = {0};
	int *a = NULL, *f = NULL, *dir = NULL, *idx = NULL;
	int rc = run_init(s, &R, base, &ko, err);
	if (rc)
		goto done;
	/* The digits: bit variables with more than one choice, the last layer's first (fastest). */
	int nd = 0;
	idx = calloc((size_t)R.nv + 1, sizeof *idx);
	a = calloc((size_t)R.nv + 1, sizeof *a);
	f = calloc((size_t)R.nv + 2, sizeof *f);
	dir = calloc((size_t)R.nv + 1, sizeof *dir);
	if (!idx || !a || !f || !dir || config_copy(&c, base)) {
		rc = err_set(err, MPQX_ENOMEM, "out of memory");
		goto done;
	}
	double total = 1;
	for (int j = R.nv - 1; j >= 0; j--) {
		const struct var *v = &R.v[j];
		var_set(&c, v, v->vals[0]);
		if (v->n > 1) {
			idx[nd++] = j;
			total *= v->n;
		}
	}
	if (total > (double)max_configs) {
		rc = err_set(err, MPQX_EINPUT, "search: the space has %.4g configurations, more than %ld to enumerate",
			     total, max_configs);
		goto done;
	}
	/* Knuth's loopless reflected mixed-radix Gray code (TAOCP 7.2.1.1, algorithm H). */
	for (int j = 0; j <= nd; j++) {
		f[j] = j;
		dir[j] = 1;
	}
	struct price p;
	ieval_set_sqnr(s->ev, false);
	for (;;) {
		if (cancelled(s)) {
			rc = cancel_err(err);
			goto done;
		}
		out->configs++;
		rc = price(s, &c, &R.b, &p, err);
		if (rc == MPQX_ERANGE) {
			rc = MPQX_OK;
		} else if (rc) {
			goto done;
		} else if (p.fits) {
			double mse;
			rc = run_engine(s, &c, &mse, NULL, err);
			if (rc == MPQX_ERANGE) {
				rc = MPQX_OK;
			} else if (rc) {
				goto done;
			} else {
				out->fit++;
				if (!out->found || mse < out->best.mse) {
					point_fini(&out->best);
					if (config_copy(&out->best.cfg, &c)) {
						rc = err_set(err, MPQX_ENOMEM, "out of memory");
						goto done;
					}
					out->best.mse = mse;
					out->best.mse_surrogate = p.mse;
					out->best.exact = true;
					memcpy(out->best.used, p.used, sizeof p.used);
					out->best.latency_us = p.lat;
					out->best.fits = true;
					out->found = true;
				}
			}
		}
		int j = f[0];
		f[0] = 0;
		if (j == nd)
			break;
		const struct var *v = &R.v[idx[j]];
		a[j] += dir[j];
		var_set(&c, v, v->vals[a[j]]);
		if (a[j] == 0 || a[j] == v->n - 1) {
			dir[j] = -dir[j];
			f[j] = f[j + 1];
			f[j + 1] = j + 1;
		}
	}
done:
	out->ms = now_ms() - t0;
	free(a);
	free(f);
	free(dir);
	free(idx);
	config_fini(&c);
	run_fini(&R);
	if (rc)
		search_exhaustive_fini(out);
	return rc;
}

/* ---- the worker ---- */

static void *job_main(void *arg)
{
	struct mpqx_search *s = arg;
#ifdef SYS_gettid
	/* Below the interface and its evaluation worker. */
	setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), 10);
#endif
	struct mpqx_err err = {0};
	const struct mpqx_sensitivity *sn;
	struct mpqx_search_result res = {0};
	int rc = search_sensitivity(s, &sn, &err);
	if (!rc && s->job_has_base)
		rc = search_run(s, &s->job_base, &s->job_opts, &res, &err);
	pthread_mutex_lock(&s->mu);
	s->job_err = err;
	if (!rc && s->job_has_base) {
		search_result_fini(&s->pending);
		s->pending = res;
		s->have_pending = true;
	} else {
		search_result_fini(&res);
	}
	s->busy = false;
	s->finished = true;
	pthread_mutex_unlock(&s->mu);
	return NULL;
}

int search_start(struct mpqx_search *s, const struct mpqx_config *base, const struct mpqx_search_opts *o,
		 struct mpqx_err *err)
{
	pthread_mutex_lock(&s->mu);
	bool busy = s->busy;
	pthread_mutex_unlock(&s->mu);
	if (busy)
		return err_set(err, MPQX_EINPUT, "a search is already running");
	if (s->started) {
		pthread_join(s->th, NULL);
		s->started = false;
	}
	s->job_has_base = base != NULL;
	if (base && config_copy(&s->job_base, base))
		return err_set(err, MPQX_ENOMEM, "out of memory");
	if (o)
		s->job_opts = *o;
	else
		search_opts_default(&s->job_opts);
	/* The job keeps its own copy of the candidate: the caller's may change while it runs. */
	if (s->job_opts.candidate) {
		if (config_copy(&s->job_cand, s->job_opts.candidate))
			return err_set(err, MPQX_ENOMEM, "out of memory");
		s->job_opts.candidate = &s->job_cand;
	}
	atomic_store(&s->cancel, 0);
	s->busy = true;
	s->finished = false;
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	int prc = pthread_create(&s->th, NULL, job_main, s);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (prc) {
		s->busy = false;
		return err_set(err, MPQX_ENOMEM, "cannot start the search worker");
	}
	s->started = true;
	return MPQX_OK;
}

bool search_busy(struct mpqx_search *s)
{
	pthread_mutex_lock(&s->mu);
	bool b = s->busy;
	pthread_mutex_unlock(&s->mu);
	return b;
}

bool search_poll(struct mpqx_search *s, struct mpqx_err *err)
{
	pthread_mutex_lock(&s->mu);
	bool done = s->finished;
	if (done) {
		s->finished = false;
		if (err)
			*err = s->job_err;
		if (s->have_pending) {
			search_result_fini(&s->last);
			s->last = s->pending;
			memset(&s->pending, 0, sizeof s->pending);
			s->have_pending = false;
			s->have_last = true;
		}
	}
	pthread_mutex_unlock(&s->mu);
	if (done && s->started) {
		pthread_join(s->th, NULL);
		s->started = false;
	}
	return done;
}

void search_wait(struct mpqx_search *s)
{
	if (s->started) {
		pthread_join(s->th, NULL);
		s->started = false;
	}
}

const struct mpqx_sensitivity *search_sens(struct mpqx_search *s)
{
	pthread_mutex_lock(&s->mu);
	bool have = s->have_sens;
	pthread_mutex_unlock(&s->mu);
	return have ? &s->sens : NULL;
}

const struct mpqx_search_result *search_last(struct mpqx_search *s)
{
	return s->have_last ? &s->last : NULL;
}
