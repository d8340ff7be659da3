/* match.c -- rule match operators, event field references and the shared regex cache. */
#include "match.h"

#include <pthread.h>
#include <regex.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Kept small: a rule holds several of these and 10,000 rules must stay within a few tens of MiB. */
struct matcher {
	uint32_t kind;
	uint32_t n;	 /* ANY: items */
	uint32_t nexact; /* entries of the exact view: 1 for EXACT, n for ANY of exact strings only, else 0 */
	union {
		char *str; /* EXACT, GLOB, REGEX: the pattern as written */
		const char *
		    *exact; /* ANY: views of the items' strings for the index, NULL when not all exact */
	};
	union {
		match_regex *re; /* REGEX */
		matcher **items; /* ANY */
		matcher *inner;	 /* NOT */
	};
};

void match_diag(rule_diag *d, const yt_node *at, const char *path, const char *fmt, ...)
{
	char reason[300];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	d->line = at ? at->line : 0;
	d->col = at ? at->col : 0;
	if (path && *path)
		snprintf(d->msg, sizeof(d->msg), "%s: %s", path, reason);
	else
		snprintf(d->msg, sizeof(d->msg), "%s", reason);
}

/* ---- fields ---- */

static const struct {
	const char *name;
	match_field_kind kind;
} plain_fields[] = {
    {"source", FIELD_SOURCE},	    {"state", FIELD_STATE},   {"title", FIELD_TITLE},
    {"severity", FIELD_SEVERITY},   {"entity", FIELD_ENTITY}, {"event_type", FIELD_EVENT_TYPE},
    {"source_id", FIELD_SOURCE_ID}, {"url", FIELD_URL},	      {"id", FIELD_ID},
};

static bool name_char_ok(unsigned char ch)
{
	return ch > ' ' && ch < 0x7f && ch != '{' && ch != '}' && ch != '"' && ch != '\'' && ch != '\\';
}

static rfx_err field_sub(const char *path, size_t len, size_t plen, match_field_kind kind, match_field *out,
			 char *err, size_t errlen)
{
	const char *name = path + plen;
	size_t n = len - plen;
	if (n == 0 || n > MATCH_FIELD_NAME_MAX) {
		snprintf(err, errlen, "%.*s needs a name of 1 to %d characters", (int)(plen - 1), path,
			 MATCH_FIELD_NAME_MAX);
		return RFX_ERR_INVAL;
	}
	for (size_t i = 0; i < n; i++) {
		if (!name_char_ok((unsigned char)name[i])) {
			snprintf(err, errlen, "invalid character in field name \"%.*s\"",
				 (int)(len > 80 ? 80 : len), path);
			return RFX_ERR_INVAL;
		}
	}
	out->kind = kind;
	out->name = rfx_strndup(name, n);
	return RFX_OK;
}

rfx_err match_field_parse(const char *path, size_t len, match_field *out, char *err, size_t errlen)
{
	memset(out, 0, sizeof(*out));
	for (size_t i = 0; i < RFX_ARRAY_LEN(plain_fields); i++) {
		if (strlen(plain_fields[i].name) == len && memcmp(plain_fields[i].name, path, len) == 0) {
			out->kind = plain_fields[i].kind;
			return RFX_OK;
		}
	}
	if (len >= 5 && memcmp(path, "tags.", 5) == 0)
		return field_sub(path, len, 5, FIELD_TAG, out, err, errlen);
	if (len >= 9 && memcmp(path, "topology.", 9) == 0)
		return field_sub(path, len, 9, FIELD_TOPOLOGY, out, err, errlen);
	snprintf(err, errlen,
		 "unknown field \"%.*s\" (known: source, state, title, severity, entity, event_type, "
		 "source_id, url, "
		 "id, tags.NAME, topology.NAME)",
		 (int)(len > 80 ? 80 : len), path);
	return RFX_ERR_INVAL;
}

void match_field_clear(match_field *f)
{
	RFX_FREE(f->name);
}

