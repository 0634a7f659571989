/* Integer evaluation of the test set (doc/quantization.md), incremental and spread over the cores.
 *
 * Every layer's outputs for all test windows stay in memory as int16 (bit widths are at most 16), so a
 * change recomputes only the changed layers and those downstream. Operands with their zero point removed
 * fit int16 up to 15 bits; then products accumulate in int32 (when the layer's accumulator bound allows)
 * through dot products the compiler turns into multiply-add vector instructions. Wider layers take an
 * int64 path with the same results. Each layer runs its op's kernel (include/mpqx/op.h, src/core/ops/),
 * one call per layer and window, built from the shared kernels of kern.c.
 *
 * When those caches (and the float activations the SQNR compares against) would exceed the memory budget
 * (fref.h), the engine streams instead: each thread walks its windows with buffers for one window's
 * layers, every run recomputes every layer, only the output layer is kept for all windows, and the float
 * reference of each window is recomputed beside its integer outputs when fref holds none. Threads take the
 * same window ranges and sum in the same order in both modes, so the results are identical. */
#include "mpqx/ieval.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mpqx/forward.h"
#include "mpqx/kern.h"
#include "mpqx/op.h"

#define MAX_THREADS 16

struct lstat {
	long clipped;
	double sig, noise;
};

struct mpqx_ieval {
	const struct mpqx_model *m;
	const struct mpqx_dataset *d;
	const struct mpqx_fref *f;
	int threads, windows;
	bool chunked;                 /* over the memory budget: no per-window cache (see above) */
	bool refloat;                 /* chunked without fref activations: recompute them for the SQNR */
	int16_t **out;                /* per layer [windows * size]; chunked: the output layer only */
	size_t *size;                 /* rows * cols per layer */
	struct mpqx_config prev;      /* config of the last run */
	bool have_prev;
	bool *dirty;
	struct mpqx_layer_stats *stats;
	size_t scratch;               /* bytes of per-thread scratch */
	int16_t **w16;                /* per weight layer: w' as int16 [O*I] when it fits, else NULL */
	int32_t **w32;                /* ... else as int32 */
	bool sqnr;                    /* compute SQNR in the run (on by default) */
	bool *sqnr_valid;             /* per layer: stats[l].sqnr_db belongs to the current outputs */
	double *last_s;               /* per layer: output scale and zero point of the last run */
	int *last_z;
	double *werr;                 /* per test window: forecast error of the last run */
	const struct mpqx_qmodel *last_q; /* the last run's integer model (chunked SQNR pass) */
	bool *stale;                  /* per layer: outputs left half-written by a stopped run */
	int *map;                     /* subset engine: test window of each of its windows; NULL: all */
	int total;                    /* test windows of the dataset */
	double mse_float;             /* the float model's MSE on the engine's windows */
};

/* The dataset's test window of the engine's window w. */
static inline int test_window(const struct mpqx_ieval *e, int w)
{
	return e->map ? e->map[w] : w;
}

/* Per-thread work. */
struct job {
	struct mpqx_ieval *e;
	const struct mpqx_qmodel *q;
	int first, last;
	struct lstat *ls; /* per layer */
	double se, ae;
	long macs;
	void *scratch;
	int rc;
	const float *input; /* overrides the dataset's window (ieval_window) */
	int16_t **out;      /* per layer: e->out, or (chunked) this thread's buffers for window `base` */
	int base;
	struct mpqx_forward fw; /* refloat: this thread's float forward */
	struct mpqx_op_kernel *kc; /* per layer: its kernel's arguments, all but the window's buffers */
	bool sq;                   /* add the SQNR energies of every layer computed */
	bool sq_only;              /* chunked SQNR pass: recompute the windows, keep no output */
	bool (*stop)(void *);      /* sq_only: asked before each window; true abandons the pass */
	void *stop_arg;
	bool stopped;
};

/* Layer li's outputs for window w in the job's buffers. */
static inline int16_t *obuf(const struct job *j, int li, int w)
{
	return j->out[li] + (size_t)(w - j->base) * j->e->size[li];
}

#if defined(__GNUC__) && defined(__x86_64__) && !defined(__clang__) && defined(__OPTIMIZE__)
#define MULTI __attribute__((target_clones("arch=x86-64-v4", "avx2", "default")))
#else
#define MULTI
#endif

