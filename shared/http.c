/* http.c -- the HTTP server layer on libmicrohttpd: routes with {param} segments, bearer auth, bounded
 * bodies, JSON errors, per-route metrics, and the built-in /healthz, /readyz and /metrics. */
#include "http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "arena.h"
#include "jsonp.h"
#include "jsonw.h"
#include "log.h"
#include "metrics.h"

#define HTTP_MAX_SEGMENTS   16
#define HTTP_PATH_MAX	    2048
#define HTTP_RESP_MAX	    (256 * 1024 * 1024)
#define HTTP_RESP_FIRST	    2048 /* the body room a response starts with */
#define HTTP_CODES	    600
#define HTTP_CONN_TIMEOUT_S 60
#define HTTP_CONN_LIMIT	    4096
#define HTTP_MAX_THREADS    64 /* as http_threads allows */
/* libmicrohttpd's per-connection memory (headers and the read buffer; bodies go to our own buffer). Its
 * default, 32 KiB, is zeroed after every request of a keep-alive connection: 8 KiB holds any sane header
 * block (nginx's default limit) at a quarter of that cost. */
#define HTTP_CONN_MEMORY (8 * 1024)

typedef struct route_seg {
	const char *text; /* literal text (not NUL-terminated at len) */
	size_t len;
	bool param;
} route_seg;

typedef struct croute {
	const http_route *r;
	route_seg segs[HTTP_MAX_SEGMENTS];
	size_t nsegs;
	bool rest; /* last segment "*" */
	const char *label;
	metric *latency;
	_Atomic(metric *) *by_code; /* reflex_http_requests_total{route,code}, created on first use */
} croute;

struct http_server {
	struct MHD_Daemon *d[HTTP_MAX_THREADS];
	unsigned nd;
	http_server_opts opts;
	croute *routes;
	size_t nroutes;
	croute unmatched; /* metrics for 404s */
	int port;
};

/* Per-request state, only for requests with a body. */
typedef struct req_state {
	const croute *route;
	rfx_buf body;
	bool too_large;
	double t0;
} req_state;

/* ---- built-in routes ---- */

static void builtin_healthz(const http_req *req, http_resp *resp, void *ud)
{
	http_resp_text(resp, 200, "application/json", "{\"status\":\"ok\"}", 15);
}

static void builtin_metrics(const http_req *req, http_resp *resp, void *ud)
{
	resp->status = 200;
	resp->content_type = "text/plain; version=0.0.4; charset=utf-8";
	if (metrics_render(&resp->body))
		http_resp_error(resp, 500, "internal", "metrics too large to render", NULL);
}

static const http_route builtin_routes[] = {
    {"GET", "/healthz", HTTP_AUTH_NONE, builtin_healthz},
    {"GET", "/readyz", HTTP_AUTH_NONE, NULL}, /* served by the server itself: it needs opts->ready */
    {"GET", "/metrics", HTTP_AUTH_NONE, builtin_metrics},
};

/* ---- responses ---- */

void http_resp_json(http_resp *resp, int status, cJSON *j)
{
	resp->status = status;
	resp->content_type = "application/json";
	buf_reset(&resp->body);
	if (jsonw_value(&resp->body, j)) {
		buf_reset(&resp->body);
		resp->status = 500;
		buf_puts(&resp->body,
			 "{\"error\":{\"code\":\"internal\",\"message\":\"response too large\"}}");
	}
	arena_json_delete(j); /* a tree made in a request arena goes with it */
}

void http_resp_error(http_resp *resp, int status, const char *code, const char *message, const char *field)
{
	cJSON *root = cJSON_CreateObject();
	cJSON *e = cJSON_AddObjectToObject(root, "error");
	cJSON_AddStringToObject(e, "code", code ? code : "error");
	cJSON_AddStringToObject(e, "message", message ? message : "");
	if (field)
		cJSON_AddStringToObject(e, "field", field);
	http_resp_json(resp, status, root);
}

