/*
 * The engine: one epoll descriptor, one timerfd, one ICMP socket per address
 * family in use, and the tables that say what is in flight.
 *
 * Descriptors. The engine opens its epoll and timer descriptors in
 * fp_engine_open and an ICMP socket the first time a host of that family is
 * added; fp_engine_close closes all of them, and nothing else ever does.
 * Hosts, rounds and probes never cost a descriptor or a kernel timer: what
 * grows with them is memory in the tables below, and only with hosts.
 *
 * Time. Deadlines are CLOCK_MONOTONIC nanoseconds. A probe's round-trip time
 * is measured from the wall-clock time taken just before sendto() to the
 * kernel's receive timestamp (SO_TIMESTAMPNS, the same clock), which leaves
 * our own scheduling out of it; if the wall clock stepped in between, the
 * monotonic difference is used instead, so an RTT is never negative.
 *
 * Probes. Every probe gets the next 64-bit serial. It lives in a ring indexed
 * by serial until answered or timed out; the ICMP sequence is the serial's
 * low 16 bits and the payload carries the whole serial and the probe's
 * cookie, a keyed hash (SipHash-2-4, under a secret drawn at open) of the
 * serial and the destination. So a reply identifies its probe exactly,
 * across any number of sequence wrap-arounds; what a target sees of its own
 * probes lets it forge nothing for another host; and anything that does not
 * agree is dropped and counted (fp_counters says where). An engine opened
 * with icmp_timestamp sends ICMPv4 timestamp requests instead (raw sockets,
 * IPv4 hosts only), with no room for the tag: the sequence and 31 bits of
 * the cookie, in the originate field, name the probe (icmp.h).
 *
 * Timeouts. A probe times out after its host's own timeout, or the engine's
 * (fp_engine_set_timeout; a round may change it). Each distinct timeout has a
 * FIFO of the serials sent with it (timeouts.h), so each FIFO is in deadline
 * order, and only the oldest outstanding probe of each needs looking at:
 * expiry stays O(1) a probe for any mix of timeouts.
 *
 * ICMP errors. One quoting our whole tag is checked as a reply is, and
 * resolves its probe at once. One quoting less (RFC 792 asks for 8 bytes:
 * identifier and sequence, which anyone who saw one probe can forge) proves
 * nothing: it is remembered for the newest probe with its sequence and
 * destination, and reported only if that probe times out with no genuine
 * reply; a reply meanwhile wins. A datagram socket also turns every ICMP
 * error that reaches it into a pending error that fails the next send or
 * receive, whichever probe it was about: sends retry while that may be the
 * cause (bounded), receives leave a flood of them for the next turn.
 *
 * Sends. The heap holds, for each scheduled host, when its next probe is due
 * (and a host may repeat with a period of its own). The timerfd is armed for
 * the earliest of the heap's top and the timeout queues' oldest deadlines.
 *
 * Threads. An engine is used by one thread at a time, except fp_engine_wake,
 * which any thread may call to make a blocked fp_engine_run return.
 *
 * Errors. Functions return 0 (or a count) on success and a negative errno on
 * failure; they never print and never exit.
 */
#ifndef FASTPING_ENGINE_H
#define FASTPING_ENGINE_H

#include <netinet/in.h>
#include <stdint.h>
#include <sys/socket.h>

#include "config.h"
#include "icmp.h"
#include "timeouts.h"
#include "track.h"

typedef enum fp_event_kind {
    FP_EVENT_REPLY = 1,      /* the probe was answered */
    FP_EVENT_TIMEOUT = 2,    /* no answer within the timeout */
    FP_EVENT_ICMP_ERROR = 3, /* a router or host reported an error */
    FP_EVENT_SEND_ERROR = 4, /* the probe could not be sent */
    FP_EVENT_DUPLICATE = 5,  /* another reply to an answered probe */
    FP_EVENT_HEALTH = 6,     /* a tracked host went up or down */
} fp_event_kind;

