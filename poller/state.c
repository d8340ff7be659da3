/* state.c -- per-feed problem state: a hash table in memory, JSON lines on disk, written atomically. */
#include "state.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "log.h"

#define STATE_FORMAT 1

static uint64_t fnv_add(uint64_t h, const char *s)
{
	for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++) {
		h ^= *p;
		h *= 1099511628211ULL;
	}
	h ^= 0xff; /* field separator, so ("ab","c") and ("a","bc") differ */
	h *= 1099511628211ULL;
	return h;
}

uint64_t state_digest(const event *ev)
{
	uint64_t h = 14695981039346656037ULL;
	h = fnv_add(h, event_state_name(ev->state));
	h = fnv_add(h, ev->severity);
	h = fnv_add(h, ev->entity);
	h = fnv_add(h, ev->event_type);
	for (size_t i = 0; i < ev->ntags; i++) {
		h = fnv_add(h, ev->tags[i].key);
		h = fnv_add(h, ev->tags[i].value);
	}
	return h;
}

char *state_event_json(const event *ev)
{
	cJSON *j = event_to_json(ev, false);
	cJSON_DeleteItemFromObjectCaseSensitive(j, "id");
	char *s = cJSON_PrintUnformatted(j);
	cJSON_Delete(j);
	if (!s)
		abort(); /* cJSON only fails to print on allocation failure */
	return s;
}

static size_t hash_str(const char *s)
{
	uint64_t h = 14695981039346656037ULL;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		h ^= *p;
		h *= 1099511628211ULL;
	}
	return (size_t)h;
}

static void entry_free(state_entry *e)
{
	free(e->source_id);
	free(e->rev);
	free(e->json);
	free(e);
}

static void clear_entries(feed_state *st)
{
	for (size_t b = 0; b < st->nbuckets; b++) {
		state_entry *e = st->buckets[b];
		while (e) {
			state_entry *next = e->next;
			entry_free(e);
			e = next;
		}
	}
	RFX_FREE(st->buckets);
	RFX_FREE(st->rev_buckets);
	st->nbuckets = 0;
	st->n = 0;
}

static void grow(feed_state *st)
{
	size_t nb = st->nbuckets ? st->nbuckets * 2 : 256;
	state_entry **nbk = rfx_calloc(nb, sizeof(*nbk));
	for (size_t b = 0; b < st->nbuckets; b++) {
		state_entry *e = st->buckets[b];
		while (e) {
			state_entry *next = e->next;
			size_t i = hash_str(e->source_id) & (nb - 1);
			e->next = nbk[i];
			nbk[i] = e;
			e = next;
		}
	}
	free(st->buckets);
	st->buckets = nbk;
	st->nbuckets = nb;
	free(st->rev_buckets);
	st->rev_buckets = rfx_calloc(nb, sizeof(*st->rev_buckets));
	for (size_t b = 0; b < nb; b++) {
		for (state_entry *e = nbk[b]; e; e = e->next) {
			if (!e->rev)
				continue;
			size_t i = hash_str(e->rev) & (nb - 1);
			e->next_rev = st->rev_buckets[i];
			st->rev_buckets[i] = e;
		}
	}
}

static void rev_unlink(feed_state *st, state_entry *e)
{
	if (!e->rev || !st->rev_buckets)
		return;
	for (state_entry **pp = &st->rev_buckets[hash_str(e->rev) & (st->nbuckets - 1)]; *pp;
	     pp = &(*pp)->next_rev) {
		if (*pp == e) {
			*pp = e->next_rev;
			break;
		}
	}
	e->next_rev = NULL;
}

void state_set_rev(feed_state *st, state_entry *e, const char *rev)
{
	if ((!e->rev && !rev) || (e->rev && rev && strcmp(e->rev, rev) == 0))
		return;
	rev_unlink(st, e);
	free(e->rev);
	e->rev = rfx_strdup(rev);
	if (e->rev) {
		size_t i = hash_str(e->rev) & (st->nbuckets - 1);
		e->next_rev = st->rev_buckets[i];
		st->rev_buckets[i] = e;
	}
}

state_entry *state_by_rev(const feed_state *st, const char *rev)
{
	if (!rev || !st->rev_buckets)
		return NULL;
	for (state_entry *e = st->rev_buckets[hash_str(rev) & (st->nbuckets - 1)]; e; e = e->next_rev)
		if (strcmp(e->rev, rev) == 0)
			return e;
	return NULL;
}

