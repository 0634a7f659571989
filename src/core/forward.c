#include "mpqx/forward.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int forward_init(struct mpqx_forward *f, const struct mpqx_model *m)
{
	f->m = m;
	f->wt = NULL;
	f->acc = NULL;
	f->pack = NULL;
	f->act = calloc((size_t)m->n_layers, sizeof *f->act);
	f->wt = calloc((size_t)m->n_layers, sizeof *f->wt);
	if (!f->act || !f->wt) {
		forward_fini(f);
		return MPQX_ENOMEM;
	}
	size_t acc = 1, pack = 1;
	for (int i = 0; i < m->n_layers; i++) {
		const struct mpqx_layer *l = &m->layers[i];
		f->act[i] = malloc(sizeof(float) * (size_t)l->rows * (size_t)l->cols);
		if (!f->act[i]) {
			forward_fini(f);
			return MPQX_ENOMEM;
		}
		acc = (size_t)l->cols > acc ? (size_t)l->cols : acc;
		if (l->op == MPQX_OP_LINEAR) {
			int I = l->weight.cols, O = l->weight.rows;
			if (!(f->wt[i] = malloc(sizeof(float) * (size_t)I * (size_t)O + 1))) {
				forward_fini(f);
				return MPQX_ENOMEM;
			}
			for (int o = 0; o < O; o++)
				for (int k = 0; k < I; k++)
					f->wt[i][(size_t)k * O + o] = l->weight.data[(size_t)o * I + k];
		}
		if (l->op == MPQX_OP_MATMUL && l->transpose_b) {
			const struct mpqx_layer *la = &m->layers[l->inputs[0]], *lb = &m->layers[l->inputs[1]];
			size_t n = (size_t)lb->rows * (size_t)(la->cols / (l->heads > 0 ? l->heads : 1));
			pack = n > pack ? n : pack;
			acc = (size_t)lb->rows > acc ? (size_t)lb->rows : acc;
		}
	}
	f->acc = malloc(sizeof(double) * acc);
	f->pack = malloc(sizeof(float) * pack);
	if (!f->acc || !f->pack) {
		forward_fini(f);
		return MPQX_ENOMEM;
	}
	return MPQX_OK;
}

void forward_fini(struct mpqx_forward *f)
{
	if (f->m)
		for (int i = 0; i < f->m->n_layers; i++) {
			if (f->act)
				free(f->act[i]);
			if (f->wt)
				free(f->wt[i]);
		}
	free(f->act);
	free(f->wt);
	free(f->acc);
	free(f->pack);
	f->act = NULL;
	f->wt = NULL;
	f->acc = NULL;
	f->pack = NULL;
}

#if defined(__GNUC__) && defined(__x86_64__) && !defined(__clang__) && defined(__OPTIMIZE__)
#define MULTI __attribute__((target_clones("avx2", "default")))
#else
#define MULTI
#endif

/* acc[n] += (double)a * b[n]: one more product in each of n independent sums (exact products of floats,
 * so contracting into a fused multiply-add would not change a bit). */
MULTI static void axpy(double *restrict acc, double a, const float *restrict b, int n)
{
	for (int i = 0; i < n; i++)
		acc[i] += a * (double)b[i];
}

/* Per head: y[i][j] = scale * sum_k A[i][k] B[k][j], k ascending, in double. */
static void matmul(struct mpqx_forward *f, const struct mpqx_layer *l, float *y)
{
	const struct mpqx_model *m = f->m;
	const struct mpqx_layer *la = &m->layers[l->inputs[0]], *lb = &m->layers[l->inputs[1]];
	const float *a = f->act[l->inputs[0]], *b = f->act[l->inputs[1]];
	double *acc = f->acc;
	int h = l->heads;
	if (l->transpose_b) {
		int M = la->rows, N = lb->rows, K = la->cols / h;
		for (int hh = 0; hh < h; hh++) {
			float *bt = f->pack; /* bt[k][j] = b[j][hK + k] */
			for (int j = 0; j < N; j++)
				for (int k = 0; k < K; k++)
					bt[(size_t)k * N + j] = b[j * lb->cols + hh * K + k];
			for (int i = 0; i < M; i++) {
				for (int j = 0; j < N; j++)
					acc[j] = 0;
				for (int k = 0; k < K; k++)
					axpy(acc, a[i * la->cols + hh * K + k], bt + (size_t)k * N, N);
				for (int j = 0; j < N; j++)
					y[(hh * M + i) * N + j] = (float)(acc[j] * l->scale);
			}
		}
	} else {
		int M = la->rows / h, K = la->cols, N = lb->cols / h;
		for (int hh = 0; hh < h; hh++)
			for (int i = 0; i < M; i++) {
				for (int j = 0; j < N; j++)
					acc[j] = 0;
				for (int k = 0; k < K; k++)
					axpy(acc, a[(hh * M + i) * K + k], b + k * lb->cols + hh * N, N);
				for (int j = 0; j < N; j++)
					y[i * l->cols + hh * N + j] = (float)(acc[j] * l->scale);
			}
	}
}

