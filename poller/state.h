/* state.h -- one feed's memory of which problems are open in which state, kept in state_dir and written
 * atomically, so a restart forwards nothing twice. */
#ifndef POLLER_STATE_H
#define POLLER_STATE_H

#include "event.h"

#define STATE_MAX_FILE (1024LL << 20)

typedef struct state_entry {
	char *source_id;
	uint64_t digest; /* state_digest() of the last forwarded event */
	char *rev;	 /* the feed type's revision marker, may be NULL */
	char *json;    /* the last forwarded event, normalized, without id and raw: base of its resolution */
	uint32_t seen; /* the poll cycle that last reported the problem */
	struct state_entry *next;
	struct state_entry *next_rev; /* chain in the rev index */
} state_entry;

typedef struct feed_state {
	char *path;
	char *feed;
	char *type;
	char commit[27]; /* outbox commit id of the last committed poll ("" before the first) */
	state_entry **buckets;
	size_t nbuckets;
	size_t n;
	state_entry **rev_buckets; /* index by rev, as many buckets as the source_id index */
	uint32_t cycle;
} feed_state;

/* Sets up st for feed in dir and loads <dir>/<feed>.state when it exists. A state written for another feed
 * type is set aside (renamed *.state.old) with a warning. */
rfx_err state_open(feed_state *st, const char *dir, const char *feed, const char *type, char *err,
		   size_t errlen);
/* Drops the in-memory entries and reads the file again (after a failed commit). */
rfx_err state_reload(feed_state *st, char *err, size_t errlen);
/* Writes the whole state atomically (temp file, fsync, rename). */
rfx_err state_save(feed_state *st, char *err, size_t errlen);
void state_close(feed_state *st);

state_entry *state_get(const feed_state *st, const char *source_id);
state_entry *state_put(feed_state *st, const char *source_id); /* the entry, created empty when absent */
void state_remove(feed_state *st, const char *source_id);
/* Sets an entry's rev (a copy; NULL clears it), keeping the rev index current. */
void state_set_rev(feed_state *st, state_entry *e, const char *rev);
/* An entry whose rev is rev, or NULL. */
state_entry *state_by_rev(const feed_state *st, const char *rev);
/* Calls fn for every entry; fn may not add or remove entries. */
void state_foreach(const feed_state *st, void (*fn)(state_entry *e, void *ud), void *ud);

/* Reads only the commit id from <dir>/<feed>.state ("" when there is none). */
rfx_err state_read_commit(const char *dir, const char *feed, char out[27]);

/* What makes a problem "changed": state, severity, entity, event_type and tags (not the title, which often
 * carries measurements that change on every check). */
uint64_t state_digest(const event *ev);
/* The stored form of an event: its normalized JSON without id and raw. Caller frees. */
char *state_event_json(const event *ev);

#endif
