"""The C packet functions (checksum, build_echo, parse) against tests/icmp_reference.py.

Every check runs the C code and the pure-Python reference on the same input and
compares; the known-answer tests pin the reference itself to the RFCs.
"""

from __future__ import annotations

import struct
import sys

import icmp_reference as ref
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fastping import _engine

COOKIE = bytes.fromhex("c0 ff ee 00 de ad be ef")
LAYERS = ("ipv4", "icmp4", "icmp6")
SRC4 = bytes([192, 0, 2, 1])
DST4 = bytes([198, 51, 100, 7])
SRC6 = bytes.fromhex("2001 0db8 0000 0000 0000 0000 0000 0001")
DST6 = bytes.fromhex("2001 0db8 0000 0000 0000 0000 0000 0077")
LARGE_SERIAL = (1 << 40) + 0xFFFF  # past 2**32, and its low 16 bits (the seq) are 0xffff

fuzz = settings(max_examples=300, deadline=None)


def test_the_reference_agrees_with_the_limits_the_engine_exports() -> None:
    # The reference writes them from the RFCs; the engine exports the C core's own.
    assert (ref.TAG_LEN, ref.COOKIE_LEN, ref.KEY_LEN, ref.MAX_PAYLOAD) == (
        _engine.TAG_LEN, _engine.COOKIE_LEN, _engine.SIPHASH_KEY_LEN, _engine.MAX_PAYLOAD)


# ---- helpers ------------------------------------------------------------------


def same_checksum(data: bytes | bytearray | memoryview) -> int:
    """The C checksum, asserted equal to the reference's."""
    got = _engine.checksum(data)
    assert got == ref.checksum(bytes(data))
    return got


def same_parse(layer: str, data: bytes | bytearray | memoryview) -> ref.Parsed:
    """The C parse, asserted equal to the reference's."""
    got = _engine.parse(layer, data)
    assert got == ref.parse(layer, data), f"{layer} {bytes(data).hex()}"
    return got


def ipv4_header(
    data_len: int,
    *,
    ihl: int = 5,
    version: int = 4,
    protocol: int = ref.IPPROTO_ICMP,
    ttl: int = 64,
    flags_fragment: int = 0,
    total_len: int | None = None,
    src: bytes = SRC4,
    dst: bytes = DST4,
) -> bytes:
    """An IPv4 header for data_len bytes of data, with (ihl - 5) words of NOP options."""
    header_len = max(ihl, 5) * 4  # an IHL below 5 still gets the fixed part of the header
    if total_len is None:
        total_len = header_len + data_len
    header = bytearray(
        struct.pack(
            "!BBHHHBBH4s4s",
            version << 4 | ihl,
            0,
            total_len,
            0x1234,
            flags_fragment,
            ttl,
            protocol,
            0,
            src,
            dst,
        )
    )
    header += b"\x01" * (header_len - ref.IPV4_MIN_HEADER_LEN)
    # The kernel checks this checksum, not fastping; filled in so the packets are realistic.
    struct.pack_into("!H", header, 10, ref.checksum(header))
    return bytes(header)


def ipv4_packet(message: bytes, **header_fields: int) -> bytes:
    return ipv4_header(len(message), **header_fields) + message


def ipv6_header(data_len: int, *, next_header: int = ref.IPPROTO_ICMPV6) -> bytes:
    return struct.pack("!IHBB16s16s", 6 << 28, data_len, next_header, 64, SRC6, DST6)


def echo_reply(ipv6: bool, ident: int, serial: int, payload_size: int = 56) -> bytes:
    """An echo reply to the request the engine would send (the same payload, echoed)."""
    reply_type = ref.ICMP6_ECHO_REPLY if ipv6 else ref.ICMP4_ECHO_REPLY
    payload = ref.echo_payload(COOKIE, serial, payload_size)
    # ICMPv6 checksums are the kernel's business; ICMPv4 ones are verified by parse.
    return ref.echo_message(reply_type, ident, serial & 0xFFFF, payload, fill_checksum=not ipv6)


