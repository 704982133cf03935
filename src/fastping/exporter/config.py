"""The exporter's configuration: YAML targets, Go-style durations, and hashmod sharding."""

from __future__ import annotations

import hashlib
import math
import re
from dataclasses import dataclass
from typing import Any

# smokeping_prober's default buckets: 50 µs doubling up to 26.2144 s.
DEFAULT_BUCKETS: tuple[float, ...] = tuple(round(5e-05 * 2**n, 10) for n in range(20))
DEFAULT_LISTEN = "127.0.0.1:9374"


class ConfigError(ValueError):
    """A configuration that cannot be used; the message says where and why."""


_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(value: object, what: str = "duration") -> float:
    """Seconds from a number (seconds) or a Go-style duration string ("500ms", "1m30s")."""
    if isinstance(value, bool):
        raise ConfigError(f"{what}: not a duration: {value!r}")
    if isinstance(value, (int, float)):
        seconds = float(value)
    elif isinstance(value, str):
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
                raise ConfigError(f"{what}: not a duration: {value!r} "
                                  "(seconds, or e.g. 500ms, 1s, 1m30s)") from None
    else:
        raise ConfigError(f"{what}: not a duration: {value!r}")
    if not math.isfinite(seconds) or seconds <= 0:
        raise ConfigError(f"{what}: must be more than zero, not {value!r}")
    return seconds


@dataclass(frozen=True, slots=True)
class Target:
    """One host to ping continuously; period and timeout are the defaults when None."""

    host: str
    period: float | None = None
    timeout: float | None = None


_TARGET_KEYS = {"host", "hosts", "period", "interval", "timeout"}
_TOP_KEYS = {"targets", "period", "interval", "timeout", "modules"}  # modules: /probe's


def _period_of(entry: dict[str, Any], where: str) -> float | None:
    if "period" in entry and "interval" in entry:
        raise ConfigError(f"{where}: give period or interval (its alias), not both")
    value = entry.get("period", entry.get("interval"))
    return None if value is None else parse_duration(value, f"{where}: period")


def _timeout_of(entry: dict[str, Any], where: str) -> float | None:
    value = entry.get("timeout")
    return None if value is None else parse_duration(value, f"{where}: timeout")


def host_name(value: object, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{where}: a host must be a non-empty string, not {value!r}")
    return value.strip()


def parse_config(document: object, source: str = "config") -> list[Target]:
    """Targets from a loaded YAML document.

    The document is a list of targets, or a mapping with ``targets`` and
    optional defaults ``period`` and ``timeout``. A target is a host string or
    a mapping with ``host`` (or ``hosts``, a list, as in smokeping_prober) and
    optional ``period`` (alias ``interval``) and ``timeout``. Durations are
    seconds or strings such as ``500ms`` and ``2s``.
    """
    period = timeout = None
    if document is None:
        return []
    if isinstance(document, dict):
        unknown = set(document) - _TOP_KEYS
        if unknown:
            raise ConfigError(f"{source}: unknown keys {sorted(map(str, unknown))}; "
                              f"expected {sorted(_TOP_KEYS)}")
        period = _period_of(document, source)
        timeout = _timeout_of(document, source)
        entries = document.get("targets") or []
    else:
        entries = document
    if not isinstance(entries, list):
        raise ConfigError(f"{source}: targets must be a list, not {type(entries).__name__}")
    targets: list[Target] = []
    for number, entry in enumerate(entries, 1):
        where = f"{source}: target {number}"
        if isinstance(entry, str):
            targets.append(Target(host_name(entry, where), period, timeout))
            continue
        if not isinstance(entry, dict):
            raise ConfigError(f"{where}: expected a host or a mapping, not {entry!r}")
        unknown = set(entry) - _TARGET_KEYS
        if unknown:
            raise ConfigError(f"{where}: unknown keys {sorted(map(str, unknown))}; "
                              f"expected {sorted(_TARGET_KEYS)}")
        if ("host" in entry) == ("hosts" in entry):
            raise ConfigError(f"{where}: give exactly one of host and hosts")
        hosts = [entry["host"]] if "host" in entry else entry["hosts"]
        if not isinstance(hosts, list):
            raise ConfigError(f"{where}: hosts must be a list")
        own_period = _period_of(entry, where)
        own_timeout = _timeout_of(entry, where)
        for host in hosts:
            targets.append(Target(
                host_name(host, where), period if own_period is None else own_period,
                timeout if own_timeout is None else own_timeout))
    return targets


def load_config(path: str) -> list[Target]:
    """Targets from a YAML file (see parse_config); ConfigError if it cannot be used."""
    return parse_config(read_document(path), path)


def read_document(path: str) -> object:
    """The YAML document in path; ConfigError if it cannot be read."""
    try:
        import yaml
    except ImportError:  # pragma: no cover - depends on the environment
        raise ConfigError("reading a YAML config needs PyYAML: "
                          "pip install 'fastping[exporter]'") from None
    try:
        with open(path, encoding="utf-8") as file:
            document = yaml.safe_load(file)
    except OSError as error:
        raise ConfigError(f"{path}: {error.strerror or error}") from None
    except (yaml.YAMLError, UnicodeDecodeError) as error:
        raise ConfigError(f"{path}: not valid YAML: {error}") from None
    return document


def hashmod(value: str, modulus: int) -> int:
    """Prometheus' ``hashmod`` relabel action: the last 8 bytes of MD5, big-endian, mod n."""
    digest = hashlib.md5(value.encode("utf-8"), usedforsecurity=False).digest()
    return int.from_bytes(digest[8:], "big") % modulus
