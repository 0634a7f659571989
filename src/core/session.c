/* A working session on one model: config -> integer model -> estimate and incremental evaluation, with
 * an optional worker thread so an interface can show the estimate before the error figures. */
#include "mpqx/session.h"

#include "mpqx/hw.h"
#include "mpqx/op.h"

#include <dirent.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "mpqx/fileio.h"

struct mpqx_session_priv {
	struct mpqx_ieval *ev;
	struct mpqx_ieval *sub;       /* the worker's stratified subset, or NULL (no worker, or every window) */
	int sub_n;                    /* its windows */
	struct mpqx_estimate est_tmp; /* the estimate of a config being applied, swapped in on success */
	int n_out;                    /* values per forecast */

	/* The worker. Everything below is guarded by mu. s->q and s->cfg change under mu too when async. */
	bool async, started, stop, queued, busy, ready;
	pthread_t th;
	pthread_mutex_t mu;
	pthread_cond_t wake, done;
	struct mpqx_qmodel *job_q; /* the integer model being evaluated */
	bool job_orphan;           /* job_q is no longer s->q: the worker frees it */
	struct mpqx_config job_cfg;
	/* A finished evaluation waiting for session_poll. */
	struct mpqx_config r_cfg;
	struct mpqx_eval_result r_res;
	struct mpqx_layer_stats *r_stats;
	float *r_pred;
	double r_ms;
	struct mpqx_err r_err;
	float *w_pred; /* the worker's forecast scratch */
	/* After publishing a run's MSE the worker computes its per-layer SQNR unless a newer change waits. */
	bool sq_busy, sq_ready;
	long run_id, r_id, shown_id, sq_id; /* runs published, the waiting result's, the shown one's, sq_db's */
	double *sq_db;
	atomic_bool sq_abort; /* set with queued, stop and by the caller's own evaluations */
	/* Progressive evaluation: each request's subset MSE first, then the whole set's (abandoned, like the
	 * SQNR, when a newer request waits). Requests are numbered; the results say which they belong to. */
	long req_id, job_req, r_req, pr_req, first_req, shown_req;
	bool pr_ready;
	struct mpqx_eval_result pr_res; /* the subset's result waiting for session_poll */
};

static double now_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

/* Dequantized forecasts of the last run of ev for q into pred. */
static void forecasts(const struct mpqx_session *s, const struct mpqx_ieval *ev, const struct mpqx_qmodel *q,
		      float *pred)
{
	int out = s->model->output, n = s->priv->n_out;
	const struct mpqx_qparam *p = &q->l[out].out;
	for (int w = 0; w < s->fref->windows; w++) {
		const int16_t *v = ieval_output(ev, out, w);
		for (int j = 0; j < n; j++)
			pred[(size_t)w * n + j] = (float)(p->s * (v[j] - p->z));
	}
}

static bool sq_stop(void *arg);
static void quiesce(struct mpqx_session *s);

/* Runs the evaluation of q/c on the caller's thread and stores the results in the given places; the
 * per-layer SQNR too when with_sqnr (else it is NAN for the layers the run recomputed). */

static int evaluate(struct mpqx_session *s, const struct mpqx_qmodel *q, const struct mpqx_config *c,
		    bool with_sqnr, struct mpqx_eval_result *res, struct mpqx_layer_stats *stats, float *pred,
		    double *ms, struct mpqx_err *err)
{
	double t0 = now_ms();
	struct mpqx_eval_result r;
	/* The worker (the one caller without with_sqnr) abandons the whole set's run for a newer request
	 * (MPQX_IEVAL_STOPPED); session_apply's runs are never stopped. */
	int rc = !with_sqnr ? ieval_run_until(s->priv->ev, q, c, false, sq_stop, s->priv, &r, err)
			    : ieval_run(s->priv->ev, q, c, false, &r, err);
	if (rc)
		return rc;
	memcpy(stats, r.layers, sizeof *stats * (size_t)s->model->n_layers);
	*res = r;
	res->layers = stats;
	forecasts(s, s->priv->ev, q, pred);
	*ms = now_ms() - t0;
	if (with_sqnr) {
		ieval_update_sqnr(s->priv->ev, &r);
		memcpy(stats, r.layers, sizeof *stats * (size_t)s->model->n_layers);
	}
	return MPQX_OK;
}