static const char *topo_value(const match_field *f, const eval_ctx *c, char *buf, size_t buflen,
			      bool *present)
{
	const char *v = NULL;
	if (c->topo_field && buf && buflen) {
		buf[0] = '\0';
		v = c->topo_field(c->topo_ud, c->ev, f->name, buf, buflen);
	}
	*present = v && *v;
	return v ? v : "";
}

const char *match_field_value(const match_field *f, const eval_ctx *c, char *buf, size_t buflen,
			      bool *present)
{
	const event *e = c->ev;
	const char *v = NULL;
	*present = true;
	switch (f->kind) {
	case FIELD_SOURCE:
		return event_source_name(e->source);
	case FIELD_STATE:
		return event_state_name(e->state);
	case FIELD_TITLE:
		return e->title;
	case FIELD_SEVERITY:
		return e->severity;
	case FIELD_ENTITY:
		return e->entity;
	case FIELD_EVENT_TYPE:
		return e->event_type;
	case FIELD_SOURCE_ID:
		return e->source_id;
	case FIELD_URL:
		v = e->url;
		break;
	case FIELD_ID:
		return e->id;
	case FIELD_TAG:
		v = event_tag_get(e, f->name);
		break;
	case FIELD_TOPOLOGY:
		return topo_value(f, c, buf, buflen, present);
	}
	if (!v) {
		*present = false;
		return "";
	}
	return v;
}

void match_field_path(const match_field *f, char *out, size_t outlen)
{
	if (f->kind == FIELD_TAG || f->kind == FIELD_TOPOLOGY) {
		snprintf(out, outlen, "%s.%s", f->kind == FIELD_TAG ? "tags" : "topology", f->name);
		return;
	}
	for (size_t i = 0; i < RFX_ARRAY_LEN(plain_fields); i++)
		if (plain_fields[i].kind == f->kind)
			snprintf(out, outlen, "%s", plain_fields[i].name);
}

/* ---- numbers ---- */

static const char *skip_digits(const char *p, bool *any)
{
	while (*p >= '0' && *p <= '9') {
		p++;
		*any = true;
	}
	return p;
}

bool match_parse_number(const char *s, double *out)
{
	const char *p = s;
	bool digits = false;
	if (*p == '-' || *p == '+')
		p++;
	p = skip_digits(p, &digits);
	if (*p == '.')
		p = skip_digits(p + 1, &digits);
	if (!digits)
		return false;
	if (*p == 'e' || *p == 'E') {
		bool exp = false;
		p++;
		if (*p == '-' || *p == '+')
			p++;
		p = skip_digits(p, &exp);
		if (!exp)
			return false;
	}
	if (*p || p - s > 64)
		return false;
	*out = strtod(s, NULL);
	return true;
}

/* ---- regex cache: identical patterns share one compiled regex (glibc's regexec is thread-safe) ---- */

/* A pattern without ERE metacharacters is a plain substring search: same answer as regexec, no compiled
 * automaton (2-5 KiB each in glibc), faster. */
struct match_regex {
	regex_t re;
	char *pattern;
	const char *literal; /* into pattern, when it has no metacharacters; NULL otherwise */
	bool icase;
	size_t refs;
	match_regex *next;
};

#define REGEX_BUCKETS 1024
static pthread_mutex_t regex_lock = PTHREAD_MUTEX_INITIALIZER;
static match_regex *regex_table[REGEX_BUCKETS];

static size_t regex_bucket(const char *s)
{
	uint64_t h = 1469598103934665603ULL;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return (size_t)(h % REGEX_BUCKETS);
}

/* glibc's regcomp copies the tree of a repeated element once per repetition, so nested or stacked repetitions
 * ("(a{100}){100}", "a++++++") grow exponentially in memory. Patterns are checked before compiling: no
 * repetition right after another (undefined in POSIX ERE anyway) and a bounded expanded size. */
#define REGEX_MAX_LEN	 1024
#define REGEX_MAX_WEIGHT 4096.0
#define REGEX_MAX_GROUPS 32

