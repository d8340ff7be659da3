/* outbox.h -- the persistent, bounded, ordered queue of problems waiting for the classifier.
 *
 * On disk: <dir>/outbox.log holds a header line and one line per problem, `R <commit> <feed> <event JSON>`,
 * appended in commits; <dir>/outbox.ack holds how far delivery got. A commit appends a poll's problems,
 * fsyncs, then lets the feed write its state: the feed state file is the commit point. A commit whose state
 * write did not happen (a crash in between) is cut off at the next start, so the poll that found those
 * problems finds them again, once. */
#ifndef POLLER_OUTBOX_H
#define POLLER_OUTBOX_H

#include <stdio.h>
#include "rfx.h"

#define OUTBOX_MAX_RECORD (1u << 20) /* one problem's JSON, raw included */

typedef struct outbox outbox;

typedef struct outbox_opts {
	const char *dir;
	long long max_events;
	long long max_bytes;
	/* Commit id recorded in feed's state file ("" when none); decides whether the log's last commit
	 * happened. */
	rfx_err (*commit_of)(const char *feed, char out[27], void *ud);
	void *ud;
} outbox_opts;

rfx_err outbox_open(const outbox_opts *o, outbox **out, char *err, size_t errlen);
void outbox_close(outbox *ob); /* syncs the delivery position */

/* Appends nrecords lines of stage (one event JSON per line, nbytes in all) as one commit of feed, then calls
 * commit_fn with the commit id; when it fails, the append is undone. RFX_ERR_LIMIT when the outbox is full.
 */
rfx_err outbox_commit(outbox *ob, const char *feed, FILE *stage, size_t nrecords, size_t nbytes,
		      rfx_err (*commit_fn)(void *ud, const char *commit), void *ud, char *err, size_t errlen);

/* The oldest undelivered problem, waiting up to wait_ms for one. RFX_ERR_NOTFOUND when none came (or on
 * wake). json and feed point into rec (owned by the caller, freed with outbox_record_free). */
typedef struct outbox_record {
	char *line;
	size_t len; /* bytes in the log, newline included */
	const char *feed;
	const char *json;
} outbox_record;
rfx_err outbox_peek(outbox *ob, int wait_ms, outbox_record *rec);
void outbox_record_free(outbox_record *rec);
/* Marks the record returned by the last peek as done (delivered or dropped). */
rfx_err outbox_ack(outbox *ob, const outbox_record *rec);
/* Wakes a waiting outbox_peek (shutdown). */
void outbox_wake(outbox *ob);

size_t outbox_pending(outbox *ob);
size_t outbox_pending_bytes(outbox *ob);

#endif