void http_resp_text(http_resp *resp, int status, const char *content_type, const char *text, size_t len)
{
	resp->status = status;
	resp->content_type = content_type ? content_type : "text/plain; charset=utf-8";
	buf_reset(&resp->body);
	if (buf_append(&resp->body, text, len))
		http_resp_error(resp, 500, "internal", "response too large", NULL);
}

/* ---- requests ---- */

const char *http_req_query(const http_req *r, const char *name)
{
	if (!r->conn)
		return NULL;
	return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, name);
}

const char *http_req_header(const http_req *r, const char *name)
{
	if (!r->conn)
		return NULL;
	return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

static bool is_json_type(const char *ct)
{
	size_t n = strcspn(ct, ";");
	while (n > 0 && (ct[n - 1] == ' ' || ct[n - 1] == '\t'))
		n--;
	while (n > 0 && (*ct == ' ' || *ct == '\t')) {
		ct++;
		n--;
	}
	if (n == 16 && strncasecmp(ct, "application/json", 16) == 0)
		return true;
	const char *slash = memchr(ct, '/', n);
	return slash && n >= 5 && strncasecmp(ct + n - 5, "+json", 5) == 0;
}

/* Nesting depth of a JSON text, counted before parsing so deep documents never reach the recursive parser. */
static int json_depth(const char *s, size_t len)
{
	int depth = 0, max = 0;
	bool in_str = false;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		if (in_str) {
			if (c == '\\')
				i++;
			else if (c == '"')
				in_str = false;
		} else if (c == '"') {
			in_str = true;
		} else if (c == '{' || c == '[') {
			if (++depth > max)
				max = depth;
		} else if (c == '}' || c == ']') {
			depth--;
		}
	}
	return max;
}

static void json_error_at(http_resp *resp, const char *body, size_t len, size_t off, const char *what)
{
	int line = 1, col = 1;
	for (size_t i = 0; i < off && i < len; i++) {
		if (body[i] == '\n') {
			line++;
			col = 1;
		} else {
			col++;
		}
	}
	char msg[200];
	if (off >= len)
		snprintf(msg, sizeof(msg),
			 "request body is not valid JSON: %s at the end (line %d, column %d)", what, line,
			 col);
	else
		snprintf(msg, sizeof(msg), "request body is not valid JSON: %s at line %d, column %d", what,
			 line, col);
	http_resp_error(resp, 400, "invalid_json", msg, NULL);
}

cJSON *http_req_json(const http_req *r, http_resp *resp)
{
	if (r->content_type && !is_json_type(r->content_type)) {
		http_resp_error(resp, 415, "unsupported_media_type", "Content-Type must be application/json",
				NULL);
		return NULL;
	}
	if (r->body_len == 0) {
		http_resp_error(resp, 400, "invalid_json",
				"request body is empty; a JSON document is expected", NULL);
		return NULL;
	}
	/* The parser stops at HTTP_JSON_MAX_DEPTH; the text is scanned for the depth only to explain a parse
	 * that failed for another reason first. */
	size_t off = 0;
	bool too_deep = false;
	cJSON *j = jsonp_parse(r->body, r->body_len, HTTP_JSON_MAX_DEPTH, &off, &too_deep);
	if (!j && (too_deep || json_depth(r->body, r->body_len) > HTTP_JSON_MAX_DEPTH)) {
		char msg[120];
		snprintf(msg, sizeof(msg), "request body nests deeper than %d levels", HTTP_JSON_MAX_DEPTH);
		http_resp_error(resp, 400, "invalid_json", msg, NULL);
		return NULL;
	}
	if (!j) {
		json_error_at(resp, r->body, r->body_len, off, "unexpected input");
		return NULL;
	}
	while (off < r->body_len && strchr(" \t\r\n", r->body[off]) && r->body[off])
		off++;
	if (off < r->body_len) {
		cJSON_Delete(j);
		json_error_at(resp, r->body, r->body_len, off, "unexpected data after the document");
		return NULL;
	}
	return j;
}

/* ---- routing ---- */