static bool sq_stop(void *arg)
{
	struct mpqx_session_priv *p = arg;
	return atomic_load(&p->sq_abort);
}

static void *worker_main(void *arg)
{
	struct mpqx_session *s = arg;
	struct mpqx_session_priv *p = s->priv;
	struct mpqx_layer_stats *stats = malloc(sizeof *stats * (size_t)s->model->n_layers);
#ifdef SYS_gettid
	/* Below the interface's thread, so a repaint gets the core first (Linux: per-thread nice). */
	setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), 5);
#endif
	pthread_mutex_lock(&p->mu);
	for (;;) {
		while (!p->stop && !p->queued)
			pthread_cond_wait(&p->wake, &p->mu);
		if (p->stop)
			break;
		p->job_q = s->q;
		p->job_orphan = false;
		p->job_req = p->req_id;
		struct mpqx_err err = {0};
		int rc = config_copy(&p->job_cfg, &s->cfg);
		p->queued = false;
		p->busy = true;
		atomic_store(&p->sq_abort, false);
		pthread_mutex_unlock(&p->mu);

		struct mpqx_eval_result res = {0};
		double ms = 0;
		if (!rc && stats && p->sub) {
			/* The subset's MSE first: published at once, the whole set's follows. */
			struct mpqx_eval_result sr;
			struct mpqx_err serr = {0};
			if (ieval_run(p->sub, p->job_q, &p->job_cfg, false, &sr, &serr) == MPQX_OK) {
				pthread_mutex_lock(&p->mu);
				p->pr_res = sr;
				p->pr_res.layers = NULL;
				p->pr_req = p->job_req;
				p->first_req = p->job_req;
				p->pr_ready = true;
				pthread_cond_broadcast(&p->done);
				pthread_mutex_unlock(&p->mu);
			}
		}
		if (rc || !stats)
			rc = err_set(&err, MPQX_ENOMEM, "out of memory evaluating %s", s->model->path);
		else
			rc = evaluate(s, p->job_q, &p->job_cfg, false, &res, stats, p->w_pred, &ms, &err);

		pthread_mutex_lock(&p->mu);
		if (rc == MPQX_IEVAL_STOPPED) {
			/* A newer request waits (or the session stops): its results replace this one's. */
			p->busy = false;
			if (p->job_orphan)
				quant_free(p->job_q);
			p->job_q = NULL;
			pthread_cond_broadcast(&p->done);
			continue;
		}
		bool published = false;
		p->r_err = err;
		if (!rc && config_copy(&p->r_cfg, &p->job_cfg) == MPQX_OK) {
			p->r_res = res;
			memcpy(p->r_stats, stats, sizeof *stats * (size_t)s->model->n_layers);
			p->r_res.layers = p->r_stats;
			float *t = p->r_pred;
			p->r_pred = p->w_pred;
			p->w_pred = t;
			p->r_ms = ms;
			p->r_id = ++p->run_id;
			p->r_req = p->job_req;
			p->first_req = p->job_req;
			published = true;
		} else if (!rc) {
			err_set(&p->r_err, MPQX_ENOMEM, "out of memory evaluating %s", s->model->path);
		}
		p->ready = true;
		p->busy = false;
		pthread_cond_broadcast(&p->done);

		/* The MSE is out; now the SQNR of the layers this run recomputed, dropped for a newer change. */
		if (published && !p->queued && !p->stop) {
			long id = p->r_id;
			p->sq_busy = true;
			atomic_store(&p->sq_abort, false);
			pthread_mutex_unlock(&p->mu);
			struct mpqx_eval_result sr = {0};
			bool all = ieval_update_sqnr_until(p->ev, &sr, sq_stop, p);
			pthread_mutex_lock(&p->mu);
			p->sq_busy = false;
			if (all && sr.layers) {
				for (int li = 0; li < s->model->n_layers; li++)
					p->sq_db[li] = sr.layers[li].sqnr_db;
				p->sq_id = id;
				p->sq_ready = true;
			}
			pthread_cond_broadcast(&p->done);
		}
		/* Kept until here: a chunked engine's SQNR pass runs the windows again with it. */
		if (p->job_orphan)
			quant_free(p->job_q);
		p->job_q = NULL;
	}
	pthread_mutex_unlock(&p->mu);
	free(stats);
	return NULL;
}

