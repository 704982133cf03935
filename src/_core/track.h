/*
 * Per-host health for continuous monitoring: up/down state with hysteresis,
 * lifetime counters, and rolling statistics over a fixed window of the most
 * recent probes.
 *
 * Memory per host is fixed when monitoring starts (one fp_track plus `window`
 * samples) and never grows with uptime. The functions are pure: they update
 * or read the structures they are given and nothing else, so the engine calls
 * them per probe outcome and Python reads summaries only when asked.
 *
 * A window sample is the RTT in milliseconds as a half-precision float where
 * the compiler has one (0.05% precision, from 61 ns up to 65 s: plenty for
 * percentiles, and half the memory), else a float; NaN for a probe that got
 * no reply (timeout, ICMP error, send error). When the config has
 * histogram bounds, each host also counts its replies' RTTs into buckets
 * (buckets + 1 counters: the last is for RTTs above every bound), for
 * exporters such as Prometheus', whose histograms never forget. When it asks
 * for spans, each host also keeps its least and greatest RTT since the last
 * mark, for reports over intervals (fping's -Q); the other interval figures
 * are differences of the lifetime counters, which the reader keeps.
 */
#ifndef FASTPING_TRACK_H
#define FASTPING_TRACK_H

#include <stdint.h>

typedef enum fp_health {
    FP_HEALTH_UNKNOWN = 0,
    FP_HEALTH_UP = 1,
    FP_HEALTH_DOWN = 2,
} fp_health;

#define FP_TRACK_MAX_BUCKETS 64

#ifdef __FLT16_MAX__
typedef _Float16 fp_sample;
#else
typedef float fp_sample;
#endif

typedef struct fp_track_config {
    uint32_t down_after; /* consecutive losses that make a host down */
    uint32_t up_after;   /* consecutive replies that make a host up */
    uint32_t window;     /* samples kept per host for rolling statistics */
    uint32_t buckets;    /* histogram bounds in use, 0 for no histogram */
    uint32_t spans;      /* 1 to keep each host's RTT extremes since the last mark */
    /* Strictly increasing; a reply counts in the first bucket whose bound
     * is at least its RTT (Prometheus' "le"). */
    uint64_t bucket_bounds_ns[FP_TRACK_MAX_BUCKETS];
} fp_track_config;

/* One probe outcome, as tracking sees it. */
typedef struct fp_track_sample {
    int ok;          /* a reply */
    int send_error;  /* the probe could not be sent */
    int icmp_error;  /* a router or the host answered with an ICMP error */
    int ttl;         /* the reply's TTL or hop limit, -1 if unknown */
    uint64_t rtt_ns; /* of a reply */
} fp_track_sample;

typedef struct fp_track {
    uint64_t sent;
    uint64_t received;
    uint64_t lost;       /* timeouts, ICMP errors and send errors */
    uint64_t duplicates;
    uint64_t send_errors;
    uint64_t icmp_errors;
    uint64_t rtt_sum_ns; /* of every reply, for a histogram's _sum */
    /* Of every reply, for a standard deviation (a variance is this over the
     * count less the squared mean; nanoseconds squared keep 15 digits). */
    double rtt_squares_ns2;
    uint64_t rtt_min_ns; /* of every reply, UINT64_MAX before the first */
    uint64_t rtt_max_ns;
    uint64_t since_ns;   /* monotonic time of the last state change */
    float last_rtt_us;   /* NaN until the first reply */
    float jitter_us;     /* RFC 3550 interarrival jitter over RTTs */
    uint32_t streak;     /* consecutive outcomes like the last one */
    uint32_t ups, downs; /* health changes to up, to down */
    uint32_t next_slot;  /* where the next sample goes in the window */
    uint32_t filled;     /* samples in the window, up to its size */
    int16_t last_ttl;    /* of the last reply, -1 if unknown */
    uint8_t health;      /* fp_health */
    uint8_t last_ok;     /* 1 if the last outcome was a reply */
} fp_track;

/* A host's RTT extremes since the last mark (min UINT64_MAX before a reply). */
typedef struct fp_track_span {
    uint64_t rtt_min_ns, rtt_max_ns;
} fp_track_span;

/* One host's tracking state, where the owner keeps it: the window's samples,
 * the histogram and the span are NULL when the config keeps none. */
typedef struct fp_track_ref {
    fp_track *track;
    fp_sample *window;
    uint64_t *histogram;
    fp_track_span *span;
} fp_track_ref;

typedef struct fp_track_summary {
    uint64_t sent, received, lost, duplicates, send_errors, icmp_errors;
    uint64_t rtt_sum_ns, rtt_min_ns, rtt_max_ns; /* over every reply since the start */
    double rtt_squares_ns2;
    uint64_t span_min_ns, span_max_ns; /* since the last mark; 0 when not kept or no reply */
    int last_ttl;
    uint64_t since_ns;
    double last_rtt_us, jitter_us;
    uint32_t streak;
    uint32_t ups, downs;
    uint8_t health;
    /* over the window: */
    uint32_t window_probes, window_replies;
    double min_us, avg_us, max_us, stddev_us, p50_us, p90_us, p99_us; /* NaN if no reply */
} fp_track_summary;

/* Starts tracking a host afresh: unknown, no samples, empty histogram. */
void fp_track_reset(fp_track_ref host, const fp_track_config *config, uint64_t now_ns);

/* Records one probe outcome. Returns the previous health if this outcome
 * changed it (stamping since_ns with clock_ns(), read only then: outcomes
 * come by the million, changes seldom), or -1 if it did not. */
int fp_track_record(fp_track_ref host, const fp_track_config *config,
                    const fp_track_sample *sample, uint64_t (*clock_ns)(void));

/* Starts a host's span afresh: the next interval's extremes. */
void fp_track_mark(fp_track_span *span);

/* Summarises a host; scratch must hold window_size floats. */
void fp_track_summarize(fp_track_ref host, uint32_t window_size, float *scratch,
                        fp_track_summary *out);

/* Some hosts' tracking state copied at one instant, in the order asked for, so
 * that a reader can summarise and render them away from the owner's thread
 * while the owner goes on (an exporter's scrape: copying 100,000 hosts is a few
 * milliseconds of memcpy, summarising them a hundred). No spans. */
typedef struct fp_track_copy {
    fp_track_config config; /* the owner's: window size, buckets and bounds */
    uint32_t hosts;
    fp_track *tracks;       /* hosts of them */
    fp_sample *windows;     /* config.window samples a host */
    uint64_t *histograms;   /* config.buckets + 1 counts a host, NULL without buckets */
} fp_track_copy;

/* Room for count hosts under config (everything else zero); -ENOMEM. */
int fp_track_copy_alloc(fp_track_copy *copy, const fp_track_config *config, uint32_t count);
/* Copies one host into slot i of a copy made for the host's own config. */
void fp_track_copy_host(fp_track_copy *copy, uint32_t i, fp_track_ref host);
/* Summarises slot i; scratch must hold config.window floats. */
void fp_track_copy_summarize(const fp_track_copy *copy, uint32_t i, float *scratch,
                             fp_track_summary *out);
/* Frees every slot's track and window, keeping the histograms: what a reader that has
 * summarised them all still reads. fp_track_copy_summarize is not to be called after. */
void fp_track_copy_drop_samples(fp_track_copy *copy);
/* Slot i's histogram counts (config.buckets + 1, not cumulative), NULL without buckets. */
const uint64_t *fp_track_copy_histogram(const fp_track_copy *copy, uint32_t i);
/* Releases what fp_track_copy_alloc took. Idempotent. */
void fp_track_copy_free(fp_track_copy *copy);

#endif
