/*
 * libFuzzer harness for the deadline heap in src/_core/heap.c.
 *
 * The input is a program: each operation is an opcode byte and its operand
 * bytes (schedule, cancel, pop = top + cancel as the engine does, reserve
 * more ids, clear). The heap runs it next to a trivially correct reference
 * (a flat table of id -> deadline, order), and after every operation the
 * harness checks the heap property, pos[] against entries[], and that both
 * agree on what is scheduled and on which entry comes out first.
 *
 * Build: clang -g -O1 -fsanitize=fuzzer,address,undefined -Isrc/_core
 *        fuzz/fuzz_heap.c src/_core/heap.c   (fuzz/run.sh does it)
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "heap.h"

#define CHECK(cond)                                                                \
    do {                                                                           \
        if (!(cond)) {                                                             \
            fprintf(stderr, "fuzz_heap: invariant failed at line %d: %s\n",        \
                    __LINE__, #cond);                                              \
            abort();                                                               \
        }                                                                          \
    } while (0)

#define MAX_IDS 300 /* past 256, so some ids need two operand bytes' worth */

typedef struct ref_entry {
    int scheduled;
    uint64_t deadline;
    uint64_t order;
} ref_entry;

typedef struct reader {
    const uint8_t *data;
    size_t size, at;
} reader;

static uint8_t next_byte(reader *r) {
    return r->at < r->size ? r->data[r->at++] : 0;
}

/* Ids mostly within capacity, sometimes just past it (must be refused). */
static uint32_t next_id(reader *r, uint32_t id_capacity) {
    uint32_t raw = (uint32_t)next_byte(r) << 8 | next_byte(r);
    return raw % (id_capacity + 2);
}

/* Deadlines from a small range (ties exercise the order tie-break), or the
 * extremes of the 64-bit range. */
static uint64_t next_deadline(reader *r) {
    uint8_t b = next_byte(r);
    switch (b >> 6) {
    case 0:
    case 1:
        return b & 0x0f;
    case 2:
        return UINT64_MAX - (b & 0x0f);
    default:
        return ((uint64_t)b << 56) | ((uint64_t)next_byte(r) << 24) | next_byte(r);
    }
}

static int earlier(uint64_t da, uint64_t oa, uint64_t db, uint64_t ob) {
    return da != db ? da < db : oa < ob;
}

static void check(const fp_heap *heap, const ref_entry *ref) {
    CHECK(heap->length <= heap->capacity && heap->capacity >= heap->id_capacity);
    uint32_t count = 0;
    for (uint32_t id = 0; id < heap->id_capacity; id++) {
        uint32_t index = heap->pos[id];
        if (!ref[id].scheduled) {
            CHECK(index == FP_HEAP_ABSENT);
            continue;
        }
        count++;
        CHECK(index < heap->length);
        const fp_heap_entry *e = &heap->entries[index];
        CHECK(e->id == id && e->deadline == ref[id].deadline && e->order == ref[id].order);
    }
    CHECK(count == heap->length);
    for (uint32_t i = 1; i < heap->length; i++) {
        const fp_heap_entry *e = &heap->entries[i], *p = &heap->entries[(i - 1) / 4];
        CHECK(!earlier(e->deadline, e->order, p->deadline, p->order));
    }
    /* The top is the reference's earliest entry. */
    const fp_heap_entry *top = fp_heap_top(heap);
    int best = -1;
    for (uint32_t id = 0; id < heap->id_capacity; id++)
        if (ref[id].scheduled &&
            (best < 0 || earlier(ref[id].deadline, ref[id].order, ref[best].deadline,
                                 ref[best].order)))
            best = (int)id;
    CHECK((best < 0) == (top == NULL));
    if (top)
        CHECK(top->id == (uint32_t)best);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static ref_entry ref[MAX_IDS];
    memset(ref, 0, sizeof ref);
    fp_heap heap;
    fp_heap_init(&heap);
    reader r = {data, size, 0};
    uint64_t next_order = 0;
    CHECK(fp_heap_top(&heap) == NULL);
    CHECK(fp_heap_reserve_ids(&heap, 1 + next_byte(&r) % 16) == 0);

    while (r.at < r.size) {
        uint8_t op = next_byte(&r);
        switch (op % 8) {
        case 0: case 1: case 2: { /* schedule (new or moved) */
            uint32_t id = next_id(&r, heap.id_capacity);
            uint64_t deadline = next_deadline(&r);
            int rc = fp_heap_schedule(&heap, id, deadline);
            if (id >= heap.id_capacity) {
                CHECK(rc == -EINVAL);
                break;
            }
            CHECK(rc == 0);
            ref[id] = (ref_entry){1, deadline, next_order++};
            break;
        }
        case 3: case 4: { /* cancel, scheduled or not, in range or not */
            uint32_t id = next_id(&r, heap.id_capacity);
            fp_heap_cancel(&heap, id);
            if (id < heap.id_capacity)
                ref[id].scheduled = 0;
            break;
        }
        case 5: case 6: { /* pop: what the engine does with an expired entry */
            const fp_heap_entry *top = fp_heap_top(&heap);
            if (!top)
                break;
            uint32_t id = top->id;
            fp_heap_cancel(&heap, id);
            ref[id].scheduled = 0;
            break;
        }
        default: /* more ids (the host table grows), or clear */
            if (op & 0x80) {
                fp_heap_clear(&heap);
                memset(ref, 0, sizeof ref);
            } else {
                uint32_t want = heap.id_capacity + 1 + next_byte(&r) % 64;
                if (want > MAX_IDS)
                    want = MAX_IDS;
                CHECK(fp_heap_reserve_ids(&heap, want) == 0);
                CHECK(heap.id_capacity == want);
            }
            break;
        }
        check(&heap, ref);
    }
    /* Draining pops everything in (deadline, order) order. */
    uint64_t last_deadline = 0, last_order = 0;
    int first = 1;
    while (fp_heap_top(&heap)) {
        const fp_heap_entry top = *fp_heap_top(&heap);
        CHECK(first || !earlier(top.deadline, top.order, last_deadline, last_order));
        first = 0;
        last_deadline = top.deadline;
        last_order = top.order;
        fp_heap_cancel(&heap, top.id);
        ref[top.id].scheduled = 0;
        check(&heap, ref);
    }
    fp_heap_free(&heap);
    return 0;
}
