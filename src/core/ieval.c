/* Integer evaluation of the test set (doc/quantization.md), incremental and spread over the cores.
 *
 * Every layer's outputs for all test windows stay in memory as int16 (bit widths are at most 16), so a
 * change recomputes only the changed layers and those downstream. Operands with their zero point removed
 * fit int16 up to 15 bits; then products accumulate in int32 (when the layer's accumulator bound allows)
 * through dot products the compiler turns into multiply-add vector instructions. Wider layers take an
 * int64 path with the same results.
 *
 * When those caches (and the float activations the SQNR compares against) would exceed the memory budget
 * (fref.h), the engine streams instead: each thread walks its windows with buffers for one window's
 * layers, every run recomputes every layer, only the output layer is kept for all windows, and the float
 * reference of each window is recomputed beside its integer outputs when fref holds none. Threads take the
 * same window ranges and sum in the same order in both modes, so the results are identical. */
#include "mpqx/ieval.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mpqx/forward.h"

#define MAX_THREADS 16

struct lstat {
	long clipped;
	double sig, noise;
};

struct mpqx_ieval {
	const struct mpqx_model *m;
	const struct mpqx_dataset *d;
	const struct mpqx_fref *f;
	int threads, windows;
	bool chunked;                 /* over the memory budget: no per-window cache (see above) */
	bool refloat;                 /* chunked without fref activations: recompute them for the SQNR */
	int16_t **out;                /* per layer [windows * size]; chunked: the output layer only */
	size_t *size;                 /* rows * cols per layer */
	struct mpqx_config prev;      /* config of the last run */
	bool have_prev;
	bool *dirty;
	struct mpqx_layer_stats *stats;
	size_t scratch;               /* bytes of per-thread scratch */
	int16_t **w16;                /* per weight layer: w' as int16 [O*I] when it fits, else NULL */
	int32_t **w32;                /* ... else as int32 */
	bool sqnr;                    /* compute SQNR in the run (on by default) */
	bool *sqnr_valid;             /* per layer: stats[l].sqnr_db belongs to the current outputs */
	double *last_s;               /* per layer: output scale and zero point of the last run */
	int *last_z;
	double *werr;                 /* per test window: forecast error of the last run */
};

/* Per-thread work. */
struct job {
	struct mpqx_ieval *e;
	const struct mpqx_qmodel *q;
	int first, last;
	struct lstat *ls; /* per layer */
	double se, ae;
	long macs;
	void *scratch;
	int rc;
	const float *input; /* overrides the dataset's window (ieval_window) */
	int16_t **out;      /* per layer: e->out, or (chunked) this thread's buffers for window `base` */
	int base;
	struct mpqx_forward fw; /* refloat: this thread's float forward */
};

/* Layer li's outputs for window w in the job's buffers. */
static inline int16_t *obuf(const struct job *j, int li, int w)
{
	return j->out[li] + (size_t)(w - j->base) * j->e->size[li];
}

static inline int64_t rescale(int64_t acc, struct mpqx_rescale r)
{
	return quant_rshift_round(acc * r.m, r.n);
}

static inline int16_t finish(int64_t v, const struct mpqx_qparam *p, long *clipped)
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

#if defined(__GNUC__) && defined(__x86_64__) && !defined(__clang__) && defined(__OPTIMIZE__)
#define MULTI __attribute__((target_clones("arch=x86-64-v4", "avx2", "default")))
#else
#define MULTI
#endif

#if defined(__GNUC__) && defined(__x86_64__)
#include <immintrin.h>
#define HAVE_X86 1
#endif

/* The narrow path multiplies int16 operands in pairs: an operand row holds x'[2p], x'[2p+1] side by side,
 * and B is packed as bp[(p * Np + n) * 2 + t] = B[2p + t][n], so that one multiply-add instruction takes
 * eight outputs two products further (pmaddwd). |x'| <= 2^15 - 1, so a pair sum cannot overflow int32,
 * and narrow() admits only layers whose accumulator bound fits int32. */

