"""``fastping exporter``: the command's arguments, its logging, and serving until a signal."""

from __future__ import annotations

import argparse
import logging
import re
import signal
import sys
from collections.abc import Sequence
from types import FrameType
from typing import Any

from .._common import EXIT_SYSTEM, EXIT_USAGE, UsageParser
from .config import DEFAULT_LISTEN, ConfigError, host_name, parse_duration
from .service import Exporter

EXIT_OK = 0

log = logging.getLogger(__package__)


def _parser() -> argparse.ArgumentParser:
    parser = UsageParser(
        prog="fastping exporter",
        description="A Prometheus exporter: ping targets continuously and serve /metrics "
        "(smokeping_prober's metrics and fastping's own) and /probe?target=HOST. "
        "SIGHUP re-reads the config; hosts kept keep their history.")
    parser.add_argument("targets", nargs="*", metavar="TARGET", help="hosts to ping")
    parser.add_argument("--config", metavar="FILE",
                        help="YAML file of targets (re-read on SIGHUP)")
    parser.add_argument("--listen", default=DEFAULT_LISTEN, metavar="HOST:PORT",
                        help=f"address to serve on (default {DEFAULT_LISTEN})")
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
    parser.add_argument("--log-level", default="info",
                        choices=("debug", "info", "warning", "error"))
    return parser


def _options(args: argparse.Namespace) -> dict[str, Any]:
    options: dict[str, Any] = {
        "targets": [host_name(t, "target") for t in args.targets], "config": args.config,
        "listen": args.listen, "period": parse_duration(args.period, "--period"),
        "timeout": None if args.timeout is None else parse_duration(args.timeout, "--timeout"),
        "down_after": args.down_after, "up_after": args.up_after, "window": args.window,
        "web_config": args.web_config, "allowed_targets": args.allowed_targets,
        "probe_max_timeout": parse_duration(args.probe_max_timeout, "--probe.max-timeout"),
    }
    if args.buckets is not None:
        try:
            options["buckets"] = tuple(float(b) for b in args.buckets.split(",") if b.strip())
        except ValueError:
            raise ConfigError(f"--buckets: not a list of numbers: {args.buckets!r}") from None
    if args.shard is not None:
        match = re.fullmatch(r"(\d+)/(\d+)", args.shard.strip())
        if match is None:
            raise ConfigError(f"--shard: expected K/N, e.g. 0/4, not {args.shard!r}")
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
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    saved = log.level, log.propagate
    log.addHandler(handler)
    log.setLevel(args.log_level.upper())
    log.propagate = False
    try:
        return _serve(args)
    finally:
        log.removeHandler(handler)
        log.setLevel(saved[0])
        log.propagate = saved[1]


def _serve(args: argparse.Namespace) -> int:
    try:
        exporter = Exporter(**_options(args))
        exporter.start()
    except (ConfigError, ValueError, TypeError) as error:
        print(f"fastping exporter: {error}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as error:
        print(f"fastping exporter: {error.strerror or error}", file=sys.stderr)
        return EXIT_SYSTEM

    def on_reload(signum: int, frame: FrameType | None) -> None:
        exporter.request_reload()  # only a SimpleQueue.put: safe in a signal handler

    def on_stop(signum: int, frame: FrameType | None) -> None:
        exporter.request_stop()

    previous = {signum: signal.signal(signum, handler) for signum, handler in (
        (signal.SIGHUP, on_reload), (signal.SIGTERM, on_stop), (signal.SIGINT, on_stop))}
    try:
        log.info("listening on %s/metrics", exporter.url)
        while not exporter.wait(1.0):
            pass
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        exporter.close()
    log.info("stopped")
    return EXIT_OK
