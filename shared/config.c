/* config.c -- the declarative option table: defaults, YAML file and REFLEX_<KEY> overrides, and the command
 * line
 * (--config, --check-config, --help, --version, --config-reference), all driven by the same cfg_opt tables.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

#ifndef REFLEX_VERSION
#define REFLEX_VERSION "0.0.0"
#endif

#define CFG_FILE_MAX (4 * 1024 * 1024)
#define CFG_LIST_MAX 4096
#define CFG_WHY_MAX  256

#define KIB 1024LL
#define MIB (1024LL * 1024)

const cfg_opt config_common_opts[] = {
    {"bind", CFG_STRING, offsetof(cfg_common, bind), "127.0.0.1", 0, 0, NULL,
     "Address the HTTP server listens on (0.0.0.0 for every interface)", NULL, NULL, NULL},
    {"port", CFG_INT, offsetof(cfg_common, port), NULL, 0, 65535, NULL,
     "HTTP port (0 picks a free port, written to the log)", NULL, NULL, NULL},
    {"api_tokens_file", CFG_STRING, offsetof(cfg_common, api_tokens_file), NULL, 0, 0, NULL,
     "File of bearer tokens for the API, one per line, # comments; unset: the API is open (a warning is "
     "logged)",
     NULL, NULL, NULL},
    {"admin_tokens_file", CFG_STRING, offsetof(cfg_common, admin_tokens_file), NULL, 0, 0, NULL,
     "File of tokens for admin endpoints (pause, resume, reload); unset: the API tokens", NULL, NULL, NULL},
    {"log_level", CFG_ENUM, offsetof(cfg_common, log_level), "info", 0, 0, "debug|info|warn|error",
     "Lowest level written to the log (stdout, logfmt)", NULL, NULL, NULL},
    {"audit_file", CFG_STRING, offsetof(cfg_common, audit_file), NULL, 0, 0, NULL,
     "JSON-lines audit file, used when kafka_brokers is unset; unset: audit records are only counted", NULL,
     NULL, NULL},
    {"kafka_brokers", CFG_STRING, offsetof(cfg_common, kafka_brokers), NULL, 0, 0, NULL,
     "Kafka bootstrap servers (host:port,...); set: audit records go to Kafka", NULL, NULL, NULL},
    {"kafka_audit_topic", CFG_STRING, offsetof(cfg_common, kafka_audit_topic), "reflex.audit", 0, 0, NULL,
     "Kafka topic of the audit stream", NULL, NULL, NULL},
    {"kafka_properties", CFG_STRMAP, offsetof(cfg_common, kafka_properties), "{}", 0, 0, NULL,
     "Extra librdkafka properties (e.g. security.protocol); `<name>_file: path` reads a secret value from a "
     "file",
     NULL, NULL, NULL},
    {"audit_spool_dir", CFG_STRING, offsetof(cfg_common, audit_spool_dir), NULL, 0, 0, NULL,
     "Directory of the local spool where audit records wait while Kafka is unreachable; unset: "
     "$TMPDIR/<binary>-audit-spool",
     NULL, NULL, NULL},
    {"max_body_bytes", CFG_SIZE, offsetof(cfg_common, max_body_bytes), "1MiB", KIB, 64 * MIB, NULL,
     "Largest accepted HTTP request body; larger requests get 413", NULL, NULL, NULL},
    {"http_threads", CFG_INT, offsetof(cfg_common, http_threads), "4", 1, 64, NULL,
     "HTTP server worker threads", NULL, NULL, NULL},
    {0},
};

/* Where a value came from, for error messages. */
typedef struct cfg_src {
	const char *file; /* YAML file */
	const char *env;  /* environment variable name */
} cfg_src;

static const cfg_opt *find_in(const cfg_opt *opts, const char *key)
{
	for (const cfg_opt *o = opts; o && o->key; o++)
		if (strcmp(o->key, key) == 0)
			return o;
	return NULL;
}

static const cfg_opt *find_opt(const cfg_spec *spec, const char *key)
{
	const cfg_opt *o = find_in(config_common_opts, key);
	return o ? o : find_in(spec->opts, key);
}

static void *field_of(void *cfg, const cfg_opt *o)
{
	return (char *)cfg + o->offset;
}

/* The reason a value was refused (without the key) and the node it is about, when more precise than the
 * value. */
typedef struct cfg_why {
	char text[CFG_WHY_MAX];
	const yt_node *at;
} cfg_why;

