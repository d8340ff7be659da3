/* procfd.c -- unit tests for socket owner attribution: a fake /proc tree shows that fd tables are read only
 * when an unknown socket could be in them, likely owners first, within the budget; the live /proc finds the
 * test itself. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include "testutil.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "procfd.h"
#include "sockdiag.h"

typedef struct fake {
	char root[64];
	sock_list socks;
} fake;

static void fake_proc(fake *f, unsigned pid, const char *comm)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/%u", f->root, pid);
	assert_int_equal(mkdir(path, 0755), 0);
	snprintf(path, sizeof(path), "%s/%u/fd", f->root, pid);
	assert_int_equal(mkdir(path, 0755), 0);
	snprintf(path, sizeof(path), "%s/%u/comm", f->root, pid);
	FILE *fp = fopen(path, "w");
	fprintf(fp, "%s\n", comm);
	fclose(fp);
}

static void fake_fd(fake *f, unsigned pid, int fd, const char *target)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/%u/fd/%d", f->root, pid, fd);
	assert_int_equal(symlink(target, path), 0);
}

static void fake_sock(fake *f, uint64_t inode, uint8_t state, uint16_t lport)
{
	sock_entry e = {.inode = inode, .state = state, .lport = lport};
	sock_list_push(&f->socks, &e);
}

static void fake_rm_proc(fake *f, unsigned pid)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/%u", f->root, pid);
	assert_int_equal(tu_rmtree(path), 0);
}

static int setup(void **state)
{
	fake *f = calloc(1, sizeof(*f));
	snprintf(f->root, sizeof(f->root), "/tmp/rfx-procfd-XXXXXX");
	assert_non_null(mkdtemp(f->root));
	sock_list_init(&f->socks, 0);
	/* 100: a server with a listener and an accepted connection; 200: a client; 300: no sockets */
	fake_proc(f, 100, "server");
	fake_fd(f, 100, 0, "/dev/null");
	fake_fd(f, 100, 3, "socket:[1001]");
	fake_fd(f, 100, 4, "socket:[1002]");
	fake_proc(f, 200, "client");
	fake_fd(f, 200, 3, "socket:[2001]");
	fake_fd(f, 200, 4, "pipe:[77]");
	fake_proc(f, 300, "idle");
	fake_fd(f, 300, 1, "/dev/null");
	fake_sock(f, 1001, SOCK_TCP_LISTEN, 80);
	fake_sock(f, 1002, SOCK_TCP_ESTABLISHED, 80);
	fake_sock(f, 2001, SOCK_TCP_ESTABLISHED, 40000);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	fake *f = *state;
	assert_int_equal(tu_rmtree(f->root), 0);
	sock_list_free(&f->socks);
	free(f);
	return 0;
}

static void test_first_scan_reads_everything_once(void **state)
{
	fake *f = *state;
	procfd_cache *c = procfd_new(f->root, 0);
	procfd_stats st;
	uint32_t pid = 0;
	procfd_refresh(c, &f->socks, &st);
	assert_int_equal(st.procs, 3);
	assert_int_equal(st.inodes, 3);
	assert_int_equal(st.resolved, 3);
	assert_string_equal(procfd_owner(c, 1001, &pid), "server");
	assert_int_equal(pid, 100);
	assert_string_equal(procfd_owner(c, 1002, NULL), "server");
	assert_string_equal(procfd_owner(c, 2001, NULL), "client");
	assert_null(procfd_owner(c, 5555, NULL));
	/* nothing new: no fd table is read again */
	procfd_refresh(c, &f->socks, &st);
	assert_int_equal(st.fd_reads, 0);
	assert_int_equal(st.procs_walked, 0);
	assert_int_equal(st.resolved, 3);
	procfd_free(c);
}

static void test_new_connection_reads_listener_owner_first(void **state)
{
	fake *f = *state;
	procfd_cache *c = procfd_new(f->root, 0);
	procfd_stats st;
	procfd_refresh(c, &f->socks, &st);
	fake_fd(f, 100, 5, "socket:[1003]");
	fake_sock(f, 1003, SOCK_TCP_ESTABLISHED, 80);
	procfd_refresh(c, &f->socks, &st);
	assert_int_equal(st.procs_walked, 1); /* the owner of the listener on port 80, and nothing else */
	/* only the new fd is read; its known sockets and its other fds are not */
	assert_int_equal(st.fd_reads, 1);
	assert_string_equal(procfd_owner(c, 1003, NULL), "server");
	procfd_free(c);
}

