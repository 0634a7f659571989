/* Whole-file reads and atomic writes shared by the loaders and savers. */
#ifndef MPQX_FILEIO_H
#define MPQX_FILEIO_H

#include <stddef.h>

#include "mpqx/err.h"

#define MPQX_FILE_MAX ((size_t)256 << 20)

/* Reads a whole regular file (at most MPQX_FILE_MAX bytes) and NUL-terminates it. The caller frees *out.
 * Errors name the file. */
int fileio_read(const char *path, char **out, size_t *len, struct mpqx_err *err);

/* Writes data to path atomically: a temporary file in the same directory, fsync, rename, fsync of the
 * directory. The old file stays intact on any failure. */
int fileio_write_atomic(const char *path, const char *data, size_t len, struct mpqx_err *err);

/* Test hook: when set, fileio_write_atomic calls hook(tmp_path, path) after writing the first half of the
 * data into the temporary file, before the rest, the fsync and the rename, so that a test can kill the
 * process in the middle of a save. The core never sets it; the command line sets it from
 * MPQX_TEST_SAVE_DELAY_MS (doc in README, "Environment"). NULL removes it. */
void fileio_set_save_hook(void (*hook)(const char *tmp_path, const char *path));

/* A path typed by a user with a leading "~" or "~/" replaced by $HOME (anything else copied as is). Returns 0,
 * or -1 when the result does not fit in size (out is then the unexpanded path, cut). */
int fileio_expand_home(const char *path, char *out, size_t size);

/* Directory part of path into dir (at least "."). */
void fileio_dirname(const char *path, char *dir, size_t size);

/* Joins dir and a relative name (an absolute name is copied as is). Returns 0, or -1 if it does not fit. */
int fileio_join(char *out, size_t size, const char *dir, const char *name);

/* Line and column (1-based) of byte offset off in text. */
void fileio_line_col(const char *text, size_t off, int *line, int *col);

#endif
