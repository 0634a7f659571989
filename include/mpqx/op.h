/* Ops as classes (doc/ops.md): one descriptor per op of the model graph, found from one table indexed by
 * enum mpqx_op. Every pass (the loader, the float forward, the quantizer, the integer engine, the hardware
 * facts, the estimator and the exporter) asks the layer's class what to do instead of switching on the op.
 * Each class lives in its own file under src/core/ops/; the helpers several ops share stay in their
 * modules (quant.h: rounding and multipliers, kern.h: the engine's packing, products and requantizers,
 * hw.h: memories, forward.h: the float product). */
#ifndef MPQX_OP_H
#define MPQX_OP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mpqx/config.h"
#include "mpqx/err.h"
#include "mpqx/forward.h"
#include "mpqx/hw.h"
#include "mpqx/model.h"
#include "mpqx/quant.h"
#include "mpqx/tmpl.h"

/* ---- float forward ---- */

/* What an op's float forward sees for one layer of one window. */
struct mpqx_op_fwd {
	struct mpqx_forward *f;
	int li;
	const struct mpqx_layer *l;
	const float *x;              /* the first input's output (NULL without inputs) */
	const struct mpqx_layer *lx; /* the first input's layer (NULL without inputs) */
	const float *window;         /* the normalised input window */
	float *y;                    /* rows * cols outputs */
};

/* ---- quantizer ---- */

/* Internal result of a quantize hook: a rescale factor out of range (quant_build names the layer). */
#define MPQX_OP_EFACTOR 100

/* What an op's quantizer sees, and what it returns besides the layer's parameters in *ql. */
struct mpqx_op_quant {
	const struct mpqx_model *m;
	const struct mpqx_layer *l;
	const struct mpqx_qmodel *q;      /* the earlier layers are built */
	struct mpqx_qlayer *ql;           /* out already set */
	const struct mpqx_layer_cfg *cfg;
	const struct mpqx_qparam *x, *xb; /* the first two inputs' outputs (NULL when absent) */
	double M;                         /* out: the one rescale factor, 0 when none or when set in rs[] */
	int n_rs;                         /* out: rescales the op set in ql->rs itself (0: one when M > 0) */
};

/* ---- integer engine ---- */

/* What an op's integer kernel sees for one layer of one window (cached and chunked modes alike). */
struct mpqx_op_kernel {
	const struct mpqx_model *m;
	const struct mpqx_qmodel *q;
	int li;
	const struct mpqx_layer *l;
	const struct mpqx_qlayer *ql;
	const int16_t *in[MPQX_MAX_INPUTS]; /* the inputs' outputs for this window */
	int16_t *y;                         /* rows * cols outputs */
	size_t n;                           /* rows * cols */
	void *scratch;                      /* the thread's scratch (ieval sizes it for every op) */
	const int16_t *w16;                 /* prepared weights of the layer (ieval_prepare), or NULL */
	const int32_t *w32;
	const float *window;                /* the input window (ops without inputs), else NULL */
	long *clip;                         /* clamp events of the layer */
};

/* ---- hardware ---- */

/* What an op's hardware facts see; hw_layer has filled the common fields of *h before the hook. */
struct mpqx_op_hw {
	const struct mpqx_qmodel *q;
	const struct mpqx_model *m;
	const struct mpqx_layer *l;
	const struct mpqx_qlayer *ql;
	const struct mpqx_layer *lx; /* first input, or NULL */
	int xb, bb, yb;              /* bits of the first two inputs (0 when absent) and of the output */
	long words;                  /* rows * cols */
};

/* How the layer's output is requantized in the RTL. */
enum mpqx_op_requant {
	MPQX_OP_RQ_NONE,    /* no requantizer (input, const; softmax divides instead) */
	MPQX_OP_RQ_MAC,     /* the layer registers |acc| * m itself and feeds requant.v */
	MPQX_OP_RQ_RESCALE, /* one rescale.v (magnitude, constant multiplier, requant.v) per rescale */
};

/* ---- estimator ---- */

/* What an op's layer block sees (doc/estimator.md, the layer module's own logic). */
struct mpqx_op_est_in {
	const struct mpqx_qmodel *q;
	const struct mpqx_model *m;
	const struct mpqx_layer *l;
	const struct mpqx_qlayer *ql;
	const struct mpqx_hw_layer *h;
	int yaw, yb; /* output buffer address bits, output bits */
	int xaw, xb; /* first input: address bits of what it reads (est only), bits (0 without inputs) */
};

