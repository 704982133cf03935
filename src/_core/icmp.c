#include "icmp.h"

#include <string.h>

static uint16_t read_be16(const uint8_t *p) {
    return (uint16_t)((p[0] << 8) | p[1]);
}

static uint32_t read_be32(const uint8_t *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void write_be16(uint8_t *p, uint16_t value) {
    p[0] = (uint8_t)(value >> 8);
    p[1] = (uint8_t)value;
}

static void write_be32(uint8_t *p, uint32_t value) {
    write_be16(p, (uint16_t)(value >> 16));
    write_be16(p + 2, (uint16_t)value);
}

uint16_t fp_checksum(const void *data, size_t len) {
    const uint8_t *p = data;
    uint64_t sum = 0;
    size_t i = 0;
    /* Four bytes at a time, in the machine's byte order: RFC 1071 shows the
     * one's complement sum is the same whatever the word width and order, once
     * folded and put back in network order (a third of the work of 16 bits). */
    for (; i + 4 <= len; i += 4) {
        uint32_t word;
        memcpy(&word, p + i, sizeof word);
        sum += word;
    }
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    uint16_t folded = (uint16_t)sum;
    uint8_t bytes[2];
    memcpy(bytes, &folded, sizeof folded);
    sum = read_be16(bytes);
    for (; i + 1 < len; i += 2)
        sum += read_be16(p + i);
    /* The odd byte is the high half of a zero-padded word: it must be
     * widened before shifting, or a byte >= 0x80 sign-extends (fping's bug). */
    if (i < len)
        sum += (uint32_t)p[i] << 8;
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return (uint16_t)~sum;
}

/* The filler of every payload past the tag: byte i is i mod 256, like ping's. */
static const uint8_t filler[256] = {
#define ROW(r) r, r + 1, r + 2, r + 3, r + 4, r + 5, r + 6, r + 7, r + 8, r + 9, r + 10, \
               r + 11, r + 12, r + 13, r + 14, r + 15
    ROW(0), ROW(16), ROW(32), ROW(48), ROW(64), ROW(80), ROW(96), ROW(112),
    ROW(128), ROW(144), ROW(160), ROW(176), ROW(192), ROW(208), ROW(224), ROW(240),
#undef ROW
};

size_t fp_build_echo(uint8_t *buf, size_t cap, int ipv6, uint16_t ident,
                     uint64_t serial, const uint8_t cookie[FP_COOKIE_LEN],
                     size_t payload_len) {
    size_t total = FP_ICMP_HEADER_LEN + payload_len;
    if (payload_len < FP_TAG_LEN || total > cap)
        return 0;
    uint16_t seq = (uint16_t)serial;
    buf[0] = ipv6 ? FP_ICMP6_ECHO_REQUEST : FP_ICMP4_ECHO_REQUEST;
    buf[1] = 0;
    buf[2] = buf[3] = 0;
    write_be16(buf + 4, ident);
    write_be16(buf + 6, seq);
    uint8_t *payload = buf + FP_ICMP_HEADER_LEN;
    memcpy(payload, cookie, FP_COOKIE_LEN);
    memcpy(payload + FP_COOKIE_LEN, &serial, sizeof serial);
    /* A recognisable filler, like ping's, so captures are easy to read. */
    for (size_t i = FP_TAG_LEN; i < payload_len;) {
        size_t offset = i % sizeof filler, chunk = sizeof filler - offset;
        if (chunk > payload_len - i)
            chunk = payload_len - i;
        memcpy(payload + i, filler + offset, chunk);
        i += chunk;
    }
    if (!ipv6)
        write_be16(buf + 2, fp_checksum(buf, total));
    return total;
}

void fp_randomize_filler(uint8_t *buf, size_t len, int ipv6, uint64_t seed) {
    uint64_t word = 0;
    for (size_t i = FP_ICMP_HEADER_LEN + FP_TAG_LEN; i < len; i++) {
        if ((i - FP_ICMP_HEADER_LEN) % 8 == 0) {
            uint64_t z = (seed += 0x9E3779B97F4A7C15u);
            z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9u;
            z = (z ^ (z >> 27)) * 0x94D049BB133111EBu;
            word = z ^ (z >> 31);
        }
        buf[i] = (uint8_t)(word >> (8 * ((i - FP_ICMP_HEADER_LEN) % 8)));
    }
    if (!ipv6) {
        buf[2] = buf[3] = 0;
        write_be16(buf + 2, fp_checksum(buf, len));
    }
}

uint32_t fp_timestamp_originate(const uint8_t cookie[FP_COOKIE_LEN]) {
    return FP_TIMESTAMP_NONSTANDARD | (read_be32(cookie) & ~FP_TIMESTAMP_NONSTANDARD);
}

size_t fp_build_timestamp(uint8_t *buf, size_t cap, uint16_t ident, uint64_t serial,
                          const uint8_t cookie[FP_COOKIE_LEN]) {
    size_t total = FP_ICMP_HEADER_LEN + FP_TIMESTAMP_DATA_LEN;
    if (total > cap)
        return 0;
    memset(buf, 0, total);
    buf[0] = FP_ICMP4_TIMESTAMP_REQUEST;
    write_be16(buf + 4, ident);
    write_be16(buf + 6, (uint16_t)serial);
    write_be32(buf + FP_ICMP_HEADER_LEN, fp_timestamp_originate(cookie));
    write_be16(buf + 2, fp_checksum(buf, total));
    return total;
}

int fp_read_originate(const uint8_t *data, size_t len, uint32_t *originate) {
    if (len < 4)
        return 0;
    *originate = read_be32(data);
    return 1;
}

int fp_parse_echo(const uint8_t *icmp, size_t len, uint8_t want_type,
                  fp_packet *out) {
    if (len < FP_ICMP_HEADER_LEN || icmp[0] != want_type || icmp[1] != 0)
        return 0;
    out->ident = read_be16(icmp + 4);
    out->seq = read_be16(icmp + 6);
    out->payload = icmp + FP_ICMP_HEADER_LEN;
    out->payload_len = len - FP_ICMP_HEADER_LEN;
    return 1;
}

/* Validates an IPv4 header at pkt and returns its length, or 0. The usable
 * length of the datagram (header + data) is stored in *datagram_len: the
 * smaller of what arrived and what the header claims. A quoted header may be
 * followed by fewer bytes than it claims (errors quote only the start), so
 * here only the header itself must be complete; a packet we received whole
 * must also hold all it claims, which fp_parse_ipv4 checks. */
static size_t ipv4_header(const uint8_t *pkt, size_t len, size_t *datagram_len) {
    if (len < FP_IPV4_MIN_HEADER || (pkt[0] >> 4) != 4)
        return 0;
    size_t header_len = (size_t)(pkt[0] & 0x0f) * 4;
    size_t claimed = read_be16(pkt + 2);
    if (header_len < FP_IPV4_MIN_HEADER || header_len > len || claimed < header_len)
        return 0;
    *datagram_len = claimed < len ? claimed : len;
    return header_len;
}

static int is_icmp4_error(uint8_t type) {
    return type == FP_ICMP4_UNREACH || type == FP_ICMP4_TIME_EXCEEDED ||
           type == FP_ICMP4_PARAM_PROBLEM;
}

static int is_icmp6_error(uint8_t type) {
    return type == FP_ICMP6_UNREACH || type == FP_ICMP6_PACKET_TOO_BIG ||
           type == FP_ICMP6_TIME_EXCEEDED || type == FP_ICMP6_PARAM_PROBLEM;
}

/* The quoted packet of an ICMPv4 error: an IPv4 header and the start of what
 * it carried, which must be an echo or timestamp request to concern us. */
static fp_packet_kind quoted_ipv4_echo(const uint8_t *quote, size_t len,
                                       fp_packet *out) {
    size_t datagram_len;
    size_t header_len = ipv4_header(quote, len, &datagram_len);
    if (header_len == 0)
        return FP_PACKET_MALFORMED;
    /* Past a non-first fragment's header is the middle of a payload, not an
     * ICMP header (and RFC 1122 forbids errors about such fragments). */
    if (quote[9] != 1 /* IPPROTO_ICMP */ || (read_be16(quote + 6) & 0x1fff) != 0)
        return FP_PACKET_OTHER;
    memset(out->quoted_dst, 0, sizeof out->quoted_dst);
    memcpy(out->quoted_dst, quote + 16, 4);
    /* The quote may be cut short of the claimed length, never the reverse. */
    size_t quoted_len = len - header_len;
    if (quoted_len < FP_ICMP_HEADER_LEN)
        return FP_PACKET_MALFORMED;
    /* A timestamp request parses as an echo does: its data in place of the payload. */
    out->quoted_type = quote[header_len];
    if (!fp_parse_echo(quote + header_len, quoted_len, FP_ICMP4_ECHO_REQUEST, out) &&
        !fp_parse_echo(quote + header_len, quoted_len, FP_ICMP4_TIMESTAMP_REQUEST, out))
        return FP_PACKET_OTHER;
    return FP_PACKET_ERROR;
}

fp_packet_kind fp_parse_icmp4(const uint8_t *icmp, size_t len,
                              int verify_checksum, fp_packet *out) {
    if (len < FP_ICMP_HEADER_LEN)
        return FP_PACKET_MALFORMED;
    if (verify_checksum && fp_checksum(icmp, len) != 0)
        return FP_PACKET_MALFORMED;
    out->type = icmp[0];
    out->code = icmp[1];
    out->ttl = 0; /* fp_parse_ipv4 fills it in from the header it has */
    if (icmp[0] == FP_ICMP4_ECHO_REPLY)
        return fp_parse_echo(icmp, len, FP_ICMP4_ECHO_REPLY, out)
                   ? FP_PACKET_ECHO_REPLY
                   : FP_PACKET_MALFORMED;
    if (icmp[0] == FP_ICMP4_TIMESTAMP_REPLY) {
        /* RFC 792's fixed 20 bytes; anything shorter cannot hold the times. */
        if (len < FP_ICMP_HEADER_LEN + FP_TIMESTAMP_DATA_LEN ||
            !fp_parse_echo(icmp, len, FP_ICMP4_TIMESTAMP_REPLY, out))
            return FP_PACKET_MALFORMED;
        for (int i = 0; i < 3; i++)
            out->times[i] = read_be32(icmp + FP_ICMP_HEADER_LEN + 4 * i);
        return FP_PACKET_TIMESTAMP_REPLY;
    }
    if (is_icmp4_error(icmp[0]))
        return quoted_ipv4_echo(icmp + FP_ICMP_HEADER_LEN,
                                len - FP_ICMP_HEADER_LEN, out);
    return FP_PACKET_OTHER;
}

fp_packet_kind fp_parse_ipv4(const uint8_t *pkt, size_t len, fp_packet *out) {
    size_t datagram_len;
    size_t header_len = ipv4_header(pkt, len, &datagram_len);
    if (header_len == 0 || pkt[9] != 1 /* IPPROTO_ICMP */ || datagram_len < read_be16(pkt + 2))
        return FP_PACKET_MALFORMED;
    /* A fragment other than the first cannot be parsed alone (the kernel
     * reassembles before raw delivery, so this is only ever forged). */
    if ((read_be16(pkt + 6) & 0x1fff) != 0)
        return FP_PACKET_MALFORMED;
    fp_packet_kind kind = fp_parse_icmp4(pkt + header_len, datagram_len - header_len, 1, out);
    out->ttl = pkt[8];
    return kind;
}

fp_packet_kind fp_parse_icmp6(const uint8_t *icmp, size_t len, fp_packet *out) {
    if (len < FP_ICMP_HEADER_LEN)
        return FP_PACKET_MALFORMED;
    out->type = icmp[0];
    out->code = icmp[1];
    out->ttl = 0;
    if (icmp[0] == FP_ICMP6_ECHO_REPLY)
        return fp_parse_echo(icmp, len, FP_ICMP6_ECHO_REPLY, out)
                   ? FP_PACKET_ECHO_REPLY
                   : FP_PACKET_MALFORMED;
    if (!is_icmp6_error(icmp[0]))
        return FP_PACKET_OTHER;
    const uint8_t *quote = icmp + FP_ICMP_HEADER_LEN;
    size_t quote_len = len - FP_ICMP_HEADER_LEN;
    if (quote_len < FP_IPV6_HEADER_LEN + FP_ICMP_HEADER_LEN || (quote[0] >> 4) != 6)
        return FP_PACKET_MALFORMED;
    /* Our probes carry no extension headers; a quote with any is not ours. */
    if (quote[6] != 58 /* IPPROTO_ICMPV6 */)
        return FP_PACKET_OTHER;
    memcpy(out->quoted_dst, quote + 24, 16);
    out->quoted_type = quote[FP_IPV6_HEADER_LEN];
    if (!fp_parse_echo(quote + FP_IPV6_HEADER_LEN, quote_len - FP_IPV6_HEADER_LEN,
                       FP_ICMP6_ECHO_REQUEST, out))
        return FP_PACKET_OTHER;
    return FP_PACKET_ERROR;
}

int fp_read_tag(const uint8_t *payload, size_t len,
                uint8_t cookie[FP_COOKIE_LEN], uint64_t *serial) {
    if (len < FP_TAG_LEN)
        return 0;
    memcpy(cookie, payload, FP_COOKIE_LEN);
    memcpy(serial, payload + FP_COOKIE_LEN, sizeof *serial);
    return 1;
}

void fp_probe_cookie(const uint8_t key[FP_SIPHASH_KEY_LEN], uint64_t serial,
                     const uint8_t *address, size_t address_len,
                     uint8_t cookie[FP_COOKIE_LEN]) {
    uint8_t message[8 + 16];
    if (address_len > 16)
        address_len = 16;
    for (int i = 0; i < 8; i++)
        message[i] = (uint8_t)(serial >> (8 * i));
    memcpy(message + 8, address, address_len);
    uint64_t hash = fp_siphash24(key, message, 8 + address_len);
    for (int i = 0; i < FP_COOKIE_LEN; i++)
        cookie[i] = (uint8_t)(hash >> (8 * i));
}
