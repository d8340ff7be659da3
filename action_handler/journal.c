/* journal.c -- the action journal: JSON lines, O_APPEND writes, group-committed fdatasync, atomic compaction.
 */
#include "journal.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

struct journal {
	char *dir, *path, *tmp_path, *pause_path;
	int fd, lock_fd, tmp_fd;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	uint64_t written, synced; /* record sequence numbers */
	bool syncing;
	uint64_t bytes;
};

static rfx_err journal_errno(char *err, size_t errlen, const char *what, const char *path)
{
	snprintf(err, errlen, "%s %s: %s", what, path, strerror(errno));
	return errno == EWOULDBLOCK ? RFX_ERR_EXISTS : RFX_ERR_IO;
}

static rfx_err journal_lock(journal *j, char *err, size_t errlen)
{
	char *lock = rfx_asprintf("%s/lock", j->dir);
	rfx_err rc = RFX_OK;
	j->lock_fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0640);
	if (j->lock_fd < 0)
		rc = journal_errno(err, errlen, "cannot open", lock);
	else if (flock(j->lock_fd, LOCK_EX | LOCK_NB))
		rc = errno == EWOULDBLOCK
			 ? (snprintf(err, errlen, "%s is used by another process", j->dir), RFX_ERR_EXISTS)
			 : journal_errno(err, errlen, "cannot lock", lock);
	free(lock);
	return rc;
}

