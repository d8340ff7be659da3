/* jsonp.h -- JSON text to a cJSON tree for request bodies: the same texts accepted and the same tree as
 * cJSON_ParseWithLengthOpts(text, len, &end, false) (a differential fuzzer holds it to that), in one pass
 * that scans strings sixteen bytes at a time and makes no call per character, with the nesting bounded by the
 * caller. Nodes and strings come from cJSON's allocator (cJSON_malloc), so cJSON_Delete frees the tree. */
#ifndef RFX_JSONP_H
#define RFX_JSONP_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>

/* The value at the start of text[0..len) (after whitespace and a UTF-8 byte order mark), or NULL when there
 * is none. *end: the offset after the value, or where parsing stopped. *too_deep: whether it stopped because
 * arrays and objects nest deeper than max_depth (cJSON itself allows CJSON_NESTING_LIMIT). */
cJSON *jsonp_parse(const char *text, size_t len, int max_depth, size_t *end, bool *too_deep);

#endif
