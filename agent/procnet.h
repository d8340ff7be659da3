/* procnet.h -- the /proc/net/tcp and /proc/net/tcp6 fallback for kernels or sandboxes without sock_diag. */
#ifndef AGENT_PROCNET_H
#define AGENT_PROCNET_H

#include "sock.h"

/* Largest /proc/net/tcp{,6} file read (about 150 bytes a socket, so some 400,000 sockets). */
#define PROCNET_MAX_FILE (64u * 1024 * 1024)

/* Reads <proc_root>/net/tcp and tcp6 (a missing tcp6 is no error) and appends LISTEN and ESTABLISHED sockets.
 */
rfx_err procnet_scan(const char *proc_root, sock_list *out, char *err, size_t errlen);

/* Parses the text of one such file (family AF_INET or AF_INET6), keeping LISTEN and ESTABLISHED sockets.
 * Lines that do not parse are skipped and counted in *bad (may be NULL). Exposed for tests and fuzzing. */
void procnet_parse(const char *text, size_t len, int family, sock_list *out, size_t *bad);

#endif
