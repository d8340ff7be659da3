/* template.h -- `{{field}}` templates of rule actions: compiled at load (unknown fields are load errors),
 * rendered per event either shell-quoted (command, verify) or raw (targets, notes, urls, bodies). */
#ifndef RFX_TEMPLATE_H
#define RFX_TEMPLATE_H

#include "buf.h"
#include "match.h"

typedef struct template template;

#define TEMPLATE_MAX_LEN    16384 /* bytes of source */
#define TEMPLATE_MAX_OUT    65536 /* bytes of one rendered value */
#define TEMPLATE_MAX_FIELDS 128	  /* {{..}} per template */

/* Compiles src. Fields: source, state, title, severity, entity, event_type, source_id, url, id, tags.NAME,
 * topology.NAME; spaces inside the braces are allowed ({{ entity }}). On error returns RFX_ERR_PARSE or
 * RFX_ERR_INVAL, *err_col is the 1-based byte column in src and err the reason. */
rfx_err template_compile(const char *src, template **out, int *err_col, char *err, size_t errlen);
void template_free(template *t);
const char *template_source(const template *t);
size_t template_nfields(const template *t); /* 0: a constant */

/* Renders t for c into *out (caller frees). With shell_quote every substituted value is wrapped in single
 * quotes
 * ('...' with ' written as '\''), always; a field that is missing or empty is then an error (RFX_ERR_INVAL)
 * because an empty argument can change what a command does (`rm -rf /cache/{{tags.app}}`). Without
 * shell_quote values are inserted as they are and a missing field is "". RFX_ERR_LIMIT beyond
 * TEMPLATE_MAX_OUT. */
rfx_err template_render(const template *t, const eval_ctx *c, bool shell_quote, char **out, char *err,
			size_t errlen);

/* Renders t raw and checks the result is a valid target: host, host:port, IPv4, IPv6 or [IPv6]:port
 * (RFX_ERR_INVAL with a clear reason otherwise). */
rfx_err template_render_target(const template *t, const eval_ctx *c, char **out, char *err, size_t errlen);
bool template_valid_target(const char *s, char *err, size_t errlen);

/* Appends s to out single-quoted for a POSIX shell. */
rfx_err template_shell_quote(const char *s, rfx_buf *out);

#endif
