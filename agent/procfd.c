/* procfd.c -- socket owners from /proc/<pid>/fd, read incrementally (see procfd.h for the strategy). */
#include "procfd.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "imap.h"

/* What an fd pointed to at the last read: a socket inode, or 0 for anything else. */
typedef struct fd_link {
	uint32_t fd;
	uint64_t inode;
} fd_link;

typedef struct proc_info {
	uint32_t pid;
	uint32_t uid;
	char comm[PROCFD_COMM_MAX];
	uint64_t seen_gen;   /* last scan /proc listed it */
	uint64_t walked_gen; /* last scan its fd table was read; 0: never */
	uint64_t hot_gen;    /* last walk that found a socket owner */
	uint32_t nsock;	     /* sockets seen at the last walk */
	fd_link *fds;	     /* the fd table at the last walk, sorted by fd */
	size_t nfds;
	int prio; /* candidate order within one scan */
} proc_info;

/* A socket of the current scan, or (seen_gen older than the scan) one that has closed since and waits for the
 * next compaction. */
typedef struct inode_info {
	uint64_t inode;
	uint64_t first_seen; /* scan generation it appeared in (or lost its owner) */
	uint64_t seen_gen;   /* last scan that listed it */
	uint32_t pid;	     /* 0: unknown */
	uint32_t uid;
	uint32_t pos; /* its index in that scan's socket list */
	uint16_t lport;
	bool established;
} inode_info;

#define NO_INFO UINT32_MAX

struct procfd_cache {
	char *proc_root;
	size_t fd_budget;
	uint64_t gen;
	proc_info *procs;
	size_t nprocs, capprocs;
	imap pid_index;	 /* pid -> index in procs */
	bool procs_gone; /* this scan dropped processes: owners may have died */
	inode_info *inodes;
	size_t ninodes, capinodes;
	size_t nlive;	  /* entries seen in this scan */
	imap inode_index; /* inode -> index in inodes, closed sockets included until compaction */
	uint32_t *order;  /* per socket of this scan: its index in inodes, or NO_INFO */
	uint32_t *prev;	  /* the same for the previous scan */
	size_t norder, nprev, caporder;
};

procfd_cache *procfd_new(const char *proc_root, size_t fd_budget)
{
	procfd_cache *c = rfx_calloc(1, sizeof(*c));
	c->proc_root = rfx_strdup(proc_root ? proc_root : "/proc");
	c->fd_budget = fd_budget;
	imap_init(&c->pid_index);
	imap_init(&c->inode_index);
	return c;
}

void procfd_free(procfd_cache *c)
{
	if (!c)
		return;
	imap_free(&c->pid_index);
	imap_free(&c->inode_index);
	for (size_t i = 0; i < c->nprocs; i++)
		free(c->procs[i].fds);
	free(c->procs);
	free(c->inodes);
	free(c->order);
	free(c->prev);
	free(c->proc_root);
	free(c);
}

static proc_info *proc_get(const procfd_cache *c, uint32_t pid)
{
	uint32_t *i = imap_get(&c->pid_index, pid);
	return i ? &c->procs[*i] : NULL;
}

static bool parse_pid(const char *name, uint32_t *pid)
{
	char *end;
	if (name[0] < '1' || name[0] > '9')
		return false;
	unsigned long v = strtoul(name, &end, 10);
	if (*end || v > UINT32_MAX)
		return false;
	*pid = (uint32_t)v;
	return true;
}

static void proc_add(procfd_cache *c, uint32_t pid, uint32_t uid)
{
	if (c->nprocs == c->capprocs) {
		c->capprocs = c->capprocs ? c->capprocs * 2 : 256;
		c->procs = rfx_realloc(c->procs, c->capprocs * sizeof(*c->procs));
	}
	proc_info *p = &c->procs[c->nprocs];
	memset(p, 0, sizeof(*p));
	p->pid = pid;
	p->uid = uid;
	p->seen_gen = c->gen;
	imap_put(&c->pid_index, pid, (uint32_t)c->nprocs++);
}

