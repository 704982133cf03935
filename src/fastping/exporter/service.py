"""The Exporter: one Monitor for every target, whatever its period and timeout (one engine,
one loop thread), reloads that keep the hosts that stay, and the collector and HTTP server
over them."""

from __future__ import annotations

import logging
import math
import queue
import socket
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector

from .._common import MAX_INTERVAL, MAX_TIMEOUT, default_timeout
from .._resolve import check_seconds
from ..monitor import Monitor, MonitorEvent
from . import http
from .blackbox import Prober
from .collector import MonitorCollector
from .config import (
    DEFAULT_BUCKETS,
    DEFAULT_LISTEN,
    ConfigError,
    Target,
    hashmod,
    host_name,
    load_config,
    read_document,
)
from .modules import DEFAULT_MODULES, AllowedTargets, Module, parse_modules
from .webconfig import WebGate

# (bucket upper bounds, cumulative counts for each bound, sum of RTTs in seconds, count)
Histogram = tuple[tuple[float, ...], tuple[int, ...], float, int]

# One logger for the whole exporter, "fastping.exporter": main() gives it its handler.
log = logging.getLogger(__package__)


class _Group:
    """The one Monitor of every target (each with its own period and timeout), and the
    targets' state changes."""

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

    def add(self, host: str, period: float, timeout: float) -> None:
        self.monitor.add(host, period=period, timeout=timeout)

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


