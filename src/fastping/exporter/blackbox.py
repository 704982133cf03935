"""/probe?target=HOST&module=NAME: blackbox_exporter's icmp prober, on the exporter's engine.

What blackbox does, done the same (read from its prober/handler.go, icmp.go and utils.go):
an unknown module is 400 ``Unknown module "x"`` (no module= means http_2xx, as in blackbox,
when the config file has modules; fastping's own icmp module when it has none); a missing
target 400; the probe's time is
the X-Prometheus-Scrape-Timeout-Seconds header (120 s without one) less 0.5 s, or the
module's timeout if that is shorter; the address is chosen by ``preferred_ip_protocol``
(ip6 by default) and ``ip_protocol_fallback``; the metrics are blackbox's names, types,
help and labels, sorted by name as Go's registry writes them, and ``debug=true`` answers
the probe's log, those metrics and the module's configuration as text.

What fastping adds: ``--probe.max-timeout`` caps every probe; at most ``slots`` probes run
at once (a request waits for a slot for as long as its probe could take, then gets 503);
a client that goes away cancels its probe at once, which frees its slot and its engine
entry; ``--probe.allowed-targets`` refuses other targets with 403; ``count=N`` pings N
times back to back and adds probe_icmp_requests/replies, and ``timeout=`` caps the time.

The probe runs on one of the exporter's Monitors (Monitor.submit_probe: no socket or thread
per request): the one whose engine sends what the module asks for (payload size, TTL, source
address, don't-fragment; modules.engine_key), opened when the module was loaded (targets.py).
"""

from __future__ import annotations

import asyncio
import json  # its strings are quoted as Go's %q quotes them
import math
import os
import socket
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from prometheus_client import generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import Collector

from .._common import MAX_TIMEOUT
from .._results import Result
from ..monitor import Monitor
from .config import ConfigError, parse_duration
from .http import in_thread, text
from .modules import DEFAULT_MODULE, DEFAULT_MODULES, AllowedTargets, Module
from .probelog import ProbeLog, debug_page

if TYPE_CHECKING:
    from aiohttp import web

MAX_PROBE_COUNT = 100
TIMEOUT_OFFSET = 0.5  # blackbox's --timeout-offset: time left for the answer to travel
NO_HEADER_TIMEOUT = 120.0  # blackbox's timeout when Prometheus sends no header
BLACKBOX_DEFAULT_MODULE = "http_2xx"


class _Families(Collector):
    """One probe's metric families, in the form generate_latest() reads."""

    def __init__(self, families: list[Metric]) -> None:
        self._families = families

    def collect(self) -> Iterable[Metric]:
        return self._families


class Refused(Exception):
    """A target --probe.allowed-targets does not allow."""


@dataclass(frozen=True)
class Chosen:
    """The address a target resolved to, as blackbox's chooseProtocol picks it."""

    address: str
    protocol: int  # 4 or 6
    seconds: float  # the lookup's


def ip_hash(address: str) -> float:
    """blackbox's probe_ip_addr_hash: FNV-1a (32 bits) of the address's 4 or 16 bytes."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    digest = 0x811C9DC5
    for byte in socket.inet_pton(family, address.split("%")[0]):
        digest = ((digest ^ byte) * 0x01000193) & 0xFFFFFFFF
    return float(digest)


def choose(target: str, module: Module, log: ProbeLog) -> Chosen:
    """Resolve target, preferring the module's protocol; OSError if there is no address."""
    preferred = socket.AF_INET if module.preferred_ip_protocol == "ip4" else socket.AF_INET6
    log.info("Resolving target address", target=target,
             ip_protocol=module.preferred_ip_protocol)
    started = time.monotonic()
    try:
        family = socket.AF_UNSPEC if module.ip_protocol_fallback else preferred
        found = socket.getaddrinfo(target, None, family, socket.SOCK_RAW)
        addresses = [(info[0], str(info[4][0])) for info in found]
        address = next((a for a in addresses if a[0] == preferred), addresses[0])
    except (OSError, UnicodeError, IndexError) as error:
        log.error("Resolution with IP protocol failed", target=target, err=str(error))
        raise OSError(f"cannot resolve {target}: {error}") from None
    finally:
        seconds = time.monotonic() - started
    log.info("Resolved target address", target=target, ip=address[1])
    return Chosen(address[1], 6 if address[0] == socket.AF_INET6 else 4, seconds)


