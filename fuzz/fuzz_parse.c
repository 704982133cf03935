/*
 * libFuzzer harness for the packet parser in src/_core/icmp.c.
 *
 * Every input is handed to every parser (raw IPv4, ICMPv4 with and without
 * the checksum check, ICMPv6, a bare echo of each type) and to fp_read_tag: the parsers are cheap, and
 * a packet of one kind is a fine mutation seed for the others. Besides what
 * ASan/UBSan catch (reads past the input: libFuzzer hands us a heap copy of
 * exactly `size` bytes), the harness checks what icmp.h promises:
 * - a parse is deterministic and never depends on what `out` held before;
 * - a returned payload lies inside the input;
 * - the kind is one of fp_packet_kind, and its fields agree with it;
 * - the checksum check only ever turns a verdict into MALFORMED;
 * - fp_read_tag accepts exactly the payloads that hold a tag;
 * - a timestamp reply holds its three times, read back as they are on the wire;
 * - a probe's cookie (fp_probe_cookie) depends on its key, serial and
 *   address alone, and the tag of the echo it goes in reads back whole.
 * It also fixes up the ICMPv4 checksum of a copy, so that the mutator's
 * packets get past it and reach the error-quote code on the checked paths.
 *
 * Build: clang -g -O1 -fsanitize=fuzzer,address,undefined -Isrc/_core
 *        fuzz/fuzz_parse.c src/_core/icmp.c src/_core/siphash.c
 *        (fuzz/run.sh does it)
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "icmp.h"

#define CHECK(cond)                                                                \
    do {                                                                           \
        if (!(cond)) {                                                             \
            fprintf(stderr, "fuzz_parse: invariant failed at line %d: %s\n",       \
                    __LINE__, #cond);                                              \
            abort();                                                               \
        }                                                                          \
    } while (0)

enum layer { LAYER_IPV4, LAYER_ICMP4, LAYER_ICMP4_NOCHECK, LAYER_ICMP6 };

static fp_packet_kind parse(enum layer layer, const uint8_t *data, size_t size,
                            fp_packet *out) {
    switch (layer) {
    case LAYER_IPV4:
        return fp_parse_ipv4(data, size, out);
    case LAYER_ICMP4:
        return fp_parse_icmp4(data, size, 1, out);
    case LAYER_ICMP4_NOCHECK:
        return fp_parse_icmp4(data, size, 0, out);
    default:
        return fp_parse_icmp6(data, size, out);
    }
}

/* The fields a verdict defines; the others are left as they were. */
static int has_fields(fp_packet_kind kind) {
    return kind == FP_PACKET_ECHO_REPLY || kind == FP_PACKET_ERROR ||
           kind == FP_PACKET_TIMESTAMP_REPLY;
}

