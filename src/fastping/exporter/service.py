"""The Exporter: its targets (targets.py), reloads that change nothing unless the whole new
configuration is good, a control thread that cannot die, and the collector and HTTP server
over them.

Reloads run on the control thread, one after the other, asked for by SIGHUP (through
``request_reload``, safe in a signal handler) or by ``POST /-/reload``, which answers when
its reload is done, as smokeping_prober's does (200 and no body, or 500 and why). A reload
reads and validates the whole file first (config.py), then applies it (``Targets.apply``);
any exception at all, of any type, leaves the running targets and their history as they
were and sets ``..._config_last_reload_successful`` to 0. Stopping never waits for a
reload: ``close()`` closes the engines under it, and the reload meets them closed.
"""

from __future__ import annotations

import asyncio
import logging
import math
import queue
import threading
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector

from .._common import MAX_INTERVAL, MAX_TIMEOUT
from .._resolve import check_seconds
from . import http
from .blackbox import Prober
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
    load_document,
)
from .exposition import Scrapes
from .modules import DEFAULT_MODULES, AllowedTargets, Module, engine_key, parse_modules
from .targets import Snapshot, Targets
from .webconfig import WebGate

if TYPE_CHECKING:
    from aiohttp import web

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

    ``listen`` is one HOST:PORT or several (each served), ``telemetry_path`` the path of
    /metrics (smokeping_prober's --web.telemetry-path).

    /probe: ``config`` may also hold blackbox's ``modules``; ``web_config`` is an
    exporter-toolkit web configuration file (TLS, basic auth); ``probe_max_timeout`` caps
    every probe, ``allowed_targets`` (networks and names, comma-separated) limits them.
    """

    targets: Sequence[str | Target] = ()
    config: str | None = None
    period: float = 1.0
    timeout: float | None = None
    buckets: Sequence[float] = DEFAULT_BUCKETS
    listen: str | Sequence[str] = DEFAULT_LISTEN
    telemetry_path: str = "/metrics"
    down_after: int = 3
    up_after: int = 1
    window: int = 32
    privileged: bool | None = None
    shard: tuple[int, int] | None = None
    probe_limit: int = 256
    probe_max_timeout: float = 60.0
    allowed_targets: str | None = None
    web_config: str | None = None
    smokeping_version: str = "0.11"
    fastping_metrics: bool = True
    registry: CollectorRegistry = field(init=False)

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
        listens = [self.listen] if isinstance(self.listen, str) else list(self.listen)
        if not listens:
            raise ConfigError("listen: give at least one HOST:PORT")
        self._listen_addresses = [http.parse_listen(listen) for listen in listens]
        if (not isinstance(self.telemetry_path, str) or not self.telemetry_path.startswith("/")
                or self.telemetry_path in ("/", "/probe", "/-/reload", "/-/healthy")):
            raise ConfigError("telemetry path: a path from /, other than /, /probe, "
                              f"/-/reload and /-/healthy, not {excerpt(self.telemetry_path)}")
        self._targets = Targets(self.period, self.timeout, self.buckets, {
            "down_after": self.down_after, "up_after": self.up_after, "window": self.window,
            "privileged": self.privileged})
        # "reload", "stop", or a reload whose outcome someone waits for (None, or the error).
        self._commands: queue.SimpleQueue[str | Future[str | None]] = queue.SimpleQueue()
        self._stopped = threading.Event()
        self._closing = False
        self._server: http.Server | None = None
        self._threads: list[threading.Thread] = []
        self._prober = Prober(
            lambda module: self._targets.probe_engine(engine_key(module)),
            max_timeout=check_seconds("probe_max_timeout", self.probe_max_timeout,
                                      maximum=MAX_TIMEOUT, allow_zero=False),
            slots=self.probe_limit, allowed=None
            if self.allowed_targets is None else AllowedTargets.parse(self.allowed_targets))
        # /metrics is rendered by Scrapes (exposition.py) from the Monitors' collector's
        # description, then the runtime's collectors; the registry holds the same collectors
        # for prometheus_client's own rendering (of a restricted name[] request, say).
        runtime = CollectorRegistry()
        if self.fastping_metrics:
            ProcessCollector(registry=runtime)
            PlatformCollector(registry=runtime)
            GCCollector(registry=runtime)
        self.registry = CollectorRegistry()
        self.registry.register(MonitorCollector(self))
        self.registry.register(runtime)
        self._scrapes = Scrapes(self, runtime)

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

    def apply(self, targets: Sequence[Target],
              modules: Mapping[str, Module] | None = None) -> None:
        """Ping exactly these targets from now on; the hosts kept keep their state.

        The first target of a host name wins. A host whose period, timeout or engine
        options changed starts afresh. Raises with nothing changed if an engine cannot be
        opened. With modules, /probe's engines become theirs (opened here, never per probe).
        """
        self._apply(targets, self._prober.modules if modules is None else modules)

    def _apply(self, targets: Sequence[Target], modules: Mapping[str, Module],
               reload: bool = False) -> None:
        """apply(); reload: this is a (re)load of the configuration, stamped successful."""
        self._targets.apply(targets, lambda: self._closing,
                            {engine_key(m) for m in modules.values() if m.prober == "icmp"},
                            reload)
        self._scrapes.prepare()  # so that the first scrape costs what the others do

    def _modules(self) -> Mapping[str, Module]:
        """/probe's modules: the config file's, or fastping's icmp module; ConfigError."""
        if self.config is None:
            return DEFAULT_MODULES
        return parse_modules(load_document(self.config), self.config) or DEFAULT_MODULES

    def reload(self) -> bool:
        """Re-read the config and apply it; on any error keep the targets (and /probe's
        modules) as they are."""
        return self._reload() is None

    def _reload(self) -> str | None:
        """reload(): None, or what went wrong."""
        try:
            targets, probe_modules = self._wanted(), self._modules()
            self._apply(targets, probe_modules, reload=True)
            self._prober.modules = probe_modules
        except Exception as error:  # any type: a reload must never end the control thread
            message = (error.strerror if isinstance(error, OSError) and error.strerror
                       else str(error))
            log.error("reload failed, keeping the %d targets as they were: %s",
                      len(self.hosts), message[:300])
            self._targets.reload_failed()
            return message[:300]
        log.info("pinging %d targets", len(self.hosts))
        return None

    @property
    def last_reload_ok(self) -> bool:
        """Whether the last (re)load of the configuration succeeded."""
        return self._targets.snapshot().reload_ok

    @property
    def last_reload_time(self) -> float:
        """When the configuration was last (re)loaded successfully (Unix time; 0 never)."""
        return self._targets.snapshot().reload_time

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
            web = WebGate(self.web_config) if self.web_config is not None else None
            self._prober.modules = self._modules()
            self._apply(self._wanted(), self._prober.modules, reload=True)
            log.info("pinging %d targets", len(self.hosts))
            (host, port), *also = self._listen_addresses
            self._server = http.Server(
                host, port, self.registry,
                {"/probe": self._prober.respond, "/-/reload": self._reload_page},
                metrics=self.render_metrics,
                tls=web.tls if web else None, gate=web,
                on_connection=web.refresh if web else None,
                metrics_path=self.telemetry_path, also=also)
            self._server.start()
        except BaseException:
            self.close()
            raise
        thread = threading.Thread(target=self._control, name="fastping-exporter-control",
                                  daemon=True)
        thread.start()
        self._threads.append(thread)

    @property
    def addresses(self) -> list[tuple[str, int]]:
        """The (host, port)s the server listens on (the real ports when 0 was asked for)."""
        if self._server is None:
            raise RuntimeError("the exporter is not serving")
        return self._server.addresses

    @property
    def address(self) -> tuple[str, int]:
        """The first of addresses."""
        return self.addresses[0]

    @property
    def urls(self) -> list[str]:
        """A URL for each address: scheme, host and port."""
        scheme = "https" if self._server is not None and self._server.tls else "http"
        return [f"{scheme}://[{host}]:{port}" if ":" in host else f"{scheme}://{host}:{port}"
                for host, port in self.addresses]

    @property
    def url(self) -> str:
        return self.urls[0]

    def request_reload(self) -> None:
        """Ask for a reload on the control thread. Safe from a signal handler."""
        self._commands.put("reload")

    def request_stop(self) -> None:
        """Ask the exporter to stop (wait() returns). Safe from a signal handler."""
        self._commands.put("stop")

    def _control(self) -> None:
        # _reload() lets no Exception out, so this loop ends only when asked to.
        while (command := self._commands.get()) != "stop":
            if isinstance(command, Future):
                # A client that went away cancelled its future: the reload it asked for is
                # done all the same, as smokeping_prober does it.
                waited = command.set_running_or_notify_cancel()
                error = self._reload()
                if waited:
                    command.set_result(error)
            else:
                self._reload()
        self._stopped.set()

    async def _reload_page(self, request: web.BaseRequest) -> web.StreamResponse:
        """``/-/reload``: POST reloads on the control thread and answers when done."""
        from aiohttp import web

        if request.method != "POST":
            return http.text(405, "This endpoint requires a POST request.")
        done: Future[str | None] = Future()
        self._commands.put(done)
        error = await asyncio.wrap_future(done)
        if error is not None:
            return http.text(500, f"Failed to reload config: {error}")
        return web.Response()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until stopped (request_stop()); True if it was."""
        return self._stopped.wait(timeout)

    def close(self) -> None:
        """Stop serving and pinging; every descriptor is released. Idempotent.

        Never waits long for a reload under way: the engines are closed under it."""
        self._closing = True
        self._commands.put("stop")
        if self._server is not None:
            self._server.close()
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

    # ---- /metrics -----------------------------------------------------------------

    def render_metrics(self, open_metrics: bool = False, gzip: bool = False) -> Iterator[bytes]:
        """The text of /metrics (OpenMetrics if asked), in chunks of about a megabyte, or
        gzipped (one gzip stream); from any thread. Scrapes that overlap share one reading of
        the engines, and those that arrive together one rendering (and compression)."""
        return self._scrapes.render(open_metrics, gzip)