static void __attribute__((format(printf, 2, 3))) why_set(cfg_why *w, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(w->text, sizeof(w->text), fmt, ap);
	va_end(ap);
}

/* ---- formatting of sizes and durations (help, dump, errors) ---- */

static void fmt_size(long long v, char *out, size_t len)
{
	static const struct {
		const char *unit;
		long long mul;
	} u[] = {{"GiB", 1024 * MIB}, {"MiB", MIB}, {"KiB", KIB}};
	for (size_t i = 0; i < RFX_ARRAY_LEN(u); i++) {
		if (v != 0 && v % u[i].mul == 0) {
			snprintf(out, len, "%lld%s", v / u[i].mul, u[i].unit);
			return;
		}
	}
	snprintf(out, len, "%lld", v);
}

static void fmt_duration(long long ms, char *out, size_t len)
{
	static const struct {
		const char *unit;
		long long mul;
	} u[] = {{"d", 86400000}, {"h", 3600000}, {"m", 60000}, {"s", 1000}};
	if (ms == 0) {
		snprintf(out, len, "0s");
		return;
	}
	for (size_t i = 0; i < RFX_ARRAY_LEN(u); i++) {
		if (ms != 0 && ms % u[i].mul == 0) {
			snprintf(out, len, "%lld%s", ms / u[i].mul, u[i].unit);
			return;
		}
	}
	snprintf(out, len, "%lldms", ms);
}

static void fmt_bound(const cfg_opt *o, long long v, char *out, size_t len)
{
	if (o->type == CFG_SIZE)
		fmt_size(v, out, len);
	else if (o->type == CFG_DURATION)
		fmt_duration(v, out, len);
	else
		snprintf(out, len, "%lld", v);
}

rfx_err config_parse_size(const char *s, long long *out)
{
	static const struct {
		const char *unit;
		long long mul;
	} u[] = {{"", 1},
		 {"B", 1},
		 {"K", KIB},
		 {"KiB", KIB},
		 {"KB", 1000},
		 {"M", MIB},
		 {"MiB", MIB},
		 {"MB", 1000000},
		 {"G", 1024 * MIB},
		 {"GiB", 1024 * MIB},
		 {"GB", 1000000000},
		 {"k", KIB},
		 {"kB", 1000}};
	if (!s || !isdigit((unsigned char)*s))
		return RFX_ERR_INVAL;
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (errno || !isfinite(v))
		return RFX_ERR_INVAL;
	while (*end == ' ')
		end++;
	for (size_t i = 0; i < RFX_ARRAY_LEN(u); i++) {
		if (strcmp(end, u[i].unit) != 0)
			continue;
		double r = v * (double)u[i].mul;
		if (r > 9.0e18 || r != floor(r))
			return RFX_ERR_INVAL;
		*out = (long long)r;
		return RFX_OK;
	}
	return RFX_ERR_INVAL;
}

/* ---- clearing fields ---- */

static void strlist_free(cfg_strlist *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	RFX_FREE(l->v);
	l->n = 0;
}

static void strmap_free(cfg_strmap *m)
{
	for (size_t i = 0; i < m->n; i++) {
		free(m->keys[i]);
		free(m->values[i]);
	}
	RFX_FREE(m->keys);
	RFX_FREE(m->values);
	m->n = 0;
}

static void field_clear(const cfg_opt *o, void *f)
{
	switch (o->type) {
	case CFG_STRING:
	case CFG_ENUM:
		RFX_FREE(*(char **)f);
		break;
	case CFG_INT:
	case CFG_SIZE:
		*(long long *)f = 0;
		break;
	case CFG_BOOL:
		*(bool *)f = false;
		break;
	case CFG_DURATION:
		*(int64_t *)f = 0;
		break;
	case CFG_STRLIST:
		strlist_free(f);
		break;
	case CFG_STRMAP:
		strmap_free(f);
		break;
	case CFG_CUSTOM:
		if (o->free)
			o->free(f);
		break;
	}
}

/* ---- parsing one value; why gets the reason without the key ---- */

static const char *got_desc(const yt_node *n, char *buf, size_t len)
{
	if (n->kind != YT_SCALAR)
		snprintf(buf, len, "a %s", yt_kind_name(n->kind));
	else if (n->null)
		snprintf(buf, len, "an empty value");
	else
		snprintf(buf, len, "\"%.60s\"", n->scalar);
	return buf;
}

static rfx_err want(cfg_why *w, const yt_node *n, const char *what)
{
	char got[96];
	w->at = n;
	why_set(w, "expected %s, got %s", what, got_desc(n, got, sizeof(got)));
	return RFX_ERR_INVAL;
}

