/* executor.c -- the executor table and the result helpers every executor shares. */
#include "executor.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const executor_ops *const executors[] = {&exec_ssh_ops};

const executor_ops *executor_find(const char *type)
{
	for (size_t i = 0; type && i < RFX_ARRAY_LEN(executors); i++)
		if (!strcmp(executors[i]->type, type))
			return executors[i];
	return NULL;
}

size_t executor_count(void)
{
	return RFX_ARRAY_LEN(executors);
}

const executor_ops *executor_at(size_t i)
{
	return i < RFX_ARRAY_LEN(executors) ? executors[i] : NULL;
}

void exec_res_init(exec_res *r, size_t output_max)
{
	memset(r, 0, sizeof(*r));
	r->state = ACTION_FAILED;
	r->exit_status = r->verify_exit_status = -1;
	buf_init(&r->out.buf, output_max);
	buf_init(&r->err.buf, output_max);
	buf_init(&r->verify_out.buf, output_max);
}

void exec_res_free(exec_res *r)
{
	buf_free(&r->out.buf);
	buf_free(&r->err.buf);
	buf_free(&r->verify_out.buf);
}

void exec_res_fail(exec_res *r, action_state st, const char *reason, const char *fmt, ...)
{
	va_list ap;
	r->state = st;
	snprintf(r->reason, sizeof(r->reason), "%s", reason);
	va_start(ap, fmt);
	vsnprintf(r->error, sizeof(r->error), fmt, ap);
	va_end(ap);
}

void exec_capture_add(exec_capture *c, const void *data, size_t len)
{
	size_t room = c->buf.max - c->buf.len;
	if (len > room) {
		c->truncated = true;
		len = room;
	}
	if (len)
		buf_append(&c->buf, data, len);
}
