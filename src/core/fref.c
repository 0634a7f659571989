/* Float reference: calibration min/max and test-set activations, spread over the cores. */
#include "mpqx/fref.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mpqx/fileio.h"
#include "mpqx/forward.h"
#include "mpqx_config.h"

#define MAX_THREADS 16

struct job {
	const struct mpqx_model *m;
	const struct mpqx_dataset *d;
	struct mpqx_fref *f;
	int first, last; /* window range in the part */
	enum mpqx_split split;
	double *lo, *hi;  /* calibration: per layer, this job's own */
	uint64_t **hist;  /* second calibration pass: per layer bins over f->lo..f->hi, this job's own */
	double se, ae, pse;
	int rc;
};

/* Adds n values to the histogram of MPQX_CALIB_BINS bins over [lo, hi]: bin min(B - 1, floor((v - lo) /
 * (hi - lo) * B)), every value in bin 0 when hi <= lo. */
static void fref_bin(const float *v, size_t n, double lo, double hi, uint64_t *h)
{
	if (!isfinite(lo) || !isfinite(hi))
		return; /* an overflowing layer: quant_build refuses it */
	double k = hi > lo ? MPQX_CALIB_BINS / (hi - lo) : 0;
	for (size_t i = 0; i < n; i++) {
		double b = floor(((double)v[i] - lo) * k);
		int ib = !(b >= 0) ? 0 : b > MPQX_CALIB_BINS - 1 ? MPQX_CALIB_BINS - 1 : (int)b;
		h[ib]++;
	}
}

static void *work(void *arg)
{
	struct job *j = arg;
	const struct mpqx_model *m = j->m;
	struct mpqx_forward fw;
	if (forward_init(&fw, m)) {
		j->rc = MPQX_ENOMEM;
		return NULL;
	}
	for (int w = j->first; w < j->last; w++) {
		const float *y = forward_run(&fw, dataset_window(j->d, j->split, w));
		if (j->hist) {
			for (int l = 0; l < m->n_layers; l++)
				fref_bin(fw.act[l], (size_t)m->layers[l].rows * m->layers[l].cols, j->f->lo[l], j->f->hi[l],
					 j->hist[l]);
			continue;
		}
		if (j->split != MPQX_TEST) {
			for (int l = 0; l < m->n_layers; l++) {
				size_t n = (size_t)m->layers[l].rows * m->layers[l].cols;
				double lo = j->lo[l], hi = j->hi[l];
				for (size_t i = 0; i < n; i++) {
					double v = fw.act[l][i];
					lo = v < lo ? v : lo;
					hi = v > hi ? v : hi;
				}
				j->lo[l] = lo;
				j->hi[l] = hi;
			}
			continue;
		}
		struct mpqx_fref *f = j->f;
		for (int o = 0; o < m->out_features; o++)
			f->pred[(size_t)w * m->out_features + o] = y[o];
		double e = (double)y[0] - dataset_target(j->d, MPQX_TEST, w);
		double p = (double)dataset_persistence(j->d, MPQX_TEST, w) - dataset_target(j->d, MPQX_TEST, w);
		j->se += e * e;
		j->ae += fabs(e);
		j->pse += p * p;
		if (f->act)
			for (int l = 0; l < m->n_layers; l++) {
				size_t n = (size_t)m->layers[l].rows * m->layers[l].cols;
				memcpy(f->act[l] + (size_t)w * n, fw.act[l], n * sizeof(float));
			}
	}
	forward_fini(&fw);
	return NULL;
}

static int cores(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	return n < 1 ? 1 : n > MAX_THREADS ? MAX_THREADS : (int)n;
}

