/* Model loader: JSON -> struct mpqx_model, then validation of the graph. cJSON stays in this file. */
#include "mpqx/model.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "mpqx/fileio.h"
#include "mpqx/op.h"

#define MAX_DIM MPQX_MAX_DIM
#define MAX_ELEMS (1L << 24)

static const struct {
	const char *name;
	int n_inputs;
} op_table[] = {
#define MPQX_OP_ROW(e, s, n) {s, n},
	MPQX_OPS(MPQX_OP_ROW)
#undef MPQX_OP_ROW
};

const char *model_op_name(enum mpqx_op op)
{
	return (unsigned)op < MPQX_OP_COUNT ? op_table[op].name : "?";
}

int model_find(const struct mpqx_model *m, const char *name)
{
	for (int i = 0; i < m->n_layers; i++)
		if (strcmp(m->layers[i].name, name) == 0)
			return i;
	return -1;
}

bool model_layer_has_weights(const struct mpqx_layer *l)
{
	return op_class(l->op)->has_weights;
}

bool model_layer_has_buffer(const struct mpqx_layer *l)
{
	return op_class(l->op)->has_buf;
}

bool model_layer_has_rom(const struct mpqx_layer *l)
{
	return op_class(l->op)->has_rom;
}

void model_free(struct mpqx_model *m)
{
	if (!m)
		return;
	for (int i = 0; i < m->n_layers; i++) {
		free(m->layers[i].weight.data);
		free(m->layers[i].bias.data);
	}
	free(m->layers);
	free(m);
}

/* Parsing context: the file name and the JSON path of the value being read. */
struct ctx {
	const char *file;
	struct mpqx_err *err;
};

static int bad(struct ctx *c, const char *path, const char *what)
{
	return err_set(c->err, MPQX_EINPUT, "%s: %s: %s", c->file, path, what);
}

static const cJSON *member(struct ctx *c, const cJSON *obj, const char *key, const char *path, bool required,
			   int *rc)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
	if (!v && required) {
		char p[256];
		snprintf(p, sizeof p, "%.200s%s%.40s", path, path[0] ? "." : "", key);
		*rc = bad(c, p, "missing");
	}
	return v;
}

static int get_int(struct ctx *c, const cJSON *obj, const char *key, const char *path, bool required, int lo,
		   int hi, int *out)
{
	int rc = 0;
	const cJSON *v = member(c, obj, key, path, required, &rc);
	if (rc)
		return rc;
	if (!v)
		return 0;
	char p[256];
	snprintf(p, sizeof p, "%.200s%s%.40s", path, path[0] ? "." : "", key);
	if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble))
		return bad(c, p, "expected an integer");
	if (v->valuedouble < lo || v->valuedouble > hi) {
		char w[96];
		snprintf(w, sizeof w, "expected an integer from %d to %d, got %.17g", lo, hi, v->valuedouble);
		return bad(c, p, w);
	}
	*out = (int)v->valuedouble;
	return 0;
}

static int get_num(struct ctx *c, const cJSON *obj, const char *key, const char *path, bool required,
		   double *out)
{
	int rc = 0;
	const cJSON *v = member(c, obj, key, path, required, &rc);
	if (rc)
		return rc;
	if (!v)
		return 0;
	char p[256];
	snprintf(p, sizeof p, "%.200s%s%.40s", path, path[0] ? "." : "", key);
	if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble))
		return bad(c, p, "expected a finite number");
	*out = v->valuedouble;
	return 0;
}

static int get_str(struct ctx *c, const cJSON *obj, const char *key, const char *path, bool required, char *out,
		   size_t size)
{
	int rc = 0;
	const cJSON *v = member(c, obj, key, path, required, &rc);
	if (rc)
		return rc;
	if (!v)
		return 0;
	char p[256];
	snprintf(p, sizeof p, "%.200s%s%.40s", path, path[0] ? "." : "", key);
	if (!cJSON_IsString(v))
		return bad(c, p, "expected a string");
	if (strlen(v->valuestring) >= size || !v->valuestring[0])
		return bad(c, p, "expected a non-empty string shorter than 64 characters");
	snprintf(out, size, "%s", v->valuestring);
	return 0;
}

static bool valid_name(const char *s)
{
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
		      *s == '_' || *s == '.' || *s == '-'))
			return false;
	return true;
}

