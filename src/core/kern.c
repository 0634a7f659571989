/* The integer engine's shared kernels (include/mpqx/kern.h): operand packing, the int16-pair and int32
 * products, and the requantizers, with their AVX2 paths chosen at run time. */
#include "mpqx/kern.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#if defined(__GNUC__) && defined(__x86_64__)
#include <immintrin.h>
#define HAVE_X86 1
#endif

/* The narrow path multiplies int16 operands in pairs: an operand row holds x'[2p], x'[2p+1] side by side,
 * and B is packed as bp[(p * Np + n) * 2 + t] = B[2p + t][n], so that one multiply-add instruction takes
 * eight outputs two products further (pmaddwd). |x'| <= 2^15 - 1, so a pair sum cannot overflow int32,
 * and kern_narrow() admits only layers whose accumulator bound fits int32. */

/* dst[r][0 .. 2*Kp) = src[r*rs + c*cs] - z for c < K, zero beyond. */
void kern_pack_rows(const int16_t *restrict src, int rs, int cs, int z, int R, int K, int Kp,
		      int16_t *restrict dst)
{
	for (int r = 0; r < R; r++) {
		int16_t *d = dst + (size_t)r * 2 * Kp;
		const int16_t *s = src + (size_t)r * rs;
		int c = 0;
		if (cs == 1)
			for (; c < K; c++)
				d[c] = (int16_t)(s[c] - z);
		else
			for (; c < K; c++)
				d[c] = (int16_t)(s[(size_t)c * cs] - z);
		for (; c < 2 * Kp; c++)
			d[c] = 0;
	}
}

/* bp in the pair layout from B[k][n] = src[k*sk + n*sn] - z, N padded to Np with zeros. */
void kern_pack_pairs(const int16_t *restrict src, int sk, int sn, int z, int K, int N, int Np,
		       int16_t *restrict bp)
{
	int Kp = (K + 1) / 2;
	memset(bp, 0, sizeof *bp * (size_t)Kp * Np * 2);
	for (int k = 0; k < K; k++) {
		int16_t *d = bp + (size_t)(k / 2) * Np * 2 + (k & 1);
		const int16_t *s = src + (size_t)k * sk;
		if (sn == 1)
			for (int n = 0; n < N; n++)
				d[2 * n] = (int16_t)(s[n] - z);
		else
			for (int n = 0; n < N; n++)
				d[2 * n] = (int16_t)(s[(size_t)n * sn] - z);
	}
}

static void gemm_pairs_c(const int16_t *restrict x, const int16_t *restrict bp, int R, int Kp, int Np,
			 int32_t *restrict acc)
{
	for (int r = 0; r < R; r++) {
		const int16_t *xr = x + (size_t)r * 2 * Kp;
		int32_t *a = acc + (size_t)r * Np;
		for (int p = 0; p < Kp; p++) {
			int32_t x0 = xr[2 * p], x1 = xr[2 * p + 1];
			const int16_t *b = bp + (size_t)p * Np * 2;
			for (int n = 0; n < Np; n++)
				a[n] += x0 * b[2 * n] + x1 * b[2 * n + 1];
		}
	}
}

#ifdef HAVE_X86
/* Four rows by sixteen outputs at a time: each load of B serves four rows (the wide layers' B does not fit
 * the first-level cache, so one row at a time waits on it), in eight accumulators. MADD(a, x, b) adds the
 * pair products of x and b to a: pmaddwd then paddd, or one vpdpwssd with AVX-VNNI (the same sums: both
 * wrap, and kern_narrow() bounds every sum within int32). */
