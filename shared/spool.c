/* spool.c -- a bounded on-disk FIFO of records in segment files: append with batched fsync, read,
 * acknowledge. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>
#include "spool.h"

#define SPOOL_FIRST_SEG (1ull << 40) /* leaves room below for spool_prepend */
#define FRAME_HDR	8
#define MAX_SEGS	4096

struct spool {
	pthread_mutex_t mu;
	pthread_mutex_t sync_mu; /* one spool_sync at a time (the head file has one temp name) */
	char *dir;
	spool_opts o;
	int lock_fd;
	uint64_t *segs; /* segment numbers, ascending; segs[0] == head.seg */
	uint64_t *sizes;
	size_t nsegs;
	int tail_fd;
	int read_fd;
	uint64_t read_seg;
	spool_pos head, cursor;
	uint64_t count, bytes, unread, lost, disk;
	uint64_t read_count, read_bytes; /* read but not acknowledged */
	uint64_t appended, synced;	 /* append generation, for fsync batching */
	bool head_dirty;
};

static uint32_t crc_table[256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

static void crc_init(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;
		for (int k = 0; k < 8; k++)
			c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
		crc_table[i] = c;
	}
}

static uint32_t crc32_of(const void *data, size_t len)
{
	const unsigned char *p = data;
	uint32_t c = 0xFFFFFFFFu;
	pthread_once(&crc_once, crc_init);
	for (size_t i = 0; i < len; i++)
		c = crc_table[(c ^ p[i]) & 0xFF] ^ (c >> 8);
	return c ^ 0xFFFFFFFFu;
}

static void put_u32(unsigned char *p, uint32_t v)
{
	p[0] = v & 0xFF;
	p[1] = (v >> 8) & 0xFF;
	p[2] = (v >> 16) & 0xFF;
	p[3] = (v >> 24) & 0xFF;
}

static uint32_t get_u32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static int pos_cmp(spool_pos a, spool_pos b)
{
	if (a.seg != b.seg)
		return a.seg < b.seg ? -1 : 1;
	if (a.off != b.off)
		return a.off < b.off ? -1 : 1;
	return 0;
}

static char *seg_path(const spool *sp, uint64_t no)
{
	return rfx_asprintf("%s/%020" PRIu64 ".seg", sp->dir, no);
}

static void fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return;
	(void)fsync(fd);
	close(fd);
}

static ssize_t seg_index(const spool *sp, uint64_t no)
{
	for (size_t i = 0; i < sp->nsegs; i++)
		if (sp->segs[i] == no)
			return (ssize_t)i;
	return -1;
}

static uint64_t seg_size(const spool *sp, uint64_t no)
{
	ssize_t i = seg_index(sp, no);
	return i < 0 ? 0 : sp->sizes[i];
}

static uint64_t last_seg(const spool *sp)
{
	return sp->segs[sp->nsegs - 1];
}

/* Reads and checks the frame at off of fd. Returns the payload length, or -1 when the frame is torn or
 * corrupt. */
static int64_t frame_check(int fd, uint64_t off, uint64_t size, size_t max_record, char **payload)
{
	unsigned char hdr[FRAME_HDR];
	if (off + FRAME_HDR > size || pread(fd, hdr, FRAME_HDR, (off_t)off) != FRAME_HDR)
		return -1;
	uint32_t len = get_u32(hdr), crc = get_u32(hdr + 4);
	if (len > max_record || off + FRAME_HDR + len > size)
		return -1;
	char *buf = rfx_malloc((size_t)len + 1);
	if (pread(fd, buf, len, (off_t)(off + FRAME_HDR)) != (ssize_t)len || crc32_of(buf, len) != crc) {
		free(buf);
		return -1;
	}
	buf[len] = '\0';
	if (payload)
		*payload = buf;
	else
		free(buf);
	return len;
}

/* Counts the valid records of a segment from off; cuts the segment at the first bad frame. */
static rfx_err seg_scan(spool *sp, uint64_t no, uint64_t off, uint64_t *size_io)
{
	char *path = seg_path(sp, no);
	rfx_err rc = RFX_OK;
	int fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		rc = RFX_ERR_IO;
		goto out;
	}
	uint64_t size = *size_io;
	while (off < size) {
		int64_t len = frame_check(fd, off, size, sp->o.max_record, NULL);
		if (len < 0) {
			sp->lost++;
			if (ftruncate(fd, (off_t)off) == 0)
				size = off;
			break;
		}
		off += FRAME_HDR + (uint64_t)len;
		sp->count++;
		sp->bytes += FRAME_HDR + (uint64_t)len;
	}
	*size_io = size;
	close(fd);
