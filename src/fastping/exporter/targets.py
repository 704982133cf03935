"""The targets being pinged: one Monitor (one engine, one loop thread) for each distinct set of
engine options (payload size, TOS, source address, address family, TTL, don't fragment), and
which host is pinged by which, with its period, timeout and labels. /probe's modules run on
the same engines: ``apply`` is also given the engines the modules need, opens those the
targets do not, keeps them while a loaded module needs them and closes them with the rest,
so a /probe request never opens one (``probe_engine``).

``Targets.apply`` makes the running set what a validated configuration asks for. It first
opens every engine the new set needs and not yet open: if one cannot be opened (a source
address this machine does not have), they are closed again and nothing has changed. Only then
are hosts added and removed, and a host that cannot be added (a name that does not resolve)
is counted in ``unresolved``, never an error of the whole: so a reload either changes nothing
or leaves every host it could ping pinged. Hosts kept with the same settings keep their
history; one whose engine, period or timeout changed starts afresh; a change of labels alone
is only a change of labels.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import socket
import threading
import time
from collections.abc import Callable, Collection, Sequence
from typing import Any

from .._common import ENGINE_DEFAULTS, default_timeout
from ..monitor import Monitor
from .config import ConfigError, Target

# (bucket upper bounds, cumulative counts for each bound, sum of RTTs in seconds, count)
Histogram = tuple[tuple[float, ...], tuple[int, ...], float, int]
# What chooses a host's or a module's engine: (payload size, tos, source address, family,
# ttl, don't fragment), None the default.
EngineKey = tuple[int | None, int | None, str | None, int | None, int | None, bool | None]
DEFAULT_ENGINE: EngineKey = (None, None, None, None, None, None)

log = logging.getLogger(__package__)


@dataclasses.dataclass(frozen=True, slots=True)
class Setting:
    """How one host is pinged: by which engine, how often, how long it waits; its labels."""

    engine: EngineKey
    period: float
    timeout: float
    labels: tuple[tuple[str, str], ...]

    def restarts(self, other: Setting) -> bool:
        """Whether going from this setting to other needs the host pinged afresh."""
        return (self.engine, self.period, self.timeout) != (other.engine, other.period,
                                                             other.timeout)


def _check_source(source: str) -> None:
    """ConfigError unless this machine has the address: an engine binds its sockets only as
    hosts are added, too late to refuse a reload."""
    family = socket.AF_INET6 if ":" in source else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as probe_socket:
        try:
            probe_socket.bind((source, 0))
        except OSError as error:
            raise ConfigError(f"source {source}: {error.strerror or error}") from None


class Group:
    """One Monitor: every host of one set of engine options (the engine counts each one's
    health changes: HostState.ups, downs). Made
    stopped, so that its first hosts are added directly (about 100 times faster than through
    a running loop: 100,000 hosts in 2 s, not 20), then started."""

    def __init__(self, key: EngineKey, period: float, timeout: float,
                 buckets: Sequence[float], monitor_options: dict[str, Any]) -> None:
        self.key = key
        self.buckets = tuple(buckets)
        size, tos, source, family, ttl, dont_fragment = key
        self.source_label = source or ""
        self.tos_label = str(tos or 0)
        engine = {"size": size, "tos": tos, "source": source, "family": family, "ttl": ttl,
                  "dont_fragment": dont_fragment}
        options = dict(monitor_options, period=period, timeout=timeout,
                       **{name: value for name, value in engine.items() if value is not None})
        self.monitor = Monitor(buckets=self.buckets, **options)

    def remove(self, host: str) -> None:
        self.monitor.remove(host)

    def histograms(self) -> dict[str, Histogram]:
        return self.monitor.histograms()

    def close(self) -> None:
        self.monitor.close()


@dataclasses.dataclass(frozen=True, slots=True)
class Snapshot:
    """What a scrape reads: the engines, each host's custom label values in the order of
    ``label_names`` (every custom label name of the configuration, sorted), and whether
    the last (re)load succeeded and when one last did, published with the targets it
    applied: a scrape shows the hosts of the snapshot it read (``shows``), so that it
    never shows a reload's hosts without its stamp (nor a host an apply under way has
    added before its labels)."""

    groups: tuple[Group, ...]
    label_names: tuple[str, ...]
    label_values: dict[str, tuple[str, ...]]
    settings: dict[str, Setting] = dataclasses.field(default_factory=dict)  # of every host
    reload_ok: bool = False
    reload_time: float = 0.0  # the Unix time of the last successful (re)load; 0 before

    def shows(self, group: Group, host: str) -> bool:
        """Whether the host, listed by group's engine, is one of this target set's there
        (exposition.py's plans inline it)."""
        setting = self.settings.get(host)
        return setting is not None and setting.engine == group.key


class Targets:
    """The hosts being pinged, by engine; see the module's docstring."""

    def __init__(self, period: float, timeout: float | None, buckets: Sequence[float],
                 monitor_options: dict[str, Any]) -> None:
        self._period = period
        self._timeout = timeout
        self._buckets = tuple(buckets)
        self._monitor_options = monitor_options
        self._groups: dict[EngineKey, Group] = {}
        self._settings: dict[str, Setting] = {}
        self._snapshot = Snapshot((), (), {})
        self._lock = threading.Lock()  # guards _groups' membership, _snapshot and _closed
        self._applying = threading.Lock()  # one apply() at a time; close() never waits for it
        self._closed = False
        self.unresolved: dict[str, str] = {}
        self._probe_keys: frozenset[EngineKey] = frozenset()
        self._probe_failures: dict[EngineKey, str] = {}  # why an engine could not be opened

    def setting(self, target: Target) -> Setting:
        period = self._period if target.period is None else target.period
        timeout = target.timeout if target.timeout is not None else self._timeout
        # The engine's defaults said outright (smokeping_prober's example says size: 56) are
        # the defaults: the same engine.
        size = None if target.size == ENGINE_DEFAULTS["size"] else target.size
        tos = target.tos or None
        return Setting((size, tos, target.source, target.family, None, None), period,
                       default_timeout(period) if timeout is None else timeout, target.labels)

    def apply(self, targets: Sequence[Target], stopping: Callable[[], bool],
              probe_keys: Collection[EngineKey] = (), reload: bool = False) -> None:
        """Ping exactly these targets from now on (the first target of a host name counts),
        and keep open the engines of probe_keys (/probe's modules') for probe_engine();
        reload: this is a (re)load of the configuration, stamped successful with them.

        Raises (ConfigError, OSError) with nothing changed if a target's engine cannot be
        opened; a module's that cannot be is only remembered, to fail that module's probes.
        ``stopping()`` true ends the work early (the exporter is closing).
        """
        with self._applying:
            self._apply(targets, stopping, frozenset(probe_keys), reload)

    def _apply(self, targets: Sequence[Target], stopping: Callable[[], bool],
               probe_keys: frozenset[EngineKey], reload: bool) -> None:
        wanted: dict[str, Setting] = {}
        for target in targets:
            wanted.setdefault(target.host, self.setting(target))
        if len(wanted) < len(targets):
            log.warning("%d targets name a host given before; the first of each counts",
                        len(targets) - len(wanted))
        # The default engine is always open: /probe runs on it, targets or none.
        opened = self._open_engines({setting.engine for setting in wanted.values()}
                                    | {DEFAULT_ENGINE})
        failures: dict[EngineKey, str] = {}
        for key in probe_keys - set(self._groups):
            try:
                opened.extend(self._open_engines({key}))
            except (ConfigError, OSError, ValueError, TypeError) as error:
                failures[key] = (error.strerror if isinstance(error, OSError) and error.strerror
                                 else str(error))[:200]
        old = self._settings
        for host, setting in old.items():
            if host not in wanted or setting.restarts(wanted[host]):
                self._remove(host, setting)
        settings: dict[str, Setting] = {}
        unresolved: dict[str, str] = {}
        # The hosts to add, by engine, period and timeout: each lot in one add_many (a
        # running Monitor's loop takes a request a host from add(): 20 s for 100,000).
        lots: dict[tuple[EngineKey, float, float], list[str]] = {}
        for host, setting in wanted.items():
            if host in old and not old[host].restarts(setting):
                settings[host] = setting
            else:
                lots.setdefault((setting.engine, setting.period, setting.timeout), []).append(host)
        for (engine, period, timeout), hosts in lots.items():
            if stopping():
                return
            try:
                added = self._groups[engine].monitor.add_many(hosts, period=period,
                                                              timeout=timeout)
            except Exception as error:  # any type: one lot never fails the whole
                added = dict.fromkeys(hosts, error)
            for host, outcome in added.items():
                if isinstance(outcome, Exception):
                    unresolved[host] = str(outcome)[:200]
                    log.warning("cannot ping %s: %s", host, unresolved[host])
                else:
                    settings[host] = wanted[host]
        self._settings, self.unresolved = settings, unresolved
        with self._lock:
            self._probe_keys, self._probe_failures = probe_keys, failures
        for group in opened:
            group.monitor.start()
        self._close_unused()
        self._publish(targets, reload)

    def _open_engines(self, keys: set[EngineKey]) -> list[Group]:
        """Opens (not yet started) the engines of keys that are not open; all or none."""
        new = keys - set(self._groups)
        for source in {key[2] for key in new if key[2] is not None}:
            _check_source(source)
        opened: list[Group] = []
        try:
            for key in new:
                opened.append(Group(key, self._period, self._timeout or default_timeout(
                    self._period), self._buckets, self._monitor_options))
        except BaseException:
            for group in opened:
                group.close()
            raise
        with self._lock:
            if self._closed:
                for group in opened:
                    group.close()
                raise ValueError("the exporter is closed")
            self._groups.update((group.key, group) for group in opened)
        return opened

    def _remove(self, host: str, setting: Setting) -> None:
        group = self._groups.get(setting.engine)
        if group is not None:
            with contextlib.suppress(KeyError, ValueError):  # never added, or closed meanwhile
                group.remove(host)

    def _close_unused(self) -> None:
        used = ({setting.engine for setting in self._settings.values()} | {DEFAULT_ENGINE}
                | self._probe_keys)
        with self._lock:
            unused = [group for key, group in self._groups.items() if key not in used]
            for group in unused:
                del self._groups[group.key]
        for group in unused:
            group.close()

    def _publish(self, targets: Sequence[Target], reload: bool) -> None:
        names = tuple(sorted({name for target in targets for name, _ in target.labels}))
        values = {host: tuple(dict(setting.labels).get(name, "") for name in names)
                  for host, setting in self._settings.items()}
        with self._lock:
            stamp = (True, time.time()) if reload else (self._snapshot.reload_ok,
                                                        self._snapshot.reload_time)
            self._snapshot = Snapshot(tuple(self._groups.values()), names, values,
                                      self._settings, *stamp)

    def reload_failed(self) -> None:
        """A (re)load failed: the targets stay, the snapshot says it failed."""
        with self._lock:
            self._snapshot = dataclasses.replace(self._snapshot, reload_ok=False)

    def snapshot(self) -> Snapshot:
        with self._lock:
            return self._snapshot

    def probe_engine(self, key: EngineKey) -> Monitor:
        """The running engine of key (a module's, given to apply()); LookupError saying why
        if there is none."""
        with self._lock:
            group = self._groups.get(key)
            if group is None:
                raise LookupError(self._probe_failures.get(
                    key, "the exporter is closed" if self._closed else
                    "no engine for this module's options"))
            return group.monitor

    @property
    def hosts(self) -> list[str]:
        return [host for group in self.snapshot().groups for host in group.monitor.hosts]

    def close(self) -> None:
        """Close every engine; an apply() under way meets closed monitors. Idempotent."""
        with self._lock:
            self._closed = True
            groups, self._groups = list(self._groups.values()), {}
            self._snapshot = dataclasses.replace(self._snapshot, groups=(), label_names=(),
                                                 label_values={}, settings={})
        for group in groups:
            group.close()
