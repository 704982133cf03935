#!/usr/bin/env python3
"""Writes the seed corpora for the libFuzzer harnesses in fuzz/.

fuzz/corpus/parse/: one file per packet kind the parser tells apart (echo replies
with and without IPv4 options, bare ICMPv4 and ICMPv6, errors quoting our echo
requests with full and short quotes, errors about other protocols and fragments,
truncations, bad headers, garbage). Packets are built with tests/icmp_reference.py,
and each file is named after what it holds. fuzz/corpus/heap/: a few programs for
fuzz_heap.c (opcode bytes, see there).

Deterministic: rerunning rewrites the same files (and removes stale seeds).
Usage: python3 fuzz/make_corpus.py [output dir, default fuzz/corpus]
"""

from __future__ import annotations

import hashlib
import random
import struct
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))
import icmp_reference as ref  # noqa: E402

COOKIE = bytes.fromhex("c0ffee00deadbeef")  # bytes where a cookie goes, for short payloads
KEY = bytes(range(16))  # the engine's secret, for the probes' own cookies
SRC4, DST4 = bytes([192, 0, 2, 1]), bytes([198, 51, 100, 7])
SRC6 = bytes.fromhex("20010db8000000000000000000000001")
DST6 = bytes.fromhex("20010db8000000000000000000000077")


def ipv4_header(data_len: int, *, ihl: int = 5, protocol: int = ref.IPPROTO_ICMP,
                ttl: int = 64, frag: int = 0, total_len: int | None = None,
                version: int = 4) -> bytes:
    """An IPv4 header with (ihl - 5) words of NOP options (at least the fixed 20 bytes)."""
    header_len = max(ihl, 5) * 4
    if total_len is None:
        total_len = header_len + data_len
    header = bytearray(struct.pack("!BBHHHBBH4s4s", version << 4 | ihl, 0, total_len, 0x1234,
                                   frag, ttl, protocol, 0, SRC4, DST4))
    header += b"\x01" * (header_len - ref.IPV4_MIN_HEADER_LEN)
    struct.pack_into("!H", header, 10, ref.checksum(bytes(header)))
    return bytes(header)


def ipv4(message: bytes, **fields: int) -> bytes:
    return ipv4_header(len(message), **fields) + message


def ipv6_header(data_len: int, next_header: int = ref.IPPROTO_ICMPV6) -> bytes:
    return struct.pack("!IHBB16s16s", 6 << 28, data_len, next_header, 64, SRC6, DST6)


def reply(ipv6: bool, ident: int = 0x4242, serial: int = 7, size: int = 56) -> bytes:
    kind = ref.ICMP6_ECHO_REPLY if ipv6 else ref.ICMP4_ECHO_REPLY
    return ref.echo_message(kind, ident, serial & 0xFFFF,
                            ref.echo_payload(cookie(ipv6, serial), serial, size),
                            fill_checksum=not ipv6)


def cookie(ipv6: bool, serial: int) -> bytes:
    """The cookie the engine would give the probe with this serial to DST4 or DST6."""
    return ref.probe_cookie(KEY, serial, DST6 if ipv6 else DST4)


def request(ipv6: bool, ident: int = 0x4242, serial: int = 7, size: int = 56) -> bytes:
    return ref.build_echo(ipv6, ident, serial, cookie(ipv6, serial), size)


def error(ipv6: bool, error_type: int, code: int, quote: bytes) -> bytes:
    return ref.icmp_message(error_type, code, bytes(4), quote, fill_checksum=not ipv6)


