/* feed.h -- the feed interface: one module per feed type (feed_<type>.c) behind one table of function
 * pointers, plus the helpers every type shares (authenticated GETs, URL building, page and item lists). */
#ifndef POLLER_FEED_H
#define POLLER_FEED_H

#include <cjson/cJSON.h>
#include <stdatomic.h>
#include "event.h"
#include "httpc.h"
#include "yamltree.h"

#define FEED_NAME_MAX  64
#define FEED_MAX_FEEDS 64
#define FEED_ERR_MAX   512

/* A key a feed's configuration accepts: the common keys and each type's own keys use the same table shape, so
 * one parser validates them all (unknown key, wrong type, out of range). */
typedef enum { FK_STRING, FK_BOOL, FK_INT, FK_DURATION, FK_SIZE, FK_STRLIST } feed_key_kind;

typedef struct feed_key {
	const char *name;
	feed_key_kind kind;
	size_t offset;	    /* in feed_cfg (common keys) or in the type's options struct (type keys) */
	const char *def;    /* default as written in YAML; NULL: unset */
	long long min, max; /* INT, DURATION (ms), SIZE; both 0: unbounded */
	const char *desc;
} feed_key;

typedef struct feed_strlist {
	char **v;
	size_t n;
} feed_strlist;

struct feed_type;

/* One configured feed. Type-specific options live in opts (the type's own struct, opts_size bytes). */
typedef struct feed_cfg {
	char *name;
	char *type;
	const struct feed_type *ft;
	char *url;
	char *token_file;
	char *query;
	char *ca_file;
	int64_t interval_ms;
	int64_t timeout_ms;
	int64_t backoff_min_ms;
	int64_t backoff_max_ms;
	long long max_problems;
	long long max_response;
	bool enabled;
	void *opts;
} feed_cfg;

/* One problem as a feed reported it in this poll. */
typedef struct feed_item {
	event *ev;	 /* owned; NULL when the problem is unchanged since rev and was not fetched again */
	char *source_id; /* owned, never NULL */
	char *rev;	 /* owned, may be NULL: the type's own revision marker (OpsGenie updatedAt) */
	bool suppressed; /* present but silenced/inhibited: kept open, never forwarded */
} feed_item;

typedef struct feed_page {
	feed_item *items;
	size_t n, cap;
	char *next;	 /* owned cursor for the next page, NULL on the last page */
	size_t listed;	 /* problems the answer listed (items plus rejected), for offset paging */
	size_t rejected; /* items the normalizer refused; the first reason is in reject_reason */
	char reject_reason[FEED_ERR_MAX];
	/* Set by the runner (NULL otherwise): the source_id of a known problem last reported with exactly
	 * this content rev, so an unchanged problem is not normalized again. */
	const char *(*rev_owner)(void *ud, const char *rev);
	void *rev_ud;
} feed_page;

typedef struct feed_poll feed_poll;

/* Everything a type's poll() needs: the configuration, the secret, and the runner's callbacks. */
struct feed_poll {
	const feed_cfg *cfg;
	const char *secret; /* content of token_file (trailing whitespace removed), NULL when unset */
	/* Called once per fetched page; the callee takes the items (the page is reset afterwards). */
	rfx_err (*on_page)(feed_poll *p, feed_page *page);
	/* The rev stored for source_id by the last committed poll, or NULL. */
	const char *(*known_rev)(feed_poll *p, const char *source_id);
	/* The source_id whose stored rev is rev, or NULL (see feed_page.rev_owner). */
	const char *(*rev_owner)(void *ud, const char *rev);
	void *ud;
	atomic_bool *stop;
	long retry_after_ms; /* set by feed_http_get on 429 with Retry-After */
	bool incomplete;     /* the type could not see everything this time: absences prove nothing */
	long requests;
	char err[FEED_ERR_MAX];
};

typedef struct feed_type {
	const char *name; /* the `type:` value */
	const char *default_query;
	const feed_key *keys; /* the type's own keys, ended by {0}; NULL: none */
	size_t opts_size;
	/* Checks the type's options after parsing (e.g. required keys); may be NULL. */
	rfx_err (*validate)(feed_cfg *cfg, char *err, size_t errlen);
	/* One full poll: fetches every page and hands each to p->on_page. */
	rfx_err (*poll)(feed_poll *p);
	/* Parses one list response into normalized items and the next-page cursor (fuzzed). */
	rfx_err (*parse)(const feed_cfg *cfg, const char *body, size_t len, feed_page *page, char *err,
			 size_t errlen);
} feed_type;

extern const feed_type feed_alertmanager;
extern const feed_type feed_dynatrace;
extern const feed_type feed_opsgenie;
extern const feed_type feed_icinga;
extern const feed_type *const feed_types[]; /* ended by NULL */

const feed_type *feed_type_find(const char *name);
/* OpsGenie's second parser: one alert's details answer ({"data": {...}}) to an event. */
rfx_err feed_opsgenie_parse_detail(const char *body, size_t len, event **out, char *err, size_t errlen);
extern const feed_key feed_common_keys[];

/* Page and item lists. */
void feed_page_init(feed_page *pg);
void feed_page_init_poll(feed_page *pg, feed_poll *p); /* with the runner's rev lookup */
void feed_page_reset(feed_page *pg);		       /* frees items and cursor, keeps nothing */
feed_item *feed_page_add(feed_page *pg, const char *source_id);
void feed_page_reject(feed_page *pg, const char *why);
void feed_item_clear(feed_item *it);

/* Normalizes one per-problem object with the shared normalizer `norm` and appends one item per event. With
 * by_content, the item's rev is a hash of the object's content, and an object whose hash a known problem has
 * is appended as unchanged (ev NULL) without being normalized again. */
rfx_err feed_normalize_item(feed_page *pg, const char *norm, const cJSON *obj, bool by_content);
/* A 64-bit hash of a JSON value's content (keys, values, order), as 17 characters "h" + 16 hex digits. */
void feed_content_rev(const cJSON *obj, char out[18]);

/* Parses a response body as JSON, bounded in depth. NULL with err set on failure. */
cJSON *feed_parse_json(const char *body, size_t len, char *err, size_t errlen);

/* An authenticated GET: timeout, CA and basic auth from cfg; extra headers ended by NULL. Maps the answer to
 * a status: 2xx RFX_OK; 429 RFX_ERR_LIMIT (p->retry_after_ms set when the server said); 401/403 RFX_ERR_AUTH;
 * other statuses RFX_ERR_UNAVAILABLE; transport errors as httpc_do. p->err describes any failure. */
rfx_err feed_http_get(feed_poll *p, const char *url, const char *const *headers, const char *basic_user,
		      httpc_resp *resp);

/* URL building: base with trailing slashes removed + path, then &-joined query parameters, values escaped. */
typedef struct feed_url {
	rfx_buf b;
	bool has_query;
} feed_url;
void feed_url_init(feed_url *u, const char *base, const char *path);
void feed_url_param(feed_url *u, const char *name, const char *value);
void feed_url_free(feed_url *u);
void feed_url_escape(rfx_buf *b, const char *s);

/* Strips query string and credentials from a URL for logs. */
void feed_url_redact(const char *url, char *out, size_t outlen);

bool feed_stopping(const feed_poll *p);

#endif