static rfx_err check_bounds(const cfg_opt *o, long long v, cfg_why *w)
{
	if (o->min == 0 && o->max == 0)
		return RFX_OK;
	if (v >= o->min && v <= o->max)
		return RFX_OK;
	char a[32], b[32], c[32];
	fmt_bound(o, v, a, sizeof(a));
	fmt_bound(o, o->min, b, sizeof(b));
	fmt_bound(o, o->max, c, sizeof(c));
	why_set(w, "%s is out of range (%s..%s)", a, b, c);
	return RFX_ERR_INVAL;
}

static rfx_err parse_string(const yt_node *n, char **f, cfg_why *w)
{
	if (n->kind != YT_SCALAR)
		return want(w, n, "a string");
	RFX_FREE(*f);
	if (!n->null)
		*f = rfx_strdup(n->scalar);
	return RFX_OK;
}

static rfx_err parse_number(const cfg_opt *o, const yt_node *n, long long *v, cfg_why *w)
{
	if (n->kind != YT_SCALAR || n->null)
		return want(w, n, o->type == CFG_SIZE ? "a size (like 512KiB or 1MiB)" : "an integer");
	bool ok = o->type == CFG_SIZE ? config_parse_size(n->scalar, v) == RFX_OK : yt_as_int(n, v);
	if (!ok)
		return want(w, n, o->type == CFG_SIZE ? "a size (like 512KiB or 1MiB)" : "an integer");
	return check_bounds(o, *v, w);
}

static rfx_err parse_duration(const cfg_opt *o, const yt_node *n, int64_t *f, cfg_why *w)
{
	int64_t ms;
	if (n->kind != YT_SCALAR || n->null || rfx_parse_duration(n->scalar, &ms) != RFX_OK)
		return want(w, n, "a duration (like 250ms, 10s, 5m, 2h)");
	rfx_err rc = check_bounds(o, ms, w);
	if (!rc)
		*f = ms;
	return rc;
}

static bool enum_has(const char *values, const char *s)
{
	size_t n = strlen(s);
	for (const char *p = values; p && *p;) {
		const char *bar = strchr(p, '|');
		size_t len = bar ? (size_t)(bar - p) : strlen(p);
		if (len == n && strncmp(p, s, n) == 0)
			return true;
		p = bar ? bar + 1 : NULL;
	}
	return false;
}

static rfx_err parse_enum(const cfg_opt *o, const yt_node *n, char **f, cfg_why *w)
{
	char what[160];
	snprintf(what, sizeof(what), "one of %s", o->enum_values ? o->enum_values : "");
	if (n->kind != YT_SCALAR || n->null || !enum_has(o->enum_values, n->scalar))
		return want(w, n, what);
	RFX_FREE(*f);
	*f = rfx_strdup(n->scalar);
	return RFX_OK;
}

static void strlist_push(cfg_strlist *l, const char *s, size_t n)
{
	l->v = rfx_realloc(l->v, (l->n + 1) * sizeof(*l->v));
	l->v[l->n++] = rfx_strndup(s, n);
}

/* A scalar is a comma-separated list (the environment form). */
static void strlist_split(cfg_strlist *l, const char *s)
{
	while (*s && l->n < CFG_LIST_MAX) {
		const char *comma = strchr(s, ',');
		const char *end = comma ? comma : s + strlen(s);
		const char *a = s;
		while (a < end && isspace((unsigned char)*a))
			a++;
		const char *b = end;
		while (b > a && isspace((unsigned char)b[-1]))
			b--;
		if (b > a)
			strlist_push(l, a, (size_t)(b - a));
		s = comma ? comma + 1 : end;
	}
}

static rfx_err parse_strlist(const yt_node *n, cfg_strlist *f, cfg_why *w)
{
	if (n->kind == YT_MAP)
		return want(w, n, "a list of strings");
	for (size_t i = 0; n->kind == YT_SEQ && i < n->n; i++)
		if (n->items[i]->kind != YT_SCALAR || n->items[i]->null)
			return want(w, n->items[i], "a string in the list");
	if (n->kind == YT_SEQ && n->n > CFG_LIST_MAX) {
		why_set(w, "more than %d items", CFG_LIST_MAX);
		return RFX_ERR_LIMIT;
	}
	strlist_free(f);
	if (n->kind == YT_SCALAR)
		strlist_split(f, n->scalar);
	for (size_t i = 0; n->kind == YT_SEQ && i < n->n; i++)
		strlist_push(f, n->items[i]->scalar, strlen(n->items[i]->scalar));
	return RFX_OK;
}

