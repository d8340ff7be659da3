/* main.c -- reflex-agent: reports this host's listening services and connections to the classifier. */
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "auth.h"
#include "config.h"
#include "http.h"
#include "httpc.h"
#include "log.h"
#include "metrics.h"
#include "scan.h"
#include "session.h"

typedef struct agent_cfg {
	cfg_common common;
	char *classifier_url;
	char *classifier_token_file;
	char *node_name;
	int64_t interval_ms;
	long long full_every;
	char *socket_source;
	char *proc_root;
	bool include_loopback;
	long long max_connections;
	long long fd_read_budget;
	int64_t push_timeout_ms;
	int64_t backoff_max_ms;
	cfg_strlist addresses;
} agent_cfg;

#define OFF(f) offsetof(agent_cfg, f)
static const cfg_opt agent_opts[] = {
    {"classifier_url", CFG_STRING, OFF(classifier_url), "http://127.0.0.1:8080", 0, 0, NULL,
     "Base URL of reflex-classifier; reports go to POST {classifier_url}/v1/topology/{node_name}"},
    {"classifier_token_file", CFG_STRING, OFF(classifier_token_file), NULL, 0, 0, NULL,
     "File with the bearer token sent to the classifier"},
    {"node_name", CFG_STRING, OFF(node_name), NULL, 0, 0, NULL,
     "This host's name on the map (letters, digits, '.', '-', '_'); default: the host name"},
    {"interval", CFG_DURATION, OFF(interval_ms), "10s", 100, 3600000, NULL, "Time between scans and reports"},
    {"full_every", CFG_INT, OFF(full_every), "30", 1, 100000, NULL,
     "A full report every this many reports (deltas in between); also after any failed send"},
    {"socket_source", CFG_ENUM, OFF(socket_source), "auto", 0, 0, "auto|netlink|proc",
     "Where sockets come from: netlink sock_diag, /proc/net/tcp{,6}, or netlink with /proc/net as fallback"},
    {"proc_root", CFG_STRING, OFF(proc_root), "/proc", 0, 0, NULL,
     "The proc file system to read (the host's /proc when it is mounted elsewhere in a container)"},
    {"include_loopback", CFG_BOOL, OFF(include_loopback), "false", 0, 0, NULL,
     "Also report loopback listeners and connections (a host talking to itself)"},
    {"max_connections", CFG_INT, OFF(max_connections), "10000", 1, 1000000, NULL,
     "Most connection entries in one report (remote host and port pairs); the busiest are kept"},
    {"fd_read_budget", CFG_INT, OFF(fd_read_budget), "200000", 0, 100000000, NULL,
     "Most /proc/<pid>/fd links read in one scan to find socket owners (0: no limit); the rest waits for the "
     "next scan"},
    {"push_timeout", CFG_DURATION, OFF(push_timeout_ms), "5s", 100, 120000, NULL,
     "Timeout of one report request"},
    {"backoff_max", CFG_DURATION, OFF(backoff_max_ms), "5m", 1000, 3600000, NULL,
     "Longest wait between tries while the classifier cannot be reached"},
    {"addresses", CFG_STRLIST, OFF(addresses), NULL, 0, 0, NULL,
     "This host's addresses as others see them (behind NAT); default: the addresses of its interfaces"},
    {0}};

static const cfg_spec agent_spec = {
    .service = "agent",
    .binary = "reflex-agent",
    .summary = "Reports this host's listening services and TCP connections to the classifier's topology map.",
    .default_port = 8083,
    .opts = agent_opts,
    .extra_usage = "  --once              print one full report as JSON to stdout and exit\n",
};

typedef struct agent {
	agent_cfg cfg;
	char node[256];
	char *token;
	scan_ctx *scan;
	session sess;
	http_server *http;
	volatile bool scanned; /* /readyz: after the first scan */
	char **addrs;
	size_t naddrs;
	bool last_failed;
} agent;

#define AGENT_MAX_ADDRS	   64
#define AGENT_MAX_RESPONSE (64 * 1024)