def parse_seeds() -> dict[str, bytes]:
    seeds: dict[str, bytes] = {}
    big_serial = (1 << 40) + 0xFFFF

    # Echo replies: raw IPv4 (with and without options), bare ICMPv4, ICMPv6.
    for size in (16, 17, 56, 200):
        seeds[f"reply4-ipv4-{size}"] = ipv4(reply(False, size=size))
        seeds[f"reply4-icmp4-{size}"] = reply(False, size=size)
        seeds[f"reply6-icmp6-{size}"] = reply(True, size=size)
    for ihl in (6, 10, 15):
        seeds[f"reply4-ipv4-options-ihl{ihl}"] = ipv4(reply(False), ihl=ihl, ttl=1)
    seeds["reply4-ipv4-trailing-junk"] = ipv4(reply(False)) + b"\xaa" * 7
    seeds["reply4-ipv4-df"] = ipv4(reply(False), frag=0x4000)
    seeds["reply4-serial-big"] = reply(False, ident=0xFFFF, serial=big_serial)
    seeds["reply6-serial-big"] = reply(True, ident=0, serial=big_serial)
    seeds["reply4-payload-short-tag"] = ref.echo_message(0, 1, 2, COOKIE + b"\x01\x02")
    seeds["reply6-empty-payload"] = ref.echo_message(129, 1, 2, b"", fill_checksum=False)
    seeds["reply4-code-nonzero"] = ref.echo_message(0, 1, 2, COOKIE * 2, code=1)
    seeds["request4-not-reply"] = request(False)
    seeds["request6-not-reply"] = request(True)

    # ICMPv4 errors quoting our echo request: full quote, RFC 792's 8 bytes, in between,
    # too short, with IP options, about another protocol and about a later fragment.
    probe4 = request(False, ident=0xABCD, serial=big_serial)
    quote4 = ipv4(probe4)
    for error_type, code in ((3, 0), (3, 3), (3, 4), (11, 0), (12, 0)):
        message = error(False, error_type, code, quote4)
        seeds[f"err4-t{error_type}c{code}-icmp4-full"] = message
        seeds[f"err4-t{error_type}c{code}-ipv4-full"] = ipv4(message, ttl=3)
    for quoted in (8, 9, 24, 7, 0):
        message = error(False, 11, 0, quote4[: 20 + quoted])
        seeds[f"err4-quote{quoted}-icmp4"] = message
        seeds[f"err4-quote{quoted}-ipv4"] = ipv4(message)
    seeds["err4-quote-ip-options"] = error(False, 3, 1, ipv4(probe4, ihl=8)[: 32 + 8])
    seeds["err4-quote-header-cut"] = error(False, 3, 1, quote4[:19])
    seeds["err4-quote-udp"] = error(False, 3, 3, ipv4(b"\x00\x35\x00\x35" + bytes(4),
                                                      protocol=17))
    seeds["err4-quote-fragment"] = error(False, 11, 1, ipv4(probe4, frag=0x2001))
    seeds["err4-quote-echo-reply"] = error(False, 3, 0, ipv4(reply(False)))
    seeds["err4-quote-total-len-small"] = error(False, 3, 0, ipv4(probe4, total_len=19))
    seeds["err4-quote-ipv6-version"] = error(False, 3, 0, ipv4(probe4, version=6))

    # ICMPv6 errors: every type, full and short quotes, extension headers, bad version.
    probe6 = request(True, ident=0xABCD, serial=big_serial)
    quote6 = ipv6_header(len(probe6)) + probe6
    for error_type, code in ((1, 0), (1, 4), (2, 0), (3, 0), (4, 1)):
        seeds[f"err6-t{error_type}c{code}-full"] = error(True, error_type, code, quote6)
    for quoted in (8, 9, 24, 7):
        seeds[f"err6-quote{quoted}"] = error(True, 1, 0, quote6[: 40 + quoted])
    seeds["err6-quote-extension-header"] = error(True, 1, 0, ipv6_header(len(probe6), 0)
                                                 + probe6)
    seeds["err6-quote-version4"] = error(True, 1, 0, ipv4(probe4) + bytes(40))
    seeds["err6-quote-echo-reply"] = error(True, 3, 0, ipv6_header(64) + reply(True))

    # Timestamp requests (--icmp-timestamp) and replies: as Linux answers ours, short of
    # the transmit time, padded, with a code, and errors quoting requests whole and cut.
    stamp4 = ref.build_timestamp(0xABCD, big_serial, cookie(False, big_serial))
    answer4 = ref.icmp_message(ref.ICMP4_TIMESTAMP_REPLY, 0, stamp4[4:8],
                               stamp4[8:12] + bytes.fromhex("0052d3a10052d3a1"))
    seeds["stamp4-request"] = stamp4
    seeds["stamp4-reply-icmp4"] = answer4
    seeds["stamp4-reply-ipv4"] = ipv4(answer4, ttl=9)
    seeds["stamp4-reply-padded"] = ref.icmp_message(14, 0, stamp4[4:8], answer4[8:] + bytes(4))
    seeds["stamp4-reply-short"] = ref.icmp_message(14, 0, stamp4[4:8], answer4[8:16])
    seeds["stamp4-reply-code"] = ref.icmp_message(14, 1, stamp4[4:8], answer4[8:])
    for quoted in (8, 12, 20):
        message = error(False, 3, 1, ipv4(stamp4)[: 20 + quoted])
        seeds[f"err4-stamp-quote{quoted}-ipv4"] = ipv4(message, ttl=3)

    # Other well-formed messages (neither replies nor errors about our requests).
    seeds["other4-redirect"] = ref.icmp_message(5, 1, DST4, quote4[:28])
    seeds["other4-timestamp"] = ref.icmp_message(13, 0, bytes(4), bytes(12))
    seeds["other6-neighbour-solicitation"] = ref.icmp_message(135, 0, bytes(4), DST6,
                                                              fill_checksum=False)
    seeds["other6-mld-query"] = ref.icmp_message(130, 0, bytes(4), bytes(16),
                                                 fill_checksum=False)

    # Bad IPv4 headers and checksums.
    base = reply(False)
    seeds["bad-ipv4-ihl4"] = ipv4(base, ihl=4)
    seeds["bad-ipv4-version6"] = ipv4(base, version=6)
    seeds["bad-ipv4-udp"] = ipv4(base, protocol=17)
    seeds["bad-ipv4-fragment"] = ipv4(base, frag=0x0001)
    seeds["bad-ipv4-total-len-beyond"] = ipv4(base, total_len=20 + len(base) + 4)
    seeds["bad-ipv4-total-len-0"] = ipv4(base, total_len=0)
    seeds["bad-ipv4-ihl15-short"] = ipv4(base, ihl=15)[:50]
    flipped = bytearray(base)
    flipped[20] ^= 0x10
    seeds["bad-icmp4-checksum"] = bytes(flipped)
    seeds["bad-ipv4-icmp-checksum"] = ipv4(bytes(flipped))

    # Truncations of a reply and of an error, at the boundaries the parser checks.
    reply4 = ipv4(reply(False), ihl=7)
    err4 = ipv4(error(False, 3, 0, quote4))
    err6 = error(True, 1, 0, quote6)
    for cut in (0, 1, 19, 20, 27, 28, 29, 43, 44):
        seeds[f"trunc-reply4-ipv4-{cut}"] = reply4[:cut]
    for cut in (8, 27, 36, 47, 48, 55, 56):
        seeds[f"trunc-err4-ipv4-{cut}"] = err4[:cut]
    for cut in (1, 7, 8, 47, 48, 55, 56, 63):
        seeds[f"trunc-err6-{cut}"] = err6[:cut]

    # Garbage: fixed-seed random bytes, all-zero and all-ones buffers.
    rng = random.Random(1071)
    for size in (3, 8, 20, 48, 100, 1500):
        seeds[f"garbage-random-{size}"] = bytes(rng.randrange(256) for _ in range(size))
    seeds["garbage-zeros-64"] = bytes(64)
    seeds["garbage-ones-64"] = b"\xff" * 64
    return seeds


