"""The command's arguments, fping's (5.5) letters, long names and meanings: the parser and
the settings checked from them (the targets are read in targets.py)."""

from __future__ import annotations

import argparse
import math
import os
import sys

from .._common import MAX_INTERVAL, MAX_SIZE, MAX_TIMEOUT, MIN_SIZE, UsageParser
from .._resolve import MIN_SECONDS, check_seconds
from .._typing_lite import TYPE_CHECKING, NamedTuple
from .._version import __version__

if TYPE_CHECKING:
    from .._common import EngineKeywords

VERSION_LINE = f"fastping: Version {__version__}"  # what fping -v prints, in its words
MAX_TIMEOUT_WITH_PERIOD = 2.0  # fping: with -c/-C/-l the timeout is the period, up to 2 s
MAX_RETRIES = 1000
MAX_COUNT = 2**31
TIMESTAMP_FORMATS = ("ctime", "iso", "rfc3339")

# fping options the engine cannot honour: each is refused (exit 3), and the README says so.
UNSUPPORTED = {
    "random": ("-R/--random", "the engine's payload is its tag and a fixed filler"),
    "dontfrag": ("-M/--dontfrag", "the engine sets the sockets' path MTU discovery itself"),
    "fwmark": ("-k/--fwmark", "the engine sets no SO_MARK on its sockets"),
    "print_tos": ("--print-tos", "the engine does not read a reply's TOS"),
    "oiface": ("--oiface", "the engine sends through the routed interface or -I's"),
    "print_reply_dst": ("--print-reply-dst", "the engine does not read a reply's "
                        "destination address"),
}


class UsageError(Exception):
    """A bad argument: one line on stderr, exit status 3."""


def _integer(text: str) -> int:
    """An integer in C's notations, as fping's -O reads it: decimal, 0x hex or 0 octal."""
    return int(text, 0)


def _flag(parser: argparse.ArgumentParser, short: str | None, long: str | None,
          text: str) -> None:
    names = [name for name in (short, long) if name]
    parser.add_argument(*names, action="store_true", help=text)


def _columns() -> int:
    """The terminal's width, as shutil.get_terminal_size() finds it (without its import)."""
    try:
        return int(os.environ["COLUMNS"])
    except (KeyError, ValueError):
        pass
    try:
        return os.get_terminal_size(sys.__stdout__.fileno()).columns  # type: ignore[union-attr]
    except (AttributeError, ValueError, OSError):
        return 80