static int run_split(const struct mpqx_model *m, const struct mpqx_dataset *d, struct mpqx_fref *f,
		     enum mpqx_split split, bool hist, double *se, double *ae, double *pse)
{
	int nt = cores(), n = d->windows[split];
	if (nt > n)
		nt = n > 0 ? n : 1;
	struct job jobs[MAX_THREADS];
	pthread_t th[MAX_THREADS];
	int rc = MPQX_OK;
	for (int t = 0; t < nt; t++) {
		jobs[t] = (struct job){m, d, f, (int)((long)n * t / nt), (int)((long)n * (t + 1) / nt), split,
				       NULL, NULL, NULL, 0, 0, 0, 0};
		if (hist) {
			jobs[t].hist = calloc((size_t)m->n_layers, sizeof *jobs[t].hist);
			for (int l = 0; jobs[t].hist && l < m->n_layers; l++)
				if (!(jobs[t].hist[l] = calloc(MPQX_CALIB_BINS, sizeof **jobs[t].hist)))
					rc = MPQX_ENOMEM;
			if (!jobs[t].hist)
				rc = MPQX_ENOMEM;
		} else if (split != MPQX_TEST) {
			jobs[t].lo = malloc(sizeof(double) * (size_t)m->n_layers);
			jobs[t].hi = malloc(sizeof(double) * (size_t)m->n_layers);
			if (!jobs[t].lo || !jobs[t].hi)
				rc = MPQX_ENOMEM;
			for (int l = 0; !rc && l < m->n_layers; l++) {
				jobs[t].lo[l] = INFINITY;
				jobs[t].hi[l] = -INFINITY;
			}
		}
	}
	int started = 0;
	for (int t = 0; !rc && t < nt; t++, started++)
		if (pthread_create(&th[t], NULL, work, &jobs[t]) != 0) {
			work(&jobs[t]);
			th[t] = pthread_self();
		}
	for (int t = 0; t < started; t++)
		if (!pthread_equal(th[t], pthread_self()))
			pthread_join(th[t], NULL);
	*se = *ae = *pse = 0;
	for (int t = 0; t < nt; t++) {
		if (jobs[t].rc)
			rc = jobs[t].rc;
		*se += jobs[t].se;
		*ae += jobs[t].ae;
		*pse += jobs[t].pse;
		for (int l = 0; jobs[t].hist && l < m->n_layers; l++) {
			for (int b = 0; !rc && jobs[t].hist[l] && b < MPQX_CALIB_BINS; b++)
				f->hist[l][b] += jobs[t].hist[l][b];
			free(jobs[t].hist[l]);
		}
		free(jobs[t].hist);
		if (split != MPQX_TEST && !hist && !rc)
			for (int l = 0; l < m->n_layers; l++) {
				f->lo[l] = fmin(f->lo[l], jobs[t].lo[l]);
				f->hi[l] = fmax(f->hi[l], jobs[t].hi[l]);
			}
		free(jobs[t].lo);
		free(jobs[t].hi);
	}
	return rc;
}

size_t fref_memory_budget(void)
{
	const char *v = getenv("MPQX_EVAL_MEMORY_MB");
	if (v && *v) {
		char *end;
		errno = 0;
		unsigned long long mb = strtoull(v, &end, 10);
		if (!errno && *end == '\0' && mb > 0 && *v != '-' && mb <= SIZE_MAX / (1024 * 1024))
			return (size_t)mb * 1024 * 1024;
	}
	return (size_t)MPQX_EVAL_MEMORY_MB * 1024 * 1024;
}

size_t fref_cache_bytes(const struct mpqx_model *m, int windows)
{
	const size_t per = sizeof(float) + sizeof(int16_t);
	size_t total = 0;
	for (int l = 0; l < m->n_layers; l++) {
		size_t n = (size_t)m->layers[l].rows * (size_t)m->layers[l].cols;
		if (windows > 0 && n > SIZE_MAX / per / (size_t)windows)
			return SIZE_MAX;
		n *= per * (size_t)(windows > 0 ? windows : 0);
		if (total > SIZE_MAX - n)
			return SIZE_MAX;
		total += n;
	}
	return total;
}

/* ---- the calibration cache (doc/large-models.md) ---- */

/* Bump when the float forward, the calibration or the headroom changes what it computes. */
#define CALIB_CACHE_VERSION 2

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
	const unsigned char *b = p;
	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 0x100000001b3ULL;
	return h;
}

/* What the cached figures depend on: this code (version), the thread count (the test errors are summed
 * per thread), the model file's bytes and the dataset as normalised and split. 0 when the model file
 * cannot be read. */
