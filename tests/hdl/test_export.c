/* Suite hdl: export designs, simulate them with Icarus Verilog and require every buffer of every window
 * to equal the integer model and the simulated cycles to equal the formula of include/mpqx/hw.h. Also the
 * failure paths: a corrupted ROM is named as the first differing layer, a missing file fails the
 * testbench, and the exporter refuses to overwrite a directory it did not create.
 *
 * The representative subset of tools/hdl_check.sh (which runs the full matrix): the tiny model that has
 * every op (uniform 2, 8 and 16 bits and random mixed configs), the default sample (uniform 8 and 4
 * and one random mixed config) and a layernorm over 16 values at the widths of a fixed bug (tests/data/ln16). */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "mpqx/config.h"
#include "mpqx/dataset.h"
#include "mpqx/export.h"
#include "mpqx/fref.h"
#include "mpqx/hw.h"
#include "mpqx/model.h"
#include "mpqx/quant.h"

#if !defined(SAMPLE_DIR) || !defined(DATA_DIR) || !defined(SRC_DIR)
#error SAMPLE_DIR, DATA_DIR, SRC_DIR
#endif

static char work[4096]; /* scratch directory of this run */

struct fx {
	struct mpqx_model *m;
	struct mpqx_dataset *d;
	struct mpqx_fref *f;
};

static int load(struct fx *x, const char *path)
{
	struct mpqx_err err = {0};
	memset(x, 0, sizeof *x);
	if (model_load(path, &x->m, &err) || dataset_load(x->m, &x->d, &err) || fref_run(x->m, x->d, false, &x->f, &err)) {
		fprintf(stderr, "# %s\n", err.msg);
		return -1;
	}
	return 0;
}

static void unload(struct fx *x)
{
	fref_free(x->f);
	dataset_free(x->d);
	model_free(x->m);
}

/* A deterministic random config: bits 2..16 per layer, random storage and multipliers. */
static void random_config(struct mpqx_config *c, const struct mpqx_model *m, unsigned seed)
{
	config_init(c, m, 8);
	uint64_t s = 0x9E3779B97F4A7C15u * (seed + 1);
	for (int i = 0; i < m->n_layers; i++) {
		s = s * 6364136223846793005u + 1442695040888963407u;
		c->layers[i].w_bits = 2 + (int)((s >> 33) % 15);
		c->layers[i].a_bits = 2 + (int)((s >> 41) % 15);
		c->layers[i].buffer = (enum mpqx_storage)((s >> 49) % 3);
		c->layers[i].rom = (enum mpqx_storage)((s >> 53) % 3);
		c->layers[i].mult = (enum mpqx_mult)((s >> 57) % 3);
	}
}

static void dir_path(char *buf, size_t size, const char *name)
{
	snprintf(buf, size, "%s/%s", work, name);
}

/* Exports x under c into work/name and simulates it; the result must match in every respect. */
static void export_and_check(struct fx *x, const struct mpqx_config *c, const char *name, int windows)
{
	struct mpqx_err err = {0};
	struct mpqx_qmodel *q = NULL;
	char dir[4300];
	dir_path(dir, sizeof dir, name);
	if (quant_build(x->m, x->f, c, &q, &err))
		fail_msg("%s: %s", name, err.msg);
	struct mpqx_export_opts o = {.templates = SRC_DIR "/hdl_templates", .windows = windows};
	struct mpqx_export_info info;
	if (export_write(dir, q, c, x->d, &o, &info, &err))
		fail_msg("%s: %s", name, err.msg);
	assert_int_equal(info.cycles, hw_cycles(q));
	struct mpqx_sim_result r;
	if (export_simulate(dir, &r, &err))
		fail_msg("%s: %s", name, err.msg);
	char why[512];
	export_sim_divergence(&r, why, sizeof why);
	printf("# %s: %s (formula %ld)%s%s\n", name, r.result, hw_cycles(q), why[0] ? "; " : "", why);
	assert_true(r.have_result);
	assert_int_equal(r.windows, windows);
	assert_int_equal(r.mismatches, 0);
	assert_true(r.dump_complete);
	assert_false(r.diverged);
	assert_int_equal(r.cycles, hw_cycles(q));
	assert_int_equal(r.status, 0);
	assert_true(export_sim_ok(&r));
	quant_free(q);
}

