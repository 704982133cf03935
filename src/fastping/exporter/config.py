"""The exporter's configuration: a YAML file read within bounds, its targets validated
completely, Go-style durations, and hashmod sharding.

Reading and understanding are two steps, so that each kind of file (targets here, blackbox
modules elsewhere) shares the one bounded reader: ``load_document(path)`` returns the YAML
document or raises ConfigError, and ``parse_config(document)`` turns a document into
validated ``Target`` records or raises ConfigError. Nothing of the running exporter changes
until both have succeeded.

A configuration file is untrusted input: a reload must not be able to freeze or kill the
exporter. So the file is at most MAX_CONFIG_BYTES; YAML aliases are allowed, but the document
they expand to may hold at most MAX_NODES nodes (a 429-byte file of nested aliases expands to
9^9 nodes) and no alias may contain itself; every value is checked for type and range here,
not later by the engine; and an error message quotes at most a short excerpt of what the
file holds (``excerpt``), never a whole value.
"""

from __future__ import annotations

import hashlib
import ipaddress
import math
import os
import re
import reprlib
import socket
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import yaml

from .._common import MAX_INTERVAL, MAX_SIZE, MAX_TIMEOUT, MIN_SIZE
from .._resolve import parse_literal

# smokeping_prober's default buckets: 50 µs doubling up to 26.2144 s.
DEFAULT_BUCKETS: tuple[float, ...] = tuple(round(5e-05 * 2**n, 10) for n in range(20))
DEFAULT_LISTEN = "127.0.0.1:9374"

MAX_CONFIG_BYTES = 32 << 20  # about 2 million targets, one a line
MAX_NODES = 4_000_000  # YAML nodes once aliases are expanded
MAX_HOST_LENGTH = 255
MAX_LABELS = 32  # custom labels of one target
MAX_LABEL_VALUE = 1024
MAX_ENGINE_SETS = 64  # distinct (size, tos, source, network): one engine each

# Labels the exporter sets itself, or that its families use: a target may not set them.
RESERVED_LABELS = frozenset({"ip", "host", "source", "tos", "le", "quantile", "to"})
_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
_NETWORKS = {"ip": None, "ip4": 4, "ip6": 6}


class ConfigError(ValueError):
    """A configuration that cannot be used; the message says where and why."""


_EXCERPT = reprlib.Repr()
_EXCERPT.maxlevel, _EXCERPT.maxdict, _EXCERPT.maxlist = 2, 3, 3
_EXCERPT.maxstring = _EXCERPT.maxother = _EXCERPT.maxlong = 40


def excerpt(value: object) -> str:
    """A short repr of user data for an error message: bounded in length and in the work it
    takes, whatever the value holds."""
    try:
        text = _EXCERPT.repr(value)
    except ValueError:  # an int too long to convert to text
        text = f"<{type(value).__name__}>"
    return text if len(text) <= 60 else text[:57] + "..."


# ---- durations ----------------------------------------------------------------------------

_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(value: object, what: str = "duration") -> float:
    """Seconds from a number (seconds) or a Go-style duration string ("500ms", "1m30s")."""
    if isinstance(value, bool):
        raise ConfigError(f"{what}: not a duration: {excerpt(value)}")
    if isinstance(value, (int, float)):
        seconds = float(value)
    elif isinstance(value, str) and len(value) <= 64:
        text = value.strip()
        try:
            seconds = float(text)
        except ValueError:
            position, seconds = 0, 0.0
            for match in _DURATION_PART.finditer(text):
                if match.start() != position:
                    break
                seconds += float(match.group(1)) * _UNITS[match.group(2)]
                position = match.end()
            if position != len(text) or not text:
                raise ConfigError(f"{what}: not a duration: {excerpt(value)} "
                                  "(seconds, or e.g. 500ms, 1s, 1m30s)") from None
    else:
        raise ConfigError(f"{what}: not a duration: {excerpt(value)}")
    if not math.isfinite(seconds) or seconds <= 0:
        raise ConfigError(f"{what}: must be more than zero, not {excerpt(value)}")
    return seconds


def _bounded_duration(value: object, what: str, maximum: float) -> float:
    seconds = parse_duration(value, what)
    if seconds < 1e-6 or seconds > maximum:
        raise ConfigError(f"{what}: {excerpt(value)} is out of range (1us to {maximum:g} s)")
    return seconds


