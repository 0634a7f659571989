/* Verilog export (include/mpqx/export.h, doc/hardware.md). The layout of a design comes from
 * include/mpqx/hw.h; this file only renders it. */
#include "mpqx/export.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "mpqx/estimate.h"
#include "mpqx/fileio.h"
#include "mpqx/hw.h"
#include "mpqx/ieval.h"
#include "mpqx/op.h"
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
	enum mpqx_mult mult;        /* resolved */
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

const char export_ice40_coarse[] =
	"# synth_ice40's coarse step without ice40_dsp (Yosys 0.23 asserts in it on narrow products;\n"
	"# YosysHQ/yosys#4155, fixed in later releases)\n"
	"opt_expr\nopt_clean\ncheck\nopt -nodffe -nosdff\nfsm\nopt\nwreduce\npeepopt\nopt_clean\nshare\n"
	"techmap -map +/cmp2lut.v -D LUT_WIDTH=4\nopt_expr\nopt_clean\nmemory_dff\nwreduce t:$mul\n"
	"techmap -map +/mul2dsp.v -map +/ice40/dsp_map.v -D DSP_A_MAXWIDTH=16 -D DSP_B_MAXWIDTH=16 "
	"-D DSP_A_MINWIDTH=2 -D DSP_B_MINWIDTH=2 -D DSP_Y_MINWIDTH=11 -D DSP_NAME=$__MUL16X16\n"
	"select a:mul2dsp\nsetattr -unset mul2dsp\nopt_expr -fine\nwreduce\nselect -clear\n"
	"chtype -set $mul t:$__soft_mul\nalumacc\nopt\nmemory -nomap\nopt_clean\n";

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

/* The model's name for a Verilog comment: printable ASCII only. */
static const char *comment_name(const struct ctx *x, char *buf, size_t size)
{
	size_t i = 0;
	for (const char *p = x->m->name; *p && i + 1 < size; p++)
		buf[i++] = (*p >= ' ' && *p <= '~') ? *p : '?';
	buf[i] = '\0';
	return buf;
}

/* Renders t into rel below a line saying where it came from. */
static int render_to(struct ctx *x, struct mpqx_tmpl *t, const char *tname, const char *rel)
{
	char *out;
	size_t len;
	int rc = tmpl_render(t, &out, &len, x->err);
	if (rc)
		return rc;
	struct sbuf b = {0};
	char name[MPQX_NAME_MAX];
	sb_add(&b, "// Generated by mpqx %s from hdl_templates/%s for model '%s'; re-export rather than edit.\n%s",
	       MPQX_VERSION, tname, comment_name(x, name, sizeof name), out);
	free(out);
	rc = write_sb(x, rel, &b);
	sb_free(&b);
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


/* ---- naming ---- */


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
		/* Two names may map to one identifier ("a.b", "a_b"): number the later one. A layer called "in"
		 * or "out" would declare the top's own nets (out_raddr): number it too. */
		bool taken = strcmp(id, "in") == 0 || strcmp(id, "out") == 0;
		for (int j = 0; j < i && !taken; j++)
			taken = strcmp(x->lx[j].id, id) == 0;
		if (taken)
			snprintf(id + k, 12, "_%d", i);
		snprintf(x->lx[i].module, sizeof x->lx[i].module, "%slayer_%s", x->prefix, id);
	}
}

static bool ice40(const struct ctx *x)
{
	return x->o->device && x->o->device->fam == MPQX_FAMILY_ICE40;
}

/* The buffer's module: block RAM (EBR on iCE40), distributed (LUT RAM on xc7, flip-flops "regs" on
 * iCE40) or SPRAM. */
