"""/metrics at scale: the text written by the binding from a copy of the engine's hosts.

collector.py describes the families; this renders them without a Python object a sample.
Once per target set (start, reload) and Monitor (one per engine), a _Plan holds what does
not change between scrapes: the hosts' engine indexes in the order the collector yields
them, their label pairs, escaped and sorted. A scrape copies each Monitor's hosts' tracks on
its engine's thread (a memcpy: the Monitor goes on pinging), summarises the copy away from
it and has the binding write the text in chunks of about a megabyte (_exposition.pxi): a
scrape of 100,000 hosts, some 400 MB of text, holds the copy (about 50 MB) and a chunk,
never the whole text. Families that are not per host (build_info, the engines' counters,
the exporter's state, the process' collectors) are few and small: prometheus_client writes
those, as it writes every family's HELP and TYPE lines, so that the text is byte for byte
what prometheus_client writes from MonitorCollector (tests/test_exporter_scale.py holds it to
that). The binding writes a chunk without the GIL, so that the Monitors' loops, which need it
for their batches, run on meanwhile: with it held, a 100,000-host scrape took 2 s, not 0.4.

Concurrent scrapes share one collection: a scrape that arrives while another one reads or
renders takes that one's copy, so that N scrapes at once cost one engine read and one
copy's memory, and all answer the same numbers. Those that arrive before the text's first
chunk is let go of (while the copy is made, or together) share its rendering too
(broadcast.py): N scrapes at once write the text once.
"""

from __future__ import annotations

import bisect
import contextlib
import ctypes
import queue
import threading
from array import array
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from prometheus_client.exposition import choose_encoder, generate_latest, gzip_accepted
from prometheus_client.openmetrics.exposition import generate_latest as generate_openmetrics
from prometheus_client.registry import Collector, CollectorRegistry

from .. import _engine
from .broadcast import Broadcast
from .collector import HostFamily, Part, empty_metric, label_columns, label_names, layout

# glibc's; other C libraries (musl) have none.
_malloc_trim = getattr(ctypes.CDLL(None), "malloc_trim", None)

try:  # ISA-L's deflate: at level 1, five times zlib's speed, with a better ratio
    from isal import isal_zlib as _deflate
except ImportError:  # not installed: the standard one
    import zlib as _deflate  # type: ignore[no-redef]

if TYPE_CHECKING:
    from prometheus_client.core import Metric

    from .service import Exporter
    from .targets import Group, Snapshot

T = TypeVar("T")
_EOF = b"# EOF\n"
# Bytes a chunk of the text holds (a host's lines never split between two).
CHUNK_SIZE = 1 << 20
# Chunks the fastest of the scrapes sharing a rendering may be ahead of the slowest.
SHARED_AHEAD = 4


def _escape(value: str) -> str:
    """A label value as the exposition formats escape it."""
    return value.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")


class _Metrics(Collector):
    def __init__(self, metrics: Iterable[Metric]) -> None:
        self._metrics = list(metrics)

    def collect(self) -> Iterator[Metric]:
        return iter(self._metrics)


def metrics_text(metrics: Iterable[Metric], open_metrics: bool) -> bytes:
    """prometheus_client's text of these metrics, without OpenMetrics' closing # EOF."""
    collector = _Metrics(metrics)
    if open_metrics:
        text: bytes = generate_openmetrics(collector)  # type: ignore[no-untyped-call]
        return text.removesuffix(_EOF)
    return generate_latest(collector)


@dataclass(frozen=True)
class _Plan:
    """What the text of one Monitor's hosts needs of them, made once per target set."""

    snapshot: Snapshot  # the target set it is for (held: its id is not reused meanwhile)
    names: tuple[str, ...]  # the label names it has values of
    version: int  # its engine's hosts_version
    indexes: array[int]  # the engine index of each host, in the collector's order
    labels: _engine.HostLabels


@dataclass
class _Reading:
    """One reading of the engines, for every scrape that shares it."""

    groups: list[tuple[_engine.TrackCopy, _engine.HostLabels]] = field(default_factory=list)
    names: tuple[str, ...] = ()  # the per-host label names, sorted
    parts: list[Part] = field(default_factory=list)
    runtime: list[Metric] = field(default_factory=list)  # the runtime's collectors' metrics
    error: BaseException | None = None
    # by (OpenMetrics or not, gzip or not)
    renderings: dict[tuple[bool, bool], Broadcast] = field(default_factory=dict)