def parser() -> argparse.ArgumentParser:
    width = _columns() - 2

    def formatter(prog: str) -> argparse.HelpFormatter:
        # Told the width once: by itself argparse asks the terminal at every option added
        # (60 of them, 5 ms of every start).
        return argparse.HelpFormatter(prog, width=width)

    parser = UsageParser(
        prog="fastping", formatter_class=formatter,
        description="Ping many hosts at once, with fping's options and output. Times are in "
        "milliseconds. Also: 'fastping exporter --help' (Prometheus exporter), "
        "'fastping plot --help' (latency charts).",
        epilog="Targets: HOSTs, else -f FILE, else standard input; -g makes them from a "
        "network or a range. Exit status: 0 all alive, 1 some unreachable, 2 some unknown "
        "host, 3 bad arguments, 4 system error; with -x/-X, 0 or 1 as enough are alive.",
    )
    add = parser.add_argument
    add("targets", nargs="*", metavar="HOST", help="host names or IP addresses")
    # probing
    add("-4", "--ipv4", action="store_const", dest="family", const=4, help="IPv4 only")
    add("-6", "--ipv6", action="store_const", dest="family6", const=6, help="IPv6 only")
    add("-b", "--size", type=int, metavar="BYTES",
        help=f"ICMP payload bytes (default 56; at least {MIN_SIZE} are sent)")
    add("-B", "--backoff", type=float, default=1.5, metavar="N",
        help="timeout multiplier per retry (default 1.5)")
    add("-c", "--count", type=int, metavar="N", help="send N probes to each target")
    add("-C", "--vcount", type=int, metavar="N", help="as -c, and report every RTT")
    add("-f", "--file", metavar="FILE", help="read targets from FILE ('-': stdin)")
    _flag(parser, "-g", "--generate", "targets from a network (HOST is a CIDR) or a range "
          "(two HOSTs)")
    add("-H", "--ttl", type=int, metavar="N", help="IP time to live")
    add("-I", "--iface", metavar="IFACE", help="bind to this interface")
    _flag(parser, "-l", "--loop", "probe every target once per period until Ctrl-C")
    _flag(parser, "-m", "--all", "probe every address of each name")
    add("-O", "--tos", type=_integer, metavar="N", help="IP type of service (decimal or 0x hex)")
    add("-p", "--period", type=float, default=1000.0, metavar="MSEC",
        help="time between probes to one target (default 1000)")
    add("-r", "--retry", type=int, default=3, metavar="N", help="retries (default 3)")
    add("-S", "--src", metavar="ADDR", help="source address")
    add("-t", "--timeout", type=float, metavar="MSEC",
        help="initial timeout (default 500; with -l/-c/-C the period, up to 2000)")
    add("-i", "--interval", type=float, default=0.0, metavar="MSEC",
        help="least time between any two sends (default 0: as fast as is safe)")
    # output
    _flag(parser, "-a", "--alive", "show targets that are alive")
    _flag(parser, "-A", "--addr", "show targets by address")
    _flag(parser, "-d", "--rdns", "show targets by name (reverse DNS, always)")
    _flag(parser, "-D", "--timestamp", "a timestamp before each per-probe line")
    add("--timestamp-format", choices=TIMESTAMP_FORMATS, help="-D's format")
    _flag(parser, "-e", "--elapsed", "show the RTT of alive targets")
    _flag(parser, "-n", "--name", "show targets by name (reverse DNS of addresses)")
    _flag(parser, "-N", "--netdata", "netdata's format (with -l and -Q)")
    _flag(parser, "-o", "--outage", "show the outage time (lost probes times the period)")
    _flag(parser, "-q", "--quiet", "no per-probe lines, only summaries")
    add("-Q", "--squiet", metavar="SECS[,cumulative]",
        help="as -q, and a summary every SECS seconds (since the start with ,cumulative)")
    _flag(parser, "-s", "--stats", "print final statistics")
    _flag(parser, "-u", "--unreach", "show targets that are unreachable")
    add("-v", "--version", action="version", version=VERSION_LINE)
    add("-x", "--reachable", type=int, metavar="N", help="exit 0 if at least N are alive")
    add("-X", "--fast-reachable", type=int, metavar="N",
        help="as -x, and stop once N are alive")
    _flag(parser, "-J", None, "fping's JSON output (with -c, -C or -l)")
    _flag(parser, None, "--print-ttl", "show each reply's TTL")
    _flag(parser, None, "--icmp-timestamp", "ICMP timestamp requests instead of echo, and "
          "their times (IPv4, raw sockets)")
    _flag(parser, None, "--check-source", "drop replies from other addresses (always done)")
    add("--seqmap-timeout", type=float, metavar="MSEC",
        help="accepted; the engine never reuses a sequence number while it matters")
    add("-T", type=float, metavar="N", help="ignored, as by fping")
    # fping options the engine cannot honour (refused in settings())
    _flag(parser, "-R", "--random", argparse.SUPPRESS)
    _flag(parser, "-M", "--dontfrag", argparse.SUPPRESS)
    add("-k", "--fwmark", type=int, help=argparse.SUPPRESS)
    _flag(parser, None, "--print-tos", argparse.SUPPRESS)
    add("--oiface", help=argparse.SUPPRESS)
    _flag(parser, None, "--print-reply-dst", argparse.SUPPRESS)
    # fastping's own
    add("--table", action="store_true",
        help="with -l on a terminal: a live table of targets, redrawn in place")
    add("--json", action="store_true",
        help="fastping's JSON: one object per line on stdout (see the README)")
    add("--plot", metavar="FILE", help="with -c, -C or -l: draw a SmokePing-style chart of "
        "the run (.png, .svg or .pdf; needs matplotlib)")
    return parser


class Settings(NamedTuple):
    """The options checked, durations in seconds, and what fping's flags make of them."""

    rounds: int | None  # probes per target (-c/-C); None to sweep or loop
    every_rtt: bool  # -C
    period: float
    gap: float
    timeout: float
    retries: int
    backoff: float
    report_every: float | None  # -Q
    cumulative: bool  # -Q SECS,cumulative
    quiet: bool  # -q or -Q: no warnings (unknown names, ICMP errors)
    per_probe: bool  # a line per probe outcome (fping's per_recv)
    verbose: bool  # sweep: "is alive" / "is unreachable"
    alive_only: bool  # -a in a sweep
    unreach_only: bool  # -u in a sweep
    min_reachable: int  # -x/-X; 0 if not given
    fast_reachable: bool  # -X
    timestamps: str | None  # -D: "" for fping's default, or a --timestamp-format
    size: int  # payload bytes sent


def _milliseconds(flag: str, milliseconds: float, *, maximum: float) -> float:
    """A duration given in ms, in seconds; 0 is fping's shortest, the engine's 1 us."""
    if not math.isfinite(milliseconds) or milliseconds < 0:
        raise UsageError(f"{flag} must be between 0 and {maximum * 1000:g} ms, "
                         f"not {milliseconds:g}")
    try:
        return check_seconds(flag, max(milliseconds / 1000, MIN_SECONDS), maximum=maximum,
                             allow_zero=False)
    except ValueError:
        raise UsageError(f"{flag} must be between 0 and {maximum * 1000:g} ms, "
                         f"not {milliseconds:g}") from None


def _squiet(text: str | None) -> tuple[float | None, bool]:
    """-Q SECS[,cumulative]: seconds between reports (None for none, as -Q 0) and whether
    they count from the start; fping ignores anything else after the comma."""
    if text is None:
        return None, False
    number, comma, rest = text.partition(",")
    try:
        seconds = float(number)
    except ValueError:
        raise UsageError(f"-Q takes SECS[,cumulative], not {text!r}") from None
    if not math.isfinite(seconds) or seconds < 0:
        raise UsageError(f"-Q takes SECS[,cumulative], not {text!r}")
    if seconds == 0:
        return None, False
    every = check_seconds("-Q", max(seconds, MIN_SECONDS), maximum=MAX_INTERVAL,
                          allow_zero=False)
    return every, bool(comma) and rest == "cumulative"


