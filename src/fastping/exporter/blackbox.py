"""The exporter's /probe?target=HOST: pings on demand, as blackbox_exporter's icmp module."""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING
from urllib.parse import parse_qs

from prometheus_client import generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector

from .._common import MAX_TIMEOUT
from .._resolve import resolve
from .._results import Result
from ..pinger import Pinger
from .config import ConfigError, parse_duration
from .http import Environ, StartResponse

if TYPE_CHECKING:
    from ..monitor import Monitor

MAX_PROBE_COUNT = 100

log = logging.getLogger(__package__)


class _Families(Collector):
    """One probe's metric families, in the form generate_latest() reads."""

    def __init__(self, families: list[Metric]) -> None:
        self._families = families

    def collect(self) -> Iterable[Metric]:
        return self._families


def probe(target: str, *, count: int = 1, timeout: float = 1.0,
          privileged: bool | None = None, monitor: Monitor | None = None) -> list[Metric]:
    """Ping target count times, back to back, as blackbox_exporter's icmp module does: on
    the running monitor's engine if one is given (the exporter's), else on one of its own.

    Returns its metric families: probe_success, probe_duration_seconds and
    the rest. A target that cannot be resolved is a failed probe, not an error.
    """
    started = time.monotonic()
    families: list[Metric] = []
    phases = GaugeMetricFamily("probe_icmp_duration_seconds",
                               "Duration of the ICMP probe by phase.", labels=("phase",))
    sent = received = 0
    rtts: list[float] = []
    last_ttl: int | None = None
    protocol = 0
    resolved_in = 0.0
    try:
        phases.add_metric(["setup"], time.monotonic() - started)
        before = time.monotonic()
        address = resolve(target)  # (once: both ways below are given the address)
        resolved_in = time.monotonic() - before
        protocol = 6 if address.family == socket.AF_INET6 else 4
        for result in _results(address.text, count, timeout, privileged, monitor):
            sent += 1
            if result.ok and result.rtt is not None:
                received += 1
                rtts.append(result.rtt)
                last_ttl = result.ttl
    except (ValueError, TypeError, socket.gaierror) as error:
        log.debug("probe of %r failed: %s", target, error)
    phases.add_metric(["resolve"], resolved_in)
    phases.add_metric(["rtt"], sum(rtts) / len(rtts) if rtts else 0.0)
    families.append(GaugeMetricFamily("probe_success", "Displays whether or not the probe was "
                                      "a success", value=1.0 if received else 0.0))
    families.append(GaugeMetricFamily("probe_duration_seconds", "Returns how long the probe "
                                      "took to complete in seconds",
                                      value=time.monotonic() - started))
    families.append(GaugeMetricFamily("probe_dns_lookup_time_seconds", "Returns the time taken "
                                      "for probe dns lookup in seconds", value=resolved_in))
    families.append(GaugeMetricFamily("probe_ip_protocol", "Specifies whether probe ip protocol "
                                      "is IP4 or IP6", value=protocol))
    families.append(phases)
    if last_ttl is not None:
        families.append(GaugeMetricFamily("probe_icmp_reply_hop_limit", "Replied packet hop "
                                          "limit (TTL for ipv4)", value=last_ttl))
    families.append(GaugeMetricFamily("probe_icmp_requests", "Echo requests sent.", value=sent))
    families.append(GaugeMetricFamily("probe_icmp_replies", "Echo replies received.",
                                      value=received))
    return families


def _results(address: str, count: int, timeout: float, privileged: bool | None,
             monitor: Monitor | None) -> list[Result]:
    if monitor is not None:
        return monitor.probe(address, count=count, timeout=timeout)
    with Pinger([address], timeout=timeout, privileged=privileged) as pinger:
        return [result for results in pinger.run(count=count, interval=0.0)
                for result in results.values()]


def respond(environ: Environ, start_response: StartResponse, *, default_timeout: float,
            privileged: bool | None, slots: threading.BoundedSemaphore,
            monitor: Monitor | None = None) -> Iterable[bytes]:
    """Answers a /probe request; at most as many probes at once as slots allows."""
    query = parse_qs(environ.get("QUERY_STRING", ""))

    def bad(message: str) -> list[bytes]:
        start_response("400 Bad Request", [("Content-Type", "text/plain; charset=utf-8")])
        return [message.encode() + b"\n"]

    targets = query.get("target", [])
    if len(targets) != 1 or not targets[0].strip():
        return bad("give one target: /probe?target=HOST")
    try:
        count = int(query.get("count", ["1"])[-1])
        if not 1 <= count <= MAX_PROBE_COUNT:
            raise ValueError
    except ValueError:
        return bad(f"count must be an integer from 1 to {MAX_PROBE_COUNT}")
    try:
        timeout = parse_duration(query.get("timeout", [str(default_timeout)])[-1], "timeout")
    except ConfigError as error:
        return bad(str(error))
    # Leave Prometheus time to receive the answer before its own scrape timeout.
    scrape_timeout = environ.get("HTTP_X_PROMETHEUS_SCRAPE_TIMEOUT_SECONDS")
    if scrape_timeout:
        with contextlib.suppress(ValueError):
            timeout = min(timeout, max(0.001, (float(scrape_timeout) - 0.5) / count))
    timeout = min(timeout, MAX_TIMEOUT)
    if not slots.acquire(timeout=timeout * count + 5):
        start_response("503 Service Unavailable", [("Content-Type", "text/plain")])
        return [b"too many probes at once\n"]
    try:
        families = probe(targets[0].strip(), count=count, timeout=timeout,
                         privileged=privileged, monitor=monitor)
    finally:
        slots.release()
    body = generate_latest(_Families(families))
    start_response("200 OK", [("Content-Type", CONTENT_TYPE_LATEST)])
    return [body]
