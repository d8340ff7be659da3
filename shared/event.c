/* event.c -- the normalized event: sanitizing setters, sorted bounded tags, field lookup, JSON form. */
#include <stdlib.h>
#include <string.h>

#include "event.h"

#include "arena.h"
#include "jsonw.h"
#include "timefmt.h"

static const char *const source_names[SRC__COUNT] = {
    [SRC_GENERIC] = "generic",	   [SRC_ALERTMANAGER] = "alertmanager",
    [SRC_DYNATRACE] = "dynatrace", [SRC_OPSGENIE] = "opsgenie",
    [SRC_ICINGA] = "icinga",	   [SRC_NAGIOS] = "nagios",
};

/* Sanitized copy bounded to EVENT_MAX_FIELD bytes. Only a window of the input is read: a character that
 * starts before the bound ends at most 3 bytes after it, and the sanitized output never shrinks a prefix. */
static char *bounded_copy(const char *s)
{
	size_t n = 0;
	while (n <= EVENT_MAX_FIELD && s[n] && (unsigned char)s[n] < 0x80)
		n++;
	if (!s[n] && n <= EVENT_MAX_FIELD) /* plain ASCII within the bound: nothing to cut or replace */
		return arena_strndup(s, n);
	n += strnlen(s + n, EVENT_MAX_FIELD + 4 - n);
	if (n <= EVENT_MAX_FIELD && rfx_utf8_valid(s, n)) /* valid UTF-8 within the bound */
		return arena_strndup(s, n);
	char *out = rfx_utf8_sanitize(s, n);
	size_t len = strlen(out);
	if (len > EVENT_MAX_FIELD) {
		len = EVENT_MAX_FIELD;
		while (len > 0 && ((unsigned char)out[len] & 0xC0) == 0x80)
			len--;
	}
	char *copy = arena_strndup(out, len); /* an event's memory comes from one place (arena_keeps) */
	free(out);
	return copy;
}

void event_set(char **field, const char *value)
{
	char *v = bounded_copy(value ? value : "");
	arena_free(*field);
	*field = v;
}

/* Slots allocated for n tags: a power of two from 8, so that adding tags rarely reallocates. */
static size_t tags_cap(size_t n)
{
	size_t cap = n ? 8 : 0;
	while (cap < n)
		cap *= 2;
	return cap;
}

event *event_new(event_source src)
{
	event *e = arena_calloc(1, sizeof(*e));
	rfx_ulid(e->id);
	e->source = (unsigned)src < SRC__COUNT ? src : SRC_GENERIC;
	e->state = EV_OPEN;
	e->source_id = arena_strndup("", 0);
	e->title = arena_strndup("", 0);
	e->severity = arena_strndup("", 0);
	e->entity = arena_strndup("", 0);
	e->event_type = arena_strndup("", 0);
	return e;
}

void event_free(event *e)
{
	if (!e || arena_keeps(e)) /* all of it is in the request's arena */
		return;
	arena_free(e->source_id);
	arena_free(e->title);
	arena_free(e->severity);
	arena_free(e->entity);
	arena_free(e->event_type);
	arena_free(e->url);
	for (size_t i = 0; i < e->ntags; i++) {
		arena_free(e->tags[i].key);
		arena_free(e->tags[i].value);
	}
	arena_free(e->tags);
	arena_json_delete(e->raw);
	arena_free(e);
}

event *event_clone(const event *e)
{
	event *c = rfx_calloc(1, sizeof(*c));
	memcpy(c->id, e->id, sizeof(c->id));
	c->source = e->source;
	c->state = e->state;
	c->source_id = rfx_strdup(e->source_id);
	c->title = rfx_strdup(e->title);
	c->severity = rfx_strdup(e->severity);
	c->entity = rfx_strdup(e->entity);
	c->event_type = rfx_strdup(e->event_type);
	c->url = rfx_strdup(e->url);
	c->started_at_ms = e->started_at_ms;
	if (e->ntags) {
		c->tags = rfx_calloc(tags_cap(e->ntags), sizeof(*c->tags));
		for (size_t i = 0; i < e->ntags; i++) {
			c->tags[i].key = rfx_strdup(e->tags[i].key);
			c->tags[i].value = rfx_strdup(e->tags[i].value);
		}
		c->ntags = e->ntags;
	}
	c->raw = e->raw ? cJSON_Duplicate(e->raw, true) : NULL;
	return c;
}

