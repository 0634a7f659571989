/* The exported hardware's architecture, as numbers (doc/hardware.md): per layer its output buffer, its
 * ROMs, its datapath widths and its exact cycle count. The exporter writes the RTL from these and the
 * estimator costs it from them, so both describe the same design; the cycle counts follow the
 * templates' state machines and are checked against simulation. */
#ifndef MPQX_HW_H
#define MPQX_HW_H

#include <stdbool.h>

#include "mpqx/err.h"
#include "mpqx/quant.h"

#define MPQX_HW_MAX_ROMS 3

enum mpqx_hw_role { MPQX_HW_BUFFER, MPQX_HW_WEIGHTS, MPQX_HW_BIAS, MPQX_HW_EXP, MPQX_HW_CONST, MPQX_HW_TABLE,
			MPQX_HW_SCALE };

/* One memory: a simple dual-port RAM (buffer) or a ROM, registered read. */
struct mpqx_hw_mem {
	enum mpqx_hw_role role;
	long words;  /* values stored */
	int aw;      /* address bits: ceil(log2(words)), at least 1 */
	long depth;  /* 2^aw words */
	int width;   /* bits per word */
};

struct mpqx_hw_layer {
	bool runs;               /* has a state machine in the start/done chain (all but input and const) */
	bool has_buf;            /* owns an output buffer (all but const, whose table is a ROM) */
	struct mpqx_hw_mem buf;  /* the output buffer: rows*cols words of a_bits */
	int n_roms;
	struct mpqx_hw_mem rom[MPQX_HW_MAX_ROMS]; /* linear/affine: weights, bias (per
						     channel: scales); softmax: exp; const */
	long elements;           /* values written per window */
	int phases;              /* cycles per element (softmax: per element of its output pass) */
	long cycles;             /* from the edge that samples start to the edge that samples done */
	/* datapath */
	int n_mul;               /* multipliers: MAC layers and add share one for products and rescale; relu,
				    split, avgpool have one in their rescale, concat one per input; softmax none */
	int mul_a, mul_b;        /* signed operand widths of the (widest) multiplier */
	bool mul_const;          /* operand b is a constant (the rescale multiplier alone) */
	int const_dsp;           /* DSPs of a constant multiplication inside the layer (softmax: e * N) */
	int const_vbits;         /* its operands (0 when none), for the families' own DSP rules */
	int64_t const_m;
	int acc_bits;            /* width of the accumulator or sum in the RTL */
	int n_rescale;           /* requantizers (concat: one per input) */
	int rescale_in;          /* widest requantizer input (magnitude bits + 1) */
	int rescale_m;           /* widest requantizer multiplier (1 for add: its shift only) */
	int div_num, div_den, div_q; /* softmax divider widths; 0 elsewhere */
	int sm_sum;              /* softmax row-sum width; layernorm: its row sum S (signed) */
	int ln_vw, ln_rw;        /* layernorm: bits of V + E and of its square root r */
};

/* ceil(log2(words)), at least 1. */
int hw_addr_bits(long words);

/* A memory of words values of width bits (address bits and depth derived). */
struct mpqx_hw_mem hw_mem(enum mpqx_hw_role role, long words, int width);

/* Width of a rescale multiplier m in the RTL: bitlen(m), at least 1. */
int hw_mbits(int64_t m);

/* What the config's "mult" moves for an op (doc/hardware.md, "Multipliers"): MPQX_HW_MULT_NONE, the op
 * has no choice (add, layernorm: their multipliers stay in DSP slices; the others have none);
 * MPQX_HW_MULT_MAC (linear, affine, matmul): the data product and the rescale's constant product;
 * MPQX_HW_MULT_RESCALE (relu, split, avgpool, concat): the rescale's constant product. */
enum mpqx_hw_mult { MPQX_HW_MULT_NONE, MPQX_HW_MULT_MAC, MPQX_HW_MULT_RESCALE };
enum mpqx_hw_mult hw_mult_kind(enum mpqx_op op);

/* The operand widths of layer l's data product (x' and w', or a' and b' of a matmul), signed, as the
 * templates' LUT multiplier takes them (it adds a shifted copy of *a per bit of *b); 0, 0 when the
 * layer has no data product. */
void hw_mult_data(const struct mpqx_qmodel *q, int l, int *a, int *b);

/* Non-zero digits of m in canonical signed digit form (the non-adjacent form: m = CP - CN with
 * CP = (3m & ~m) >> 1, CN = (~3m & m) >> 1, as the templates compute them). */
int hw_csd_digits(int64_t m);

/* Address bits of what the consumers of layer src read: its buffer, or a const's ROM. */
int hw_src_aw(const struct mpqx_qmodel *q, int src);

/* Fills the facts of layer l of q. */
void hw_layer(const struct mpqx_qmodel *q, int l, struct mpqx_hw_layer *out);

/* Cycles of layer l per window (0 for input and const). */
long hw_layer_cycles(const struct mpqx_qmodel *q, int l);

/* Cycles of one window: the layers one after another, as the testbench counts them. */
long hw_cycles(const struct mpqx_qmodel *q);

/* MPQX_EINPUT with a message naming the layer when the graph has something the hardware cannot do
 * (a matmul reading one buffer twice, an output layer without a state machine). */
int hw_check(const struct mpqx_qmodel *q, struct mpqx_err *err);

/* Bits of a pw-bit rescale product that the templates register: from bit n-1 up, as the rounding of
 * rshift_round cannot see the lower ones (linear.v, affine.v, matmul.v: PLO; at least the top bit). */
static inline int hw_prod_kept(int pw, int n)
{
	return n < 2 ? pw : pw - (n - 1 < pw ? n - 1 : pw - 1);
}

#endif
