"""The fastping command: ping hosts from arguments, CIDR ranges or files; print per-host results.

Exit status, as fping's: 0 every host answered, 1 some host did not, 2 some
host name could not be resolved, 3 bad arguments, 4 a system error (e.g. no
permission to open an ICMP socket).
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import socket
import sys
import time
from collections.abc import Iterator, Sequence
from typing import NoReturn, TextIO

from ._common import MAX_INTERVAL, MAX_SIZE, MAX_TIMEOUT, MIN_SIZE
from ._resolve import check_int, check_seconds
from ._results import HostStats
from .pinger import Pinger, _Tally

EXIT_ALIVE, EXIT_UNREACHABLE, EXIT_UNKNOWN, EXIT_USAGE, EXIT_SYSTEM = 0, 1, 2, 3, 4
EXIT_INTERRUPTED = 130
MAX_GENERATED = 1 << 20


class UsageError(Exception):
    """A bad argument: one line on stderr, exit status 3."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: {message}\n")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="fastping",
        description="Ping many hosts at once. Times are in milliseconds, as in fping.",
        epilog="Exit status: 0 all alive, 1 some unreachable, 2 some unknown host, "
        "3 bad arguments, 4 system error.",
    )
    parser.add_argument("targets", nargs="*", metavar="HOST", help="host names or IP addresses")
    parser.add_argument("-c", "--count", type=int, default=1, help="probes per host (default 1)")
    parser.add_argument("-p", "--period", type=float, default=1000.0, metavar="MS",
                        help="time between rounds, in ms (default 1000)")
    parser.add_argument("-t", "--timeout", type=float, default=1000.0, metavar="MS",
                        help="how long to wait for each reply, in ms (default 1000)")
    parser.add_argument("-b", "--size", type=int, default=56, metavar="BYTES",
                        help=f"ICMP payload size ({MIN_SIZE} to {MAX_SIZE}, default 56)")
    parser.add_argument("-H", "--ttl", type=int, metavar="TTL", help="IP time to live")
    parser.add_argument("-O", "--tos", type=int, metavar="TOS", help="IP type of service")
    parser.add_argument("-S", "--source", metavar="ADDR", help="source address")
    parser.add_argument("-I", "--iface", metavar="IFACE", help="bind to this interface")
    family = parser.add_mutually_exclusive_group()
    family.add_argument("-4", "--ipv4", action="store_const", dest="family", const=4,
                        help="IPv4 only")
    family.add_argument("-6", "--ipv6", action="store_const", dest="family", const=6,
                        help="IPv6 only")
    parser.add_argument("-g", "--generate", action="append", default=[], metavar="CIDR",
                        help="ping every host address of a network, e.g. 127.0.1.0/22")
    parser.add_argument("-f", "--file", metavar="FILE",
                        help="read targets from FILE, one per line ('-' for stdin)")
    parser.add_argument("-q", "--quiet", action="store_true", help="print the summary only")
    parser.add_argument("--json", action="store_true",
                        help="one JSON object per line: one per host, then a summary")
    return parser


def _generate(cidr: str) -> Iterator[str]:
    """Host addresses of a network; like fping, IPv4 networks skip network and broadcast."""
    try:
        network = ipaddress.ip_network(cidr, strict=False)
    except ValueError:
        raise UsageError(f"-g: not a network in CIDR notation: {cidr!r}") from None
    if network.num_addresses > MAX_GENERATED:
        raise UsageError(f"-g: {cidr} has {network.num_addresses} addresses, "
                         f"more than the {MAX_GENERATED} allowed")
    addresses = network.hosts() if network.num_addresses > 2 else iter(network)
    return (str(address) for address in addresses)


def _read_targets(path: str, stdin: TextIO) -> list[str]:
    try:
        if path == "-":
            lines = stdin.read().splitlines()
        else:
            with open(path, encoding="utf-8") as file:
                lines = file.read().splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise UsageError(f"-f: cannot read {path!r}: {getattr(error, 'strerror', None) or error}"
                         ) from None
    targets = []
    for line in lines:
        text = line.split("#", 1)[0].strip()
        if text:
            targets.append(text)
    return targets


def _targets(args: argparse.Namespace, stdin: TextIO) -> list[str]:
    targets = list(args.targets)
    for cidr in args.generate:
        targets.extend(_generate(cidr))
    if args.file is not None:
        targets.extend(_read_targets(args.file, stdin))
    if not targets:
        raise UsageError("no targets: give hosts, -g CIDR or -f FILE")
    return list(dict.fromkeys(targets))


def _milliseconds_option(flag: str, milliseconds: float, *, maximum: float,
                         allow_zero: bool) -> float:
    """A duration given in ms, checked and returned in seconds; errors speak in ms."""
    try:
        return check_seconds(flag, milliseconds / 1000, maximum=maximum, allow_zero=allow_zero)
    except ValueError:
        bound = ">= 0" if allow_zero else "> 0"
        raise UsageError(f"{flag} must be {bound} and at most {maximum * 1000:g} ms, "
                         f"not {milliseconds:g}") from None


def _ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1000:.3f}"


