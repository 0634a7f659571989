/* Shared pieces of the subcommands. */
#ifndef MPQX_CLI_H
#define MPQX_CLI_H

#include <stdbool.h>

#include "mpqx/config.h"
#include "mpqx/dataset.h"
#include "mpqx/device.h"
#include "mpqx/err.h"
#include "mpqx/model.h"

enum { CLI_OK = 0, CLI_FAIL = 1, CLI_USAGE = 2 };

/* Prints "mpqx: MESSAGE" on stderr. */
void cli_error(const char *fmt, ...)
#if defined(__GNUC__)
	__attribute__((format(printf, 1, 2)))
#endif
	;

/* Prints a usage error with a hint to --help; returns CLI_USAGE. */
/* Width of a table's layer-name column: the longest layer name, at least min (imported models carry their
 * module paths as names, e.g. encoder.encoder_layers.0.mha.linear_q). */
int cli_name_width(const struct mpqx_model *m, int min);

/* Warns on stderr ("mpqx: warning: ...") when the config loaded from path names another model than m. */
void cli_config_check(const char *path, const struct mpqx_config *c, const struct mpqx_model *m);

/* Loads the device (the -d name, else the config's) into dev, sets the config's device to it when -d
 * named it, and checks the config against it (device_check_config): an error for storage the device
 * lacks, warnings on stderr. Errors name the config file when the device came from it. */
int cli_device(const char *config, const char *device, struct mpqx_config *c, const struct mpqx_model *m,
	       struct mpqx_device *dev, struct mpqx_err *err);

int cli_usage_error(const char *cmd, const char *fmt, ...)
#if defined(__GNUC__)
	__attribute__((format(printf, 2, 3)))
#endif
	;

/* The MODEL argument, or the bundled default sample when arg is NULL. */
const char *cli_model_path(const char *arg);

/* Directory of a bundled resource (samples, devices, themes, hdl_templates): the source tree when run
 * from a build, else the installed data directory. Returns a static buffer. */
const char *cli_data_dir(const char *what);

/* Loads model and dataset, printing the error; returns CLI_OK or CLI_FAIL. */
int cli_load(const char *arg, struct mpqx_model **m, struct mpqx_dataset **d);

int cmd_eval(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_compare(int argc, char **argv);
int cmd_export(int argc, char **argv);
int cmd_estimate(int argc, char **argv);
int cmd_search(int argc, char **argv);
int cmd_tui(int argc, char **argv);

#endif
