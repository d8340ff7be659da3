/* exec_ssh.c -- the ssh executor: runs the command, then verify, on one channel each of a pooled libssh
 * session, with the timeout enforced on the channel (TERM, then KILL, then close) and output captured up to
 * the cap. */
#include <libssh/callbacks.h>
#include <libssh/libssh.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "executor.h"
#include "sshpool.h"

#define EXEC_SSH_SLICE_MS      100
#define EXEC_SSH_KILL_GRACE_MS 1000
#define EXEC_SSH_EXIT_GRACE_MS 1000 /* after the exit status, how long to wait for output still in flight */

typedef struct exec_ssh {
	sshpool *pool;
	size_t output_max;
	int64_t open_ms; /* how long a channel may take to open: ssh_connect_timeout */
} exec_ssh;

typedef enum {
	CHAN_DONE = 0,
	CHAN_OPEN_FAILED,
	CHAN_ERROR,
	CHAN_TIMEOUT,
	CHAN_CANCELLED,
	CHAN_NOT_STARTED, /* before_exec said no */
} exec_chan_result;

/* What one channel produced; filled by libssh callbacks on the worker's own thread. */
typedef struct exec_chan {
	exec_capture *out, *err;
	bool eof, closed, exited;
	int exit_status;
	char exit_signal[32];
	int64_t exited_ms;
} exec_chan;

static int exec_ssh_on_data(ssh_session s, ssh_channel ch, void *data, uint32_t len, int is_stderr, void *ud)
{
	(void)s;
	(void)ch;
	exec_chan *st = ud;
	exec_capture_add(is_stderr ? st->err : st->out, data, len);
	return (int)len;
}

static void exec_ssh_on_eof(ssh_session s, ssh_channel ch, void *ud)
{
	(void)s;
	(void)ch;
	((exec_chan *)ud)->eof = true;
}

static void exec_ssh_on_close(ssh_session s, ssh_channel ch, void *ud)
{
	(void)s;
	(void)ch;
	((exec_chan *)ud)->closed = true;
}

static void exec_ssh_on_exit_status(ssh_session s, ssh_channel ch, int status, void *ud)
{
	(void)s;
	(void)ch;
	exec_chan *st = ud;
	st->exited = true;
	st->exit_status = status;
	st->exited_ms = rfx_mono_ms();
}

static void exec_ssh_on_exit_signal(ssh_session s, ssh_channel ch, const char *sig, int core,
				    const char *errmsg, const char *lang, void *ud)
{
	(void)s;
	(void)ch;
	(void)core;
	(void)errmsg;
	(void)lang;
	exec_chan *st = ud;
	st->exited = true;
	st->exited_ms = rfx_mono_ms();
	snprintf(st->exit_signal, sizeof(st->exit_signal), "%s", sig ? sig : "?");
}

static bool exec_ssh_finished(const exec_chan *st)
{
	if (st->closed || (st->eof && st->exited))
		return true;
	/* A command that left a background process holding its output must not hang the run. */
	return st->exited && rfx_mono_ms() - st->exited_ms > EXEC_SSH_EXIT_GRACE_MS;
}

/* Drives the session until the channel is done, the deadline passes, or the run is cancelled. */
static exec_chan_result exec_ssh_wait(ssh_session s, ssh_event ev, exec_chan *st, int64_t deadline_ms,
				      const atomic_int *cancel)
{
	while (!exec_ssh_finished(st)) {
		if (cancel && atomic_load(cancel))
			return CHAN_CANCELLED;
		int64_t rem = deadline_ms - rfx_mono_ms();
		if (rem <= 0)
			return CHAN_TIMEOUT;
		if (ssh_event_dopoll(ev, (int)(rem < EXEC_SSH_SLICE_MS ? rem : EXEC_SSH_SLICE_MS)) ==
			SSH_ERROR &&
		    !ssh_is_connected(s))
			return CHAN_ERROR;
	}
	return CHAN_DONE;
}

/* Stops a command that outlived its time: TERM, a grace period, KILL; sshd then closes the channel. */
static void exec_ssh_stop(ssh_session s, ssh_channel ch, ssh_event ev, exec_chan *st)
{
	ssh_channel_request_send_signal(ch, "TERM");
	exec_ssh_wait(s, ev, st, rfx_mono_ms() + EXEC_SSH_KILL_GRACE_MS, NULL);
	if (!exec_ssh_finished(st))
		ssh_channel_request_send_signal(ch, "KILL");
}

