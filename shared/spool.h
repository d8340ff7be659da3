/* spool.h -- a bounded on-disk FIFO of records: append (fsync batched), read in order, acknowledge.
 *
 * A spool is a directory of segment files (<20-digit number>.seg) plus a `head` file naming the first
 * unacknowledged record, and a `lock` file held with flock() so two processes never share one spool.
 * Each record is framed as [u32 length][u32 CRC-32][bytes]; a torn tail left by a crash is cut off at open.
 *
 *   spool *sp; spool_open(dir, NULL, &sp, err, sizeof(err));
 *   spool_append(sp, data, len);            // in the page cache; durable after spool_sync()
 *   spool_sync(sp);                          // one fsync for every append since the last one
 *   while (!spool_read(sp, &rec)) { use(rec.data, rec.len); spool_ack(sp, rec.next); spool_rec_free(&rec); }
 *   spool_close(sp);
 *
 * Acknowledging is cumulative: spool_ack(pos) drops every record before pos. Records read but not
 * acknowledged are read again after spool_rewind() or after a restart (delivery is at least once across
 * restarts). All functions are thread-safe; spool_sync() does not hold the lock while it waits for the disk.
 */
#ifndef RFX_SPOOL_H
#define RFX_SPOOL_H

#include <stdint.h>
#include "rfx.h"

typedef struct spool spool;

/* A position in the spool: the segment and the byte offset just after a record. */
typedef struct spool_pos {
	uint64_t seg;
	uint64_t off;
} spool_pos;

typedef struct spool_opts {
	uint64_t
	    max_bytes; /* bound on the segment files' total size; appends beyond fail with RFX_ERR_LIMIT */
	uint64_t
	    segment_bytes;   /* a new segment is started past this size (acknowledged segments are deleted) */
	size_t max_record;   /* largest record accepted (RFX_ERR_LIMIT beyond) */
	unsigned sync_every; /* fsync inside spool_append after this many appends; 0: only in spool_sync */
} spool_opts;

#define SPOOL_DEFAULT_MAX_BYTES	    (256ull << 20)
#define SPOOL_DEFAULT_SEGMENT_BYTES (16ull << 20)
#define SPOOL_DEFAULT_MAX_RECORD    (1u << 20)

/* One record handed out by spool_read: data is malloc'd and owned by the caller (spool_rec_free). */
typedef struct spool_rec {
	char *data;
	size_t len;
	spool_pos next; /* pass to spool_ack to acknowledge this record and all before it */
} spool_rec;

/* Opens (creating when missing) the spool in dir. opts NULL: the defaults above. RFX_ERR_EXISTS when another
 * process holds the spool. Records after a torn or corrupt frame in a segment are dropped and counted in
 * spool_lost(). */
rfx_err spool_open(const char *dir, const spool_opts *opts, spool **out, char *err, size_t errlen);
/* Closes the spool after a final sync. NULL is fine. */
void spool_close(spool *sp);

/* Appends one record. RFX_ERR_LIMIT when it is larger than max_record or the spool is full, RFX_ERR_IO on a
 * write error (the spool stays usable). */
rfx_err spool_append(spool *sp, const void *data, size_t len);
/* Makes every record appended so far durable (fdatasync of the tail segment; the head file when it moved). */
rfx_err spool_sync(spool *sp);

/* Reads the next unread record (in append order). RFX_ERR_NOTFOUND when every record has been read. */
rfx_err spool_read(spool *sp, spool_rec *rec);
void spool_rec_free(spool_rec *rec);
/* Acknowledges every record before pos; fully acknowledged segments are deleted. The head position is written
 * to disk by the next spool_sync(). */
rfx_err spool_ack(spool *sp, spool_pos pos);
/* Moves the read cursor back to the first unacknowledged record. */
void spool_rewind(spool *sp);
/* Puts records back in front of every unacknowledged record (e.g. records taken out of the spool, or held
 * elsewhere, that could not be delivered); they are durable on return and the read cursor is rewound. */
rfx_err spool_prepend(spool *sp, const char *const *data, const size_t *lens, size_t n);

/* Unacknowledged records and their bytes (frames included); records lost to corruption since open. */
uint64_t spool_count(spool *sp);
uint64_t spool_bytes(spool *sp);
uint64_t spool_unread(spool *sp); /* records after the read cursor */
uint64_t spool_lost(spool *sp);
/* Total size of the segment files on disk (what max_bytes bounds). */
uint64_t spool_disk_bytes(spool *sp);

#endif