bool event_id_valid(const char *s)
{
	static const char alphabet[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
	if (!s || strlen(s) != 26 || s[0] > '7')
		return false;
	for (size_t i = 0; i < 26; i++)
		if (!strchr(alphabet, s[i]) || !s[i])
			return false;
	return true;
}

void event_list_push(event_list *l, event *e)
{
	/* Grows by powers of two: n is a power of two exactly when the array is full. */
	if (l->n == 0 || (l->n & (l->n - 1)) == 0)
		l->v = arena_grow(l->v, l->n * sizeof(*l->v), (l->n ? l->n * 2 : 1) * sizeof(*l->v));
	l->v[l->n++] = e;
}

void event_list_free(event_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		event_free(l->v[i]);
	arena_free(l->v); /* (a no-op when the list is in the arena) */
	l->v = NULL;
	l->n = 0;
}

/* Index of key, or of where it would go; *found tells which. */
static size_t tag_search(const event *e, const char *key, bool *found)
{
	size_t lo = 0, hi = e->ntags;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(e->tags[mid].key, key);
		if (c == 0) {
			*found = true;
			return mid;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	*found = false;
	return lo;
}

void event_tag_set(event *e, const char *key, const char *value)
{
	if (!key || !*key)
		return;
	char *k = bounded_copy(key);
	bool found;
	size_t i = tag_search(e, k, &found);
	if (found) {
		event_set(&e->tags[i].value, value);
		arena_free(k);
		return;
	}
	if (e->ntags >= EVENT_MAX_TAGS) {
		arena_free(k);
		return;
	}
	if (e->ntags == tags_cap(e->ntags))
		e->tags = arena_grow(e->tags, tags_cap(e->ntags) * sizeof(*e->tags),
				     tags_cap(e->ntags + 1) * sizeof(*e->tags));
	memmove(&e->tags[i + 1], &e->tags[i], (e->ntags - i) * sizeof(*e->tags));
	e->tags[i].key = k;
	e->tags[i].value = bounded_copy(value ? value : "");
	e->ntags++;
}

const char *event_tag_get(const event *e, const char *key)
{
	if (!key)
		return NULL;
	bool found;
	size_t i = tag_search(e, key, &found);
	return found ? e->tags[i].value : NULL;
}

const char *event_source_name(event_source s)
{
	return (unsigned)s < SRC__COUNT ? source_names[s] : "generic";
}

bool event_source_parse(const char *s, event_source *out)
{
	for (int i = 0; s && i < SRC__COUNT; i++) {
		if (strcmp(s, source_names[i]) == 0) {
			*out = (event_source)i;
			return true;
		}
	}
	return false;
}

const char *event_state_name(event_state s)
{
	return s == EV_RESOLVED ? "resolved" : "open";
}

const char *event_field(const event *e, const char *path)
{
	static const struct {
		const char *name;
		size_t off;
	} strs[] = {
	    {"source_id", offsetof(event, source_id)},	 {"title", offsetof(event, title)},
	    {"severity", offsetof(event, severity)},	 {"entity", offsetof(event, entity)},
	    {"event_type", offsetof(event, event_type)},
	};
	if (!path)
		return NULL;
	if (strncmp(path, "tags.", 5) == 0)
		return event_tag_get(e, path + 5);
	if (strcmp(path, "source") == 0)
		return event_source_name(e->source);
	if (strcmp(path, "state") == 0)
		return event_state_name(e->state);
	if (strcmp(path, "id") == 0)
		return e->id;
	if (strcmp(path, "url") == 0)
		return e->url && *e->url ? e->url : NULL;
	for (size_t i = 0; i < RFX_ARRAY_LEN(strs); i++)
		if (strcmp(path, strs[i].name) == 0)
			return *(char *const *)((const char *)e + strs[i].off);
	return NULL;
}

/* RFC 3339 in UTC; whole seconds print without a fraction, as sources usually send them. */
static void format_time(int64_t ms, char out[32])
{
	timefmt_iso8601(ms, out);
	size_t n = strlen(out);
	if (n >= 5 && strcmp(out + n - 5, ".000Z") == 0)
		strcpy(out + n - 5, "Z");
}

cJSON *event_to_json(const event *e, bool include_raw)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "id", e->id);
	cJSON_AddStringToObject(o, "source", event_source_name(e->source));
	cJSON_AddStringToObject(o, "source_id", e->source_id);
	cJSON_AddStringToObject(o, "state", event_state_name(e->state));
	cJSON_AddStringToObject(o, "title", e->title);
	cJSON_AddStringToObject(o, "severity", e->severity);
	cJSON_AddStringToObject(o, "entity", e->entity);
	cJSON_AddStringToObject(o, "event_type", e->event_type);
	cJSON *tags = cJSON_AddObjectToObject(o, "tags");
	for (size_t i = 0; tags && i < e->ntags; i++)
		cJSON_AddStringToObject(tags, e->tags[i].key, e->tags[i].value);
	if (e->started_at_ms > 0) {
		char ts[32];
		format_time(e->started_at_ms, ts);
		cJSON_AddStringToObject(o, "started_at", ts);
	} else {
		cJSON_AddNullToObject(o, "started_at");
	}
	if (e->url && *e->url)
		cJSON_AddStringToObject(o, "url", e->url);
	else
		cJSON_AddNullToObject(o, "url");
	if (include_raw)
		cJSON_AddItemToObject(o, "raw",
				      e->raw ? cJSON_Duplicate(e->raw, true) : cJSON_CreateObject());
	return o;
}

