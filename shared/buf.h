/* buf.h -- growable byte buffer with a hard maximum (every buffer has one). */
#ifndef RFX_BUF_H
#define RFX_BUF_H

#include <string.h>

#include "rfx.h"

typedef struct rfx_buf {
	char *data; /* always NUL-terminated when len > 0 or after buf_cstr() */
	size_t len;
	size_t cap;
	size_t
	    max; /* appends that would exceed this fail with RFX_ERR_LIMIT and leave the buffer unchanged */
} rfx_buf;

void buf_init(rfx_buf *b, size_t max);
void buf_free(rfx_buf *b);
void buf_reset(rfx_buf *b);
rfx_err buf_append_grow(rfx_buf *b, const void *data, size_t len); /* buf_append when the room is short */
rfx_err buf_puts(rfx_buf *b, const char *s);
rfx_err buf_printf(rfx_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
const char *buf_cstr(rfx_buf *b); /* "" for an empty buffer */
/* Makes room for extra more bytes at once (one allocation instead of a chain of doublings). */
rfx_err buf_room(rfx_buf *b, size_t extra);
/* Empties b; storage grown past keep bytes (by an unusually large use) is given back. */
void buf_trim(rfx_buf *b, size_t keep);

/* Per-thread scratch buffers: one per purpose and thread, kept between uses so that hot paths do not
 * allocate, freed when the thread exits. */
enum {
	BUF_SCRATCH_LOG,
	BUF_SCRATCH_HISTORY,
	BUF_SCRATCH_AUDIT_RECORD,
	BUF_SCRATCH_AUDIT_FIELDS,
	BUF_SCRATCH_AUDIT_HELD,
	BUF_SCRATCH_JSONW,
	BUF_SCRATCH_AUDIT_EVENT,
	BUF_SCRATCH__COUNT
};
/* The calling thread's buffer for slot, as its last user left it, with maximum max. */
rfx_buf *buf_scratch(unsigned slot, size_t max);
char *buf_steal(rfx_buf *b); /* hands the data to the caller (malloc'd, NUL-terminated), resets b */

/* Appends in place while the room lasts (the hot path of every JSON and logfmt writer); cap never exceeds
 * max + 1, so fitting in cap also keeps the maximum. */
static inline rfx_err buf_append(rfx_buf *b, const void *data, size_t len)
{
	if (b->cap > b->len && len < b->cap - b->len) {
		memcpy(b->data + b->len, data, len);
		b->len += len;
		b->data[b->len] = '\0';
		return RFX_OK;
	}
	return buf_append_grow(b, data, len);
}

static inline rfx_err buf_putc(rfx_buf *b, char c)
{
	if (b->cap > b->len + 1) {
		b->data[b->len++] = c;
		b->data[b->len] = '\0';
		return RFX_OK;
	}
	return buf_append_grow(b, &c, 1);
}

#endif
