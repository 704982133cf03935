#include "track.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* The largest RTT a half-precision sample holds (65,504 ms), rounded down. */
#define MAX_SAMPLE_MS 65000.0f

void fp_track_mark(fp_track_span *span) {
    span->rtt_min_ns = UINT64_MAX;
    span->rtt_max_ns = 0;
}

void fp_track_reset(fp_track_ref host, const fp_track_config *config, uint64_t now_ns) {
    fp_track *track = host.track;
    *track = (fp_track){0};
    track->since_ns = now_ns;
    track->last_rtt_us = NAN;
    track->last_ttl = -1;
    track->rtt_min_ns = UINT64_MAX;
    track->health = FP_HEALTH_UNKNOWN;
    for (uint32_t i = 0; i < config->window; i++)
        host.window[i] = (fp_sample)NAN;
    for (uint32_t i = 0; config->buckets && i <= config->buckets; i++)
        host.histogram[i] = 0;
    if (host.span)
        fp_track_mark(host.span);
}

static void count_in_histogram(uint64_t *histogram, const fp_track_config *config,
                               uint64_t rtt_ns) {
    uint32_t bucket = 0;
    while (bucket < config->buckets && rtt_ns > config->bucket_bounds_ns[bucket])
        bucket++;
    histogram[bucket]++;
}

int fp_track_record(fp_track_ref host, const fp_track_config *config,
                    const fp_track_sample *sample, uint64_t (*clock_ns)(void)) {
    fp_track *track = host.track;
    int ok = sample->ok;
    float rtt_us = (float)sample->rtt_ns / 1000.0f;
    if (ok) {
        track->received++;
        track->rtt_sum_ns += sample->rtt_ns;
        track->rtt_squares_ns2 += (double)sample->rtt_ns * (double)sample->rtt_ns;
        if (sample->rtt_ns < track->rtt_min_ns)
            track->rtt_min_ns = sample->rtt_ns;
        if (sample->rtt_ns > track->rtt_max_ns)
            track->rtt_max_ns = sample->rtt_ns;
        if (sample->ttl >= 0)
            track->last_ttl = (int16_t)sample->ttl;
        if (config->buckets)
            count_in_histogram(host.histogram, config, sample->rtt_ns);
        if (host.span) {
            if (sample->rtt_ns < host.span->rtt_min_ns)
                host.span->rtt_min_ns = sample->rtt_ns;
            if (sample->rtt_ns > host.span->rtt_max_ns)
                host.span->rtt_max_ns = sample->rtt_ns;
        }
        /* RFC 3550 6.4.1: J += (|D| - J) / 16, D the change in transit time. */
        if (!isnan(track->last_rtt_us))
            track->jitter_us += (fabsf(rtt_us - track->last_rtt_us) - track->jitter_us) / 16.0f;
        track->last_rtt_us = rtt_us;
    } else {
        track->lost++;
        track->send_errors += sample->send_error != 0;
        track->icmp_errors += sample->icmp_error != 0;
    }
    track->streak = (ok == track->last_ok && track->streak) ? track->streak + 1 : 1;
    track->last_ok = (uint8_t)(ok != 0);
    if (config->window) {
        host.window[track->next_slot] = (fp_sample)(ok ? fminf(rtt_us / 1000.0f, MAX_SAMPLE_MS) : NAN);
        track->next_slot = (track->next_slot + 1) % config->window;
        if (track->filled < config->window)
            track->filled++;
    }
    uint8_t previous = track->health;
    uint8_t next = previous;
    if (ok && previous != FP_HEALTH_UP && track->streak >= config->up_after)
        next = FP_HEALTH_UP;
    else if (!ok && previous != FP_HEALTH_DOWN && track->streak >= config->down_after)
        next = FP_HEALTH_DOWN;
    if (next == previous)
        return -1;
    track->health = next;
    track->ups += next == FP_HEALTH_UP;
    track->downs += next == FP_HEALTH_DOWN;
    track->since_ns = clock_ns();
    return previous;
}

