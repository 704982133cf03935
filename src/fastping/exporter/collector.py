"""The exporter's /metrics: every Monitor read at scrape time, so a scrape costs per host and
nothing is done per probe. smokeping_prober's metrics exactly as the version asked for shows
them (names, types, HELP, label names, its build_info and reload metrics), then fastping's own
(health, rolling statistics, engine events, the exporter's state) unless they are turned off.

smokeping_prober 0.6 (Debian 12's) labels every series ``ip, host``; 0.11 labels them ``ip,
host, source, tos`` and then every custom label name of the configuration, sorted, empty for
targets without it, and adds ``smokeping_send_errors_total`` and
``smokeping_receive_errors_total``. Both count as requests only the probes that were sent: a
probe whose send failed is a send error, not a request.
"""

from __future__ import annotations

import math
import platform
import sys
from collections.abc import Iterator, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from .. import __version__
from .._results import Health

if TYPE_CHECKING:
    from ..monitor import HostState
    from .service import Exporter
    from .targets import Histogram

SMOKEPING_VERSIONS = ("0.11", "0.6")
# The label names of every per-host series, before the configuration's custom ones.
BASE_LABELS = {"0.11": ("ip", "host", "source", "tos"), "0.6": ("ip", "host")}
_BUILD_LABELS = {"0.11": ("branch", "goarch", "goos", "goversion", "revision", "tags", "version"),
                 "0.6": ("branch", "goarch", "goos", "goversion", "revision", "version")}
_RELOAD_HELP = {"0.11": "smokeping_prober config loaded successfully.",
                "0.6": "Blackbox exporter config loaded successfully."}  # sic, until 0.7.2
_GOARCH = {"x86_64": "amd64", "aarch64": "arm64", "i686": "386", "armv7l": "arm"}
QUANTILES = (("0.5", "p50"), ("0.9", "p90"), ("0.99", "p99"))
ENGINE_EVENTS = ("sent", "replies", "timeouts", "icmp_errors", "send_errors", "duplicates",
                 "late", "foreign", "malformed", "unverified")
RTT_STATS = (("min", "Smallest"), ("avg", "Mean"), ("max", "Largest"),
             ("stddev", "Standard deviation of the"))


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


class _Smokeping:
    """smokeping_prober's per-host metrics, so that its dashboards and rules work unchanged."""

    def __init__(self, version: str, labels: Sequence[str]) -> None:
        self.errors = version != "0.6"
        self.requests = CounterMetricFamily("smokeping_requests_total",
                                            "Number of ping requests sent", labels=labels)
        self.durations = HistogramMetricFamily(
            "smokeping_response_duration_seconds",
            "A histogram of latencies for ping responses.", labels=labels)
        self.ttl = GaugeMetricFamily("smokeping_response_ttl",
                                     "The last response Time To Live (TTL).", labels=labels)
        self.duplicates = CounterMetricFamily("smokeping_response_duplicates_total",
                                              "The number of duplicated response packets.",
                                              labels=labels)
        self.send_errors = CounterMetricFamily(
            "smokeping_send_errors_total",
            "The number of errors when Pinger attempts to send packets.", labels=labels)

    def add(self, labels: list[str], state: HostState, histogram: Histogram) -> None:
        # smokeping_prober counts a request only once it is sent.
        self.requests.add_metric(labels, state.sent - state.send_errors)
        self.duplicates.add_metric(labels, state.duplicates)
        bounds, cumulative, total, count = histogram
        buckets = [(_go_float(bound), float(number))
                   for bound, number in zip(bounds, cumulative, strict=True)]
        buckets.append(("+Inf", float(count)))
        self.durations.add_metric(labels, buckets, total)
        # 0 until the first reply, as smokeping_prober sets up every series at start.
        self.ttl.add_metric(labels, state.last_ttl or 0)
        if self.errors:
            self.send_errors.add_metric(labels, state.send_errors)

    def families(self, malformed: int) -> list[Metric]:
        families: list[Metric] = [self.requests, self.durations, self.ttl, self.duplicates]
        if self.errors:
            families.append(self.send_errors)
            families.append(CounterMetricFamily(
                "smokeping_receive_errors_total",
                "The number of errors when Pinger attempts to receive packets.",
                value=malformed))
        return families


def _smokeping_prober_state(exporter: Exporter) -> list[Metric]:
    """smokeping_prober's build_info and its configuration's reload gauges."""
    version = exporter.smokeping_version
    info = GaugeMetricFamily(
        "smokeping_prober_build_info",
        "A metric with a constant '1' value labeled by version, revision, branch, goversion "
        "from which smokeping_prober was built, and the goos and goarch for the build.",
        labels=_BUILD_LABELS[version])
    values = {"branch": "fastping", "goarch": _GOARCH.get(platform.machine(), platform.machine()),
              "goos": sys.platform, "goversion": f"python{platform.python_version()}",
              "revision": f"fastping-{__version__}", "tags": "fastping",
              "version": __version__}
    info.add_metric([values[name] for name in _BUILD_LABELS[version]], 1.0)
    return [
        info,
        GaugeMetricFamily("smokeping_prober_config_last_reload_success_timestamp_seconds",
                          "Timestamp of the last successful configuration reload.",
                          value=exporter.last_reload_time),
        GaugeMetricFamily("smokeping_prober_config_last_reload_successful",
                          _RELOAD_HELP[version], value=1.0 if exporter.last_reload_ok else 0.0),
    ]


