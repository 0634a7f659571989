/* Resource and latency estimate of the exported RTL (doc/estimator.md).
 *
 * A layer is costed block by block, each block being one module (or the layer module's own logic) of the
 * RTL that hdl_templates/ builds: the output buffer, the ROMs, the requantizer, the rescale blocks, the
 * divider and the layer's own control and datapath. Every block function has the same signature and
 * returns LUT, LUTRAM, FF, BRAM18, DSP and cycles:
 *  - memories and DSPs come from rules (RAMB18 shapes, RAM32M/RAM64M banks, Yosys's mul2dsp split);
 *  - logic LUTs and FFs are linear models of a few features per block whose coefficients are fitted
 *    against synthesis (devices/FAMILY-cost.ini, tools/fit_costs.py);
 *  - cycles are the templates' state machines, from include/mpqx/hw.h.
 * Shapes, widths and cycles come from hw_layer(), the numbers the exporter writes the RTL from. */
#include "mpqx/estimate.h"

#include <errno.h>
#include <ini.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mpqx/fileio.h"
#include "mpqx/hw.h"
#include "mpqx/op.h"

/* ---- block kinds and their features ---- */

/* The layer module's own logic (control counters and datapath), one kind per op. Features:
 *   one   1
 *   ctrl  bits of the counters and address registers of the template's state machine
 *   acc   accumulator / sum width (its adder, the bias adder and the magnitude of MAC layers)
 *   mux   bits of the shared multiplier's operand multiplexers
 *   prod  width of the registered product the requantizer reads
 *   in    bits of the inputs' zero-point subtractions
 *   out   output bits
 *   regs  all register bits the template declares (DSP-absorbed ones included)
 *   dspx  DSPs of the shared multiplier beyond the first (each adds a partial-product register)
 *   split the same times the product width (the adders that sum the partial products)
 *   cnt, addr1, addr2  ctrl split into phase/index counters, addresses that only count up, and
 *         addresses that also load a base (with its own register and step adder)
 *   bias  width of the bias ROM's word (linear, affine: sign-extended into the sum)
 *   clr   counter bits whose clear to 0 synthesis gives a LUT per bit (gelu; LUTs only, its registers
 *         are in ctrl) */
static const char *const f_layer[] = {"one", "ctrl", "acc", "mux", "prod", "in", "out", "regs", "dspx", "split",
				      "cnt", "addr1", "addr2", "bias", "clr"};
enum {
	FL_ONE, FL_CTRL, FL_ACC, FL_MUX, FL_PROD, FL_IN, FL_OUT, FL_REGS, FL_DSPX, FL_SPLIT,
	FL_CNT, FL_ADDR1, FL_ADDR2, FL_BIAS, FL_CLR, FL_N
};

/* Distributed buffer: the read multiplexer of RAM64M banks, per address width 7..13 (a*width + b). */
static const char *const f_ram[] = {"w7", "one7", "w8", "one8", "w9", "one9", "w10", "one10",
				    "w11", "one11", "w12", "one12", "w13", "one13", "bits"};
/* iCE40 buffer in flip-flops: bits = depth x width (its read multiplexer, in LUT4s per stored bit). */
#define FRAM_BITS 14
#define RAM_AW_MIN 7
#define RAM_AW_MAX 13

/* Logic ROM: small = output bits of ROMs of at most 64 words that need a LUT (not constant, not a copy
 * of another bit or of an address bit), big = such bits times 64-word blocks of the stored words for
 * deeper ROMs, cols = distinct non-constant output bits (each a flip-flop), flips = bit changes between
 * consecutive words of deeper ROMs / 64. */
static const char *const f_rom[] = {"small", "big", "cols", "flips"};
enum { FR_SMALL, FR_BIG, FR_COLS, FR_FLIPS, FR_N };

/* Requantizer tail (requant.v): pw = product bits, sh = bits left after the shift, ob = output bits,
 * tw = width of its signed sum (max(pw, 32) + 2), z = 1 when the output zero point is not 0. */
static const char *const f_requant[] = {"one", "pw", "sh", "ob", "tw", "z"};
enum { FQ_ONE, FQ_PW, FQ_SH, FQ_OB, FQ_TW, FQ_Z, FQ_N };

/* Rescale block (rescale.v without its requantizer): iw = input bits (its magnitude), lutmul = the
 * product's partial-product bits when it stays in LUTs, preg = product register bits outside a DSP,
 * dspx = DSPs beyond the first. */
static const char *const f_rescale[] = {"one", "iw", "lutmul", "preg", "dspx"};
enum { FS_ONE, FS_IW, FS_LUTMUL, FS_PREG, FS_DSPX, FS_N };

/* Softmax divider (div.v): sw = remainder width, qw = quotient bits, regs = register bits. */
static const char *const f_div[] = {"one", "sw", "qw", "regs"};
enum { FD_ONE, FD_SW, FD_QW, FD_REGS, FD_N };

/* Multipliers in logic (config "mult": "logic"; linear.v, affine.v, matmul.v, rescale.v with LOGIC 1):
 * one = a MAC layer's multipliers, pp = adder bits of the LUT multiplier of the data product (one shifted
 * copy of a per bit of b into an a + b - 1 bit sum), ppm = the same of the data multiplier of m per channel
 * (one copy of |acc + b| per bit of m),
 * csd = adder bits of the constant's shift-add over the canonical signed digits of m (each digit but the
 * lowest adds the bits from its position up), acc = accumulator bits and preg = product register bits a
 * DSP slice held. */
static const char *const f_mult[] = {"one", "pp", "csd", "acc", "preg", "ppm"};
enum { FM_ONE, FM_PP, FM_CSD, FM_ACC, FM_PREG, FM_PPM, FM_N };

/* Top module glue: orbits = address bits ORed where several layers read one buffer, layers = layers in
 * the start/done chain. */
static const char *const f_top[] = {"one", "orbits", "layers"};
enum { FT_ONE, FT_ORBITS, FT_LAYERS, FT_N };

#define NF(a) ((int)(sizeof(a) / sizeof((a)[0])))

/* Kinds 0 .. MPQX_OP_COUNT - 1 are the layer modules of the ops, named as the op (those whose class has an
 * estimator block, op.h); the shared blocks follow. */
enum kind { K_RAM = MPQX_OP_COUNT, K_ROM, K_REQUANT, K_RESCALE, K_DIV, K_TOP, K_MULT, K_COUNT };

static const struct {
	const char *name;
	const char *const *feat;
	int n;
} kinds[K_COUNT] = {
	[K_RAM] = {"ram", f_ram, NF(f_ram)},           [K_ROM] = {"rom", f_rom, NF(f_rom)},
	[K_REQUANT] = {"requant", f_requant, NF(f_requant)}, [K_RESCALE] = {"rescale", f_rescale, NF(f_rescale)},
	[K_DIV] = {"div", f_div, NF(f_div)},           [K_TOP] = {"top", f_top, NF(f_top)},
	[K_MULT] = {"mult", f_mult, NF(f_mult)},
};

/* A kind's name (NULL: no such block), features and their count. */
static const char *kind_name(int kd)
{
	if (kd < MPQX_OP_COUNT)
		return op_class((enum mpqx_op)kd)->est ? model_op_name((enum mpqx_op)kd) : NULL;
	return kinds[kd].name;
}

static const char *const *kind_feat(int kd)
{
	return kd < MPQX_OP_COUNT ? f_layer : kinds[kd].feat;
}

