"""A Prometheus exporter: fastping Monitors behind a collector that reads them at scrape time.

    fastping exporter --config targets.yaml --listen 127.0.0.1:9374 [HOST ...]

Every target is pinged continuously by a Monitor (one per distinct period and
timeout); a scrape of ``/metrics`` reads every host's live state from the
engine, so the cost of a scrape is per host, never per probe. Metric names,
labels (``ip``, ``host``, ``source``) and the default histogram buckets are
smokeping_prober's, so its dashboards and rules work unchanged; fastping's own
health and rolling statistics come as ``fastping_*``. ``/probe?target=HOST``
pings once, as blackbox_exporter's icmp module does. SIGHUP re-reads the
configuration on a thread of its own: hosts that stay keep their state and
counters, new ones are added, gone ones removed.

The response-time histogram is kept per host by the engine, in C, as bucket
counts that never reset: a scrape copies them, no probe costs Python.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import logging
import math
import queue
import re
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from types import FrameType
from typing import Any, cast
from urllib.parse import parse_qs
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

try:
    from prometheus_client import CollectorRegistry, generate_latest, make_wsgi_app
    from prometheus_client.core import (
        CounterMetricFamily,
        GaugeMetricFamily,
        HistogramMetricFamily,
        Metric,
    )
    from prometheus_client.exposition import CONTENT_TYPE_LATEST
    from prometheus_client.gc_collector import GCCollector
    from prometheus_client.platform_collector import PlatformCollector
    from prometheus_client.process_collector import ProcessCollector
    from prometheus_client.registry import Collector
except ImportError as error:  # pragma: no cover - depends on the environment
    raise ImportError("fastping's exporter needs prometheus-client: "
                      "pip install 'fastping[exporter]'") from error

from ._common import EXIT_SYSTEM, EXIT_USAGE, MAX_INTERVAL, MAX_TIMEOUT, UsageParser
from ._resolve import check_seconds
from ._results import Health
from .monitor import Monitor, MonitorEvent
from .pinger import Pinger

__all__ = [
    "DEFAULT_BUCKETS",
    "ConfigError",
    "Exporter",
    "Target",
    "hashmod",
    "load_config",
    "main",
    "parse_duration",
]

log = logging.getLogger("fastping.exporter")

# smokeping_prober's default buckets: 50 µs doubling up to 26.2144 s.
DEFAULT_BUCKETS: tuple[float, ...] = tuple(round(5e-05 * 2**n, 10) for n in range(20))
DEFAULT_LISTEN = "127.0.0.1:9374"
LABELS = ("ip", "host", "source")
QUANTILES = (("0.5", "p50"), ("0.9", "p90"), ("0.99", "p99"))
MAX_PROBE_COUNT = 100
EXIT_OK = 0

# (bucket upper bounds, cumulative counts for each bound, sum of RTTs in seconds, count)
Histogram = tuple[tuple[float, ...], tuple[int, ...], float, int]


class ConfigError(ValueError):
    """A configuration that cannot be used; the message says where and why."""


# ---- configuration -------------------------------------------------------------

_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(value: object, what: str = "duration") -> float:
    """Seconds from a number (seconds) or a Go-style duration string ("500ms", "1m30s")."""
    if isinstance(value, bool):
        raise ConfigError(f"{what}: not a duration: {value!r}")
    if isinstance(value, (int, float)):
        seconds = float(value)
    elif isinstance(value, str):
        text = value.strip()
        try:
            seconds = float(text)
        except ValueError:
            position, seconds = 0, 0.0
            for match in _DURATION_PART.finditer(text):
                if match.start() != position:
                    break
                seconds += float(match.group(1)) * _UNITS[match.group(2)]
                position = match.end()
            if position != len(text) or not text:
                raise ConfigError(f"{what}: not a duration: {value!r} "
                                  "(seconds, or e.g. 500ms, 1s, 1m30s)") from None
    else:
        raise ConfigError(f"{what}: not a duration: {value!r}")
    if not math.isfinite(seconds) or seconds <= 0:
        raise ConfigError(f"{what}: must be more than zero, not {value!r}")
    return seconds


@dataclass(frozen=True, slots=True)
class Target:
    """One host to ping continuously; period and timeout are the defaults when None."""

    host: str
    period: float | None = None
    timeout: float | None = None


_TARGET_KEYS = {"host", "hosts", "period", "interval", "timeout"}
_TOP_KEYS = {"targets", "period", "interval", "timeout"}


def _period_of(entry: dict[str, Any], where: str) -> float | None:
    if "period" in entry and "interval" in entry:
        raise ConfigError(f"{where}: give period or interval (its alias), not both")
    value = entry.get("period", entry.get("interval"))
    return None if value is None else parse_duration(value, f"{where}: period")


def _timeout_of(entry: dict[str, Any], where: str) -> float | None:
    value = entry.get("timeout")
    return None if value is None else parse_duration(value, f"{where}: timeout")


def _host_name(value: object, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{where}: a host must be a non-empty string, not {value!r}")
    return value.strip()


def parse_config(document: object, source: str = "config") -> list[Target]:
    """Targets from a loaded YAML document.

    The document is a list of targets, or a mapping with ``targets`` and
    optional defaults ``period`` and ``timeout``. A target is a host string or
    a mapping with ``host`` (or ``hosts``, a list, as in smokeping_prober) and
    optional ``period`` (alias ``interval``) and ``timeout``. Durations are
    seconds or strings such as ``500ms`` and ``2s``.
    """
    period = timeout = None
    if document is None:
        return []
    if isinstance(document, dict):
        unknown = set(document) - _TOP_KEYS
        if unknown:
            raise ConfigError(f"{source}: unknown keys {sorted(map(str, unknown))}; "
                              f"expected {sorted(_TOP_KEYS)}")
        period = _period_of(document, source)
        timeout = _timeout_of(document, source)
        entries = document.get("targets") or []
    else:
        entries = document
    if not isinstance(entries, list):
        raise ConfigError(f"{source}: targets must be a list, not {type(entries).__name__}")
    targets: list[Target] = []
    for number, entry in enumerate(entries, 1):
        where = f"{source}: target {number}"
        if isinstance(entry, str):
            targets.append(Target(_host_name(entry, where), period, timeout))
            continue
        if not isinstance(entry, dict):
            raise ConfigError(f"{where}: expected a host or a mapping, not {entry!r}")
        unknown = set(entry) - _TARGET_KEYS
        if unknown:
            raise ConfigError(f"{where}: unknown keys {sorted(map(str, unknown))}; "
                              f"expected {sorted(_TARGET_KEYS)}")
        if ("host" in entry) == ("hosts" in entry):
            raise ConfigError(f"{where}: give exactly one of host and hosts")
        hosts = [entry["host"]] if "host" in entry else entry["hosts"]
        if not isinstance(hosts, list):
            raise ConfigError(f"{where}: hosts must be a list")
        own_period = _period_of(entry, where)
        own_timeout = _timeout_of(entry, where)
        for host in hosts:
            targets.append(Target(
                _host_name(host, where), period if own_period is None else own_period,
                timeout if own_timeout is None else own_timeout))
    return targets


def load_config(path: str) -> list[Target]:
    """Targets from a YAML file (see parse_config); ConfigError if it cannot be used."""
    try:
        import yaml
    except ImportError:  # pragma: no cover - depends on the environment
        raise ConfigError("reading a YAML config needs PyYAML: "
                          "pip install 'fastping[exporter]'") from None
    try:
        with open(path, encoding="utf-8") as file:
            document = yaml.safe_load(file)
    except OSError as error:
        raise ConfigError(f"{path}: {error.strerror or error}") from None
    except (yaml.YAMLError, UnicodeDecodeError) as error:
        raise ConfigError(f"{path}: not valid YAML: {error}") from None
    return parse_config(document, path)


def hashmod(value: str, modulus: int) -> int:
    """Prometheus' ``hashmod`` relabel action: the last 8 bytes of MD5, big-endian, mod n."""
    digest = hashlib.md5(value.encode("utf-8"), usedforsecurity=False).digest()
    return int.from_bytes(digest[8:], "big") % modulus