static void strmap_push(cfg_strmap *m, const char *k, size_t kn, const char *v, size_t vn)
{
	m->keys = rfx_realloc(m->keys, (m->n + 1) * sizeof(*m->keys));
	m->values = rfx_realloc(m->values, (m->n + 1) * sizeof(*m->values));
	m->keys[m->n] = rfx_strndup(k, kn);
	m->values[m->n] = rfx_strndup(v, vn);
	m->n++;
}

/* A scalar is "k=v,k2=v2" (the environment form). */
static rfx_err strmap_split(cfg_strmap *m, const char *s, cfg_why *w)
{
	cfg_strlist parts = {0};
	rfx_err rc = RFX_OK;
	strlist_split(&parts, s);
	for (size_t i = 0; i < parts.n; i++) {
		const char *eq = strchr(parts.v[i], '=');
		if (!eq || eq == parts.v[i]) {
			why_set(w, "expected key=value pairs separated by commas");
			rc = RFX_ERR_INVAL;
			goto out;
		}
		strmap_push(m, parts.v[i], (size_t)(eq - parts.v[i]), eq + 1, strlen(eq + 1));
	}
out:
	strlist_free(&parts);
	return rc;
}

static rfx_err parse_strmap(const yt_node *n, cfg_strmap *f, cfg_why *w)
{
	if (n->kind == YT_SEQ || (n->kind == YT_SCALAR && !n->null && !strchr(n->scalar, '=')))
		return want(w, n, "a mapping of strings");
	for (size_t i = 0; n->kind == YT_MAP && i < n->n; i++)
		if (n->pairs[i].value->kind != YT_SCALAR)
			return want(w, n->pairs[i].value, "a string value in the mapping");
	strmap_free(f);
	if (n->kind == YT_SCALAR)
		return n->null ? RFX_OK : strmap_split(f, n->scalar, w);
	for (size_t i = 0; i < n->n; i++) {
		const char *k = n->pairs[i].key->scalar, *v = n->pairs[i].value->scalar;
		strmap_push(f, k, strlen(k), v, strlen(v));
	}
	return RFX_OK;
}

static rfx_err parse_custom(const cfg_opt *o, const yt_node *n, void *f, cfg_why *w)
{
	if (!o->parse) {
		why_set(w, "no parser for this key");
		return RFX_ERR_INTERNAL;
	}
	if (o->free)
		o->free(f);
	return o->parse(n, f, w->text, sizeof(w->text));
}

static rfx_err parse_value(const cfg_opt *o, const yt_node *n, void *f, cfg_why *w)
{
	switch (o->type) {
	case CFG_STRING:
		return parse_string(n, f, w);
	case CFG_INT:
	case CFG_SIZE: {
		long long v;
		rfx_err rc = parse_number(o, n, &v, w);
		if (!rc)
			*(long long *)f = v;
		return rc;
	}
	case CFG_BOOL:
		if (!yt_as_bool(n, f))
			return want(w, n, "true or false");
		return RFX_OK;
	case CFG_DURATION:
		return parse_duration(o, n, f, w);
	case CFG_ENUM:
		return parse_enum(o, n, f, w);
	case CFG_STRLIST:
		return parse_strlist(n, f, w);
	case CFG_STRMAP:
		return parse_strmap(n, f, w);
	case CFG_CUSTOM:
		return parse_custom(o, n, f, w);
	}
	return RFX_ERR_INTERNAL;
}

/* Parses and stores one value; on error writes "<where>: <key>: <reason>" to err. */
static rfx_err apply(const cfg_opt *o, const yt_node *n, void *cfg, const cfg_src *src, char *err,
		     size_t errlen)
{
	cfg_why w = {.text = "", .at = NULL};
	rfx_err rc = parse_value(o, n, field_of(cfg, o), &w);
	if (!rc)
		return RFX_OK;
	const yt_node *at = w.at ? w.at : n;
	if (src->file)
		snprintf(err, errlen, "%s:%d:%d: %s: %s", src->file, at->line, at->col, o->key, w.text);
	else if (src->env)
		snprintf(err, errlen, "%s: %s: %s", src->env, o->key, w.text);
	else
		snprintf(err, errlen, "default of %s: %s", o->key, w.text);
	return rc ? rc : RFX_ERR_INVAL;
}

/* ---- the three layers ---- */

