"""The exporter's /metrics, described: which families, in which order, with which series.

A family with one series a host is a HostFamily, data: its name, type, HELP and, for each
sample a host has, the field of the host's state it shows (a name of
``_engine.EXPOSITION_FIELDS``). The rest (the engines' counters, the exporter's state) are
prometheus_client Metrics made at scrape time. Two renderings read this one description:
exposition.py has the binding write the text straight from the engine's copy of the hosts
(what /metrics serves), and MonitorCollector below makes prometheus_client objects from the
Monitor's HostStates, the reference the tests hold the binding's text to, byte for byte.
smokeping_prober's metrics come under its names and labels, then fastping's own.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from .._results import Health

if TYPE_CHECKING:
    from ..monitor import HostState
    from .service import Exporter, Histogram

LABELS = ("ip", "host", "source")
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


@dataclass(frozen=True)
class Series:
    """One sample a host has in a family: the field of its state it shows (and the
    field's argument: a bucket's index, a kind of change), the sample name's suffix, and
    the family's own label pair, if any (le, quantile, to)."""

    field: str
    argument: int = 0
    suffix: str = ""
    label: tuple[str, str] | None = None


@dataclass(frozen=True)
class HostFamily:
    """A family with the same series for every host, labelled by LABELS (kind: counter,
    gauge or histogram; a counter's name ends in _total)."""

    name: str
    kind: str
    help: str
    series: tuple[Series, ...]


Part = HostFamily | Metric


def _simple(name: str, kind: str, help: str, field: str) -> HostFamily:
    return HostFamily(name, kind, help, (Series(field),))


def _histogram(name: str, help: str, buckets: Sequence[float]) -> HostFamily:
    series = [Series("bucket", index, "_bucket", ("le", _go_float(bound)))
              for index, bound in enumerate(buckets)]
    series += [Series("replies", 0, "_bucket", ("le", "+Inf")), Series("replies", 0, "_count"),
               Series("rtt_sum", 0, "_sum")]
    return HostFamily(name, "histogram", help, tuple(series))


def smokeping_families(buckets: Sequence[float]) -> list[HostFamily]:
    """smokeping_prober's per-host metrics, so that its dashboards and rules work unchanged."""
    return [
        _simple("smokeping_requests_total", "counter", "Number of ping requests sent", "sent"),
        _histogram("smokeping_response_duration_seconds",
                   "A histogram of latencies for ping responses.", buckets),
        _simple("smokeping_response_ttl", "gauge", "The last response Time To Live (TTL).",
                "last_ttl"),
        _simple("smokeping_response_duplicates_total", "counter",
                "The number of duplicated response packets.", "duplicates"),
        _simple("smokeping_send_errors_total", "counter",
                "The number of errors when Pinger attempts to send packets.", "send_errors"),
    ]


def health_families() -> list[HostFamily]:
    """fastping's own per-host metrics: health, its changes, and the rolling statistics."""
    return [
        _simple("fastping_up", "gauge", "1 if the host is up, 0 if down; absent while unknown "
                "(not yet enough consecutive outcomes).", "up"),
        _simple("fastping_health_since_timestamp_seconds", "gauge",
                "When the host's health last changed (or it was added).", "since"),
        _simple("fastping_lost_total", "counter",
                "Probes that got no reply: timeouts, ICMP errors, send errors.", "lost"),
        HostFamily("fastping_state_changes_total", "counter",
                   "Health changes, by the health changed to.",
                   (Series("changes", 0, "", ("to", "up")),
                    Series("changes", 1, "", ("to", "down")))),
        _simple("fastping_loss_ratio", "gauge",
                "Fraction of the probes in the rolling window not answered.", "loss"),
        _simple("fastping_window_probes", "gauge",
                "Probes in the rolling window (up to its size).", "window_probes"),
        HostFamily("fastping_rtt_seconds", "gauge", "RTT quantiles over the rolling window.",
                   tuple(Series(field, 0, "", ("quantile", quantile))
                         for quantile, field in (("0.5", "p50"), ("0.9", "p90"),
                                                 ("0.99", "p99")))),
        *(_simple(f"fastping_rtt_{name}_seconds", "gauge",
                  f"{description} RTT over the rolling window.", name)
          for name, description in RTT_STATS),
        _simple("fastping_last_rtt_seconds", "gauge", "The last reply's RTT.", "last_rtt"),
        _simple("fastping_jitter_seconds", "gauge", "RFC 3550 interarrival jitter of the RTTs.",
                "jitter"),
    ]


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


