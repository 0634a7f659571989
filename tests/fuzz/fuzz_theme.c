/* Fuzzes the theme ini loader. */
#include "fuzz_util.h"
#include "mpqx/theme.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *path = fuzz_write(0, ".ini", data, size);
	struct mpqx_theme t;
	struct mpqx_err err = {0};
	int rc = theme_load(path, &t, &err);
	if (rc) {
		if (rc != MPQX_EINPUT)
			abort();
		fuzz_check_msg(err.msg, path);
		return 0;
	}
	for (int d = 0; d < MPQX_DEPTH_COUNT; d++)
		for (int r = 0; r < MPQX_TH_COUNT; r++) {
			const struct mpqx_style *s = &t.style[d][r];
			if (s->fg < MPQX_COLOR_DEFAULT || s->fg > 255 || s->bg < MPQX_COLOR_DEFAULT || s->bg > 255)
				abort();
			if (d == MPQX_DEPTH_8 && (s->fg > 7 || s->bg > 7))
				abort();
		}
	return 0;
}