static void tiny_uniform(void **state)
{
	(void)state;
	struct fx x;
	assert_int_equal(load(&x, DATA_DIR "/tiny"), 0);
	static const int bits[] = {2, 8, 16};
	for (size_t i = 0; i < sizeof bits / sizeof bits[0]; i++) {
		struct mpqx_config c = {0};
		config_init(&c, x.m, bits[i]);
		char name[32];
		snprintf(name, sizeof name, "tiny-u%d", bits[i]);
		export_and_check(&x, &c, name, 8);
		config_fini(&c);
	}
	unload(&x);
}

static void tiny_mixed(void **state)
{
	(void)state;
	struct fx x;
	assert_int_equal(load(&x, DATA_DIR "/tiny"), 0);
	for (unsigned seed = 1; seed <= 4; seed++) {
		struct mpqx_config c = {0};
		random_config(&c, x.m, seed);
		char name[32];
		snprintf(name, sizeof name, "tiny-mixed%u", seed);
		export_and_check(&x, &c, name, 8);
		config_fini(&c);
	}
	unload(&x);
}

static bool have_sample(void)
{
	struct stat st;
	return stat(SAMPLE_DIR "/model.json", &st) == 0;
}

static void sample_configs(void **state)
{
	(void)state;
	if (!have_sample()) {
		/* cmocka's TAP skip reads as a failure to meson: say it and pass */
		printf("# %s/model.json is missing: the default sample is not checked\n", SAMPLE_DIR);
		return;
	}
	struct fx x;
	assert_int_equal(load(&x, SAMPLE_DIR), 0);
	struct mpqx_config c = {0};
	config_init(&c, x.m, 8);
	export_and_check(&x, &c, "sample-u8", 4);
	config_fini(&c);
	config_init(&c, x.m, 4);
	export_and_check(&x, &c, "sample-u4", 4);
	config_fini(&c);
	random_config(&c, x.m, 11);
	export_and_check(&x, &c, "sample-mixed", 4);
	config_fini(&c);
	unload(&x);
}

/* A layernorm over C = 16 values whose input is wide and whose accumulator is narrow (tests/data/ln16):
 * V = sum d^2 has more bits than the shared multiplier's product there, which the template must widen
 * (it read bits beyond the product, and simulated wrong values, before). The widths of the two failing
 * layers of seattle-hourly-ln's mixed configurations 1 and 3 (seed 1 of tools/hdl_check.sh): input 13 and
 * 11 bits, gamma 3 and 5 bits, output 5 and 2 bits. */
static void ln16_wide_input(void **state)
{
	(void)state;
	struct fx x;
	assert_int_equal(load(&x, DATA_DIR "/ln16"), 0);
	static const int widths[][3] = {{13, 3, 5}, {11, 5, 2}}; /* proj a_bits, ln w_bits, ln a_bits */
	int proj = model_find(x.m, "proj"), ln = model_find(x.m, "ln");
	assert_true(proj >= 0 && ln >= 0);
	for (size_t i = 0; i < sizeof widths / sizeof widths[0]; i++) {
		struct mpqx_config c = {0};
		config_init(&c, x.m, 8);
		c.layers[proj].a_bits = widths[i][0];
		c.layers[ln].w_bits = widths[i][1];
		c.layers[ln].a_bits = widths[i][2];
		char name[32];
		snprintf(name, sizeof name, "ln16-%d", widths[i][0]);
		export_and_check(&x, &c, name, 8);
		config_fini(&c);
	}
	unload(&x);
}

/* An add whose inputs differ by 12 bits: the larger input's product is shifted left in add.v (PA). */
static void add_aligned(void **state)
{
	(void)state;
	struct fx x;
	assert_int_equal(load(&x, DATA_DIR "/tiny"), 0);
	struct mpqx_config c = {0};
	config_init(&c, x.m, 8);
	c.layers[model_find(x.m, "proj")].a_bits = 4;
	c.layers[model_find(x.m, "pe")].a_bits = 16;
	export_and_check(&x, &c, "tiny-add-aligned", 8);
	char dir[4300], file[4400], text[8192] = {0};
	dir_path(dir, sizeof dir, "tiny-add-aligned");
	snprintf(file, sizeof file, "%s/rtl/mpqx_layer_add_pe.v", dir);
	FILE *f = fopen(file, "r");
	assert_non_null(f);
	size_t n = fread(text, 1, sizeof text - 1, f);
	fclose(f);
	assert_true(n > 0);
	assert_non_null(strstr(text, "pa <= (prod_x <<< "));
	config_fini(&c);
	unload(&x);
}

