/*
 * When each probe in flight times out: one FIFO queue per distinct timeout.
 *
 * A host's probes time out after its own timeout, and there are few distinct
 * timeouts (one for a Pinger's round, a handful in an exporter's config). Each
 * has a queue of the serials sent with it. Probes are sent in time order, so
 * every queue is also in deadline order, oldest at its head: the next expiry
 * of all probes is the earliest of the heads. Enqueueing and expiring a probe
 * are O(1), finding the next deadline is O(queues in use): no heap, and no
 * timer or descriptor per probe.
 *
 * A queue keeps the serials of probes already answered until they reach its
 * head: the engine skips them there (it knows which are still outstanding).
 *
 * Invariants:
 * - queues[i].timeout_ns is 0 exactly when queue i was never used.
 * - A queue with users is never repurposed; one with no users and no serials
 *   may take another timeout. Serials of a queue's probes were all sent with
 *   its timeout.
 * - used is one past the highest queue index ever taken: scans stop there.
 */
#ifndef FASTPING_TIMEOUTS_H
#define FASTPING_TIMEOUTS_H

#include <stdint.h>

#define FP_MAX_TIMEOUTS 32

typedef struct fp_timeout_queue {
    uint64_t timeout_ns;
    uint32_t users; /* hosts (and the engine's default) that send with it */
    uint32_t head;  /* index of the oldest serial in serials */
    uint32_t count;
    uint32_t mask;  /* capacity - 1; capacity is a power of two, or 0 */
    uint64_t *serials;
} fp_timeout_queue;

typedef struct fp_timeouts {
    fp_timeout_queue queues[FP_MAX_TIMEOUTS];
    uint32_t used;
} fp_timeouts;

/* Frees every queue's memory; the struct is then as zero-initialised. */
void fp_timeouts_free(fp_timeouts *timeouts);

/* A queue for timeout_ns (> 0), with one more user: the one that has that
 * timeout already, or a free one. Returns its index, or -ENOSPC when
 * FP_MAX_TIMEOUTS other timeouts are in use. */
int fp_timeouts_acquire(fp_timeouts *timeouts, uint64_t timeout_ns);

/* One user less for the queue (its serials stay until they expire). */
void fp_timeouts_release(fp_timeouts *timeouts, int index);

/* Empties every queue (the engine forgot all its probes); users stay. */
void fp_timeouts_clear(fp_timeouts *timeouts);

/* Appends serial to the queue. Returns 0 or -ENOMEM. */
int fp_timeout_queue_push(fp_timeout_queue *queue, uint64_t serial);

/* The oldest serial of a non-empty queue, and taking it off. */
static inline uint64_t fp_timeout_queue_head(const fp_timeout_queue *queue) {
    return queue->serials[queue->head];
}

static inline void fp_timeout_queue_pop(fp_timeout_queue *queue) {
    queue->head = (queue->head + 1) & queue->mask;
    queue->count--;
}

#endif
