/* The Python module mpqx: a CPython extension over the core library (doc/python.md). A Model holds one
 * session (model, data, float reference, the incremental integer engine); eval, estimate, search and export
 * return the dicts of the subcommands' --json, converted from the very cJSON trees src/core/report.c builds
 * for the command line. Errors raise mpqx.Error (a ValueError) with the command line's message. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <cjson/cJSON.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "mpqx/config.h"
#include "mpqx/device.h"
#include "mpqx/estimate.h"
#include "mpqx/export.h"
#include "mpqx/quant.h"
#include "mpqx/report.h"
#include "mpqx/search.h"
#include "mpqx/session.h"
#include "mpqx_config.h"

static PyObject *mpqx_error; /* mpqx.Error */
static PyObject *json_dumps; /* json.dumps */
static PyObject *dumps_kw;   /* {"allow_nan": False} */
static PyObject *key_format, *key_version;

/* ---- helpers ---- */

static PyObject *raise(const struct mpqx_err *err)
{
	PyErr_SetString(mpqx_error, err->msg[0] ? err->msg : "failed");
	return NULL;
}

static bool is_dir(const char *p)
{
	struct stat st;
	return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

/* The command line's rule (src/cli/main.c, cli_data_dir): $MPQX_DATA_DIR/what, the source tree's when it
 * exists, else the installed data directory. */
static void data_dir(const char *what, char *buf, size_t size)
{
	const char *env = getenv("MPQX_DATA_DIR");
	if (env && *env) {
		snprintf(buf, size, "%s/%s", env, what);
		return;
	}
	snprintf(buf, size, "%s/%s", MPQX_SRCDIR, what);
	if (!is_dir(buf))
		snprintf(buf, size, "%s/%s", MPQX_DATADIR, what);
}

/* A number as json.loads reads what cJSON_Print (cJSON 1.7) writes for it: null when not finite, an int
 * when it equals its int value, else 15 significant digits when they read back within a relative
 * DBL_EPSILON, else 17. The dicts then hold exactly the numbers of the command line's --json. */
static PyObject *number_to_py(const cJSON *j)
{
	double d = j->valuedouble;
	char buf[64];
	if (!isfinite(d))
		Py_RETURN_NONE;
	if (d == (double)j->valueint)
		return PyLong_FromLong(j->valueint);
	snprintf(buf, sizeof buf, "%1.15g", d);
	double t = strtod(buf, NULL);
	double max = fabs(t) > fabs(d) ? fabs(t) : fabs(d);
	if (!(fabs(t - d) <= max * DBL_EPSILON))
		snprintf(buf, sizeof buf, "%1.17g", d);
	if (strpbrk(buf, ".eEni"))
		return PyFloat_FromDouble(strtod(buf, NULL));
	return PyLong_FromString(buf, NULL, 10);
}

/* cJSON tree to Python objects, as json.loads of the command line's output would give. */
static PyObject *to_py(const cJSON *j)
{
	if (cJSON_IsObject(j)) {
		PyObject *d = PyDict_New();
		if (!d)
			return NULL;
		for (const cJSON *e = j->child; e; e = e->next) {
			PyObject *v = to_py(e);
			if (!v || PyDict_SetItemString(d, e->string, v)) {
				Py_XDECREF(v);
				Py_DECREF(d);
				return NULL;
			}
			Py_DECREF(v);
		}
		return d;
	}
	if (cJSON_IsArray(j)) {
		PyObject *l = PyList_New(cJSON_GetArraySize(j));
		if (!l)
			return NULL;
		Py_ssize_t i = 0;
		for (const cJSON *e = j->child; e; e = e->next) {
			PyObject *v = to_py(e);
			if (!v) {
				Py_DECREF(l);
				return NULL;
			}
			PyList_SET_ITEM(l, i++, v);
		}
		return l;
	}
	if (cJSON_IsNumber(j))
		return number_to_py(j);
	if (cJSON_IsString(j))
		return PyUnicode_DecodeUTF8(j->valuestring, (Py_ssize_t)strlen(j->valuestring), "replace");
	if (cJSON_IsTrue(j))
		Py_RETURN_TRUE;
	if (cJSON_IsFalse(j))
		Py_RETURN_FALSE;
	if (cJSON_IsRaw(j))
		return PyUnicode_FromString(j->valuestring);
	Py_RETURN_NONE;
}

/* Converts and deletes a report tree. */
static PyObject *take(cJSON *o)
{
	if (!o)
		return PyErr_NoMemory();
	PyObject *r = to_py(o);
	cJSON_Delete(o);
	return r;
}

/* PyUnicode_FSConverter that takes None for "not given" (*out stays NULL). */
static int opt_path(PyObject *o, void *out)
{
	if (o == Py_None) {
		*(PyObject **)out = NULL;
		return 1;
	}
	return PyUnicode_FSConverter(o, out);
}

/* ---- Model ---- */

typedef struct {
	PyObject_HEAD
	struct mpqx_session *s;
	PyObject *layers; /* list of dicts */
	/* The estimate's device and coefficients, kept while the same names are asked for. */
	char dev_key[4200], costs_key[4200];
	struct mpqx_device dev;
	struct mpqx_coeffs *k;
	struct mpqx_estimate est;
	bool est_ready;
	long last_recomputed;
	double last_eval_ms;
	PyThread_type_lock lock; /* one call at a time while the GIL is released */
} Model;

static void lock_model(Model *self)
{
	if (!PyThread_acquire_lock(self->lock, NOWAIT_LOCK)) {
		Py_BEGIN_ALLOW_THREADS
		PyThread_acquire_lock(self->lock, WAIT_LOCK);
		Py_END_ALLOW_THREADS
	}
}

static void unlock_model(Model *self)
{
	PyThread_release_lock(self->lock);
}

/* config: None (uniform 8 bits, storage auto), a path (str, bytes, os.PathLike) or a dict in the config
 * format ("format" and "version" may be left out). *path_out gets the path's bytes object when a path was
 * given (the caller releases it). Returns 0, or -1 with an exception set. */
static int get_config(Model *self, PyObject *arg, struct mpqx_config *c, PyObject **path_out)
{
	const struct mpqx_model *m = self->s->model;
	struct mpqx_err err = {0};
	if (path_out)
		*path_out = NULL;
	if (!arg || arg == Py_None) {
		if (config_init(c, m, 8)) {
			PyErr_NoMemory();
			return -1;
		}
		return 0;
	}
	if (PyDict_Check(arg)) {
		PyObject *d = PyDict_Copy(arg), *text = NULL;
		PyObject *fmt = PyUnicode_FromString("mpqx-config"), *ver = PyLong_FromLong(1);
		if (d && fmt && ver && PyDict_SetDefault(d, key_format, fmt) && PyDict_SetDefault(d, key_version, ver)) {
			PyObject *args = PyTuple_Pack(1, d);
			text = args ? PyObject_Call(json_dumps, args, dumps_kw) : NULL;
			Py_XDECREF(args);
		}
		Py_XDECREF(fmt);
		Py_XDECREF(ver);
		Py_XDECREF(d);
		if (!text) {
			/* Not JSON (a set, a NaN...): the same kind of error as a bad file. */
			PyObject *type, *value, *tb;
			PyErr_Fetch(&type, &value, &tb);
			PyObject *msg = value ? PyObject_Str(value) : NULL;
			const char *u = msg ? PyUnicode_AsUTF8(msg) : NULL;
			PyErr_Clear();
			PyErr_Format(mpqx_error, "config: not JSON: %s", u ? u : "?");
			Py_XDECREF(msg);
			Py_XDECREF(type);
			Py_XDECREF(value);
			Py_XDECREF(tb);
			return -1;
		}
		Py_ssize_t len;
		const char *t = PyUnicode_AsUTF8AndSize(text, &len);
		int rc = t ? config_parse(t, (size_t)len, "config", m, c, &err) : -1;
		Py_DECREF(text);
		if (rc) {
			if (t)
				raise(&err);
			return -1;
		}
		return 0;
	}
	PyObject *b = NULL;
	if (!PyUnicode_FSConverter(arg, &b)) {
		PyErr_Clear();
		PyErr_Format(PyExc_TypeError, "config: expected None, a path or a dict, got %s", Py_TYPE(arg)->tp_name);
		return -1;
	}
	const char *path = PyBytes_AS_STRING(b);
	int rc;
	Py_BEGIN_ALLOW_THREADS
	rc = config_load(path, m, c, &err);
	Py_END_ALLOW_THREADS
	if (rc) {
		Py_DECREF(b);
		raise(&err);
		return -1;
	}
	if (path_out)
		*path_out = b;
	else
		Py_DECREF(b);
	return 0;
}

static PyObject *layers_list(const struct mpqx_model *m)
{
	PyObject *l = PyList_New(m->n_layers);
	if (!l)
		return NULL;
	for (int i = 0; i < m->n_layers; i++) {
		const struct mpqx_layer *ly = &m->layers[i];
		PyObject *in = PyList_New(ly->n_inputs);
		for (int k = 0; in && k < ly->n_inputs; k++)
			PyList_SET_ITEM(in, k, PyUnicode_FromString(m->layers[ly->inputs[k]].name));
		bool w = model_layer_has_weights(ly);
		PyObject *d = in ? Py_BuildValue("{s:s,s:s,s:N,s:(ii),s:O,s:O,s:O}", "name", ly->name, "op",
						 model_op_name(ly->op), "inputs", in, "shape", ly->rows, ly->cols,
						 "has_weights", w ? Py_True : Py_False, "has_rom",
						 model_layer_has_rom(ly) ? Py_True : Py_False,
						 "output", i == m->output ? Py_True : Py_False)
				 : NULL;
		if (!d) {
			Py_DECREF(l);
			return NULL;
		}
		PyList_SET_ITEM(l, i, d);
	}
	return l;
}

static int Model_init(Model *self, PyObject *args, PyObject *kw)
{
	static char *kwlist[] = {"path", "threads", NULL};
	PyObject *pb = NULL;
	int threads = 0;
	if (!PyArg_ParseTupleAndKeywords(args, kw, "O&|i:Model", kwlist, PyUnicode_FSConverter, &pb, &threads))
		return -1;
	if (self->s) {
		Py_DECREF(pb);
		PyErr_SetString(PyExc_RuntimeError, "Model already initialised");
		return -1;
	}
	if (threads < 0 || threads > 64) {
		Py_DECREF(pb);
		PyErr_SetString(mpqx_error, "threads: expected 0..64");
		return -1;
	}
	char ddir[4400];
	data_dir("devices", ddir, sizeof ddir);
	struct mpqx_session_opts o = {.devices_dir = ddir, .threads = threads};
	struct mpqx_err err = {0};
	const char *path = PyBytes_AS_STRING(pb);
	int rc;
	Py_BEGIN_ALLOW_THREADS
	rc = session_open(path, &o, &self->s, &err);
	Py_END_ALLOW_THREADS
	Py_DECREF(pb);
	if (rc) {
		raise(&err);
		return -1;
	}
	if (!(self->lock = PyThread_allocate_lock()) || estimate_init(&self->est, self->s->model->n_layers)) {
		PyErr_NoMemory();
		return -1;
	}
	self->est_ready = true;
	self->layers = layers_list(self->s->model);
	return self->layers ? 0 : -1;
}

static void Model_dealloc(Model *self)
{
	Py_XDECREF(self->layers);
	if (self->est_ready)
		estimate_fini(&self->est);
	estimate_coeffs_free(self->k);
	session_free(self->s);
	if (self->lock)
		PyThread_free_lock(self->lock);
	Py_TYPE(self)->tp_free((PyObject *)self);
}

static bool ready(Model *self)
{
	if (!self->s)
		PyErr_SetString(PyExc_RuntimeError, "Model not initialised");
	return self->s != NULL;
}

static PyObject *Model_eval(Model *self, PyObject *args, PyObject *kw)
{
	static char *kwlist[] = {"config", NULL};
	PyObject *carg = Py_None;
	if (!ready(self) || !PyArg_ParseTupleAndKeywords(args, kw, "|O:eval", kwlist, &carg))
		return NULL;
	struct mpqx_config c = {0};
	if (get_config(self, carg, &c, NULL))
		return NULL;
	struct mpqx_session *s = self->s;
	struct mpqx_err err = {0};
	int rc;
	lock_model(self);
	/* eval needs no device (the command line loads none): keep the session's, already loaded. */
	snprintf(c.device, sizeof c.device, "%s", s->cfg.device);
	Py_BEGIN_ALLOW_THREADS
	rc = session_apply(s, &c, &err);
	Py_END_ALLOW_THREADS
	config_fini(&c);
	PyObject *r = NULL;
	if (rc) {
		raise(&err);
	} else {
		self->last_recomputed = s->res.recomputed;
		self->last_eval_ms = s->eval_ms;
		r = take(report_eval(s->model, &s->cfg, s->q, s->fref, &s->res));
	}
	unlock_model(self);
	return r;
}

/* The estimate's device and coefficients for this name (or the config's device) and costs file. */
static int load_estimate_device(Model *self, const char *name, const char *costs, struct mpqx_err *err)
{
	if (self->k && strcmp(name, self->dev_key) == 0 && strcmp(costs ? costs : "", self->costs_key) == 0)
		return MPQX_OK;
	char ddir[4400], kpath[4500];
	data_dir("devices", ddir, sizeof ddir);
	struct mpqx_device dev;
	struct mpqx_coeffs *k = NULL;
	int rc = device_load(ddir, name, &dev, err);
	if (rc)
		return rc;
	if (costs)
		snprintf(kpath, sizeof kpath, "%s", costs);
	else
		snprintf(kpath, sizeof kpath, "%s/%s-cost.ini", ddir, dev.family);
	if ((rc = estimate_coeffs_load(kpath, &k, err)))
		return rc;
	estimate_coeffs_free(self->k);
	self->k = k;
	self->dev = dev;
	snprintf(self->dev_key, sizeof self->dev_key, "%s", name);
	snprintf(self->costs_key, sizeof self->costs_key, "%s", costs ? costs : "");
	return MPQX_OK;
}

static PyObject *Model_estimate(Model *self, PyObject *args, PyObject *kw)
{
	static char *kwlist[] = {"config", "device", "costs", "features", NULL};
	PyObject *carg = Py_None, *dev = NULL, *costs = NULL;
	int features = 0;
	if (!ready(self) || !PyArg_ParseTupleAndKeywords(args, kw, "|OO&O&p:estimate", kwlist, &carg,
							 opt_path, &dev, opt_path, &costs,
							 &features))
		return NULL;
	struct mpqx_config c = {0};
	struct mpqx_qmodel *q = NULL;
	struct mpqx_err err = {0};
	PyObject *r = NULL, *cpath = NULL;
	if (get_config(self, carg, &c, &cpath))
		goto out;
	lock_model(self);
	const struct mpqx_session *s = self->s;
	if (load_estimate_device(self, dev ? PyBytes_AS_STRING(dev) : c.device, costs ? PyBytes_AS_STRING(costs) : NULL,
				 &err) ||
	    device_check_config(&self->dev, s->model, &c, cpath ? PyBytes_AS_STRING(cpath) : NULL, NULL, 0, &err) ||
	    quant_build(s->model, s->fref, &c, &q, &err) || estimate_run(q, &c, &self->dev, self->k, &self->est, &err))
		raise(&err);
	else
		r = take(report_estimate(s->model, &c, q, &self->dev, self->k, &self->est, features));
	unlock_model(self);
out:
	Py_XDECREF(cpath);
	quant_free(q);
	config_fini(&c);
	Py_XDECREF(dev);
	Py_XDECREF(costs);
	return r;
}

/* A bit list: None, a string such as "4,6,8" or "2-8", or a sequence of ints. Returns the count (0 for
 * None) or -1 with an exception set. */
static int get_bits(PyObject *o, const char *what, int *bits)
{
	if (!o || o == Py_None)
		return 0;
	int n = -1;
	if (PyUnicode_Check(o)) {
		const char *t = PyUnicode_AsUTF8(o);
		n = t ? search_parse_bits(t, bits, MPQX_BITS_MAX + 1) : -1;
	} else {
		PyObject *seq = PySequence_Fast(o, "");
		if (seq) {
			char text[256] = "";
			size_t len = 0;
			Py_ssize_t k = PySequence_Fast_GET_SIZE(seq);
			bool ok = k > 0 && k <= MPQX_BITS_MAX;
			for (Py_ssize_t i = 0; ok && i < k; i++) {
				PyObject *e = PySequence_Fast_GET_ITEM(seq, i);
				long v = PyLong_Check(e) && !PyBool_Check(e) ? PyLong_AsLong(e) : -1;
				ok = v >= MPQX_BITS_MIN && v <= MPQX_BITS_MAX;
				len += (size_t)snprintf(text + len, sizeof text - len, "%s%ld", i ? "," : "", v);
			}
			Py_DECREF(seq);
			if (ok)
				n = search_parse_bits(text, bits, MPQX_BITS_MAX + 1);
		}
		PyErr_Clear();
	}
	if (n <= 0) {
		PyErr_Format(mpqx_error, "%s: expected bit widths %d..%d such as [4, 6, 8] or '2-8'", what,
			     MPQX_BITS_MIN, MPQX_BITS_MAX);
		return -1;
	}
	return n;
}

static PyObject *Model_search(Model *self, PyObject *args, PyObject *kw)
{
	static char *kwlist[] = {"device", "config", "lut", "lutram", "ff", "bram", "dsp", "latency_us", "margin",
				 "wbits", "abits", "keep_storage", "select", "exact", "front", "exhaustive",
				 "sensitivity", "output", "threads", NULL};
	PyObject *dev = NULL, *carg = Py_None, *out = NULL, *wb = NULL, *ab = NULL;
	double lim[MPQX_RES_COUNT] = {0}, latency = 0, margin = 0;
	int keep = 0, exact = -1, front = -1, exhaustive = 0, sens = 0, threads = 0;
	const char *select = "test";
	if (!ready(self) ||
	    !PyArg_ParseTupleAndKeywords(args, kw, "|O&$OdddddddOOpsiippO&i:search", kwlist, opt_path, &dev,
					 &carg, &lim[MPQX_RES_LUT], &lim[MPQX_RES_LUTRAM], &lim[MPQX_RES_FF],
					 &lim[MPQX_RES_BRAM], &lim[MPQX_RES_DSP], &latency, &margin, &wb, &ab, &keep,
					 &select, &exact, &front, &exhaustive, &sens, opt_path, &out, &threads))
		return NULL;
	struct mpqx_report_search r;
	report_search_init(&r);
	struct mpqx_config c = {0};
	struct mpqx_err err = {0};
	PyObject *res = NULL;
	static const char *const lim_names[MPQX_RES_COUNT] = {"lut", "lutram", "ff", "bram", "dsp"};
	for (int k = 0; k < MPQX_RES_COUNT; k++) {
		if (lim[k] < 0 || !isfinite(lim[k])) {
			PyErr_Format(mpqx_error, "%s: expected a positive number", lim_names[k]);
			goto out;
		}
		r.opts.limit[k] = lim[k];
	}
	if (latency < 0 || !isfinite(latency)) {
		PyErr_SetString(mpqx_error, "latency_us: expected a positive number");
		goto out;
	}
	if (!(margin >= 0 && margin < 1)) {
		PyErr_SetString(mpqx_error, "margin: expected a fraction from 0 to below 1");
		goto out;
	}
	if (threads < 0 || threads > 64 || exact > 100000 || front > 100000) {
		PyErr_SetString(mpqx_error, "threads, exact or front out of range");
		goto out;
	}
	r.opts.latency_us = latency;
	r.opts.margin = margin;
	r.opts.keep_storage = keep;
	if (exact >= 0)
		r.opts.polish = exact;
	if (front >= 0)
		r.opts.front_points = front;
	if ((r.opts.n_wbits = get_bits(wb, "wbits", r.opts.wbits)) < 0 ||
	    (r.opts.n_abits = get_bits(ab, "abits", r.opts.abits)) < 0)
		goto out;
	static const char *const splits[MPQX_SPLITS] = {"train", "calib", "test"};
	int split = -1;
	for (int k = 0; k < MPQX_SPLITS; k++)
		if (strcmp(select, splits[k]) == 0)
			split = k;
	if (split < 0) {
		PyErr_Format(mpqx_error, "select '%s': expected test, calib or train", select);
		goto out;
	}
	r.split = (enum mpqx_split)split;
	r.threads = threads;
	r.sens_only = sens;
	r.exhaustive = exhaustive;
	r.output = out ? PyBytes_AS_STRING(out) : NULL;
	if (get_config(self, carg, &c, NULL))
		goto out;
	if (dev) {
		if (PyBytes_GET_SIZE(dev) >= (Py_ssize_t)sizeof c.device) {
			PyErr_Format(mpqx_error, "device name too long: %s", PyBytes_AS_STRING(dev));
			goto out;
		}
		snprintf(c.device, sizeof c.device, "%s", PyBytes_AS_STRING(dev));
	}
	lock_model(self);
	int rc;
	struct mpqx_session *s = self->s;
	Py_BEGIN_ALLOW_THREADS
	rc = session_apply(s, &c, &err) || report_search_run(s, &r, &err);
	Py_END_ALLOW_THREADS
	if (rc)
		raise(&err);
	else
		res = take(report_search(s, &r));
	unlock_model(self);
out:
	report_search_fini(&r);
	config_fini(&c);
	Py_XDECREF(dev);
	Py_XDECREF(out);
	return res;
}

static PyObject *Model_export(Model *self, PyObject *args, PyObject *kw)
{
	static char *kwlist[] = {"outdir", "config", "windows", "sim", "prefix", "simulator", "device", NULL};
	PyObject *dir = NULL, *carg = Py_None, *cpath = NULL, *dev = NULL;
	int windows = 8, sim = 0;
	const char *prefix = NULL, *simulator = "icarus";
	enum mpqx_simulator which;
	if (!ready(self) || !PyArg_ParseTupleAndKeywords(args, kw, "O&|OipzsO&:export", kwlist, PyUnicode_FSConverter,
							 &dir, &carg, &windows, &sim, &prefix, &simulator, opt_path, &dev))
		return NULL;
	if (export_simulator_parse(simulator, &which)) {
		PyErr_Format(mpqx_error, "simulator: expected icarus or verilator, got '%s'", simulator);
		Py_XDECREF(dir);
		return NULL;
	}
	struct mpqx_config c = {0};
	struct mpqx_qmodel *q = NULL;
	struct mpqx_err err = {0};
	PyObject *res = NULL;
	if (windows < 1 || windows > 1000000) {
		PyErr_Format(mpqx_error, "windows: expected a positive number, got %d", windows);
		goto out;
	}
	if (get_config(self, carg, &c, &cpath))
		goto out;
	char tdir[4400];
	data_dir("hdl_templates", tdir, sizeof tdir);
	struct mpqx_export_opts o = {.templates = tdir, .windows = windows,
				     .config_path = cpath ? PyBytes_AS_STRING(cpath) : NULL, .prefix = prefix};
	struct mpqx_export_info info;
	struct mpqx_sim_result sr;
	const char *d = PyBytes_AS_STRING(dir);
	lock_model(self);
	const struct mpqx_session *s = self->s;
	int rc;
	/* the device (the argument, else the config's): its family's RTL, and storage it lacks refused */
	if (load_estimate_device(self, dev ? PyBytes_AS_STRING(dev) : c.device, NULL, &err) ||
	    device_check_config(&self->dev, s->model, &c, o.config_path, NULL, 0, &err)) {
		raise(&err);
		unlock_model(self);
		goto out;
	}
	o.device = &self->dev;
	Py_BEGIN_ALLOW_THREADS
	rc = quant_build(s->model, s->fref, &c, &q, &err) || export_write(d, q, &c, s->data, &o, &info, &err) ||
	     (sim && export_simulate_with(d, which, &sr, &err));
	Py_END_ALLOW_THREADS
	if (rc)
		raise(&err);
	else
		res = take(report_export(d, &info, sim ? &sr : NULL));
	unlock_model(self);
out:
	quant_free(q);
	config_fini(&c);
	Py_XDECREF(cpath);
	Py_XDECREF(dev);
	Py_XDECREF(dir);
	return res;
}

static PyObject *Model_get_layers(Model *self, void *closure)
{
	if (!ready(self))
		return NULL;
	return PySequence_List(self->layers); /* a copy: the caller may change it */
}

static PyObject *Model_get_name(Model *self, void *closure)
{
	return ready(self) ? PyUnicode_FromString(self->s->model->name) : NULL;
}

static PyObject *Model_get_path(Model *self, void *closure)
{
	return ready(self) ? PyUnicode_DecodeFSDefault(self->s->model->path) : NULL;
}

static PyObject *Model_get_windows(Model *self, void *closure)
{
	return ready(self) ? PyLong_FromLong(self->s->fref->windows) : NULL;
}

static PyObject *Model_get_recomputed(Model *self, void *closure)
{
	return PyLong_FromLong(self->last_recomputed);
}

static PyObject *Model_get_eval_ms(Model *self, void *closure)
{
	return PyFloat_FromDouble(self->last_eval_ms);
}

static PyGetSetDef Model_getset[] = {
	{"layers", (getter)Model_get_layers, NULL,
	 "the layers in graph order: dicts of name, op, inputs (names), shape (rows, cols), has_weights (weight "
	 "bits mean something), has_rom, output",
	 NULL},
	{"name", (getter)Model_get_name, NULL, "the model's name", NULL},
	{"path", (getter)Model_get_path, NULL, "the model file", NULL},
	{"windows", (getter)Model_get_windows, NULL, "test windows", NULL},
	{"last_recomputed", (getter)Model_get_recomputed, NULL,
	 "layers the last eval recomputed (the others came from the previous evaluation's cache)", NULL},
	{"last_eval_ms", (getter)Model_get_eval_ms, NULL, "wall time of the last eval's integer evaluation, ms", NULL},
	{NULL, NULL, NULL, NULL, NULL},
};

static PyMethodDef Model_methods[] = {
	{"eval", (PyCFunction)(void (*)(void))Model_eval, METH_VARARGS | METH_KEYWORDS,
	 "eval(config=None) -> dict of `mpqx eval --json`: the integer model's test-set errors and per-layer SQNR "
	 "and clamps. Re-evaluates only from the first layer whose settings differ from the previous eval's."},
	{"estimate", (PyCFunction)(void (*)(void))Model_estimate, METH_VARARGS | METH_KEYWORDS,
	 "estimate(config=None, device=None, costs=None, features=False) -> dict of `mpqx estimate --json`"},
	{"search", (PyCFunction)(void (*)(void))Model_search, METH_VARARGS | METH_KEYWORDS,
	 "search(device=None, *, config=None, lut=, lutram=, ff=, bram=, dsp=, latency_us=, margin=, wbits=, "
	 "abits=, keep_storage=False, select='test', exact=, front=, exhaustive=False, sensitivity=False, "
	 "output=None, threads=0) -> dict of `mpqx search --json`"},
	{"export", (PyCFunction)(void (*)(void))Model_export, METH_VARARGS | METH_KEYWORDS,
	 "export(outdir, config=None, windows=8, sim=False, prefix=None) -> dict of `mpqx export --json`; a "
	 "simulation that differs is reported in ['sim']['ok'] and ['sim']['problems'], not raised"},
	{NULL, NULL, 0, NULL},
};

static PyTypeObject ModelType = {
	PyVarObject_HEAD_INIT(NULL, 0).tp_name = "mpqx.Model",
	.tp_doc = PyDoc_STR("Model(path, threads=0): a model.json or a sample directory, with its data, float "
			    "reference and incremental integer engine"),
	.tp_basicsize = sizeof(Model),
	.tp_flags = Py_TPFLAGS_DEFAULT,
	.tp_new = PyType_GenericNew,
	.tp_init = (initproc)Model_init,
	.tp_dealloc = (destructor)Model_dealloc,
	.tp_methods = Model_methods,
	.tp_getset = Model_getset,
};

static struct PyModuleDef mpqx_module = {
	PyModuleDef_HEAD_INIT,
	.m_name = "mpqx",
	.m_doc = "mpqx: mixed-precision quantization of small time-series Transformers for embedded FPGAs "
		 "(doc/python.md)",
	.m_size = -1,
};

PyMODINIT_FUNC PyInit_mpqx(void);

PyMODINIT_FUNC PyInit_mpqx(void)
{
	if (PyType_Ready(&ModelType) < 0)
		return NULL;
	PyObject *json = PyImport_ImportModule("json");
	if (!json)
		return NULL;
	json_dumps = PyObject_GetAttrString(json, "dumps");
	Py_DECREF(json);
	dumps_kw = Py_BuildValue("{s:O}", "allow_nan", Py_False);
	key_format = PyUnicode_InternFromString("format");
	key_version = PyUnicode_InternFromString("version");
	if (!json_dumps || !dumps_kw || !key_format || !key_version)
		return NULL;
	PyObject *m = PyModule_Create(&mpqx_module);
	if (!m)
		return NULL;
	mpqx_error = PyErr_NewExceptionWithDoc("mpqx.Error",
					       "a bad input or a failed run: the message the command line prints",
					       PyExc_ValueError, NULL);
	Py_INCREF(&ModelType);
	if (!mpqx_error || PyModule_AddObject(m, "Model", (PyObject *)&ModelType) ||
	    PyModule_AddObjectRef(m, "Error", mpqx_error) || PyModule_AddStringConstant(m, "__version__", MPQX_VERSION)) {
		Py_DECREF(m);
		return NULL;
	}
	return m;
}
