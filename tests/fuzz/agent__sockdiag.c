/* agent__sockdiag.c -- fuzzes the netlink sock_diag message parser with arbitrary dump buffers. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../agent/sockdiag.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* the kernel hands over 4-byte aligned buffers */
	uint32_t *buf = malloc(size / 4 * 4 + 4);
	sock_list l;
	bool done;
	memcpy(buf, data, size);
	sock_list_init(&l, 4096);
	sockdiag_parse(buf, size, &l, &done);
	for (size_t i = 0; i < l.n; i++) {
		char a[64];
		sock_addr_format(l.v[i].laddr, a);
		sock_addr_format(l.v[i].raddr, a);
	}
	sock_list_free(&l);
	free(buf);
	return 0;
}
