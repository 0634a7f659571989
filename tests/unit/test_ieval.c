/* The fast integer engine against a plain transcription of doc/quantization.md, layer by layer, on every
 * test window, for several bit-width mixes (both the int16-pair and the int64 paths). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <stdio.h>
#include <unistd.h>

#include "mpqx/fileio.h"

#include "mpqx/forward.h"
#include "mpqx/ieval.h"

#ifndef SAMPLE_DIR
#error SAMPLE_DIR
#endif

static int64_t clampq(int64_t v, int bits)
{
	int64_t lo = quant_qmin(bits), hi = quant_qmax(bits);
	return v < lo ? lo : v > hi ? hi : v;
}

static int64_t rq(int64_t acc, struct mpqx_rescale r, const struct mpqx_qparam *p)
{
	return clampq(quant_rshift_round(acc * r.m, r.n) + p->z, p->bits);
}

/* One window, every layer, in the most literal form of the spec. */
static void naive(const struct mpqx_qmodel *q, const float *win, int64_t **y)
{
	const struct mpqx_model *m = q->m;
	for (int li = 0; li < m->n_layers; li++) {
		const struct mpqx_layer *l = &m->layers[li];
		const struct mpqx_qlayer *ql = &q->l[li];
		const struct mpqx_qparam *o = &ql->out;
		int a = l->n_inputs ? l->inputs[0] : 0, b = l->n_inputs > 1 ? l->inputs[1] : 0;
		const struct mpqx_qparam *pa = &q->l[a].out, *pb = &q->l[b].out;
		const struct mpqx_layer *la = &m->layers[a], *lb = &m->layers[b];
		int R = l->rows, C = l->cols;
		for (int r = 0; r < R; r++)
			for (int c = 0; c < C; c++) {
				int64_t v = 0;
				switch (l->op) {
				case MPQX_OP_INPUT:
					v = quant_value(win[r * C + c], *o, NULL);
					break;
				case MPQX_OP_CONST:
					v = ql->qconst[r * C + c];
					break;
				case MPQX_OP_LINEAR: {
					int I = l->weight.cols;
					int64_t acc = ql->qb[c];
					for (int i = 0; i < I; i++)
						acc += (int64_t)(ql->qw[c * I + i] - ql->w.z) * (y[a][r * I + i] - pa->z);
					v = rq(acc, ql->rs[0], o);
					break;
				}
				case MPQX_OP_AFFINE:
					v = rq(ql->qb[c] + (int64_t)(ql->qw[c] - ql->w.z) * (y[a][r * C + c] - pa->z), ql->rs[0], o);
					break;
				case MPQX_OP_ADD: {
					int64_t acc = ql->rs[0].m * (y[a][r * C + c] - pa->z) + ql->rs[1].m * (y[b][r * C + c] - pb->z);
					v = clampq(quant_rshift_round(acc, ql->rs[0].n) + o->z, o->bits);
					break;
				}
				case MPQX_OP_RELU: {
					int64_t x = y[a][r * C + c] - pa->z;
					v = rq(x > 0 ? x : 0, ql->rs[0], o);
					break;
				}
				case MPQX_OP_AVGPOOL: {
					int64_t acc = 0;
					for (int t = 0; t < la->rows; t++)
						acc += y[a][t * C + c] - pa->z;
					v = rq(acc, ql->rs[0], o);
					break;
				}
				case MPQX_OP_MATMUL: {
					int h = l->heads;
					int64_t acc = 0;
					if (l->transpose_b) {
						int M = la->rows, K = la->cols / h, hh = r / M, i = r % M;
						for (int k = 0; k < K; k++)
							acc += (y[a][i * la->cols + hh * K + k] - pa->z) *
							       (y[b][c * lb->cols + hh * K + k] - pb->z);
					} else {
						int M = la->rows / h, K = la->cols, N = lb->cols / h, hh = c / N, n = c % N;
						for (int k = 0; k < K; k++)
							acc += (y[a][(hh * M + r) * K + k] - pa->z) * (y[b][k * lb->cols + hh * N + n] - pb->z);
					}
					v = rq(acc, ql->rs[0], o);
					break;
				}
				case MPQX_OP_SOFTMAX: {
					int64_t mx = y[a][r * C], S = 0, top = ((int64_t)1 << o->bits) - 1;
					for (int k = 1; k < C; k++)
						mx = y[a][r * C + k] > mx ? y[a][r * C + k] : mx;
					int64_t e = 0;
					for (int k = 0; k < C; k++) {
						int64_t idx = (mx - y[a][r * C + k]) >> ql->sm_t;
						int64_t ek = ql->sm_table[idx < ql->sm_len - 1 ? idx : ql->sm_len - 1];
						S += ek;
						if (k == c)
							e = ek;
					}
					int64_t qt = (2 * e * ql->sm_n + S) / (2 * S);
					if (o->fc) { /* the float code: the nearest of all its values, halves up */
						int64_t u = qt < quant_fc_max(o->fc, o->bits) ? qt : quant_fc_max(o->fc, o->bits);
						int64_t best = 0;
						for (int64_t cd = 0; cd < ((int64_t)1 << o->bits); cd++) {
							int64_t w = quant_fc_value(o->fc, o->bits, cd);
							if (llabs(w - u) < llabs(best - u) || (llabs(w - u) == llabs(best - u) && w > best))
								best = w;
						}
						v = best;
						break;
					}
					v = quant_qmin(o->bits) + (qt < top ? qt : top);
					break;
				}
				case MPQX_OP_SPLIT:
					v = rq(y[a][r * la->cols + l->offset + c] - pa->z, ql->rs[0], o);
					break;
				case MPQX_OP_CONCAT: {
					int k = 0, off = 0;
					while (c >= off + m->layers[l->inputs[k]].cols)
						off += m->layers[l->inputs[k++]].cols;
					const struct mpqx_layer *lk = &m->layers[l->inputs[k]];
					v = rq(y[l->inputs[k]][r * lk->cols + c - off] - q->l[l->inputs[k]].out.z, ql->rs[k], o);
					break;
				}
				case MPQX_OP_LAYERNORM: {
					int64_t S = 0, V = 0, d = 0;
					for (int k = 0; k < C; k++)
						S += y[a][r * C + k] - pa->z;
					for (int k = 0; k < C; k++) {
						int64_t dk = C * (y[a][r * C + k] - pa->z) - S;
						V += dk * dk;
						if (k == c)
							d = dk;
					}
					/* the square root digit by digit, as the hardware does it */
					uint64_t rem = (uint64_t)(V + ql->ln_e), res = 0, bit = (uint64_t)1 << 62;
					while (bit > rem)
						bit >>= 2;
					for (; bit; bit >>= 2)
						if (rem >= res + bit) {
							rem -= res + bit;
							res = (res >> 1) + bit;
						} else {
							res >>= 1;
						}
					int64_t rt = res ? (int64_t)res : 1, ad = d < 0 ? -d : d;
					int64_t n = (ad * ((int64_t)2 << ql->ln_f) + rt) / (2 * rt);
					v = rq(ql->qb[c] + (int64_t)(ql->qw[c] - ql->w.z) * (d < 0 ? -n : n), ql->rs[0], o);
					break;
				}
				case MPQX_OP_GELU:
					v = ql->sm_table[(y[a][r * C + c] - quant_qmin(pa->bits)) >> ql->sm_t];
					break;
				default:
					fail_msg("op %s not covered", model_op_name(l->op));
				}
				y[li][r * C + c] = v;
			}
	}
}