class Scrapes:
    """Renders /metrics for an Exporter (render()); concurrent scrapes share one reading.

    runtime: the collectors whose families follow the Monitors' (the process' own).
    """

    def __init__(self, exporter: Exporter, runtime: CollectorRegistry) -> None:
        self._exporter = exporter
        self._runtime = runtime
        self._lock = threading.Lock()
        self._current: tuple[_Reading, threading.Event] | None = None
        self._plans: dict[int, _Plan] = {}  # by id of the Monitor
        self._samples: dict[tuple[HostFamily, bool, tuple[str, ...]],
                            tuple[bytes, list[tuple[Any, ...]]]] = {}
        self.readings = 0  # of the engines, since start: how many scrapes did not share one
        self.renderings = 0  # of the text, likewise
        self._rendering = 0  # scrapes under way

    def render(self, open_metrics: bool = False, gzip: bool = False) -> Iterator[bytes]:
        """The text of /metrics (OpenMetrics if asked), in chunks, gzipped if asked."""
        with self._lock:
            self._rendering += 1
            leader = self._current is None
            if self._current is None:
                self._current = (_Reading(), threading.Event())
            reading, ready = self._current
            # Joined now, as it arrives: a scrape that arrives while the reading is made
            # shares its text too, not only the copy.
            shared = reading.renderings.get((open_metrics, gzip))
            key = None if shared is None else shared.join()
            if shared is None or key is None:
                self.renderings += 1
                chunks = self._chunks(reading, open_metrics)
                shared = reading.renderings[open_metrics, gzip] = Broadcast(
                    gzipped(chunks) if gzip else chunks, SHARED_AHEAD)
                key = Broadcast.FIRST
        try:
            if leader:
                try:
                    self._read(reading)
                except BaseException as error:
                    reading.error = error
                finally:
                    ready.set()
            else:
                ready.wait()
            yield from shared.follow(key)
        finally:
            with self._lock:
                if leader:  # later scrapes read afresh
                    self._current = None
                self._rendering -= 1
                last = self._rendering == 0
            if last:
                _give_back_memory()

    def _read(self, reading: _Reading) -> None:
        self.readings += 1
        snapshot = self._exporter.snapshot()
        names = label_names(self._exporter, snapshot)
        if any(key[2] != tuple(sorted(names)) for key in self._samples):
            self._samples = {}  # of label names no longer in use: reloads do not pile them up
        engine_events: dict[str, int] = {}
        plans: dict[int, _Plan] = {}
        for group in snapshot.groups:
            try:
                copy, plan = self._read_group(snapshot, names, group)
                counters = group.monitor.counters()
            except ValueError:  # closed by a reload meanwhile
                continue
            for key, count in counters.items():
                engine_events[key] = engine_events.get(key, 0) + count
            copy.summarize()
            plans[id(group.monitor)] = plan
            reading.groups.append((copy, plan.labels))
        self._plans = plans
        reading.names = tuple(sorted(names))
        reading.parts = layout(self._exporter, snapshot, engine_events,
                               sum(copy.hosts for copy, _ in reading.groups))
        reading.runtime = list(self._runtime.collect())

    def prepare(self) -> None:
        """The plans of the target set now applied, made ahead of its first scrape (after a
        start or reload: 100,000 hosts' took about 0.1 s of it)."""
        snapshot = self._exporter.snapshot()
        names = label_names(self._exporter, snapshot)
        for group in snapshot.groups:
            with contextlib.suppress(ValueError):  # closed by a reload meanwhile
                self._new_plan(snapshot, names, group, lambda engine, indexes: None)

    def _read_group(self, snapshot: Snapshot, names: tuple[str, ...],
                    group: Group) -> tuple[_engine.TrackCopy, _Plan]:
        monitor = group.monitor
        plan = self._plans.get(id(monitor))
        if plan is not None and plan.snapshot is snapshot and plan.names == names:
            kept = plan  # unless a host came or went since it was made
            copy = monitor._read_engine(
                lambda engine: engine.track_copy(kept.indexes)
                if engine.hosts_version == kept.version else None)
            if copy is not None:
                return copy, plan
        # A new plan, read with its copy in one visit to the engine's thread: no host can
        # come or go between the two.
        plan, fresh = self._new_plan(snapshot, names, group,
                                     lambda engine, indexes: engine.track_copy(indexes))
        return fresh, plan

    def _new_plan(self, snapshot: Snapshot, names: tuple[str, ...], group: Group,
                  then: Callable[[_engine.Engine, array[int]], T]) -> tuple[_Plan, T]:
        """A plan of the group's hosts, and then(engine, their indexes) on the same visit to
        the engine's thread."""
        def read(engine: _engine.Engine) -> tuple[int, list[str], array[int], list[str], T]:
            settings, key = snapshot.settings, group.key
            hosts = [name for name in engine.hosts
                     if (setting := settings.get(name)) is not None and setting.engine == key]
            indexes = array("I", [engine.hosts[name] for name in hosts])
            return (engine.hosts_version, hosts, indexes,
                    [engine.address_text(index) for index in indexes], then(engine, indexes))

        version, hosts, indexes, addresses, outcome = group.monitor._read_engine(read)
        columns = label_columns(sorted(names), snapshot, group, hosts, addresses)
        plan = self._plans[id(group.monitor)] = _Plan(
            snapshot, names, version, indexes, _engine.HostLabels(columns, len(hosts)))
        return plan, outcome

    def _family(self, family: HostFamily, open_metrics: bool,
                names: tuple[str, ...]) -> tuple[bytes, list[tuple[Any, ...]]]:
        """A family's HELP and TYPE lines, and its samples as the binding takes them (names:
        the hosts' label names, sorted)."""
        cached = self._samples.get((family, open_metrics, names))
        if cached is None:
            samples = []
            for series in family.series:
                extra, position = b"", 0
                if series.label is not None:
                    name, value = series.label
                    extra = f'{name}="{_escape(value)}"'.encode()
                    position = bisect.bisect(names, name)
                samples.append(((family.name + series.suffix).encode(), extra, position,
                                _engine.EXPOSITION_FIELDS[series.field], series.argument))
            cached = metrics_text([empty_metric(family)], open_metrics), samples
            self._samples[(family, open_metrics, names)] = cached
        return cached

    def _chunks(self, reading: _Reading, open_metrics: bool) -> Iterator[bytes]:
        if reading.error is not None:
            raise reading.error
        parts = reading.parts
        start = 0
        while start < len(parts):
            end = start
            if isinstance(parts[start], HostFamily):
                while end < len(parts) and isinstance(parts[end], HostFamily):
                    end += 1
                families = [self._family(part, open_metrics, reading.names)
                            for part in parts[start:end] if isinstance(part, HostFamily)]
                yield from _engine.ExpositionChunks(reading.groups, families, CHUNK_SIZE)
            else:
                while end < len(parts) and not isinstance(parts[end], HostFamily):
                    end += 1
                yield metrics_text([p for p in parts[start:end]
                                    if not isinstance(p, HostFamily)], open_metrics)
            start = end
        yield metrics_text(reading.runtime, open_metrics)
        if open_metrics:
            yield _EOF