state_entry *state_get(const feed_state *st, const char *source_id)
{
	if (!st->nbuckets)
		return NULL;
	for (state_entry *e = st->buckets[hash_str(source_id) & (st->nbuckets - 1)]; e; e = e->next)
		if (strcmp(e->source_id, source_id) == 0)
			return e;
	return NULL;
}

state_entry *state_put(feed_state *st, const char *source_id)
{
	state_entry *e = state_get(st, source_id);
	if (e)
		return e;
	if (st->n >= st->nbuckets)
		grow(st);
	e = rfx_calloc(1, sizeof(*e));
	e->source_id = rfx_strdup(source_id);
	size_t i = hash_str(source_id) & (st->nbuckets - 1);
	e->next = st->buckets[i];
	st->buckets[i] = e;
	st->n++;
	return e;
}

void state_remove(feed_state *st, const char *source_id)
{
	if (!st->nbuckets)
		return;
	state_entry **pp = &st->buckets[hash_str(source_id) & (st->nbuckets - 1)];
	for (; *pp; pp = &(*pp)->next) {
		if (strcmp((*pp)->source_id, source_id) == 0) {
			state_entry *e = *pp;
			rev_unlink(st, e);
			*pp = e->next;
			entry_free(e);
			st->n--;
			return;
		}
	}
}

void state_foreach(const feed_state *st, void (*fn)(state_entry *e, void *ud), void *ud)
{
	for (size_t b = 0; b < st->nbuckets; b++)
		for (state_entry *e = st->buckets[b]; e; e = e->next)
			fn(e, ud);
}

static rfx_err load_header(feed_state *st, const char *line, char *err, size_t errlen)
{
	cJSON *h = cJSON_Parse(line);
	rfx_err rc = RFX_OK;
	const cJSON *ver = cJSON_GetObjectItemCaseSensitive(h, "reflex_poller_state");
	const cJSON *type = cJSON_GetObjectItemCaseSensitive(h, "type");
	const cJSON *commit = cJSON_GetObjectItemCaseSensitive(h, "commit");

	if (!cJSON_IsNumber(ver) || ver->valuedouble != STATE_FORMAT || !cJSON_IsString(type)) {
		snprintf(err, errlen, "%s: not a reflex-poller state file (format %d)", st->path,
			 STATE_FORMAT);
		rc = RFX_ERR_PARSE;
		goto out;
	}
	if (strcmp(type->valuestring, st->type) != 0) {
		snprintf(err, errlen, "%s: written for a %s feed, this feed is %s", st->path,
			 type->valuestring, st->type);
		rc = RFX_ERR_EXISTS;
		goto out;
	}
	snprintf(st->commit, sizeof(st->commit), "%s", cJSON_IsString(commit) ? commit->valuestring : "");
out:
	cJSON_Delete(h);
	return rc;
}

static rfx_err load_entry(feed_state *st, const char *line, size_t lineno, char *err, size_t errlen)
{
	cJSON *j = cJSON_Parse(line);
	const cJSON *id = cJSON_GetObjectItemCaseSensitive(j, "id");
	const cJSON *dg = cJSON_GetObjectItemCaseSensitive(j, "digest");
	const cJSON *rev = cJSON_GetObjectItemCaseSensitive(j, "rev");
	const cJSON *ev = cJSON_GetObjectItemCaseSensitive(j, "event");
	rfx_err rc = RFX_OK;

	if (!cJSON_IsString(id) || !cJSON_IsString(dg) || !cJSON_IsObject(ev)) {
		snprintf(err, errlen, "%s: line %zu is not a state entry", st->path, lineno);
		rc = RFX_ERR_PARSE;
		goto out;
	}
	state_entry *e = state_put(st, id->valuestring);
	e->digest = strtoull(dg->valuestring, NULL, 16);
	state_set_rev(st, e, cJSON_IsString(rev) ? rev->valuestring : NULL);
	free(e->json);
	e->json = cJSON_PrintUnformatted(ev);
	if (!e->json)
		abort();
out:
	cJSON_Delete(j);
	return rc;
}

static rfx_err load_text(feed_state *st, char *text, char *err, size_t errlen)
{
	size_t lineno = 0;
	rfx_err rc = RFX_OK;
	char *save = NULL;

	for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		lineno++;
		rc = lineno == 1 ? load_header(st, line, err, errlen)
				 : load_entry(st, line, lineno, err, errlen);
		if (rc)
			return rc;
	}
	if (lineno == 0) {
		snprintf(err, errlen, "%s: empty state file", st->path);
		return RFX_ERR_PARSE;
	}
	return RFX_OK;
}

