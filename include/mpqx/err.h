/* Error reporting of the core: a caller-owned struct filled with one message. */
#ifndef MPQX_ERR_H
#define MPQX_ERR_H

#include <stddef.h>

enum {
	MPQX_OK = 0,
	MPQX_EINPUT = 1, /* bad input file or argument: the message names file and place */
	MPQX_EIO = 2,    /* the system refused: open, read, write, rename */
	MPQX_ENOMEM = 3,
	MPQX_ERANGE = 4, /* a value the arithmetic cannot represent */
};

#define MPQX_ERR_LEN 512

struct mpqx_err {
	int code;
	char msg[MPQX_ERR_LEN];
};

/* Sets code and a printf-style message; returns code so callers can `return err_set(...)`.
 * err may be NULL. */
int err_set(struct mpqx_err *err, int code, const char *fmt, ...)
#if defined(__GNUC__)
	__attribute__((format(printf, 3, 4)))
#endif
	;

/* Clears err (may be NULL). */
void err_clear(struct mpqx_err *err);

#endif