bool session_poll(struct mpqx_session *s)
{
	struct mpqx_session_priv *p = s->priv;
	if (!p->async)
		return false;
	bool got = false;
	pthread_mutex_lock(&p->mu);
	if (p->ready) {
		p->ready = false;
		got = true;
		s->eval_err = p->r_err;
		if (!p->r_err.code && p->r_req >= p->shown_req) {
			p->shown_req = p->r_req;
			s->eval_subset = false;
			config_copy(&s->eval_cfg, &p->r_cfg);
			s->res = p->r_res;
			memcpy(s->layer_stats, p->r_stats, sizeof *s->layer_stats * (size_t)s->model->n_layers);
			s->res.layers = s->layer_stats;
			float *t = s->pred_q;
			s->pred_q = p->r_pred;
			p->r_pred = t;
			s->eval_ms = p->r_ms;
			s->eval_valid = true;
			s->eval_seq++;
			p->shown_id = p->r_id;
		}
	}
	if (p->pr_ready) {
		p->pr_ready = false;
		/* A newer request's subset MSE replaces the figures shown; the rest (clamps, SQNR, forecasts) stays
		 * that of the last whole-set run until the new one arrives. */
		if (p->pr_req > p->shown_req && s->eval_valid) {
			p->shown_req = p->pr_req;
			struct mpqx_layer_stats *keep = s->res.layers;
			s->res = p->pr_res;
			s->res.layers = keep;
			s->eval_subset = true;
			s->eval_seq++;
			got = true;
		}
	}
	if (p->sq_ready) {
		p->sq_ready = false;
		if (p->sq_id == p->shown_id && s->eval_valid) {
			for (int li = 0; li < s->model->n_layers; li++)
				s->layer_stats[li].sqnr_db = p->sq_db[li];
			got = true;
		}
	}
	s->eval_pending = p->queued || p->busy || p->ready;
	s->sqnr_pending = p->sq_busy || p->sq_ready;
	pthread_mutex_unlock(&p->mu);
	return got;
}

void session_wait_first(struct mpqx_session *s)
{
	struct mpqx_session_priv *p = s->priv;
	if (!p->async)
		return;
	pthread_mutex_lock(&p->mu);
	while (p->first_req < p->req_id && (p->queued || p->busy))
		pthread_cond_wait(&p->done, &p->mu);
	pthread_mutex_unlock(&p->mu);
	session_poll(s);
}

int session_show_subset(struct mpqx_session *s, struct mpqx_err *err)
{
	struct mpqx_session_priv *p = s->priv;
	if (!p->sub)
		return MPQX_OK;
	quiesce(s);
	struct mpqx_eval_result r;
	int rc = ieval_run(p->sub, s->q, &s->cfg, false, &r, err);
	if (rc)
		return rc;
	struct mpqx_layer_stats *keep = s->res.layers;
	s->res = r;
	s->res.layers = keep;
	s->eval_subset = true;
	s->eval_seq++;
	return MPQX_OK;
}

int session_subset_windows(const struct mpqx_session *s)
{
	return s->priv->sub ? s->priv->sub_n : 0;
}

void session_wait(struct mpqx_session *s)
{
	struct mpqx_session_priv *p = s->priv;
	if (!p->async)
		return;
	pthread_mutex_lock(&p->mu);
	while (p->queued || p->busy)
		pthread_cond_wait(&p->done, &p->mu);
	pthread_mutex_unlock(&p->mu);
	session_poll(s);
}