static void test_reused_fd_number(void **state)
{
	fake *f = *state;
	char path[256];
	procfd_cache *c = procfd_new(f->root, 0);
	procfd_stats st;
	procfd_refresh(c, &f->socks, &st);
	/* the connection on fd 4 closes and the next accepted one gets fd 4 again */
	snprintf(path, sizeof(path), "%s/100/fd/4", f->root);
	assert_int_equal(unlink(path), 0);
	fake_fd(f, 100, 4, "socket:[1004]");
	f->socks.v[1].inode = 1004;
	procfd_refresh(c, &f->socks, &st);
	assert_string_equal(procfd_owner(c, 1004, NULL), "server");
	assert_int_equal(st.fd_reads, 1); /* fd 4, whose socket went away; fd 3's listener is still there */
	/* a file on fd 0 is closed and a socket takes its number: found by the thorough pass */
	snprintf(path, sizeof(path), "%s/100/fd/0", f->root);
	assert_int_equal(unlink(path), 0);
	fake_fd(f, 100, 0, "socket:[1005]");
	fake_sock(f, 1005, SOCK_TCP_ESTABLISHED, 80);
	procfd_refresh(c, &f->socks, &st);
	assert_string_equal(procfd_owner(c, 1005, NULL), "server");
	procfd_free(c);
}

static void test_orphan_socket_costs_one_pass(void **state)
{
	fake *f = *state;
	procfd_cache *c = procfd_new(f->root, 0);
	procfd_stats st;
	procfd_refresh(c, &f->socks, &st);
	fake_sock(f, 9999, SOCK_TCP_ESTABLISHED, 5000); /* held by no process we can see */
	procfd_refresh(c, &f->socks, &st);
	assert_int_equal(st.procs_walked, 6); /* a quick pass, then a thorough one */
	assert_int_equal(st.resolved, 3);
	procfd_refresh(c, &f->socks, &st);
	assert_int_equal(st.procs_walked, 0);
	/* a new process is read once, since it might hold it */
	fake_proc(f, 400, "late");
	fake_fd(f, 400, 7, "socket:[9999]");
	procfd_refresh(c, &f->socks, &st);
	assert_int_equal(st.procs_walked, 1);
	assert_string_equal(procfd_owner(c, 9999, NULL), "late");
	procfd_free(c);
}

static void test_dead_process_and_reowned_socket(void **state)
{
	fake *f = *state;
	procfd_cache *c = procfd_new(f->root, 0);
	procfd_stats st;
	procfd_refresh(c, &f->socks, &st);
	/* the client exits; its socket lives on in a child that inherited it */
	fake_rm_proc(f, 200);
	fake_proc(f, 201, "child");
	fake_fd(f, 201, 3, "socket:[2001]");
	procfd_refresh(c, &f->socks, &st);
	assert_int_equal(st.procs, 3);
	assert_string_equal(procfd_owner(c, 2001, NULL), "child");
	/* a closed socket is forgotten */
	f->socks.n = 2;
	procfd_refresh(c, &f->socks, &st);
	assert_int_equal(st.inodes, 2);
	assert_null(procfd_owner(c, 2001, NULL));
	procfd_free(c);
}

static void test_budget_carries_over(void **state)
{
	fake *f = *state;
	procfd_cache *c = procfd_new(f->root, 1);
	procfd_stats st;
	size_t scans = 0;
	do {
		procfd_refresh(c, &f->socks, &st);
		scans++;
		assert_true(st.procs_walked <= 1);
	} while (st.resolved < 3 && scans < 10);
	assert_int_equal(st.resolved, 3);
	assert_true(scans >= 2);
	procfd_free(c);
}

static void test_renamed_process(void **state)
{
	fake *f = *state;
	char path[256];
	procfd_cache *c = procfd_new(f->root, 0);
	procfd_stats st;
	procfd_refresh(c, &f->socks, &st);
	snprintf(path, sizeof(path), "%s/100/comm", f->root);
	FILE *fp = fopen(path, "w");
	fputs("execd\n", fp);
	fclose(fp);
	procfd_refresh(c, &f->socks, &st);
	assert_string_equal(procfd_owner(c, 1001, NULL), "server");
	procfd_refresh_names(c);
	assert_string_equal(procfd_owner(c, 1001, NULL), "execd");
	procfd_free(c);
}

static void assert_owners_by_position(procfd_cache *c, const sock_list *l)
{
	const char **owners = calloc(l->n + 1, sizeof(*owners));
	procfd_owners(c, l->n, owners);
	for (size_t i = 0; i < l->n; i++) {
		const char *want = procfd_owner(c, l->v[i].inode, NULL);
		if (want && !*want)
			want = NULL;
		if (want)
			assert_string_equal(owners[i], want);
		else
			assert_null(owners[i]);
	}
	free(owners);
}

/* Sockets held by one process, closed, reopened on the same fd numbers, listed twice, reordered and listed
 * again after a gap: each scan's owners are those of its own sockets, by inode and by position. */