static const char *ram_module(struct ctx *x, enum mpqx_storage s, char *buf, size_t size)
{
	snprintf(buf, size, "%sram_%s", x->prefix,
		 s == MPQX_STORE_BLOCK ? "block" : s == MPQX_STORE_SPRAM ? "spram" : ice40(x) ? "regs" : "distributed");
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
			static const char *const suffix[] = {"", "_w", "_b", "_e", "", "_t", "_s"};
			snprintf(L->rom_file[r], sizeof L->rom_file[r], "mem/%s%s.mem", L->id, suffix[mm->role]);
			switch (mm->role) {
			case MPQX_HW_WEIGHTS:
				rc = write_rom(x, L->rom_file[r], mm, ql->qw, NULL);
				break;
			case MPQX_HW_BIAS:
				rc = write_rom(x, L->rom_file[r], mm, NULL, ql->qb);
				break;
			case MPQX_HW_EXP:
			case MPQX_HW_TABLE:
				rc = write_rom(x, L->rom_file[r], mm, NULL, ql->sm_table);
				break;
			case MPQX_HW_CONST:
				rc = write_rom(x, L->rom_file[r], mm, ql->qconst, NULL);
				break;
			case MPQX_HW_SCALE:
				rc = write_rom(x, L->rom_file[r], mm, NULL, ql->wcw);
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

/* The layer's module from its op's template: the placeholders every layer has here, the op's own from its
 * class (op.h). */
static int write_layer(struct ctx *x, int li)
{
	const struct mpqx_model *m = x->m;
	const struct mpqx_layer *l = &m->layers[li];
	const struct mpqx_op_class *oc = op_class(l->op);
	const struct mpqx_qlayer *ql = &x->q->l[li];
	struct layer_x *L = &x->lx[li];
	const struct mpqx_hw_layer *h = &L->hw;
	struct mpqx_tmpl *t;
	int rc = load_tmpl(x, oc->tmpl, &t);
	if (rc)
		return rc;
	char ram[120], rom[120], rs[120], dv[120], lib[120];
	ram_module(x, L->buf, ram, sizeof ram);
	rom_module(x, L->rom, rom, sizeof rom);
	bool logic = L->mult == MPQX_MULT_LOGIC;
	lib_module(x, logic ? "rescale_logic" : "rescale", rs, sizeof rs);
	lib_module(x, "div", dv, sizeof dv);
	int p0 = l->n_inputs ? l->inputs[0] : -1, p1 = l->n_inputs > 1 ? l->inputs[1] : -1;
	const struct mpqx_qparam *py = &ql->out;
	int mw = quant_bitlen((uint64_t)ql->rs[0].m);
	if (mw < 1)
		mw = 1;
	const char *rom_file[MPQX_HW_MAX_ROMS];
	for (int r = 0; r < MPQX_HW_MAX_ROMS; r++)
		rom_file[r] = L->rom_file[r];
	struct mpqx_op_bind b = {.m = m, .q = x->q, .li = li, .l = l, .ql = ql, .h = h, .p0 = p0, .p1 = p1,
				 .px = p0 >= 0 ? &x->q->l[p0].out : NULL, .pb = p1 >= 0 ? &x->q->l[p1].out : NULL,
				 .mw = mw, .rom = rom, .rescale = rs, .div = dv, .rom_file = rom_file, .t = t,
				 .logic = logic, .err = x->err, .rc = rc};

	op_set_s(&b, "MODULE", L->module);
	if (h->has_buf) {
		op_set_s(&b, "RAM", ram);
	} else {
		op_set_s(&b, "ROM", rom);
		op_set_q(&b, "INIT", L->rom_file[0]);
	}
	if (oc->tmpl_lib) {
		char name[32];
		size_t k = 0;
		for (; oc->tmpl_lib[k] && k + 1 < sizeof name; k++)
			name[k] = (char)(oc->tmpl_lib[k] >= 'a' && oc->tmpl_lib[k] <= 'z' ? oc->tmpl_lib[k] - 'a' + 'A'
											      : oc->tmpl_lib[k]);
		name[k] = '\0';
		bool rsl = logic && strcmp(oc->tmpl_lib, "rescale") == 0;
		op_set_s(&b, name, lib_module(x, rsl ? "rescale_logic" : oc->tmpl_lib, lib, sizeof lib));
	}
	/* YB, YAW for all; YZ where a rescale writes the output. */
	op_set_i(&b, "YB", py->bits);
	if (oc->tmpl_flags & MPQX_OP_TMPL_YAW)
		op_set_i(&b, "YAW", h->has_buf ? h->buf.aw : h->rom[0].aw);
	if (oc->tmpl_flags & MPQX_OP_TMPL_YZ)
		op_set_i(&b, "YZ", py->z);
	if (oc->bind)
		oc->bind(&b);
	rc = b.rc;
	if (!rc) {
		char rel[200];
		snprintf(rel, sizeof rel, "rtl/%s.v", L->module);
		rc = render_to(x, t, oc->tmpl, rel);
	}
	tmpl_free(t);
	return rc;
}

/* ---- library modules ---- */

static int write_lib(struct ctx *x, const char *tname, const char *module, const char *style, int logic)
{
	struct mpqx_tmpl *t;
	int rc = load_tmpl(x, tname, &t);
	if (rc)
		return rc;
	set_s(x, t, &rc, "MODULE", module);
	if (style)
		set_q(x, t, &rc, "STYLE", style);
	if (strcmp(tname, "rom.v") == 0 || strcmp(tname, "ram.v") == 0) {
		/* a ROM in logic and a distributed RAM keep their own module on xc7 (doc/hardware.md, "What
		 * flattening adds"; iCE40's flow is not measured so) */
		bool keep = !ice40(x) && (strcmp(style, "logic") == 0 || strcmp(style, "distributed") == 0);
		set_s(x, t, &rc, "KEEP", keep ? "(* keep_hierarchy *)" : "");
	}
	if (strcmp(tname, "rescale.v") == 0) {
		char rq[120];
		set_s(x, t, &rc, "REQUANT", lib_module(x, "requant", rq, sizeof rq));
		set_s(x, t, &rc, "LOGIC", logic ? "1" : "0");
	}
	if (!rc) {
		char rel[200];
		snprintf(rel, sizeof rel, "rtl/%s.v", module);
		rc = render_to(x, t, tname, rel);
	}
	tmpl_free(t);
	return rc;
}

static int write_libs(struct ctx *x)
{
	bool ram[MPQX_STORE_COUNT] = {false}, rom[2] = {false, false}, rescale[2] = {false, false}, requant = false,
	     div = false;
	for (int i = 0; i < x->m->n_layers; i++) {
		const struct layer_x *L = &x->lx[i];
		const struct mpqx_op_class *oc = op_class(x->m->layers[i].op);
		if (L->hw.has_buf)
			ram[L->buf] = true;
		if (L->hw.n_roms)
			rom[L->rom == MPQX_STORE_BLOCK] = true;
		if (oc->requant == MPQX_OP_RQ_RESCALE)
			rescale[L->mult == MPQX_MULT_LOGIC] = true;
		requant |= L->hw.runs && oc->requant != MPQX_OP_RQ_NONE;
		div |= oc->divider;
	}
	char name[120];
	int rc = MPQX_OK;
	if (!rc && ram[MPQX_STORE_BLOCK])
		rc = write_lib(x, "ram.v", ram_module(x, MPQX_STORE_BLOCK, name, sizeof name), "block", 0);
	/* iCE40 has no LUT RAM: Yosys keeps a "logic" memory in flip-flops */
	if (!rc && ram[MPQX_STORE_DIST])
		rc = write_lib(x, "ram.v", ram_module(x, MPQX_STORE_DIST, name, sizeof name),
			       ice40(x) ? "logic" : "distributed", 0);
	if (!rc && ram[MPQX_STORE_SPRAM])
		rc = write_lib(x, "ram_sp.v", ram_module(x, MPQX_STORE_SPRAM, name, sizeof name), "huge", 0);
	if (!rc && rom[1])
		rc = write_lib(x, "rom.v", rom_module(x, MPQX_STORE_BLOCK, name, sizeof name), "block", 0);
	if (!rc && rom[0])
		rc = write_lib(x, "rom.v", rom_module(x, MPQX_STORE_DIST, name, sizeof name), "logic", 0);
	if (!rc && rescale[0])
		rc = write_lib(x, "rescale.v", lib_module(x, "rescale", name, sizeof name), NULL, 0);
	if (!rc && rescale[1])
		rc = write_lib(x, "rescale.v", lib_module(x, "rescale_logic", name, sizeof name), NULL, 1);
	if (!rc && requant)
		rc = write_lib(x, "requant.v", lib_module(x, "requant", name, sizeof name), NULL, 0);
	if (!rc && div)
		rc = write_lib(x, "div.v", lib_module(x, "div", name, sizeof name), NULL, 0);
	return rc;
}

/* ---- top level ---- */

/* Port names of a layer kind's inputs. */
static const char *in_port(enum mpqx_op op, int k, char *buf, size_t size)
{
	const struct mpqx_op_class *oc = op_class(op);
	if (oc->in_port)
		return oc->in_port(k, buf, size);
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
		const struct mpqx_op_class *oc = op_class(l->op);
		if (oc->window_in)
			in = i;
		if (!h->runs) {
			sb_add(&b, "%s u_%s (\n\t.clk(clk), %s.y_addr(%s_raddr), .y_data(%s_rdata));\n\n", L->module,
			       L->id, oc->top_ports ? oc->top_ports : "", L->id, L->id);
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
	/* hw_check guarantees a computing layer: the output layer is one */
	sb_add(&b, "\nassign out_data = %s_rdata;\nassign done = %s_done;\n", x->lx[m->output].id,
	       x->lx[last >= 0 ? last : m->output].id);

	struct mpqx_tmpl *t;
	int rc = b.oom ? err_set(x->err, MPQX_ENOMEM, "out of memory") : load_tmpl(x, "top.v", &t);
	if (rc) {
		sb_free(&b);
		return rc;
	}
	char what[512], name[MPQX_NAME_MAX];
	snprintf(what, sizeof what, "%s, exported by mpqx %s: %ld cycles per window",
		 comment_name(x, name, sizeof name), MPQX_VERSION, x->cycles);
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
		rc = render_to(x, t, "top.v", rel);
	}
	tmpl_free(t);
	sb_free(&b);
	return rc;
}

/* ---- vectors, testbench ---- */

static int input_layer(const struct mpqx_model *m)
{
	for (int i = 0; i < m->n_layers; i++)
		if (op_class(m->layers[i].op)->window_in)
			return i;
	return -1;
}

/* Runs the integer model on the windows and writes vec/input.hex, vec/expected.hex and vec/layers.txt
 * (every buffer and constant, in the testbench's dump format). */
static int write_vectors(struct ctx *x)
{
	const struct mpqx_model *m = x->m;
	int L = m->n_layers, in = input_layer(m), rc = MPQX_OK;
	if (L < 1 || in < 0) /* a loaded model has layers and an input */
		return MPQX_EINPUT;
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
			const struct mpqx_qparam *p = &x->q->l[i].out;
			for (long k = 0; k < n; k++) {
				if (!p->fc) {
					sb_add(&lay, " %d", out[i][k]);
					continue;
				}
				/* a float code: the buffer holds the code of the model's value, read as signed */
				int64_t c = quant_fc_code(p->fc, p->bits, out[i][k]);
				sb_add(&lay, " %d", (int)(c >= ((int64_t)1 << (p->bits - 1)) ? c - ((int64_t)1 << p->bits) : c));
			}
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
		rc = render_to(x, t, "tb.v", rel);
	}
	tmpl_free(t);
	sb_free(&need);
	sb_free(&dump);
	return rc;
}

/* ---- scripts and manifest ---- */

static void make_executable(struct ctx *x, const char *rel)
{
	char path[PATH_LEN];
	if (fits(snprintf(path, sizeof path, "%s/%s", x->root, rel), sizeof path))
		chmod(path, 0755);
}

/* The same testbench under Verilator 5: a C++ main that advances time from one scheduled event to the next
 * (the --binary main of Verilator 5.006 steps one time unit at a time, ten thousand per clock here) and
 * returns the status the testbench passes through mpqx_tb_exit, and the script that builds and runs it. */
static int write_verilator(struct ctx *x, const char *tb)
{
	struct sbuf b = {0};
	sb_add(&b,
	       "// Generated by mpqx %s: the C++ main of the testbench %s under Verilator 5 (run_sim_verilator.sh).\n"
	       "#include <cstdio>\n"
	       "#include <memory>\n"
	       "\n"
	       "#include \"verilated.h\"\n"
	       "#include \"V%s.h\"\n"
	       "#include \"V%s__Dpi.h\"\n"
	       "\n"
	       "static int exit_status;\n"
	       "\n"
	       "// Called by the testbench just before $finish, with the status Icarus would return.\n"
	       "void mpqx_tb_exit(int code) { exit_status = code; }\n"
	       "\n"
	       "int main(int argc, char **argv)\n"
	       "{\n"
	       "	const std::unique_ptr<VerilatedContext> ctx{new VerilatedContext};\n"
	       "	ctx->commandArgs(argc, argv);\n"
	       "	const std::unique_ptr<V%s> top{new V%s{ctx.get()}};\n"
	       "	while (!ctx->gotFinish()) {\n"
	       "		top->eval();\n"
	       "		if (!top->eventsPending())\n"
	       "			break;\n"
	       "		ctx->time(top->nextTimeSlot());\n"
	       "	}\n"
	       "	if (!ctx->gotFinish()) {\n"
	       "		std::fprintf(stderr, \"ERROR: the simulation stopped without $finish\\n\");\n"
	       "		return 3;\n"
	       "	}\n"
	       "	top->final();\n"
	       "	return exit_status;\n"
	       "}\n",
	       MPQX_VERSION, tb, tb, tb, tb, tb);
	char rel[200];
	snprintf(rel, sizeof rel, "tb/%s_main.cpp", tb);
	int rc = write_sb(x, rel, &b);
	sb_free(&b);
	if (rc)
		return rc;
	sb_add(&b,
	       "#!/bin/sh\n"
	       "# Simulates the exported design with Verilator 5 (--timing): the same testbench as run_sim.sh, %d test\n"
	       "# windows against mpqx's integer model, the same RESULT line, dump and exit status. Builds the\n"
	       "# simulator into sim/verilator first (make, a C++ compiler); Icarus (run_sim.sh) is the reference.\n"
	       "set -e\n"
	       "cd \"$(dirname \"$0\")\"\n"
	       "mkdir -p sim\n"
	       "command -v verilator >/dev/null || { echo \"ERROR: verilator is not installed\"; exit 127; }\n"
	       "jobs=$(nproc 2>/dev/null || echo 2)\n"
	       "verilator --cc --exe --build --timing -j \"$jobs\" -Wno-fatal --top-module %s --Mdir sim/verilator \\\n"
	       "\t-o V%s rtl/*.v tb/%s.v \"$PWD/tb/%s_main.cpp\" >sim/verilator.log 2>&1 ||\n"
	       "\t{ tail -n 30 sim/verilator.log; echo \"ERROR: the Verilator build failed (sim/verilator.log)\"; exit 2; }\n"
	       "exec sim/verilator/V%s\n",
	       x->windows, tb, tb, tb, tb, tb);
	rc = write_sb(x, "run_sim_verilator.sh", &b);
	sb_free(&b);
	if (!rc)
		make_executable(x, "run_sim_verilator.sh");
	return rc;
}

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
	if (!rc)
		make_executable(x, "run_sim.sh");
	if (rc || (rc = write_verilator(x, tb)))
		return rc;
	/* synth.ys flattens, as a real flow optimises across the layers (the totals to trust);
	 * synth_hier.ys keeps the hierarchy, for the cells of each layer module. */
	static const char *const ys[2][3] = {
		{"synth.ys", " -flatten", "flattened: the totals a real flow would see"},
		{"synth_hier.ys", "", "hierarchy kept: cells per layer module"}};
	bool ice = ice40(x);
	for (int k = 0; k < 2 && !rc; k++) {
		sb_add(&b,
		       "# Yosys synthesis of the exported design for %s, %s\n"
		       "# (run from this directory):  yosys -s %s\n",
		       ice ? "a Lattice iCE40 part" : "a Xilinx 7-series part", ys[k][2], ys[k][0]);
		for (int i = 0; i < x->n_files; i++) {
			const char *f = cJSON_GetArrayItem(x->files, i)->valuestring;
			if (strncmp(f, "rtl/", 4) == 0)
				sb_add(&b, "read_verilog %s\n", f);
		}
		if (ice && x->o->device->dsp > 0)
			/* synth_ice40 -dsp with its coarse step spelt out without ice40_dsp, whose register packing
			 * fails an assertion of Yosys 0.23 on products narrower than their users (doc/hardware.md,
			 * "iCE40"); the products still map to SB_MAC16 through mul2dsp and dsp_map */
			sb_add(&b, "synth_ice40 -dsp%s -top %s -run begin:coarse\n%s"
				   "synth_ice40 -dsp%s -top %s%s -run map_ram:\nstat\n",
			       k == 0 ? "" : " -noflatten", top, export_ice40_coarse, k == 0 ? "" : " -noflatten", top,
			       k == 0 ? " -json synth.json" : "");
		else if (ice)
			/* synth_ice40 flattens unless told not to */
			sb_add(&b, "synth_ice40%s -top %s%s\nstat\n", k == 0 ? "" : " -noflatten", top,
			       k == 0 ? " -json synth.json" : "");
		else
			sb_add(&b, "synth_xilinx -family xc7 -noiopad -noclkbuf%s -top %s\nstat\n", ys[k][1], top);
		rc = write_sb(x, ys[k][0], &b);
		sb_free(&b);
	}
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
	cJSON_AddStringToObject(o, "device", x->o->device ? x->o->device->name : x->c->device);
	cJSON_AddStringToObject(o, "family", x->o->device ? x->o->device->family : "xc7");
	cJSON_AddStringToObject(o, "top", top);
	char tb[120];
	cJSON_AddStringToObject(o, "testbench", lib_module(x, "tb", tb, sizeof tb));
	/* What the ports carry: x = s * (q - z) on the normalised scale (doc/quantization.md). */
	for (int k = 0; k < 2; k++) {
		int li = k == 0 ? input_layer(m) : m->output;
		const struct mpqx_qparam *p = &x->q->l[li].out;
		cJSON *io = cJSON_AddObjectToObject(o, k == 0 ? "input" : "output");
		cJSON_AddStringToObject(io, "layer", m->layers[li].name);
		cJSON_AddNumberToObject(io, "rows", m->layers[li].rows);
		cJSON_AddNumberToObject(io, "cols", m->layers[li].cols);
		cJSON_AddNumberToObject(io, "bits", p->bits);
		cJSON_AddNumberToObject(io, "scale", p->s);
		cJSON_AddNumberToObject(io, "zero_point", p->z);
	}
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
			static const char *const role[] = {"buffer", "weights", "bias", "exp", "const", "table", "scales"};
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
		x->lx[i].buf = estimate_resolve_buffer_on(x->q, x->c, i, x->o->device);
		x->lx[i].rom = estimate_resolve_rom_on(x->q, x->c, i, x->o->device);
		x->lx[i].mult = estimate_resolve_mult_on(x->q, x->c, i, x->o->device);
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

/* Where an export goes: the destination, its parent and base name, and what is there now. */
struct dest {
	char dest[PATH_LEN], parent[PATH_LEN], base[PATH_LEN];
	int existing; /* -2: nothing; else replaceable()'s 0 (empty) or 1 (an earlier export) */
};

/* Checks that dir may receive an export: new, empty, or an earlier export. */
static int dest_check(const char *dir, struct dest *d, struct mpqx_err *err)
{
	size_t dl = strlen(dir);
	while (dl > 1 && dir[dl - 1] == '/')
		dl--;
	if (dl == 0 || dl >= sizeof d->dest - 64)
		return err_set(err, MPQX_EINPUT, "%s: not a usable directory name", dir);
	memcpy(d->dest, dir, dl);
	d->dest[dl] = '\0';
	fileio_dirname(d->dest, d->parent, sizeof d->parent);
	const char *slash = strrchr(d->dest, '/');
	snprintf(d->base, sizeof d->base, "%s", slash ? slash + 1 : d->dest);
	struct stat st;
	d->existing = -2;
	if (stat(d->dest, &st) == 0) {
		if (!S_ISDIR(st.st_mode))
			return err_set(err, MPQX_EINPUT, "%s: exists and is not a directory", d->dest);
		d->existing = replaceable(d->dest);
		if (d->existing < 0)
			return err_set(err, MPQX_EINPUT,
				       "%s: exists and is not an mpqx export (no manifest.json of format %s); "
				       "refusing to overwrite it",
				       d->dest, EXPORT_FORMAT);
	}
	return MPQX_OK;
}

/* Writes the export into a new temporary sibling of the destination, root (PATH_LEN bytes); on an error
 * nothing is left behind. */
static int write_staged(const struct dest *d, const struct mpqx_qmodel *q, const struct mpqx_config *c,
			const struct mpqx_dataset *data, const struct mpqx_export_opts *o, struct mpqx_export_info *info,
			char *root, struct mpqx_err *err)
{
	struct ctx x = {.q = q, .m = q->m, .c = c, .d = data, .o = o, .err = err};
	x.prefix = o->prefix ? o->prefix : "mpqx_";
	if (!valid_prefix(x.prefix))
		return err_set(err, MPQX_EINPUT, "module prefix '%s': expected a Verilog identifier", x.prefix);
	if (o->windows < 1)
		return err_set(err, MPQX_EINPUT, "windows: expected at least 1, got %d", o->windows);
	x.windows = o->windows < data->windows[MPQX_TEST] ? o->windows : data->windows[MPQX_TEST];
	if (x.windows < 1)
		return err_set(err, MPQX_EINPUT, "%s: the test split has no windows", q->m->path);
	snprintf(x.tdir, sizeof x.tdir, "%s", o->templates ? o->templates : export_templates_dir());
	if (snprintf(x.root, sizeof x.root, "%s/.%s.tmp-XXXXXX", d->parent, d->base) >= (int)sizeof x.root)
		return err_set(err, MPQX_EINPUT, "%s: path too long", d->dest);
	if (!mkdtemp(x.root))
		return err_set(err, MPQX_EIO, "%s: cannot create a temporary directory: %s", d->parent, strerror(errno));
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
	snprintf(root, PATH_LEN, "%s", x.root);
	return MPQX_OK;
}

/* Moves the finished tree root into d's place: an earlier export (or an empty directory) moves aside
 * first, then goes. On an error root is removed and the destination is as it was. */
static int swap_in(const char *root, const struct dest *d, struct mpqx_err *err)
{
	char old[PATH_LEN] = "";
	if (d->existing >= 0) {
		if (!fits(snprintf(old, sizeof old, "%s/.%s.old-XXXXXX", d->parent, d->base), sizeof old) ||
		    !mkdtemp(old) || rename(d->dest, old) != 0) {
			int e = errno;
			if (old[0])
				rmdir(old);
			remove_tree(root);
			return err_set(err, MPQX_EIO, "%s: cannot move the earlier export aside: %s", d->dest, strerror(e));
		}
	}
	if (rename(root, d->dest) != 0) {
		int e = errno;
		if (old[0] && d->existing >= 0)
			rename(old, d->dest);
		remove_tree(root);
		return err_set(err, MPQX_EIO, "%s: cannot rename the export into place: %s", d->dest, strerror(e));
	}
	if (d->existing >= 0)
		remove_tree(old);
	int dfd = open(d->parent, O_RDONLY | O_DIRECTORY);
	if (dfd >= 0) {
		fsync(dfd);
		close(dfd);
	}
	return MPQX_OK;
}

int export_write(const char *dir, const struct mpqx_qmodel *q, const struct mpqx_config *c,
		 const struct mpqx_dataset *d, const struct mpqx_export_opts *o, struct mpqx_export_info *info,
		 struct mpqx_err *err)
{
	struct dest dst;
	char root[PATH_LEN];
	int rc = dest_check(dir, &dst, err);
	if (!rc)
		rc = write_staged(&dst, q, c, d, o, info, root, err);
	if (!rc)
		rc = swap_in(root, &dst, err);
	return rc;
}

/* ---- simulation ---- */

/* Starts the script dir/name (run_sim.sh, run_sim_verilator.sh) with its output in log, in a process group of its own (a cancel stops the compiler
 * and the simulator together; the terminal's ^C does not reach them). Returns the pid or -1. */
static pid_t spawn_script(const char *dir, const char *name, const char *log)
{
	char script[PATH_LEN];
	if (!fits(snprintf(script, sizeof script, "%s/%s", dir, name), sizeof script))
		return -1;
	pid_t pid = fork();
	if (pid == 0) {
		setpgid(0, 0);
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
		execl("/bin/sh", "sh", script, (char *)NULL);
		_exit(127);
	}
	if (pid > 0)
		setpgid(pid, pid);
	return pid;
}

static int exit_status(int status)
{
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static int run_script(const char *dir, const char *name, const char *log)
{
	pid_t pid = spawn_script(dir, name, log);
	if (pid < 0)
		return -1;
	int status;
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -1;
	return exit_status(status);
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
				snprintf(r->got_text, sizeof r->got_text, "%s", vd);
				r->got = strtol(vd, NULL, 10);
				r->want = strtol(vw, NULL, 10);
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

static const struct {
	const char *name, *script, *tools;
} simulators[] = {
	[MPQX_SIM_ICARUS] = {"icarus", "run_sim.sh", "iverilog or vvp"},
	[MPQX_SIM_VERILATOR] = {"verilator", "run_sim_verilator.sh", "verilator"},
};

const char *export_simulator_name(enum mpqx_simulator s)
{
	return simulators[s].name;
}

int export_simulator_parse(const char *name, enum mpqx_simulator *s)
{
	for (size_t i = 0; i < sizeof simulators / sizeof simulators[0]; i++)
		if (strcmp(name, simulators[i].name) == 0) {
			*s = (enum mpqx_simulator)i;
			return 0;
		}
	return -1;
}

/* Prepares a simulation of dir with sim: r's simulator, expected cycles and log path, dir/sim, no old
 * dump. */
static int sim_prepare(const char *dir, enum mpqx_simulator sim, struct mpqx_sim_result *r, struct mpqx_err *err)
{
	memset(r, 0, sizeof *r);
	r->simulator = sim;
	char script[PATH_LEN];
	struct stat st;
	if (!fits(snprintf(script, sizeof script, "%s/%s", dir, simulators[sim].script), sizeof script))
		return err_set(err, MPQX_EINPUT, "%s: path too long", dir);
	if (stat(script, &st) != 0)
		return err_set(err, MPQX_EINPUT, "%s: missing; re-export with this version of mpqx", script);
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
	return MPQX_OK;
}

/* Reads the finished simulation's log and dump into r (r->status set by the caller). */
static int sim_read(const char *dir, struct mpqx_sim_result *r, struct mpqx_err *err)
{
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
			return err_set(err, MPQX_EIO, "%s: %s is not installed (see %s)", dir,
				       simulators[r->simulator].tools, r->log);
		return err_set(err, MPQX_EIO, "%s: the simulation ended without a RESULT line (exit status %d); see %s",
			       dir, r->status, r->log);
	}
	compare_dump(dir, r);
	return MPQX_OK;
}

int export_simulate(const char *dir, struct mpqx_sim_result *r, struct mpqx_err *err)
{
	return export_simulate_with(dir, MPQX_SIM_ICARUS, r, err);
}

int export_simulate_with(const char *dir, enum mpqx_simulator sim, struct mpqx_sim_result *r,
			 struct mpqx_err *err)
{
	int rc = sim_prepare(dir, sim, r, err);
	if (rc)
		return rc;
	r->status = run_script(dir, simulators[sim].script, r->log);
	return sim_read(dir, r, err);
}

bool export_sim_ok(const struct mpqx_sim_result *r)
{
	return r->have_result && r->status == 0 && r->mismatches == 0 && r->dump_complete && !r->diverged &&
	       r->cycles == r->expected_cycles;
}

void export_sim_divergence(const struct mpqx_sim_result *r, char *buf, size_t size)
{
	if (r->diverged)
		snprintf(buf, size, "first differing buffer: layer %s, window %d, index %ld: simulated %s, integer model %ld",
			 r->layer, r->window, r->index, r->got_text, r->want);
	else if (r->have_result && !r->dump_complete)
		snprintf(buf, size, "the buffer dump is incomplete or does not match the layer list");
	else
		snprintf(buf, size, "%s", "");
}

/* MPQX_OK when the simulation matched, else an error naming the first difference. */
static int sim_verdict(const struct mpqx_sim_result *r, struct mpqx_err *err)
{
	if (export_sim_ok(r))
		return MPQX_OK;
	char why[400];
	export_sim_divergence(r, why, sizeof why);
	if (r->mismatches)
		return err_set(err, MPQX_EINPUT, "%d output values differ%s%s", r->mismatches, why[0] ? "; " : "", why);
	if (why[0])
		return err_set(err, MPQX_EINPUT, "%s", why);
	if (r->cycles != r->expected_cycles)
		return err_set(err, MPQX_EINPUT, "%ld cycles simulated, %ld computed", r->cycles, r->expected_cycles);
	return err_set(err, MPQX_EINPUT, "the testbench exited with status %d (see %s)", r->status, r->log);
}

/* ---- the background job ---- */

struct mpqx_export_job {
	pthread_t th;
	pthread_mutex_t mu;
	/* Inputs, set before the thread starts. */
	const struct mpqx_model *m;
	const struct mpqx_fref *fref;
	const struct mpqx_dataset *data;
	struct mpqx_config cfg;
	char dir[PATH_LEN];
	int windows;
	bool sim;
	struct mpqx_device dev; /* the session's device when the job started: its family's RTL */
	struct timespec t0;
	/* Shared, under mu. */
	bool cancel;
	struct mpqx_export_progress p;
};

static double since(const struct timespec *t0)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)(t.tv_sec - t0->tv_sec) + (double)(t.tv_nsec - t0->tv_nsec) / 1e9;
}

