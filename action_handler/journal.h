/* journal.h -- the durable action journal in spool_dir: one JSON snapshot per line, appended on every state
 * change; on replay the last snapshot of each action wins. Group commit: concurrent syncs share one
 * fdatasync. Compaction rewrites the file with one snapshot per live action (temp file, fsync, rename,
 * directory fsync). */
#ifndef AH_JOURNAL_H
#define AH_JOURNAL_H

#include <stdint.h>
#include "rfx.h"

#define JOURNAL_FILE	   "actions.jsonl"
#define JOURNAL_MAX_RECORD (64u << 20)

typedef struct journal journal;

/* Opens dir (created when missing) and holds dir/lock with flock(): RFX_ERR_EXISTS when another process has
 * it. */
rfx_err journal_open(const char *dir, journal **out, char *err, size_t errlen);
void journal_close(journal *j);

/* Calls fn on every complete record, oldest first. A torn or oversized line is skipped and counted. */
rfx_err journal_replay(journal *j, void (*fn)(const char *rec, size_t len, void *ud), void *ud,
		       size_t *skipped);

/* Appends one record (no newline inside); *seq identifies it for journal_sync. Callers that need an order
 * between records append them in that order. */
rfx_err journal_append(journal *j, const char *rec, size_t len, uint64_t *seq);
/* Returns once every record up to seq is on disk. */
rfx_err journal_sync(journal *j, uint64_t seq);
uint64_t journal_bytes(journal *j);

/* Compaction: begin, add every live record, commit (or abort). Appends must not run in between. */
rfx_err journal_rewrite_begin(journal *j);
rfx_err journal_rewrite_add(journal *j, const char *rec, size_t len);
rfx_err journal_rewrite_commit(journal *j);
void journal_rewrite_abort(journal *j);

/* The kill switch survives restarts: a flag file next to the journal. */
bool journal_paused(journal *j);
rfx_err journal_set_paused(journal *j, bool paused);

#endif
