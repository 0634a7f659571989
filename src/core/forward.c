#include "mpqx/forward.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int forward_init(struct mpqx_forward *f, const struct mpqx_model *m)
{
	f->m = m;
	f->act = calloc((size_t)m->n_layers, sizeof *f->act);
	if (!f->act)
		return MPQX_ENOMEM;
	for (int i = 0; i < m->n_layers; i++) {
		f->act[i] = malloc(sizeof(float) * (size_t)m->layers[i].rows * (size_t)m->layers[i].cols);
		if (!f->act[i]) {
			forward_fini(f);
			return MPQX_ENOMEM;
		}
	}
	return MPQX_OK;
}

void forward_fini(struct mpqx_forward *f)
{
	if (f->act && f->m)
		for (int i = 0; i < f->m->n_layers; i++)
			free(f->act[i]);
	free(f->act);
	f->act = NULL;
}

static void matmul(const struct mpqx_model *m, const struct mpqx_layer *l, float *const *act, float *y)
{
	const struct mpqx_layer *la = &m->layers[l->inputs[0]], *lb = &m->layers[l->inputs[1]];
	const float *a = act[l->inputs[0]], *b = act[l->inputs[1]];
	int h = l->heads;
	if (l->transpose_b) {
		int M = la->rows, N = lb->rows, K = la->cols / h;
		for (int hh = 0; hh < h; hh++)
			for (int i = 0; i < M; i++)
				for (int j = 0; j < N; j++) {
					double s = 0;
					for (int k = 0; k < K; k++)
						s += (double)a[i * la->cols + hh * K + k] * b[j * lb->cols + hh * K + k];
					y[(hh * M + i) * N + j] = (float)(s * l->scale);
				}
	} else {
		int M = la->rows / h, K = la->cols, N = lb->cols / h;
		for (int hh = 0; hh < h; hh++)
			for (int i = 0; i < M; i++)
				for (int j = 0; j < N; j++) {
					double s = 0;
					for (int k = 0; k < K; k++)
						s += (double)a[(hh * M + i) * K + k] * b[k * lb->cols + hh * N + j];
					y[i * l->cols + hh * N + j] = (float)(s * l->scale);
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
			int I = l->weight.cols;
			for (int r = 0; r < R; r++)
				for (int o = 0; o < C; o++) {
					double s = l->bias.data[o];
					const float *w = l->weight.data + (size_t)o * I;
					for (int i = 0; i < I; i++)
						s += (double)w[i] * x[r * I + i];
					y[r * C + o] = (float)s;
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
			matmul(m, l, f->act, y);
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
