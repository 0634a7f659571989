/* Text templates for the exported Verilog (hdl_templates/, doc/hardware.md "Templates").
 *
 * A template is a valid Verilog file. It declares its placeholders in comment lines
 *
 *     // @placeholder NAME  what it is
 *
 * and marks each use with the default text that keeps the file valid on its own: the opening marker is
 * the comment "{{NAME" (slash-star, {{NAME, star-slash), the closing one the comment "}}", so that
 * `parameter R = <open R>24<close>,` reads as `parameter R = 24,` to a Verilog tool.
 *
 * Rendering replaces every span from the opening marker to the closing one by the value set for NAME.
 * A multi-line value keeps the indentation of the line the placeholder starts on; a placeholder that
 * stands alone on its lines is replaced line by line, and an empty value removes those lines. Declaration
 * lines are dropped from the output. Names are upper-case letters, digits and '_'. */
#ifndef MPQX_TMPL_H
#define MPQX_TMPL_H

#include <stddef.h>

#include "mpqx/err.h"

struct mpqx_tmpl;

/* Parses template text; name is used in messages (a file name). Fails, naming the line, on a marker
 * that is not closed, nested, or names an undeclared placeholder, and on a declared placeholder that
 * is never used. The caller owns *out (tmpl_free). */
int tmpl_parse(const char *name, const char *text, struct mpqx_tmpl **out, struct mpqx_err *err);

/* Reads and parses a template file. */
int tmpl_load(const char *path, struct mpqx_tmpl **out, struct mpqx_err *err);

void tmpl_free(struct mpqx_tmpl *t);

/* Sets a placeholder's value (copied; a later set replaces it). Refuses a name the template does not
 * declare with MPQX_EINPUT. */
int tmpl_set(struct mpqx_tmpl *t, const char *name, const char *value, struct mpqx_err *err);
int tmpl_setf(struct mpqx_tmpl *t, struct mpqx_err *err, const char *name, const char *fmt, ...)
#if defined(__GNUC__)
	__attribute__((format(printf, 4, 5)))
#endif
	;

/* Renders into a new NUL-terminated string the caller frees. Fails with MPQX_EINPUT listing every
 * placeholder left unfilled. */
int tmpl_render(const struct mpqx_tmpl *t, char **out, size_t *len, struct mpqx_err *err);

/* Number of declared placeholders and the i-th name (owned by t). */
int tmpl_count(const struct mpqx_tmpl *t);
const char *tmpl_name(const struct mpqx_tmpl *t, int i);

/* Clears all values so the template can be rendered again with other values. */
void tmpl_reset(struct mpqx_tmpl *t);

#endif
