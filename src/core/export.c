/* Verilog export (include/mpqx/export.h, doc/hardware.md). The layout of a design comes from
 * include/mpqx/hw.h; this file only renders it. */
#include "mpqx/export.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mpqx/estimate.h"
#include "mpqx/fileio.h"
#include "mpqx/hw.h"
#include "mpqx/ieval.h"
#include "mpqx/session.h"
#include "mpqx/tmpl.h"
#include "mpqx_config.h"

#define EXPORT_FORMAT "mpqx-export"
#define EXPORT_VERSION 1
#define TEMPLATES_VERSION 1
#define PATH_LEN 4200

static bool fits(int n, size_t size)
{
	return n >= 0 && (size_t)n < size;
}

/* ---- text buffer ---- */

struct sbuf {
	char *p;
	size_t len, cap;
	bool oom;
};

static void sb_vadd(struct sbuf *b, const char *fmt, va_list ap)
{
	if (b->oom)
		return;
	va_list cp;
	va_copy(cp, ap);
	int n = vsnprintf(NULL, 0, fmt, cp);
	va_end(cp);
	if (n < 0) {
		b->oom = true;
		return;
	}
	if (b->len + (size_t)n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 1024;
		while (cap < b->len + (size_t)n + 1)
			cap *= 2;
		char *p = realloc(b->p, cap);
		if (!p) {
			b->oom = true;
			return;
		}
		b->p = p;
		b->cap = cap;
	}
	vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
	b->len += (size_t)n;
}

#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
static void sb_add(struct sbuf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	sb_vadd(b, fmt, ap);
	va_end(ap);
}

static const char *sb_str(struct sbuf *b)
{
	if (!b->p)
		sb_add(b, "%s", "");
	return b->p ? b->p : "";
}

static void sb_free(struct sbuf *b)
{
	free(b->p);
	memset(b, 0, sizeof *b);
}

/* ---- the design being written ---- */

struct layer_x {
	struct mpqx_hw_layer hw;
	char id[80];     /* Verilog identifier part */
	char module[120];
	enum mpqx_storage buf, rom; /* resolved */
	char rom_file[MPQX_HW_MAX_ROMS][128];
};

struct ctx {
	const struct mpqx_qmodel *q;
	const struct mpqx_model *m;
	const struct mpqx_config *c;
	const struct mpqx_dataset *d;
	const struct mpqx_export_opts *o;
	const char *prefix;
	char tdir[PATH_LEN]; /* templates */
	char root[PATH_LEN]; /* the temporary directory being filled */
	struct layer_x *lx;
	int windows;
	long cycles;
	cJSON *files;        /* manifest: files written */
	int n_files;
	struct mpqx_err *err;
};

const char *export_templates_dir(void)
{
	static char buf[PATH_LEN];
	const char *env = getenv("MPQX_DATA_DIR");
	struct stat st;
	if (env && *env) {
		snprintf(buf, sizeof buf, "%s/hdl_templates", env);
		return buf;
	}
	snprintf(buf, sizeof buf, "%s/hdl_templates", MPQX_SRCDIR);
	if (stat(buf, &st) == 0 && S_ISDIR(st.st_mode))
		return buf;
	snprintf(buf, sizeof buf, "%s/hdl_templates", MPQX_DATADIR);
	return buf;
}

static int write_file(struct ctx *x, const char *rel, const char *data, size_t len)
{
	char path[PATH_LEN];
	if (fileio_join(path, sizeof path, x->root, rel))
		return err_set(x->err, MPQX_EINPUT, "%s/%s: path too long", x->root, rel);
	FILE *f = fopen(path, "w");
	if (!f)
		return err_set(x->err, MPQX_EIO, "%s: cannot create: %s", path, strerror(errno));
	size_t w = fwrite(data, 1, len, f);
	int bad = w != len || fflush(f) != 0 || fsync(fileno(f)) != 0;
	if (fclose(f) != 0 || bad)
		return err_set(x->err, MPQX_EIO, "%s: write failed: %s", path, strerror(errno));
	cJSON_AddItemToArray(x->files, cJSON_CreateString(rel));
	x->n_files++;
	return MPQX_OK;
}

static int write_sb(struct ctx *x, const char *rel, struct sbuf *b)
{
	if (b->oom)
		return err_set(x->err, MPQX_ENOMEM, "out of memory");
	const char *s = sb_str(b);
	return write_file(x, rel, s, strlen(s));
}

/* Loads a template of the templates directory. */
static int load_tmpl(struct ctx *x, const char *name, struct mpqx_tmpl **t)
{
	char path[PATH_LEN];
	if (fileio_join(path, sizeof path, x->tdir, name))
		return err_set(x->err, MPQX_EINPUT, "%s/%s: path too long", x->tdir, name);
	return tmpl_load(path, t, x->err);
}

static int render_to(struct ctx *x, struct mpqx_tmpl *t, const char *rel)
{
	char *out;
	size_t len;
	int rc = tmpl_render(t, &out, &len, x->err);
	if (rc)
		return rc;
	rc = write_file(x, rel, out, len);
	free(out);
	return rc;
}

/* Placeholder setters; the first error sticks in *rc. */
static void set_s(struct ctx *x, struct mpqx_tmpl *t, int *rc, const char *name, const char *v)
{
	if (!*rc)
		*rc = tmpl_set(t, name, v, x->err);
}

static void set_i(struct ctx *x, struct mpqx_tmpl *t, int *rc, const char *name, long long v)
{
	if (!*rc)
		*rc = tmpl_setf(t, x->err, name, "%lld", v);
}

static void set_q(struct ctx *x, struct mpqx_tmpl *t, int *rc, const char *name, const char *v)
{
	if (!*rc)
		*rc = tmpl_setf(t, x->err, name, "\"%s\"", v);
}

static void set_u64(struct ctx *x, struct mpqx_tmpl *t, int *rc, const char *name, int64_t v)
{
	if (!*rc)
		*rc = tmpl_setf(t, x->err, name, "64'd%" PRId64, v);
}

/* ---- naming ---- */

/* Verilog $clog2 */
static int vclog2(long n)
{
	int k = 0;
	while ((1L << k) < n)
		k++;
	return k;
}

static void make_ids(struct ctx *x)
{
	for (int i = 0; i < x->m->n_layers; i++) {
		char *id = x->lx[i].id;
		const char *n = x->m->layers[i].name;
		size_t k = 0;
		if (n[0] >= '0' && n[0] <= '9')
			id[k++] = 'l';
		for (; *n && k + 1 < sizeof x->lx[i].id - 12; n++)
			id[k++] = (*n == '.' || *n == '-') ? '_' : *n;
		id[k] = '\0';
		/* Two names may map to one identifier ("a.b", "a_b"): number the later one. */
		for (int j = 0; j < i; j++)
			if (strcmp(x->lx[j].id, id) == 0) {
				snprintf(id + k, 12, "_%d", i);
				break;
			}
		snprintf(x->lx[i].module, sizeof x->lx[i].module, "%slayer_%s", x->prefix, id);
	}
}

static const char *ram_module(struct ctx *x, enum mpqx_storage s, char *buf, size_t size)
{
	snprintf(buf, size, "%sram_%s", x->prefix, s == MPQX_STORE_BLOCK ? "block" : "distributed");
	return buf;
}

static const char *rom_module(struct ctx *x, enum mpqx_storage s, char *buf, size_t size)
{
	snprintf(buf, size, "%srom_%s", x->prefix, s == MPQX_STORE_BLOCK ? "block" : "logic");
	return buf;
}

static const char *lib_module(struct ctx *x, const char *what, char *buf, size_t size)
{
	snprintf(buf, size, "%s%s", x->prefix, what);
	return buf;
}

/* ---- .mem files ---- */

