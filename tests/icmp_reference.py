"""A small pure-Python reference for the packet code in src/_core/icmp.c.

Written for reading, not speed, from RFC 791 (IPv4), RFC 792 (ICMP), RFC 1071
(checksum), RFC 4443 (ICMPv6) and the SipHash paper (Aumasson and Bernstein,
2012). tests/test_packets.py runs the C code and this module on the same inputs
and compares the answers; `parse` returns the
same tuple as `fastping._engine.parse`.
"""

from __future__ import annotations

import struct
import sys

ICMP_HEADER_LEN = 8
COOKIE_LEN = 8
KEY_LEN = 16  # the engine's secret, SipHash's key
TAG_LEN = 16  # cookie + serial: the smallest payload the engine sends
MAX_PAYLOAD = 65507  # the largest the Cython wrapper accepts (65535 - IPv4 and ICMP headers)
IPV4_MIN_HEADER_LEN = 20
IPV6_HEADER_LEN = 40
IPPROTO_ICMP = 1
IPPROTO_ICMPV6 = 58

ICMP4_ECHO_REPLY = 0
ICMP4_ECHO_REQUEST = 8
ICMP4_TIMESTAMP_REQUEST = 13
ICMP4_TIMESTAMP_REPLY = 14
TIMESTAMP_DATA_LEN = 12  # originate, receive, transmit: 32 bits each (RFC 792)
NONSTANDARD = 0x80000000  # RFC 792: a time that is not milliseconds since midnight UTC
ICMP4_ERRORS = frozenset({3, 11, 12})  # unreachable, time exceeded, parameter problem
ICMP6_ECHO_REQUEST = 128
ICMP6_ECHO_REPLY = 129
ICMP6_ERRORS = frozenset({1, 2, 3, 4})  # unreachable, too big, time exceeded, parameter problem

# What parse found (fp_packet_kind).
MALFORMED = -1
OTHER = 0
ECHO_REPLY = 1
ERROR = 2
TIMESTAMP_REPLY = 3

# (kind, type, code, ttl, ident, seq, payload, quoted_dst, quoted_type, times)
Parsed = tuple[
    int, int | None, int | None, int | None, int | None, int | None, bytes | None, bytes | None,
    int | None, tuple[int, int, int] | None,
]


def checksum(data: bytes) -> int:
    """RFC 1071: ones' complement of the ones' complement sum of big-endian 16-bit words.

    An odd final byte is the high half of a word whose low half is zero.
    """
    if len(data) % 2:
        data = bytes(data) + b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total > 0xFFFF:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


MASK64 = (1 << 64) - 1


def _rotl(x: int, bits: int) -> int:
    return (x << bits | x >> (64 - bits)) & MASK64


def _sip_round(v: list[int]) -> None:
    v[0] = (v[0] + v[1]) & MASK64
    v[1] = _rotl(v[1], 13) ^ v[0]
    v[0] = _rotl(v[0], 32)
    v[2] = (v[2] + v[3]) & MASK64
    v[3] = _rotl(v[3], 16) ^ v[2]
    v[0] = (v[0] + v[3]) & MASK64
    v[3] = _rotl(v[3], 21) ^ v[0]
    v[2] = (v[2] + v[1]) & MASK64
    v[1] = _rotl(v[1], 17) ^ v[2]
    v[2] = _rotl(v[2], 32)


def siphash24(key: bytes, data: bytes) -> int:
    """SipHash-2-4: 64-bit words read little-endian, the length's low byte atop the last."""
    if len(key) != KEY_LEN:
        raise ValueError("key must be 16 bytes")
    k0, k1 = struct.unpack("<QQ", key)
    v = [k0 ^ 0x736F6D6570736575, k1 ^ 0x646F72616E646F6D,
         k0 ^ 0x6C7967656E657261, k1 ^ 0x7465646279746573]
    whole = len(data) - len(data) % 8
    blocks = [int.from_bytes(data[i:i + 8], "little") for i in range(0, whole, 8)]
    blocks.append(int.from_bytes(data[whole:], "little") | (len(data) & 0xFF) << 56)
    for block in blocks:
        v[3] ^= block
        _sip_round(v)
        _sip_round(v)
        v[0] ^= block
    v[2] ^= 0xFF
    for _ in range(4):
        _sip_round(v)
    return v[0] ^ v[1] ^ v[2] ^ v[3]


def probe_cookie(key: bytes, serial: int, address: bytes) -> bytes:
    """A probe's cookie: SipHash-2-4 of its serial (little-endian) and destination address."""
    if len(address) not in (4, 16):
        raise ValueError("address must be 4 or 16 bytes")
    return siphash24(key, serial.to_bytes(8, "little") + address).to_bytes(8, "little")