static void test_many_sockets_churn(void **state)
{
	fake *f = *state;
	char path[256];
	procfd_cache *c = procfd_new(f->root, 0);
	procfd_stats st;
	for (int i = 0; i < 20; i++) {
		snprintf(path, sizeof(path), "socket:[%d]", 5000 + i);
		fake_fd(f, 100, 10 + i, path);
		fake_sock(f, 5000 + (uint64_t)i, SOCK_TCP_ESTABLISHED, 80);
	}
	procfd_refresh(c, &f->socks, &st);
	assert_int_equal(st.resolved, 23);
	assert_owners_by_position(c, &f->socks);
	/* 5007 closes (one of 23: the cache keeps its entry for a while) */
	sock_entry gone = f->socks.v[10];
	assert_int_equal(gone.inode, 5007);
	memmove(&f->socks.v[10], &f->socks.v[11], (f->socks.n - 11) * sizeof(sock_entry));
	f->socks.n--;
	procfd_refresh(c, &f->socks, &st);
	assert_int_equal(st.inodes, 22);
	assert_int_equal(st.resolved, 22);
	assert_int_equal(st.procs_walked, 0);
	assert_null(procfd_owner(c, 5007, NULL));
	assert_owners_by_position(c, &f->socks);
	/* its fd number goes to a new connection, listed first; one socket is listed twice */
	snprintf(path, sizeof(path), "%s/100/fd/17", f->root);
	assert_int_equal(unlink(path), 0);
	fake_fd(f, 100, 17, "socket:[6000]");
	sock_entry fresh = {.inode = 6000, .state = SOCK_TCP_ESTABLISHED, .lport = 80}, twice;
	sock_list_push(&f->socks, &fresh);
	memmove(&f->socks.v[1], &f->socks.v[0], (f->socks.n - 1) * sizeof(sock_entry));
	f->socks.v[0] = fresh;
	twice = f->socks.v[5];
	sock_list_push(&f->socks, &twice);
	procfd_refresh(c, &f->socks, &st);
	assert_int_equal(st.fd_reads, 1);
	assert_int_equal(st.inodes, 23);
	assert_int_equal(st.resolved, 23);
	assert_string_equal(procfd_owner(c, 6000, NULL), "server");
	assert_owners_by_position(c, &f->socks);
	/* the list in reverse order */
	for (size_t i = 0; i < f->socks.n / 2; i++) {
		sock_entry t = f->socks.v[i];
		f->socks.v[i] = f->socks.v[f->socks.n - 1 - i];
		f->socks.v[f->socks.n - 1 - i] = t;
	}
	procfd_refresh(c, &f->socks, &st);
	assert_int_equal(st.procs_walked, 0);
	assert_owners_by_position(c, &f->socks);
	/* 5007's inode is listed again (say, another process's socket): not taken for the old one */
	fake_proc(f, 400, "other");
	fake_fd(f, 400, 3, "socket:[5007]");
	sock_list_push(&f->socks, &gone);
	procfd_refresh(c, &f->socks, &st);
	assert_true(st.procs_walked >= 1);
	assert_string_equal(procfd_owner(c, 5007, NULL), "other");
	assert_owners_by_position(c, &f->socks);
	/* most sockets close at once: the entries are compacted and what is left keeps its owners */
	f->socks.n = 4;
	procfd_refresh(c, &f->socks, &st);
	assert_int_equal(st.inodes, 4);
	assert_int_equal(st.resolved, 4);
	assert_int_equal(st.procs_walked, 0);
	assert_owners_by_position(c, &f->socks);
	procfd_refresh(c, &f->socks, &st);
	assert_owners_by_position(c, &f->socks);
	procfd_free(c);
}

static void test_live_proc(void **state)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct stat sb;
	char comm[32] = "", err[256];
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(fd, 1), 0);
	assert_int_equal(fstat(fd, &sb), 0);
	FILE *fp = fopen("/proc/self/comm", "r");
	assert_non_null(fgets(comm, sizeof(comm), fp));
	fclose(fp);
	comm[strcspn(comm, "\n")] = '\0';
	sock_list l;
	sock_list_init(&l, 0);
	assert_int_equal(sockdiag_scan(&l, err, sizeof(err)), RFX_OK);
	procfd_cache *c = procfd_new("/proc", 0);
	procfd_stats st;
	uint32_t pid = 0;
	procfd_refresh(c, &l, &st);
	assert_string_equal(procfd_owner(c, sb.st_ino, &pid), comm);
	assert_int_equal(pid, (uint32_t)getpid());
	procfd_free(c);
	sock_list_free(&l);
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_first_scan_reads_everything_once, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_new_connection_reads_listener_owner_first, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_reused_fd_number, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_orphan_socket_costs_one_pass, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_dead_process_and_reowned_socket, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_budget_carries_over, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_renamed_process, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_many_sockets_churn, setup, teardown),
	    cmocka_unit_test(test_live_proc),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
