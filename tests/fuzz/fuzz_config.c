/* Fuzzes the config loader against the tiny model (tests/data/tiny); an accepted config must survive a
 * save and a reload unchanged. */
#include "fuzz_util.h"
#include "mpqx/config.h"
#include "mpqx/model.h"

static struct mpqx_model *model;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	struct mpqx_err err = {0};
	if (model_load(FUZZ_SRC_DIR "/tests/data/tiny", &model, &err)) {
		fprintf(stderr, "%s\n", err.msg);
		abort();
	}
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *path = fuzz_write(0, ".json", data, size);
	struct mpqx_config c = {0}, back = {0};
	struct mpqx_err err = {0};
	int rc = config_load(path, model, &c, &err);
	if (rc) {
		if (c.layers || rc != MPQX_EINPUT)
			abort();
		fuzz_check_msg(err.msg, path);
		return 0;
	}
	const char *saved = fuzz_scratch(1, ".json");
	if (config_save(saved, model, &c, &err) || config_load(saved, model, &back, &err) || !config_equal(&c, &back)) {
		fprintf(stderr, "saved config does not load back the same: %s\n", err.msg);
		abort();
	}
	config_fini(&back);
	config_fini(&c);
	return 0;
}