/* Loads the device of c (and the family's coefficients when the family changes) into *dev / *coeffs
 * when it differs from the session's. *coeffs stays NULL when the current ones still apply. */
static int load_device(struct mpqx_session *s, const char *name, struct mpqx_device *dev,
		       struct mpqx_coeffs **coeffs, struct mpqx_err *err)
{
	*coeffs = NULL;
	int rc = device_load(s->devices_dir, name, dev, err);
	if (rc)
		return rc;
	if (s->coeffs && strcmp(dev->family, s->coeffs_family) == 0)
		return MPQX_OK;
	char file[128], path[4300];
	snprintf(file, sizeof file, "%s-cost.ini", dev->family);
	if (fileio_join(path, sizeof path, s->devices_dir, file))
		return err_set(err, MPQX_EINPUT, "%s: path too long", s->devices_dir);
	return estimate_coeffs_load(path, coeffs, err);
}

/* Builds the integer model and the estimate of c without touching the session; on success swaps them in
 * (the caller then evaluates). */
static int prepare_and_commit(struct mpqx_session *s, const struct mpqx_config *c, struct mpqx_err *err)
{
	struct mpqx_session_priv *p = s->priv;
	struct mpqx_device dev = s->dev;
	struct mpqx_coeffs *coeffs = NULL;
	struct mpqx_qmodel *q = NULL;
	struct mpqx_config copy = {0};
	int rc = MPQX_OK;
	if (c->n_layers != s->model->n_layers)
		return err_set(err, MPQX_EINPUT, "config has %d layers, %s has %d", c->n_layers, s->model->name,
			       s->model->n_layers);
	if (!s->coeffs || strcmp(c->device, s->cfg.device) != 0)
		if ((rc = load_device(s, c->device, &dev, &coeffs, err)))
			goto fail;
	/* storage the device lacks (SPRAM off the iCE40 UltraPlus) */
	if ((rc = device_check_config(&dev, s->model, c, NULL, NULL, 0, err)))
		goto fail;
	/* From the current integer model: its weights' ranges, and the quantized weights that stay the same. */
	if ((rc = quant_build_from(s->model, s->fref, c, s->q, &q, err)))
		goto fail;
	if ((rc = estimate_run(q, c, &dev, coeffs ? coeffs : s->coeffs, &p->est_tmp, err)))
		goto fail;
	if ((rc = config_copy(&copy, c))) {
		err_set(err, rc, "out of memory");
		goto fail;
	}

	if (p->async)
		pthread_mutex_lock(&p->mu);
	struct mpqx_qmodel *old = s->q;
	s->q = q;
	config_fini(&s->cfg);
	s->cfg = copy;
	if (old && old == p->job_q)
		p->job_orphan = true;
	else
		quant_free(old);
	if (p->async)
		pthread_mutex_unlock(&p->mu);

	s->dev = dev;
	if (coeffs) {
		estimate_coeffs_free(s->coeffs);
		s->coeffs = coeffs;
		snprintf(s->coeffs_family, sizeof s->coeffs_family, "%s", dev.family);
	}
	struct mpqx_estimate t = s->est;
	s->est = p->est_tmp;
	p->est_tmp = t;
	return MPQX_OK;
fail:
	estimate_coeffs_free(coeffs);
	quant_free(q);
	return rc;
}

void session_wait_sqnr(struct mpqx_session *s)
{
	struct mpqx_session_priv *p = s->priv;
	if (!p->async)
		return;
	pthread_mutex_lock(&p->mu);
	while (p->queued || p->busy || p->sq_busy)
		pthread_cond_wait(&p->done, &p->mu);
	pthread_mutex_unlock(&p->mu);
	session_poll(s);
}

/* Waits for the worker to be idle, its SQNR pass stopped too, so the caller may use the evaluator. */
static void quiesce(struct mpqx_session *s)
{
	struct mpqx_session_priv *p = s->priv;
	if (!p->async)
		return;
	atomic_store(&p->sq_abort, true);
	session_wait_sqnr(s);
}