typedef struct re_walk {
	double sum[REGEX_MAX_GROUPS + 1]; /* weight of each open group so far */
	double last;			  /* weight of the element a repetition would apply to */
	int level;
	bool after_rep;
} re_walk;

/* Index just past the bracket expression starting at p[i] == '[', or 0 when unterminated. */
static size_t bracket_end(const char *p, size_t i)
{
	i++;
	if (p[i] == '^')
		i++;
	if (p[i] == ']')
		i++;
	while (p[i] && p[i] != ']') {
		if (p[i] == '[' && (p[i + 1] == ':' || p[i + 1] == '=' || p[i + 1] == '.')) {
			char close[3] = {p[i + 1], ']', '\0'};
			const char *e = strstr(p + i + 2, close);
			if (!e)
				return 0;
			i = (size_t)(e - p) + 2;
			continue;
		}
		i++;
	}
	return p[i] ? i + 1 : 0;
}

/* Reads "{m}", "{m,}" or "{m,n}" at p[i]; the largest count it allows (m + 1 when open), 0 when not a bound.
 */
static size_t repeat_bound(const char *p, size_t *i)
{
	char *end;
	size_t j = *i + 1;
	if (p[j] < '0' || p[j] > '9')
		return 0;
	unsigned long m = strtoul(p + j, &end, 10), n = m + 1;
	if (*end == ',' && end[1] >= '0' && end[1] <= '9')
		n = strtoul(end + 1, &end, 10);
	else if (*end == ',')
		end++;
	else
		n = m;
	if (*end != '}')
		return 0;
	*i = (size_t)(end - p);
	return (m > n ? m : n) ? (m > n ? m : n) : 1;
}

static rfx_err walk_repeat(re_walk *w, double factor, char *err, size_t errlen)
{
	if (w->after_rep) {
		snprintf(err, errlen, "a repetition operator follows another (write (x+)+ as x+)");
		return RFX_ERR_INVAL;
	}
	w->sum[w->level] += w->last * (factor - 1);
	w->last *= factor;
	w->after_rep = true;
	return RFX_OK;
}

static void walk_atom(re_walk *w, double weight)
{
	w->sum[w->level] += weight;
	w->last = weight;
	w->after_rep = false;
}

static rfx_err walk_group(re_walk *w, char ch, char *err, size_t errlen)
{
	if (ch == '(') {
		if (w->level == REGEX_MAX_GROUPS) {
			snprintf(err, errlen, "regex nests groups deeper than %d levels", REGEX_MAX_GROUPS);
			return RFX_ERR_INVAL;
		}
		w->sum[++w->level] = 0;
		w->last = 0;
		w->after_rep = false;
		return RFX_OK;
	}
	if (w->level == 0) { /* an unmatched ) is an ordinary character */
		walk_atom(w, 1);
		return RFX_OK;
	}
	double g = w->sum[w->level--];
	walk_atom(w, g > 1 ? g : 1);
	return RFX_OK;
}

static rfx_err walk_char(re_walk *w, const char *p, size_t *i, char *err, size_t errlen)
{
	size_t bound, end;
	switch (p[*i]) {
	case '(':
	case ')':
		return walk_group(w, p[*i], err, errlen);
	case '|':
		w->last = 0;
		w->after_rep = false;
		return RFX_OK;
	case '*':
	case '+':
	case '?':
		return walk_repeat(w, 2, err, errlen);
	case '{':
		bound = repeat_bound(p, i);
		if (bound)
			return walk_repeat(w, (double)bound, err, errlen);
		walk_atom(w, 1);
		return RFX_OK;
	case '[':
		end = bracket_end(p, *i);
		*i = end ? end - 1 : strlen(p) - 1;
		walk_atom(w, 1);
		return RFX_OK;
	case '\\':
		*i += p[*i + 1] ? 1 : 0;
		walk_atom(w, 1);
		return RFX_OK;
	default:
		walk_atom(w, 1);
		return RFX_OK;
	}
}

