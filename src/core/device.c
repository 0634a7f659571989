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

/* The keys of [device]: every one is required except clock_mhz. */
enum key { K_NAME, K_FAMILY, K_LUT, K_LUTRAM, K_FF, K_BRAM18, K_DSP, K_CLOCK, K_COUNT };
static const char *const key_names[K_COUNT] = {"name", "family", "lut", "lutram", "ff", "bram18", "dsp",
					       "clock_mhz"};

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
		return fail(c, "unknown key '%s': expected name, family, lut, lutram, ff, bram18, dsp or clock_mhz",
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
		d->lut = v;
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
	for (int k = 0; k < K_CLOCK; k++)
		if (!c.seen[k])
			return err_set(err, MPQX_EINPUT, "%s: [device] has no '%s'", path, key_names[k]);
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
