/* rules.h -- the rule model (DESIGN.md "Rules") and its loader: YAML documents in, validated rules out, every
 * problem reported as file:line:column: key.path: reason. */
#ifndef RFX_RULES_H
#define RFX_RULES_H

#include <cjson/cJSON.h>
#include <stdatomic.h>

#include "expr.h"
#include "match.h"
#include "template.h"

#define RULES_NAME_MAX	     128	/* [A-Za-z0-9._-]{1,128} */
#define RULES_MAX_FILE	     (8u << 20) /* bytes of one rule file */
#define RULES_MAX_DOCS	     20000	/* documents in one file */
#define RULES_MAX_TARGETS    64		/* entries of action.targets */
#define RULES_PRIORITY_LIMIT 1000000	/* priority is within +-this */
#define RULES_VERSION_LEN    12		/* hex digits of a rule version */

/* Defaults of optional keys (documented in docs/rules.md). */
#define RULES_DEFAULT_TIMEOUT_MS   60000
#define RULES_DEFAULT_COOLDOWN_MS  600000
#define RULES_DEFAULT_MAX_ATTEMPTS 3
#define RULES_DEFAULT_MAX_PER_HOUR 20
#define RULES_DEFAULT_MAX_TARGETS  5

typedef enum { RULE_ACTION_NONE = 0, RULE_ACTION_SSH, RULE_ACTION_HTTP } rule_action_type;
typedef enum { RULE_MODE_ENFORCE = 0, RULE_MODE_DRY_RUN } rule_mode;

/* match.<field>: the event fields a rule can match, in the order the index prefers them. */
typedef enum {
	RULE_MF_EVENT_TYPE = 0,
	RULE_MF_ENTITY,
	RULE_MF_SOURCE_ID,
	RULE_MF_TITLE,
	RULE_MF_SEVERITY,
	RULE_MF_SOURCE,
	RULE_MF_STATE,
	RULE_MF__COUNT
} rule_match_field;

typedef struct rule_tag_match {
	char *key;
	matcher *m;
} rule_tag_match;

typedef struct rule_topo_match {
	char *key;     /* e.g. "listens" */
	char **values; /* any of */
	size_t nvalues;
} rule_topo_match;

typedef struct rule_match {
	matcher *fields[RULE_MF__COUNT]; /* NULL: any value; state defaults to "open" */
	rule_tag_match *tags;
	size_t ntags;
	rule_topo_match *topology;
	size_t ntopology;
} rule_match;

typedef struct rule_outcome {
	template *note; /* NULL when absent; values inserted raw */
	bool close;	/* close the problem at the source */
	char *team;	/* NULL when absent */
} rule_outcome;

typedef struct rule_action {
	rule_action_type type;
	template **targets; /* ssh: default one "{{entity}}" */
	size_t ntargets;
	template *command; /* ssh: required, shell-quoted substitutions */
	template *verify;  /* ssh: optional, shell-quoted substitutions */
	char *user;	   /* NULL: the action handler's ssh_user */
	int64_t timeout_ms;
	rule_mode mode;
	rule_outcome on_success, on_failure;
	template *url;	/* http: required, raw substitutions */
	char *method;	/* http: GET POST PUT PATCH DELETE, default POST; NULL otherwise */
	template *body; /* http: optional, raw substitutions */
} rule_action;

typedef struct rule_limits {
	int64_t cooldown_ms; /* same rule, same target: not again within this (0: no cooldown) */
	int max_attempts;    /* per problem (source_id) */
	int max_per_hour;    /* per rule over all targets */
	int max_targets;     /* targets one event may reach */
} rule_limits;