static uint64_t calib_key(const struct mpqx_model *m, const struct mpqx_dataset *d)
{
	char *text;
	size_t len;
	struct mpqx_err e;
	if (fileio_read(m->path, &text, &len, &e))
		return 0;
	uint64_t h = 0xcbf29ce484222325ULL;
	int head[4] = {CALIB_CACHE_VERSION, cores(), d->window, d->horizon};
	h = fnv(h, MPQX_VERSION, strlen(MPQX_VERSION));
	h = fnv(h, head, sizeof head);
	h = fnv(h, text, len);
	free(text);
	h = fnv(h, &d->n_rows, sizeof d->n_rows);
	h = fnv(h, &d->features, sizeof d->features);
	h = fnv(h, d->begin, sizeof d->begin);
	h = fnv(h, d->end, sizeof d->end);
	h = fnv(h, d->windows, sizeof d->windows);
	h = fnv(h, d->x, sizeof(float) * (size_t)d->n_rows * (size_t)d->features);
	h = fnv(h, d->y, sizeof(float) * (size_t)d->n_rows);
	return h ? h : 1;
}

static bool calib_cache_on(void)
{
	const char *v = getenv("MPQX_CALIB_CACHE");
	return !(v && strcmp(v, "0") == 0);
}

static bool calib_path(const struct mpqx_model *m, char *buf, size_t size)
{
	int n = snprintf(buf, size, "%s.calib", m->path);
	return n > 0 && (size_t)n < size;
}

/* Reads the cached ranges, test errors, forecasts and calibration histograms into f; false (f untouched)
 * when there is no cache, it is for another key or shape, or it does not parse: the caller then computes
 * them. */
static bool calib_load(const struct mpqx_model *m, uint64_t key, struct mpqx_fref *f)
{
	char path[4200], *text;
	struct mpqx_err e;
	if (!key || !calib_path(m, path, sizeof path) || fileio_read(path, &text, NULL, &e))
		return false;
	bool ok = false;
	char *p = text, *end;
	unsigned long long k;
	int ver, layers, windows, outs, used;
	if (sscanf(p, "mpqx-calib %d key %llx layers %d windows %d outputs %d%n", &ver, &k, &layers, &windows, &outs,
		   &used) != 5 || ver != CALIB_CACHE_VERSION || k != key || layers != m->n_layers ||
	    windows != f->windows || outs != m->out_features)
		goto out;
	p += used;
	size_t nf = (size_t)layers * 2 + 3 + (size_t)windows * (size_t)outs;
	size_t n = nf + (size_t)layers * MPQX_CALIB_BINS;
	double *v = malloc(n * sizeof *v);
	if (!v)
		goto out;
	size_t i = 0;
	for (; i < n; i++, p = end) {
		v[i] = strtod(p, &end);
		if (end == p)
			break;
	}
	while (*p == ' ' || *p == '\n')
		p++;
	if (i == n && strcmp(p, "end\n") == 0) {
		for (int l = 0; l < layers; l++) {
			f->lo[l] = v[2 * l];
			f->hi[l] = v[2 * l + 1];
		}
		f->mse = v[2 * layers];
		f->mae = v[2 * layers + 1];
		f->mse_persistence = v[2 * layers + 2];
		for (size_t j = 0; j < (size_t)windows * (size_t)outs; j++)
			f->pred[j] = (float)v[2 * (size_t)layers + 3 + j];
		for (int l = 0; l < layers; l++)
			for (int b = 0; b < MPQX_CALIB_BINS; b++)
				f->hist[l][b] = (uint64_t)v[nf + (size_t)l * MPQX_CALIB_BINS + (size_t)b];
		ok = true;
	}
	free(v);
out:
	free(text);
	return ok;
}

/* Writes f's ranges, test errors and forecasts (hexadecimal floats: read back to the same bits) beside the
 * model, atomically; a directory that cannot be written just gets no cache. */
