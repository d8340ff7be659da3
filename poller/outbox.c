/* outbox.c -- persistent, bounded, ordered outbox: an append-only log of commits plus a delivery position. */
#include "outbox.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "log.h"

#define OUTBOX_MAGIC	   "H reflex-outbox 1 "
#define OUTBOX_ACK_LEN	   64
#define OUTBOX_COPY_CHUNK  (64u << 10)
#define OUTBOX_COMPACT_MIN (64u << 10)	/* drained: rewrite once this much was delivered */
#define OUTBOX_COMPACT_MAX (64ll << 20) /* not drained: rewrite once this much was delivered */
#define OUTBOX_ACK_SYNC_MS 1000

struct outbox {
	char *log_path, *ack_path, *dir;
	int fd, ack_fd;
	char gen[27];
	off_t header_len;
	off_t read_off; /* first undelivered record */
	off_t end;	/* end of committed records */
	size_t pending;
	long long max_events, max_bytes;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool woken;
	int64_t ack_synced_ms;
};

static rfx_err write_all(int fd, const void *data, size_t len)
{
	const char *p = data;
	while (len > 0) {
		ssize_t w = write(fd, p, len);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return RFX_ERR_IO;
		p += w;
		len -= (size_t)w;
	}
	return RFX_OK;
}

static void fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		fsync(fd);
		close(fd);
	}
}

static rfx_err write_ack(outbox *ob, bool sync)
{
	char line[OUTBOX_ACK_LEN + 1];
	int n = snprintf(line, sizeof(line), "%s %lld", ob->gen, (long long)ob->read_off);
	memset(line + n, ' ', OUTBOX_ACK_LEN - 1 - (size_t)n);
	line[OUTBOX_ACK_LEN - 1] = '\n';
	if (pwrite(ob->ack_fd, line, OUTBOX_ACK_LEN, 0) != OUTBOX_ACK_LEN)
		return RFX_ERR_IO;
	if (sync || rfx_mono_ms() - ob->ack_synced_ms >= OUTBOX_ACK_SYNC_MS) {
		fdatasync(ob->ack_fd);
		ob->ack_synced_ms = rfx_mono_ms();
	}
	return RFX_OK;
}

static rfx_err copy_range(int from_fd, off_t from, off_t to, int out_fd)
{
	char *chunk = rfx_malloc(OUTBOX_COPY_CHUNK);
	rfx_err rc = RFX_OK;
	while (from < to) {
		size_t want =
		    (size_t)(to - from) < OUTBOX_COPY_CHUNK ? (size_t)(to - from) : OUTBOX_COPY_CHUNK;
		ssize_t r = pread(from_fd, chunk, want, from);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			rc = RFX_ERR_IO;
			break;
		}
		rc = write_all(out_fd, chunk, (size_t)r);
		if (rc)
			break;
		from += r;
	}
	free(chunk);
	return rc;
}

/* Replaces the log with a fresh generation holding only [from, to) of the old one, and resets the position.
 */
static rfx_err rewrite(outbox *ob, off_t from, off_t to)
{
	char gen[27], header[64];
	char *tmp = rfx_asprintf("%s.tmp", ob->log_path);
	rfx_err rc = RFX_OK;

	rfx_ulid(gen);
	int hl = snprintf(header, sizeof(header), "%s%s\n", OUTBOX_MAGIC, gen);
	int out = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
	if (out < 0) {
		rc = RFX_ERR_IO;
		goto out;
	}
	rc = write_all(out, header, (size_t)hl);
	if (!rc && ob->fd >= 0)
		rc = copy_range(ob->fd, from, to, out);
	if (!rc && fsync(out) != 0)
		rc = RFX_ERR_IO;
	close(out);
	if (!rc && rename(tmp, ob->log_path) != 0)
		rc = RFX_ERR_IO;
	if (rc) {
		unlink(tmp);
		goto out;
	}
	fsync_dir(ob->dir);
	if (ob->fd >= 0)
		close(ob->fd);
	ob->fd = open(ob->log_path, O_RDWR | O_APPEND | O_CLOEXEC);
	if (ob->fd < 0) {
		rc = RFX_ERR_IO;
		goto out;
	}
	memcpy(ob->gen, gen, sizeof(gen));
	ob->header_len = hl;
	ob->read_off = hl;
	ob->end = hl + (to - from);
	rc = write_ack(ob, true);
out:
	free(tmp);
	return rc;
}

