#include "mpqx/err.h"

#include <stdarg.h>
#include <stdio.h>

int err_set(struct mpqx_err *err, int code, const char *fmt, ...)
{
	if (!err)
		return code;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof err->msg, fmt, ap);
	va_end(ap);
	err->code = code;
	return code;
}

void err_clear(struct mpqx_err *err)
{
	if (!err)
		return;
	err->code = MPQX_OK;
	err->msg[0] = '\0';
}