static void calib_save(const struct mpqx_model *m, uint64_t key, const struct mpqx_fref *f)
{
	char path[4200];
	if (!key || !calib_path(m, path, sizeof path))
		return;
	size_t n = (size_t)f->windows * (size_t)m->out_features;
	size_t cap = 160 + ((size_t)m->n_layers * 2 + 3 + n) * 32 + (size_t)m->n_layers * MPQX_CALIB_BINS * 22;
	char *b = malloc(cap);
	if (!b)
		return;
	size_t len = (size_t)snprintf(b, cap, "mpqx-calib %d key %016llx layers %d windows %d outputs %d\n",
				      CALIB_CACHE_VERSION, (unsigned long long)key, m->n_layers, f->windows,
				      m->out_features);
	for (int l = 0; l < m->n_layers; l++)
		len += (size_t)snprintf(b + len, cap - len, "%a %a\n", f->lo[l], f->hi[l]);
	len += (size_t)snprintf(b + len, cap - len, "%a %a %a\n", f->mse, f->mae, f->mse_persistence);
	for (size_t j = 0; j < n; j++)
		len += (size_t)snprintf(b + len, cap - len, "%a\n", (double)f->pred[j]);
	for (int l = 0; l < m->n_layers; l++)
		for (int k = 0; k < MPQX_CALIB_BINS; k++)
			len += (size_t)snprintf(b + len, cap - len, "%llu%c", (unsigned long long)f->hist[l][k],
						k + 1 < MPQX_CALIB_BINS ? ' ' : '\n');
	len += (size_t)snprintf(b + len, cap - len, "end\n");
	/* Not fileio_write_atomic: nothing the user keeps, so no fsync, and its test hook (a delayed save)
	 * is for their files. A torn or concurrent write shows as a file that does not parse (no "end"). */
	char tmp[4300];
	FILE *fp = NULL;
	if (len < cap && snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid()) < (int)sizeof tmp &&
	    (fp = fopen(tmp, "w"))) {
		bool ok = fwrite(b, 1, len, fp) == len;
		if (fclose(fp) != 0 || !ok || rename(tmp, path) != 0)
			unlink(tmp);
	}
	free(b);
}

int fref_run(const struct mpqx_model *m, const struct mpqx_dataset *d, bool keep_act, struct mpqx_fref **out,
	     struct mpqx_err *err)
{
	return fref_run_budget(m, d, keep_act, fref_memory_budget(), out, err);
}

int fref_run_budget(const struct mpqx_model *m, const struct mpqx_dataset *d, bool keep_act, size_t budget,
		    struct mpqx_fref **out, struct mpqx_err *err)
{
	*out = NULL;
	struct mpqx_fref *f = calloc(1, sizeof *f);
	if (!f)
		return err_set(err, MPQX_ENOMEM, "out of memory");
	f->n_layers = m->n_layers;
	f->windows = d->windows[MPQX_TEST];
	f->lo = malloc(sizeof(double) * (size_t)m->n_layers);
	f->hi = malloc(sizeof(double) * (size_t)m->n_layers);
	f->pred = malloc(sizeof(float) * (size_t)f->windows * (size_t)m->out_features + 1);
	int rc = (!f->lo || !f->hi || !f->pred) ? MPQX_ENOMEM : MPQX_OK;
	for (int l = 0; !rc && l < m->n_layers; l++) {
		f->lo[l] = INFINITY;
		f->hi[l] = -INFINITY;
	}
	/* The histograms of the calibration values (filled by the second calibration pass or the cache). */
	if (!rc && !(f->hist = calloc((size_t)m->n_layers, sizeof *f->hist)))
		rc = MPQX_ENOMEM;
	for (int l = 0; !rc && l < m->n_layers; l++)
		if (!(f->hist[l] = calloc(MPQX_CALIB_BINS, sizeof **f->hist)))
			rc = MPQX_ENOMEM;
	f->act_wanted = keep_act;
	if (!rc && keep_act && fref_cache_bytes(m, f->windows) <= budget) {
		f->act = calloc((size_t)m->n_layers, sizeof *f->act);
		rc = f->act ? MPQX_OK : MPQX_ENOMEM;
		for (int l = 0; !rc && l < m->n_layers; l++) {
			size_t n = (size_t)m->layers[l].rows * m->layers[l].cols * (size_t)f->windows;
			if (!(f->act[l] = malloc(n * sizeof(float) + 1)))
				rc = MPQX_ENOMEM;
		}
	}
	/* With the cache, the ranges and test figures of an earlier run of the same model on the same data are
	 * read back (the same bits); the float test activations, when kept, still need the test windows. */
	uint64_t key = !rc && calib_cache_on() ? calib_key(m, d) : 0;
	bool cached = key && calib_load(m, key, f);
	if (cached && !f->act) {
		*out = f;
		return MPQX_OK;
	}
	double se, ae, pse;
	/* Calibration sees every window before the test part: the calib part alone is a few weeks of a yearly
	 * cycle in the bundled data and would clamp the test season. */
	if (!rc && !cached)
		rc = run_split(m, d, f, MPQX_TRAIN, false, &se, &ae, &pse);
	if (!rc && !cached)
		rc = run_split(m, d, f, MPQX_CALIB, false, &se, &ae, &pse);
	/* A second pass bins the same values over the ranges now known (the percentile and MSE methods). */
	if (!rc && !cached)
		rc = run_split(m, d, f, MPQX_TRAIN, true, &se, &ae, &pse);
	if (!rc && !cached)
		rc = run_split(m, d, f, MPQX_CALIB, true, &se, &ae, &pse);
	if (!rc)
		rc = run_split(m, d, f, MPQX_TEST, false, &se, &ae, &pse);
	if (rc) {
		fref_free(f);
		return err_set(err, rc, "out of memory for the float reference of %s", m->path);
	}
	if (cached) {
		*out = f;
		return MPQX_OK;
	}
	f->mse = se / f->windows;
	f->mae = ae / f->windows;
	f->mse_persistence = pse / f->windows;
	if (key)
		calib_save(m, key, f);
	*out = f;
	return MPQX_OK;
}