/* Adds the signal and noise energies of one window's output of a layer against the float output. */
MULTI static void sqnr_sums(const float *restrict f, const int16_t *restrict y, size_t n, double s, int z,
			    struct lstat *ls)
{
	float sig = 0, noise = 0, sf = (float)s;
#pragma omp simd reduction(+ : sig, noise)
	for (size_t i = 0; i < n; i++) {
		float d = f[i] - sf * (float)(y[i] - z);
		sig += f[i] * f[i];
		noise += d * d;
	}
	ls->sig += sig;
	ls->noise += noise;
}

/* The arguments of every layer's kernel that stay the same over the job's windows (job_kernels). */
static int job_kernels(struct job *j)
{
	const struct mpqx_ieval *e = j->e;
	const struct mpqx_model *m = e->m;
	if (!(j->kc = calloc((size_t)m->n_layers, sizeof *j->kc)))
		return MPQX_ENOMEM;
	for (int li = 0; li < m->n_layers; li++)
		j->kc[li] = (struct mpqx_op_kernel){.m = m, .q = j->q, .li = li, .l = &m->layers[li], .ql = &j->q->l[li],
						    .n = e->size[li], .scratch = j->scratch, .w16 = e->w16[li],
						    .w32 = e->w32[li], .clip = &j->ls[li].clipped};
	return MPQX_OK;
}

/* Computes layer li for window w. */
static void run_layer(struct job *j, int li, int w)
{
	struct mpqx_ieval *e = j->e;
	const struct mpqx_layer *l = &e->m->layers[li];
	const struct mpqx_op_class *oc = op_class(l->op);
	struct mpqx_op_kernel *k = &j->kc[li];
	k->y = obuf(j, li, w);
	for (int i = 0; i < l->n_inputs; i++)
		k->in[i] = obuf(j, l->inputs[i], w);
	if (oc->window_in)
		k->window = j->input ? j->input : dataset_window(e->d, MPQX_TEST, test_window(e, w));
	oc->ieval(k);
	if (oc->macs)
		j->macs += oc->macs(e->m, l);
	if (j->sq && e->f && e->f->act)
		sqnr_sums(e->f->act[li] + (size_t)w * k->n, k->y, k->n, k->ql->out.s, k->ql->out.z, &j->ls[li]);
}

static void *work(void *arg)
{
	struct job *j = arg;
	struct mpqx_ieval *e = j->e;
	const struct mpqx_model *m = e->m;
	const struct mpqx_qlayer *qo = &j->q->l[m->output];
	/* Window-major: one window's dirty layers in order keep its activations in cache. */
	for (int w = j->first; w < j->last; w++) {
		if (j->stop && j->stop(j->stop_arg)) {
			j->stopped = true;
			return NULL;
		}
		if (e->chunked)
			j->base = w;
		for (int li = 0; li < m->n_layers; li++)
			if (e->dirty[li])
				run_layer(j, li, w);
		if (j->sq_only && !e->refloat)
			continue;
		if (e->chunked && !j->sq_only) {
			size_t no = e->size[m->output];
			memcpy(e->out[m->output] + (size_t)w * no, obuf(j, m->output, w), no * sizeof(int16_t));
		}
		if (e->refloat && j->sq) {
			/* The same float outputs as fref's: one forward, then each layer in order, as run_layer. */
			forward_run(&j->fw, dataset_window(e->d, MPQX_TEST, w));
			for (int li = 0; li < m->n_layers; li++)
				sqnr_sums(j->fw.act[li], obuf(j, li, w), e->size[li], j->q->l[li].out.s,
					  j->q->l[li].out.z, &j->ls[li]);
		}
		if (!e->d || j->sq_only)
			continue;
		const int16_t *y = e->out[m->output] + (size_t)w * e->size[m->output];
		e->werr[w] = qo->out.s * (y[0] - qo->out.z) - dataset_target(e->d, MPQX_TEST, test_window(e, w));
	}
	return NULL;
}

int ieval_new(const struct mpqx_model *m, const struct mpqx_dataset *d, const struct mpqx_fref *fref,
	      int threads, struct mpqx_ieval **out, struct mpqx_err *err)
{
	return ieval_new_budget(m, d, fref, threads, fref_memory_budget(), out, err);
}

