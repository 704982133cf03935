"""A simulated network for the tests: a TUN device in a throwaway namespace, playing many hosts.

Loopback answers every probe at once and perfectly, and a real router (tests/test_netns.py)
only makes the errors a kernel makes. Loss, delay, jitter, duplicates, reordering, late,
corrupt, forged and truncated replies, malformed error quotes and floods of foreign ICMP need
a peer that misbehaves on purpose and reproducibly. This module is both halves of that peer:

- Run as a script (``python netsim.py SPEC_FILE``) inside the namespace, it is the responder:
  it creates the TUN device, reads the IP packets the kernel routes into it and answers each
  echo request as its destination's behaviour says. Standard library only, so it runs under
  any interpreter, and it exits on its own: after the spec's lifetime, when its parent dies,
  or on SIGTERM.
- Imported by the tests, SimulatedNetwork creates the namespace (only 198.18.0.0/15 and
  2001:db8:5::/48 are routed, both into the TUN), starts the responder and runs fastping
  client code there in a child process that prints JSON.

A behaviour is a dict of Behaviour's fields; the spec maps each simulated address to one.
A control file, rewritten by the tests while the responder runs, overrides behaviours.
"""

from __future__ import annotations

import array
import collections
import ctypes
import dataclasses
import fcntl
import heapq
import inspect
import ipaddress
import json
import os
import random
import select
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from typing import Any

DEVICE = "fpsim0"
CLIENT = {4: "198.18.0.1", 6: "2001:db8:5::1"}  # the namespace's own addresses, on the TUN
ROUTED = {4: "198.18.0.0/15", 6: "2001:db8:5::/48"}  # everything else in these is simulated

COMMAND_TIMEOUT = 10.0  # ip, sysctl: they answer at once or never
READY_TIMEOUT = 10.0  # the responder's start: an interpreter and a TUN device
CONTROL_POLL = 0.02  # seconds between looks at the control file and the parent
REORDER_HOLD = 0.5  # a reorder batch that never fills is released after this long

# Exit status of a responder that may not create a TUN device here: the tests skip.
EXIT_UNAVAILABLE = 77

TUNSETIFF = 0x400454CA
IFF_TUN = 0x0001
IFF_NO_PI = 0x1000
PR_SET_PDEATHSIG = 1

ICMP4_ECHO_REPLY, ICMP4_ECHO_REQUEST = 0, 8
ICMP4_TIMESTAMP_REQUEST, ICMP4_TIMESTAMP_REPLY = 13, 14
TIME_EXCEEDED = {4: (11, 0), 6: (3, 0)}  # (type, code): TTL / hop limit exceeded in transit
ICMP6_ECHO_REQUEST, ICMP6_ECHO_REPLY = 128, 129
PROTO_ICMP4, PROTO_ICMP6, PROTO_UDP = 1, 58, 17
TAG_LEN = 16  # cookie (payload bytes 0..7) and serial (8..15), tests/../src/_core/icmp.h
FOREIGN_IDENT_STEP = 0x1111  # foreign identifiers: ours plus multiples of this