# ---- reading --------------------------------------------------------------------------------


def load_document(path: str) -> object:
    """The one YAML document in the file at path (None if it is empty), read within bounds.

    ConfigError if it cannot be read, is not a regular file, is larger than
    MAX_CONFIG_BYTES, is not UTF-8, is not exactly one valid YAML document, or has aliases
    that contain themselves or expand to more than MAX_NODES nodes.
    """
    text = _read_text(path)
    loader_class = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    loader = loader_class(text)
    try:
        node = loader.get_single_node()
        if node is not None:
            _check_expansion(node, path)
        return loader.construct_document(node) if node is not None else None
    except ConfigError:
        raise
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        raise ConfigError(f"{path}: not valid YAML: {where}"
                          f"{str(error.problem or error.context)[:100]}") from None
    except (yaml.YAMLError, RecursionError, ValueError, TypeError) as error:
        # A construction that fails (a timestamp out of range, nesting too deep, ...).
        raise ConfigError(f"{path}: not valid YAML: {type(error).__name__}: "
                          f"{str(error)[:100]}") from None
    finally:
        loader.dispose()


def _read_text(path: str) -> str:
    try:
        # O_NONBLOCK: a FIFO put where the file was must not block the reload for ever.
        descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as error:
        raise ConfigError(f"{path}: {error.strerror or error}") from None
    try:
        if not stat.S_ISREG(os.fstat(descriptor).st_mode):
            raise ConfigError(f"{path}: not a regular file")
        chunks: list[bytes] = []
        size = 0
        while size <= MAX_CONFIG_BYTES:  # in megabytes: os.read(n) allocates n at once
            chunk = os.read(descriptor, min(1 << 20, MAX_CONFIG_BYTES + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        data = b"".join(chunks)
    except OSError as error:
        raise ConfigError(f"{path}: {error.strerror or error}") from None
    finally:
        os.close(descriptor)
    if size > MAX_CONFIG_BYTES:
        raise ConfigError(f"{path}: larger than {MAX_CONFIG_BYTES >> 20} MiB")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ConfigError(f"{path}: not UTF-8 (byte {error.start})") from None


def _children(node: Any) -> Iterator[Any]:
    value = node.value
    if isinstance(value, list):
        for item in value:
            if isinstance(item, tuple):  # a mapping's (key, value) pair
                yield from item
            else:
                yield item


def _check_expansion(root: Any, path: str) -> None:
    """Counts the nodes the document would have with every alias expanded, without
    expanding it: each distinct node is visited once, its size the sum of its children's.
    Iterative, so that deep nesting cannot exhaust the stack."""
    sizes: dict[int, int] = {}
    entered: set[int] = set()  # nodes on the path from the root: an alias to one is a cycle
    stack: list[tuple[Any, bool]] = [(root, False)]
    while stack:
        node, finished = stack.pop()
        key = id(node)
        if finished:
            entered.discard(key)
            sizes[key] = 1 + sum(sizes[id(child)] for child in _children(node))
            if sizes[key] > MAX_NODES:
                raise ConfigError(f"{path}: its aliases expand to more than {MAX_NODES:,} "
                                  "YAML nodes")
            continue
        if key in sizes:
            continue
        if key in entered:
            raise ConfigError(f"{path}: an alias refers to a node that contains it")
        entered.add(key)
        stack.append((node, True))
        stack.extend((child, False) for child in _children(node) if id(child) not in sizes)


# ---- targets --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Target:
    """One host to ping continuously; None is the exporter's default.

    ``size`` (ICMP payload bytes), ``tos``, ``source`` (an address to send from) and
    ``family`` (4 or 6 for smokeping_prober's ip4/ip6) choose the engine the host is pinged
    by; ``labels`` are smokeping_prober's custom labels, added to every series of the host.
    """

    host: str
    period: float | None = None
    timeout: float | None = None
    size: int | None = None
    tos: int | None = None
    source: str | None = None
    family: int | None = None
    labels: tuple[tuple[str, str], ...] = ()


_TARGET_KEYS = {"host", "hosts", "period", "interval", "timeout", "network", "protocol", "size",
                "source", "tos", "labels"}
_TOP_KEYS = {"targets", "period", "interval", "timeout", "modules"}  # modules: /probe's


def check_keys(entry: dict[Any, Any], allowed: set[str], where: str) -> None:
    unknown = [key for key in entry if key not in allowed]
    if unknown:
        names = ", ".join(excerpt(key) for key in unknown[:3])
        raise ConfigError(f"{where}: unknown key{'s' if len(unknown) > 1 else ''} {names}; "
                          f"expected some of {', '.join(sorted(allowed))}")


def _period_of(entry: dict[str, Any], where: str) -> float | None:
    if "period" in entry and "interval" in entry:
        raise ConfigError(f"{where}: give period or interval (its alias), not both")
    value = entry.get("period", entry.get("interval"))
    return None if value is None else _bounded_duration(value, f"{where}: period", MAX_INTERVAL)


def _timeout_of(entry: dict[str, Any], where: str) -> float | None:
    value = entry.get("timeout")
    return None if value is None else _bounded_duration(value, f"{where}: timeout", MAX_TIMEOUT)


def host_name(value: object, where: str) -> str:
    """A host as given, stripped; ConfigError unless it is a non-empty string of at most
    MAX_HOST_LENGTH characters."""
    if not isinstance(value, str) or not value.strip() or len(value) > MAX_HOST_LENGTH:
        raise ConfigError(f"{where}: a host must be a non-empty string of at most "
                          f"{MAX_HOST_LENGTH} characters, not {excerpt(value)}")
    return value.strip()


def _host_of(value: object, family: int | None, where: str) -> str:
    """host_name, and an address in it checked (a name is resolved only when it is added):
    999.1.1.1 is no address, and ::1 none of network ip4."""
    host = host_name(value, where)
    try:
        address = parse_literal(host)
    except ValueError as error:
        raise ConfigError(f"{where}: {str(error)[:100]}") from None
    if address is not None and family is not None and address.family != (
            socket.AF_INET if family == 4 else socket.AF_INET6):
        raise ConfigError(f"{where}: {excerpt(host)} is not an IPv{family} address")
    return host


def check_size(value: object, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not (
            MIN_SIZE <= value <= MAX_SIZE):
        raise ConfigError(f"{where}: size must be a number of bytes from {MIN_SIZE} to "
                          f"{MAX_SIZE}, not {excerpt(value)}")
    return value


def check_tos(value: object, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 255:
        raise ConfigError(f"{where}: tos must be a number from 0 to 255, not {excerpt(value)}")
    return value


def _source_of(value: object, where: str) -> str | None:
    if value is None or value == "":  # smokeping_prober's default: the system chooses
        return None
    try:
        return str(ipaddress.ip_address(value if isinstance(value, str) else ""))
    except ValueError:
        raise ConfigError(f"{where}: source must be an IP address, not {excerpt(value)}") from None


def _labels_of(value: object, where: str) -> tuple[tuple[str, str], ...]:
    if value is None:
        return ()
    if not isinstance(value, dict) or len(value) > MAX_LABELS:
        raise ConfigError(f"{where}: labels must be a mapping of at most {MAX_LABELS} names to "
                          f"values, not {excerpt(value)}")
    labels = []
    for name, text in value.items():
        if (not isinstance(name, str) or not _LABEL_NAME.fullmatch(name)
                or name.startswith("__") or name in RESERVED_LABELS):
            raise ConfigError(f"{where}: {excerpt(name)} cannot be a label name (a Prometheus "
                              f"name, not __*, nor one of {', '.join(sorted(RESERVED_LABELS))})")
        if isinstance(text, bool):
            text = "true" if text else "false"
        if not isinstance(text, (str, int, float)) or len(str(text)) > MAX_LABEL_VALUE:
            raise ConfigError(f"{where}: label {name}: a value must be a string of at most "
                              f"{MAX_LABEL_VALUE} characters, not {excerpt(text)}")
        labels.append((name, str(text)))
    return tuple(sorted(labels))


def _engine_options(entry: dict[str, Any], where: str) -> dict[str, Any]:
    """A target group's options that choose its engine, and its labels."""
    protocol = entry.get("protocol", "icmp")
    if protocol != "icmp":
        raise ConfigError(
            f"{where}: protocol {excerpt(protocol)} is not supported: fastping sends ICMP "
            "echo requests on raw sockets where permitted, else on unprivileged ICMP datagram "
            "sockets (smokeping_prober's 'udp'); give protocol: icmp or leave it out")
    network = entry.get("network", "ip")
    if not isinstance(network, str) or network not in _NETWORKS:
        raise ConfigError(f"{where}: network must be ip, ip4 or ip6, not {excerpt(network)}")
    return {
        "size": None if entry.get("size") is None else check_size(entry["size"], where),
        "tos": None if entry.get("tos") is None else check_tos(entry["tos"], where),
        "source": _source_of(entry.get("source"), where),
        "family": _NETWORKS[network],
        "labels": _labels_of(entry.get("labels"), where),
    }


def parse_config(document: object, source: str = "config") -> list[Target]:
    """Targets from a loaded YAML document, every value checked; ConfigError if any is wrong.

    The document is a mapping with ``targets`` and optional defaults ``period`` (alias
    ``interval``) and ``timeout``, or a bare list of targets. A target is a host string or a
    mapping with ``host`` (or ``hosts``, a list, as in smokeping_prober) and optional
    ``period``/``interval``, ``timeout``, and smokeping_prober's ``network`` (ip, ip4, ip6),
    ``protocol`` (icmp), ``size``, ``source``, ``tos`` and ``labels``. Durations are seconds
    or strings such as ``500ms`` and ``2s``. An empty document, or one without targets, is
    an error: no targets at all must be said, as ``targets: []``.
    """
    period = timeout = None
    if document is None:
        raise ConfigError(f"{source}: empty, so no targets (say 'targets: []' to ping none)")
    if isinstance(document, dict):
        check_keys(document, _TOP_KEYS, source)
        period = _period_of(document, source)
        timeout = _timeout_of(document, source)
        if "targets" not in document and "modules" in document:
            return []  # blackbox_exporter's file: /probe's modules (modules.py), no targets
        if "targets" not in document:
            raise ConfigError(f"{source}: no targets (say 'targets: []' to ping none)")
        entries = document["targets"]
    else:
        entries = document
    if not isinstance(entries, list):
        raise ConfigError(f"{source}: targets must be a list (say 'targets: []' to ping none), "
                          f"not {excerpt(entries)}")
    targets: list[Target] = []
    engine_sets: set[tuple[Any, ...]] = set()
    for number, entry in enumerate(entries, 1):
        where = f"{source}: target {number}"
        if isinstance(entry, str):
            targets.append(Target(_host_of(entry, None, where), period, timeout))
            continue
        if not isinstance(entry, dict):
            raise ConfigError(f"{where}: expected a host or a mapping, not {excerpt(entry)}")
        check_keys(entry, _TARGET_KEYS, where)
        if ("host" in entry) == ("hosts" in entry):
            raise ConfigError(f"{where}: give exactly one of host and hosts")
        hosts = [entry["host"]] if "host" in entry else entry["hosts"]
        if not isinstance(hosts, list):
            raise ConfigError(f"{where}: hosts must be a list, not {excerpt(hosts)}")
        own_period = _period_of(entry, where)
        own_timeout = _timeout_of(entry, where)
        options = _engine_options(entry, where)
        engine_sets.add((options["size"], options["tos"], options["source"], options["family"]))
        if len(engine_sets) > MAX_ENGINE_SETS:
            raise ConfigError(f"{where}: more than {MAX_ENGINE_SETS} distinct combinations of "
                              "size, tos, source and network (each needs an engine)")
        for host in hosts:
            targets.append(Target(
                _host_of(host, options["family"], where),
                period if own_period is None else own_period,
                timeout if own_timeout is None else own_timeout, **options))
    return targets


def load_config(path: str) -> list[Target]:
    """Targets from a YAML file (load_document, then parse_config); ConfigError if it cannot
    be used."""
    return parse_config(load_document(path), path)


def hashmod(value: str, modulus: int) -> int:
    """Prometheus' ``hashmod`` relabel action: the last 8 bytes of MD5, big-endian, mod n."""
    digest = hashlib.md5(value.encode("utf-8"), usedforsecurity=False).digest()
    return int.from_bytes(digest[8:], "big") % modulus