/* Flips the top bit of the first word of a .mem file (its first hex digit). */
static void corrupt_first_word(const char *path)
{
	FILE *f = fopen(path, "r+");
	assert_non_null(f);
	char line[64];
	assert_non_null(fgets(line, sizeof line, f));
	size_t n = strcspn(line, "\n");
	line[n] = '\0';
	static const char hex[] = "0123456789abcdef";
	const char *d = strchr(hex, line[0]);
	assert_non_null(d);
	line[0] = hex[(d - hex) ^ 8];
	fseek(f, 0, SEEK_SET);
	fputs(line, f);
	fclose(f);
}

static void corrupted_rom_is_named(void **state)
{
	(void)state;
	struct fx x;
	struct mpqx_err err = {0};
	assert_int_equal(load(&x, DATA_DIR "/tiny"), 0);
	struct mpqx_config c = {0};
	struct mpqx_qmodel *q = NULL;
	config_init(&c, x.m, 8);
	assert_int_equal(quant_build(x.m, x.f, &c, &q, &err), MPQX_OK);
	char dir[4300], mem[4400];
	dir_path(dir, sizeof dir, "tiny-corrupt");
	struct mpqx_export_opts o = {.templates = SRC_DIR "/hdl_templates", .windows = 3};
	assert_int_equal(export_write(dir, q, &c, x.d, &o, NULL, &err), MPQX_OK);
	/* a weight of k: k is the first layer whose buffer differs */
	snprintf(mem, sizeof mem, "%s/mem/k_w.mem", dir);
	corrupt_first_word(mem);
	struct mpqx_sim_result r;
	assert_int_equal(export_simulate(dir, &r, &err), MPQX_OK);
	char why[512];
	export_sim_divergence(&r, why, sizeof why);
	printf("# corrupted k_w.mem: %s; %s\n", r.result, why);
	assert_true(r.diverged);
	assert_string_equal(r.layer, "k");
	assert_int_equal(r.window, 0);
	assert_false(export_sim_ok(&r));
	assert_non_null(strstr(why, "layer k, window 0"));
	quant_free(q);
	config_fini(&c);
	unload(&x);
}

static void missing_file_fails(void **state)
{
	(void)state;
	struct fx x;
	struct mpqx_err err = {0};
	assert_int_equal(load(&x, DATA_DIR "/tiny"), 0);
	struct mpqx_config c = {0};
	struct mpqx_qmodel *q = NULL;
	config_init(&c, x.m, 6);
	assert_int_equal(quant_build(x.m, x.f, &c, &q, &err), MPQX_OK);
	char dir[4300], mem[4400];
	dir_path(dir, sizeof dir, "tiny-missing");
	struct mpqx_export_opts o = {.templates = SRC_DIR "/hdl_templates", .windows = 2};
	assert_int_equal(export_write(dir, q, &c, x.d, &o, NULL, &err), MPQX_OK);
	snprintf(mem, sizeof mem, "%s/mem/pe.mem", dir);
	assert_int_equal(unlink(mem), 0);
	struct mpqx_sim_result r;
	assert_int_equal(export_simulate(dir, &r, &err), MPQX_OK);
	printf("# missing pe.mem: %s, exit status %d\n", r.result, r.status);
	assert_true(r.have_result);
	assert_int_not_equal(r.status, 0);
	assert_false(export_sim_ok(&r));
	quant_free(q);
	config_fini(&c);
	unload(&x);
}

static int count_entries(const char *dir, const char *prefix)
{
	DIR *d = opendir(dir);
	int n = 0;
	struct dirent *e;
	while (d && (e = readdir(d)))
		if (strncmp(e->d_name, prefix, strlen(prefix)) == 0)
			n++;
	if (d)
		closedir(d);
	return n;
}