static int kind_n(int kd)
{
	return kd < MPQX_OP_COUNT ? NF(f_layer) : kinds[kd].n;
}

struct mpqx_coeffs {
	char family[32];
	double lut[K_COUNT][MPQX_EST_MAX_FEATURES];
	double ff[K_COUNT][MPQX_EST_MAX_FEATURES];
	/* flat.lut / flat.ff: each kind's scale from the hierarchical fit to flattened totals (1 when absent) */
	double flat_lut[K_COUNT], flat_ff[K_COUNT];
	/* iCE40 ([family] lc.lut, lc.ff): a block's logic cells are lc.lut x its LUT4s + lc.ff x its
	 * flip-flops (the part of the flip-flops nextpnr cannot pack with a LUT4 of their own) */
	double lc_lut, lc_ff;
	/* [clock]: the longest path of each block kind in ns (doc/estimator.md, "Clock") */
	double path_ns[K_COUNT];
	bool has_path;
};

/* ---- coefficient file ---- */

struct cctx {
	const char *path;
	struct mpqx_coeffs *k;
	struct mpqx_err *err;
	bool failed, named;
};

#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
static int cfail(struct cctx *c, const char *fmt, ...)
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

static int chandler(void *user, const char *section, const char *name, const char *value)
{
	struct cctx *c = user;
	if (c->failed)
		return 0;
	if (strcmp(section, "family") == 0 && (strcmp(name, "lc.lut") == 0 || strcmp(name, "lc.ff") == 0)) {
		char *end;
		errno = 0;
		double v = strtod(value, &end);
		if (errno || end == value || *end || !isfinite(v) || v < 0 || v > 100)
			return cfail(c, "[family] %s = '%s': expected a number from 0 to 100", name, value);
		*(name[3] == 'l' ? &c->k->lc_lut : &c->k->lc_ff) = v;
		return 1;
	}
	if (strcmp(section, "clock") == 0) {
		int kd = -1;
		for (int i = 0; i < K_COUNT; i++)
			if (kind_name(i) && strcmp(name, kind_name(i)) == 0)
				kd = i;
		char *end;
		errno = 0;
		double v = kd < 0 ? 0 : strtod(value, &end);
		if (kd < 0)
			return cfail(c, "[clock] %s: expected a block kind (linear, ..., top)", name);
		if (errno || end == value || *end || !isfinite(v) || v <= 0 || v > 1000)
			return cfail(c, "[clock] %s = '%s': expected a path delay in ns, above 0 and at most 1000", name,
				     value);
		c->k->path_ns[kd] = v;
		c->k->has_path = true;
		return 1;
	}
	if (strcmp(section, "family") == 0) {
		if (strcmp(name, "name") == 0) {
			size_t n = strlen(value);
			if (n == 0 || n >= sizeof c->k->family)
				return cfail(c, "[family] name: expected a family name such as xc7");
			memcpy(c->k->family, value, n + 1);
			c->named = true;
		}
		return 1; /* other keys (source, fitted) describe the fit */
	}
	int kd = -1;
	for (int i = 0; i < K_COUNT; i++)
		if (kind_name(i) && strcmp(section, kind_name(i)) == 0)
			kd = i;
	if (kd < 0)
		return cfail(c, "unknown section [%s]: expected [family] or a block kind (linear, affine, matmul, "
			     "add, relu, split, avgpool, concat, softmax, layernorm, gelu, ram, rom, requant, rescale, div, "
			     "top)",
			     section);
	double *row;
	const char *feat;
	if (strcmp(name, "flat.lut") == 0 || strcmp(name, "flat.ff") == 0) {
		char *end;
		errno = 0;
		double v = strtod(value, &end);
		if (errno || end == value || *end || !isfinite(v) || v < 0.1 || v > 10)
			return cfail(c, "[%s] %s = '%s': expected a scale from 0.1 to 10", section, name, value);
		*(name[5] == 'l' ? &c->k->flat_lut[kd] : &c->k->flat_ff[kd]) = v;
		return 1;
	}
	if (strncmp(name, "lut.", 4) == 0) {
		row = c->k->lut[kd];
		feat = name + 4;
	} else if (strncmp(name, "ff.", 3) == 0) {
		row = c->k->ff[kd];
		feat = name + 3;
	} else {
		return cfail(c, "[%s] %s: expected lut.FEATURE, ff.FEATURE, flat.lut or flat.ff", section, name);
	}
	int fi = -1;
	for (int i = 0; i < kind_n(kd); i++)
		if (strcmp(feat, kind_feat(kd)[i]) == 0)
			fi = i;
	if (fi < 0) {
		char list[256] = "";
		for (int i = 0; i < kind_n(kd); i++) {
			size_t u = strlen(list);
			snprintf(list + u, sizeof list - u, "%s%s", i ? ", " : "", kind_feat(kd)[i]);
		}
		return cfail(c, "[%s] %s: unknown feature '%s' (expected one of %s)", section, name, feat, list);
	}
	char *end;
	errno = 0;
	double v = strtod(value, &end);
	if (errno || end == value || *end || !isfinite(v) || fabs(v) > 1e6)
		return cfail(c, "[%s] %s = '%s': expected a number", section, name, value);
	row[fi] = v;
	return 1;
}

int estimate_coeffs_load(const char *path, struct mpqx_coeffs **out, struct mpqx_err *err)
{
	*out = NULL;
	char *text = NULL;
	size_t len = 0;
	int rc = fileio_read(path, &text, &len, err);
	if (rc)
		return rc;
	if (memchr(text, '\0', len)) {
		free(text);
		return err_set(err, MPQX_EINPUT, "%s: not a text file (a NUL byte)", path);
	}
	struct mpqx_coeffs *k = calloc(1, sizeof *k);
	if (!k) {
		free(text);
		return err_set(err, MPQX_ENOMEM, "%s: out of memory", path);
	}
	k->lc_lut = 1;
	k->lc_ff = 1;
	for (int i = 0; i < K_COUNT; i++)
		k->flat_lut[i] = k->flat_ff[i] = 1;
	struct cctx c = {.path = path, .k = k, .err = err};
	int line = ini_parse_string(text, chandler, &c);
	free(text);
	if (line != 0) {
		if (line < 0)
			rc = err_set(err, MPQX_ENOMEM, "%s: out of memory", path);
		else if (c.failed) {
			char m[MPQX_ERR_LEN];
			snprintf(m, sizeof m, "%s", err ? err->msg : "");
			rc = err_set(err, MPQX_EINPUT, "%s: line %d: %s", path, line, m);
		} else
			rc = err_set(err, MPQX_EINPUT, "%s: line %d: expected `key = value` or [section]", path, line);
		free(k);
		return rc;
	}
	if (!c.named) {
		free(k);
		return err_set(err, MPQX_EINPUT, "%s: no [family] name", path);
	}
	*out = k;
	return MPQX_OK;
}

void estimate_coeffs_free(struct mpqx_coeffs *c)
{
	free(c);
}

/* ---- rules ---- */

static long ceil_div(long a, long b)
{
	return (a + b - 1) / b;
}

static int imax(int a, int b)
{
	return a > b ? a : b;
}

struct ram_shape {
	long d;
	int w;
};

/* The fewest blocks of one of the shapes that hold depth x width (Yosys's memory_libmap picks the cheapest). */
static long cheapest_blocks(long depth, int width, const struct ram_shape *shapes, size_t n_shapes)
{
	if (depth <= 0 || width <= 0)
		return 0;
	long best = -1;
	for (size_t i = 0; i < n_shapes; i++) {
		long n = ceil_div(depth, shapes[i].d) * ceil_div(width, shapes[i].w);
		if (best < 0 || n < best)
			best = n;
	}
	return best;
}