int session_apply(struct mpqx_session *s, const struct mpqx_config *c, struct mpqx_err *err)
{
	quiesce(s);
	int rc = prepare_and_commit(s, c, err);
	if (rc)
		return rc;
	rc = evaluate(s, s->q, &s->cfg, true, &s->res, s->layer_stats, s->pred_q, &s->eval_ms, err);
	if (rc) {
		s->eval_err = *err;
		return rc;
	}
	err_clear(&s->eval_err);
	s->eval_pending = false;
	s->eval_valid = true;
	s->eval_subset = false;
	s->eval_seq++;
	if (s->priv->async) {
		/* the worker is idle (quiesce): nothing it published before may replace this */
		pthread_mutex_lock(&s->priv->mu);
		s->priv->pr_ready = false;
		s->priv->shown_req = s->priv->req_id;
		pthread_mutex_unlock(&s->priv->mu);
	}
	return config_copy(&s->eval_cfg, &s->cfg) ? err_set(err, MPQX_ENOMEM, "out of memory") : MPQX_OK;
}

int session_request(struct mpqx_session *s, const struct mpqx_config *c, struct mpqx_err *err)
{
	struct mpqx_session_priv *p = s->priv;
	if (!p->async)
		return session_apply(s, c, err);
	int rc = prepare_and_commit(s, c, err);
	if (rc)
		return rc;
	pthread_mutex_lock(&p->mu);
	p->queued = true;
	p->req_id++;
	atomic_store(&p->sq_abort, true);
	s->eval_pending = true;
	pthread_cond_signal(&p->wake);
	pthread_mutex_unlock(&p->mu);
	return MPQX_OK;
}

int session_open(const char *path, const struct mpqx_session_opts *opts, struct mpqx_session **out,
		 struct mpqx_err *err)
{
	*out = NULL;
	struct mpqx_session *s = calloc(1, sizeof *s);
	struct mpqx_session_priv *p = calloc(1, sizeof *p);
	if (!s || !p) {
		free(s);
		free(p);
		return err_set(err, MPQX_ENOMEM, "out of memory");
	}
	s->priv = p;
	int rc;
	snprintf(s->devices_dir, sizeof s->devices_dir, "%s", opts->devices_dir ? opts->devices_dir : "devices");
	if ((rc = model_load(path, &s->model, err)))
		goto fail;
	const struct mpqx_model *m = s->model;
	p->n_out = m->out_features;
	if ((rc = dataset_load(m, &s->data, err)))
		goto fail;
	if (s->data->windows[MPQX_TEST] < 1 || s->data->windows[MPQX_CALIB] < 1) {
		rc = err_set(err, MPQX_EINPUT, "%s: the dataset has no %s windows", m->data.csv,
			     s->data->windows[MPQX_TEST] < 1 ? "test" : "calibration");
		goto fail;
	}
	if ((rc = fref_run(m, s->data, true, &s->fref, err)))
		goto fail;

	struct mpqx_config c = {0};
	if (opts->config)
		rc = config_load(opts->config, m, &c, err);
	else if ((rc = config_init(&c, m, 8)))
		err_set(err, rc, "out of memory");
	if (!rc && opts->device) {
		if (strlen(opts->device) >= sizeof c.device)
			rc = err_set(err, MPQX_EINPUT, "device name too long: %s", opts->device);
		else
			snprintf(c.device, sizeof c.device, "%s", opts->device);
	}
	if (!rc && opts->config && c.model[0] && strcmp(c.model, m->name) != 0)
		snprintf(s->note, sizeof s->note, "%s: saved for model '%s', not '%s': check that it is meant for this one",
			 opts->config, c.model, m->name);
	if (!rc && opts->config && !opts->device) {
		/* The config's device, checked here so that the message names the config. */
		struct mpqx_device probe;
		struct mpqx_err derr = {0};
		if (device_load(s->devices_dir, c.device, &probe, &derr)) {
			if (!opts->device_fallback) {
				rc = err_set(err, derr.code, "%s: device: %s", opts->config, derr.msg);
			} else {
				struct mpqx_config d0;
				if (config_init(&d0, m, 8) == MPQX_OK) {
					const char *known = strstr(derr.msg, "(known: ");
					snprintf(s->note, sizeof s->note, "%.200s: unknown device '%.63s', opened on %.63s %.150s",
						 opts->config, c.device, d0.device, known ? known : derr.msg);
					snprintf(c.device, sizeof c.device, "%s", d0.device);
				}
				config_fini(&d0);
			}
		}
	}
	if (rc) {
		config_fini(&c);
		goto fail;
	}