typedef struct fp_event {
    uint64_t rtt_ns;      /* REPLY, DUPLICATE, ICMP_ERROR: time since send */
    uint32_t host;        /* the host's index */
    int32_t error;        /* SEND_ERROR: the errno */
    uint16_t seq;         /* ICMP sequence of the probe */
    uint8_t kind;         /* fp_event_kind */
    uint8_t icmp_type;    /* ICMP_ERROR: type and code as received */
    uint8_t icmp_code;
    uint8_t ttl;          /* REPLY: TTL / hop limit of the reply, 0 if unknown */
    uint8_t from_family;  /* ICMP_ERROR: AF_INET or AF_INET6 of the reporter */
    union {
        uint8_t from[16]; /* ICMP_ERROR: the reporting router's address */
        /* REPLY, DUPLICATE to a timestamp request: milliseconds since midnight UTC
         * of our send (our clock, not the wire's), the target's receive and
         * transmit times (as it sent them), and our receipt. */
        uint32_t times[4];
    };
    uint8_t cause;        /* HEALTH: the outcome kind that changed it; the
                             fields above are that outcome's */
    uint8_t health;       /* when tracking: the host's fp_health after this */
    uint8_t previous_health; /* HEALTH: before it */
    int16_t tos;          /* REPLY: TOS / traffic class of the reply, -1 unless the engine
                             reads it (fp_config.receive_tos) */
    uint8_t to_family;    /* REPLY: AF_INET or AF_INET6 of the address it was sent to (ours),
                             0 unless the engine reads it (fp_config.receive_destination) */
    uint8_t to[16];       /* REPLY: that address */
} fp_event;

typedef struct fp_counters {
    uint64_t sent;         /* probes handed to the kernel */
    uint64_t replies;      /* replies matched to an outstanding probe */
    uint64_t timeouts;
    uint64_t icmp_errors;  /* errors matched to an outstanding probe */
    uint64_t send_errors;
    uint64_t duplicates;   /* further replies to an answered probe */
    uint64_t late;         /* replies to probes already timed out or cancelled */
    uint64_t foreign;      /* well-formed ICMP that is not for us: another
                              identifier, or a cookie that fails for a serial
                              we never sent to that address */
    uint64_t malformed;    /* truncated, bad checksum or header, or forged: a
                              cookie that fails for a probe we sent there */
    uint64_t unverified;   /* errors too short to carry our tag, held for their
                              probe (reported as its error only if it times out) */
} fp_counters;

typedef struct fp_resources {
    int descriptors;       /* descriptors the engine holds open */
    int timer_armed;       /* 1 while the timerfd is armed */
    uint32_t scheduled;    /* hosts with a send pending in the heap */
    uint32_t outstanding;  /* probes waiting for a reply */
    uint32_t hosts;        /* hosts added and not removed */
    uint32_t host_capacity;
    uint64_t ring_capacity;
    uint64_t host_bytes;  /* memory the engine keeps per host */
    uint64_t table_bytes; /* all of its host and probe tables, allocated */
} fp_resources;

typedef enum fp_run_status {
    FP_RUN_IDLE = 0,        /* nothing scheduled or outstanding (when asked) */
    FP_RUN_FULL = 1,        /* the event buffer is full: call again */
    FP_RUN_DEADLINE = 2,    /* the until time was reached */
    FP_RUN_WOKEN = 3,       /* fp_engine_wake was called */
    FP_RUN_INTERRUPTED = 4, /* a signal arrived (EINTR): check, call again */
    FP_RUN_EVENTS = 5,      /* events are ready and it would block (when asked) */
} fp_run_status;

#define FP_RUN_RETURN_WHEN_IDLE 1 /* return when nothing is scheduled or outstanding */
#define FP_RUN_RETURN_EVENTS 2    /* return events as soon as it would otherwise wait */

typedef struct fp_engine fp_engine;

int fp_engine_open(fp_engine **out, const fp_config *config);
/* Closes every descriptor and frees everything. NULL is accepted. */
void fp_engine_close(fp_engine *engine);

/* Adds a host and returns its index (>= 0), opening the socket of its family
 * if this is the first host of that family. Indexes of removed hosts are
 * reused. The address port is ignored. */
int fp_engine_add_host(fp_engine *engine, const struct sockaddr *address, socklen_t length);
/* Removes a host: its pending send is cancelled and its outstanding probes
 * forgotten (their replies will count as late). */
int fp_engine_remove_host(fp_engine *engine, uint32_t host);

/* Schedules the host's next probe at deadline (monotonic ns); with a nonzero
 * period it then repeats every period. */
int fp_engine_schedule(fp_engine *engine, uint32_t host, uint64_t deadline, uint64_t period_ns);
/* Lets sends go up to slack_ns before they are due, so that the probes due
 * within that much of each other share one wake-up: with many hosts on
 * their own phases, this bounds wake-ups per second by 1/slack instead of
 * one per probe. Each host keeps its period; 0 (the default) sends on time. */