/* Two's complement of v in width bits, as hex digits. */
static void hex_word(struct sbuf *b, int64_t v, int width)
{
	uint64_t mask = width >= 64 ? ~(uint64_t)0 : (((uint64_t)1 << width) - 1);
	sb_add(b, "%0*" PRIx64 "\n", (width + 3) / 4, (uint64_t)v & mask);
}

/* Writes a ROM image: the words, then zeros up to its depth. */
static int write_rom(struct ctx *x, const char *rel, const struct mpqx_hw_mem *mm, const int32_t *v32,
		     const int64_t *v64)
{
	struct sbuf b = {0};
	for (long i = 0; i < mm->depth; i++)
		hex_word(&b, i < mm->words ? (v32 ? v32[i] : v64[i]) : 0, mm->width);
	int rc = write_sb(x, rel, &b);
	sb_free(&b);
	return rc;
}

static int write_mems(struct ctx *x)
{
	int rc = MPQX_OK;
	for (int i = 0; !rc && i < x->m->n_layers; i++) {
		const struct mpqx_qlayer *ql = &x->q->l[i];
		struct layer_x *L = &x->lx[i];
		for (int r = 0; !rc && r < L->hw.n_roms; r++) {
			const struct mpqx_hw_mem *mm = &L->hw.rom[r];
			static const char *const suffix[] = {"", "_w", "_b", "_e", ""};
			snprintf(L->rom_file[r], sizeof L->rom_file[r], "mem/%s%s.mem", L->id, suffix[mm->role]);
			switch (mm->role) {
			case MPQX_HW_WEIGHTS:
				rc = write_rom(x, L->rom_file[r], mm, ql->qw, NULL);
				break;
			case MPQX_HW_BIAS:
				rc = write_rom(x, L->rom_file[r], mm, NULL, ql->qb);
				break;
			case MPQX_HW_EXP:
				rc = write_rom(x, L->rom_file[r], mm, NULL, ql->sm_table);
				break;
			case MPQX_HW_CONST:
				rc = write_rom(x, L->rom_file[r], mm, ql->qconst, NULL);
				break;
			case MPQX_HW_BUFFER:
				break;
			}
		}
	}
	return rc;
}

/* ---- layer modules ---- */

static const struct mpqx_hw_layer *hw_of(struct ctx *x, int layer)
{
	return &x->lx[layer].hw;
}

/* Address bits of what layer `layer` reads from producer p: its buffer, or a const's ROM. */
static int src_aw(struct ctx *x, int p)
{
	const struct mpqx_hw_layer *h = hw_of(x, p);
	return h->has_buf ? h->buf.aw : h->rom[0].aw;
}

static const char *kind_template(enum mpqx_op op)
{
	switch (op) {
	case MPQX_OP_INPUT: return "input.v";
	case MPQX_OP_CONST: return "const.v";
	case MPQX_OP_LINEAR: return "linear.v";
	case MPQX_OP_AFFINE: return "affine.v";
	case MPQX_OP_MATMUL: return "matmul.v";
	case MPQX_OP_ADD: return "add.v";
	case MPQX_OP_RELU: return "relu.v";
	case MPQX_OP_SOFTMAX: return "softmax.v";
	case MPQX_OP_AVGPOOL: return "avgpool.v";
	case MPQX_OP_SPLIT: return "split.v";
	case MPQX_OP_CONCAT: return "concat.v";
	case MPQX_OP_COUNT: break;
	}
	return NULL;
}

/* The per-input blocks of a concat. */
static void concat_parts(struct ctx *x, int li, struct sbuf *ports, struct sbuf *inputs, struct sbuf *cols,
			 struct sbuf *offs, struct sbuf *sel)
{
	const struct mpqx_layer *l = &x->m->layers[li];
	const struct mpqx_qlayer *ql = &x->q->l[li];
	int n = l->n_inputs, sgw = vclog2(n + 1), cw = vclog2(l->cols + 1), yaw = hw_of(x, li)->buf.aw;
	int xaw = 1;
	char rs[120];
	lib_module(x, "rescale", rs, sizeof rs);
	for (int k = 0; k < n; k++)
		xaw = src_aw(x, l->inputs[k]) > xaw ? src_aw(x, l->inputs[k]) : xaw;
	int off = 0;
	for (int k = 0; k < n; k++) {
		int p = l->inputs[k], aw = src_aw(x, p);
		const struct mpqx_qparam *px = &x->q->l[p].out;
		int ck = x->m->layers[p].cols;
		int mw = quant_bitlen((uint64_t)ql->rs[k].m);
		sb_add(ports, "output wire [%d:0] x%d_addr,\ninput  wire [%d:0] x%d_data,\n", aw - 1, k, px->bits - 1, k);
		sb_add(inputs,
		       "// input %d: '%s', columns %d..%d of the result\n"
		       "assign x%d_addr = (busy && seg == %d'd%d) ? xa[%d:0] : %d'd0;\n"
		       "wire signed [%d:0] v%d = $signed(x%d_data) - %d;\n"
		       "wire [YB-1:0] q%d;\n"
		       "%s #(.IW(%d), .MW(%d), .MUL(64'd%" PRId64 "), .SHR(%d), .Z(%d), .OB(YB)) u_rs%d (\n"
		       "\t.clk(clk), .en(rs_en && seg == %d'd%d), .v(v%d), .q(q%d));\n",
		       k, x->m->layers[p].name, off, off + ck - 1, k, sgw, k, aw - 1, aw, px->bits, k, k, px->z, k,
		       rs, px->bits + 1, mw > 0 ? mw : 1, ql->rs[k].m, ql->rs[k].n, ql->out.z, k, sgw, k, k, k);
		if (k < n - 1) {
			sb_add(cols, "(seg == %d'd%d) ? %d'd%d : ", sgw, k, cw, ck - 1);
			sb_add(offs, "(seg == %d'd%d) ? %d'd%d : ", sgw, k, yaw, off + ck);
			sb_add(sel, "(seg == %d'd%d) ? q%d : ", sgw, k, k);
		} else {
			sb_add(cols, "%d'd%d", cw, ck - 1);
			sb_add(offs, "%d'd%d", yaw, 0);
			sb_add(sel, "q%d", k);
		}
		off += ck;
	}
	(void)xaw;
}

static int concat_xaw(struct ctx *x, int li)
{
	const struct mpqx_layer *l = &x->m->layers[li];
	int xaw = 1;
	for (int k = 0; k < l->n_inputs; k++)
		xaw = src_aw(x, l->inputs[k]) > xaw ? src_aw(x, l->inputs[k]) : xaw;
	return xaw;
}