static void destination_rules(void **state)
{
	(void)state;
	struct fx x;
	struct mpqx_err err = {0};
	assert_int_equal(load(&x, DATA_DIR "/tiny"), 0);
	struct mpqx_config c = {0};
	struct mpqx_qmodel *q = NULL;
	config_init(&c, x.m, 8);
	assert_int_equal(quant_build(x.m, x.f, &c, &q, &err), MPQX_OK);
	struct mpqx_export_opts o = {.templates = SRC_DIR "/hdl_templates", .windows = 1};
	char dir[4300], file[4400];
	struct stat st;

	/* A directory with a user's file is not touched. */
	dir_path(dir, sizeof dir, "users");
	assert_int_equal(mkdir(dir, 0755), 0);
	snprintf(file, sizeof file, "%s/notes.txt", dir);
	FILE *f = fopen(file, "w");
	fputs("mine\n", f);
	fclose(f);
	assert_int_equal(export_write(dir, q, &c, x.d, &o, NULL, &err), MPQX_EINPUT);
	assert_non_null(strstr(err.msg, "refusing to overwrite"));
	assert_int_equal(stat(file, &st), 0);
	snprintf(file, sizeof file, "%s/manifest.json", dir);
	assert_int_not_equal(stat(file, &st), 0);

	/* A file is not a directory. */
	snprintf(file, sizeof file, "%s/notes.txt", dir);
	assert_int_equal(export_write(file, q, &c, x.d, &o, NULL, &err), MPQX_EINPUT);

	/* An empty directory is used; an earlier export is replaced as a whole. */
	dir_path(dir, sizeof dir, "empty");
	assert_int_equal(mkdir(dir, 0755), 0);
	assert_int_equal(export_write(dir, q, &c, x.d, &o, NULL, &err), MPQX_OK);
	snprintf(file, sizeof file, "%s/stale.txt", dir);
	f = fopen(file, "w");
	fclose(f);
	assert_int_equal(export_write(dir, q, &c, x.d, &o, NULL, &err), MPQX_OK);
	assert_int_not_equal(stat(file, &st), 0);
	snprintf(file, sizeof file, "%s/manifest.json", dir);
	assert_int_equal(stat(file, &st), 0);

	/* No temporary or old directories are left behind. */
	assert_int_equal(count_entries(work, ".empty."), 0);
	assert_int_equal(count_entries(work, ".users."), 0);

	/* A bad prefix and zero windows are refused before anything is written. */
	o.prefix = "9bad";
	assert_int_equal(export_write(dir, q, &c, x.d, &o, NULL, &err), MPQX_EINPUT);
	o.prefix = NULL;
	o.windows = 0;
	assert_int_equal(export_write(dir, q, &c, x.d, &o, NULL, &err), MPQX_EINPUT);
	quant_free(q);
	config_fini(&c);
	unload(&x);
}

/* The exported RTL passes Verilator's strict Verilog-2005 lint. */
static void verilator_lint(void **state)
{
	(void)state;
	if (system("command -v verilator >/dev/null 2>&1") != 0) {
		printf("# verilator is not installed: not checked\n");
		return;
	}
	static const char *const names[] = {"tiny-u2", "tiny-u8", "tiny-u16", "tiny-mixed1", "tiny-mixed2",
					    "sample-u8", "sample-mixed", "ln16-13", "ln16-11"};
	int linted = 0;
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		char dir[4300], cmd[4600];
		struct stat st;
		dir_path(dir, sizeof dir, names[i]);
		if (stat(dir, &st) != 0)
			continue;
		snprintf(cmd, sizeof cmd,
			 "cd '%s' && verilator --lint-only --language 1364-2005 --top-module mpqx_top rtl/*.v", dir);
		int rc = system(cmd);
		printf("# verilator --lint-only --language 1364-2005 %s: %s\n", names[i], rc == 0 ? "clean" : "FAILED");
		assert_int_equal(rc, 0);
		linted++;
	}
	assert_true(linted >= 5);
}

static int remove_work(const char *path)
{
	char cmd[4200];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", path);
	return system(cmd);
}

int main(void)
{
	const char *tmp = getenv("TMPDIR");
	snprintf(work, sizeof work, "%s/mpqx-hdl-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(work)) {
		perror("mkdtemp");
		return 1;
	}
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(tiny_uniform),
		cmocka_unit_test(tiny_mixed),
		cmocka_unit_test(sample_configs),
		cmocka_unit_test(ln16_wide_input),
		cmocka_unit_test(add_aligned),
		cmocka_unit_test(corrupted_rom_is_named),
		cmocka_unit_test(missing_file_fails),
		cmocka_unit_test(destination_rules),
		cmocka_unit_test(verilator_lint),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	if (rc == 0 && !getenv("MPQX_KEEP_HDL"))
		remove_work(work);
	else
		printf("# exports kept in %s\n", work);
	return rc;
}
