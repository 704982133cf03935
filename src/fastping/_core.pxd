# cython: language_level=3
# Declarations only: the C core (src/_core: siphash.h, icmp.h, track.h, engine.h) as Cython
# sees it, cimported by _engine.pyx beside it as fastping._core.

from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t, int16_t, int32_t

cdef extern from "siphash.h":
    enum:
        FP_SIPHASH_KEY_LEN
    uint64_t fp_siphash24(const uint8_t *key, const void *data, size_t length)

cdef extern from "<sys/socket.h>":
    enum:
        AF_INET
        AF_INET6
    ctypedef unsigned int socklen_t
    cdef struct sockaddr:
        unsigned short sa_family

cdef extern from "<netinet/in.h>":
    cdef struct in_addr:
        uint32_t s_addr
    cdef struct in6_addr:
        pass
    cdef struct sockaddr_in:
        unsigned short sin_family
        in_addr sin_addr
    cdef struct sockaddr_in6:
        unsigned short sin6_family
        in6_addr sin6_addr
        uint32_t sin6_scope_id

cdef extern from "<net/if.h>":
    enum:
        IFNAMSIZ

cdef extern from "icmp.h":
    enum:
        FP_ICMP_HEADER_LEN
        FP_COOKIE_LEN
        FP_TAG_LEN
        FP_MAX_PAYLOAD
        FP_TIMESTAMP_DATA_LEN

    ctypedef struct fp_packet:
        uint8_t type
        uint8_t code
        uint8_t ttl
        uint16_t ident
        uint16_t seq
        const uint8_t *payload
        size_t payload_len
        uint8_t quoted_dst[16]
        uint8_t quoted_type
        uint32_t times[3]

    uint16_t fp_checksum(const void *data, size_t length)
    size_t fp_build_echo(uint8_t *buf, size_t cap, int ipv6, uint16_t ident,
                         uint64_t serial, const uint8_t *cookie, size_t payload_len)
    size_t fp_build_timestamp(uint8_t *buf, size_t cap, uint16_t ident, uint64_t serial,
                              const uint8_t *cookie)
    int fp_parse_ipv4(const uint8_t *pkt, size_t length, fp_packet *out)
    int fp_parse_icmp4(const uint8_t *icmp, size_t length, int verify_checksum, fp_packet *out)
    int fp_parse_icmp6(const uint8_t *icmp, size_t length, fp_packet *out)
    void fp_probe_cookie(const uint8_t *key, uint64_t serial, const uint8_t *address,
                         size_t address_len, uint8_t *cookie)
    int fp_read_tag(const uint8_t *payload, size_t length, uint8_t *cookie, uint64_t *serial)

cdef extern from "timeouts.h":
    enum:
        FP_MAX_TIMEOUTS

cdef extern from "shortest.h":
    enum:
        FP_SHORTEST_POW5
        FP_SHORTEST_POW5_INV
        FP_SHORTEST_BITS
        FP_SHORTEST_MAX
    void fp_shortest_init(const uint64_t *pow5, const uint64_t *pow5_inv)
    size_t fp_shortest(double value, char *out) nogil

cdef extern from "track.h":
    enum:
        FP_TRACK_MAX_BUCKETS

    ctypedef enum fp_health:
        FP_HEALTH_UNKNOWN
        FP_HEALTH_UP
        FP_HEALTH_DOWN

    ctypedef struct fp_track_config:
        uint32_t down_after
        uint32_t up_after
        uint32_t window
        uint32_t buckets
        uint32_t spans
        uint64_t bucket_bounds_ns[FP_TRACK_MAX_BUCKETS]

    ctypedef struct fp_track_summary:
        uint64_t sent, received, lost, duplicates, send_errors, icmp_errors
        uint64_t rtt_sum_ns, rtt_min_ns, rtt_max_ns
        double rtt_squares_ns2
        uint64_t span_min_ns, span_max_ns
        int last_ttl
        uint64_t since_ns
        double last_rtt_us, jitter_us
        uint32_t streak
        uint32_t ups, downs
        uint8_t health
        uint32_t window_probes, window_replies
        double min_us, avg_us, max_us, stddev_us, p50_us, p90_us, p99_us

    ctypedef struct fp_track_copy:
        fp_track_config config
        uint32_t hosts

    void fp_track_copy_summarize(const fp_track_copy *copy, uint32_t i, float *scratch,
                                 fp_track_summary *out) nogil
    void fp_track_copy_drop_samples(fp_track_copy *copy)
    const uint64_t *fp_track_copy_histogram(const fp_track_copy *copy, uint32_t i) nogil
    void fp_track_copy_free(fp_track_copy *copy)