def _give_back_memory() -> None:
    """The C heap's free memory returned to the system, where the C library can (glibc's
    malloc_trim). A scrape's chunks are made, compressed and sent on threads of their own,
    each of which may take memory from a malloc arena of its own that keeps it once freed:
    at 100,000 hosts, the peak RSS rose by 106 MiB over 10 scrapes this way, 70-90 with it."""
    if _malloc_trim is not None:
        _malloc_trim(0)


def gzipped(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """The chunks as one gzip stream, compressed for speed (the text repeats itself so much
    that the fastest level takes it to a twentieth), by ISA-L if installed. Each chunk is
    compressed on a thread of its own while the next one is made on this one (both let go
    of the GIL): a 100,000-host scrape costs about the longer of the two, not their sum."""
    compressor = _deflate.compressobj(1, _deflate.DEFLATED, 31)
    todo: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()
    done: queue.SimpleQueue[bytes | BaseException] = queue.SimpleQueue()

    def compress() -> None:
        while (chunk := todo.get()) is not None:
            try:
                done.put(compressor.compress(chunk))
            except BaseException as error:  # handed to the consumer
                done.put(error)

    def compressed() -> bytes:
        outcome = done.get()
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    threading.Thread(target=compress, name="fastping-exporter-gzip", daemon=True).start()
    pending = 0  # chunks given to the thread, not yet taken back: at most two
    try:
        for chunk in chunks:
            todo.put(chunk)
            pending += 1
            if pending == 2:
                pending -= 1
                if block := compressed():
                    yield block
        for _ in range(pending):
            if block := compressed():
                yield block
        yield compressor.flush()
    finally:
        todo.put(None)
        _give_back_memory()  # the compressor's and its thread's


def negotiate(accept: str, accept_encoding: str) -> tuple[bool, str, bool]:
    """What a /metrics request asks for, as prometheus_client negotiates it: (OpenMetrics or
    not, the Content-Type to answer with, gzip or not)."""
    _, content_type = choose_encoder(accept)
    return (content_type.startswith("application/openmetrics-text"), content_type,
            gzip_accepted(accept_encoding))
