#define _GNU_SOURCE
#include "engine.h"

#include <errno.h>
#include <linux/errqueue.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "heap.h"
#include "sockets.h"
#include "timeouts.h"
#include "track.h"

#define FAMILY_V4 0
#define FAMILY_V6 1
#define TIMER_TAG 2
#define RECV_BATCH 32
/* An outcome may write two events: its own and its host's change of health. */
#define EVENTS_PER_OUTCOME 2
/* Sends between two drains of the sockets: small enough that replies never
 * pile up in the receive buffer, large enough to amortise the drain. */
#define SEND_BURST 64
#define RING_MIN_CAPACITY 1024
#define CONTROL_LEN 256
/* Receive buffer bytes per reply in flight: a small ICMP reply's skb costs
 * well under this much of the buffer's accounting (its truesize). */
#define RCVBUF_PER_REPLY 2048
#define RCVBUF_MIN (256 * 1024)
#define RCVBUF_MAX (1 << 30)
/* Tries of one send on a datagram socket while its failure may be another
 * probe's pending error (see send_probe): enough that a flood of forged errors
 * at 100,000/s, a few percent of them landing between two tries, fails none. */
#define SEND_TRIES 8
/* A host without a timeout of its own sends with the engine's default. */
#define FOLLOWS_DEFAULT UINT8_MAX

enum probe_state {
    PROBE_FREE = 0,
    PROBE_OUTSTANDING,
    PROBE_RESOLVED, /* answered, or an error was reported for it */
    PROBE_EXPIRED,
    PROBE_CANCELLED,
};

typedef struct fp_probe {
    uint64_t serial;
    uint64_t sent_mono;
    uint64_t sent_real;
    uint32_t host;
    uint32_t generation; /* the host's generation when sent */
    uint8_t state;
    uint8_t unverified; /* an unverified error is remembered for it (fp_unverified) */
    uint8_t timeout;    /* index of the timeout queue it was sent with */
    uint8_t cookie[FP_COOKIE_LEN]; /* as sent: a reply is checked against it, not rehashed */
} fp_probe;

/* An ICMP error that quoted too little of a probe to carry its tag: anyone
 * who knows the identifier and a sequence can send one, so it resolves
 * nothing; if the probe times out unanswered, it is reported as this error.
 * Kept apart from the ring, per ring slot, allocated at the first one. */
typedef struct fp_unverified {
    uint64_t rtt_ns; /* when it came */
    uint8_t type;
    uint8_t code;
    uint8_t from_family;
    uint8_t from[16];
} fp_unverified;

typedef struct fp_host {
    union {
        struct sockaddr_in v4;
        struct sockaddr_in6 v6;
    } address;
    uint64_t period_ns;  /* repeat interval, 0 for a single probe */
    uint32_t generation; /* bumped on removal so stale probes never match */
    uint8_t family;      /* FAMILY_V4 or FAMILY_V6 */
    uint8_t in_use;
    uint8_t timeout; /* its own timeout queue, or FOLLOWS_DEFAULT */
    uint8_t report_outcomes; /* even while tracking (fp_engine_set_host_reporting) */
} fp_host;

typedef struct run_context {
    fp_event *events;
    uint32_t capacity;
    uint32_t count;
} run_context;

struct fp_engine {
    int epoll_fd;
    int timer_fd;
    fp_socket sockets[2];
    fp_config config;
    uint8_t key[FP_SIPHASH_KEY_LEN]; /* the secret that makes each probe's cookie */

    fp_host *hosts;
    uint32_t host_count; /* high-water mark of indexes handed out */
    uint32_t host_capacity;
    uint32_t live_hosts;
    uint32_t *free_hosts; /* removed indexes, reused first */
    uint32_t free_count;

    fp_heap heap;
    fp_timeouts timeouts;
    int default_timeout; /* the queue of hosts without a timeout of their own */

    fp_probe *ring;
    fp_unverified *unverified; /* per ring slot, NULL until the first */
    uint64_t ring_mask;
    uint64_t tail;        /* oldest serial that may still be outstanding */
    uint64_t next_serial; /* serial of the next probe sent */
    uint32_t outstanding;

    uint64_t armed_deadline; /* what the timerfd is set for, 0 if disarmed */
    uint64_t send_slack_ns;  /* how early a send may go, to share a wake-up */
    uint64_t send_gap_ns;    /* the least time between two sends, 0 for none */
    uint64_t last_send_ns;   /* monotonic time of the last send attempt */
    atomic_int wake_requested;
    int rcvbuf;
    int sockets_unwatched; /* taken out of the epoll set while sending (see unwatch_sockets) */

    fp_counters counters;

    int tracking;        /* per-host health is kept (fp_engine_track) */
    int report_outcomes; /* while tracking, also report every outcome */
    fp_track_config track_config;
    fp_track *tracks;     /* per host index */
    fp_sample *track_windows; /* window samples, track_config.window per host */
    uint64_t *track_histograms; /* track_config.buckets + 1 counts per host */
    fp_track_span *track_spans; /* one per host when track_config.spans */
    float *track_scratch; /* room to sort one window */

    uint8_t *tx;
    size_t tx_capacity;
    uint8_t *rx;
    size_t rx_slot_len;
    struct mmsghdr rx_messages[RECV_BATCH];
    struct iovec rx_iov[RECV_BATCH];
    struct sockaddr_in6 rx_names[RECV_BATCH];
    uint8_t rx_control[RECV_BATCH][CONTROL_LEN];
};

