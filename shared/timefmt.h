/* timefmt.h -- rfx_iso8601 for hot paths: the same text, with the formatted second cached per thread so that
 * most calls neither take gmtime's lock nor run strftime. */
#ifndef RFX_TIMEFMT_H
#define RFX_TIMEFMT_H

#include "rfx.h"

/* Exactly rfx_iso8601(ms, out): "2026-11-22T01:21:04.264Z". */
void timefmt_iso8601(int64_t ms, char out[32]);

#endif