out:
	free(path);
	return rc;
}

static int u64_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* Lists the segment numbers in the directory (ascending) and removes leftover temp files. */
static rfx_err list_segs(spool *sp, char *err, size_t errlen)
{
	DIR *d = opendir(sp->dir);
	if (!d) {
		snprintf(err, errlen, "cannot open spool directory %s: %s", sp->dir, strerror(errno));
		return RFX_ERR_IO;
	}
	struct dirent *e;
	while ((e = readdir(d))) {
		uint64_t no;
		char tail[8];
		if (strstr(e->d_name, ".tmp")) {
			char *p = rfx_asprintf("%s/%s", sp->dir, e->d_name);
			unlink(p);
			free(p);
			continue;
		}
		if (sscanf(e->d_name, "%20" SCNu64 ".%4s", &no, tail) != 2 || strcmp(tail, "seg"))
			continue;
		if (sp->nsegs >= MAX_SEGS)
			break;
		sp->segs[sp->nsegs++] = no;
	}
	closedir(d);
	qsort(sp->segs, sp->nsegs, sizeof(uint64_t), u64_cmp);
	return RFX_OK;
}

static void read_head(spool *sp)
{
	char *path = rfx_asprintf("%s/head", sp->dir), *text = NULL;
	if (rfx_read_file(path, 128, &text, NULL) == RFX_OK &&
	    sscanf(text, "%" SCNu64 " %" SCNu64, &sp->head.seg, &sp->head.off) == 2) {
		free(text);
		free(path);
		return;
	}
	free(text);
	free(path);
	sp->head.seg = 0;
	sp->head.off = 0;
}

static rfx_err create_seg(spool *sp, uint64_t no)
{
	char *path = seg_path(sp, no);
	int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
	free(path);
	if (fd < 0)
		return RFX_ERR_IO;
	fsync_dir(sp->dir);
	if (sp->tail_fd >= 0)
		close(sp->tail_fd);
	sp->tail_fd = fd;
	sp->segs[sp->nsegs] = no;
	sp->sizes[sp->nsegs] = 0;
	sp->nsegs++;
	return RFX_OK;
}

static void drop_seg_at(spool *sp, size_t i)
{
	char *path = seg_path(sp, sp->segs[i]);
	unlink(path);
	free(path);
	if (sp->read_fd >= 0 && sp->read_seg == sp->segs[i]) {
		close(sp->read_fd);
		sp->read_fd = -1;
	}
	sp->disk -= sp->sizes[i];
	memmove(sp->segs + i, sp->segs + i + 1, (sp->nsegs - i - 1) * sizeof(uint64_t));
	memmove(sp->sizes + i, sp->sizes + i + 1, (sp->nsegs - i - 1) * sizeof(uint64_t));
	sp->nsegs--;
}

/* Loads the segments: drops acknowledged ones, scans the rest, opens the tail for appending. */
static rfx_err load(spool *sp, char *err, size_t errlen)
{
	rfx_err rc = list_segs(sp, err, errlen);
	if (rc)
		return rc;
	read_head(sp);
	while (sp->nsegs && sp->segs[0] < sp->head.seg)
		drop_seg_at(sp, 0);
	if (sp->nsegs == 0 || sp->segs[0] != sp->head.seg)
		sp->head = (spool_pos){sp->nsegs ? sp->segs[0] : SPOOL_FIRST_SEG, 0};
	for (size_t i = 0; i < sp->nsegs; i++) {
		char *path = seg_path(sp, sp->segs[i]);
		struct stat st;
		int r = stat(path, &st);
		free(path);
		if (r)
			return RFX_ERR_IO;
		sp->sizes[i] = (uint64_t)st.st_size;
		if (i == 0 && sp->head.off > sp->sizes[0])
			sp->head.off = sp->sizes[0];
		rc = seg_scan(sp, sp->segs[i], i == 0 ? sp->head.off : 0, &sp->sizes[i]);
		if (rc) {
			snprintf(err, errlen, "cannot read spool segment in %s", sp->dir);
			return rc;
		}
		sp->disk += sp->sizes[i];
	}
	if (sp->nsegs == 0) {
		rc = create_seg(sp, SPOOL_FIRST_SEG);
	} else {
		char *path = seg_path(sp, last_seg(sp));
		sp->tail_fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC);
		free(path);
		rc = sp->tail_fd < 0 ? RFX_ERR_IO : RFX_OK;
	}
	if (rc)
		snprintf(err, errlen, "cannot open spool segment in %s: %s", sp->dir, strerror(errno));
	sp->cursor = sp->head;
	sp->unread = sp->count;
	return rc;
}