cdef extern from "engine.h":
    ctypedef enum fp_privilege:
        FP_PRIVILEGE_AUTO
        FP_PRIVILEGE_RAW
        FP_PRIVILEGE_DATAGRAM

    ctypedef struct fp_config:
        uint64_t timeout_ns
        uint32_t payload_len
        int ttl
        int tos
        fp_privilege privilege
        int icmp_timestamp
        int dont_fragment
        int random_payload
        int receive_tos
        int receive_destination
        uint32_t fwmark
        sockaddr_in source4
        sockaddr_in6 source6
        char interface[IFNAMSIZ]
        unsigned int out_interface

    ctypedef struct fp_event:
        uint64_t rtt_ns        # time from send to the reply or error
        uint32_t host          # the host's index
        int32_t error          # errno of a send error
        uint16_t seq           # ICMP sequence of the probe
        uint8_t kind           # fp_event_kind
        uint8_t icmp_type      # of an ICMP error
        uint8_t icmp_code
        uint8_t ttl            # of a reply, 0 if unknown
        uint8_t from_family    # of the router that reported an error
        uint8_t from_ "from"[16]
        uint32_t times[4]      # of a reply to a timestamp request (in a union with from)
        uint8_t cause          # of a health change: the outcome kind behind it
        uint8_t health         # of a health change: now, and before
        uint8_t previous_health
        int16_t tos            # of a reply, -1 unless the engine reads it
        uint8_t to_family      # of a reply's destination address, 0 unless the engine reads it
        uint8_t to[16]

    ctypedef struct fp_counters:
        uint64_t sent
        uint64_t replies
        uint64_t timeouts
        uint64_t icmp_errors
        uint64_t send_errors
        uint64_t duplicates
        uint64_t late
        uint64_t foreign
        uint64_t malformed
        uint64_t unverified

    ctypedef struct fp_resources:
        int descriptors
        int timer_armed
        uint32_t scheduled
        uint32_t outstanding
        uint32_t hosts
        uint32_t host_capacity
        uint64_t ring_capacity
        uint64_t host_bytes
        uint64_t table_bytes

    enum:
        FP_EVENT_REPLY
        FP_EVENT_TIMEOUT
        FP_EVENT_ICMP_ERROR
        FP_EVENT_SEND_ERROR
        FP_EVENT_DUPLICATE
        FP_EVENT_HEALTH
        FP_RUN_IDLE
        FP_RUN_FULL
        FP_RUN_DEADLINE
        FP_RUN_WOKEN
        FP_RUN_INTERRUPTED
        FP_RUN_EVENTS
        FP_RUN_RETURN_WHEN_IDLE
        FP_RUN_RETURN_EVENTS

    ctypedef struct fp_engine:
        pass

    int fp_engine_open(fp_engine **out, const fp_config *config)
    void fp_engine_close(fp_engine *engine)
    int fp_engine_add_host(fp_engine *engine, const sockaddr *address, socklen_t length)
    int fp_engine_remove_host(fp_engine *engine, uint32_t host)
    int fp_engine_schedule(fp_engine *engine, uint32_t host, uint64_t deadline, uint64_t period_ns)
    void fp_engine_set_send_slack(fp_engine *engine, uint64_t slack_ns)
    void fp_engine_set_send_gap(fp_engine *engine, uint64_t gap_ns)
    int fp_engine_cancel_all(fp_engine *engine)
    int fp_engine_set_timeout(fp_engine *engine, uint64_t timeout_ns)
    int fp_engine_set_host_timeout(fp_engine *engine, uint32_t host, uint64_t timeout_ns)
    int fp_engine_set_ttl(fp_engine *engine, int ttl)
    int fp_engine_set_host_reporting(fp_engine *engine, uint32_t host, int report_outcomes)
    int fp_engine_run(fp_engine *engine, uint64_t until, int flags, fp_event *events,
                      uint32_t capacity, uint32_t *count) nogil
    void fp_engine_wake(fp_engine *engine) nogil
    int fp_engine_reserve(fp_engine *engine, uint32_t replies_in_flight)
    void fp_engine_counters(const fp_engine *engine, fp_counters *out)
    void fp_engine_resources(const fp_engine *engine, fp_resources *out)
    int fp_engine_identifier(const fp_engine *engine, int family)
    int fp_engine_is_raw(const fp_engine *engine, int family)
    int fp_engine_fileno(const fp_engine *engine)
    int fp_engine_track(fp_engine *engine, const fp_track_config *config, int report_outcomes)
    int fp_engine_track_summary(fp_engine *engine, uint32_t host, fp_track_summary *out)
    int fp_engine_track_mark(fp_engine *engine)
    int fp_engine_track_histogram(fp_engine *engine, uint32_t host, uint64_t *counts,
                                  uint64_t *sum_ns)
    int fp_engine_track_copy(fp_engine *engine, const uint32_t *indexes, uint32_t count,
                             fp_track_copy *out)
    uint64_t fp_monotonic_ns() nogil
