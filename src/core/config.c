/* Config format v1: load, save (atomic) and compare (doc/config-format.md). cJSON stays in this file. */
#include "mpqx/config.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mpqx/fileio.h"

static const char *const buffer_names[MPQX_STORE_COUNT] = {"auto", "block", "distributed", "spram"};
static const char *const rom_names[MPQX_STORE_COUNT] = {"auto", "block", "logic", "?"};

/* The iCE40 words, read as aliases (doc/config-format.md): EBR is the block RAM, flip-flops the
 * distributed storage of a buffer. */
static int storage_alias(const char *v, bool rom)
{
	if (strcmp(v, "ebr") == 0)
		return MPQX_STORE_BLOCK;
	if (!rom && (strcmp(v, "logic") == 0 || strcmp(v, "registers") == 0))
		return MPQX_STORE_DIST;
	return -1;
}

static const char *const calib_names[MPQX_CALIB_COUNT] = {"minmax", "percentile", "mse"};

const char *config_calib_name(enum mpqx_calib m)
{
	return (unsigned)m < MPQX_CALIB_COUNT ? calib_names[m] : "?";
}

static const char *const wgran_names[MPQX_WGRAN_COUNT] = {"tensor", "channel"};

const char *config_wgran_name(enum mpqx_wgran g)
{
	return (unsigned)g < MPQX_WGRAN_COUNT ? wgran_names[g] : "?";
}

const char *config_storage_name(enum mpqx_storage s, bool rom)
{
	if ((unsigned)s >= MPQX_STORE_COUNT)
		return "?";
	return rom ? rom_names[s] : buffer_names[s];
}

static const char *const mult_names[MPQX_MULT_COUNT] = {"auto", "dsp", "logic"};

const char *config_mult_name(enum mpqx_mult m)
{
	return (unsigned)m < MPQX_MULT_COUNT ? mult_names[m] : "?";
}

int config_init(struct mpqx_config *c, const struct mpqx_model *m, int bits)
{
	memset(c, 0, sizeof *c);
	snprintf(c->device, sizeof c->device, "xc7s15");
	c->defaults = (struct mpqx_layer_cfg){bits, bits, MPQX_STORE_AUTO, MPQX_STORE_AUTO, MPQX_MULT_AUTO,
						MPQX_CALIB_DEFAULT, MPQX_WGRAN_DEFAULT};
	c->n_layers = m->n_layers;
	c->layers = malloc(sizeof *c->layers * (size_t)m->n_layers);
	if (!c->layers)
		return MPQX_ENOMEM;
	for (int i = 0; i < m->n_layers; i++)
		c->layers[i] = c->defaults;
	return MPQX_OK;
}

void config_fini(struct mpqx_config *c)
{
	if (!c)
		return;
	free(c->layers);
	c->layers = NULL;
	c->n_layers = 0;
}

int config_copy(struct mpqx_config *dst, const struct mpqx_config *src)
{
	struct mpqx_layer_cfg *l = malloc(sizeof *l * (size_t)(src->n_layers ? src->n_layers : 1));
	if (!l)
		return MPQX_ENOMEM;
	memcpy(l, src->layers, sizeof *l * (size_t)src->n_layers);
	free(dst->layers);
	*dst = *src;
	dst->layers = l;
	return MPQX_OK;
}

bool config_equal(const struct mpqx_config *a, const struct mpqx_config *b)
{
	if (a->n_layers != b->n_layers || strcmp(a->device, b->device) != 0)
		return false;
	for (int i = 0; i < a->n_layers; i++) {
		const struct mpqx_layer_cfg *x = &a->layers[i], *y = &b->layers[i];
		if (x->w_bits != y->w_bits || x->a_bits != y->a_bits || x->buffer != y->buffer || x->rom != y->rom ||
		    x->mult != y->mult || x->calib != y->calib || x->w_gran != y->w_gran)
			return false;
	}
	return true;
}

