/* The template engine: declared placeholders only, unfilled ones reported, indentation kept. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "mpqx/tmpl.h"

/* Renders text with the given NAME=value pairs (NULL-terminated); returns the output or NULL with err. */
static char *render(const char *text, struct mpqx_err *err, ...)
{
	struct mpqx_tmpl *t;
	if (tmpl_parse("t.v", text, &t, err))
		return NULL;
	va_list ap;
	va_start(ap, err);
	const char *k;
	while ((k = va_arg(ap, const char *))) {
		const char *v = va_arg(ap, const char *);
		if (tmpl_set(t, k, v, err)) {
			va_end(ap);
			tmpl_free(t);
			return NULL;
		}
	}
	va_end(ap);
	char *out = NULL;
	tmpl_render(t, &out, NULL, err);
	tmpl_free(t);
	return out;
}

static void inline_values(void **state)
{
	(void)state;
	struct mpqx_err err = {0};
	const char *src = "// @placeholder R rows\n"
			  "// @placeholder STYLE ram style\n"
			  "module m #(parameter R = /*{{R*/24/*}}*/) ();\n"
			  "(* ram_style = /*{{STYLE*/\"block\"/*}}*/ *) reg x; // R again: /*{{R*/1/*}}*/\n"
			  "endmodule\n";
	char *out = render(src, &err, "R", "7", "STYLE", "\"distributed\"", NULL);
	assert_non_null(out);
	assert_string_equal(out, "module m #(parameter R = 7) ();\n"
				 "(* ram_style = \"distributed\" *) reg x; // R again: 7\n"
				 "endmodule\n");
	free(out);
}

static void block_keeps_indentation(void **state)
{
	(void)state;
	struct mpqx_err err = {0};
	const char *src = "// @placeholder BODY the instances\n"
			  "module m;\n"
			  "\tinitial begin\n"
			  "\t\t/*{{BODY*/\n"
			  "\t\t$display(\"default\");\n"
			  "\t\t/*}}*/\n"
			  "\tend\n"
			  "endmodule\n";
	char *out = render(src, &err, "BODY", "a = 1;\n\nif (a)\n\tb = 2;\n", NULL);
	assert_non_null(out);
	assert_string_equal(out, "module m;\n"
				 "\tinitial begin\n"
				 "\t\ta = 1;\n"
				 "\n"
				 "\t\tif (a)\n"
				 "\t\t\tb = 2;\n"
				 "\tend\n"
				 "endmodule\n");
	free(out);
	/* An empty value removes the placeholder's lines. */
	out = render(src, &err, "BODY", "", NULL);
	assert_non_null(out);
	assert_string_equal(out, "module m;\n\tinitial begin\n\tend\nendmodule\n");
	free(out);
}

static void inline_multiline_indents_following_lines(void **state)
{
	(void)state;
	struct mpqx_err err = {0};
	const char *src = "// @placeholder X x\n"
			  "    assign y = /*{{X*/0/*}}*/;\n";
	char *out = render(src, &err, "X", "a |\nb", NULL);
	assert_non_null(out);
	assert_string_equal(out, "    assign y = a |\n    b;\n");
	free(out);
}

static void unknown_name_refused(void **state)
{
	(void)state;
	struct mpqx_err err = {0};
	char *out = render("// @placeholder A a\nx /*{{A*/1/*}}*/\n", &err, "A", "2", "B", "3", NULL);
	assert_null(out);
	assert_int_equal(err.code, MPQX_EINPUT);
	assert_non_null(strstr(err.msg, "no placeholder B"));
}

static void unfilled_reported(void **state)
{
	(void)state;
	struct mpqx_err err = {0};
	char *out = render("// @placeholder A a\n// @placeholder B b\n// @placeholder C c\n"
			   "/*{{A*/1/*}}*/ /*{{B*/2/*}}*/ /*{{C*/3/*}}*/\n",
			   &err, "B", "x", NULL);
	assert_null(out);
	assert_int_equal(err.code, MPQX_EINPUT);
	assert_non_null(strstr(err.msg, "unfilled: A, C"));
}

