"""The command's arguments, fping's (5.5) letters, long names and meanings: the parser and
the settings checked from them (the targets are read in targets.py)."""

from __future__ import annotations

import math

from .._common import MAX_FWMARK, MAX_INTERVAL, MAX_SIZE, MAX_TIMEOUT, MIN_SIZE
from .._resolve import MIN_SECONDS, check_seconds
from .._typing_lite import TYPE_CHECKING, NamedTuple
from .._version import __version__

if TYPE_CHECKING:
    import argparse
    from argparse import Namespace
    from typing import Any

    from .._common import EngineKeywords

    _Option = tuple[tuple[str, ...], dict[str, Any]]  # argparse's add_argument's arguments
else:
    # What argparse's Namespace is, an object of attributes, without importing argparse.
    from types import SimpleNamespace as Namespace

VERSION_LINE = f"fastping: Version {__version__}"  # what fping -v prints, in its words
MAX_TIMEOUT_WITH_PERIOD = 2.0  # fping: with -c/-C/-l the timeout is the period, up to 2 s
MAX_RETRIES = 1000
MAX_COUNT = 2**31
TIMESTAMP_FORMATS = ("ctime", "iso", "rfc3339")

class UsageError(Exception):
    """A bad argument: one line on stderr, exit status 3."""


def _integer(text: str) -> int:
    """An integer in C's notations, as fping's -O reads it: decimal, 0x hex or 0 octal."""
    return int(text, 0)


def _flag(short: str | None, long: str | None, text: str | None) -> _Option:
    return tuple(name for name in (short, long) if name), {"action": "store_true", "help": text}


# Every option once, in --help's order, as argparse's add_argument takes it: parse() reads the
# usual command line from this table alone, and argparse (built from it) does the rest.
# help=None: accepted, and not in --help.
OPTIONS: tuple[_Option, ...] = (
    # probing
    (("-4", "--ipv4"), {"action": "store_const", "dest": "family", "const": 4,
                        "help": "IPv4 only"}),
    (("-6", "--ipv6"), {"action": "store_const", "dest": "family6", "const": 6,
                        "help": "IPv6 only"}),
    (("-b", "--size"), {"type": int, "metavar": "BYTES",
                        "help": f"ICMP payload bytes (default 56; at least {MIN_SIZE} are sent)"}),
    (("-B", "--backoff"), {"type": float, "default": 1.5, "metavar": "N",
                           "help": "timeout multiplier per retry (default 1.5)"}),
    (("-c", "--count"), {"type": int, "metavar": "N", "help": "send N probes to each target"}),
    (("-C", "--vcount"), {"type": int, "metavar": "N", "help": "as -c, and report every RTT"}),
    (("-f", "--file"), {"metavar": "FILE", "help": "read targets from FILE ('-': stdin)"}),
    _flag("-g", "--generate", "targets from a network (HOST is a CIDR) or a range (two HOSTs)"),
    (("-H", "--ttl"), {"type": int, "metavar": "N", "help": "IP time to live"}),
    (("-I", "--iface"), {"metavar": "IFACE", "help": "bind to this interface"}),
    _flag("-l", "--loop", "probe every target once per period until Ctrl-C"),
    _flag("-m", "--all", "probe every address of each name"),
    (("-O", "--tos"), {"type": _integer, "metavar": "N",
                       "help": "IP type of service (decimal or 0x hex)"}),
    (("-p", "--period"), {"type": float, "default": 1000.0, "metavar": "MSEC",
                          "help": "time between probes to one target (default 1000)"}),
    (("-r", "--retry"), {"type": int, "default": 3, "metavar": "N", "help": "retries (default 3)"}),
    (("-S", "--src"), {"metavar": "ADDR", "help": "source address"}),
    (("-t", "--timeout"), {"type": float, "metavar": "MSEC", "help": "initial timeout (default "
                           "500; with -l/-c/-C the period, up to 2000)"}),
    (("-i", "--interval"), {"type": float, "default": 0.0, "metavar": "MSEC", "help": "least "
                            "time between any two sends (default 0: as fast as is safe)"}),
    # output
    _flag("-a", "--alive", "show targets that are alive"),
    _flag("-A", "--addr", "show targets by address"),
    _flag("-d", "--rdns", "show targets by name (reverse DNS, always)"),
    _flag("-D", "--timestamp", "a timestamp before each per-probe line"),
    (("--timestamp-format",), {"choices": TIMESTAMP_FORMATS, "help": "-D's format"}),
    _flag("-e", "--elapsed", "show the RTT of alive targets"),
    _flag("-n", "--name", "show targets by name (reverse DNS of addresses)"),
    _flag("-N", "--netdata", "netdata's format (with -l and -Q)"),
    _flag("-o", "--outage", "show the outage time (lost probes times the period)"),
    _flag("-q", "--quiet", "no per-probe lines, only summaries"),
    (("-Q", "--squiet"), {"metavar": "SECS[,cumulative]", "help": "as -q, and a summary every "
                          "SECS seconds (since the start with ,cumulative)"}),
    _flag("-s", "--stats", "print final statistics"),
    _flag("-u", "--unreach", "show targets that are unreachable"),
    (("-v", "--version"), {"action": "version", "version": VERSION_LINE}),
    (("-x", "--reachable"), {"type": int, "metavar": "N",
                             "help": "exit 0 if at least N are alive"}),
    (("-X", "--fast-reachable"), {"type": int, "metavar": "N",
                                  "help": "as -x, and stop once N are alive"}),
    _flag("-J", None, "fping's JSON output (with -c, -C or -l)"),
    _flag(None, "--print-reply-dst", "show the address each reply was sent to"),
    (("--oiface",), {"metavar": "IFACE", "help": "send through IFACE, receiving from any "
                     "(where -I binds to it)"}),
    _flag(None, "--print-tos", "show each reply's TOS (IPv6: traffic class)"),
    _flag(None, "--print-ttl", "show each reply's TTL"),
    _flag(None, "--icmp-timestamp", "ICMP timestamp requests instead of echo, and their times "
          "(IPv4, raw sockets)"),
    _flag(None, "--check-source", "drop replies from other addresses (always done)"),
    (("--seqmap-timeout",), {"type": float, "metavar": "MSEC", "help": "accepted; the engine "
                             "never reuses a sequence number while it matters"}),
    (("-T",), {"type": float, "metavar": "N", "help": "ignored, as by fping"}),
    (("-k", "--fwmark"), {"type": int, "metavar": "FWMARK", "help": "set the routing mark "
                          "(SO_MARK, 1 to 4294967295; needs CAP_NET_ADMIN)"}),
    _flag("-R", "--random", "random bytes in each probe's payload (after fastping's 16-byte "
          "tag)"),
    _flag("-M", "--dontfrag", "set the Don't Fragment flag: a probe larger than the path MTU "
          "fails to send"),
    # fastping's own
    (("--table",), {"action": "store_true",
                    "help": "with -l on a terminal: a live table of targets, redrawn in place"}),
    (("--json",), {"action": "store_true",
                   "help": "fastping's JSON: one object per line on stdout (see the README)"}),
    (("--plot",), {"metavar": "FILE", "help": "with -c, -C or -l: draw a SmokePing-style chart "
                   "of the run (.png, .svg or .pdf; needs matplotlib)"}),
)