long estimate_bram18(long depth, int width)
{
	/* RAMB18E1 simple dual-port shapes (UG473); a RAMB36 is two RAMB18s of the same shapes at twice the
	 * depth, so it never beats them in RAMB18 units. */
	static const struct ram_shape shapes[] = {{16384, 1}, {8192, 2}, {4096, 4}, {2048, 9}, {1024, 18}, {512, 36}};
	return cheapest_blocks(depth, width, shapes, sizeof shapes / sizeof shapes[0]);
}

/* A ROM's read port can take the two halves of the depth side by side: 4096 x 13 is 3 RAMB18 as
 * 2048 x 26 (3 x 2K x 9) with 13 LUT3 and one registered address bit, where the RAM rule gives 4
 * (Yosys 0.23, rom.v alone: 4096 x 13 -> 3, 8192 x 13 -> 6, 4096 x 22 -> 5). A RAM's write port
 * cannot (ram.v at 4096 x 13..16 keeps 4). Ties keep the unfolded shape. */
long estimate_bram18_rom(long depth, int width, int *fold)
{
	long n = estimate_bram18(depth, width);
	int f = 1;
	if (depth >= 2 && width > 0) {
		long n2 = estimate_bram18(depth / 2, 2 * width);
		if (n2 < n) {
			n = n2;
			f = 2;
		}
	}
	if (fold)
		*fold = f;
	return n;
}

long estimate_lutram(long depth, int width)
{
	if (depth <= 0 || width <= 0)
		return 0;
	if (depth <= 32)
		return 4 * ceil_div(width, 6); /* RAM32M: 32 x 6 simple dual-port in 4 LUTs */
	if (depth == 128 && width == 1)
		return 4; /* RAM128X1D */
	return 4 * ceil_div(depth, 64) * ceil_div(width, 3); /* RAM64M banks: 64 x 3 in 4 LUTs */
}

/* Yosys's mul2dsp for the xc7 family: A up to 25 and B up to 18 bits per DSP48E1, slices of 17 bits
 * plus a sign bit, at least 2-bit operands and a 9-bit product. top: a $mul cell (unsigned operands
 * become signed one bit wider and the wider one goes to A); otherwise a $__mul slice taken as it is. */
static int mul2dsp(int a, int b, int y, bool as, bool bs, bool top)
{
	if (a < 2 || b < 2 || y < 9)
		return 0;
	if (top && !as && !bs) {
		a++;
		b++;
		as = bs = true;
	}
	if (top && a < b) {
		int t = a;
		a = b;
		b = t;
		bool u = as;
		as = bs;
		bs = u;
	}
	if (a > 25) {
		int n = (a - 25 + 18 - 1 - 1) / 17;
		int py = y < b + 18 ? y : b + 18;
		int la = a - n * 17;
		return n * mul2dsp(18, b, py, true, bs, false) + mul2dsp(la, b, b + la, as, bs, false);
	}
	if (b > 18) {
		int n = (b - 18 + 18 - 1 - 1) / 17;
		int py = y < a + 18 ? y : a + 18;
		int lb = b - n * 17;
		return n * mul2dsp(a, 18, py, as, true, false) + mul2dsp(a, lb, a + lb, as, bs, false);
	}
	return 1;
}

int estimate_dsp(int a, int b, int y, bool a_signed, bool b_signed)
{
	return mul2dsp(a, b, y, a_signed, b_signed, true);
}

/* The constant m with its trailing zeros removed (they become a shift). */
static int64_t odd_part(int64_t m)
{
	while (m > 0 && (m & 1) == 0)
		m >>= 1;
	return m;
}

int estimate_dsp_const(int vbits, int64_t m)
{
	int64_t o = odd_part(m);
	if (o <= 1)
		return 0;
	int mb = quant_bitlen((uint64_t)o);
	return estimate_dsp(vbits, mb, vbits + mb, false, false);
}

long estimate_ebr(long depth, int width)
{
	/* SB_RAM40_4K shapes (iCE40 sysMEM) */
	static const struct ram_shape shapes[] = {{2048, 2}, {1024, 4}, {512, 8}, {256, 16}};
	return cheapest_blocks(depth, width, shapes, sizeof shapes / sizeof shapes[0]);
}

long estimate_spram(long depth, int width)
{
	if (depth <= 0 || width <= 0)
		return 0;
	return ceil_div(depth, 16384) * ceil_div(width, 16);
}

/* Yosys's mul2dsp for synth_ice40 -dsp: 16 x 16 per SB_MAC16 (no sign headroom), operands of at least 2
 * bits, a product of at least 11; wider operands split into 16-bit slices. */
static int mul16(int a, int b, int y, bool top)
{
	if (a < 2 || b < 2 || y < 11)
		return 0;
	if (top && a < b) {
		int t = a;
		a = b;
		b = t;
	}
	if (a > 16) {
		int n = (a - 1) / 16;
		int la = a - n * 16;
		int py = y < b + 16 ? y : b + 16;
		return n * mul16(16, b, py, false) + mul16(la, b, b + la, false);
	}
	if (b > 16) {
		int n = (b - 1) / 16;
		int lb = b - n * 16;
		int py = y < a + 16 ? y : a + 16;
		return n * mul16(a, 16, py, false) + mul16(a, lb, a + lb, false);
	}
	return 1;
}

int estimate_dsp_ice40(int a, int b, int y, bool a_signed, bool b_signed)
{
	(void)a_signed;
	(void)b_signed;
	return mul16(a, b, y, true);
}

/* ---- the blocks ---- */

/* What a block function sees. */
struct blk {
	const struct mpqx_qmodel *q;
	const struct mpqx_config *c;
	const struct mpqx_coeffs *k;
	const struct mpqx_device *dev;  /* NULL: xc7 */
	bool ice;                       /* iCE40: lut counts logic cells, lutram SPRAM blocks, bram18 EBRs */
	int l;                          /* model layer, -1 for the top module */
	const struct mpqx_hw_layer *h;  /* hw facts of layer l */
	enum mpqx_storage buf, rom;     /* resolved storage */
	enum mpqx_mult mult;            /* resolved multiplier choice */
	struct mpqx_cost *dhier;        /* when set, the hierarchical minus the flattened LUTs and FFs add here */
	struct mpqx_est_block *sink;    /* when set, each block's features are recorded here */
	int *n_sink;
	double *path_ns;                /* when set, the longest [clock] path of the blocks costed */
	int *path_kind;
};

typedef void (*block_fn)(const struct blk *b, struct mpqx_cost *c);

/* The DSPs of a product on the block's family; 0 on a device without DSPs (the product is in logic). */
static int blk_dsp(const struct blk *b, int a, int bb, int y, bool as, bool bs)
{
	if (!b->ice)
		return estimate_dsp(a, bb, y, as, bs);
	return b->dev && b->dev->dsp == 0 ? 0 : estimate_dsp_ice40(a, bb, y, as, bs);
}

static int blk_dsp_const(const struct blk *b, int vbits, int64_t m)
{
	if (!b->ice)
		return estimate_dsp_const(vbits, m);
	int64_t o = odd_part(m);
	if (o <= 1)
		return 0;
	int mb = quant_bitlen((uint64_t)o);
	return blk_dsp(b, vbits, mb, vbits + mb, false, false);
}