const float *forward_run(struct mpqx_forward *f, const float *window)
{
	const struct mpqx_model *m = f->m;
	for (int li = 0; li < m->n_layers; li++) {
		const struct mpqx_layer *l = &m->layers[li];
		float *y = f->act[li];
		const float *x = l->n_inputs ? f->act[l->inputs[0]] : NULL;
		const struct mpqx_layer *lx = l->n_inputs ? &m->layers[l->inputs[0]] : NULL;
		int R = l->rows, C = l->cols;
		switch (l->op) {
		case MPQX_OP_INPUT:
			memcpy(y, window, sizeof(float) * (size_t)R * C);
			break;
		case MPQX_OP_CONST:
			memcpy(y, l->weight.data, sizeof(float) * (size_t)R * C);
			break;
		case MPQX_OP_LINEAR: {
			/* y[r][o] = bias[o] + sum_i w[o][i] x[r][i], i ascending, in double */
			int I = l->weight.cols;
			double *acc = f->acc;
			for (int r = 0; r < R; r++) {
				for (int o = 0; o < C; o++)
					acc[o] = l->bias.data[o];
				for (int i = 0; i < I; i++)
					axpy(acc, x[r * I + i], f->wt[li] + (size_t)i * C, C);
				for (int o = 0; o < C; o++)
					y[r * C + o] = (float)acc[o];
			}
			break;
		}
		case MPQX_OP_ADD: {
			const float *b = f->act[l->inputs[1]];
			for (int i = 0; i < R * C; i++)
				y[i] = x[i] + b[i];
			break;
		}
		case MPQX_OP_MATMUL:
			matmul(f, l, y);
			break;
		case MPQX_OP_SOFTMAX:
			for (int r = 0; r < R; r++) {
				const float *xr = x + r * C;
				float mx = xr[0];
				for (int c = 1; c < C; c++)
					mx = fmaxf(mx, xr[c]);
				double s = 0;
				for (int c = 0; c < C; c++)
					s += exp((double)xr[c] - mx);
				for (int c = 0; c < C; c++)
					y[r * C + c] = (float)(exp((double)xr[c] - mx) / s);
			}
			break;
		case MPQX_OP_AFFINE:
			for (int r = 0; r < R; r++)
				for (int c = 0; c < C; c++)
					y[r * C + c] = (float)((double)l->weight.data[c] * x[r * C + c] + l->bias.data[c]);
			break;
		case MPQX_OP_RELU:
			for (int i = 0; i < R * C; i++)
				y[i] = x[i] > 0 ? x[i] : 0.0f;
			break;
		case MPQX_OP_AVGPOOL:
			for (int c = 0; c < C; c++) {
				double s = 0;
				for (int r = 0; r < lx->rows; r++)
					s += x[r * C + c];
				y[c] = (float)(s / lx->rows);
			}
			break;
		case MPQX_OP_SPLIT:
			for (int r = 0; r < R; r++)
				memcpy(y + r * C, x + r * lx->cols + l->offset, sizeof(float) * (size_t)C);
			break;
		case MPQX_OP_CONCAT: {
			int off = 0;
			for (int k = 0; k < l->n_inputs; k++) {
				const struct mpqx_layer *lk = &m->layers[l->inputs[k]];
				const float *xk = f->act[l->inputs[k]];
				for (int r = 0; r < R; r++)
					memcpy(y + r * C + off, xk + r * lk->cols, sizeof(float) * (size_t)lk->cols);
				off += lk->cols;
			}
			break;
		}
		case MPQX_OP_COUNT:
			break;
		}
	}
	return f->act[m->output];
}