/* Opens a session channel. While the request is on its way, before_exec makes the run's start durable, so the
 * disk sync overlaps the round trip instead of following it; the command itself is only sent afterwards.
 * *refused: before_exec said no. */
static int exec_ssh_open_channel(ssh_session s, ssh_channel ch, ssh_event ev, const exec_req *req,
				 int64_t open_ms, bool *refused)
{
	int64_t deadline = rfx_mono_ms() + open_ms;
	ssh_set_blocking(s, 0);
	int rc = ssh_channel_open_session(ch);
	if (rc != SSH_ERROR && req->before_exec)
		*refused = req->before_exec(req->ud) != RFX_OK;
	while (rc == SSH_AGAIN) {
		int64_t rem = deadline - rfx_mono_ms();
		if (rem <= 0 ||
		    (ssh_event_dopoll(ev, (int)(rem < EXEC_SSH_SLICE_MS ? rem : EXEC_SSH_SLICE_MS)) ==
			 SSH_ERROR &&
		     !ssh_is_connected(s)))
			break;
		rc = ssh_channel_open_session(ch);
	}
	ssh_set_blocking(s, 1);
	return rc;
}

static exec_chan_result exec_ssh_channel(ssh_session s, const char *cmd, int64_t open_ms, int64_t deadline_ms,
					 const exec_req *req, exec_chan *st, char *err, size_t errlen)
{
	exec_chan_result res = CHAN_OPEN_FAILED;
	bool refused = false;
	struct ssh_channel_callbacks_struct cb = {
	    .userdata = st,
	    .channel_data_function = exec_ssh_on_data,
	    .channel_eof_function = exec_ssh_on_eof,
	    .channel_close_function = exec_ssh_on_close,
	    .channel_exit_status_function = exec_ssh_on_exit_status,
	    .channel_exit_signal_function = exec_ssh_on_exit_signal,
	};
	ssh_callbacks_init(&cb);
	ssh_event ev = ssh_event_new();
	ssh_event_add_session(ev, s);
	ssh_channel ch = ssh_channel_new(s);
	if (!ch || exec_ssh_open_channel(s, ch, ev, req, open_ms, &refused) != SSH_OK) {
		snprintf(err, errlen, "cannot open a session channel: %s", ssh_get_error(s));
		goto out;
	}
	ssh_set_channel_callbacks(ch, &cb);
	if (refused) {
		res = CHAN_NOT_STARTED;
		goto out;
	}
	res = CHAN_ERROR;
	if (ssh_channel_request_exec(ch, cmd) != SSH_OK) {
		snprintf(err, errlen, "exec request refused: %s", ssh_get_error(s));
		goto out;
	}
	res = exec_ssh_wait(s, ev, st, deadline_ms, req->cancel);
	if (res == CHAN_TIMEOUT || res == CHAN_CANCELLED)
		exec_ssh_stop(s, ch, ev, st);
	if (res == CHAN_ERROR)
		snprintf(err, errlen, "connection lost: %s", ssh_get_error(s));
out:
	ssh_event_remove_session(ev, s);
	ssh_event_free(ev);
	if (ch) {
		if (ssh_channel_is_open(ch))
			ssh_channel_close(ch);
		ssh_channel_free(ch);
	}
	return res;
}

static void exec_ssh_exit_word(const exec_chan *st, exec_res *res, bool verify)
{
	if (st->exit_signal[0])
		exec_res_fail(res, ACTION_FAILED, verify ? "verify_failed" : "signal",
			      "%s killed by signal %s", verify ? "verify" : "command", st->exit_signal);
	else if (verify)
		exec_res_fail(res, ACTION_FAILED, "verify_failed", "verify exited with status %d",
			      st->exit_status);
	else
		exec_res_fail(res, ACTION_FAILED, "exit_status", "command exited with status %d",
			      st->exit_status);
}

/* Maps a channel result that is not CHAN_DONE onto the run's state; true when the session is still sound. */
static bool exec_ssh_chan_fail(exec_chan_result cr, const char *what, const char *detail, int64_t timeout_ms,
			       exec_res *res)
{
	if (cr == CHAN_NOT_STARTED)
		exec_res_fail(res, ACTION_FAILED, "journal_error",
			      "the start could not be made durable; not run");
	else if (cr == CHAN_TIMEOUT)
		exec_res_fail(res, ACTION_TIMEOUT, "timeout", "%s did not finish within %.1f s; stopped",
			      what, timeout_ms / 1000.0);
	else if (cr == CHAN_CANCELLED)
		exec_res_fail(res, ACTION_INTERRUPTED, "shutdown", "%s cut off by shutdown", what);
	else
		exec_res_fail(res, ACTION_FAILED, "channel_error", "%s", detail);
	return false;
}