struct fixture {
	struct mpqx_model *m;
	struct mpqx_dataset *d;
	struct mpqx_fref *f;
};

static int setup(void **state)
{
	static struct fixture fx;
	struct mpqx_err err = {0};
	const char *dir = getenv("MPQX_TEST_SAMPLE") ? getenv("MPQX_TEST_SAMPLE") : SAMPLE_DIR;
	if (model_load(dir, &fx.m, &err) || dataset_load(fx.m, &fx.d, &err) ||
	    fref_run(fx.m, fx.d, false, &fx.f, &err)) {
		print_error("%s\n", err.msg);
		return -1;
	}
	*state = &fx;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;
	if (!fx)
		return 0;
	fref_free(fx->f);
	dataset_free(fx->d);
	model_free(fx->m);
	return 0;
}

static void check(struct fixture *fx, struct mpqx_config *c, int stride)
{
	struct mpqx_err err = {0};
	struct mpqx_qmodel *q = NULL;
	struct mpqx_ieval *ev = NULL;
	struct mpqx_eval_result r;
	assert_int_equal(quant_build(fx->m, fx->f, c, &q, &err), 0);
	/* the cached mode whatever MPQX_EVAL_MEMORY_MB says: every layer's outputs are compared */
	assert_int_equal(ieval_new_budget(fx->m, fx->d, fx->f, 2, SIZE_MAX, &ev, &err), 0);
	assert_int_equal(ieval_run(ev, q, c, true, &r, &err), 0);
	int L = fx->m->n_layers;
	int64_t **y = calloc((size_t)L, sizeof *y);
	int16_t **y1 = calloc((size_t)L, sizeof *y1);
	for (int l = 0; l < L; l++) {
		y[l] = calloc((size_t)fx->m->layers[l].rows * fx->m->layers[l].cols, sizeof **y);
		y1[l] = calloc((size_t)fx->m->layers[l].rows * fx->m->layers[l].cols, sizeof **y1);
	}
	long bad = 0;
	for (int w = 0; w < r.windows; w += stride) {
		naive(q, dataset_window(fx->d, MPQX_TEST, w), y);
		assert_int_equal(ieval_window(q, dataset_window(fx->d, MPQX_TEST, w), y1, NULL), 0);
		for (int l = 0; l < L; l++) {
			const int16_t *got = ieval_output(ev, l, w);
			size_t n = (size_t)fx->m->layers[l].rows * fx->m->layers[l].cols;
			for (size_t i = 0; i < n; i++)
				if (got[i] != y[l][i] || y1[l][i] != y[l][i]) {
					if (bad++ < 5)
						print_error("window %d layer %s [%zu]: engine %d, window %d, spec %lld\n", w,
							    fx->m->layers[l].name, i, got[i], y1[l][i], (long long)y[l][i]);
				}
		}
	}
	assert_int_equal(bad, 0);
	for (int l = 0; l < L; l++) {
		free(y[l]);
		free(y1[l]);
	}
	free(y);
	free(y1);
	ieval_free(ev);
	quant_free(q);
}