/* Reads a [rows, cols] (or [n] -> [1, n]) shape. */
static int get_shape(struct ctx *c, const cJSON *v, const char *path, int *rows, int *cols)
{
	if (!cJSON_IsArray(v))
		return bad(c, path, "expected a shape array such as [24, 16]");
	int n = cJSON_GetArraySize(v);
	if (n < 1 || n > 2)
		return bad(c, path, "expected a shape of one or two dimensions");
	int d[2] = {1, 1};
	for (int i = 0; i < n; i++) {
		const cJSON *e = cJSON_GetArrayItem(v, i);
		if (!cJSON_IsNumber(e) || e->valuedouble != floor(e->valuedouble) || e->valuedouble < 1 ||
		    e->valuedouble > MAX_DIM) {
			char p[256];
			snprintf(p, sizeof p, "%s[%d]", path, i);
			return bad(c, p, "expected a dimension from 1 to 65536");
		}
		d[i + (n == 1)] = (int)e->valuedouble;
	}
	if ((long)d[0] * d[1] > MAX_ELEMS)
		return bad(c, path, "tensor too large (more than 16M elements)");
	*rows = d[0];
	*cols = d[1];
	return 0;
}

static int get_tensor(struct ctx *c, const cJSON *obj, const char *key, const char *path, int rows, int cols,
		      struct mpqx_tensor *t)
{
	int rc = 0;
	const cJSON *v = member(c, obj, key, path, true, &rc);
	if (rc)
		return rc;
	char p[256], q[300];
	snprintf(p, sizeof p, "%s.%s", path, key);
	if (!cJSON_IsObject(v))
		return bad(c, p, "expected a tensor {\"shape\": [...], \"data\": [...]}");
	int r = 0, k = 0;
	snprintf(q, sizeof q, "%s.shape", p);
	const cJSON *sh = member(c, v, "shape", p, true, &rc);
	if (rc)
		return rc;
	if ((rc = get_shape(c, sh, q, &r, &k)))
		return rc;
	if ((long)r * k != (long)rows * cols) {
		char w[128];
		snprintf(w, sizeof w, "expected %d x %d elements, got shape %d x %d", rows, cols, r, k);
		return bad(c, q, w);
	}
	const cJSON *data = member(c, v, "data", p, true, &rc);
	if (rc)
		return rc;
	snprintf(q, sizeof q, "%s.data", p);
	if (!cJSON_IsArray(data))
		return bad(c, q, "expected an array of numbers");
	long n = cJSON_GetArraySize(data);
	if (n != (long)rows * cols) {
		char w[128];
		snprintf(w, sizeof w, "expected %ld numbers (shape %d x %d), got %ld", (long)rows * cols, rows, cols,
			 n);
		return bad(c, q, w);
	}
	t->rows = rows;
	t->cols = cols;
	t->data = malloc(sizeof(float) * (size_t)n);
	if (!t->data)
		return err_set(c->err, MPQX_ENOMEM, "%s: out of memory", c->file);
	long i = 0;
	const cJSON *e;
	cJSON_ArrayForEach(e, data)
	{
		if (!cJSON_IsNumber(e) || !isfinite(e->valuedouble) || fabs(e->valuedouble) > 1e30) {
			snprintf(q, sizeof q, "%s.data[%ld]", p, i);
			return bad(c, q, "expected a finite number");
		}
		t->data[i++] = (float)e->valuedouble;
	}
	return 0;
}

/* ---- the attributes the op classes read (op.h) ---- */

struct mpqx_attrs {
	struct ctx *c;
	const cJSON *jl;  /* the layer's object */
	const char *path; /* "layers[i]" */
};

int model_attr_tensor(struct mpqx_attrs *a, const char *key, int rows, int cols, struct mpqx_tensor *t)
{
	return get_tensor(a->c, a->jl, key, a->path, rows, cols, t);
}

int model_attr_shape(struct mpqx_attrs *a, const char *key, int *rows, int *cols)
{
	int rc = 0;
	const cJSON *v = member(a->c, a->jl, key, a->path, true, &rc);
	if (rc)
		return rc;
	char p[256];
	snprintf(p, sizeof p, "%.200s.%.40s.shape", a->path, key);
	const cJSON *sh = cJSON_IsObject(v) ? cJSON_GetObjectItemCaseSensitive(v, "shape") : NULL;
	if (!sh)
		return bad(a->c, p, "missing");
	return get_shape(a->c, sh, p, rows, cols);
}

