/* executor.h -- how an action type runs on one target: a table of function pointers per type (exec_ssh.c). */
#ifndef AH_EXECUTOR_H
#define AH_EXECUTOR_H

#include <stdatomic.h>
#include "action.h"
#include "ah_config.h"
#include "buf.h"

typedef struct exec_req {
	const char *host;
	int port;
	const char *user;
	const char *command;
	const char *verify;	  /* NULL: none */
	int64_t timeout_ms;	  /* command and verify together */
	const atomic_int *cancel; /* becomes non-zero when the run must be cut off (shutdown) */
	/* Called once, right before the command is started (after connecting): the engine makes the run's
	 * start durable here, overlapping the disk sync with the connection. Non-zero: the command must not
	 * start. */
	rfx_err (*before_exec)(void *ud);
	void *ud;
} exec_req;

/* Captured output: bytes up to the buffer's max, the rest counted as truncated. */
typedef struct exec_capture {
	rfx_buf buf;
	bool truncated;
} exec_capture;

typedef struct exec_res {
	action_state state; /* succeeded, failed, timeout or interrupted */
	char reason[32];    /* when not succeeded: connect_failed, connect_timeout, host_key_unknown, ... */
	char error[256];
	int exit_status;	/* -1: none */
	int verify_exit_status; /* -1: not run */
	exec_capture out, err, verify_out;
	double duration_ms; /* command + verify on the target */
} exec_res;

void exec_res_init(exec_res *r, size_t output_max);
void exec_res_free(exec_res *r);
void exec_res_fail(exec_res *r, action_state st, const char *reason, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void exec_capture_add(exec_capture *c, const void *data, size_t len);

typedef struct executor_ops {
	const char *type;
	rfx_err (*open)(const ah_config *cfg, void **ctx, char *err, size_t errlen);
	/* Runs req; always fills res. Called from several workers at once, never twice at once for one
	 * target. */
	void (*run)(void *ctx, const exec_req *req, exec_res *res);
	void (*close)(void *ctx);
} executor_ops;

extern const executor_ops exec_ssh_ops;

/* The executor for an action type, NULL when there is none. */
const executor_ops *executor_find(const char *type);
size_t executor_count(void);
const executor_ops *executor_at(size_t i);

#endif