@dataclasses.dataclass(frozen=True)
class Behaviour:
    """How one simulated host answers an echo request. Delays are in milliseconds."""

    delay_ms: float = 0.0
    jitter_ms: float = 0.0  # added uniformly in [0, jitter_ms)
    loss: float = 0.0  # probability a probe goes unanswered (seeded per host)
    seed: int = 0
    silent: bool = False
    ttl: int = 64  # IPv4 TTL / IPv6 hop limit of what it sends
    copies: int = 1  # identical replies per probe: copies - 1 are duplicates
    copy_gap_ms: float = 2.0  # between copies
    reorder: int = 0  # hold replies of all hosts with this value, release newest first
    forge: str = ""  # one of FORGERIES: what to get wrong in the reply
    ip_options: bool = False  # IPv4 header with 8 bytes of options (NOPs, EOL)
    source: str = ""  # reply from this address instead of the probed one
    error: tuple[int, int] | None = None  # answer with this ICMP error (type, code) ...
    router: str = ""  # ... from this address ...
    quote: str = "full"  # ... quoting the probe like this (one of QUOTES)
    foreign: int = 0  # echo replies with other identifiers sent ahead of each answer
    stale_after: int = 0  # also resend each reply once this many later probes arrived
    error_first: bool = False  # send the error ahead of the reply (after delay_ms), not instead
    # A target that reads its own probes and forges, with what it learned (their tag's cookie
    # bytes and serials), answers from forge_for for serials within forge_span of each of its
    # own: echo replies, or (forge_kind "error") unreachables from itself quoting them whole.
    forge_for: str = ""
    forge_span: int = 0
    forge_kind: str = "reply"
    # The routers between us and this host, nearest first ("" for one that stays silent): a
    # probe whose TTL runs out at one gets Time Exceeded from it (quoting the whole probe).
    hops: tuple[str, ...] = ()
    # ICMP unreachables per second, from router, each quoting (8 bytes) an echo request with
    # the identifier of this host's last probe, a random sequence and another destination.
    error_flood: int = 0

    @classmethod
    def from_dict(cls, fields: dict[str, Any]) -> Behaviour:
        unknown = set(fields) - {field.name for field in dataclasses.fields(cls)}
        if unknown:
            raise ValueError(f"unknown behaviour fields: {sorted(unknown)}")
        if fields.get("error") is not None:
            fields = {**fields, "error": tuple(fields["error"])}
        if "hops" in fields:  # a list, from JSON
            fields = {**fields, "hops": tuple(fields["hops"])}
        behaviour = cls(**fields)
        if (behaviour.forge not in FORGERIES or behaviour.quote not in QUOTES
                or behaviour.forge_kind not in ("reply", "error")):
            raise ValueError(f"unknown forge or quote in {fields}")
        return behaviour


# ---- packets -------------------------------------------------------------------------------


def checksum(data: bytes) -> int:
    """RFC 1071 Internet checksum (an odd final byte is padded with zero)."""
    if len(data) % 2:
        data += b"\0"
    words = array.array("H", data)
    if sys.byteorder == "little":
        words.byteswap()
    total = sum(words)
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def icmp_message(icmp_type: int, code: int, rest: bytes, pseudo_header: bytes = b"") -> bytes:
    """An ICMP message with its checksum; ICMPv6's also covers the IPv6 pseudo-header."""
    unsummed = struct.pack("!BBH", icmp_type, code, 0) + rest
    summed = checksum(pseudo_header + unsummed)
    return unsummed[:2] + struct.pack("!H", summed) + unsummed[4:]


def ipv6_pseudo_header(source: bytes, destination: bytes, length: int) -> bytes:
    return source + destination + struct.pack("!I3xB", length, PROTO_ICMP6)


def ipv4_packet(source: bytes, destination: bytes, payload: bytes, *, ttl: int = 64,
                protocol: int = PROTO_ICMP4, options: bytes = b"") -> bytes:
    header_len = 20 + len(options)
    header = struct.pack("!BBHHHBBH4s4s", 0x40 | header_len // 4, 0, header_len + len(payload),
                         0, 0, ttl, protocol, 0, source, destination) + options
    return header[:10] + struct.pack("!H", checksum(header)) + header[12:] + payload


def ipv6_packet(source: bytes, destination: bytes, payload: bytes, *, hop_limit: int = 64,
                next_header: int = PROTO_ICMP6) -> bytes:
    return struct.pack("!IHBB16s16s", 0x60000000, len(payload), next_header, hop_limit,
                       source, destination) + payload


@dataclasses.dataclass(frozen=True)
class Probe:
    """An echo (or ICMPv4 timestamp) request read from the TUN: the whole IP packet and the
    fields we answer from; a timestamp request's payload is its three times."""

    version: int
    packet: bytes
    source: bytes
    destination: bytes
    ident: int
    seq: int
    payload: bytes

    @property
    def header_len(self) -> int:
        return (self.packet[0] & 0x0F) * 4 if self.version == 4 else 40

    @property
    def icmp(self) -> bytes:
        return self.packet[self.header_len:]

    @property
    def timestamp(self) -> bool:
        return self.version == 4 and self.icmp[0] == ICMP4_TIMESTAMP_REQUEST

    @property
    def ttl(self) -> int:
        """The TTL (hop limit) it arrived with: we are its first hop."""
        return self.packet[8] if self.version == 4 else self.packet[7]