static uint64_t clock_ns(clockid_t clock) {
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t fp_monotonic_ns(void) { return clock_ns(CLOCK_MONOTONIC); }

static int family_index(int af) {
    return af == AF_INET ? FAMILY_V4 : af == AF_INET6 ? FAMILY_V6 : -1;
}

static const uint8_t *address_bytes(const struct sockaddr *sa) {
    if (sa->sa_family == AF_INET)
        return (const uint8_t *)&((const struct sockaddr_in *)sa)->sin_addr;
    return (const uint8_t *)&((const struct sockaddr_in6 *)sa)->sin6_addr;
}

static size_t address_len(int fi) { return fi == FAMILY_V4 ? 4 : 16; }

static int host_has_address(const fp_host *host, const uint8_t *bytes) {
    const uint8_t *own = address_bytes((const struct sockaddr *)&host->address);
    return memcmp(own, bytes, address_len(host->family)) == 0;
}

/* ---- the socket of one family ------------------------------------------ */

static int watch_socket(fp_engine *e, int fi, int fd) {
    struct epoll_event interest = {.events = EPOLLIN, .data.u32 = (uint32_t)fi};
    return epoll_ctl(e->epoll_fd, EPOLL_CTL_ADD, fd, &interest) < 0 && errno != EEXIST ? -errno : 0;
}

/* While a run sends, its sockets are out of the epoll set: otherwise every probe sent and
 * every reply queued walks the socket's wait queue to our epoll entry (sock_wfree,
 * sock_def_readable), 3-4% of a round's CPU. The loop drains the sockets itself after every
 * burst, and puts them back before it waits or returns (watch_sockets), so outside
 * fp_engine_run they are always watched, and epoll reports at once what came meanwhile. */
static void unwatch_sockets(fp_engine *e) {
    if (e->sockets_unwatched)
        return;
    for (int fi = 0; fi < 2; fi++)
        if (e->sockets[fi].fd >= 0)
            epoll_ctl(e->epoll_fd, EPOLL_CTL_DEL, e->sockets[fi].fd, NULL);
    e->sockets_unwatched = 1;
}

static int watch_sockets(fp_engine *e) {
    if (!e->sockets_unwatched)
        return 0;
    for (int fi = 0; fi < 2; fi++) {
        int rc = e->sockets[fi].fd >= 0 ? watch_socket(e, fi, e->sockets[fi].fd) : 0;
        if (rc != 0)
            return rc;
    }
    e->sockets_unwatched = 0;
    return 0;
}

static int open_socket(fp_engine *e, int fi) {
    fp_socket sock;
    int rc = fp_socket_open(&e->config, fi == FAMILY_V4 ? AF_INET : AF_INET6, e->rcvbuf, &sock);
    if (rc != 0)
        return rc;
    rc = watch_socket(e, fi, sock.fd);
    if (rc != 0) {
        /* Not yet handed to the engine: this is its only owner. */
        close(sock.fd);
        return rc;
    }
    e->sockets[fi] = sock;
    return 0;
}

/* ---- open and close ------------------------------------------------------ */

void fp_engine_close(fp_engine *e) {
    if (!e)
        return;
    for (int fi = 0; fi < 2; fi++)
        if (e->sockets[fi].fd >= 0)
            close(e->sockets[fi].fd);
    if (e->timer_fd >= 0)
        close(e->timer_fd);
    if (e->epoll_fd >= 0)
        close(e->epoll_fd);
    fp_heap_free(&e->heap);
    fp_timeouts_free(&e->timeouts);
    free(e->hosts);
    free(e->free_hosts);
    free(e->ring);
    free(e->unverified);
    free(e->tx);
    free(e->rx);
    free(e->tracks);
    free(e->track_windows);
    free(e->track_histograms);
    free(e->track_spans);
    free(e->track_scratch);
    free(e);
}

int fp_engine_open(fp_engine **out, const fp_config *config) {
    *out = NULL;
    if (config->payload_len < FP_TAG_LEN || config->timeout_ns == 0)
        return -EINVAL;
    /* Datagram ICMP sockets carry echo requests only (the kernel refuses others). */
    if (config->icmp_timestamp && config->privilege == FP_PRIVILEGE_DATAGRAM)
        return -EPROTONOSUPPORT;
    fp_engine *e = calloc(1, sizeof *e);
    if (!e)
        return -ENOMEM;
    /* Every descriptor is -1 before anything can fail, so close is safe. */
    e->epoll_fd = e->timer_fd = -1;
    e->sockets[0].fd = e->sockets[1].fd = -1;
    e->config = *config;
    e->config.interface[sizeof e->config.interface - 1] = '\0';
    fp_heap_init(&e->heap);
    e->tail = e->next_serial = 1;
    e->rcvbuf = RCVBUF_MIN;
    atomic_init(&e->wake_requested, 0);

    int rc = 0;
    e->tx_capacity = FP_ICMP_HEADER_LEN + config->payload_len;
    /* Room for the largest thing we expect: our own reply behind an IP
     * header, or an error quoting our probe behind two. */
    e->rx_slot_len = e->tx_capacity + 2 * (60 + FP_ICMP_HEADER_LEN) + 64;
    e->ring_mask = RING_MIN_CAPACITY - 1;
    e->tx = malloc(e->tx_capacity);
    e->rx = malloc(e->rx_slot_len * RECV_BATCH);
    e->ring = calloc(RING_MIN_CAPACITY, sizeof *e->ring);
    if (!e->tx || !e->rx || !e->ring)
        rc = -ENOMEM;
    if (rc == 0 && (e->default_timeout = fp_timeouts_acquire(&e->timeouts, config->timeout_ns)) < 0)
        rc = e->default_timeout;
    if (rc == 0 && getrandom(e->key, sizeof e->key, 0) != sizeof e->key)
        rc = -errno;
    if (rc == 0 && (e->epoll_fd = epoll_create1(EPOLL_CLOEXEC)) < 0)
        rc = -errno;
    if (rc == 0 && (e->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC)) < 0)
        rc = -errno;
    if (rc == 0) {
        struct epoll_event interest = {.events = EPOLLIN, .data.u32 = TIMER_TAG};
        if (epoll_ctl(e->epoll_fd, EPOLL_CTL_ADD, e->timer_fd, &interest) < 0)
            rc = -errno;
    }
    if (rc != 0) {
        fp_engine_close(e);
        return rc;
    }
    for (int i = 0; i < RECV_BATCH; i++) {
        e->rx_iov[i].iov_base = e->rx + (size_t)i * e->rx_slot_len;
        e->rx_iov[i].iov_len = e->rx_slot_len;
        struct msghdr *m = &e->rx_messages[i].msg_hdr;
        m->msg_iov = &e->rx_iov[i];
        m->msg_iovlen = 1;
    }
    *out = e;
    return 0;
}

static int arm_timer(fp_engine *e, uint64_t deadline);

/* ---- hosts ---------------------------------------------------------------- */

/* Where a host's tracking state lives; see fp_track_ref. */
static fp_track_ref track_of(fp_engine *e, uint32_t host) {
    const fp_track_config *config = &e->track_config;
    return (fp_track_ref){
        .track = &e->tracks[host],
        .window = e->track_windows + (size_t)host * config->window,
        .histogram = config->buckets ? e->track_histograms + (size_t)host * (config->buckets + 1)
                                     : NULL,
        .span = config->spans ? &e->track_spans[host] : NULL,
    };
}

/* One per-host array of the tracking state grown to capacity hosts; on failure
 * (or after an earlier one, *rc already set) the array as it was, and *rc set. */
static void *grown(void *array, uint32_t capacity, size_t per_host, int *rc) {
    if (*rc != 0)
        return array;
    void *larger = realloc(array, (size_t)capacity * per_host);
    if (!larger) {
        *rc = -ENOMEM;
        return array;
    }
    return larger;
}

static int grow_tracks(fp_engine *e, uint32_t capacity) {
    const fp_track_config *config = &e->track_config;
    size_t window = config->window ? config->window : 1;
    int rc = 0;
    e->tracks = grown(e->tracks, capacity, sizeof *e->tracks, &rc);
    e->track_windows = grown(e->track_windows, capacity, window * sizeof(fp_sample), &rc);
    if (config->buckets)
        e->track_histograms = grown(e->track_histograms, capacity,
                                    (config->buckets + 1) * sizeof(uint64_t), &rc);
    if (config->spans)
        e->track_spans = grown(e->track_spans, capacity, sizeof(fp_track_span), &rc);
    return rc;
}

static int grow_hosts(fp_engine *e) {
    uint32_t capacity = e->host_capacity ? e->host_capacity * 2 : 64;
    if (capacity <= e->host_capacity)
        return -ENOMEM;
    fp_host *hosts = realloc(e->hosts, (size_t)capacity * sizeof *hosts);
    if (!hosts)
        return -ENOMEM;
    e->hosts = hosts;
    uint32_t *free_hosts = realloc(e->free_hosts, (size_t)capacity * sizeof *free_hosts);
    if (!free_hosts)
        return -ENOMEM;
    e->free_hosts = free_hosts;
    int rc = fp_heap_reserve_ids(&e->heap, capacity);
    if (rc == 0 && e->tracking)
        rc = grow_tracks(e, capacity);
    if (rc != 0)
        return rc;
    e->host_capacity = capacity;
    return 0;
}

