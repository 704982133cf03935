"""The exporter's /metrics: every Monitor read at scrape time, so a scrape costs per host and
nothing is done per probe. smokeping_prober's metrics exactly as the version asked for shows
them (names, types, HELP, label names, its build_info and reload metrics), then fastping's own
(health, rolling statistics, engine events, the exporter's state) unless they are turned off.

smokeping_prober 0.6 (Debian 12's) labels every series ``ip, host``; 0.11 labels them ``ip,
host, source, tos`` and then every custom label name of the configuration, sorted, empty for
targets without it, and adds ``smokeping_send_errors_total`` and
``smokeping_receive_errors_total``. Both count as requests only the probes that were sent: a
probe whose send failed is a send error, not a request.

The families are described here as data: a HostFamily has one series a host (or several), its
samples each a field of the host's state (a name of ``_engine.EXPOSITION_FIELDS``); the rest
(build_info, the engines' counters, the exporter's state) are prometheus_client Metrics made
at scrape time. Two renderings read this one description: exposition.py has the binding
write the text straight from a copy of the engines' hosts (what /metrics serves), and
MonitorCollector below makes prometheus_client objects from the Monitors' HostStates, the
reference the tests hold the binding's text to, byte for byte.
"""

from __future__ import annotations

import math
import platform
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from .. import __version__
from .._results import Health

if TYPE_CHECKING:
    from ..monitor import HostState
    from .service import Exporter
    from .targets import Group, Histogram, Snapshot

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
    """A family with the same series for every host, labelled by the host's labels
    (label_columns); kind: counter, gauge or histogram; a counter's name ends in _total."""

    name: str
    kind: str
    help: str
    series: tuple[Series, ...]


Part = HostFamily | Metric
# A label's values: one every host has, or one a host.
Column = str | list[str]


def _simple(name: str, kind: str, help: str, field: str) -> HostFamily:
    return HostFamily(name, kind, help, (Series(field),))


def _histogram(name: str, help: str, buckets: Sequence[float]) -> HostFamily:
    series = [Series("bucket", index, "_bucket", ("le", _go_float(bound)))
              for index, bound in enumerate(buckets)]
    series += [Series("replies", 0, "_bucket", ("le", "+Inf")), Series("replies", 0, "_count"),
               Series("rtt_sum", 0, "_sum")]
    return HostFamily(name, "histogram", help, tuple(series))


def _smokeping(version: str, buckets: Sequence[float], malformed: int) -> list[Part]:
    """smokeping_prober's per-host metrics, so that its dashboards and rules work unchanged.
    It counts a request only once it is sent; its TTL is 0 until the first reply, as it sets
    up every series at start."""
    parts: list[Part] = [
        _simple("smokeping_requests_total", "counter", "Number of ping requests sent",
                "requests"),
        _histogram("smokeping_response_duration_seconds",
                   "A histogram of latencies for ping responses.", buckets),
        _simple("smokeping_response_ttl", "gauge", "The last response Time To Live (TTL).",
                "ttl"),
        _simple("smokeping_response_duplicates_total", "counter",
                "The number of duplicated response packets.", "duplicates"),
    ]
    if version != "0.6":
        parts += [
            _simple("smokeping_send_errors_total", "counter",
                    "The number of errors when Pinger attempts to send packets.", "send_errors"),
            CounterMetricFamily("smokeping_receive_errors_total",
                                "The number of errors when Pinger attempts to receive packets.",
                                value=malformed),
        ]
    return parts


def _health() -> list[HostFamily]:
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
                         for quantile, field in QUANTILES)),
        *(_simple(f"fastping_rtt_{name}_seconds", "gauge",
                  f"{description} RTT over the rolling window.", name)
          for name, description in RTT_STATS),
        _simple("fastping_last_rtt_seconds", "gauge", "The last reply's RTT.", "last_rtt"),
        _simple("fastping_jitter_seconds", "gauge", "RFC 3550 interarrival jitter of the RTTs.",
                "jitter"),
    ]


def _smokeping_prober_state(exporter: Exporter, snapshot: Snapshot) -> list[Metric]:
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
                          value=snapshot.reload_time),
        GaugeMetricFamily("smokeping_prober_config_last_reload_successful",
                          _RELOAD_HELP[version], value=1.0 if snapshot.reload_ok else 0.0),
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