int model_attr_int(struct mpqx_attrs *a, const char *key, bool required, int lo, int hi, int *out)
{
	return get_int(a->c, a->jl, key, a->path, required, lo, hi, out);
}

int model_attr_num(struct mpqx_attrs *a, const char *key, bool required, double *out)
{
	return get_num(a->c, a->jl, key, a->path, required, out);
}

int model_attr_str(struct mpqx_attrs *a, const char *key, bool required, char *out, size_t size)
{
	const cJSON *t = cJSON_GetObjectItemCaseSensitive(a->jl, key);
	if (!t)
		return required ? model_attr_bad(a, key, "missing") : 0;
	if (!cJSON_IsString(t) || strlen(t->valuestring) >= size)
		return model_attr_bad(a, key, "expected a short string");
	memcpy(out, t->valuestring, strlen(t->valuestring) + 1);
	return 0;
}

int model_attr_bool(struct mpqx_attrs *a, const char *key, bool *out)
{
	const cJSON *t = cJSON_GetObjectItemCaseSensitive(a->jl, key);
	if (t && !cJSON_IsBool(t))
		return model_attr_bad(a, key, "expected true or false");
	*out = t && cJSON_IsTrue(t);
	return 0;
}

int model_attr_bad(struct mpqx_attrs *a, const char *key, const char *what)
{
	char p[256];
	snprintf(p, sizeof p, "%.200s.%.40s", a->path, key);
	return bad(a->c, p, what);
}

static int shape_err(struct ctx *c, int li, const struct mpqx_layer *l, const char *what)
{
	return err_set(c->err, MPQX_EINPUT, "%s: layers[%d] (%s, %s): %s", c->file, li, l->name,
		       model_op_name(l->op), what);
}

/* Checks the layer's declared output shape against what its op makes of its inputs. */
static int check_shapes(struct ctx *c, struct mpqx_model *m, int li)
{
	struct mpqx_layer *l = &m->layers[li];
	int er = l->rows, ec = l->cols;
	char w[200];
	const struct mpqx_op_class *oc = op_class(l->op);
	if (oc->shape && oc->shape(m, l, &er, &ec, w, sizeof w))
		return shape_err(c, li, l, w);
	if (er != l->rows || ec != l->cols) {
		snprintf(w, sizeof w, "declared shape [%d, %d] but the inputs make [%d, %d]", l->rows, l->cols, er, ec);
		return shape_err(c, li, l, w);
	}
	return 0;
}