int fp_engine_add_host(fp_engine *e, const struct sockaddr *address, socklen_t length) {
    int fi = family_index(address->sa_family);
    if (fi < 0 || (fi == FAMILY_V6 && e->config.icmp_timestamp))
        return -EAFNOSUPPORT;
    if (length < (fi == FAMILY_V4 ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6)))
        return -EINVAL;
    if (e->sockets[fi].fd < 0) {
        int rc = open_socket(e, fi);
        if (rc != 0)
            return rc;
    }
    uint32_t index;
    if (e->free_count > 0) {
        index = e->free_hosts[--e->free_count];
    } else {
        if (e->host_count == INT32_MAX)
            return -ENOSPC;
        if (e->host_count == e->host_capacity) {
            int rc = grow_hosts(e);
            if (rc != 0)
                return rc;
        }
        index = e->host_count++;
        e->hosts[index].generation = 0;
    }
    fp_host *host = &e->hosts[index];
    memset(&host->address, 0, sizeof host->address);
    memcpy(&host->address, address, fi == FAMILY_V4 ? sizeof host->address.v4 : sizeof host->address.v6);
    host->address.v4.sin_port = 0;
    host->period_ns = 0;
    host->family = (uint8_t)fi;
    host->in_use = 1;
    host->timeout = FOLLOWS_DEFAULT;
    host->report_outcomes = 0;
    e->live_hosts++;
    if (e->tracking)
        fp_track_reset(track_of(e, index), &e->track_config, fp_monotonic_ns());
    return (int)index;
}

static fp_host *live_host(fp_engine *e, uint32_t index) {
    if (index >= e->host_count || !e->hosts[index].in_use)
        return NULL;
    return &e->hosts[index];
}

int fp_engine_remove_host(fp_engine *e, uint32_t index) {
    fp_host *host = live_host(e, index);
    if (!host)
        return -ENOENT;
    fp_heap_cancel(&e->heap, index);
    for (uint64_t serial = e->tail; serial < e->next_serial; serial++) {
        fp_probe *probe = &e->ring[serial & e->ring_mask];
        if (probe->host == index && probe->state == PROBE_OUTSTANDING) {
            probe->state = PROBE_CANCELLED;
            e->outstanding--;
        }
    }
    if (host->timeout != FOLLOWS_DEFAULT)
        fp_timeouts_release(&e->timeouts, host->timeout);
    host->generation++;
    host->in_use = 0;
    e->free_hosts[e->free_count++] = index;
    e->live_hosts--;
    return 0;
}

int fp_engine_schedule(fp_engine *e, uint32_t index, uint64_t deadline, uint64_t period_ns) {
    fp_host *host = live_host(e, index);
    if (!host)
        return -ENOENT;
    host->period_ns = period_ns;
    return fp_heap_schedule(&e->heap, index, deadline);
}

int fp_engine_set_timeout(fp_engine *e, uint64_t timeout_ns) {
    if (timeout_ns == 0)
        return -EINVAL;
    int queue = fp_timeouts_acquire(&e->timeouts, timeout_ns);
    if (queue < 0)
        return queue;
    fp_timeouts_release(&e->timeouts, e->default_timeout);
    e->default_timeout = queue;
    e->config.timeout_ns = timeout_ns;
    return 0;
}

int fp_engine_set_ttl(fp_engine *e, int ttl) {
    if (ttl != -1 && (ttl < 1 || ttl > 255))
        return -EINVAL;
    for (int fi = 0; fi < 2; fi++) {
        if (e->sockets[fi].fd < 0)
            continue;
        int rc = fp_socket_set_ttl(e->sockets[fi].fd, fi == FAMILY_V4 ? AF_INET : AF_INET6, ttl);
        if (rc != 0)
            return rc;
    }
    e->config.ttl = ttl;
    return 0;
}

int fp_engine_set_host_timeout(fp_engine *e, uint32_t index, uint64_t timeout_ns) {
    fp_host *host = live_host(e, index);
    if (!host)
        return -ENOENT;
    int queue = FOLLOWS_DEFAULT;
    if (timeout_ns) {
        queue = fp_timeouts_acquire(&e->timeouts, timeout_ns);
        if (queue < 0)
            return queue;
    }
    if (host->timeout != FOLLOWS_DEFAULT)
        fp_timeouts_release(&e->timeouts, host->timeout);
    host->timeout = (uint8_t)queue;
    return 0;
}

int fp_engine_set_host_reporting(fp_engine *e, uint32_t index, int report_outcomes) {
    fp_host *host = live_host(e, index);
    if (!host)
        return -ENOENT;
    host->report_outcomes = report_outcomes != 0;
    return 0;
}

int fp_engine_cancel_all(fp_engine *e) {
    fp_heap_clear(&e->heap);
    for (uint64_t serial = e->tail; serial < e->next_serial; serial++) {
        fp_probe *probe = &e->ring[serial & e->ring_mask];
        if (probe->state == PROBE_OUTSTANDING)
            probe->state = PROBE_CANCELLED;
    }
    fp_timeouts_clear(&e->timeouts);
    e->outstanding = 0;
    e->tail = e->next_serial;
    return arm_timer(e, UINT64_MAX);
}

int fp_engine_reserve(fp_engine *e, uint32_t replies_in_flight) {
    uint64_t bytes = (uint64_t)replies_in_flight * RCVBUF_PER_REPLY;
    if (bytes > RCVBUF_MAX)
        bytes = RCVBUF_MAX;
    if ((int)bytes <= e->rcvbuf)
        return 0;
    e->rcvbuf = (int)bytes;
    for (int fi = 0; fi < 2; fi++) {
        if (e->sockets[fi].fd < 0)
            continue;
        int rc = fp_socket_set_receive_buffer(e->sockets[fi].fd, e->rcvbuf);
        if (rc != 0)
            return rc;
    }
    return 0;
}

/* ---- the probe ring --------------------------------------------------------- */

static void advance_tail(fp_engine *e) {
    while (e->tail < e->next_serial && e->ring[e->tail & e->ring_mask].state != PROBE_OUTSTANDING)
        e->tail++;
}

/* Makes room for one more probe in flight, doubling the ring when every
 * slot between tail and next_serial is still needed. */
static int reserve_probe(fp_engine *e) {
    if (e->next_serial - e->tail <= e->ring_mask)
        return 0;
    advance_tail(e);
    if (e->next_serial - e->tail <= e->ring_mask)
        return 0;
    uint64_t capacity = (e->ring_mask + 1) * 2;
    fp_probe *ring = calloc(capacity, sizeof *ring);
    fp_unverified *unverified = e->unverified ? calloc(capacity, sizeof *unverified) : NULL;
    if (!ring || (e->unverified && !unverified)) {
        free(ring);
        free(unverified);
        return -ENOMEM;
    }
    for (uint64_t serial = e->tail; serial < e->next_serial; serial++) {
        uint64_t from = serial & e->ring_mask, to = serial & (capacity - 1);
        ring[to] = e->ring[from];
        if (unverified)
            unverified[to] = e->unverified[from];
    }
    free(e->ring);
    e->ring = ring;
    free(e->unverified);
    e->unverified = unverified;
    e->ring_mask = capacity - 1;
    return 0;
}

/* The probe a wire serial names, if it is one we sent and have not yet
 * overwritten; NULL otherwise. */
static fp_probe *probe_for_serial(fp_engine *e, uint64_t serial) {
    if (serial == 0 || serial >= e->next_serial)
        return NULL;
    fp_probe *probe = &e->ring[serial & e->ring_mask];
    if (probe->serial != serial)
        return NULL;
    return probe;
}

static fp_host *probe_host(fp_engine *e, const fp_probe *probe) {
    fp_host *host = live_host(e, probe->host);
    if (!host || host->generation != probe->generation)
        return NULL;
    return host;
}

/* Whether cookie (its first len bytes) is the one we sent with serial to
 * address, of family fi: the probe's own while the ring holds it and its host
 * (half the hashing of a round), else made again. */
static int cookie_is_ours(fp_engine *e, int fi, uint64_t serial, const uint8_t *address,
                          const uint8_t *cookie, size_t len) {
    const fp_probe *probe = probe_for_serial(e, serial);
    const fp_host *host = probe ? probe_host(e, probe) : NULL;
    if (host)
        return host_has_address(host, address) && memcmp(probe->cookie, cookie, len) == 0;
    uint8_t expected[FP_COOKIE_LEN];
    fp_probe_cookie(e->key, serial, address, address_len(fi), expected);
    return memcmp(expected, cookie, len) == 0;
}