def heap_seeds() -> dict[str, bytes]:
    """Programs for fuzz_heap.c: first byte sizes the id table, then (opcode, operands...)."""
    def schedule(id_: int, deadline_byte: int) -> bytes:
        return bytes([0, id_ >> 8, id_ & 0xFF, deadline_byte])

    def cancel(id_: int) -> bytes:
        return bytes([3, id_ >> 8, id_ & 0xFF])

    pop, clear = b"\x05", b"\x87"
    grow = b"\x07\x3f"  # reserve 64 more ids
    ties = b"".join(schedule(i, 5) for i in range(12)) + pop * 6
    descending = b"".join(schedule(i, 15 - i) for i in range(14)) + pop * 14
    moves = (b"".join(schedule(i, i) for i in range(10)) + schedule(9, 0) + schedule(0, 15)
             + cancel(4) + cancel(4) + pop * 3)
    extremes = schedule(1, 0x80) + schedule(2, 0x8F) + schedule(3, 0xC1) + schedule(4, 0) + pop * 4
    growth = (b"".join(schedule(i, i % 7) for i in range(15)) + grow + grow
              + b"".join(schedule(100 + i, i % 3) for i in range(20)) + clear
              + schedule(120, 1) + pop)
    return {
        "ties": b"\x0f" + ties,
        "descending": b"\x0f" + descending,
        "moves": b"\x0f" + moves,
        "extremes": b"\x0f" + extremes,
        "growth": b"\x0f" + growth,
        "out-of-range": b"\x00" + schedule(5, 1) + cancel(9) + pop,
    }


def write(directory: Path, seeds: dict[str, bytes]) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for stale in directory.iterdir():
        stale.unlink()
    seen: set[str] = set()
    for name, data in seeds.items():
        digest = hashlib.sha1(data).hexdigest()
        if digest in seen:  # libFuzzer would skip a duplicate anyway
            continue
        seen.add(digest)
        (directory / name).write_bytes(data)


def main() -> None:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else HERE / "corpus"
    write(out / "parse", parse_seeds())
    write(out / "heap", heap_seeds())
    for sub in ("parse", "heap"):
        files = list((out / sub).iterdir())
        size = sum(path.stat().st_size for path in files)
        print(f"{out / sub}: {len(files)} files, {size} bytes")


if __name__ == "__main__":
    main()