def host_labels(exporter: Exporter, host: str, address: str) -> dict[str, str]:
    """A host's labels (LABELS) on every one of its series."""
    return {"ip": address, "host": host, "source": exporter.source_label}


def layout(exporter: Exporter, engine_events: dict[str, int], hosts: int) -> list[Part]:
    """/metrics' families from the Monitor's collector, in order: each a HostFamily (a
    series a host) or a whole Metric. engine_events: the engine's counters."""
    return [
        *smokeping_families(exporter.buckets),
        CounterMetricFamily("smokeping_receive_errors_total",
                            "Received packets that could not be parsed (malformed).",
                            value=engine_events.get("malformed", 0)),
        *health_families(),
        _engine_events(engine_events),
        *_exporter_state(exporter, hosts),
    ]


# What each field of a host is in its HostState and histogram (the
# binding's own reading of its copy of the engine is _engine.TrackCopy.value): None for none.
FieldReader = Callable[["HostState", "Histogram", int], float | None]


def _attribute(name: str) -> FieldReader:
    return lambda state, histogram, _: getattr(state, name)


FIELDS: dict[str, FieldReader] = {
    "sent": lambda state, histogram, _: state.sent,
    "lost": lambda state, histogram, _: state.lost,
    "duplicates": lambda state, histogram, _: state.duplicates,
    "send_errors": lambda state, histogram, _: state.send_errors,
    "last_ttl": lambda state, histogram, _: state.last_ttl,
    "up": lambda state, histogram, _: (
        None if state.health is Health.UNKNOWN else 1.0 if state.health is Health.UP else 0.0),
    "since": lambda state, histogram, _: state.since,
    "window_probes": lambda state, histogram, _: state.window_probes,
    "loss": lambda state, histogram, _: state.loss if state.window_probes else None,
    **{name: _attribute(name)
       for name in ("min", "avg", "max", "stddev", "p50", "p90", "p99", "last_rtt", "jitter")},
    "bucket": lambda state, histogram, index: histogram[1][index],
    "replies": lambda state, histogram, _: histogram[3],
    "rtt_sum": lambda state, histogram, _: histogram[2],
    "changes": lambda state, histogram, kind: state.downs if kind else state.ups,
}


def empty_metric(family: HostFamily) -> Metric:
    """The family as prometheus_client has it, without samples (a counter's name without
    _total, as CounterMetricFamily keeps it)."""
    name = family.name.removesuffix("_total") if family.kind == "counter" else family.name
    return Metric(name, family.help, family.kind)


class MonitorCollector(Collector):
    """Reads the Monitor at scrape time into prometheus_client objects, a sample an object:
    the reference for exposition.py's rendering (which /metrics serves), and what a
    registry of one's own can hold."""

    def __init__(self, exporter: Exporter) -> None:
        self._exporter = exporter

    def collect(self) -> Iterator[Metric]:
        engine_events: dict[str, int] = {}
        hosts: list[tuple[dict[str, str], HostState, Histogram]] = []
        for group in self._exporter._snapshot():
            try:
                # Histograms first: a reply counted there is already in the states read after.
                histograms = group.histograms()
                states = group.monitor.states()
                counters = group.monitor.counters()
            except ValueError:  # closed by a reload meanwhile
                continue
            for key, count in counters.items():
                engine_events[key] = engine_events.get(key, 0) + count
            for host, state in states.items():
                histogram = histograms.get(host)
                if histogram is None:
                    histogram = (group.buckets, (0,) * len(group.buckets), 0.0, 0)
                hosts.append((host_labels(self._exporter, host, state.address), state,
                              histogram))
        for part in layout(self._exporter, engine_events, len(hosts)):
            if not isinstance(part, HostFamily):
                yield part
                continue
            metric = empty_metric(part)
            for labels, state, histogram in hosts:
                for series in part.series:
                    value = FIELDS[series.field](state, histogram, series.argument)
                    if value is None:
                        continue
                    sample_labels = dict([*labels.items(), series.label]) if series.label \
                        else labels
                    metric.add_sample(part.name + series.suffix, sample_labels, float(value))
            yield metric