# ---- monitors and their histograms -----------------------------------------------

class _Group:
    """One Monitor: the targets that share a period and a timeout, and their state changes."""

    def __init__(self, period: float, timeout: float, buckets: Sequence[float],
                 monitor_options: dict[str, Any]) -> None:
        self.period = period
        self.timeout = timeout
        self.buckets = tuple(buckets)
        self._changes: dict[str, dict[str, int]] = {}
        self._changes_lock = threading.Lock()
        options = dict(monitor_options, period=period, timeout=timeout,
                       on_event=self._on_health)
        self.monitor = Monitor(buckets=self.buckets, **options)

    def _on_health(self, event: MonitorEvent) -> None:
        # Called on the monitor's thread for up and down events only: per change, not per probe.
        with self._changes_lock:
            changes = self._changes.setdefault(event.host, {"up": 0, "down": 0})
            changes[event.health.value] += 1

    def add(self, host: str) -> None:
        self.monitor.add(host)

    def remove(self, host: str) -> None:
        self.monitor.remove(host)
        with self._changes_lock:
            self._changes.pop(host, None)

    def changes(self) -> dict[str, dict[str, int]]:
        with self._changes_lock:
            return {host: dict(counts) for host, counts in self._changes.items()}

    def histograms(self) -> dict[str, Histogram]:
        return self.monitor.histograms()

    def close(self) -> None:
        self.monitor.close()


