"""/probe's modules, as blackbox_exporter's config file has them, and its allow-list of targets.

A blackbox config file is a mapping with ``modules:``, each module a ``prober`` with its
options. fastping runs the icmp prober (``timeout``, and under ``icmp:``
``preferred_ip_protocol``, ``ip_protocol_fallback``, ``source_ip_address``,
``payload_size``, ``dont_fragment``, ``ttl``, with blackbox's defaults and checks); the
modules of other probers are kept by name, so a blackbox config file loads as it is, and a
/probe for one of them is a clear 400. Unknown keys are errors, as blackbox decodes with
KnownFields. The same file may also hold smokeping_prober's ``targets``: the document is
parsed by the caller and each part reads its own keys.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field

from .._common import ENGINE_DEFAULTS, MAX_SIZE
from .config import MAX_ENGINE_SETS, ConfigError, check_keys, excerpt, parse_duration
from .targets import EngineKey

DEFAULT_TTL = 64  # blackbox's DefaultICMPTTL
_MODULE_KEYS = {"prober", "timeout", "http", "tcp", "icmp", "dns", "grpc", "unix", "websocket"}
_ICMP_KEYS = {"preferred_ip_protocol", "ip_protocol_fallback", "source_ip_address",
              "payload_size", "dont_fragment", "ttl"}


@dataclass(frozen=True)
class Module:
    """One /probe module; ``timeout`` 0 means none (the scrape timeout's)."""

    name: str
    prober: str = "icmp"
    timeout: float = 0.0
    preferred_ip_protocol: str = "ip6"
    ip_protocol_fallback: bool = True
    source_ip_address: str = ""
    payload_size: int = 0
    dont_fragment: bool = False
    ttl: int = DEFAULT_TTL
    # The module as blackbox's debug output shows it (its YAML, defaults filled in).
    settings: dict[str, object] = field(default_factory=dict, compare=False)


# /probe without module=: fastping's icmp module (blackbox's default is http_2xx).
DEFAULT_MODULE = "icmp"
DEFAULT_MODULES: Mapping[str, Module] = {
    DEFAULT_MODULE: Module(DEFAULT_MODULE, settings={"prober": "icmp", "icmp": {
        "ip_protocol_fallback": True, "ttl": DEFAULT_TTL}})}


def engine_key(module: Module) -> EngineKey:
    """The engine an icmp module's probes run on (targets.py): its payload size, TTL, source
    address and don't-fragment, each None where it is the engine's default (no size given,
    or 56; blackbox's TTL 64, the system's), so that modules that differ in nothing the
    engine does share its default engine. Either address family: a module picks per probe."""
    size = None if module.payload_size in (0, ENGINE_DEFAULTS["size"]) else module.payload_size
    ttl = None if module.ttl in (0, DEFAULT_TTL) else module.ttl
    return (size, None, module.source_ip_address or None, None, ttl,
            True if module.dont_fragment else None)


def _flag(section: Mapping[str, object], key: str, default: bool, where: str) -> bool:
    value = section.get(key, default)
    if not isinstance(value, bool):
        raise ConfigError(f"{where}: {key} must be true or false, not {excerpt(value)}")
    return value


def _integer(section: Mapping[str, object], key: str, default: int, maximum: int,
             where: str) -> int:
    value = section.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= maximum:
        raise ConfigError(f"{where}: {key} must be an integer from 0 to {maximum}, "
                          f"not {excerpt(value)}")
    return value


def _icmp(entry: Mapping[str, object], name: str, where: str) -> Module:
    section = entry.get("icmp") or {}
    if not isinstance(section, dict):
        raise ConfigError(f"{where}: icmp must be a mapping, not {excerpt(section)}")
    check_keys(section, _ICMP_KEYS, f"{where}: icmp")
    protocol = section.get("preferred_ip_protocol") or "ip6"
    if protocol not in ("ip4", "ip6"):
        raise ConfigError(f"{where}: preferred_ip_protocol must be ip4 or ip6, "
                          f"not {excerpt(protocol)}")
    source = section.get("source_ip_address") or ""
    if not isinstance(source, str):
        raise ConfigError(f"{where}: source_ip_address must be an address")
    if source:
        try:
            ipaddress.ip_address(source)
        except ValueError:
            raise ConfigError(f"{where}: source_ip_address: not an IP address: "
                              f"{excerpt(source)}") from None
    timeout = entry.get("timeout")
    icmp = Module(
        name, "icmp", 0.0 if timeout is None else parse_duration(timeout, f"{where}: timeout"),
        protocol, _flag(section, "ip_protocol_fallback", True, where), source,
        _integer(section, "payload_size", 0, MAX_SIZE, where),
        _flag(section, "dont_fragment", False, where),
        _integer(section, "ttl", DEFAULT_TTL, 255, where))
    settings: dict[str, object] = {"prober": "icmp"}
    if timeout is not None:
        settings["timeout"] = timeout
    settings["icmp"] = {key: value for key, value in (
        ("preferred_ip_protocol", section.get("preferred_ip_protocol")),
        ("ip_protocol_fallback", icmp.ip_protocol_fallback), ("source_ip_address", source),
        ("payload_size", icmp.payload_size), ("dont_fragment", icmp.dont_fragment),
        ("ttl", icmp.ttl)) if value}
    return Module(**{**icmp.__dict__, "settings": settings})


def parse_modules(document: object, source: str = "config") -> dict[str, Module]:
    """The modules of a loaded blackbox-style document (none if it has no ``modules``);
    ConfigError, saying where, for anything blackbox would refuse."""
    if not isinstance(document, dict) or document.get("modules") is None:
        return {}
    entries = document["modules"]
    if not isinstance(entries, dict):
        raise ConfigError(f"{source}: modules must be a mapping of names to modules")
    modules: dict[str, Module] = {}
    for name, entry in entries.items():
        where = f"{source}: module {excerpt(name)}"
        if not isinstance(name, str) or not isinstance(entry, dict):
            raise ConfigError(f"{where}: expected a name and a mapping")
        check_keys(entry, _MODULE_KEYS, where)
        prober = entry.get("prober")
        if not isinstance(prober, str) or not prober:
            raise ConfigError(f"{where}: give its prober (icmp)")
        modules[name] = (_icmp(entry, name, where) if prober == "icmp"
                         else Module(name, prober, settings=dict(entry)))
    # Each distinct set of engine options is an engine kept open (targets.py): bounded.
    if len({engine_key(m) for m in modules.values() if m.prober == "icmp"}) > MAX_ENGINE_SETS:
        raise ConfigError(f"{source}: more than {MAX_ENGINE_SETS} distinct combinations of "
                          "payload_size, ttl, source_ip_address and dont_fragment")
    return modules


@dataclass(frozen=True)
class AllowedTargets:
    """``--probe.allowed-targets``: the networks and host names /probe may ping."""

    networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]
    names: frozenset[str]

    @classmethod
    def parse(cls, text: str) -> AllowedTargets:
        """From a comma-separated list of networks (CIDR or addresses) and host names."""
        networks, names = [], set()
        for item in (part.strip() for part in text.split(",")):
            if not item:
                continue
            try:
                networks.append(ipaddress.ip_network(item, strict=False))
            except ValueError:
                if any(c.isspace() or c in "/[]" for c in item):
                    raise ConfigError(f"--probe.allowed-targets: neither a network nor a "
                                      f"host name: {excerpt(item)}") from None
                names.add(item.lower().rstrip("."))
        if not networks and not names:
            raise ConfigError("--probe.allowed-targets: give networks or host names")
        return cls(tuple(networks), frozenset(names))

    def allows_name(self, target: str) -> bool:
        return target.lower().rstrip(".") in self.names

    def allows_address(self, address: str) -> bool:
        ip = ipaddress.ip_address(address.split("%")[0])
        return any(ip in network for network in self.networks)
