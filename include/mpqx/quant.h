/* The integer model: every layer's quantization parameters, quantized weights, multipliers and softmax
 * tables, derived from the float model, the calibration ranges and a config (doc/quantization.md). */
#ifndef MPQX_QUANT_H
#define MPQX_QUANT_H

#include <stdbool.h>
#include <stdint.h>

#include "mpqx/config.h"
#include "mpqx/fref.h"
#include "mpqx/model.h"

struct mpqx_qparam {
	double s; /* scale */
	int z;    /* zero point */
	int bits;
	/* A softmax output stored as a float code (doc/quantization.md, "softmax"): fc exponent bits and
	 * bits - fc fraction bits in the buffer; the integer model holds the decoded value (z = 0), which is
	 * what its consumer, a matmul, multiplies. 0: the linear code of every other output. */
	int fc;
};

struct mpqx_rescale {
	int64_t m; /* multiplier, bitlen(m) bits */
	int n;     /* right shift */
	int lsh;   /* add: m's low bits that the hardware applies as a left shift of the product (the larger
		    * input's multiplier aligned on a common shift raised for the smaller; doc/quantization.md);
		    * 0 elsewhere */
};

struct mpqx_qlayer {
	struct mpqx_qparam out;  /* this layer's output */
	double lo, hi;           /* the range out was derived from (quant_range; const: its values) */
	struct mpqx_qparam w;    /* weights (linear, affine) */
	int32_t *qw;             /* linear [O*I], affine [C]: quantized weights q_w (not w'), owned (shared
				  * by reference count with the integer models built from this one) */
	double w_lo, w_hi;       /* the weights' range (w_range: computed) */
	bool w_range;
	const struct mpqx_qlayer *reuse; /* during quant_build_from only: the previous build's layer */
	int64_t *qb;             /* bias at the product scale, owned */
	/* Per-channel weights (config w_granularity "channel"; linear, affine): per output row (channel) o
	 * its weight scale, zero point and requantizer multiplier; the shift rs[0].n is the layer's, rs[0].m
	 * the largest multiplier. NULL per tensor. Owned. */
	double *wcs;
	int32_t *wcz;
	int64_t *wcm;
	int64_t *wcw;            /* the scale ROM's words {z_w[o], m[o]}: z_w in w_bits above bitlen(rs[0].m) bits */
	int32_t *qconst;         /* const: quantized values [rows*cols], owned */
	/* One rescale per input for add and concat (add: common n), one in rs[0] for the others. */
	struct mpqx_rescale rs[MPQX_MAX_INPUTS];
	int64_t acc_bound;       /* B of doc/quantization.md */
	int acc_bits;            /* bitlen(B) + 1 */
	int m_bits;              /* widest multiplier */
	int bias_bits;           /* bitlen(max|q_b|) + 1 */
	/* softmax; gelu (its table: sm_t, sm_len, sm_table) */
	int sm_k, sm_t, sm_len;
	int64_t sm_n;            /* softmax: the output scale is 1 / sm_n (quant_softmax_n) */
	int64_t *sm_table;       /* [sm_len], owned */
	uint8_t *tclamp;         /* gelu: 1 where the table entry was clamped [sm_len], owned */
	/* layernorm: fraction bits F of the normalised value, the eps term E */
	int ln_f;
	int64_t ln_e;
};

struct mpqx_qmodel {
	const struct mpqx_model *m; /* borrowed */
	int n_layers;
	struct mpqx_qlayer *l;
};

/* Builds the integer model. ranges: the calibration lo/hi per layer (from fref). The caller owns *out
 * (quant_free). MPQX_ERANGE names the layer when a product would not fit 63 bits. */
int quant_build(const struct mpqx_model *m, const struct mpqx_fref *ranges, const struct mpqx_config *c,
		struct mpqx_qmodel **out, struct mpqx_err *err);

/* As quant_build, taking from prev (an integer model of the same model m, or NULL) what does not depend
 * on the config's differences: the weights' ranges, and the quantized weights of the layers whose weight
 * parameters come out the same (shared, not copied). The same result as quant_build, in far less time
 * for a change of a few layers on a large model. prev may be freed before or after the result. */
int quant_build_from(const struct mpqx_model *m, const struct mpqx_fref *ranges, const struct mpqx_config *c,
		     const struct mpqx_qmodel *prev, struct mpqx_qmodel **out, struct mpqx_err *err);

void quant_free(struct mpqx_qmodel *q);
/* Frees what one layer's quantization allocated (its weights may be shared with another build). */
void quant_layer_free(struct mpqx_qlayer *ql);

/* The range [*lo, *hi] layer li's output is quantized over (doc/quantization.md, "Scale and zero point
 * from a range"): the op's fixed range (const), [0, the largest calibration value] for a softmax, else the
 * calibration range by the layer's method (cfg->calib) with its headroom. The one place a range is
 * decided. */
void quant_range(const struct mpqx_model *m, const struct mpqx_fref *f, int li, const struct mpqx_layer_cfg *cfg,
		 double *lo, double *hi);
/* The output parameters of layer li from quant_range: quant_param of the range, or for a softmax
 * s = 1 / quant_softmax_n, z = qmin. */