static const yt_node null_node = {.kind = YT_SCALAR, .scalar = "", .null = true};

/* Parses text as one YAML value; *docs is freed by the caller. */
static rfx_err yaml_value(const char *text, yt_node ***docs, size_t *ndocs, const yt_node **n, cfg_why *w)
{
	yt_error ye;
	if (yt_parse(text, strlen(text), docs, ndocs, &ye) != RFX_OK) {
		why_set(w, "%s", ye.reason);
		return RFX_ERR_PARSE;
	}
	*n = *ndocs > 0 ? (*docs)[0] : &null_node;
	return RFX_OK;
}

static rfx_err apply_default(const cfg_spec *spec, const cfg_opt *o, bool common, void *cfg, char *err,
			     size_t errlen)
{
	char port[16];
	const char *def = o->def;
	if (common && o->offset == offsetof(cfg_common, port)) {
		snprintf(port, sizeof(port), "%d", spec->default_port);
		def = port;
	}
	field_clear(o, field_of(cfg, o));
	if (!def)
		return RFX_OK;
	yt_node **docs = NULL;
	size_t ndocs = 0;
	const yt_node *n;
	cfg_why w = {.text = "", .at = NULL};
	cfg_src src = {0};
	rfx_err rc = yaml_value(def, &docs, &ndocs, &n, &w);
	if (rc)
		snprintf(err, errlen, "default of %s: %s", o->key, w.text);
	else
		rc = apply(o, n, cfg, &src, err, errlen);
	yt_free_docs(docs, ndocs);
	return rc;
}

static rfx_err load_defaults(const cfg_spec *spec, void *cfg, char *err, size_t errlen)
{
	for (const cfg_opt *o = config_common_opts; o->key; o++) {
		rfx_err rc = apply_default(spec, o, true, cfg, err, errlen);
		if (rc)
			return rc;
	}
	for (const cfg_opt *o = spec->opts; o && o->key; o++) {
		rfx_err rc = apply_default(spec, o, false, cfg, err, errlen);
		if (rc)
			return rc;
	}
	return RFX_OK;
}

static rfx_err apply_tree(const cfg_spec *spec, const yt_node *root, void *cfg, const char *file, char *err,
			  size_t errlen)
{
	cfg_src src = {.file = file};
	if (root->kind != YT_MAP) {
		snprintf(err, errlen, "%s:%d:%d: expected a mapping of keys at the top level, got a %s", file,
			 root->line, root->col, yt_kind_name(root->kind));
		return RFX_ERR_INVAL;
	}
	for (size_t i = 0; i < root->n; i++) {
		const yt_node *k = root->pairs[i].key;
		const cfg_opt *o = find_opt(spec, k->scalar);
		if (!o) {
			snprintf(err, errlen, "%s:%d:%d: unknown key \"%.100s\"", file, k->line, k->col,
				 k->scalar);
			return RFX_ERR_INVAL;
		}
		rfx_err rc = apply(o, root->pairs[i].value, cfg, &src, err, errlen);
		if (rc)
			return rc;
	}
	return RFX_OK;
}

static rfx_err load_file(const cfg_spec *spec, void *cfg, const char *file, bool optional, char *err,
			 size_t errlen)
{
	char *text = NULL;
	size_t len = 0, ndocs = 0;
	yt_node **docs = NULL;
	yt_error ye;
	rfx_err rc = rfx_read_file(file, CFG_FILE_MAX, &text, &len);
	if (rc == RFX_ERR_NOTFOUND && optional)
		return RFX_OK;
	if (rc) {
		snprintf(err, errlen, "%s: %s", file,
			 rc == RFX_ERR_NOTFOUND ? "no such file"
			 : rc == RFX_ERR_LIMIT	? "file too large"
						: "cannot read file");
		return rc;
	}
	rc = yt_parse(text, len, &docs, &ndocs, &ye);
	if (rc) {
		snprintf(err, errlen, "%s:%d:%d: %s", file, ye.line, ye.col, ye.reason);
		goto out;
	}
	if (ndocs > 1) {
		snprintf(err, errlen, "%s:%d:%d: only one YAML document is allowed", file, docs[1]->line,
			 docs[1]->col);
		rc = RFX_ERR_INVAL;
		goto out;
	}
	if (ndocs == 1)
		rc = apply_tree(spec, docs[0], cfg, file, err, errlen);
out:
	yt_free_docs(docs, ndocs);
	free(text);
	return rc;
}

