/* Device capacities from devices/NAME.ini (include/mpqx/device.h). inih values are copied inside the
 * handler; ini_parse_string's positive return is the line to report. */
#include "mpqx/device.h"

#include <dirent.h>
#include <errno.h>
#include <ini.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mpqx/fileio.h"
#include "mpqx/hw.h"

/* The keys of [device]. An xc7-like family needs name, family, lut, lutram, ff, bram18 and dsp; iCE40
 * needs name, family, lc, ff, ebr and dsp (spram optional, no lutram); clock_mhz is optional. lc and ebr
 * are iCE40's words for lut and bram18. */
enum key { K_NAME, K_FAMILY, K_LUT, K_LUTRAM, K_FF, K_BRAM18, K_DSP, K_CLOCK, K_LC, K_EBR, K_SPRAM, K_COUNT };
static const char *const key_names[K_COUNT] = {"name", "family", "lut", "lutram", "ff", "bram18", "dsp",
					       "clock_mhz", "lc", "ebr", "spram"};

struct ctx {
	const char *path;
	struct mpqx_device *d;
	struct mpqx_err *err;
	bool seen[K_COUNT];
	bool failed;
};

/* Records a message without the line: ini_parse_string returns it and parse() puts it in front. */
#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
static int fail(struct ctx *c, const char *fmt, ...)
{
	char m[MPQX_ERR_LEN];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(m, sizeof m, fmt, ap);
	va_end(ap);
	err_set(c->err, MPQX_EINPUT, "%s", m);
	c->failed = true;
	return 0;
}

static bool parse_count(const char *v, long *out)
{
	char *end;
	errno = 0;
	long x = strtol(v, &end, 10);
	if (errno || end == v || *end || x < 0 || x > INT_MAX)
		return false;
	*out = x;
	return true;
}

static bool valid_name(const char *v, size_t max)
{
	size_t n = strlen(v);
	if (n == 0 || n >= max)
		return false;
	for (size_t i = 0; i < n; i++) {
		char ch = v[i];
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '_' ||
		      ch == '-' || ch == '.'))
			return false;
	}
	return true;
}

static int handler(void *user, const char *section, const char *name, const char *value)
{
	struct ctx *c = user;
	if (c->failed)
		return 0;
	if (strcmp(section, "device") != 0)
		return fail(c, "unknown section [%s]: expected [device]", section);
	int k = -1;
	for (int i = 0; i < K_COUNT; i++)
		if (strcmp(name, key_names[i]) == 0)
			k = i;
	if (k < 0)
		return fail(c, "unknown key '%s': expected name, family, lut, lutram, ff, bram18, dsp or clock_mhz "
			    "(iCE40: lc, ebr, spram for lut, bram18 and its SPRAM blocks)",
			    name);
	if (c->seen[k])
		return fail(c, "'%s' is set twice", name);
	c->seen[k] = true;
	struct mpqx_device *d = c->d;
	long v = 0;
	switch ((enum key)k) {
	case K_NAME:
	case K_FAMILY: {
		char *dst = k == K_NAME ? d->name : d->family;
		size_t max = k == K_NAME ? sizeof d->name : sizeof d->family;
		if (!valid_name(value, max))
			return fail(c, "%s = '%s': expected a name of letters, digits, '_', '-' or '.'", name, value);
		memcpy(dst, value, strlen(value) + 1);
		return 1;
	}
	case K_CLOCK: {
		char *end;
		errno = 0;
		double f = strtod(value, &end);
		if (errno || end == value || *end || !isfinite(f) || f <= 0 || f > 2000)
			return fail(c, "clock_mhz = '%s': expected a frequency in MHz, above 0 and at most 2000", value);
		d->clock_mhz = f;
		return 1;
	}
	default:
		if (!parse_count(value, &v))
			return fail(c, "%s = '%s': expected a non-negative integer count", name, value);
		break;
	}
	switch ((enum key)k) {
	case K_LUT:
	case K_LC:
		d->lut = v;
		break;
	case K_EBR:
		d->bram18 = v;
		break;
	case K_SPRAM:
		d->spram = v;
		break;
	case K_LUTRAM:
		d->lutram = v;
		break;
	case K_FF:
		d->ff = v;
		break;
	case K_BRAM18:
		d->bram18 = v;
		break;
	case K_DSP:
		d->dsp = v;
		break;
	default:
		break;
	}
	return 1;
}