/* Drops processes /proc no longer lists, keeping the array dense. */
static void procs_prune(procfd_cache *c)
{
	size_t keep = 0;
	for (size_t i = 0; i < c->nprocs; i++) {
		if (c->procs[i].seen_gen == c->gen)
			c->procs[keep++] = c->procs[i];
		else
			free(c->procs[i].fds);
	}
	c->procs_gone = keep != c->nprocs;
	if (!c->procs_gone)
		return;
	c->nprocs = keep;
	imap_clear(&c->pid_index);
	for (size_t i = 0; i < c->nprocs; i++)
		imap_put(&c->pid_index, c->procs[i].pid, (uint32_t)i);
}

static void procs_list(procfd_cache *c)
{
	DIR *d = opendir(c->proc_root);
	struct dirent *de;
	if (!d)
		return;
	while ((de = readdir(d))) {
		uint32_t pid;
		struct stat sb;
		if (!parse_pid(de->d_name, &pid))
			continue;
		proc_info *p = proc_get(c, pid);
		if (p) {
			p->seen_gen = c->gen;
		} else if (fstatat(dirfd(d), de->d_name, &sb, 0) == 0) {
			proc_add(c, pid, (uint32_t)sb.st_uid);
		}
	}
	closedir(d);
	procs_prune(c);
}

static inode_info *inode_live(const procfd_cache *c, uint64_t inode)
{
	uint32_t *ii = imap_get(&c->inode_index, inode);
	return ii && c->inodes[*ii].seen_gen == c->gen ? &c->inodes[*ii] : NULL;
}

static uint32_t inode_add(procfd_cache *c, uint64_t inode)
{
	if (c->ninodes == c->capinodes) {
		c->capinodes = c->capinodes ? c->capinodes * 2 : 1024;
		c->inodes = rfx_realloc(c->inodes, c->capinodes * sizeof(*c->inodes));
	}
	c->inodes[c->ninodes] = (inode_info){.inode = inode, .first_seen = c->gen};
	imap_put(&c->inode_index, inode, (uint32_t)c->ninodes);
	return (uint32_t)c->ninodes++;
}

/* The entry of a socket listed again. The kernel lists sockets in the order of its hash table, which sockets
 * opened or closed meanwhile barely disturb: the entry at the same place in the previous list is tried
 * before the index. */
static uint32_t inode_find(procfd_cache *c, uint64_t inode, size_t *j)
{
	if (*j < c->nprev && c->prev[*j] != NO_INFO && c->inodes[c->prev[*j]].inode == inode)
		return c->prev[(*j)++];
	uint32_t *ii = imap_get(&c->inode_index, inode);
	if (!ii)
		return inode_add(c, inode);
	*j = (size_t)c->inodes[*ii].pos + 1;
	return *ii;
}

/* Keeps what was known about sockets still open; new sockets, sockets that were not in the previous scan, and
 * those whose owner died, start unknown. */
static void inode_update(procfd_cache *c, inode_info *in, const sock_entry *s, size_t i)
{
	bool was_listed = in->seen_gen + 1 == c->gen;
	if (!was_listed || (in->pid && c->procs_gone && !proc_get(c, in->pid))) {
		in->pid = 0;
		in->first_seen = c->gen;
	}
	in->uid = s->uid;
	in->lport = s->lport;
	in->established = s->state == SOCK_TCP_ESTABLISHED;
	in->seen_gen = c->gen;
	in->pos = (uint32_t)i;
	c->nlive++;
}