static void uniform(void **state, int bits)
{
	struct fixture *fx = *state;
	struct mpqx_config c;
	assert_int_equal(config_init(&c, fx->m, bits), 0);
	check(fx, &c, 7);
	config_fini(&c);
}

static void test_uniform8(void **state) { uniform(state, 8); }
static void test_uniform4(void **state) { uniform(state, 4); }
static void test_uniform2(void **state) { uniform(state, 2); }
static void test_uniform16(void **state) { uniform(state, 16); }

static void test_mixed(void **state)
{
	struct fixture *fx = *state;
	struct mpqx_config c;
	assert_int_equal(config_init(&c, fx->m, 8), 0);
	unsigned seed = 12345;
	for (int round = 0; round < 4; round++) {
		for (int l = 0; l < c.n_layers; l++) {
			seed = seed * 1103515245u + 12345u;
			c.layers[l].a_bits = 2 + (int)((seed >> 16) % 15);
			seed = seed * 1103515245u + 12345u;
			c.layers[l].w_bits = 2 + (int)((seed >> 16) % 15);
		}
		check(fx, &c, 13);
	}
	config_fini(&c);
}

/* An incremental run after a change equals a full run of the new config. */
static void test_incremental(void **state)
{
	struct fixture *fx = *state;
	struct mpqx_err err = {0};
	struct mpqx_config c;
	assert_int_equal(config_init(&c, fx->m, 8), 0);
	struct mpqx_ieval *inc = NULL, *full = NULL;
	assert_int_equal(ieval_new_budget(fx->m, fx->d, fx->f, 2, SIZE_MAX, &inc, &err), 0);
	assert_int_equal(ieval_new_budget(fx->m, fx->d, fx->f, 1, SIZE_MAX, &full, &err), 0);
	struct mpqx_eval_result r1, r2;
	for (int step = 0; step < 6; step++) {
		int l = (step * 7) % c.n_layers;
		c.layers[l].a_bits = 3 + step;
		c.layers[l].w_bits = 10 - step;
		struct mpqx_qmodel *q = NULL;
		assert_int_equal(quant_build(fx->m, fx->f, &c, &q, &err), 0);
		assert_int_equal(ieval_run(inc, q, &c, false, &r1, &err), 0);
		assert_int_equal(ieval_run(full, q, &c, true, &r2, &err), 0);
		if (step > 0)
			assert_true(r1.recomputed < fx->m->n_layers || l == 0);
		assert_true(r1.mse == r2.mse);
		for (int k = 0; k < fx->m->n_layers; k++) {
			assert_int_equal(r1.layers[k].clipped, r2.layers[k].clipped);
			size_t n = (size_t)fx->m->layers[k].rows * fx->m->layers[k].cols;
			for (int w = 0; w < r1.windows; w += 17)
				assert_memory_equal(ieval_output(inc, k, w), ieval_output(full, k, w), n * sizeof(int16_t));
		}
		quant_free(q);
	}
	ieval_free(inc);
	ieval_free(full);
	config_fini(&c);
}

static void same_result(const struct mpqx_model *m, const struct mpqx_eval_result *a,
			const struct mpqx_eval_result *b, const char *what)
{
	if (!(a->windows == b->windows && a->mse == b->mse && a->mae == b->mae && a->rmse == b->rmse &&
	      a->rmse_denorm == b->rmse_denorm && a->mse_float == b->mse_float))
		fail_msg("%s: MSE %.17g against %.17g, MAE %.17g against %.17g", what, a->mse, b->mse, a->mae, b->mae);
	for (int l = 0; l < m->n_layers; l++) {
		if (a->layers[l].clipped != b->layers[l].clipped)
			fail_msg("%s: layer %s clamps %ld against %ld", what, m->layers[l].name, a->layers[l].clipped,
				 b->layers[l].clipped);
		if (isnan(a->layers[l].sqnr_db) || a->layers[l].sqnr_db != b->layers[l].sqnr_db)
			fail_msg("%s: layer %s SQNR %.17g against %.17g", what, m->layers[l].name, a->layers[l].sqnr_db,
				 b->layers[l].sqnr_db);
	}
}