def scrape_timeout(header: str | None, module: Module, max_timeout: float) -> float:
    """blackbox's getTimeout (header less the offset, or the module's if shorter), capped by
    --probe.max-timeout; ValueError if the header is not a number."""
    seconds = float(header) if header else 0.0
    seconds = seconds or NO_HEADER_TIMEOUT
    most = seconds - TIMEOUT_OFFSET
    if 0 < module.timeout < most or most < 0:
        most = module.timeout
    return min(max(most, 0.001), max_timeout, MAX_TIMEOUT)


def engine_timeout(seconds: float) -> float:
    """The engine's timeout for a probe that may take seconds: the next power of two (from
    1/64 s), so that probes with deadlines a microsecond apart share one of the engine's
    few distinct timeouts (_engine.MAX_TIMEOUTS); the handler keeps the exact deadline."""
    return min(2.0 ** max(-6, math.ceil(math.log2(seconds))), MAX_TIMEOUT)


def _gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, value=value)


def probe(target: str, *, count: int = 1, timeout: float = 1.0,
          privileged: bool | None = None, monitor: Monitor | None = None) -> list[Metric]:
    """Ping target count times, back to back, as /probe's default icmp module does: on the
    running monitor's engine if one is given (the exporter's), else on one of its own.

    Returns its metric families (blackbox's, and probe_icmp_requests/replies). A target
    that cannot be resolved is a failed probe, not an error.
    """
    if monitor is None:
        with Monitor(privileged=privileged) as own:
            own.start()
            return probe(target, count=count, timeout=timeout, monitor=own)
    prober = Prober(lambda module: monitor, max_timeout=MAX_TIMEOUT, slots=1)
    return asyncio.run(prober.run(target, DEFAULT_MODULES[DEFAULT_MODULE], timeout, count,
                                  ProbeLog(DEFAULT_MODULE, target), extras=True))