def parse_probe(packet: bytes) -> Probe | None:
    """The echo request in an IP packet, or None for anything else (ND, MLD, our own replies)."""
    if len(packet) < 20:
        return None
    version = packet[0] >> 4
    if version == 4:
        header_len = (packet[0] & 0x0F) * 4
        if packet[9] != PROTO_ICMP4 or len(packet) < header_len + 8:
            return None
        source, destination, want = packet[12:16], packet[16:20], ICMP4_ECHO_REQUEST
    elif version == 6:
        header_len = 40
        if len(packet) < 48 or packet[6] != PROTO_ICMP6:
            return None
        source, destination, want = packet[8:24], packet[24:40], ICMP6_ECHO_REQUEST
    else:
        return None
    icmp = packet[header_len:]
    if icmp[0] != want and not (version == 4 and icmp[0] == ICMP4_TIMESTAMP_REQUEST):
        return None
    ident, seq = struct.unpack("!HH", icmp[4:8])
    return Probe(version, packet, source, destination, ident, seq, icmp[8:])


def forge_echo(ident: int, seq: int, payload: bytes, forge: str) -> tuple[int, int, bytes]:
    """The identifier, sequence and payload of a reply that gets `forge` wrong."""
    if forge == "ident":
        ident ^= 0xFFFF
    elif forge == "seq":
        seq = (seq + 1) & 0xFFFF
    elif forge == "cookie":
        payload = bytes([payload[0] ^ 0xFF]) + payload[1:]
    elif forge == "serial":
        # A serial the engine has not sent yet, whose low 16 bits still agree with seq.
        (serial,) = struct.unpack_from("=Q", payload, 8)
        payload = payload[:8] + struct.pack("=Q", serial + (1 << 16)) + payload[TAG_LEN:]
    elif forge == "truncate_tag":
        payload = payload[:12]  # the whole cookie, half the serial
    elif forge == "truncate_times":
        payload = payload[:8]  # a timestamp reply without its transmit time
    return ident, seq, payload


FORGERIES = ("", "ident", "seq", "cookie", "serial", "checksum", "truncate_tag",
             "truncate_header", "truncate_times")
QUOTES = ("full", "short", "tiny", "bad_header", "not_icmp", "wrong_dst", "cookie")


def echo_reply(probe: Probe, behaviour: Behaviour, *, ident: int | None = None) -> bytes:
    """The IP packet answering probe as behaviour says (with another identifier if given)."""
    source = probe.destination
    if behaviour.source:
        source = ipaddress.ip_address(behaviour.source).packed
    forge = behaviour.forge if ident is None else ""
    payload = probe.payload
    if probe.timestamp:
        # RFC 792: the originate time comes back as sent; receive and transmit are ours, in
        # milliseconds since midnight UTC (Linux copies nothing past the originate field).
        now = int(time.time() * 1000) % 86_400_000
        payload = payload[:4] + struct.pack("!II", now, now)
    reply_ident, seq, payload = forge_echo(probe.ident if ident is None else ident, probe.seq,
                                           payload, forge)
    rest = struct.pack("!HH", reply_ident, seq) + payload
    if probe.timestamp:
        return ip_packet(4, source, probe.source, rest, behaviour, reply=False,
                         icmp_type=ICMP4_TIMESTAMP_REPLY)
    return ip_packet(probe.version, source, probe.source, rest, behaviour, reply=True)