# ---- the collector -----------------------------------------------------------------


def _go_float(value: float) -> str:
    """A bucket bound as Go's strconv.FormatFloat(v, 'g', -1, 64) writes it, as
    smokeping_prober's ``le`` labels are: 5e-05, 0.0001, 1, 26.2144, 1e+06."""
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    number = Decimal(repr(float(value))).normalize()
    sign, digits, exponent = number.as_tuple()
    assert isinstance(exponent, int)
    point = len(digits) + exponent - 1  # the decimal exponent of the first digit
    if number and (point < -4 or point >= 6):
        text = "".join(map(str, digits))
        mantissa = text[0] + ("." + text[1:] if len(text) > 1 else "")
        return f"{'-' if sign else ''}{mantissa}e{'-' if point < 0 else '+'}{abs(point):02d}"
    return format(number, "f")


class _Collector(Collector):
    """Reads every Monitor at scrape time; nothing is done per probe."""

    def __init__(self, exporter: Exporter) -> None:
        self._exporter = exporter

    def collect(self) -> Iterator[Metric]:
        exporter = self._exporter
        requests = CounterMetricFamily("smokeping_requests_total",
                                       "Number of ping requests sent", labels=LABELS)
        durations = HistogramMetricFamily("smokeping_response_duration_seconds",
                                          "A histogram of latencies for ping responses.",
                                          labels=LABELS)
        ttl = GaugeMetricFamily("smokeping_response_ttl", "The last response Time To Live (TTL).",
                                labels=LABELS)
        duplicates = CounterMetricFamily("smokeping_response_duplicates_total",
                                         "The number of duplicated response packets.",
                                         labels=LABELS)
        send_errors = CounterMetricFamily(
            "smokeping_send_errors_total",
            "The number of errors when Pinger attempts to send packets.", labels=LABELS)
        up = GaugeMetricFamily("fastping_up", "1 if the host is up, 0 if down; absent while "
                               "unknown (not yet enough consecutive outcomes).", labels=LABELS)
        since = GaugeMetricFamily("fastping_health_since_timestamp_seconds",
                                  "When the host's health last changed (or it was added).",
                                  labels=LABELS)
        lost = CounterMetricFamily("fastping_lost_total",
                                   "Probes that got no reply: timeouts, ICMP errors, send errors.",
                                   labels=LABELS)
        changes = CounterMetricFamily("fastping_state_changes_total",
                                      "Health changes, by the health changed to.",
                                      labels=(*LABELS, "to"))
        loss = GaugeMetricFamily("fastping_loss_ratio",
                                 "Fraction of the probes in the rolling window not answered.",
                                 labels=LABELS)
        window = GaugeMetricFamily("fastping_window_probes",
                                   "Probes in the rolling window (up to its size).",
                                   labels=LABELS)
        quantiles = GaugeMetricFamily("fastping_rtt_seconds",
                                      "RTT quantiles over the rolling window.",
                                      labels=(*LABELS, "quantile"))
        rtt_stats = {name: GaugeMetricFamily(f"fastping_rtt_{name}_seconds",
                                             f"{description} RTT over the rolling window.",
                                             labels=LABELS)
                     for name, description in (("min", "Smallest"), ("avg", "Mean"),
                                               ("max", "Largest"),
                                               ("stddev", "Standard deviation of the"))}
        last_rtt = GaugeMetricFamily("fastping_last_rtt_seconds", "The last reply's RTT.",
                                     labels=LABELS)
        jitter = GaugeMetricFamily("fastping_jitter_seconds",
                                   "RFC 3550 interarrival jitter of the RTTs.", labels=LABELS)
        engine_events: dict[str, int] = {}
        hosts = 0
        for group in exporter._snapshot():
            try:
                # Histograms first: a reply counted there is already in the states read after.
                histograms = group.histograms()
                states = group.monitor.states()
                counters = group.monitor.counters()
            except ValueError:  # closed by a reload meanwhile
                continue
            state_changes = group.changes()
            for key, value in counters.items():
                engine_events[key] = engine_events.get(key, 0) + value
            for host, state in states.items():
                hosts += 1
                labels = [state.address, host, exporter.source_label]
                requests.add_metric(labels, state.sent)
                duplicates.add_metric(labels, state.duplicates)
                lost.add_metric(labels, state.lost)
                histogram = histograms.get(host)
                if histogram is None:
                    histogram = (group.buckets, (0,) * len(group.buckets), 0.0, 0)
                bounds, cumulative, total, count = histogram
                buckets = [(_go_float(bound), float(number))
                           for bound, number in zip(bounds, cumulative, strict=True)]
                buckets.append(("+Inf", float(count)))
                durations.add_metric(labels, buckets, total)
                send_errors.add_metric(labels, state.send_errors)
                if state.last_ttl is not None:
                    ttl.add_metric(labels, state.last_ttl)
                if state.health is not Health.UNKNOWN:
                    up.add_metric(labels, 1.0 if state.health is Health.UP else 0.0)
                since.add_metric(labels, state.since)
                host_changes = state_changes.get(host, {})
                for health in ("up", "down"):
                    changes.add_metric([*labels, health], host_changes.get(health, 0))
                window.add_metric(labels, state.window_probes)
                if state.window_probes:
                    loss.add_metric(labels, state.loss)
                for quantile, attribute in QUANTILES:
                    value = getattr(state, attribute)
                    if value is not None:
                        quantiles.add_metric([*labels, quantile], value)
                for name, family in rtt_stats.items():
                    value = getattr(state, name)
                    if value is not None:
                        family.add_metric(labels, value)
                if state.last_rtt is not None:
                    last_rtt.add_metric(labels, state.last_rtt)
                jitter.add_metric(labels, state.jitter)
        yield requests
        yield durations
        yield ttl
        yield duplicates
        yield send_errors
        yield CounterMetricFamily(
            "smokeping_receive_errors_total",
            "Received packets that could not be parsed (malformed).",
            value=engine_events.get("malformed", 0))
        yield up
        yield since
        yield lost
        yield changes
        yield loss
        yield window
        yield quantiles
        yield from rtt_stats.values()
        yield last_rtt
        yield jitter
        events = CounterMetricFamily(
            "fastping_engine_events_total",
            "What the engines have seen: probes sent, replies, timeouts, errors, packets "
            "dropped (duplicate, late, foreign, malformed), and ICMP errors too short to "
            "verify (unverified).", labels=("event",))
        for key in ("sent", "replies", "timeouts", "icmp_errors", "send_errors", "duplicates",
                    "late", "foreign", "malformed", "unverified"):
            events.add_metric([key], engine_events.get(key, 0))
        yield events
        yield GaugeMetricFamily("fastping_exporter_targets", "Hosts being pinged.", value=hosts)
        yield GaugeMetricFamily(
            "fastping_exporter_unresolved_targets",
            "Configured targets that could not be resolved (retried on reload).",
            value=len(exporter.unresolved))
        yield GaugeMetricFamily(
            "fastping_exporter_config_last_reload_successful",
            "1 if the last configuration (re)load succeeded.",
            value=1.0 if exporter.last_reload_ok else 0.0)
        yield GaugeMetricFamily(
            "fastping_exporter_config_last_reload_success_timestamp_seconds",
            "When the configuration was last (re)loaded successfully.",
            value=exporter.last_reload_time)