/* Room for what one probe outcome may write: itself and a health change. */
static int has_room(const run_context *ctx) {
    return ctx->capacity - ctx->count >= EVENTS_PER_OUTCOME;
}

/* Feeds an outcome to its host's health and statistics; returns the previous
 * health if the outcome changed it, or -1. */
static int track_outcome(fp_engine *e, fp_event *outcome) {
    fp_track *track = &e->tracks[outcome->host];
    if (outcome->kind == FP_EVENT_DUPLICATE) {
        track->duplicates++;
        outcome->health = track->health;
        return -1;
    }
    fp_track_sample sample = {.ok = outcome->kind == FP_EVENT_REPLY,
                              .send_error = outcome->kind == FP_EVENT_SEND_ERROR,
                              .icmp_error = outcome->kind == FP_EVENT_ICMP_ERROR,
                              .ttl = outcome->ttl ? outcome->ttl : -1,
                              .rtt_ns = outcome->rtt_ns};
    int previous = fp_track_record(track_of(e, outcome->host), &e->track_config, &sample,
                                   fp_monotonic_ns);
    outcome->health = track->health;
    return previous;
}

/* Reports how a probe ended (or that it was answered again): as an event
 * unless tracking without per-outcome events, and, when tracking, to its
 * host's health, a change of which is an event of its own. The caller has
 * checked has_room. */
static void report(fp_engine *e, run_context *ctx, const fp_probe *probe, fp_event *outcome) {
    outcome->host = probe->host;
    outcome->seq = (uint16_t)probe->serial;
    int previous = e->tracking ? track_outcome(e, outcome) : -1;
    if (!e->tracking || e->report_outcomes || e->hosts[probe->host].report_outcomes)
        ctx->events[ctx->count++] = *outcome;
    if (previous >= 0) {
        fp_event *change = &ctx->events[ctx->count++];
        *change = *outcome;
        change->kind = FP_EVENT_HEALTH;
        change->cause = outcome->kind;
        change->previous_health = (uint8_t)previous;
    }
}

static uint64_t round_trip(const fp_probe *probe, uint64_t received_real) {
    uint64_t bound = fp_monotonic_ns() - probe->sent_mono;
    if (received_real >= probe->sent_real && received_real - probe->sent_real <= bound)
        return received_real - probe->sent_real;
    return bound;
}

/* ---- receiving ---------------------------------------------------------------- */

typedef struct received {
    const struct sockaddr *from;
    uint64_t when_real; /* kernel timestamp, 0 if none */
    int ttl;            /* from a control message, -1 if none */
    int tos;            /* from a control message or raw IPv4's header, -1 if none */
    uint8_t to_family;  /* the destination address, likewise: AF_INET(6), or 0 if none */
    uint8_t to[16];
} received;

/* The newest serial sent whose low 16 bits are seq: the probe a sequence
 * without a tag names. */
static uint64_t newest_serial_with_seq(const fp_engine *e, uint16_t seq) {
    uint64_t last = e->next_serial - 1;
    return last - (uint16_t)((uint16_t)last - seq);
}

/* Counts a tag whose cookie is not the one we made for its serial and the
 * address it claims. If that serial is a probe we sent to that address (and
 * still hold), the packet claims to answer it and fails: forged or corrupt,
 * malformed. Otherwise it names nothing we sent there: someone else's echo
 * that shares our identifier (or a blind guess), foreign. */
static void count_bad_cookie(fp_engine *e, uint64_t serial, const uint8_t *address) {
    fp_probe *probe = probe_for_serial(e, serial);
    fp_host *host = probe ? probe_host(e, probe) : NULL;
    if (host && host_has_address(host, address))
        e->counters.malformed++;
    else
        e->counters.foreign++;
}

/* Milliseconds since midnight UTC, as ICMP timestamps count, of a wall-clock time. */
static uint32_t ms_of_day(uint64_t real_ns) {
    return (uint32_t)(real_ns / 1000000u % (24u * 3600u * 1000u));
}

/* The type of the requests the family's socket sends. */
static uint8_t request_type(const fp_engine *e, int fi) {
    if (fi == FAMILY_V6)
        return FP_ICMP6_ECHO_REQUEST;
    return e->config.icmp_timestamp ? FP_ICMP4_TIMESTAMP_REQUEST : FP_ICMP4_ECHO_REQUEST;
}

/* A reply that proved to be the answer to probe (or another copy of it). */
static void answer(fp_engine *e, fp_probe *probe, const fp_packet *packet, const received *r,
                   run_context *ctx) {
    if (!probe || !probe_host(e, probe)) {
        e->counters.late++;
        return;
    }
    fp_event outcome = {.rtt_ns = round_trip(probe, r->when_real)};
    if (packet->type == FP_ICMP4_TIMESTAMP_REPLY) {
        uint64_t received_real = r->when_real ? r->when_real : clock_ns(CLOCK_REALTIME);
        outcome.times[0] = ms_of_day(probe->sent_real);
        outcome.times[1] = packet->times[1];
        outcome.times[2] = packet->times[2];
        outcome.times[3] = ms_of_day(received_real);
    }
    if (probe->state == PROBE_OUTSTANDING) {
        outcome.kind = FP_EVENT_REPLY;
        outcome.ttl = (uint8_t)(r->ttl >= 0 ? r->ttl : packet->ttl);
        outcome.tos = (int16_t)r->tos;
        outcome.to_family = r->to_family;
        memcpy(outcome.to, r->to, sizeof outcome.to);
        probe->state = PROBE_RESOLVED;
        e->outstanding--;
        e->counters.replies++;
        report(e, ctx, probe, &outcome);
    } else if (probe->state == PROBE_RESOLVED) {
        outcome.kind = FP_EVENT_DUPLICATE;
        e->counters.duplicates++;
        report(e, ctx, probe, &outcome);
    } else {
        e->counters.late++;
    }
}

/* The probe a timestamp message's sequence and originate field name (a reply's, or a
 * quoted request's), sent to address: among the serials the ring still holds that end
 * in seq (more than one only past 65,536 probes in flight), the one whose cookie gave
 * that originate field. NULL when none did; then *sent_there says whether any of them
 * went to that address (so the message claims one of our probes and fails: malformed). */
static fp_probe *timestamp_probe(fp_engine *e, uint16_t seq, uint32_t originate,
                                 const uint8_t *address, int *sent_there) {
    *sent_there = 0;
    const uint64_t wrap = 1u << 16;
    for (uint64_t serial = newest_serial_with_seq(e, seq);
         serial != 0 && serial < e->next_serial && e->next_serial - serial <= e->ring_mask + 1;
         serial = serial > wrap ? serial - wrap : 0) {
        fp_probe *probe = probe_for_serial(e, serial);
        fp_host *host = probe ? probe_host(e, probe) : NULL;
        if (!host || !host_has_address(host, address))
            continue;
        if (fp_timestamp_originate(probe->cookie) == originate)
            return probe;
        *sent_there = 1;
    }
    return NULL;
}

static void match_timestamp_reply(fp_engine *e, int fi, const fp_packet *packet,
                                  const received *r, run_context *ctx) {
    int sent_there;
    if (!e->config.icmp_timestamp || packet->ident != e->sockets[fi].ident) {
        e->counters.foreign++;
        return;
    }
    fp_probe *probe = timestamp_probe(e, packet->seq, packet->times[0],
                                      address_bytes(r->from), &sent_there);
    if (!probe) {
        if (sent_there)
            e->counters.malformed++;
        else
            e->counters.foreign++;
        return;
    }
    answer(e, probe, packet, r, ctx);
}