static bool node_name_ok(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > 253)
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
		      *s == '.' || *s == '-' || *s == '_'))
			return false;
	return true;
}

static rfx_err agent_setup(agent *a)
{
	agent_cfg *c = &a->cfg;
	char err[300];
	if (c->node_name)
		snprintf(a->node, sizeof(a->node), "%s", c->node_name);
	else if (gethostname(a->node, sizeof(a->node) - 1) != 0)
		snprintf(a->node, sizeof(a->node), "localhost");
	if (!node_name_ok(a->node)) {
		fprintf(stderr, "reflex-agent: node_name: '%s' is not a valid node name\n", a->node);
		return RFX_ERR_INVAL;
	}
	if (c->classifier_token_file &&
	    auth_read_secret(c->classifier_token_file, &a->token, NULL, err, sizeof(err))) {
		fprintf(stderr, "reflex-agent: classifier_token_file: %s\n", err);
		return RFX_ERR_INVAL;
	}
	scan_opts so = {.source = !strcmp(c->socket_source, "netlink") ? SCAN_SOURCE_NETLINK
				  : !strcmp(c->socket_source, "proc")  ? SCAN_SOURCE_PROC
								       : SCAN_SOURCE_AUTO,
			.proc_root = c->proc_root,
			.fd_budget = (size_t)c->fd_read_budget,
			.report = {.include_loopback = c->include_loopback,
				   .max_connections = (size_t)c->max_connections}};
	a->scan = scan_new(&so);
	session_init(&a->sess, a->node, c->interval_ms, (unsigned)c->full_every, c->backoff_max_ms);
	return RFX_OK;
}

static void agent_addresses(agent *a)
{
	for (size_t i = 0; i < a->naddrs; i++)
		free(a->addrs[i]);
	RFX_FREE(a->addrs);
	if (a->cfg.addresses.n) {
		a->naddrs = a->cfg.addresses.n;
		a->addrs = rfx_calloc(a->naddrs + 1, sizeof(*a->addrs));
		for (size_t i = 0; i < a->naddrs; i++)
			a->addrs[i] = rfx_strdup(a->cfg.addresses.v[i]);
		return;
	}
	a->naddrs = report_host_addresses(&a->addrs, AGENT_MAX_ADDRS);
}

static void observe_scan(const scan_stats *st)
{
	metrics_inc(metrics_counter("reflex_agent_scans_total", NULL, "Scans of the host's sockets"));
	metrics_observe(metrics_histogram("reflex_agent_scan_seconds", NULL, "Time of one scan"),
			st->seconds);
	metrics_set(metrics_gauge("reflex_agent_sockets", NULL, "Listening and established TCP sockets seen"),
		    (double)st->sockets);
	metrics_set(
	    metrics_gauge("reflex_agent_sockets_attributed", NULL, "Sockets with a known owning process"),
	    (double)st->fd.resolved);
	metrics_add(metrics_counter("reflex_agent_fd_reads_total", NULL, "/proc/<pid>/fd links read"),
		    (double)st->fd.fd_reads);
	char ms[24], socks[24], reads[24];
	snprintf(ms, sizeof(ms), "%.3f", st->seconds * 1000.0);
	snprintf(socks, sizeof(socks), "%zu", st->sockets);
	snprintf(reads, sizeof(reads), "%zu", st->fd.fd_reads);
	LOG_DEBUG("scan", "source", st->source, "sockets", socks, "fd_reads", reads, "duration_ms", ms);
}

static rfx_err agent_scan(agent *a, report_state *out)
{
	char err[300] = "";
	scan_stats st;
	if (a->sess.since_full == 0)
		scan_refresh_names(a->scan);
	rfx_err rc = scan_run(a->scan, out, &st, err, sizeof(err));
	if (rc) {
		LOG_ERROR("scan failed", "reason", err);
		return rc;
	}
	observe_scan(&st);
	agent_addresses(a);
	a->scanned = true;
	return RFX_OK;
}