/* Whether caching every layer's outputs (and fref's activations, when it holds them) exceeds budget. */
static bool over_budget(const struct mpqx_model *m, int windows, const struct mpqx_fref *f, size_t budget)
{
	if (f && f->act_wanted && !f->act)
		return true; /* fref found the caches over its budget: recompute the float outputs */
	size_t both = fref_cache_bytes(m, windows);
	if (f && f->act)
		return both > budget;
	/* int16 outputs alone: a third of float + int16 */
	return both == SIZE_MAX || both / (sizeof(float) + sizeof(int16_t)) * sizeof(int16_t) > budget;
}

/* The engine over the test windows, or over n of them (subset, n > 0: stratified, no SQNR). */
static int engine_new(const struct mpqx_model *m, const struct mpqx_dataset *d, const struct mpqx_fref *fref,
		      int threads, size_t budget, int n, struct mpqx_ieval **out, struct mpqx_err *err)
{
	kern_cpu_init();
	*out = NULL;
	struct mpqx_ieval *e = calloc(1, sizeof *e);
	if (!e)
		return err_set(err, MPQX_ENOMEM, "out of memory");
	e->m = m;
	e->d = d;
	e->f = fref;
	e->total = d->windows[MPQX_TEST];
	e->windows = e->total;
	if (n > 0 && n < e->total) {
		e->windows = n;
		if (!(e->map = malloc(sizeof *e->map * (size_t)n))) {
			free(e);
			return err_set(err, MPQX_ENOMEM, "out of memory");
		}
		ieval_subset_windows(e->total, n, e->map);
	}
	e->mse_float = fref ? fref->mse : NAN;
	if (e->map && fref && fref->pred) {
		/* the float model's MSE on the same windows, in window order */
		double se = 0;
		for (int w = 0; w < e->windows; w++) {
			double r = fref->pred[(size_t)e->map[w] * m->out_features] - dataset_target(d, MPQX_TEST, e->map[w]);
			se += r * r;
		}
		e->mse_float = se / e->windows;
	}
	if (threads <= 0) {
		long cores = sysconf(_SC_NPROCESSORS_ONLN);
		threads = cores < 1 ? 1 : (int)cores;
	}
	e->threads = threads > MAX_THREADS ? MAX_THREADS : threads;
	int L = m->n_layers;
	e->out = calloc((size_t)L, sizeof *e->out);
	e->size = calloc((size_t)L, sizeof *e->size);
	e->dirty = calloc((size_t)L, sizeof *e->dirty);
	e->stats = calloc((size_t)L, sizeof *e->stats);
	e->w16 = calloc((size_t)L, sizeof *e->w16);
	e->w32 = calloc((size_t)L, sizeof *e->w32);
	e->sqnr_valid = calloc((size_t)L, sizeof *e->sqnr_valid);
	e->last_s = calloc((size_t)L, sizeof *e->last_s);
	e->last_z = calloc((size_t)L, sizeof *e->last_z);
	e->werr = calloc((size_t)e->windows + 1, sizeof *e->werr);
	e->stale = calloc((size_t)L, sizeof *e->stale);
	e->sqnr = !e->map;
	/* A subset has no SQNR: fref's activations are indexed by test window, and the full run gives it. */
	const struct mpqx_fref *fs = e->map ? NULL : fref;
	e->chunked = over_budget(m, e->windows, fs, budget);
	e->refloat = !e->map && e->chunked && fref && fref->act_wanted && !fref->act;
	int rc = (!e->out || !e->size || !e->dirty || !e->stats || !e->w16 || !e->w32 || !e->sqnr_valid || !e->last_s || !e->last_z || !e->werr || !e->stale)
			 ? MPQX_ENOMEM
			 : MPQX_OK;
	size_t scratch = 64;
	for (int li = 0; !rc && li < L; li++) {
		const struct mpqx_layer *l = &m->layers[li];
		e->size[li] = (size_t)l->rows * l->cols;
		if ((!e->chunked || li == m->output) &&
		    !(e->out[li] = malloc(e->size[li] * (size_t)e->windows * sizeof(int16_t) + 16)))
			rc = MPQX_ENOMEM;
		size_t need = 0;
		for (int k = 0; k < l->n_inputs; k++)
			need += (size_t)m->layers[l->inputs[k]].rows * m->layers[l->inputs[k]].cols;
		need = (need + (size_t)l->rows * l->cols + 64) * 2 * sizeof(int64_t) + 4096;
		scratch = need > scratch ? need : scratch;
	}
	e->scratch = scratch;
	if (rc) {
		ieval_free(e);
		return err_set(err, rc, "out of memory for the integer evaluation of %s", m->path);
	}
	*out = e;
	return MPQX_OK;
}

