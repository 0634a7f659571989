/* Compare slots kept between runs (include/mpqx/slots.h). */
#include "mpqx/slots.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "mpqx/fileio.h"

#define SLOTS_FORMAT "mpqx-slots"

static const char *const res_keys[MPQX_RES_COUNT] = {"lut", "lutram", "ff", "bram_tiles", "dsp"};

int slots_default_path(const struct mpqx_model *m, char *out, size_t size, struct mpqx_err *err)
{
	const char *xdg = getenv("XDG_STATE_HOME"), *home = getenv("HOME");
	char base[4096];
	if (xdg && xdg[0] == '/')
		snprintf(base, sizeof base, "%s/mpqx/slots", xdg);
	else if (home && home[0])
		snprintf(base, sizeof base, "%s/.local/state/mpqx/slots", home);
	else
		return err_set(err, MPQX_EINPUT, "neither XDG_STATE_HOME nor HOME is set: slots are not kept");
	char real[4096];
	const char *p = realpath(m->path, real) ? real : m->path;
	uint32_t h = 2166136261u; /* FNV-1a */
	for (; *p; p++)
		h = (h ^ (unsigned char)*p) * 16777619u;
	char name[160];
	size_t k = 0;
	for (const char *c = m->name; *c && k + 1 < sizeof name - 16; c++)
		name[k++] = (*c == '/' || *c == ' ') ? '_' : *c;
	name[k] = '\0';
	int w = snprintf(out, size, "%s/%s-%08x.json", base, name, (unsigned)h);
	if (w < 0 || (size_t)w >= size)
		return err_set(err, MPQX_EINPUT, "%s: path too long", base);
	return MPQX_OK;
}

/* The model file's size and modification time: slots are figures of that file. */
static void model_stamp(const struct mpqx_model *m, double *size, double *mtime)
{
	struct stat st;
	*size = *mtime = -1;
	if (stat(m->path, &st) == 0) {
		*size = (double)st.st_size;
		*mtime = (double)st.st_mtime;
	}
}

static int make_dirs(const char *path, struct mpqx_err *err)
{
	char d[4096];
	fileio_dirname(path, d, sizeof d);
	for (char *p = d + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(d, 0755) != 0 && errno != EEXIST)
			return err_set(err, MPQX_EIO, "%s: cannot create: %s", d, strerror(errno));
		*p = '/';
	}
	if (mkdir(d, 0755) != 0 && errno != EEXIST)
		return err_set(err, MPQX_EIO, "%s: cannot create: %s", d, strerror(errno));
	return MPQX_OK;
}

int slots_save(const char *path, const struct mpqx_model *m, const struct app_slot *slots, int n,
	       struct mpqx_err *err)
{
	int rc = make_dirs(path, err);
	if (rc)
		return rc;
	cJSON *root = cJSON_CreateObject();
	cJSON_AddStringToObject(root, "format", SLOTS_FORMAT);
	cJSON_AddNumberToObject(root, "version", 1);
	cJSON_AddStringToObject(root, "model", m->name);
	cJSON_AddStringToObject(root, "model_path", m->path);
	double size, mtime;
	model_stamp(m, &size, &mtime);
	cJSON_AddNumberToObject(root, "model_size", size);
	cJSON_AddNumberToObject(root, "model_mtime", mtime);
	cJSON *arr = cJSON_AddArrayToObject(root, "slots");
	bool oom = !root || !arr;
	for (int k = 0; k < n && !oom; k++) {
		const struct app_slot *s = &slots[k];
		if (!s->used) {
			cJSON_AddItemToArray(arr, cJSON_CreateNull());
			continue;
		}
		char *cfg = config_to_json(m, &s->cfg);
		cJSON *o = cJSON_CreateObject(), *c = cfg ? cJSON_Parse(cfg) : NULL;
		free(cfg);
		if (!o || !c) {
			cJSON_Delete(o);
			cJSON_Delete(c);
			oom = true;
			break;
		}
		cJSON_AddItemToObject(o, "config", c);
		cJSON_AddStringToObject(o, "device", s->device);
		cJSON *u = cJSON_AddObjectToObject(o, "used"), *ut = cJSON_AddObjectToObject(o, "util");
		for (int r = 0; r < MPQX_RES_COUNT; r++) {
			cJSON_AddNumberToObject(u, res_keys[r], s->used_res[r]);
			cJSON_AddNumberToObject(ut, res_keys[r], s->util[r]);
		}
		cJSON_AddBoolToObject(o, "fits", s->fits);
		cJSON_AddStringToObject(o, "limiting", res_keys[s->limiting]);
		cJSON_AddNumberToObject(o, "latency_us", s->latency_us);
		if (s->eval_valid) {
			cJSON_AddNumberToObject(o, "mse", s->mse);
			cJSON_AddNumberToObject(o, "rmse_denorm", s->rmse_denorm);
		}
		cJSON_AddItemToArray(arr, o);
	}
	char *text = oom ? NULL : cJSON_Print(root);
	cJSON_Delete(root);
	if (!text)
		return err_set(err, MPQX_ENOMEM, "out of memory");
	rc = fileio_write_atomic(path, text, strlen(text), err);
	free(text);
	return rc;
}