	size_t nw = (size_t)s->fref->windows * (size_t)p->n_out + 1;
	s->layer_stats = calloc((size_t)m->n_layers, sizeof *s->layer_stats);
	p->r_stats = calloc((size_t)m->n_layers, sizeof *p->r_stats);
	p->sq_db = calloc((size_t)m->n_layers, sizeof *p->sq_db);
	s->pred_q = calloc(nw, sizeof *s->pred_q);
	p->r_pred = calloc(nw, sizeof *p->r_pred);
	p->w_pred = calloc(nw, sizeof *p->w_pred);
	if (!s->layer_stats || !p->r_stats || !p->sq_db || !s->pred_q || !p->r_pred || !p->w_pred ||
	    estimate_init(&s->est, m->n_layers) || estimate_init(&p->est_tmp, m->n_layers)) {
		config_fini(&c);
		rc = err_set(err, MPQX_ENOMEM, "out of memory");
		goto fail;
	}
	s->res.layers = s->layer_stats;
	s->res.n_layers = m->n_layers;
	if ((rc = ieval_new(m, s->data, s->fref, opts->threads, &p->ev, err))) {
		config_fini(&c);
		goto fail;
	}
	ieval_set_sqnr(p->ev, false); /* evaluate() adds it, or the worker after the MSE */
	/* The first apply always loads the device: s->coeffs is NULL. */
	rc = session_apply(s, &c, err);
	config_fini(&c);
	if (rc)
		goto fail;

	/* The subset, when smaller than the test set, evaluated once here so that a change recomputes only what
	 * it touches: the worker's first MSE after a change, and session_show_subset's. */
	int N = s->data->windows[MPQX_TEST];
	int n = opts->subset > 0 ? (opts->subset < N ? opts->subset : N)
		: opts->subset == 0 && (opts->subset_always || (opts->async && ieval_subset_wanted(m, N)))
			? ieval_subset_size(m, N)
			: N;
	struct mpqx_eval_result sr;
	p->sub_n = n;
	if (n < N && ((rc = ieval_new_subset(m, s->data, s->fref, opts->threads, n, &p->sub, err)) ||
		      (rc = ieval_run(p->sub, s->q, &s->cfg, false, &sr, err))))
		goto fail;
	if (opts->async) {
		if (pthread_mutex_init(&p->mu, NULL) || pthread_cond_init(&p->wake, NULL) ||
		    pthread_cond_init(&p->done, NULL)) {
			rc = err_set(err, MPQX_ENOMEM, "cannot create the evaluation worker");
			goto fail;
		}
		p->async = true;
		/* The worker inherits a mask that blocks every signal, so signals reach the caller's thread (an
		 * interface waiting for a key wakes up at once). */
		sigset_t all, old;
		sigfillset(&all);
		pthread_sigmask(SIG_SETMASK, &all, &old);
		int prc = pthread_create(&p->th, NULL, worker_main, s);
		pthread_sigmask(SIG_SETMASK, &old, NULL);
		if (prc) {
			p->async = false;
			rc = err_set(err, MPQX_ENOMEM, "cannot start the evaluation worker");
			goto fail;
		}
		p->started = true;
	}
	*out = s;
	return MPQX_OK;
fail:
	session_free(s);
	return rc;
}

