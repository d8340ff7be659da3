/* http.c -- unit tests for the HTTP server and client: a real server on a free port, real requests over TCP.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "http.h"
#include "httpc.h"
#include "log.h"
#include "metrics.h"

static http_server *srv;
static int port;
static auth_tokens *tokens, *admin;
static bool is_ready;
static char tok_path[] = "/tmp/rfx-http-tok-XXXXXX", adm_path[] = "/tmp/rfx-http-adm-XXXXXX";

static void h_echo(const http_req *req, http_resp *resp, void *ud)
{
	cJSON *j = http_req_json(req, resp);
	if (!j)
		return;
	cJSON *out = cJSON_CreateObject();
	cJSON_AddItemToObject(out, "got", j);
	cJSON_AddNumberToObject(out, "len", (double)req->body_len);
	http_resp_json(resp, 202, out);
}

static void h_param(const http_req *req, http_resp *resp, void *ud)
{
	cJSON *out = cJSON_CreateObject();
	cJSON_AddStringToObject(out, "id", req->nparams > 0 ? req->params[0] : "");
	cJSON_AddStringToObject(out, "sub", req->nparams > 1 ? req->params[1] : "");
	const char *q = http_req_query(req, "limit");
	cJSON_AddStringToObject(out, "limit", q ? q : "");
	const char *h = http_req_header(req, "x-test");
	cJSON_AddStringToObject(out, "hdr", h ? h : "");
	cJSON_AddStringToObject(out, "remote", req->remote_addr ? req->remote_addr : "");
	cJSON_AddStringToObject(out, "ud", ud ? (const char *)ud : "");
	http_resp_json(resp, 200, out);
}

static void h_ok(const http_req *req, http_resp *resp, void *ud)
{
	http_resp_text(resp, 200, "text/plain", "ok", 2);
	resp->location = rfx_strdup("/somewhere");
}

static bool ready_fn(void *ud, char *why, size_t len)
{
	if (!is_ready)
		snprintf(why, len, "rules not loaded");
	return is_ready;
}

static const http_route routes[] = {
    {"POST", "/v1/events", HTTP_AUTH_TOKEN, h_echo},
    {"GET", "/v1/events/{id}", HTTP_AUTH_TOKEN, h_param},
    {"GET", "/v1/things/{id}/{sub}", HTTP_AUTH_NONE, h_param},
    {"GET", "/static/*", HTTP_AUTH_NONE, h_param},
    {"POST", "/v1/pause", HTTP_AUTH_ADMIN, h_ok},
    {"POST", "/open", HTTP_AUTH_NONE, h_echo},
    {0},
};

static void write_file(char *path, const char *content)
{
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, content, strlen(content)), (ssize_t)strlen(content));
	close(fd);
}

static int setup(void **state)
{
	char err[256];
	int devnull = dup(1);
	log_init("test", LOG_LEVEL_WARN);
	(void)devnull;
	write_file(tok_path, "tok-1\ntok-2\n");
	write_file(adm_path, "adm-1\n");
	assert_int_equal(auth_tokens_load(tok_path, &tokens, err, sizeof(err)), RFX_OK);
	assert_int_equal(auth_tokens_load(adm_path, &admin, err, sizeof(err)), RFX_OK);
	http_server_opts o = {
	    .svc = "test",
	    .bind = "127.0.0.1",
	    .port = 0,
	    .max_body = 4096,
	    .threads = 2,
	    .routes = routes,
	    .ud = "userdata",
	    .tokens = tokens,
	    .admin_tokens = admin,
	    .ready = ready_fn,
	};
	assert_int_equal(http_server_start(&o, &srv), RFX_OK);
	port = http_server_port(srv);
	assert_true(port > 0);
	return 0;
}

static int teardown(void **state)
{
	http_server_stop(srv);
	auth_tokens_free(tokens);
	auth_tokens_free(admin);
	unlink(tok_path);
	unlink(adm_path);
	return 0;
}

/* One request with httpc; returns the status and leaves the body in out. */
static long call(const char *method, const char *path, const char *const *headers, const char *body,
		 size_t len, httpc_resp *out)
{
	char url[256];
	snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", port, path);
	httpc_req req = {.method = method, .url = url, .headers = headers, .body = body, .body_len = len};
	assert_int_equal(httpc_do(&req, out), RFX_OK);
	return out->status;
}