int ieval_new_budget(const struct mpqx_model *m, const struct mpqx_dataset *d, const struct mpqx_fref *fref,
		     int threads, size_t budget, struct mpqx_ieval **out, struct mpqx_err *err)
{
	return engine_new(m, d, fref, threads, budget, 0, out, err);
}

int ieval_new_subset(const struct mpqx_model *m, const struct mpqx_dataset *d, const struct mpqx_fref *fref,
		     int threads, int n, struct mpqx_ieval **out, struct mpqx_err *err)
{
	if (n < 1)
		n = ieval_subset_size(m, d->windows[MPQX_TEST]);
	return engine_new(m, d, fref, threads, fref_memory_budget(), n, out, err);
}

/* Multiply-accumulates of one window. */
static long window_macs(const struct mpqx_model *m)
{
	long per = 0;
	for (int li = 0; li < m->n_layers; li++) {
		const struct mpqx_op_class *oc = op_class(m->layers[li].op);
		if (oc->macs)
			per += oc->macs(m, &m->layers[li]);
	}
	return per;
}

bool ieval_subset_wanted(const struct mpqx_model *m, int windows)
{
	return (double)window_macs(m) * windows > MPQX_SUBSET_MACS;
}

int ieval_subset_size(const struct mpqx_model *m, int windows)
{
	long per = window_macs(m);
	long n = per > 0 ? (long)(MPQX_SUBSET_MACS / (double)per) : MPQX_SUBSET_MAX;
	n = n < MPQX_SUBSET_MIN ? MPQX_SUBSET_MIN : n > MPQX_SUBSET_MAX ? MPQX_SUBSET_MAX : n;
	return (int)(n < windows ? n : windows);
}

void ieval_subset_windows(int windows, int n, int *idx)
{
	/* n strata of consecutive windows in time order, [k N / n, (k + 1) N / n); the middle one of each */
	for (int k = 0; k < n; k++) {
		long a = (long)windows * k / n, b = (long)windows * (k + 1) / n;
		idx[k] = (int)((a + b - 1) / 2);
	}
}

bool ieval_subset(const struct mpqx_ieval *e)
{
	return e->map != NULL;
}

void ieval_free(struct mpqx_ieval *e)
{
	if (!e)
		return;
	for (int li = 0; li < e->m->n_layers; li++) {
		if (e->out)
			free(e->out[li]);
		if (e->w16)
			free(e->w16[li]);
		if (e->w32)
			free(e->w32[li]);
	}
	free(e->out);
	free(e->size);
	free(e->dirty);
	free(e->stats);
	free(e->w16);
	free(e->w32);
	free(e->sqnr_valid);
	free(e->last_s);
	free(e->last_z);
	free(e->werr);
	free(e->stale);
	free(e->map);
	config_fini(&e->prev);
	free(e);
}

/* Rebuilds the engine's weights of a dirty layer whose op keeps its own (op.h: ieval_prepare). */
static int prepare_weights(struct mpqx_ieval *e, const struct mpqx_qmodel *q, int li)
{
	const struct mpqx_op_class *oc = op_class(e->m->layers[li].op);
	if (!oc->ieval_prepare)
		return MPQX_OK;
	free(e->w16[li]);
	free(e->w32[li]);
	e->w16[li] = NULL;
	e->w32[li] = NULL;
	return oc->ieval_prepare(e->m, q, li, &e->w16[li], &e->w32[li]);
}

/* Chunked mode: the job's buffers for one window of every layer, and its float forward when refloat. */
static int job_buffers(struct job *j)
{
	const struct mpqx_ieval *e = j->e;
	int L = e->m->n_layers;
	size_t total = 0;
	for (int li = 0; li < L; li++)
		total += (e->size[li] + 15) & ~(size_t)15; /* 32-byte steps */
	j->out = calloc((size_t)L, sizeof *j->out);
	int16_t *block = j->out ? malloc(total * sizeof(int16_t) + 32) : NULL;
	if (!block)
		return MPQX_ENOMEM;
	for (int li = 0; li < L; li++) {
		j->out[li] = block;
		block += (e->size[li] + 15) & ~(size_t)15;
	}
	return e->refloat ? forward_init(&j->fw, e->m) : MPQX_OK;
}