def quoted_probe(ipv6: bool, probe: bytes, *, quoted_bytes: int | None = None, **ip: int) -> bytes:
    """The start of the datagram that carried probe (an ICMP message), as an error quotes it."""
    if ipv6:
        datagram = ipv6_header(len(probe), **ip) + probe
        header_len = ref.IPV6_HEADER_LEN
    else:
        datagram = ipv4_packet(probe, **ip)
        header_len = ip.get("ihl", 5) * 4
    if quoted_bytes is None:
        return datagram
    return datagram[: header_len + quoted_bytes]


def icmp_error(ipv6: bool, error_type: int, code: int, quote: bytes) -> bytes:
    return ref.icmp_message(error_type, code, bytes(4), quote, fill_checksum=not ipv6)


def probe(ipv6: bool, ident: int = 0x4242, serial: int = 7, payload_size: int = 56) -> bytes:
    return ref.build_echo(ipv6, ident, serial, COOKIE, payload_size)


def layers_for(ipv6: bool, message: bytes, **ip: int) -> list[tuple[str, bytes]]:
    """Every way parse can be handed message: as ICMPv6, or as ICMPv4 with and without IP."""
    if ipv6:
        return [("icmp6", message)]
    return [("ipv4", ipv4_packet(message, **ip)), ("icmp4", message)]


def with_checksum(message: bytes) -> bytes:
    """message with its ICMPv4 checksum recomputed (so that fuzzed messages get past it)."""
    fixed = bytearray(message)
    fixed[2:4] = b"\0\0"
    struct.pack_into("!H", fixed, 2, ref.checksum(fixed))
    return bytes(fixed)


# ---- checksum -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"", 0xFFFF),
        (b"\x00", 0xFFFF),
        (b"\x01", 0xFEFF),
        (b"\x00\x01", 0xFFFE),
        (b"\x01\x02\x03", 0xFBFD),
        # RFC 1071 section 3's worked example: the sum 0x2ddf0 folds to 0xddf2.
        (bytes.fromhex("0001f203f4f5f6f7"), 0x220D),
        (bytes.fromhex("0001f203f4f5f6"), 0x2304),  # its last word is 0xf600
        # fping's bug: an odd final byte >= 0x80 sign-extended into 0xff80 before shifting.
        (b"\x80", 0x7FFF),
        (b"\xff", 0x00FF),
        (b"\x12\x34\xab", 0x42CB),  # ~(0x1234 + 0xab00)
        (b"\xff" * 2, 0x0000),
        (b"\xff" * 3, 0x00FF),
        (b"\xff" * 1000, 0x0000),
        (b"\xff" * 1001, 0x00FF),
    ],
)
def test_checksum_known_answers(data: bytes, expected: int) -> None:
    assert same_checksum(data) == expected


@pytest.mark.parametrize("prefix_len", [0, 1, 2, 9, 100])
@pytest.mark.parametrize("last", range(0x80, 0x100))
def test_checksum_odd_high_final_byte_is_zero_padded(prefix_len: int, last: int) -> None:
    # An even-length prefix, so the byte under test is always the odd final one.
    data = bytes(range(1, 2 * prefix_len + 1)) + bytes([last])
    same_checksum(data)
    assert _engine.checksum(data) == _engine.checksum(data + b"\0")


@pytest.mark.parametrize("buffer_type", [bytes, bytearray, memoryview])
def test_checksum_accepts_buffers(buffer_type: type) -> None:
    same_checksum(buffer_type(bytes(range(37))))


@fuzz
@given(st.binary(max_size=3000))
def test_checksum_random(data: bytes) -> None:
    same_checksum(data)