static void match_reply(fp_engine *e, int fi, const fp_packet *packet, const received *r,
                        run_context *ctx) {
    uint8_t cookie[FP_COOKIE_LEN];
    uint64_t serial;
    const uint8_t *from = address_bytes(r->from);
    if (e->config.icmp_timestamp || packet->ident != e->sockets[fi].ident) {
        e->counters.foreign++;
        return;
    }
    if (!fp_read_tag(packet->payload, packet->payload_len, cookie, &serial)) {
        /* Too short for a tag: ours cut short if it starts with the cookie of
         * the newest probe with its sequence to its source. */
        int ours = packet->payload_len >= FP_COOKIE_LEN &&
                   cookie_is_ours(e, fi, newest_serial_with_seq(e, packet->seq), from,
                                  packet->payload, FP_COOKIE_LEN);
        if (ours)
            e->counters.malformed++;
        else
            e->counters.foreign++;
        return;
    }
    /* The cookie covers the address: a good one also proves the reply came
     * from the host the serial was sent to. */
    if (!cookie_is_ours(e, fi, serial, from, cookie, FP_COOKIE_LEN)) {
        count_bad_cookie(e, serial, from);
        return;
    }
    /* Our tag with a sequence that disagrees is corruption. */
    if ((uint16_t)serial != packet->seq) {
        e->counters.malformed++;
        return;
    }
    answer(e, probe_for_serial(e, serial), packet, r, ctx);
}

/* Remembers an unverified error for its probe, to report if it times out. */
static void remember_unverified(fp_engine *e, fp_probe *probe, const fp_event *outcome) {
    if (!e->unverified) {
        e->unverified = calloc(e->ring_mask + 1, sizeof *e->unverified);
        /* Without room it is only counted: the probe may still time out. */
        if (!e->unverified)
            return;
    }
    fp_unverified *u = &e->unverified[probe->serial & e->ring_mask];
    *u = (fp_unverified){outcome->rtt_ns, outcome->icmp_type, outcome->icmp_code,
                         outcome->from_family, {0}};
    memcpy(u->from, outcome->from, sizeof u->from);
    probe->unverified = 1;
}

/* The serial a quoted request names: 1 when the quote proves it (our tag, or a
 * timestamp request's originate field, checked as a reply's are), 0 when it is too
 * short to prove anything and only its sequence names the newest probe ending in it,
 * -1 when it fails the check (counted here). */
static int quoted_serial(fp_engine *e, int fi, const fp_packet *quoted, uint64_t *serial) {
    uint8_t cookie[FP_COOKIE_LEN];
    uint32_t originate;
    int sent_there;
    if (e->config.icmp_timestamp &&
        fp_read_originate(quoted->payload, quoted->payload_len, &originate)) {
        fp_probe *probe = timestamp_probe(e, quoted->seq, originate, quoted->quoted_dst,
                                          &sent_there);
        if (probe) {
            *serial = probe->serial;
            return 1;
        }
    } else if (!e->config.icmp_timestamp &&
               fp_read_tag(quoted->payload, quoted->payload_len, cookie, serial)) {
        if (!cookie_is_ours(e, fi, *serial, quoted->quoted_dst, cookie, FP_COOKIE_LEN)) {
            count_bad_cookie(e, *serial, quoted->quoted_dst);
            return -1;
        }
        if ((uint16_t)*serial == quoted->seq)
            return 1;
        sent_there = 1; /* our tag with a sequence that disagrees: corrupt */
    } else {
        /* A short quote (RFC 792 asks for only 8 bytes past the IP header)
         * leaves the sequence: take the newest serial that ends in it. */
        *serial = newest_serial_with_seq(e, quoted->seq);
        return 0;
    }
    if (sent_there)
        e->counters.malformed++;
    else
        e->counters.foreign++;
    return -1;
}

/* An error report about one of our probes: from a raw socket's ICMP error
 * (the quote is in the packet) or a datagram socket's error queue (the
 * kernel hands back the quoted request). outcome holds what is known of the
 * error (an ICMP error's type and code, or a send error's errno). A quote
 * with our tag (or a timestamp request's originate field) must carry the
 * cookie of its serial and destination, and resolves the probe; one too short
 * for it is unverified (fp_unverified). */
static void match_error(fp_engine *e, int fi, const fp_packet *quoted, fp_event *outcome,
                        const received *r, run_context *ctx) {
    uint64_t serial;
    if (quoted->ident != e->sockets[fi].ident || quoted->quoted_type != request_type(e, fi)) {
        e->counters.foreign++;
        return;
    }
    int tagged = quoted_serial(e, fi, quoted, &serial);
    if (tagged < 0)
        return;
    fp_probe *probe = probe_for_serial(e, serial);
    fp_host *host = probe ? probe_host(e, probe) : NULL;
    if (!host || !host_has_address(host, quoted->quoted_dst)) {
        e->counters.foreign++;
        return;
    }
    if (probe->state != PROBE_OUTSTANDING) {
        e->counters.late++;
        return;
    }
    outcome->rtt_ns = round_trip(probe, r->when_real);
    if (r->from && family_index(r->from->sa_family) >= 0) {
        outcome->from_family = (uint8_t)r->from->sa_family;
        memcpy(outcome->from, address_bytes(r->from), r->from->sa_family == AF_INET ? 4 : 16);
    }
    if (!tagged) {
        e->counters.unverified++;
        remember_unverified(e, probe, outcome);
        return;
    }
    probe->state = PROBE_RESOLVED;
    e->outstanding--;
    if (outcome->kind == FP_EVENT_ICMP_ERROR)
        e->counters.icmp_errors++;
    else
        e->counters.send_errors++;
    report(e, ctx, probe, outcome);
}

static void read_control(struct msghdr *m, received *r) {
    for (struct cmsghdr *c = CMSG_FIRSTHDR(m); c; c = CMSG_NXTHDR(m, c)) {
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_TIMESTAMPNS) {
            struct timespec ts;
            memcpy(&ts, CMSG_DATA(c), sizeof ts);
            r->when_real = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
        } else if ((c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_TTL) ||
                   (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_HOPLIMIT)) {
            memcpy(&r->ttl, CMSG_DATA(c), sizeof r->ttl);
        } else if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_TOS) {
            r->tos = *(const uint8_t *)CMSG_DATA(c); /* IPv4's is one byte, IPv6's an int */
        } else if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_TCLASS) {
            memcpy(&r->tos, CMSG_DATA(c), sizeof r->tos);
        } else if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO) {
            struct in_pktinfo info;
            memcpy(&info, CMSG_DATA(c), sizeof info);
            r->to_family = AF_INET;
            memcpy(r->to, &info.ipi_addr, 4); /* the header's destination */
        } else if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO) {
            struct in6_pktinfo info;
            memcpy(&info, CMSG_DATA(c), sizeof info);
            r->to_family = AF_INET6;
            memcpy(r->to, &info.ipi6_addr, 16);
        }
    }
}

