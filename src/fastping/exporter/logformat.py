"""The exporter's log lines as smokeping_prober and blackbox_exporter write theirs (promlog:
go-kit's logfmt and JSON loggers), so that what reads their logs reads fastping's.

As Debian's smokeping_prober 0.6.1 writes them (``--log.format``):

    ts=2026-12-03T12:37:04.255Z caller=main.go:116 level=info msg="Starting smokeping_prober"
    {"caller":"main.go:116","level":"info","msg":"Starting smokeping_prober","ts":"..."}

``ts`` is UTC to the millisecond, ``caller`` the file's base name and line, ``level`` one of
debug, info, warn, error; logfmt keeps that order and quotes a value only if it holds a space,
``=``, ``"`` or a control character (go-logfmt's rule); JSON sorts the keys, as Go's
encoding of a map does. Fields beyond msg come from ``extra={"fields": {...}}``.
"""

from __future__ import annotations

import json
import logging
import time

LOG_FORMATS = ("logfmt", "json")
# --log.level's values, as promlog's, and Python's level for each.
LOG_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warn": logging.WARNING,
              "error": logging.ERROR}
_LEVEL_NAMES = {logging.DEBUG: "debug", logging.INFO: "info", logging.WARNING: "warn"}


def _timestamp(created: float) -> str:
    seconds = int(created)
    millis = int((created - seconds) * 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{millis:03d}Z"


def _logfmt_value(value: object) -> str:
    text = str(value)
    if any(c <= " " or c in '="' or c == "\ufffd" for c in text):
        return json.dumps(text, ensure_ascii=False)
    return text


class PromlogFormatter(logging.Formatter):
    """One record as one line of logfmt (``json=False``) or JSON."""

    def __init__(self, json_lines: bool = False) -> None:
        super().__init__()
        self._json_lines = json_lines

    def format(self, record: logging.LogRecord) -> str:
        fields: dict[str, object] = {
            "ts": _timestamp(record.created),
            "caller": f"{record.filename}:{record.lineno}",
            "level": _LEVEL_NAMES.get(record.levelno, "error"),
            "msg": record.getMessage()}
        fields.update(getattr(record, "fields", {}))
        if record.exc_info:
            fields["err"] = self.formatException(record.exc_info)
        if self._json_lines:
            return json.dumps(fields, ensure_ascii=False, sort_keys=True,
                              separators=(",", ":"), default=str)
        return " ".join(f"{key}={_logfmt_value(value)}" for key, value in fields.items())