static session_outcome push(agent *a, const char *body, long *status, char *err, size_t errlen)
{
	size_t base = strlen(a->cfg.classifier_url);
	while (base && a->cfg.classifier_url[base - 1] == '/')
		base--;
	char *url = rfx_asprintf("%.*s/v1/topology/%s", (int)base, a->cfg.classifier_url, a->node);
	char *auth = a->token ? rfx_asprintf("Authorization: Bearer %s", a->token) : NULL;
	const char *headers[] = {"Content-Type: application/json", auth, NULL};
	httpc_req req = {.method = "POST",
			 .url = url,
			 .headers = headers,
			 .body = body,
			 .body_len = strlen(body),
			 .timeout_ms = (long)a->cfg.push_timeout_ms,
			 .max_response = AGENT_MAX_RESPONSE};
	httpc_resp resp;
	rfx_err rc = httpc_do(&req, &resp);
	*status = resp.status;
	if (rc)
		snprintf(err, errlen, "%s", resp.error[0] ? resp.error : rfx_strerror(rc));
	else
		snprintf(err, errlen, "HTTP %ld", resp.status);
	httpc_resp_free(&resp);
	free(url);
	free(auth);
	if (!rc && *status >= 200 && *status < 300)
		return SESSION_SENT;
	return !rc && *status == 409 ? SESSION_FULL_NEEDED : SESSION_FAILED;
}

static void log_outcome(agent *a, session_outcome out, long status, const char *err, bool full)
{
	char labels[32], seq[24];
	snprintf(labels, sizeof(labels), "result=\"%s\"", out == SESSION_SENT ? "ok" : "error");
	metrics_inc(metrics_counter("reflex_agent_reports_total", labels, "Reports sent to the classifier"));
	snprintf(seq, sizeof(seq), "%llu", (unsigned long long)a->sess.seq);
	if (out == SESSION_SENT) {
		if (a->last_failed)
			LOG_INFO("classifier reachable again", "node", a->node, "seq", seq);
		LOG_DEBUG("report sent", "node", a->node, "seq", seq, "full", full ? "true" : "false");
		a->last_failed = false;
		return;
	}
	if (out == SESSION_FULL_NEEDED) {
		LOG_INFO("classifier asked for a full report", "node", a->node, "seq", seq);
		return;
	}
	if (!a->last_failed)
		LOG_WARN("report failed", "node", a->node, "seq", seq, "reason", err);
	a->last_failed = true;
}

/* Builds and sends one report; a 409 is answered at once with a full report. */
static void report_once(agent *a, report_state *cur)
{
	for (int attempt = 0; attempt < 2; attempt++) {
		bool full;
		long status = 0;
		char err[300] = "";
		cJSON *j = session_report(&a->sess, cur, (const char *const *)a->addrs, a->naddrs, &full);
		char *body = cJSON_PrintUnformatted(j);
		cJSON_Delete(j);
		session_outcome out = push(a, body, &status, err, sizeof(err));
		free(body);
		log_outcome(a, out, status, err, full);
		session_result(&a->sess, out, cur, rfx_mono_ms());
		if (out != SESSION_FULL_NEEDED)
			return;
	}
}

static void agent_tick(agent *a)
{
	report_state cur;
	if (agent_scan(a, &cur))
		return;
	if (session_may_send(&a->sess, rfx_mono_ms()))
		report_once(a, &cur);
	report_state_free(&cur);
	malloc_trim(0); /* a scan's large transient arrays are gone until the next one: give the pages back */
}

/* Waits until the deadline; true when asked to stop. */
static bool wait_until(const sigset_t *sigs, int64_t deadline)
{
	for (;;) {
		int64_t left = deadline - rfx_mono_ms();
		if (left <= 0)
			return false;
		struct timespec ts = {.tv_sec = left / 1000, .tv_nsec = (left % 1000) * 1000000L};
		int sig = sigtimedwait(sigs, NULL, &ts);
		if (sig > 0) {
			LOG_INFO("stopping", "signal", sig == SIGTERM ? "TERM" : "INT");
			return true;
		}
		if (errno != EINTR && errno != EAGAIN)
			return false;
	}
}