#define GEMM4_BODY(MADD)                                                                                        \
	for (; r + 4 <= R; r += 4) {                                                                            \
		const int16_t *x0 = x + (size_t)r * 2 * Kp, *x1 = x0 + 2 * Kp, *x2 = x1 + 2 * Kp, *x3 = x2 + 2 * Kp; \
		int32_t *a0p = acc + (size_t)r * Np;                                                            \
		for (int n0 = 0; n0 < Np; n0 += 16) {                                                           \
			bool two = n0 + 16 <= Np;                                                               \
			int32_t *ap = a0p + n0;                                                                 \
			__m256i c00 = _mm256_loadu_si256((const __m256i *)ap), c10, c20, c30, c01, c11, c21, c31; \
			c10 = _mm256_loadu_si256((const __m256i *)(ap + Np));                                   \
			c20 = _mm256_loadu_si256((const __m256i *)(ap + 2 * (size_t)Np));                       \
			c30 = _mm256_loadu_si256((const __m256i *)(ap + 3 * (size_t)Np));                       \
			c01 = two ? _mm256_loadu_si256((const __m256i *)(ap + 8)) : _mm256_setzero_si256();     \
			c11 = two ? _mm256_loadu_si256((const __m256i *)(ap + Np + 8)) : _mm256_setzero_si256(); \
			c21 = two ? _mm256_loadu_si256((const __m256i *)(ap + 2 * (size_t)Np + 8)) : _mm256_setzero_si256(); \
			c31 = two ? _mm256_loadu_si256((const __m256i *)(ap + 3 * (size_t)Np + 8)) : _mm256_setzero_si256(); \
			const int16_t *b = bp + (size_t)n0 * 2;                                                 \
			if (two)                                                                                \
				for (int p = 0; p < Kp; p++, b += (size_t)Np * 2) {                             \
					__m256i b0 = _mm256_loadu_si256((const __m256i *)b);                    \
					__m256i b1 = _mm256_loadu_si256((const __m256i *)(b + 16));             \
					int32_t q0, q1, q2, q3;                                                 \
					memcpy(&q0, x0 + 2 * p, 4);                                             \
					memcpy(&q1, x1 + 2 * p, 4);                                             \
					memcpy(&q2, x2 + 2 * p, 4);                                             \
					memcpy(&q3, x3 + 2 * p, 4);                                             \
					__m256i v = _mm256_set1_epi32(q0);                                      \
					c00 = MADD(c00, v, b0);                                                 \
					c01 = MADD(c01, v, b1);                                                 \
					v = _mm256_set1_epi32(q1);                                              \
					c10 = MADD(c10, v, b0);                                                 \
					c11 = MADD(c11, v, b1);                                                 \
					v = _mm256_set1_epi32(q2);                                              \
					c20 = MADD(c20, v, b0);                                                 \
					c21 = MADD(c21, v, b1);                                                 \
					v = _mm256_set1_epi32(q3);                                              \
					c30 = MADD(c30, v, b0);                                                 \
					c31 = MADD(c31, v, b1);                                                 \
				}                                                                               \
			else                                                                                    \
				for (int p = 0; p < Kp; p++, b += (size_t)Np * 2) {                             \
					__m256i b0 = _mm256_loadu_si256((const __m256i *)b);                    \
					int32_t q0, q1, q2, q3;                                                 \
					memcpy(&q0, x0 + 2 * p, 4);                                             \
					memcpy(&q1, x1 + 2 * p, 4);                                             \
					memcpy(&q2, x2 + 2 * p, 4);                                             \
					memcpy(&q3, x3 + 2 * p, 4);                                             \
					c00 = MADD(c00, _mm256_set1_epi32(q0), b0);                             \
					c10 = MADD(c10, _mm256_set1_epi32(q1), b0);                             \
					c20 = MADD(c20, _mm256_set1_epi32(q2), b0);                             \
					c30 = MADD(c30, _mm256_set1_epi32(q3), b0);                             \
				}                                                                               \
			_mm256_storeu_si256((__m256i *)ap, c00);                                                \
			_mm256_storeu_si256((__m256i *)(ap + Np), c10);                                         \
			_mm256_storeu_si256((__m256i *)(ap + 2 * (size_t)Np), c20);                             \
			_mm256_storeu_si256((__m256i *)(ap + 3 * (size_t)Np), c30);                             \
			if (two) {                                                                              \
				_mm256_storeu_si256((__m256i *)(ap + 8), c01);                                  \
				_mm256_storeu_si256((__m256i *)(ap + Np + 8), c11);                             \
				_mm256_storeu_si256((__m256i *)(ap + 2 * (size_t)Np + 8), c21);                 \
				_mm256_storeu_si256((__m256i *)(ap + 3 * (size_t)Np + 8), c31);                 \
			}                                                                                       \
		}                                                                                               \
	}

#define MADD_AVX2(a, x, b) _mm256_add_epi32((a), _mm256_madd_epi16((x), (b)))
#define MADD_VNNI(a, x, b) _mm256_dpwssd_avx_epi32((a), (x), (b))

static void gemm_rows_avx2(const int16_t *x, const int16_t *bp, int r, int R, int Kp, int Np, int32_t *acc);

__attribute__((target("avx2,avxvnni"))) static void gemm_pairs_vnni(const int16_t *x, const int16_t *bp, int R,
								     int Kp, int Np, int32_t *acc)
{
	int r = 0;
	GEMM4_BODY(MADD_VNNI)
	gemm_rows_avx2(x, bp, r, R, Kp, Np, acc);
}

__attribute__((target("avx2"))) static void gemm_pairs_avx2(const int16_t *x, const int16_t *bp, int R, int Kp,
							    int Np, int32_t *acc)
{
	int r = 0;
	GEMM4_BODY(MADD_AVX2)
	gemm_rows_avx2(x, bp, r, R, Kp, Np, acc);
}