def ip_packet(version: int, source: bytes, destination: bytes, rest: bytes,
              behaviour: Behaviour, *, reply: bool, icmp_type: int = 0,
              code: int = 0) -> bytes:
    """An ICMP packet: an echo reply (reply=True) or icmp_type/code, with rest after the checksum.

    Applies the behaviours that concern the packet as a whole: a bad checksum, truncation,
    IPv4 options and the TTL.
    """
    if reply:
        icmp_type = ICMP4_ECHO_REPLY if version == 4 else ICMP6_ECHO_REPLY
    if behaviour.forge == "truncate_header":
        rest = rest[:2]  # 6 bytes of ICMP: the identifier, then nothing
    pseudo = b""
    if version == 6:
        pseudo = ipv6_pseudo_header(source, destination, 4 + len(rest))
    icmp = icmp_message(icmp_type, code, rest, pseudo)
    if behaviour.forge == "checksum":
        icmp = icmp[:2] + bytes([icmp[2] ^ 0x55, icmp[3] ^ 0x55]) + icmp[4:]
    if version == 4:
        options = b"\x01" * 7 + b"\x00" if behaviour.ip_options else b""
        return ipv4_packet(source, destination, icmp, ttl=behaviour.ttl, options=options)
    return ipv6_packet(source, destination, icmp, hop_limit=behaviour.ttl)


def quoted_probe(probe: Probe, quote: str) -> bytes:
    """What an ICMP error about probe quotes of it, well or badly formed as `quote` says."""
    header, icmp = probe.packet[:probe.header_len], probe.icmp
    if quote == "short":
        return header + icmp[:8]  # RFC 792's minimum: the sequence, not the serial
    if quote == "tiny":
        return header + icmp[:6]  # the identifier, then nothing
    if quote == "cookie":
        return header + icmp[:8] + bytes([icmp[8] ^ 0xFF]) + icmp[9:]
    if quote == "bad_header":
        header = bytes([header[0] & 0x0F]) + header[1:]  # IP version 0
    elif quote == "not_icmp":
        at = 9 if probe.version == 4 else 6
        header = header[:at] + bytes([PROTO_UDP]) + header[at + 1:]
    elif quote == "wrong_dst":
        at = 16 if probe.version == 4 else 24
        size = 4 if probe.version == 4 else 16
        other = bytes(header[at:at + size - 1]) + bytes([header[at + size - 1] ^ 0x80])
        header = header[:at] + other + header[at + size:]
    return header + icmp


def icmp_error(probe: Probe, behaviour: Behaviour) -> bytes:
    """An ICMP error from behaviour.router about probe."""
    assert behaviour.error is not None
    icmp_type, code = behaviour.error
    router = ipaddress.ip_address(behaviour.router).packed
    # Four unused bytes (a pointer, an MTU or nothing), then the quote.
    rest = bytes(4) + quoted_probe(probe, behaviour.quote)
    return ip_packet(probe.version, router, probe.source, rest, behaviour, reply=False,
                     icmp_type=icmp_type, code=code)


def forgeries(probe: Probe, behaviour: Behaviour) -> list[bytes]:
    """What a target that sees probe forges for behaviour.forge_for from probe's tag."""
    victim = ipaddress.ip_address(behaviour.forge_for).packed
    cookie, (serial,) = probe.payload[:8], struct.unpack_from("=Q", probe.payload, 8)
    forged = []
    for near in range(serial - behaviour.forge_span, serial + behaviour.forge_span + 1):
        payload = cookie + struct.pack("=Q", near % (1 << 64)) + probe.payload[TAG_LEN:]
        rest = struct.pack("!HH", probe.ident, near & 0xFFFF) + payload
        if behaviour.forge_kind == "reply":
            forged.append(ip_packet(probe.version, victim, probe.source, rest, Behaviour(),
                                    reply=True))
            continue
        request = ICMP4_ECHO_REQUEST if probe.version == 4 else ICMP6_ECHO_REQUEST
        pseudo = b"" if probe.version == 4 else ipv6_pseudo_header(probe.source, victim,
                                                                    4 + len(rest))
        echo = icmp_message(request, 0, rest, pseudo)
        if probe.version == 4:
            quote = ipv4_packet(probe.source, victim, echo)
        else:
            quote = ipv6_packet(probe.source, victim, echo)
        error = (3, 1) if probe.version == 4 else (1, 3)
        forged.append(ip_packet(probe.version, probe.destination, probe.source,
                                bytes(4) + quote, Behaviour(), reply=False,
                                icmp_type=error[0], code=error[1]))
    return forged


