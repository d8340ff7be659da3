/* normalize.h -- source payloads to normalized events. One module per source (norm_<source>.c) behind one table,
 * shared by the classifier's webhook endpoints and the poller so identical input gives identical events. */
#ifndef RFX_NORMALIZE_H
#define RFX_NORMALIZE_H

#include "event.h"

typedef struct normalizer {
	const char *name; /* "alertmanager", "dynatrace", "opsgenie", "icinga", "generic" */
	event_source source;
	/* Appends one event per problem in body to out. On bad input returns RFX_ERR_INVAL with a reason (and the
	 * offending field, when there is one) in err/field; out is left as it was. */
	rfx_err (*parse)(const cJSON *body, event_list *out, char *err, size_t errlen, const char **field);
} normalizer;

const normalizer *normalizer_find(const char *name); /* NULL when unknown */
extern const normalizer *const normalizers[];	     /* ended by NULL */

/* POST /v1/events: a normalized event (or a list of them under "events", or a JSON array), or generic JSON that has at
 * least a title/summary/message. Missing source_id is derived from a hash of source+entity+event_type+title. */
rfx_err normalize_generic(const cJSON *body, event_list *out, char *err, size_t errlen, const char **field);

#endif
