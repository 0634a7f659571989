/* CSV reading, normalisation and windowing (doc/model-format.md, "Dataset"). */
#include "mpqx/dataset.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mpqx/fileio.h"

#define MAX_FIELDS 256
#define MAX_ROWS 10000000

/* Splits one line in place into fields; handles double-quoted fields without embedded newlines. */
static int split_fields(char *line, char **f, int max)
{
	int n = 0;
	char *p = line;
	for (;;) {
		if (n == max)
			return -1;
		if (*p == '"') {
			char *w = ++p;
			f[n++] = w;
			while (*p && !(*p == '"' && p[1] != '"')) {
				if (*p == '"')
					p++;
				*w++ = *p++;
			}
			if (*p == '"')
				p++;
			*w = '\0';
			if (*p == ',') {
				p++;
				continue;
			}
			break;
		}
		f[n++] = p;
		while (*p && *p != ',')
			p++;
		if (*p == ',') {
			*p++ = '\0';
			continue;
		}
		break;
	}
	/* trim a trailing CR and surrounding blanks */
	for (int i = 0; i < n; i++) {
		char *s = f[i];
		while (*s == ' ' || *s == '\t')
			s++;
		size_t len = strlen(s);
		while (len && (s[len - 1] == '\r' || s[len - 1] == ' ' || s[len - 1] == '\t'))
			s[--len] = '\0';
		f[i] = s;
	}
	return n;
}

struct raw {
	int n_rows, n_cols;
	double *v; /* [n_rows, n_cols]: the input columns then the target */
};

static int read_csv(const struct mpqx_model *m, struct raw *r, struct mpqx_err *err)
{
	const struct mpqx_dataset_spec *s = &m->data;
	const char *file = s->csv;
	char *text = NULL;
	size_t len = 0;
	int rc = fileio_read(file, &text, &len, err);
	if (rc)
		return rc;
	if (memchr(text, '\0', len))
		rc = err_set(err, MPQX_EINPUT, "%s: binary data (a NUL byte) in a CSV file", file);
	int ncols = s->n_columns + 1;
	int idx[MPQX_MAX_COLUMNS + 1];
	char *fields[MAX_FIELDS];
	size_t cap = 1024;
	r->v = rc ? NULL : malloc(sizeof(double) * cap * (size_t)ncols);
	r->n_cols = ncols;
	r->n_rows = 0;
	if (!rc && !r->v)
		rc = err_set(err, MPQX_ENOMEM, "%s: out of memory", file);
	char *p = text;
	int line = 0, n_header = 0;
	while (!rc && *p) {
		char *nl = strchr(p, '\n');
		if (nl)
			*nl = '\0';
		line++;
		char *cur = p;
		p = nl ? nl + 1 : p + strlen(p);
		if (line > 1 && (cur[0] == '\0' || (cur[0] == '\r' && cur[1] == '\0')))
			continue;
		int nf = split_fields(cur, fields, MAX_FIELDS);
		if (nf < 0) {
			rc = err_set(err, MPQX_EINPUT, "%s: line %d: more than %d fields", file, line, MAX_FIELDS);
			break;
		}
		if (line == 1) {
			n_header = nf;
			for (int c = 0; c < ncols; c++) {
				const char *want = c < s->n_columns ? s->columns[c] : s->target;
				idx[c] = -1;
				for (int k = 0; k < nf; k++)
					if (strcmp(fields[k], want) == 0)
						idx[c] = k;
				if (idx[c] < 0) {
					rc = err_set(err, MPQX_EINPUT, "%s: line 1: no column named '%s' in the header",
						     file, want);
					break;
				}
			}
			continue;
		}
		if (nf != n_header) {
			rc = err_set(err, MPQX_EINPUT, "%s: line %d: expected %d fields as in the header, got %d", file,
				     line, n_header, nf);
			break;
		}
		if (r->n_rows >= MAX_ROWS) {
			rc = err_set(err, MPQX_EINPUT, "%s: line %d: more than %d rows", file, line, MAX_ROWS);
			break;
		}
		if ((size_t)r->n_rows == cap) {
			cap *= 2;
			double *nv = realloc(r->v, sizeof(double) * cap * (size_t)ncols);
			if (!nv) {
				rc = err_set(err, MPQX_ENOMEM, "%s: out of memory", file);
				break;
			}
			r->v = nv;
		}
		for (int c = 0; c < ncols; c++) {
			const char *f = fields[idx[c]];
			char *endp;
			errno = 0;
			double x = strtod(f, &endp);
			if (!f[0] || *endp || errno == ERANGE || !isfinite(x)) {
				rc = err_set(err, MPQX_EINPUT, "%s: line %d, column '%s': expected a finite number, got '%.40s'",
					     file, line, c < s->n_columns ? s->columns[c] : s->target, f);
				break;
			}
			r->v[(size_t)r->n_rows * ncols + c] = x;
		}
		r->n_rows++;
	}
	if (!rc && line == 0)
		rc = err_set(err, MPQX_EINPUT, "%s: line 1: empty file, expected a header row", file);
	free(text);
	if (rc) {
		free(r->v);
		r->v = NULL;
	}
	return rc;
}