def flood_errors(probe: Probe, behaviour: Behaviour, count: int) -> list[bytes]:
    """count unreachables from behaviour.router quoting 8 bytes of echo requests that carry
    probe's identifier and random sequences, sent to an address nobody pings."""
    rng = random.Random(probe.ident)
    elsewhere = bytes(probe.destination[:-1]) + bytes([probe.destination[-1] ^ 0x80])
    request = ICMP4_ECHO_REQUEST if probe.version == 4 else ICMP6_ECHO_REQUEST
    error = (3, 1) if probe.version == 4 else (1, 3)
    router = ipaddress.ip_address(behaviour.router).packed
    floods = []
    for _ in range(count):
        echo = icmp_message(request, 0, struct.pack("!HH", probe.ident, rng.randrange(1 << 16)))
        if probe.version == 4:
            quote = ipv4_packet(probe.source, elsewhere, echo)
        else:
            quote = ipv6_packet(probe.source, elsewhere, echo)
        floods.append(ip_packet(probe.version, router, probe.source, bytes(4) + quote,
                                Behaviour(), reply=False, icmp_type=error[0], code=error[1]))
    return floods


FLOOD_VARIANTS = 256  # distinct errors a flood cycles through


# ---- the responder -----------------------------------------------------------------------------


class Responder:
    """Answers echo requests read from the TUN as each destination's behaviour says."""

    def __init__(self, spec: dict[str, Any], tun: int) -> None:
        self.tun = tun
        self.base = {ipaddress.ip_address(a).packed: b for a, b in spec["hosts"].items()}
        self.control = spec.get("control", "")
        self.control_version: tuple[int, int] | None = None
        self.behaviours = self._merge({})
        # Separate generators: loss draws exactly one number per probe from its host's own
        # generator, so a test can replay it; jitter and the rest must not disturb that.
        self.loss_rngs: dict[bytes, random.Random] = {}
        self.jitter_rng = random.Random(0)
        self.pending: list[tuple[float, int, bytes]] = []  # (due, order, packet): a heap
        self.order = 0
        self.reorder_batches: dict[int, list[bytes]] = collections.defaultdict(list)
        self.reorder_since: dict[int, float] = {}
        self.stale: dict[bytes, collections.deque[bytes]] = collections.defaultdict(
            collections.deque)
        # Per flooding host: (errors a second, the errors it cycles through).
        self.floods: dict[bytes, tuple[int, list[bytes]]] = {}
        self.flood_due = 0.0
        self.flood_sent = 0

    def _merge(self, overrides: dict[bytes, dict[str, Any]]) -> dict[bytes, Behaviour]:
        addresses = set(self.base) | set(overrides)
        return {a: Behaviour.from_dict({**self.base.get(a, {}), **overrides.get(a, {})})
                for a in addresses}

    def poll_control(self) -> None:
        """Rereads the control file when it changed; a missing file overrides nothing."""
        if not self.control:
            return
        # write_control replaces the file, so a new inode means new contents even when
        # two writes share a timestamp.
        try:
            status = os.stat(self.control)
            version: tuple[int, int] | None = (status.st_ino, status.st_mtime_ns)
        except FileNotFoundError:
            version = None
        if version == self.control_version:
            return
        self.control_version = version
        overrides: dict[str, dict[str, Any]] = {}
        if version is not None:
            with open(self.control) as file:
                overrides = json.load(file)
        self.behaviours = self._merge(
            {ipaddress.ip_address(a).packed: b for a, b in overrides.items()})

    def send_at(self, due: float, packet: bytes) -> None:
        heapq.heappush(self.pending, (due, self.order, packet))
        self.order += 1

    def handle(self, packet: bytes, now: float) -> None:
        probe = parse_probe(packet)
        behaviour = self.behaviours.get(probe.destination) if probe else None
        if probe is None or behaviour is None or behaviour.silent:
            return
        if probe.ttl <= len(behaviour.hops):
            hop = behaviour.hops[probe.ttl - 1]
            if hop:
                exceeded = Behaviour(error=TIME_EXCEEDED[probe.version], router=hop)
                self.send_at(now, icmp_error(probe, exceeded))
            return
        if behaviour.loss > 0:
            rng = self.loss_rngs.setdefault(
                probe.destination,
                random.Random(loss_seed(behaviour.seed, probe.destination)))
            if rng.random() < behaviour.loss:
                return
        if behaviour.error_flood and probe.destination not in self.floods:
            self.floods[probe.destination] = (
                behaviour.error_flood, flood_errors(probe, behaviour, FLOOD_VARIANTS))
            self.flood_due = self.flood_due or now
        if behaviour.forge_for:
            for forged in forgeries(probe, behaviour):
                self.send_at(now, forged)
        for number in range(behaviour.foreign):
            other = (probe.ident + FOREIGN_IDENT_STEP * (number + 1)) & 0xFFFF
            self.send_at(now, echo_reply(probe, behaviour, ident=other))
        if behaviour.error and behaviour.error_first:
            self.send_at(now, icmp_error(probe, behaviour))
        answer = (icmp_error(probe, behaviour) if behaviour.error and not behaviour.error_first
                  else echo_reply(probe, behaviour))
        if behaviour.reorder:
            self._hold_for_reorder(behaviour.reorder, answer, now)
            return
        if behaviour.stale_after:
            # The stale copy goes first, while the probe whose sequence it shares is waiting.
            held = self.stale[probe.destination]
            held.append(answer)
            if len(held) > behaviour.stale_after:
                self.send_at(now, held.popleft())
        delay = behaviour.delay_ms + self.jitter_rng.uniform(0, behaviour.jitter_ms)
        for copy in range(behaviour.copies):
            self.send_at(now + (delay + copy * behaviour.copy_gap_ms) / 1000, answer)

    def _hold_for_reorder(self, size: int, answer: bytes, now: float) -> None:
        batch = self.reorder_batches[size]
        self.reorder_since.setdefault(size, now)
        batch.append(answer)
        if len(batch) >= size:
            self._release(size, now)

    def _release(self, size: int, now: float) -> None:
        for answer in reversed(self.reorder_batches.pop(size, [])):
            self.send_at(now, answer)
        self.reorder_since.pop(size, None)

    def release_overdue(self, now: float) -> None:
        for size, since in list(self.reorder_since.items()):
            if now - since >= REORDER_HOLD:
                self._release(size, now)

    def send_due(self, now: float) -> None:
        while self.pending and self.pending[0][0] <= now:
            os.write(self.tun, heapq.heappop(self.pending)[2])

    def send_floods(self, now: float) -> None:
        """Sends the flood errors due by now, at the sum of the flooding hosts' rates."""
        if not self.floods:
            return
        rate = sum(per_second for per_second, _ in self.floods.values())
        errors = [error for _, variants in self.floods.values() for error in variants]
        # Bounded: a responder that fell behind skips ahead rather than bursting.
        for _ in range(1024):
            if self.flood_due > now:
                return
            os.write(self.tun, errors[self.flood_sent % len(errors)])
            self.flood_sent += 1
            self.flood_due += 1 / rate
        self.flood_due = now

    def read_all(self, now: float) -> None:
        for _ in range(256):  # bounded: the sends due must not starve behind a flood
            try:
                packet = os.read(self.tun, 65536)
            except BlockingIOError:
                return
            self.handle(packet, now)

    def serve(self, deadline: float, parent: int) -> None:
        next_look = 0.0
        while (now := time.monotonic()) < deadline:
            if now >= next_look:
                if os.getppid() != parent:
                    return
                self.poll_control()
                self.release_overdue(now)
                next_look = now + CONTROL_POLL
            wait = next_look - now
            if self.pending:
                wait = min(wait, self.pending[0][0] - now)
            if self.floods:
                wait = min(wait, self.flood_due - now)
            # select, not poll or epoll: its timeout has microseconds, not milliseconds,
            # so a 20 ms delay is 20 ms and not up to 21.
            if select.select([self.tun], [], [], max(wait, 0.0))[0]:
                self.read_all(time.monotonic())
            self.send_due(time.monotonic())
            self.send_floods(time.monotonic())