static int parse_layer(struct ctx *c, struct mpqx_model *m, const cJSON *jl, int li)
{
	struct mpqx_layer *l = &m->layers[li];
	char path[64];
	snprintf(path, sizeof path, "layers[%d]", li);
	int rc;
	if (!cJSON_IsObject(jl))
		return bad(c, path, "expected an object");
	if ((rc = get_str(c, jl, "name", path, true, l->name, sizeof l->name)))
		return rc;
	if (!valid_name(l->name)) {
		char p[96];
		snprintf(p, sizeof p, "%s.name", path);
		return bad(c, p, "expected letters, digits, '_', '.' or '-'");
	}
	if (model_find(m, l->name) >= 0 && model_find(m, l->name) < li) {
		char p[96];
		snprintf(p, sizeof p, "%s.name", path);
		return bad(c, p, "duplicate layer name");
	}
	char op[32];
	if ((rc = get_str(c, jl, "op", path, true, op, sizeof op)))
		return rc;
	int k;
	for (k = 0; k < MPQX_OP_COUNT; k++)
		if (strcmp(op, op_table[k].name) == 0)
			break;
	if (k == MPQX_OP_COUNT) {
		char p[96], w[400];
		snprintf(p, sizeof p, "%s.op", path);
		int n = snprintf(w, sizeof w, "unknown op '%s' (expected ", op);
		for (int i = 0; i < MPQX_OP_COUNT && n > 0 && (size_t)n < sizeof w; i++)
			n += snprintf(w + n, sizeof w - (size_t)n, "%s%s", i == 0 ? "" : i == MPQX_OP_COUNT - 1 ? " or " : ", ",
				      op_table[i].name);
		if (n > 0 && (size_t)n < sizeof w)
			snprintf(w + n, sizeof w - (size_t)n, ")");
		return bad(c, p, w);
	}
	l->op = (enum mpqx_op)k;

	char p[96];
	snprintf(p, sizeof p, "%s.shape", path);
	const cJSON *sh = member(c, jl, "shape", path, true, &rc);
	if (rc)
		return rc;
	if ((rc = get_shape(c, sh, p, &l->rows, &l->cols)))
		return rc;

	const cJSON *ins = cJSON_GetObjectItemCaseSensitive(jl, "inputs");
	snprintf(p, sizeof p, "%s.inputs", path);
	int want = op_table[k].n_inputs;
	int have = ins ? cJSON_GetArraySize(ins) : 0;
	if (ins && !cJSON_IsArray(ins))
		return bad(c, p, "expected an array of layer names");
	if ((want >= 0 && have != want) || (want < 0 && (have < 1 || have > MPQX_MAX_INPUTS))) {
		char w[96];
		if (want >= 0)
			snprintf(w, sizeof w, "op %s takes %d input(s), got %d", op, want, have);
		else
			snprintf(w, sizeof w, "op %s takes 1 to %d inputs, got %d", op, MPQX_MAX_INPUTS, have);
		return bad(c, p, w);
	}
	l->n_inputs = have;
	for (int i = 0; i < have; i++) {
		const cJSON *e = cJSON_GetArrayItem(ins, i);
		char q[128];
		snprintf(q, sizeof q, "%s.inputs[%d]", path, i);
		if (!cJSON_IsString(e))
			return bad(c, q, "expected a layer name");
		int src = model_find(m, e->valuestring);
		if (src < 0 || src >= li) {
			char w[160];
			snprintf(w, sizeof w, "'%.64s' is not an earlier layer", e->valuestring);
			return bad(c, q, w);
		}
		l->inputs[i] = src;
	}

	l->scale = 1.0;
	l->heads = 1;
	const struct mpqx_op_class *oc = op_class(l->op);
	if (oc->parse) {
		struct mpqx_attrs at = {c, jl, path};
		rc = oc->parse(&at, l);
	}
	return rc;
}

static int parse_norm(struct ctx *c, const cJSON *cols, const char *col, enum mpqx_norm_method meth,
		      struct mpqx_norm *out)
{
	char path[160];
	snprintf(path, sizeof path, "normalization.columns.%s", col);
	const cJSON *e = cJSON_GetObjectItemCaseSensitive(cols, col);
	if (!e)
		return bad(c, path, "missing (every input column and the target need statistics)");
	if (!cJSON_IsObject(e))
		return bad(c, path, "expected an object");
	int rc;
	const char *ka = meth == MPQX_NORM_STANDARD ? "mean" : "min";
	const char *kb = meth == MPQX_NORM_STANDARD ? "std" : "max";
	if ((rc = get_num(c, e, ka, path, true, &out->a)) || (rc = get_num(c, e, kb, path, true, &out->b)))
		return rc;
	if (meth == MPQX_NORM_STANDARD ? !(out->b > 0) : !(out->b > out->a)) {
		char p[200];
		snprintf(p, sizeof p, "%s.%s", path, kb);
		return bad(c, p, meth == MPQX_NORM_STANDARD ? "std must be positive" : "max must exceed min");
	}
	return 0;
}