static bool agent_ready(void *ud, char *why, size_t whylen)
{
	agent *a = ud;
	if (!a->scanned)
		snprintf(why, whylen, "no scan yet");
	return a->scanned;
}

static rfx_err start_http(agent *a)
{
	static const http_route routes[] = {{0}};
	http_server_opts ho = {.svc = "agent",
			       .bind = a->cfg.common.bind,
			       .port = (int)a->cfg.common.port,
			       .max_body = (size_t)a->cfg.common.max_body_bytes,
			       .threads = 1,
			       .routes = routes,
			       .ud = a,
			       .ready = agent_ready};
	rfx_err rc = http_server_start(&ho, &a->http);
	if (rc)
		fprintf(stderr, "reflex-agent: cannot listen on %s:%lld: %s\n", a->cfg.common.bind,
			a->cfg.common.port, rfx_strerror(rc));
	return rc;
}

static int run_once(agent *a)
{
	report_state cur;
	bool full;
	log_set_fd(2); /* stdout carries the report */
	if (agent_scan(a, &cur))
		return 1;
	a->sess.need_full = true;
	cJSON *j = session_report(&a->sess, &cur, (const char *const *)a->addrs, a->naddrs, &full);
	char *text = cJSON_Print(j);
	printf("%s\n", text);
	free(text);
	cJSON_Delete(j);
	report_state_free(&cur);
	return 0;
}

static int run_loop(agent *a)
{
	sigset_t sigs;
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (start_http(a))
		return 1;
	char interval[24];
	snprintf(interval, sizeof(interval), "%lldms", (long long)a->cfg.interval_ms);
	LOG_INFO("agent started", "node", a->node, "boot_id", a->sess.boot_id, "classifier_url",
		 a->cfg.classifier_url, "interval", interval, "version", REFLEX_VERSION);
	int64_t next = rfx_mono_ms();
	do {
		agent_tick(a);
		next += a->cfg.interval_ms;
		if (next < rfx_mono_ms()) /* a scan longer than the interval: do not try to catch up */
			next = rfx_mono_ms();
	} while (!wait_until(&sigs, next));
	http_server_stop(a->http);
	return 0;
}

static void agent_free(agent *a)
{
	scan_free(a->scan);
	session_free(&a->sess);
	for (size_t i = 0; i < a->naddrs; i++)
		free(a->addrs[i]);
	free(a->addrs);
	free(a->token);
}

int main(int argc, char **argv)
{
	static agent a;
	static char **rest_argv; /* lives for the process (config.h) */
	int rest_argc, rc = 1;
	cfg_action act = config_init(&agent_spec, &a.cfg, argc, argv, &rest_argc, &rest_argv);
	if (act != CFG_RUN)
		return act == CFG_EXIT_OK ? 0 : 1;
	bool once = rest_argc == 2 && !strcmp(rest_argv[1], "--once");
	if (rest_argc > 1 && !once) {
		fprintf(stderr, "reflex-agent: unknown argument '%s' (see --help)\n", rest_argv[1]);
		config_free(&agent_spec, &a.cfg);
		return 2;
	}
	log_level lvl = LOG_LEVEL_INFO;
	log_level_parse(a.cfg.common.log_level, &lvl);
	log_init("agent", lvl);
	/* Arrays of tens of thousands of sockets are mmapped, so that those freed (the inode cache's after a
	 * compaction, the lists after a burst of sockets) go back to the system at once (glibc would
	 * otherwise raise the threshold after the first free and keep them resident). */
	mallopt(M_MMAP_THRESHOLD, 128 * 1024);
	httpc_global_init();
	if (agent_setup(&a) == RFX_OK)
		rc = once ? run_once(&a) : run_loop(&a);
	agent_free(&a);
	config_free(&agent_spec, &a.cfg);
	return rc;
}
