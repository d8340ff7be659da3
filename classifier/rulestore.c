/* rulestore.c -- the rules directory: change detection per file, last-good fallback, duplicate-name
 * resolution across files, and the atomically swapped ruleset snapshot. */
#include "rulestore.h"

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

/* A file is re-read when its mtime is this close to the previous scan: coarse timestamps can hide a rewrite.
 */
#define RECENT_MTIME_MS 2000

typedef struct rs_file {
	char *name; /* as listed in the directory */
	char *path; /* dir/name, the name used in rules and errors */
	struct stat st;
	uint64_t hash; /* of the content last parsed */
	bool have_hash;
	bool parsed_ok; /* the latest content is valid */
	rule **parsed;	/* its rules, when parsed_ok */
	size_t nparsed;
	rules_errors errs; /* its problems otherwise */
	rule **good;	   /* the last version accepted into a snapshot */
	size_t ngood;
} rs_file;

typedef struct rs_entry {
	char *name;
	struct stat st;
} rs_entry;

struct rulestore {
	char *dir;
	pthread_mutex_t reload_mu; /* serializes reloads; guards files, nfiles, dir_errs */
	pthread_mutex_t snap_mu;   /* guards current, held only to swap or take a reference */
	ruleset *current;
	rs_file **files; /* sorted by name */
	size_t nfiles;
	rules_errors dir_errs;
	int64_t last_scan_ms;
	size_t failed; /* files with a problem in the last build */
	bool loaded;
};

rulestore *rulestore_new(const char *dir)
{
	rulestore *s = rfx_calloc(1, sizeof(*s));
	s->dir = rfx_strdup(dir);
	pthread_mutex_init(&s->reload_mu, NULL);
	pthread_mutex_init(&s->snap_mu, NULL);
	s->current = ruleset_new(NULL, 0, NULL);
	return s;
}

static void file_free(rs_file *f)
{
	if (!f)
		return;
	rules_release_all(f->parsed, f->nparsed);
	rules_release_all(f->good, f->ngood);
	rules_errors_clear(&f->errs);
	free(f->name);
	free(f->path);
	free(f);
}

void rulestore_free(rulestore *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->nfiles; i++)
		file_free(s->files[i]);
	free(s->files);
	rules_errors_clear(&s->dir_errs);
	ruleset_release(s->current);
	pthread_mutex_destroy(&s->reload_mu);
	pthread_mutex_destroy(&s->snap_mu);
	free(s->dir);
	free(s);
}

const char *rulestore_dir(const rulestore *s)
{
	return s->dir;
}

ruleset *rulestore_acquire(rulestore *s)
{
	pthread_mutex_lock(&s->snap_mu);
	ruleset *rs = ruleset_ref(s->current);
	pthread_mutex_unlock(&s->snap_mu);
	return rs;
}

/* ---- scanning ---- */

static bool rule_file_name(const char *name)
{
	size_t n = strlen(name);
	if (name[0] == '.')
		return false;
	return (n > 5 && strcmp(name + n - 5, ".yaml") == 0) || (n > 4 && strcmp(name + n - 4, ".yml") == 0);
}

static char *join(const char *dir, const char *name)
{
	size_t n = strlen(dir);
	return rfx_asprintf("%s%s%s", dir, n && dir[n - 1] == '/' ? "" : "/", name);
}

static int cmp_entry(const void *a, const void *b)
{
	return strcmp(((const rs_entry *)a)->name, ((const rs_entry *)b)->name);
}

static void dir_error(rulestore *s, const char *fmt, const char *detail)
{
	char msg[300];
	snprintf(msg, sizeof(msg), fmt, detail);
	rules_errors_add(&s->dir_errs, s->dir, 0, 0, msg);
}