/* The features an op's layer block gives (the layer kind's features of doc/estimator.md that depend on
 * the op; one, out, ctrl, regs, dspx and split are derived by the estimator). Unset values are 0. */
struct mpqx_op_est {
	int cnt, addr1, addr2; /* counters, count-up addresses, addresses that load a base */
	int clr;               /* counter bits whose clear synthesis gives a LUT each (gelu.c) */
	int regs;              /* register bits beyond busy/done and the control registers */
	double acc, mux, prod, in, bias;
	/* Float codes (a softmax output, doc/quantization.md): the encoder's quotient bits (softmax.v), the
	 * code bits decoded (matmul.v, a's and b's); 0: none. Priced by rule (estimate.c, fc_lut). */
	int fc_enc, fc_dec;
};

/* One rescale block of a layer: input bits, multiplier, shift. */
struct mpqx_op_rescale {
	int iw;
	int64_t m;
	int n;
};

/* ---- exporter ---- */

/* What an op's template binding sees. The op_set_* helpers set placeholders of t; the first error
 * sticks in rc and err. */
struct mpqx_op_bind {
	const struct mpqx_model *m;
	const struct mpqx_qmodel *q;
	int li;
	const struct mpqx_layer *l;
	const struct mpqx_qlayer *ql;
	const struct mpqx_hw_layer *h;
	int p0, p1;                       /* the first two inputs' layers, -1 when absent */
	const struct mpqx_qparam *px, *pb; /* their outputs, NULL when absent */
	int mw;                           /* bits of rs[0].m, at least 1 */
	const char *rom, *rescale, *div;  /* module names of the layer's ROM, rescale.v and div.v */
	const char *const *rom_file;      /* the layer's .mem files, per ROM */
	bool logic;                       /* the layer's multipliers in logic (config "mult", resolved) */
	struct mpqx_tmpl *t;
	struct mpqx_err *err;
	int rc;
};

/* Placeholders the exporter sets itself, besides MODULE, YB and the buffer or ROM. */
#define MPQX_OP_TMPL_YAW 1u /* YAW: the output's address bits */
#define MPQX_OP_TMPL_YZ 2u  /* YZ: the output zero point */

/* ---- the class ---- */

struct mpqx_op_class {
	/* Loader (model.c). parse reads the op's attributes (NULL: none). shape checks the inputs and says
	 * which output shape they make: returns 0 with *rows, *cols set, or non-zero with why filled. macs:
	 * multiply-accumulates of one window (NULL: 0). has_weights: a quantized weight tensor. */
	int (*parse)(struct mpqx_attrs *a, struct mpqx_layer *l);
	int (*shape)(const struct mpqx_model *m, const struct mpqx_layer *l, int *rows, int *cols, char *why,
		     size_t size);
	long (*macs)(const struct mpqx_model *m, const struct mpqx_layer *l);
	bool has_weights;

	/* Float forward (forward.c). forward_init reserves the op's scratch in f (NULL: none; *acc and *pack
	 * are raised to the sizes the op needs). */
	int (*forward_init)(struct mpqx_forward *f, int li, size_t *acc, size_t *pack);
	void (*forward)(const struct mpqx_op_fwd *c);

	/* Quantizer (quant.c). out_range: the range the output is quantized over when it is not the
	 * calibration range (NULL: it is; the search's sub-models use it too). quantize: the layer's own parameters (NULL: none); MPQX_OK, MPQX_ENOMEM,
	 * MPQX_ERANGE (a bias out of range) or MPQX_OP_EFACTOR. acc_scaled: the accumulator bound already
	 * includes the multipliers (the rescale only shifts). */
	void (*out_range)(const struct mpqx_layer *l, double *lo, double *hi);
	/* calib_peak: the output is a probability whose scale comes from the largest calibration value
	 * (quant_out: s = 1 / quant_softmax_n), with no calibration method and no headroom. */
	bool calib_peak;
	/* w_channel: the weights may be quantized per output row (config w_granularity "channel"). */
	bool w_channel;
	int (*quantize)(struct mpqx_op_quant *c);
	bool acc_scaled;

	/* Integer engine (ieval.c). ieval_prepare rebuilds the layer's weights in the engine's layout when
	 * its parameters change (NULL: none); the engine frees *w16 and *w32. */
	void (*ieval)(const struct mpqx_op_kernel *k);
	int (*ieval_prepare)(const struct mpqx_model *m, const struct mpqx_qmodel *q, int li, int16_t **w16,
			     int32_t **w32);

