/* Fuzzes the template engine: parse, fill every declared placeholder with a value taken from the input
 * (multi-line and empty values included), render; an undeclared name must be refused. */
#include "fuzz_util.h"
#include "mpqx/tmpl.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1);
	memcpy(text, data, size);
	text[size] = '\0';
	struct mpqx_tmpl *t = NULL;
	struct mpqx_err err = {0};
	int rc = tmpl_parse("fuzz.v", text, &t, &err);
	if (rc) {
		if (t || rc != MPQX_EINPUT)
			abort();
		fuzz_check_msg(err.msg, "fuzz.v");
		free(text);
		return 0;
	}
	static const char *const values[] = {"", "24", "a\nb\n  c", "\n", "x\n", "{{", "/*}}*/"};
	int n = tmpl_count(t);
	char *out = NULL;
	size_t len = 0;
	/* with nothing set, rendering must refuse and name what is missing */
	if (n > 0 && (tmpl_render(t, &out, &len, &err) != MPQX_EINPUT || out))
		abort();
	for (int i = 0; i < n; i++) {
		const char *name = tmpl_name(t, i);
		if (!name || tmpl_set(t, name, values[(size + (size_t)i) % 7], &err))
			abort();
	}
	if (tmpl_set(t, "NOT_DECLARED_ANYWHERE_x", "1", &err) != MPQX_EINPUT)
		abort();
	if (tmpl_render(t, &out, &len, &err) || !out || strlen(out) != len)
		abort();
	free(out);
	tmpl_reset(t);
	tmpl_free(t);
	free(text);
	return 0;
}