/* Rows r .. R one at a time. Np is a multiple of 8; four blocks of eight outputs at a time hide the
 * multiply-add latency. */
__attribute__((target("avx2"))) static void gemm_rows_avx2(const int16_t *x, const int16_t *bp, int r, int R,
							   int Kp, int Np, int32_t *acc)
{
	for (; r < R; r++) {
		const int16_t *xr = x + (size_t)r * 2 * Kp;
		int32_t *a = acc + (size_t)r * Np;
		int n0 = 0;
		for (; n0 + 32 <= Np; n0 += 32) {
			__m256i a0 = _mm256_loadu_si256((const __m256i *)(a + n0));
			__m256i a1 = _mm256_loadu_si256((const __m256i *)(a + n0 + 8));
			__m256i a2 = _mm256_loadu_si256((const __m256i *)(a + n0 + 16));
			__m256i a3 = _mm256_loadu_si256((const __m256i *)(a + n0 + 24));
			for (int p = 0; p < Kp; p++) {
				int32_t pair;
				memcpy(&pair, xr + 2 * p, sizeof pair);
				__m256i xv = _mm256_set1_epi32(pair);
				const int16_t *b = bp + ((size_t)p * Np + n0) * 2;
				a0 = _mm256_add_epi32(a0, _mm256_madd_epi16(xv, _mm256_loadu_si256((const __m256i *)b)));
				a1 = _mm256_add_epi32(a1, _mm256_madd_epi16(xv, _mm256_loadu_si256((const __m256i *)(b + 16))));
				a2 = _mm256_add_epi32(a2, _mm256_madd_epi16(xv, _mm256_loadu_si256((const __m256i *)(b + 32))));
				a3 = _mm256_add_epi32(a3, _mm256_madd_epi16(xv, _mm256_loadu_si256((const __m256i *)(b + 48))));
			}
			_mm256_storeu_si256((__m256i *)(a + n0), a0);
			_mm256_storeu_si256((__m256i *)(a + n0 + 8), a1);
			_mm256_storeu_si256((__m256i *)(a + n0 + 16), a2);
			_mm256_storeu_si256((__m256i *)(a + n0 + 24), a3);
		}
		for (; n0 < Np; n0 += 8) {
			__m256i a0 = _mm256_loadu_si256((const __m256i *)(a + n0));
			for (int p = 0; p < Kp; p++) {
				int32_t pair;
				memcpy(&pair, xr + 2 * p, sizeof pair);
				__m256i xv = _mm256_set1_epi32(pair);
				const int16_t *b = bp + ((size_t)p * Np + n0) * 2;
				a0 = _mm256_add_epi32(a0, _mm256_madd_epi16(xv, _mm256_loadu_si256((const __m256i *)b)));
			}
			_mm256_storeu_si256((__m256i *)(a + n0), a0);
		}
	}
}
#endif

/* Whether the CPU has AVX2: set once by kern_cpu_init(), which every entry point calls before it starts any
 * evaluation thread (pthread_once), so the threads read it without a race. */
#ifdef HAVE_X86
static int cpu_avx2, cpu_vnni;
static pthread_once_t cpu_once = PTHREAD_ONCE_INIT;

static void cpu_probe(void)
{
	cpu_avx2 = __builtin_cpu_supports("avx2") ? 1 : 0;
	/* MPQX_NO_VNNI=1 keeps the pmaddwd path (to compare both). */
	const char *no = getenv("MPQX_NO_VNNI");
	cpu_vnni = cpu_avx2 && __builtin_cpu_supports("avxvnni") && !(no && *no == '1') ? 1 : 0;
}
#endif

void kern_cpu_init(void)
{
#ifdef HAVE_X86
	pthread_once(&cpu_once, cpu_probe);
#endif
}

void kern_gemm_pairs(const int16_t *x, const int16_t *bp, int R, int Kp, int Np, int32_t *acc)
{
#ifdef HAVE_X86
	int avx2 = cpu_avx2;
	if (cpu_vnni) {
		gemm_pairs_vnni(x, bp, R, Kp, Np, acc);
		return;
	}
	if (avx2) {
		gemm_pairs_avx2(x, bp, R, Kp, Np, acc);
		return;
	}
#endif
	gemm_pairs_c(x, bp, R, Kp, Np, acc);
}

/* The wide path: int32 operands, int64 sums, for layers of 16 bits or with large accumulators. */
void kern_gemm32(const int32_t *restrict x, int xs, const int32_t *restrict b, int bs, int R, int K, int N,
		   int64_t *restrict acc, int accs)
{
	for (int r = 0; r < R; r++) {
		int64_t *restrict a = acc + (size_t)r * accs;
		for (int k = 0; k < K; k++) {
			int64_t xv = x[(size_t)r * xs + k];
			const int32_t *restrict br = b + (size_t)k * bs;
			for (int n = 0; n < N; n++)
				a[n] += xv * br[n];
		}
	}
}

