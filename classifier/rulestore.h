/* rulestore.h -- the rules directory: per-file atomic loads, the last good version of a broken file kept
 * active, errors kept for GET /v1/rules, and the current ruleset snapshot swapped atomically for readers. */
#ifndef RFX_RULESTORE_H
#define RFX_RULESTORE_H

#include <cjson/cJSON.h>
#include <stdio.h>

#include "ruleset.h"

#define RULESTORE_MAX_FILES 20000 /* rule files in the directory; more are reported and ignored */

typedef struct rulestore rulestore;

typedef struct rulestore_report {
	size_t files;	      /* rule files in the directory */
	size_t files_loaded;  /* new or changed files parsed by this reload */
	size_t files_failed;  /* files with errors now (a last good version of theirs may still be active) */
	size_t files_removed; /* files gone since the last reload (their rules dropped) */
	size_t rules;	      /* rules in the current snapshot */
	size_t errors;	      /* errors in the current snapshot */
	bool changed;	      /* a new snapshot was swapped in */
} rulestore_report;

/* A store for dir (copied). Holds an empty snapshot until the first rulestore_reload. */
rulestore *rulestore_new(const char *dir);
void rulestore_free(rulestore *s);
const char *rulestore_dir(const rulestore *s);

/* Scans dir for *.yaml / *.yml (hidden files skipped), re-reads files whose inode, size, mtime or content
 * changed, keeps the last good version of a file that now fails (recording its errors), drops the rules of
 * deleted files, resolves duplicate names (the later file by name order is the error) and, when anything
 * changed, swaps in a new snapshot. Serialized internally; readers are never blocked for long. RFX_ERR_IO
 * when the directory cannot be read (the current snapshot stays, the error is recorded). rep may be NULL. */
rfx_err rulestore_reload(rulestore *s, rulestore_report *rep);

/* The current snapshot with a reference for the caller (never NULL); give it back with ruleset_release. */
ruleset *rulestore_acquire(rulestore *s);

/* GET /v1/rules: {"dir", "loaded_at", "rules": [rule_to_json...] in priority order,
 * "errors": [{"file", "line", "column", "message"}]}. Caller owns the result. */
cJSON *rulestore_to_json(rulestore *s);
/* The errors array alone, in the same form. */
cJSON *rules_errors_to_json(const rules_errors *e);

/* Loads dir once and prints every error as "file:line:col: key.path: reason", one per line, or "N rules OK in
 * M files" when there is none. Returns the number of errors (`reflex rules check`, `--check-rules`). */
int rules_check_dir(const char *dir, FILE *out);

#endif