# ---- /probe ------------------------------------------------------------------------


class _Families(Collector):
    def __init__(self, families: list[Metric]) -> None:
        self._families = families

    def collect(self) -> Iterable[Metric]:
        return self._families


def probe(target: str, *, count: int = 1, timeout: float = 1.0,
          privileged: bool | None = None) -> list[Metric]:
    """Ping target count times, back to back, as blackbox_exporter's icmp module does.

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
        with Pinger(timeout=timeout, privileged=privileged) as pinger:
            phases.add_metric(["setup"], time.monotonic() - started)
            before = time.monotonic()
            address = pinger.add(target)
            resolved_in = time.monotonic() - before
            protocol = 6 if ":" in address else 4
            for results in pinger.run(count=count, interval=0.0):
                for result in results.values():
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


# ---- the HTTP server ---------------------------------------------------------------

_LANDING = """<html><head><title>fastping exporter</title></head><body>
<h1>fastping exporter</h1>
<p><a href="/metrics">Metrics</a></p>
<p>Probe: <a href="/probe?target=127.0.0.1">/probe?target=127.0.0.1</a>
(optional: count, timeout in seconds)</p>
</body></html>
"""

StartResponse = Callable[..., object]
Environ = dict[str, Any]


class _Server(WSGIServer):
    allow_reuse_address = True

    def process_request(self, request: Any, client_address: Any) -> None:
        # One thread per request, as socketserver.ThreadingMixIn (typed, and daemonic).
        thread = threading.Thread(target=self._handle, args=(request, client_address),
                                  name="fastping-exporter-http", daemon=True)
        thread.start()

    def _handle(self, request: Any, client_address: Any) -> None:
        try:
            self.finish_request(request, client_address)
        except Exception:
            self.handle_error(request, client_address)
        finally:
            self.shutdown_request(request)


class _Server6(_Server):
    address_family = socket.AF_INET6


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s %s", self.address_string(), format % args)


def parse_listen(listen: str) -> tuple[str, int]:
    """(host, port) from HOST:PORT or [IPv6]:PORT; ConfigError if it is neither."""
    match = re.fullmatch(r"\[([^\]]+)\]:(\d+)|([^:\[\]]*):(\d+)", listen.strip())
    if match is None:
        raise ConfigError(f"--listen: expected HOST:PORT or [ADDRESS]:PORT, not {listen!r}")
    host = match.group(1) or match.group(3) or "0.0.0.0"
    port = int(match.group(2) or match.group(4))
    if port > 65535:
        raise ConfigError(f"--listen: no port {port}")
    return host, port


# ---- the exporter ------------------------------------------------------------------


@dataclass
class Exporter:
    """Monitors for the targets, a collector over them, and an HTTP server.

    ``targets`` are pinged always; ``config`` is a YAML file read at start and
    on every reload (SIGHUP in ``main``, or ``reload()``/``request_reload()``).
    A target without its own period or timeout gets ``period``/``timeout``.
    With ``shard=(k, n)`` only targets whose ``hashmod(host, n)`` is k are
    pinged, so n exporters can share one target list.
    """

    targets: Sequence[str | Target] = ()
    config: str | None = None
    period: float = 1.0
    timeout: float | None = None
    buckets: Sequence[float] = DEFAULT_BUCKETS
    listen: str = DEFAULT_LISTEN
    down_after: int = 3
    up_after: int = 1
    window: int = 32
    privileged: bool | None = None
    shard: tuple[int, int] | None = None
    probe_limit: int = 16
    registry: CollectorRegistry = field(init=False)
    unresolved: dict[str, str] = field(init=False, default_factory=dict)
    last_reload_ok: bool = field(init=False, default=False)
    last_reload_time: float = field(init=False, default=0.0)
    source_label: str = field(init=False, default="")

    def __post_init__(self) -> None:
        self.period = check_seconds("period", self.period, maximum=MAX_INTERVAL,
                                    allow_zero=False)
        if self.timeout is not None:
            self.timeout = check_seconds("timeout", self.timeout, maximum=MAX_TIMEOUT,
                                         allow_zero=False)
        self.buckets = tuple(float(b) for b in self.buckets)
        if (not self.buckets or any(not math.isfinite(b) for b in self.buckets)
                or any(a >= b for a, b in zip(self.buckets, self.buckets[1:], strict=False))):
            raise ConfigError("buckets must be finite and strictly increasing")
        if self.shard is not None:
            index, modulus = self.shard
            if not 0 <= index < modulus:
                raise ConfigError(f"shard {index}/{modulus}: need 0 <= {index} < {modulus}")
        self._listen_address = parse_listen(self.listen)
        self._groups: dict[tuple[float, float], _Group] = {}
        self._groups_lock = threading.Lock()
        self._apply_lock = threading.Lock()
        self._commands: queue.SimpleQueue[str] = queue.SimpleQueue()
        self._stopped = threading.Event()
        self._server: _Server | None = None
        self._threads: list[threading.Thread] = []
        self._probes = threading.BoundedSemaphore(self.probe_limit)
        self.registry = CollectorRegistry()
        self._metrics_app = make_wsgi_app(self.registry)
        self.registry.register(_Collector(self))
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        GCCollector(registry=self.registry)

    # ---- targets ---------------------------------------------------------------

    def _wanted(self) -> list[Target]:
        """Every target, config file's then command line's; raises ConfigError."""
        targets = list(load_config(self.config)) if self.config is not None else []
        targets.extend(t if isinstance(t, Target) else Target(_host_name(t, "target"))
                       for t in self.targets)
        if self.shard is not None:
            index, modulus = self.shard
            targets = [t for t in targets if hashmod(t.host, modulus) == index]
        return targets

    def _key(self, target: Target) -> tuple[float, float]:
        period = self.period if target.period is None else target.period
        timeout = target.timeout if target.timeout is not None else self.timeout
        return period, min(1.0, period) if timeout is None else timeout

    def apply(self, targets: Sequence[Target]) -> None:
        """Ping exactly these targets from now on; the hosts kept keep their state.

        The first target of a host name wins. A host whose period or timeout
        changed moves to another Monitor and starts afresh.
        """
        wanted: dict[tuple[float, float], list[str]] = {}
        seen: set[str] = set()
        for target in targets:
            if target.host in seen:
                log.warning("target %s given more than once; the first one counts", target.host)
                continue
            seen.add(target.host)
            wanted.setdefault(self._key(target), []).append(target.host)
        with self._apply_lock:
            with self._groups_lock:
                groups = dict(self._groups)
            # Removals first, so that a host moving between monitors is never in two.
            for key, group in groups.items():
                keep = set(wanted.get(key, ()))
                for host in group.monitor.hosts:
                    if host not in keep:
                        group.remove(host)
                if key not in wanted:
                    with self._groups_lock:
                        del self._groups[key]
                    group.close()
            unresolved: dict[str, str] = {}
            for key, hosts in wanted.items():
                existing = groups.get(key)
                if existing is not None:
                    group = existing
                else:
                    group = _Group(*key, self.buckets, self._monitor_options())
                    try:
                        group.monitor.start()
                    except BaseException:
                        group.close()
                        raise
                    with self._groups_lock:
                        self._groups[key] = group
                present = set(group.monitor.hosts)
                for host in hosts:
                    if host in present:
                        continue
                    try:
                        group.add(host)
                    except (ValueError, TypeError, socket.gaierror) as error:
                        unresolved[host] = str(error)
                        log.warning("cannot ping %s: %s", host, error)
            self.unresolved = unresolved

    def _monitor_options(self) -> dict[str, Any]:
        return {"down_after": self.down_after, "up_after": self.up_after, "window": self.window,
                "privileged": self.privileged}

    def reload(self) -> bool:
        """Re-read the config and apply it; on an error keep the targets as they are."""
        try:
            targets = self._wanted()
            self.apply(targets)
        except (ConfigError, OSError) as error:
            log.error("reload failed, keeping the targets as they were: %s", error)
            self.last_reload_ok = False
            return False
        self.last_reload_ok = True
        self.last_reload_time = time.time()
        log.info("pinging %d targets in %d monitors", sum(
            len(g.monitor.hosts) for g in self._snapshot()), len(self._groups))
        return True

    def _snapshot(self) -> list[_Group]:
        with self._groups_lock:
            return list(self._groups.values())

    @property
    def hosts(self) -> list[str]:
        return [host for group in self._snapshot() for host in group.monitor.hosts]

    # ---- lifetime --------------------------------------------------------------

    def start(self) -> None:
        """Load the targets, start pinging and serving; ConfigError or OSError if it cannot."""
        try:
            self.apply(self._wanted())
            self.last_reload_ok = True
            self.last_reload_time = time.time()
            log.info("pinging %d targets", len(self.hosts))
            host, port = self._listen_address
            server_class = _Server6 if ":" in host else _Server
            self._server = make_server(host, port, self._app, server_class=server_class,
                                       handler_class=_QuietHandler)
        except BaseException:
            self.close()
            raise
        for target, name in ((self._server.serve_forever, "fastping-exporter-http"),
                             (self._control, "fastping-exporter-control")):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)

    @property
    def address(self) -> tuple[str, int]:
        """The (host, port) the server listens on (the real port when 0 was asked for)."""
        if self._server is None:
            raise RuntimeError("the exporter is not serving")
        host, port = self._server.server_address[:2]
        return str(host), int(port)

    @property
    def url(self) -> str:
        host, port = self.address
        return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"

    def request_reload(self) -> None:
        """Ask for a reload on the control thread. Safe from a signal handler."""
        self._commands.put("reload")

    def request_stop(self) -> None:
        """Ask the exporter to stop (wait() returns). Safe from a signal handler."""
        self._commands.put("stop")

    def _control(self) -> None:
        while True:
            command = self._commands.get()
            if command == "stop":
                self._stopped.set()
                return
            if command == "reload":
                self.reload()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until stopped (request_stop()); True if it was."""
        return self._stopped.wait(timeout)

    def close(self) -> None:
        """Stop serving and pinging; every descriptor is released. Idempotent."""
        self._commands.put("stop")
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        for thread in self._threads:
            thread.join(10)
        self._threads = []
        with self._apply_lock:
            with self._groups_lock:
                groups, self._groups = list(self._groups.values()), {}
            for group in groups:
                group.close()

    def __enter__(self) -> Exporter:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # ---- HTTP --------------------------------------------------------------------

    def _app(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "/")
        if path == "/metrics":
            return cast(Iterable[bytes], self._metrics_app(environ, start_response))
        if path == "/probe":
            return self._probe(environ, start_response)
        if path == "/":
            start_response("200 OK", [("Content-Type", "text/html; charset=utf-8")])
            return [_LANDING.encode()]
        start_response("404 Not Found", [("Content-Type", "text/plain; charset=utf-8")])
        return [b"not found: try /metrics or /probe?target=HOST\n"]

    def _probe(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
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
        default = self.timeout if self.timeout is not None else min(1.0, self.period)
        try:
            timeout = parse_duration(query.get("timeout", [str(default)])[-1], "timeout")
        except ConfigError as error:
            return bad(str(error))
        # Leave Prometheus time to receive the answer before its own scrape timeout.
        scrape_timeout = environ.get("HTTP_X_PROMETHEUS_SCRAPE_TIMEOUT_SECONDS")
        if scrape_timeout:
            with contextlib.suppress(ValueError):
                timeout = min(timeout, max(0.001, (float(scrape_timeout) - 0.5) / count))
        timeout = min(timeout, MAX_TIMEOUT)
        if not self._probes.acquire(timeout=timeout * count + 5):
            start_response("503 Service Unavailable", [("Content-Type", "text/plain")])
            return [b"too many probes at once\n"]
        try:
            families = probe(targets[0].strip(), count=count, timeout=timeout,
                             privileged=self.privileged)
        finally:
            self._probes.release()
        body = generate_latest(_Families(families))
        start_response("200 OK", [("Content-Type", CONTENT_TYPE_LATEST)])
        return [body]


# ---- the command ---------------------------------------------------------------------


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
    parser.add_argument("--log-level", default="info",
                        choices=("debug", "info", "warning", "error"))
    return parser


def _options(args: argparse.Namespace) -> dict[str, Any]:
    options: dict[str, Any] = {
        "targets": [_host_name(t, "target") for t in args.targets], "config": args.config,
        "listen": args.listen, "period": parse_duration(args.period, "--period"),
        "timeout": None if args.timeout is None else parse_duration(args.timeout, "--timeout"),
        "down_after": args.down_after, "up_after": args.up_after, "window": args.window,
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


if __name__ == "__main__":
    sys.exit(main())
