/* bare_mhd.c -- the reference for the classifier benchmark: a libmicrohttpd server set up like libreflex's
 * HTTP layer (one single-threaded daemon per thread, each with its own listening socket on the port, 8 KiB of
 * memory per connection) that reads the body and answers 202 without doing any work. */
#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url, const char *method,
			      const char *version, const char *data, size_t *size, void **state)
{
	static int first;
	(void)cls, (void)url, (void)method, (void)version, (void)data;
	if (!*state) {
		*state = &first;
		return MHD_YES;
	}
	if (*size) {
		*size = 0;
		return MHD_YES;
	}
	static const char body[] = "{\"events\":[]}";
	struct MHD_Response *r =
	    MHD_create_response_from_buffer(sizeof(body) - 1, (void *)body, MHD_RESPMEM_PERSISTENT);
	MHD_add_response_header(r, "Content-Type", "application/json");
	enum MHD_Result rc = MHD_queue_response(c, 202, r);
	MHD_destroy_response(r);
	return rc;
}

int main(int argc, char **argv)
{
	int port = argc > 1 ? atoi(argv[1]) : 18090;
	unsigned threads = argc > 2 ? (unsigned)atoi(argv[2]) : 4;
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	sa.sin_addr.s_addr = htonl(0x7f000001);
	struct MHD_Daemon *d[64];
	if (threads < 1 || threads > 64)
		threads = 4;
	for (unsigned i = 0; i < threads; i++) {
		d[i] = MHD_start_daemon(
		    MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_TURBO, 0, NULL, NULL, handle,
		    NULL, MHD_OPTION_SOCK_ADDR, &sa, MHD_OPTION_LISTENING_ADDRESS_REUSE, (unsigned)1,
		    MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(8 * 1024), MHD_OPTION_END);
		if (!d[i]) {
			fprintf(stderr, "bare_mhd: cannot listen on 127.0.0.1:%d\n", port);
			return 1;
		}
	}
	sigset_t s;
	sigemptyset(&s);
	sigaddset(&s, SIGTERM);
	sigaddset(&s, SIGINT);
	sigprocmask(SIG_BLOCK, &s, NULL);
	int sig;
	sigwait(&s, &sig);
	for (unsigned i = 0; i < threads; i++)
		MHD_stop_daemon(d[i]);
	return 0;
}