static int parse_dataset(struct ctx *c, struct mpqx_model *m, const cJSON *root)
{
	int rc = 0;
	const cJSON *d = member(c, root, "dataset", "", true, &rc);
	if (rc)
		return rc;
	if (!cJSON_IsObject(d))
		return bad(c, "dataset", "expected an object");
	struct mpqx_dataset_spec *s = &m->data;
	char rel[4096];
	const cJSON *csv = member(c, d, "csv", "dataset", true, &rc);
	if (rc)
		return rc;
	if (!cJSON_IsString(csv) || !csv->valuestring[0] || strlen(csv->valuestring) >= sizeof rel)
		return bad(c, "dataset.csv", "expected a file name");
	snprintf(rel, sizeof rel, "%s", csv->valuestring);
	char dir[4096];
	fileio_dirname(m->path, dir, sizeof dir);
	if (fileio_join(s->csv, sizeof s->csv, dir, rel))
		return bad(c, "dataset.csv", "path too long");
	const cJSON *cols = member(c, d, "columns", "dataset", true, &rc);
	if (rc)
		return rc;
	if (!cJSON_IsArray(cols) || cJSON_GetArraySize(cols) < 1 || cJSON_GetArraySize(cols) > MPQX_MAX_COLUMNS)
		return bad(c, "dataset.columns", "expected an array of 1 to 16 column names");
	s->n_columns = cJSON_GetArraySize(cols);
	for (int i = 0; i < s->n_columns; i++) {
		const cJSON *e = cJSON_GetArrayItem(cols, i);
		char p[64];
		snprintf(p, sizeof p, "dataset.columns[%d]", i);
		if (!cJSON_IsString(e) || !e->valuestring[0] || strlen(e->valuestring) >= MPQX_NAME_MAX)
			return bad(c, p, "expected a column name");
		snprintf(s->columns[i], MPQX_NAME_MAX, "%s", e->valuestring);
	}
	if (s->n_columns != m->features)
		return bad(c, "dataset.columns", "expected as many columns as input.features");
	if ((rc = get_str(c, d, "target", "dataset", true, s->target, sizeof s->target)))
		return rc;
	if ((rc = get_int(c, d, "window", "dataset", true, 1, 4096, &s->window)) ||
	    (rc = get_int(c, d, "horizon", "dataset", true, 1, 4096, &s->horizon)))
		return rc;
	if (s->window != m->window)
		return bad(c, "dataset.window", "expected the same window as input.window");
	const cJSON *sp = member(c, d, "split", "dataset", true, &rc);
	if (rc)
		return rc;
	if (!cJSON_IsObject(sp))
		return bad(c, "dataset.split", "expected {\"train\": .., \"calib\": .., \"test\": ..}");
	if ((rc = get_num(c, sp, "train", "dataset.split", true, &s->split_train)) ||
	    (rc = get_num(c, sp, "calib", "dataset.split", true, &s->split_calib)) ||
	    (rc = get_num(c, sp, "test", "dataset.split", true, &s->split_test)))
		return rc;
	if (!(s->split_train > 0 && s->split_calib > 0 && s->split_test > 0) ||
	    fabs(s->split_train + s->split_calib + s->split_test - 1.0) > 1e-6)
		return bad(c, "dataset.split", "fractions must be positive and add up to 1");

	const cJSON *n = member(c, root, "normalization", "", true, &rc);
	if (rc)
		return rc;
	if (!cJSON_IsObject(n))
		return bad(c, "normalization", "expected an object");
	char meth[32];
	if ((rc = get_str(c, n, "method", "normalization", true, meth, sizeof meth)))
		return rc;
	if (strcmp(meth, "standard") == 0)
		m->norm_method = MPQX_NORM_STANDARD;
	else if (strcmp(meth, "minmax") == 0)
		m->norm_method = MPQX_NORM_MINMAX;
	else
		return bad(c, "normalization.method", "expected \"standard\" or \"minmax\"");
	const cJSON *nc = member(c, n, "columns", "normalization", true, &rc);
	if (rc)
		return rc;
	if (!cJSON_IsObject(nc))
		return bad(c, "normalization.columns", "expected an object keyed by column name");
	for (int i = 0; i < s->n_columns; i++)
		if ((rc = parse_norm(c, nc, s->columns[i], m->norm_method, &m->norm[i])))
			return rc;
	return parse_norm(c, nc, s->target, m->norm_method, &m->norm_target);
}

long model_layer_macs(const struct mpqx_model *m, int li)
{
	const struct mpqx_layer *l = &m->layers[li];
	const struct mpqx_op_class *oc = op_class(l->op);
	return oc->macs ? oc->macs(m, l) : 0;
}

