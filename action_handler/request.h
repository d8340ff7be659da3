/* request.h -- the action request the classifier signs and posts (POST /v1/actions): parsing and validation.
 */
#ifndef AH_REQUEST_H
#define AH_REQUEST_H

#include "action.h"

#define REQUEST_MAX_TARGETS	1000
#define REQUEST_MAX_COMMAND	65536
#define REQUEST_MAX_TIMEOUT_MS	(24LL * 3600 * 1000)
#define REQUEST_MAX_COOLDOWN_MS (7LL * 24 * 3600 * 1000)
#define REQUEST_MAX_COUNT	1000000000LL

typedef struct request_error {
	char field[48]; /* the offending field ("targets[2]", "limits.cooldown"), "" for the document */
	char message[200];
} request_error;

/* Parses and validates a request body into a new action (state queued, one run per target). RFX_ERR_PARSE for
 * JSON that does not parse, RFX_ERR_INVAL for a field that is wrong; e says which and why. */
rfx_err request_parse(const char *body, size_t len, action **out, request_error *e);
/* Fills a's request fields from a JSON object; shared with the journal, whose snapshots carry the same
 * fields. */
rfx_err request_from_json(const cJSON *j, action *a, request_error *e);
/* Adds a's request fields to the object j. */
void request_to_json(const action *a, cJSON *j);

#endif