static void cut(const struct mpqx_model *m, int n, int begin[MPQX_SPLITS], int end[MPQX_SPLITS])
{
	const struct mpqx_dataset_spec *s = &m->data;
	int a = (int)floor(s->split_train * n + 1e-9);
	int b = (int)floor((s->split_train + s->split_calib) * n + 1e-9);
	begin[MPQX_TRAIN] = 0;
	end[MPQX_TRAIN] = a;
	begin[MPQX_CALIB] = a;
	end[MPQX_CALIB] = b;
	begin[MPQX_TEST] = b;
	end[MPQX_TEST] = n;
}

int dataset_load(const struct mpqx_model *m, struct mpqx_dataset **out, struct mpqx_err *err)
{
	*out = NULL;
	struct raw r = {0};
	int rc = read_csv(m, &r, err);
	if (rc)
		return rc;
	struct mpqx_dataset *d = calloc(1, sizeof *d);
	if (!d) {
		free(r.v);
		return err_set(err, MPQX_ENOMEM, "out of memory");
	}
	d->n_rows = r.n_rows;
	d->features = m->features;
	d->window = m->data.window;
	d->horizon = m->data.horizon;
	d->x = malloc(sizeof(float) * (size_t)r.n_rows * (size_t)m->features + 1);
	d->y = malloc(sizeof(float) * (size_t)r.n_rows + 1);
	d->raw_y = malloc(sizeof(double) * (size_t)r.n_rows + 1);
	if (!d->x || !d->y || !d->raw_y) {
		free(r.v);
		dataset_free(d);
		return err_set(err, MPQX_ENOMEM, "out of memory");
	}
	for (int i = 0; i < r.n_rows; i++) {
		const double *row = r.v + (size_t)i * r.n_cols;
		for (int c = 0; c < m->features; c++)
			d->x[(size_t)i * m->features + c] = (float)model_normalize(m, c, row[c]);
		d->y[i] = (float)model_normalize(m, -1, row[m->features]);
		d->raw_y[i] = row[m->features];
	}
	free(r.v);
	cut(m, d->n_rows, d->begin, d->end);
	int need = d->window + d->horizon;
	static const char *names[] = {"train", "calib", "test"};
	for (int s = 0; s < MPQX_SPLITS; s++) {
		int rows = d->end[s] - d->begin[s];
		d->windows[s] = rows >= need ? rows - need + 1 : 0;
		if (s != MPQX_TRAIN && d->windows[s] == 0) {
			rc = err_set(err, MPQX_EINPUT,
				     "%s: the %s part has %d rows, fewer than window + horizon = %d: no windows",
				     m->data.csv, names[s], rows, need);
			dataset_free(d);
			return rc;
		}
	}
	*out = d;
	return MPQX_OK;
}

void dataset_free(struct mpqx_dataset *d)
{
	if (!d)
		return;
	free(d->x);
	free(d->y);
	free(d->raw_y);
	free(d);
}

const float *dataset_window(const struct mpqx_dataset *d, enum mpqx_split s, int i)
{
	return d->x + (size_t)(d->begin[s] + i) * d->features;
}

float dataset_target(const struct mpqx_dataset *d, enum mpqx_split s, int i)
{
	return d->y[d->begin[s] + i + d->window - 1 + d->horizon];
}

float dataset_persistence(const struct mpqx_dataset *d, enum mpqx_split s, int i)
{
	return d->y[d->begin[s] + i + d->window - 1];
}

int dataset_fit_norm(const struct mpqx_model *m, struct mpqx_norm *norm, struct mpqx_norm *target,
		     struct mpqx_err *err)
{
	struct raw r = {0};
	int rc = read_csv(m, &r, err);
	if (rc)
		return rc;
	int begin[MPQX_SPLITS], end[MPQX_SPLITS];
	cut(m, r.n_rows, begin, end);
	int n = end[MPQX_TRAIN];
	for (int c = 0; c < r.n_cols; c++) {
		struct mpqx_norm *o = c < m->features ? &norm[c] : target;
		double sum = 0, sq = 0, lo = INFINITY, hi = -INFINITY;
		for (int i = 0; i < n; i++) {
			double x = r.v[(size_t)i * r.n_cols + c];
			sum += x;
			lo = fmin(lo, x);
			hi = fmax(hi, x);
		}
		double mean = n ? sum / n : 0;
		for (int i = 0; i < n; i++) {
			double x = r.v[(size_t)i * r.n_cols + c] - mean;
			sq += x * x;
		}
		if (m->norm_method == MPQX_NORM_STANDARD) {
			o->a = mean;
			o->b = n ? sqrt(sq / n) : 1;
		} else {
			o->a = lo;
			o->b = hi;
		}
	}
	free(r.v);
	return MPQX_OK;
}