/* Lists the rule files of dir, sorted by name. */
static rfx_err scan_dir(rulestore *s, rs_entry **out, size_t *n)
{
	size_t cap = 0;
	*out = NULL;
	*n = 0;
	DIR *d = opendir(s->dir);
	if (!d) {
		dir_error(s, "cannot read the rules directory: %s", strerror(errno));
		return RFX_ERR_IO;
	}
	struct dirent *de;
	while ((de = readdir(d))) {
		struct stat st;
		if (!rule_file_name(de->d_name))
			continue;
		char *path = join(s->dir, de->d_name);
		bool ok = stat(path, &st) == 0 && S_ISREG(st.st_mode);
		free(path);
		if (!ok)
			continue;
		if (*n == RULESTORE_MAX_FILES) {
			dir_error(s, "more than %s rule files; the rest are ignored", "20000");
			break;
		}
		if (*n == cap) {
			cap = cap ? cap * 2 : 16;
			*out = rfx_realloc(*out, cap * sizeof(**out));
		}
		(*out)[(*n)++] = (rs_entry){.name = rfx_strdup(de->d_name), .st = st};
	}
	closedir(d);
	if (*n)
		qsort(*out, *n, sizeof(**out), cmp_entry);
	return RFX_OK;
}

/* ---- per-file refresh ---- */

static bool same_stat(const struct stat *a, const struct stat *b)
{
	return a->st_dev == b->st_dev && a->st_ino == b->st_ino && a->st_size == b->st_size &&
	       a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec;
}

static uint64_t hash_bytes(const char *p, size_t n)
{
	uint64_t h = 1469598103934665603ULL;
	for (size_t i = 0; i < n; i++)
		h = (h ^ (unsigned char)p[i]) * 1099511628211ULL;
	return h;
}

static void file_reset(rs_file *f)
{
	rules_release_all(f->parsed, f->nparsed);
	f->parsed = NULL;
	f->nparsed = 0;
	f->parsed_ok = false;
	rules_errors_clear(&f->errs);
}

/* A read error changes nothing when it is the same error as last time. */
static bool file_read_error(rs_file *f, rfx_err rc)
{
	char msg[200];
	if (rc == RFX_ERR_LIMIT)
		snprintf(msg, sizeof(msg), "file larger than %u bytes", RULES_MAX_FILE);
	else
		snprintf(msg, sizeof(msg), "cannot read the file (%s)", strerror(errno));
	if (!f->parsed_ok && f->errs.n == 1 && f->errs.v[0].line == 0 &&
	    strcmp(f->errs.v[0].message, msg) == 0)
		return false;
	file_reset(f);
	f->have_hash = false;
	rules_errors_add(&f->errs, f->path, 0, 0, msg);
	return true;
}

/* Brings f up to date with the file on disk; true when its content (or read error) changed. */
static bool file_refresh(rulestore *s, rs_file *f, const struct stat *st, bool fresh)
{
	int64_t mtime_ms = (int64_t)st->st_mtim.tv_sec * 1000 + st->st_mtim.tv_nsec / 1000000;
	if (!fresh && same_stat(&f->st, st) && mtime_ms < s->last_scan_ms - RECENT_MTIME_MS)
		return false;
	f->st = *st;
	char *text = NULL;
	size_t len = 0;
	rfx_err rc = rfx_read_file(f->path, RULES_MAX_FILE, &text, &len);
	if (rc)
		return file_read_error(f, rc);
	uint64_t h = hash_bytes(text, len);
	bool changed = !f->have_hash || h != f->hash;
	if (changed) {
		file_reset(f);
		f->hash = h;
		f->have_hash = true;
		f->parsed_ok = rules_parse(f->path, text, len, &f->parsed, &f->nparsed, &f->errs) == RFX_OK;
	}
	free(text);
	return changed;
}

static rs_file *file_new(const rulestore *s, const char *name)
{
	rs_file *f = rfx_calloc(1, sizeof(*f));
	f->name = rfx_strdup(name);
	f->path = join(s->dir, name);
	return f;
}

/* Matches the directory listing against the known files; returns how many files were (re)parsed. */
static size_t sync_files(rulestore *s, rs_entry *ents, size_t n, size_t *removed)
{
	rs_file **files = rfx_calloc(n ? n : 1, sizeof(*files));
	size_t loaded = 0, old = 0;
	*removed = 0;
	for (size_t i = 0; i < n; i++) {
		while (old < s->nfiles && strcmp(s->files[old]->name, ents[i].name) < 0) {
			file_free(s->files[old++]);
			(*removed)++;
		}
		bool fresh = !(old < s->nfiles && strcmp(s->files[old]->name, ents[i].name) == 0);
		files[i] = fresh ? file_new(s, ents[i].name) : s->files[old++];
		loaded += file_refresh(s, files[i], &ents[i].st, fresh);
	}
	for (; old < s->nfiles; old++, (*removed)++)
		file_free(s->files[old]);
	free(s->files);
	s->files = files;
	s->nfiles = n;
	return loaded;
}