static void env_name(const char *key, char *out, size_t len)
{
	size_t o = (size_t)snprintf(out, len, "REFLEX_");
	for (const char *p = key; *p && o + 1 < len; p++)
		out[o++] = isalnum((unsigned char)*p) ? (char)toupper((unsigned char)*p) : '_';
	out[o] = '\0';
}

/* Strings are taken literally; lists and maps also take a plain comma form; structures are YAML. */
static rfx_err apply_env_value(const cfg_opt *o, const char *name, const char *value, void *cfg, char *err,
			       size_t errlen)
{
	yt_node **docs = NULL;
	size_t ndocs = 0;
	const yt_node *n;
	yt_node scalar = {.kind = YT_SCALAR, .scalar = (char *)value, .quoted = o->type == CFG_STRING};
	cfg_src src = {.env = name};
	rfx_err rc = RFX_OK;
	bool yaml = o->type == CFG_CUSTOM || (o->type == CFG_STRLIST && value[0] == '[') ||
		    (o->type == CFG_STRMAP && value[0] == '{');
	if (yaml) {
		cfg_why w = {.text = "", .at = NULL};
		rc = yaml_value(value, &docs, &ndocs, &n, &w);
		if (rc)
			snprintf(err, errlen, "%s: %s: %s", name, o->key, w.text);
	} else {
		n = &scalar;
	}
	if (!rc)
		rc = apply(o, n, cfg, &src, err, errlen);
	yt_free_docs(docs, ndocs);
	return rc;
}

static rfx_err apply_env_table(const cfg_opt *opts, void *cfg, char *err, size_t errlen)
{
	char name[128];
	for (const cfg_opt *o = opts; o && o->key; o++) {
		env_name(o->key, name, sizeof(name));
		const char *v = getenv(name);
		if (!v || !*v) /* an empty variable counts as unset */
			continue;
		rfx_err rc = apply_env_value(o, name, v, cfg, err, errlen);
		if (rc)
			return rc;
	}
	return RFX_OK;
}

rfx_err config_load(const cfg_spec *spec, void *cfg, const char *file, bool file_optional, char *err,
		    size_t errlen)
{
	rfx_err rc = load_defaults(spec, cfg, err, errlen);
	if (rc)
		return rc;
	if (file) {
		rc = load_file(spec, cfg, file, file_optional, err, errlen);
		if (rc)
			return rc;
	}
	rc = apply_env_table(config_common_opts, cfg, err, errlen);
	if (rc)
		return rc;
	return apply_env_table(spec->opts, cfg, err, errlen);
}

void config_free(const cfg_spec *spec, void *cfg)
{
	for (const cfg_opt *o = config_common_opts; o->key; o++)
		field_clear(o, field_of(cfg, o));
	for (const cfg_opt *o = spec->opts; o && o->key; o++)
		field_clear(o, field_of(cfg, o));
}

/* ---- help, reference, dump ---- */

static const char *type_name(cfg_type t)
{
	static const char *const names[] = {
	    [CFG_STRING] = "string",
	    [CFG_INT] = "int",
	    [CFG_BOOL] = "bool",
	    [CFG_DURATION] = "duration",
	    [CFG_SIZE] = "size",
	    [CFG_ENUM] = "enum",
	    [CFG_STRLIST] = "list of strings",
	    [CFG_STRMAP] = "map of strings",
	    [CFG_CUSTOM] = "structure",
	};
	return (unsigned)t < RFX_ARRAY_LEN(names) ? names[t] : "?";
}

static void type_desc(const cfg_opt *o, char *out, size_t len)
{
	if (o->type == CFG_ENUM) {
		snprintf(out, len, "one of %s", o->enum_values ? o->enum_values : "");
	} else if ((o->type == CFG_INT || o->type == CFG_SIZE || o->type == CFG_DURATION) &&
		   (o->min || o->max)) {
		char a[32], b[32];
		fmt_bound(o, o->min, a, sizeof(a));
		fmt_bound(o, o->max, b, sizeof(b));
		snprintf(out, len, "%s, %s..%s", type_name(o->type), a, b);
	} else {
		snprintf(out, len, "%s", type_name(o->type));
	}
}

static const char *default_text(const cfg_spec *spec, const cfg_opt *o, bool common, char *buf, size_t len)
{
	if (common && o->offset == offsetof(cfg_common, port)) {
		snprintf(buf, len, "%d", spec->default_port);
		return buf;
	}
	return o->def ? o->def : NULL;
}

