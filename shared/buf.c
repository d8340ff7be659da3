/* buf.c -- growable byte buffer with a hard maximum. */
#include "buf.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void buf_init(rfx_buf *b, size_t max)
{
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
	b->max = max;
}

void buf_free(rfx_buf *b)
{
	RFX_FREE(b->data);
	b->len = 0;
	b->cap = 0;
}

void buf_reset(rfx_buf *b)
{
	b->len = 0;
	if (b->data)
		b->data[0] = '\0';
}

/* Makes room for extra bytes plus the NUL terminator. */
static rfx_err buf_reserve(rfx_buf *b, size_t extra)
{
	if (extra > b->max || b->len > b->max - extra)
		return RFX_ERR_LIMIT;
	size_t need = b->len + extra + 1;
	if (need <= b->cap)
		return RFX_OK;
	size_t cap = b->cap ? b->cap : 64;
	while (cap < need)
		cap = cap > SIZE_MAX / 2 ? need : cap * 2;
	if (cap > b->max + 1)
		cap = b->max + 1;
	b->data = rfx_realloc(b->data, cap);
	b->cap = cap;
	return RFX_OK;
}

rfx_err buf_room(rfx_buf *b, size_t extra)
{
	return buf_reserve(b, extra);
}

rfx_err buf_append_grow(rfx_buf *b, const void *data, size_t len)
{
	rfx_err rc = buf_reserve(b, len);
	if (rc)
		return rc;
	if (len)
		memcpy(b->data + b->len, data, len);
	b->len += len;
	b->data[b->len] = '\0';
	return RFX_OK;
}

rfx_err buf_puts(rfx_buf *b, const char *s)
{
	return buf_append(b, s, strlen(s));
}

rfx_err buf_printf(rfx_buf *b, const char *fmt, ...)
{
	char small[256];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(small, sizeof(small), fmt, ap);
	va_end(ap);
	if (n < 0)
		return RFX_ERR_INVAL;
	if ((size_t)n < sizeof(small))
		return buf_append(b, small, (size_t)n);
	rfx_err rc = buf_reserve(b, (size_t)n);
	if (rc)
		return rc;
	va_start(ap, fmt);
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
	return RFX_OK;
}

const char *buf_cstr(rfx_buf *b)
{
	if (!b->data)
		return "";
	return b->data;
}

char *buf_steal(rfx_buf *b)
{
	char *p = b->data ? b->data : rfx_strdup("");
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
	return p;
}

void buf_trim(rfx_buf *b, size_t keep)
{
	if (b->cap > keep)
		buf_free(b);
	else
		buf_reset(b);
}

static pthread_key_t scratch_key;
static pthread_once_t scratch_once = PTHREAD_ONCE_INIT;

static void scratch_free(void *p)
{
	rfx_buf *v = p;
	for (size_t i = 0; i < BUF_SCRATCH__COUNT; i++)
		buf_free(&v[i]);
	free(v);
}

static void scratch_key_init(void)
{
	if (pthread_key_create(&scratch_key, scratch_free))
		abort();
}

rfx_buf *buf_scratch(unsigned slot, size_t max)
{
	if (slot >= BUF_SCRATCH__COUNT)
		abort();
	pthread_once(&scratch_once, scratch_key_init);
	rfx_buf *v = pthread_getspecific(scratch_key);
	if (!v) {
		v = rfx_calloc(BUF_SCRATCH__COUNT, sizeof(*v));
		pthread_setspecific(scratch_key, v);
	}
	v[slot].max = max;
	return &v[slot];
}
