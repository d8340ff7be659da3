/* httpc.c -- small HTTP client on libcurl: bounded responses, no redirects, Retry-After, keep-alive per
 * thread. */
#include "httpc.h"

#include <ctype.h>
#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define HTTPC_DEFAULT_TIMEOUT_MS 10000
#define HTTPC_DEFAULT_CONNECT_MS 3000
#define HTTPC_DEFAULT_MAX	 (16 * 1024 * 1024)
#define HTTPC_MAX_HEADERS	 64

static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static pthread_key_t handle_key;

static void handle_destroy(void *h)
{
	curl_easy_cleanup(h);
}

static void init_once_fn(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
	pthread_key_create(&handle_key, handle_destroy);
}

void httpc_global_init(void)
{
	pthread_once(&init_once, init_once_fn);
}

/* One easy handle per thread, reset between calls: its connection cache gives keep-alive to repeated peers.
 */
static CURL *thread_handle(void)
{
	httpc_global_init();
	CURL *h = pthread_getspecific(handle_key);
	if (h) {
		curl_easy_reset(h);
		return h;
	}
	h = curl_easy_init();
	if (!h)
		abort(); /* only on out-of-memory */
	pthread_setspecific(handle_key, h);
	return h;
}

typedef struct call {
	httpc_resp *resp;
	bool over_limit;
} call;

static size_t on_body(char *data, size_t size, size_t nmemb, void *ud)
{
	call *c = ud;
	size_t n = size * nmemb;
	if (buf_append(&c->resp->body, data, n)) {
		c->over_limit = true;
		return 0; /* aborts the transfer */
	}
	return n;
}

static long parse_retry_after(const char *v)
{
	while (*v == ' ' || *v == '\t')
		v++;
	if (isdigit((unsigned char)*v)) {
		long s = strtol(v, NULL, 10);
		return s < 0 ? 0 : s;
	}
	time_t t = curl_getdate(v, NULL);
	if (t < 0)
		return -1;
	long d = (long)(t - time(NULL));
	return d < 0 ? 0 : d;
}

static size_t on_header(char *data, size_t size, size_t nitems, void *ud)
{
	call *c = ud;
	size_t n = size * nitems;
	/* A new status line starts a new header block (after 1xx answers); keep only the last block's value.
	 */
	if (n >= 5 && strncmp(data, "HTTP/", 5) == 0)
		c->resp->retry_after_s = -1;
	if (n > 12 && strncasecmp(data, "Retry-After:", 12) == 0) {
		char v[128];
		size_t len = n - 12 < sizeof(v) - 1 ? n - 12 : sizeof(v) - 1;
		memcpy(v, data + 12, len);
		v[len] = '\0';
		v[strcspn(v, "\r\n")] = '\0';
		c->resp->retry_after_s = parse_retry_after(v);
	}
	return n;
}

static rfx_err map_error(CURLcode cc, const call *c)
{
	if (c->over_limit)
		return RFX_ERR_LIMIT;
	switch (cc) {
	case CURLE_OPERATION_TIMEDOUT:
		return RFX_ERR_TIMEOUT;
	case CURLE_COULDNT_CONNECT:
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
	case CURLE_GOT_NOTHING:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
		return RFX_ERR_UNAVAILABLE;
	case CURLE_URL_MALFORMAT:
	case CURLE_UNSUPPORTED_PROTOCOL:
		return RFX_ERR_INVAL;
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CACERT_BADFILE:
		return RFX_ERR_AUTH;
	default:
		return RFX_ERR_IO;
	}
}

static struct curl_slist *build_headers(const httpc_req *req)
{
	struct curl_slist *h = NULL;
	bool has_type = false;
	/* No "Expect: 100-continue" round trip before bodies. */
	h = curl_slist_append(h, "Expect:");
	for (size_t i = 0; req->headers && req->headers[i] && i < HTTPC_MAX_HEADERS; i++) {
		h = curl_slist_append(h, req->headers[i]);
		has_type |= strncasecmp(req->headers[i], "Content-Type:", 13) == 0;
	}
	/* Bodies are JSON unless the caller says otherwise (libcurl would claim a form). */
	if (req->body && !has_type)
		h = curl_slist_append(h, "Content-Type: application/json");
	return h;
}

static void set_method(CURL *h, const httpc_req *req)
{
	const char *m = req->method ? req->method : req->body ? "POST" : "GET";
	if (req->body) {
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, req->body);
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
	}
	if (strcmp(m, "HEAD") == 0)
		curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
	else if (strcmp(m, "POST") == 0 && req->body)
		; /* POSTFIELDS already made it a POST */
	else if (strcmp(m, "GET") != 0 || req->body)
		curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, m);
}

static void set_options(CURL *h, const httpc_req *req, call *c, struct curl_slist *hdrs, char *errbuf)
{
	curl_easy_setopt(h, CURLOPT_URL, req->url);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_TCP_NODELAY, 1L);
	curl_easy_setopt(h, CURLOPT_USERAGENT, "reflex/" REFLEX_VERSION);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS,
			 req->timeout_ms > 0 ? req->timeout_ms : HTTPC_DEFAULT_TIMEOUT_MS);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS,
			 req->connect_timeout_ms > 0 ? req->connect_timeout_ms : HTTPC_DEFAULT_CONNECT_MS);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, c);
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, c);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
	if (req->ca_file)
		curl_easy_setopt(h, CURLOPT_CAINFO, req->ca_file);
	if (req->basic_user) {
		curl_easy_setopt(h, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
		curl_easy_setopt(h, CURLOPT_USERNAME, req->basic_user);
		curl_easy_setopt(h, CURLOPT_PASSWORD, req->basic_password ? req->basic_password : "");
	}
	set_method(h, req);
}

rfx_err httpc_do(const httpc_req *req, httpc_resp *resp)
{
	char errbuf[CURL_ERROR_SIZE] = "";
	memset(resp, 0, sizeof(*resp));
	buf_init(&resp->body, req->max_response ? req->max_response : HTTPC_DEFAULT_MAX);
	resp->retry_after_s = -1;
	if (!req->url) {
		snprintf(resp->error, sizeof(resp->error), "no URL");
		return RFX_ERR_INVAL;
	}
	CURL *h = thread_handle();
	call c = {.resp = resp};
	struct curl_slist *hdrs = build_headers(req);
	set_options(h, req, &c, hdrs, errbuf);
	CURLcode cc = curl_easy_perform(h);
	rfx_err rc = RFX_OK;
	if (cc != CURLE_OK) {
		rc = map_error(cc, &c);
		snprintf(resp->error, sizeof(resp->error), "%s",
			 c.over_limit ? "response larger than the limit"
			 : errbuf[0]  ? errbuf
				      : curl_easy_strerror(cc));
		resp->status = 0;
	} else {
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &resp->status);
	}
	/* The handle is kept for reuse; drop pointers into this call's memory. */
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, NULL);
	curl_slist_free_all(hdrs);
	return rc;
}

void httpc_resp_free(httpc_resp *resp)
{
	buf_free(&resp->body);
}
