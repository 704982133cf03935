"""The exporter's /metrics: every Monitor read at scrape time, so a scrape costs per host and
nothing is done per probe. smokeping_prober's metrics under its names and labels, then
fastping's own (health, rolling statistics, engine events, the exporter's state)."""

from __future__ import annotations

import math
from collections.abc import Iterator
from decimal import Decimal
from typing import TYPE_CHECKING

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from .._results import Health

if TYPE_CHECKING:
    from ..monitor import HostState
    from .service import Exporter, Histogram

LABELS = ("ip", "host", "source")
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

    def __init__(self) -> None:
        self.requests = CounterMetricFamily("smokeping_requests_total",
                                            "Number of ping requests sent", labels=LABELS)
        self.durations = HistogramMetricFamily(
            "smokeping_response_duration_seconds",
            "A histogram of latencies for ping responses.", labels=LABELS)
        self.ttl = GaugeMetricFamily("smokeping_response_ttl",
                                     "The last response Time To Live (TTL).", labels=LABELS)
        self.duplicates = CounterMetricFamily("smokeping_response_duplicates_total",
                                              "The number of duplicated response packets.",
                                              labels=LABELS)
        self.send_errors = CounterMetricFamily(
            "smokeping_send_errors_total",
            "The number of errors when Pinger attempts to send packets.", labels=LABELS)

    def add(self, labels: list[str], state: HostState, histogram: Histogram) -> None:
        self.requests.add_metric(labels, state.sent)
        self.duplicates.add_metric(labels, state.duplicates)
        bounds, cumulative, total, count = histogram
        buckets = [(_go_float(bound), float(number))
                   for bound, number in zip(bounds, cumulative, strict=True)]
        buckets.append(("+Inf", float(count)))
        self.durations.add_metric(labels, buckets, total)
        self.send_errors.add_metric(labels, state.send_errors)
        if state.last_ttl is not None:
            self.ttl.add_metric(labels, state.last_ttl)

    def families(self) -> list[Metric]:
        return [self.requests, self.durations, self.ttl, self.duplicates, self.send_errors]


class _Health:
    """fastping's own per-host metrics: health, its changes, and the rolling statistics."""

    def __init__(self) -> None:
        self.up = GaugeMetricFamily("fastping_up", "1 if the host is up, 0 if down; absent "
                                    "while unknown (not yet enough consecutive outcomes).",
                                    labels=LABELS)
        self.since = GaugeMetricFamily("fastping_health_since_timestamp_seconds",
                                       "When the host's health last changed (or it was added).",
                                       labels=LABELS)
        self.lost = CounterMetricFamily(
            "fastping_lost_total",
            "Probes that got no reply: timeouts, ICMP errors, send errors.", labels=LABELS)
        self.changes = CounterMetricFamily("fastping_state_changes_total",
                                           "Health changes, by the health changed to.",
                                           labels=(*LABELS, "to"))
        self.loss = GaugeMetricFamily(
            "fastping_loss_ratio",
            "Fraction of the probes in the rolling window not answered.", labels=LABELS)
        self.window = GaugeMetricFamily("fastping_window_probes",
                                        "Probes in the rolling window (up to its size).",
                                        labels=LABELS)
        self.quantiles = GaugeMetricFamily("fastping_rtt_seconds",
                                           "RTT quantiles over the rolling window.",
                                           labels=(*LABELS, "quantile"))
        self.rtt_stats = {name: GaugeMetricFamily(f"fastping_rtt_{name}_seconds",
                                                  f"{description} RTT over the rolling window.",
                                                  labels=LABELS)
                          for name, description in RTT_STATS}
        self.last_rtt = GaugeMetricFamily("fastping_last_rtt_seconds", "The last reply's RTT.",
                                          labels=LABELS)
        self.jitter = GaugeMetricFamily("fastping_jitter_seconds",
                                        "RFC 3550 interarrival jitter of the RTTs.",
                                        labels=LABELS)

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
        smokeping, health = _Smokeping(), _Health()
        engine_events: dict[str, int] = {}
        hosts = 0
        for group in self._exporter._snapshot():
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
                labels = [state.address, host, self._exporter.source_label]
                histogram = histograms.get(host)
                if histogram is None:
                    histogram = (group.buckets, (0,) * len(group.buckets), 0.0, 0)
                smokeping.add(labels, state, histogram)
                health.add(labels, state, state_changes.get(host, {}))
        yield from smokeping.families()
        yield CounterMetricFamily(
            "smokeping_receive_errors_total",
            "Received packets that could not be parsed (malformed).",
            value=engine_events.get("malformed", 0))
        yield from health.families()
        yield _engine_events(engine_events)
        yield from _exporter_state(self._exporter, hosts)