static cJSON *call_json(const char *method, const char *path, const char *const *headers, const char *body,
			long want_status)
{
	httpc_resp r;
	long st = call(method, path, headers, body, body ? strlen(body) : 0, &r);
	if (st != want_status)
		fail_msg("%s %s: status %ld, want %ld; body %s", method, path, st, want_status,
			 buf_cstr(&r.body));
	cJSON *j = cJSON_Parse(buf_cstr(&r.body));
	if (!j)
		fail_msg("%s %s: body is not JSON: %s", method, path, buf_cstr(&r.body));
	httpc_resp_free(&r);
	return j;
}

static void expect_error(const char *method, const char *path, const char *const *headers, const char *body,
			 long status, const char *code)
{
	cJSON *j = call_json(method, path, headers, body, status);
	cJSON *e = cJSON_GetObjectItem(j, "error");
	assert_non_null(e);
	assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(e, "code")), code);
	assert_non_null(cJSON_GetStringValue(cJSON_GetObjectItem(e, "message")));
	cJSON_Delete(j);
}

/* Raw exchange on one socket, for headers and connection handling. */
static char *raw(const char *request)
{
	size_t len = strlen(request);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	struct timeval tv = {.tv_sec = 5};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	assert_int_equal(send(fd, request, len, MSG_NOSIGNAL), (ssize_t)len);
	rfx_buf b;
	buf_init(&b, 1 << 20);
	char chunk[4096];
	ssize_t n;
	while ((n = recv(fd, chunk, sizeof(chunk), 0)) > 0) /* every raw request says Connection: close */
		buf_append(&b, chunk, (size_t)n);
	close(fd);
	return buf_steal(&b);
}

static const char *const auth1[] = {"Authorization: Bearer tok-1", NULL};
static const char *const auth_json[] = {"Authorization: Bearer tok-2", "Content-Type: application/json",
					NULL};

static void test_builtins(void **state)
{
	cJSON *j = call_json("GET", "/healthz", NULL, NULL, 200);
	assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(j, "status")), "ok");
	cJSON_Delete(j);
	is_ready = false;
	j = call_json("GET", "/readyz", NULL, NULL, 503);
	assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(j, "reason")), "rules not loaded");
	cJSON_Delete(j);
	is_ready = true;
	j = call_json("GET", "/readyz", NULL, NULL, 200);
	cJSON_Delete(j);

	httpc_resp r;
	assert_int_equal(call("GET", "/metrics", NULL, NULL, 0, &r), 200);
	const char *m = buf_cstr(&r.body);
	assert_non_null(strstr(m, "# TYPE reflex_http_requests_total counter\n"));
	assert_non_null(strstr(m, "reflex_http_requests_total{route=\"/healthz\",code=\"200\"} 1\n"));
	assert_non_null(strstr(m, "reflex_http_requests_total{route=\"/readyz\",code=\"503\"} 1\n"));
	assert_non_null(strstr(m, "reflex_http_request_duration_seconds_count{route=\"/healthz\"} 1\n"));
	httpc_resp_free(&r);

	char *resp = raw("GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
	assert_non_null(strstr(resp, "Content-Type: text/plain; version=0.0.4"));
	free(resp);
}

