/* expr.h -- the `when` expression language of rules: compiled once at load, evaluated without allocating and
 * without run-time errors. Grammar, operators and semantics are documented in docs/rules.md. */
#ifndef RFX_EXPR_H
#define RFX_EXPR_H

#include "match.h"

typedef struct expr expr;

#define EXPR_MAX_LEN   4096 /* bytes of source */
#define EXPR_MAX_NODES 512  /* operators and comparisons */
#define EXPR_MAX_DEPTH 32   /* nesting of parentheses and ! */
#define EXPR_MAX_LIST  256  /* items of one `in [..]` */

/* Compiles src. On error returns RFX_ERR_PARSE (syntax) or RFX_ERR_INVAL (unknown field, bad regex, a bound),
 * sets *err_col to the 1-based byte column in src where the problem is and writes the reason to err. */
rfx_err expr_compile(const char *src, expr **out, int *err_col, char *err, size_t errlen);
/* Evaluates e for c. Never allocates (beyond what the C library's regexec does internally) and never fails:
 * a missing field is "", an ordering comparison with a non-number is false. */
bool expr_eval(const expr *e, const eval_ctx *c);
void expr_free(expr *e);
const char *expr_source(const expr *e);
/* Writes the parsed form fully parenthesized, e.g. "((severity == \"critical\") || !(tags.env == \"prod\"))",
 * for tests and `reflex rules test` explanations. */
void expr_dump(const expr *e, char *out, size_t outlen);

#endif
