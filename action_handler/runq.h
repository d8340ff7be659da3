/* runq.h -- queued target runs: one FIFO per target and a FIFO of targets ready to run, so a worker takes the
 * oldest runnable job in O(1) and a target never has two runs at once. Not thread-safe: the engine's lock. */
#ifndef AH_RUNQ_H
#define AH_RUNQ_H

#include "action.h"

typedef struct runq runq;

runq *runq_new(size_t max_jobs);
void runq_free(runq *q);
bool runq_has_room(const runq *q, size_t n);
/* Queues run i of a (its key set). force ignores the bound (journal replay must not drop accepted work). */
rfx_err runq_push(runq *q, action *a, size_t i, bool force);
/* Takes the oldest job whose target is idle and marks that target busy. false when none. */
bool runq_pop(runq *q, action **a, size_t *i);
/* The run on key finished: the target is idle again. */
void runq_done(runq *q, const char *key);
size_t runq_queued(const runq *q);
size_t runq_busy(const runq *q);

#endif
