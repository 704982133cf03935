/*
 * The deadline heap behind the engine's one timerfd.
 *
 * Each entry is a (deadline, order, id) triple; an id is a small integer (a
 * host's index) that is in the heap at most once. The heap is 4-ary and
 * stored in one array: a parent's four children share a cache line or two,
 * which beats a binary heap on sift-down (libev's observation), and no entry
 * is ever allocated on its own.
 *
 * Invariants, which every function keeps:
 * - Every entry's (deadline, order) is no smaller than its parent's, so the
 *   root holds the earliest deadline.
 * - Entries with equal deadlines come out in the order they were scheduled:
 *   `order` is a counter that only grows.
 * - pos[id] is the index of id's entry, or FP_HEAP_ABSENT when id is not
 *   scheduled. Only ids below id_capacity may be used.
 *
 * The caller pops expired entries one at a time and decides what to do with
 * each, so rescheduling or cancelling from within that work is safe.
 */
#ifndef FASTPING_HEAP_H
#define FASTPING_HEAP_H

#include <stdint.h>

#define FP_HEAP_ABSENT UINT32_MAX

typedef struct fp_heap_entry {
    uint64_t deadline; /* monotonic nanoseconds */
    uint64_t order;    /* tie-breaker: scheduling order */
    uint32_t id;
} fp_heap_entry;

typedef struct fp_heap {
    fp_heap_entry *entries;
    uint32_t length;
    uint32_t capacity;
    uint32_t *pos; /* id -> index in entries, or FP_HEAP_ABSENT */
    uint32_t id_capacity;
    uint64_t next_order;
} fp_heap;

void fp_heap_init(fp_heap *heap);
void fp_heap_free(fp_heap *heap);

/* Makes ids below id_capacity usable. Returns 0 or -ENOMEM. */
int fp_heap_reserve_ids(fp_heap *heap, uint32_t id_capacity);

/* Schedules id at deadline, moving it if it was already scheduled. Returns 0,
 * or -EINVAL for an id not below id_capacity (fp_heap_reserve_ids makes room,
 * so scheduling itself never allocates). */
int fp_heap_schedule(fp_heap *heap, uint32_t id, uint64_t deadline);

/* Removes id if it is scheduled; does nothing otherwise. */
void fp_heap_cancel(fp_heap *heap, uint32_t id);

/* Removes every entry. */
void fp_heap_clear(fp_heap *heap);

/* The earliest entry, or NULL when the heap is empty. */
static inline const fp_heap_entry *fp_heap_top(const fp_heap *heap) {
    return heap->length ? &heap->entries[0] : 0;
}

#endif
