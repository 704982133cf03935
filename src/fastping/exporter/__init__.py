"""A Prometheus exporter: fastping Monitors behind a collector that reads them at scrape time.

    fastping exporter --config targets.yaml --listen 127.0.0.1:9374 [HOST ...]

Every target is pinged continuously by a Monitor (one per distinct period and
timeout); a scrape of ``/metrics`` reads every host's live state from the
engine, so the cost of a scrape is per host, never per probe. Metric names,
labels (``ip``, ``host``, ``source``) and the default histogram buckets are
smokeping_prober's, so its dashboards and rules work unchanged; fastping's own
health and rolling statistics come as ``fastping_*``. ``/probe?target=HOST``
pings once, as blackbox_exporter's icmp module does. SIGHUP re-reads the
configuration on a thread of its own: hosts that stay keep their state and
counters, new ones are added, gone ones removed.

The response-time histogram is kept per host by the engine, in C, as bucket
counts that never reset: a scrape copies them, no probe costs Python.
"""

from __future__ import annotations

import importlib.util
import sys

from .._common import EXIT_SYSTEM

# The optional dependencies of the exporter: a missing one is said once, here, as what to
# install (an import of any submodule runs this first; the command says it in one line).
try:
    import prometheus_client  # noqa: F401
    import yaml  # noqa: F401

    if importlib.util.find_spec("aiohttp") is None:  # imported when the server starts
        raise ModuleNotFoundError("No module named 'aiohttp'", name="aiohttp")
except ImportError as error:
    missing = (f"fastping's exporter needs aiohttp, prometheus-client and PyYAML "
               f"({error.name} is missing): pip install 'fastping[exporter]'")
    # `python -m fastping.exporter` imports this package before its __main__ can catch
    # anything, and runpy would print the ImportError's traceback: while -m looks for its
    # module, sys.argv[0] is "-m" (documented), so here is the command, and it says one line.
    if sys.argv[:1] == ["-m"]:
        print(f"fastping exporter: {missing}", file=sys.stderr)
        raise SystemExit(EXIT_SYSTEM) from None
    raise ImportError(missing) from error

from .blackbox import probe
from .command import main
from .config import (
    DEFAULT_BUCKETS,
    ConfigError,
    Target,
    excerpt,
    hashmod,
    load_config,
    load_document,
    parse_config,
    parse_duration,
)
from .http import parse_listen
from .service import Exporter

__all__ = [
    "DEFAULT_BUCKETS",
    "ConfigError",
    "Exporter",
    "Target",
    "excerpt",
    "hashmod",
    "load_config",
    "load_document",
    "main",
    "parse_config",
    "parse_duration",
    "parse_listen",
    "probe",
]