/* Runs jobs over the test windows on e->threads threads, each on the same window range in every run (the
 * results do not depend on the mode). sq: add the SQNR energies; sq_only: the chunked SQNR pass. Fills
 * jobs[0 .. *n) (the caller sums and frees them with free_jobs). Returns MPQX_OK or MPQX_ENOMEM. */
static int run_jobs(struct mpqx_ieval *e, const struct mpqx_qmodel *q, bool sq, bool sq_only, bool (*stop)(void *),
		    void *arg, struct job *jobs, int *n)
{
	int L = e->m->n_layers;
	pthread_t th[MAX_THREADS];
	bool started[MAX_THREADS] = {false};
	int nt = e->threads < e->windows ? e->threads : (e->windows > 0 ? e->windows : 1);
	int rc = MPQX_OK;
	*n = nt;
	for (int t = 0; t < nt; t++) {
		jobs[t] = (struct job){e, q, (int)((long)e->windows * t / nt), (int)((long)e->windows * (t + 1) / nt),
				       calloc((size_t)L, sizeof(struct lstat)), 0, 0, 0, malloc(e->scratch), 0, NULL,
				       e->out, 0, {0}, NULL, sq, sq_only, stop, arg, false};
		if (!jobs[t].ls || !jobs[t].scratch)
			rc = MPQX_ENOMEM;
		if (!rc && e->chunked && job_buffers(&jobs[t]))
			rc = MPQX_ENOMEM;
		if (!rc && job_kernels(&jobs[t]))
			rc = MPQX_ENOMEM;
	}
	for (int t = 1; !rc && t < nt; t++)
		started[t] = pthread_create(&th[t], NULL, work, &jobs[t]) == 0;
	if (!rc)
		work(&jobs[0]);
	for (int t = 1; t < nt; t++) {
		if (started[t])
			pthread_join(th[t], NULL);
		else if (!rc)
			work(&jobs[t]);
	}
	return rc;
}

static void free_jobs(struct job *jobs, int nt)
{
	for (int t = 0; t < nt; t++) {
		free(jobs[t].ls);
		free(jobs[t].scratch);
		free(jobs[t].kc);
		if (jobs[t].out != jobs[t].e->out) {
			free(jobs[t].out ? jobs[t].out[0] : NULL);
			free(jobs[t].out);
		}
		forward_fini(&jobs[t].fw);
	}
}

/* The SQNR of layer li from its signal and noise energies summed over the threads in order. */
static double sqnr_db(const struct job *jobs, int nt, int li)
{
	double sig = 0, noise = 0;
	for (int t = 0; t < nt; t++) {
		sig += jobs[t].ls[li].sig;
		noise += jobs[t].ls[li].noise;
	}
	return noise <= 0 ? 999.0 : sig <= 0 ? -999.0 : fmin(999.0, 10.0 * log10(sig / noise));
}

int ieval_run(struct mpqx_ieval *e, const struct mpqx_qmodel *q, const struct mpqx_config *c, bool force_all,
	      struct mpqx_eval_result *res, struct mpqx_err *err)
{
	return ieval_run_until(e, q, c, force_all, NULL, NULL, res, err);
}