/* ---- building a snapshot ---- */

/* Names taken by earlier files: a hash set of rule pointers keyed by name. */
typedef struct name_set {
	const rule **slots;
	size_t mask;
} name_set;

static void names_init(name_set *ns, size_t n)
{
	size_t cap = 16;
	while (cap < n * 2)
		cap *= 2;
	ns->slots = rfx_calloc(cap, sizeof(*ns->slots));
	ns->mask = cap - 1;
}

static const rule **names_slot(const name_set *ns, const char *name)
{
	for (size_t i = hash_bytes(name, strlen(name)) & ns->mask;; i = (i + 1) & ns->mask)
		if (!ns->slots[i] || strcmp(ns->slots[i]->name, name) == 0)
			return &ns->slots[i];
}

/* Adds an error (when errs is not NULL) for each rule of v whose name an earlier file took; true when there
 * is none. */
static bool names_free(const name_set *ns, rule **v, size_t n, rules_errors *errs)
{
	bool ok = true;
	for (size_t i = 0; i < n; i++) {
		const rule *prev = *names_slot(ns, v[i]->name);
		if (!prev)
			continue;
		ok = false;
		if (!errs)
			continue;
		char msg[400];
		snprintf(msg, sizeof(msg), "name: duplicate rule name \"%s\" (already defined at %s:%d)",
			 v[i]->name, prev->file, prev->name_line);
		rules_errors_add(errs, v[i]->file, v[i]->name_line, v[i]->name_col, msg);
	}
	return ok;
}

typedef struct rule_vec {
	rule **v;
	size_t n, cap;
} rule_vec;

static void take(name_set *ns, rule_vec *out, rule **v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		*names_slot(ns, v[i]->name) = v[i];
		if (out->n == out->cap) {
			out->cap = out->cap ? out->cap * 2 : 64;
			out->v = rfx_realloc(out->v, out->cap * sizeof(*out->v));
		}
		out->v[out->n++] = v[i];
	}
}

static void accept_parsed(rs_file *f)
{
	if (f->ngood == f->nparsed && (f->ngood == 0 || f->good[0] == f->parsed[0]))
		return;
	rules_release_all(f->good, f->ngood);
	f->good = rfx_calloc(f->nparsed ? f->nparsed : 1, sizeof(*f->good));
	for (size_t i = 0; i < f->nparsed; i++)
		f->good[i] = rule_ref(f->parsed[i]);
	f->ngood = f->nparsed;
}

/* Picks the version of f that goes into the snapshot: its current content when valid and free of name
 * clashes, else its last good version when that is clash-free. Returns true when f has a problem. */
static bool choose(rs_file *f, name_set *ns, rule_vec *out, rules_errors *errs)
{
	bool same = f->ngood == f->nparsed && (f->ngood == 0 || f->good[0] == f->parsed[0]);
	if (f->parsed_ok && names_free(ns, f->parsed, f->nparsed, errs)) {
		accept_parsed(f);
		take(ns, out, f->good, f->ngood);
		return false;
	}
	if (!f->parsed_ok)
		rules_errors_append(errs, &f->errs);
	if (f->ngood && !(f->parsed_ok && same) &&
	    names_free(ns, f->good, f->ngood, f->parsed_ok ? NULL : errs))
		take(ns, out, f->good, f->ngood);
	return true;
}

static void build(rulestore *s)
{
	rules_errors errs = {0};
	rule_vec out = {0};
	name_set ns;
	size_t total = 0;
	for (size_t i = 0; i < s->nfiles; i++)
		total += s->files[i]->nparsed + s->files[i]->ngood;
	names_init(&ns, total);
	rules_errors_append(&errs, &s->dir_errs);
	s->failed = 0;
	for (size_t i = 0; i < s->nfiles; i++)
		s->failed += choose(s->files[i], &ns, &out, &errs);
	ruleset *rs = ruleset_new(out.v, out.n, &errs);
	pthread_mutex_lock(&s->snap_mu);
	ruleset *old = s->current;
	s->current = rs;
	pthread_mutex_unlock(&s->snap_mu);
	ruleset_release(old);
	free(out.v);
	free(ns.slots);
	rules_errors_clear(&errs);
}