struct mpqx_qparam quant_out(const struct mpqx_model *m, const struct mpqx_fref *f, int li,
			     const struct mpqx_layer_cfg *cfg, double *lo, double *hi);
/* N of a softmax output whose largest value is top (2^bits - 1, or quant_fc_max of its float code) with C
 * values per row and largest calibrated probability p: floor(top / p), at least top, at most top * C. */
int64_t quant_softmax_n(double p, int64_t top, int C);
/* The exponent bits of softmax layer li's float code at bits: MPQX_FC_BITS from MPQX_FC_MIN to MPQX_FC_MAX
 * bits when every consumer of the layer is a matmul, else 0 (the linear code). The one place the rule is. */
#define MPQX_FC_BITS 3
#define MPQX_FC_MIN 8
#define MPQX_FC_MAX 10
int quant_softmax_fc(const struct mpqx_model *m, int li, int bits);
/* The float code (fc exponent bits E, f = bits - fc fraction bits F): the value of code c is F when E = 0,
 * else (2^f + F) << (E - 1); its largest (2^(f+1) - 1) << (2^fc - 2). */
static inline int64_t quant_fc_max(int fc, int bits)
{
	return (((int64_t)1 << (bits - fc + 1)) - 1) << ((1 << fc) - 2);
}
static inline int64_t quant_fc_value(int fc, int bits, int64_t c)
{
	int f = bits - fc;
	int64_t e = c >> f, F = c & (((int64_t)1 << f) - 1);
	return e == 0 ? F : (((int64_t)1 << f) + F) << (e - 1);
}
/* The code nearest to u (0 <= u <= quant_fc_max), halves up: u itself below 2^(f+1), else its f+1 leading
 * bits rounded at the shift sh, the exponent sh + 1 (sh + 2 when the rounding carries out). */
static inline int64_t quant_fc_code(int fc, int bits, int64_t u)
{
	int f = bits - fc;
	if (u < ((int64_t)1 << (f + 1)))
		return u;
	int sh = 0;
	while ((u >> (f + 1 + sh)) != 0)
		sh++;
	int64_t r = (u + ((int64_t)1 << (sh - 1))) >> sh;
	if (r == ((int64_t)1 << (f + 1))) {
		r >>= 1;
		sh++;
	}
	return ((int64_t)(sh + 1) << f) | (r - ((int64_t)1 << f));
}

/* The pieces of doc/quantization.md, exposed for tests and for the exporter. */
struct mpqx_qparam quant_param(double lo, double hi, int bits);
int32_t quant_value(double x, struct mpqx_qparam p, long *clamped);
struct mpqx_rescale quant_multiplier(double M);
int quant_bitlen(uint64_t v);
/* rshift_round of doc/quantization.md: shift right by n rounding half away from zero on the magnitude. */
static inline int64_t quant_rshift_round(int64_t v, int n)
{
	if (n == 0)
		return v;
	uint64_t mag = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
	uint64_t r = (mag + ((uint64_t)1 << (n - 1))) >> n;
	return v < 0 ? -(int64_t)r : (int64_t)r;
}
/* 2^bits - 1: the number of steps of a bits-wide range. */
static inline int64_t quant_span(int bits)
{
	return ((int64_t)1 << bits) - 1;
}
/* The largest q - z of an output: 2^bits - 1, or the largest value of its float code. */
static inline int64_t quant_vspan(const struct mpqx_qparam *p)
{
	return p->fc ? quant_fc_max(p->fc, p->bits) : quant_span(p->bits);
}
/* Bits of q - z as an unsigned number (a consumer's operand is one bit wider, signed). */
int quant_vbits(const struct mpqx_qparam *p);
/* Whether a rescale factor fits the fixed-point multiplier without overflow. */
bool quant_factor_ok(double M);
/* Quantizes the weights and bias of a layer l with a weight tensor (linear, affine) into ql, its input at
 * x, fan_in products per output, per tensor or per channel (one scale per bias entry's weights: a
 * linear's output row, an affine's channel): MPQX_OK, MPQX_ENOMEM, or MPQX_ERANGE when a bias does not
 * fit. */
int quant_weights(const struct mpqx_layer *l, struct mpqx_qlayer *ql, const struct mpqx_qparam *x, int w_bits,
		  int fan_in, bool channel);
/* The rescale of a layer with weights into an output of scale sy from an input of scale sx: per tensor
 * *M = sx * s_w / sy (quant_build makes rs[0]); per channel rs[0] from the largest M_o and ql->wcm[o] =
 * round(M_o * 2^n) with its shift, *M = 0. MPQX_OK, or 100 (MPQX_OP_EFACTOR) when a factor is out of
 * range. */
int quant_weight_rescale(struct mpqx_qlayer *ql, int n_ch, double sx, double sy, double *M);
/* Weight zero point of output row (channel) o. */
static inline int32_t quant_wz(const struct mpqx_qlayer *ql, int o)
{
	return ql->wcz ? ql->wcz[o] : ql->w.z;
}
static inline int32_t quant_qmin(int bits) { return -(1 << (bits - 1)); }
static inline int32_t quant_qmax(int bits) { return (1 << (bits - 1)) - 1; }

#endif
