"""The exporter's HTTP server: aiohttp on a thread of its own, with its own asyncio loop.

Why aiohttp: it is a well-kept asyncio server, so ten thousand waiting /probe requests are
ten thousand coroutines, not threads; it gives keep-alive, a bounded parser (line, header
and header-count limits), TLS through the standard ssl module and, with handler
cancellation, a request whose client went away is cancelled, which cancels its probe.

What aiohttp leaves to us, done here:
- a connection limit: past ``max_connections`` a new connection is answered 503 and closed
  (aiohttp has none of its own);
- a backlog of 1,024 (the listening socket is ours: bind errors reach the caller's thread);
- one idle timeout for all of a connection's waiting: aiohttp arms its keep-alive timer when
  a connection opens and re-arms it after each response, and closes a connection whose
  request has not fully arrived by then, so a client that trickles its headers (slowloris)
  is dropped after ``idle_timeout`` like one that sends nothing; the TLS handshake and the
  sending of a response (to a client that does not read) get the same bound;
- /metrics streamed in chunks as the exporter renders them (exposition.py), each chunk
  made on a thread, negotiated (OpenMetrics or text) and gzipped as prometheus_client's own
  server does; a ``name[]`` filter is prometheus_client's rendering, two at a time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import socket
import ssl
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, TypeVar

from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder

from .config import ConfigError
from .exposition import gzipped, negotiate

log = logging.getLogger(__package__)

MAX_CONNECTIONS = 1024
BACKLOG = 1024
IDLE_TIMEOUT = 30.0  # seconds a connection may take for a request's headers, or sit idle
METRICS_WORKERS = 2  # /metrics rendered at once, at most (name[] requests)
AHEAD = 2  # chunks of /metrics made ahead of the sending
T = TypeVar("T")

# aiohttp is imported where it is used, not with this module: it takes longer to import than
# the rest of the exporter, and the command installs its signal handlers only once imported.
if TYPE_CHECKING:
    from aiohttp import web

    Handler = Callable[[web.BaseRequest], Awaitable[web.StreamResponse]]
    # Wraps the routing of every request (the web configuration's basic auth and headers).
    Gate = Callable[[web.BaseRequest, Handler], Awaitable[web.StreamResponse]]

_LANDING = """<html><head><title>fastping exporter</title></head><body>
<h1>fastping exporter</h1>
<p><a href="{metrics}">Metrics</a></p>
<p>Probe: <a href="/probe?target=127.0.0.1&amp;module=icmp"
>/probe?target=127.0.0.1&amp;module=icmp</a>
(blackbox_exporter's icmp prober; add debug=true for its log)</p>
</body></html>
"""
_BUSY = (b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\n"
         b"Content-Length: 21\r\nConnection: close\r\n\r\ntoo many connections\n")


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


def text(status: int, body: str) -> web.Response:
    """A plain-text answer, as Go's http.Error writes them (blackbox's 400s, 401, 403, 503)."""
    from aiohttp import web

    return web.Response(status=status, text=body + "\n", charset="utf-8",
                        headers={"X-Content-Type-Options": "nosniff"})


class _Busy(asyncio.Protocol):
    """A connection past the limit: told 503 at once and closed."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.WriteTransport)
        transport.write(_BUSY)
        transport.close()


async def in_thread(work: Callable[..., T], *args: object) -> T:
    """work(*args) on a daemon thread of its own, awaited. Not an executor's: the interpreter
    joins executor threads when it exits, so a long scrape (seconds at 100,000 hosts) or a
    slow name lookup would hold up a stop; a daemon thread goes with the process."""
    loop = asyncio.get_running_loop()
    done: asyncio.Future[T] = loop.create_future()

    def settle(outcome: T | None, error: BaseException | None) -> None:
        if not done.done():
            if error is None:
                done.set_result(outcome)  # type: ignore[arg-type]
            else:
                done.set_exception(error)

    def run() -> None:
        try:
            outcome, error = work(*args), None
        except BaseException as raised:  # handed to the awaiting coroutine
            outcome, error = None, raised
        with contextlib.suppress(RuntimeError):  # the loop has closed: nobody waits
            loop.call_soon_threadsafe(settle, outcome, error)

    threading.Thread(target=run, name="fastping-exporter-work", daemon=True).start()
    return await done