static int write_layer(struct ctx *x, int li)
{
	const struct mpqx_model *m = x->m;
	const struct mpqx_layer *l = &m->layers[li];
	const struct mpqx_qlayer *ql = &x->q->l[li];
	struct layer_x *L = &x->lx[li];
	const struct mpqx_hw_layer *h = &L->hw;
	struct mpqx_tmpl *t;
	int rc = load_tmpl(x, kind_template(l->op), &t);
	if (rc)
		return rc;
	char ram[120], rom[120], rs[120], rq[120], dv[120];
	lib_module(x, "requant", rq, sizeof rq);
	ram_module(x, L->buf, ram, sizeof ram);
	rom_module(x, L->rom, rom, sizeof rom);
	lib_module(x, "rescale", rs, sizeof rs);
	lib_module(x, "div", dv, sizeof dv);
	int p0 = l->n_inputs ? l->inputs[0] : -1, p1 = l->n_inputs > 1 ? l->inputs[1] : -1;
	const struct mpqx_qparam *px = p0 >= 0 ? &x->q->l[p0].out : NULL;
	const struct mpqx_qparam *pb = p1 >= 0 ? &x->q->l[p1].out : NULL;
	const struct mpqx_qparam *py = &ql->out;
	int mw = quant_bitlen((uint64_t)ql->rs[0].m);
	if (mw < 1)
		mw = 1;

	set_s(x, t, &rc, "MODULE", L->module);
	switch (l->op) {
	case MPQX_OP_INPUT:
		set_s(x, t, &rc, "RAM", ram);
		break;
	case MPQX_OP_CONST:
		set_s(x, t, &rc, "ROM", rom);
		set_q(x, t, &rc, "INIT", L->rom_file[0]);
		break;
	default:
		set_s(x, t, &rc, "RAM", ram);
		break;
	}
	if (l->op == MPQX_OP_LINEAR || l->op == MPQX_OP_AFFINE || l->op == MPQX_OP_MATMUL)
		set_s(x, t, &rc, "REQUANT", rq);
	else if (l->op == MPQX_OP_ADD || l->op == MPQX_OP_RELU || l->op == MPQX_OP_SPLIT || l->op == MPQX_OP_AVGPOOL)
		set_s(x, t, &rc, "RESCALE", rs);
	/* YB, YAW for all; YZ where a rescale writes the output. */
	set_i(x, t, &rc, "YB", py->bits);
	if (l->op != MPQX_OP_SOFTMAX)
		set_i(x, t, &rc, "YAW", h->has_buf ? h->buf.aw : h->rom[0].aw);
	if (l->op != MPQX_OP_SOFTMAX && l->op != MPQX_OP_INPUT && l->op != MPQX_OP_CONST &&
	    l->op != MPQX_OP_CONCAT)
		set_i(x, t, &rc, "YZ", py->z);

	switch (l->op) {
	case MPQX_OP_INPUT:
	case MPQX_OP_CONST:
	case MPQX_OP_COUNT:
		break;
	case MPQX_OP_LINEAR:
	case MPQX_OP_AFFINE: {
		bool lin = l->op == MPQX_OP_LINEAR;
		set_s(x, t, &rc, "WROM", rom);
		set_s(x, t, &rc, "BROM", rom);
		set_i(x, t, &rc, "R", l->rows);
		if (lin) {
			set_i(x, t, &rc, "I", l->weight.cols);
			set_i(x, t, &rc, "O", l->cols);
			set_i(x, t, &rc, "BAW", h->rom[1].aw);
		} else {
			set_i(x, t, &rc, "C", l->cols);
		}
		set_i(x, t, &rc, "XB", px->bits);
		set_i(x, t, &rc, "XZ", px->z);
		set_i(x, t, &rc, "XAW", src_aw(x, p0));
		set_i(x, t, &rc, "WB", ql->w.bits);
		set_i(x, t, &rc, "WZ", ql->w.z);
		set_i(x, t, &rc, "WAW", h->rom[0].aw);
		set_q(x, t, &rc, "W_INIT", L->rom_file[0]);
		set_i(x, t, &rc, "BB", h->rom[1].width);
		set_q(x, t, &rc, "B_INIT", L->rom_file[1]);
		set_i(x, t, &rc, "ACCW", h->acc_bits);
		set_i(x, t, &rc, "MW", mw);
		set_u64(x, t, &rc, "MUL", ql->rs[0].m);
		set_i(x, t, &rc, "SHR", ql->rs[0].n);
		break;
	}
	case MPQX_OP_MATMUL: {
		const struct mpqx_layer *la = &m->layers[p0], *lb = &m->layers[p1];
		int H = l->heads;
		bool tb = l->transpose_b;
		set_i(x, t, &rc, "TB", tb ? 1 : 0);
		set_i(x, t, &rc, "HEADS", H);
		set_i(x, t, &rc, "MD", tb ? la->rows : la->rows / H);
		set_i(x, t, &rc, "ND", tb ? lb->rows : lb->cols / H);
		set_i(x, t, &rc, "KD", tb ? la->cols / H : la->cols);
		set_i(x, t, &rc, "ACOLS", la->cols);
		set_i(x, t, &rc, "BCOLS", lb->cols);
		set_i(x, t, &rc, "AB", px->bits);
		set_i(x, t, &rc, "AZ", px->z);
		set_i(x, t, &rc, "AAW", src_aw(x, p0));
		set_i(x, t, &rc, "BB", pb->bits);
		set_i(x, t, &rc, "BZ", pb->z);
		set_i(x, t, &rc, "BAW", src_aw(x, p1));
		set_i(x, t, &rc, "ACCW", h->acc_bits);
		set_i(x, t, &rc, "MW", mw);
		set_u64(x, t, &rc, "MUL", ql->rs[0].m);
		set_i(x, t, &rc, "SHR", ql->rs[0].n);
		break;
	}
	case MPQX_OP_ADD: {
		int maw = quant_bitlen((uint64_t)ql->rs[0].m), mbw = quant_bitlen((uint64_t)ql->rs[1].m);
		set_i(x, t, &rc, "WORDS", (long long)l->rows * l->cols);
		set_i(x, t, &rc, "AB", px->bits);
		set_i(x, t, &rc, "AZ", px->z);
		set_i(x, t, &rc, "AAW", src_aw(x, p0));
		set_i(x, t, &rc, "BB", pb->bits);
		set_i(x, t, &rc, "BZ", pb->z);
		set_i(x, t, &rc, "BAW", src_aw(x, p1));
		set_u64(x, t, &rc, "MA", ql->rs[0].m);
		set_i(x, t, &rc, "MAW", maw > 0 ? maw : 1);
		set_u64(x, t, &rc, "MB", ql->rs[1].m);
		set_i(x, t, &rc, "MBW", mbw > 0 ? mbw : 1);
		set_i(x, t, &rc, "SHR", ql->rs[0].n);
		set_i(x, t, &rc, "ACCW", h->acc_bits);
		break;
	}
	case MPQX_OP_RELU:
		set_i(x, t, &rc, "WORDS", (long long)l->rows * l->cols);
		set_i(x, t, &rc, "XB", px->bits);
		set_i(x, t, &rc, "XZ", px->z);
		set_i(x, t, &rc, "XAW", src_aw(x, p0));
		set_i(x, t, &rc, "MW", mw);
		set_u64(x, t, &rc, "MUL", ql->rs[0].m);
		set_i(x, t, &rc, "SHR", ql->rs[0].n);
		break;
	case MPQX_OP_SPLIT:
		set_i(x, t, &rc, "R", l->rows);
		set_i(x, t, &rc, "W", l->cols);
		set_i(x, t, &rc, "XC", m->layers[p0].cols);
		set_i(x, t, &rc, "OFFSET", l->offset);
		set_i(x, t, &rc, "XB", px->bits);
		set_i(x, t, &rc, "XZ", px->z);
		set_i(x, t, &rc, "XAW", src_aw(x, p0));
		set_i(x, t, &rc, "MW", mw);
		set_u64(x, t, &rc, "MUL", ql->rs[0].m);
		set_i(x, t, &rc, "SHR", ql->rs[0].n);
		break;
	case MPQX_OP_AVGPOOL:
		set_i(x, t, &rc, "RIN", m->layers[p0].rows);
		set_i(x, t, &rc, "C", l->cols);
		set_i(x, t, &rc, "XB", px->bits);
		set_i(x, t, &rc, "XZ", px->z);
		set_i(x, t, &rc, "XAW", src_aw(x, p0));
		set_i(x, t, &rc, "ACCW", h->acc_bits);
		set_i(x, t, &rc, "MW", mw);
		set_u64(x, t, &rc, "MUL", ql->rs[0].m);
		set_i(x, t, &rc, "SHR", ql->rs[0].n);
		break;
	case MPQX_OP_SOFTMAX:
		set_s(x, t, &rc, "EROM", rom);
		set_s(x, t, &rc, "DIV", dv);
		set_i(x, t, &rc, "R", l->rows);
		set_i(x, t, &rc, "C", l->cols);
		set_i(x, t, &rc, "XB", px->bits);
		set_i(x, t, &rc, "XAW", src_aw(x, p0));
		set_i(x, t, &rc, "T", ql->sm_t);
		set_i(x, t, &rc, "L", ql->sm_len);
		set_i(x, t, &rc, "EW", ql->sm_k);
		set_i(x, t, &rc, "EAW", h->rom[0].aw);
		set_q(x, t, &rc, "E_INIT", L->rom_file[0]);
		set_i(x, t, &rc, "SW", h->sm_sum);
		set_i(x, t, &rc, "NW", h->div_num);
		break;
	case MPQX_OP_CONCAT: {
		struct sbuf ports = {0}, inputs = {0}, cols = {0}, offs = {0}, sel = {0};
		concat_parts(x, li, &ports, &inputs, &cols, &offs, &sel);
		if (ports.oom || inputs.oom || cols.oom || offs.oom || sel.oom)
			rc = err_set(x->err, MPQX_ENOMEM, "out of memory");
		set_i(x, t, &rc, "R", l->rows);
		set_i(x, t, &rc, "C", l->cols);
		set_i(x, t, &rc, "NIN", l->n_inputs);
		set_i(x, t, &rc, "XAW", concat_xaw(x, li));
		set_s(x, t, &rc, "PORTS", sb_str(&ports));
		set_s(x, t, &rc, "INPUTS", sb_str(&inputs));
		set_s(x, t, &rc, "COLS_LAST", sb_str(&cols));
		set_s(x, t, &rc, "OFF_NEXT", sb_str(&offs));
		set_s(x, t, &rc, "SELECT", sb_str(&sel));
		sb_free(&ports);
		sb_free(&inputs);
		sb_free(&cols);
		sb_free(&offs);
		sb_free(&sel);
		break;
	}
	}
	if (!rc) {
		char rel[200];
		snprintf(rel, sizeof rel, "rtl/%s.v", L->module);
		rc = render_to(x, t, rel);
	}
	tmpl_free(t);
	return rc;
}