def _host_line(stats: HostStats, count: int) -> str:
    if stats.error is not None:
        return f"{stats.host}: {stats.error}"
    if count == 1:
        if stats.alive:
            return f"{stats.host} is alive ({_ms(stats.min)} ms)"
        return f"{stats.host} is unreachable"
    loss = round(stats.loss * 100)
    line = f"{stats.host} : xmt/rcv/%loss = {stats.sent}/{stats.received}/{loss}%"
    if stats.alive:
        line += (f", min/avg/max/stddev = {_ms(stats.min)}/{_ms(stats.avg)}/"
                 f"{_ms(stats.max)}/{_ms(stats.stddev)} ms")
    if stats.duplicates:
        line += f" ({stats.duplicates} duplicates)"
    return line


def _host_json(stats: HostStats) -> dict[str, object]:
    return {
        "type": "host", "host": stats.host, "address": stats.address, "sent": stats.sent,
        "received": stats.received, "duplicates": stats.duplicates, "errors": stats.errors,
        "loss": stats.loss, "min_ms": _json_ms(stats.min), "avg_ms": _json_ms(stats.avg),
        "max_ms": _json_ms(stats.max), "stddev_ms": _json_ms(stats.stddev),
        "rtts_ms": [_json_ms(rtt) for rtt in stats.rtts], "error": stats.error,
    }


def _json_ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 6)


def _summary(all_stats: list[HostStats], elapsed: float) -> dict[str, object]:
    known = [s for s in all_stats if s.error is None]
    sent = sum(s.sent for s in known)
    received = sum(s.received for s in known)
    rtts = [rtt for s in known for rtt in s.rtts]
    return {
        "type": "summary", "hosts": len(all_stats), "alive": sum(s.alive for s in known),
        "unreachable": sum(not s.alive for s in known), "unknown": len(all_stats) - len(known),
        "sent": sent, "received": received, "loss": 1 - received / sent if sent else 0.0,
        "min_ms": _json_ms(min(rtts)) if rtts else None,
        "avg_ms": _json_ms(sum(rtts) / len(rtts)) if rtts else None,
        "max_ms": _json_ms(max(rtts)) if rtts else None, "elapsed_s": round(elapsed, 6),
    }


def _summary_line(summary: dict[str, object]) -> str:
    hosts = summary["hosts"]
    line = (f"{hosts} host{'' if hosts == 1 else 's'}: {summary['alive']} alive, "
            f"{summary['unreachable']} unreachable, {summary['unknown']} unknown; "
            f"{summary['sent']} sent, {summary['received']} received, "
            f"{float(summary['loss']) * 100:.1f}% loss")  # type: ignore[arg-type]
    if summary["min_ms"] is not None:
        line += (f"; rtt min/avg/max = {summary['min_ms']:.3f}/{summary['avg_ms']:.3f}/"
                 f"{summary['max_ms']:.3f} ms")
    return line + f"; {summary['elapsed_s']:.3f} s"


def run(argv: Sequence[str] | None = None, stdout: TextIO = sys.stdout,
        stderr: TextIO = sys.stderr, stdin: TextIO = sys.stdin) -> int:
    """The command, as a function: returns the exit status."""
    args = _parser().parse_args(argv)
    started = time.monotonic()
    try:
        check_int("-c", args.count, minimum=1, maximum=2**31)
        period = _milliseconds_option("-p/--period", args.period, maximum=MAX_INTERVAL,
                                      allow_zero=True)
        timeout = _milliseconds_option("-t/--timeout", args.timeout, maximum=MAX_TIMEOUT,
                                       allow_zero=False)
        targets = _targets(args, stdin)
        pinger = Pinger(timeout=timeout, size=args.size, ttl=args.ttl, tos=args.tos,
                        source=args.source, interface=args.iface, family=args.family)
    except (UsageError, ValueError, TypeError) as error:
        print(f"fastping: {error}", file=stderr)
        return EXIT_USAGE
    except OSError as error:
        print(f"fastping: {error.strerror or error}", file=stderr)
        return EXIT_SYSTEM
    unknown: dict[str, str] = {}
    tally = _Tally()
    interrupted = False
    with pinger:
        try:
            for target in targets:
                try:
                    pinger.add(target)
                except (ValueError, socket.gaierror) as error:
                    unknown[target] = str(error)
            if pinger.hosts:
                for results in pinger.run(count=args.count, interval=period):
                    tally.add_round(results)
        except KeyboardInterrupt:
            interrupted = True
        except OSError as error:
            print(f"fastping: {error.strerror or error}", file=stderr)
            return EXIT_SYSTEM
        duplicates = pinger.duplicates
    all_stats = [HostStats(t, None, error=unknown[t]) if t in unknown
                 else tally.stats(t, duplicates.get(t, 0)) for t in targets]
    summary = _summary(all_stats, time.monotonic() - started)
    for stats in all_stats:
        if args.json:
            print(json.dumps(_host_json(stats)), file=stdout)
        elif not args.quiet:
            print(_host_line(stats, args.count), file=stdout)
    print(json.dumps(summary) if args.json else _summary_line(summary), file=stdout)
    if interrupted:
        return EXIT_INTERRUPTED
    if unknown:
        return EXIT_UNKNOWN
    return EXIT_UNREACHABLE if summary["unreachable"] else EXIT_ALIVE


def main() -> NoReturn:
    sys.exit(run())
