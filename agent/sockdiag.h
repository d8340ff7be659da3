/* sockdiag.h -- TCP sockets (LISTEN and ESTABLISHED, IPv4 and IPv6) from the kernel's netlink sock_diag
 * interface. */
#ifndef AGENT_SOCKDIAG_H
#define AGENT_SOCKDIAG_H

#include "sock.h"

/* Dumps the current network namespace's listening and established TCP sockets of both families into out
 * (appending). RFX_ERR_UNAVAILABLE when netlink sock_diag is not usable here (then fall back to /proc/net).
 */
rfx_err sockdiag_scan(sock_list *out, char *err, size_t errlen);

/* Parses one buffer of netlink messages from a SOCK_DIAG_BY_FAMILY dump, appending the inet_diag records to
 * out. *done is set when NLMSG_DONE was seen. Malformed messages end the buffer with RFX_ERR_PARSE; an
 * NLMSG_ERROR record gives RFX_ERR_IO. Exposed for tests and fuzzing. */
rfx_err sockdiag_parse(const void *buf, size_t len, sock_list *out, bool *done);

#endif