/* ---- library modules ---- */

static int write_lib(struct ctx *x, const char *tname, const char *module, const char *style)
{
	struct mpqx_tmpl *t;
	int rc = load_tmpl(x, tname, &t);
	if (rc)
		return rc;
	set_s(x, t, &rc, "MODULE", module);
	if (style)
		set_q(x, t, &rc, "STYLE", style);
	if (strcmp(tname, "rescale.v") == 0) {
		char rq[120];
		set_s(x, t, &rc, "REQUANT", lib_module(x, "requant", rq, sizeof rq));
	}
	if (!rc) {
		char rel[200];
		snprintf(rel, sizeof rel, "rtl/%s.v", module);
		rc = render_to(x, t, rel);
	}
	tmpl_free(t);
	return rc;
}

static int write_libs(struct ctx *x)
{
	bool ram[2] = {false, false}, rom[2] = {false, false}, rescale = false, requant = false, div = false;
	for (int i = 0; i < x->m->n_layers; i++) {
		const struct layer_x *L = &x->lx[i];
		enum mpqx_op op = x->m->layers[i].op;
		if (L->hw.has_buf)
			ram[L->buf == MPQX_STORE_BLOCK] = true;
		if (L->hw.n_roms)
			rom[L->rom == MPQX_STORE_BLOCK] = true;
		rescale |= op == MPQX_OP_ADD || op == MPQX_OP_RELU || op == MPQX_OP_SPLIT || op == MPQX_OP_AVGPOOL ||
			   op == MPQX_OP_CONCAT;
		requant |= L->hw.runs && op != MPQX_OP_SOFTMAX;
		div |= op == MPQX_OP_SOFTMAX;
	}
	char name[120];
	int rc = MPQX_OK;
	if (!rc && ram[1])
		rc = write_lib(x, "ram.v", ram_module(x, MPQX_STORE_BLOCK, name, sizeof name), "block");
	if (!rc && ram[0])
		rc = write_lib(x, "ram.v", ram_module(x, MPQX_STORE_DIST, name, sizeof name), "distributed");
	if (!rc && rom[1])
		rc = write_lib(x, "rom.v", rom_module(x, MPQX_STORE_BLOCK, name, sizeof name), "block");
	if (!rc && rom[0])
		rc = write_lib(x, "rom.v", rom_module(x, MPQX_STORE_DIST, name, sizeof name), "logic");
	if (!rc && rescale)
		rc = write_lib(x, "rescale.v", lib_module(x, "rescale", name, sizeof name), NULL);
	if (!rc && requant)
		rc = write_lib(x, "requant.v", lib_module(x, "requant", name, sizeof name), NULL);
	if (!rc && div)
		rc = write_lib(x, "div.v", lib_module(x, "div", name, sizeof name), NULL);
	return rc;
}

/* ---- top level ---- */

/* Port names of a layer kind's inputs. */
static const char *in_port(enum mpqx_op op, int k, char *buf, size_t size)
{
	if (op == MPQX_OP_ADD || op == MPQX_OP_MATMUL)
		snprintf(buf, size, "%s", k == 0 ? "a" : "b");
	else if (op == MPQX_OP_CONCAT)
		snprintf(buf, size, "x%d", k);
	else
		snprintf(buf, size, "x");
	return buf;
}

static const char *storage_word(const struct layer_x *L, bool rom)
{
	return config_storage_name(rom ? L->rom : L->buf, rom);
}