static void compile_route(croute *c, const http_route *r)
{
	memset(c, 0, sizeof(*c));
	c->r = r;
	c->label = r->pattern;
	const char *p = r->pattern;
	while (*p == '/')
		p++;
	while (*p && c->nsegs < HTTP_MAX_SEGMENTS) {
		size_t len = strcspn(p, "/");
		if (len == 1 && p[0] == '*' && p[1] == '\0') {
			c->rest = true;
			break;
		}
		route_seg *s = &c->segs[c->nsegs++];
		s->param = len >= 2 && p[0] == '{' && p[len - 1] == '}';
		s->text = p;
		s->len = len;
		p += len;
		while (*p == '/')
			p++;
	}
	c->by_code = rfx_calloc(HTTP_CODES, sizeof(*c->by_code));
	char labels[300];
	snprintf(labels, sizeof(labels), "route=\"%s\"", c->label);
	c->latency =
	    metrics_histogram("reflex_http_request_duration_seconds", labels,
			      "HTTP request latency from the first byte of the request to the response");
}

/* Matches path against c; param values are written NUL-terminated into store (of size >= strlen(path) + 1).
 */
static bool match_route(const croute *c, const char *path, http_req *req, char *store)
{
	const char *p = path;
	size_t np = 0;
	for (size_t i = 0; i < c->nsegs; i++) {
		while (*p == '/')
			p++;
		size_t len = strcspn(p, "/");
		if (len == 0)
			return false;
		const route_seg *s = &c->segs[i];
		if (s->param) {
			if (np < HTTP_MAX_PARAMS) {
				memcpy(store, p, len);
				store[len] = '\0';
				req->params[np++] = store;
				store += len + 1;
			}
		} else if (len != s->len || memcmp(p, s->text, len) != 0) {
			return false;
		}
		p += len;
	}
	while (*p == '/')
		p++;
	if (*p && !c->rest)
		return false;
	if (c->rest && np < HTTP_MAX_PARAMS) {
		strcpy(store, p);
		req->params[np++] = store;
	}
	req->nparams = np;
	return true;
}

static bool method_is(const char *route_method, const char *method)
{
	if (strcmp(route_method, method) == 0)
		return true;
	return strcmp(method, "HEAD") == 0 && strcmp(route_method, "GET") == 0;
}

/* Finds the route for method+path; *path_known tells a 405 from a 404 when none matches. */
static const croute *route_find(const http_server *s, const char *method, const char *path, http_req *req,
				char *store, bool *path_known)
{
	*path_known = false;
	for (size_t i = 0; i < s->nroutes; i++) {
		const croute *c = &s->routes[i];
		if (!match_route(c, path, req, store))
			continue;
		if (method_is(c->r->method, method))
			return c;
		*path_known = true;
	}
	return NULL;
}

static void allowed_methods(const http_server *s, const char *path, char *out, size_t len)
{
	http_req tmp;
	char *store = rfx_malloc(strlen(path) + 2);
	size_t o = 0;
	out[0] = '\0';
	for (size_t i = 0; i < s->nroutes; i++) {
		if (!match_route(&s->routes[i], path, &tmp, store))
			continue;
		const char *m = s->routes[i].r->method;
		if (strstr(out, m))
			continue;
		o += (size_t)snprintf(out + o, o < len ? len - o : 0, "%s%s", o ? ", " : "", m);
	}
	free(store);
}

/* Scratch space for param values: on the stack for ordinary paths. */
typedef struct param_store {
	char small[512];
	char *p;
} param_store;

static char *store_get(param_store *ps, const char *path)
{
	size_t need = strlen(path) + 2;
	ps->p = need <= sizeof(ps->small) ? ps->small : rfx_malloc(need);
	return ps->p;
}

static void store_free(param_store *ps)
{
	if (ps->p != ps->small)
		free(ps->p);
}

/* ---- metrics and access log ---- */

static metric *code_counter(croute *c, int status)
{
	if (status < 100 || status >= HTTP_CODES)
		status = 500;
	metric *m = atomic_load_explicit(&c->by_code[status], memory_order_acquire);
	if (m)
		return m;
	char labels[320];
	snprintf(labels, sizeof(labels), "route=\"%s\",code=\"%d\"", c->label, status);
	m = metrics_counter("reflex_http_requests_total", labels, "HTTP requests by route and status code");
	atomic_store_explicit(&c->by_code[status], m, memory_order_release);
	return m;
}