rfx_err state_reload(feed_state *st, char *err, size_t errlen)
{
	char *text = NULL;
	size_t len = 0;

	clear_entries(st);
	st->commit[0] = 0;
	rfx_err rc = rfx_read_file(st->path, STATE_MAX_FILE, &text, &len);
	if (rc == RFX_ERR_NOTFOUND || (rc == RFX_ERR_IO && errno == ENOENT))
		return RFX_OK;
	if (rc) {
		snprintf(err, errlen, "%s: cannot read: %s", st->path, rfx_strerror(rc));
		return rc;
	}
	rc = load_text(st, text, err, errlen);
	free(text);
	if (rc)
		clear_entries(st);
	return rc;
}

rfx_err state_open(feed_state *st, const char *dir, const char *feed, const char *type, char *err,
		   size_t errlen)
{
	memset(st, 0, sizeof(*st));
	st->path = rfx_asprintf("%s/%s.state", dir, feed);
	st->feed = rfx_strdup(feed);
	st->type = rfx_strdup(type);
	rfx_err rc = state_reload(st, err, errlen);
	if (rc == RFX_ERR_EXISTS) {
		char *old = rfx_asprintf("%s.old", st->path);
		LOG_WARN("feed state set aside", "feed", feed, "path", st->path, "moved_to", old, "error",
			 err);
		rc = rename(st->path, old) ? RFX_ERR_IO : RFX_OK;
		if (rc)
			snprintf(err, errlen, "%s: cannot set aside: %s", st->path, strerror(errno));
		free(old);
	}
	return rc;
}

static void save_entry(state_entry *e, void *ud)
{
	rfx_buf *b = ud;
	cJSON *j = cJSON_CreateObject();
	char dg[17];

	snprintf(dg, sizeof(dg), "%016llx", (unsigned long long)e->digest);
	cJSON_AddStringToObject(j, "id", e->source_id);
	cJSON_AddStringToObject(j, "digest", dg);
	if (e->rev)
		cJSON_AddStringToObject(j, "rev", e->rev);
	cJSON_AddRawToObject(j, "event", e->json ? e->json : "{}");
	char *s = cJSON_PrintUnformatted(j);
	cJSON_Delete(j);
	if (!s)
		abort();
	if (buf_puts(b, s) == RFX_OK)
		buf_putc(b, '\n');
	free(s);
}

rfx_err state_save(feed_state *st, char *err, size_t errlen)
{
	rfx_buf b;
	char ts[32];
	rfx_err rc;

	buf_init(&b, (size_t)STATE_MAX_FILE);
	cJSON *h = cJSON_CreateObject();
	cJSON_AddNumberToObject(h, "reflex_poller_state", STATE_FORMAT);
	cJSON_AddStringToObject(h, "feed", st->feed);
	cJSON_AddStringToObject(h, "type", st->type);
	cJSON_AddStringToObject(h, "commit", st->commit);
	rfx_iso8601(rfx_now_ms(), ts);
	cJSON_AddStringToObject(h, "saved_at", ts);
	cJSON_AddNumberToObject(h, "problems", (double)st->n);
	char *hs = cJSON_PrintUnformatted(h);
	cJSON_Delete(h);
	buf_puts(&b, hs);
	buf_putc(&b, '\n');
	free(hs);
	state_foreach(st, save_entry, &b);
	rc = rfx_write_file_atomic(st->path, b.data, b.len);
	if (rc)
		snprintf(err, errlen, "%s: cannot write: %s", st->path, rfx_strerror(rc));
	buf_free(&b);
	return rc;
}

void state_close(feed_state *st)
{
	clear_entries(st);
	RFX_FREE(st->path);
	RFX_FREE(st->feed);
	RFX_FREE(st->type);
}

rfx_err state_read_commit(const char *dir, const char *feed, char out[27])
{
	char *path = rfx_asprintf("%s/%s.state", dir, feed);
	char line[1024];
	FILE *f = fopen(path, "r");
	rfx_err rc = RFX_OK;

	out[0] = 0;
	free(path);
	if (!f)
		return errno == ENOENT ? RFX_OK : RFX_ERR_IO;
	if (fgets(line, sizeof(line), f)) {
		cJSON *h = cJSON_Parse(line);
		const cJSON *c = cJSON_GetObjectItemCaseSensitive(h, "commit");
		if (cJSON_IsString(c))
			snprintf(out, 27, "%s", c->valuestring);
		else
			rc = RFX_ERR_PARSE;
		cJSON_Delete(h);
	}
	fclose(f);
	return rc;
}