static void bad_templates(void **state)
{
	(void)state;
	struct mpqx_err err = {0};
	struct mpqx_tmpl *t = NULL;
	/* Used but not declared. */
	assert_int_equal(tmpl_parse("t.v", "a\nb /*{{X*/1/*}}*/\n", &t, &err), MPQX_EINPUT);
	assert_non_null(strstr(err.msg, "line 2: placeholder X is not declared"));
	/* Declared but never used. */
	assert_int_equal(tmpl_parse("t.v", "// @placeholder X x\nplain\n", &t, &err), MPQX_EINPUT);
	assert_non_null(strstr(err.msg, "never used"));
	/* Not closed. */
	assert_int_equal(tmpl_parse("t.v", "// @placeholder X x\n/*{{X*/1\n", &t, &err), MPQX_EINPUT);
	assert_non_null(strstr(err.msg, "not closed"));
	/* Nested. */
	assert_int_equal(tmpl_parse("t.v", "// @placeholder X x\n// @placeholder Y y\n/*{{X*/ /*{{Y*/1/*}}*/ /*}}*/\n",
				    &t, &err),
			 MPQX_EINPUT);
	/* A stray closing marker. */
	assert_int_equal(tmpl_parse("t.v", "/*}}*/\n", &t, &err), MPQX_EINPUT);
	/* Declared twice, malformed declaration. */
	assert_int_equal(tmpl_parse("t.v", "// @placeholder X x\n// @placeholder X y\n/*{{X*/1/*}}*/\n", &t, &err),
			 MPQX_EINPUT);
	assert_int_equal(tmpl_parse("t.v", "// @placeholder lower x\n", &t, &err), MPQX_EINPUT);
	assert_null(t);
}

static void reset_and_rerender(void **state)
{
	(void)state;
	struct mpqx_err err = {0};
	struct mpqx_tmpl *t;
	assert_int_equal(tmpl_parse("t.v", "// @placeholder N n\nv=/*{{N*/0/*}}*/\n", &t, &err), MPQX_OK);
	assert_int_equal(tmpl_count(t), 1);
	assert_string_equal(tmpl_name(t, 0), "N");
	char *out;
	assert_int_equal(tmpl_setf(t, &err, "N", "%d", 42), MPQX_OK);
	assert_int_equal(tmpl_render(t, &out, NULL, &err), MPQX_OK);
	assert_string_equal(out, "v=42\n");
	free(out);
	tmpl_reset(t);
	assert_int_equal(tmpl_render(t, &out, NULL, &err), MPQX_EINPUT);
	tmpl_free(t);
	tmpl_free(NULL);
}

/* Every shipped template parses, and its defaults make it render to itself minus declarations. */
static void shipped_templates_parse(void **state)
{
	(void)state;
	static const char *const names[] = {"ram.v", "rom.v", "rescale.v", "requant.v", "div.v", "input.v", "const.v",
					    "linear.v", "affine.v", "matmul.v", "add.v", "relu.v", "softmax.v",
					    "avgpool.v", "split.v", "concat.v", "top.v", "tb.v"};
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		char path[4200];
		snprintf(path, sizeof path, "%s/hdl_templates/%s", SRC_DIR, names[i]);
		struct mpqx_tmpl *t;
		struct mpqx_err err = {0};
		if (tmpl_load(path, &t, &err))
			fail_msg("%s", err.msg);
		assert_true(tmpl_count(t) >= 1);
		tmpl_free(t);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(inline_values),
		cmocka_unit_test(block_keeps_indentation),
		cmocka_unit_test(inline_multiline_indents_following_lines),
		cmocka_unit_test(unknown_name_refused),
		cmocka_unit_test(unfilled_reported),
		cmocka_unit_test(bad_templates),
		cmocka_unit_test(reset_and_rerender),
		cmocka_unit_test(shipped_templates_parse),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