static void observe(const croute *c, const char *method, const char *path, int status, double t0,
		    const char *remote)
{
	double dt = rfx_mono_sec() - t0;
	metrics_inc(code_counter((croute *)c, status));
	metrics_observe(c->latency, dt);
	if (LOG_LEVEL_DEBUG >= log_min_level) {
		char st[8], ms[32];
		snprintf(st, sizeof(st), "%d", status);
		snprintf(ms, sizeof(ms), "%.3f", dt * 1000);
		LOG_DEBUG("http request", "method", method, "path", path, "route", c->label, "status", st,
			  "duration_ms", ms, "remote", remote);
	}
}

/* ---- the MHD glue ---- */

static void free_cb(void *p)
{
	free(p);
}

static enum MHD_Result send_resp(struct MHD_Connection *conn, http_resp *resp)
{
	size_t len = resp->body.len;
	char *data = buf_steal(&resp->body);
	struct MHD_Response *r = MHD_create_response_from_buffer_with_free_callback(len, data, free_cb);
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
				resp->content_type ? resp->content_type : "application/json");
	if (resp->location)
		MHD_add_response_header(r, MHD_HTTP_HEADER_LOCATION, resp->location);
	if (resp->extra_header_name && resp->extra_header_value)
		MHD_add_response_header(r, resp->extra_header_name, resp->extra_header_value);
	enum MHD_Result ret = MHD_queue_response(conn, (unsigned)resp->status, r);
	MHD_destroy_response(r);
	RFX_FREE(resp->location);
	RFX_FREE(resp->extra_header_name);
	RFX_FREE(resp->extra_header_value);
	return ret;
}

static void resp_init(http_resp *resp)
{
	memset(resp, 0, sizeof(*resp));
	buf_init(&resp->body, HTTP_RESP_MAX);
	buf_room(&resp->body, HTTP_RESP_FIRST); /* most responses fit: no chain of reallocs */
	resp->status = 200;
}

static void resp_error(http_resp *resp, int status, const char *code, const char *msg)
{
	http_resp_error(resp, status, code, msg, NULL);
}

static const auth_tokens *route_tokens(const http_server *s, http_auth a)
{
	if (a == HTTP_AUTH_TOKEN)
		return s->opts.tokens;
	if (a == HTTP_AUTH_ADMIN)
		return s->opts.admin_tokens ? s->opts.admin_tokens : s->opts.tokens;
	return NULL;
}

static bool authorized(const http_server *s, const croute *c, struct MHD_Connection *conn)
{
	const auth_tokens *t = route_tokens(s, c->r->auth);
	if (!t)
		return true;
	return auth_tokens_check(
	    t, MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION));
}

static void unauthorized(http_resp *resp)
{
	resp_error(resp, 401, "unauthorized", "missing or invalid bearer token");
	resp->extra_header_name = rfx_strdup(MHD_HTTP_HEADER_WWW_AUTHENTICATE);
	resp->extra_header_value = rfx_strdup("Bearer");
}

static void serve_readyz(const http_server *s, http_resp *resp)
{
	char why[256] = "";
	if (!s->opts.ready || s->opts.ready(s->opts.ud, why, sizeof(why))) {
		http_resp_text(resp, 200, "application/json", "{\"status\":\"ready\"}", 18);
		return;
	}
	cJSON *j = cJSON_CreateObject();
	cJSON_AddStringToObject(j, "status", "not ready");
	cJSON_AddStringToObject(j, "reason", why[0] ? why : "not ready");
	http_resp_json(resp, 503, j);
}