void session_free(struct mpqx_session *s)
{
	if (!s)
		return;
	struct mpqx_session_priv *p = s->priv;
	if (p->started) {
		pthread_mutex_lock(&p->mu);
		p->stop = true;
		atomic_store(&p->sq_abort, true);
		pthread_cond_signal(&p->wake);
		pthread_mutex_unlock(&p->mu);
		pthread_join(p->th, NULL);
	}
	if (p->async) {
		pthread_mutex_destroy(&p->mu);
		pthread_cond_destroy(&p->wake);
		pthread_cond_destroy(&p->done);
	}
	ieval_free(p->ev);
	ieval_free(p->sub);
	estimate_fini(&p->est_tmp);
	config_fini(&p->job_cfg);
	config_fini(&p->r_cfg);
	free(p->r_stats);
	free(p->sq_db);
	free(p->r_pred);
	free(p->w_pred);
	free(p);
	estimate_fini(&s->est);
	estimate_coeffs_free(s->coeffs);
	quant_free(s->q);
	config_fini(&s->cfg);
	config_fini(&s->eval_cfg);
	free(s->layer_stats);
	free(s->pred_q);
	fref_free(s->fref);
	dataset_free(s->data);
	model_free(s->model);
	free(s);
}

int session_set_layer(struct mpqx_session *s, int layer, const struct mpqx_layer_cfg *lc, struct mpqx_err *err)
{
	if (layer < 0 || layer >= s->model->n_layers)
		return err_set(err, MPQX_EINPUT, "no layer %d in %s", layer, s->model->name);
	struct mpqx_config c = {0};
	if (config_copy(&c, &s->cfg))
		return err_set(err, MPQX_ENOMEM, "out of memory");
	c.layers[layer] = *lc;
	int rc = session_request(s, &c, err);
	config_fini(&c);
	return rc;
}

int session_set_all_bits(struct mpqx_session *s, int w_bits, int a_bits, struct mpqx_err *err)
{
	if ((w_bits >= MPQX_BITS_MIN && w_bits > MPQX_BITS_MAX) || (a_bits >= MPQX_BITS_MIN && a_bits > MPQX_BITS_MAX))
		return err_set(err, MPQX_EINPUT, "bit widths go from %d to %d", MPQX_BITS_MIN, MPQX_BITS_MAX);
	struct mpqx_config c = {0};
	if (config_copy(&c, &s->cfg))
		return err_set(err, MPQX_ENOMEM, "out of memory");
	for (int l = 0; l < c.n_layers; l++) {
		if (w_bits >= MPQX_BITS_MIN)
			c.layers[l].w_bits = w_bits;
		if (a_bits >= MPQX_BITS_MIN)
			c.layers[l].a_bits = a_bits;
	}
	int rc = session_request(s, &c, err);
	config_fini(&c);
	return rc;
}

int session_set_device(struct mpqx_session *s, const char *name, struct mpqx_err *err)
{
	struct mpqx_config c = {0};
	if (strlen(name) >= sizeof c.device)
		return err_set(err, MPQX_EINPUT, "device name too long: %s", name);
	if (config_copy(&c, &s->cfg))
		return err_set(err, MPQX_ENOMEM, "out of memory");
	snprintf(c.device, sizeof c.device, "%s", name);
	int rc = session_request(s, &c, err);
	config_fini(&c);
	return rc;
}

bool session_layer_has_wbits(const struct mpqx_session *s, int layer)
{
	return model_layer_has_weights(&s->model->layers[layer]);
}

bool session_layer_has_mult(const struct mpqx_session *s, int layer)
{
	return layer >= 0 && layer < s->model->n_layers &&
	       hw_mult_kind(s->model->layers[layer].op) != MPQX_HW_MULT_NONE;
}

bool session_layer_has_wgran(const struct mpqx_session *s, int layer)
{
	return layer >= 0 && layer < s->model->n_layers && op_class(s->model->layers[layer].op)->w_channel;
}

bool session_layer_has_calib(const struct mpqx_session *s, int layer)
{
	if (layer < 0 || layer >= s->model->n_layers)
		return false;
	const struct mpqx_op_class *oc = op_class(s->model->layers[layer].op);
	return !oc->out_range && !oc->calib_peak;
}

