/* procfd.h -- which process owns a socket: /proc/<pid>/fd walked lazily, with an inode cache kept across
 * scans.
 *
 * A socket's owner is looked for only while it is unknown, and a process's fd table is read only when it
 * could hold an unknown socket (it was not read since that socket first appeared). Likely owners are read
 * first: the owner of the listener on the same port, processes never read, processes that had sockets; and a
 * scan stops reading at a budget of fd links. A socket no process turned out to hold (kernel sockets, other
 * pid namespaces, unreadable fd tables) costs nothing after the pass that looked for it. */
#ifndef AGENT_PROCFD_H
#define AGENT_PROCFD_H

#include "sock.h"

#define PROCFD_COMM_MAX 16 /* TASK_COMM_LEN */

typedef struct procfd_cache procfd_cache;

typedef struct procfd_stats {
	size_t procs;	       /* processes listed in /proc */
	size_t inodes;	       /* sockets with an inode in this scan */
	size_t resolved;       /* of those, with a known owner */
	size_t procs_walked;   /* fd tables read in this scan */
	size_t fd_reads;       /* fd links read in this scan */
	size_t denied;	       /* fd tables we may not read (no CAP_SYS_PTRACE / other users) */
	bool budget_exhausted; /* stopped reading early; the rest continues next scan */
} procfd_stats;

/* proc_root: "/proc" (or a host /proc mounted elsewhere); fd_budget: most fd links read per scan (0:
 * unbounded). */
procfd_cache *procfd_new(const char *proc_root, size_t fd_budget);
void procfd_free(procfd_cache *c);

/* Updates the cache for the sockets of one scan. Never fails: what cannot be read stays unattributed. */
void procfd_refresh(procfd_cache *c, const sock_list *socks, procfd_stats *st);
/* Re-reads the names of processes that own sockets (a process may exec into another program). */
void procfd_refresh_names(procfd_cache *c);

/* The owning process's name (comm) and pid, or NULL when unknown. Valid until the next refresh. */
const char *procfd_owner(const procfd_cache *c, uint64_t inode, uint32_t *pid_out);
/* The owners of the n sockets of the list given to the last refresh, by position: out[i] is what
 * procfd_owner gives for socks->v[i], or NULL also when the process has no name. */
void procfd_owners(const procfd_cache *c, size_t n, const char **out);

#endif