/* inet_ntop's text for an IPv4 address, without its sprintf (this runs for every request). */
static void ipv4_text(const struct in_addr *a, char *buf, size_t len)
{
	const unsigned char *b = (const unsigned char *)&a->s_addr;
	char tmp[16], *p = tmp;
	for (int i = 0; i < 4; i++) {
		unsigned v = b[i];
		if (v >= 100)
			*p++ = (char)('0' + v / 100);
		if (v >= 10)
			*p++ = (char)('0' + v / 10 % 10);
		*p++ = (char)('0' + v % 10);
		*p++ = i < 3 ? '.' : '\0';
	}
	if ((size_t)(p - tmp) <= len)
		memcpy(buf, tmp, (size_t)(p - tmp));
}

static const char *remote_of(struct MHD_Connection *conn, char *buf, size_t len)
{
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	buf[0] = '\0';
	if (!ci || !ci->client_addr)
		return buf;
	const struct sockaddr *sa = ci->client_addr;
	if (sa->sa_family == AF_INET)
		ipv4_text(&((const struct sockaddr_in *)sa)->sin_addr, buf, len);
	else if (sa->sa_family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, buf, (socklen_t)len);
	return buf;
}

/* Runs the route's handler (or a built-in) and queues the response. */
static enum MHD_Result dispatch(http_server *s, struct MHD_Connection *conn, const croute *c,
				const char *method, const char *path, const char *body, size_t body_len,
				double t0)
{
	char remote[INET6_ADDRSTRLEN];
	param_store ps;
	char *store = store_get(&ps, path);
	http_req req = {
	    .method = method, .path = path, .body = body ? body : "", .body_len = body_len, .conn = conn};
	http_resp resp;
	resp_init(&resp);
	req.remote_addr = remote_of(conn, remote, sizeof(remote));
	req.content_type = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
	match_route(c, path, &req, store);
	if (c->r->fn)
		c->r->fn(&req, &resp, s->opts.ud);
	else
		serve_readyz(s, &resp);
	int status = resp.status;
	enum MHD_Result ret = send_resp(conn, &resp);
	buf_free(&resp.body);
	observe(c, method, path, status, t0, req.remote_addr);
	store_free(&ps);
	return ret;
}

/* Answers before the body is read: 404, 405, 401, 413. */
static enum MHD_Result reject(const croute *c, struct MHD_Connection *conn, const char *method,
			      const char *path, http_resp *resp, double t0)
{
	char remote[INET6_ADDRSTRLEN];
	int status = resp->status;
	enum MHD_Result ret = send_resp(conn, resp);
	buf_free(&resp->body);
	observe(c, method, path, status, t0, remote_of(conn, remote, sizeof(remote)));
	return ret;
}

static bool has_body(struct MHD_Connection *conn, long long *clen)
{
	*clen = -1;
	const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
	if (cl)
		*clen = strtoll(cl, NULL, 10);
	if (*clen > 0)
		return true;
	return MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_TRANSFER_ENCODING) != NULL;
}

