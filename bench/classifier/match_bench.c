/* match_bench.c -- the rules engine alone: loads a rules directory and measures ruleset_match (indexed)
 * against ruleset_match_linear for events spread over the rules, and the resident memory of the loaded rule
 * set. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "rulestore.h"

static long rss_kib(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	long kib = -1;
	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, "VmRSS:", 6))
			kib = atol(line + 6);
	if (f)
		fclose(f);
	return kib;
}

static event *bench_event(int i)
{
	char buf[64];
	event *e = event_new(SRC_ALERTMANAGER);
	snprintf(buf, sizeof(buf), "Alert%d", i % 1000);
	event_set(&e->event_type, buf);
	snprintf(buf, sizeof(buf), "web-%d", i % 40);
	event_set(&e->entity, buf);
	snprintf(buf, sizeof(buf), "service down on web-%d", i % 40);
	event_set(&e->title, buf);
	event_set(&e->severity, "critical");
	snprintf(buf, sizeof(buf), "svc%d", i % 50);
	event_tag_set(e, "service", buf);
	event_tag_set(e, "env", "prod");
	return e;
}

static double per_call_us(const ruleset *rs, event **evs, int nev, int rounds, bool linear, size_t *fired)
{
	const rule *out[64];
	*fired = 0;
	double t0 = rfx_mono_sec();
	for (int r = 0; r < rounds; r++)
		for (int i = 0; i < nev; i++) {
			eval_ctx c = {.ev = evs[i]};
			*fired +=
			    linear ? ruleset_match_linear(rs, &c, out, 64) : ruleset_match(rs, &c, out, 64);
		}
	return (rfx_mono_sec() - t0) * 1e6 / ((double)rounds * nev);
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: match_bench RULES_DIR\n");
		return 2;
	}
	long before = rss_kib();
	rulestore *s = rulestore_new(argv[1]);
	rulestore_report rep = {0};
	double t0 = rfx_mono_sec();
	rulestore_reload(s, &rep);
	double load_ms = (rfx_mono_sec() - t0) * 1000;
	long after = rss_kib();
	ruleset *rs = rulestore_acquire(s);
	enum { NEV = 1000 };
	event *evs[NEV];
	for (int i = 0; i < NEV; i++)
		evs[i] = bench_event(i);
	size_t f1, f2;
	double idx = per_call_us(rs, evs, NEV, 20, false, &f1);
	double lin = per_call_us(rs, evs, NEV, rep.rules > 2000 ? 2 : 10, true, &f2);
	printf("rules=%zu errors=%zu load_ms=%.1f rules_rss_kib=%ld indexed_us=%.3f linear_us=%.3f "
	       "unindexed=%zu "
	       "fired_per_event=%.2f\n",
	       rep.rules, rep.errors, load_ms, after - before, idx, lin, ruleset_unindexed(rs),
	       (double)f1 / (20.0 * NEV));
	for (int i = 0; i < NEV; i++)
		event_free(evs[i]);
	ruleset_release(rs);
	rulestore_free(s);
	return 0;
}