static void handle_datagram(fp_engine *e, int fi, struct msghdr *m, size_t length,
                            run_context *ctx) {
    if (m->msg_flags & (MSG_TRUNC | MSG_CTRUNC) || m->msg_namelen == 0) {
        e->counters.malformed++;
        return;
    }
    received r = {.from = (const struct sockaddr *)m->msg_name, .ttl = -1, .tos = -1};
    if (family_index(r.from->sa_family) != fi) {
        e->counters.foreign++;
        return;
    }
    read_control(m, &r);
    const uint8_t *data = m->msg_iov->iov_base;
    fp_packet packet;
    memset(&packet, 0, sizeof packet);
    fp_packet_kind kind;
    if (fi == FAMILY_V6)
        kind = fp_parse_icmp6(data, length, &packet);
    else if (e->sockets[fi].raw) {
        kind = fp_parse_ipv4(data, length, &packet);
        if (e->config.receive_tos && kind != FP_PACKET_MALFORMED)
            r.tos = data[1];
        if (e->config.receive_destination && kind != FP_PACKET_MALFORMED) {
            r.to_family = AF_INET;
            memcpy(r.to, data + 16, 4);
        }
    } else
        kind = fp_parse_icmp4(data, length, 1, &packet);
    switch (kind) {
    case FP_PACKET_ECHO_REPLY:
        match_reply(e, fi, &packet, &r, ctx);
        break;
    case FP_PACKET_TIMESTAMP_REPLY:
        match_timestamp_reply(e, fi, &packet, &r, ctx);
        break;
    case FP_PACKET_ERROR: {
        fp_event outcome = {.kind = FP_EVENT_ICMP_ERROR, .icmp_type = packet.type,
                            .icmp_code = packet.code};
        match_error(e, fi, &packet, &outcome, &r, ctx);
        break;
    }
    case FP_PACKET_OTHER:
        e->counters.foreign++;
        break;
    default:
        e->counters.malformed++;
        break;
    }
}

/* Datagram sockets report ICMP errors (and local send failures) on their
 * error queue, with our own request as the data. */
static int drain_error_queue(fp_engine *e, int fi, run_context *ctx) {
    const uint8_t request = request_type(e, fi);
    while (has_room(ctx)) {
        struct msghdr *m = &e->rx_messages[0].msg_hdr;
        m->msg_name = &e->rx_names[0];
        m->msg_namelen = sizeof e->rx_names[0];
        m->msg_control = e->rx_control[0];
        m->msg_controllen = CONTROL_LEN;
        ssize_t n = recvmsg(e->sockets[fi].fd, m, MSG_ERRQUEUE | MSG_DONTWAIT);
        if (n < 0)
            return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? 0 : -errno;
        received r = {.ttl = -1, .tos = -1};
        const struct sock_extended_err *ee = NULL;
        for (struct cmsghdr *c = CMSG_FIRSTHDR(m); c; c = CMSG_NXTHDR(m, c)) {
            if ((c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_RECVERR) ||
                (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_RECVERR))
                ee = (const struct sock_extended_err *)CMSG_DATA(c);
        }
        fp_packet quoted;
        memset(&quoted, 0, sizeof quoted);
        quoted.quoted_type = request;
        if (!ee || !fp_parse_echo(m->msg_iov->iov_base, (size_t)n, request, &quoted) ||
            m->msg_namelen == 0) {
            e->counters.malformed++;
            continue;
        }
        read_control(m, &r);
        memcpy(quoted.quoted_dst, address_bytes((const struct sockaddr *)m->msg_name),
               fi == FAMILY_V4 ? 4 : 16);
        const struct sockaddr *offender = SO_EE_OFFENDER(ee);
        if (offender->sa_family != AF_UNSPEC)
            r.from = offender;
        fp_event outcome = {.kind = FP_EVENT_SEND_ERROR, .error = (int32_t)ee->ee_errno};
        if (ee->ee_origin == SO_EE_ORIGIN_ICMP || ee->ee_origin == SO_EE_ORIGIN_ICMP6)
            outcome = (fp_event){.kind = FP_EVENT_ICMP_ERROR, .icmp_type = ee->ee_type,
                                 .icmp_code = ee->ee_code};
        match_error(e, fi, &quoted, &outcome, &r, ctx);
    }
    return 0;
}

/* Whether err is one an ICMP error leaves pending on a datagram socket
 * (ping_err, icmp_err_convert and icmpv6_err_convert in Linux). */
static int could_be_pending(int err) {
    switch (err) {
    case ENETUNREACH: case EHOSTUNREACH: case ENOPROTOOPT: case ECONNREFUSED: case EMSGSIZE:
    case EOPNOTSUPP: case EHOSTDOWN: case ENONET: case EACCES: case EPROTO: case EREMOTEIO:
        return 1;
    default:
        return 0;
    }
}

/* Reads until the socket is empty or the event buffer is full. */
static int drain_socket(fp_engine *e, int fi, run_context *ctx) {
    unsigned pending_errors = 0;
    while (has_room(ctx)) {
        uint32_t room = (ctx->capacity - ctx->count) / EVENTS_PER_OUTCOME;
        unsigned batch = room < RECV_BATCH ? room : RECV_BATCH;
        for (unsigned i = 0; i < batch; i++) {
            struct msghdr *m = &e->rx_messages[i].msg_hdr;
            m->msg_name = &e->rx_names[i];
            m->msg_namelen = sizeof e->rx_names[i];
            m->msg_control = e->rx_control[i];
            m->msg_controllen = CONTROL_LEN;
            m->msg_flags = 0;
        }
        int n = recvmmsg(e->sockets[fi].fd, e->rx_messages, batch, MSG_DONTWAIT, NULL);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return 0;
            /* On a datagram socket an ICMP error also leaves a pending
             * socket error, which the next receive reports (and clears)
             * instead of data; its details wait on the error queue. Under a
             * flood of them, leave the rest for the loop's next turn (the
             * socket stays readable) rather than read on, or fail. */
            if (e->sockets[fi].raw || !could_be_pending(errno))
                return -errno;
            if (++pending_errors > RECV_BATCH)
                return 0;
            int rc = drain_error_queue(e, fi, ctx);
            if (rc != 0)
                return rc;
            continue;
        }
        for (int i = 0; i < n; i++)
            handle_datagram(e, fi, &e->rx_messages[i].msg_hdr, e->rx_messages[i].msg_len, ctx);
        if ((unsigned)n < batch)
            return 0;
    }
    return 0;
}

static int drain_all(fp_engine *e, run_context *ctx) {
    for (int fi = 0; fi < 2; fi++) {
        if (e->sockets[fi].fd < 0)
            continue;
        int rc = drain_socket(e, fi, ctx);
        if (rc != 0)
            return rc;
    }
    return 0;
}

/* ---- sending ---------------------------------------------------------------- */

static int send_probe(fp_engine *e, uint32_t index, run_context *ctx) {
    fp_host *host = &e->hosts[index];
    fp_socket *sock = &e->sockets[host->family];
    int timeout = host->timeout == FOLLOWS_DEFAULT ? e->default_timeout : host->timeout;
    int rc = reserve_probe(e);
    if (rc != 0)
        return rc;
    uint64_t serial = e->next_serial;
    /* Queued before it is sent: a probe always has its deadline. */
    rc = fp_timeout_queue_push(&e->timeouts.queues[timeout], serial);
    if (rc != 0)
        return rc;
    fp_probe *probe = &e->ring[serial & e->ring_mask];
    *probe = (fp_probe){serial, 0, 0, index, host->generation, PROBE_OUTSTANDING, 0,
                        (uint8_t)timeout, {0}};
    fp_probe_cookie(e->key, serial, address_bytes((const struct sockaddr *)&host->address),
                    address_len(host->family), probe->cookie);
    size_t length = e->config.icmp_timestamp
        ? fp_build_timestamp(e->tx, e->tx_capacity, sock->ident, serial, probe->cookie)
        : fp_build_echo(e->tx, e->tx_capacity, host->family == FAMILY_V6, sock->ident,
                        serial, probe->cookie, e->config.payload_len);
    if (e->config.random_payload && !e->config.icmp_timestamp)
        /* Seeded by the secret key: the bytes tell nothing of it, nor of other cookies. */
        fp_randomize_filler(e->tx, length, host->family == FAMILY_V6,
                            fp_siphash24(e->key, &serial, sizeof serial));
    socklen_t address_len = host->family == FAMILY_V4 ? sizeof host->address.v4 : sizeof host->address.v6;
    /* Timed last, just before the send, to keep our own work out of the RTT. */
    probe->sent_mono = fp_monotonic_ns();
    probe->sent_real = clock_ns(CLOCK_REALTIME);
    ssize_t sent;
    /* A datagram socket's pending error (left by any ICMP error that came,
     * forged ones too, see drain_socket) is reported by the next send in place
     * of its own outcome, before the probe is queued: a failure there may not
     * be this probe's, so try again while it could be a pending error. A
     * genuine failure (no route) comes before the pending error is looked at
     * and repeats on every try, costing SEND_TRIES sends at most. */
    int tries = 1;
    do
        sent = sendto(sock->fd, e->tx, length, 0, (const struct sockaddr *)&host->address,
                      address_len);
    while (sent < 0 && (errno == EINTR || (!sock->raw && could_be_pending(errno) &&
                                           tries++ < SEND_TRIES)));
    e->next_serial++;
    e->last_send_ns = probe->sent_mono;
    if (e->tracking)
        e->tracks[index].sent++;
    if (sent < 0) {
        fp_event outcome = {.kind = FP_EVENT_SEND_ERROR, .error = errno};
        probe->state = PROBE_RESOLVED;
        e->counters.send_errors++;
        report(e, ctx, probe, &outcome);
        return 0;
    }
    e->outstanding++;
    e->counters.sent++;
    return 0;
}