/* Runs command then verify on s. Returns whether the session may be reused; *open_failed asks for a retry on
 * a fresh connection (a warm one the server had already dropped). */
static bool exec_ssh_session(ssh_session s, const exec_req *req, int64_t open_ms, exec_res *res,
			     bool *open_failed)
{
	char err[256] = "";
	int64_t t0 = rfx_mono_ms(), deadline = t0 + req->timeout_ms;
	exec_chan st = {.out = &res->out, .err = &res->err, .exit_status = -1};
	exec_chan_result cr =
	    exec_ssh_channel(s, req->command, open_ms, deadline, req, &st, err, sizeof(err));
	*open_failed = cr == CHAN_OPEN_FAILED;
	res->duration_ms = (double)(rfx_mono_ms() - t0);
	if (cr)
		return exec_ssh_chan_fail(cr, "command", err, req->timeout_ms, res);
	res->exit_status = st.exit_signal[0] ? -1 : st.exit_status;
	if (!st.exited || st.exit_signal[0] || st.exit_status != 0) {
		if (!st.exited)
			exec_res_fail(res, ACTION_FAILED, "exit_status",
				      "the command ended without an exit status");
		else
			exec_ssh_exit_word(&st, res, false);
		res->duration_ms = (double)(rfx_mono_ms() - t0);
		return true;
	}
	if (req->verify) {
		exec_chan vs = {.out = &res->verify_out, .err = &res->verify_out, .exit_status = -1};
		exec_req vreq = *req;
		vreq.before_exec = NULL; /* the run's start is durable already */
		cr = exec_ssh_channel(s, req->verify, open_ms, deadline, &vreq, &vs, err, sizeof(err));
		res->duration_ms = (double)(rfx_mono_ms() - t0);
		if (cr)
			return exec_ssh_chan_fail(cr, "verify", err, req->timeout_ms, res);
		res->verify_exit_status = vs.exit_signal[0] ? -1 : vs.exit_status;
		if (!vs.exited || vs.exit_signal[0] || vs.exit_status != 0) {
			exec_ssh_exit_word(&vs, res, true);
			return true;
		}
	}
	res->duration_ms = (double)(rfx_mono_ms() - t0);
	res->state = ACTION_SUCCEEDED;
	res->reason[0] = res->error[0] = '\0';
	return true;
}

static void exec_ssh_run(void *ctx, const exec_req *req, exec_res *res)
{
	exec_ssh *x = ctx;
	for (int attempt = 0; attempt < 2; attempt++) {
		sshpool_conn *c = NULL;
		bool reused = false, open_failed = false;
		char reason[SSHPOOL_REASON_MAX];
		char err[256];
		if (sshpool_get(x->pool, req->host, req->port, req->user, &c, &reused, reason, err,
				sizeof(err))) {
			exec_res_fail(res, ACTION_FAILED, reason, "%s", err);
			return;
		}
		bool healthy = exec_ssh_session(c->s, req, x->open_ms, res, &open_failed);
		sshpool_put(x->pool, c, healthy && res->state != ACTION_TIMEOUT);
		if (!(open_failed && reused))
			return;
		/* The channel never opened, so nothing ran: safe to try once more on a fresh connection. */
		exec_res_free(res);
		exec_res_init(res, x->output_max);
	}
}

static rfx_err exec_ssh_open(const ah_config *cfg, void **ctx, char *err, size_t errlen)
{
	exec_ssh *x = rfx_calloc(1, sizeof(*x));
	x->output_max = (size_t)cfg->output_max_bytes;
	x->open_ms = cfg->ssh_connect_timeout;
	ssh_init();
	rfx_err rc = sshpool_open(cfg, &x->pool, err, errlen);
	if (rc) {
		free(x);
		x = NULL;
	}
	*ctx = x;
	return rc;
}

static void exec_ssh_close(void *ctx)
{
	exec_ssh *x = ctx;
	if (!x)
		return;
	sshpool_close(x->pool);
	free(x);
	ssh_finalize();
}

const executor_ops exec_ssh_ops = {
    .type = "ssh",
    .open = exec_ssh_open,
    .run = exec_ssh_run,
    .close = exec_ssh_close,
};