def _metrics_page(render: Callable[[bool, bool], Iterator[bytes]] | None,
                  registry: CollectorRegistry) -> Handler:
    """/metrics: render(open_metrics, gzip)'s chunks, each made on a thread and sent as it comes
    (the text of 100,000 targets is 460 MB: never held whole); without render, or for a
    request with ``name[]``, the registry's exposition (restricted to those names),
    METRICS_WORKERS at a time."""
    renders: list[asyncio.Semaphore] = []  # made on the server's loop, at the first scrape

    def whole(accept: str, names: list[str]) -> tuple[bytes, str]:
        encoder, content_type = choose_encoder(accept)
        return encoder(registry.restricted_registry(names) if names else registry), content_type

    async def page(request: web.BaseRequest) -> web.StreamResponse:
        from aiohttp import web

        accept = request.headers.get("Accept", "")
        open_metrics, content_type, zipped = negotiate(
            accept, request.headers.get("Accept-Encoding", ""))
        names = request.query.getall("name[]", [])
        if render is None or names:
            if not renders:
                renders.append(asyncio.Semaphore(METRICS_WORKERS))
            async with renders[0]:
                text, content_type = await in_thread(whole, accept, names)
            chunks: Iterator[bytes] = gzipped((text,)) if zipped else iter((text,))
        else:
            chunks = render(open_metrics, zipped)
        body = _made_ahead(chunks)
        first = await anext(body, None)  # before the status: a failure to render is a 500
        response = web.Response(body=_after(first, body), headers={"Content-Type": content_type})
        if zipped:
            response.headers["Content-Encoding"] = "gzip"
        return response

    return page


async def _made_ahead(chunks: Iterator[bytes]) -> AsyncIterator[bytes]:
    """chunks, made on a thread of their own at most AHEAD ahead of the sending: the next
    ones are rendered while one is sent (one at a time, rendering and sending took turns:
    45 MB in 0.17 s, not 0.05), and memory holds AHEAD chunks, not the text."""
    loop = asyncio.get_running_loop()
    made: asyncio.Queue[bytes | BaseException | None] = asyncio.Queue()
    room = threading.Semaphore(AHEAD)
    gone = threading.Event()  # the client is: the thread stops

    def make() -> None:
        outcome: BaseException | None = None
        try:
            for chunk in chunks:
                while not room.acquire(timeout=1.0):
                    if gone.is_set():
                        return
                if gone.is_set():
                    return
                loop.call_soon_threadsafe(made.put_nowait, chunk)
        except BaseException as error:  # handed to the sending coroutine
            outcome = error
        finally:
            close = getattr(chunks, "close", None)
            if close is not None:
                close()  # a scrape's shared reading is let go of here, not at collection
        with contextlib.suppress(RuntimeError):  # the loop has closed: nobody waits
            loop.call_soon_threadsafe(made.put_nowait, outcome)

    threading.Thread(target=make, name="fastping-exporter-metrics", daemon=True).start()
    try:
        while True:
            item = await made.get()
            if item is None:
                return
            if isinstance(item, BaseException):
                raise item
            room.release()
            yield item
    finally:
        gone.set()