/* y[i] = clamp(rshift_round(acc[i] * m, n) + z); returns clamp events. */
static long requant32_c(const int32_t *restrict acc, int cnt, int64_t m, int sh, int z, int bits,
			int16_t *restrict y)
{
	const int64_t lo = quant_qmin(bits), hi = quant_qmax(bits), half = sh ? (int64_t)1 << (sh - 1) : 0;
	long clip = 0;
	for (int i = 0; i < cnt; i++) {
		int64_t a = acc[i];
		int64_t mag = a < 0 ? -a : a;
		int64_t r = (mag * m + half) >> sh;
		int64_t v = (a < 0 ? -r : r) + z;
		clip += (v < lo) | (v > hi);
		v = v < lo ? lo : v;
		v = v > hi ? hi : v;
		y[i] = (int16_t)v;
	}
	return clip;
}

#ifdef HAVE_X86
/* Eight at a time: |acc| * m as two 32x32->64 products (even and odd lanes), rounding shift, the result
 * saturated at 2^30 (beyond any 16-bit output, so it clamps the same), sign restored, zero point, clamp. */
__attribute__((target("avx2,popcnt"))) static long requant32_avx2(const int32_t *acc, int cnt, int64_t m, int sh,
								   int z, int bits, int16_t *y)
{
	const __m256i vm = _mm256_set1_epi64x(m), half = _mm256_set1_epi64x(sh ? (int64_t)1 << (sh - 1) : 0);
	const __m256i sat = _mm256_set1_epi64x((int64_t)1 << 30);
	const __m128i count = _mm_cvtsi32_si128(sh);
	const __m256i vz = _mm256_set1_epi32(z), lo = _mm256_set1_epi32(quant_qmin(bits)),
		      hi = _mm256_set1_epi32(quant_qmax(bits));
	long clip = 0;
	int i = 0;
	for (; i + 8 <= cnt; i += 8) {
		__m256i a = _mm256_loadu_si256((const __m256i *)(acc + i));
		__m256i mag = _mm256_abs_epi32(a); /* INT32_MIN stays 2^31 as unsigned: still the magnitude */
		__m256i ev = _mm256_srl_epi64(_mm256_add_epi64(_mm256_mul_epu32(mag, vm), half), count);
		__m256i od = _mm256_srl_epi64(_mm256_add_epi64(_mm256_mul_epu32(_mm256_srli_epi64(mag, 32), vm), half),
					      count);
		ev = _mm256_blendv_epi8(ev, sat, _mm256_cmpgt_epi64(ev, sat));
		od = _mm256_blendv_epi8(od, sat, _mm256_cmpgt_epi64(od, sat));
		__m256i r = _mm256_blend_epi32(ev, _mm256_slli_epi64(od, 32), 0xaa);
		__m256i v = _mm256_add_epi32(_mm256_sign_epi32(r, a), vz);
		__m256i out = _mm256_or_si256(_mm256_cmpgt_epi32(v, hi), _mm256_cmpgt_epi32(lo, v));
		clip += __builtin_popcount((unsigned)_mm256_movemask_ps(_mm256_castsi256_ps(out)));
		v = _mm256_min_epi32(_mm256_max_epi32(v, lo), hi);
		__m128i p = _mm_packs_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
		_mm_storeu_si128((__m128i *)(y + i), p);
	}
	return clip + requant32_c(acc + i, cnt - i, m, sh, z, bits, y + i);
}
#endif

long kern_requant32(const int32_t *acc, int cnt, int64_t m, int sh, int z, int bits, int16_t *y)
{
#ifdef HAVE_X86
	int avx2 = cpu_avx2;
	if (avx2 && m > 0 && m < ((int64_t)1 << 32) && sh < 63)
		return requant32_avx2(acc, cnt, m, sh, z, bits, y);
#endif
	return requant32_c(acc, cnt, m, sh, z, bits, y);
}

long kern_requant64(const int64_t *acc, int cnt, struct mpqx_rescale rs, const struct mpqx_qparam *p,
		      int16_t *y)
{
	long clip = 0;
	for (int i = 0; i < cnt; i++)
		y[i] = kern_finish(kern_rescale(acc[i], rs), p, &clip);
	return clip;
}

void kern_centre32(int32_t *restrict dst, const int16_t *restrict src, size_t n, int z)
{
	for (size_t i = 0; i < n; i++)
		dst[i] = (int32_t)src[i] - z;
}

