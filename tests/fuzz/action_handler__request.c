/* action_handler__request.c -- fuzzes the action request parser, and the journal round trip of what it
 * accepts. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "../../action_handler/request.h"
#include "../../action_handler/target.h"

static void roundtrip(action *a)
{
	char err[200];
	cJSON *j = action_to_json(a, ACTION_VIEW_FULL);
	action *b = NULL;
	if (action_from_json(j, &b, err, sizeof(err)) != RFX_OK)
		abort(); /* everything the parser accepts must survive the journal */
	cJSON *j2 = action_to_json(b, ACTION_VIEW_FULL);
	char *s1 = cJSON_PrintUnformatted(j), *s2 = cJSON_PrintUnformatted(j2);
	if (strcmp(s1, s2))
		abort();
	free(s1);
	free(s2);
	cJSON_Delete(j);
	cJSON_Delete(j2);
	action_free(b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	action *a = NULL;
	request_error e;
	if (request_parse((const char *)data, size, &a, &e) != RFX_OK)
		return 0;
	for (size_t i = 0; i < a->nruns; i++) {
		target_addr t;
		char key[TARGET_KEY_MAX];
		if (target_parse(a->runs[i].target, &t) != RFX_OK)
			abort();
		target_key(&t, 22, key);
	}
	roundtrip(a);
	action_free(a);
	return 0;
}
