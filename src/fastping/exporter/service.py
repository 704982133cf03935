"""The Exporter: its targets (targets.py), reloads that change nothing unless the whole new
configuration is good, a control thread that cannot die, and the collector and HTTP server
over them.

Reloads run on the control thread, one after the other, asked for by SIGHUP (through
``request_reload``, safe in a signal handler). A reload reads and validates the whole file
first (config.py), then applies it (``Targets.apply``); any exception at all, of any type,
leaves the running targets and their history as they were and sets
``..._config_last_reload_successful`` to 0. Stopping never waits for a reload: ``close()``
closes the engines under it, and the reload meets them closed.
"""

from __future__ import annotations

import logging
import math
import queue
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, make_wsgi_app
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector

from .._common import MAX_INTERVAL, MAX_TIMEOUT, default_timeout
from .._resolve import check_seconds
from . import blackbox, http
from .collector import SMOKEPING_VERSIONS, MonitorCollector
from .config import (
    DEFAULT_BUCKETS,
    DEFAULT_LISTEN,
    ConfigError,
    Target,
    excerpt,
    hashmod,
    host_name,
    load_config,
)
from .targets import DEFAULT_ENGINE, Snapshot, Targets

# One logger for the whole exporter, "fastping.exporter": main() gives it its handler.
log = logging.getLogger(__package__)

# How long close() waits for a reload under way (say, resolving names) before it goes on
# without it: the control thread is a daemon, and what it then touches is closed.
_CONTROL_JOIN = 1.0


@dataclass
class Exporter:
    """Monitors for the targets, a collector over them, and an HTTP server.

    ``targets`` are pinged always; ``config`` is a YAML file read at start and
    on every reload (SIGHUP in ``main``, or ``reload()``/``request_reload()``).
    A target without its own period or timeout gets ``period``/``timeout``.
    With ``shard=(k, n)`` only targets whose ``hashmod(host, n)`` is k are
    pinged, so n exporters can share one target list. ``smokeping_version``
    ("0.11" or "0.6") is the smokeping_prober whose metrics /metrics shows;
    ``fastping_metrics=False`` leaves out fastping's own.
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
    smokeping_version: str = "0.11"
    fastping_metrics: bool = True
    registry: CollectorRegistry = field(init=False)
    last_reload_ok: bool = field(init=False, default=False)
    last_reload_time: float = field(init=False, default=0.0)

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
        if self.smokeping_version not in SMOKEPING_VERSIONS:
            raise ConfigError(f"smokeping_version: one of {', '.join(SMOKEPING_VERSIONS)}, "
                              f"not {excerpt(self.smokeping_version)}")
        self._listen_address = http.parse_listen(self.listen)
        self._targets = Targets(self.period, self.timeout, self.buckets, {
            "down_after": self.down_after, "up_after": self.up_after, "window": self.window,
            "privileged": self.privileged})
        self._commands: queue.SimpleQueue[str] = queue.SimpleQueue()
        self._stopped = threading.Event()
        self._closing = False
        self._server: WSGIServer | None = None
        self._threads: list[threading.Thread] = []
        self._probes = threading.BoundedSemaphore(self.probe_limit)
        self.registry = CollectorRegistry()
        self._app = http.router(make_wsgi_app(self.registry), self._probe)
        self.registry.register(MonitorCollector(self))
        if self.fastping_metrics:
            ProcessCollector(registry=self.registry)
            PlatformCollector(registry=self.registry)
            GCCollector(registry=self.registry)

    # ---- targets ---------------------------------------------------------------

    def _wanted(self) -> list[Target]:
        """Every target, the config file's then the command line's; raises ConfigError."""
        targets = list(load_config(self.config)) if self.config is not None else []
        targets.extend(t if isinstance(t, Target) else Target(host_name(t, "target"))
                       for t in self.targets)
        if self.smokeping_version == "0.6" and any(target.labels for target in targets):
            raise ConfigError("custom labels need --smokeping-version 0.11 (smokeping_prober "
                              "0.6 has none)")
        if self.shard is not None:
            index, modulus = self.shard
            targets = [t for t in targets if hashmod(t.host, modulus) == index]
        return targets

    def apply(self, targets: Sequence[Target]) -> None:
        """Ping exactly these targets from now on; the hosts kept keep their state.

        The first target of a host name wins. A host whose period, timeout or engine
        options changed starts afresh. Raises with nothing changed if an engine cannot be
        opened.
        """
        self._targets.apply(targets, lambda: self._closing)

    def reload(self) -> bool:
        """Re-read the config and apply it; on any error keep the targets as they are."""
        try:
            self.apply(self._wanted())
        except Exception as error:  # any type: a reload must never end the control thread
            message = (error.strerror if isinstance(error, OSError) and error.strerror
                       else str(error))
            log.error("reload failed, keeping the %d targets as they were: %s",
                      len(self.hosts), message[:300])
            self.last_reload_ok = False
            return False
        self.last_reload_ok = True
        self.last_reload_time = time.time()
        log.info("pinging %d targets", len(self.hosts))
        return True

    def snapshot(self) -> Snapshot:
        """The engines and the hosts' labels, as a scrape reads them."""
        return self._targets.snapshot()

    @property
    def hosts(self) -> list[str]:
        return self._targets.hosts

    @property
    def unresolved(self) -> dict[str, str]:
        """Targets that could not be added (a name that does not resolve), and why."""
        return self._targets.unresolved

    # ---- lifetime --------------------------------------------------------------

    def start(self) -> None:
        """Load the targets, start pinging and serving; ConfigError or OSError if it cannot."""
        try:
            self.apply(self._wanted())
            self.last_reload_ok = True
            self.last_reload_time = time.time()
            log.info("pinging %d targets", len(self.hosts))
            host, port = self._listen_address
            self._server = http.serve(host, port, self._app)
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
        # reload() lets no Exception out, so this loop ends only when asked to.
        while self._commands.get() != "stop":
            self.reload()
        self._stopped.set()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until stopped (request_stop()); True if it was."""
        return self._stopped.wait(timeout)

    def close(self) -> None:
        """Stop serving and pinging; every descriptor is released. Idempotent.

        Never waits long for a reload under way: the engines are closed under it."""
        self._closing = True
        self._commands.put("stop")
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        self._targets.close()
        for thread in self._threads:
            thread.join(_CONTROL_JOIN)
        self._threads = []

    def __enter__(self) -> Exporter:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # ---- /probe ------------------------------------------------------------------

    def _probe(self, environ: http.Environ,
               start_response: http.StartResponse) -> Iterable[bytes]:
        # A request without a timeout gets the exporter's, else its period up to 1 s.
        default = self.timeout if self.timeout is not None else default_timeout(self.period)
        # On the targets' own engine (the default options' if open), not one opened per
        # request.
        groups = sorted(self.snapshot().groups, key=lambda group: group.key != DEFAULT_ENGINE)
        monitor = groups[0].monitor if groups else None
        return blackbox.respond(environ, start_response, default_timeout=default,
                                privileged=self.privileged, slots=self._probes, monitor=monitor)
