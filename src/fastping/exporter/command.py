"""``fastping exporter``: the command's arguments, its logging, and serving until a signal."""

from __future__ import annotations

import argparse
import logging
import re
import signal
import sys
import threading
from collections.abc import Sequence
from types import FrameType
from typing import Any

from .._common import EXIT_SYSTEM, EXIT_USAGE, UsageParser
from .collector import SMOKEPING_VERSIONS
from .config import (
    DEFAULT_LISTEN,
    ConfigError,
    Target,
    check_size,
    check_tos,
    excerpt,
    host_name,
    parse_duration,
)
from .logformat import LOG_FORMATS, LOG_LEVELS, PromlogFormatter
from .service import Exporter

EXIT_OK = 0
# How long a stop waits for the exporter to close before it leaves: a stop must take at most
# 5 s from any state, and the main thread looks for a signal 5 times a second.
_CLOSE_WAIT = 2.0

log = logging.getLogger(__package__)


def _parser() -> argparse.ArgumentParser:
    parser = UsageParser(
        prog="fastping exporter",
        description="A Prometheus exporter: ping targets continuously and serve /metrics "
        "(smokeping_prober's metrics and fastping's own) and /probe?target=HOST. "
        "SIGHUP re-reads the config; hosts kept keep their history. smokeping_prober's "
        "flags are accepted with its meanings.")
    parser.add_argument("targets", nargs="*", metavar="HOST",
                        help="hosts to ping (with -i, -s, -O if given)")
    parser.add_argument("--config", "--config.file", metavar="FILE",
                        help="YAML file of targets, fastping's or smokeping_prober's "
                        "(re-read on SIGHUP)")
    parser.add_argument("--listen", "--web.listen-address", action="append", metavar="HOST:PORT",
                        help=f"address to serve on, repeatable for several (default "
                        f"{DEFAULT_LISTEN})")
    parser.add_argument("--web.telemetry-path", dest="telemetry_path", default="/metrics",
                        metavar="PATH", help="path of the metrics (default /metrics)")
    parser.add_argument("--period", default="1", metavar="S",
                        help="seconds between probes of a host, unless its target says "
                        "(default 1)")
    parser.add_argument("--timeout", metavar="S",
                        help="seconds to wait for a reply (default: the period, at most 1)")
    parser.add_argument("--buckets", metavar="LIST",
                        help="comma-separated histogram bucket bounds in seconds "
                        "(default smokeping_prober's: 5e-05 doubling to 26.2144)")
    parser.add_argument("--down-after", type=int, default=3, metavar="N",
                        help="consecutive losses that make a host down (default 3)")
    parser.add_argument("--up-after", type=int, default=1, metavar="N",
                        help="consecutive replies that make a host up (default 1)")
    parser.add_argument("--window", type=int, default=32, metavar="N",
                        help="probes the rolling statistics cover (default 32)")
    parser.add_argument("--shard", metavar="K/N",
                        help="ping only targets whose Prometheus hashmod(host, N) is K")
    parser.add_argument("--web.config.file", dest="web_config", metavar="FILE",
                        help="exporter-toolkit web configuration: TLS and basic auth")
    parser.add_argument("--probe.max-timeout", dest="probe_max_timeout", default="60s",
                        metavar="S", help="the longest a /probe may take (default 60s)")
    parser.add_argument("--probe.allowed-targets", dest="allowed_targets", metavar="LIST",
                        help="networks and host names /probe may ping, comma-separated "
                        "(default: any)")
    parser.add_argument("--smokeping-version", choices=SMOKEPING_VERSIONS, default="0.11",
                        help="the smokeping_prober whose metrics to show: 0.11 (labels ip, "
                        "host, source, tos and custom ones; send and receive errors) or 0.6 "
                        "(Debian 12's: labels ip, host) (default 0.11)")
    parser.add_argument("--no-fastping-metrics", dest="fastping_metrics",
                        action="store_false",
                        help="leave out fastping_*, process_* and python_* (lean scrapes)")
    parser.add_argument("--log-level", "--log.level", default="info",
                        choices=(*LOG_LEVELS, "warning"),
                        help="the least severe log lines written (default info)")
    parser.add_argument("--log.format", dest="log_format", default="logfmt",
                        choices=LOG_FORMATS, help="log lines as smokeping_prober's and "
                        "blackbox_exporter's: logfmt (default) or json")
    smokeping = parser.add_argument_group(
        "smokeping_prober's flags", "for the hosts given as arguments, as smokeping_prober")
    smokeping.add_argument("-i", "--ping.interval", dest="ping_interval", metavar="DURATION",
                           help="their period (e.g. 1s, 500ms; default --period)")
    smokeping.add_argument("-s", "--ping.size", dest="ping_size", type=int, metavar="BYTES",
                           help="their ICMP payload size (default 56)")
    smokeping.add_argument("-O", "--ping.tos", dest="ping_tos", metavar="TOS",
                           help="their IP TOS / traffic class, e.g. 0x10 (default the system's)")
    parser.add_argument("--privileged", action=argparse.BooleanOptionalAction, default=None,
                        help="raw ICMP sockets only (--no-privileged: datagram ones only; "
                        "default: raw where permitted, else datagram)")
    return parser