static rfx_err regex_check(const char *p, char *err, size_t errlen)
{
	re_walk w = {0};
	if (strlen(p) > REGEX_MAX_LEN) {
		snprintf(err, errlen, "regex longer than %d bytes", REGEX_MAX_LEN);
		return RFX_ERR_INVAL;
	}
	for (size_t i = 0; p[i]; i++) {
		rfx_err rc = walk_char(&w, p, &i, err, errlen);
		if (rc)
			return rc;
	}
	for (; w.level > 0; w.level--) /* unclosed groups: regcomp reports them; count their weight anyway */
		w.sum[w.level - 1] += w.sum[w.level];
	if (w.sum[0] > REGEX_MAX_WEIGHT) {
		snprintf(err, errlen, "regex too complex: its repetitions expand to more than %.0f elements",
			 REGEX_MAX_WEIGHT);
		return RFX_ERR_INVAL;
	}
	return RFX_OK;
}

static rfx_err regex_new(const char *pattern, match_regex **out, char *err, size_t errlen)
{
	int flags = REG_EXTENDED | REG_NOSUB;
	const char *p = pattern;
	if (strncmp(p, "(?i)", 4) == 0) {
		flags |= REG_ICASE;
		p += 4;
	}
	match_regex *re = rfx_calloc(1, sizeof(*re));
	if (!p[strcspn(p, ".[]()*+?{}|^$\\")]) {
		re->pattern = rfx_strdup(pattern);
		re->literal = re->pattern + (p - pattern);
		re->icase = flags & REG_ICASE;
		re->refs = 1;
		*out = re;
		return RFX_OK;
	}
	char why[200];
	if (regex_check(p, why, sizeof(why))) {
		snprintf(err, errlen, "invalid regex \"%.100s\": %s", pattern, why);
		free(re);
		return RFX_ERR_INVAL;
	}
	int rc = regcomp(&re->re, p, flags);
	if (rc) {
		char msg[160];
		regerror(rc, &re->re, msg, sizeof(msg));
		snprintf(err, errlen, "invalid regex \"%.100s\": %s", pattern, msg);
		free(re);
		return RFX_ERR_INVAL;
	}
	re->pattern = rfx_strdup(pattern);
	re->refs = 1;
	*out = re;
	return RFX_OK;
}

rfx_err match_regex_compile(const char *pattern, match_regex **out, char *err, size_t errlen)
{
	rfx_err rc = RFX_OK;
	size_t b = regex_bucket(pattern);
	pthread_mutex_lock(&regex_lock);
	for (match_regex *re = regex_table[b]; re; re = re->next) {
		if (strcmp(re->pattern, pattern) == 0) {
			re->refs++;
			*out = re;
			goto out;
		}
	}
	rc = regex_new(pattern, out, err, errlen);
	if (rc)
		goto out;
	(*out)->next = regex_table[b];
	regex_table[b] = *out;
out:
	pthread_mutex_unlock(&regex_lock);
	return rc;
}

bool match_regex_test(const match_regex *re, const char *s)
{
	if (re->literal)
		return (re->icase ? strcasestr(s, re->literal) : strstr(s, re->literal)) != NULL;
	return regexec(&re->re, s, 0, NULL, 0) == 0;
}

void match_regex_free(match_regex *re)
{
	if (!re)
		return;
	pthread_mutex_lock(&regex_lock);
	bool last = --re->refs == 0;
	if (last) {
		match_regex **pp = &regex_table[regex_bucket(re->pattern)];
		while (*pp != re)
			pp = &(*pp)->next;
		*pp = re->next;
	}
	pthread_mutex_unlock(&regex_lock);
	if (!last)
		return;
	if (!re->literal)
		regfree(&re->re);
	free(re->pattern);
	free(re);
}

/* ---- matchers ---- */

static const char *const shape_msg = "expected a string, a list or a mapping with glob/regex/not";

matcher *matcher_exact(const char *s)
{
	matcher *m = rfx_calloc(1, sizeof(*m));
	m->kind = MATCH_EXACT;
	m->str = rfx_strdup(s);
	m->nexact = 1;
	return m;
}

