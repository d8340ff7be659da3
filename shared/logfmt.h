/* logfmt.h -- logfmt encoding (key=value, quoted when needed) and decoding of one line. */
#ifndef RFX_LOGFMT_H
#define RFX_LOGFMT_H

#include "buf.h"

/* Appends ` key=value` (no leading space when b is empty). The value is quoted with "..." when it is empty or holds
 * a space, '=', '"', a control character or a non-ASCII byte; inside quotes \" \\ \n \r \t and \xHH are escaped. */
rfx_err logfmt_append(rfx_buf *b, const char *key, const char *value);
bool logfmt_needs_quote(const char *value);

/* One decoded line: pairs point into storage owned by the struct. */
typedef struct logfmt_pair {
	char *key;
	char *value;
} logfmt_pair;

typedef struct logfmt_record {
	logfmt_pair *pairs;
	size_t n;
	char *storage;
} logfmt_record;

/* Decodes one line (no trailing newline needed). RFX_ERR_PARSE for a line that is not logfmt. */
rfx_err logfmt_parse(const char *line, size_t len, logfmt_record *out);
const char *logfmt_get(const logfmt_record *r, const char *key); /* NULL when absent */
void logfmt_record_free(logfmt_record *r);

#endif