static void test_not_found_and_method(void **state)
{
	expect_error("GET", "/nope", NULL, NULL, 404, "not_found");
	expect_error("GET", "/v1/events/1/extra", auth1, NULL, 404, "not_found");
	expect_error("DELETE", "/v1/events", auth1, NULL, 405, "method_not_allowed");
	expect_error("POST", "/healthz", NULL, "{}", 405, "method_not_allowed");
	char *resp = raw("PUT /v1/events HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
	assert_non_null(strstr(resp, "HTTP/1.1 405"));
	assert_non_null(strstr(resp, "Allow: POST\r\n"));
	free(resp);
}

static void test_auth(void **state)
{
	static const char *const bad[] = {"Authorization: Bearer tok-3", NULL};
	static const char *const adm[] = {"Authorization: Bearer adm-1", NULL};
	expect_error("POST", "/v1/events", NULL, "{}", 401, "unauthorized");
	expect_error("POST", "/v1/events", bad, "{}", 401, "unauthorized");
	expect_error("POST", "/v1/pause", auth1, NULL, 401, "unauthorized");
	httpc_resp r;
	assert_int_equal(call("POST", "/v1/pause", adm, NULL, 0, &r), 200);
	assert_string_equal(buf_cstr(&r.body), "ok");
	httpc_resp_free(&r);
	char *resp =
	    raw("POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}");
	assert_non_null(strstr(resp, "HTTP/1.1 401"));
	assert_non_null(strstr(resp, "WWW-Authenticate: Bearer\r\n"));
	free(resp);
	resp = raw(
	    "POST /v1/pause HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer adm-1\r\nConnection: close\r\n\r\n");
	assert_non_null(strstr(resp, "HTTP/1.1 200"));
	assert_non_null(strstr(resp, "Location: /somewhere\r\n"));
	free(resp);
}

static void test_json(void **state)
{
	cJSON *j = call_json("POST", "/v1/events", auth_json, "{\"a\": [1, 2, {\"b\": null}]}", 202);
	assert_non_null(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "got"), "a"));
	cJSON_Delete(j);
	/* a missing content type is accepted, +json too */
	char *resp =
	    raw("POST /open HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nConnection: close\r\n\r\n[1]");
	assert_non_null(strstr(resp, "HTTP/1.1 202"));
	assert_non_null(strstr(resp, "{\"got\":[1],\"len\":3}"));
	free(resp);
	static const char *const plusjson[] = {"Content-Type: application/vnd.api+json; charset=utf-8", NULL};
	j = call_json("POST", "/open", plusjson, "{}", 202);
	cJSON_Delete(j);

	static const char *const text[] = {"Authorization: Bearer tok-1", "Content-Type: text/plain", NULL};
	expect_error("POST", "/v1/events", text, "{}", 415, "unsupported_media_type");
	expect_error("POST", "/v1/events", auth_json, "{\"a\": ", 400, "invalid_json");
	expect_error("POST", "/v1/events", auth_json, "{} x", 400, "invalid_json");
	expect_error("POST", "/v1/events", auth_json, NULL, 400, "invalid_json");

	cJSON *e = call_json("POST", "/v1/events", auth_json, "{\n  \"a\": tru\n}", 400);
	const char *msg =
	    cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetObjectItem(e, "error"), "message"));
	assert_non_null(strstr(msg, "line 2"));
	cJSON_Delete(e);

	char deep[2 * (HTTP_JSON_MAX_DEPTH + 1) + 1];
	for (int i = 0; i <= HTTP_JSON_MAX_DEPTH; i++) {
		deep[i] = '[';
		deep[2 * (HTTP_JSON_MAX_DEPTH + 1) - 1 - i] = ']';
	}
	deep[sizeof(deep) - 1] = '\0';
	expect_error("POST", "/v1/events", auth_json, deep, 400, "invalid_json");
	/* exactly at the limit is fine; brackets inside strings do not count */
	deep[HTTP_JSON_MAX_DEPTH] = '"';
	deep[HTTP_JSON_MAX_DEPTH + 1] = '"';
	j = call_json("POST", "/v1/events", auth_json, deep, 202);
	cJSON_Delete(j);
	j = call_json("POST", "/v1/events", auth_json,
		      "{\"s\": \"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["
		      "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\"}",
		      202);
	cJSON_Delete(j);
}

static void test_body_limit(void **state)
{
	char *big = rfx_malloc(5000);
	memset(big, ' ', 5000);
	big[0] = '[';
	big[4999] = ']';
	httpc_resp r;
	/* Content-Length over the limit: refused up front */
	assert_int_equal(call("POST", "/v1/events", auth_json, big, 5000, &r), 413);
	assert_non_null(strstr(buf_cstr(&r.body), "payload_too_large"));
	httpc_resp_free(&r);
	/* chunked: refused once the limit is crossed */
	static const char *const chunked[] = {"Authorization: Bearer tok-1", "Transfer-Encoding: chunked",
					      NULL};
	assert_int_equal(call("POST", "/v1/events", chunked, big, 5000, &r), 413);
	httpc_resp_free(&r);
	/* at the limit: accepted */
	big[4095] = ']';
	assert_int_equal(call("POST", "/v1/events", auth_json, big, 4096, &r), 202);
	httpc_resp_free(&r);
	assert_int_equal(call("POST", "/v1/events", chunked, big, 4096, &r), 202);
	httpc_resp_free(&r);
	free(big);
}