def _command_line_targets(args: argparse.Namespace) -> list[Target]:
    period = (None if args.ping_interval is None else
              parse_duration(args.ping_interval, "--ping.interval"))
    size = None if args.ping_size is None else check_size(args.ping_size, "--ping.size")
    tos = None
    if args.ping_tos is not None:
        try:
            tos = check_tos(int(args.ping_tos, 0), "--ping.tos")
        except ValueError as error:
            raise ConfigError(f"--ping.tos: {error}") from None
    return [Target(host_name(host, "target"), period=period, size=size, tos=tos)
            for host in args.targets]


def _options(args: argparse.Namespace) -> dict[str, Any]:
    options: dict[str, Any] = {
        "targets": _command_line_targets(args), "config": args.config,
        "listen": args.listen or [DEFAULT_LISTEN], "telemetry_path": args.telemetry_path,
        "period": parse_duration(args.period, "--period"),
        "timeout": None if args.timeout is None else parse_duration(args.timeout, "--timeout"),
        "down_after": args.down_after, "up_after": args.up_after, "window": args.window,
        "privileged": args.privileged, "smokeping_version": args.smokeping_version,
        "fastping_metrics": args.fastping_metrics,
        "web_config": args.web_config, "allowed_targets": args.allowed_targets,
        "probe_max_timeout": parse_duration(args.probe_max_timeout, "--probe.max-timeout"),
    }
    if args.buckets is not None:
        try:
            options["buckets"] = tuple(float(b) for b in args.buckets.split(",") if b.strip())
        except ValueError:
            raise ConfigError(f"--buckets: not a list of numbers: {excerpt(args.buckets)}"
                              ) from None
    if args.shard is not None:
        match = re.fullmatch(r"(\d+)/(\d+)", args.shard.strip())
        if match is None:
            raise ConfigError(f"--shard: expected K/N, e.g. 0/4, not {excerpt(args.shard)}")
        options["shard"] = (int(match.group(1)), int(match.group(2)))
    if not options["targets"] and options["config"] is None:
        raise ConfigError("no targets: give --config FILE or hosts")
    return options


def main(argv: Sequence[str] | None = None) -> int:
    """``fastping exporter``: serve until SIGTERM or SIGINT; returns the exit status.

    0 when stopped, 3 for bad arguments or a bad config, 4 for a system error
    (no permission for ICMP sockets, the address in use).
    """
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exit:
        return exit.code if isinstance(exit.code, int) else EXIT_USAGE
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(PromlogFormatter(json_lines=args.log_format == "json"))
    saved = log.level, log.propagate
    log.addHandler(handler)
    log.setLevel(LOG_LEVELS.get(args.log_level, logging.WARNING))
    log.propagate = False
    try:
        return _serve(args)
    finally:
        log.removeHandler(handler)
        log.setLevel(saved[0])
        log.propagate = saved[1]


def _serve(args: argparse.Namespace) -> int:
    """Starts the exporter and serves until SIGTERM or SIGINT, which stop it from any state:
    during start-up they abandon it (start() closes what it opened), after it they only set
    a flag the main thread looks at five times a second, so that no lock is ever taken in a
    signal handler and no reload under way can hold the stop up."""
    stopping: list[int] = []
    made: Exporter | None = None
    serving = False

    def on_signal(signum: int, frame: FrameType | None) -> None:
        if signum == signal.SIGHUP:
            # Before it serves, the start is reading the file anyway.
            if serving and made is not None:
                made.request_reload()  # only a SimpleQueue.put: safe in a signal handler
        elif not serving:
            raise KeyboardInterrupt
        else:
            stopping.append(signum)

    previous = {signum: signal.signal(signum, on_signal)
                for signum in (signal.SIGHUP, signal.SIGTERM, signal.SIGINT)}
    try:
        try:
            made = Exporter(**_options(args))
            made.start()
            serving = True
        except (ConfigError, ValueError, TypeError) as error:
            print(f"fastping exporter: {error}", file=sys.stderr)
            return EXIT_USAGE
        except OSError as error:
            print(f"fastping exporter: {error.strerror or error}", file=sys.stderr)
            return EXIT_SYSTEM
        except KeyboardInterrupt:
            log.info("stopped while starting")
            return EXIT_OK
        for url in made.urls:
            log.info("listening on %s%s", url, args.telemetry_path,
                     extra={"fields": {"address": url.split("://", 1)[1]}})
        while not stopping and not made.wait(0.2):
            pass
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        if made is not None:
            _close_within(made, _CLOSE_WAIT)
    log.info("stopped")
    return EXIT_OK


def _close_within(exporter: Exporter, seconds: float) -> None:
    """Closes the exporter, waiting for it at most seconds. Scrapes of many hosts under way
    can keep the engines' loops busy for longer (100,000 hosts, three scrapes: 9 s), and the
    process is ending: what is left open goes with it."""
    closer = threading.Thread(target=exporter.close, name="fastping-exporter-close",
                              daemon=True)
    closer.start()
    closer.join(seconds)
    if closer.is_alive():
        log.warning("stopping without waiting for the engines (still busy after %g s)",
                    seconds)
