/* normalize.h -- source payloads to normalized events: one module per source (norm_<source>.c) behind one
 * table, shared by the classifier's webhook endpoints and the poller so identical input gives identical
 * events. */
#ifndef RFX_NORMALIZE_H
#define RFX_NORMALIZE_H

#include "event.h"

typedef struct normalizer {
	const char *name; /* "alertmanager", "dynatrace", "opsgenie", "icinga", "nagios", "generic" */
	event_source source;
	/* Appends one event per problem in body to out. On bad input returns RFX_ERR_INVAL with a reason (and
	 * the offending field, when there is one) in err/field; out is left as it was. */
	rfx_err (*parse)(const cJSON *body, event_list *out, char *err, size_t errlen, const char **field);
} normalizer;

const normalizer *normalizer_find(const char *name); /* NULL when unknown */
extern const normalizer *const normalizers[];	     /* ended by NULL */

/* POST /v1/events: a normalized event (or a list of them under "events", or a JSON array), or generic JSON
 * that has at least a title/summary/message. Missing source_id is derived from a hash of
 * source+entity+event_type+title. */
rfx_err normalize_generic(const cJSON *body, event_list *out, char *err, size_t errlen, const char **field);

/* The per-source parsers behind the table (also callable directly). The "nagios" entry is the Icinga parser
 * with the source forced to nagios. */
rfx_err norm_alertmanager_parse(const cJSON *body, event_list *out, char *err, size_t errlen,
				const char **field);
rfx_err norm_dynatrace_parse(const cJSON *body, event_list *out, char *err, size_t errlen,
			     const char **field);
rfx_err norm_opsgenie_parse(const cJSON *body, event_list *out, char *err, size_t errlen, const char **field);
rfx_err norm_icinga_parse(const cJSON *body, event_list *out, char *err, size_t errlen, const char **field);
rfx_err norm_nagios_parse(const cJSON *body, event_list *out, char *err, size_t errlen, const char **field);
extern const normalizer norm_alertmanager, norm_dynatrace, norm_opsgenie, norm_icinga, norm_nagios,
    norm_generic;

/* Most problems one payload may carry; beyond it parse fails with RFX_ERR_LIMIT. */
#define NORMALIZE_MAX_EVENTS 10000

/* Alertmanager's own fingerprint of a label set (FNV-1a 64 over sorted names and values, 0xff separated), as
 * 16 hex chars: the source_id of an alert that comes without one, identical to what Alertmanager would have
 * sent. */
void normalize_label_fingerprint(const cJSON *labels, char out[17]);
/* A stable id from parts: the first 16 hex chars of SHA-256 over the parts joined by NUL bytes. */
void normalize_hash_id(const char *const *parts, size_t nparts, char out[17]);

/* ---- For the norm_<source>.c modules: one parse state, typed lookups that fail with a message naming the
 * field. */
typedef struct normalize_ctx {
	event_list out; /* events made so far; handed to the caller only when the whole payload parsed */
	char *err;
	size_t errlen;
	const char **field;
	char where[64]; /* the item being parsed ("alerts[3]"), put before messages; "" at top level */
} normalize_ctx;

typedef rfx_err (*normalize_fn)(normalize_ctx *c, const cJSON *body);

/* Runs fn over body with a fresh state; on success moves the events to out, on failure frees them. */
rfx_err normalize_run(normalize_fn fn, const cJSON *body, event_list *out, char *err, size_t errlen,
		      const char **field);
/* Records "<where>: <field> <reason>" and the field; returns RFX_ERR_INVAL. field may be NULL. */
rfx_err normalize_fail(normalize_ctx *c, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void normalize_where(normalize_ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* normalize_where(c, "%s[%zu]", list, i) without printf: it runs once per problem. */
void normalize_where_item(normalize_ctx *c, const char *list, size_t i);
/* Takes e; RFX_ERR_LIMIT (and e freed) beyond NORMALIZE_MAX_EVENTS. */
rfx_err normalize_push(normalize_ctx *c, event *e);

/* Typed member lookups. Absent or JSON null gives *out = NULL (an error when required); another type is an
 * error. field names the member in messages (NULL: key); it must be a string literal (it is handed back to
 * the caller). */
rfx_err normalize_get(normalize_ctx *c, const cJSON *obj, const char *key, const char *field, int type,
		      bool required, const cJSON **out);
rfx_err normalize_get_str(normalize_ctx *c, const cJSON *obj, const char *key, const char *field,
			  bool required, const char **out);
/* A time given as an RFC 3339 string or as a number of units (unit_ms: 1 for epoch ms, 1000 for epoch
 * seconds). Absent or null leaves *ms as it is; zero or negative (Go's zero time, Dynatrace's -1) gives 0. */
rfx_err normalize_get_time(normalize_ctx *c, const cJSON *obj, const char *key, const char *field,
			   double unit_ms, int64_t *ms);
/* A string, a number or a boolean as text (numbers without a needless fraction, null as ""); NULL for arrays
 * and objects. Returns v's own string or buf. */
const char *normalize_scalar(const cJSON *v, char buf[32]);
/* A deep copy of v for event.raw with every string and member name made valid UTF-8. Inside
 * normalize_parse_owned, an object or array is taken over instead of copied (v is left as a reference to it,
 * still readable until the events are freed). */
cJSON *normalize_raw(const cJSON *v);
/* n->parse for a body that belongs to the caller, who deletes it right after without reading it again (nor
 * after the events are freed): events then take their raw parts of body over instead of copying them. With
 * utf8_valid the caller knows every string in body is valid UTF-8 (say, the text it came from is ASCII), and
 * the raw parts are not checked again. */
rfx_err normalize_parse_owned(const normalizer *n, cJSON *body, bool utf8_valid, event_list *out, char *err,
			      size_t errlen, const char **field);
/* Copies the scalar members of obj into e's tags, stringified; nested arrays and objects are skipped. */
void normalize_scalar_tags(event *e, const cJSON *obj);

#endif