rfx_err matcher_regex(const char *pattern, matcher **out, char *err, size_t errlen)
{
	match_regex *re;
	rfx_err rc = match_regex_compile(pattern, &re, err, errlen);
	if (rc)
		return rc;
	matcher *m = rfx_calloc(1, sizeof(*m));
	m->kind = MATCH_REGEX;
	m->str = rfx_strdup(pattern);
	m->re = re;
	*out = m;
	return RFX_OK;
}

void matcher_free(matcher *m)
{
	if (!m)
		return;
	switch (m->kind) {
	case MATCH_ANY:
		for (size_t i = 0; i < m->n; i++)
			matcher_free(m->items[i]);
		free(m->items);
		free(m->exact);
		break;
	case MATCH_NOT:
		matcher_free(m->inner);
		break;
	case MATCH_REGEX:
		match_regex_free(m->re);
		free(m->str);
		break;
	default:
		free(m->str);
		break;
	}
	free(m);
}

static rfx_err parse_node(const yt_node *n, const char *path, int depth, matcher **out, rule_diag *d);

static rfx_err parse_scalar(const yt_node *n, const char *path, matcher **out, rule_diag *d)
{
	if (n->null) {
		match_diag(d, n, path, "%s", shape_msg);
		return RFX_ERR_INVAL;
	}
	*out = matcher_exact(n->scalar);
	return RFX_OK;
}

/* A list whose items are all exact strings keeps a flat view of them for the index. */
static void collect_exact(matcher *m)
{
	for (size_t i = 0; i < m->n; i++)
		if (m->items[i]->kind != MATCH_EXACT)
			return;
	m->exact = rfx_malloc(m->n * sizeof(*m->exact));
	for (size_t i = 0; i < m->n; i++)
		m->exact[i] = m->items[i]->str;
	m->nexact = m->n;
}

static rfx_err parse_list(const yt_node *n, const char *path, int depth, matcher **out, rule_diag *d)
{
	rfx_err rc = RFX_OK;
	if (n->n == 0 || n->n > MATCH_MAX_ITEMS) {
		match_diag(d, n, path, "a list needs 1 to %d items", MATCH_MAX_ITEMS);
		return RFX_ERR_INVAL;
	}
	matcher *m = rfx_calloc(1, sizeof(*m));
	m->kind = MATCH_ANY;
	m->items = rfx_calloc(n->n, sizeof(*m->items));
	for (size_t i = 0; i < n->n; i++) {
		char sub[160];
		snprintf(sub, sizeof(sub), "%s[%zu]", path, i);
		rc = parse_node(n->items[i], sub, depth + 1, &m->items[m->n], d);
		if (rc)
			goto out;
		m->n++;
	}
	collect_exact(m);
	*out = m;
	m = NULL;
out:
	matcher_free(m);
	return rc;
}

static rfx_err parse_pattern(const yt_node *v, const char *path, const char *key, matcher **out, rule_diag *d)
{
	char sub[160];
	snprintf(sub, sizeof(sub), "%s.%s", path, key);
	if (v->kind != YT_SCALAR || v->null || !*v->scalar) {
		match_diag(d, v, sub, "expected a non-empty string");
		return RFX_ERR_INVAL;
	}
	if (strcmp(key, "regex") == 0) {
		char err[300];
		if (matcher_regex(v->scalar, out, err, sizeof(err))) {
			match_diag(d, v, sub, "%s", err);
			return RFX_ERR_INVAL;
		}
		return RFX_OK;
	}
	matcher *m = rfx_calloc(1, sizeof(*m));
	m->kind = MATCH_GLOB;
	m->str = rfx_strdup(v->scalar);
	*out = m;
	return RFX_OK;
}