static int write_top(struct ctx *x, char *top, size_t top_size)
{
	const struct mpqx_model *m = x->m;
	struct sbuf b = {0};
	int in = -1, last = -1;
	lib_module(x, "top", top, top_size);
	for (int i = 0; i < m->n_layers; i++) {
		const struct mpqx_layer *l = &m->layers[i];
		const struct layer_x *L = &x->lx[i];
		const struct mpqx_hw_layer *h = &L->hw;
		int aw = h->has_buf ? h->buf.aw : h->rom[0].aw;
		int yb = x->q->l[i].out.bits;
		sb_add(&b, "// %s: %s [%d, %d], %d bits", l->name, model_op_name(l->op), l->rows, l->cols, yb);
		if (h->has_buf)
			sb_add(&b, ", buffer %s", storage_word(L, false));
		if (h->n_roms)
			sb_add(&b, ", ROM %s", storage_word(L, true));
		if (h->runs)
			sb_add(&b, ", %ld cycles", h->cycles);
		sb_add(&b, "\nwire [%d:0] %s_raddr;\nwire [%d:0] %s_rdata;\n", aw - 1, L->id, yb - 1, L->id);
		if (l->op == MPQX_OP_INPUT) {
			in = i;
			sb_add(&b,
			       "%s u_%s (\n\t.clk(clk), .in_we(in_we), .in_addr(in_addr), .in_data(in_data),\n"
			       "\t.y_addr(%s_raddr), .y_data(%s_rdata));\n\n",
			       L->module, L->id, L->id, L->id);
			continue;
		}
		if (l->op == MPQX_OP_CONST) {
			sb_add(&b, "%s u_%s (\n\t.clk(clk), .y_addr(%s_raddr), .y_data(%s_rdata));\n\n", L->module, L->id,
			       L->id, L->id);
			continue;
		}
		char port[16];
		sb_add(&b, "wire %s_done;\n", L->id);
		for (int k = 0; k < l->n_inputs; k++)
			sb_add(&b, "wire [%d:0] %s_%s_addr;\n", src_aw(x, l->inputs[k]) - 1, L->id,
			       in_port(l->op, k, port, sizeof port));
		sb_add(&b, "%s u_%s (\n\t.clk(clk), .rst(rst), ", L->module, L->id);
		if (last < 0)
			sb_add(&b, ".start(start && !busy), ");
		else
			sb_add(&b, ".start(%s_done), ", x->lx[last].id);
		sb_add(&b, ".done(%s_done),\n", L->id);
		for (int k = 0; k < l->n_inputs; k++) {
			in_port(l->op, k, port, sizeof port);
			sb_add(&b, "\t.%s_addr(%s_%s_addr), .%s_data(%s_rdata),\n", port, L->id, port, port,
			       x->lx[l->inputs[k]].id);
		}
		sb_add(&b, "\t.y_addr(%s_raddr), .y_data(%s_rdata));\n\n", L->id, L->id);
		last = i;
	}
	/* Shared read ports: the OR of the consumers' addresses (each is 0 while its layer is idle). */
	sb_add(&b, "// Read ports shared by each buffer's consumers.\n");
	for (int p = 0; p < m->n_layers; p++) {
		const struct layer_x *P = &x->lx[p];
		bool any = false;
		sb_add(&b, "assign %s_raddr = ", P->id);
		for (int i = 0; i < m->n_layers; i++) {
			const struct mpqx_layer *l = &m->layers[i];
			char port[16];
			for (int k = 0; k < l->n_inputs; k++)
				if (l->inputs[k] == p) {
					sb_add(&b, "%s%s_%s_addr", any ? " | " : "", x->lx[i].id,
					       in_port(l->op, k, port, sizeof port));
					any = true;
				}
		}
		if (p == m->output) {
			sb_add(&b, "%sout_raddr", any ? " | " : "");
			any = true;
		}
		if (!any)
			sb_add(&b, "%d'd0", hw_of(x, p)->has_buf ? hw_of(x, p)->buf.aw : hw_of(x, p)->rom[0].aw);
		sb_add(&b, ";\n");
	}
	sb_add(&b, "\nassign out_data = %s_rdata;\nassign done = %s_done;\n", x->lx[m->output].id,
	       last >= 0 ? x->lx[last].id : "1'b0");

	struct mpqx_tmpl *t;
	int rc = b.oom ? err_set(x->err, MPQX_ENOMEM, "out of memory") : load_tmpl(x, "top.v", &t);
	if (rc) {
		sb_free(&b);
		return rc;
	}
	char what[512];
	snprintf(what, sizeof what, "%s, exported by mpqx %s: %ld cycles per window", m->name, MPQX_VERSION,
		 x->cycles);
	set_s(x, t, &rc, "MODULE", top);
	set_s(x, t, &rc, "MODEL", what);
	set_i(x, t, &rc, "IN_AW", in >= 0 ? hw_of(x, in)->buf.aw : 1);
	set_i(x, t, &rc, "IN_B", in >= 0 ? x->q->l[in].out.bits : 1);
	set_i(x, t, &rc, "OUT_AW", hw_of(x, m->output)->buf.aw);
	set_i(x, t, &rc, "OUT_B", x->q->l[m->output].out.bits);
	set_s(x, t, &rc, "LAYERS", sb_str(&b));
	if (!rc) {
		char rel[200];
		snprintf(rel, sizeof rel, "rtl/%s.v", top);
		rc = render_to(x, t, rel);
	}
	tmpl_free(t);
	sb_free(&b);
	return rc;
}

/* ---- vectors, testbench ---- */

static int input_layer(const struct mpqx_model *m)
{
	for (int i = 0; i < m->n_layers; i++)
		if (m->layers[i].op == MPQX_OP_INPUT)
			return i;
	return -1;
}

/* Runs the integer model on the windows and writes vec/input.hex, vec/expected.hex and vec/layers.txt
 * (every buffer and constant, in the testbench's dump format). */
static int write_vectors(struct ctx *x)
{
	const struct mpqx_model *m = x->m;
	int L = m->n_layers, in = input_layer(m), rc = MPQX_OK;
	int16_t **out = calloc((size_t)L, sizeof *out);
	struct sbuf vin = {0}, vexp = {0}, lay = {0};
	for (int i = 0; out && i < L; i++)
		if (!(out[i] = malloc(sizeof(int16_t) * (size_t)m->layers[i].rows * (size_t)m->layers[i].cols)))
			rc = MPQX_ENOMEM;
	if (!out)
		rc = MPQX_ENOMEM;
	for (int w = 0; !rc && w < x->windows; w++) {
		rc = ieval_window(x->q, dataset_window(x->d, MPQX_TEST, w), out, NULL);
		if (rc)
			break;
		long ni = (long)m->layers[in].rows * m->layers[in].cols;
		for (long k = 0; k < ni; k++)
			hex_word(&vin, out[in][k], x->q->l[in].out.bits);
		long no = (long)m->layers[m->output].rows * m->layers[m->output].cols;
		for (long k = 0; k < no; k++)
			hex_word(&vexp, out[m->output][k], x->q->l[m->output].out.bits);
		sb_add(&lay, "window %d\n", w);
		for (int i = 0; i < L; i++) {
			long n = (long)m->layers[i].rows * m->layers[i].cols;
			sb_add(&lay, "%s", m->layers[i].name);
			for (long k = 0; k < n; k++)
				sb_add(&lay, " %d", out[i][k]);
			sb_add(&lay, "\n");
		}
		if (vin.oom || vexp.oom || lay.oom)
			rc = MPQX_ENOMEM;
	}
	if (rc)
		err_set(x->err, rc, "out of memory");
	if (!rc)
		rc = write_sb(x, "vec/input.hex", &vin);
	if (!rc)
		rc = write_sb(x, "vec/expected.hex", &vexp);
	if (!rc)
		rc = write_sb(x, "vec/layers.txt", &lay);
	for (int i = 0; out && i < L; i++)
		free(out[i]);
	free(out);
	sb_free(&vin);
	sb_free(&vexp);
	sb_free(&lay);
	return rc;
}

static int write_tb(struct ctx *x, const char *top)
{
	const struct mpqx_model *m = x->m;
	int in = input_layer(m);
	struct sbuf need = {0}, dump = {0};
	for (int i = 0; i < m->n_layers; i++) {
		const struct layer_x *L = &x->lx[i];
		for (int r = 0; r < L->hw.n_roms; r++)
			sb_add(&need, "need(\"%s\");\n", L->rom_file[r]);
		long n = (long)m->layers[i].rows * m->layers[i].cols;
		sb_add(&dump,
		       "$fwrite(dump, \"%s\");\n"
		       "for (i = 0; i < %ld; i = i + 1)\n"
		       "\t$fwrite(dump, \" %%0d\", $signed(dut.u_%s.%s.mem[i]));\n"
		       "$fwrite(dump, \"\\n\");\n",
		       m->layers[i].name, n, L->id, L->hw.has_buf ? "u_buf" : "u_rom");
	}
	struct mpqx_tmpl *t;
	int rc = (need.oom || dump.oom) ? err_set(x->err, MPQX_ENOMEM, "out of memory") : load_tmpl(x, "tb.v", &t);
	if (rc) {
		sb_free(&need);
		sb_free(&dump);
		return rc;
	}
	char tb[120];
	lib_module(x, "tb", tb, sizeof tb);
	const struct mpqx_layer *li = &m->layers[in], *lo = &m->layers[m->output];
	set_s(x, t, &rc, "MODULE", tb);
	set_s(x, t, &rc, "TOP", top);
	set_i(x, t, &rc, "WINDOWS", x->windows);
	set_i(x, t, &rc, "IN_WORDS", (long long)li->rows * li->cols);
	set_i(x, t, &rc, "OUT_WORDS", (long long)lo->rows * lo->cols);
	set_i(x, t, &rc, "IN_AW", hw_of(x, in)->buf.aw);
	set_i(x, t, &rc, "IN_B", x->q->l[in].out.bits);
	set_i(x, t, &rc, "OUT_AW", hw_of(x, m->output)->buf.aw);
	set_i(x, t, &rc, "OUT_B", x->q->l[m->output].out.bits);
	set_i(x, t, &rc, "MAX_CYCLES", 2 * x->cycles + 1000);
	set_q(x, t, &rc, "IN_FILE", "vec/input.hex");
	set_q(x, t, &rc, "EXP_FILE", "vec/expected.hex");
	set_q(x, t, &rc, "DUMP_FILE", "sim/dump.txt");
	set_s(x, t, &rc, "NEED", sb_str(&need));
	set_s(x, t, &rc, "DUMP", sb_str(&dump));
	if (!rc) {
		char rel[200];
		snprintf(rel, sizeof rel, "tb/%s.v", tb);
		rc = render_to(x, t, rel);
	}
	tmpl_free(t);
	sb_free(&need);
	sb_free(&dump);
	return rc;
}