void fp_engine_set_send_slack(fp_engine *engine, uint64_t slack_ns);
/* Keeps at least gap_ns between two sends, whatever is due (fping's -i);
 * 0 (the default) sends as fast as the engine safely can. */
void fp_engine_set_send_gap(fp_engine *engine, uint64_t gap_ns);
/* Cancels every pending send and forgets every outstanding probe. Returns 0
 * or the negative errno of disarming the timer. */
int fp_engine_cancel_all(fp_engine *engine);

/* The timeout of probes sent from now on to hosts without one of their own
 * (at first the config's). Probes already in flight keep theirs. Returns 0,
 * -EINVAL for 0, or -ENOSPC when FP_MAX_TIMEOUTS other timeouts are in use. */
int fp_engine_set_timeout(fp_engine *engine, uint64_t timeout_ns);
/* The host's own timeout, for probes sent to it from now on; 0 to follow the
 * engine's. Returns 0, -ENOENT, or -ENOSPC as fp_engine_set_timeout. */
int fp_engine_set_host_timeout(fp_engine *engine, uint32_t host, uint64_t timeout_ns);
/* The TTL / hop limit (1-255, or -1 for the system's) of probes sent from now
 * on, on every socket, open or opened later (a traceroute's TTL-limited
 * rounds). Probes already in flight keep theirs. Returns 0, -EINVAL for a
 * value out of range, or the negative errno of setting it on a socket. */
int fp_engine_set_ttl(fp_engine *engine, int ttl);
/* Whether a tracking engine reports the host's every outcome as an event, as it
 * does for all hosts when tracking with report_outcomes (a probe on demand
 * among heartbeats). Returns 0 or -ENOENT. */
int fp_engine_set_host_reporting(fp_engine *engine, uint32_t host, int report_outcomes);

/* Sends, receives, matches and times out until one of fp_run_status's
 * conditions; events are written to events[0..*count). until is a monotonic
 * deadline, 0 for none. Returns an fp_run_status or a negative errno. */
int fp_engine_run(fp_engine *engine, uint64_t until, int flags, fp_event *events,
                  uint32_t capacity, uint32_t *count);

/* Makes the current or next fp_engine_run return FP_RUN_WOKEN. Safe to call
 * from any thread, and from a signal handler. */
void fp_engine_wake(fp_engine *engine);

/* Sizes the sockets' receive buffers for this many replies in flight. */
int fp_engine_reserve(fp_engine *engine, uint32_t replies_in_flight);

void fp_engine_counters(const fp_engine *engine, fp_counters *out);
void fp_engine_resources(const fp_engine *engine, fp_resources *out);
/* The ICMP identifier used on a family's socket, or -1 if it is not open. */
int fp_engine_identifier(const fp_engine *engine, int family);
/* 1 when the family's socket is raw, 0 datagram, -1 not open. */
int fp_engine_is_raw(const fp_engine *engine, int family);

/* The epoll descriptor, for callers that poll it themselves (asyncio): it
 * is readable when fp_engine_run has work to do. Still owned by the engine. */
int fp_engine_fileno(const fp_engine *engine);

/* Starts keeping every host's health and rolling statistics (track.h).
 * From then on, outcomes are reported as events only if report_outcomes;
 * changes of health always are (FP_EVENT_HEALTH). */
int fp_engine_track(fp_engine *engine, const fp_track_config *config, int report_outcomes);
int fp_engine_track_summary(fp_engine *engine, uint32_t host, fp_track_summary *out);
/* Starts every host's span afresh (when the config keeps spans). */
int fp_engine_track_mark(fp_engine *engine);
/* A tracked host's histogram: buckets + 1 counts (not cumulative; the last
 * above every bound) and the sum of its RTTs. Returns the number of bounds. */
int fp_engine_track_histogram(fp_engine *engine, uint32_t host, uint64_t *counts,
                              uint64_t *sum_ns);

/* Copies the tracked hosts indexes[0..count), in that order, into *out (allocated
 * here; fp_track_copy_free releases it). -ENOENT if one is not a live host. */
int fp_engine_track_copy(fp_engine *engine, const uint32_t *indexes, uint32_t count,
                         fp_track_copy *out);

uint64_t fp_monotonic_ns(void);

#endif
