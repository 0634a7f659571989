/* The integer engine's shared kernels (doc/quantization.md): packing of centred operands, products in
 * int16 pairs (int32 sums) or int32 (int64 sums), and the requantizer rshift_round(acc * m, n) + z with
 * clamping. The op classes' engine kernels (src/core/ops/) are built from these. */
#ifndef MPQX_KERN_H
#define MPQX_KERN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mpqx/quant.h"

/* Probes the CPU once (AVX2); call before starting any thread that runs a kernel. */
void kern_cpu_init(void);

/* Whether operands of these widths take the int16-pair / int32 path. */
static inline bool kern_narrow(int bits_a, int bits_b, int acc_bits)
{
	return bits_a <= 15 && bits_b <= 15 && acc_bits <= 32;
}

static inline int kern_pad8(int n)
{
	return (n + 7) & ~7;
}

static inline int64_t kern_rescale(int64_t acc, struct mpqx_rescale r)
{
	return quant_rshift_round(acc * r.m, r.n);
}

/* v + z clamped to p's range, counting clamp events in *clipped. */
static inline int16_t kern_finish(int64_t v, const struct mpqx_qparam *p, long *clipped)
{
	int64_t lo = quant_qmin(p->bits), hi = quant_qmax(p->bits);
	v += p->z;
	if (v < lo) {
		(*clipped)++;
		return (int16_t)lo;
	}
	if (v > hi) {
		(*clipped)++;
		return (int16_t)hi;
	}
	return (int16_t)v;
}

/* The pair layout (kern.c): dst[r][0 .. 2*Kp) = src[r*rs + c*cs] - z for c < K, zero beyond. */
void kern_pack_rows(const int16_t *restrict src, int rs, int cs, int z, int R, int K, int Kp,
		    int16_t *restrict dst);
/* bp in the pair layout from B[k][n] = src[k*sk + n*sn] - z, N padded to Np with zeros. */
void kern_pack_pairs(const int16_t *restrict src, int sk, int sn, int z, int K, int N, int Np,
		     int16_t *restrict bp);
/* acc[r][n] += sum_k x[r][k] B[k][n] over packed operands; Np is a multiple of 8. */
void kern_gemm_pairs(const int16_t *x, const int16_t *bp, int R, int Kp, int Np, int32_t *acc);
/* The wide path: acc[r*accs + n] += sum_k x[r*xs + k] b[k*bs + n]. */
void kern_gemm32(const int32_t *restrict x, int xs, const int32_t *restrict b, int bs, int R, int K, int N,
		 int64_t *restrict acc, int accs);
/* y[i] = clamp(rshift_round(acc[i] * m, sh) + z); returns clamp events. */
long kern_requant32(const int32_t *acc, int cnt, int64_t m, int sh, int z, int bits, int16_t *y);
long kern_requant64(const int64_t *acc, int cnt, struct mpqx_rescale rs, const struct mpqx_qparam *p,
		    int16_t *y);
/* dst[i] = src[i] - z. */
void kern_centre32(int32_t *restrict dst, const int16_t *restrict src, size_t n, int z);

#endif
