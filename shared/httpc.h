/* httpc.h -- a small HTTP client on libcurl for forwarding, write-back, polling and the CLI. */
#ifndef RFX_HTTPC_H
#define RFX_HTTPC_H

#include "buf.h"

typedef struct httpc_req {
	const char *method; /* default GET, or POST when body is set */
	const char *url;
	const char *const *headers; /* "Name: value" strings, ended by NULL; with a body, Content-Type
				       defaults to application/json */
	const char *body;
	size_t body_len;
	long timeout_ms;	 /* whole request; default 10000 */
	long connect_timeout_ms; /* default 3000 */
	size_t max_response;	 /* default 16 MiB; larger answers fail with RFX_ERR_LIMIT */
	const char *ca_file;	 /* verify TLS against this CA bundle; NULL: system store */
	const char *basic_user, *basic_password;
} httpc_req;

typedef struct httpc_resp {
	long status; /* 0 when no answer came */
	rfx_buf body;
	long retry_after_s; /* from a Retry-After header (seconds or HTTP date), -1 when absent */
	char error[256];    /* transport error, when the call failed */
} httpc_resp;

void httpc_global_init(void);
/* RFX_OK when an HTTP answer came (any status; check resp->status); RFX_ERR_TIMEOUT, RFX_ERR_UNAVAILABLE, ...
 * when not. resp must be freed with httpc_resp_free either way. */
rfx_err httpc_do(const httpc_req *req, httpc_resp *resp);
void httpc_resp_free(httpc_resp *resp);

#endif