@dataclass
class Exporter:
    """One Monitor for all the targets, a collector over it, and an HTTP server.

    ``targets`` are pinged always; ``config`` is a YAML file read at start and
    on every reload (SIGHUP in ``main``, or ``reload()``/``request_reload()``).
    A target without its own period or timeout gets ``period``/``timeout``.
    With ``shard=(k, n)`` only targets whose ``hashmod(host, n)`` is k are
    pinged, so n exporters can share one target list.

    /probe: ``config`` may also hold blackbox's ``modules``; ``web_config`` is an
    exporter-toolkit web configuration file (TLS, basic auth); ``probe_max_timeout`` caps
    every probe, ``allowed_targets`` (networks and names, comma-separated) limits them.
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
    probe_limit: int = 256
    probe_max_timeout: float = 60.0
    allowed_targets: str | None = None
    web_config: str | None = None
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
        self._listen_address = http.parse_listen(self.listen)
        self._group: _Group | None = None
        self._settings: dict[str, tuple[float, float]] = {}  # host: its (period, timeout)
        self._groups_lock = threading.Lock()
        self._apply_lock = threading.Lock()
        self._commands: queue.SimpleQueue[str] = queue.SimpleQueue()
        self._stopped = threading.Event()
        self._server: http.Server | None = None
        self._threads: list[threading.Thread] = []
        self._prober = Prober(self._probe_monitor, max_timeout=check_seconds(
            "probe_max_timeout", self.probe_max_timeout, maximum=MAX_TIMEOUT, allow_zero=False),
            slots=self.probe_limit, privileged=self.privileged, allowed=None
            if self.allowed_targets is None else AllowedTargets.parse(self.allowed_targets))
        self.registry = CollectorRegistry()
        self.registry.register(MonitorCollector(self))
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        GCCollector(registry=self.registry)

    # ---- targets ---------------------------------------------------------------

    def _wanted(self) -> list[Target]:
        """Every target, config file's then command line's; raises ConfigError."""
        targets = list(load_config(self.config)) if self.config is not None else []
        targets.extend(t if isinstance(t, Target) else Target(host_name(t, "target"))
                       for t in self.targets)
        if self.shard is not None:
            index, modulus = self.shard
            targets = [t for t in targets if hashmod(t.host, modulus) == index]
        return targets

    def _key(self, target: Target) -> tuple[float, float]:
        period = self.period if target.period is None else target.period
        timeout = target.timeout if target.timeout is not None else self.timeout
        return period, default_timeout(period) if timeout is None else timeout

    def apply(self, targets: Sequence[Target]) -> None:
        """Ping exactly these targets from now on; the hosts kept keep their state.

        The first target of a host name wins. A host whose period or timeout
        changed starts afresh.
        """
        wanted: dict[str, tuple[float, float]] = {}
        for target in targets:
            if target.host in wanted:
                log.warning("target %s given more than once; the first one counts", target.host)
                continue
            wanted[target.host] = self._key(target)
        with self._apply_lock:
            group = self._group or self._open_group()
            settings = self._settings
            for host, key in list(settings.items()):
                if wanted.get(host) != key:
                    group.remove(host)
                    del settings[host]
            unresolved: dict[str, str] = {}
            for host, key in wanted.items():
                if host in settings:
                    continue
                try:
                    group.add(host, *key)
                except (ValueError, TypeError, socket.gaierror) as error:
                    unresolved[host] = str(error)
                    log.warning("cannot ping %s: %s", host, error)
                else:
                    settings[host] = key
            self.unresolved = unresolved

    def _open_group(self) -> _Group:
        """The one Monitor, started; its own period and timeout are the defaults'."""
        group = _Group(self.period, self.timeout or default_timeout(self.period), self.buckets,
                       self._monitor_options())
        try:
            group.monitor.start()
        except BaseException:
            group.close()
            raise
        with self._groups_lock:
            self._group = group
        return group

    def _monitor_options(self) -> dict[str, Any]:
        return {"down_after": self.down_after, "up_after": self.up_after, "window": self.window,
                "privileged": self.privileged}

    def _modules(self) -> Mapping[str, Module]:
        """/probe's modules: the config file's, or fastping's icmp module; ConfigError."""
        if self.config is None:
            return DEFAULT_MODULES
        return parse_modules(read_document(self.config), self.config) or DEFAULT_MODULES

    def reload(self) -> bool:
        """Re-read the config and apply it; on an error keep the targets as they are."""
        try:
            targets = self._wanted()
            probe_modules = self._modules()
            self.apply(targets)
            self._prober.modules = probe_modules
        except (ConfigError, OSError) as error:
            log.error("reload failed, keeping the targets as they were: %s", error)
            self.last_reload_ok = False
            return False
        self.last_reload_ok = True
        self.last_reload_time = time.time()
        log.info("pinging %d targets", len(self.hosts))
        return True

    def _snapshot(self) -> list[_Group]:
        with self._groups_lock:
            return [] if self._group is None else [self._group]

    @property
    def hosts(self) -> list[str]:
        return [host for group in self._snapshot() for host in group.monitor.hosts]

    # ---- lifetime --------------------------------------------------------------

    def start(self) -> None:
        """Load the targets, start pinging and serving; ConfigError or OSError if it cannot."""
        try:
            web = WebGate(self.web_config) if self.web_config is not None else None
            self._prober.modules = self._modules()
            self.apply(self._wanted())
            self.last_reload_ok = True
            self.last_reload_time = time.time()
            log.info("pinging %d targets", len(self.hosts))
            host, port = self._listen_address
            self._server = http.Server(
                host, port, self.registry, {"/probe": self._prober.respond},
                tls=web.tls if web else None, gate=web,
                on_connection=web.refresh if web else None)
            self._server.start()
        except BaseException:
            self.close()
            raise
        thread = threading.Thread(target=self._control, name="fastping-exporter-control",
                                  daemon=True)
        thread.start()
        self._threads.append(thread)

    @property
    def address(self) -> tuple[str, int]:
        """The (host, port) the server listens on (the real port when 0 was asked for)."""
        if self._server is None:
            raise RuntimeError("the exporter is not serving")
        return self._server.address

    @property
    def url(self) -> str:
        host, port = self.address
        scheme = "https" if self._server is not None and self._server.tls else "http"
        return f"{scheme}://[{host}]:{port}" if ":" in host else f"{scheme}://{host}:{port}"

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
            self._server.close()
            self._server = None
        for thread in self._threads:
            thread.join(10)
        self._threads = []
        with self._apply_lock:
            with self._groups_lock:
                group, self._group = self._group, None
            self._settings = {}
            if group is not None:
                group.close()

    def __enter__(self) -> Exporter:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # ---- /probe ------------------------------------------------------------------

    def _probe_monitor(self) -> Monitor | None:
        # Probes run on the targets' own engine, not one opened per request.
        with self._groups_lock:
            return None if self._group is None else self._group.monitor