def _dest(names: tuple[str, ...], keywords: dict[str, Any]) -> str:
    """The attribute an option sets, named as argparse names it."""
    longs = [name for name in names if name.startswith("--")]
    return str(keywords.get("dest") or (longs or names)[0].lstrip("-").replace("-", "_"))


# What parse() needs of each option string: (dest, whether it takes a value, the value's type,
# the choices it must be one of, the value set without one); each dest's default. --help and
# --version are argparse's.
_TAKES: dict[str, tuple[str, bool, Any, Any, Any]] = {}
_DEFAULTS: dict[str, Any] = {}
for _names, _keywords in OPTIONS:
    _action = _keywords.get("action", "store")
    if _action == "version":
        continue
    _taken = (_dest(_names, _keywords), _action == "store", _keywords.get("type", str),
              _keywords.get("choices"), _keywords.get("const", True))
    _TAKES.update(dict.fromkeys(_names, _taken))
    _DEFAULTS[_taken[0]] = _keywords.get("default", False if _action == "store_true" else None)

def parser() -> argparse.ArgumentParser:
    import argparse

    from .._usage import UsageParser

    parser = UsageParser(
        prog="fastping",
        description="Ping many hosts at once, with fping's options and output. Times are in "
        "milliseconds. Also: 'fastping exporter --help' (Prometheus exporter), "
        "'fastping plot --help' (latency charts).",
        epilog="Targets: HOSTs, else -f FILE, else standard input; -g makes them from a "
        "network or a range. Exit status: 0 all alive, 1 some unreachable, 2 some unknown "
        "host, 3 bad arguments, 4 system error; with -x/-X, 0 or 1 as enough are alive.",
    )
    parser.add_argument("targets", nargs="*", metavar="HOST", help="host names or IP addresses")
    for names, keywords in OPTIONS:
        if "help" in keywords and keywords["help"] is None:
            keywords = {**keywords, "help": argparse.SUPPRESS}
        parser.add_argument(*names, **keywords)
    return parser


def parse(argv: list[str]) -> Namespace:
    """The arguments, as argparse's parser() reads them, options anywhere among the targets
    (its parse_intermixed_args). Exits 3 with argparse's message for a bad one."""
    usual = _parse_usual(argv)
    return usual if usual is not None else Namespace(**vars(parser().parse_intermixed_args(argv)))


def _parse_usual(argv: list[str]) -> Namespace | None:
    """The usual command line without argparse (its import and the building of its parser
    were a third of a 1,000-target -C1 -q's instructions): options spelt in full, each alone
    or with its value attached (-C1, --count=1) or next (-c 1), values that do not begin with
    '-', and targets. None for anything else (help, version, abbreviations, clusters of flags,
    '--', bad values), which argparse parses, or refuses in its words."""
    values = dict(_DEFAULTS)
    targets = []
    tokens = iter(argv)
    for token in tokens:
        if not token.startswith("-"):
            targets.append(token)
            continue
        if token.startswith("--"):
            name, equals, attached = token.partition("=")
        else:
            name, attached = token[:2], token[2:]
            equals = "=" if attached else ""
        taken = _TAKES.get(name)
        if taken is None:
            return None
        dest, takes_value, convert, choices, const = taken
        if not takes_value:
            if equals:
                return None
            values[dest] = const
            continue
        value = attached if equals else next(tokens, "-")
        if not value or value.startswith("-"):
            return None
        if choices is not None and value not in choices:
            return None
        try:
            values[dest] = convert(value)
        except ValueError:
            return None
    return Namespace(targets=targets, **values)


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
    if args.oiface is not None and args.iface is not None:
        raise UsageError("specify only --oiface or -I, --iface")
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
                                 ("-X", args.fast_reachable, MAX_COUNT),
                                 ("-k", args.fwmark, MAX_FWMARK)):
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
            "gap": settings.gap, "icmp_timestamp": args.icmp_timestamp,
            "dont_fragment": args.dontfrag, "fwmark": args.fwmark,
            "random_payload": args.random, "receive_tos": args.print_tos,
            "receive_destination": args.print_reply_dst, "out_interface": args.oiface}