static void add_cost(struct mpqx_cost *d, const struct mpqx_cost *s)
{
	d->lut += s->lut;
	d->lutram += s->lutram;
	d->ff += s->ff;
	d->bram18 += s->bram18;
	d->dsp += s->dsp;
	d->cycles += s->cycles;
}

static long round_nonneg(double v)
{
	return v > 0 ? lround(v) : 0;
}

/* Adds to *c the rule-based part *r of a block of kind kd and the fitted model's LUTs and FFs for its
 * features f, scaled to flattened synthesis (flat.lut, flat.ff); b->dhier collects what the block has
 * more with the hierarchy kept. Records the block, unscaled, for the fitter when asked (blocks of one
 * kind within a layer are summed). */
static void model(const struct blk *b, enum kind kd, const double *f, const struct mpqx_cost *r, struct mpqx_cost *c)
{
	double vl = 0, vf = 0;
	int nf = kind_n(kd);
	for (int i = 0; i < nf; i++) {
		vl += b->k->lut[kd][i] * f[i];
		vf += b->k->ff[kd][i] * f[i];
	}
	if (b->path_ns && b->k->path_ns[kd] > *b->path_ns) {
		*b->path_ns = b->k->path_ns[kd];
		*b->path_kind = kd;
	}
	double sl = vl * b->k->flat_lut[kd], sf = vf * b->k->flat_ff[kd];
	struct mpqx_cost m = *r, h = *r;
	if (b->ice) {
		m.lut += round_nonneg(b->k->lc_lut * sl + b->k->lc_ff * (sf + (double)r->ff));
		h.lut += round_nonneg(b->k->lc_lut * vl + b->k->lc_ff * (vf + (double)r->ff));
	} else {
		m.lut += round_nonneg(sl);
		h.lut += round_nonneg(vl);
	}
	m.ff += round_nonneg(sf);
	h.ff += round_nonneg(vf);
	add_cost(c, &m);
	if (b->dhier) {
		b->dhier->lut += h.lut - m.lut;
		b->dhier->ff += h.ff - m.ff;
	}
	if (!b->sink)
		return;
	struct mpqx_est_block *s = NULL;
	for (int i = 0; i < *b->n_sink; i++)
		if (strcmp(b->sink[i].kind, kind_name(kd)) == 0)
			s = &b->sink[i];
	if (!s) {
		if (*b->n_sink >= MPQX_EST_MAX_BLOCKS)
			return;
		s = &b->sink[(*b->n_sink)++];
		memset(s, 0, sizeof *s);
		s->kind = kind_name(kd);
		s->n_features = nf;
		s->names = kind_feat(kd);
	}
	for (int i = 0; i < nf; i++)
		s->f[i] += f[i];
	add_cost(&s->cost, &h);
	add_cost(&s->rule, r);
}

static int clog2(long v)
{
	int n = 0;
	while ((1L << n) < v)
		n++;
	return n;
}

static int in_bits(const struct blk *b, int i)
{
	const struct mpqx_layer *l = &b->q->m->layers[b->l];
	return quant_vbits(&b->q->l[l->inputs[i]].out);
}

/* The output buffer (ram.v): RAMB18s by shape, or LUTRAM banks with the read register and, from 128
 * words on, a read multiplexer in logic LUTs. */
static void blk_buffer(const struct blk *b, struct mpqx_cost *c)
{
	const struct mpqx_hw_mem *m = &b->h->buf;
	if (b->buf == MPQX_STORE_BLOCK) {
		c->bram18 = b->ice ? estimate_ebr(m->depth, m->width) : estimate_bram18(m->depth, m->width);
		return;
	}
	if (b->buf == MPQX_STORE_SPRAM) {
		/* ice40 only: the lutram column counts SPRAM blocks there */
		c->lutram = estimate_spram(m->depth, m->width);
		return;
	}
	if (b->ice) {
		/* flip-flops: every stored bit and the read register, and the read multiplexer */
		struct mpqx_cost r = {.ff = m->depth * m->width + m->width};
		double f[NF(f_ram)] = {0};
		f[FRAM_BITS] = (double)m->depth * m->width;
		model(b, K_RAM, f, &r, c);
		return;
	}
	struct mpqx_cost r = {.lutram = estimate_lutram(m->depth, m->width), .ff = m->width};
	double f[NF(f_ram)] = {0};
	if (m->aw >= RAM_AW_MIN && !(m->depth == 128 && m->width == 1)) {
		int a = m->aw < RAM_AW_MAX ? m->aw : RAM_AW_MAX;
		f[2 * (a - RAM_AW_MIN)] = m->width;
		f[2 * (a - RAM_AW_MIN) + 1] = 1;
	}
	model(b, K_RAM, f, &r, c);
}

/* Bit i of the word index, over 64 words: the truth table of address bit k. */
static const uint64_t addr_pattern[6] = {
	0xAAAAAAAAAAAAAAAAull, 0xCCCCCCCCCCCCCCCCull, 0xF0F0F0F0F0F0F0F0ull,
	0xFF00FF00FF00FF00ull, 0xFFFF0000FFFF0000ull, 0xFFFFFFFF00000000ull,
};

struct rom_stats {
	int cols;     /* distinct output bits that are not constant: one flip-flop each after synthesis */
	int luts;     /* of those, the ones that are not just an address bit (ROMs of at most 64 words) */
	double flips; /* bit changes from one word to the next, over the image (ROMs above 64 words) */
	double big;   /* ROMs above 64 words: the varying bits of each 64-word block (one LUT6's reach), summed */
};

static int popcount64(uint64_t x)
{
#if defined(__GNUC__)
	return __builtin_popcountll(x);
#else
	int n = 0;
	for (; x; x &= x - 1)
		n++;
	return n;
#endif
}

/* Bit changes between consecutive words within mask, the zero fill after the last word included. A
 * table with smooth contents (the exponent table, the positional encoding) changes its upper bits rarely
 * and needs far fewer LUTs than random weights of the same shape. */
static double flips(const int32_t *v32, const int64_t *v64, long n, uint64_t mask, bool fill)
{
	long f = 0;
	if (v32) {
		/* SWAR bit count so that the loop vectorizes without a popcount instruction */
		uint32_t m32 = (uint32_t)mask, acc = 0;
		for (long i = 1; i < n; i++) {
			uint32_t x = ((uint32_t)v32[i] ^ (uint32_t)v32[i - 1]) & m32;
			x = x - ((x >> 1) & 0x55555555u);
			x = (x & 0x33333333u) + ((x >> 2) & 0x33333333u);
			x = (x + (x >> 4)) & 0x0f0f0f0fu;
			acc += (x * 0x01010101u) >> 24;
		}
		f += acc;
		if (fill && n > 0)
			f += popcount64((uint32_t)v32[n - 1] & m32);
	} else {
		for (long i = 1; i < n; i++)
			f += popcount64((uint64_t)(v64[i] ^ v64[i - 1]) & mask);
		if (fill && n > 0)
			f += popcount64((uint64_t)v64[n - 1] & mask);
	}
	return (double)f;
}

/* The bits within mask that vary inside each 64-word block of the image (the zero fill of the last block
 * included), summed over the blocks. Random weights vary in every block; a smooth table (the exponent,
 * the gelu table) keeps its upper bits constant over most blocks, which synthesis needs no LUT for. */