static rfx_err parse_map(const yt_node *n, const char *path, int depth, matcher **out, rule_diag *d)
{
	if (n->n != 1) {
		match_diag(d, n, path, "%s", shape_msg);
		return RFX_ERR_INVAL;
	}
	const char *key = n->pairs[0].key->scalar;
	const yt_node *v = n->pairs[0].value;
	if (strcmp(key, "glob") == 0 || strcmp(key, "regex") == 0)
		return parse_pattern(v, path, key, out, d);
	if (strcmp(key, "not") != 0) {
		match_diag(d, n->pairs[0].key, path, "unknown key \"%.100s\": %s", key, shape_msg);
		return RFX_ERR_INVAL;
	}
	char sub[160];
	snprintf(sub, sizeof(sub), "%s.not", path);
	matcher *inner;
	rfx_err rc = parse_node(v, sub, depth + 1, &inner, d);
	if (rc)
		return rc;
	matcher *m = rfx_calloc(1, sizeof(*m));
	m->kind = MATCH_NOT;
	m->inner = inner;
	*out = m;
	return RFX_OK;
}

static rfx_err parse_node(const yt_node *n, const char *path, int depth, matcher **out, rule_diag *d)
{
	*out = NULL;
	if (depth > MATCH_MAX_DEPTH) {
		match_diag(d, n, path, "matchers nested deeper than %d levels", MATCH_MAX_DEPTH);
		return RFX_ERR_INVAL;
	}
	switch (n->kind) {
	case YT_SCALAR:
		return parse_scalar(n, path, out, d);
	case YT_SEQ:
		return parse_list(n, path, depth, out, d);
	case YT_MAP:
		return parse_map(n, path, depth, out, d);
	}
	return RFX_ERR_INVAL;
}

rfx_err matcher_parse(const yt_node *n, const char *path, matcher **out, rule_diag *d)
{
	return parse_node(n, path, 0, out, d);
}

bool matcher_test(const matcher *m, const char *value)
{
	switch (m->kind) {
	case MATCH_EXACT:
		return strcmp(m->str, value) == 0;
	case MATCH_ANY:
		for (size_t i = 0; i < m->n; i++)
			if (matcher_test(m->items[i], value))
				return true;
		return false;
	case MATCH_GLOB:
		return rfx_glob(m->str, value);
	case MATCH_REGEX:
		return match_regex_test(m->re, value);
	case MATCH_NOT:
		return !matcher_test(m->inner, value);
	}
	return false;
}

matcher_kind matcher_get_kind(const matcher *m)
{
	return m->kind;
}

bool matcher_exact_values(const matcher *m, const char *const **values, size_t *n)
{
	if (!m->nexact)
		return false;
	*values = m->kind == MATCH_EXACT ? (const char *const *)&m->str : m->exact;
	*n = m->nexact;
	return true;
}

static size_t describe(const matcher *m, char *out, size_t outlen);

static size_t put(char *out, size_t outlen, size_t at, const char *fmt, const char *s)
{
	if (at >= outlen)
		return at;
	int w = snprintf(out + at, outlen - at, fmt, s);
	return at + (w > 0 ? (size_t)w : 0);
}

static size_t describe_list(const matcher *m, char *out, size_t outlen)
{
	size_t at = put(out, outlen, 0, "%s", "[");
	for (size_t i = 0; i < m->n; i++) {
		if (i)
			at = put(out, outlen, at, "%s", ", ");
		if (at < outlen)
			at += describe(m->items[i], out + at, outlen - at);
	}
	return put(out, outlen, at, "%s", "]");
}

static size_t describe(const matcher *m, char *out, size_t outlen)
{
	size_t at = 0;
	switch (m->kind) {
	case MATCH_EXACT:
		return put(out, outlen, 0, "%s", m->str);
	case MATCH_ANY:
		return describe_list(m, out, outlen);
	case MATCH_GLOB:
		return put(out, outlen, 0, "{glob: %s}", m->str);
	case MATCH_REGEX:
		return put(out, outlen, 0, "{regex: %s}", m->str);
	case MATCH_NOT:
		at = put(out, outlen, 0, "%s", "{not: ");
		if (at < outlen)
			at += describe(m->inner, out + at, outlen - at);
		return put(out, outlen, at, "%s", "}");
	}
	return 0;
}

void matcher_describe(const matcher *m, char *out, size_t outlen)
{
	if (!outlen)
		return;
	out[0] = '\0';
	describe(m, out, outlen);
}
