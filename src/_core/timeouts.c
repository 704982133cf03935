#include "timeouts.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define MIN_CAPACITY 64

void fp_timeouts_free(fp_timeouts *t) {
    for (uint32_t i = 0; i < t->used; i++)
        free(t->queues[i].serials);
    memset(t, 0, sizeof *t);
}

int fp_timeouts_acquire(fp_timeouts *t, uint64_t timeout_ns) {
    int free_index = -1;
    for (uint32_t i = 0; i < t->used; i++) {
        fp_timeout_queue *q = &t->queues[i];
        if (q->timeout_ns == timeout_ns) {
            q->users++;
            return (int)i;
        }
        if (free_index < 0 && q->users == 0 && q->count == 0)
            free_index = (int)i;
    }
    if (free_index < 0) {
        if (t->used == FP_MAX_TIMEOUTS)
            return -ENOSPC;
        free_index = (int)t->used++;
    }
    fp_timeout_queue *q = &t->queues[free_index];
    q->timeout_ns = timeout_ns;
    q->users = 1;
    q->head = 0;
    return free_index;
}

void fp_timeouts_release(fp_timeouts *t, int index) {
    if (index >= 0 && (uint32_t)index < t->used && t->queues[index].users > 0)
        t->queues[index].users--;
}

void fp_timeouts_clear(fp_timeouts *t) {
    for (uint32_t i = 0; i < t->used; i++)
        t->queues[i].head = t->queues[i].count = 0;
}

/* Doubles the queue, keeping its serials in order from index 0. */
static int grow(fp_timeout_queue *q) {
    uint32_t capacity = q->mask ? (q->mask + 1) * 2 : MIN_CAPACITY;
    if (capacity == 0)
        return -ENOMEM;
    uint64_t *serials = malloc((size_t)capacity * sizeof *serials);
    if (!serials)
        return -ENOMEM;
    for (uint32_t i = 0; i < q->count; i++)
        serials[i] = q->serials[(q->head + i) & q->mask];
    free(q->serials);
    q->serials = serials;
    q->head = 0;
    q->mask = capacity - 1;
    return 0;
}

int fp_timeout_queue_push(fp_timeout_queue *q, uint64_t serial) {
    if (!q->serials || q->count == q->mask + 1) {
        int rc = grow(q);
        if (rc != 0)
            return rc;
    }
    q->serials[(q->head + q->count) & q->mask] = serial;
    q->count++;
    return 0;
}
