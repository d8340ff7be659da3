/* forward.h -- delivers the outbox to the classifier in order: 2xx delivered, 5xx or no answer retried with
 * backoff, other 4xx logged with the problem and dropped with a counter. */
#ifndef POLLER_FORWARD_H
#define POLLER_FORWARD_H

#include <stdatomic.h>
#include "outbox.h"

typedef struct forward_opts {
	const char *classifier_url; /* base; events go to <base>/v1/events */
	const char *token_file;	    /* may be NULL */
	long timeout_ms;
	long retry_min_ms, retry_max_ms;
	outbox *ob;
	atomic_bool *stop;
} forward_opts;

typedef struct forwarder forwarder;

rfx_err forward_start(const forward_opts *o, forwarder **out, char *err, size_t errlen);
/* Finishes the delivery in flight (bounded by the request timeout) and joins the thread. */
void forward_stop(forwarder *f);

/* What a classifier answer means for the record. */
typedef enum { FWD_DELIVERED, FWD_DROP, FWD_RETRY } forward_verdict;
forward_verdict forward_classify(rfx_err transport, long status);

#endif