/* Parses the text of a device file into d. */
static int parse(const char *path, const char *text, struct mpqx_device *d, struct mpqx_err *err)
{
	memset(d, 0, sizeof *d);
	d->clock_mhz = 100;
	struct ctx c = {.path = path, .d = d, .err = err};
	int rc = ini_parse_string(text, handler, &c);
	if (rc > 0) {
		if (c.failed) {
			char m[MPQX_ERR_LEN];
			snprintf(m, sizeof m, "%s", err ? err->msg : "");
			return err_set(err, MPQX_EINPUT, "%s: line %d: %s", path, rc, m);
		}
		return err_set(err, MPQX_EINPUT, "%s: line %d: expected `key = value` or [device]", path, rc);
	}
	if (rc < 0)
		return err_set(err, MPQX_ENOMEM, "%s: out of memory", path);
	d->fam = device_family_of(d->family);
	static const enum key need_xc7[] = {K_NAME, K_FAMILY, K_LUT, K_LUTRAM, K_FF, K_BRAM18, K_DSP};
	static const enum key need_ice40[] = {K_NAME, K_FAMILY, K_LC, K_FF, K_EBR, K_DSP};
	bool ice = d->fam == MPQX_FAMILY_ICE40;
	const enum key *need = ice ? need_ice40 : need_xc7;
	int n_need = ice ? (int)(sizeof need_ice40 / sizeof need_ice40[0]) : (int)(sizeof need_xc7 / sizeof need_xc7[0]);
	for (int i = 0; i < n_need && c.seen[K_FAMILY]; i++)
		if (!c.seen[need[i]])
			return err_set(err, MPQX_EINPUT, "%s: [device] has no '%s'%s", path, key_names[need[i]],
				       ice ? " (an ice40 device has name, family, lc, ff, ebr, dsp, spram, clock_mhz)" : "");
	if (!c.seen[K_NAME])
		return err_set(err, MPQX_EINPUT, "%s: [device] has no 'name'", path);
	if (!c.seen[K_FAMILY])
		return err_set(err, MPQX_EINPUT, "%s: [device] has no 'family'", path);
	static const enum key other_xc7[] = {K_LC, K_EBR, K_SPRAM}, other_ice40[] = {K_LUT, K_LUTRAM, K_BRAM18};
	for (int i = 0; i < 3; i++) {
		enum key k = ice ? other_ice40[i] : other_xc7[i];
		if (c.seen[k])
			return err_set(err, MPQX_EINPUT, "%s: '%s' is not a key of an %s device (%s)", path, key_names[k],
				       d->family, ice ? "iCE40 has no LUT RAM; its keys are lc, ff, ebr, spram, dsp"
						      : "only ice40 devices have lc, ebr and spram");
	}
	/* iCE40 has no LUT RAM: the lutram slot of the estimate and the budgets holds its SPRAM blocks */
	if (ice)
		d->lutram = d->spram;
	if (d->lutram > d->lut)
		return err_set(err, MPQX_EINPUT, "%s: lutram (%ld) is more than lut (%ld): LUTs usable as memory are "
			       "a part of all LUTs", path, d->lutram, d->lut);
	return MPQX_OK;
}

static int cmp_name(const void *a, const void *b)
{
	return strcmp(a, b);
}

int device_list(const char *dir, char (*names)[64], int max)
{
	DIR *d = opendir(dir);
	if (!d)
		return 0;
	int n = 0;
	struct dirent *e;
	while (n < max && (e = readdir(d))) {
		size_t len = strlen(e->d_name);
		if (len < 5 || len - 4 >= 64 || strcmp(e->d_name + len - 4, ".ini") != 0 || e->d_name[0] == '.')
			continue;
		if (len >= 9 && strcmp(e->d_name + len - 9, "-cost.ini") == 0)
			continue;
		memcpy(names[n], e->d_name, len - 4);
		names[n][len - 4] = '\0';
		n++;
	}
	closedir(d);
	qsort(names, (size_t)n, sizeof names[0], cmp_name);
	return n;
}