static void help_table(const cfg_spec *spec, const cfg_opt *opts, bool common, FILE *out)
{
	char type[160], def[32], env[128];
	for (const cfg_opt *o = opts; o && o->key; o++) {
		const char *d = default_text(spec, o, common, def, sizeof(def));
		type_desc(o, type, sizeof(type));
		env_name(o->key, env, sizeof(env));
		fprintf(out, "  %s (%s; default %s; env %s)\n      %s\n", o->key, type, d ? d : "unset", env,
			o->desc ? o->desc : "");
	}
}

void config_print_help(const cfg_spec *spec, FILE *out)
{
	fprintf(out,
		"Usage: %s [--config FILE] [--check-config] [--help] [--version] [--config-reference]%s\n",
		spec->binary, spec->extra_usage ? " [options]" : "");
	if (spec->summary)
		fprintf(out, "%s\n", spec->summary);
	fprintf(
	    out,
	    "\nOptions:\n"
	    "  --config FILE        configuration file (default /etc/reflex/%s.yaml if it exists;\n"
	    "                       REFLEX_CONFIG names one too)\n"
	    "  --check-config       load the configuration, print the effective values and exit (0: valid)\n"
	    "  --config-reference   print every configuration key as a markdown table\n"
	    "  --help               print this text\n"
	    "  --version            print the version\n",
	    spec->service);
	if (spec->extra_usage)
		fprintf(out, "%s%s", spec->extra_usage,
			spec->extra_usage[strlen(spec->extra_usage) - 1] == '\n' ? "" : "\n");
	fprintf(out,
		"\nConfiguration keys (YAML file; REFLEX_<KEY> in the environment overrides the file):\n");
	help_table(spec, config_common_opts, true, out);
	help_table(spec, spec->opts, false, out);
}

static void md_cell(FILE *out, const char *s)
{
	fputs("| ", out);
	for (; s && *s; s++) {
		if (*s == '|')
			fputs("\\|", out);
		else if (*s == '\n')
			fputc(' ', out);
		else
			fputc(*s, out);
	}
	fputc(' ', out);
}

static void reference_rows(const cfg_spec *spec, const cfg_opt *opts, bool common, FILE *out)
{
	char type[160], def[32], env[128], code[160];
	for (const cfg_opt *o = opts; o && o->key; o++) {
		const char *d = default_text(spec, o, common, def, sizeof(def));
		type_desc(o, type, sizeof(type));
		env_name(o->key, env, sizeof(env));
		snprintf(code, sizeof(code), "`%s`", o->key);
		md_cell(out, code);
		md_cell(out, type);
		if (d)
			snprintf(code, sizeof(code), "`%s`", d);
		md_cell(out, d ? code : "unset");
		snprintf(code, sizeof(code), "`%s`", env);
		md_cell(out, code);
		md_cell(out, o->desc);
		fputs("|\n", out);
	}
}

void config_print_reference(const cfg_spec *spec, FILE *out)
{
	fprintf(out, "| Key | Type | Default | Environment | Description |\n|---|---|---|---|---|\n");
	reference_rows(spec, config_common_opts, true, out);
	reference_rows(spec, spec->opts, false, out);
}

static void dump_str(FILE *out, const char *s)
{
	if (!s) {
		fputs("~", out);
		return;
	}
	bool plain = *s && !strpbrk(s, ":#{}[],&*!|>'\"%@`\\\n\t") && !isspace((unsigned char)s[0]) &&
		     !isspace((unsigned char)s[strlen(s) - 1]) && s[0] != '-' && s[0] != '?';
	if (plain) {
		fputs(s, out);
		return;
	}
	fputc('"', out);
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			fprintf(out, "\\%c", *s);
		else if ((unsigned char)*s < 0x20)
			fprintf(out, "\\x%02x", (unsigned char)*s);
		else
			fputc(*s, out);
	}
	fputc('"', out);
}