static int compare_floats(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

/* Nearest-rank percentile of sorted values. */
static double percentile(const float *sorted, uint32_t count, double fraction) {
    uint32_t rank = (uint32_t)ceil(fraction * count);
    return sorted[rank ? rank - 1 : 0];
}

void fp_track_summarize(fp_track_ref host, uint32_t window_size, float *scratch,
                        fp_track_summary *out) {
    const fp_track *track = host.track;
    out->sent = track->sent;
    out->received = track->received;
    out->lost = track->lost;
    out->duplicates = track->duplicates;
    out->send_errors = track->send_errors;
    out->icmp_errors = track->icmp_errors;
    out->rtt_sum_ns = track->rtt_sum_ns;
    out->rtt_squares_ns2 = track->rtt_squares_ns2;
    int span_replies = host.span && host.span->rtt_max_ns >= host.span->rtt_min_ns;
    out->span_min_ns = span_replies ? host.span->rtt_min_ns : 0;
    out->span_max_ns = span_replies ? host.span->rtt_max_ns : 0;
    out->rtt_min_ns = track->rtt_min_ns;
    out->rtt_max_ns = track->rtt_max_ns;
    out->last_ttl = track->last_ttl;
    out->since_ns = track->since_ns;
    out->last_rtt_us = track->last_rtt_us;
    out->jitter_us = track->jitter_us;
    out->streak = track->streak;
    out->ups = track->ups;
    out->downs = track->downs;
    out->health = track->health;
    uint32_t replies = 0;
    double sum = 0;
    uint32_t filled = track->filled < window_size ? track->filled : window_size;
    for (uint32_t i = 0; i < filled; i++) {
        float rtt_us = (float)host.window[i] * 1000.0f;
        if (!isnan(rtt_us)) {
            scratch[replies++] = rtt_us;
            sum += rtt_us;
        }
    }
    out->window_probes = filled;
    out->window_replies = replies;
    if (replies == 0) {
        out->min_us = out->avg_us = out->max_us = out->stddev_us = NAN;
        out->p50_us = out->p90_us = out->p99_us = NAN;
        return;
    }
    qsort(scratch, replies, sizeof *scratch, compare_floats);
    double avg = sum / replies, squares = 0;
    for (uint32_t i = 0; i < replies; i++)
        squares += (scratch[i] - avg) * (scratch[i] - avg);
    out->min_us = scratch[0];
    out->max_us = scratch[replies - 1];
    out->avg_us = avg;
    out->stddev_us = sqrt(squares / replies);
    out->p50_us = percentile(scratch, replies, 0.50);
    out->p90_us = percentile(scratch, replies, 0.90);
    out->p99_us = percentile(scratch, replies, 0.99);
}

static fp_track_ref copy_slot(const fp_track_copy *copy, uint32_t i) {
    const fp_track_config *config = &copy->config;
    return (fp_track_ref){
        .track = &copy->tracks[i],
        .window = copy->windows + (size_t)i * config->window,
        .histogram = copy->histograms ? copy->histograms + (size_t)i * (config->buckets + 1)
                                      : NULL,
        .span = NULL,
    };
}

int fp_track_copy_alloc(fp_track_copy *copy, const fp_track_config *config, uint32_t count) {
    memset(copy, 0, sizeof *copy);
    copy->config = *config;
    copy->config.spans = 0;
    size_t hosts = count ? count : 1; /* malloc(0) may be NULL: never mistake it for a failure */
    copy->tracks = malloc(hosts * sizeof *copy->tracks);
    copy->windows = malloc(hosts * (config->window ? config->window : 1) * sizeof(fp_sample));
    if (config->buckets)
        copy->histograms = malloc(hosts * (config->buckets + 1) * sizeof(uint64_t));
    if (!copy->tracks || !copy->windows || (config->buckets && !copy->histograms)) {
        fp_track_copy_free(copy);
        return -ENOMEM;
    }
    copy->hosts = count;
    return 0;
}

void fp_track_copy_host(fp_track_copy *copy, uint32_t i, fp_track_ref host) {
    fp_track_ref slot = copy_slot(copy, i);
    *slot.track = *host.track;
    memcpy(slot.window, host.window, copy->config.window * sizeof(fp_sample));
    if (slot.histogram)
        memcpy(slot.histogram, host.histogram, (copy->config.buckets + 1) * sizeof(uint64_t));
}

void fp_track_copy_summarize(const fp_track_copy *copy, uint32_t i, float *scratch,
                             fp_track_summary *out) {
    fp_track_summarize(copy_slot(copy, i), copy->config.window, scratch, out);
}

void fp_track_copy_drop_samples(fp_track_copy *copy) {
    free(copy->tracks);
    free(copy->windows);
    copy->tracks = NULL;
    copy->windows = NULL;
}

const uint64_t *fp_track_copy_histogram(const fp_track_copy *copy, uint32_t i) {
    return copy_slot(copy, i).histogram;
}

void fp_track_copy_free(fp_track_copy *copy) {
    free(copy->tracks);
    free(copy->windows);
    free(copy->histograms);
    copy->tracks = NULL;
    copy->windows = NULL;
    copy->histograms = NULL;
    copy->hosts = 0;
}