/* Drops the entries of closed sockets, in this scan's order (which the next scan will mostly follow). */
static void inodes_compact(procfd_cache *c)
{
	inode_info *old = c->inodes;
	c->capinodes = c->nlive + 64;
	c->inodes = rfx_malloc(c->capinodes * sizeof(*c->inodes));
	c->ninodes = 0;
	imap_free(&c->inode_index);
	imap_reserve(&c->inode_index, c->capinodes);
	for (size_t i = 0; i < c->norder; i++) {
		uint32_t k = c->order[i];
		if (k == NO_INFO || old[k].pos != i)
			continue; /* no inode, or a socket listed twice: its first place holds it */
		c->inodes[c->ninodes] = old[k];
		imap_put(&c->inode_index, old[k].inode, (uint32_t)c->ninodes);
		c->order[i] = (uint32_t)c->ninodes++;
	}
	for (size_t i = 0; i < c->norder; i++) {
		uint32_t k = c->order[i];
		if (k != NO_INFO && old[k].pos != i)
			c->order[i] = c->order[old[k].pos];
	}
	free(old);
}

static void order_swap(procfd_cache *c, size_t n)
{
	uint32_t *t = c->prev;
	c->prev = c->order;
	c->nprev = c->norder;
	c->order = t;
	size_t need = n > c->nprev ? n : c->nprev;
	/* grown by a quarter ahead; given back when a burst of sockets is over */
	if (need > c->caporder || (c->caporder > 4096 && need * 4 < c->caporder)) {
		c->caporder = need + need / 4 + 64;
		c->order = rfx_realloc(c->order, c->caporder * sizeof(*c->order));
		c->prev = rfx_realloc(c->prev, c->caporder * sizeof(*c->prev));
	}
	c->norder = n;
}

static void inodes_rebuild(procfd_cache *c, const sock_list *socks)
{
	size_t j = 0;
	order_swap(c, socks->n);
	c->nlive = 0;
	for (size_t i = 0; i < socks->n; i++) {
		const sock_entry *s = &socks->v[i];
		uint32_t k = s->inode ? inode_find(c, s->inode, &j) : NO_INFO;
		c->order[i] = k;
		if (k != NO_INFO && c->inodes[k].seen_gen != c->gen)
			inode_update(c, &c->inodes[k], s, i);
	}
	/* closed sockets are dropped once they are a quarter of the entries */
	if ((c->ninodes - c->nlive) * 4 > c->ninodes)
		inodes_compact(c);
}

static void read_comm(procfd_cache *c, proc_info *p)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/%u/comm", c->proc_root, p->pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	ssize_t n = read(fd, p->comm, sizeof(p->comm) - 1);
	close(fd);
	if (n < 0)
		n = 0;
	p->comm[n] = '\0';
	p->comm[strcspn(p->comm, "\n")] = '\0';
}

static bool parse_socket_link(const char *link, uint64_t *inode)
{
	char *end;
	if (strncmp(link, "socket:[", 8) != 0)
		return false;
	unsigned long long v = strtoull(link + 8, &end, 10);
	if (end == link + 8 || *end != ']')
		return false;
	*inode = v;
	return true;
}

static int fd_link_cmp(const void *a, const void *b)
{
	uint32_t x = ((const fd_link *)a)->fd, y = ((const fd_link *)b)->fd;
	return x < y ? -1 : x > y;
}

/* The fd numbers of a process (one getdents pass, much cheaper than reading each link), sorted. */
static bool list_fds(int dfd, fd_link **out, size_t *n)
{
	DIR *d = fdopendir(dfd);
	struct dirent *de;
	size_t cap = 64;
	if (!d) {
		close(dfd);
		return false;
	}
	*out = rfx_malloc(cap * sizeof(**out));
	*n = 0;
	while ((de = readdir(d))) {
		char *end;
		unsigned long fd = strtoul(de->d_name, &end, 10);
		if (de->d_name[0] < '0' || de->d_name[0] > '9' || *end || fd > UINT32_MAX)
			continue;
		if (*n == cap) {
			cap *= 2;
			*out = rfx_realloc(*out, cap * sizeof(**out));
		}
		(*out)[(*n)++] = (fd_link){.fd = (uint32_t)fd};
	}
	closedir(d);
	qsort(*out, *n, sizeof(**out), fd_link_cmp);
	return true;
}

/* Whether an fd may be taken to point where it did at the last read. A socket fd does while its socket is
 * still in this scan: a closed socket frees its fd number for reuse. Other fds (files, pipes, other sockets)
 * are taken as unchanged in a quick pass and read again in a thorough one, for the rare fd reused after a
 * file was closed. */