/* dst[r][0 .. 2*Kp) = src[r*rs + c*cs] - z for c < K, zero beyond. */
static void pack_rows(const int16_t *restrict src, int rs, int cs, int z, int R, int K, int Kp,
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
static void pack_pairs(const int16_t *restrict src, int sk, int sn, int z, int K, int N, int Np,
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
/* Np is a multiple of 8; four blocks of eight outputs at a time hide the multiply-add latency. */
__attribute__((target("avx2"))) static void gemm_pairs_avx2(const int16_t *x, const int16_t *bp, int R, int Kp,
							    int Np, int32_t *acc)
{
	for (int r = 0; r < R; r++) {
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

/* Whether the CPU has AVX2: set once by cpu_init(), which every entry point calls before it starts any
 * evaluation thread (pthread_once), so the threads read it without a race. */
#ifdef HAVE_X86
static int cpu_avx2;
static pthread_once_t cpu_once = PTHREAD_ONCE_INIT;

static void cpu_probe(void)
{
	cpu_avx2 = __builtin_cpu_supports("avx2") ? 1 : 0;
}
#endif

static void cpu_init(void)
{
#ifdef HAVE_X86
	pthread_once(&cpu_once, cpu_probe);
#endif
}

static void gemm_pairs(const int16_t *x, const int16_t *bp, int R, int Kp, int Np, int32_t *acc)
{
#ifdef HAVE_X86
	int avx2 = cpu_avx2;
	if (avx2) {
		gemm_pairs_avx2(x, bp, R, Kp, Np, acc);
		return;
	}
#endif
	gemm_pairs_c(x, bp, R, Kp, Np, acc);
}

static int pad8(int n)
{
	return (n + 7) & ~7;
}

/* The wide path: int32 operands, int64 sums, for layers of 16 bits or with large accumulators. */
static void gemm32(const int32_t *restrict x, int xs, const int32_t *restrict b, int bs, int R, int K, int N,
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

static long requant32(const int32_t *acc, int cnt, int64_t m, int sh, int z, int bits, int16_t *y)
{
#ifdef HAVE_X86
	int avx2 = cpu_avx2;
	if (avx2 && m > 0 && m < ((int64_t)1 << 32) && sh < 63)
		return requant32_avx2(acc, cnt, m, sh, z, bits, y);
#endif
	return requant32_c(acc, cnt, m, sh, z, bits, y);
}

static long requant64(const int64_t *acc, int cnt, struct mpqx_rescale rs, const struct mpqx_qparam *p,
		      int16_t *y)
{
	long clip = 0;
	for (int i = 0; i < cnt; i++)
		y[i] = finish(rescale(acc[i], rs), p, &clip);
	return clip;
}

/* Whether operands of these widths take the int16-pair / int32 path. */
static bool narrow(int bits_a, int bits_b, int acc_bits)
{
	return bits_a <= 15 && bits_b <= 15 && acc_bits <= 32;
}

static void centre32(int32_t *restrict dst, const int16_t *restrict src, size_t n, int z)
{
	for (size_t i = 0; i < n; i++)
		dst[i] = (int32_t)src[i] - z;
}

static void run_linear(const struct job *j, int li, const int16_t *x, int16_t *y, long *clip)
{
	const struct mpqx_model *m = j->e->m;
	const struct mpqx_layer *l = &m->layers[li];
	const struct mpqx_qlayer *ql = &j->q->l[li];
	const struct mpqx_qparam *px = &j->q->l[l->inputs[0]].out;
	int R = l->rows, O = l->cols, I = l->weight.cols;
	if (j->e->w16[li]) {
		int Kp = (I + 1) / 2, Np = pad8(O);
		int16_t *xs = j->scratch;
		int32_t *acc = (int32_t *)((int64_t *)j->scratch + (size_t)R * Kp);
		pack_rows(x, I, 1, px->z, R, I, Kp, xs);
		const int32_t *bias = (const int32_t *)(j->e->w16[li] + (size_t)Kp * Np * 2);
		for (int r = 0; r < R; r++)
			memcpy(acc + (size_t)r * Np, bias, sizeof *acc * (size_t)Np);
		gemm_pairs(xs, j->e->w16[li], R, Kp, Np, acc);
		if (Np == O) {
			*clip += requant32(acc, R * O, ql->rs[0].m, ql->rs[0].n, ql->out.z, ql->out.bits, y);
			return;
		}
		for (int r = 0; r < R; r++)
			*clip += requant32(acc + (size_t)r * Np, O, ql->rs[0].m, ql->rs[0].n, ql->out.z, ql->out.bits,
					   y + (size_t)r * O);
	} else {
		size_t nx = (size_t)R * I;
		int32_t *xs = j->scratch;
		int64_t *acc = (int64_t *)j->scratch + nx;
		centre32(xs, x, nx, px->z);
		for (int r = 0; r < R; r++)
			for (int o = 0; o < O; o++)
				acc[r * O + o] = ql->qb[o];
		gemm32(xs, I, j->e->w32[li], O, R, I, O, acc, O);
		*clip += requant64(acc, R * O, ql->rs[0], &ql->out, y);
	}
}

static void run_affine(const struct job *j, int li, const int16_t *x, int16_t *y, long *clip)
{
	const struct mpqx_layer *l = &j->e->m->layers[li];
	const struct mpqx_qlayer *ql = &j->q->l[li];
	const struct mpqx_qparam *px = &j->q->l[l->inputs[0]].out;
	int R = l->rows, C = l->cols;
	if (ql->acc_bits <= 32) {
		int32_t *acc = j->scratch;
		for (int r = 0; r < R; r++)
			for (int c = 0; c < C; c++)
				acc[r * C + c] = (int32_t)ql->qb[c] + (ql->qw[c] - ql->w.z) * (x[r * C + c] - px->z);
		*clip += requant32(acc, R * C, ql->rs[0].m, ql->rs[0].n, ql->out.z, ql->out.bits, y);
		return;
	}
	for (int r = 0; r < R; r++)
		for (int c = 0; c < C; c++) {
			int64_t acc = ql->qb[c] + (int64_t)(ql->qw[c] - ql->w.z) * (x[r * C + c] - px->z);
			y[r * C + c] = finish(rescale(acc, ql->rs[0]), &ql->out, clip);
		}
}

static void run_matmul(const struct job *j, int li, const int16_t *a, const int16_t *b, int16_t *y, long *clip)
{
	const struct mpqx_model *m = j->e->m;
	const struct mpqx_layer *l = &m->layers[li];
	const struct mpqx_layer *la = &m->layers[l->inputs[0]], *lb = &m->layers[l->inputs[1]];
	const struct mpqx_qlayer *ql = &j->q->l[li];
	const struct mpqx_qparam *pa = &j->q->l[l->inputs[0]].out, *pb = &j->q->l[l->inputs[1]].out;
	int h = l->heads, AC = la->cols, BR = lb->rows, BC = lb->cols;
	bool tb = l->transpose_b;
	/* Per head: out[M][N] = A[M][K] * B[K][N]. transpose_b: A = a[:, hK..], B[k][n] = b[n][hK + k], output
	 * rows hM..; otherwise A = a[hM.., :], B[k][n] = b[k][hN + n], output columns hN... */
	int M = tb ? la->rows : la->rows / h, K = tb ? AC / h : AC, N = tb ? BR : BC / h;
	if (narrow(pa->bits, pb->bits, ql->acc_bits)) {
		int Kp = (K + 1) / 2, Np = pad8(N);
		int16_t *xs = j->scratch, *bp = xs + (size_t)M * 2 * Kp;
		int32_t *acc = (int32_t *)((int64_t *)j->scratch + (size_t)M * Kp + (size_t)Kp * Np);
		for (int hh = 0; hh < h; hh++) {
			if (tb) {
				pack_rows(a + hh * K, AC, 1, pa->z, M, K, Kp, xs);
				pack_pairs(b + hh * K, 1, BC, pb->z, K, N, Np, bp);
			} else {
				pack_rows(a + (size_t)hh * M * AC, AC, 1, pa->z, M, K, Kp, xs);
				pack_pairs(b + hh * N, BC, 1, pb->z, K, N, Np, bp);
			}
			memset(acc, 0, sizeof *acc * (size_t)M * Np);
			gemm_pairs(xs, bp, M, Kp, Np, acc);
			if (tb && Np == N) {
				*clip += requant32(acc, M * N, ql->rs[0].m, ql->rs[0].n, ql->out.z, ql->out.bits,
						   y + (size_t)hh * M * N);
				continue;
			}
			for (int i = 0; i < M; i++) {
				int16_t *dst = tb ? y + (size_t)(hh * M + i) * N : y + (size_t)i * l->cols + hh * N;
				*clip += requant32(acc + (size_t)i * Np, N, ql->rs[0].m, ql->rs[0].n, ql->out.z,
						   ql->out.bits, dst);
			}
		}
		return;
	}
	size_t na = (size_t)la->rows * AC, nb = (size_t)BR * BC, ny = (size_t)l->rows * l->cols;
	int32_t *as = j->scratch, *bs = as + na;
	int64_t *acc = (int64_t *)j->scratch + na + nb;
	centre32(as, a, na, pa->z);
	memset(acc, 0, ny * sizeof *acc);
	if (tb) {
		for (int n = 0; n < BR; n++) /* bs[c][n] = b[n][c] - z */
			for (int c = 0; c < BC; c++)
				bs[(size_t)c * BR + n] = (int32_t)b[(size_t)n * BC + c] - pb->z;
		for (int hh = 0; hh < h; hh++)
			gemm32(as + hh * K, AC, bs + (size_t)hh * K * BR, BR, M, K, N, acc + (size_t)hh * M * N, N);
	} else {
		centre32(bs, b, nb, pb->z);
		for (int hh = 0; hh < h; hh++)
			gemm32(as + (size_t)hh * M * K, K, bs + hh * N, BC, M, K, N, acc + hh * N, l->cols);
	}
	*clip += requant64(acc, (int)ny, ql->rs[0], &ql->out, y);
}

static void run_softmax(const struct job *j, int li, const int16_t *x, int16_t *y)
{
	const struct mpqx_layer *l = &j->e->m->layers[li];
	const struct mpqx_qlayer *ql = &j->q->l[li];
	int R = l->rows, C = l->cols, t = ql->sm_t, last = ql->sm_len - 1;
	int64_t top = ((int64_t)1 << ql->out.bits) - 1;
	int64_t *e = j->scratch;
	for (int r = 0; r < R; r++) {
		const int16_t *xr = x + r * C;
		int mx = xr[0];
		for (int c = 1; c < C; c++)
			mx = xr[c] > mx ? xr[c] : mx;
		int64_t S = 0;
		for (int c = 0; c < C; c++) {
			int idx = (mx - xr[c]) >> t;
			e[c] = ql->sm_table[idx < last ? idx : last];
			S += e[c];
		}
		/* floor(num / den) through a double quotient (both below 2^53, so exact inputs) corrected by one */
		int64_t den = 2 * S;
		double inv = 1.0 / (double)den;
		for (int c = 0; c < C; c++) {
			int64_t num = 2 * e[c] * top + S;
			int64_t qt = (int64_t)((double)num * inv);
			qt -= qt * den > num;
			qt += (qt + 1) * den <= num;
			y[r * C + c] = (int16_t)(quant_qmin(ql->out.bits) + qt);
		}
	}
}

/* Adds the signal and noise energies of one window's output of a layer against the float output. */
MULTI static void sqnr_sums(const float *restrict f, const int16_t *restrict y, size_t n, double s, int z,
			    struct lstat *ls)
{
	float sig = 0, noise = 0, sf = (float)s;
#pragma omp simd reduction(+ : sig, noise)
	for (size_t i = 0; i < n; i++) {
		float d = f[i] - sf * (float)(y[i] - z);
		sig += f[i] * f[i];
		noise += d * d;
	}
	ls->sig += sig;
	ls->noise += noise;
}

/* Computes layer li for window w. */
static void run_layer(struct job *j, int li, int w)
{
	struct mpqx_ieval *e = j->e;
	const struct mpqx_model *m = e->m;
	const struct mpqx_layer *l = &m->layers[li];
	const struct mpqx_qlayer *ql = &j->q->l[li];
	int16_t *y = obuf(j, li, w);
	const int16_t *x = l->n_inputs ? obuf(j, l->inputs[0], w) : NULL;
	const struct mpqx_qparam *px = l->n_inputs ? &j->q->l[l->inputs[0]].out : NULL;
	long *clip = &j->ls[li].clipped;
	size_t n = e->size[li];
	switch (l->op) {
	case MPQX_OP_INPUT: {
		const float *in = j->input ? j->input : dataset_window(e->d, MPQX_TEST, w);
		for (size_t i = 0; i < n; i++)
			y[i] = (int16_t)quant_value(in[i], ql->out, clip);
		break;
	}
	case MPQX_OP_CONST:
		for (size_t i = 0; i < n; i++)
			y[i] = (int16_t)ql->qconst[i];
		break;
	case MPQX_OP_LINEAR:
		run_linear(j, li, x, y, clip);
		j->macs += model_layer_macs(m, li);
		break;
	case MPQX_OP_AFFINE:
		run_affine(j, li, x, y, clip);
		j->macs += model_layer_macs(m, li);
		break;
	case MPQX_OP_ADD: {
		const int16_t *b = obuf(j, l->inputs[1], w);
		const struct mpqx_qparam *pb = &j->q->l[l->inputs[1]].out;
		int64_t ma = ql->rs[0].m, mb = ql->rs[1].m;
		int sh = ql->rs[0].n;
		if (ql->acc_bits <= 32) {
			int32_t *acc = j->scratch;
			int32_t a32 = (int32_t)ma, b32 = (int32_t)mb;
			for (size_t i = 0; i < n; i++)
				acc[i] = a32 * (x[i] - px->z) + b32 * (b[i] - pb->z);
			*clip += requant32(acc, (int)n, 1, sh, ql->out.z, ql->out.bits, y);
			break;
		}
		for (size_t i = 0; i < n; i++) {
			int64_t acc = ma * (x[i] - px->z) + mb * (b[i] - pb->z);
			y[i] = finish(quant_rshift_round(acc, sh), &ql->out, clip);
		}
		break;
	}
	case MPQX_OP_MATMUL:
		run_matmul(j, li, x, obuf(j, l->inputs[1], w), y, clip);
		j->macs += model_layer_macs(m, li);
		break;
	case MPQX_OP_SOFTMAX:
		run_softmax(j, li, x, y);
		break;
	case MPQX_OP_RELU: {
		int32_t *acc = j->scratch;
		for (size_t i = 0; i < n; i++)
			acc[i] = x[i] > px->z ? x[i] - px->z : 0;
		*clip += requant32(acc, (int)n, ql->rs[0].m, ql->rs[0].n, ql->out.z, ql->out.bits, y);
		break;
	}
	case MPQX_OP_AVGPOOL: {
		int R = m->layers[l->inputs[0]].rows, C = l->cols;
		for (int c = 0; c < C; c++) {
			int64_t acc = 0;
			for (int r = 0; r < R; r++)
				acc += x[r * C + c] - px->z;
			y[c] = finish(rescale(acc, ql->rs[0]), &ql->out, clip);
		}
		break;
	}
	case MPQX_OP_SPLIT: {
		int XC = m->layers[l->inputs[0]].cols;
		for (int r = 0; r < l->rows; r++)
			for (int c = 0; c < l->cols; c++)
				y[r * l->cols + c] =
					finish(rescale(x[r * XC + l->offset + c] - px->z, ql->rs[0]), &ql->out, clip);
		break;
	}
	case MPQX_OP_CONCAT: {
		int off = 0;
		for (int k = 0; k < l->n_inputs; k++) {
			const struct mpqx_layer *lk = &m->layers[l->inputs[k]];
			const int16_t *xk = obuf(j, l->inputs[k], w);
			int zk = j->q->l[l->inputs[k]].out.z;
			for (int r = 0; r < l->rows; r++)
				for (int c = 0; c < lk->cols; c++)
					y[r * l->cols + off + c] = finish(rescale(xk[r * lk->cols + c] - zk, ql->rs[k]),
									  &ql->out, clip);
			off += lk->cols;
		}
		break;
	}
	case MPQX_OP_COUNT:
		break;
	}
	if ((e->sqnr || e->chunked) && e->f && e->f->act)
		sqnr_sums(e->f->act[li] + (size_t)w * n, y, n, ql->out.s, ql->out.z, &j->ls[li]);
}

static void *work(void *arg)
{
	struct job *j = arg;
	struct mpqx_ieval *e = j->e;
	const struct mpqx_model *m = e->m;
	const struct mpqx_qlayer *qo = &j->q->l[m->output];
	/* Window-major: one window's dirty layers in order keep its activations in cache. */
	for (int w = j->first; w < j->last; w++) {
		if (e->chunked)
			j->base = w;
		for (int li = 0; li < m->n_layers; li++)
			if (e->dirty[li])
				run_layer(j, li, w);
		if (e->chunked) {
			size_t no = e->size[m->output];
			memcpy(e->out[m->output] + (size_t)w * no, obuf(j, m->output, w), no * sizeof(int16_t));
		}
		if (e->refloat) {
			/* The same float outputs as fref's: one forward, then each layer in order, as run_layer. */
			forward_run(&j->fw, dataset_window(e->d, MPQX_TEST, w));
			for (int li = 0; li < m->n_layers; li++)
				sqnr_sums(j->fw.act[li], obuf(j, li, w), e->size[li], j->q->l[li].out.s,
					  j->q->l[li].out.z, &j->ls[li]);
		}
		if (!e->d)
			continue;
		const int16_t *y = e->out[m->output] + (size_t)w * e->size[m->output];
		e->werr[w] = qo->out.s * (y[0] - qo->out.z) - dataset_target(e->d, MPQX_TEST, w);
	}
	return NULL;
}

int ieval_new(const struct mpqx_model *m, const struct mpqx_dataset *d, const struct mpqx_fref *fref,
	      int threads, struct mpqx_ieval **out, struct mpqx_err *err)
{
	return ieval_new_budget(m, d, fref, threads, fref_memory_budget(), out, err);
}

/* Whether caching every layer's outputs (and fref's activations, when it holds them) exceeds budget. */
static bool over_budget(const struct mpqx_model *m, int windows, const struct mpqx_fref *f, size_t budget)
{
	if (f && f->act_wanted && !f->act)
		return true; /* fref found the caches over its budget: recompute the float outputs */
	size_t both = fref_cache_bytes(m, windows);
	if (f && f->act)
		return both > budget;
	/* int16 outputs alone: a third of float + int16 */
	return both == SIZE_MAX || both / (sizeof(float) + sizeof(int16_t)) * sizeof(int16_t) > budget;
}

int ieval_new_budget(const struct mpqx_model *m, const struct mpqx_dataset *d, const struct mpqx_fref *fref,
		     int threads, size_t budget, struct mpqx_ieval **out, struct mpqx_err *err)
{
	cpu_init();
	*out = NULL;
	struct mpqx_ieval *e = calloc(1, sizeof *e);
	if (!e)
		return err_set(err, MPQX_ENOMEM, "out of memory");
	e->m = m;
	e->d = d;
	e->f = fref;
	e->windows = d->windows[MPQX_TEST];
	if (threads <= 0) {
		long n = sysconf(_SC_NPROCESSORS_ONLN);
		threads = n < 1 ? 1 : (int)n;
	}
	e->threads = threads > MAX_THREADS ? MAX_THREADS : threads;
	int L = m->n_layers;
	e->out = calloc((size_t)L, sizeof *e->out);
	e->size = calloc((size_t)L, sizeof *e->size);
	e->dirty = calloc((size_t)L, sizeof *e->dirty);
	e->stats = calloc((size_t)L, sizeof *e->stats);
	e->w16 = calloc((size_t)L, sizeof *e->w16);
	e->w32 = calloc((size_t)L, sizeof *e->w32);
	e->sqnr_valid = calloc((size_t)L, sizeof *e->sqnr_valid);
	e->last_s = calloc((size_t)L, sizeof *e->last_s);
	e->last_z = calloc((size_t)L, sizeof *e->last_z);
	e->werr = calloc((size_t)e->windows + 1, sizeof *e->werr);
	e->sqnr = true;
	e->chunked = over_budget(m, e->windows, fref, budget);
	e->refloat = e->chunked && fref && fref->act_wanted && !fref->act;
	int rc = (!e->out || !e->size || !e->dirty || !e->stats || !e->w16 || !e->w32 || !e->sqnr_valid || !e->last_s || !e->last_z || !e->werr)
			 ? MPQX_ENOMEM
			 : MPQX_OK;
	size_t scratch = 64;
	for (int li = 0; !rc && li < L; li++) {
		const struct mpqx_layer *l = &m->layers[li];
		e->size[li] = (size_t)l->rows * l->cols;
		if ((!e->chunked || li == m->output) &&
		    !(e->out[li] = malloc(e->size[li] * (size_t)e->windows * sizeof(int16_t) + 16)))
			rc = MPQX_ENOMEM;
		size_t need = 0;
		for (int k = 0; k < l->n_inputs; k++)
			need += (size_t)m->layers[l->inputs[k]].rows * m->layers[l->inputs[k]].cols;
		need = (need + (size_t)l->rows * l->cols + 64) * 2 * sizeof(int64_t) + 4096;
		scratch = need > scratch ? need : scratch;
	}
	e->scratch = scratch;
	if (rc) {
		ieval_free(e);
		return err_set(err, rc, "out of memory for the integer evaluation of %s", m->path);
	}
	*out = e;
	return MPQX_OK;
}

void ieval_free(struct mpqx_ieval *e)
{
	if (!e)
		return;
	for (int li = 0; li < e->m->n_layers; li++) {
		if (e->out)
			free(e->out[li]);
		if (e->w16)
			free(e->w16[li]);
		if (e->w32)
			free(e->w32[li]);
	}
	free(e->out);
	free(e->size);
	free(e->dirty);
	free(e->stats);
	free(e->w16);
	free(e->w32);
	free(e->sqnr_valid);
	free(e->last_s);
	free(e->last_z);
	free(e->werr);
	config_fini(&e->prev);
	free(e);
}

/* Rebuilds the centred weights of a dirty linear layer in the width its path needs. */
static int prepare_weights(struct mpqx_ieval *e, const struct mpqx_qmodel *q, int li)
{
	const struct mpqx_layer *l = &e->m->layers[li];
	if (l->op != MPQX_OP_LINEAR)
		return MPQX_OK;
	const struct mpqx_qlayer *ql = &q->l[li];
	size_t n = (size_t)l->weight.rows * l->weight.cols;
	free(e->w16[li]);
	free(e->w32[li]);
	e->w16[li] = NULL;
	e->w32[li] = NULL;
	if (narrow(q->l[l->inputs[0]].out.bits, ql->w.bits, ql->acc_bits)) {
		int I = l->weight.cols, O = l->weight.rows, Np = pad8(O);
		/* the packed weights, then the bias as an int32 row of Np (it fits: narrow() bounds acc) */
		size_t np = (size_t)((I + 1) / 2) * Np * 2;
		int16_t *wc = malloc(n * sizeof(int16_t));
		e->w16[li] = malloc(np * sizeof(int16_t) + (size_t)Np * sizeof(int32_t));
		if (!wc || !e->w16[li]) {
			free(wc);
			return MPQX_ENOMEM;
		}
		for (size_t i = 0; i < n; i++)
			wc[i] = (int16_t)(ql->qw[i] - ql->w.z);
		pack_pairs(wc, 1, I, 0, I, O, Np, e->w16[li]); /* B[i][o] = w'[o][i] */
		free(wc);
		for (int o = 0; o < Np; o++) {
			int32_t b = o < O ? (int32_t)ql->qb[o] : 0;
			memcpy(e->w16[li] + np + 2 * (size_t)o, &b, sizeof b);
		}
	} else {
		if (!(e->w32[li] = malloc(n * sizeof(int32_t))))
			return MPQX_ENOMEM;
		for (int o = 0; o < l->weight.rows; o++)
			for (int i = 0; i < l->weight.cols; i++)
				e->w32[li][(size_t)i * l->weight.rows + o] = ql->qw[(size_t)o * l->weight.cols + i] - ql->w.z;
	}
	return MPQX_OK;
}

/* Chunked mode: the job's buffers for one window of every layer, and its float forward when refloat. */
static int job_buffers(struct job *j)
{
	const struct mpqx_ieval *e = j->e;
	int L = e->m->n_layers;
	size_t total = 0;
	for (int li = 0; li < L; li++)
		total += (e->size[li] + 15) & ~(size_t)15; /* 32-byte steps */
	j->out = calloc((size_t)L, sizeof *j->out);
	int16_t *block = j->out ? malloc(total * sizeof(int16_t) + 32) : NULL;
	if (!block)
		return MPQX_ENOMEM;
	for (int li = 0; li < L; li++) {
		j->out[li] = block;
		block += (e->size[li] + 15) & ~(size_t)15;
	}
	return e->refloat ? forward_init(&j->fw, e->m) : MPQX_OK;
}

int ieval_run(struct mpqx_ieval *e, const struct mpqx_qmodel *q, const struct mpqx_config *c, bool force_all,
	      struct mpqx_eval_result *res, struct mpqx_err *err)
{
	cpu_init();
	const struct mpqx_model *m = e->m;
	int L = m->n_layers;
	long n_dirty = 0;
	for (int li = 0; li < L; li++) {
		const struct mpqx_layer *l = &m->layers[li];
		bool d = force_all || !e->have_prev || e->chunked;
		if (!d) {
			const struct mpqx_layer_cfg *a = &c->layers[li], *b = &e->prev.layers[li];
			d = a->a_bits != b->a_bits || (model_layer_has_weights(l) && a->w_bits != b->w_bits);
		}
		for (int k = 0; !d && k < l->n_inputs; k++)
			d = e->dirty[l->inputs[k]];
		e->dirty[li] = d;
		if (d) {
			n_dirty++;
			if (prepare_weights(e, q, li))
				return err_set(err, MPQX_ENOMEM, "out of memory");
		}
	}
	struct job jobs[MAX_THREADS];
	pthread_t th[MAX_THREADS];
	bool started[MAX_THREADS] = {false};
	int nt = e->threads < e->windows ? e->threads : (e->windows > 0 ? e->windows : 1);
	int rc = MPQX_OK;
	for (int t = 0; t < nt; t++) {
		jobs[t] = (struct job){e, q, (int)((long)e->windows * t / nt), (int)((long)e->windows * (t + 1) / nt),
				       calloc((size_t)L, sizeof(struct lstat)), 0, 0, 0, malloc(e->scratch), 0, NULL,
				       e->out, 0, {0}};
		if (!jobs[t].ls || !jobs[t].scratch)
			rc = MPQX_ENOMEM;
		if (!rc && e->chunked && job_buffers(&jobs[t]))
			rc = MPQX_ENOMEM;
	}
	for (int t = 1; !rc && t < nt; t++)
		started[t] = pthread_create(&th[t], NULL, work, &jobs[t]) == 0;
	if (!rc)
		work(&jobs[0]);
	for (int t = 1; t < nt; t++) {
		if (started[t])
			pthread_join(th[t], NULL);
		else if (!rc)
			work(&jobs[t]);
	}
	double se = 0, ae = 0;
	long macs = 0;
	for (int li = 0; !rc && li < L; li++) {
		if (!e->dirty[li])
			continue;
		struct lstat s = {0, 0, 0};
		for (int t = 0; t < nt; t++) {
			s.clipped += jobs[t].ls[li].clipped;
			s.sig += jobs[t].ls[li].sig;
			s.noise += jobs[t].ls[li].noise;
		}
		e->stats[li].clipped = s.clipped;
		e->last_s[li] = q->l[li].out.s;
		e->last_z[li] = q->l[li].out.z;
		e->sqnr_valid[li] = (e->sqnr || e->chunked) && e->f && (e->f->act || e->refloat);
		e->stats[li].sqnr_db = !e->sqnr_valid[li] ? NAN
				       : s.noise <= 0     ? 999.0
				       : s.sig <= 0       ? -999.0
							  : fmin(999.0, 10.0 * log10(s.sig / s.noise));
	}
	/* Summed in window order, so the result does not depend on the number of threads. */
	for (int w = 0; w < e->windows; w++) {
		se += e->werr[w] * e->werr[w];
		ae += fabs(e->werr[w]);
	}
	for (int t = 0; t < nt; t++) {
		macs += jobs[t].macs;
		free(jobs[t].ls);
		free(jobs[t].scratch);
		if (jobs[t].out != e->out) {
			free(jobs[t].out ? jobs[t].out[0] : NULL);
			free(jobs[t].out);
		}
		forward_fini(&jobs[t].fw);
	}
	if (rc)
		return err_set(err, rc, "out of memory");
	if (config_copy(&e->prev, c))
		return err_set(err, MPQX_ENOMEM, "out of memory");
	e->have_prev = true;
	double unit = model_target_unit(m);
	res->windows = e->windows;
	res->mse = se / e->windows;
	res->rmse = sqrt(res->mse);
	res->mae = ae / e->windows;
	res->mse_float = e->f ? e->f->mse : NAN;
	res->rmse_denorm = res->rmse * unit;
	res->mae_denorm = res->mae * unit;
	res->n_layers = L;
	res->layers = e->stats;
	res->recomputed = n_dirty;
	res->macs = macs;
	return MPQX_OK;
}

const int16_t *ieval_output(const struct mpqx_ieval *e, int layer, int window)
{
	if (!e->out[layer])
		return NULL;
	return e->out[layer] + (size_t)window * e->size[layer];
}

bool ieval_chunked(const struct mpqx_ieval *e)
{
	return e->chunked;
}

int ieval_window(const struct mpqx_qmodel *q, const float *window, int16_t **out, long *clipped)
{
	cpu_init();
	const struct mpqx_model *m = q->m;
	int L = m->n_layers;
	struct mpqx_ieval e = {0};
	e.m = m;
	e.windows = 1;
	e.out = out;
	e.size = calloc((size_t)L, sizeof *e.size);
	e.dirty = calloc((size_t)L, sizeof *e.dirty);
	e.w16 = calloc((size_t)L, sizeof *e.w16);
	e.w32 = calloc((size_t)L, sizeof *e.w32);
	struct job j = {0};
	j.ls = calloc((size_t)L, sizeof *j.ls);
	int rc = (!e.size || !e.dirty || !e.w16 || !e.w32 || !j.ls) ? MPQX_ENOMEM : MPQX_OK;
	size_t scratch = 64;
	for (int li = 0; !rc && li < L; li++) {
		const struct mpqx_layer *l = &m->layers[li];
		e.size[li] = (size_t)l->rows * l->cols;
		e.dirty[li] = true;
		size_t need = 0;
		for (int k = 0; k < l->n_inputs; k++)
			need += (size_t)m->layers[l->inputs[k]].rows * m->layers[l->inputs[k]].cols;
		need = (need + (size_t)l->rows * l->cols + 64) * 2 * sizeof(int64_t) + 4096;
		scratch = need > scratch ? need : scratch;
		rc = prepare_weights(&e, q, li);
	}
	if (!rc && !(j.scratch = malloc(scratch)))
		rc = MPQX_ENOMEM;
	if (!rc) {
		j.e = &e;
		j.q = q;
		j.first = 0;
		j.last = 1;
		j.input = window;
		j.out = out;
		work(&j);
		for (int li = 0; clipped && li < L; li++)
			clipped[li] += j.ls[li].clipped;
	}
	for (int li = 0; li < L; li++) {
		if (e.w16)
			free(e.w16[li]);
		if (e.w32)
			free(e.w32[li]);
	}
	free(e.w16);
	free(e.w32);
	free(e.size);
	free(e.dirty);
	free(j.ls);
	free(j.scratch);
	return rc;
}

void ieval_set_sqnr(struct mpqx_ieval *e, bool on)
{
	e->sqnr = on;
}

int ieval_update_sqnr(struct mpqx_ieval *e, struct mpqx_eval_result *res)
{
	ieval_update_sqnr_until(e, res, NULL, NULL);
	return MPQX_OK;
}

bool ieval_update_sqnr_until(struct mpqx_ieval *e, struct mpqx_eval_result *res, bool (*stop)(void *), void *arg)
{
	if (!(e->f && e->f->act) || !e->have_prev || e->chunked)
		return true; /* chunked: the run computed it */
	for (int li = 0; li < e->m->n_layers; li++) {
		if (e->sqnr_valid[li])
			continue;
		if (stop && stop(arg))
			return false;
		double sig = 0, noise = 0, s = e->last_s[li];
		int z = e->last_z[li];
		size_t n = e->size[li];
		for (int w = 0; w < e->windows; w++) {
			if (stop && (w & 127) == 127 && stop(arg))
				return false; /* this layer stays invalid */
			struct lstat ls = {0, 0, 0};
			sqnr_sums(e->f->act[li] + (size_t)w * n, e->out[li] + (size_t)w * n, n, s, z, &ls);
			sig += ls.sig;
			noise += ls.noise;
		}
		e->stats[li].sqnr_db = noise <= 0 ? 999.0 : sig <= 0 ? -999.0 : fmin(999.0, 10.0 * log10(sig / noise));
		e->sqnr_valid[li] = true;
	}
	if (res)
		res->layers = e->stats;
	return true;
}