static void dump_value(const cfg_opt *o, const void *f, FILE *out)
{
	char buf[64];
	switch (o->type) {
	case CFG_STRING:
	case CFG_ENUM:
		dump_str(out, *(char *const *)f);
		break;
	case CFG_INT:
		fprintf(out, "%lld", *(const long long *)f);
		break;
	case CFG_SIZE:
		fmt_size(*(const long long *)f, buf, sizeof(buf));
		fputs(buf, out);
		break;
	case CFG_BOOL:
		fputs(*(const bool *)f ? "true" : "false", out);
		break;
	case CFG_DURATION:
		fmt_duration(*(const int64_t *)f, buf, sizeof(buf));
		fputs(buf, out);
		break;
	case CFG_STRLIST: {
		const cfg_strlist *l = f;
		fputc('[', out);
		for (size_t i = 0; i < l->n; i++) {
			fputs(i ? ", " : "", out);
			dump_str(out, l->v[i]);
		}
		fputc(']', out);
		break;
	}
	case CFG_STRMAP: {
		const cfg_strmap *m = f;
		fputc('{', out);
		for (size_t i = 0; i < m->n; i++) {
			fputs(i ? ", " : "", out);
			dump_str(out, m->keys[i]);
			fputs(": ", out);
			dump_str(out, m->values[i]);
		}
		fputc('}', out);
		break;
	}
	case CFG_CUSTOM:
		if (o->dump)
			o->dump(f, out);
		else
			fputs("(set)", out);
		break;
	}
}

void config_dump(const cfg_spec *spec, const void *cfg, FILE *out)
{
	for (int t = 0; t < 2; t++) {
		for (const cfg_opt *o = t ? spec->opts : config_common_opts; o && o->key; o++) {
			fprintf(out, "%s: ", o->key);
			dump_value(o, (const char *)cfg + o->offset, out);
			fputc('\n', out);
		}
	}
}

/* ---- command line ---- */

typedef struct cfg_args {
	const char *file;
	bool check, help, version, reference;
	int argc;
	char **argv;
} cfg_args;

/* The remaining arguments live for the process; a global keeps them reachable for leak checkers. */
static char **rest_args;

static bool parse_args(const cfg_spec *spec, int argc, char **argv, cfg_args *a)
{
	free(rest_args);
	a->argv = rest_args = rfx_calloc((size_t)argc + 1, sizeof(char *));
	a->argv[a->argc++] = argc > 0 ? argv[0] : (char *)spec->binary;
	for (int i = 1; i < argc; i++) {
		const char *s = argv[i];
		if (strcmp(s, "--config") == 0) {
			if (i + 1 >= argc) {
				fprintf(stderr, "%s: --config needs a file\n", spec->binary);
				return false;
			}
			a->file = argv[++i];
		} else if (strncmp(s, "--config=", 9) == 0) {
			a->file = s + 9;
		} else if (strcmp(s, "--check-config") == 0) {
			a->check = true;
		} else if (strcmp(s, "--help") == 0 || strcmp(s, "-h") == 0) {
			a->help = true;
		} else if (strcmp(s, "--version") == 0) {
			a->version = true;
		} else if (strcmp(s, "--config-reference") == 0) {
			a->reference = true;
		} else {
			a->argv[a->argc++] = argv[i];
		}
	}
	return true;
}

static rfx_err load_for_args(const cfg_spec *spec, void *cfg, const cfg_args *a, char *err, size_t errlen)
{
	char def[256];
	const char *file = a->file;
	bool optional = false;
	if (!file) {
		file = getenv("REFLEX_CONFIG");
		if (file && !*file)
			file = NULL;
	}
	if (!file) {
		snprintf(def, sizeof(def), "/etc/reflex/%s.yaml", spec->service);
		file = def;
		optional = true;
	}
	return config_load(spec, cfg, file, optional, err, errlen);
}

cfg_action config_init(const cfg_spec *spec, void *cfg, int argc, char **argv, int *rest_argc,
		       char ***rest_argv)
{
	cfg_args a = {0};
	char err[512] = "";
	bool ok = parse_args(spec, argc, argv, &a);
	if (rest_argc)
		*rest_argc = a.argc;
	if (rest_argv)
		*rest_argv = a.argv;
	if (!ok)
		return CFG_EXIT_FAIL;
	if (a.help || a.version || a.reference) {
		if (a.help)
			config_print_help(spec, stdout);
		else if (a.version)
			printf("%s %s\n", spec->binary, REFLEX_VERSION);
		else
			config_print_reference(spec, stdout);
		return CFG_EXIT_OK;
	}
	if (load_for_args(spec, cfg, &a, err, sizeof(err))) {
		fprintf(stderr, "%s: %s\n", spec->binary, err);
		return CFG_EXIT_FAIL;
	}
	if (a.check) {
		printf("config ok\n");
		config_dump(spec, cfg, stdout);
		return CFG_EXIT_OK;
	}
	const cfg_common *c = cfg;
	log_level lvl = LOG_LEVEL_INFO;
	log_level_parse(c->log_level, &lvl);
	log_init(spec->service, lvl);
	return CFG_RUN;
}