static bool fd_unchanged(const procfd_cache *c, const fd_link *old, size_t nold, size_t *k,
			 const fd_link *now, bool thorough, uint64_t *inode)
{
	while (*k < nold && old[*k].fd < now->fd)
		(*k)++;
	if (*k >= nold || old[*k].fd != now->fd)
		return false;
	if (!old[*k].inode) {
		*inode = 0;
		return !thorough;
	}
	if (!inode_live(c, old[*k].inode))
		return false;
	*inode = old[*k].inode;
	return true;
}

static uint64_t read_fd_link(int dfd, uint32_t fd, procfd_stats *st)
{
	char name[16], link[64];
	uint64_t inode;
	snprintf(name, sizeof(name), "%u", fd);
	st->fd_reads++;
	ssize_t n = readlinkat(dfd, name, link, sizeof(link) - 1);
	if (n <= 0)
		return 0;
	link[n] = '\0';
	return parse_socket_link(link, &inode) ? inode : 0;
}

/* Reads one process's fd table, claiming every unknown socket it holds; links are read only for fds that are
 * new or may have changed since the last read. Returns how many sockets it claimed. */
static size_t proc_walk(procfd_cache *c, proc_info *p, bool thorough, procfd_stats *st)
{
	char path[512];
	size_t claimed = 0, n = 0, k = 0;
	fd_link *now = NULL;
	snprintf(path, sizeof(path), "%s/%u/fd", c->proc_root, p->pid);
	p->walked_gen = c->gen;
	st->procs_walked++;
	int dfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0 || !list_fds(dup(dfd), &now, &n)) {
		st->denied++;
		if (dfd >= 0)
			close(dfd);
		return 0;
	}
	p->nsock = 0;
	for (size_t i = 0; i < n; i++) {
		if (!fd_unchanged(c, p->fds, p->nfds, &k, &now[i], thorough, &now[i].inode))
			now[i].inode = read_fd_link(dfd, now[i].fd, st);
		if (!now[i].inode)
			continue;
		p->nsock++;
		inode_info *in = inode_live(c, now[i].inode);
		if (in && !in->pid) {
			in->pid = p->pid;
			claimed++;
		}
	}
	close(dfd);
	free(p->fds);
	p->fds = now;
	p->nfds = n;
	if (claimed) {
		p->hot_gen = c->gen;
		read_comm(c, p);
	}
	return claimed;
}

static int cmp_prio(const void *a, const void *b)
{
	const proc_info *pa = *(proc_info *const *)a, *pb = *(proc_info *const *)b;
	if (pa->prio != pb->prio)
		return pb->prio - pa->prio;
	if (pa->hot_gen != pb->hot_gen)
		return pa->hot_gen < pb->hot_gen ? 1 : -1;
	return pa->nsock < pb->nsock ? 1 : (pa->nsock > pb->nsock ? -1 : 0);
}

/* Owners of listeners on ports where an established socket is unknown: the accepting process, most likely. */
static void mark_listener_owners(procfd_cache *c)
{
	imap ports;
	imap_init(&ports);
	for (size_t i = 0; i < c->ninodes; i++) {
		inode_info *in = &c->inodes[i];
		if (in->seen_gen == c->gen && !in->pid && in->established)
			imap_put(&ports, (uint64_t)in->lport + 1, 1);
	}
	for (size_t i = 0; ports.n && i < c->ninodes; i++) {
		inode_info *in = &c->inodes[i];
		proc_info *p;
		if (in->seen_gen == c->gen && in->pid && !in->established &&
		    imap_get(&ports, (uint64_t)in->lport + 1) && (p = proc_get(c, in->pid)))
			p->prio = 4;
	}
	imap_free(&ports);
}