def icmp_message(
    msg_type: int, code: int, rest_of_header: bytes, body: bytes, *, fill_checksum: bool = True
) -> bytes:
    """An ICMP(v6) message; the checksum is left 0 unless fill_checksum."""
    message = bytearray(struct.pack("!BBH", msg_type, code, 0) + rest_of_header + body)
    if fill_checksum:
        struct.pack_into("!H", message, 2, checksum(message))
    return bytes(message)


def echo_message(
    msg_type: int,
    ident: int,
    seq: int,
    payload: bytes,
    *,
    code: int = 0,
    fill_checksum: bool = True,
) -> bytes:
    """An echo request or reply (the same layout in ICMP and ICMPv6)."""
    return icmp_message(
        msg_type, code, struct.pack("!HH", ident, seq), payload, fill_checksum=fill_checksum
    )


def echo_payload(cookie: bytes, serial: int, payload_size: int) -> bytes:
    """The engine's payload: cookie, serial in native byte order, then filler (index & 0xff)."""
    filler = bytes(index & 0xFF for index in range(TAG_LEN, payload_size))
    return cookie + serial.to_bytes(8, sys.byteorder) + filler


def build_echo(ipv6: bool, ident: int, serial: int, cookie: bytes, payload_size: int) -> bytes:
    """An echo request as fp_build_echo writes it; the ICMPv6 checksum is left to the kernel."""
    if len(cookie) != COOKIE_LEN:
        raise ValueError("cookie must be 8 bytes")
    if not TAG_LEN <= payload_size <= MAX_PAYLOAD:
        raise ValueError(f"payload_size must be between {TAG_LEN} and {MAX_PAYLOAD}")
    request_type = ICMP6_ECHO_REQUEST if ipv6 else ICMP4_ECHO_REQUEST
    # The sequence number is the serial's low 16 bits: it wraps, the serial does not.
    return echo_message(
        request_type,
        ident,
        serial & 0xFFFF,
        echo_payload(cookie, serial, payload_size),
        fill_checksum=not ipv6,
    )


def timestamp_originate(cookie: bytes) -> int:
    """The originate field of the timestamp request that carries cookie: its first 31 bits
    behind the high bit that marks a non-standard time."""
    return NONSTANDARD | int.from_bytes(cookie[:4], "big") & ~NONSTANDARD


def build_timestamp(ident: int, serial: int, cookie: bytes) -> bytes:
    """A timestamp request as fp_build_timestamp writes it: receive and transmit left 0."""
    if len(cookie) != COOKIE_LEN:
        raise ValueError("cookie must be 8 bytes")
    return icmp_message(ICMP4_TIMESTAMP_REQUEST, 0, struct.pack("!HH", ident, serial & 0xFFFF),
                        struct.pack("!III", timestamp_originate(cookie), 0, 0))


# ---- parsing ------------------------------------------------------------------

NOTHING: tuple[None, ...] = (None,) * 9


def _verdict(kind: int) -> Parsed:
    return (kind, *NOTHING)


def _echo(message: bytes, want_type: int) -> tuple[int, int, bytes] | None:
    """(ident, seq, payload) of an echo message of the wanted type and code 0, or None."""
    if len(message) < ICMP_HEADER_LEN or message[0] != want_type or message[1] != 0:
        return None
    ident, seq = struct.unpack_from("!HH", message, 4)
    return ident, seq, message[ICMP_HEADER_LEN:]


def _found(
    kind: int, message: bytes, echo: tuple[int, int, bytes], quoted_dst: bytes | None = None
) -> Parsed:
    ident, seq, payload = echo
    return (kind, message[0], message[1], 0, ident, seq, payload, quoted_dst, None, None)


def _found_error(message: bytes, quote: bytes, quoted_dst: bytes, requests: set[int]) -> Parsed:
    """An error quoting one of the requests (quote starts with its ICMP header), or OTHER."""
    echo = _echo(quote, quote[0]) if quote[0] in requests else None
    if echo is None:
        return _verdict(OTHER)
    return (*_found(ERROR, message, echo, quoted_dst)[:8], quote[0], None)


def _ipv4_header(packet: bytes) -> tuple[int, int] | None:
    """(header length, claimed total length) of a sound IPv4 header starting packet, or None.

    Only the header must be complete: an error quotes just the start of a datagram.
    """
    if len(packet) < IPV4_MIN_HEADER_LEN or packet[0] >> 4 != 4:
        return None
    header_len = (packet[0] & 0x0F) * 4
    total_len = int.from_bytes(packet[2:4], "big")
    if header_len < IPV4_MIN_HEADER_LEN or header_len > len(packet) or total_len < header_len:
        return None
    return header_len, total_len


