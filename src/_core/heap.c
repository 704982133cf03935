#include "heap.h"

#include <errno.h>
#include <stdlib.h>

#define ARITY 4

static int earlier(const fp_heap_entry *a, const fp_heap_entry *b) {
    if (a->deadline != b->deadline)
        return a->deadline < b->deadline;
    return a->order < b->order;
}

static void place(fp_heap *heap, uint32_t index, fp_heap_entry entry) {
    heap->entries[index] = entry;
    heap->pos[entry.id] = index;
}

static void sift_up(fp_heap *heap, uint32_t index) {
    fp_heap_entry entry = heap->entries[index];
    while (index > 0) {
        uint32_t parent = (index - 1) / ARITY;
        if (!earlier(&entry, &heap->entries[parent]))
            break;
        place(heap, index, heap->entries[parent]);
        index = parent;
    }
    place(heap, index, entry);
}

static void sift_down(fp_heap *heap, uint32_t index) {
    fp_heap_entry entry = heap->entries[index];
    for (;;) {
        uint64_t first = (uint64_t)index * ARITY + 1;
        if (first >= heap->length)
            break;
        uint32_t best = (uint32_t)first;
        uint64_t end = first + ARITY < heap->length ? first + ARITY : heap->length;
        for (uint32_t child = best + 1; child < end; child++)
            if (earlier(&heap->entries[child], &heap->entries[best]))
                best = child;
        if (!earlier(&heap->entries[best], &entry))
            break;
        place(heap, index, heap->entries[best]);
        index = best;
    }
    place(heap, index, entry);
}

void fp_heap_init(fp_heap *heap) {
    heap->entries = NULL;
    heap->length = heap->capacity = 0;
    heap->pos = NULL;
    heap->id_capacity = 0;
    heap->next_order = 0;
}

void fp_heap_free(fp_heap *heap) {
    free(heap->entries);
    free(heap->pos);
    fp_heap_init(heap);
}

int fp_heap_reserve_ids(fp_heap *heap, uint32_t id_capacity) {
    if (id_capacity <= heap->id_capacity)
        return 0;
    /* At most one entry per id, so this many entries always suffice. */
    fp_heap_entry *entries = realloc(heap->entries, (size_t)id_capacity * sizeof *entries);
    if (!entries)
        return -ENOMEM;
    heap->entries = entries;
    heap->capacity = id_capacity;
    uint32_t *pos = realloc(heap->pos, (size_t)id_capacity * sizeof *pos);
    if (!pos)
        return -ENOMEM;
    for (uint32_t id = heap->id_capacity; id < id_capacity; id++)
        pos[id] = FP_HEAP_ABSENT;
    heap->pos = pos;
    heap->id_capacity = id_capacity;
    return 0;
}

int fp_heap_schedule(fp_heap *heap, uint32_t id, uint64_t deadline) {
    if (id >= heap->id_capacity)
        return -EINVAL;
    fp_heap_entry entry = {deadline, heap->next_order++, id};
    uint32_t index = heap->pos[id];
    if (index == FP_HEAP_ABSENT) {
        index = heap->length++;
        place(heap, index, entry);
        sift_up(heap, index);
        return 0;
    }
    int moved_earlier = earlier(&entry, &heap->entries[index]);
    place(heap, index, entry);
    if (moved_earlier)
        sift_up(heap, index);
    else
        sift_down(heap, index);
    return 0;
}

void fp_heap_cancel(fp_heap *heap, uint32_t id) {
    if (id >= heap->id_capacity || heap->pos[id] == FP_HEAP_ABSENT)
        return;
    uint32_t index = heap->pos[id];
    heap->pos[id] = FP_HEAP_ABSENT;
    uint32_t last = --heap->length;
    if (index == last)
        return;
    fp_heap_entry moved = heap->entries[last];
    place(heap, index, moved);
    if (index > 0 && earlier(&moved, &heap->entries[(index - 1) / ARITY]))
        sift_up(heap, index);
    else
        sift_down(heap, index);
}

void fp_heap_clear(fp_heap *heap) {
    for (uint32_t i = 0; i < heap->length; i++)
        heap->pos[heap->entries[i].id] = FP_HEAP_ABSENT;
    heap->length = 0;
}