static rfx_err journal_open_file(journal *j, char *err, size_t errlen)
{
	j->fd = open(j->path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	if (j->fd < 0)
		return journal_errno(err, errlen, "cannot open", j->path);
	struct stat st;
	if (fstat(j->fd, &st))
		return journal_errno(err, errlen, "cannot stat", j->path);
	j->bytes = (uint64_t)st.st_size;
	return RFX_OK;
}

rfx_err journal_open(const char *dir, journal **out, char *err, size_t errlen)
{
	journal *j = rfx_calloc(1, sizeof(*j));
	rfx_err rc;
	j->fd = j->lock_fd = j->tmp_fd = -1;
	j->dir = rfx_strdup(dir);
	j->path = rfx_asprintf("%s/%s", dir, JOURNAL_FILE);
	j->tmp_path = rfx_asprintf("%s/%s.tmp", dir, JOURNAL_FILE);
	j->pause_path = rfx_asprintf("%s/paused", dir);
	pthread_mutex_init(&j->mu, NULL);
	pthread_cond_init(&j->cv, NULL);
	if ((rc = rfx_mkdirs(dir))) {
		snprintf(err, errlen, "cannot create %s: %s", dir, strerror(errno));
		goto out;
	}
	if ((rc = journal_lock(j, err, errlen)) || (rc = journal_open_file(j, err, errlen)))
		goto out;
out:
	if (rc) {
		journal_close(j);
		j = NULL;
	}
	*out = j;
	return rc;
}

void journal_close(journal *j)
{
	if (!j)
		return;
	if (j->fd >= 0) {
		fdatasync(j->fd);
		close(j->fd);
	}
	if (j->tmp_fd >= 0)
		journal_rewrite_abort(j);
	if (j->lock_fd >= 0)
		close(j->lock_fd);
	pthread_mutex_destroy(&j->mu);
	pthread_cond_destroy(&j->cv);
	free(j->dir);
	free(j->path);
	free(j->tmp_path);
	free(j->pause_path);
	free(j);
}

rfx_err journal_replay(journal *j, void (*fn)(const char *rec, size_t len, void *ud), void *ud,
		       size_t *skipped)
{
	FILE *f = fopen(j->path, "re");
	*skipped = 0;
	if (!f)
		return errno == ENOENT ? RFX_OK : RFX_ERR_IO;
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	while ((n = getline(&line, &cap, f)) > 0) {
		/* A line without its newline is a write cut off by a crash; an oversized one cannot be ours.
		 */
		if (line[n - 1] != '\n' || (size_t)n > JOURNAL_MAX_RECORD) {
			(*skipped)++;
			continue;
		}
		line[n - 1] = '\0';
		if (n > 1)
			fn(line, (size_t)n - 1, ud);
	}
	free(line);
	fclose(f);
	return RFX_OK;
}

static rfx_err journal_write_all(int fd, const char *p, size_t len)
{
	while (len) {
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

/* One write per record, so a crash leaves at most the last line torn (and replay skips it). */
static rfx_err journal_write_record(int fd, const char *rec, size_t len)
{
	if (len + 1 > JOURNAL_MAX_RECORD || memchr(rec, '\n', len))
		return RFX_ERR_INVAL;
	char *line = rfx_malloc(len + 1);
	memcpy(line, rec, len);
	line[len] = '\n';
	rfx_err rc = journal_write_all(fd, line, len + 1);
	free(line);
	return rc;
}

rfx_err journal_append(journal *j, const char *rec, size_t len, uint64_t *seq)
{
	pthread_mutex_lock(&j->mu);
	rfx_err rc = journal_write_record(j->fd, rec, len);
	if (!rc) {
		j->bytes += len + 1;
		*seq = ++j->written;
	}
	pthread_mutex_unlock(&j->mu);
	return rc;
}

rfx_err journal_sync(journal *j, uint64_t seq)
{
	rfx_err rc = RFX_OK;
	pthread_mutex_lock(&j->mu);
	while (j->synced < seq && !rc) {
		if (j->syncing) {
			pthread_cond_wait(&j->cv, &j->mu);
			continue;
		}
		j->syncing = true;
		uint64_t upto = j->written;
		int fd = j->fd;
		pthread_mutex_unlock(&j->mu);
		int r = fdatasync(fd);
		pthread_mutex_lock(&j->mu);
		j->syncing = false;
		if (r)
			rc = RFX_ERR_IO;
		else if (upto > j->synced)
			j->synced = upto;
		pthread_cond_broadcast(&j->cv);
	}
	pthread_mutex_unlock(&j->mu);
	return rc;
}

uint64_t journal_bytes(journal *j)
{
	pthread_mutex_lock(&j->mu);
	uint64_t b = j->bytes;
	pthread_mutex_unlock(&j->mu);
	return b;
}

rfx_err journal_rewrite_begin(journal *j)
{
	j->tmp_fd = open(j->tmp_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
	return j->tmp_fd < 0 ? RFX_ERR_IO : RFX_OK;
}

rfx_err journal_rewrite_add(journal *j, const char *rec, size_t len)
{
	return journal_write_record(j->tmp_fd, rec, len);
}

void journal_rewrite_abort(journal *j)
{
	if (j->tmp_fd >= 0)
		close(j->tmp_fd);
	j->tmp_fd = -1;
	unlink(j->tmp_path);
}

static rfx_err journal_fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return RFX_ERR_IO;
	int r = fsync(fd);
	close(fd);
	return r ? RFX_ERR_IO : RFX_OK;
}

rfx_err journal_rewrite_commit(journal *j)
{
	rfx_err rc = RFX_OK;
	pthread_mutex_lock(&j->mu);
	while (j->syncing)
		pthread_cond_wait(&j->cv, &j->mu);
	struct stat st;
	if (fsync(j->tmp_fd) || fstat(j->tmp_fd, &st) || rename(j->tmp_path, j->path)) {
		rc = RFX_ERR_IO;
		goto out;
	}
	close(j->fd);
	j->fd = j->tmp_fd;
	j->tmp_fd = -1;
	/* The new file holds every record written so far: all of them are durable once the rename is. */
	j->bytes = (uint64_t)st.st_size;
	if (fcntl(j->fd, F_SETFL, O_APPEND) || journal_fsync_dir(j->dir))
		rc = RFX_ERR_IO;
	else
		j->synced = j->written;
out:
	pthread_mutex_unlock(&j->mu);
	if (rc)
		journal_rewrite_abort(j);
	return rc;
}

bool journal_paused(journal *j)
{
	return access(j->pause_path, F_OK) == 0;
}

rfx_err journal_set_paused(journal *j, bool paused)
{
	if (paused)
		return rfx_write_file_atomic(j->pause_path, "paused\n", 7);
	if (unlink(j->pause_path) && errno != ENOENT)
		return RFX_ERR_IO;
	return journal_fsync_dir(j->dir);
}