/* A record line: "R <commit> <feed> <json>\n". Fills the views; false when the line is not one. */
static bool parse_record(char *line, size_t len, const char **commit, const char **feed, const char **json)
{
	if (len < 32 || line[0] != 'R' || line[1] != ' ' || line[28] != ' ' || line[len - 1] != '\n')
		return false;
	line[28] = 0;
	*commit = line + 2;
	char *sp = memchr(line + 29, ' ', len - 29);
	if (!sp || sp == line + 29 || sp - (line + 29) >= 64)
		return false;
	for (const char *c = line + 29; c < sp; c++)
		if (!isalnum((unsigned char)*c) && !strchr("._-", *c))
			return false; /* feed names never hold anything else (they name files) */
	*sp = 0;
	*feed = line + 29;
	*json = sp + 1;
	line[len - 1] = 0;
	return true;
}

typedef struct scan_result {
	off_t valid_end;
	off_t group_start;
	char last_commit[27];
	char last_feed[128];
	bool ack_on_boundary;
} scan_result;

static void scan_records(FILE *f, off_t start, off_t ack, scan_result *sr)
{
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	off_t off = start;
	const char *commit, *feed, *json;

	memset(sr, 0, sizeof(*sr));
	sr->valid_end = start;
	sr->ack_on_boundary = ack == start;
	while ((n = getline(&line, &cap, f)) > 0) {
		if (!parse_record(line, (size_t)n, &commit, &feed, &json))
			break; /* a torn last write; nothing valid can follow it */
		if (strcmp(commit, sr->last_commit) != 0) {
			snprintf(sr->last_commit, sizeof(sr->last_commit), "%s", commit);
			snprintf(sr->last_feed, sizeof(sr->last_feed), "%s", feed);
			sr->group_start = off;
		}
		off += n;
		sr->valid_end = off;
		if (off == ack)
			sr->ack_on_boundary = true;
	}
	free(line);
}

static size_t count_records(int fd, off_t from, off_t to)
{
	char *chunk = rfx_malloc(OUTBOX_COPY_CHUNK);
	size_t n = 0;
	while (from < to) {
		size_t want =
		    (size_t)(to - from) < OUTBOX_COPY_CHUNK ? (size_t)(to - from) : OUTBOX_COPY_CHUNK;
		ssize_t r = pread(fd, chunk, want, from);
		if (r <= 0)
			break;
		for (ssize_t i = 0; i < r; i++)
			n += chunk[i] == '\n';
		from += r;
	}
	free(chunk);
	return n;
}

static void read_ack(outbox *ob, char gen[27], long long *off)
{
	char line[OUTBOX_ACK_LEN + 1] = "";
	gen[0] = 0;
	*off = -1;
	ssize_t r = pread(ob->ack_fd, line, OUTBOX_ACK_LEN, 0);
	if (r <= 0)
		return;
	line[r] = 0;
	if (sscanf(line, "%26s %lld", gen, off) != 2) {
		gen[0] = 0;
		*off = -1;
	}
}

/* Reads the header; false when the file is empty or not an outbox. */
static bool read_header(FILE *f, outbox *ob)
{
	char line[128];
	size_t ml = strlen(OUTBOX_MAGIC);
	if (!fgets(line, sizeof(line), f))
		return false;
	size_t n = strlen(line);
	if (n != ml + 27 || strncmp(line, OUTBOX_MAGIC, ml) != 0 || line[n - 1] != '\n')
		return false;
	memcpy(ob->gen, line + ml, 26);
	ob->gen[26] = 0;
	ob->header_len = (off_t)n;
	return true;
}

static rfx_err recover(outbox *ob, const outbox_opts *o, char *err, size_t errlen)
{
	char ack_gen[27], committed[27] = "";
	long long ack = -1;
	scan_result sr;
	struct stat stbuf;

	FILE *f = fdopen(dup(ob->fd), "r");
	if (!f) {
		snprintf(err, errlen, "%s: %s", ob->log_path, strerror(errno));
		return RFX_ERR_IO;
	}
	bool have = read_header(f, ob);
	if (!have) {
		fclose(f);
		if (fstat(ob->fd, &stbuf) == 0 && stbuf.st_size > 0) {
			char *aside = rfx_asprintf("%s.corrupt-%lld", ob->log_path, (long long)rfx_now_ms());
			LOG_ERROR("outbox is not readable, set aside", "path", ob->log_path, "moved_to",
				  aside);
			rename(ob->log_path, aside);
			free(aside);
		}
		return rewrite(ob, 0, 0);
	}
	read_ack(ob, ack_gen, &ack);
	if (strcmp(ack_gen, ob->gen) != 0)
		ack = ob->header_len;
	scan_records(f, ob->header_len, (off_t)ack, &sr);
	fclose(f);
	if (sr.last_commit[0]) {
		if (o->commit_of && o->commit_of(sr.last_feed, committed, o->ud) == RFX_OK &&
		    strcmp(committed, sr.last_commit) != 0 && (off_t)ack <= sr.group_start) {
			LOG_WARN("outbox: dropping a commit whose feed state was never written", "feed",
				 sr.last_feed, "commit", sr.last_commit);
			sr.valid_end = sr.group_start;
		}
	}
	if (!sr.ack_on_boundary || (off_t)ack > sr.valid_end || ack < ob->header_len)
		ack = ob->header_len;
	ob->read_off = (off_t)ack;
	ob->end = sr.valid_end;
	if (fstat(ob->fd, &stbuf) != 0)
		return RFX_ERR_IO;
	if (ob->read_off > ob->header_len || stbuf.st_size != ob->end)
		return rewrite(ob, ob->read_off, ob->end);
	return write_ack(ob, true);
}

