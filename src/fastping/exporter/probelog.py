"""One /probe's log, for ``debug=true``: logfmt lines as blackbox_exporter writes them, and
the page that shows them with the probe's metrics and its module's configuration."""

from __future__ import annotations

import datetime
import logging

log = logging.getLogger(__package__)


def _logfmt(value: object) -> str:
    text = str(value)
    return f'"{text}"' if not text or any(c in text for c in ' "=') else text


class ProbeLog:
    """The lines of one probe (also passed on to the exporter's logger at debug level)."""

    def __init__(self, module: str, target: str) -> None:
        self.module = module
        self.target = target
        self.lines: list[str] = []

    def log(self, level: str, message: str, **fields: object) -> None:
        stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        pairs = " ".join(f"{key}={_logfmt(value)}" for key, value in fields.items())
        line = (f"ts={stamp} caller=fastping module={_logfmt(self.module)} "
                f"target={_logfmt(self.target)} level={level} msg={_logfmt(message)} {pairs}")
        self.lines.append(line.rstrip())
        log.debug("%s", self.lines[-1])

    def info(self, message: str, **fields: object) -> None:
        self.log("info", message, **fields)

    def warn(self, message: str, **fields: object) -> None:
        self.log("warn", message, **fields)

    def error(self, message: str, **fields: object) -> None:
        self.log("error", message, **fields)


def debug_page(probe_log: ProbeLog, metrics: str, settings: dict[str, object]) -> str:
    """blackbox's DebugOutput: the log, the metrics, the module's configuration (YAML)."""
    import yaml

    return ("Logs for the probe:\n" + "".join(line + "\n" for line in probe_log.lines)
            + "\n\n\nMetrics that would have been returned:\n" + metrics
            + "\n\n\nModule configuration:\n"
            + yaml.safe_dump(settings, default_flow_style=False, sort_keys=False))