def loss_seed(seed: int, address: bytes) -> str:
    """The seed of a host's loss generator, so a test can replay its draws."""
    return f"{seed}/{ipaddress.ip_address(address)}"


def expected_losses(seed: int, address: str, probes: int, loss: float) -> int:
    """How many of a host's first `probes` probes the responder drops, given its loss."""
    rng = random.Random(loss_seed(seed, ipaddress.ip_address(address).packed))
    return sum(rng.random() < loss for _ in range(probes))


def open_tun(name: str) -> int:
    """Creates the TUN device `name` and returns its descriptor (non-blocking)."""
    tun = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        fcntl.ioctl(tun, TUNSETIFF, struct.pack("16sH", name.encode(), IFF_TUN | IFF_NO_PI))
    except BaseException:
        os.close(tun)
        raise
    return tun


def responder_main(spec_path: str) -> int:
    with open(spec_path) as file:
        spec = json.load(file)
    deadline = time.monotonic() + spec["lifetime"]
    # Die with the test process, whatever kills it; the lifetime bounds the rest.
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    if os.getppid() != spec["parent"]:
        return 0
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        tun = open_tun(spec["device"])
    except OSError as error:
        print(f"cannot create a TUN device here: {error}", file=sys.stderr)
        return EXIT_UNAVAILABLE
    responder = Responder(spec, tun)
    print("ready", flush=True)
    responder.serve(deadline, spec["parent"])
    return 0