static rfx_err take_lock(spool *sp, char *err, size_t errlen)
{
	char *path = rfx_asprintf("%s/lock", sp->dir);
	sp->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0640);
	free(path);
	if (sp->lock_fd < 0) {
		snprintf(err, errlen, "cannot open spool lock in %s: %s", sp->dir, strerror(errno));
		return RFX_ERR_IO;
	}
	if (flock(sp->lock_fd, LOCK_EX | LOCK_NB)) {
		snprintf(err, errlen, "spool %s is in use by another process", sp->dir);
		return RFX_ERR_EXISTS;
	}
	return RFX_OK;
}

rfx_err spool_open(const char *dir, const spool_opts *opts, spool **out, char *err, size_t errlen)
{
	spool *sp = rfx_calloc(1, sizeof(*sp));
	rfx_err rc;
	pthread_mutex_init(&sp->mu, NULL);
	pthread_mutex_init(&sp->sync_mu, NULL);
	sp->dir = rfx_strdup(dir);
	sp->o = opts ? *opts
		     : (spool_opts){SPOOL_DEFAULT_MAX_BYTES, SPOOL_DEFAULT_SEGMENT_BYTES,
				    SPOOL_DEFAULT_MAX_RECORD, 0};
	if (!sp->o.max_bytes)
		sp->o.max_bytes = SPOOL_DEFAULT_MAX_BYTES;
	if (!sp->o.segment_bytes)
		sp->o.segment_bytes = SPOOL_DEFAULT_SEGMENT_BYTES;
	if (!sp->o.max_record || sp->o.max_record > UINT32_MAX - FRAME_HDR)
		sp->o.max_record = SPOOL_DEFAULT_MAX_RECORD;
	sp->lock_fd = sp->tail_fd = sp->read_fd = -1;
	sp->segs = rfx_calloc(MAX_SEGS + 1, sizeof(uint64_t));
	sp->sizes = rfx_calloc(MAX_SEGS + 1, sizeof(uint64_t));
	rc = rfx_mkdirs(dir);
	if (rc) {
		snprintf(err, errlen, "cannot create spool directory %s: %s", dir, strerror(errno));
		goto out;
	}
	rc = take_lock(sp, err, errlen);
	if (rc)
		goto out;
	rc = load(sp, err, errlen);
out:
	if (rc) {
		spool_close(sp);
		sp = NULL;
	}
	*out = sp;
	return rc;
}

void spool_close(spool *sp)
{
	if (!sp)
		return;
	if (sp->tail_fd >= 0)
		(void)spool_sync(sp);
	if (sp->tail_fd >= 0)
		close(sp->tail_fd);
	if (sp->read_fd >= 0)
		close(sp->read_fd);
	if (sp->lock_fd >= 0)
		close(sp->lock_fd); /* releases the flock */
	pthread_mutex_destroy(&sp->mu);
	pthread_mutex_destroy(&sp->sync_mu);
	RFX_FREE(sp->segs);
	RFX_FREE(sp->sizes);
	RFX_FREE(sp->dir);
	free(sp);
}

static rfx_err roll(spool *sp)
{
	if (sp->nsegs >= MAX_SEGS)
		return RFX_ERR_LIMIT;
	if (sp->appended != sp->synced && fdatasync(sp->tail_fd))
		return RFX_ERR_IO;
	sp->synced = sp->appended;
	return create_seg(sp, last_seg(sp) + 1);
}