/* Sends up to `budget` probes that are due, each possibly costing one event
 * (a send error). Returns how many were attempted, or a negative errno. */
static int send_due(fp_engine *e, uint64_t now, uint32_t budget, run_context *ctx) {
    uint32_t attempted = 0;
    while (attempted < budget && has_room(ctx)) {
        const fp_heap_entry *top = fp_heap_top(&e->heap);
        if (!top || top->deadline > now + e->send_slack_ns)
            break;
        if (e->send_gap_ns && e->last_send_ns && now < e->last_send_ns + e->send_gap_ns)
            break;
        uint32_t index = top->id;
        uint64_t period = e->hosts[index].period_ns;
        int rc = 0;
        if (period) {
            /* Keep the host's phase; skip whole periods we slept through. */
            uint64_t next = top->deadline + period;
            if (next <= now)
                next += ((now - next) / period + 1) * period;
            rc = fp_heap_schedule(&e->heap, index, next);
        } else {
            fp_heap_cancel(&e->heap, index);
        }
        if (rc == 0) {
            unwatch_sockets(e);
            rc = send_probe(e, index, ctx);
        }
        if (rc != 0)
            return rc;
        attempted++;
    }
    return (int)attempted;
}

/* ---- time ------------------------------------------------------------------- */

/* The oldest probe of a timeout queue that is still outstanding, dropping
 * from its head the serials of probes answered (or forgotten) meanwhile;
 * NULL when there is none. */
static fp_probe *oldest_outstanding(fp_engine *e, fp_timeout_queue *queue) {
    while (queue->count > 0) {
        fp_probe *probe = probe_for_serial(e, fp_timeout_queue_head(queue));
        if (probe && probe->state == PROBE_OUTSTANDING)
            return probe;
        fp_timeout_queue_pop(queue);
    }
    return NULL;
}

/* Reports a probe that timed out: as the unverified error remembered for it,
 * if any (expired, so a reply still to come is late), or as a timeout. */
static void time_out(fp_engine *e, fp_probe *probe, uint64_t timeout_ns, run_context *ctx) {
    fp_event outcome = {.kind = FP_EVENT_TIMEOUT, .rtt_ns = timeout_ns};
    probe->state = PROBE_EXPIRED;
    e->outstanding--;
    if (probe->unverified) {
        const fp_unverified *u = &e->unverified[probe->serial & e->ring_mask];
        outcome = (fp_event){.kind = FP_EVENT_ICMP_ERROR, .rtt_ns = u->rtt_ns,
                             .icmp_type = u->type, .icmp_code = u->code,
                             .from_family = u->from_family};
        memcpy(outcome.from, u->from, sizeof outcome.from);
        e->counters.icmp_errors++;
    } else {
        e->counters.timeouts++;
    }
    report(e, ctx, probe, &outcome);
}

static void expire(fp_engine *e, uint64_t now, run_context *ctx) {
    for (uint32_t i = 0; i < e->timeouts.used; i++) {
        fp_timeout_queue *queue = &e->timeouts.queues[i];
        fp_probe *probe;
        while (has_room(ctx) && (probe = oldest_outstanding(e, queue)) &&
               probe->sent_mono + queue->timeout_ns <= now) {
            time_out(e, probe, queue->timeout_ns, ctx);
            fp_timeout_queue_pop(queue);
        }
    }
    advance_tail(e);
}

/* When the engine next has work: the earliest of the next send (held back by
 * the send gap) and every timeout queue's oldest outstanding probe's expiry. */
static uint64_t next_deadline(fp_engine *e) {
    uint64_t deadline = UINT64_MAX;
    const fp_heap_entry *top = fp_heap_top(&e->heap);
    if (top) {
        deadline = top->deadline;
        if (e->send_gap_ns && e->last_send_ns + e->send_gap_ns > deadline)
            deadline = e->last_send_ns + e->send_gap_ns;
    }
    for (uint32_t i = 0; i < e->timeouts.used; i++) {
        fp_timeout_queue *queue = &e->timeouts.queues[i];
        const fp_probe *probe = oldest_outstanding(e, queue);
        if (probe && probe->sent_mono + queue->timeout_ns < deadline)
            deadline = probe->sent_mono + queue->timeout_ns;
    }
    return deadline;
}

static int arm_timer(fp_engine *e, uint64_t deadline) {
    if (deadline == UINT64_MAX)
        deadline = 0; /* disarm */
    if (deadline == e->armed_deadline)
        return 0;
    struct itimerspec spec = {{0, 0}, {(time_t)(deadline / 1000000000u), (long)(deadline % 1000000000u)}};
    if (timerfd_settime(e->timer_fd, TFD_TIMER_ABSTIME, &spec, NULL) < 0)
        return -errno;
    e->armed_deadline = deadline;
    return 0;
}

void fp_engine_wake(fp_engine *e) {
    atomic_store(&e->wake_requested, 1);
    /* An absolute time long past fires at once. */
    struct itimerspec spec = {{0, 0}, {0, 1}};
    timerfd_settime(e->timer_fd, TFD_TIMER_ABSTIME, &spec, NULL);
}

/* ---- the loop ------------------------------------------------------------------ */

/* Not a run status: the run goes on. */
#define KEEP_GOING 100

/* Whether the run is over without waiting: FP_RUN_FULL when the event buffer
 * has no room for another outcome, FP_RUN_IDLE (if asked) when nothing is
 * scheduled or outstanding, else KEEP_GOING. */
static int run_over(const fp_engine *e, const run_context *ctx, int flags) {
    if (!has_room(ctx))
        return FP_RUN_FULL;
    if ((flags & FP_RUN_RETURN_WHEN_IDLE) && e->outstanding == 0 && e->heap.length == 0)
        return FP_RUN_IDLE;
    return KEEP_GOING;
}

/* Waits for the timer or a socket (or, without wait, only looks) and reads
 * what is ready. Returns 0, FP_RUN_INTERRUPTED or a negative errno. */