def _fragment_offset(ipv4_header: bytes) -> int:
    return int.from_bytes(ipv4_header[6:8], "big") & 0x1FFF


def _quoted_ipv4_echo(message: bytes) -> Parsed:
    """An ICMPv4 error: what matters is whether it quotes an echo request."""
    quote = message[ICMP_HEADER_LEN:]
    header = _ipv4_header(quote)
    if header is None:
        return _verdict(MALFORMED)
    header_len = header[0]
    # Not about an echo of anyone's: another protocol, or a non-initial fragment, whose
    # data is not an ICMP header (RFC 1122 3.2.2 forbids errors about those anyway).
    if quote[9] != IPPROTO_ICMP or _fragment_offset(quote) != 0:
        return _verdict(OTHER)
    # RFC 792 promises the first 64 bits of the datagram's data.
    if len(quote) - header_len < ICMP_HEADER_LEN:
        return _verdict(MALFORMED)
    return _found_error(message, quote[header_len:], quote[16:20] + bytes(12),
                        {ICMP4_ECHO_REQUEST, ICMP4_TIMESTAMP_REQUEST})


def parse_icmp4(message: bytes) -> Parsed:
    """An ICMPv4 message without IP header; its checksum must verify."""
    if len(message) < ICMP_HEADER_LEN or checksum(message) != 0:
        return _verdict(MALFORMED)
    if message[0] == ICMP4_ECHO_REPLY:
        echo = _echo(message, ICMP4_ECHO_REPLY)
        return _found(ECHO_REPLY, message, echo) if echo else _verdict(MALFORMED)
    if message[0] == ICMP4_TIMESTAMP_REPLY:
        echo = _echo(message, ICMP4_TIMESTAMP_REPLY)
        if echo is None or len(message) < ICMP_HEADER_LEN + TIMESTAMP_DATA_LEN:
            return _verdict(MALFORMED)
        times = struct.unpack_from("!III", message, ICMP_HEADER_LEN)
        return (*_found(TIMESTAMP_REPLY, message, echo)[:9], times)
    if message[0] in ICMP4_ERRORS:
        return _quoted_ipv4_echo(message)
    return _verdict(OTHER)


def parse_ipv4(packet: bytes) -> Parsed:
    """An IPv4 packet as a raw socket returns it: IP header, then an ICMP message."""
    header = _ipv4_header(packet)
    if header is None or packet[9] != IPPROTO_ICMP:
        return _verdict(MALFORMED)
    header_len, total_len = header
    # RFC 791: the total length counts the whole datagram. Fewer bytes than that is a
    # truncated datagram; more is trailing junk past the datagram, ignored.
    if total_len > len(packet):
        return _verdict(MALFORMED)
    # A non-initial fragment starts mid-message: nothing in it can be parsed alone.
    if _fragment_offset(packet) != 0:
        return _verdict(MALFORMED)
    parsed = parse_icmp4(packet[header_len:total_len])
    if parsed[0] <= OTHER:
        return parsed
    ttl = packet[8]
    return (*parsed[:3], ttl, *parsed[4:])


def parse_icmp6(message: bytes) -> Parsed:
    """An ICMPv6 message (the kernel strips the IPv6 header and verifies the checksum)."""
    if len(message) < ICMP_HEADER_LEN:
        return _verdict(MALFORMED)
    if message[0] == ICMP6_ECHO_REPLY:
        echo = _echo(message, ICMP6_ECHO_REPLY)
        return _found(ECHO_REPLY, message, echo) if echo else _verdict(MALFORMED)
    if message[0] not in ICMP6_ERRORS:
        return _verdict(OTHER)
    quote = message[ICMP_HEADER_LEN:]
    # RFC 4443 errors quote as much as fits; we need the IPv6 header and an ICMPv6 header.
    if len(quote) < IPV6_HEADER_LEN + ICMP_HEADER_LEN or quote[0] >> 4 != 6:
        return _verdict(MALFORMED)
    # Our probes carry no extension headers: a quote with any is not about one of them.
    if quote[6] != IPPROTO_ICMPV6:
        return _verdict(OTHER)
    return _found_error(message, quote[IPV6_HEADER_LEN:], quote[24:40], {ICMP6_ECHO_REQUEST})


PARSERS = {"ipv4": parse_ipv4, "icmp4": parse_icmp4, "icmp6": parse_icmp6}


def parse(layer: str, data: bytes | bytearray | memoryview) -> Parsed:
    """What `fastping._engine.parse(layer, data)` should return."""
    if layer not in PARSERS:
        raise ValueError(f"unknown layer {layer!r}")
    return PARSERS[layer](bytes(data))