static bool num(const cJSON *o, const char *key, double *v)
{
	const cJSON *j = cJSON_GetObjectItemCaseSensitive(o, key);
	if (!cJSON_IsNumber(j))
		return false;
	*v = j->valuedouble;
	return true;
}

/* One slot from its object; path names the file in messages. */
static int read_slot(const char *path, int k, const cJSON *o, const struct mpqx_model *m, struct app_slot *s,
		     struct mpqx_err *err)
{
	if (!cJSON_IsObject(o))
		return err_set(err, MPQX_EINPUT, "%s: slots[%d]: expected an object or null", path, k);
	const cJSON *c = cJSON_GetObjectItemCaseSensitive(o, "config");
	char *text = cJSON_IsObject(c) ? cJSON_PrintUnformatted(c) : NULL;
	if (!text)
		return err_set(err, MPQX_EINPUT, "%s: slots[%d].config: expected a config object", path, k);
	char name[4200];
	snprintf(name, sizeof name, "%s: slots[%d].config", path, k);
	int rc = config_parse(text, strlen(text), name, m, &s->cfg, err);
	free(text);
	if (rc)
		return rc;
	const cJSON *dev = cJSON_GetObjectItemCaseSensitive(o, "device");
	const cJSON *used = cJSON_GetObjectItemCaseSensitive(o, "used"), *util = cJSON_GetObjectItemCaseSensitive(o, "util");
	const cJSON *fits = cJSON_GetObjectItemCaseSensitive(o, "fits"), *lim = cJSON_GetObjectItemCaseSensitive(o, "limiting");
	if (!cJSON_IsString(dev) || !cJSON_IsBool(fits) || !cJSON_IsString(lim) || !num(o, "latency_us", &s->latency_us))
		return err_set(err, MPQX_EINPUT, "%s: slots[%d]: expected device, used, util, fits, limiting, latency_us",
			       path, k);
	snprintf(s->device, sizeof s->device, "%s", dev->valuestring);
	s->fits = cJSON_IsTrue(fits);
	int li = -1;
	for (int r = 0; r < MPQX_RES_COUNT; r++) {
		if (!num(used, res_keys[r], &s->used_res[r]) || !num(util, res_keys[r], &s->util[r]))
			return err_set(err, MPQX_EINPUT, "%s: slots[%d].used/util.%s: expected a number", path, k, res_keys[r]);
		if (strcmp(lim->valuestring, res_keys[r]) == 0)
			li = r;
	}
	if (li < 0)
		return err_set(err, MPQX_EINPUT, "%s: slots[%d].limiting: expected a resource such as \"lut\"", path, k);
	s->limiting = (enum mpqx_resource)li;
	s->eval_valid = num(o, "mse", &s->mse) && num(o, "rmse_denorm", &s->rmse_denorm);
	s->used = true;
	return MPQX_OK;
}

int slots_load(const char *path, const struct mpqx_model *m, struct app_slot *slots, int n, char *note,
	       size_t note_size, struct mpqx_err *err)
{
	if (note && note_size)
		note[0] = '\0';
	struct stat st;
	if (stat(path, &st) != 0 && errno == ENOENT)
		return MPQX_OK;
	char *text = NULL;
	size_t len = 0;
	int rc = fileio_read(path, &text, &len, err);
	if (rc)
		return rc;
	cJSON *root = cJSON_ParseWithLength(text, len);
	free(text);
	struct app_slot *got = calloc((size_t)n, sizeof *got);
	if (!got) {
		cJSON_Delete(root);
		return err_set(err, MPQX_ENOMEM, "out of memory");
	}
	const cJSON *f = cJSON_GetObjectItemCaseSensitive(root, "format");
	const cJSON *arr = cJSON_GetObjectItemCaseSensitive(root, "slots");
	double size, mtime, fsize, fmtime;
	model_stamp(m, &size, &mtime);
	if (!root)
		rc = err_set(err, MPQX_EINPUT, "%s: invalid JSON", path);
	else if (!cJSON_IsString(f) || strcmp(f->valuestring, SLOTS_FORMAT) != 0)
		rc = err_set(err, MPQX_EINPUT, "%s: format: expected \"%s\"", path, SLOTS_FORMAT);
	else if (!cJSON_IsArray(arr))
		rc = err_set(err, MPQX_EINPUT, "%s: slots: expected an array", path);
	else if (!num(root, "model_size", &fsize) || !num(root, "model_mtime", &fmtime) || fsize != size ||
		 fmtime != mtime) {
		if (note)
			snprintf(note, note_size, "%s: kept for an earlier version of %s: slots not restored", path, m->path);
	} else {
		int k = 0;
		const cJSON *o;
		cJSON_ArrayForEach(o, arr)
		{
			if (k >= n)
				break;
			if (!cJSON_IsNull(o) && (rc = read_slot(path, k, o, m, &got[k], err)))
				break;
			k++;
		}
	}
	cJSON_Delete(root);
	if (!rc)
		for (int k = 0; k < n; k++) {
			config_fini(&slots[k].cfg);
			slots[k] = got[k];
		}
	else
		for (int k = 0; k < n; k++)
			config_fini(&got[k].cfg);
	free(got);
	return rc;
}