/* Over the memory budget the engine streams the windows (chunked mode): the same MSE, clamp counts,
 * per-layer SQNR and forecasts as the cached mode, after changes too (a chunked run recomputes every
 * layer), with the float reference taken from fref or recomputed window by window when fref dropped it,
 * and with the SQNR computed in the run or (ieval_set_sqnr off) by a later pass over the windows. */
static void test_chunked(void **state)
{
	struct fixture *fx = *state;
	const struct mpqx_model *m = fx->m;
	struct mpqx_err err = {0};
	struct mpqx_fref *fa = NULL, *fn = NULL;
	assert_int_equal(fref_run_budget(m, fx->d, true, SIZE_MAX, &fa, &err), 0);
	assert_non_null(fa->act);
	assert_int_equal(fref_run_budget(m, fx->d, true, 1, &fn, &err), 0);
	assert_null(fn->act);
	assert_true(fn->act_wanted);
	assert_true(fa->mse == fn->mse);
	assert_memory_equal(fa->lo, fn->lo, sizeof *fa->lo * (size_t)m->n_layers);
	assert_memory_equal(fa->hi, fn->hi, sizeof *fa->hi * (size_t)m->n_layers);

	struct mpqx_ieval *cached = NULL, *chunk_act = NULL, *chunk_float = NULL;
	assert_int_equal(ieval_new_budget(m, fx->d, fa, 2, SIZE_MAX, &cached, &err), 0);
	assert_int_equal(ieval_new_budget(m, fx->d, fa, 2, 1, &chunk_act, &err), 0);
	assert_int_equal(ieval_new(m, fx->d, fn, 2, &chunk_float, &err), 0);
	assert_false(ieval_chunked(cached));
	assert_true(ieval_chunked(chunk_act));
	assert_true(ieval_chunked(chunk_float));

	struct mpqx_config c;
	assert_int_equal(config_init(&c, m, 8), 0);
	int out = m->output;
	size_t no = (size_t)m->layers[out].rows * m->layers[out].cols;
	for (int step = 0; step < 4; step++) {
		if (step > 0) {
			int l = (step * 5) % c.n_layers;
			c.layers[l].a_bits = 4 + 3 * step;
			c.layers[l].w_bits = 12 - 2 * step;
		}
		/* step 2: the MSE first, the SQNR after (as the explorer does) */
		bool late = step == 2;
		ieval_set_sqnr(cached, !late);
		ieval_set_sqnr(chunk_act, !late);
		ieval_set_sqnr(chunk_float, !late);
		struct mpqx_qmodel *q = NULL;
		struct mpqx_eval_result r0, r1, r2;
		assert_int_equal(quant_build(m, fa, &c, &q, &err), 0);
		assert_int_equal(ieval_run(cached, q, &c, false, &r0, &err), 0);
		if (late)
			assert_int_equal(ieval_update_sqnr(cached, &r0), 0);
		assert_int_equal(ieval_run(chunk_act, q, &c, false, &r1, &err), 0);
		assert_int_equal(ieval_run(chunk_float, q, &c, false, &r2, &err), 0);
		if (late) {
			/* chunked runs honour the request too; the SQNR pass runs the windows again */
			assert_true(isnan(r1.layers[out].sqnr_db) && isnan(r2.layers[out].sqnr_db));
			assert_int_equal(ieval_update_sqnr(chunk_act, &r1), 0);
			assert_int_equal(ieval_update_sqnr(chunk_float, &r2), 0);
		}
		assert_int_equal(r1.recomputed, m->n_layers);
		assert_int_equal(r2.recomputed, m->n_layers);
		assert_true(r1.macs == r2.macs);
		same_result(m, &r1, &r0, "chunked with fref's activations");
		same_result(m, &r2, &r0, "chunked, float recomputed");
		for (int w = 0; w < r0.windows; w++) {
			assert_memory_equal(ieval_output(chunk_act, out, w), ieval_output(cached, out, w), no * sizeof(int16_t));
			assert_memory_equal(ieval_output(chunk_float, out, w), ieval_output(cached, out, w), no * sizeof(int16_t));
		}
		assert_null(ieval_output(chunk_float, 0, 0)); /* no cache of the other layers */
		quant_free(q);
	}
	config_fini(&c);
	ieval_free(cached);
	ieval_free(chunk_act);
	ieval_free(chunk_float);
	fref_free(fa);
	fref_free(fn);
}