/* "ranges": {layer: [lo, hi]}, the fixed activation ranges of a fine-tuned model (doc/model-format.md). */
static int parse_ranges(struct ctx *c, struct mpqx_model *m, const cJSON *root)
{
	const cJSON *r = cJSON_GetObjectItemCaseSensitive(root, "ranges");
	if (!r)
		return 0;
	if (!cJSON_IsObject(r))
		return bad(c, "ranges", "expected an object keyed by layer name");
	for (const cJSON *e = r->child; e; e = e->next) {
		char p[128];
		snprintf(p, sizeof p, "ranges.%.64s", e->string);
		int li = model_find(m, e->string);
		if (li < 0)
			return bad(c, p, "the model has no layer of that name");
		const cJSON *lo = cJSON_GetArrayItem(e, 0), *hi = cJSON_GetArrayItem(e, 1);
		if (!cJSON_IsArray(e) || cJSON_GetArraySize(e) != 2 || !cJSON_IsNumber(lo) || !cJSON_IsNumber(hi) ||
		    !isfinite(lo->valuedouble) || !isfinite(hi->valuedouble) || lo->valuedouble > hi->valuedouble)
			return bad(c, p, "expected [lo, hi], two finite numbers with lo <= hi");
		struct mpqx_layer *l = &m->layers[li];
		if (!l->fixed_range)
			m->n_fixed_ranges++;
		l->fixed_range = true;
		l->fixed_lo = lo->valuedouble;
		l->fixed_hi = hi->valuedouble;
	}
	return 0;
}

/* "finetuned": {"config": path, ...}: the record of mpqx_torch.py finetune; only the config is kept. */
static int parse_finetuned(struct ctx *c, struct mpqx_model *m, const cJSON *root)
{
	const cJSON *f = cJSON_GetObjectItemCaseSensitive(root, "finetuned");
	if (!f)
		return 0;
	if (!cJSON_IsObject(f))
		return bad(c, "finetuned", "expected an object");
	int rc = 0;
	const cJSON *cfg = member(c, f, "config", "finetuned", true, &rc);
	if (rc)
		return rc;
	if (!cJSON_IsString(cfg) || !cfg->valuestring[0] || strlen(cfg->valuestring) >= sizeof m->finetuned)
		return bad(c, "finetuned.config", "expected a non-empty string shorter than 256 characters");
	snprintf(m->finetuned, sizeof m->finetuned, "%s", cfg->valuestring);
	return 0;
}

static int parse_root(struct ctx *c, struct mpqx_model *m, const cJSON *root)
{
	int rc = 0;
	if (!cJSON_IsObject(root))
		return bad(c, "(top level)", "expected an object");
	char fmt[64];
	if ((rc = get_str(c, root, "format", "", true, fmt, sizeof fmt)))
		return rc;
	if (strcmp(fmt, "mpqx-model") != 0)
		return bad(c, "format", "expected \"mpqx-model\"");
	int version = 0;
	if ((rc = get_int(c, root, "version", "", true, 0, 1000000, &version)))
		return rc;
	if (version != 1)
		return bad(c, "version", "unsupported version (this mpqx reads version 1)");
	if ((rc = get_str(c, root, "name", "", true, m->name, sizeof m->name)))
		return rc;
	char task[64] = "forecast";
	if ((rc = get_str(c, root, "task", "", false, task, sizeof task)))
		return rc;
	if (strcmp(task, "forecast") != 0)
		return bad(c, "task", "expected \"forecast\"");
	const cJSON *in = member(c, root, "input", "", true, &rc);
	if (rc)
		return rc;
	if (!cJSON_IsObject(in))
		return bad(c, "input", "expected an object");
	if ((rc = get_int(c, in, "window", "input", true, 1, 4096, &m->window)) ||
	    (rc = get_int(c, in, "features", "input", true, 1, MPQX_MAX_COLUMNS, &m->features)))
		return rc;
	const cJSON *out = member(c, root, "output", "", true, &rc);
	if (rc)
		return rc;
	if (!cJSON_IsObject(out))
		return bad(c, "output", "expected an object");
	if ((rc = get_int(c, out, "features", "output", true, 1, 1, &m->out_features)))
		return rc;
	char out_layer[MPQX_NAME_MAX] = "";
	if ((rc = get_str(c, out, "layer", "output", false, out_layer, sizeof out_layer)))
		return rc;
	if ((rc = parse_dataset(c, m, root)))
		return rc;

	const cJSON *layers = member(c, root, "layers", "", true, &rc);
	if (rc)
		return rc;
	if (!cJSON_IsArray(layers) || cJSON_GetArraySize(layers) < 2)
		return bad(c, "layers", "expected an array of at least two layers");
	int n = cJSON_GetArraySize(layers);
	if (n > 4096)
		return bad(c, "layers", "too many layers (at most 4096)");
	m->layers = calloc((size_t)n, sizeof *m->layers);
	if (!m->layers)
		return err_set(c->err, MPQX_ENOMEM, "%s: out of memory", c->file);
	int n_input = 0;
	for (int i = 0; i < n; i++) {
		m->n_layers = i + 1;
		if ((rc = parse_layer(c, m, cJSON_GetArrayItem(layers, i), i)))
			return rc;
		if (m->layers[i].op == MPQX_OP_INPUT)
			n_input++;
		if ((rc = check_shapes(c, m, i)))
			return rc;
	}
	if (n_input != 1)
		return bad(c, "layers", "expected exactly one layer with op \"input\"");
	if (m->layers[0].op != MPQX_OP_INPUT)
		return bad(c, "layers[0]", "the first layer must be the input");
	m->output = n - 1;
	if (out_layer[0] && (m->output = model_find(m, out_layer)) < 0)
		return bad(c, "output.layer", "names no layer");
	const struct mpqx_layer *ol = &m->layers[m->output];
	if (ol->rows != 1 || ol->cols != m->out_features) {
		char w[128];
		snprintf(w, sizeof w, "output layer '%s' has shape [%d, %d], expected [1, %d]", ol->name, ol->rows,
			 ol->cols, m->out_features);
		return bad(c, "output", w);
	}
	for (int i = 0; i < n; i++) {
		const struct mpqx_layer *l = &m->layers[i];
		m->n_params += (long)l->bias.rows * l->bias.cols;
		if (model_layer_has_weights(l))
			m->n_params += (long)l->weight.rows * l->weight.cols;
		m->macs += model_layer_macs(m, i);
	}
	if ((rc = parse_ranges(c, m, root)) || (rc = parse_finetuned(c, m, root)))
		return rc;
	return 0;
}

