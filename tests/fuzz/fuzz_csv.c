/* Fuzzes the dataset CSV reader through the tiny model (tests/data/tiny) pointed at the input. */
#include "fuzz_util.h"
#include "mpqx/dataset.h"
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
	snprintf(model->data.csv, sizeof model->data.csv, "%s", fuzz_scratch(0, ".csv"));
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_write(0, ".csv", data, size);
	struct mpqx_dataset *d = NULL;
	struct mpqx_err err = {0};
	int rc = dataset_load(model, &d, &err);
	if (rc) {
		if (d || (rc != MPQX_EINPUT && rc != MPQX_ENOMEM))
			abort();
		fuzz_check_msg(err.msg, model->data.csv);
		return 0;
	}
	/* every window of every part, as the engine reads them */
	double sum = 0;
	for (int s = 0; s < MPQX_SPLITS; s++)
		for (int i = 0; i < d->windows[s]; i++) {
			const float *w = dataset_window(d, (enum mpqx_split)s, i);
			sum += w[0] + w[(size_t)d->window * d->features - 1];
			sum += dataset_target(d, (enum mpqx_split)s, i) + dataset_persistence(d, (enum mpqx_split)s, i);
		}
	(void)sum;
	struct mpqx_norm norm[MPQX_MAX_COLUMNS], target;
	if (dataset_fit_norm(model, norm, &target, &err))
		abort();
	dataset_free(d);
	return 0;
}