# ---- the test side -------------------------------------------------------------------------


class NetsimUnavailable(Exception):
    """Namespaces or TUN devices are not permitted here: the tests should skip."""


def _command(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, timeout=COMMAND_TIMEOUT,
                          check=False)


def _check(*command: str) -> None:
    done = _command(*command)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed: {done.stderr.strip()}")


class SimulatedNetwork:
    """A namespace whose simulated hosts behave as `hosts` says (address -> Behaviour fields).

    Use as a context manager: entering creates the namespace and starts the responder;
    leaving stops it and deletes the namespace, however the block is left.
    """

    def __init__(self, hosts: dict[str, dict[str, Any]], *, lifetime: float = 120.0) -> None:
        for address, fields in hosts.items():
            Behaviour.from_dict(fields)  # wrong fields fail here, not in the responder
            version = ipaddress.ip_address(address).version
            assert ipaddress.ip_address(address) in ipaddress.ip_network(ROUTED[version])
        self.hosts = hosts
        self.lifetime = lifetime
        self.name = f"fastping-sim-{os.getpid()}-{id(self):x}"
        self.workdir = tempfile.mkdtemp(prefix="fastping-sim-")
        self.control_path = os.path.join(self.workdir, "control.json")
        self.responder: subprocess.Popen[str] | None = None
        self.created = False

    def __enter__(self) -> SimulatedNetwork:
        try:
            self._start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _ip(self, *args: str) -> None:
        _check("ip", "-n", self.name, *args)

    def _start(self) -> None:
        if shutil.which("ip") is None:
            raise NetsimUnavailable("needs iproute2's ip(8)")
        if os.geteuid() != 0:
            raise NetsimUnavailable("creating network namespaces needs root")
        if not os.path.exists("/dev/net/tun"):
            raise NetsimUnavailable("no /dev/net/tun")
        done = _command("ip", "netns", "add", self.name)
        if done.returncode != 0:
            raise NetsimUnavailable(f"'ip netns add' is not permitted: {done.stderr.strip()}")
        self.created = True
        self._ip("link", "set", "lo", "up")
        self._start_responder()
        # A queue of 20,000 packets toward the responder (not the default 500): a Python
        # responder on a busy machine may fall a second behind a 20,000-probe-a-second test,
        # and what it has not read yet must wait for it, not be dropped as lost.
        self._ip("link", "set", DEVICE, "txqueuelen", "20000", "up")
        for version in (4, 6):
            family = f"-{version}"
            prefix = 32 if version == 4 else 128
            # nodad: usable at once rather than after duplicate address detection.
            nodad = ["nodad"] if version == 6 else []
            self._ip(family, "address", "add", f"{CLIENT[version]}/{prefix}", "dev", DEVICE,
                     *nodad)
            self._ip(family, "route", "add", ROUTED[version], "dev", DEVICE, "src",
                     CLIENT[version])
        # Replies come back in on the TUN from every address in the routed prefixes, and
        # root may use ICMP datagram sockets too (privileged=False): both per namespace.
        for setting in (f"net.ipv4.conf.{DEVICE}.rp_filter=0", "net.ipv4.conf.all.rp_filter=0",
                        "net.ipv4.ping_group_range=0 2147483647"):
            _check("ip", "netns", "exec", self.name, "sysctl", "-qw", setting)

    def _start_responder(self) -> None:
        spec_path = os.path.join(self.workdir, "spec.json")
        with open(spec_path, "w") as file:
            json.dump({"hosts": self.hosts, "lifetime": self.lifetime, "device": DEVICE,
                       "control": self.control_path, "parent": os.getpid()}, file)
        self.responder = subprocess.Popen(
            ["ip", "netns", "exec", self.name, sys.executable, os.path.abspath(__file__),
             spec_path],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd="/")
        assert self.responder.stdout is not None
        ready, _, _ = select.select([self.responder.stdout], [], [], READY_TIMEOUT)
        line = self.responder.stdout.readline() if ready else ""
        if line.strip() == "ready":
            return
        self.responder.kill()
        _, errors = self.responder.communicate(timeout=COMMAND_TIMEOUT)
        if self.responder.returncode == EXIT_UNAVAILABLE:
            raise NetsimUnavailable(errors.strip())
        raise RuntimeError(f"the responder did not start: {errors.strip()}")

    def close(self) -> None:
        """Stops the responder and deletes the namespace. Idempotent."""
        if self.responder is not None:
            if self.responder.poll() is None:
                self.responder.terminate()
            try:
                self.responder.communicate(timeout=COMMAND_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.responder.kill()
                self.responder.communicate()
            self.responder = None
        if self.created:
            _command("ip", "netns", "del", self.name)
            self.created = False
        shutil.rmtree(self.workdir, ignore_errors=True)

    def responder_alive(self) -> bool:
        return self.responder is not None and self.responder.poll() is None

    def override(self, overrides: dict[str, dict[str, Any]]) -> None:
        """Replaces the control file's overrides (address -> Behaviour fields), atomically."""
        write_control(self.control_path, overrides)

    def run(self, source: str, spec: dict[str, Any], timeout: float = 30.0) -> dict[str, Any]:
        """Runs `python -c source spec-as-JSON` in the namespace; returns its last line, parsed."""
        command = ["ip", "netns", "exec", self.name, sys.executable, "-c", source,
                   json.dumps(spec)]
        # cwd "/": nothing importable from the cwd shadows the installed fastping.
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout,
                              cwd="/", check=False)
        assert done.returncode == 0, f"client failed:\n{done.stderr}"
        report: dict[str, Any] = json.loads(done.stdout.splitlines()[-1])
        return report


def client_source(client: Callable[[], None]) -> str:
    """The source of a client function (standard library and fastping only), run by run()."""
    return f"from __future__ import annotations\n{inspect.getsource(client)}\n{client.__name__}()\n"


def network_or_skip(hosts: dict[str, dict[str, Any]]) -> Iterator[SimulatedNetwork]:
    """A test module's network fixture: the network while the tests run, checked to have
    kept its responder; the tests skip where no network can be made."""
    import pytest

    try:
        with SimulatedNetwork(hosts) as simulated:
            yield simulated
            assert simulated.responder_alive(), "the responder died during the tests"
    except NetsimUnavailable as reason:
        pytest.skip(f"no simulated network here: {reason}")


def write_control(path: str, overrides: dict[str, dict[str, Any]]) -> None:
    """Writes the responder's control file so that it never sees half of it."""
    partial = f"{path}.{os.getpid()}.tmp"
    with open(partial, "w") as file:
        json.dump(overrides, file)
    os.replace(partial, path)


if __name__ == "__main__":
    sys.exit(responder_main(sys.argv[1]))