/* ---- scripts and manifest ---- */

static int write_scripts(struct ctx *x, const char *top)
{
	char tb[120];
	lib_module(x, "tb", tb, sizeof tb);
	struct sbuf b = {0};
	sb_add(&b,
	       "#!/bin/sh\n"
	       "# Simulates the exported design with Icarus Verilog: %d test windows against mpqx's integer model.\n"
	       "# The testbench ends with 'RESULT windows=N mismatches=M cycles=C' and exits non-zero on any\n"
	       "# mismatch or missing file; sim/dump.txt holds every layer's buffer per window.\n"
	       "set -e\n"
	       "cd \"$(dirname \"$0\")\"\n"
	       "mkdir -p sim\n"
	       "iverilog -g2005 -Wall -o sim/%s.vvp -s %s rtl/*.v tb/%s.v\n"
	       "exec vvp -n sim/%s.vvp\n",
	       x->windows, tb, tb, tb, tb);
	int rc = write_sb(x, "run_sim.sh", &b);
	sb_free(&b);
	if (!rc) {
		char path[PATH_LEN];
		if (fits(snprintf(path, sizeof path, "%s/run_sim.sh", x->root), sizeof path))
			chmod(path, 0755);
	}
	if (rc)
		return rc;
	sb_add(&b,
	       "# Yosys synthesis of the exported design for a Xilinx 7-series part (run from this directory):\n"
	       "#   yosys -s synth.ys\n");
	for (int i = 0; i < x->n_files; i++) {
		const char *f = cJSON_GetArrayItem(x->files, i)->valuestring;
		if (strncmp(f, "rtl/", 4) == 0)
			sb_add(&b, "read_verilog %s\n", f);
	}
	sb_add(&b, "synth_xilinx -family xc7 -noiopad -noclkbuf -top %s\nstat\n", top);
	rc = write_sb(x, "synth.ys", &b);
	sb_free(&b);
	return rc;
}

static int write_manifest(struct ctx *x, const char *top)
{
	const struct mpqx_model *m = x->m;
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "format", EXPORT_FORMAT);
	cJSON_AddNumberToObject(o, "version", EXPORT_VERSION);
	cJSON *ver = cJSON_AddObjectToObject(o, "versions");
	cJSON_AddStringToObject(ver, "mpqx", MPQX_VERSION);
	cJSON_AddNumberToObject(ver, "model_format", 1);
	cJSON_AddNumberToObject(ver, "config_format", 1);
	cJSON_AddNumberToObject(ver, "templates", TEMPLATES_VERSION);
	cJSON *mo = cJSON_AddObjectToObject(o, "model");
	cJSON_AddStringToObject(mo, "name", m->name);
	cJSON_AddStringToObject(mo, "path", m->path);
	cJSON *co = cJSON_AddObjectToObject(o, "config");
	if (x->o->config_path)
		cJSON_AddStringToObject(co, "path", x->o->config_path);
	else
		cJSON_AddNullToObject(co, "path");
	char *cj = config_to_json(m, x->c);
	cJSON *cv = cj ? cJSON_Parse(cj) : NULL;
	free(cj);
	if (cv)
		cJSON_AddItemToObject(co, "settings", cv);
	cJSON_AddStringToObject(o, "device", x->c->device);
	cJSON_AddStringToObject(o, "top", top);
	char tb[120];
	cJSON_AddStringToObject(o, "testbench", lib_module(x, "tb", tb, sizeof tb));
	cJSON_AddNumberToObject(o, "windows", x->windows);
	cJSON_AddStringToObject(o, "windows_from", "the first test windows");
	cJSON_AddNumberToObject(o, "cycles", (double)x->cycles);
	cJSON *ls = cJSON_AddArrayToObject(o, "layers");
	for (int i = 0; i < m->n_layers; i++) {
		const struct mpqx_layer *l = &m->layers[i];
		const struct layer_x *L = &x->lx[i];
		cJSON *e = cJSON_CreateObject();
		cJSON_AddStringToObject(e, "name", l->name);
		cJSON_AddStringToObject(e, "op", model_op_name(l->op));
		cJSON_AddStringToObject(e, "module", L->module);
		cJSON_AddNumberToObject(e, "a_bits", x->q->l[i].out.bits);
		if (model_layer_has_weights(l))
			cJSON_AddNumberToObject(e, "w_bits", x->q->l[i].w.bits);
		cJSON_AddNumberToObject(e, "cycles", (double)L->hw.cycles);
		if (L->hw.has_buf) {
			cJSON *bo = cJSON_AddObjectToObject(e, "buffer");
			cJSON_AddNumberToObject(bo, "words", (double)L->hw.buf.words);
			cJSON_AddNumberToObject(bo, "depth", (double)L->hw.buf.depth);
			cJSON_AddNumberToObject(bo, "width", L->hw.buf.width);
			cJSON_AddStringToObject(bo, "storage", storage_word(L, false));
			cJSON_AddStringToObject(bo, "configured", config_storage_name(x->c->layers[i].buffer, false));
		}
		cJSON *ra = cJSON_AddArrayToObject(e, "roms");
		for (int r = 0; r < L->hw.n_roms; r++) {
			static const char *const role[] = {"buffer", "weights", "bias", "exp", "const"};
			cJSON *ro = cJSON_CreateObject();
			cJSON_AddStringToObject(ro, "role", role[L->hw.rom[r].role]);
			cJSON_AddStringToObject(ro, "file", L->rom_file[r]);
			cJSON_AddNumberToObject(ro, "words", (double)L->hw.rom[r].words);
			cJSON_AddNumberToObject(ro, "depth", (double)L->hw.rom[r].depth);
			cJSON_AddNumberToObject(ro, "width", L->hw.rom[r].width);
			cJSON_AddStringToObject(ro, "storage", storage_word(L, true));
			cJSON_AddStringToObject(ro, "configured", config_storage_name(x->c->layers[i].rom, true));
			cJSON_AddItemToArray(ra, ro);
		}
		cJSON_AddItemToArray(ls, e);
	}
	cJSON_AddItemToObject(o, "files", cJSON_Duplicate(x->files, true));
	char *s = cJSON_Print(o);
	cJSON_Delete(o);
	if (!s)
		return err_set(x->err, MPQX_ENOMEM, "out of memory");
	size_t n = strlen(s);
	char *t = realloc(s, n + 2);
	if (!t) {
		free(s);
		return err_set(x->err, MPQX_ENOMEM, "out of memory");
	}
	t[n] = '\n';
	t[n + 1] = '\0';
	int rc = write_file(x, "manifest.json", t, n + 1);
	free(t);
	return rc;
}

/* ---- directories ---- */

/* Removes a tree without following symbolic links. */
static int remove_tree(const char *path)
{
	struct stat st;
	if (lstat(path, &st) != 0)
		return errno == ENOENT ? 0 : -1;
	if (!S_ISDIR(st.st_mode))
		return unlink(path);
	DIR *d = opendir(path);
	if (!d)
		return -1;
	struct dirent *e;
	int rc = 0;
	while ((e = readdir(d))) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		char sub[PATH_LEN];
		if (snprintf(sub, sizeof sub, "%s/%s", path, e->d_name) >= (int)sizeof sub || remove_tree(sub) != 0)
			rc = -1;
	}
	closedir(d);
	return rc == 0 ? rmdir(path) : rc;
}