int ieval_run_until(struct mpqx_ieval *e, const struct mpqx_qmodel *q, const struct mpqx_config *c,
		    bool force_all, bool (*stop)(void *), void *arg, struct mpqx_eval_result *res,
		    struct mpqx_err *err)
{
	kern_cpu_init();
	const struct mpqx_model *m = e->m;
	int L = m->n_layers;
	long n_dirty = 0;
	for (int li = 0; li < L; li++) {
		const struct mpqx_layer *l = &m->layers[li];
		bool d = force_all || !e->have_prev || e->chunked || e->stale[li];
		if (!d) {
			const struct mpqx_layer_cfg *a = &c->layers[li], *b = &e->prev.layers[li];
			d = a->a_bits != b->a_bits || a->calib != b->calib ||
			    (model_layer_has_weights(l) && (a->w_bits != b->w_bits || a->w_gran != b->w_gran));
		}
		for (int k = 0; !d && k < l->n_inputs; k++)
			d = e->dirty[l->inputs[k]];
		e->dirty[li] = d;
		if (d) {
			n_dirty++;
			if (prepare_weights(e, q, li))
				return err_set(err, MPQX_ENOMEM, "out of memory");
		}
	}
	struct job jobs[MAX_THREADS];
	int nt = 0;
	/* The SQNR in the run when asked, against fref's activations or (refloat) recomputed ones. */
	bool sq = e->sqnr && e->f && (e->f->act || e->refloat);
	int rc = run_jobs(e, q, sq, false, stop, arg, jobs, &nt);
	bool stopped = false;
	for (int t = 0; t < nt; t++)
		stopped |= jobs[t].stopped;
	if (!rc && stopped) {
		/* Abandoned: the dirty layers hold a mix of windows; the next run recomputes them. */
		for (int li = 0; li < L; li++)
			e->stale[li] |= e->dirty[li];
		free_jobs(jobs, nt);
		return MPQX_IEVAL_STOPPED;
	}
	for (int li = 0; li < L; li++)
		e->stale[li] = false;
	double se = 0, ae = 0;
	long macs = 0;
	for (int li = 0; !rc && li < L; li++) {
		if (!e->dirty[li])
			continue;
		long clipped = 0;
		for (int t = 0; t < nt; t++)
			clipped += jobs[t].ls[li].clipped;
		e->stats[li].clipped = clipped;
		e->last_s[li] = q->l[li].out.s;
		e->last_z[li] = q->l[li].out.z;
		e->sqnr_valid[li] = sq;
		e->stats[li].sqnr_db = sq ? sqnr_db(jobs, nt, li) : NAN;
	}
	/* Summed in window order, so the result does not depend on the number of threads. */
	for (int w = 0; w < e->windows; w++) {
		se += e->werr[w] * e->werr[w];
		ae += fabs(e->werr[w]);
	}
	for (int t = 0; t < nt; t++)
		macs += jobs[t].macs;
	free_jobs(jobs, nt);
	if (rc)
		return err_set(err, rc, "out of memory");
	if (config_copy(&e->prev, c))
		return err_set(err, MPQX_ENOMEM, "out of memory");
	e->have_prev = true;
	e->last_q = q;
	double unit = model_target_unit(m);
	res->windows = e->windows;
	res->windows_total = e->total;
	res->mse = se / e->windows;
	res->rmse = sqrt(res->mse);
	res->mae = ae / e->windows;
	res->mse_float = e->mse_float;
	res->mse_se = 0;
	if (e->map && e->windows > 1) {
		/* One window per stratum: the successive-difference variance of the mean of the squared errors,
		 * with the finite-population correction (windows next in time have close errors). */
		double v = 0;
		for (int w = 1; w < e->windows; w++) {
			double a = e->werr[w - 1] * e->werr[w - 1], b = e->werr[w] * e->werr[w];
			v += (b - a) * (b - a);
		}
		v = v / (2.0 * (e->windows - 1)) / e->windows * (1.0 - (double)e->windows / e->total);
		res->mse_se = sqrt(v > 0 ? v : 0);
	}
	res->rmse_denorm = res->rmse * unit;
	res->mae_denorm = res->mae * unit;
	res->n_layers = L;
	res->layers = e->stats;
	res->recomputed = n_dirty;
	res->macs = macs;
	return MPQX_OK;
}

const int16_t *ieval_output(const struct mpqx_ieval *e, int layer, int window)
{
	if (!e->out[layer])
		return NULL;
	return e->out[layer] + (size_t)window * e->size[layer];
}

bool ieval_chunked(const struct mpqx_ieval *e)
{
	return e->chunked;
}