static bool stop_after(void *arg)
{
	/* says true from the 4th call on (every thread asks before each window) */
	return __atomic_add_fetch((int *)arg, 1, __ATOMIC_SEQ_CST) > 3;
}

/* The stratified subset: deterministic, one window in each of n equal spans of the test set in time order;
 * its MSE and float MSE equal a direct evaluation of those windows; incremental runs, and runs after a
 * stopped one, equal fresh ones. */
static void test_subset(void **state)
{
	struct fixture *fx = *state;
	const struct mpqx_model *m = fx->m;
	struct mpqx_err err = {0};
	int N = fx->d->windows[MPQX_TEST];
	/* the rule: within [MIN, MAX], at most N; stratified and deterministic */
	int n = ieval_subset_size(m, N);
	assert_true(n >= 1 && n <= N && n <= MPQX_SUBSET_MAX);
	assert_true(n >= MPQX_SUBSET_MIN || n == N);
	for (int k = 1; k <= N; k += (k < 20 ? 1 : 37)) {
		int *a = malloc(sizeof *a * (size_t)k), *b = malloc(sizeof *b * (size_t)k);
		assert_non_null(a);
		assert_non_null(b);
		ieval_subset_windows(N, k, a);
		ieval_subset_windows(N, k, b);
		assert_memory_equal(a, b, sizeof *a * (size_t)k);
		for (int i = 0; i < k; i++) {
			long lo = (long)N * i / k, hi = (long)N * (i + 1) / k;
			if (a[i] < lo || a[i] >= hi)
				fail_msg("N %d, n %d: window %d of stratum %d outside [%ld, %ld)", N, k, a[i], i, lo, hi);
		}
		free(a);
		free(b);
	}
	int k = n < N ? n : (N > 2 ? N / 2 : 1);
	int *idx = malloc(sizeof *idx * (size_t)k);
	assert_non_null(idx);
	ieval_subset_windows(N, k, idx);

	struct mpqx_ieval *sub = NULL, *sub2 = NULL, *full = NULL;
	assert_int_equal(ieval_new_subset(m, fx->d, fx->f, 2, k, &sub, &err), 0);
	assert_int_equal(ieval_new_subset(m, fx->d, fx->f, 1, k, &sub2, &err), 0);
	assert_int_equal(ieval_new_budget(m, fx->d, fx->f, 2, SIZE_MAX, &full, &err), 0);
	assert_true(ieval_subset(sub) == (k < N));
	assert_false(ieval_subset(full));
	struct mpqx_config c;
	assert_int_equal(config_init(&c, m, 8), 0);
	int out = m->output;
	for (int step = 0; step < 4; step++) {
		if (step > 0) {
			int l = (step * 5) % c.n_layers;
			c.layers[l].a_bits = 5 + step;
			c.layers[l].w_bits = 11 - step;
		}
		struct mpqx_qmodel *q = NULL;
		struct mpqx_eval_result rs, rs2, rf;
		assert_int_equal(quant_build(m, fx->f, &c, &q, &err), 0);
		if (step == 2) {
			/* a run stopped part way leaves nothing wrong behind */
			int calls = 0;
			assert_int_equal(ieval_run_until(sub, q, &c, false, stop_after, &calls, &rs, &err), MPQX_IEVAL_STOPPED);
			calls = 0;
			assert_int_equal(ieval_run_until(full, q, &c, false, stop_after, &calls, &rf, &err), MPQX_IEVAL_STOPPED);
		}
		assert_int_equal(ieval_run(sub, q, &c, false, &rs, &err), 0);
		assert_int_equal(ieval_run(sub2, q, &c, true, &rs2, &err), 0);
		assert_int_equal(ieval_run(full, q, &c, false, &rf, &err), 0);
		assert_int_equal(rs.windows, k);
		assert_int_equal(rs.windows_total, N);
		assert_int_equal(rf.windows_total, N);
		assert_true(rf.mse_se == 0);
		assert_true(rs.mse == rs2.mse && rs.mae == rs2.mae);
		/* the same windows evaluated directly: the whole set's outputs of the subset's windows */
		const struct mpqx_qparam *po = &q->l[out].out;
		double se = 0, fse = 0, sq[4096];
		for (int i = 0; i < k; i++) {
			const int16_t *y = ieval_output(full, out, idx[i]);
			double e = po->s * (y[0] - po->z) - dataset_target(fx->d, MPQX_TEST, idx[i]);
			double fe = fx->f->pred[(size_t)idx[i] * m->out_features] - dataset_target(fx->d, MPQX_TEST, idx[i]);
			se += e * e;
			fse += fe * fe;
			if (i < 4096)
				sq[i] = e * e;
		}
		if (rs.mse != se / k)
			fail_msg("step %d: subset MSE %.17g, direct %.17g", step, rs.mse, se / k);
		assert_true(rs.mse_float == fse / k);
		if (k < N && k > 1) {
			double v = 0;
			for (int i = 1; i < k && i < 4096; i++)
				v += (sq[i] - sq[i - 1]) * (sq[i] - sq[i - 1]);
			v = v / (2.0 * (k - 1)) / k * (1.0 - (double)k / N);
			assert_true(fabs(rs.mse_se - sqrt(v)) <= 1e-12 * (sqrt(v) + 1e-300));
			assert_true(rs.mse_se > 0);
		}
		/* clamp counts of the subset's windows only: never more than the whole set's */
		for (int l = 0; l < m->n_layers; l++) {
			assert_true(rs.layers[l].clipped <= rf.layers[l].clipped);
			if (k < N)
				assert_true(isnan(rs.layers[l].sqnr_db)); /* a subset computes no SQNR */
		}
		quant_free(q);
	}
	config_fini(&c);
	free(idx);
	ieval_free(sub);
	ieval_free(sub2);
	ieval_free(full);
}