def _check_combinations(args: argparse.Namespace) -> None:
    """fping's own checks, with its words."""
    for name, (flag, reason) in UNSUPPORTED.items():
        if getattr(args, name) not in (None, False):
            raise UsageError(f"{flag} is not supported: {reason}")
    if args.family and args.family6:
        raise UsageError("can't specify both -4 and -6")
    if args.name and args.rdns:
        raise UsageError("use either one of -d or -n")
    if args.alive and args.unreach:
        raise UsageError("specify only one of a, u")
    if (args.count is not None or args.vcount is not None) and args.loop:
        raise UsageError("specify only one of c, l")
    if args.J and not (args.count or args.vcount or args.loop):
        raise UsageError("option -J, --json requires -c, -C, or -l")
    if args.J and args.json:
        raise UsageError("-J (fping's JSON) and --json (fastping's) exclude each other")
    if args.icmp_timestamp and args.family6:
        raise UsageError("ICMP Timestamp is IPv4 only")
    if args.icmp_timestamp and args.size is not None:
        raise UsageError("cannot change ICMP Timestamp size")
    if args.ttl is not None and not 1 <= args.ttl <= 255:
        raise UsageError(f"ttl {args.ttl} out of range")
    if args.tos is not None and not 0 <= args.tos <= 255:
        raise UsageError(f"tos {args.tos} out of range")
    if not (math.isfinite(args.backoff) and 1.0 <= args.backoff <= 5.0):
        raise UsageError(f"backoff factor {args.backoff:.1f} not valid, must be between "
                         "1.0 and 5.0")
    if args.size is not None and not 0 <= args.size <= MAX_SIZE:
        raise UsageError(f"data size {args.size} not valid, must not be larger than "
                         f"{MAX_SIZE}")
    for flag, value, maximum in (("-c", args.count, MAX_COUNT), ("-C", args.vcount, MAX_COUNT),
                                 ("-r", args.retry, MAX_RETRIES),
                                 ("-x", args.reachable, MAX_COUNT),
                                 ("-X", args.fast_reachable, MAX_COUNT)):
        least = 0 if flag == "-r" else 1
        if value is not None and not least <= value <= maximum:
            raise UsageError(f"{flag} must be between {least} and {maximum}, not {value}")
    if args.seqmap_timeout is not None and not (math.isfinite(args.seqmap_timeout)
                                                and args.seqmap_timeout >= 0):
        raise UsageError(f"--seqmap-timeout must be 0 or more ms, not {args.seqmap_timeout:g}")
    if args.table and not args.loop:
        raise UsageError("--table goes with -l")


def settings(args: argparse.Namespace) -> Settings:
    _check_combinations(args)
    count = args.vcount if args.vcount is not None else args.count
    repeating = count is not None or args.loop
    period = _milliseconds("-p/--period", args.period, maximum=MAX_INTERVAL)
    gap = 0.0 if args.interval == 0 else _milliseconds("-i/--interval", args.interval,
                                                       maximum=MAX_INTERVAL)
    if args.timeout is not None:
        timeout = _milliseconds("-t/--timeout", args.timeout, maximum=MAX_TIMEOUT)
    else:
        timeout = min(period, MAX_TIMEOUT_WITH_PERIOD) if repeating else 0.5
    report_every, cumulative = _squiet(args.squiet)
    if args.plot is not None:
        if not repeating:
            raise UsageError("--plot goes with -l, -c or -C")
        if not args.plot.lower().endswith((".png", ".svg", ".pdf")):
            raise UsageError(f"--plot must end in .png, .svg or .pdf: {args.plot!r}")
    quiet = args.quiet or args.squiet is not None
    min_reachable = args.fast_reachable or args.reachable or 0
    # fping 5.1's order: -a, -u and -x silence the sweep's lines before -c and -l decide
    # whether each probe gets one; a loop without -Q always does, even with -q.
    verbose = not (quiet or args.alive or args.unreach or min_reachable)
    per_probe = (verbose if count is not None else report_every is None) if repeating else False
    timestamps = (args.timestamp_format or "") if args.timestamp else None
    size = 56 if args.size is None else args.size
    return Settings(count, args.vcount is not None, period, gap, timeout, args.retry,
                    args.backoff, report_every, cumulative, quiet, per_probe,
                    verbose and not repeating, args.alive and not repeating,
                    args.unreach and not repeating, min_reachable,
                    args.fast_reachable is not None, timestamps, max(size, MIN_SIZE))


def engine_keywords(args: argparse.Namespace, settings: Settings) -> EngineKeywords:
    return {"size": settings.size, "ttl": args.ttl, "tos": args.tos, "source": args.src,
            "interface": args.iface, "family": args.family or args.family6,
            "gap": settings.gap, "icmp_timestamp": args.icmp_timestamp}