async def _after(first: bytes | None, rest: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    if first is not None:
        yield first
        async for chunk in rest:
            yield chunk


class Server:
    """An HTTP(S) server on its own thread and asyncio loop: at metrics_path (/metrics)
    metrics(open_metrics, gzip)'s chunks (the registry's exposition without metrics, or for a
    name[] filter), routes (path: handler), a landing page at / and /-/healthy; on
    host:port and on each address of ``also`` (exporter-toolkit serves every
    --web.listen-address given).

    ``gate`` (the web configuration) wraps the routing of every request, and
    ``on_connection`` is called as each connection opens, before its TLS handshake (for the
    web configuration to load a new certificate). start() binds
    (OSError in the caller's thread) and serves; close() stops it; both from any thread.
    """

    def __init__(self, host: str, port: int, registry: CollectorRegistry,
                 routes: Mapping[str, Handler], *,
                 metrics: Callable[[bool, bool], Iterator[bytes]] | None = None,
                 tls: ssl.SSLContext | None = None, gate: Gate | None = None,
                 on_connection: Callable[[], None] | None = None,
                 max_connections: int = MAX_CONNECTIONS,
                 idle_timeout: float = IDLE_TIMEOUT, metrics_path: str = "/metrics",
                 also: Sequence[tuple[str, int]] = ()) -> None:
        self._binds = [(host, port), *also]
        self._landing_page = _LANDING.replace("{metrics}", metrics_path)
        self._routes = {"/": self._landing, metrics_path: _metrics_page(metrics, registry),
                        "/-/healthy": self._healthy}
        self._routes.update(routes)
        self.tls = tls
        self._gate = gate
        self._on_connection = on_connection
        self.max_connections = max_connections
        self.idle_timeout = idle_timeout
        self._loop = asyncio.new_event_loop()
        self._thread: threading.Thread | None = None
        self._listeners: list[asyncio.Server] = []
        self._web: web.Server | None = None
        self.addresses: list[tuple[str, int]] = []  # the real ports when 0 was asked for

    @property
    def address(self) -> tuple[str, int]:
        """The first address listened on."""
        return self.addresses[0] if self.addresses else ("", 0)

    def start(self) -> None:
        socks: list[socket.socket] = []
        try:
            for host, port in self._binds:
                family = socket.AF_INET6 if ":" in host else socket.AF_INET
                socks.append(socket.create_server((host, port), family=family,
                                                  backlog=BACKLOG))
            self.addresses = [(str(sock.getsockname()[0]), int(sock.getsockname()[1]))
                              for sock in socks]
            self._thread = threading.Thread(target=self._loop.run_forever,
                                            name="fastping-exporter-http", daemon=True)
            self._thread.start()
            asyncio.run_coroutine_threadsafe(self._listen(socks), self._loop).result(10)
        except BaseException:
            for sock in socks:
                sock.close()
            self.close()
            raise

    async def _listen(self, socks: list[socket.socket]) -> None:
        from aiohttp import web

        # Cancelled handlers are what frees a disconnected client's probe (see blackbox.py).
        self._web = web.Server(self._handle, handler_cancellation=True,
                               keepalive_timeout=self.idle_timeout, access_log=None)
        for sock in socks:
            self._listeners.append(await self._loop.create_server(
                self._connection, sock=sock, backlog=BACKLOG, ssl=self.tls,
                ssl_handshake_timeout=self.idle_timeout if self.tls else None))

    def _connection(self) -> asyncio.Protocol:
        assert self._web is not None
        if len(self._web.connections) >= self.max_connections:
            return _Busy()
        if self._on_connection is not None:
            self._on_connection()
        return self._web()

    async def _handle(self, request: web.BaseRequest) -> web.StreamResponse:
        response = await (self._route(request) if self._gate is None
                          else self._gate(request, self._route))
        # Sent here, under the idle timeout, rather than by aiohttp after we return: it has no
        # write timeout, and a client that never reads would hold its connection for ever.
        try:
            await asyncio.wait_for(self._send(request, response), self.idle_timeout)
        except asyncio.TimeoutError:
            if request.transport is not None:
                request.transport.abort()
        return response

    async def _route(self, request: web.BaseRequest) -> web.StreamResponse:
        route = self._routes.get(request.path)
        if route is None:
            return text(404, "not found: try /metrics or /probe?target=HOST&module=icmp")
        return await route(request)

    @staticmethod
    async def _send(request: web.BaseRequest, response: web.StreamResponse) -> None:
        await response.prepare(request)
        await response.write_eof()

    async def _landing(self, request: web.BaseRequest) -> web.StreamResponse:
        from aiohttp import web

        return web.Response(text=self._landing_page, content_type="text/html")

    async def _healthy(self, request: web.BaseRequest) -> web.StreamResponse:
        """smokeping_prober's liveness check (it has no /-/ready): any method, 200."""
        from aiohttp import web

        return web.Response(text="Healthy")

    async def _stop(self) -> None:
        for listener in self._listeners:
            listener.close()
        if self._web is not None:
            await self._web.shutdown(1.0)

    def close(self) -> None:
        """Stop serving: no new connections, open ones closed. Idempotent."""
        thread, self._thread = self._thread, None
        if thread is not None and thread.is_alive():
            with contextlib.suppress(Exception):  # it stops below all the same
                asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(5)
            self._loop.call_soon_threadsafe(self._loop.stop)
            thread.join(5)
        if not self._loop.is_closed() and not self._loop.is_running():
            self._loop.close()
