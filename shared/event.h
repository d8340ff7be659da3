/* event.h -- the normalized event every source becomes (DESIGN.md "Normalized event"). */
#ifndef RFX_EVENT_H
#define RFX_EVENT_H

#include <cjson/cJSON.h>
#include "buf.h"
#include "rfx.h"

typedef enum {
	SRC_GENERIC = 0,
	SRC_ALERTMANAGER,
	SRC_DYNATRACE,
	SRC_OPSGENIE,
	SRC_ICINGA,
	SRC_NAGIOS,
	SRC__COUNT
} event_source;

typedef enum { EV_OPEN = 0, EV_RESOLVED } event_state;

typedef struct event_tag {
	char *key;
	char *value;
} event_tag;

/* Bounds applied by every normalizer: longer strings are cut (on a UTF-8 boundary), extra tags dropped. */
#define EVENT_MAX_FIELD 4096
#define EVENT_MAX_TAGS	128

typedef struct event {
	char id[27]; /* ULID, assigned at creation */
	event_source source;
	event_state state;
	char *source_id;       /* never NULL */
	char *title;	       /* never NULL ("" when unknown) */
	char *severity;	       /* never NULL */
	char *entity;	       /* never NULL */
	char *event_type;      /* never NULL */
	char *url;	       /* may be NULL */
	int64_t started_at_ms; /* 0 when unknown */
	event_tag *tags;       /* sorted by key, unique keys */
	size_t ntags;
	cJSON *raw; /* the source payload of this one problem (owned), may be NULL */
} event;

/* A list of events from one payload (Alertmanager sends many alerts at once). Grow it only with
 * event_list_push (the capacity follows from n). To keep an event beyond the list, take the pointer and set
 * its slot to NULL. */
typedef struct event_list {
	event **v;
	size_t n;
} event_list;

event *event_new(event_source src); /* id set, strings "" , state open */
void event_free(event *e);
event *event_clone(const event *e); /* deep copy, same id */
/* True for a well-formed ULID (26 Crockford base32 chars, upper case, first char 0-7). */
bool event_id_valid(const char *s);
void event_list_push(event_list *l, event *e);
void event_list_free(event_list *l);

/* Setters copy and sanitize (invalid UTF-8 replaced, length bounded to EVENT_MAX_FIELD bytes on a character
 * boundary). A NULL value sets "". */
void event_set(char **field, const char *value);
/* Adds or replaces a tag; keeps tags sorted. Ignored beyond EVENT_MAX_TAGS. */
void event_tag_set(event *e, const char *key, const char *value);
const char *event_tag_get(const event *e, const char *key); /* NULL when absent */

const char *event_source_name(event_source s); /* "alertmanager" ... */
bool event_source_parse(const char *s, event_source *out);
const char *event_state_name(event_state s); /* "open" | "resolved" */

/* Field lookup by path for rules and templates: "source", "state", "title", "severity", "entity",
 * "event_type", "source_id", "url", "id", "tags.<key>". NULL when the field or tag is absent. */
const char *event_field(const event *e, const char *path);

/* The normalized JSON form (DESIGN.md); include_raw adds "raw" ({} when there is none). started_at and url
 * are null when unknown. Caller owns the result. */
cJSON *event_to_json(const event *e, bool include_raw);
/* The same JSON form as text, appended to b without its closing brace so that the caller can add members:
 * "{\"id\":...,\"raw\":{...}". RFX_ERR_LIMIT when b's maximum is reached. */
rfx_err event_json_write(const event *e, bool include_raw, rfx_buf *b);

#endif