/* 1 when dir holds an earlier export, 0 when it is empty, -1 when it must not be replaced. */
static int replaceable(const char *dir)
{
	char path[PATH_LEN];
	char *text;
	struct mpqx_err e;
	if (!fits(snprintf(path, sizeof path, "%s/manifest.json", dir), sizeof path))
		return -1;
	if (fileio_read(path, &text, NULL, &e) == MPQX_OK) {
		cJSON *j = cJSON_Parse(text);
		free(text);
		const cJSON *f = cJSON_GetObjectItemCaseSensitive(j, "format");
		int ok = cJSON_IsString(f) && strcmp(f->valuestring, EXPORT_FORMAT) == 0;
		cJSON_Delete(j);
		return ok ? 1 : -1;
	}
	DIR *d = opendir(dir);
	if (!d)
		return -1;
	struct dirent *ent;
	int n = 0;
	while ((ent = readdir(d)))
		if (strcmp(ent->d_name, ".") != 0 && strcmp(ent->d_name, "..") != 0)
			n++;
	closedir(d);
	return n == 0 ? 0 : -1;
}

static int make_dirs(struct ctx *x)
{
	static const char *const sub[] = {"rtl", "tb", "mem", "vec"};
	for (size_t i = 0; i < sizeof sub / sizeof sub[0]; i++) {
		char p[PATH_LEN];
		if (!fits(snprintf(p, sizeof p, "%s/%s", x->root, sub[i]), sizeof p) || mkdir(p, 0755) != 0)
			return err_set(x->err, MPQX_EIO, "%s: cannot create: %s", p, strerror(errno));
	}
	return MPQX_OK;
}

static int fill(struct ctx *x, struct mpqx_export_info *info)
{
	const struct mpqx_model *m = x->m;
	int rc = hw_check(x->q, x->err);
	if (rc)
		return rc;
	if (input_layer(m) < 0)
		return err_set(x->err, MPQX_EINPUT, "%s: the model has no input layer", m->path);
	for (int i = 0; i < m->n_layers; i++) {
		hw_layer(x->q, i, &x->lx[i].hw);
		x->lx[i].buf = estimate_resolve_buffer(x->q, x->c, i);
		x->lx[i].rom = estimate_resolve_rom(x->q, x->c, i);
	}
	x->cycles = hw_cycles(x->q);
	make_ids(x);
	char top[120];
	if ((rc = make_dirs(x)) || (rc = write_mems(x)) || (rc = write_libs(x)))
		return rc;
	for (int i = 0; i < m->n_layers; i++)
		if ((rc = write_layer(x, i)))
			return rc;
	if ((rc = write_top(x, top, sizeof top)) || (rc = write_tb(x, top)) || (rc = write_vectors(x)) ||
	    (rc = write_scripts(x, top)) || (rc = write_manifest(x, top)))
		return rc;
	if (info) {
		info->windows = x->windows;
		info->files = x->n_files;
		info->cycles = x->cycles;
		snprintf(info->top, sizeof info->top, "%s", top);
	}
	return MPQX_OK;
}

static int valid_prefix(const char *p)
{
	if (!p[0] || strlen(p) > 32 || !((p[0] >= 'a' && p[0] <= 'z') || (p[0] >= 'A' && p[0] <= 'Z') || p[0] == '_'))
		return 0;
	for (; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '_'))
			return 0;
	return 1;
}

int export_write(const char *dir, const struct mpqx_qmodel *q, const struct mpqx_config *c,
		 const struct mpqx_dataset *d, const struct mpqx_export_opts *o, struct mpqx_export_info *info,
		 struct mpqx_err *err)
{
	struct ctx x = {.q = q, .m = q->m, .c = c, .d = d, .o = o, .err = err};
	x.prefix = o->prefix ? o->prefix : "mpqx_";
	if (!valid_prefix(x.prefix))
		return err_set(err, MPQX_EINPUT, "module prefix '%s': expected a Verilog identifier", x.prefix);
	if (o->windows < 1)
		return err_set(err, MPQX_EINPUT, "windows: expected at least 1, got %d", o->windows);
	x.windows = o->windows < d->windows[MPQX_TEST] ? o->windows : d->windows[MPQX_TEST];
	if (x.windows < 1)
		return err_set(err, MPQX_EINPUT, "%s: the test split has no windows", q->m->path);
	snprintf(x.tdir, sizeof x.tdir, "%s", o->templates ? o->templates : export_templates_dir());

	/* The destination: new, empty, or an earlier export. */
	size_t dl = strlen(dir);
	while (dl > 1 && dir[dl - 1] == '/')
		dl--;
	char dest[PATH_LEN], parent[PATH_LEN], base[PATH_LEN];
	if (dl == 0 || dl >= sizeof dest - 64)
		return err_set(err, MPQX_EINPUT, "%s: not a usable directory name", dir);
	memcpy(dest, dir, dl);
	dest[dl] = '\0';
	fileio_dirname(dest, parent, sizeof parent);
	const char *slash = strrchr(dest, '/');
	snprintf(base, sizeof base, "%s", slash ? slash + 1 : dest);
	struct stat st;
	int existing = -2; /* none */
	if (stat(dest, &st) == 0) {
		if (!S_ISDIR(st.st_mode))
			return err_set(err, MPQX_EINPUT, "%s: exists and is not a directory", dest);
		existing = replaceable(dest);
		if (existing < 0)
			return err_set(err, MPQX_EINPUT,
				       "%s: exists and is not an mpqx export (no manifest.json of format %s); "
				       "refusing to overwrite it",
				       dest, EXPORT_FORMAT);
	}
	if (snprintf(x.root, sizeof x.root, "%s/.%s.tmp-XXXXXX", parent, base) >= (int)sizeof x.root)
		return err_set(err, MPQX_EINPUT, "%s: path too long", dest);
	if (!mkdtemp(x.root))
		return err_set(err, MPQX_EIO, "%s: cannot create a temporary directory: %s", parent, strerror(errno));
	chmod(x.root, 0755);
	x.lx = calloc((size_t)q->m->n_layers, sizeof *x.lx);
	x.files = cJSON_CreateArray();
	int rc = (!x.lx || !x.files) ? err_set(err, MPQX_ENOMEM, "out of memory") : fill(&x, info);
	free(x.lx);
	cJSON_Delete(x.files);
	if (rc) {
		remove_tree(x.root);
		return rc;
	}
	/* Swap it in: an earlier export (or an empty directory) moves aside first, then goes. */
	char old[PATH_LEN] = "";
	if (existing >= 0) {
		if (!fits(snprintf(old, sizeof old, "%s/.%s.old-XXXXXX", parent, base), sizeof old) || !mkdtemp(old) ||
		    rename(dest, old) != 0) {
			int e = errno;
			if (old[0])
				rmdir(old);
			remove_tree(x.root);
			return err_set(err, MPQX_EIO, "%s: cannot move the earlier export aside: %s", dest, strerror(e));
		}
	}
	if (rename(x.root, dest) != 0) {
		int e = errno;
		if (old[0] && existing >= 0)
			rename(old, dest);
		remove_tree(x.root);
		return err_set(err, MPQX_EIO, "%s: cannot rename the export into place: %s", dest, strerror(e));
	}
	if (existing >= 0)
		remove_tree(old);
	int dfd = open(parent, O_RDONLY | O_DIRECTORY);
	if (dfd >= 0) {
		fsync(dfd);
		close(dfd);
	}
	return MPQX_OK;
}

/* ---- simulation ---- */