static double block_bits(const int32_t *v32, const int64_t *v64, long n, uint64_t mask, bool fill)
{
	long f = 0;
	for (long c0 = 0; c0 < n; c0 += 64) {
		long c1 = c0 + 64 < n ? c0 + 64 : n;
		uint64_t o = 0, a = ~(uint64_t)0;
		if (v32) {
			uint32_t o32 = 0, a32 = ~(uint32_t)0;
			for (long i = c0; i < c1; i++) {
				o32 |= (uint32_t)v32[i];
				a32 &= (uint32_t)v32[i];
			}
			/* sign-extend so that the mask's upper bits see the sign, as range32's do */
			o = (uint64_t)(int64_t)(int32_t)o32;
			a = (uint64_t)(int64_t)(int32_t)a32;
		} else {
			for (long i = c0; i < c1; i++) {
				o |= (uint64_t)v64[i];
				a &= (uint64_t)v64[i];
			}
		}
		if (c1 - c0 < 64 && fill)
			a = 0;
		f += popcount64(o & ~a & mask);
	}
	return (double)f;
}

/* The output bits of a ROM image (zero-filled up to the depth, as the exporter writes it) that survive
 * synthesis: constant bits vanish and identical bits share one flip-flop. Up to 64 words each bit's
 * truth table is compared exactly; deeper ROMs are taken as signed data whose bits above the range's
 * width copy the sign bit. */
/* Range and bit summary of n values: minimum, maximum (both including 0, the zero fill), and the AND
 * and OR of their two's-complement bits. Separate loops per element type so that they vectorize. */
struct range {
	int64_t lo, hi;
	uint64_t all_or, all_and;
};

static struct range range32(const int32_t *v, long n)
{
	int32_t lo = 0, hi = 0;
	uint32_t o = 0, a = ~(uint32_t)0;
	for (long i = 0; i < n; i++) {
		lo = v[i] < lo ? v[i] : lo;
		hi = v[i] > hi ? v[i] : hi;
		o |= (uint32_t)v[i];
		a &= (uint32_t)v[i];
	}
	/* sign-extend the bit summaries to 64 bits as the values would be */
	uint64_t oo = (uint64_t)(int64_t)(int32_t)o, aa = (uint64_t)(int64_t)(int32_t)a;
	return (struct range){lo, hi, oo, n ? aa : ~(uint64_t)0};
}

static struct range range64(const int64_t *v, long n)
{
	int64_t lo = 0, hi = 0;
	uint64_t o = 0, a = ~(uint64_t)0;
	for (long i = 0; i < n; i++) {
		lo = v[i] < lo ? v[i] : lo;
		hi = v[i] > hi ? v[i] : hi;
		o |= (uint64_t)v[i];
		a &= (uint64_t)v[i];
	}
	return (struct range){lo, hi, o, a};
}

static int ctz64(uint64_t x)
{
#if defined(__GNUC__)
	return __builtin_ctzll(x);
#endif
	int n = 0;
	while (!(x & 1)) {
		x >>= 1;
		n++;
	}
	return n;
}

/* flips only when asked: a pass over the image that the bundled coefficients do not use */
static struct rom_stats rom_stats(const struct mpqx_hw_mem *m, const int32_t *v32, const int64_t *v64, bool want_flips)
{
	struct rom_stats st = {0, 0, 0, 0};
	int w = m->width < 64 ? m->width : 64;
	struct range r = v32 ? range32(v32, m->words) : range64(v64, m->words);
	if (m->words < m->depth)
		r.all_and = 0; /* the zero fill */
	/* signed bits that hold [lo, hi]: from bit b-1 up every bit is a copy of the sign */
	int b = 1 + quant_bitlen((uint64_t)(r.hi > -(r.lo + 1) ? r.hi : -(r.lo + 1)));
	if (b > w)
		b = w;
	uint64_t bmask = b >= 64 ? ~(uint64_t)0 : (((uint64_t)1 << b) - 1);
	if (m->depth > 64) {
		uint64_t var = (r.all_or & ~r.all_and) & bmask;
		st.cols = popcount64(var);
		st.luts = st.cols;
		if (want_flips)
			st.flips = flips(v32, v64, m->words, var, m->words < m->depth);
		st.big = block_bits(v32, v64, m->words, var, m->words < m->depth);
		return st;
	}
	/* up to 64 words: each output bit's truth table over the words */
	uint64_t pat[64] = {0};
	uint64_t full = m->depth == 64 ? ~(uint64_t)0 : (((uint64_t)1 << m->depth) - 1);
	for (long i = 0; i < m->words; i++) {
		uint64_t x = (uint64_t)(v32 ? (int64_t)v32[i] : v64[i]) & bmask;
		for (; x; x &= x - 1)
			pat[ctz64(x)] |= (uint64_t)1 << i;
	}
	/* distinct non-constant truth tables, by insertion sort */
	int n = 0;
	for (int c = 0; c < b; c++) {
		uint64_t p = pat[c];
		if (p == 0 || p == full)
			continue;
		int j = n;
		while (j > 0 && pat[j - 1] > p) {
			pat[j] = pat[j - 1];
			j--;
		}
		pat[j] = p;
		n++;
	}
	for (int i = 0; i < n; i++) {
		if (i > 0 && pat[i] == pat[i - 1])
			continue;
		st.cols++;
		bool is_addr = false;
		for (int k = 0; k < m->aw && k < 6; k++)
			if (pat[i] == (addr_pattern[k] & full))
				is_addr = true;
		if (!is_addr)
			st.luts++;
	}
	return st;
}

/* The data bits of a block ROM that reach block RAM. Yosys's opt_mem removes every bit lane that is
 * constant over the whole image (the zero fill up to the depth included: a lane of ones then needs
 * every word), before memory_libmap picks the RAMB18 shape; a ROM with no varying lane is a constant
 * (e.g. the zero bias of a layer with one output). Without contents: the full width. */
static int rom_lanes(const struct mpqx_hw_mem *m, const int32_t *v32, const int64_t *v64)
{
	if (!v32 && !v64)
		return m->width;
	struct range r = v32 ? range32(v32, m->words) : range64(v64, m->words);
	if (m->words < m->depth) {
		r.all_and = 0; /* the zero fill */
	}
	uint64_t var = r.all_or & ~r.all_and;
	if (m->width < 64)
		var &= ((uint64_t)1 << m->width) - 1;
	int n = popcount64(var);
	return m->width > 64 ? n + (m->width - 64) * (int)((var >> 63) & 1) : n;
}

static void rom_data(const struct blk *b, const struct mpqx_hw_mem *m, const int32_t **v32, const int64_t **v64)
{
	const struct mpqx_qlayer *ql = &b->q->l[b->l];
	*v32 = NULL;
	*v64 = NULL;
	switch (m->role) {
	case MPQX_HW_WEIGHTS:
		*v32 = ql->qw;
		break;
	case MPQX_HW_BIAS:
		*v64 = ql->qb;
		break;
	case MPQX_HW_EXP:
	case MPQX_HW_TABLE:
		*v64 = ql->sm_table;
		break;
	case MPQX_HW_CONST:
		*v32 = ql->qconst;
		break;
	case MPQX_HW_SCALE:
		*v64 = ql->wcw;
		break;
	case MPQX_HW_BUFFER:
		break;
	}
}

