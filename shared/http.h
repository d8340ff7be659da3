/* http.h -- the HTTP server layer on libmicrohttpd: routing with {param} segments, request-body limit (413),
 * JSON errors, bearer tokens in constant time, and the built-in /healthz, /readyz and /metrics. */
#ifndef RFX_HTTP_H
#define RFX_HTTP_H

#include <cjson/cJSON.h>
#include "auth.h"
#include "buf.h"

#define HTTP_MAX_PARAMS 4

typedef struct http_req {
	const char *method;
	const char *path; /* without the query string */
	const char *body; /* NUL-terminated copy of the body ("" when none) */
	size_t body_len;
	const char *content_type;	     /* NULL when absent */
	const char *params[HTTP_MAX_PARAMS]; /* values of {param} segments, in order */
	size_t nparams;
	const char *remote_addr;
	void *conn; /* struct MHD_Connection *, for http_req_query / http_req_header */
} http_req;

const char *http_req_query(const http_req *r, const char *name);  /* NULL when absent */
const char *http_req_header(const http_req *r, const char *name); /* case-insensitive */
/* Parses the body as JSON; on failure fills resp with 400 invalid_json (or 415 when the content type is not
 * JSON) and returns NULL. Depth is bounded (HTTP_JSON_MAX_DEPTH): deeper documents are rejected with 400. */
#define HTTP_JSON_MAX_DEPTH 64
struct http_resp;
cJSON *http_req_json(const http_req *r, struct http_resp *resp);

typedef struct http_resp {
	int status;
	rfx_buf body;
	const char *content_type; /* default application/json */
	char *location;		  /* optional Location header, freed by the server */
	char *extra_header_name,
	    *extra_header_value; /* one optional extra header (e.g. Retry-After), freed by the server */
} http_resp;

/* Sets the body to the printed JSON (takes ownership of j and frees it). */
void http_resp_json(http_resp *resp, int status, cJSON *j);
/* {"error": {"code": code, "message": message, "field": field}} (field omitted when NULL). */
void http_resp_error(http_resp *resp, int status, const char *code, const char *message, const char *field);
void http_resp_text(http_resp *resp, int status, const char *content_type, const char *text, size_t len);

typedef void (*http_handler_fn)(const http_req *req, http_resp *resp, void *ud);

typedef enum {
	HTTP_AUTH_NONE = 0, /* open (health, metrics, the map page) */
	HTTP_AUTH_TOKEN,    /* any api token */
	HTTP_AUTH_ADMIN,    /* an admin token (admin_tokens_file; falls back to api tokens when unset) */
	HTTP_AUTH_CUSTOM,   /* the handler authenticates (e.g. HMAC-signed action requests) */
} http_auth;

typedef struct http_route {
	const char *method;  /* "GET", "POST", ... */
	const char *pattern; /* "/v1/events/{id}"; a last segment "*" matches any rest (a param) */
	http_auth auth;
	http_handler_fn fn;
} http_route;

typedef struct http_server_opts {
	const char *svc; /* for logs and metrics */
	const char *bind;
	int port; /* 0: pick a free port (see http_server_port) */
	size_t max_body;
	unsigned threads;	  /* server threads, each with its own listening socket on the port; 0: 2 */
	const http_route *routes; /* ended by {0} */
	size_t nroutes;
	void *ud;
	const auth_tokens *tokens;			   /* NULL: API open */
	const auth_tokens *admin_tokens;		   /* NULL: same as tokens */
	bool (*ready)(void *ud, char *why, size_t whylen); /* /readyz; NULL: always ready */
} http_server_opts;

typedef struct http_server http_server;

rfx_err http_server_start(const http_server_opts *opts, http_server **out);
int http_server_port(const http_server *s);
void http_server_stop(http_server *s);

#endif