static void test_params(void **state)
{
	static const char *const hdr[] = {"Authorization: Bearer tok-1", "X-Test: yes", NULL};
	cJSON *j = call_json("GET", "/v1/events/01JD3Z?limit=5", hdr, NULL, 200);
	assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(j, "id")), "01JD3Z");
	assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(j, "limit")), "5");
	assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(j, "hdr")), "yes");
	assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(j, "remote")), "127.0.0.1");
	assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(j, "ud")), "userdata");
	cJSON_Delete(j);
	j = call_json("GET", "/v1/things/a%20b/c", NULL, NULL, 200);
	assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(j, "id")), "a b");
	assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(j, "sub")), "c");
	cJSON_Delete(j);
	j = call_json("GET", "/static/css/map.css", NULL, NULL, 200);
	assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(j, "id")), "css/map.css");
	cJSON_Delete(j);
	/* HEAD is served by GET routes */
	char *resp = raw("HEAD /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
	assert_non_null(strstr(resp, "HTTP/1.1 200"));
	free(resp);
}

static void test_client_errors(void **state)
{
	httpc_resp r;
	/* a closed port: no answer */
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET};
	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	socklen_t sl = sizeof(sa);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	getsockname(fd, (struct sockaddr *)&sa, &sl);
	char url[128];
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/", ntohs(sa.sin_port));
	httpc_req req = {.url = url, .timeout_ms = 2000};
	assert_int_equal(httpc_do(&req, &r), RFX_ERR_UNAVAILABLE);
	assert_int_equal(r.status, 0);
	assert_true(r.error[0] != '\0');
	httpc_resp_free(&r);
	/* a listener that never answers: timeout */
	assert_int_equal(listen(fd, 1), 0);
	req.timeout_ms = 300;
	assert_int_equal(httpc_do(&req, &r), RFX_ERR_TIMEOUT);
	httpc_resp_free(&r);
	close(fd);
	/* response over the client's limit */
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/metrics", port);
	httpc_req small = {.url = url, .max_response = 16};
	assert_int_equal(httpc_do(&small, &r), RFX_ERR_LIMIT);
	httpc_resp_free(&r);
	httpc_req bad = {.url = "ftp://127.0.0.1/"};
	assert_int_not_equal(httpc_do(&bad, &r), RFX_OK);
	httpc_resp_free(&r);
}

/* A one-shot server answering with a Retry-After header. */
static void *retry_server(void *arg)
{
	int lfd = *(int *)arg;
	int c = accept(lfd, NULL, NULL);
	char buf[4096];
	recv(c, buf, sizeof(buf), 0);
	const char *resp = "HTTP/1.1 429 Too Many Requests\r\nRetry-After: 120\r\nContent-Length: 0\r\n"
			   "Connection: close\r\n\r\n";
	send(c, resp, strlen(resp), MSG_NOSIGNAL);
	close(c);
	return NULL;
}

static void test_retry_after(void **state)
{
	int lfd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET};
	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	socklen_t sl = sizeof(sa);
	assert_int_equal(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	getsockname(lfd, (struct sockaddr *)&sa, &sl);
	assert_int_equal(listen(lfd, 1), 0);
	pthread_t t;
	pthread_create(&t, NULL, retry_server, &lfd);
	char url[128];
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/", ntohs(sa.sin_port));
	httpc_req req = {.url = url};
	httpc_resp r;
	assert_int_equal(httpc_do(&req, &r), RFX_OK);
	assert_int_equal(r.status, 429);
	assert_int_equal(r.retry_after_s, 120);
	httpc_resp_free(&r);
	pthread_join(t, NULL);
	close(lfd);
	/* no header: -1 */
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/healthz", port);
	assert_int_equal(httpc_do(&req, &r), RFX_OK);
	assert_int_equal(r.retry_after_s, -1);
	httpc_resp_free(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_builtins),	  cmocka_unit_test(test_not_found_and_method),
	    cmocka_unit_test(test_auth),	  cmocka_unit_test(test_json),
	    cmocka_unit_test(test_body_limit),	  cmocka_unit_test(test_params),
	    cmocka_unit_test(test_client_errors), cmocka_unit_test(test_retry_after),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