bool session_layer_has_rom(const struct mpqx_session *s, int layer)
{
	return model_layer_has_rom(&s->model->layers[layer]); /* the op's class: weights, const, softmax table */
}

double session_capacity(const struct mpqx_session *s, enum mpqx_resource r)
{
	switch (r) {
	case MPQX_RES_LUT:
		return (double)s->dev.lut;
	case MPQX_RES_LUTRAM:
		return (double)s->dev.lutram; /* iCE40: its SPRAM blocks */
	case MPQX_RES_FF:
		return (double)s->dev.ff;
	case MPQX_RES_BRAM:
		return s->dev.fam == MPQX_FAMILY_ICE40 ? (double)s->dev.bram18 : s->dev.bram18 / 2.0;
	case MPQX_RES_DSP:
		return (double)s->dev.dsp;
	default:
		return 0;
	}
}

/* LUT counts logic and memory LUTs against all LUTs, as the estimator's utilisation (Vivado's "Slice
 * LUTs") does. */
static double cost_of(const struct mpqx_cost *c, enum mpqx_resource r, bool ice)
{
	switch (r) {
	case MPQX_RES_LUT:
		return (double)(c->lut + (ice ? 0 : c->lutram)); /* iCE40: logic cells; lutram holds SPRAM */
	case MPQX_RES_LUTRAM:
		return (double)c->lutram;
	case MPQX_RES_FF:
		return (double)c->ff;
	case MPQX_RES_BRAM:
		return ice ? (double)c->bram18 : c->bram18 / 2.0; /* EBRs, or RAMB18 tiles */
	case MPQX_RES_DSP:
		return (double)c->dsp;
	default:
		return 0;
	}
}

double session_used(const struct mpqx_session *s, enum mpqx_resource r)
{
	bool ice = s->dev.fam == MPQX_FAMILY_ICE40;
	if (r == MPQX_RES_BRAM && !ice)
		return s->est.bram_tiles;
	return cost_of(&s->est.total, r, ice);
}

enum mpqx_resource session_dominant(const struct mpqx_session *s, int layer, double *frac)
{
	enum mpqx_resource best = MPQX_RES_LUT;
	double bf = -1;
	for (int r = 0; r < MPQX_RES_COUNT; r++) {
		double cap = session_capacity(s, (enum mpqx_resource)r);
		double f = cap > 0 ? cost_of(&s->est.layers[layer], (enum mpqx_resource)r, s->dev.fam == MPQX_FAMILY_ICE40) / cap : 0;
		if (f > bf) {
			bf = f;
			best = (enum mpqx_resource)r;
		}
	}
	if (frac)
		*frac = bf;
	return best;
}

double session_layer_loss_db(const struct mpqx_session *s, int layer)
{
	if (!s->eval_valid)
		return 0;
	const struct mpqx_layer *l = &s->model->layers[layer];
	double in = 60;
	for (int i = 0; i < l->n_inputs; i++) {
		double v = s->layer_stats[l->inputs[i]].sqnr_db;
		if (v < in)
			in = v;
	}
	double d = in - s->layer_stats[layer].sqnr_db;
	return d > 0 ? d : 0;
}

double session_truth(const struct mpqx_session *s, int w)
{
	return model_denormalize_target(s->model, dataset_target(s->data, MPQX_TEST, w));
}

double session_pred_float(const struct mpqx_session *s, int w)
{
	return model_denormalize_target(s->model, s->fref->pred[(size_t)w * s->priv->n_out]);
}

double session_pred_quant(const struct mpqx_session *s, int w)
{
	return model_denormalize_target(s->model, s->pred_q[(size_t)w * s->priv->n_out]);
}

long session_clipped(const struct mpqx_session *s)
{
	long n = 0;
	for (int l = 0; l < s->model->n_layers; l++)
		n += s->layer_stats[l].clipped;
	return n;
}


int session_list_devices(const char *dir, char (*names)[64], int max)
{
	return device_list(dir, names, max);
}