static rfx_err write_frame(int fd, const void *data, size_t len)
{
	unsigned char hdr[FRAME_HDR];
	put_u32(hdr, (uint32_t)len);
	put_u32(hdr + 4, crc32_of(data, len));
	struct iovec iov[2] = {{hdr, FRAME_HDR}, {(void *)data, len}};
	size_t want = FRAME_HDR + len, done = 0;
	while (done < want) {
		ssize_t n = writev(fd, iov, 2);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return RFX_ERR_IO;
		done += (size_t)n;
		for (int i = 0; i < 2; i++) {
			size_t k = (size_t)n < iov[i].iov_len ? (size_t)n : iov[i].iov_len;
			iov[i].iov_base = (char *)iov[i].iov_base + k;
			iov[i].iov_len -= k;
			n -= (ssize_t)k;
		}
	}
	return RFX_OK;
}

static rfx_err append_locked(spool *sp, const void *data, size_t len)
{
	uint64_t frame = FRAME_HDR + (uint64_t)len;
	rfx_err rc;
	if (len > sp->o.max_record || sp->disk + frame > sp->o.max_bytes)
		return RFX_ERR_LIMIT;
	if (sp->sizes[sp->nsegs - 1] > 0 && sp->sizes[sp->nsegs - 1] + frame > sp->o.segment_bytes) {
		rc = roll(sp);
		if (rc)
			return rc;
	}
	size_t t = sp->nsegs - 1;
	rc = write_frame(sp->tail_fd, data, len);
	if (rc) {
		/* A torn frame would hide every later record: cut back to the last whole one. */
		if (ftruncate(sp->tail_fd, (off_t)sp->sizes[t]))
			sp->lost++;
		return rc;
	}
	sp->sizes[t] += frame;
	sp->disk += frame;
	sp->count++;
	sp->bytes += frame;
	sp->unread++;
	sp->appended++;
	if (sp->o.sync_every && sp->appended - sp->synced >= sp->o.sync_every) {
		if (fdatasync(sp->tail_fd))
			return RFX_ERR_IO;
		sp->synced = sp->appended;
	}
	return RFX_OK;
}

rfx_err spool_append(spool *sp, const void *data, size_t len)
{
	pthread_mutex_lock(&sp->mu);
	rfx_err rc = append_locked(sp, data, len);
	pthread_mutex_unlock(&sp->mu);
	return rc;
}

static rfx_err write_head(spool *sp, spool_pos head)
{
	char text[64], *path = rfx_asprintf("%s/head", sp->dir);
	int n = snprintf(text, sizeof(text), "%" PRIu64 " %" PRIu64 "\n", head.seg, head.off);
	rfx_err rc = rfx_write_file_atomic(path, text, (size_t)n);
	free(path);
	return rc;
}

rfx_err spool_sync(spool *sp)
{
	rfx_err rc = RFX_OK;
	pthread_mutex_lock(&sp->sync_mu);
	pthread_mutex_lock(&sp->mu);
	uint64_t gen = sp->appended;
	bool head_dirty = sp->head_dirty;
	spool_pos head = sp->head;
	int fd = gen != sp->synced ? dup(sp->tail_fd) : -1;
	sp->head_dirty = false;
	pthread_mutex_unlock(&sp->mu);
	/* The disk wait happens outside the lock so appenders never queue behind it. */
	if (fd >= 0) {
		if (fdatasync(fd))
			rc = RFX_ERR_IO;
		close(fd);
	}
	if (head_dirty && write_head(sp, head))
		rc = RFX_ERR_IO;
	pthread_mutex_lock(&sp->mu);
	if (!rc && gen > sp->synced)
		sp->synced = gen;
	if (rc && head_dirty)
		sp->head_dirty = true;
	pthread_mutex_unlock(&sp->mu);
	pthread_mutex_unlock(&sp->sync_mu);
	return rc;
}

static int read_fd_for(spool *sp, uint64_t seg)
{
	if (sp->read_fd >= 0 && sp->read_seg == seg)
		return sp->read_fd;
	if (sp->read_fd >= 0)
		close(sp->read_fd);
	char *path = seg_path(sp, seg);
	sp->read_fd = open(path, O_RDONLY | O_CLOEXEC);
	sp->read_seg = seg;
	free(path);
	return sp->read_fd;
}