int device_load(const char *dir, const char *name_or_path, struct mpqx_device *d, struct mpqx_err *err)
{
	char path[4300];
	size_t n = strlen(name_or_path);
	if (n == 0)
		return err_set(err, MPQX_EINPUT, "empty device name");
	if (strchr(name_or_path, '/') || (n > 4 && strcmp(name_or_path + n - 4, ".ini") == 0)) {
		if (n >= sizeof path)
			return err_set(err, MPQX_EINPUT, "%.64s...: path too long", name_or_path);
		memcpy(path, name_or_path, n + 1);
	} else {
		if (!valid_name(name_or_path, sizeof d->name))
			return err_set(err, MPQX_EINPUT, "device '%.64s': expected a device name such as xc7s15 or a "
				       "path to an .ini file", name_or_path);
		int w = snprintf(path, sizeof path, "%s/%s.ini", dir ? dir : ".", name_or_path);
		if (w < 0 || (size_t)w >= sizeof path)
			return err_set(err, MPQX_EINPUT, "%s: path too long", dir);
	}
	char *text = NULL;
	size_t len = 0;
	struct mpqx_err e2 = {0};
	int rc = fileio_read(path, &text, &len, &e2);
	if (rc) {
		if (!strchr(name_or_path, '/') && !(n > 4 && strcmp(name_or_path + n - 4, ".ini") == 0)) {
			char names[32][64], known[400] = "";
			int nn = device_list(dir ? dir : ".", names, 32);
			for (int i = 0; i < nn && strlen(known) + strlen(names[i]) + 3 < sizeof known; i++)
				snprintf(known + strlen(known), sizeof known - strlen(known), "%s%s", i ? ", " : "", names[i]);
			return err_set(err, rc, "unknown device '%s' (known: %s; or give a path to an .ini file)",
				       name_or_path, nn ? known : "none");
		}
		return err_set(err, rc, "%s", e2.msg);
	}
	if (memchr(text, '\0', len)) {
		free(text);
		return err_set(err, MPQX_EINPUT, "%s: not a text file (a NUL byte)", path);
	}
	rc = parse(path, text, d, err);
	free(text);
	return rc;
}

enum mpqx_family_id device_family_of(const char *family)
{
	return strcmp(family, "ice40") == 0 ? MPQX_FAMILY_ICE40 : MPQX_FAMILY_XC7;
}

bool device_storage_ok(const struct mpqx_device *d, enum mpqx_storage s, bool rom)
{
	if ((unsigned)s >= MPQX_STORE_COUNT)
		return false;
	if (s == MPQX_STORE_SPRAM)
		return !rom && d && d->spram > 0;
	return true;
}

const char *device_storage_label(const struct mpqx_device *d, enum mpqx_storage s, bool rom)
{
	bool ice = d && d->fam == MPQX_FAMILY_ICE40;
	switch (s) {
	case MPQX_STORE_AUTO:
		return "auto";
	case MPQX_STORE_BLOCK:
		return ice ? "ebr" : "block";
	case MPQX_STORE_DIST:
		return rom ? "logic" : ice ? "regs" : "lut";
	case MPQX_STORE_SPRAM:
		return "spram";
	default:
		return "?";
	}
}

const char *device_resource_label(const struct mpqx_device *d, int r)
{
	static const char *const xc7[] = {"lut", "lutram", "ff", "bram18", "dsp", "spram"};
	static const char *const ice[] = {"lc", "-", "ff", "ebr", "dsp", "spram"};
	if (r < 0 || r > 5)
		return "?";
	return d && d->fam == MPQX_FAMILY_ICE40 ? ice[r] : xc7[r];
}

int device_check_config(const struct mpqx_device *d, const struct mpqx_model *m, const struct mpqx_config *c,
			const char *file, char *warn, size_t warn_size, struct mpqx_err *err)
{
	if (warn && warn_size)
		warn[0] = '\0';
	const char *f = file ? file : "config";
	const char *why = d->fam == MPQX_FAMILY_ICE40 ? "it has no SPRAM blocks" : "SPRAM is an iCE40 UltraPlus block";
	if (!device_storage_ok(d, c->defaults.buffer, false) && c->defaults.buffer == MPQX_STORE_SPRAM) {
		/* the defaults only matter through the layers, but name them when every layer took them */
		bool all = true;
		for (int l = 0; l < c->n_layers && all; l++)
			all = c->layers[l].buffer == MPQX_STORE_SPRAM || !model_layer_has_buffer(&m->layers[l]);
		if (all)
			return err_set(err, MPQX_EINPUT, "%s: defaults.buffer: \"spram\" on device %s (%s family): %s; "
				       "expected \"block\", \"distributed\" or \"auto\"", f, d->name, d->family, why);
	}
	for (int l = 0; l < c->n_layers && l < m->n_layers; l++) {
		const struct mpqx_layer_cfg *lc = &c->layers[l];
		if (model_layer_has_buffer(&m->layers[l]) && !device_storage_ok(d, lc->buffer, false))
			return err_set(err, MPQX_EINPUT, "%s: layers.%s.buffer: \"spram\" on device %s (%s family): %s; "
				       "expected \"block\", \"distributed\" or \"auto\"", f, m->layers[l].name, d->name,
				       d->family, why);
		if (lc->mult == MPQX_MULT_DSP && d->dsp == 0 && hw_mult_kind(m->layers[l].op) != MPQX_HW_MULT_NONE &&
		    warn && warn_size) {
			size_t u = strlen(warn);
			snprintf(warn + u, warn_size - u, "%s%s: layers.%s.mult: \"dsp\" on device %s, which has no DSP "
				 "blocks: its multipliers go to logic",
				 u ? "\n" : "", f, m->layers[l].name, d->name);
		}
	}
	return MPQX_OK;
}