static bool job_cancelled(struct mpqx_export_job *j)
{
	pthread_mutex_lock(&j->mu);
	bool c = j->cancel;
	pthread_mutex_unlock(&j->mu);
	return c;
}

/* Counts the lines starting with "window " that the testbench has flushed to its dump since the last call. */
struct dump_counter {
	int fd;
	int match; /* characters of "window " matched at the start of the current line; -1: not at a line start */
	int windows;
};

static void count_windows(struct dump_counter *dc, const char *path)
{
	static const char key[] = "window ";
	if (dc->fd < 0 && (dc->fd = open(path, O_RDONLY)) < 0)
		return;
	char buf[65536];
	ssize_t n;
	while ((n = read(dc->fd, buf, sizeof buf)) > 0)
		for (ssize_t i = 0; i < n; i++) {
			if (buf[i] == '\n') {
				dc->match = 0;
			} else if (dc->match >= 0) {
				if (buf[i] == key[dc->match]) {
					if (++dc->match == (int)sizeof key - 1) {
						dc->windows++;
						dc->match = -1;
					}
				} else {
					dc->match = -1;
				}
			}
		}
}

/* Runs the simulation in root, reporting the windows done; returns false when cancelled. */
static bool job_simulate(struct mpqx_export_job *j, const char *root, struct mpqx_sim_result *r)
{
	pid_t pid = spawn_script(root, "run_sim.sh", r->log);
	if (pid < 0) {
		r->status = -1;
		return true;
	}
	char dump[PATH_LEN];
	snprintf(dump, sizeof dump, "%s/sim/dump.txt", root);
	struct dump_counter dc = {.fd = -1};
	double t_first = -1, t_sim = since(&j->t0);
	int status = 0, first_done = 0;
	bool killed = false;
	for (;;) {
		pid_t w = waitpid(pid, &status, WNOHANG);
		if (w == pid || (w < 0 && errno != EINTR))
			break;
		if (!killed && job_cancelled(j)) {
			kill(-pid, SIGKILL);
			killed = true;
		}
		count_windows(&dc, dump);
		double now = since(&j->t0);
		pthread_mutex_lock(&j->mu);
		int done = dc.windows < j->p.total ? dc.windows : j->p.total;
		if (done > 0 && t_first < 0) {
			t_first = now;
			first_done = done;
		}
		/* The rate from the windows after the first report (the first includes the compilation). */
		if (done > first_done && t_first >= 0)
			j->p.left_s = (now - t_first) / (done - first_done) * (j->p.total - done);
		else if (done > 0)
			j->p.left_s = (t_first - t_sim) / done * (j->p.total - done);
		j->p.done = done;
		j->p.elapsed_s = now;
		pthread_mutex_unlock(&j->mu);
		struct timespec ts = {0, 50 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
	if (dc.fd >= 0)
		close(dc.fd);
	r->status = exit_status(status);
	return !killed;
}

/* Replaces the temporary root at the start of s by the final directory (the log's path, in messages). */
static void retarget(char *s, size_t size, const char *root, const char *dest)
{
	char *p = strstr(s, root);
	if (!p)
		return;
	char tail[MPQX_ERR_LEN + PATH_LEN];
	snprintf(tail, sizeof tail, "%s", p + strlen(root));
	snprintf(p, size - (size_t)(p - s), "%s%s", dest, tail);
}

static void job_finish(struct mpqx_export_job *j, int rc, bool cancelled, const char *result, const struct mpqx_err *err)
{
	pthread_mutex_lock(&j->mu);
	j->p.phase = MPQX_XP_DONE;
	j->p.rc = rc;
	j->p.cancelled = cancelled;
	j->p.elapsed_s = since(&j->t0);
	j->p.left_s = 0;
	snprintf(j->p.result, sizeof j->p.result, "%s", result ? result : "");
	snprintf(j->p.msg, sizeof j->p.msg, "%s", rc && err ? err->msg : "");
	pthread_mutex_unlock(&j->mu);
}

static void *job_main(void *arg)
{
	struct mpqx_export_job *j = arg;
	struct mpqx_err err = {0};
	struct mpqx_qmodel *q = NULL;
	struct dest d;
	char root[PATH_LEN] = "", result[256] = "";
	struct mpqx_export_opts o = {.windows = j->windows, .device = &j->dev};
	struct mpqx_export_info info;
	int rc = quant_build(j->m, j->fref, &j->cfg, &q, &err);
	if (!rc)
		rc = dest_check(j->dir, &d, &err);
	if (!rc)
		rc = write_staged(&d, q, &j->cfg, j->data, &o, &info, root, &err);
	quant_free(q);
	if (rc) {
		job_finish(j, rc, false, NULL, &err);
		return NULL;
	}
	if (job_cancelled(j)) {
		remove_tree(root);
		job_finish(j, MPQX_OK, true, NULL, NULL);
		return NULL;
	}
	int sim_rc = MPQX_OK;
	struct mpqx_err sim_err = {0};
	if (j->sim) {
		struct mpqx_sim_result r;
		pthread_mutex_lock(&j->mu);
		j->p.phase = MPQX_XP_SIM;
		j->p.total = info.windows;
		pthread_mutex_unlock(&j->mu);
		sim_rc = sim_prepare(root, MPQX_SIM_ICARUS, &r, &sim_err);
		if (!sim_rc && !job_simulate(j, root, &r)) {
			remove_tree(root);
			job_finish(j, MPQX_OK, true, NULL, NULL);
			return NULL;
		}
		if (!sim_rc)
			sim_rc = sim_read(root, &r, &sim_err);
		if (!sim_rc) {
			snprintf(result, sizeof result, "%s", r.result);
			sim_rc = sim_verdict(&r, &sim_err);
		}
		retarget(sim_err.msg, sizeof sim_err.msg, root, d.dest);
	} else {
		snprintf(result, sizeof result, "%d files, %d windows, %ld cycles per window", info.files, info.windows,
			 info.cycles);
	}
	/* A failed simulation still goes into place: its log and dump are what a user looks at next. The
	 * destination may have changed meanwhile: check it again. */
	if ((rc = dest_check(j->dir, &d, &err)) || (rc = swap_in(root, &d, &err))) {
		remove_tree(root);
		job_finish(j, rc, false, NULL, &err);
		return NULL;
	}
	job_finish(j, sim_rc, false, result, &sim_err);
	return NULL;
}

int export_job_start(const struct mpqx_session *s, const struct mpqx_config *c, const char *dir, int windows,
		     bool sim, struct mpqx_export_job **out, struct mpqx_err *err)
{
	*out = NULL;
	struct dest d;
	int rc = dest_check(dir, &d, err);
	if (rc)
		return rc;
	if (windows < 1)
		return err_set(err, MPQX_EINPUT, "windows: expected at least 1, got %d", windows);
	struct mpqx_export_job *j = calloc(1, sizeof *j);
	if (!j || config_copy(&j->cfg, c)) {
		free(j);
		return err_set(err, MPQX_ENOMEM, "out of memory");
	}
	j->m = s->model;
	j->fref = s->fref;
	j->data = s->data;
	snprintf(j->dir, sizeof j->dir, "%s", dir);
	j->windows = windows;
	j->sim = sim;
	j->dev = s->dev;
	j->p.phase = MPQX_XP_WRITE;
	j->p.total = windows < s->data->windows[MPQX_TEST] ? windows : s->data->windows[MPQX_TEST];
	j->p.left_s = -1;
	clock_gettime(CLOCK_MONOTONIC, &j->t0);
	pthread_mutex_init(&j->mu, NULL);
	if (pthread_create(&j->th, NULL, job_main, j) != 0) {
		pthread_mutex_destroy(&j->mu);
		config_fini(&j->cfg);
		free(j);
		return err_set(err, MPQX_EIO, "cannot start the export thread");
	}
	*out = j;
	return MPQX_OK;
}

void export_job_progress(struct mpqx_export_job *j, struct mpqx_export_progress *p)
{
	pthread_mutex_lock(&j->mu);
	*p = j->p;
	if (p->phase != MPQX_XP_DONE)
		p->elapsed_s = since(&j->t0);
	pthread_mutex_unlock(&j->mu);
}

void export_job_cancel(struct mpqx_export_job *j)
{
	pthread_mutex_lock(&j->mu);
	j->cancel = true;
	pthread_mutex_unlock(&j->mu);
}

void export_job_wait(struct mpqx_export_job *j)
{
	for (;;) {
		struct mpqx_export_progress p;
		export_job_progress(j, &p);
		if (p.phase == MPQX_XP_DONE)
			return;
		struct timespec ts = {0, 20 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
}

void export_job_free(struct mpqx_export_job *j)
{
	if (!j)
		return;
	export_job_cancel(j);
	pthread_join(j->th, NULL);
	pthread_mutex_destroy(&j->mu);
	config_fini(&j->cfg);
	free(j);
}
