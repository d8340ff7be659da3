/* rulestore.c -- unit tests for the rules directory: reloads, last good version, deleted files, duplicate
 * names across files, change detection, concurrent readers, JSON and `rules check` output. */
#include "engine_fixture.h"

#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rulestore.h"

typedef struct fixture {
	char dir[64];
} fixture;

static int setup(void **state)
{
	fixture *f = calloc(1, sizeof(*f));
	strcpy(f->dir, "/tmp/reflex-rulestore-XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	fixture *f = *state;
	DIR *d = opendir(f->dir);
	struct dirent *de;
	while (d && (de = readdir(d))) {
		char p[512];
		snprintf(p, sizeof(p), "%s/%s", f->dir, de->d_name);
		if (de->d_name[0] != '.' || strlen(de->d_name) > 2)
			if (unlink(p) != 0)
				rmdir(p);
	}
	if (d)
		closedir(d);
	rmdir(f->dir);
	free(f);
	return 0;
}

static void put(const fixture *f, const char *name, const char *text)
{
	char p[512], tmp[520];
	snprintf(p, sizeof(p), "%s/%s", f->dir, name);
	snprintf(tmp, sizeof(tmp), "%s/.tmp", f->dir);
	FILE *fp = fopen(tmp, "w");
	assert_non_null(fp);
	fputs(text, fp);
	fclose(fp);
	assert_int_equal(rename(tmp, p), 0);
}

static void del(const fixture *f, const char *name)
{
	char p[512];
	snprintf(p, sizeof(p), "%s/%s", f->dir, name);
	assert_int_equal(unlink(p), 0);
}

static rulestore_report reload(rulestore *s)
{
	rulestore_report rep;
	assert_int_equal(rulestore_reload(s, &rep), RFX_OK);
	return rep;
}

/* Names of the current snapshot in priority order, comma separated. */
static const char *current_names(rulestore *s)
{
	static char buf[1024];
	buf[0] = '\0';
	ruleset *rs = rulestore_acquire(s);
	for (size_t i = 0; i < ruleset_count(rs); i++) {
		strcat(buf, i ? "," : "");
		strcat(buf, ruleset_get(rs, i)->name);
	}
	ruleset_release(rs);
	return buf;
}

static const char *current_errors(rulestore *s)
{
	static char buf[4096];
	buf[0] = '\0';
	ruleset *rs = rulestore_acquire(s);
	const rules_errors *e = ruleset_errors(rs);
	for (size_t i = 0; i < e->n; i++) {
		char line[600];
		rules_error_format(&e->v[i], line, sizeof(line));
		strcat(buf, line);
		strcat(buf, "\n");
	}
	ruleset_release(rs);
	return buf;
}

static void test_load_and_report(void **state)
{
	fixture *f = *state;
	put(f, "a.yaml", "name: a1\npriority: 5\n---\nname: a2\n");
	put(f, "b.yml", "name: b1\npriority: 10\n");
	put(f, ".hidden.yaml", "name: hidden\n");
	put(f, "notes.txt", "name: txt\n");
	put(f, "c.yaml~", "name: backup\n");
	char sub[128];
	snprintf(sub, sizeof(sub), "%s/sub.yaml", f->dir);
	assert_int_equal(mkdir(sub, 0700), 0);
	rulestore *s = rulestore_new(f->dir);
	assert_string_equal(current_names(s), ""); /* empty until the first reload */
	rulestore_report rep = reload(s);
	assert_int_equal(rep.files, 2);
	assert_int_equal(rep.files_loaded, 2);
	assert_int_equal(rep.files_failed, 0);
	assert_int_equal(rep.rules, 3);
	assert_int_equal(rep.errors, 0);
	assert_true(rep.changed);
	assert_string_equal(current_names(s), "b1,a1,a2");
	ruleset *rs = rulestore_acquire(s);
	char want[256];
	snprintf(want, sizeof(want), "%s/a.yaml", f->dir);
	assert_string_equal(ruleset_find(rs, "a2")->file, want);
	ruleset_release(rs);
	/* nothing changed: no new snapshot */
	ruleset *before = rulestore_acquire(s);
	rep = reload(s);
	assert_false(rep.changed);
	assert_int_equal(rep.files_loaded, 0);
	assert_int_equal(rep.rules, 3);
	ruleset *after = rulestore_acquire(s);
	assert_ptr_equal(before, after);
	ruleset_release(before);
	ruleset_release(after);
	assert_string_equal(rulestore_dir(s), f->dir);
	rulestore_free(s);
	rmdir(sub);
}

static void test_last_good_version(void **state)
{
	fixture *f = *state;
	put(f, "disk.yaml", "name: disk-clean\npriority: 1\n---\nname: disk-other\n");
	put(f, "svc.yaml", "name: svc-restart\n");
	rulestore *s = rulestore_new(f->dir);
	reload(s);
	ruleset *rs = rulestore_acquire(s);
	char version[16];
	strcpy(version, ruleset_find(rs, "disk-clean")->version);
	ruleset_release(rs);

	/* break the file: its last good version stays, the error is recorded */
	put(f, "disk.yaml",
	    "name: disk-clean\npriority: 1\n---\nname: disk-other\nmatch:\n  severity: {foo: bar}\n");
	rulestore_report rep = reload(s);
	assert_true(rep.changed);
	assert_int_equal(rep.files_loaded, 1);
	assert_int_equal(rep.files_failed, 1);
	assert_int_equal(rep.rules, 3);
	assert_int_equal(rep.errors, 1);
	assert_string_equal(current_names(s), "disk-clean,disk-other,svc-restart");
	char want[512];
	snprintf(want, sizeof(want),
		 "%s/disk.yaml:6:14: match.severity: unknown key \"foo\": expected a string, a list or a "
		 "mapping with "
		 "glob/regex/not\n",
		 f->dir);
	assert_string_equal(current_errors(s), want);
	rs = rulestore_acquire(s);
	assert_string_equal(ruleset_find(rs, "disk-clean")->version, version);
	ruleset_release(rs);

	/* a reload without changes keeps reporting the failure */
	rep = reload(s);
	assert_false(rep.changed);
	assert_int_equal(rep.files_failed, 1);
	assert_int_equal(rep.errors, 1);

	/* fixed: the new version replaces the old one, the error goes */
	put(f, "disk.yaml", "name: disk-clean\npriority: 2\n---\nname: disk-new\n");
	rep = reload(s);
	assert_int_equal(rep.files_failed, 0);
	assert_int_equal(rep.errors, 0);
	assert_string_equal(current_names(s), "disk-clean,disk-new,svc-restart");
	rs = rulestore_acquire(s);
	assert_string_not_equal(ruleset_find(rs, "disk-clean")->version, version);
	assert_int_equal(ruleset_find(rs, "disk-clean")->priority, 2);
	ruleset_release(rs);

	/* a file broken from the start contributes nothing but its error */
	put(f, "new.yaml", "name: [x]\n");
	rep = reload(s);
	assert_int_equal(rep.files_failed, 1);
	assert_string_equal(current_names(s), "disk-clean,disk-new,svc-restart");
	snprintf(want, sizeof(want), "%s/new.yaml:1:7: name: expected a string, got a sequence\n", f->dir);
	assert_string_equal(current_errors(s), want);

	/* deleting files drops their rules (and errors) */
	del(f, "new.yaml");
	del(f, "disk.yaml");
	rep = reload(s);
	assert_int_equal(rep.files_removed, 2);
	assert_int_equal(rep.files, 1);
	assert_int_equal(rep.errors, 0);
	assert_string_equal(current_names(s), "svc-restart");
	rulestore_free(s);
}

static void test_duplicate_names_across_files(void **state)
{
	fixture *f = *state;
	put(f, "b.yaml", "name: shared\n---\nname: b-only\n");
	rulestore *s = rulestore_new(f->dir);
	reload(s);
	assert_string_equal(current_names(s), "b-only,shared");

	/* a.yaml sorts first, so b.yaml (the later file) is the error, even with its last good version */
	put(f, "a.yaml", "name: a-only\n---\nname: shared\npriority: 3\n");
	rulestore_report rep = reload(s);
	assert_int_equal(rep.files_failed, 1);
	assert_string_equal(current_names(s), "shared,a-only");
	char want[512];
	snprintf(want, sizeof(want),
		 "%s/b.yaml:1:7: name: duplicate rule name \"shared\" (already defined at %s/a.yaml:3)\n",
		 f->dir, f->dir);
	assert_string_equal(current_errors(s), want);

	/* b.yaml renames its rule: it loads again */
	put(f, "b.yaml", "name: shared-b\n---\nname: b-only\n");
	rep = reload(s);
	assert_int_equal(rep.files_failed, 0);
	assert_string_equal(current_names(s), "shared,a-only,b-only,shared-b");

	/* a new later file clashing with a.yaml is refused as a whole */
	put(f, "c.yaml", "name: c-only\n---\nname: a-only\n");
	rep = reload(s);
	assert_int_equal(rep.files_failed, 1);
	assert_string_equal(current_names(s), "shared,a-only,b-only,shared-b");
	rulestore_free(s);
}

static void test_change_detection(void **state)
{
	fixture *f = *state;
	char p[512];
	snprintf(p, sizeof(p), "%s/x.yaml", f->dir);
	FILE *fp = fopen(p, "w");
	fputs("name: aaaa\n", fp);
	fclose(fp);
	rulestore *s = rulestore_new(f->dir);
	reload(s);
	assert_string_equal(current_names(s), "aaaa");
	/* rewritten in place, same size, within the same second: the content hash tells */
	fp = fopen(p, "r+");
	fputs("name: bbbb\n", fp);
	fclose(fp);
	rulestore_report rep = reload(s);
	assert_int_equal(rep.files_loaded, 1);
	assert_string_equal(current_names(s), "bbbb");
	/* touched without a content change: read, but not reparsed, no new snapshot */
	struct timespec ts[2] = {{0, UTIME_NOW}, {0, UTIME_NOW}};
	assert_int_equal(utimensat(AT_FDCWD, p, ts, 0), 0);
	rep = reload(s);
	assert_int_equal(rep.files_loaded, 0);
	assert_false(rep.changed);
	rulestore_free(s);
}

static void test_unreadable_dir(void **state)
{
	fixture *f = *state;
	put(f, "a.yaml", "name: a\n");
	rulestore *s = rulestore_new(f->dir);
	reload(s);
	char gone[128];
	snprintf(gone, sizeof(gone), "%s-gone", f->dir);
	assert_int_equal(rename(f->dir, gone), 0);
	rulestore_report rep;
	assert_int_equal(rulestore_reload(s, &rep), RFX_ERR_IO);
	assert_true(rep.changed);
	assert_string_equal(current_names(s), "a"); /* the rules stay */
	char want[512];
	snprintf(want, sizeof(want), "%s: cannot read the rules directory: No such file or directory\n",
		 f->dir);
	assert_string_equal(current_errors(s), want);
	assert_int_equal(rename(gone, f->dir), 0);
	rep = reload(s);
	assert_int_equal(rep.errors, 0);
	assert_string_equal(current_names(s), "a");
	rulestore_free(s);
}

typedef struct reader_arg {
	rulestore *s;
	volatile bool stop;
	size_t matched;
} reader_arg;

static void *reader(void *p)
{
	reader_arg *a = p;
	event *e = fx_event();
	eval_ctx c = fx_ctx(e);
	while (!a->stop) {
		ruleset *rs = rulestore_acquire(a->s);
		const rule *out[8];
		size_t n = ruleset_match(rs, &c, out, 8);
		for (size_t i = 0; i < n; i++)
			a->matched += strlen(out[i]->name) > 0;
		ruleset_release(rs);
	}
	event_free(e);
	return NULL;
}

/* Readers on other threads keep using their snapshot while reloads swap new ones in (run under ASan). */
static void test_concurrent_readers(void **state)
{
	fixture *f = *state;
	put(f, "a.yaml", "name: a\nmatch: {event_type: ServiceDown}\n");
	rulestore *s = rulestore_new(f->dir);
	reload(s);
	reader_arg arg = {.s = s};
	pthread_t th[2];
	for (int i = 0; i < 2; i++)
		assert_int_equal(pthread_create(&th[i], NULL, reader, &arg), 0);
	for (int i = 0; i < 150; i++) {
		char text[128];
		snprintf(text, sizeof(text),
			 "name: a\npriority: %d\nmatch: {event_type: ServiceDown}\n---\nname: b%d\n", i, i);
		put(f, "a.yaml", text);
		reload(s);
	}
	arg.stop = true;
	for (int i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	assert_true(arg.matched > 0);
	assert_string_equal(current_names(s), "a,b149");
	rulestore_free(s);
}

static void test_to_json(void **state)
{
	fixture *f = *state;
	put(f, "a.yaml",
	    "name: a\npriority: 7\nfinal: true\naction: {type: ssh, command: uptime, mode: dry-run}\n");
	put(f, "b.yaml", "name: b\nwhen: 'x ='\n");
	rulestore *s = rulestore_new(f->dir);
	reload(s);
	cJSON *j = rulestore_to_json(s);
	assert_string_equal(cJSON_GetObjectItem(j, "dir")->valuestring, f->dir);
	assert_non_null(cJSON_GetObjectItem(j, "loaded_at"));
	cJSON *rules = cJSON_GetObjectItem(j, "rules");
	assert_int_equal(cJSON_GetArraySize(rules), 1);
	cJSON *r = cJSON_GetArrayItem(rules, 0);
	assert_string_equal(cJSON_GetObjectItem(r, "name")->valuestring, "a");
	assert_string_equal(cJSON_GetObjectItem(r, "mode")->valuestring, "dry-run");
	assert_string_equal(cJSON_GetObjectItem(r, "action_type")->valuestring, "ssh");
	assert_true(cJSON_IsTrue(cJSON_GetObjectItem(r, "final")));
	assert_int_equal(strlen(cJSON_GetObjectItem(r, "version")->valuestring), RULES_VERSION_LEN);
	cJSON *errs = cJSON_GetObjectItem(j, "errors");
	assert_int_equal(cJSON_GetArraySize(errs), 1);
	cJSON *e = cJSON_GetArrayItem(errs, 0);
	char want[256];
	snprintf(want, sizeof(want), "%s/b.yaml", f->dir);
	assert_string_equal(cJSON_GetObjectItem(e, "file")->valuestring, want);
	assert_int_equal(cJSON_GetObjectItem(e, "line")->valueint, 2);
	assert_int_equal(cJSON_GetObjectItem(e, "column")->valueint, 8);
	assert_string_equal(
	    cJSON_GetObjectItem(e, "message")->valuestring,
	    "when: unknown field \"x\" (known: source, state, title, severity, entity, event_type, "
	    "source_id, url, id, tags.NAME, topology.NAME)");
	cJSON_Delete(j);
	rulestore_free(s);
}

static char *check_output(const char *dir, int *n)
{
	char *out = NULL;
	size_t len = 0;
	FILE *fp = open_memstream(&out, &len);
	*n = rules_check_dir(dir, fp);
	fclose(fp);
	return out;
}

static void test_check_dir(void **state)
{
	fixture *f = *state;
	put(f, "a.yaml", "name: a\n---\nname: b\n");
	put(f, "b.yaml", "name: c\n");
	int n;
	char *out = check_output(f->dir, &n);
	assert_int_equal(n, 0);
	assert_string_equal(out, "3 rules OK in 2 files\n");
	free(out);

	put(f, "c.yaml", "name: a\n---\nname: d\npriority: high\n");
	put(f, "d.yaml", "name: e\naction:\n  type: ssh\n");
	out = check_output(f->dir, &n);
	assert_int_equal(n, 2);
	char want[1024];
	snprintf(want, sizeof(want),
		 "%s/c.yaml:4:11: priority: expected an integer\n"
		 "%s/d.yaml:3:3: action.command: required for an action of type ssh\n",
		 f->dir, f->dir);
	assert_string_equal(out, want);
	free(out);

	/* the duplicate is reported once the file itself is valid */
	put(f, "c.yaml", "name: a\n---\nname: d\n");
	del(f, "d.yaml");
	out = check_output(f->dir, &n);
	assert_int_equal(n, 1);
	snprintf(want, sizeof(want),
		 "%s/c.yaml:1:7: name: duplicate rule name \"a\" (already defined at %s/a.yaml:1)\n", f->dir,
		 f->dir);
	assert_string_equal(out, want);
	free(out);

	out = check_output("/nonexistent/reflex-rules", &n);
	assert_int_equal(n, 1);
	assert_string_equal(out,
			    "/nonexistent/reflex-rules: cannot read the rules directory: No such file or "
			    "directory\n");
	free(out);
}

static const rule *first_match(ruleset *rs, const event *e)
{
	eval_ctx c = fx_ctx(e);
	const rule *out[4];
	return ruleset_match(rs, &c, out, 4) ? out[0] : NULL;
}

static char *rendered_command(const rule *r, const event *e)
{
	eval_ctx c = fx_ctx(e);
	rule_rendered rr;
	char err[300];
	if (rule_render(r, &c, &rr, err, sizeof(err)))
		fail_msg("%s: %s", r->name, err);
	char *cmd = strdup(rr.command);
	rule_rendered_clear(&rr);
	return cmd;
}

/* The shipped example rules are valid and do what their comments say. */
static void test_example_rules(void **state)
{
	int n;
	char *out = check_output("rules", &n);
	if (n)
		fail_msg("rules/:\n%s", out);
	free(out);
	rulestore *s = rulestore_new("rules");
	reload(s);
	ruleset *rs = rulestore_acquire(s);
	assert_true(ruleset_count(rs) >= 3);

	event *e = fx_event(); /* alertmanager ServiceDown nginx on web-01, prod, critical */
	const rule *r = first_match(rs, e);
	assert_non_null(r);
	assert_string_equal(r->name, "service-down-restart");
	char *cmd = rendered_command(r, e);
	assert_string_equal(cmd, "sudo systemctl restart 'nginx'");
	free(cmd);
	event_tag_set(e, "env", "dev");
	assert_null(first_match(rs, e));
	event_free(e);

	e = event_new(SRC_ALERTMANAGER);
	event_set(&e->event_type, "DiskFull");
	event_set(&e->entity, "app-03");
	event_tag_set(e, "mountpoint", "/var");
	event_tag_set(e, "app", "thumbnails");
	r = first_match(rs, e);
	assert_non_null(r);
	assert_string_equal(r->name, "disk-full-clean-cache");
	cmd = rendered_command(r, e);
	assert_string_equal(cmd,
			    "sudo find /var/cache/'thumbnails' -xdev -mindepth 1 -type f -mtime +1 -delete");
	free(cmd);
	event_tag_set(e, "app", "../etc");
	assert_null(first_match(rs, e));
	event_free(e);

	e = event_new(SRC_DYNATRACE);
	event_set(&e->event_type, "HIGH_GC_ACTIVITY");
	event_set(&e->entity, "pay-01");
	event_tag_set(e, "service", "payments");
	event_tag_set(e, "env", "staging");
	r = first_match(rs, e);
	assert_non_null(r);
	assert_string_equal(r->name, "high-gc-restart-app");
	assert_int_equal(r->action.mode, RULE_MODE_DRY_RUN);
	event_free(e);
	ruleset_release(rs);
	rulestore_free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_load_and_report, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_last_good_version, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_duplicate_names_across_files, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_change_detection, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_unreadable_dir, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_concurrent_readers, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_to_json, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_check_dir, setup, teardown),
	    cmocka_unit_test(test_example_rules),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
