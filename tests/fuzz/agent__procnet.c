/* agent__procnet.c -- fuzzes the /proc/net/tcp{,6} parser and the report built from what it parsed; the first
 * byte picks the address family. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "../../agent/procnet.h"
#include "../../agent/report.h"

static const char *owner(void *ud, uint64_t inode)
{
	return inode % 3 ? "proc" : NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	sock_list l;
	size_t bad = 0;
	if (size < 1)
		return 0;
	sock_list_init(&l, 4096);
	procnet_parse((const char *)data + 1, size - 1, data[0] & 1 ? AF_INET6 : AF_INET, &l, &bad);
	report_state s, empty = {0};
	report_opts o = {.include_loopback = data[0] & 2, .max_connections = 64};
	report_state_build(&s, &l, owner, NULL, &o);
	report_meta m = {.node = "n", .boot_id = "b", .seq = 1, .interval_ms = 1000};
	cJSON_Delete(report_json(&s, data[0] & 4 ? &empty : NULL, &m));
	report_state_free(&s);
	sock_list_free(&l);
	return 0;
}