static uint32_t be32(const uint8_t *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void check_same(fp_packet_kind kind, enum layer layer, const fp_packet *a,
                       const fp_packet *b) {
    if (!has_fields(kind))
        return;
    CHECK(a->type == b->type && a->code == b->code);
    CHECK(a->ident == b->ident && a->seq == b->seq);
    CHECK(a->payload == b->payload && a->payload_len == b->payload_len);
    if (layer == LAYER_IPV4 || layer == LAYER_ICMP6)
        CHECK(a->ttl == b->ttl);
    if (kind == FP_PACKET_ERROR)
        CHECK(memcmp(a->quoted_dst, b->quoted_dst, sizeof a->quoted_dst) == 0 &&
              a->quoted_type == b->quoted_type);
    if (kind == FP_PACKET_TIMESTAMP_REPLY)
        CHECK(memcmp(a->times, b->times, sizeof a->times) == 0);
}

static void check_tag(const uint8_t *payload, size_t len) {
    uint8_t cookie[FP_COOKIE_LEN];
    uint64_t serial;
    int ok = fp_read_tag(payload, len, cookie, &serial);
    CHECK(ok == (len >= FP_TAG_LEN));
    if (ok) {
        CHECK(memcmp(cookie, payload, FP_COOKIE_LEN) == 0);
        CHECK(memcmp(&serial, payload + FP_COOKIE_LEN, sizeof serial) == 0);
    }
}

/* Parses data twice, over differently poisoned results, and checks the
 * verdict; returns it, with the first result in *out. */
static fp_packet_kind check_parse(enum layer layer, const uint8_t *data, size_t size,
                                  fp_packet *out) {
    fp_packet again;
    memset(out, 0xa5, sizeof *out);
    memset(&again, 0x5a, sizeof again);
    fp_packet_kind kind = parse(layer, data, size, out);
    CHECK(parse(layer, data, size, &again) == kind);
    CHECK(kind >= FP_PACKET_MALFORMED && kind <= FP_PACKET_TIMESTAMP_REPLY);
    check_same(kind, layer, out, &again);
    if (!has_fields(kind))
        return kind;

    /* The payload is a slice of the input, never past its end. */
    CHECK(out->payload >= data && out->payload <= data + size);
    CHECK(out->payload_len <= size - (size_t)(out->payload - data));
    /* Even an IPv6 error quote's echo header is read whole. */
    CHECK((size_t)(out->payload - data) >= FP_ICMP_HEADER_LEN);
    check_tag(out->payload, out->payload_len);

    int v6 = layer == LAYER_ICMP6;
    if (kind == FP_PACKET_TIMESTAMP_REPLY) {
        CHECK(!v6 && out->type == FP_ICMP4_TIMESTAMP_REPLY && out->code == 0);
        CHECK(out->payload_len >= FP_TIMESTAMP_DATA_LEN);
        for (int i = 0; i < 3; i++)
            CHECK(out->times[i] == be32(out->payload + 4 * i));
    } else if (kind == FP_PACKET_ECHO_REPLY) {
        CHECK(out->type == (v6 ? FP_ICMP6_ECHO_REPLY : FP_ICMP4_ECHO_REPLY));
        CHECK(out->code == 0);
        if (layer != LAYER_IPV4)
            CHECK(out->payload == data + FP_ICMP_HEADER_LEN &&
                  out->payload_len == size - FP_ICMP_HEADER_LEN);
    } else if (v6) {
        CHECK(out->type >= FP_ICMP6_UNREACH && out->type <= FP_ICMP6_PARAM_PROBLEM);
        CHECK(out->payload == data + FP_ICMP_HEADER_LEN + FP_IPV6_HEADER_LEN +
                                  FP_ICMP_HEADER_LEN);
        CHECK(memcmp(out->quoted_dst, data + FP_ICMP_HEADER_LEN + 24, 16) == 0);
    } else {
        CHECK(out->type == FP_ICMP4_UNREACH || out->type == FP_ICMP4_TIME_EXCEEDED ||
              out->type == FP_ICMP4_PARAM_PROBLEM);
        CHECK(out->quoted_type == FP_ICMP4_ECHO_REQUEST ||
              out->quoted_type == FP_ICMP4_TIMESTAMP_REQUEST);
        CHECK(out->payload[-FP_ICMP_HEADER_LEN] == out->quoted_type);
        static const uint8_t zeros[12];
        CHECK(memcmp(out->quoted_dst + 4, zeros, sizeof zeros) == 0);
    }
    if (layer == LAYER_IPV4)
        CHECK(out->ttl == data[8]);
    if (v6)
        CHECK(out->ttl == 0);
    return kind;
}

/* The ICMPv4 checks on one message: the checksum check only rejects. */
static void check_icmp4(const uint8_t *data, size_t size) {
    fp_packet checked, unchecked;
    fp_packet_kind with = check_parse(LAYER_ICMP4, data, size, &checked);
    fp_packet_kind without = check_parse(LAYER_ICMP4_NOCHECK, data, size, &unchecked);
    if (size >= FP_ICMP_HEADER_LEN && fp_checksum(data, size) == 0) {
        CHECK(with == without);
        check_same(with, LAYER_ICMP4, &checked, &unchecked);
    } else {
        CHECK(with == FP_PACKET_MALFORMED);
    }
}

/* A heap copy of data with the ICMP checksum at `at` filled in. */
static uint8_t *with_checksum(const uint8_t *data, size_t size, size_t at, size_t end) {
    uint8_t *copy = malloc(size ? size : 1);
    CHECK(copy);
    memcpy(copy, data, size);
    copy[at + 2] = copy[at + 3] = 0;
    uint16_t sum = fp_checksum(copy + at, end - at);
    copy[at + 2] = (uint8_t)(sum >> 8);
    copy[at + 3] = (uint8_t)sum;
    CHECK(fp_checksum(copy + at, end - at) == 0);
    return copy;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fp_packet packet;
    if (size == 0) /* the Cython wrapper passes NULL for an empty buffer */
        for (enum layer layer = LAYER_IPV4; layer <= LAYER_ICMP6; layer++)
            CHECK(parse(layer, NULL, 0, &packet) == FP_PACKET_MALFORMED);
    check_parse(LAYER_IPV4, data, size, &packet);
    check_parse(LAYER_ICMP6, data, size, &packet);
    check_icmp4(data, size);
    check_tag(data, size);
    /* fp_parse_echo on its own: the engine calls it on the echo requests that the
     * kernel hands back with a local error (MSG_ERRQUEUE). */
    static const uint8_t echo_types[] = {FP_ICMP4_ECHO_REPLY, FP_ICMP4_ECHO_REQUEST,
                                         FP_ICMP6_ECHO_REQUEST, FP_ICMP6_ECHO_REPLY};
    for (size_t i = 0; i < sizeof echo_types; i++) {
        memset(&packet, 0xa5, sizeof packet);
        int ok = fp_parse_echo(data, size, echo_types[i], &packet);
        CHECK(ok == (size >= FP_ICMP_HEADER_LEN && data[0] == echo_types[i] && data[1] == 0));
        if (ok)
            CHECK(packet.payload == data + FP_ICMP_HEADER_LEN &&
                  packet.payload_len == size - FP_ICMP_HEADER_LEN &&
                  packet.ident == (data[4] << 8 | data[5]) &&
                  packet.seq == (data[6] << 8 | data[7]));
    }

    if (size >= FP_ICMP_HEADER_LEN) {
        /* As a bare ICMPv4 message whose checksum is right. */
        uint8_t *fixed = with_checksum(data, size, 0, size);
        check_icmp4(fixed, size);
        free(fixed);
    }
    if (size >= FP_IPV4_MIN_HEADER) {
        /* As an IPv4 packet whose ICMP checksum is right (over the bytes the
         * header's total length covers, as fp_parse_ipv4 reads them). */
        size_t header_len = (size_t)(data[0] & 0x0f) * 4;
        size_t end = ((size_t)data[2] << 8) | data[3];
        if (end > size)
            end = size;
        if (header_len + FP_ICMP_HEADER_LEN <= end) {
            uint8_t *fixed = with_checksum(data, size, header_len, end);
            fp_packet_kind kind = check_parse(LAYER_IPV4, fixed, size, &packet);
            /* What is under a sound header parses as the bare message does. */
            if (kind != FP_PACKET_MALFORMED) {
                fp_packet bare;
                fp_packet_kind bare_kind =
                    check_parse(LAYER_ICMP4, fixed + header_len, end - header_len, &bare);
                CHECK(bare_kind == kind);
                check_same(kind, LAYER_ICMP4, &packet, &bare);
            }
            free(fixed);
        }
    }

    /* Round trip: an echo built from the input's bytes (ident, serial, then a
     * key and an address for its cookie), turned into a reply, parses back to
     * what went in, on both families. */
    if (size >= 2 + 8 + FP_SIPHASH_KEY_LEN + 4) {
        uint16_t ident = (uint16_t)(data[0] << 8 | data[1]);
        uint64_t serial;
        memcpy(&serial, data + 2, sizeof serial);
        const uint8_t *key = data + 10, *address = data + 10 + FP_SIPHASH_KEY_LEN;
        size_t address_len = size >= 2 + 8 + FP_SIPHASH_KEY_LEN + 16 ? 16 : 4;
        uint8_t cookie[FP_COOKIE_LEN], again[FP_COOKIE_LEN];
        memset(again, 0xa5, sizeof again);
        fp_probe_cookie(key, serial, address, address_len, cookie);
        fp_probe_cookie(key, serial, address, address_len, again);
        CHECK(memcmp(cookie, again, FP_COOKIE_LEN) == 0);
        size_t payload_len = FP_TAG_LEN + (size - 18) % 64;
        uint8_t buf[FP_ICMP_HEADER_LEN + FP_TAG_LEN + 64];
        CHECK(fp_build_echo(buf, sizeof buf, 0, ident, serial, cookie, FP_TAG_LEN - 1) == 0);
        CHECK(fp_build_echo(buf, FP_ICMP_HEADER_LEN + payload_len - 1, 0, ident, serial,
                            cookie, payload_len) == 0);
        for (int v6 = 0; v6 <= 1; v6++) {
            size_t len = fp_build_echo(buf, sizeof buf, v6, ident, serial, cookie, payload_len);
            CHECK(len == FP_ICMP_HEADER_LEN + payload_len);
            if (!v6)
                CHECK(fp_checksum(buf, len) == 0);
            buf[0] = v6 ? FP_ICMP6_ECHO_REPLY : FP_ICMP4_ECHO_REPLY;
            if (!v6) {
                uint8_t *reply = with_checksum(buf, len, 0, len);
                memcpy(buf, reply, len);
                free(reply);
            }
            fp_packet_kind kind = check_parse(v6 ? LAYER_ICMP6 : LAYER_ICMP4, buf, len, &packet);
            CHECK(kind == FP_PACKET_ECHO_REPLY);
            CHECK(packet.ident == ident && packet.seq == (uint16_t)serial);
            uint8_t got_cookie[FP_COOKIE_LEN];
            uint64_t got_serial;
            CHECK(fp_read_tag(packet.payload, packet.payload_len, got_cookie, &got_serial));
            CHECK(memcmp(got_cookie, cookie, FP_COOKIE_LEN) == 0 && got_serial == serial);
        }
        /* A timestamp request, answered as Linux answers it (type 14, the originate
         * field copied), parses back with its originate field made of the cookie. */
        uint8_t stamp[FP_ICMP_HEADER_LEN + FP_TIMESTAMP_DATA_LEN];
        CHECK(fp_build_timestamp(stamp, sizeof stamp - 1, ident, serial, cookie) == 0);
        CHECK(fp_build_timestamp(stamp, sizeof stamp, ident, serial, cookie) == sizeof stamp);
        CHECK(fp_checksum(stamp, sizeof stamp) == 0);
        stamp[0] = FP_ICMP4_TIMESTAMP_REPLY;
        uint8_t *answer = with_checksum(stamp, sizeof stamp, 0, sizeof stamp);
        CHECK(check_parse(LAYER_ICMP4, answer, sizeof stamp, &packet) ==
              FP_PACKET_TIMESTAMP_REPLY);
        uint32_t originate;
        CHECK(fp_read_originate(packet.payload, packet.payload_len, &originate));
        CHECK(packet.ident == ident && packet.seq == (uint16_t)serial &&
              originate == packet.times[0] && originate == fp_timestamp_originate(cookie) &&
              (originate & FP_TIMESTAMP_NONSTANDARD));
        free(answer);
    }
    return 0;
}