int model_load(const char *path, struct mpqx_model **out, struct mpqx_err *err)
{
	*out = NULL;
	struct mpqx_model *m = calloc(1, sizeof *m);
	if (!m)
		return err_set(err, MPQX_ENOMEM, "out of memory");
	struct stat st;
	if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
		if (fileio_join(m->path, sizeof m->path, path, "model.json")) {
			free(m);
			return err_set(err, MPQX_EINPUT, "%s: path too long", path);
		}
	} else {
		snprintf(m->path, sizeof m->path, "%s", path);
	}
	char *text = NULL;
	size_t len = 0;
	int rc = fileio_read(m->path, &text, &len, err);
	if (rc) {
		free(m);
		return rc;
	}
	/* A raw NUL is invalid JSON, but cJSON would stop a string at it and read on. */
	const char *end = memchr(text, '\0', len);
	cJSON *root = end ? NULL : cJSON_ParseWithLengthOpts(text, len + 1, &end, true);
	if (!root) {
		int line, col;
		fileio_line_col(text, end ? (size_t)(end - text) : 0, &line, &col);
		rc = err_set(err, MPQX_EINPUT, "%s: line %d, column %d: invalid JSON", m->path, line, col);
		free(text);
		model_free(m);
		return rc;
	}
	struct ctx c = {m->path, err};
	rc = parse_root(&c, m, root);
	cJSON_Delete(root);
	free(text);
	if (rc) {
		model_free(m);
		return rc;
	}
	model_mark_consumers(m);
	*out = m;
	return MPQX_OK;
}

void model_mark_consumers(struct mpqx_model *m)
{
	for (int li = 0; li < m->n_layers; li++) {
		bool any = false, all = true;
		for (int i = 0; i < m->n_layers; i++)
			for (int k = 0; k < m->layers[i].n_inputs; k++)
				if (m->layers[i].inputs[k] == li) {
					any = true;
					all = all && m->layers[i].op == MPQX_OP_MATMUL;
				}
		m->layers[li].to_matmul = any && all;
	}
}

double model_target_unit(const struct mpqx_model *m)
{
	return m->norm_method == MPQX_NORM_STANDARD ? m->norm_target.b : m->norm_target.b - m->norm_target.a;
}

double model_normalize(const struct mpqx_model *m, int c, double x)
{
	const struct mpqx_norm *n = c < 0 ? &m->norm_target : &m->norm[c];
	return m->norm_method == MPQX_NORM_STANDARD ? (x - n->a) / n->b : (x - n->a) / (n->b - n->a);
}

double model_denormalize_target(const struct mpqx_model *m, double y)
{
	return m->norm_method == MPQX_NORM_STANDARD ? y * m->norm_target.b + m->norm_target.a
						    : y * (m->norm_target.b - m->norm_target.a) + m->norm_target.a;
}
