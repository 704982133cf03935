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
 * A window sample is the RTT in microseconds as a float, or NaN for a probe
 * that got no reply (timeout, ICMP error, send error).
 */
#ifndef FASTPING_TRACK_H
#define FASTPING_TRACK_H

#include <stdint.h>

typedef enum fp_health {
    FP_HEALTH_UNKNOWN = 0,
    FP_HEALTH_UP = 1,
    FP_HEALTH_DOWN = 2,
} fp_health;

typedef struct fp_track_config {
    uint32_t down_after; /* consecutive losses that make a host down */
    uint32_t up_after;   /* consecutive replies that make a host up */
    uint32_t window;     /* samples kept per host for rolling statistics */
} fp_track_config;

typedef struct fp_track {
    uint64_t sent;
    uint64_t received;
    uint64_t lost;       /* timeouts, ICMP errors and send errors */
    uint64_t duplicates;
    uint64_t since_ns;   /* monotonic time of the last state change */
    float last_rtt_us;   /* NaN until the first reply */
    float jitter_us;     /* RFC 3550 interarrival jitter over RTTs */
    uint32_t streak;     /* consecutive outcomes like the last one */
    uint32_t next_slot;  /* where the next sample goes in the window */
    uint32_t filled;     /* samples in the window, up to its size */
    uint8_t health;      /* fp_health */
    uint8_t last_ok;     /* 1 if the last outcome was a reply */
} fp_track;

typedef struct fp_track_summary {
    uint64_t sent, received, lost, duplicates;
    uint64_t since_ns;
    double last_rtt_us, jitter_us;
    uint32_t streak;
    uint8_t health;
    /* over the window: */
    uint32_t window_probes, window_replies;
    double min_us, avg_us, max_us, stddev_us, p50_us, p90_us, p99_us; /* NaN if no reply */
} fp_track_summary;

/* Starts tracking a host afresh: unknown, no samples. */
void fp_track_reset(fp_track *track, float *window, uint32_t window_size, uint64_t now_ns);

/* Records one probe outcome (rtt_us is ignored when ok is 0). Returns the
 * previous health if this outcome changed it, or -1 if it did not. */
int fp_track_record(fp_track *track, float *window, const fp_track_config *config, int ok,
                    float rtt_us, uint64_t now_ns);

/* Summarises a host; scratch must hold window_size floats. */
void fp_track_summarize(const fp_track *track, const float *window, uint32_t window_size,
                        float *scratch, fp_track_summary *out);

#endif
