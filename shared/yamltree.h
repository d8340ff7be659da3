/* yamltree.h -- YAML (libyaml) parsed into a small tree that keeps every node's line and column, for config files
 * and rule files whose errors must name file, line, column and reason. Aliases are refused; depth is bounded. */
#ifndef RFX_YAMLTREE_H
#define RFX_YAMLTREE_H

#include "rfx.h"

typedef enum { YT_SCALAR, YT_MAP, YT_SEQ } yt_kind;

typedef struct yt_node yt_node;
typedef struct yt_pair {
	yt_node *key; /* always a scalar */
	yt_node *value;
} yt_pair;

struct yt_node {
	yt_kind kind;
	int line, col; /* 1-based start of the node */
	char *scalar;  /* YT_SCALAR: the text ("" for an empty/null value) */
	bool quoted;   /* YT_SCALAR: written in quotes (so `"true"` is a string, not a bool) */
	bool null;     /* YT_SCALAR: plain `~`, `null` or empty */
	yt_node **items; /* YT_SEQ */
	yt_pair *pairs;	 /* YT_MAP, in file order; duplicate keys are a parse error */
	size_t n;	 /* items or pairs */
};

typedef struct yt_error {
	int line, col;
	char reason[200];
} yt_error;

#define YT_MAX_DEPTH 64

/* Parses every document of text ("---" separated). Empty documents are skipped. On error returns RFX_ERR_PARSE
 * and fills err; *docs is NULL. */
rfx_err yt_parse(const char *text, size_t len, yt_node ***docs, size_t *ndocs, yt_error *err);
void yt_free(yt_node *n);
void yt_free_docs(yt_node **docs, size_t ndocs);

const yt_node *yt_map_get(const yt_node *map, const char *key); /* NULL when absent or map is not a map */
const char *yt_kind_name(yt_kind k);				/* "scalar", "mapping", "sequence" */
/* Scalar conversions; false when the scalar is not of that type. */
bool yt_as_bool(const yt_node *n, bool *out);  /* true/false/yes/no/on/off, unquoted */
bool yt_as_int(const yt_node *n, long long *out);
bool yt_as_double(const yt_node *n, double *out);

#endif