static bool errors_equal(const rules_errors *a, const rules_errors *b)
{
	if (a->n != b->n)
		return false;
	for (size_t i = 0; i < a->n; i++)
		if (strcmp(a->v[i].message, b->v[i].message) != 0)
			return false;
	return true;
}

rfx_err rulestore_reload(rulestore *s, rulestore_report *rep)
{
	rulestore_report local = {0};
	rs_entry *ents = NULL;
	size_t n = 0;
	rep = rep ? rep : &local;
	memset(rep, 0, sizeof(*rep));
	pthread_mutex_lock(&s->reload_mu);
	rules_errors before = s->dir_errs;
	s->dir_errs = (rules_errors){0};
	int64_t scan_ms = rfx_now_ms();
	rfx_err rc = scan_dir(s, &ents, &n);
	if (!rc)
		rep->files_loaded = sync_files(s, ents, n, &rep->files_removed);
	s->last_scan_ms = scan_ms;
	bool changed =
	    !s->loaded || rep->files_loaded || rep->files_removed || !errors_equal(&before, &s->dir_errs);
	if (changed)
		build(s);
	rep->files_failed = s->failed;
	s->loaded = true;
	rules_errors_clear(&before);
	rep->files = s->nfiles;
	rep->changed = changed;
	ruleset *rs = rulestore_acquire(s);
	rep->rules = ruleset_count(rs);
	rep->errors = ruleset_errors(rs)->n;
	ruleset_release(rs);
	pthread_mutex_unlock(&s->reload_mu);
	for (size_t i = 0; i < n; i++)
		free(ents[i].name);
	free(ents);
	return rc;
}

/* ---- JSON and checking ---- */

cJSON *rules_errors_to_json(const rules_errors *e)
{
	cJSON *arr = cJSON_CreateArray();
	for (size_t i = 0; i < e->n; i++) {
		cJSON *j = cJSON_CreateObject();
		cJSON_AddStringToObject(j, "file", e->v[i].file);
		cJSON_AddNumberToObject(j, "line", e->v[i].line);
		cJSON_AddNumberToObject(j, "column", e->v[i].col);
		cJSON_AddStringToObject(j, "message", e->v[i].message);
		cJSON_AddItemToArray(arr, j);
	}
	return arr;
}

cJSON *rulestore_to_json(rulestore *s)
{
	char ts[32];
	ruleset *rs = rulestore_acquire(s);
	cJSON *j = cJSON_CreateObject();
	cJSON_AddStringToObject(j, "dir", s->dir);
	rfx_iso8601(ruleset_loaded_at_ms(rs), ts);
	cJSON_AddStringToObject(j, "loaded_at", ts);
	cJSON *rules = cJSON_AddArrayToObject(j, "rules");
	for (size_t i = 0; i < ruleset_count(rs); i++)
		cJSON_AddItemToArray(rules, rule_to_json(ruleset_get(rs, i)));
	cJSON_AddItemToObject(j, "errors", rules_errors_to_json(ruleset_errors(rs)));
	ruleset_release(rs);
	return j;
}

int rules_check_dir(const char *dir, FILE *out)
{
	rulestore *s = rulestore_new(dir);
	rulestore_report rep;
	rulestore_reload(s, &rep);
	ruleset *rs = rulestore_acquire(s);
	const rules_errors *errs = ruleset_errors(rs);
	for (size_t i = 0; i < errs->n; i++) {
		char line[1024];
		rules_error_format(&errs->v[i], line, sizeof(line));
		fprintf(out, "%s\n", line);
	}
	if (!errs->n)
		fprintf(out, "%zu rules OK in %zu files\n", ruleset_count(rs), rep.files);
	int n = (int)errs->n;
	ruleset_release(rs);
	rulestore_free(s);
	return n;
}