int ieval_window(const struct mpqx_qmodel *q, const float *window, int16_t **out, long *clipped)
{
	kern_cpu_init();
	const struct mpqx_model *m = q->m;
	int L = m->n_layers;
	struct mpqx_ieval e = {0};
	e.m = m;
	e.windows = 1;
	e.out = out;
	e.size = calloc((size_t)L, sizeof *e.size);
	e.dirty = calloc((size_t)L, sizeof *e.dirty);
	e.w16 = calloc((size_t)L, sizeof *e.w16);
	e.w32 = calloc((size_t)L, sizeof *e.w32);
	struct job j = {0};
	j.ls = calloc((size_t)L, sizeof *j.ls);
	int rc = (!e.size || !e.dirty || !e.w16 || !e.w32 || !j.ls) ? MPQX_ENOMEM : MPQX_OK;
	size_t scratch = 64;
	for (int li = 0; !rc && li < L; li++) {
		const struct mpqx_layer *l = &m->layers[li];
		e.size[li] = (size_t)l->rows * l->cols;
		e.dirty[li] = true;
		size_t need = 0;
		for (int k = 0; k < l->n_inputs; k++)
			need += (size_t)m->layers[l->inputs[k]].rows * m->layers[l->inputs[k]].cols;
		need = (need + (size_t)l->rows * l->cols + 64) * 2 * sizeof(int64_t) + 4096;
		scratch = need > scratch ? need : scratch;
		rc = prepare_weights(&e, q, li);
	}
	if (!rc && !(j.scratch = malloc(scratch)))
		rc = MPQX_ENOMEM;
	if (!rc) {
		j.e = &e;
		j.q = q;
		rc = job_kernels(&j);
	}
	if (!rc) {
		j.first = 0;
		j.last = 1;
		j.input = window;
		j.out = out;
		work(&j);
		for (int li = 0; clipped && li < L; li++)
			clipped[li] += j.ls[li].clipped;
	}
	for (int li = 0; li < L; li++) {
		if (e.w16)
			free(e.w16[li]);
		if (e.w32)
			free(e.w32[li]);
	}
	free(e.w16);
	free(e.w32);
	free(e.size);
	free(e.dirty);
	free(j.ls);
	free(j.scratch);
	free(j.kc);
	return rc;
}

void ieval_set_sqnr(struct mpqx_ieval *e, bool on)
{
	e->sqnr = on;
}

int ieval_update_sqnr(struct mpqx_ieval *e, struct mpqx_eval_result *res)
{
	ieval_update_sqnr_until(e, res, NULL, NULL);
	return MPQX_OK;
}

/* Chunked mode: the SQNR of the last run by running its windows again (integer, and float when fref holds
 * no activations), on the same window ranges as the run: the same values as an SQNR computed in the run. */
static bool chunked_sqnr(struct mpqx_ieval *e, struct mpqx_eval_result *res, bool (*stop)(void *), void *arg)
{
	int L = e->m->n_layers;
	bool any = false;
	for (int li = 0; li < L; li++)
		any |= !e->sqnr_valid[li];
	if (!any || !e->last_q)
		return true;
	for (int li = 0; li < L; li++)
		e->dirty[li] = true;
	struct job jobs[MAX_THREADS];
	int nt = 0;
	int rc = run_jobs(e, e->last_q, true, true, stop, arg, jobs, &nt);
	bool done = !rc;
	for (int t = 0; t < nt; t++)
		done &= !jobs[t].stopped;
	for (int li = 0; done && li < L; li++) {
		e->stats[li].sqnr_db = sqnr_db(jobs, nt, li);
		e->sqnr_valid[li] = true;
	}
	free_jobs(jobs, nt);
	if (res)
		res->layers = e->stats;
	return done;
}

bool ieval_update_sqnr_until(struct mpqx_ieval *e, struct mpqx_eval_result *res, bool (*stop)(void *), void *arg)
{
	if (!e->f || !e->have_prev || e->map)
		return true;
	if (e->chunked)
		return (e->f->act || e->refloat) ? chunked_sqnr(e, res, stop, arg) : true;
	if (!e->f->act)
		return true;
	for (int li = 0; li < e->m->n_layers; li++) {
		if (e->sqnr_valid[li])
			continue;
		if (stop && stop(arg))
			return false;
		double sig = 0, noise = 0, s = e->last_s[li];
		int z = e->last_z[li];
		size_t n = e->size[li];
		for (int w = 0; w < e->windows; w++) {
			if (stop && (w & 127) == 127 && stop(arg))
				return false; /* this layer stays invalid */
			struct lstat ls = {0, 0, 0};
			sqnr_sums(e->f->act[li] + (size_t)w * n, e->out[li] + (size_t)w * n, n, s, z, &ls);
			sig += ls.sig;
			noise += ls.noise;
		}
		e->stats[li].sqnr_db = noise <= 0 ? 999.0 : sig <= 0 ? -999.0 : fmin(999.0, 10.0 * log10(sig / noise));
		e->sqnr_valid[li] = true;
	}
	if (res)
		res->layers = e->stats;
	return true;
}
