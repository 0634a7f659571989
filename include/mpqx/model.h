/* The float model: layer graph, weights, normalisation and dataset spec (doc/model-format.md). */
#ifndef MPQX_MODEL_H
#define MPQX_MODEL_H

#include <stdbool.h>

#include "mpqx/err.h"

#define MPQX_NAME_MAX 64
#define MPQX_MAX_INPUTS 8
#define MPQX_MAX_COLUMNS 16
#define MPQX_MAX_DIM 65536 /* largest dimension of a shape */

/* X-macro: enum, name in the file, number of inputs (-1: one or more). */
#define MPQX_OPS(X)                 \
	X(INPUT, "input", 0)        \
	X(CONST, "const", 0)        \
	X(LINEAR, "linear", 1)      \
	X(ADD, "add", 2)            \
	X(MATMUL, "matmul", 2)      \
	X(SOFTMAX, "softmax", 1)    \
	X(AFFINE, "affine", 1)      \
	X(RELU, "relu", 1)          \
	X(AVGPOOL, "avgpool", 1)    \
	X(SPLIT, "split", 1)        \
	X(CONCAT, "concat", -1)     \
	X(LAYERNORM, "layernorm", 1) \
	X(GELU, "gelu", 1)

enum mpqx_op {
#define MPQX_OP_ENUM(e, s, n) MPQX_OP_##e,
	MPQX_OPS(MPQX_OP_ENUM)
#undef MPQX_OP_ENUM
	MPQX_OP_COUNT
};

/* A float tensor; data is owned by the model. */
struct mpqx_tensor {
	int rows, cols; /* a vector is rows = 1 */
	float *data;
};

struct mpqx_layer {
	char name[MPQX_NAME_MAX];
	enum mpqx_op op;
	int n_inputs;
	int inputs[MPQX_MAX_INPUTS]; /* indices of earlier layers */
	int rows, cols;              /* output shape */
	struct mpqx_tensor weight;   /* linear [O, I]; affine, layernorm [1, C]; const value [R, C] */
	struct mpqx_tensor bias;     /* linear, affine, layernorm: [1, O] */
	/* matmul */
	bool transpose_b;
	double scale;
	int heads;
	/* split */
	int offset, width;
	/* layernorm */
	double eps;
	/* A fixed activation range from the model file's "ranges" (a fine-tuned model): used as the calibrated
	 * range, as it is, with no headroom. */
	bool fixed_range;
	double fixed_lo, fixed_hi;
	/* gelu: the tanh approximation instead of erf */
	bool gelu_tanh;
	bool to_matmul; /* every consumer is a matmul, and there is one (model_load; quant_softmax_fc) */
};

enum mpqx_norm_method { MPQX_NORM_STANDARD, MPQX_NORM_MINMAX };

struct mpqx_norm {
	double a, b; /* standard: mean, std; minmax: min, max */
};

struct mpqx_dataset_spec {
	char csv[4096]; /* resolved against the model file's directory */
	int n_columns;
	char columns[MPQX_MAX_COLUMNS][MPQX_NAME_MAX];
	char target[MPQX_NAME_MAX];
	int window, horizon;
	double split_train, split_calib, split_test;
};

struct mpqx_model {
	char path[4096];
	char name[MPQX_NAME_MAX];
	int window, features, out_features;
	int output;   /* index of the output layer */
	int n_layers;
	struct mpqx_layer *layers;
	struct mpqx_dataset_spec data;
	enum mpqx_norm_method norm_method;
	struct mpqx_norm norm[MPQX_MAX_COLUMNS]; /* per input column */
	struct mpqx_norm norm_target;
	long n_params;
	long macs; /* multiply-accumulates of one float forward */
	int n_fixed_ranges;   /* layers with a fixed range */
	char finetuned[256];  /* "finetuned.config": the config the model was fine-tuned for, or "" */
};

/* The attributes of one layer as the loader reads them (opaque; the JSON stays in model.c). The op
 * classes read theirs with model_attr_*, which name the file and the JSON path on error. */
struct mpqx_attrs;

/* A tensor key {"shape": [...], "data": [...]} of rows * cols values into *t (owned by the model). */
int model_attr_tensor(struct mpqx_attrs *a, const char *key, int rows, int cols, struct mpqx_tensor *t);
/* The shape of the required tensor key, before reading it. */
int model_attr_shape(struct mpqx_attrs *a, const char *key, int *rows, int *cols);
/* An integer from lo to hi; an absent key that is not required leaves *out. */
int model_attr_int(struct mpqx_attrs *a, const char *key, bool required, int lo, int hi, int *out);
/* A finite number; an absent key that is not required leaves *out. */
int model_attr_num(struct mpqx_attrs *a, const char *key, bool required, double *out);
/* A string, copied into out (size bytes); an absent key that is not required leaves out. */
int model_attr_str(struct mpqx_attrs *a, const char *key, bool required, char *out, size_t size);
/* An optional true or false (absent: false). */
int model_attr_bool(struct mpqx_attrs *a, const char *key, bool *out);
/* MPQX_EINPUT with a message naming key and what was expected. */
int model_attr_bad(struct mpqx_attrs *a, const char *key, const char *what);

/* Loads and validates a model file, or a directory holding model.json. On success the caller owns *out
 * (free with model_free). On error returns MPQX_EINPUT/MPQX_EIO and err names the file and JSON path. */
int model_load(const char *path, struct mpqx_model **out, struct mpqx_err *err);
/* Sets every layer's to_matmul from the graph (model_load does; for models built in memory). */
void model_mark_consumers(struct mpqx_model *m);

/* Frees a model; NULL is a no-op. */
void model_free(struct mpqx_model *m);

/* Op name as in the file. */
const char *model_op_name(enum mpqx_op op);

/* Index of the layer called name, or -1. */
int model_find(const struct mpqx_model *m, const char *name);

/* Multiply-accumulates of one layer for one window (0 for ops without a product). */
long model_layer_macs(const struct mpqx_model *m, int layer);

/* true when the layer has a weight tensor that is quantized (linear, affine). */
bool model_layer_has_weights(const struct mpqx_layer *l);

/* true when the exported layer owns an output buffer (all but const) / ROMs (weights, the softmax table, a
 * const's values): the config's buffer / rom settings mean something for it. */
bool model_layer_has_buffer(const struct mpqx_layer *l);
bool model_layer_has_rom(const struct mpqx_layer *l);

/* Undoes the target normalisation's scale: an error of e on the normalised scale is e*factor in the
 * target's unit. */
double model_target_unit(const struct mpqx_model *m);

/* Normalised value of raw column value x for input column c; c = -1 is the target. */
double model_normalize(const struct mpqx_model *m, int c, double x);

/* Raw value of normalised target y. */
double model_denormalize_target(const struct mpqx_model *m, double y);

#endif