	/* Hardware (hw.c): runs in the start/done chain, owns an output buffer, owns ROMs (weights, a table,
	 * constant values; the config's rom choice), its requantizer, a softmax divider; hw fills the op's facts; cycles (NULL: elements * phases + 1); hw_check refuses what the
	 * hardware cannot do (NULL: nothing). */
	bool runs, has_buf, has_rom;
	enum mpqx_op_requant requant;
	bool divider;
	void (*hw)(const struct mpqx_op_hw *c, struct mpqx_hw_layer *h);
	long (*cycles)(const struct mpqx_layer *l, const struct mpqx_hw_layer *h);
	int (*hw_check)(const struct mpqx_model *m, const struct mpqx_layer *l, struct mpqx_err *err);

	/* Estimator (estimate.c). est: the layer block's features (the block kind is the op's name; NULL: no
	 * layer block). est_rescales: the rescale blocks when not one of rescale_in, rs[0] (returns how
	 * many). */
	void (*est)(const struct mpqx_op_est_in *c, struct mpqx_op_est *e);
	int (*est_rescales)(const struct mpqx_op_est_in *c, struct mpqx_op_rescale *out);

	/* Exporter (export.c). tmpl: its file in hdl_templates/; tmpl_lib: the library module it
	 * instantiates by a placeholder of the same name in capitals ("requant", "rescale"; NULL: none);
	 * tmpl_flags: MPQX_OP_TMPL_*; bind sets the op's own placeholders; in_port names input k's ports
	 * (NULL: "x"). top_ports: the ports besides clk and the read port when the layer is outside the
	 * start/done chain; window_in: the layer the testbench writes the window into. */
	const char *tmpl;
	const char *tmpl_lib;
	unsigned tmpl_flags;
	void (*bind)(struct mpqx_op_bind *b);
	const char *(*in_port)(int k, char *buf, size_t size);
	const char *top_ports;
	bool window_in;
};

/* The classes, op_class_LINEAR and so on, one per file of src/core/ops/. */
#define MPQX_OP_CLASS_DECL(e, s, n) extern const struct mpqx_op_class op_class_##e;
MPQX_OPS(MPQX_OP_CLASS_DECL)
#undef MPQX_OP_CLASS_DECL

/* The table: one class per op, indexed by enum mpqx_op. */
extern const struct mpqx_op_class *const mpqx_op_classes[MPQX_OP_COUNT];

static inline const struct mpqx_op_class *op_class(enum mpqx_op op)
{
	return mpqx_op_classes[op];
}

/* ---- helpers shared by the op files ---- */

static inline int op_imax(int a, int b)
{
	return a > b ? a : b;
}

/* Bits of a counter up to v - 1: ceil(log2(v)), 0 for v <= 1. */
static inline int op_clog2(long v)
{
	int n = 0;
	while ((1L << n) < v)
		n++;
	return n;
}

/* Template placeholders: a string, an integer, a quoted string, a 64-bit Verilog constant. */
void op_set_s(struct mpqx_op_bind *b, const char *name, const char *v);
void op_set_i(struct mpqx_op_bind *b, const char *name, long long v);
void op_set_q(struct mpqx_op_bind *b, const char *name, const char *v);
void op_set_u64(struct mpqx_op_bind *b, const char *name, int64_t v);

/* The placeholders of a layer that reads one input and requantizes by its first rescale (relu, split,
 * avgpool, and the weighted layers below): XB, XZ, XAW (the input), MW, MUL, SHR (the rescale). */
void op_bind_input_rescale(struct mpqx_op_bind *b);

/* The placeholders every layer with a weight ROM, a bias ROM and a MAC requantizer shares (linear, affine,
 * layernorm): WROM, BROM, XB, XZ, XAW, WB, WZ, WAW, W_INIT, BB, B_INIT, ACCW, MW, MUL, SHR. */
void op_bind_weighted(struct mpqx_op_bind *b);

/* linear and affine: LOGIC (the multiplier choice) and the per-channel scale ROM, CH, SROM and S_INIT. */
void op_bind_mac_scale(struct mpqx_op_bind *b);

/* The estimator features of a MAC layer with a weight and a bias ROM (linear, affine): its product
 * register, accumulator, shared multiplier operands, zero-point subtractors and bias word. */
void op_est_mac(const struct mpqx_op_est_in *c, struct mpqx_op_est *e);

/* Port names "a" and "b" of a two-input op. */
const char *op_port_ab(int k, char *buf, size_t size);

#endif