class _Health:
    """fastping's own per-host metrics: health, its changes, and the rolling statistics."""

    def __init__(self, labels: Sequence[str]) -> None:
        names = tuple(labels)  # the per-host label names, the same in every family
        self.up = GaugeMetricFamily("fastping_up", "1 if the host is up, 0 if down; absent "
                                    "while unknown (not yet enough consecutive outcomes).",
                                    labels=names)
        self.since = GaugeMetricFamily("fastping_health_since_timestamp_seconds",
                                       "When the host's health last changed (or it was added).",
                                       labels=names)
        self.lost = CounterMetricFamily(
            "fastping_lost_total",
            "Probes that got no reply: timeouts, ICMP errors, send errors.", labels=names)
        self.changes = CounterMetricFamily("fastping_state_changes_total",
                                           "Health changes, by the health changed to.",
                                           labels=(*names, "to"))
        self.loss = GaugeMetricFamily(
            "fastping_loss_ratio",
            "Fraction of the probes in the rolling window not answered.", labels=names)
        self.window = GaugeMetricFamily("fastping_window_probes",
                                        "Probes in the rolling window (up to its size).",
                                        labels=names)
        self.quantiles = GaugeMetricFamily("fastping_rtt_seconds",
                                           "RTT quantiles over the rolling window.",
                                           labels=(*names, "quantile"))
        self.rtt_stats = {name: GaugeMetricFamily(f"fastping_rtt_{name}_seconds",
                                                  f"{description} RTT over the rolling window.",
                                                  labels=names)
                          for name, description in RTT_STATS}
        self.last_rtt = GaugeMetricFamily("fastping_last_rtt_seconds", "The last reply's RTT.",
                                          labels=names)
        self.jitter = GaugeMetricFamily("fastping_jitter_seconds",
                                        "RFC 3550 interarrival jitter of the RTTs.",
                                        labels=names)

    def add(self, labels: list[str], state: HostState, changes: dict[str, int]) -> None:
        """changes: how often the host went up and down (the group's count)."""
        if state.health is not Health.UNKNOWN:
            self.up.add_metric(labels, 1.0 if state.health is Health.UP else 0.0)
        self.since.add_metric(labels, state.since)
        self.lost.add_metric(labels, state.lost)
        for health in ("up", "down"):
            self.changes.add_metric([*labels, health], changes.get(health, 0))
        self.window.add_metric(labels, state.window_probes)
        if state.window_probes:
            self.loss.add_metric(labels, state.loss)
        for quantile, attribute in QUANTILES:
            value = getattr(state, attribute)
            if value is not None:
                self.quantiles.add_metric([*labels, quantile], value)
        for name, family in self.rtt_stats.items():
            value = getattr(state, name)
            if value is not None:
                family.add_metric(labels, value)
        if state.last_rtt is not None:
            self.last_rtt.add_metric(labels, state.last_rtt)
        self.jitter.add_metric(labels, state.jitter)

    def families(self) -> list[Metric]:
        return [self.up, self.since, self.lost, self.changes, self.loss, self.window,
                self.quantiles, *self.rtt_stats.values(), self.last_rtt, self.jitter]


def _engine_events(events: dict[str, int]) -> Metric:
    family = CounterMetricFamily(
        "fastping_engine_events_total",
        "What the engines have seen: probes sent, replies, timeouts, errors, packets "
        "dropped (duplicate, late, foreign, malformed), and ICMP errors too short to "
        "verify (unverified).", labels=("event",))
    for key in ENGINE_EVENTS:
        family.add_metric([key], events.get(key, 0))
    return family


def _exporter_state(exporter: Exporter, hosts: int) -> list[Metric]:
    return [
        GaugeMetricFamily("fastping_exporter_targets", "Hosts being pinged.", value=hosts),
        GaugeMetricFamily(
            "fastping_exporter_unresolved_targets",
            "Configured targets that could not be resolved (retried on reload).",
            value=len(exporter.unresolved)),
        GaugeMetricFamily(
            "fastping_exporter_config_last_reload_successful",
            "1 if the last configuration (re)load succeeded.",
            value=1.0 if exporter.last_reload_ok else 0.0),
        GaugeMetricFamily(
            "fastping_exporter_config_last_reload_success_timestamp_seconds",
            "When the configuration was last (re)loaded successfully.",
            value=exporter.last_reload_time),
    ]


class MonitorCollector(Collector):
    """Reads every Monitor at scrape time; nothing is done per probe."""

    def __init__(self, exporter: Exporter) -> None:
        self._exporter = exporter

    def collect(self) -> Iterator[Metric]:
        exporter = self._exporter
        snapshot = exporter.snapshot()
        base = BASE_LABELS[exporter.smokeping_version]
        custom = snapshot.label_names if exporter.smokeping_version != "0.6" else ()
        names = (*base, *custom)
        smokeping, health = _Smokeping(exporter.smokeping_version, names), _Health(names)
        engine_events: dict[str, int] = {}
        hosts = 0
        no_labels = ("",) * len(custom)
        for group in snapshot.groups:
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
            own = {"source": group.source_label, "tos": group.tos_label}
            for host, state in states.items():
                hosts += 1
                labels = [state.address, host, *(own[name] for name in base[2:]),
                          *snapshot.label_values.get(host, no_labels)]
                histogram = histograms.get(host)
                if histogram is None:
                    histogram = (group.buckets, (0,) * len(group.buckets), 0.0, 0)
                smokeping.add(labels, state, histogram)
                health.add(labels, state, state_changes.get(host, {}))
        yield from _smokeping_prober_state(exporter)
        yield from smokeping.families(engine_events.get("malformed", 0))
        if exporter.fastping_metrics:
            yield from health.families()
            yield _engine_events(engine_events)
            yield from _exporter_state(exporter, hosts)
