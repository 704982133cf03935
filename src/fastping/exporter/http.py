"""The exporter's HTTP side: the address to listen on, a threaded WSGI server, and the
routing of its pages (/metrics, /probe, a landing page)."""

from __future__ import annotations

import logging
import re
import socket
import threading
from collections.abc import Callable, Iterable
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from .config import ConfigError

log = logging.getLogger(__package__)

_LANDING = """<html><head><title>fastping exporter</title></head><body>
<h1>fastping exporter</h1>
<p><a href="/metrics">Metrics</a></p>
<p>Probe: <a href="/probe?target=127.0.0.1">/probe?target=127.0.0.1</a>
(optional: count, timeout in seconds)</p>
</body></html>
"""

StartResponse = Callable[..., object]
Environ = dict[str, Any]
App = Callable[[Environ, StartResponse], Iterable[bytes]]


class _Server(WSGIServer):
    allow_reuse_address = True

    def process_request(self, request: Any, client_address: Any) -> None:
        # One thread per request, as socketserver.ThreadingMixIn (typed, and daemonic).
        thread = threading.Thread(target=self._handle, args=(request, client_address),
                                  name="fastping-exporter-http", daemon=True)
        thread.start()

    def _handle(self, request: Any, client_address: Any) -> None:
        try:
            self.finish_request(request, client_address)
        except Exception:
            self.handle_error(request, client_address)
        finally:
            self.shutdown_request(request)


class _Server6(_Server):
    address_family = socket.AF_INET6


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s %s", self.address_string(), format % args)


def parse_listen(listen: str) -> tuple[str, int]:
    """(host, port) from HOST:PORT or [IPv6]:PORT; ConfigError if it is neither."""
    match = re.fullmatch(r"\[([^\]]+)\]:(\d+)|([^:\[\]]*):(\d+)", listen.strip())
    if match is None:
        raise ConfigError(f"--listen: expected HOST:PORT or [ADDRESS]:PORT, not {listen!r}")
    host = match.group(1) or match.group(3) or "0.0.0.0"
    port = int(match.group(2) or match.group(4))
    if port > 65535:
        raise ConfigError(f"--listen: no port {port}")
    return host, port


def serve(host: str, port: int, app: App) -> WSGIServer:
    """A server for app, bound (IPv6 if host is an IPv6 address) and not yet serving."""
    server_class = _Server6 if ":" in host else _Server
    return make_server(host, port, app, server_class=server_class, handler_class=_QuietHandler)


def router(metrics: App, probe: App) -> App:
    """The exporter's pages: metrics at /metrics, probe at /probe, a landing page at /."""

    def app(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "/")
        if path == "/metrics":
            return metrics(environ, start_response)
        if path == "/probe":
            return probe(environ, start_response)
        if path == "/":
            start_response("200 OK", [("Content-Type", "text/html; charset=utf-8")])
            return [_LANDING.encode()]
        start_response("404 Not Found", [("Content-Type", "text/plain; charset=utf-8")])
        return [b"not found: try /metrics or /probe?target=HOST\n"]

    return app