/* The layer's ROMs (rom.v): RAMB18s by shape, or logic whose size follows the varying output bits. */
static void blk_roms(const struct blk *b, struct mpqx_cost *c)
{
	double f[FR_N] = {0};
	for (int i = 0; i < b->h->n_roms; i++) {
		const struct mpqx_hw_mem *m = &b->h->rom[i];
		/* iCE40 (fitted that way): a one-word ROM in logic is read at a constant address, a constant
		 * once flattened; on xc7 the lanes rule below and the logic ROM's cost cover it */
		if (m->words <= 1 && b->ice && b->rom != MPQX_STORE_BLOCK)
			continue;
		const int32_t *v32;
		const int64_t *v64;
		rom_data(b, m, &v32, &v64);
		if (b->rom == MPQX_STORE_BLOCK && b->ice) {
			/* synth_ice40 maps a ROM to EBR with only its distinct non-constant bit columns (the
			 * sign copies and constant bits dropped), a one-word ROM included */
			int cols = v32 || v64 ? rom_stats(m, v32, v64, false).cols : m->width;
			c->bram18 += estimate_ebr(m->depth, cols);
			continue;
		}
		if (b->rom == MPQX_STORE_BLOCK) {
			int fold, lanes = rom_lanes(m, v32, v64);
			c->bram18 += estimate_bram18_rom(m->depth, lanes, &fold);
			if (fold == 2) {
				c->lut += lanes; /* the 2:1 multiplexer of the halves, one LUT3 a bit */
				c->ff += 1;      /* the registered address bit that selects */
			}
			continue;
		}
		struct rom_stats st = {m->width, m->width, (double)m->width * (double)m->words / 2,
				       (double)m->width * (double)ceil_div(m->words, 64)};
		if (v32 || v64)
			st = rom_stats(m, v32, v64, b->sink || b->k->lut[K_ROM][FR_FLIPS] != 0 || b->k->ff[K_ROM][FR_FLIPS] != 0);
		if (m->depth <= 64)
			f[FR_SMALL] += st.luts;
		else {
			f[FR_BIG] += st.big;
			f[FR_FLIPS] += st.flips / 64;
		}
		f[FR_COLS] += st.cols;
	}
	if (b->rom != MPQX_STORE_BLOCK) {
		struct mpqx_cost r = {0};
		model(b, K_ROM, f, &r, c);
	}
}

/* The requantizer's tail (requant.v) on a pw-bit product shifted right by n. */
static void requant(const struct blk *b, int pw, int n, struct mpqx_cost *c)
{
	const struct mpqx_qlayer *ql = &b->q->l[b->l];
	int sh = pw - n;
	double f[FQ_N] = {[FQ_ONE] = 1, [FQ_PW] = pw, [FQ_SH] = sh > 0 ? sh : 0, [FQ_OB] = ql->out.bits,
			  [FQ_TW] = (pw > 32 ? pw : 32) + 2, [FQ_Z] = ql->out.z != 0};
	struct mpqx_cost r = {0};
	model(b, K_REQUANT, f, &r, c);
}

/* The requantizer of a MAC layer: the product |acc| * m is registered in the layer (its prod feature). */
static void blk_requant(const struct blk *b, struct mpqx_cost *c)
{
	requant(b, b->h->acc_bits - 1 + b->h->rescale_m, b->q->l[b->l].rs[0].n, c);
}

/* Adder bits of a shift-add of `rows` shifted copies of an operand into a w-bit sum: row i (i >= 1) adds
 * bits i .. w-1 (those below i pass through). */
static double shift_add_bits(int rows, int w)
{
	return rows > 1 ? (double)(rows - 1) * w - (double)rows * (rows - 1) / 2 : 0;
}

/* Adder bits of the constant product x * m as a shift-add over the canonical signed digits of m into a
 * pw-bit sum (rescale.v, linear.v), the digits taken in rising order from a zero sum: every digit adds
 * or subtracts bits pos .. pw-1, except the lowest, a shift when positive but a negation when negative
 * (0 - x << pos). Counting that negation took tools/mult_fit's fit layers over 10% LUT error from 7 to 4. */
static double csd_adder_bits(int64_t m, int pw)
{
	uint64_t x = (uint64_t)m, t = 3 * x;
	uint64_t cp = (t & ~x) >> 1, cn = (~t & x) >> 1;
	if (!(cp | cn))
		return 0;
	int low = ctz64(cp | cn);
	double s = 0;
	for (uint64_t d = cp & ~(1ull << low); d; d &= d - 1)
		s += imax(0, pw - ctz64(d));
	for (uint64_t d = cn; d; d &= d - 1)
		s += imax(0, pw - ctz64(d));
	return s;
}

/* One rescale block (rescale.v): magnitude, constant multiplier (DSP or LUTs), product register, and its
 * requantizer. */
static void rescale(const struct blk *b, int iw, int64_t m, int n, struct mpqx_cost *c)
{
	int64_t o = odd_part(m);
	int ob = o > 1 ? quant_bitlen((uint64_t)o) : 0;
	bool logic = b->mult == MPQX_MULT_LOGIC;
	int dsp = logic ? 0 : blk_dsp_const(b, iw, m);
	double f[FS_N] = {[FS_ONE] = 1, [FS_IW] = iw};
	if (logic) {
		/* the shift-add: its adders, and the product register (bits from the trailing zeros of m up) */
		int tz = m > 0 ? ctz64((uint64_t)m) : 0;
		int pw = iw + hw_mbits(m);
		double g[FM_N] = {[FM_CSD] = csd_adder_bits(m, pw)};
		/* the requantizer's rounding cannot see the bits below n-1: synthesis drops their flip-flops */
		f[FS_PREG] = m > 0 ? imax(0, pw - imax(tz, n < 2 ? 0 : n - 1)) : 0;
		/* with the hierarchy kept the rescale module cannot know that and registers what rescale.v
		 * declares: bits PLO and up, PLO = n-1 for a power of two (its low bits are wires of zeros),
		 * else 0 (the shift-add's low bits come out of carry chains, constant but kept) */
		if (b->dhier && m > 0) {
			int plo = (m & (m - 1)) == 0 && n >= 2 ? (n - 1 < pw ? n - 1 : pw - 1) : 0;
			b->dhier->ff += round_nonneg(b->k->ff[K_RESCALE][FS_PREG] * (imax(0, pw - plo) - f[FS_PREG]));
		}
		struct mpqx_cost r = {0};
		model(b, K_MULT, g, &r, c);
	} else if (dsp == 0) {
		if (ob > 0)
			f[FS_LUTMUL] = (double)iw * ob;
		/* product bits tz .. tz+iw+ob-1 (m = odd << tz); rescale.v registers those from n-1 up when m
		 * is a power of two */
		int tz = m > 0 ? ctz64((uint64_t)m) : 0;
		f[FS_PREG] = ob > 0 ? iw + ob : imax(0, iw + tz - imax(tz, n < 2 ? 0 : n - 1));
	} else {
		f[FS_DSPX] = dsp - 1;
	}
	struct mpqx_cost r = {.dsp = dsp, .ff = 1 /* the sign */};
	model(b, K_RESCALE, f, &r, c);
	requant(b, iw + quant_bitlen((uint64_t)m), n, c);
}

/* What an op's estimator hooks see of layer b->l; xaw (a producer's hw facts) only when asked. */
static struct mpqx_op_est_in est_in(const struct blk *b, bool xaw)
{
	const struct mpqx_model *mo = b->q->m;
	const struct mpqx_layer *l = &mo->layers[b->l];
	return (struct mpqx_op_est_in){
		.q = b->q, .m = mo, .l = l, .ql = &b->q->l[b->l], .h = b->h, .yaw = b->h->buf.aw,
		.yb = b->q->l[b->l].out.bits, .xaw = xaw && l->n_inputs ? hw_src_aw(b->q, l->inputs[0]) : 0,
		.xb = l->n_inputs ? in_bits(b, 0) : 0};
}

