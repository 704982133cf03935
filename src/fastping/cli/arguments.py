"""The command's arguments: the parser, the settings checked from them, and the targets
(HOSTs, -g networks and ranges, -f files), at most MAX_TARGETS of them."""

from __future__ import annotations

import argparse
import math
from collections.abc import Iterator
from contextlib import nullcontext
from typing import NamedTuple, TextIO

from .._common import MAX_INTERVAL, MAX_SIZE, MAX_TIMEOUT, MIN_SIZE, EngineKeywords, UsageParser
from .._resolve import MIN_SECONDS, check_int, check_seconds
from .._version import __version__

VERSION_LINE = f"fastping: Version {__version__}"  # what fping -v prints, in its words
MAX_GENERATED = 1 << 20  # per -g
MAX_TARGETS = 1 << 20  # per run: -g, -f and arguments together (the engine handles a million)
MAX_LINE = 4096  # characters in a line of -f (fping reads names of up to 255 bytes)
MAX_TIMEOUT_WITH_PERIOD = 2.0  # fping: with -c/-C/-l the timeout is the period, up to 2 s


class UsageError(Exception):
    """A bad argument: one line on stderr, exit status 3."""


def parser() -> argparse.ArgumentParser:
    parser = UsageParser(
        prog="fastping",
        description="Ping many hosts at once. Times are in milliseconds, as in fping. "
        "Also: 'fastping exporter --help' (Prometheus exporter), "
        "'fastping plot --help' (latency charts).",
        epilog=f"At most {MAX_TARGETS:,} targets in a run (-g, -f and HOSTs together). "
        "Exit status: 0 all alive, 1 some unreachable, 2 some unknown host, "
        "3 bad arguments, 4 system error.",
    )
    parser.add_argument("targets", nargs="*", metavar="HOST", help="host names or IP addresses")
    parser.add_argument("-v", "--version", action="version", version=VERSION_LINE)
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("-c", "--count", type=int, metavar="N",
                      help="send N probes to each target and summarise")
    mode.add_argument("-C", "--vcount", type=int, metavar="N",
                      help="as -c, and report every RTT in fping's format")
    mode.add_argument("-l", "--loop", action="store_true",
                      help="heartbeat every target once per period until Ctrl-C")
    parser.add_argument("-Q", "--squiet", type=float, metavar="SECS",
                        help="with -l, -c or -C: print summaries every SECS seconds")
    parser.add_argument("-p", "--period", type=float, default=1000.0, metavar="MS",
                        help="time between probes to one target, in ms (default 1000)")
    parser.add_argument("-i", "--interval", type=float, default=0.0, metavar="MS",
                        help="least time between any two sends, in ms "
                        "(default 0: as fast as is safe)")
    parser.add_argument("-t", "--timeout", type=float, metavar="MS",
                        help="how long to wait for a reply, in ms (default 500; with "
                        "-c/-C/-l, the period up to 2000)")
    parser.add_argument("-r", "--retry", type=int, default=3, metavar="N",
                        help="retries per target when sweeping (default 3)")
    parser.add_argument("-B", "--backoff", type=float, default=1.5, metavar="F",
                        help="timeout multiplier per retry (default 1.5)")
    parser.add_argument("-b", "--size", type=int, default=56, metavar="BYTES",
                        help=f"ICMP payload size ({MIN_SIZE} to {MAX_SIZE}, default 56)")
    parser.add_argument("-H", "--ttl", type=int, metavar="TTL", help="IP time to live")
    parser.add_argument("-O", "--tos", type=int, metavar="TOS", help="IP type of service")
    parser.add_argument("-S", "--src", metavar="ADDR", help="source address")
    parser.add_argument("-I", "--iface", metavar="IFACE", help="bind to this interface")
    family = parser.add_mutually_exclusive_group()
    family.add_argument("-4", "--ipv4", action="store_const", dest="family", const=4,
                        help="IPv4 only")
    family.add_argument("-6", "--ipv6", action="store_const", dest="family", const=6,
                        help="IPv6 only")
    parser.add_argument("-g", "--generate", action="append", nargs="+", default=[],
                        metavar="CIDR", help="every host of a network (127.0.4.0/22), "
                        "or of a range: -g START END")
    parser.add_argument("-f", "--file", metavar="FILE",
                        help="read targets from FILE, the first word of each line "
                        "('-' for stdin)")
    show = parser.add_mutually_exclusive_group()
    show.add_argument("-a", "--alive", action="store_true", help="list alive targets only")
    show.add_argument("-u", "--unreach", action="store_true",
                      help="list unreachable targets only")
    parser.add_argument("-e", "--elapsed", action="store_true",
                        help="show the RTT of alive targets when sweeping")
    parser.add_argument("-s", "--stats", action="store_true", help="print final statistics")
    parser.add_argument("-q", "--quiet", action="store_true",
                        help="no per-probe lines, only summaries")
    parser.add_argument("--table", action="store_true",
                        help="with -l on a terminal: a live table of targets, redrawn in place")
    parser.add_argument("--json", action="store_true",
                        help="one JSON object per line on stdout (see the README)")
    parser.add_argument("--plot", metavar="FILE",
                        help="with -c, -C or -l: draw a SmokePing-style chart of the run "
                        "(.png, .svg or .pdf; needs matplotlib)")
    parser.add_argument("--icmp-timestamp", action="store_true",
                        help="ICMP timestamp requests instead of echo (IPv4, raw sockets)")
    return parser