/* Processes that could hold an unknown socket: not read since the newest unknown one appeared. */
static size_t candidates(procfd_cache *c, proc_info ***out)
{
	uint64_t newest = 0;
	imap uids;
	imap_init(&uids);
	for (size_t i = 0; i < c->ninodes; i++) {
		if (c->inodes[i].seen_gen == c->gen && !c->inodes[i].pid) {
			if (c->inodes[i].first_seen > newest)
				newest = c->inodes[i].first_seen;
			imap_put(&uids, (uint64_t)c->inodes[i].uid + 1, 1);
		}
	}
	size_t n = 0;
	*out = NULL;
	if (newest) {
		*out = rfx_malloc((c->nprocs + 1) * sizeof(**out));
		for (size_t i = 0; i < c->nprocs; i++) {
			proc_info *p = &c->procs[i];
			p->prio = !p->walked_gen			  ? 3
				  : p->nsock				  ? 2
				  : imap_get(&uids, (uint64_t)p->uid + 1) ? 1
									  : 0;
		}
		mark_listener_owners(c);
		for (size_t i = 0; i < c->nprocs; i++) {
			if (c->procs[i].walked_gen < newest)
				(*out)[n++] = &c->procs[i];
		}
		qsort(*out, n, sizeof(**out), cmp_prio);
	}
	imap_free(&uids);
	return n;
}

static size_t count_unknown(const procfd_cache *c)
{
	size_t n = 0;
	for (size_t i = 0; i < c->ninodes; i++)
		n += c->inodes[i].seen_gen == c->gen && !c->inodes[i].pid;
	return n;
}

/* Walks candidates in order until nothing is unknown or the budget is spent. */
static size_t walk_candidates(procfd_cache *c, proc_info **cand, size_t ncand, size_t unknown, bool thorough,
			      procfd_stats *st)
{
	for (size_t i = 0; i < ncand && unknown; i++) {
		if (c->fd_budget && st->fd_reads >= c->fd_budget) {
			st->budget_exhausted = true;
			break;
		}
		unknown -= proc_walk(c, cand[i], thorough, st);
	}
	return unknown;
}

void procfd_refresh(procfd_cache *c, const sock_list *socks, procfd_stats *st)
{
	proc_info **cand = NULL;
	memset(st, 0, sizeof(*st));
	c->gen++;
	procs_list(c);
	inodes_rebuild(c, socks);
	size_t unknown = count_unknown(c);
	size_t ncand = unknown ? candidates(c, &cand) : 0;
	unknown = walk_candidates(c, cand, ncand, unknown, false, st);
	if (unknown && !st->budget_exhausted)
		unknown = walk_candidates(c, cand, ncand, unknown, true, st);
	free(cand);
	st->procs = c->nprocs;
	st->inodes = c->nlive;
	st->resolved = c->nlive - unknown;
}

void procfd_refresh_names(procfd_cache *c)
{
	for (size_t i = 0; i < c->nprocs; i++) {
		if (c->procs[i].nsock)
			read_comm(c, &c->procs[i]);
	}
}

const char *procfd_owner(const procfd_cache *c, uint64_t inode, uint32_t *pid_out)
{
	const inode_info *in = inode_live(c, inode);
	if (!in || !in->pid)
		return NULL;
	proc_info *p = proc_get(c, in->pid);
	if (!p)
		return NULL;
	if (pid_out)
		*pid_out = p->pid;
	return p->comm;
}

void procfd_owners(const procfd_cache *c, size_t n, const char **out)
{
	/* a few processes own most sockets, interleaved in the list: remember their names by pid */
	struct {
		uint32_t pid;
		const char *name;
	} seen[16] = {{0}};
	for (size_t i = 0; i < n; i++) {
		uint32_t k = i < c->norder ? c->order[i] : NO_INFO;
		uint32_t pid = k != NO_INFO ? c->inodes[k].pid : 0;
		out[i] = NULL;
		if (!pid)
			continue;
		size_t h = pid & 15;
		if (seen[h].pid != pid) {
			proc_info *p = proc_get(c, pid);
			seen[h].pid = pid;
			seen[h].name = p && p->comm[0] ? p->comm : NULL;
		}
		out[i] = seen[h].name;
	}
}
