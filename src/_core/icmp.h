/*
 * ICMP and ICMPv6 echo packets: build, checksum, parse.
 *
 * Every function here is pure: no I/O, no globals, no allocation. They take a
 * buffer and its length and never read outside it, so they can be tested
 * against a reference implementation and fuzzed on their own.
 *
 * Our echo payload always starts with a 16-byte tag:
 *   bytes 0..7   the probe's cookie (fp_probe_cookie)
 *   bytes 8..15  the probe's 64-bit serial number (native byte order: only
 *                this engine ever reads it back)
 * followed by filler. The ICMP sequence field carries the serial's low 16
 * bits, so a reply must agree with itself as well as with our probe table.
 *
 * The cookie is a keyed hash of the serial and the destination under a
 * secret key of the engine's: a target sees the cookies of its own probes
 * only, and they tell it nothing about any other probe's, so it cannot
 * forge an answer for another host (nor for a serial not yet sent to it).
 *
 * An engine may send ICMP timestamp requests instead (type 13, IPv4 only, as
 * fping's --icmp-timestamp). Those are 20 bytes: the header and three 32-bit
 * times in milliseconds since midnight UTC (originate, receive, transmit).
 * A responder copies the identifier, sequence and originate field into its
 * reply (type 14) and fills in the other two; Linux copies nothing more, so
 * no tag fits. Our originate field carries the cookie instead of a clock
 * reading: its first 31 bits behind a set high bit, RFC 792's mark of a
 * value that is not a standard time. A reply then names its probe by
 * sequence and those 31 bits; the originate time reported is our own send
 * time, kept locally (iputils' lesson: never trust the wire for it).
 */
#ifndef FASTPING_ICMP_H
#define FASTPING_ICMP_H

#include <stddef.h>
#include <stdint.h>

#include "siphash.h"

#define FP_ICMP_HEADER_LEN 8
#define FP_COOKIE_LEN 8
#define FP_TAG_LEN 16 /* cookie + serial: the smallest payload we send */
#define FP_IPV4_MIN_HEADER 20
#define FP_IPV6_HEADER_LEN 40
/* The largest payload we send: what a 65,535-byte IPv4 datagram leaves after its headers. */
#define FP_MAX_PAYLOAD (65535 - FP_IPV4_MIN_HEADER - FP_ICMP_HEADER_LEN) /* 65,507 */

#define FP_ICMP4_ECHO_REPLY 0
#define FP_ICMP4_UNREACH 3
#define FP_ICMP4_ECHO_REQUEST 8
#define FP_ICMP4_TIME_EXCEEDED 11
#define FP_ICMP4_PARAM_PROBLEM 12
#define FP_ICMP4_TIMESTAMP_REQUEST 13
#define FP_ICMP4_TIMESTAMP_REPLY 14
#define FP_TIMESTAMP_DATA_LEN 12 /* originate, receive and transmit times */
#define FP_TIMESTAMP_NONSTANDARD 0x80000000u /* RFC 792: not milliseconds since midnight */
#define FP_ICMP6_UNREACH 1
#define FP_ICMP6_PACKET_TOO_BIG 2
#define FP_ICMP6_TIME_EXCEEDED 3
#define FP_ICMP6_PARAM_PROBLEM 4
#define FP_ICMP6_ECHO_REQUEST 128
#define FP_ICMP6_ECHO_REPLY 129

/* What a received packet turned out to be. */
typedef enum fp_packet_kind {
    FP_PACKET_MALFORMED = -1, /* truncated, bad header, bad checksum */
    FP_PACKET_OTHER = 0,      /* well-formed but not about an echo of anyone's */
    FP_PACKET_ECHO_REPLY = 1, /* an echo reply (whose, the caller decides) */
    FP_PACKET_ERROR = 2,      /* an ICMP error quoting an echo or timestamp request */
    FP_PACKET_TIMESTAMP_REPLY = 3, /* an ICMPv4 timestamp reply (whose, the caller decides) */
} fp_packet_kind;

