/* The explorer's compare slots kept per model between runs: a small JSON file under
 * $XDG_STATE_HOME/mpqx/slots/ (doc/config-format.md, "Slots file"). */
#ifndef MPQX_SLOTS_H
#define MPQX_SLOTS_H

#include <stddef.h>

#include "mpqx/app.h"
#include "mpqx/err.h"
#include "mpqx/model.h"

/* The slots file of model m: $XDG_STATE_HOME/mpqx/slots/NAME-HASH.json ($HOME/.local/state when
 * XDG_STATE_HOME is unset), HASH from the model file's path so that two models of one name keep apart.
 * Returns MPQX_OK, or an error when neither variable is set or the path is too long. */
int slots_default_path(const struct mpqx_model *m, char *out, size_t size, struct mpqx_err *err);

/* Writes the n slots atomically, creating the directories. */
int slots_save(const char *path, const struct mpqx_model *m, const struct app_slot *slots, int n,
	       struct mpqx_err *err);

/* Reads the slots of path into slots[0..n) (finalised and refilled; the caller owns their configs). A
 * missing file is no slots and MPQX_OK; a file written for an earlier version of the model file (its size
 * or time changed) leaves the slots empty and says so in *note (may be NULL). Errors name the file and
 * the JSON path. */
int slots_load(const char *path, const struct mpqx_model *m, struct app_slot *slots, int n, char *note,
	       size_t note_size, struct mpqx_err *err);

#endif
