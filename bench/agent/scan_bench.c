/* scan_bench.c -- times the agent's scan (sockets, owners, report state) and the report it sends, cold and
 * warm, on whatever sockets the host has; bench/agent/run.sh creates 10,000 loopback connections first. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "scan.h"
#include "session.h"
#include "sockdiag.h"

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double cpu_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts); /* both threads of a split dump */
	return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

static double report_ms(session *sess, const report_state *cur, size_t *bytes)
{
	bool full;
	double t0 = rfx_mono_sec();
	cJSON *j = session_report(sess, cur, NULL, 0, &full);
	char *body = cJSON_PrintUnformatted(j);
	*bytes = strlen(body);
	free(body);
	cJSON_Delete(j);
	return (rfx_mono_sec() - t0) * 1000.0;
}

/* The kernel's socket dump alone (records parsed into a list, nothing else): the floor under a netlink scan,
 * as one request and as the agent's two partitions at once, timed between the warm scans so that all see the
 * same machine. */
typedef struct dump_times {
	sock_list l;
	sockdiag *split; /* NULL: one whole dump */
	int nsplit;	 /* of the timed dumps, those made in two partitions */
	double *ms, *cpu;
} dump_times;

static void dump_init(dump_times *d, int scans, bool split)
{
	sock_list_init(&d->l, 0);
	d->split = split ? sockdiag_new() : NULL;
	d->nsplit = 0;
	d->ms = calloc((size_t)scans, sizeof(double));
	d->cpu = calloc((size_t)scans, sizeof(double));
}

static void dump_free(dump_times *d)
{
	sock_list_free(&d->l);
	sockdiag_free(d->split);
	free(d->ms);
	free(d->cpu);
}

static void dump_once(dump_times *d, int i)
{
	char err[256];
	sock_list_reset(&d->l);
	double c0 = cpu_ms(), t0 = rfx_mono_sec();
	rfx_err rc = d->split ? sockdiag_scan_split(d->split, &d->l, err, sizeof(err))
			      : sockdiag_scan(&d->l, err, sizeof(err));
	double t1 = rfx_mono_sec(), c1 = cpu_ms();
	if (rc) {
		fprintf(stderr, "dump: %s\n", err);
		exit(1);
	}
	if (i < 0)
		return; /* a split dump's first run chooses its split */
	d->nsplit += d->split && sockdiag_was_split(d->split);
	d->ms[i] = (t1 - t0) * 1000;
	d->cpu[i] = c1 - c0;
}

static void dump_print(dump_times *d, int scans)
{
	qsort(d->ms, (size_t)scans, sizeof(*d->ms), cmp_double);
	qsort(d->cpu, (size_t)scans, sizeof(*d->cpu), cmp_double);
	printf("netlink  socket dump alone, %s: median %6.2f ms, p95 %6.2f ms, CPU time median %6.2f ms over "
	       "%d dumps of %zu sockets (the kernel's dump and the parsing of its records)",
	       d->split ? "two partitions at once" : "one request", d->ms[scans / 2], d->ms[scans * 95 / 100],
	       d->cpu[scans / 2], scans, d->l.n);
	if (d->split)
		printf("; %d of them split (the others whole: a busy host)", d->nsplit);
	printf("\n");
}

static void run(scan_source src, int scans)
{
	scan_opts o = {.source = src,
		       .proc_root = "/proc",
		       .report = {.include_loopback = true, .max_connections = 10000}};
	scan_ctx *s = scan_new(&o);
	double *ms = calloc((size_t)scans, sizeof(*ms)), *cpu = calloc((size_t)scans, sizeof(*cpu));
	double sock_ms = 0, attr_ms = 0, rep_ms = 0;
	size_t reads = 0, sockets = 0, resolved = 0, bytes = 0;
	char err[256];
	session sess;
	dump_times dump, split;
	dump_init(&dump, scans, false);
	dump_init(&split, scans, true);
	dump_once(&split, -1);
	session_init(&sess, "bench", 10000, 1, 60000);
	for (int i = 0; i <= scans; i++) {
		report_state cur;
		scan_stats st;
		double c0 = cpu_ms();
		rfx_err rc = scan_run(s, &cur, &st, err, sizeof(err));
		double c1 = cpu_ms();
		if (rc) {
			fprintf(stderr, "scan: %s\n", err);
			exit(1);
		}
		if (i == 0) {
			printf("%-8s first scan: %8.2f ms (sockets %.2f, owners %.2f), sockets %zu, owners "
			       "found %zu, fd "
			       "links read %zu\n",
			       st.source, st.seconds * 1000, st.sock_seconds * 1000, st.attr_seconds * 1000,
			       st.sockets, st.fd.resolved, st.fd.fd_reads);
		} else {
			ms[i - 1] = st.seconds * 1000;
			cpu[i - 1] = c1 - c0;
			sock_ms += st.sock_seconds * 1000;
			attr_ms += st.attr_seconds * 1000;
			reads += st.fd.fd_reads;
			sockets = st.sockets;
			resolved = st.fd.resolved;
			rep_ms += report_ms(&sess, &cur, &bytes);
			if (src == SCAN_SOURCE_NETLINK) {
				dump_once(&dump, i - 1);
				dump_once(&split, i - 1);
			}
		}
		report_state_free(&cur);
	}
	qsort(ms, (size_t)scans, sizeof(*ms), cmp_double);
	qsort(cpu, (size_t)scans, sizeof(*cpu), cmp_double);
	printf("%-8s warm scans: median %6.2f ms, p95 %6.2f ms, max %6.2f ms over %d scans (sockets %.2f ms, "
	       "owners "
	       "%.2f ms on average); sockets %zu, owners %zu, fd links read %zu in all\n",
	       o.source == SCAN_SOURCE_PROC ? "proc" : "netlink", ms[scans / 2], ms[scans * 95 / 100],
	       ms[scans - 1], scans, sock_ms / scans, attr_ms / scans, sockets, resolved, reads);
	printf("%-8s warm scans: CPU time median %6.2f ms, p95 %6.2f ms (user and kernel, both threads)\n",
	       o.source == SCAN_SOURCE_PROC ? "proc" : "netlink", cpu[scans / 2], cpu[scans * 95 / 100]);
	printf("%-8s full report: %.2f ms to build and print, %zu bytes\n",
	       o.source == SCAN_SOURCE_PROC ? "proc" : "netlink", rep_ms / scans, bytes);
	if (src == SCAN_SOURCE_NETLINK) {
		dump_print(&dump, scans);
		dump_print(&split, scans);
	}
	dump_free(&dump);
	dump_free(&split);
	session_free(&sess);
	free(ms);
	free(cpu);
	scan_free(s);
}

int main(int argc, char **argv)
{
	int scans = argc > 1 ? atoi(argv[1]) : 50;
	run(SCAN_SOURCE_NETLINK, scans);
	run(SCAN_SOURCE_PROC, scans / 5 > 5 ? scans / 5 : 5);
	return 0;
}