/* quant_build_from gives the same integer model as quant_build, sharing the weights that stay the same;
 * either model may be freed first. */
static void test_build_from(void **state)
{
	struct fixture *fx = *state;
	const struct mpqx_model *m = fx->m;
	struct mpqx_err err = {0};
	struct mpqx_config c;
	assert_int_equal(config_init(&c, m, 8), 0);
	struct mpqx_qmodel *prev = NULL;
	assert_int_equal(quant_build(m, fx->f, &c, &prev, &err), 0);
	int shared = 0;
	for (int step = 0; step < 8; step++) {
		int l = (step * 3) % c.n_layers;
		if (step % 2)
			c.layers[l].w_bits = 3 + step;
		else
			c.layers[l].a_bits = 4 + step;
		struct mpqx_qmodel *a = NULL, *b = NULL;
		assert_int_equal(quant_build_from(m, fx->f, &c, prev, &a, &err), 0);
		assert_int_equal(quant_build(m, fx->f, &c, &b, &err), 0);
		for (int li = 0; li < m->n_layers; li++) {
			const struct mpqx_qlayer *x = &a->l[li], *y = &b->l[li];
			const struct mpqx_layer *ly = &m->layers[li];
			assert_memory_equal(&x->out, &y->out, sizeof x->out);
			assert_memory_equal(&x->w, &y->w, sizeof x->w);
			assert_memory_equal(x->rs, y->rs, sizeof x->rs);
			assert_true(x->acc_bound == y->acc_bound && x->acc_bits == y->acc_bits && x->m_bits == y->m_bits &&
				    x->bias_bits == y->bias_bits);
			assert_true((x->qw == NULL) == (y->qw == NULL));
			if (x->qw) {
				size_t n = (size_t)ly->weight.rows * ly->weight.cols;
				assert_memory_equal(x->qw, y->qw, n * sizeof *x->qw);
				assert_memory_equal(x->qb, y->qb, (size_t)ly->bias.cols * sizeof *x->qb);
				if (x->w.bits == prev->l[li].w.bits) {
					assert_ptr_equal(x->qw, prev->l[li].qw);
					shared++;
				}
			}
		}
		/* the older one freed first, or (every third step) the newer one, the next built from the older
		 * again: the shared weights live on with their last user */
		if (step % 3 == 2) {
			quant_free(a);
		} else {
			quant_free(prev);
			prev = a;
		}
		quant_free(b);
	}
	assert_true(shared > 0);
	quant_free(prev);
	config_fini(&c);
}

/* The budget: MPQX_EVAL_MEMORY_MB in MiB when it is a positive number, else the default; the cache size;
 * the sample under the default budget stays cached. */
