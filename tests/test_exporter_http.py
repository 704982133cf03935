"""The exporter's HTTP server against hostile and ordinary clients (real sockets on 127.0.0.1):
slow clients dropped, the connection limit, bursts, keep-alive, /metrics negotiation; and
--web.config.file's TLS and basic auth, checked with curl against a self-signed certificate."""

from __future__ import annotations

import gzip
import http.client
import os
import pathlib
import socket
import ssl
import subprocess
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

pytest.importorskip("aiohttp")
pytest.importorskip("bcrypt")

import bcrypt
import netsim
from debian import debian_commands, without_sanitizers
from prometheus_client import CollectorRegistry, Gauge
from test_exporter import MakeExporter, make_exporter, parse  # noqa: F401 (a fixture)

from fastping.exporter import ConfigError, main
from fastping.exporter import http as exporter_http
from fastping.exporter.webconfig import load_web_config

MakeServer = Callable[..., exporter_http.Server]
GET = b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n"


@pytest.fixture
def serve() -> Iterator[MakeServer]:
    """A maker of servers on 127.0.0.1 (a free port) with one test gauge and as many series
    of padding as asked; all closed after."""
    servers: list[exporter_http.Server] = []

    def make(series: int = 0, **options: Any) -> exporter_http.Server:
        registry = CollectorRegistry()
        Gauge("fastping_test_value", "A value for the tests.", registry=registry).set(7)
        padding = Gauge("fastping_test_padding", "Bulk.", ["name"], registry=registry)
        for number in range(series):
            padding.labels(f"{number:0200d}").set(number)
        servers.append(exporter_http.Server("127.0.0.1", 0, registry, {}, **options))
        servers[-1].start()
        return servers[-1]

    yield make
    for server in servers:
        server.close()