static int wait_and_read(fp_engine *e, int wait, run_context *ctx) {
    int rc = watch_sockets(e);
    if (rc != 0)
        return rc;
    struct epoll_event ready[4];
    int n = epoll_wait(e->epoll_fd, ready, 4, wait ? -1 : 0);
    if (n < 0)
        return errno == EINTR ? FP_RUN_INTERRUPTED : -errno;
    for (int i = 0; i < n && rc == 0; i++) {
        uint32_t tag = ready[i].data.u32;
        if (tag == TIMER_TAG) {
            uint64_t expirations;
            if (read(e->timer_fd, &expirations, sizeof expirations) > 0)
                e->armed_deadline = 0;
            continue;
        }
        if (ready[i].events & EPOLLERR)
            rc = drain_error_queue(e, (int)tag, ctx);
        if (rc == 0)
            rc = drain_socket(e, (int)tag, ctx);
    }
    return rc;
}

int fp_engine_run(fp_engine *e, uint64_t until, int flags, fp_event *events, uint32_t capacity,
                  uint32_t *count) {
    run_context ctx = {events, capacity, 0};
    int status;
    for (;;) {
        if (atomic_exchange(&e->wake_requested, 0)) {
            status = FP_RUN_WOKEN;
            break;
        }
        uint64_t now = fp_monotonic_ns();
        expire(e, now, &ctx);
        int sent = send_due(e, now, SEND_BURST, &ctx);
        /* Interleave: drain what a burst brought back before sending more, so
         * replies never overflow the receive buffer. */
        status = sent > 0 ? drain_all(e, &ctx) : sent;
        if (status < 0 || (status = run_over(e, &ctx, flags)) != KEEP_GOING)
            break;
        if (sent > 0)
            continue;
        if ((flags & FP_RUN_RETURN_EVENTS) && ctx.count > 0) {
            status = FP_RUN_EVENTS;
            break;
        }
        /* Once until has passed, take one last look at what is ready without
         * waiting: that is the whole of a call from a caller that polls the
         * epoll descriptor itself (asyncio), which passes until = now. */
        int last_look = until && now >= until;
        if (!last_look) {
            uint64_t deadline = next_deadline(e);
            status = arm_timer(e, until && until < deadline ? until : deadline);
            if (status != 0)
                break;
            /* A wake that raced with arm_timer may have been overwritten by it. */
            if (atomic_load(&e->wake_requested))
                continue;
        }
        status = wait_and_read(e, !last_look, &ctx);
        if (status != 0)
            break;
        if (last_look) {
            status = run_over(e, &ctx, flags);
            if (status == KEEP_GOING)
                status = FP_RUN_DEADLINE;
            break;
        }
    }
    /* Leave the timer armed for the engine's own next deadline only, not for
     * the caller's until: an idle engine holds no armed timer, and a caller
     * polling the epoll descriptor is woken exactly when work is due. */
    int rc = watch_sockets(e);
    if (rc == 0 && status >= 0)
        rc = arm_timer(e, next_deadline(e));
    if (rc != 0 && status >= 0)
        status = rc;
    *count = ctx.count;
    return status;
}

/* ---- introspection --------------------------------------------------------------- */

void fp_engine_counters(const fp_engine *e, fp_counters *out) { *out = e->counters; }

void fp_engine_resources(const fp_engine *e, fp_resources *out) {
    out->descriptors = (e->epoll_fd >= 0) + (e->timer_fd >= 0) + (e->sockets[0].fd >= 0) +
                       (e->sockets[1].fd >= 0);
    out->timer_armed = e->armed_deadline != 0;
    out->scheduled = e->heap.length;
    out->outstanding = e->outstanding;
    out->hosts = e->live_hosts;
    out->host_capacity = e->host_capacity;
    out->ring_capacity = e->ring_mask + 1;
    size_t per_host = sizeof(fp_host) + sizeof(fp_heap_entry) + sizeof(uint32_t) /* heap pos */ +
                      sizeof(uint32_t) /* free list */;
    if (e->tracking)
        per_host += sizeof(fp_track) + e->track_config.window * sizeof(fp_sample) +
                    (e->track_config.buckets ? e->track_config.buckets + 1 : 0) * sizeof(uint64_t) +
                    (e->track_config.spans ? sizeof(fp_track_span) : 0);
    out->host_bytes = per_host;
    out->table_bytes = per_host * e->host_capacity + (e->ring_mask + 1) * sizeof(fp_probe);
}

int fp_engine_identifier(const fp_engine *e, int af) {
    int fi = family_index(af);
    if (fi < 0 || e->sockets[fi].fd < 0)
        return -1;
    return e->sockets[fi].ident;
}

int fp_engine_is_raw(const fp_engine *e, int af) {
    int fi = family_index(af);
    if (fi < 0 || e->sockets[fi].fd < 0)
        return -1;
    return e->sockets[fi].raw;
}

int fp_engine_fileno(const fp_engine *e) { return e->epoll_fd; }

int fp_engine_track(fp_engine *e, const fp_track_config *config, int report_outcomes) {
    if (e->tracking)
        return -EALREADY;
    if (config->down_after == 0 || config->up_after == 0 ||
        config->buckets > FP_TRACK_MAX_BUCKETS)
        return -EINVAL;
    for (uint32_t i = 1; i < config->buckets; i++)
        if (config->bucket_bounds_ns[i] <= config->bucket_bounds_ns[i - 1])
            return -EINVAL;
    e->track_config = *config;
    uint32_t capacity = e->host_capacity ? e->host_capacity : 1;
    int rc = grow_tracks(e, capacity);
    if (rc != 0)
        return rc;
    e->track_scratch = malloc((config->window ? config->window : 1) * sizeof *e->track_scratch);
    if (!e->track_scratch)
        return -ENOMEM;
    e->tracking = 1;
    e->report_outcomes = report_outcomes;
    uint64_t now = fp_monotonic_ns();
    for (uint32_t index = 0; index < e->host_count; index++)
        if (e->hosts[index].in_use)
            fp_track_reset(track_of(e, index), config, now);
    return 0;
}

int fp_engine_track_summary(fp_engine *e, uint32_t index, fp_track_summary *out) {
    if (!e->tracking)
        return -EINVAL;
    if (!live_host(e, index))
        return -ENOENT;
    fp_track_summarize(track_of(e, index), e->track_config.window, e->track_scratch, out);
    return 0;
}

int fp_engine_track_mark(fp_engine *e) {
    if (!e->tracking || !e->track_config.spans)
        return -EINVAL;
    for (uint32_t index = 0; index < e->host_count; index++)
        fp_track_mark(&e->track_spans[index]);
    return 0;
}

void fp_engine_set_send_slack(fp_engine *e, uint64_t slack_ns) { e->send_slack_ns = slack_ns; }

void fp_engine_set_send_gap(fp_engine *e, uint64_t gap_ns) { e->send_gap_ns = gap_ns; }

int fp_engine_track_copy(fp_engine *e, const uint32_t *indexes, uint32_t count,
                         fp_track_copy *out) {
    if (!e->tracking)
        return -EINVAL;
    for (uint32_t i = 0; i < count; i++)
        if (!live_host(e, indexes[i]))
            return -ENOENT;
    int rc = fp_track_copy_alloc(out, &e->track_config, count);
    if (rc != 0)
        return rc;
    for (uint32_t i = 0; i < count; i++)
        fp_track_copy_host(out, i, track_of(e, indexes[i]));
    return 0;
}

int fp_engine_track_histogram(fp_engine *e, uint32_t index, uint64_t *counts, uint64_t *sum_ns) {
    if (!e->tracking)
        return -EINVAL;
    if (!live_host(e, index))
        return -ENOENT;
    const uint64_t *histogram = track_of(e, index).histogram;
    for (uint32_t i = 0; histogram && i <= e->track_config.buckets; i++)
        counts[i] = histogram[i];
    *sum_ns = e->tracks[index].rtt_sum_ns;
    return (int)e->track_config.buckets;
}