static void test_budget(void **state)
{
	struct fixture *fx = *state;
	const size_t mib = 1024 * 1024, def = (size_t)MPQX_EVAL_MEMORY_MB * mib;
	const char *old = getenv("MPQX_EVAL_MEMORY_MB");
	char *keep = old ? strdup(old) : NULL;
	setenv("MPQX_EVAL_MEMORY_MB", "3", 1);
	assert_true(fref_memory_budget() == 3 * mib);
	const char *bad[] = {"", "0", "-5", "12x", "abc", "99999999999999999999999"};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		setenv("MPQX_EVAL_MEMORY_MB", bad[i], 1);
		assert_true(fref_memory_budget() == def);
	}
	unsetenv("MPQX_EVAL_MEMORY_MB");
	assert_true(fref_memory_budget() == def);
	size_t per = 0;
	for (int l = 0; l < fx->m->n_layers; l++)
		per += (size_t)fx->m->layers[l].rows * fx->m->layers[l].cols * (sizeof(float) + sizeof(int16_t));
	assert_true(fref_cache_bytes(fx->m, 1) == per);
	assert_true(fref_cache_bytes(fx->m, 10) == 10 * per);
	assert_true(fref_cache_bytes(fx->m, 0) == 0);
	struct mpqx_err err = {0};
	struct mpqx_ieval *ev = NULL;
	unsetenv("MPQX_EVAL_MEMORY_MB");
	assert_int_equal(ieval_new(fx->m, fx->d, fx->f, 2, &ev, &err), 0);
	assert_false(ieval_chunked(ev));
	ieval_free(ev);
	/* a budget just below the int16 outputs alone (fref keeps no activations here) streams */
	assert_int_equal(ieval_new_budget(fx->m, fx->d, fx->f, 2, per / 3 * (size_t)fx->d->windows[MPQX_TEST] - 1, &ev,
					  &err),
			 0);
	assert_true(ieval_chunked(ev));
	ieval_free(ev);
	assert_int_equal(ieval_new_budget(fx->m, fx->d, fx->f, 2, per / 3 * (size_t)fx->d->windows[MPQX_TEST], &ev, &err),
			 0);
	assert_false(ieval_chunked(ev));
	ieval_free(ev);
	if (keep) {
		setenv("MPQX_EVAL_MEMORY_MB", keep, 1);
		free(keep);
	}
}

/* The float forward (its loops run over outputs) against plain dot products, bit for bit, on the linear
 * and matmul layers of a few windows; fref_test against a plain window-order sum. */
static void test_forward_plain(void **state)
{
	struct fixture *fx = *state;
	const struct mpqx_model *m = fx->m;
	struct mpqx_forward fw;
	assert_int_equal(forward_init(&fw, m), 0);
	long checked = 0;
	for (int w = 0; w < fx->d->windows[MPQX_TEST]; w += 97) {
		forward_run(&fw, dataset_window(fx->d, MPQX_TEST, w));
		for (int li = 0; li < m->n_layers; li++) {
			const struct mpqx_layer *l = &m->layers[li];
			const float *y = fw.act[li];
			if (l->op == MPQX_OP_LINEAR) {
				const float *x = fw.act[l->inputs[0]];
				int I = l->weight.cols;
				for (int r = 0; r < l->rows; r++)
					for (int o = 0; o < l->cols; o++) {
						double s = l->bias.data[o];
						for (int i = 0; i < I; i++)
							s += (double)l->weight.data[(size_t)o * I + i] * x[r * I + i];
						assert_true((float)s == y[r * l->cols + o]);
						checked++;
					}
			} else if (l->op == MPQX_OP_MATMUL) {
				const struct mpqx_layer *la = &m->layers[l->inputs[0]], *lb = &m->layers[l->inputs[1]];
				const float *a = fw.act[l->inputs[0]], *b = fw.act[l->inputs[1]];
				int h = l->heads;
				for (int r = 0; r < l->rows; r++)
					for (int c = 0; c < l->cols; c++) {
						double s = 0;
						if (l->transpose_b) {
							int M = la->rows, K = la->cols / h, hh = r / M, i = r % M;
							for (int k = 0; k < K; k++)
								s += (double)a[i * la->cols + hh * K + k] * b[c * lb->cols + hh * K + k];
						} else {
							int M = la->rows / h, K = la->cols, N = lb->cols / h, hh = c / N, n = c % N;
							for (int k = 0; k < K; k++)
								s += (double)a[(hh * M + r) * K + k] * b[k * lb->cols + hh * N + n];
						}
						assert_true((float)(s * l->scale) == y[r * l->cols + c]);
						checked++;
					}
			}
		}
	}
	assert_true(checked > 0);
	double se = 0, ae = 0, pse = 0;
	int n = fx->d->windows[MPQX_TEST];
	for (int w = 0; w < n; w++) {
		const float *y = forward_run(&fw, dataset_window(fx->d, MPQX_TEST, w));
		double t = dataset_target(fx->d, MPQX_TEST, w);
		double e = y[0] - t, p = dataset_persistence(fx->d, MPQX_TEST, w) - t;
		se += e * e;
		ae += fabs(e);
		pse += p * p;
	}
	forward_fini(&fw);
	struct mpqx_err err = {0};
	double mse, mae, mp;
	assert_int_equal(fref_test(m, fx->d, &mse, &mae, &mp, &err), 0);
	assert_true(mse == se / n && mae == ae / n && mp == pse / n);
}