/* Reads the keys of one layer object (or of "defaults") into l. */
static int read_layer(const char *file, const cJSON *o, const char *path, struct mpqx_layer_cfg *l,
		      struct mpqx_err *err)
{
	if (!cJSON_IsObject(o))
		return err_set(err, MPQX_EINPUT, "%s: %s: expected an object", file, path);
	const cJSON *e;
	cJSON_ArrayForEach(e, o)
	{
		const char *k = e->string;
		if (strcmp(k, "w_bits") == 0 || strcmp(k, "a_bits") == 0) {
			if (!cJSON_IsNumber(e) || e->valuedouble != floor(e->valuedouble) ||
			    e->valuedouble < MPQX_BITS_MIN || e->valuedouble > MPQX_BITS_MAX)
				return err_set(err, MPQX_EINPUT, "%s: %s.%s: expected an integer from %d to %d", file,
					       path, k, MPQX_BITS_MIN, MPQX_BITS_MAX);
			*(k[0] == 'w' ? &l->w_bits : &l->a_bits) = (int)e->valuedouble;
		} else if (strcmp(k, "buffer") == 0 || strcmp(k, "rom") == 0) {
			bool rom = k[0] == 'r';
			int s;
			for (s = 0; s < MPQX_STORE_COUNT; s++)
				if (cJSON_IsString(e) && !(rom && s == MPQX_STORE_SPRAM) &&
				    strcmp(e->valuestring, config_storage_name(s, rom)) == 0)
					break;
			if (s == MPQX_STORE_COUNT && cJSON_IsString(e) && storage_alias(e->valuestring, rom) >= 0)
				s = storage_alias(e->valuestring, rom);
			if (s == MPQX_STORE_COUNT)
				return err_set(err, MPQX_EINPUT, "%s: %s.%s: expected \"block\", %s or \"auto\"", file, path,
					       k, rom ? "\"logic\"" : "\"distributed\", \"spram\"");
			*(rom ? &l->rom : &l->buffer) = (enum mpqx_storage)s;
		} else if (strcmp(k, "mult") == 0) {
			int s;
			for (s = 0; s < MPQX_MULT_COUNT; s++)
				if (cJSON_IsString(e) && strcmp(e->valuestring, mult_names[s]) == 0)
					break;
			if (s == MPQX_MULT_COUNT)
				return err_set(err, MPQX_EINPUT, "%s: %s.%s: expected \"dsp\", \"logic\" or \"auto\"", file,
					       path, k);
			l->mult = (enum mpqx_mult)s;
		} else if (strcmp(k, "calibration") == 0) {
			int mth;
			for (mth = 0; mth < MPQX_CALIB_COUNT; mth++)
				if (cJSON_IsString(e) && strcmp(e->valuestring, calib_names[mth]) == 0)
					break;
			if (mth == MPQX_CALIB_COUNT)
				return err_set(err, MPQX_EINPUT,
					       "%s: %s.%s: expected \"minmax\", \"percentile\" or \"mse\"", file, path, k);
			l->calib = (enum mpqx_calib)mth;
		} else if (strcmp(k, "w_granularity") == 0) {
			int g;
			for (g = 0; g < MPQX_WGRAN_COUNT; g++)
				if (cJSON_IsString(e) && strcmp(e->valuestring, wgran_names[g]) == 0)
					break;
			if (g == MPQX_WGRAN_COUNT)
				return err_set(err, MPQX_EINPUT, "%s: %s.%s: expected \"tensor\" or \"channel\"", file,
					       path, k);
			l->w_gran = (enum mpqx_wgran)g;
		} else {
			return err_set(err, MPQX_EINPUT,
				       "%s: %s.%s: unknown key (expected w_bits, a_bits, buffer, rom, mult, calibration or "
				       "w_granularity)",
				       file, path, k);
		}
	}
	return MPQX_OK;
}

static int parse(const char *file, const cJSON *root, const struct mpqx_model *m, struct mpqx_config *c,
		 struct mpqx_err *err)
{
	if (!cJSON_IsObject(root))
		return err_set(err, MPQX_EINPUT, "%s: (top level): expected an object", file);
	const cJSON *f = cJSON_GetObjectItemCaseSensitive(root, "format");
	if (!cJSON_IsString(f) || strcmp(f->valuestring, "mpqx-config") != 0)
		return err_set(err, MPQX_EINPUT, "%s: format: expected \"mpqx-config\"", file);
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, "version");
	if (!cJSON_IsNumber(v))
		return err_set(err, MPQX_EINPUT, "%s: version: expected a number", file);
	if (v->valuedouble != 1)
		return err_set(err, MPQX_EINPUT, "%s: version: unsupported version %g (this mpqx reads version 1)", file,
			       v->valuedouble);
	const cJSON *d = cJSON_GetObjectItemCaseSensitive(root, "device");
	if (d) {
		if (!cJSON_IsString(d) || !d->valuestring[0] || strlen(d->valuestring) >= sizeof c->device)
			return err_set(err, MPQX_EINPUT, "%s: device: expected a device name such as \"xc7s15\"", file);
		snprintf(c->device, sizeof c->device, "%s", d->valuestring);
	}
	const cJSON *mn = cJSON_GetObjectItemCaseSensitive(root, "model");
	if (mn) {
		if (!cJSON_IsString(mn))
			return err_set(err, MPQX_EINPUT, "%s: model: expected the model's name as a string", file);
		snprintf(c->model, sizeof c->model, "%s", mn->valuestring);
	}
	const cJSON *e;
	cJSON_ArrayForEach(e, root)
	{
		if (strcmp(e->string, "format") && strcmp(e->string, "version") && strcmp(e->string, "device") &&
		    strcmp(e->string, "defaults") && strcmp(e->string, "layers") && strcmp(e->string, "comment") &&
		    strcmp(e->string, "model"))
			return err_set(err, MPQX_EINPUT,
				       "%s: %s: unknown key (expected format, version, device, defaults, layers)", file,
				       e->string);
	}
	int rc;
	const cJSON *def = cJSON_GetObjectItemCaseSensitive(root, "defaults");
	if (def && (rc = read_layer(file, def, "defaults", &c->defaults, err)))
		return rc;
	for (int i = 0; i < c->n_layers; i++)
		c->layers[i] = c->defaults;
	const cJSON *layers = cJSON_GetObjectItemCaseSensitive(root, "layers");
	if (layers && !cJSON_IsObject(layers))
		return err_set(err, MPQX_EINPUT, "%s: layers: expected an object keyed by layer name", file);
	cJSON_ArrayForEach(e, layers)
	{
		char path[160];
		snprintf(path, sizeof path, "layers.%.100s", e->string);
		int li = model_find(m, e->string);
		if (li < 0)
			return err_set(err, MPQX_EINPUT, "%s: %s: model '%s' has no layer of this name", file, path,
				       m->name);
		if ((rc = read_layer(file, e, path, &c->layers[li], err)))
			return rc;
	}
	return MPQX_OK;
}

