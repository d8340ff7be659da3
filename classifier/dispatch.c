/* dispatch.c -- signed delivery of actions to the action handler with a durable, ordered retry outbox. */
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "auth.h"
#include "dispatch.h"
#include "httpc.h"
#include "log.h"
#include "metrics.h"

#define OUTBOX_MAX_FILE (1024 * 1024)

struct dispatch {
	dispatch_opts o;
	char *url, *token, *key, *dir;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool stop;
	size_t pending;
};

typedef enum { SEND_OK, SEND_REFUSED, SEND_FAILED, SEND_RETRY } send_result;

static metric *m_sent(const char *result)
{
	char labels[64];
	snprintf(labels, sizeof(labels), "result=\"%s\"", result);
	return metrics_counter("reflex_dispatch_total", labels,
			       "Actions sent to the action handler, by result");
}

/* Reason from an error body {"error":{"code":..,"message":..}}, else the HTTP status. */
static void error_reason(const httpc_resp *r, char *reason, size_t len)
{
	cJSON *j = cJSON_ParseWithLength(r->body.data ? r->body.data : "", r->body.len);
	const cJSON *e = cJSON_GetObjectItemCaseSensitive(j, "error");
	const cJSON *code = cJSON_GetObjectItemCaseSensitive(e, "code");
	const cJSON *msg = cJSON_GetObjectItemCaseSensitive(e, "message");
	if (cJSON_IsString(code) && cJSON_IsString(msg))
		snprintf(reason, len, "%s: %s", code->valuestring, msg->valuestring);
	else
		snprintf(reason, len, "action handler answered %ld", r->status);
	cJSON_Delete(j);
}

static send_result send_once(dispatch *d, const char *body, char *reason, size_t reasonlen)
{
	char sig[65], sighdr[100], authhdr[600];
	auth_hmac_sha256_hex(d->key, d->o.hmac_key_len, body, strlen(body), sig);
	snprintf(sighdr, sizeof(sighdr), "X-Reflex-Signature: sha256=%s", sig);
	const char *headers[4] = {"Content-Type: application/json", sighdr, NULL, NULL};
	if (d->token) {
		snprintf(authhdr, sizeof(authhdr), "Authorization: Bearer %s", d->token);
		headers[2] = authhdr;
	}
	char *url = rfx_asprintf("%s/v1/actions", d->url);
	httpc_req req = {.method = "POST",
			 .url = url,
			 .headers = headers,
			 .body = body,
			 .body_len = strlen(body),
			 .timeout_ms = d->o.timeout_ms,
			 .max_response = 64 * 1024};
	httpc_resp resp;
	rfx_err rc = httpc_do(&req, &resp);
	send_result res;
	if (rc) {
		snprintf(reason, reasonlen, "action handler unreachable: %s",
			 resp.error[0] ? resp.error : rfx_strerror(rc));
		res = SEND_RETRY;
	} else if (resp.status == 200 || resp.status == 201 || resp.status == 202) {
		reason[0] = 0;
		res = SEND_OK;
	} else if (resp.status == 403 || resp.status == 409) {
		error_reason(&resp, reason, reasonlen);
		res = SEND_REFUSED;
	} else if (resp.status >= 500 || resp.status == 429) {
		error_reason(&resp, reason, reasonlen);
		res = SEND_RETRY;
	} else {
		error_reason(&resp, reason, reasonlen);
		res = SEND_FAILED;
	}
	httpc_resp_free(&resp);
	free(url);
	return res;
}

static const char *result_status(send_result r)
{
	switch (r) {
	case SEND_OK:
		return "dispatched";
	case SEND_REFUSED:
		return "refused";
	case SEND_FAILED:
		return "failed";
	default:
		return "pending";
	}
}

/* Outbox file: first line event id, then the exact body bytes (the signature is recomputed on each try). */
static rfx_err outbox_put(dispatch *d, const char *event_id, const char *action_id, const char *body)
{
	char *path = rfx_asprintf("%s/%s.json", d->dir, action_id);
	char *data = rfx_asprintf("%s\n%s", event_id, body);
	rfx_err rc = rfx_write_file_atomic(path, data, strlen(data));
	free(path);
	free(data);
	return rc;
}

const char *dispatch_send(dispatch *d, const char *event_id, const char *action_id, const char *body,
			  char *reason, size_t reasonlen)
{
	pthread_mutex_lock(&d->lock);
	bool queue_busy = d->pending > 0;
	pthread_mutex_unlock(&d->lock);
	/* While older actions wait in the outbox, newer ones queue behind them so order is kept. */
	send_result r = queue_busy ? SEND_RETRY : send_once(d, body, reason, reasonlen);
	if (queue_busy)
		snprintf(reason, reasonlen, "queued behind earlier actions waiting for the action handler");
	if (r == SEND_RETRY) {
		pthread_mutex_lock(&d->lock);
		bool full = d->pending >= d->o.outbox_max;
		pthread_mutex_unlock(&d->lock);
		if (full || outbox_put(d, event_id, action_id, body)) {
			snprintf(reason, reasonlen, full ? "outbox full" : "cannot write the outbox");
			LOG_ERROR("action not delivered", "event_id", event_id, "action_id", action_id,
				  "reason", reason);
			metrics_inc(m_sent("lost"));
			return "failed";
		}
		pthread_mutex_lock(&d->lock);
		d->pending++;
		pthread_cond_signal(&d->cond);
		pthread_mutex_unlock(&d->lock);
		LOG_WARN("action queued for retry", "event_id", event_id, "action_id", action_id, "reason",
			 reason);
	}
	metrics_inc(m_sent(result_status(r)));
	return result_status(r);
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted names of the outbox files (ULIDs sort by time). */
static size_t outbox_list(dispatch *d, char ***names_out)
{
	DIR *dir = opendir(d->dir);
	char **names = NULL;
	size_t n = 0, cap = 0;
	struct dirent *de;
	while (dir && (de = readdir(dir))) {
		size_t len = strlen(de->d_name);
		if (len < 6 || strcmp(de->d_name + len - 5, ".json"))
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			names = rfx_realloc(names, cap * sizeof(*names));
		}
		names[n++] = rfx_strdup(de->d_name);
	}
	if (dir)
		closedir(dir);
	if (n)
		qsort(names, n, sizeof(*names), name_cmp);
	*names_out = names;
	return n;
}