typedef struct rule {
	char *name;
	char *description; /* "" when absent */
	bool enabled;
	int priority;
	bool final;
	rule_match match;
	expr *when; /* NULL when absent */
	rule_action action;
	rule_limits limits;
	char *file;			     /* the path it was loaded from, as given ("rules/disk.yaml") */
	int line;			     /* first line of its document */
	int name_line, name_col;	     /* where its name is, for duplicate-name errors */
	char version[RULES_VERSION_LEN + 1]; /* short hash of the document text */
	atomic_uint refs;
} rule;

/* A load error: "file:line:col: message" where message is "key.path: reason". line/col 0 when unknown. */
typedef struct rules_error {
	char *file;
	int line, col;
	char *message;
} rules_error;

typedef struct rules_errors {
	rules_error *v;
	size_t n;
} rules_errors;

void rules_errors_add(rules_errors *e, const char *file, int line, int col, const char *message);
void rules_errors_add_diag(rules_errors *e, const char *file, const rule_diag *d);
void rules_errors_append(rules_errors *dst, const rules_errors *src); /* copies */
void rules_errors_clear(rules_errors *e);
/* "rules/disk.yaml:12:5: match.severity: expected ..." ("file: message" when line is 0). */
void rules_error_format(const rules_error *e, char *out, size_t outlen);

/* Parses every document of one rule file. The file is atomic: when any document is invalid, *out is NULL,
 * every invalid document has an error in errs (first problem of each) and RFX_ERR_INVAL is returned. A YAML
 * syntax error gives RFX_ERR_PARSE. Duplicate names inside the file are errors (the later document). On
 * success *out holds *n rules, each with one reference, owned by the caller (rules_release_all). */
rfx_err rules_parse(const char *file, const char *text, size_t len, rule ***out, size_t *n,
		    rules_errors *errs);
/* Reads path (at most RULES_MAX_FILE bytes) and parses it; file names the rules and errors. */
rfx_err rules_load_file(const char *path, rule ***out, size_t *n, rules_errors *errs);

rule *rule_ref(rule *r);
void rule_unref(rule *r);		    /* frees on the last reference */
void rules_release_all(rule **v, size_t n); /* unrefs each and frees the array */

bool rules_name_valid(const char *s);
const char *rules_action_type_name(rule_action_type t);		   /* "ssh" | "http" | "none" */
const char *rules_mode_name(rule_mode m);			   /* "enforce" | "dry-run" */
const char *rules_match_field_name(rule_match_field f);		   /* "event_type", ... */
const char *rules_match_value(const event *e, rule_match_field f); /* the event's value of that field */

/* match and when hold for c (ignores enabled). Never allocates. */
bool rule_matches(const rule *r, const eval_ctx *c);

/* An action rendered for one event. Strings are owned; NULL when the rule has no such part. */
typedef struct rule_rendered {
	char **targets; /* ssh: rendered, checked, de-duplicated, at most limits.max_targets */
	size_t ntargets;
	char *command, *verify; /* ssh: substituted values shell-quoted */
	char *url, *body;	/* http */
	char *success_note, *failure_note;
} rule_rendered;

/* Renders r's action for c. RFX_ERR_INVAL (a bad target, a missing value in a command) or RFX_ERR_LIMIT (more
 * targets than limits.max_targets, output too long) with the reason in err; *out is then empty. */
rfx_err rule_render(const rule *r, const eval_ctx *c, rule_rendered *out, char *err, size_t errlen);
void rule_rendered_clear(rule_rendered *rr);

/* The action part of the body sent to the action handler: rule, rule_version, type, targets, command, verify,
 * user (absent: handler default), timeout (seconds), mode, limits {cooldown (seconds), max_attempts,
 * max_per_hour, max_targets}, on_success/on_failure {note, close, team}, and for http url, method, body.
 * The caller adds action_id, event id, source and source_id. */
cJSON *rule_action_json(const rule *r, const rule_rendered *rr);
/* The listing form for GET /v1/rules: name, description, file, line, version, priority, enabled, final, mode,
 * action_type, match (readable), when. */
cJSON *rule_to_json(const rule *r);

#endif
