/* jsonp_same.h -- for the jsonp tests: whether jsonp_parse and cJSON_ParseWithLengthOpts agree on a text
 * (both refuse it, or both give the same tree and stop at the same offset). */
#ifndef JSONP_SAME_H
#define JSONP_SAME_H

#include <string.h>

#include "jsonp.h"

static int jsonp_same_tree(const cJSON *a, const cJSON *b)
{
	for (; a || b; a = a->next, b = b->next) {
		if (!a || !b || a->type != b->type || a->valueint != b->valueint ||
		    memcmp(&a->valuedouble, &b->valuedouble, sizeof(double)))
			return 0;
		if ((a->string == NULL) != (b->string == NULL) || (a->string && strcmp(a->string, b->string)))
			return 0;
		if ((a->valuestring == NULL) != (b->valuestring == NULL) ||
		    (a->valuestring && strcmp(a->valuestring, b->valuestring)))
			return 0;
		if ((a->child == NULL) != (b->child == NULL))
			return 0;
		if (a->child) {
			const cJSON *la = a->child, *lb = b->child;
			while (la->next)
				la = la->next;
			while (lb->next)
				lb = lb->next;
			if (a->child->prev != la || b->child->prev != lb ||
			    !jsonp_same_tree(a->child, b->child))
				return 0;
		}
	}
	return 1;
}

/* 1 when both parsers agree on text[0..len); *accepted tells whether they took it. */
static int jsonp_same(const char *text, size_t len, int *accepted)
{
	const char *cend = NULL;
	cJSON *want = cJSON_ParseWithLengthOpts(text, len, &cend, 0);
	size_t end = 0;
	bool deep = false;
	cJSON *got = jsonp_parse(text, len, CJSON_NESTING_LIMIT, &end, &deep);
	int same = (want == NULL) == (got == NULL);
	if (same && want)
		same = jsonp_same_tree(want, got) && (size_t)(cend - text) == end;
	*accepted = want != NULL;
	cJSON_Delete(want);
	cJSON_Delete(got);
	return same;
}

#endif