void fref_free(struct mpqx_fref *f)
{
	if (!f)
		return;
	if (f->act)
		for (int l = 0; l < f->n_layers; l++)
			free(f->act[l]);
	free(f->act);
	if (f->hist)
		for (int l = 0; l < f->n_layers; l++)
			free(f->hist[l]);
	free(f->hist);
	free(f->lo);
	free(f->hi);
	free(f->pred);
	free(f);
}

/* fref_test: per-window errors, summed afterwards in window order. */
struct tjob {
	const struct mpqx_model *m;
	const struct mpqx_dataset *d;
	int first, last;
	double *e, *p; /* [windows]: forecast and persistence errors */
	int rc;
};

static void *test_work(void *arg)
{
	struct tjob *j = arg;
	struct mpqx_forward fw;
	if (forward_init(&fw, j->m)) {
		j->rc = MPQX_ENOMEM;
		return NULL;
	}
	for (int w = j->first; w < j->last; w++) {
		const float *y = forward_run(&fw, dataset_window(j->d, MPQX_TEST, w));
		double t = dataset_target(j->d, MPQX_TEST, w);
		j->e[w] = y[0] - t;
		j->p[w] = dataset_persistence(j->d, MPQX_TEST, w) - t;
	}
	forward_fini(&fw);
	return NULL;
}

int fref_test(const struct mpqx_model *m, const struct mpqx_dataset *d, double *mse, double *mae,
	      double *mse_persistence, struct mpqx_err *err)
{
	int n = d->windows[MPQX_TEST], nt = cores();
	if (nt > n)
		nt = n > 0 ? n : 1;
	double *e = malloc(sizeof *e * (size_t)n + 1), *p = malloc(sizeof *p * (size_t)n + 1);
	struct tjob jobs[MAX_THREADS];
	pthread_t th[MAX_THREADS];
	bool started[MAX_THREADS] = {false};
	int rc = e && p ? MPQX_OK : MPQX_ENOMEM;
	for (int t = 0; t < nt; t++)
		jobs[t] = (struct tjob){m, d, (int)((long)n * t / nt), (int)((long)n * (t + 1) / nt), e, p, 0};
	for (int t = 1; !rc && t < nt; t++)
		started[t] = pthread_create(&th[t], NULL, test_work, &jobs[t]) == 0;
	if (!rc)
		test_work(&jobs[0]);
	for (int t = 1; !rc && t < nt; t++) {
		if (started[t])
			pthread_join(th[t], NULL);
		else
			test_work(&jobs[t]);
	}
	for (int t = 0; !rc && t < nt; t++)
		rc = jobs[t].rc;
	double se = 0, ae = 0, pse = 0;
	for (int w = 0; !rc && w < n; w++) {
		se += e[w] * e[w];
		ae += fabs(e[w]);
		pse += p[w] * p[w];
	}
	free(e);
	free(p);
	if (rc)
		return err_set(err, rc, "out of memory for the float evaluation of %s", m->path);
	*mse = se / n;
	*mae = ae / n;
	*mse_persistence = pse / n;
	return MPQX_OK;
}