class Prober:
    """/probe for the exporter: its modules (replaced on reload), its limits, and the
    running Monitor to probe a module's probes on (``engine(module)``: LookupError, saying
    why, if there is none)."""

    def __init__(self, engine: Callable[[Module], Monitor], *, max_timeout: float,
                 slots: int, allowed: AllowedTargets | None = None) -> None:
        self.modules: Mapping[str, Module] = DEFAULT_MODULES
        self._engine = engine
        self._max_timeout = max_timeout
        self._slot_count = slots
        self._slots: asyncio.Semaphore | None = None  # made on the server's loop
        self._allowed = allowed

    async def respond(self, request: web.BaseRequest) -> web.StreamResponse:
        """Answers a /probe request (on the HTTP server's loop)."""
        from aiohttp import web

        query = request.query
        # Without a module file, fastping's icmp module; with one, blackbox's default.
        name = query.get("module") or (DEFAULT_MODULE if self.modules is DEFAULT_MODULES
                                       else BLACKBOX_DEFAULT_MODULE)
        module = self.modules.get(name)
        if module is None:
            return text(400, f"Unknown module {json.dumps(name)}")
        try:
            timeout = scrape_timeout(request.headers.get("X-Prometheus-Scrape-Timeout-Seconds"),
                                     module, self._max_timeout)
        except ValueError as error:
            return text(500, f"Failed to parse timeout from Prometheus header: {error}")
        target = query.get("target", "").strip()
        if not target:
            return text(400, "Target parameter is missing")
        if len(query.getall("target")) > 1:
            return text(400, "give one target")
        if module.prober != "icmp":
            return text(400, f"Unknown prober {json.dumps(module.prober)}: fastping runs "
                        "blackbox's icmp prober only")
        try:
            count = int(query.get("count", "1"))
            if not 1 <= count <= MAX_PROBE_COUNT:
                raise ValueError
            if "timeout" in query:
                timeout = min(timeout, parse_duration(query["timeout"], "timeout"))
        except ValueError as error:
            detail = str(error) if isinstance(error, ConfigError) else ""
            return text(400, detail or f"count must be an integer from 1 to {MAX_PROBE_COUNT}")
        if self._slots is None:
            self._slots = asyncio.Semaphore(self._slot_count)
        try:
            await asyncio.wait_for(self._slots.acquire(), timeout)
        except asyncio.TimeoutError:
            return text(503, "too many probes at once")
        log = ProbeLog(name, target)
        try:
            families = await self.run(target, module, timeout, count, log,
                                      extras="count" in query)
        except Refused as refused:
            return text(403, str(refused))
        finally:
            self._slots.release()
        if query.get("debug") == "true":
            text_format = generate_latest(_Families(families)).decode()
            return web.Response(text=debug_page(log, text_format, module.settings))
        # Negotiated as /metrics is (blackbox's promhttp does the same): text 0.0.4 by default.
        encoder, content_type = choose_encoder(request.headers.get("Accept", ""))
        return web.Response(body=encoder(_Families(families)),
                            headers={"Content-Type": content_type})

    async def run(self, target: str, module: Module, timeout: float, count: int,
                  log: ProbeLog, *, extras: bool) -> list[Metric]:
        """Probe target with module: its metric families; Refused if it is not allowed."""
        started = time.monotonic()
        log.info("Beginning probe", probe="icmp", timeout_seconds=timeout)
        phases = {"resolve": 0.0, "rtt": 0.0, "setup": 0.0}
        chosen = Chosen("", 0, 0.0)
        results: list[Result] = []
        try:
            chosen = await asyncio.wait_for(in_thread(choose, target, module, log), timeout)
        except (OSError, asyncio.TimeoutError) as error:
            log.error("Error resolving address", err=str(error) or "timeout")
        else:
            self._check_allowed(target, chosen.address)
            phases["resolve"] = chosen.seconds
            remaining = max(0.001, timeout - (time.monotonic() - started))
            results = await self._ping(chosen.address, module, count, remaining / count,
                                       phases, log)
        replies = [r for r in results if r.ok and r.rtt is not None]
        if replies:
            phases["rtt"] = sum(r.rtt or 0.0 for r in replies) / len(replies)
            log.info("Found matching reply packet")
        elif results and results[-1].errno is not None:  # the send failed (EMSGSIZE with DF)
            log.error("Error writing to socket", err=os.strerror(results[-1].errno))
        elif results:
            log.warn("Timeout reading from socket", err=results[-1].status.value)
        duration = time.monotonic() - started
        log.log("info" if replies else "error",
                "Probe succeeded" if replies else "Probe failed", duration_seconds=duration)
        lookup = chosen.seconds if chosen.address else time.monotonic() - started
        phase_family = GaugeMetricFamily("probe_icmp_duration_seconds",
                                         "Duration of icmp request by phase", labels=("phase",))
        for phase, seconds in phases.items():
            phase_family.add_metric([phase], seconds)
        families = [
            _gauge("probe_dns_lookup_time_seconds",
                   "Returns the time taken for probe dns lookup in seconds", lookup),
            _gauge("probe_duration_seconds",
                   "Returns how long the probe took to complete in seconds", duration),
            phase_family,
            _gauge("probe_ip_addr_hash", "Specifies the hash of IP address. It's useful to "
                   "detect if the IP address changes.",
                   ip_hash(chosen.address) if chosen.address else 0.0),
            _gauge("probe_ip_protocol", "Specifies whether probe ip protocol is IP4 or IP6",
                   chosen.protocol),
            _gauge("probe_success", "Displays whether or not the probe was a success",
                   1.0 if replies else 0.0)]
        if replies and replies[-1].ttl is not None:
            families.append(_gauge("probe_icmp_reply_hop_limit",
                                   "Replied packet hop limit (TTL for ipv4)", replies[-1].ttl))
        if extras:
            families.append(_gauge("probe_icmp_requests", "Echo requests sent.", len(results)))
            families.append(_gauge("probe_icmp_replies", "Echo replies received.",
                                   len(replies)))
        return sorted(families, key=lambda family: family.name)

    def _check_allowed(self, target: str, address: str) -> None:
        allowed = self._allowed
        if allowed is None or allowed.allows_name(target) or allowed.allows_address(address):
            return
        raise Refused(f"target {target} ({address}) is not in --probe.allowed-targets")

    async def _ping(self, address: str, module: Module, count: int, timeout: float,
                    phases: dict[str, float], log: ProbeLog) -> list[Result]:
        log.info("Creating socket")
        before = time.monotonic()
        try:
            monitor = self._engine(module)
        except LookupError as error:  # its engine could not be opened (say, its source)
            log.error("Error listening to socket", err=str(error.args[0]))
            return []
        try:
            future = await in_thread(lambda: monitor.submit_probe(
                address, count=count, timeout=engine_timeout(timeout)))
        except (ValueError, RuntimeError) as error:  # the engine is full or closing
            log.error("Error writing to socket", err=str(error))
            return []
        phases["setup"] = time.monotonic() - before
        log.info("Writing out packet")
        try:
            # Shielded: a cancelled request cancels the probe's future from a worker thread,
            # not from this loop (forgetting the probe waits for the monitor's loop).
            return await asyncio.wait_for(asyncio.shield(asyncio.wrap_future(future)),
                                          timeout * count)
        except asyncio.TimeoutError:
            return []
        finally:
            if not future.done():
                threading.Thread(target=future.cancel, daemon=True).start()
