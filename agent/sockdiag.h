/* sockdiag.h -- TCP sockets (LISTEN and ESTABLISHED, IPv4 and IPv6) from the kernel's netlink sock_diag
 * interface. */
#ifndef AGENT_SOCKDIAG_H
#define AGENT_SOCKDIAG_H

#include "sock.h"

/* Dumps the current network namespace's listening and established TCP sockets of both families into out
 * (appending). RFX_ERR_UNAVAILABLE when netlink sock_diag is not usable here (then fall back to /proc/net).
 */
rfx_err sockdiag_scan(sock_list *out, char *err, size_t errlen);

/* What a scan keeps for the next: the split point between two partitions, their sizes, buffers. */
typedef struct sockdiag sockdiag;

sockdiag *sockdiag_new(void);
void sockdiag_free(sockdiag *d);
/* The same sockets as sockdiag_scan, dumped as two partitions at once on two threads (the lower one, then
 * the upper one: the same order from scan to scan while the host's sockets stay), the split chosen from the
 * previous scan so that they are about even. One whole dump instead: at the first scan, where the process
 * may run on one core only, when the last scan found fewer than 2,000 sockets, for 3 scans after a split
 * whose threads did not run at once for most of the time (a busy host), when the kernel refuses the filters
 * (for good) or when no thread can be made (for this scan). */
rfx_err sockdiag_scan_split(sockdiag *d, sock_list *out, char *err, size_t errlen);
/* Whether the last scan was dumped in two partitions. */
bool sockdiag_was_split(const sockdiag *d);

/* A socket's key is its local port << 16 | its remote port (0 for a listener): the lower partition holds the
 * keys below the split, the upper one the others. The split of the next scan, or one forced on it (tests). */
uint32_t sockdiag_split(const sockdiag *d);
void sockdiag_set_split(sockdiag *d, uint32_t split);
/* One partition alone, filtered in the kernel, on this thread (tests). RFX_ERR_UNAVAILABLE when refused. */
rfx_err sockdiag_scan_part(sock_list *out, uint32_t split, bool upper, char *err, size_t errlen);

/* Parses one buffer of netlink messages from a SOCK_DIAG_BY_FAMILY dump, appending the inet_diag records to
 * out. *done is set when NLMSG_DONE was seen. Malformed messages end the buffer with RFX_ERR_PARSE; an
 * NLMSG_ERROR record gives RFX_ERR_IO. Exposed for tests and fuzzing. */
rfx_err sockdiag_parse(const void *buf, size_t len, sock_list *out, bool *done);

#endif