rfx_err outbox_open(const outbox_opts *o, outbox **out, char *err, size_t errlen)
{
	outbox *ob = rfx_calloc(1, sizeof(*ob));
	rfx_err rc = RFX_OK;
	pthread_condattr_t ca;

	ob->dir = rfx_strdup(o->dir);
	ob->log_path = rfx_asprintf("%s/outbox.log", o->dir);
	ob->ack_path = rfx_asprintf("%s/outbox.ack", o->dir);
	ob->max_events = o->max_events;
	ob->max_bytes = o->max_bytes;
	pthread_mutex_init(&ob->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&ob->cv, &ca);
	pthread_condattr_destroy(&ca);
	ob->fd = open(ob->log_path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	ob->ack_fd = open(ob->ack_path, O_RDWR | O_CREAT | O_CLOEXEC, 0640);
	if (ob->fd < 0 || ob->ack_fd < 0) {
		snprintf(err, errlen, "%s: %s", ob->fd < 0 ? ob->log_path : ob->ack_path, strerror(errno));
		rc = RFX_ERR_IO;
		goto out;
	}
	rc = recover(ob, o, err, errlen);
	if (rc) {
		if (!err[0])
			snprintf(err, errlen, "%s: cannot recover: %s", ob->log_path, rfx_strerror(rc));
		goto out;
	}
	ob->pending = count_records(ob->fd, ob->read_off, ob->end);
out:
	if (rc) {
		outbox_close(ob);
		ob = NULL;
	}
	*out = ob;
	return rc;
}

void outbox_close(outbox *ob)
{
	if (!ob)
		return;
	if (ob->ack_fd >= 0) {
		fdatasync(ob->ack_fd);
		close(ob->ack_fd);
	}
	if (ob->fd >= 0)
		close(ob->fd);
	pthread_mutex_destroy(&ob->mu);
	pthread_cond_destroy(&ob->cv);
	free(ob->dir);
	free(ob->log_path);
	free(ob->ack_path);
	free(ob);
}

static rfx_err append_stage(outbox *ob, const char *commit, const char *feed, FILE *stage, size_t *nrec)
{
	rfx_buf b;
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	rfx_err rc = RFX_OK;

	buf_init(&b, 2 * OUTBOX_MAX_RECORD + 4096);
	rewind(stage);
	*nrec = 0;
	while (!rc && (n = getline(&line, &cap, stage)) > 0) {
		if (line[n - 1] != '\n' || (size_t)n > OUTBOX_MAX_RECORD + 1) {
			rc = RFX_ERR_INTERNAL;
			break;
		}
		buf_printf(&b, "R %s %s ", commit, feed);
		buf_append(&b, line, (size_t)n);
		(*nrec)++;
		if (b.len >= OUTBOX_MAX_RECORD) {
			rc = write_all(ob->fd, b.data, b.len);
			buf_reset(&b);
		}
	}
	if (!rc && b.len)
		rc = write_all(ob->fd, b.data, b.len);
	if (!rc && ferror(stage))
		rc = RFX_ERR_IO;
	free(line);
	buf_free(&b);
	return rc;
}

rfx_err outbox_commit(outbox *ob, const char *feed, FILE *stage, size_t nrecords, size_t nbytes,
		      rfx_err (*commit_fn)(void *ud, const char *commit), void *ud, char *err, size_t errlen)
{
	char commit[27];
	size_t written = 0;
	rfx_err rc = RFX_OK;
	size_t overhead = nrecords * (30 + strlen(feed));

	pthread_mutex_lock(&ob->mu);
	if ((long long)(ob->pending + nrecords) > ob->max_events ||
	    (long long)((size_t)(ob->end - ob->read_off) + nbytes + overhead) > ob->max_bytes) {
		snprintf(err, errlen, "outbox full: %zu problems (%lld bytes) waiting for the classifier",
			 ob->pending, (long long)(ob->end - ob->read_off));
		rc = RFX_ERR_LIMIT;
		goto out;
	}
	rfx_ulid(commit);
	rc = append_stage(ob, commit, feed, stage, &written);
	if (!rc && written != nrecords)
		rc = RFX_ERR_INTERNAL;
	if (!rc && fdatasync(ob->fd) != 0)
		rc = RFX_ERR_IO;
	if (rc)
		snprintf(err, errlen, "%s: cannot append: %s", ob->log_path, rfx_strerror(rc));
	if (!rc)
		rc = commit_fn(ud, commit);
	if (rc) {
		/* Undo the append; the poll is retried and finds the same problems again. */
		if (ftruncate(ob->fd, ob->end) == 0)
			fdatasync(ob->fd);
		goto out;
	}
	ob->end = lseek(ob->fd, 0, SEEK_END);
	ob->pending += nrecords;
	pthread_cond_broadcast(&ob->cv);
out:
	pthread_mutex_unlock(&ob->mu);
	return rc;
}

static void deadline_after(struct timespec *ts, int ms)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

static rfx_err read_line_at(outbox *ob, off_t off, outbox_record *rec)
{
	size_t cap = 4096, len = 0, maxlen = (size_t)(ob->end - off);
	char *buf = rfx_malloc(cap + 1);

	for (;;) {
		size_t want = cap - len < maxlen - len ? cap - len : maxlen - len;
		ssize_t r = pread(ob->fd, buf + len, want, off + (off_t)len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		char *nl = memchr(buf + len, '\n', (size_t)r);
		len += (size_t)r;
		if (nl) {
			rec->line = buf;
			rec->len = (size_t)(nl - buf) + 1;
			return RFX_OK;
		}
		if (len >= maxlen || cap > 4 * OUTBOX_MAX_RECORD)
			break;
		cap *= 2;
		buf = rfx_realloc(buf, cap + 1);
	}
	free(buf);
	return RFX_ERR_IO;
}

rfx_err outbox_peek(outbox *ob, int wait_ms, outbox_record *rec)
{
	struct timespec dl;
	rfx_err rc;
	const char *commit;

	memset(rec, 0, sizeof(*rec));
	deadline_after(&dl, wait_ms);
	pthread_mutex_lock(&ob->mu);
	while (ob->read_off >= ob->end && !ob->woken)
		if (pthread_cond_timedwait(&ob->cv, &ob->mu, &dl) == ETIMEDOUT)
			break;
	ob->woken = false;
	if (ob->read_off >= ob->end) {
		rc = RFX_ERR_NOTFOUND;
		goto out;
	}
	rc = read_line_at(ob, ob->read_off, rec);
	if (!rc && !parse_record(rec->line, rec->len, &commit, &rec->feed, &rec->json))
		rc = RFX_ERR_PARSE;
	if (rc) {
		LOG_ERROR("outbox record unreadable", "path", ob->log_path, "error", rfx_strerror(rc));
		outbox_record_free(rec);
	}
out:
	pthread_mutex_unlock(&ob->mu);
	return rc;
}

void outbox_record_free(outbox_record *rec)
{
	RFX_FREE(rec->line);
	memset(rec, 0, sizeof(*rec));
}

rfx_err outbox_ack(outbox *ob, const outbox_record *rec)
{
	rfx_err rc;

	pthread_mutex_lock(&ob->mu);
	ob->read_off += (off_t)rec->len;
	if (ob->read_off > ob->end)
		ob->read_off = ob->end;
	if (ob->pending)
		ob->pending--;
	rc = write_ack(ob, false);
	off_t done = ob->read_off - ob->header_len;
	if (!rc && ((ob->read_off == ob->end && done >= (off_t)OUTBOX_COMPACT_MIN) ||
		    (done >= OUTBOX_COMPACT_MAX && ob->end - ob->read_off <= done / 2)))
		rc = rewrite(ob, ob->read_off, ob->end);
	if (rc)
		LOG_ERROR("outbox: cannot record delivery", "path", ob->ack_path, "error", rfx_strerror(rc));
	pthread_mutex_unlock(&ob->mu);
	return rc;
}

void outbox_wake(outbox *ob)
{
	pthread_mutex_lock(&ob->mu);
	ob->woken = true;
	pthread_cond_broadcast(&ob->cv);
	pthread_mutex_unlock(&ob->mu);
}

size_t outbox_pending(outbox *ob)
{
	pthread_mutex_lock(&ob->mu);
	size_t n = ob->pending;
	pthread_mutex_unlock(&ob->mu);
	return n;
}

size_t outbox_pending_bytes(outbox *ob)
{
	pthread_mutex_lock(&ob->mu);
	size_t n = (size_t)(ob->end - ob->read_off);
	pthread_mutex_unlock(&ob->mu);
	return n;
}