/* Moves p past the end of a finished segment to the start of the next one. */
static spool_pos normalize(const spool *sp, spool_pos p)
{
	ssize_t i = seg_index(sp, p.seg);
	while (i >= 0 && (size_t)i + 1 < sp->nsegs && p.off >= sp->sizes[i]) {
		i++;
		p = (spool_pos){sp->segs[i], 0};
	}
	return p;
}

static rfx_err read_locked(spool *sp, spool_rec *rec)
{
	for (;;) {
		sp->cursor = normalize(sp, sp->cursor);
		uint64_t size = seg_size(sp, sp->cursor.seg);
		if (sp->cursor.off >= size)
			return RFX_ERR_NOTFOUND;
		int fd = read_fd_for(sp, sp->cursor.seg);
		if (fd < 0)
			return RFX_ERR_IO;
		int64_t len = frame_check(fd, sp->cursor.off, size, sp->o.max_record, &rec->data);
		if (len < 0) {
			/* Corrupt on disk since it was written: the rest of this segment cannot be framed. */
			sp->lost++;
			sp->cursor.off = size;
			continue;
		}
		rec->len = (size_t)len;
		sp->cursor.off += FRAME_HDR + (uint64_t)len;
		rec->next = sp->cursor;
		sp->read_count++;
		sp->read_bytes += FRAME_HDR + (uint64_t)len;
		if (sp->unread)
			sp->unread--;
		return RFX_OK;
	}
}

rfx_err spool_read(spool *sp, spool_rec *rec)
{
	memset(rec, 0, sizeof(*rec));
	pthread_mutex_lock(&sp->mu);
	rfx_err rc = read_locked(sp, rec);
	pthread_mutex_unlock(&sp->mu);
	return rc;
}

void spool_rec_free(spool_rec *rec)
{
	if (rec)
		RFX_FREE(rec->data);
}

/* Counts the records between head and pos (both inside the read part) by walking their frame headers. */
static void count_between(spool *sp, spool_pos from, spool_pos to, uint64_t *n, uint64_t *bytes)
{
	*n = *bytes = 0;
	while (pos_cmp(from, to) < 0) {
		from = normalize(sp, from);
		if (from.seg == to.seg && from.off >= to.off)
			break;
		unsigned char hdr[FRAME_HDR];
		int fd = read_fd_for(sp, from.seg);
		if (fd < 0 || pread(fd, hdr, FRAME_HDR, (off_t)from.off) != FRAME_HDR)
			break;
		uint64_t frame = FRAME_HDR + get_u32(hdr);
		from.off += frame;
		(*n)++;
		*bytes += frame;
	}
}

rfx_err spool_ack(spool *sp, spool_pos pos)
{
	rfx_err rc = RFX_OK;
	pthread_mutex_lock(&sp->mu);
	if (pos_cmp(pos, sp->head) <= 0)
		goto out;
	if (pos_cmp(pos, sp->cursor) > 0 || seg_index(sp, pos.seg) < 0) {
		rc = RFX_ERR_INVAL;
		goto out;
	}
	uint64_t n = sp->read_count, bytes = sp->read_bytes;
	if (pos_cmp(pos, sp->cursor))
		count_between(sp, sp->head, pos, &n, &bytes);
	sp->count -= n < sp->count ? n : sp->count;
	sp->bytes -= bytes < sp->bytes ? bytes : sp->bytes;
	sp->read_count -= n < sp->read_count ? n : sp->read_count;
	sp->read_bytes -= bytes < sp->read_bytes ? bytes : sp->read_bytes;
	sp->head = normalize(sp, pos);
	while (sp->nsegs > 1 && sp->segs[0] < sp->head.seg)
		drop_seg_at(sp, 0);
	sp->head_dirty = true;
out:
	pthread_mutex_unlock(&sp->mu);
	return rc;
}

void spool_rewind(spool *sp)
{
	pthread_mutex_lock(&sp->mu);
	sp->cursor = sp->head;
	sp->unread = sp->count;
	sp->read_count = sp->read_bytes = 0;
	pthread_mutex_unlock(&sp->mu);
}