static void same_fref(const struct mpqx_fref *a, const struct mpqx_fref *b, int n_pred)
{
	assert_int_equal(a->n_layers, b->n_layers);
	assert_memory_equal(a->lo, b->lo, sizeof(double) * (size_t)a->n_layers);
	assert_memory_equal(a->hi, b->hi, sizeof(double) * (size_t)a->n_layers);
	assert_memory_equal(a->pred, b->pred, sizeof(float) * (size_t)n_pred);
	assert_true(a->mse == b->mse && a->mae == b->mae && a->mse_persistence == b->mse_persistence);
	/* the calibration histograms too (the percentile and MSE methods read them) */
	assert_non_null(a->hist);
	assert_non_null(b->hist);
	for (int l = 0; l < a->n_layers; l++)
		assert_memory_equal(a->hist[l], b->hist[l], sizeof(uint64_t) * MPQX_CALIB_BINS);
}

static void put(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	assert_int_equal(fclose(f), 0);
}

/* The calibration cache beside the model: written by a run, read back to the same bits by the next (a
 * tampered value in it shows that it was read), ignored when the model's bytes change or it is garbage,
 * not used with MPQX_CALIB_CACHE=0; with the test activations kept it still gives them. */
static void test_calib_cache(void **state)
{
	struct fixture *fx = *state;
	struct mpqx_model *m = fx->m;
	char saved[sizeof m->path], dir[] = "/tmp/mpqx-calib-XXXXXX", model[200], cache[220], *text = NULL;
	assert_non_null(mkdtemp(dir));
	snprintf(model, sizeof model, "%s/model.json", dir);
	snprintf(cache, sizeof cache, "%s.calib", model);
	struct mpqx_err err = {0};
	size_t len;
	assert_int_equal(fileio_read(m->path, &text, &len, &err), 0);
	put(model, text);
	memcpy(saved, m->path, sizeof saved);
	snprintf(m->path, sizeof m->path, "%s", model);
	int np = fx->d->windows[MPQX_TEST] * m->out_features;
	struct mpqx_fref *a = NULL, *b = NULL;
	setenv("MPQX_CALIB_CACHE", "0", 1);
	assert_int_equal(fref_run(m, fx->d, false, &a, &err), 0);
	assert_int_equal(access(cache, F_OK), -1);
	unsetenv("MPQX_CALIB_CACHE");
	same_fref(a, fx->f, np);
	assert_int_equal(fref_run(m, fx->d, false, &b, &err), 0); /* computes and writes */
	assert_int_equal(access(cache, F_OK), 0);
	same_fref(a, b, np);
	fref_free(b);
	assert_int_equal(fref_run(m, fx->d, false, &b, &err), 0); /* reads */
	same_fref(a, b, np);
	fref_free(b);
	assert_int_equal(fref_run(m, fx->d, true, &b, &err), 0); /* reads, runs the test windows */
	same_fref(a, b, np);
	assert_non_null(b->act);
	fref_free(b);
	/* a tampered first range comes back: the file was read */
	char *c = NULL;
	assert_int_equal(fileio_read(cache, &c, NULL, &err), 0);
	char *l1 = strchr(c, '\n') + 1, *sp = strchr(l1, ' ');
	size_t blen = strlen(c) + 64;
	char *buf = malloc(blen);
	assert_non_null(buf);
	snprintf(buf, blen, "%.*s-0x1p+3%s", (int)(l1 - c), c, sp);
	put(cache, buf);
	free(buf);
	assert_int_equal(fref_run(m, fx->d, false, &b, &err), 0);
	assert_true(b->lo[0] == -8.0);
	fref_free(b);
	/* another model file (one more byte): the cache is for another key */
	char *longer = realloc(text, len + 2);
	assert_non_null(longer);
	text = longer;
	strcat(text, " ");
	put(model, text);
	assert_int_equal(fref_run(m, fx->d, false, &b, &err), 0);
	same_fref(a, b, np);
	fref_free(b);
	/* garbage: computed again */
	put(cache, "mpqx-calib 1 key zz\n");
	assert_int_equal(fref_run(m, fx->d, false, &b, &err), 0);
	same_fref(a, b, np);
	fref_free(b);
	fref_free(a);
	free(c);
	free(text);
	memcpy(m->path, saved, sizeof saved);
	unlink(cache);
	unlink(model);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_uniform8),  cmocka_unit_test(test_uniform4),  cmocka_unit_test(test_uniform2),
		cmocka_unit_test(test_uniform16), cmocka_unit_test(test_mixed),     cmocka_unit_test(test_incremental),
		cmocka_unit_test(test_chunked),   cmocka_unit_test(test_budget),    cmocka_unit_test(test_forward_plain),
		cmocka_unit_test(test_calib_cache), cmocka_unit_test(test_subset),    cmocka_unit_test(test_build_from),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