static enum MHD_Result first_call(http_server *s, struct MHD_Connection *conn, const char *path,
				  const char *method, void **con_cls)
{
	double t0 = rfx_mono_sec();
	http_resp resp;
	bool known;
	param_store ps;
	http_req tmp;
	const croute *c = route_find(s, method, path, &tmp, store_get(&ps, path), &known);
	store_free(&ps);
	if (!c) {
		char allow[128];
		resp_init(&resp);
		if (known) {
			allowed_methods(s, path, allow, sizeof(allow));
			resp_error(&resp, 405, "method_not_allowed", "method not allowed for this path");
			resp.extra_header_name = rfx_strdup(MHD_HTTP_HEADER_ALLOW);
			resp.extra_header_value = rfx_strdup(allow);
		} else {
			resp_error(&resp, 404, "not_found", "no such endpoint");
		}
		return reject(&s->unmatched, conn, method, path, &resp, t0);
	}
	if (!authorized(s, c, conn)) {
		resp_init(&resp);
		unauthorized(&resp);
		return reject(c, conn, method, path, &resp, t0);
	}
	long long clen;
	if (!has_body(conn, &clen))
		return dispatch(s, conn, c, method, path, NULL, 0, t0);
	if (clen > (long long)s->opts.max_body) {
		resp_init(&resp);
		resp_error(&resp, 413, "payload_too_large", "request body is larger than the limit");
		return reject(c, conn, method, path, &resp, t0);
	}
	req_state *st = rfx_calloc(1, sizeof(*st));
	st->route = c;
	st->t0 = t0;
	buf_init(&st->body, s->opts.max_body);
	*con_cls = st;
	return MHD_YES;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
				  const char *version, const char *upload_data, size_t *upload_data_size,
				  void **con_cls)
{
	http_server *s = cls;
	req_state *st = *con_cls;
	if (!st)
		return first_call(s, conn, url, method, con_cls);
	if (*upload_data_size > 0) {
		/* Over the limit: keep reading to stay in sync with the client, but drop the bytes. */
		if (!st->too_large && buf_append(&st->body, upload_data, *upload_data_size))
			st->too_large = true;
		*upload_data_size = 0;
		return MHD_YES;
	}
	if (st->too_large) {
		http_resp resp;
		resp_init(&resp);
		resp_error(&resp, 413, "payload_too_large", "request body is larger than the limit");
		return reject(st->route, conn, method, url, &resp, st->t0);
	}
	return dispatch(s, conn, st->route, method, url, buf_cstr(&st->body), st->body.len, st->t0);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	req_state *st = *con_cls;
	if (!st)
		return;
	buf_free(&st->body);
	free(st);
	*con_cls = NULL;
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	char msg[512];
	vsnprintf(msg, sizeof(msg), fmt, ap);
	size_t n = strlen(msg);
	while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == ' '))
		msg[--n] = '\0';
	/* libmicrohttpd 0.9.75 says this even when the logger is the first option. */
	if (strstr(msg, "MHD_OPTION_EXTERNAL_LOGGER is not the first option"))
		return;
	LOG_WARN("http server", "detail", msg);
}

/* ---- lifecycle ---- */

static void compile_routes(http_server *s)
{
	size_t nuser = 0;
	if (s->opts.routes)
		while (s->opts.routes[nuser].method && (!s->opts.nroutes || nuser < s->opts.nroutes))
			nuser++;
	s->nroutes = RFX_ARRAY_LEN(builtin_routes) + nuser;
	s->routes = rfx_calloc(s->nroutes, sizeof(*s->routes));
	for (size_t i = 0; i < RFX_ARRAY_LEN(builtin_routes); i++)
		compile_route(&s->routes[i], &builtin_routes[i]);
	for (size_t i = 0; i < nuser; i++)
		compile_route(&s->routes[RFX_ARRAY_LEN(builtin_routes) + i], &s->opts.routes[i]);
	static const http_route none = {"", "unmatched", HTTP_AUTH_NONE, NULL};
	compile_route(&s->unmatched, &none);
}

static void free_routes(http_server *s)
{
	for (size_t i = 0; i < s->nroutes; i++)
		free(s->routes[i].by_code);
	free(s->routes);
	free(s->unmatched.by_code);
}

static bool needs_tokens(const http_server *s)
{
	for (size_t i = 0; i < s->nroutes; i++)
		if (s->routes[i].r->auth == HTTP_AUTH_TOKEN || s->routes[i].r->auth == HTTP_AUTH_ADMIN)
			return true;
	return false;
}

static bool parse_bind(const char *bind, int port, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	struct sockaddr_in *in4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
	if (!bind || !*bind)
		bind = "0.0.0.0";
	if (inet_pton(AF_INET, bind, &in4->sin_addr) == 1) {
		in4->sin_family = AF_INET;
		in4->sin_port = htons((uint16_t)port);
		return true;
	}
	if (inet_pton(AF_INET6, bind, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16_t)port);
		return true;
	}
	return false;
}

/* One single-threaded daemon. The server runs one per thread, each with its own listening socket on the same
 * port (SO_REUSEPORT): the kernel spreads new connections over them evenly. With one shared socket and MHD's
 * thread pool, every thread woke for each connection and a burst of connects often landed on one thread,
 * which then carried all of their keep-alive traffic on one core. */