static void blk_rescale(const struct blk *b, struct mpqx_cost *c)
{
	const struct mpqx_qlayer *ql = &b->q->l[b->l];
	const struct mpqx_op_class *oc = op_class(b->q->m->layers[b->l].op);
	struct mpqx_op_rescale rs[MPQX_MAX_INPUTS];
	int n = 1;
	if (oc->est_rescales) {
		struct mpqx_op_est_in in = est_in(b, false);
		n = oc->est_rescales(&in, rs);
	} else {
		rs[0] = (struct mpqx_op_rescale){b->h->rescale_in, ql->rs[0].m, ql->rs[0].n};
	}
	for (int i = 0; i < n; i++)
		rescale(b, rs[i].iw, rs[i].m, rs[i].n, c);
}

/* The softmax divider (div.v). */
static void blk_div(const struct blk *b, struct mpqx_cost *c)
{
	const struct mpqx_hw_layer *h = b->h;
	int sw = imax(h->div_num, h->div_den + h->div_q) + 1;
	double f[FD_N] = {[FD_ONE] = 1, [FD_SW] = sw, [FD_QW] = h->div_q,
			  [FD_REGS] = 2.0 * sw + h->div_q + clog2(h->div_q + 1)};
	struct mpqx_cost r = {0};
	model(b, K_DIV, f, &r, c);
}

/* LUTs of the float-code logic by rule. The softmax's encoder (limit, leading-one, rounding, exponent):
 * alone 5 LUTs per quotient bit on xc7, but in the softmax module, beside its shift-add for e * N, 2 less 4
 * (four softmax modules of 8 and 10 bits with the hierarchy kept, doc/estimator.md); iCE40 8 LUT4 less 7
 * (alone; not measured in the module). The matmul's decoder (a shift by the exponent) 4 per code bit less 6,
 * iCE40 6 less 14 (alone). */
static int fc_lut(const struct blk *b, const struct mpqx_op_est *e)
{
	int n = 0;
	if (e->fc_enc)
		n += b->ice ? 8 * e->fc_enc - 7 : 2 * e->fc_enc - 4;
	if (e->fc_dec)
		n += b->ice ? 6 * e->fc_dec - 14 : 4 * e->fc_dec - 6;
	return n > 0 ? n : 0;
}

/* The layer module's own logic: counters and address registers of its state machine, the shared
 * multiplier (DSPs by rule) with its operand multiplexers, accumulator, bias adder and magnitude. The
 * register counts follow the templates' declarations; the op's class gives its features. */
static void blk_layer(const struct blk *b, struct mpqx_cost *c)
{
	const struct mpqx_model *mo = b->q->m;
	const struct mpqx_layer *l = &mo->layers[b->l];
	const struct mpqx_op_class *oc = op_class(l->op);
	const struct mpqx_hw_layer *h = b->h;
	if (!oc->est)
		return;
	struct mpqx_op_est_in in = est_in(b, true);
	struct mpqx_op_est e = {0};
	oc->est(&in, &e);
	double f[FL_N] = {[FL_ONE] = 1, [FL_OUT] = in.yb};
	f[FL_ACC] = e.acc;
	f[FL_MUX] = e.mux;
	f[FL_PROD] = e.prod;
	f[FL_IN] = e.in;
	f[FL_BIAS] = e.bias;
	f[FL_CLR] = e.clr;
	int regs = 2 + e.regs; /* busy, done */
	int ctrl = e.cnt + e.addr1 + e.addr2;
	f[FL_CTRL] = ctrl;
	f[FL_CNT] = e.cnt;
	f[FL_ADDR1] = e.addr1;
	f[FL_ADDR2] = e.addr2;
	f[FL_REGS] = regs + ctrl;
	struct mpqx_cost r = {.lut = fc_lut(b, &e)};
	if (e.fc_enc) {
		/* softmax.v with the float code (whose N is never 2^b - 1): e * N as a shift-add over the digits
		 * of N into the numerator's width, priced as the requantizer's constant product in logic */
		double g[FM_N] = {[FM_CSD] = csd_adder_bits(b->q->l[b->l].sm_n, h->div_num)};
		struct mpqx_cost rn = {0};
		model(b, K_MULT, g, &rn, c);
	}
	if (b->mult == MPQX_MULT_LOGIC && hw_mult_kind(l->op) == MPQX_HW_MULT_MAC) {
		/* no DSP: the LUT multiplier, the constant's shift-add, and the registers a DSP slice held */
		int xa, xb2;
		hw_mult_data(b->q, b->l, &xa, &xb2);
		const struct mpqx_qlayer *ql = &b->q->l[b->l];
		int rpw = h->acc_bits - 1 + h->rescale_m;
		double g[FM_N] = {[FM_ONE] = 1, [FM_PP] = shift_add_bits(xb2, xa + xb2 - 1),
				  [FM_CSD] = csd_adder_bits(ql->rs[0].m, rpw), [FM_ACC] = h->acc_bits,
				  [FM_PREG] = hw_prod_kept(rpw, ql->rs[0].n)};
		if (ql->wcm) {
			/* per channel the multiplier is data (the scale ROM's m): a second LUT multiplier, one
			 * shifted copy of |acc + b| per bit of m, instead of the constant's shift-add */
			g[FM_CSD] = 0;
			g[FM_PPM] = shift_add_bits(h->rescale_m, rpw);
		}
		f[FL_MUX] = 0;
		struct mpqx_cost rm = {0};
		model(b, K_MULT, g, &rm, c);
	} else if (h->n_mul && !h->mul_const) {
		r.dsp = blk_dsp(b, h->mul_a, h->mul_b, h->mul_a + h->mul_b, true, true);
		if (r.dsp > 1) {
			f[FL_DSPX] = r.dsp - 1;
			f[FL_SPLIT] = (double)(r.dsp - 1) * (h->mul_a + h->mul_b);
		}
	}
	r.dsp += b->ice ? (h->const_m ? blk_dsp_const(b, h->const_vbits, h->const_m) : 0) : h->const_dsp;
	model(b, (enum kind)l->op, f, &r, c);
}

/* ---- layers ---- */

/* Costs layer l block by block into *out. */
static void layer_cost(const struct blk *b, struct mpqx_cost *out)
{
	const struct mpqx_op_class *oc = op_class(b->q->m->layers[b->l].op);
	block_fn fns[6];
	int n = 0;
	if (b->h->runs)
		fns[n++] = blk_layer;
	if (b->h->has_buf)
		fns[n++] = blk_buffer;
	if (b->h->n_roms)
		fns[n++] = blk_roms;
	if (oc->requant == MPQX_OP_RQ_MAC)
		fns[n++] = blk_requant;
	else if (b->h->runs && oc->requant == MPQX_OP_RQ_RESCALE)
		fns[n++] = blk_rescale;
	if (oc->divider)
		fns[n++] = blk_div;
	memset(out, 0, sizeof *out);
	for (int i = 0; i < n; i++) {
		struct mpqx_cost c = {0};
		fns[i](b, &c);
		add_cost(out, &c);
	}
	out->cycles = b->h->cycles;
}