def get(address: tuple[str, int], path: str = "/metrics",
        headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    connection = http.client.HTTPConnection(*address, timeout=10)
    try:
        connection.request("GET", path, headers=headers or {})
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


def closed_within(sock: socket.socket, seconds: float, trickle: bytes = b"") -> float | None:
    """Seconds until the server closed sock (sending trickle every 0.1 s meanwhile), or None
    if it was still open after seconds."""
    started = time.monotonic()
    sock.settimeout(0.1)
    while time.monotonic() - started < seconds:
        try:
            if trickle:
                sock.sendall(trickle)
            if sock.recv(4096) == b"":
                return time.monotonic() - started
        except TimeoutError:
            continue
        except (ConnectionResetError, BrokenPipeError):
            return time.monotonic() - started
    return None


# ---- hostile clients ----------------------------------------------------------------------


def test_slow_and_silent_clients_are_dropped(serve: MakeServer) -> None:
    server = serve(idle_timeout=1.0)
    with socket.create_connection(server.address) as silent, \
            socket.create_connection(server.address) as slowloris:
        slowloris.sendall(GET)
        # One header line every 0.1 s, never the blank line that ends them: dropped all the same.
        dropped = closed_within(slowloris, 5.0, trickle=b"X-Slow: 1\r\n")
        assert dropped is not None and 0.8 < dropped < 2.5
        assert closed_within(silent, 5.0) is not None
    assert get(server.address)[0] == 200  # others were served all along


def test_a_client_that_does_not_read_is_dropped(serve: MakeServer) -> None:
    # About 5 MB of text that a client with a 4 KiB receive buffer never reads.
    server = serve(idle_timeout=1.0, max_connections=1, series=25_000)
    with socket.socket() as sluggard:
        sluggard.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sluggard.connect(server.address)
        sluggard.sendall(GET + b"\r\n")
        time.sleep(3.0)  # the server renders, sends what fits, then gives up on it
        received, started = 0, time.monotonic()
        while time.monotonic() - started < 5:
            try:
                chunk = sluggard.recv(1 << 20)
            except ConnectionResetError:
                break
            if not chunk:
                break
            received += len(chunk)
        assert time.monotonic() - started < 5, "the connection is still open"
        assert received < 5_000_000
    # Its slot (the only one) is free again.
    deadline = time.monotonic() + 5
    while get(server.address, "/")[0] != 200:
        assert time.monotonic() < deadline, "the dropped connection was never counted back"
        time.sleep(0.05)


def test_connections_past_the_limit_get_503(serve: MakeServer) -> None:
    server = serve(max_connections=4, idle_timeout=30.0)
    holders = [socket.create_connection(server.address) for _ in range(4)]
    try:
        time.sleep(0.3)  # let the server accept them
        with socket.create_connection(server.address, timeout=5) as extra:
            assert extra.recv(4096).startswith(b"HTTP/1.1 503 ")
    finally:
        for holder in holders:
            holder.close()
    deadline = time.monotonic() + 5
    while get(server.address)[0] != 200:  # the closed ones are freed as the server sees them go
        assert time.monotonic() < deadline, "the freed connections were never counted back"
        time.sleep(0.05)


# Runs in a namespace of its own, whose TCP counters are its own: a burst of connections to
# fastping's server, then to one with the old server's backlog of 5, each followed by what
# the kernel counted (accept-queue overflows, SYNs sent again).
BURST = """
import asyncio, http.server, json, resource, sys, threading
from prometheus_client import CollectorRegistry
from fastping.exporter.http import Server

clients = json.loads(sys.argv[1])["clients"]
resource.setrlimit(resource.RLIMIT_NOFILE, (4 * clients + 100,) * 2)

def counters():
    with open("/proc/net/netstat") as netstat:
        names, values = [line.split() for line in netstat][:2]
    table = dict(zip(names[1:], map(int, values[1:])))
    with open("/proc/net/snmp") as snmp:
        rows = [line.split() for line in snmp if line.startswith("Tcp:")]
    table.update(zip(rows[0][1:], map(int, rows[1][1:])))
    return {key: table[key] for key in ("ListenOverflows", "ListenDrops", "TCPSynRetrans")}

async def one(address):
    reader, writer = await asyncio.open_connection(*address)
    writer.write(b"GET /metrics HTTP/1.1\\r\\nHost: x\\r\\nConnection: close\\r\\n\\r\\n")
    answer = await reader.read()
    writer.close()
    return answer.split(b" ", 2)[1].decode()

def burst(address, seconds):
    # What is not answered within seconds is given up (a SYN retried for the 5th time waits 31 s).
    before = counters()
    async def all_of_them():
        tasks = [asyncio.ensure_future(one(address)) for _ in range(clients)]
        done, pending = await asyncio.wait(tasks, timeout=seconds)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        return [task.result() for task in done if task.exception() is None]
    statuses = asyncio.run(all_of_them())
    after = counters()
    return {"ok": statuses.count("200"), **{k: after[k] - before[k] for k in after}}

report = {}
server = Server("127.0.0.1", 0, CollectorRegistry(), {})
server.start()
try:
    report["fastping"] = burst(server.address, 60)
finally:
    server.close()

class Quiet(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.end_headers()
    def log_message(self, *args):
        pass

old = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)  # listen(5), as wsgiref's
threading.Thread(target=old.serve_forever, daemon=True).start()
report["backlog 5"] = burst(old.server_address, 5)
old.shutdown()
print(json.dumps(report))
"""


def test_a_burst_of_connections_is_served_without_syn_retries() -> None:
    try:
        with netsim.SimulatedNetwork({}) as network:
            report = network.run(BURST, {"clients": 1000}, timeout=120)
    except netsim.NetsimUnavailable as reason:
        pytest.skip(f"no network namespace here: {reason}")
    # Every connection accepted at once: no accept-queue overflow, no SYN sent twice (a SYN
    # retransmit is a client waiting a whole second).
    assert report["fastping"] == {"ok": 1000, "ListenOverflows": 0, "ListenDrops": 0,
                                  "TCPSynRetrans": 0}, report
    # The same burst against a backlog of 5 (the server before aiohttp): the kernel dropped.
    assert report["backlog 5"]["ListenOverflows"] > 0, report


def test_keep_alive_reuses_the_connection(serve: MakeServer) -> None:
    server = serve()
    connection = http.client.HTTPConnection(*server.address, timeout=10)
    try:
        ports = []
        for _ in range(3):
            connection.request("GET", "/metrics")
            response = connection.getresponse()
            assert response.status == 200 and b"fastping_test_value 7.0" in response.read()
            assert connection.sock is not None
            ports.append(connection.sock.getsockname()[1])
        assert len(set(ports)) == 1  # http.client reconnects if the server closed it
    finally:
        connection.close()


def test_metrics_negotiation_and_gzip(serve: MakeServer) -> None:
    server = serve()
    status, headers, body = get(server.address, headers={"Accept-Encoding": "gzip"})
    assert status == 200 and headers["Content-Encoding"] == "gzip"
    assert b"fastping_test_value 7.0" in gzip.decompress(body)
    status, headers, body = get(server.address, headers={
        "Accept": "application/openmetrics-text; version=1.0.0"})
    assert headers["Content-Type"].startswith("application/openmetrics-text")
    assert body.endswith(b"# EOF\n")
    status, headers, body = get(server.address, "/metrics?name[]=nothing_of_that_name")
    assert status == 200 and b"fastping_test_value" not in body
    assert get(server.address, "/nowhere")[0] == 404


# ---- --web.config.file ----------------------------------------------------------------------


def self_signed(directory: pathlib.Path) -> tuple[pathlib.Path, pathlib.Path]:
    (openssl,) = debian_commands("openssl", "openssl")
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run([openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True, timeout=60)
    return cert, key


def curl(*args: str) -> tuple[int, str]:
    """(HTTP status, headers and body) of curl args; status 0 if there was no HTTP answer."""
    (command,) = debian_commands("curl", "curl")
    done = subprocess.run([command, "-s", "-i", "--max-time", "10", *args],
                          env=without_sanitizers(), capture_output=True, text=True, timeout=30,
                          check=False)
    first = done.stdout.split("\n", 1)[0].split()
    return (int(first[1]) if done.returncode == 0 and len(first) > 1 else 0), done.stdout


def test_tls_and_basic_auth_with_curl(make_exporter: MakeExporter,  # noqa: F811
                                      tmp_path: pathlib.Path) -> None:
    cert, key = self_signed(tmp_path)
    hashed = bcrypt.hashpw(b"s3cret", bcrypt.gensalt(rounds=4)).decode()
    # htpasswd writes $2y$ hashes: the file's other user has one.
    other = bcrypt.hashpw(b"other", bcrypt.gensalt(rounds=4)).decode().replace("$2b$", "$2y$")
    web = tmp_path / "web.yml"
    web.write_text(f"tls_server_config:\n  cert_file: {cert.name}\n  key_file: {key.name}\n"
                   f"basic_auth_users:\n  prometheus: '{hashed}'\n  other: '{other}'\n"
                   "http_server_config:\n  headers:\n    X-Frame-Options: deny\n")
    url = make_exporter([], web_config=str(web)).url
    assert url.startswith("https://127.0.0.1:")
    tls = ["--cacert", str(cert)]

    status, answer = curl(*tls, "-u", "prometheus:s3cret", url + "/metrics")
    assert status == 200 and "process_cpu_seconds_total" in answer
    assert "x-frame-options: deny" in answer.lower()
    status, answer = curl(*tls, "-u", "other:other", url + "/probe?target=127.0.0.1")
    assert status == 200 and "probe_success 1.0" in answer
    for credentials in (["-u", "prometheus:wrong"], ["-u", "nobody:s3cret"], []):
        status, answer = curl(*tls, *credentials, url + "/metrics")
        assert status == 401, credentials
        assert "www-authenticate: basic" in answer.lower() and "process_cpu" not in answer
    # Plain HTTP to the TLS port, and TLS without trusting the certificate: no answer.
    assert curl("-u", "prometheus:s3cret", url.replace("https", "http") + "/metrics")[0] != 200
    assert curl("-u", "prometheus:s3cret", url + "/metrics")[0] == 0

    # A new certificate and password, written as configuration tools do: in force at once.
    (tmp_path / "new").mkdir()
    new_cert, _ = self_signed(tmp_path / "new")
    rehashed = bcrypt.hashpw(b"n3w", bcrypt.gensalt(rounds=4)).decode()
    replace(web, f"tls_server_config:\n  cert_file: new/cert.pem\n  key_file: new/key.pem\n"
            f"basic_auth_users:\n  prometheus: '{rehashed}'\n")
    new_tls = ["--cacert", str(new_cert)]
    assert curl(*new_tls, "-u", "prometheus:n3w", url + "/metrics")[0] == 200
    assert curl(*new_tls, "-u", "prometheus:s3cret", url + "/metrics")[0] == 401
    assert curl(*tls, "-u", "prometheus:n3w", url + "/metrics")[0] == 0  # the old certificate
    # The certificate and key rewritten where they are, the file untouched: as exporter-toolkit
    # reads them at every handshake, the next connection gets the new ones.
    previous = tmp_path / "previous.pem"
    previous.write_bytes(new_cert.read_bytes())
    self_signed(tmp_path / "new")
    assert curl(*new_tls, "-u", "prometheus:n3w", url + "/metrics")[0] == 200
    assert curl("--cacert", str(previous), "-u", "prometheus:n3w", url + "/metrics")[0] == 0
    # A file that has become unusable changes nothing.
    replace(web, "basic_auth_users: [nobody]\n")
    assert curl(*new_tls, "-u", "prometheus:n3w", url + "/metrics")[0] == 200
    assert curl(*new_tls, url + "/metrics")[0] == 401


def test_client_certificates(make_exporter: MakeExporter,  # noqa: F811
                             tmp_path: pathlib.Path) -> None:
    cert, key = self_signed(tmp_path)
    (tmp_path / "client").mkdir()
    client_cert, client_key = self_signed(tmp_path / "client")
    web = tmp_path / "web.yml"
    web.write_text(f"tls_server_config:\n  cert_file: {cert.name}\n  key_file: {key.name}\n"
                   "  client_auth_type: RequireAndVerifyClientCert\n"
                   "  client_ca_file: client/cert.pem\n  min_version: TLS13\n")
    url = make_exporter([], web_config=str(web)).url + "/metrics"
    status, answer = curl("--cacert", str(cert), "--cert", str(client_cert), "--key",
                          str(client_key), url)
    assert status == 200 and "process_cpu_seconds_total" in answer
    assert curl("--cacert", str(cert), url)[0] == 0  # no client certificate: no handshake
    # Below min_version: no handshake either.
    assert curl("--cacert", str(cert), "--cert", str(client_cert), "--key", str(client_key),
                "--tls-max", "1.2", url)[0] == 0


def replace(path: pathlib.Path, content: str) -> None:
    """Writes path anew, as a whole (a new file renamed over it)."""
    partial = path.with_suffix(".partial")
    partial.write_text(content)
    os.replace(partial, path)


def test_a_stalled_tls_handshake_is_dropped(serve: MakeServer, tmp_path: pathlib.Path) -> None:
    cert, key = self_signed(tmp_path)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server = serve(tls=context, idle_timeout=1.0)
    with socket.create_connection(server.address) as stalled:
        stalled.sendall(b"\x16\x03\x01")  # the start of a ClientHello, and no more
        dropped = closed_within(stalled, 5.0)
        assert dropped is not None and dropped < 2.5
    client = ssl.create_default_context(cafile=str(cert))
    with socket.create_connection(server.address) as raw, \
            client.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
        tls.sendall(GET + b"Connection: close\r\n\r\n")
        assert tls.recv(4096).startswith(b"HTTP/1.1 200 ")


@pytest.mark.parametrize(("text", "message"), [
    ("tls_server_config:\n  cert_file: a\n", "needs cert_file and key_file"),
    ("tls_config:\n  cert_file: a\n", "unknown key 'tls_config'"),
    ("tls_server_config:\n  cert_file: a\n  key_file: b\n  colour: red\n", "unknown key 'colour'"),
    ("tls_server_config:\n  cert: PEM\n", "not supported"),
    ("basic_auth_users:\n  prometheus: plain\n", "bcrypt hash"),
    ("rate_limit:\n  interval: 1s\n  burst: 5\n", "not supported"),
    ("tls_server_config:\n  cert_file: nothing.pem\n  key_file: nothing.key\n",
     "No such file"),
    ("- a list\n", "expected a mapping"),
])
def test_bad_web_configs(tmp_path: pathlib.Path, text: str, message: str) -> None:
    web = tmp_path / "web.yml"
    web.write_text(text)
    with pytest.raises(ConfigError, match=message.replace("[", r"\[")):
        load_web_config(str(web))


def test_a_bad_web_config_is_a_usage_error(tmp_path: pathlib.Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    web = tmp_path / "web.yml"
    web.write_text("basic_auth_users: {prometheus: plain}\n")
    assert main(["--listen", "127.0.0.1:0", "--web.config.file", str(web), "127.0.0.1"]) == 3
    assert "bcrypt hash" in capsys.readouterr().err