static struct MHD_Daemon *daemon_start(http_server *s, const struct sockaddr_storage *ss, unsigned conn_limit)
{
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_TURBO | MHD_USE_ERROR_LOG;
	if (ss->ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	return MHD_start_daemon(
	    flags, 0, NULL, NULL, on_request, s, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, s, MHD_OPTION_SOCK_ADDR,
	    ss, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)HTTP_CONN_TIMEOUT_S, MHD_OPTION_CONNECTION_LIMIT,
	    conn_limit, MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)HTTP_CONN_MEMORY,
	    MHD_OPTION_NOTIFY_COMPLETED, on_completed, s, MHD_OPTION_LISTENING_ADDRESS_REUSE, (unsigned)1,
	    MHD_OPTION_EXTERNAL_LOGGER, mhd_log, s, MHD_OPTION_END);
}

static void set_port(struct sockaddr_storage *ss, int port)
{
	if (ss->ss_family == AF_INET6)
		((struct sockaddr_in6 *)ss)->sin6_port = htons((uint16_t)port);
	else
		((struct sockaddr_in *)ss)->sin_port = htons((uint16_t)port);
}

static void daemons_stop(http_server *s)
{
	for (unsigned i = 0; i < s->nd; i++)
		MHD_stop_daemon(s->d[i]);
	s->nd = 0;
}

/* Whether another socket already listens on the port. The daemons share it through SO_REUSEPORT, which
 * would also let them join a second copy of this service by mistake: a socket without it cannot. */
static bool port_taken(const struct sockaddr_storage *ss)
{
	int fd = socket(ss->ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return false;
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)); /* connections in TIME_WAIT are fine */
	if (ss->ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	socklen_t len = ss->ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
	bool taken = bind(fd, (const struct sockaddr *)ss, len) != 0 && errno == EADDRINUSE;
	close(fd);
	return taken;
}

/* The first daemon binds (and picks the port when 0 was asked for); the others join it on that port. */
static bool daemons_start(http_server *s, struct sockaddr_storage *ss)
{
	unsigned n = s->opts.threads ? s->opts.threads : 2;
	if (n > HTTP_MAX_THREADS)
		n = HTTP_MAX_THREADS;
	unsigned limit = HTTP_CONN_LIMIT / n ? HTTP_CONN_LIMIT / n : 1;
	if (s->opts.port && port_taken(ss))
		return false;
	for (unsigned i = 0; i < n; i++) {
		if (!(s->d[i] = daemon_start(s, ss, limit))) {
			daemons_stop(s);
			return false;
		}
		s->nd++;
		if (i == 0) {
			const union MHD_DaemonInfo *di =
			    MHD_get_daemon_info(s->d[0], MHD_DAEMON_INFO_BIND_PORT);
			s->port = di && di->port ? di->port : s->opts.port;
			set_port(ss, s->port);
		}
	}
	return true;
}

rfx_err http_server_start(const http_server_opts *opts, http_server **out)
{
	struct sockaddr_storage ss;
	char port[16];
	if (!parse_bind(opts->bind, opts->port, &ss)) {
		LOG_ERROR("invalid bind address", "bind", opts->bind);
		return RFX_ERR_INVAL;
	}
	http_server *s = rfx_calloc(1, sizeof(*s));
	s->opts = *opts;
	if (!s->opts.max_body)
		s->opts.max_body = 1024 * 1024;
	compile_routes(s);
	if (!daemons_start(s, &ss)) {
		snprintf(port, sizeof(port), "%d", opts->port);
		LOG_ERROR("cannot listen", "bind", opts->bind, "port", port);
		free_routes(s);
		free(s);
		return RFX_ERR_IO;
	}
	snprintf(port, sizeof(port), "%d", s->port);
	LOG_INFO("listening", "bind", opts->bind, "port", port);
	if (!opts->tokens && needs_tokens(s))
		LOG_WARN("the API is open: no api_tokens_file is configured", "port", port);
	*out = s;
	return RFX_OK;
}

int http_server_port(const http_server *s)
{
	return s->port;
}

void http_server_stop(http_server *s)
{
	if (!s)
		return;
	daemons_stop(s);
	free_routes(s);
	free(s);
}