int config_parse(const char *text, size_t len, const char *name, const struct mpqx_model *m, struct mpqx_config *c,
		 struct mpqx_err *err)
{
	if (config_init(c, m, 8))
		return err_set(err, MPQX_ENOMEM, "out of memory");
	/* A raw NUL is invalid JSON, but cJSON would stop a string at it and read on. */
	const char *end = memchr(text, '\0', len);
	cJSON *root = end ? NULL : cJSON_ParseWithLengthOpts(text, len + 1, &end, true);
	int rc;
	if (!root) {
		int line, col;
		fileio_line_col(text, end ? (size_t)(end - text) : 0, &line, &col);
		rc = err_set(err, MPQX_EINPUT, "%s: line %d, column %d: invalid JSON", name, line, col);
	} else {
		rc = parse(name, root, m, c, err);
	}
	cJSON_Delete(root);
	if (rc)
		config_fini(c);
	return rc;
}

int config_load(const char *path, const struct mpqx_model *m, struct mpqx_config *c, struct mpqx_err *err)
{
	char *text = NULL;
	size_t len = 0;
	int rc = fileio_read(path, &text, &len, err);
	if (rc)
		return rc;
	rc = config_parse(text, len, path, m, c, err);
	free(text);
	return rc;
}

static cJSON *layer_json(const struct mpqx_layer_cfg *l)
{
	cJSON *o = cJSON_CreateObject();
	if (!o)
		return NULL;
	cJSON_AddNumberToObject(o, "w_bits", l->w_bits);
	cJSON_AddNumberToObject(o, "a_bits", l->a_bits);
	cJSON_AddStringToObject(o, "buffer", config_storage_name(l->buffer, false));
	cJSON_AddStringToObject(o, "rom", config_storage_name(l->rom, true));
	cJSON_AddStringToObject(o, "mult", mult_names[l->mult]);
	cJSON_AddStringToObject(o, "calibration", config_calib_name(l->calib));
	cJSON_AddStringToObject(o, "w_granularity", config_wgran_name(l->w_gran));
	return o;
}

char *config_to_json(const struct mpqx_model *m, const struct mpqx_config *c)
{
	cJSON *root = cJSON_CreateObject();
	if (!root)
		return NULL;
	cJSON_AddStringToObject(root, "format", "mpqx-config");
	cJSON_AddNumberToObject(root, "version", 1);
	cJSON_AddStringToObject(root, "model", m->name);
	cJSON_AddStringToObject(root, "device", c->device);
	cJSON_AddItemToObject(root, "defaults", layer_json(&c->defaults));
	cJSON *layers = cJSON_AddObjectToObject(root, "layers");
	for (int i = 0; layers && i < c->n_layers; i++)
		cJSON_AddItemToObject(layers, m->layers[i].name, layer_json(&c->layers[i]));
	char *s = cJSON_Print(root);
	cJSON_Delete(root);
	return s;
}

int config_save(const char *path, const struct mpqx_model *m, const struct mpqx_config *c,
		struct mpqx_err *err)
{
	char *s = config_to_json(m, c);
	if (!s)
		return err_set(err, MPQX_ENOMEM, "%s: out of memory", path);
	size_t n = strlen(s);
	char *t = realloc(s, n + 2);
	if (!t) {
		free(s);
		return err_set(err, MPQX_ENOMEM, "%s: out of memory", path);
	}
	t[n] = '\n';
	t[n + 1] = '\0';
	int rc = fileio_write_atomic(path, t, n + 1, err);
	free(t);
	return rc;
}
