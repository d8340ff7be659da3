/* match.h -- the match operators of rules (exact, any-of, glob, regex, not), event field references, the
 * evaluation context shared with expressions and templates, and the load-time diagnostic type. */
#ifndef RFX_MATCH_H
#define RFX_MATCH_H

#include <stdbool.h>
#include <stddef.h>

#include "event.h"
#include "rfx.h"
#include "yamltree.h"

/* What rules, expressions and templates are evaluated against. The topology hooks are NULL when no topology
 * store is plugged in: then topology.* fields are "" and a rule with match.topology does not match. */
typedef struct eval_ctx {
	const event *ev;
	/* topology hooks, NULL when no topology store: */
	void *topo_ud;
	/* topology.X: writes the value into buf (or returns a stable string); NULL or "" when unknown */
	const char *(*topo_field)(void *ud, const event *ev, const char *name, char *buf, size_t buflen);
	/* match.topology {key: value}: true when the entity satisfies key=value in the live map */
	bool (*topo_match)(void *ud, const event *ev, const char *key, const char *value);
} eval_ctx;

/* A load-time problem: where (1-based line and column in the rule file) and what ("key.path: reason"). */
typedef struct rule_diag {
	int line, col;
	char msg[400];
} rule_diag;

/* Sets d from a node's position, a key path and a printf-style reason. */
void match_diag(rule_diag *d, const yt_node *at, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* ---- event fields, as named in expressions and templates ---- */

typedef enum {
	FIELD_SOURCE,
	FIELD_STATE,
	FIELD_TITLE,
	FIELD_SEVERITY,
	FIELD_ENTITY,
	FIELD_EVENT_TYPE,
	FIELD_SOURCE_ID,
	FIELD_URL,
	FIELD_ID,
	FIELD_TAG,	/* tags.<name> */
	FIELD_TOPOLOGY, /* topology.<name> */
} match_field_kind;

#define MATCH_FIELD_NAME_MAX 256 /* longest tag or topology name */
#define MATCH_TOPO_BUF	     256 /* buffer handed to topo_field */

typedef struct match_field {
	match_field_kind kind;
	char *name; /* FIELD_TAG / FIELD_TOPOLOGY: the part after the dot, owned; NULL otherwise */
} match_field;

/* Parses a field path ("severity", "tags.env", "topology.dependents"; path[0..len)). On error returns
 * RFX_ERR_INVAL with a reason in err. */
rfx_err match_field_parse(const char *path, size_t len, match_field *out, char *err, size_t errlen);
void match_field_clear(match_field *f);
/* The field's value for c; never NULL. *present is false (and "" returned) when a tag is absent or a
 * topology value unknown. buf (at least MATCH_TOPO_BUF bytes) may hold the value. Never allocates. */
const char *match_field_value(const match_field *f, const eval_ctx *c, char *buf, size_t buflen,
			      bool *present);
/* Writes the path back ("tags.env"). */
void match_field_path(const match_field *f, char *out, size_t outlen);

/* ---- matchers: the values of match.* keys ---- */

typedef enum {
	MATCH_EXACT, /* a string */
	MATCH_ANY,   /* a list: any item matches */
	MATCH_GLOB,  /* {glob: "web-*"}: fnmatch on the whole value */
	MATCH_REGEX, /* {regex: "..."}: POSIX ERE, unanchored; a leading (?i) makes it case-insensitive */
	MATCH_NOT,   /* {not: <matcher>} */
} matcher_kind;

typedef struct matcher matcher;

#define MATCH_MAX_ITEMS 1024 /* items in one list */
#define MATCH_MAX_DEPTH 8    /* nested lists / not */

/* Parses a matcher node. path is the key path for messages ("match.severity"). */
rfx_err matcher_parse(const yt_node *n, const char *path, matcher **out, rule_diag *d);
/* Builds matchers directly (tests, the rules index). The pattern is copied. regex may fail: RFX_ERR_INVAL. */
matcher *matcher_exact(const char *s);
rfx_err matcher_regex(const char *pattern, matcher **out, char *err, size_t errlen);
void matcher_free(matcher *m);

bool matcher_test(const matcher *m, const char *value);
matcher_kind matcher_get_kind(const matcher *m);
/* For MATCH_EXACT, or MATCH_ANY whose items are all exact: the exact strings (the index uses them). */
bool matcher_exact_values(const matcher *m, const char *const **values, size_t *n);
/* A readable form for listings: "nginx", "[a, b]", "{glob: web-*}". */
void matcher_describe(const matcher *m, char *out, size_t outlen);

/* A compiled POSIX ERE with the (?i) convention; shared by matchers and expressions. */
typedef struct match_regex match_regex;
rfx_err match_regex_compile(const char *pattern, match_regex **out, char *err, size_t errlen);
bool match_regex_test(const match_regex *re, const char *s);
void match_regex_free(match_regex *re);

/* True when s is all digits etc. and fits a double: "-1.5", "42", "1e3". Never allocates. */
bool match_parse_number(const char *s, double *out);

#endif
