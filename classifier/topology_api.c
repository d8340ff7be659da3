/* topology_api.c -- HTTP handlers for agent reports, the estate graph, and the /map page's static files. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "audit.h"
#include "log.h"
#include "metrics.h"
#include "topology.h"

static void count_report(const char *result)
{
	char labels[48];
	snprintf(labels, sizeof(labels), "result=\"%s\"", result);
	metrics_inc(
	    metrics_counter("reflex_topology_reports_total", labels, "Agent topology reports by outcome"));
}

static void report_error(http_resp *resp, rfx_err rc, const char *err, const char *field)
{
	switch (rc) {
	case RFX_ERR_PARSE:
		http_resp_error(resp, 400, "invalid_json", err, NULL);
		break;
	case RFX_ERR_REFUSED:
		http_resp_error(resp, 409, "full_report_required", err, field);
		break;
	case RFX_ERR_LIMIT:
		http_resp_error(resp, 413, "too_large", err, field);
		break;
	default:
		http_resp_error(resp, 400, "invalid_report", err, field);
	}
}

static void audit_update(const char *node, const topology_report_info *info)
{
	cJSON *a = cJSON_CreateObject();
	cJSON_AddStringToObject(a, "node", node);
	cJSON_AddNumberToObject(a, "seq", (double)info->seq);
	cJSON_AddBoolToObject(a, "full", info->full);
	cJSON_AddNumberToObject(a, "services", (double)info->services);
	cJSON_AddNumberToObject(a, "connections", (double)info->connections);
	audit_emit("topology.updated", a);
}

static bool json_content_type(const char *ct)
{
	return !ct || !strncasecmp(ct, "application/json", 16);
}

void topology_api_report(const http_req *req, http_resp *resp, void *ud)
{
	topology_store *s = classifier_app_topology(ud);
	const char *node = req->nparams ? req->params[0] : NULL, *field = NULL;
	char err[256] = "";
	topology_report_info info;
	if (!json_content_type(req->content_type)) {
		http_resp_error(resp, 415, "unsupported_media_type", "reports are application/json", NULL);
		return;
	}
	rfx_err rc = topology_report(s, node, req->body, req->body_len, &info, err, sizeof(err), &field);
	if (rc) {
		count_report(rc == RFX_ERR_REFUSED ? "full_required" : "invalid");
		LOG_WARN("topology report refused", "node", node, "reason", err, "remote_addr",
			 req->remote_addr);
		report_error(resp, rc, err, field);
		return;
	}
	count_report(info.applied ? "applied" : "ignored");
	if (info.applied && info.changed) {
		char seq[24];
		snprintf(seq, sizeof(seq), "%llu", (unsigned long long)info.seq);
		LOG_INFO("topology updated", "node", node, "seq", seq, "full", info.full ? "true" : "false");
		audit_update(node, &info);
	}
	cJSON *j = cJSON_CreateObject();
	cJSON_AddBoolToObject(j, "applied", info.applied);
	cJSON_AddNumberToObject(j, "seq", (double)info.seq);
	cJSON_AddBoolToObject(j, "full", info.full);
	http_resp_json(resp, 200, j);
}

void topology_api_graph(const http_req *req, http_resp *resp, void *ud)
{
	http_resp_json(resp, 200, topology_graph(classifier_app_topology(ud)));
}

/* ---- static files of the /map page ---- */

static const char *content_type_for(const char *path)
{
	static const struct {
		const char *ext, *type;
	} types[] = {
	    {".html", "text/html; charset=utf-8"},
	    {".js", "text/javascript; charset=utf-8"},
	    {".css", "text/css; charset=utf-8"},
	    {".json", "application/json"},
	    {".map", "application/json"},
	    {".svg", "image/svg+xml"},
	    {".png", "image/png"},
	    {".ico", "image/x-icon"},
	    {".txt", "text/plain; charset=utf-8"},
	};
	const char *dot = strrchr(path, '.');
	for (size_t i = 0; dot && i < RFX_ARRAY_LEN(types); i++)
		if (!strcmp(dot, types[i].ext))
			return types[i].type;
	return "application/octet-stream";
}

/* A relative path of plain segments: no empty, hidden ("." first) or parent segments, a small character set.
 */
static bool rel_path_ok(const char *rel)
{
	size_t n = strlen(rel);
	if (n == 0 || n > 512)
		return false;
	for (const char *seg = rel; *seg;) {
		size_t len = strcspn(seg, "/");
		if (len == 0 || seg[0] == '.')
			return false;
		for (size_t i = 0; i < len; i++) {
			char c = seg[i];
			if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
			      c == '.' || c == '-' || c == '_'))
				return false;
		}
		seg += len;
		if (*seg == '/')
			seg++;
	}
	return rel[n - 1] != '/';
}

/* Resolves rel under root, refusing anything a symlink leads outside of it. */
static bool resolve_under(const char *root, const char *rel, char out[PATH_MAX])
{
	char real_root[PATH_MAX], *joined = rfx_asprintf("%s/%s", root, rel);
	bool ok = realpath(root, real_root) && realpath(joined, out);
	size_t rl = ok ? strlen(real_root) : 0;
	ok = ok && !strncmp(out, real_root, rl) && out[rl] == '/';
	free(joined);
	return ok;
}

static const char *map_rel_path(const char *path)
{
	const char *rel = path + 4; /* after "/map" */
	if (*rel == '\0' || !strcmp(rel, "/"))
		return "index.html";
	return rel + 1;
}

void topology_api_map(const http_req *req, http_resp *resp, void *ud)
{
	classifier_app *app = ud;
	const char *root = app && app->cfg.web_dir ? app->cfg.web_dir : "./web";
	const char *rel = map_rel_path(req->path);
	char full[PATH_MAX], *data = NULL;
	size_t len = 0;
	if (!rel_path_ok(rel) || !resolve_under(root, rel, full)) {
		http_resp_error(resp, 404, "not_found", "no such file under /map", NULL);
		return;
	}
	rfx_err rc = rfx_read_file(full, TOPOLOGY_MAP_MAX_FILE, &data, &len);
	if (rc) {
		http_resp_error(resp, rc == RFX_ERR_LIMIT ? 500 : 404, "not_found", "cannot read that file",
				NULL);
		return;
	}
	http_resp_text(resp, 200, content_type_for(full), data, len);
	resp->extra_header_name = rfx_strdup("Cache-Control");
	resp->extra_header_value = rfx_strdup("no-cache");
	free(data);
}
