/* ruleset.h -- an immutable, refcounted snapshot of all loaded rules, in priority order, with an index that
 * makes classification cost depend on the rules that could match an event rather than on all rules. */
#ifndef RFX_RULESET_H
#define RFX_RULESET_H

#include "rules.h"

typedef struct ruleset ruleset;

/* Builds a snapshot of rules (each gets a new reference; names must be unique) and a copy of errors (may be
 * NULL). Rules are ordered by priority (higher first), then name. The result has one reference. */
ruleset *ruleset_new(rule *const *rules, size_t n, const rules_errors *errors);
ruleset *ruleset_ref(ruleset *rs);
/* Drops a reference; the last one frees the snapshot. Safe from any thread; NULL is ignored. */
void ruleset_release(ruleset *rs);

size_t ruleset_count(const ruleset *rs);		       /* all rules, enabled or not */
const rule *ruleset_get(const ruleset *rs, size_t i);	       /* i-th in priority order */
const rule *ruleset_find(const ruleset *rs, const char *name); /* NULL when absent */
const rules_errors *ruleset_errors(const ruleset *rs);	       /* load errors at the time of the snapshot */
int64_t ruleset_loaded_at_ms(const ruleset *rs);	       /* wall clock when it was built */

/* The enabled rules whose match and when hold for c, in priority order, stopping after the first `final`
 * one (which is included) or after max. Returns how many were written to out. Thread-safe, never allocates.
 */
size_t ruleset_match(const ruleset *rs, const eval_ctx *c, const rule **out, size_t max);
/* The same answer by testing every enabled rule in order, without the index (tests, benchmarks). */
size_t ruleset_match_linear(const ruleset *rs, const eval_ctx *c, const rule **out, size_t max);

/* Index shape, for tests and metrics: rules in the unindexed bucket, and per match field how many rules it
 * indexes. */
size_t ruleset_unindexed(const ruleset *rs);
size_t ruleset_indexed_by(const ruleset *rs, rule_match_field f);

#endif