/* Copies the unacknowledged bytes of the head segment after the new records. */
static rfx_err copy_head_rest(spool *sp, int to)
{
	uint64_t off = sp->head.off, end = sp->sizes[0];
	char buf[65536];
	int from = read_fd_for(sp, sp->head.seg);
	if (from < 0)
		return RFX_ERR_IO;
	while (off < end) {
		size_t want = end - off < sizeof(buf) ? (size_t)(end - off) : sizeof(buf);
		ssize_t n = pread(from, buf, want, (off_t)off);
		if (n <= 0 || write(to, buf, (size_t)n) != n)
			return RFX_ERR_IO;
		off += (uint64_t)n;
	}
	return RFX_OK;
}

static rfx_err write_prepend_seg(spool *sp, const char *tmp, const char *const *data, const size_t *lens,
				 size_t n, uint64_t *size_out, uint64_t *bytes_out)
{
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
	rfx_err rc = RFX_OK;
	uint64_t bytes = 0;
	if (fd < 0)
		return RFX_ERR_IO;
	for (size_t i = 0; i < n && !rc; i++) {
		rc = lens[i] > sp->o.max_record ? RFX_ERR_LIMIT : write_frame(fd, data[i], lens[i]);
		bytes += FRAME_HDR + lens[i];
	}
	if (!rc)
		rc = copy_head_rest(sp, fd);
	if (!rc && fsync(fd))
		rc = RFX_ERR_IO;
	struct stat st;
	if (!rc && fstat(fd, &st))
		rc = RFX_ERR_IO;
	close(fd);
	*size_out = rc ? 0 : (uint64_t)st.st_size;
	*bytes_out = bytes;
	return rc;
}

/* The new segment takes the head segment's place: numbered one below it, holding the new records followed by
 * the head segment's unacknowledged rest, so no segment ever starts with acknowledged records. */
static rfx_err prepend_locked(spool *sp, const char *const *data, const size_t *lens, size_t n)
{
	uint64_t no = sp->segs[0] - 1, size = 0, bytes = 0;
	char *tmp = rfx_asprintf("%s/prepend.tmp", sp->dir), *path = seg_path(sp, no);
	bool was_tail = sp->nsegs == 1;
	rfx_err rc = write_prepend_seg(sp, tmp, data, lens, n, &size, &bytes);
	if (!rc && sp->disk + bytes > sp->o.max_bytes)
		rc = RFX_ERR_LIMIT;
	if (!rc && rename(tmp, path))
		rc = RFX_ERR_IO;
	if (rc) {
		unlink(tmp);
		goto out;
	}
	fsync_dir(sp->dir);
	if (was_tail) {
		int fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC);
		if (fd < 0) {
			rc = RFX_ERR_IO;
			goto out;
		}
		close(sp->tail_fd);
		sp->tail_fd = fd;
		sp->synced = sp->appended;
	}
	memmove(sp->segs + 1, sp->segs, sp->nsegs * sizeof(uint64_t));
	memmove(sp->sizes + 1, sp->sizes, sp->nsegs * sizeof(uint64_t));
	sp->nsegs++;
	sp->segs[0] = no;
	sp->sizes[0] = size;
	sp->disk += size;
	sp->head = (spool_pos){no, 0};
	(void)write_head(sp, sp->head);
	drop_seg_at(sp, 1);
	sp->count += n;
	sp->bytes += bytes;
	sp->cursor = sp->head;
	sp->unread = sp->count;
	sp->read_count = sp->read_bytes = 0;
out:
	free(tmp);
	free(path);
	return rc;
}

rfx_err spool_prepend(spool *sp, const char *const *data, const size_t *lens, size_t n)
{
	if (n == 0)
		return RFX_OK;
	pthread_mutex_lock(&sp->mu);
	rfx_err rc = sp->nsegs < MAX_SEGS ? prepend_locked(sp, data, lens, n) : RFX_ERR_LIMIT;
	pthread_mutex_unlock(&sp->mu);
	return rc;
}

#define SPOOL_GETTER(name, field)                                                                            \
	uint64_t spool_##name(spool *sp)                                                                     \
	{                                                                                                    \
		pthread_mutex_lock(&sp->mu);                                                                 \
		uint64_t v = sp->field;                                                                      \
		pthread_mutex_unlock(&sp->mu);                                                               \
		return v;                                                                                    \
	}
SPOOL_GETTER(count, count)
SPOOL_GETTER(bytes, bytes)
SPOOL_GETTER(unread, unread)
SPOOL_GETTER(lost, lost)
SPOOL_GETTER(disk_bytes, disk)
