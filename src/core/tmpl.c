/* Placeholder substitution for the Verilog templates (include/mpqx/tmpl.h). */
#include "mpqx/tmpl.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mpqx/fileio.h"

#define OPEN "/*{{"
#define OPEN_END "*/"
#define CLOSE "/*}}*/"
#define DECL "@placeholder"
#define NAME_MAX_LEN 48

struct ph {
	char name[NAME_MAX_LEN];
	char *value;
	int uses;
};

/* A piece of the output: literal text of the template, or a placeholder use. */
struct seg {
	int ph;          /* -1: text */
	size_t off, len; /* text: span of t->text */
	size_t ind_off, ind_len; /* placeholder: its line's indentation, a span of t->text */
	bool block;      /* placeholder alone on its lines */
};

struct mpqx_tmpl {
	char name[256];
	char *text;
	int n_ph, n_seg, cap_seg;
	struct ph *ph;
	struct seg *seg;
};

void tmpl_free(struct mpqx_tmpl *t)
{
	if (!t)
		return;
	for (int i = 0; i < t->n_ph; i++)
		free(t->ph[i].value);
	free(t->ph);
	free(t->seg);
	free(t->text);
	free(t);
}

static bool name_char(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

static int find_ph(const struct mpqx_tmpl *t, const char *name, size_t len)
{
	for (int i = 0; i < t->n_ph; i++)
		if (strlen(t->ph[i].name) == len && memcmp(t->ph[i].name, name, len) == 0)
			return i;
	return -1;
}

static int line_of(const char *text, size_t off)
{
	int line, col;
	fileio_line_col(text, off, &line, &col);
	return line;
}

/* If the line at off is a declaration, returns its length including the newline and stores the name;
 * 0 otherwise. -1 on a malformed declaration. */
static long decl_line(const char *s, size_t off, const char **name, size_t *name_len)
{
	const char *p = s + off, *end = strchr(p, '\n');
	size_t n = end ? (size_t)(end - p) + 1 : strlen(p);
	while (*p == ' ' || *p == '\t')
		p++;
	if (strncmp(p, "//", 2) != 0)
		return 0;
	p += 2;
	while (*p == ' ' || *p == '\t')
		p++;
	if (strncmp(p, DECL, strlen(DECL)) != 0)
		return 0;
	p += strlen(DECL);
	if (*p != ' ' && *p != '\t')
		return -1;
	while (*p == ' ' || *p == '\t')
		p++;
	*name = p;
	while (name_char(*p))
		p++;
	*name_len = (size_t)(p - *name);
	if (*name_len == 0 || *name_len >= NAME_MAX_LEN || (*p != ' ' && *p != '\t' && *p != '\n' && *p))
		return -1;
	return (long)n;
}

static int add_seg(struct mpqx_tmpl *t, struct seg s)
{
	if (s.ph < 0 && s.len == 0)
		return MPQX_OK;
	if (t->n_seg == t->cap_seg) {
		int cap = t->cap_seg ? 2 * t->cap_seg : 32;
		struct seg *n = realloc(t->seg, sizeof *n * (size_t)cap);
		if (!n)
			return MPQX_ENOMEM;
		t->seg = n;
		t->cap_seg = cap;
	}
	t->seg[t->n_seg++] = s;
	return MPQX_OK;
}

static int text_seg(struct mpqx_tmpl *t, size_t from, size_t to)
{
	return add_seg(t, (struct seg){.ph = -1, .off = from, .len = to - from});
}

/* First pass: the declarations. */
static int declarations(struct mpqx_tmpl *t, struct mpqx_err *err)
{
	const char *s = t->text;
	for (size_t off = 0; s[off];) {
		const char *name;
		size_t nl;
		long n = decl_line(s, off, &name, &nl);
		if (n < 0)
			return err_set(err, MPQX_EINPUT, "%s: line %d: expected '// %s NAME description'", t->name,
				       line_of(s, off), DECL);
		if (n > 0) {
			if (find_ph(t, name, nl) >= 0)
				return err_set(err, MPQX_EINPUT, "%s: line %d: placeholder %.*s declared twice", t->name,
					       line_of(s, off), (int)nl, name);
			struct ph *p = realloc(t->ph, sizeof *p * (size_t)(t->n_ph + 1));
			if (!p)
				return err_set(err, MPQX_ENOMEM, "out of memory");
			t->ph = p;
			memset(&p[t->n_ph], 0, sizeof *p);
			memcpy(p[t->n_ph].name, name, nl);
			t->n_ph++;
		}
		const char *e = strchr(s + off, '\n');
		off = e ? (size_t)(e - s) + 1 : strlen(s);
	}
	return MPQX_OK;
}

static int parse(struct mpqx_tmpl *t, struct mpqx_err *err)
{
	int rc = declarations(t, err);
	if (rc)
		return rc;
	const char *s = t->text;
	size_t n = strlen(s), pos = 0, start = 0, line_start = 0;
	while (pos < n) {
		if (pos == line_start) {
			const char *name;
			size_t nl;
			long d = decl_line(s, pos, &name, &nl);
			if (d > 0) {
				if ((rc = text_seg(t, start, pos)))
					return err_set(err, rc, "out of memory");
				pos += (size_t)d;
				start = line_start = pos;
				continue;
			}
		}
		if (strncmp(s + pos, CLOSE, strlen(CLOSE)) == 0)
			return err_set(err, MPQX_EINPUT, "%s: line %d: a closing marker without an opening one", t->name,
				       line_of(s, pos));
		if (strncmp(s + pos, OPEN, strlen(OPEN)) != 0) {
			if (s[pos] == '\n')
				line_start = pos + 1;
			pos++;
			continue;
		}
		const char *name = s + pos + strlen(OPEN), *p = name;
		while (name_char(*p))
			p++;
		size_t nl = (size_t)(p - name);
		if (nl == 0 || strncmp(p, OPEN_END, strlen(OPEN_END)) != 0)
			return err_set(err, MPQX_EINPUT, "%s: line %d: a malformed placeholder marker", t->name,
				       line_of(s, pos));
		int ph = find_ph(t, name, nl);
		if (ph < 0)
			return err_set(err, MPQX_EINPUT, "%s: line %d: placeholder %.*s is not declared", t->name,
				       line_of(s, pos), (int)nl, name);
		size_t body = (size_t)(p - s) + strlen(OPEN_END);
		const char *close = strstr(s + body, CLOSE), *nested = strstr(s + body, OPEN);
		if (!close)
			return err_set(err, MPQX_EINPUT, "%s: line %d: placeholder %.*s is not closed", t->name,
				       line_of(s, pos), (int)nl, name);
		if (nested && nested < close)
			return err_set(err, MPQX_EINPUT, "%s: line %d: a placeholder inside placeholder %.*s", t->name,
				       line_of(s, (size_t)(nested - s)), (int)nl, name);
		size_t after = (size_t)(close - s) + strlen(CLOSE);
		/* Indentation: the whitespace that starts the marker's line. */
		size_t ind = line_start;
		while (s[ind] == ' ' || s[ind] == '\t')
			ind++;
		bool block = ind == pos;
		size_t end = after;
		if (block) {
			while (s[end] == ' ' || s[end] == '\t')
				end++;
			if (s[end] == '\n')
				end++;
			else if (s[end])
				block = false;
		}
		if (!block)
			end = after;
		if ((rc = text_seg(t, start, block ? line_start : pos)) ||
		    (rc = add_seg(t, (struct seg){.ph = ph, .ind_off = line_start, .ind_len = ind - line_start,
						  .block = block})))
			return err_set(err, rc, "out of memory");
		t->ph[ph].uses++;
		for (size_t i = pos; i < end; i++)
			if (s[i] == '\n')
				line_start = i + 1;
		pos = start = end;
		if (block)
			line_start = end;
	}
	if ((rc = text_seg(t, start, n)))
		return err_set(err, rc, "out of memory");
	for (int i = 0; i < t->n_ph; i++)
		if (t->ph[i].uses == 0)
			return err_set(err, MPQX_EINPUT, "%s: placeholder %s is declared but never used", t->name,
				       t->ph[i].name);
	return MPQX_OK;
}

int tmpl_parse(const char *name, const char *text, struct mpqx_tmpl **out, struct mpqx_err *err)
{
	*out = NULL;
	struct mpqx_tmpl *t = calloc(1, sizeof *t);
	if (!t || !(t->text = strdup(text))) {
		free(t);
		return err_set(err, MPQX_ENOMEM, "out of memory");
	}
	snprintf(t->name, sizeof t->name, "%s", name);
	int rc = parse(t, err);
	if (rc) {
		tmpl_free(t);
		return rc;
	}
	*out = t;
	return MPQX_OK;
}

int tmpl_load(const char *path, struct mpqx_tmpl **out, struct mpqx_err *err)
{
	char *text;
	*out = NULL;
	int rc = fileio_read(path, &text, NULL, err);
	if (rc)
		return rc;
	rc = tmpl_parse(path, text, out, err);
	free(text);
	return rc;
}

int tmpl_set(struct mpqx_tmpl *t, const char *name, const char *value, struct mpqx_err *err)
{
	int i = find_ph(t, name, strlen(name));
	if (i < 0)
		return err_set(err, MPQX_EINPUT, "%s: no placeholder %s in this template", t->name, name);
	char *v = strdup(value);
	if (!v)
		return err_set(err, MPQX_ENOMEM, "out of memory");
	free(t->ph[i].value);
	t->ph[i].value = v;
	return MPQX_OK;
}

int tmpl_setf(struct mpqx_tmpl *t, struct mpqx_err *err, const char *name, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return err_set(err, MPQX_EINPUT, "%s: cannot format placeholder %s", t->name, name);
	char *buf = malloc((size_t)n + 1);
	if (!buf)
		return err_set(err, MPQX_ENOMEM, "out of memory");
	va_start(ap, fmt);
	vsnprintf(buf, (size_t)n + 1, fmt, ap);
	va_end(ap);
	int rc = tmpl_set(t, name, buf, err);
	free(buf);
	return rc;
}

void tmpl_reset(struct mpqx_tmpl *t)
{
	for (int i = 0; i < t->n_ph; i++) {
		free(t->ph[i].value);
		t->ph[i].value = NULL;
	}
}

int tmpl_count(const struct mpqx_tmpl *t)
{
	return t->n_ph;
}

const char *tmpl_name(const struct mpqx_tmpl *t, int i)
{
	return i >= 0 && i < t->n_ph ? t->ph[i].name : NULL;
}

struct buf {
	char *p;
	size_t len, cap;
};

static int put(struct buf *b, const char *s, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		while (cap < b->len + n + 1)
			cap *= 2;
		char *p = realloc(b->p, cap);
		if (!p)
			return MPQX_ENOMEM;
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
	return MPQX_OK;
}

/* A value, each line after the first prefixed with the indentation; a block use also indents its first
 * line and ends with a newline. Empty lines get no indentation. */
static int put_value(struct buf *b, const char *v, const char *ind, size_t ind_len, bool block)
{
	size_t n = strlen(v);
	if (block && n > 0 && v[n - 1] == '\n')
		n--;
	if (block && n == 0 && !*v)
		return MPQX_OK;
	bool first = true;
	size_t i = 0;
	int rc = MPQX_OK;
	while (!rc) {
		const char *nl = memchr(v + i, '\n', n - i);
		size_t e = nl ? (size_t)(nl - v) : n;
		if ((block || !first) && e > i)
			rc = put(b, ind, ind_len);
		if (!rc)
			rc = put(b, v + i, e - i);
		if (!rc && (nl || block))
			rc = put(b, "\n", 1);
		if (!nl)
			break;
		i = e + 1;
		first = false;
	}
	return rc;
}

int tmpl_render(const struct mpqx_tmpl *t, char **out, size_t *len, struct mpqx_err *err)
{
	*out = NULL;
	char missing[MPQX_ERR_LEN / 2] = "";
	for (int i = 0; i < t->n_ph; i++)
		if (!t->ph[i].value) {
			size_t u = strlen(missing);
			snprintf(missing + u, sizeof missing - u, "%s%s", u ? ", " : "", t->ph[i].name);
		}
	if (missing[0])
		return err_set(err, MPQX_EINPUT, "%s: placeholders left unfilled: %s", t->name, missing);
	struct buf b = {0};
	int rc = put(&b, "", 0);
	for (int i = 0; !rc && i < t->n_seg; i++) {
		const struct seg *s = &t->seg[i];
		if (s->ph < 0)
			rc = put(&b, t->text + s->off, s->len);
		else
			rc = put_value(&b, t->ph[s->ph].value, t->text + s->ind_off, s->ind_len, s->block);
	}
	if (rc) {
		free(b.p);
		return err_set(err, MPQX_ENOMEM, "out of memory");
	}
	*out = b.p;
	if (len)
		*len = b.len;
	return MPQX_OK;
}