/* Tries the oldest file; returns true when it is settled (delivered, refused or failed) and removed. */
static bool outbox_try(dispatch *d, const char *name)
{
	char *path = rfx_asprintf("%s/%s", d->dir, name);
	char *data = NULL, reason[300] = "";
	size_t len;
	bool settled = false;
	if (rfx_read_file(path, OUTBOX_MAX_FILE, &data, &len)) {
		unlink(path);
		settled = true;
		goto out;
	}
	char *nl = strchr(data, '\n');
	if (!nl) {
		unlink(path);
		settled = true;
		goto out;
	}
	*nl = 0;
	char action_id[64];
	snprintf(action_id, sizeof(action_id), "%.*s", (int)(strlen(name) - 5), name);
	send_result r = send_once(d, nl + 1, reason, sizeof(reason));
	if (r == SEND_RETRY)
		goto out;
	unlink(path);
	settled = true;
	metrics_inc(m_sent(result_status(r)));
	LOG_INFO("queued action delivered", "event_id", data, "action_id", action_id, "status",
		 result_status(r), "reason", reason[0] ? reason : NULL);
	if (d->o.on_result)
		d->o.on_result(d->o.ud, data, action_id, result_status(r), reason[0] ? reason : NULL);
out:
	free(data);
	free(path);
	return settled;
}

static void *retry_main(void *arg)
{
	dispatch *d = arg;
	long backoff_ms = 250;
	for (;;) {
		pthread_mutex_lock(&d->lock);
		while (!d->stop && d->pending == 0)
			pthread_cond_wait(&d->cond, &d->lock);
		bool stop = d->stop;
		pthread_mutex_unlock(&d->lock);
		if (stop)
			break;
		char **names;
		size_t n = outbox_list(d, &names), done = 0;
		while (done < n && outbox_try(d, names[done]))
			done++;
		for (size_t i = 0; i < n; i++)
			free(names[i]);
		free(names);
		pthread_mutex_lock(&d->lock);
		d->pending = n - done;
		if (d->pending && !d->stop) {
			struct timespec ts;
			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_sec += backoff_ms / 1000;
			ts.tv_nsec += (backoff_ms % 1000) * 1000000L;
			if (ts.tv_nsec >= 1000000000L) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000L;
			}
			pthread_cond_timedwait(&d->cond, &d->lock, &ts);
			backoff_ms = backoff_ms * 2 > 10000 ? 10000 : backoff_ms * 2;
		} else {
			backoff_ms = 250;
		}
		pthread_mutex_unlock(&d->lock);
	}
	return NULL;
}

rfx_err dispatch_new(const dispatch_opts *opts, dispatch **out, char *err, size_t errlen)
{
	if (rfx_mkdirs(opts->outbox_dir)) {
		snprintf(err, errlen, "cannot create outbox directory %s: %s", opts->outbox_dir,
			 strerror(errno));
		return RFX_ERR_IO;
	}
	dispatch *d = rfx_calloc(1, sizeof(*d));
	d->o = *opts;
	d->url = rfx_strdup(opts->url);
	size_t ul = strlen(d->url);
	while (ul && d->url[ul - 1] == '/')
		d->url[--ul] = 0;
	d->token = rfx_strdup(opts->token);
	d->key = rfx_malloc(opts->hmac_key_len + 1);
	memcpy(d->key, opts->hmac_key, opts->hmac_key_len);
	d->dir = rfx_strdup(opts->outbox_dir);
	pthread_mutex_init(&d->lock, NULL);
	pthread_cond_init(&d->cond, NULL);
	char **names;
	size_t n = outbox_list(d, &names);
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	d->pending = n;
	if (n) {
		char buf[32];
		snprintf(buf, sizeof(buf), "%zu", n);
		LOG_INFO("outbox resumed", "pending", buf);
	}
	pthread_create(&d->thread, NULL, retry_main, d);
	*out = d;
	return RFX_OK;
}

size_t dispatch_pending(dispatch *d)
{
	pthread_mutex_lock(&d->lock);
	size_t n = d->pending;
	pthread_mutex_unlock(&d->lock);
	return n;
}

void dispatch_free(dispatch *d)
{
	if (!d)
		return;
	pthread_mutex_lock(&d->lock);
	d->stop = true;
	pthread_cond_signal(&d->cond);
	pthread_mutex_unlock(&d->lock);
	pthread_join(d->thread, NULL);
	pthread_mutex_destroy(&d->lock);
	pthread_cond_destroy(&d->cond);
	if (d->key)
		memset(d->key, 0, d->o.hmac_key_len);
	free(d->key);
	free(d->url);
	free(d->token);
	free(d->dir);
	free(d);
}