/* The top module: the start/done chain and the ORed read addresses of buffers with several readers. */
static void top_cost(const struct mpqx_qmodel *q, const struct blk *b, struct mpqx_cost *c)
{
	const struct mpqx_model *m = q->m;
	double f[FT_N] = {[FT_ONE] = 1};
	for (int s = 0; s < m->n_layers; s++) {
		int readers = 0;
		for (int i = 0; i < m->n_layers; i++)
			for (int k = 0; k < m->layers[i].n_inputs; k++)
				if (m->layers[i].inputs[k] == s)
					readers++;
		if (readers > 1)
			f[FT_ORBITS] += (double)(readers - 1) * hw_src_aw(q, s);
		if (op_class(m->layers[s].op)->runs)
			f[FT_LAYERS] += 1;
	}
	memset(c, 0, sizeof *c);
	struct mpqx_cost r = {.ff = 1 /* busy */};
	model(b, K_TOP, f, &r, c);
}

int estimate_init(struct mpqx_estimate *est, int n_layers)
{
	memset(est, 0, sizeof *est);
	if (n_layers <= 0)
		return MPQX_OK;
	est->layers = calloc((size_t)n_layers, sizeof *est->layers);
	est->layers_hier = calloc((size_t)n_layers, sizeof *est->layers_hier);
	est->buffer = calloc((size_t)n_layers, sizeof *est->buffer);
	est->rom = calloc((size_t)n_layers, sizeof *est->rom);
	est->mult = calloc((size_t)n_layers, sizeof *est->mult);
	if (!est->layers || !est->layers_hier || !est->buffer || !est->rom || !est->mult) {
		estimate_fini(est);
		return MPQX_ENOMEM;
	}
	est->n_layers = n_layers;
	return MPQX_OK;
}

void estimate_fini(struct mpqx_estimate *est)
{
	if (!est)
		return;
	free(est->layers);
	free(est->layers_hier);
	free(est->buffer);
	free(est->rom);
	free(est->mult);
	memset(est, 0, sizeof *est);
}

static double share(double used, double cap)
{
	if (cap > 0)
		return used / cap;
	return used > 0 ? INFINITY : 0;
}

int estimate_run(const struct mpqx_qmodel *q, const struct mpqx_config *c, const struct mpqx_device *dev,
		 const struct mpqx_coeffs *k, struct mpqx_estimate *est, struct mpqx_err *err)
{
	int n = q->n_layers;
	if (est->n_layers != n || c->n_layers != n)
		return err_set(err, MPQX_EINPUT, "estimate: the model has %d layers, the config %d, the estimate %d", n,
			       c->n_layers, est->n_layers);
	if (!k)
		return err_set(err, MPQX_EINPUT, "estimate: no coefficients loaded");
	if (!dev || dev->clock_mhz <= 0)
		return err_set(err, MPQX_EINPUT, "estimate: no device clock");
	memset(&est->total, 0, sizeof est->total);
	memset(&est->total_hier, 0, sizeof est->total_hier);
	double worst = 0, path = 0;
	int kind = -1;
	est->fmax_layer = -1;
	est->fmax_kind = NULL;
	struct blk b = {.q = q, .c = c, .k = k, .dev = dev, .ice = dev->fam == MPQX_FAMILY_ICE40, .path_ns = &path,
			.path_kind = &kind};
	for (int i = 0; i < n; i++) {
		path = 0;
		struct mpqx_hw_layer h;
		hw_layer(q, i, &h);
		b.l = i;
		b.h = &h;
		b.buf = estimate_resolve_buffer_on(q, c, i, dev);
		b.rom = estimate_resolve_rom_on(q, c, i, dev);
		b.mult = estimate_resolve_mult_on(q, c, i, dev);
		est->buffer[i] = b.buf;
		est->rom[i] = b.rom;
		est->mult[i] = b.mult;
		struct mpqx_cost d = {0};
		b.dhier = &d;
		layer_cost(&b, &est->layers[i]);
		add_cost(&est->total, &est->layers[i]);
		est->layers_hier[i] = est->layers[i];
		add_cost(&est->layers_hier[i], &d);
		add_cost(&est->total_hier, &est->layers_hier[i]);
		if (path > worst) {
			worst = path;
			est->fmax_layer = i;
			est->fmax_kind = kind_name(kind);
		}
	}
	b.l = -1;
	b.h = NULL;
	path = 0;
	struct mpqx_cost d = {0};
	b.dhier = &d;
	top_cost(q, &b, &est->top);
	add_cost(&est->total, &est->top);
	est->top_hier = est->top;
	add_cost(&est->top_hier, &d);
	add_cost(&est->total_hier, &est->top_hier);
	if (path > worst) {
		worst = path;
		est->fmax_layer = -1;
		est->fmax_kind = kind_name(kind);
	}
	est->fmax_mhz = worst > 0 ? 1000.0 / worst : 0;

	const struct mpqx_cost *t = &est->total;
	est->bram_tiles = (double)t->bram18 / 2.0;
	est->latency_us = (double)t->cycles / dev->clock_mhz;
	/* iCE40: logic cells alone against the device's; the lutram slot holds SPRAM blocks */
	bool ice = dev->fam == MPQX_FAMILY_ICE40;
	est->util[MPQX_RES_LUT] = share((double)(t->lut + (ice ? 0 : t->lutram)), (double)dev->lut);
	est->util[MPQX_RES_LUTRAM] = share((double)t->lutram, (double)dev->lutram);
	est->util[MPQX_RES_FF] = share((double)t->ff, (double)dev->ff);
	est->util[MPQX_RES_BRAM] = share((double)t->bram18, (double)dev->bram18);
	est->util[MPQX_RES_DSP] = share((double)t->dsp, (double)dev->dsp);
	est->limiting = MPQX_RES_LUT;
	est->fits = true;
	for (int r = 0; r < MPQX_RES_COUNT; r++) {
		if (est->util[r] > est->util[est->limiting])
			est->limiting = (enum mpqx_resource)r;
		if (est->util[r] > 1)
			est->fits = false;
	}
	return MPQX_OK;
}

int estimate_layer_blocks(const struct mpqx_qmodel *q, const struct mpqx_config *c,
			  const struct mpqx_coeffs *k, int l, struct mpqx_est_block *out)
{
	return estimate_layer_blocks_on(q, c, NULL, k, l, out);
}

int estimate_layer_blocks_on(const struct mpqx_qmodel *q, const struct mpqx_config *c, const struct mpqx_device *dev,
			     const struct mpqx_coeffs *k, int l, struct mpqx_est_block *out)
{
	int n = 0;
	struct blk b = {.q = q, .c = c, .k = k, .dev = dev, .ice = dev && dev->fam == MPQX_FAMILY_ICE40, .l = l,
			.sink = out, .n_sink = &n};
	struct mpqx_cost cost;
	if (l < 0) {
		top_cost(q, &b, &cost);
		return n;
	}
	struct mpqx_hw_layer h;
	hw_layer(q, l, &h);
	b.h = &h;
	b.buf = estimate_resolve_buffer_on(q, c, l, dev);
	b.rom = estimate_resolve_rom_on(q, c, l, dev);
	b.mult = estimate_resolve_mult_on(q, c, l, dev);
	layer_cost(&b, &cost);
	return n;
}

const char *estimate_resource_name(enum mpqx_resource r)
{
	static const char *const names[MPQX_RES_COUNT] = {"lut", "lutram", "ff", "bram18", "dsp"};
	return (unsigned)r < MPQX_RES_COUNT ? names[r] : "?";
}