@fuzz
@given(st.binary(max_size=3000), st.integers(min_value=0))
def test_checksum_filled_in_sums_to_zero(data: bytes, where: int) -> None:
    # A checksum field sits at an even offset, like ICMP's bytes 2..3.
    offset = 2 * (where % (len(data) // 2 + 1))
    buffer = bytearray(data[:offset] + b"\0\0" + data[offset:])
    struct.pack_into("!H", buffer, offset, _engine.checksum(buffer))
    assert same_checksum(buffer) == 0


# ---- build_echo ---------------------------------------------------------------

SERIALS = [0, 1, 0xFFFF, 0x10000, 0x1_0000_0001, LARGE_SERIAL, 2**64 - 1]
PAYLOAD_SIZES = [16, 17, 56, 255, 256, 257, 1472, 4000, ref.MAX_PAYLOAD]


def check_echo_request(ipv6: bool, ident: int, serial: int, cookie: bytes, size: int) -> None:
    packet = _engine.build_echo(ipv6, ident, serial, cookie, size)
    assert packet == ref.build_echo(ipv6, ident, serial, cookie, size)
    # Independent of the reference: the layout icmp.h promises.
    assert len(packet) == ref.ICMP_HEADER_LEN + size
    msg_type, code, checksum, wire_ident, seq = struct.unpack_from("!BBHHH", packet)
    assert (msg_type, code) == ((128, 0) if ipv6 else (8, 0))
    assert (wire_ident, seq) == (ident, serial & 0xFFFF)
    assert packet[8:16] == cookie
    assert int.from_bytes(packet[16:24], sys.byteorder) == serial
    assert all(byte == index & 0xFF for index, byte in enumerate(packet[8:]) if index >= 16)
    if ipv6:
        assert checksum == 0  # the kernel fills it in over the pseudo-header
    else:
        assert _engine.checksum(packet) == 0


@pytest.mark.parametrize("ipv6", [False, True])
@pytest.mark.parametrize("serial", SERIALS)
@pytest.mark.parametrize("size", PAYLOAD_SIZES)
def test_build_echo_edges(ipv6: bool, serial: int, size: int) -> None:
    check_echo_request(ipv6, 0xBEEF, serial, COOKIE, size)


@pytest.mark.parametrize("ident", [0, 1, 0x00FF, 0x0100, 0x8000, 0xFFFF])
def test_build_echo_idents(ident: int) -> None:
    for ipv6 in (False, True):
        check_echo_request(ipv6, ident, 3, COOKIE, 16)


@fuzz
@given(
    st.booleans(),
    st.integers(0, 0xFFFF),
    st.integers(0, 2**64 - 1),
    st.binary(min_size=8, max_size=8),
    st.integers(ref.TAG_LEN, 4000),
)
def test_build_echo_random(ipv6: bool, ident: int, serial: int, cookie: bytes, size: int) -> None:
    check_echo_request(ipv6, ident, serial, cookie, size)


@pytest.mark.parametrize("ipv6", [False, True])
@pytest.mark.parametrize(
    ("cookie", "size"),
    [(COOKIE, 0), (COOKIE, 15), (COOKIE, ref.MAX_PAYLOAD + 1), (b"short", 56), (COOKIE * 2, 56)],
)
def test_build_echo_rejects(ipv6: bool, cookie: bytes, size: int) -> None:
    for build in (_engine.build_echo, ref.build_echo):
        with pytest.raises(ValueError):
            build(ipv6, 1, 1, cookie, size)


# ---- the per-probe cookie -------------------------------------------------------

KEY = bytes(range(16))  # the SipHash paper's test key


@pytest.mark.parametrize(
    ("length", "expected"),
    [  # the paper's Appendix A and its reference vectors (message bytes 0, 1, 2, ...)
        (0, 0x726FDB47DD0E0E31),
        (7, 0xAB0200F58B01D137),
        (8, 0x93F5F5799A932462),
        (15, 0xA129CA6149BE45E5),
        (63, 0x958A324CEB064572),
    ],
)
def test_siphash_known_answers(length: int, expected: int) -> None:
    message = bytes(range(length))
    assert _engine.siphash24(KEY, message) == ref.siphash24(KEY, message) == expected


@fuzz
@given(st.binary(min_size=16, max_size=16), st.binary(max_size=64))
def test_siphash_random(key: bytes, data: bytes) -> None:
    assert _engine.siphash24(key, data) == ref.siphash24(key, data)


@fuzz
@given(st.binary(min_size=16, max_size=16), st.integers(0, 2**64 - 1),
       st.sampled_from([4, 16]).flatmap(lambda n: st.binary(min_size=n, max_size=n)))
def test_probe_cookie_random(key: bytes, serial: int, address: bytes) -> None:
    cookie = _engine.probe_cookie(key, serial, address)
    assert cookie == ref.probe_cookie(key, serial, address) and len(cookie) == ref.COOKIE_LEN


def test_probe_cookie_tells_nothing_of_a_neighbours() -> None:
    # What a target sees (its own probes' cookies) differs from every cookie of another
    # host's probe and of its own other serials: all of these are distinct.
    cookies = {_engine.probe_cookie(KEY, serial, address)
               for serial in range(1000, 1064) for address in (DST4, SRC4, DST6, SRC6)}
    assert len(cookies) == 64 * 4
    assert _engine.probe_cookie(KEY, 7, DST4) != _engine.probe_cookie(bytes(16), 7, DST4)


@pytest.mark.parametrize(
    ("key", "address"), [(KEY[:15], DST4), (KEY, DST4[:3]), (KEY, DST6 + b"\0")]
)
def test_probe_cookie_rejects(key: bytes, address: bytes) -> None:
    for probe_cookie in (_engine.probe_cookie, ref.probe_cookie):
        with pytest.raises(ValueError):
            probe_cookie(key, 1, address)


# ---- parse: echo replies --------------------------------------------------------


@pytest.mark.parametrize("ihl", range(5, 16))
@pytest.mark.parametrize("ttl", [1, 64, 255])
def test_parse_ipv4_reply_with_options(ihl: int, ttl: int) -> None:
    reply = echo_reply(False, 0x0102, 9)
    parsed = same_parse("ipv4", ipv4_packet(reply, ihl=ihl, ttl=ttl))
    assert parsed == (1, 0, 0, ttl, 0x0102, 9, reply[8:], None, None, None)


@pytest.mark.parametrize("ipv6", [False, True])
@pytest.mark.parametrize("serial", SERIALS)
@pytest.mark.parametrize("size", [16, 17, 56, 1000, 4000])
def test_parse_reply(ipv6: bool, serial: int, size: int) -> None:
    reply = echo_reply(ipv6, 0xFFFF, serial, size)
    for layer, data in layers_for(ipv6, reply):
        parsed = same_parse(layer, data)
        ttl = 64 if layer == "ipv4" else 0
        assert parsed == (1, reply[0], 0, ttl, 0xFFFF, serial & 0xFFFF, reply[8:], None, None, None)


@pytest.mark.parametrize("ipv6", [False, True])
def test_parse_reply_seq_ffff_large_serial(ipv6: bool) -> None:
    # The seq is a wire value with no special cases, even at 0xffff; the tag keeps the serial.
    reply = echo_reply(ipv6, 7, LARGE_SERIAL)
    for layer, data in layers_for(ipv6, reply):
        parsed = same_parse(layer, data)
        assert parsed[0] == ref.ECHO_REPLY and parsed[5] == 0xFFFF
        assert int.from_bytes(parsed[6][8:16], sys.byteorder) == LARGE_SERIAL


@pytest.mark.parametrize("buffer_type", [bytes, bytearray, memoryview])
@pytest.mark.parametrize("ipv6", [False, True])
def test_parse_accepts_buffers(buffer_type: type, ipv6: bool) -> None:
    for layer, data in layers_for(ipv6, echo_reply(ipv6, 1, 2)):
        assert same_parse(layer, buffer_type(data))[0] == ref.ECHO_REPLY


def test_parse_rejects_unknown_layer() -> None:
    for parse in (_engine.parse, ref.parse):
        with pytest.raises(ValueError):
            parse("ipv6", b"")


# ---- parse: checksums and truncation ---------------------------------------------


@pytest.mark.parametrize("ipv6", [False, True])
@pytest.mark.parametrize("flipped", [0, 2, 3, 4, 8, 20, 63])  # type, checksum, ident, payload
def test_parse_bad_checksum(ipv6: bool, flipped: int) -> None:
    reply = bytearray(echo_reply(ipv6, 0x1111, 0x2222))
    reply[flipped] ^= 0x10
    for layer, data in layers_for(ipv6, bytes(reply)):
        # ICMPv4's checksum is verified; ICMPv6's is the kernel's (computed over a pseudo-header).
        parsed = same_parse(layer, data)
        if not ipv6:
            assert parsed[0] == ref.MALFORMED


def truncation_cases() -> list[tuple[str, bytes]]:
    cases = []
    for ipv6 in (False, True):
        reply = echo_reply(ipv6, 0x0A0B, 0x0C0D, 40)
        error = icmp_error(ipv6, 1 if ipv6 else 3, 0, quoted_probe(ipv6, probe(ipv6)))
        cases += layers_for(ipv6, reply, ihl=7) + layers_for(ipv6, error)
    return cases


@pytest.mark.parametrize(("layer", "data"), truncation_cases())
def test_parse_truncated(layer: str, data: bytes) -> None:
    for length in range(len(data) + 1):
        parsed = same_parse(layer, data[:length])
        if layer != "icmp6" and length < len(data):
            assert parsed[0] == ref.MALFORMED, length


# ---- parse: bad IPv4 headers -------------------------------------------------------


@pytest.mark.parametrize(
    "ip",
    [
        *({"ihl": ihl} for ihl in range(5)),
        *({"version": version} for version in (0, 5, 6, 15)),
        *({"protocol": protocol} for protocol in (0, 6, 17, 58)),
        # Non-initial fragments (offset in 8-byte units), with and without "more fragments".
        *({"flags_fragment": flags} for flags in (0x0001, 0x2001, 0x1FFF, 0x3FFF, 0x4010)),
        {"total_len": 19},  # less than the header itself
        {"total_len": 0},
    ],
    ids=repr,
)
def test_parse_ipv4_bad_header(ip: dict[str, int]) -> None:
    assert same_parse("ipv4", ipv4_packet(echo_reply(False, 1, 2), **ip))[0] == ref.MALFORMED


@pytest.mark.parametrize("flags", [0x2000, 0x4000, 0x6000, 0x8000])
def test_parse_ipv4_flags_without_offset(flags: int) -> None:
    # DF, MF and the reserved bit are not the offset: these are (first) whole fragments.
    packet = ipv4_packet(echo_reply(False, 1, 2), flags_fragment=flags)
    assert same_parse("ipv4", packet)[0] == ref.ECHO_REPLY


@pytest.mark.parametrize("extra", [1, 2, 100])
def test_parse_ipv4_trailing_bytes_past_total_length(extra: int) -> None:
    reply = echo_reply(False, 1, 2)
    parsed = same_parse("ipv4", ipv4_packet(reply) + b"\xaa" * extra)
    assert parsed == (1, 0, 0, 64, 1, 2, reply[8:], None, None, None)


@pytest.mark.parametrize("missing", [1, 2, 4, 1000])
@pytest.mark.parametrize("ihl", [5, 15])
def test_parse_ipv4_total_length_beyond_received(missing: int, ihl: int) -> None:
    # RFC 791: the total length counts the whole datagram, so a packet shorter than its
    # header claims is truncated, whatever the ICMP checksum over the bytes that came says.
    reply = echo_reply(False, 1, 2)
    packet = ipv4_packet(reply, ihl=ihl, total_len=ihl * 4 + len(reply) + missing)
    assert _engine.parse("ipv4", packet)[0] == ref.MALFORMED
    assert ref.parse("ipv4", packet)[0] == ref.MALFORMED


# ---- parse: ICMP errors ------------------------------------------------------------

V4_ERRORS = [(3, code) for code in (0, 1, 3, 4, 13, 15)] + [(11, 0), (11, 1), (12, 0), (12, 1)]
V6_ERRORS = [(1, 0), (1, 4), (2, 0), (3, 0), (3, 1), (4, 0), (4, 1), (4, 2)]
ERRORS = [(False, *error) for error in V4_ERRORS] + [(True, *error) for error in V6_ERRORS]


@pytest.mark.parametrize(("ipv6", "error_type", "code"), ERRORS)
@pytest.mark.parametrize("quoted_bytes", [None, 8, 9, 24])  # None: all of it; 8: RFC 792
def test_parse_error_quoting_echo(
    ipv6: bool, error_type: int, code: int, quoted_bytes: int | None
) -> None:
    request = probe(ipv6, ident=0xABCD, serial=LARGE_SERIAL)
    quote = quoted_probe(ipv6, request, quoted_bytes=quoted_bytes)
    error = icmp_error(ipv6, error_type, code, quote)
    quoted_dst = DST6 if ipv6 else DST4 + bytes(12)
    expected_payload = request[8:] if quoted_bytes is None else request[8:quoted_bytes]
    for layer, data in layers_for(ipv6, error, ttl=3):
        ttl = 3 if layer == "ipv4" else 0
        expected = (2, error_type, code, ttl, 0xABCD, 0xFFFF, expected_payload, quoted_dst,
                    request[0], None)
        assert same_parse(layer, data) == expected


@pytest.mark.parametrize("ihl", [5, 6, 15])
def test_parse_error_quoting_ip_options(ihl: int) -> None:
    request = probe(False)
    error = icmp_error(False, 11, 0, quoted_probe(False, request, quoted_bytes=8, ihl=ihl))
    for layer, data in layers_for(False, error):
        ttl = data[8] if layer == "ipv4" else 0
        assert same_parse(layer, data)[:6] == (2, 11, 0, ttl, 0x4242, 7)


def other_quotes(ipv6: bool) -> list[tuple[str, bytes]]:
    """Quotes that are well-formed but not of an echo request: the error is not ours."""
    udp = struct.pack("!HHHH", 33434, 33434, 16, 0) + bytes(8)
    echo_type = ref.ICMP6_ECHO_REQUEST if ipv6 else ref.ICMP4_ECHO_REQUEST
    reply_type = ref.ICMP6_ECHO_REPLY if ipv6 else ref.ICMP4_ECHO_REPLY
    protocol = "next_header" if ipv6 else "protocol"
    return [
        ("udp", quoted_probe(ipv6, udp, **{protocol: 17})),
        ("tcp", quoted_probe(ipv6, udp, **{protocol: 6})),
        ("echo reply", quoted_probe(ipv6, ref.echo_message(reply_type, 1, 2, bytes(16)))),
        ("echo code 1", quoted_probe(ipv6, ref.echo_message(echo_type, 1, 2, bytes(16), code=1))),
    ]


@pytest.mark.parametrize(("ipv6", "error_type", "code"), ERRORS)
def test_parse_error_quoting_something_else(ipv6: bool, error_type: int, code: int) -> None:
    for name, quote in other_quotes(ipv6):
        for layer, data in layers_for(ipv6, icmp_error(ipv6, error_type, code, quote)):
            assert same_parse(layer, data)[0] == ref.OTHER, name


@pytest.mark.parametrize(("ipv6", "error_type", "code"), ERRORS)
def test_parse_error_with_bad_quote(ipv6: bool, error_type: int, code: int) -> None:
    request = probe(ipv6)
    header_len = ref.IPV6_HEADER_LEN if ipv6 else ref.IPV4_MIN_HEADER_LEN
    bad_version = bytearray(quoted_probe(ipv6, request))
    bad_version[0] = 0x45 if ipv6 else 0x65
    quotes = [
        b"",
        quoted_probe(ipv6, request)[: header_len - 1],  # not even the IP header
        quoted_probe(ipv6, request, quoted_bytes=7),  # short of RFC 792's 64 bits
        bytes(bad_version),
    ]
    if not ipv6:
        quotes.append(quoted_probe(ipv6, request, ihl=4))
    for quote in quotes:
        for layer, data in layers_for(ipv6, icmp_error(ipv6, error_type, code, quote)):
            assert same_parse(layer, data)[0] == ref.MALFORMED, quote.hex()


@pytest.mark.parametrize("flags", [0x0001, 0x2001, 0x0100])
def test_parse_error_quoting_non_initial_fragment(flags: int) -> None:
    # The 8 bytes after a non-initial fragment's header are mid-payload, not an ICMP header
    # (and RFC 1122 3.2.2 forbids errors about such fragments): not an error about our echo.
    request = probe(False)
    quote = quoted_probe(False, request, quoted_bytes=8, flags_fragment=flags)
    for layer, data in layers_for(False, icmp_error(False, 11, 0, quote)):
        assert _engine.parse(layer, data)[0] == ref.OTHER
        assert ref.parse(layer, data)[0] == ref.OTHER


# ---- parse: other messages ----------------------------------------------------------


@pytest.mark.parametrize(
    ("ipv6", "msg_type", "code"),
    [
        (False, ref.ICMP4_ECHO_REQUEST, 0),
        (False, 4, 0),  # source quench
        (False, 5, 1),  # redirect: quotes a datagram, but is not an error we report
        (False, 13, 0),  # timestamp
        (False, 255, 0),
        (True, ref.ICMP6_ECHO_REQUEST, 0),
        (True, 0, 0),  # reserved error type
        (True, 127, 0),
        (True, 135, 0),  # neighbour solicitation
        (True, 255, 0),
    ],
)
def test_parse_other_messages(ipv6: bool, msg_type: int, code: int) -> None:
    quote = quoted_probe(ipv6, probe(ipv6))
    message = ref.icmp_message(msg_type, code, bytes(4), quote, fill_checksum=not ipv6)
    for layer, data in layers_for(ipv6, message):
        assert same_parse(layer, data)[0] == ref.OTHER


@pytest.mark.parametrize("ipv6", [False, True])
@pytest.mark.parametrize("code", [1, 255])
def test_parse_reply_with_nonzero_code(ipv6: bool, code: int) -> None:
    # RFC 792 and RFC 4443 give echo replies code 0 only.
    reply_type = ref.ICMP6_ECHO_REPLY if ipv6 else ref.ICMP4_ECHO_REPLY
    reply = ref.echo_message(reply_type, 1, 2, bytes(16), code=code, fill_checksum=not ipv6)
    for layer, data in layers_for(ipv6, reply):
        assert same_parse(layer, data)[0] == ref.MALFORMED


# ---- parse: fuzzing -------------------------------------------------------------------


@fuzz
@given(st.sampled_from(LAYERS), st.binary(max_size=200))
def test_parse_garbage(layer: str, data: bytes) -> None:
    same_parse(layer, data)


@st.composite
def mutated_packets(draw: st.DrawFn) -> tuple[str, bytes]:
    """A real reply or error with a few bytes overwritten, perhaps cut short, then (for
    ICMPv4, usually) given a valid checksum again so the parser looks past it."""
    ipv6 = draw(st.booleans())
    if draw(st.booleans()):
        message = echo_reply(ipv6, 1, 2, draw(st.integers(16, 64)))
    else:
        quote = quoted_probe(ipv6, probe(ipv6), quoted_bytes=draw(st.integers(0, 40)))
        message = icmp_error(ipv6, draw(st.sampled_from([1, 2, 3, 4, 11, 12])), 0, quote)
    mutated = bytearray(message)
    for _ in range(draw(st.integers(0, 4))):
        mutated[draw(st.integers(0, len(mutated) - 1))] = draw(st.integers(0, 255))
    mutated = mutated[: draw(st.integers(0, len(mutated)))] if draw(st.booleans()) else mutated
    if not ipv6 and len(mutated) >= 4 and draw(st.booleans()):
        mutated = bytearray(with_checksum(bytes(mutated)))
    return draw(st.sampled_from(layers_for(ipv6, bytes(mutated))))


@fuzz
@given(mutated_packets())
def test_parse_mutated(case: tuple[str, bytes]) -> None:
    same_parse(*case)


@fuzz
@given(
    st.binary(min_size=4, max_size=120),
    st.integers(5, 15),
    st.integers(0, 0xFFFF),
    st.integers(-8, 8),
)
def test_parse_garbage_past_checksum(message: bytes, ihl: int, flags: int, slack: int) -> None:
    # Random messages rarely have a valid checksum: fix it so the parser gets further, under
    # an IP header whose flags, fragment offset and total length are random too.
    message = with_checksum(message)
    same_parse("icmp4", message)
    total_len = max(0, ihl * 4 + len(message) + slack)
    same_parse("ipv4", ipv4_packet(message, ihl=ihl, flags_fragment=flags, total_len=total_len))