# ---- targets ------------------------------------------------------------------

def _network_hosts(cidr: str) -> tuple[int, Iterator[str]]:
    """How many host addresses a network has, and them; like fping, skips network and
    broadcast addresses."""
    import ipaddress  # only for -g: 1.3 ms of every other start

    try:
        network = ipaddress.ip_network(cidr, strict=False)
    except ValueError:
        raise UsageError(f"-g: not a network in CIDR notation: {cidr!r}") from None
    if network.num_addresses > MAX_GENERATED:
        raise UsageError(f"-g: {cidr} has {network.num_addresses} addresses, "
                         f"more than the {MAX_GENERATED} allowed")
    if network.num_addresses > 2:
        return network.num_addresses - 2, (str(address) for address in network.hosts())
    return network.num_addresses, (str(address) for address in network)


def _range_hosts(start: str, end: str) -> tuple[int, Iterator[str]]:
    import ipaddress

    try:
        first, last = ipaddress.ip_address(start), ipaddress.ip_address(end)
    except ValueError as error:
        raise UsageError(f"-g: {error}") from None
    if first.version != last.version or int(last) < int(first):
        raise UsageError(f"-g: {start} to {end} is not a range")
    count = int(last) - int(first) + 1
    if count > MAX_GENERATED:
        raise UsageError(f"-g: {start} to {end} has {count} addresses, "
                         f"more than the {MAX_GENERATED} allowed")
    return count, (str(first + offset) for offset in range(count))


def _generated(values: list[str]) -> tuple[int, Iterator[str]]:
    if len(values) == 1:
        return _network_hosts(values[0])
    if len(values) == 2:
        return _range_hosts(*values)
    raise UsageError("-g takes a network (CIDR) or a START END range")


def _too_many() -> UsageError:
    return UsageError(f"more than {MAX_TARGETS} targets: -g, -f and the arguments together "
                      f"give at most {MAX_TARGETS}")


def _read_targets(path: str, stdin: TextIO, room: int) -> list[str]:
    """As fping reads -f: the first word of each line, skipping lines whose first word starts
    with '#'. Read a line at a time, each bounded, and no further than room targets: /dev/zero
    or a huge file is refused, not read into memory."""
    targets: list[str] = []
    try:
        with open(path, encoding="utf-8") if path != "-" else nullcontext(stdin) as file:
            while line := file.readline(MAX_LINE + 1):
                if len(line) > MAX_LINE and not line.endswith("\n"):
                    raise UsageError(f"-f: {path!r} has a line longer than {MAX_LINE} "
                                     f"characters, after {len(targets)} targets")
                words = line.split(None, 1)
                if words and not words[0].startswith("#"):
                    if len(targets) == room:
                        raise _too_many()
                    targets.append(words[0])
    except (OSError, UnicodeDecodeError) as error:
        reason = getattr(error, "strerror", None) or error
        raise UsageError(f"-f: cannot read {path!r}: {reason}") from None
    return targets


