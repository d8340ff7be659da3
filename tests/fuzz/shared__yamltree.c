/* shared__yamltree.c -- fuzzes the YAML tree builder: any input parses or fails cleanly, and the tree is
 * sound. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "yamltree.h"

/* Walks the tree checking the invariants callers rely on. */
static void walk(const yt_node *n, int depth)
{
	if (depth > YT_MAX_DEPTH + 1 || n->line < 1 || n->col < 1)
		abort();
	switch (n->kind) {
	case YT_SCALAR: {
		if (!n->scalar || (n->null && n->scalar[0]))
			abort();
		bool b;
		long long i;
		double d;
		yt_as_bool(n, &b);
		yt_as_int(n, &i);
		yt_as_double(n, &d);
		break;
	}
	case YT_SEQ:
		for (size_t i = 0; i < n->n; i++)
			walk(n->items[i], depth + 1);
		break;
	case YT_MAP:
		for (size_t i = 0; i < n->n; i++) {
			if (n->pairs[i].key->kind != YT_SCALAR)
				abort();
			if (yt_map_get(n, n->pairs[i].key->scalar) != n->pairs[i].value)
				abort(); /* keys are unique */
			walk(n->pairs[i].value, depth + 1);
		}
		break;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	yt_node **docs = NULL;
	size_t n = 0;
	yt_error err;
	if (yt_parse((const char *)data, size, &docs, &n, &err) != RFX_OK) {
		if (docs || n || !err.reason[0])
			abort();
		return 0;
	}
	for (size_t i = 0; i < n; i++)
		walk(docs[i], 1);
	yt_free_docs(docs, n);
	return 0;
}