typedef struct fp_packet {
    uint8_t type;           /* ICMP type of the packet itself */
    uint8_t code;
    uint8_t ttl;            /* IPv4 TTL when the IP header was given, else 0 */
    uint16_t ident;         /* echo identifier (of the quoted echo for errors) */
    uint16_t seq;           /* echo sequence (of the quoted echo for errors) */
    const uint8_t *payload; /* echo payload (of the quoted echo for errors) */
    size_t payload_len;
    uint8_t quoted_dst[16]; /* errors: destination of the quoted probe */
    uint8_t quoted_type;    /* errors: type of the quoted request (echo or timestamp) */
    uint32_t times[3];      /* timestamp replies: originate, receive, transmit, as sent */
} fp_packet;

/* RFC 1071 Internet checksum of len bytes; an odd final byte is padded with
 * zero on the right, whatever its value. A buffer whose checksum field is
 * correct sums to 0 here. */
uint16_t fp_checksum(const void *data, size_t len);

/* Writes an echo request of FP_ICMP_HEADER_LEN + payload_len bytes into buf
 * and returns that length, or 0 when cap is too small or payload_len is below
 * FP_TAG_LEN. For IPv4 the checksum is filled in; for IPv6 it is left 0,
 * because the kernel computes it over the pseudo-header it alone knows. */
size_t fp_build_echo(uint8_t *buf, size_t cap, int ipv6, uint16_t ident,
                     uint64_t serial, const uint8_t cookie[FP_COOKIE_LEN],
                     size_t payload_len);

/* Overwrites an echo request's filler (its payload past the tag) with bytes drawn from
 * seed (splitmix64), and refills an IPv4 checksum: fping's -R, random data per probe. */
void fp_randomize_filler(uint8_t *buf, size_t len, int ipv6, uint64_t seed);

/* Writes a timestamp request of FP_ICMP_HEADER_LEN + FP_TIMESTAMP_DATA_LEN
 * bytes into buf, checksum filled in, and returns that length (0 when cap is
 * too small). Its originate field is fp_timestamp_originate(cookie). */
size_t fp_build_timestamp(uint8_t *buf, size_t cap, uint16_t ident, uint64_t serial,
                          const uint8_t cookie[FP_COOKIE_LEN]);

/* The originate field of the timestamp request carrying this cookie. */
uint32_t fp_timestamp_originate(const uint8_t cookie[FP_COOKIE_LEN]);

/* Parses a bare echo message (no IP header) of the wanted type: fills ident,
 * seq and payload. Returns 1 on success, 0 otherwise. */
int fp_parse_echo(const uint8_t *icmp, size_t len, uint8_t want_type,
                  fp_packet *out);

/* Reads the originate field at the start of a timestamp message's data (a
 * reply's, or a quoted request's). Returns 1 when len holds it, 0 otherwise. */
int fp_read_originate(const uint8_t *data, size_t len, uint32_t *originate);

/* Parses an IPv4 packet as a raw socket returns it: IP header, then ICMP. */
fp_packet_kind fp_parse_ipv4(const uint8_t *pkt, size_t len, fp_packet *out);

/* Parses an ICMPv4 message without IP header (datagram sockets). When
 * verify_checksum is 0 the checksum is not checked (the kernel did it). */
fp_packet_kind fp_parse_icmp4(const uint8_t *icmp, size_t len,
                              int verify_checksum, fp_packet *out);

/* Parses an ICMPv6 message (raw and datagram sockets both strip the IPv6
 * header; the kernel has verified the checksum). */
fp_packet_kind fp_parse_icmp6(const uint8_t *icmp, size_t len, fp_packet *out);

/* The cookie of the probe with this serial to this address (4 or 16 bytes):
 * the first 8 bytes, little-endian, of SipHash-2-4 under key of the serial
 * (8 bytes, little-endian) followed by the address. */
void fp_probe_cookie(const uint8_t key[FP_SIPHASH_KEY_LEN], uint64_t serial,
                     const uint8_t *address, size_t address_len,
                     uint8_t cookie[FP_COOKIE_LEN]);

/* Reads the tag at the start of an echo payload. Returns 1 when the payload
 * is long enough to hold one, 0 otherwise. */
int fp_read_tag(const uint8_t *payload, size_t len,
                uint8_t cookie[FP_COOKIE_LEN], uint64_t *serial);

#endif