def targets(args: argparse.Namespace, stdin: TextIO) -> list[str]:
    # Surrounding whitespace is no part of a name (the engine and the results use it
    # stripped); a target left empty is reported unknown, as any other bad name.
    targets = [target.strip() for target in args.targets]
    # Counted before anything is made: 16 -g /12 would otherwise be 16.7 million strings.
    generated = [_generated(values) for values in args.generate]
    if len(targets) + sum(count for count, _ in generated) > MAX_TARGETS:
        raise _too_many()
    for _, hosts in generated:
        targets.extend(hosts)
    if args.file is not None:
        targets.extend(_read_targets(args.file, stdin, MAX_TARGETS - len(targets)))
    if not targets:
        raise UsageError("no targets: give hosts, -g CIDR or -f FILE")
    return list(dict.fromkeys(targets))


# ---- options --------------------------------------------------------------------

def _milliseconds(flag: str, milliseconds: float, *, maximum: float, allow_zero: bool) -> float:
    """A duration given in ms, checked and returned in seconds; errors speak in ms."""
    try:
        return check_seconds(flag, milliseconds / 1000, maximum=maximum, allow_zero=allow_zero)
    except ValueError:
        zero = "0 or " if allow_zero else ""
        raise UsageError(f"{flag} must be {zero}between {MIN_SECONDS * 1000:g} and "
                         f"{maximum * 1000:g} ms, not {milliseconds:g}") from None


class Settings(NamedTuple):
    """The options checked, durations in seconds."""

    rounds: int | None  # probes per target (-c/-C); None to loop
    every_rtt: bool  # -C
    period: float
    gap: float
    timeout: float
    retries: int
    backoff: float
    report_every: float | None


def settings(args: argparse.Namespace) -> Settings:
    count = args.count if args.count is not None else args.vcount
    if count is not None:
        check_int("-c/-C", count, minimum=1, maximum=2**31)
    check_int("-r", args.retry, minimum=0, maximum=100)
    if not (math.isfinite(args.backoff) and 1.0 <= args.backoff <= 5.0):
        raise UsageError(f"-B must be between 1 and 5, not {args.backoff:g}")
    period = _milliseconds("-p/--period", args.period, maximum=MAX_INTERVAL, allow_zero=False)
    gap = _milliseconds("-i/--interval", args.interval, maximum=MAX_INTERVAL, allow_zero=True)
    repeating = count is not None or args.loop
    if args.timeout is not None:
        timeout = _milliseconds("-t/--timeout", args.timeout, maximum=MAX_TIMEOUT,
                                allow_zero=False)
    else:
        timeout = min(period, MAX_TIMEOUT_WITH_PERIOD) if repeating else 0.5
    report_every = None
    if args.squiet is not None:
        if not repeating:
            raise UsageError("-Q goes with -l, -c or -C")
        report_every = check_seconds("-Q", args.squiet, maximum=MAX_INTERVAL, allow_zero=False)
    if args.table and not args.loop:
        raise UsageError("--table goes with -l")
    if args.plot is not None:
        if not repeating:
            raise UsageError("--plot goes with -l, -c or -C")
        if not args.plot.lower().endswith((".png", ".svg", ".pdf")):
            raise UsageError(f"--plot must end in .png, .svg or .pdf: {args.plot!r}")
    return Settings(count, args.vcount is not None, period, gap, timeout, args.retry,
                    args.backoff, report_every)


def engine_keywords(args: argparse.Namespace, settings: Settings) -> EngineKeywords:
    return {"size": args.size, "ttl": args.ttl, "tos": args.tos, "source": args.src,
            "interface": args.iface, "family": args.family, "gap": settings.gap,
            "icmp_timestamp": args.icmp_timestamp}