/* ,"key":"value" (or null for a NULL value) */
static rfx_err json_member(rfx_buf *b, const char *key, const char *value)
{
	rfx_err rc = buf_putc(b, ',');
	if (!rc)
		rc = jsonw_string(b, key);
	if (!rc)
		rc = buf_putc(b, ':');
	if (!rc)
		rc = value ? jsonw_string(b, value) : buf_puts(b, "null");
	return rc;
}

static rfx_err json_tags(rfx_buf *b, const event *e)
{
	rfx_err rc = buf_puts(b, ",\"tags\":{");
	for (size_t i = 0; !rc && i < e->ntags; i++) {
		if (i)
			rc = buf_putc(b, ',');
		if (!rc)
			rc = jsonw_string(b, e->tags[i].key);
		if (!rc)
			rc = buf_putc(b, ':');
		if (!rc)
			rc = jsonw_string(b, e->tags[i].value);
	}
	return rc ? rc : buf_putc(b, '}');
}

static rfx_err json_raw(rfx_buf *b, const event *e)
{
	rfx_err rc = buf_puts(b, ",\"raw\":");
	if (rc || !e->raw)
		return rc ? rc : buf_puts(b, "{}");
	return jsonw_value(b, e->raw);
}

rfx_err event_json_write(const event *e, bool include_raw, rfx_buf *b)
{
	char ts[32];
	if (e->started_at_ms > 0)
		format_time(e->started_at_ms, ts);
	rfx_err rc = buf_puts(b, "{\"id\":");
	if (!rc)
		rc = jsonw_string(b, e->id);
	if (!rc)
		rc = json_member(b, "source", event_source_name(e->source));
	if (!rc)
		rc = json_member(b, "source_id", e->source_id);
	if (!rc)
		rc = json_member(b, "state", event_state_name(e->state));
	if (!rc)
		rc = json_member(b, "title", e->title);
	if (!rc)
		rc = json_member(b, "severity", e->severity);
	if (!rc)
		rc = json_member(b, "entity", e->entity);
	if (!rc)
		rc = json_member(b, "event_type", e->event_type);
	if (!rc)
		rc = json_tags(b, e);
	if (!rc)
		rc = json_member(b, "started_at", e->started_at_ms > 0 ? ts : NULL);
	if (!rc)
		rc = json_member(b, "url", e->url && *e->url ? e->url : NULL);
	if (!rc && include_raw)
		rc = json_raw(b, e);
	return rc;
}
