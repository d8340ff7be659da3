/* jsonw.h -- compact JSON text from cJSON trees and C strings, written straight into an rfx_buf. The output
 * is byte for byte what cJSON_PrintUnformatted gives, without its temporary buffers and second pass. */
#ifndef RFX_JSONW_H
#define RFX_JSONW_H

#include <cjson/cJSON.h>

#include "buf.h"

/* s as a JSON string literal, quotes included (NULL writes ""). */
rfx_err jsonw_string(rfx_buf *b, const char *s);
/* v as compact JSON text (NULL writes null). RFX_ERR_LIMIT when b's maximum is reached. */
rfx_err jsonw_value(rfx_buf *b, const cJSON *v);
/* v as a malloc'd compact JSON text (aborts on OOM, like rfx_malloc). */
char *jsonw_print(const cJSON *v);

#endif