def _exporter_state(exporter: Exporter, snapshot: Snapshot, hosts: int) -> list[Metric]:
    return [
        GaugeMetricFamily("fastping_exporter_targets", "Hosts being pinged.", value=hosts),
        GaugeMetricFamily(
            "fastping_exporter_unresolved_targets",
            "Configured targets that could not be resolved (retried on reload).",
            value=len(exporter.unresolved)),
        GaugeMetricFamily(
            "fastping_exporter_config_last_reload_successful",
            "1 if the last configuration (re)load succeeded.",
            value=1.0 if snapshot.reload_ok else 0.0),
        GaugeMetricFamily(
            "fastping_exporter_config_last_reload_success_timestamp_seconds",
            "When the configuration was last (re)loaded successfully.",
            value=snapshot.reload_time),
    ]


def label_names(exporter: Exporter, snapshot: Snapshot) -> tuple[str, ...]:
    """The label names of every per-host series: smokeping_prober's, then (0.11) the
    configuration's custom ones, sorted."""
    custom = snapshot.label_names if exporter.smokeping_version != "0.6" else ()
    return (*BASE_LABELS[exporter.smokeping_version], *custom)


def label_columns(names: Sequence[str], snapshot: Snapshot, group: Group,
                  hosts: Sequence[str], addresses: Sequence[str]) -> list[tuple[str, Column]]:
    """The labels of these hosts of group (with these addresses), as (name, values) in the
    order of names (of label_names): values one str every host has, or a list of one a host
    in the order of hosts."""
    shared = {"source": group.source_label, "tos": group.tos_label}
    blank = ("",) * len(snapshot.label_names)
    columns: list[tuple[str, Column]] = []
    for name in names:
        if name in ("ip", "host"):
            columns.append((name, list(addresses if name == "ip" else hosts)))
        elif name in shared:
            columns.append((name, shared[name]))
        else:
            place = snapshot.label_names.index(name)
            columns.append((name, [snapshot.label_values.get(host, blank)[place]
                                   for host in hosts]))
    return columns


def layout(exporter: Exporter, snapshot: Snapshot, engine_events: dict[str, int],
           hosts: int) -> list[Part]:
    """/metrics' families from the Monitors' collector, in order: each a HostFamily (a
    series a host) or a whole Metric. engine_events: the engines' counters, summed; snapshot:
    the targets read (whose reload stamp it shows)."""
    parts: list[Part] = [
        *_smokeping_prober_state(exporter, snapshot),
        *_smokeping(exporter.smokeping_version, exporter.buckets,
                    engine_events.get("malformed", 0)),
    ]
    if exporter.fastping_metrics:
        parts += [*_health(), _engine_events(engine_events),
                  *_exporter_state(exporter, snapshot, hosts)]
    return parts


# What each field of a host is in its HostState and histogram (the binding's own reading of
# its copy of the engine is _engine.TrackCopy.value): None for none.
FieldReader = Callable[["HostState", "Histogram", int], float | None]


def _attribute(name: str) -> FieldReader:
    return lambda state, histogram, _: getattr(state, name)


FIELDS: dict[str, FieldReader] = {
    "requests": lambda state, histogram, _: state.sent - state.send_errors,
    "lost": lambda state, histogram, _: state.lost,
    "duplicates": lambda state, histogram, _: state.duplicates,
    "send_errors": lambda state, histogram, _: state.send_errors,
    "ttl": lambda state, histogram, _: state.last_ttl or 0,
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
    """Reads the Monitors at scrape time into prometheus_client objects, a sample an object:
    the reference for exposition.py's rendering (which /metrics serves), and what a
    registry of one's own can hold."""

    def __init__(self, exporter: Exporter) -> None:
        self._exporter = exporter

    def collect(self) -> Iterator[Metric]:
        snapshot = self._exporter.snapshot()
        names = label_names(self._exporter, snapshot)
        engine_events: dict[str, int] = {}
        hosts: list[tuple[dict[str, str], HostState, Histogram]] = []
        for group in snapshot.groups:
            try:
                # Histograms first: a reply counted there is already in the states read after.
                histograms = group.histograms()
                states = {host: state for host, state in group.monitor.states().items()
                          if snapshot.shows(group, host)}
                counters = group.monitor.counters()
            except ValueError:  # closed by a reload meanwhile
                continue
            for key, count in counters.items():
                engine_events[key] = engine_events.get(key, 0) + count
            columns = label_columns(names, snapshot, group, list(states),
                                    [state.address for state in states.values()])
            for index, (host, state) in enumerate(states.items()):
                histogram = histograms.get(host)
                if histogram is None:
                    histogram = (group.buckets, (0,) * len(group.buckets), 0.0, 0)
                labels = {name: values if isinstance(values, str) else values[index]
                          for name, values in columns}
                hosts.append((labels, state, histogram))
        for part in layout(self._exporter, snapshot, engine_events, len(hosts)):
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