static int run_script(const char *dir, const char *log)
{
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (fd < 0)
			_exit(126);
		dup2(fd, 1);
		dup2(fd, 2);
		close(fd);
		int nul = open("/dev/null", O_RDONLY);
		if (nul >= 0) {
			dup2(nul, 0);
			close(nul);
		}
		char script[PATH_LEN];
		snprintf(script, sizeof script, "%s/run_sim.sh", dir);
		execl("/bin/sh", "sh", script, (char *)NULL);
		_exit(127);
	}
	int status;
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* Next line of *p (NUL-terminated in place), or NULL at the end. */
static char *next_line(char **p)
{
	char *s = *p;
	if (!s || !*s)
		return NULL;
	char *nl = strchr(s, '\n');
	if (nl) {
		*nl = '\0';
		*p = nl + 1;
	} else {
		*p = s + strlen(s);
	}
	return s;
}

/* Compares the dump with the integer model's buffers; fills the divergence fields of r. */
static void compare_dump(const char *dir, struct mpqx_sim_result *r)
{
	char pd[PATH_LEN], pe[PATH_LEN];
	snprintf(pd, sizeof pd, "%s/sim/dump.txt", dir);
	snprintf(pe, sizeof pe, "%s/vec/layers.txt", dir);
	char *dump = NULL, *want = NULL;
	struct mpqx_err e;
	r->dump_complete = false;
	if (fileio_read(pd, &dump, NULL, &e) || fileio_read(pe, &want, NULL, &e)) {
		free(dump);
		return;
	}
	char *pdump = dump, *pwant = want, *ld, *lw;
	int window = -1, pos = 0, best = -1;
	bool complete = true;
	while ((lw = next_line(&pwant))) {
		ld = next_line(&pdump);
		if (!ld) {
			complete = false;
			break;
		}
		if (strncmp(lw, "window ", 7) == 0) {
			window = atoi(lw + 7);
			pos = 0;
			if (strcmp(ld, lw) != 0) {
				complete = false;
				break;
			}
			continue;
		}
		pos++;
		/* "NAME v v v": names first, then the values one by one. */
		char *sw, *sd;
		char *nw = strtok_r(lw, " ", &sw), *nd = strtok_r(ld, " ", &sd);
		if (!nw || !nd || strcmp(nw, nd) != 0) {
			complete = false;
			break;
		}
		long idx = 0;
		for (;;) {
			char *vw = strtok_r(NULL, " ", &sw), *vd = strtok_r(NULL, " ", &sd);
			if (!vw && !vd)
				break;
			if (!vw || !vd) {
				complete = false;
				break;
			}
			if (strcmp(vw, vd) != 0 && (best < 0 || pos < best)) {
				best = pos;
				r->diverged = true;
				snprintf(r->layer, sizeof r->layer, "%s", nw);
				r->window = window;
				r->index = idx;
				r->got = strtol(vd, NULL, 10);
				r->want = strtol(vw, NULL, 10);
				/* x or z in the simulation reads as 0 above; keep the text visible in the log only */
				break;
			}
			if (strcmp(vw, vd) != 0)
				break;
			idx++;
		}
		if (!complete)
			break;
	}
	r->dump_complete = complete;
	free(dump);
	free(want);
}

static long manifest_cycles(const char *dir)
{
	char path[PATH_LEN], *text;
	struct mpqx_err e;
	snprintf(path, sizeof path, "%s/manifest.json", dir);
	if (fileio_read(path, &text, NULL, &e))
		return -1;
	cJSON *j = cJSON_Parse(text);
	free(text);
	const cJSON *c = cJSON_GetObjectItemCaseSensitive(j, "cycles");
	long v = cJSON_IsNumber(c) ? (long)c->valuedouble : -1;
	cJSON_Delete(j);
	return v;
}

int export_simulate(const char *dir, struct mpqx_sim_result *r, struct mpqx_err *err)
{
	memset(r, 0, sizeof *r);
	r->expected_cycles = manifest_cycles(dir);
	if (r->expected_cycles < 0)
		return err_set(err, MPQX_EINPUT, "%s: no readable manifest.json: not an mpqx export", dir);
	char simdir[PATH_LEN];
	snprintf(simdir, sizeof simdir, "%s/sim", dir);
	if (mkdir(simdir, 0755) != 0 && errno != EEXIST)
		return err_set(err, MPQX_EIO, "%s: cannot create: %s", simdir, strerror(errno));
	char dump[PATH_LEN];
	if (!fits(snprintf(r->log, sizeof r->log, "%s/sim.log", simdir), sizeof r->log) ||
	    !fits(snprintf(dump, sizeof dump, "%s/dump.txt", simdir), sizeof dump))
		return err_set(err, MPQX_EINPUT, "%s: path too long", dir);
	unlink(dump);
	r->status = run_script(dir, r->log);
	if (r->status < 0)
		return err_set(err, MPQX_EIO, "%s: cannot run the simulation: %s", dir, strerror(errno));
	char *text;
	if (fileio_read(r->log, &text, NULL, err))
		return err->code;
	for (char *p = text, *line; (line = next_line(&p));)
		if (strncmp(line, "RESULT ", 7) == 0 &&
		    sscanf(line, "RESULT windows=%d mismatches=%d cycles=%ld", &r->windows, &r->mismatches,
			   &r->cycles) == 3) {
			r->have_result = true;
			snprintf(r->result, sizeof r->result, "%s", line);
		}
	free(text);
	if (!r->have_result) {
		if (r->status == 127)
			return err_set(err, MPQX_EIO, "%s: iverilog or vvp is not installed (see %s)", dir, r->log);
		return err_set(err, MPQX_EIO, "%s: the simulation ended without a RESULT line (exit status %d); see %s",
			       dir, r->status, r->log);
	}
	compare_dump(dir, r);
	return MPQX_OK;
}

bool export_sim_ok(const struct mpqx_sim_result *r)
{
	return r->have_result && r->status == 0 && r->mismatches == 0 && r->dump_complete && !r->diverged &&
	       r->cycles == r->expected_cycles;
}

void export_sim_divergence(const struct mpqx_sim_result *r, char *buf, size_t size)
{
	if (r->diverged)
		snprintf(buf, size, "first differing buffer: layer %s, window %d, index %ld: simulated %ld, integer model %ld",
			 r->layer, r->window, r->index, r->got, r->want);
	else if (r->have_result && !r->dump_complete)
		snprintf(buf, size, "the buffer dump is incomplete or does not match the layer list");
	else
		snprintf(buf, size, "%s", "");
}

int export_session(const struct mpqx_session *s, const char *dir, int windows, bool sim, char *result,
		   size_t result_size, struct mpqx_err *err)
{
	struct mpqx_export_opts o = {.windows = windows > 0 ? windows : MPQX_EXPORT_WINDOWS};
	struct mpqx_export_info info;
	if (result_size)
		result[0] = '\0';
	int rc = export_write(dir, s->q, &s->cfg, s->data, &o, &info, err);
	if (rc)
		return rc;
	if (!sim) {
		snprintf(result, result_size, "%d files, %d windows, %ld cycles per window", info.files, info.windows,
			 info.cycles);
		return MPQX_OK;
	}
	struct mpqx_sim_result r;
	if ((rc = export_simulate(dir, &r, err)))
		return rc;
	snprintf(result, result_size, "%s", r.result);
	if (export_sim_ok(&r))
		return MPQX_OK;
	char why[400];
	export_sim_divergence(&r, why, sizeof why);
	if (r.mismatches)
		return err_set(err, MPQX_EINPUT, "%d output values differ%s%s", r.mismatches, why[0] ? "; " : "", why);
	if (why[0])
		return err_set(err, MPQX_EINPUT, "%s", why);
	if (r.cycles != r.expected_cycles)
		return err_set(err, MPQX_EINPUT, "%ld cycles simulated, %ld computed", r.cycles, r.expected_cycles);
	return err_set(err, MPQX_EINPUT, "the testbench exited with status %d (see %s)", r.status, r.log);
}
