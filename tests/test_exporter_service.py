"""The exporter as a service under hostile input: configuration files that are huge, recursive,
empty or wrong in any value are refused with a short message and change nothing; a failed
reload keeps the targets and their history and leaves the control thread alive; SIGTERM and
SIGINT stop it within 5 s from any state; a missing dependency or config file is one line and
an exit status, never a traceback."""

from __future__ import annotations

import http.client
import os
import pathlib
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import IO

import pytest

pytest.importorskip("prometheus_client")
pytest.importorskip("yaml")

from test_exporter import (  # noqa: F401 - make_exporter is a fixture
    MakeExporter,
    Samples,
    by_host,
    make_exporter,
    one,
    scrape,
    wait_until,
)

from fastping.exporter import ConfigError, load_config, load_document
from fastping.exporter.config import MAX_CONFIG_BYTES

# The hostile file: 9 levels of 9 aliases each, 9^9 strings once expanded.
ALIAS_BOMB = """\
a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
targets: *i
"""
LONG = "x" * 100_000  # user data no message may quote in full

HOSTILE = {
    "alias bomb": (ALIAS_BOMB, "aliases expand to more than"),
    "alias to itself": ("targets: &t [127.0.0.1, *t]\n", "contains it"),
    "empty": ("", "no targets"),
    "only a comment": ("# nothing\n", "no targets"),
    "targets null": ("targets:\n", "must be a list"),
    "no targets key": ("period: 1s\n", "no targets"),
    "timeout out of range": ("targets: [{host: 127.0.0.1, timeout: 2h}]\n", "out of range"),
    "period out of range": ("targets: [{host: 127.0.0.1, period: 1000h}]\n", "out of range"),
    "size out of range": ("targets: [{hosts: [127.0.0.1], size: 70000}]\n", "size must be"),
    "protocol udp": ("targets: [{hosts: [127.0.0.1], protocol: udp}]\n", "protocol 'udp'"),
    "network ip5": ("targets: [{hosts: [127.0.0.1], network: ip5}]\n", "ip, ip4 or ip6"),
    "tos 256": ("targets: [{hosts: [127.0.0.1], tos: 256}]\n", "tos must be"),
    "source not an address": ("targets: [{hosts: [127.0.0.1], source: here}]\n", "source must"),
    "reserved label": ("targets: [{hosts: [127.0.0.1], labels: {host: x}}]\n", "label name"),
    "huge integer": ("targets: [{hosts: [127.0.0.1], size: 1" + "0" * 5000 + "}]\n",
                     "not valid YAML"),
    "big integer": ("targets: [{hosts: [127.0.0.1], size: 1" + "0" * 4000 + "}]\n",
                    "size must be"),
    "long host": (f"targets: [{LONG}]\n", "at most 255 characters"),
    "long key": (f"targets: [{{hosts: [127.0.0.1], {LONG[:1000]}: 1}}]\n", "unknown key"),
    "long duration": (f"targets: [{{hosts: [127.0.0.1], interval: {LONG}}}]\n", "duration"),
    "deep nesting": ("targets: " + "[" * 50_000 + "]" * 50_000 + "\n", "not valid YAML"),
    "not YAML": ("targets: [127.0.0.1\n", "not valid YAML"),
    "two documents": ("targets: []\n---\ntargets: []\n", "not valid YAML"),
    "a timestamp": ("targets: [{hosts: [2001-02-30]}]\n", "not valid YAML"),
    "not an address": ("targets: [999.1.1.1]\n", "invalid IPv4 address"),
    "wrong family": ("targets: [{hosts: ['::1'], network: ip4}]\n", "is not an IPv4 address"),
    "65 engines": ("targets:\n" + "".join(f"- {{hosts: [127.0.0.1], size: {100 + size}}}\n"
                                          for size in range(65)), "more than 64 distinct"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_configs_are_refused_quickly_and_briefly(case: str,
                                                         tmp_path: pathlib.Path) -> None:
    text, message = HOSTILE[case]
    path = tmp_path / "targets.yaml"
    path.write_text(text)
    started = time.monotonic()
    with pytest.raises(ConfigError, match=re.escape(message)) as raised:
        load_config(str(path))
    assert time.monotonic() - started < 2.0
    assert len(str(raised.value)) < 400 + len(str(path)), str(raised.value)[:1000]


def test_files_that_are_not_configs(tmp_path: pathlib.Path) -> None:
    big = tmp_path / "big.yaml"
    with open(big, "wb") as file:
        file.truncate(MAX_CONFIG_BYTES + 1)
    with pytest.raises(ConfigError, match="larger than 32 MiB"):
        load_document(str(big))
    fifo = tmp_path / "fifo.yaml"
    os.mkfifo(fifo)
    started = time.monotonic()
    with pytest.raises(ConfigError, match="not a regular file"):  # and it did not block
        load_document(str(fifo))
    assert time.monotonic() - started < 2.0
    with pytest.raises(ConfigError, match="not a regular file"):
        load_document(str(tmp_path))
    binary = tmp_path / "binary.yaml"
    binary.write_bytes(b"targets: [\xff]\n")
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_document(str(binary))
    with pytest.raises(ConfigError, match="No such file"):
        load_document(str(tmp_path / "missing.yaml"))


def test_aliases_that_stay_small_are_fine(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "targets.yaml"
    path.write_text("targets:\n- {hosts: [127.0.0.1], labels: &common {site: x}}\n"
                    "- {hosts: [127.0.0.2], labels: *common}\n")
    assert [t.labels for t in load_config(str(path))] == [(("site", "x"),)] * 2


# ---- reloads ----------------------------------------------------------------------------


def requests(samples: Samples) -> dict[str, float]:
    return by_host(samples, "smokeping_requests_total")


def test_a_failed_reload_changes_nothing(make_exporter: MakeExporter,  # noqa: F811
                                         tmp_path: pathlib.Path) -> None:
    config = tmp_path / "targets.yaml"
    config.write_text("targets: [127.0.0.1, '::1']\n")
    instance = make_exporter(config=str(config), period=0.02)
    wait_until(lambda: len(requests(scrape(instance.url))) == 2, 10, "for the targets")
    bad = {**{case: text for case, (text, _) in HOSTILE.items()},
           # Not a ConfigError: no engine can be opened with an address this machine lacks.
           "source not here": "targets: [{hosts: [127.0.0.3], source: 192.0.2.1}]\n"}
    for case, text in bad.items():
        before = scrape(instance.url)
        config.write_text(text)
        assert instance.reload() is False, case
        after = scrape(instance.url)
        assert set(requests(after)) == {"127.0.0.1", "::1"}, case
        # History kept: the counters went on from where they were.
        assert all(requests(after)[h] >= requests(before)[h] for h in ("127.0.0.1", "::1"))
        assert one(after, "smokeping_prober_config_last_reload_successful") == 0, case
        assert one(after, "fastping_exporter_config_last_reload_successful") == 0, case
        assert one(after, "fastping_exporter_targets") == 2, case
    config.unlink()
    assert instance.reload() is False
    config.write_text("targets: [127.0.0.2]\n")
    assert instance.reload() is True
    samples = scrape(instance.url)
    assert set(requests(samples)) == {"127.0.0.2"}
    assert one(samples, "smokeping_prober_config_last_reload_successful") == 1
    config.write_text("targets: []\n")  # said outright: no targets
    assert instance.reload() is True
    assert requests(scrape(instance.url)) == {}


def ask(url: str, method: str, path: str) -> tuple[int, str, str]:
    """(status, Content-Type, body) of one request."""
    host, port = url.removeprefix("http://").rsplit(":", 1)
    connection = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        connection.request(method, path)
        response = connection.getresponse()
        return response.status, response.getheader("Content-Type", ""), response.read().decode()
    finally:
        connection.close()


def test_post_reload_and_healthy_as_smokeping_prober(make_exporter: MakeExporter,  # noqa: F811
                                                     tmp_path: pathlib.Path) -> None:
    # smokeping_prober 0.11's main.go: /-/healthy is 200 "Healthy" to any method (it has no
    # /-/ready); /-/reload wants POST (405 and a line otherwise), answers once the reload is
    # done: 200 and no body, or 500 "Failed to reload config: ..." (http.Error's plain text).
    config = tmp_path / "targets.yaml"
    config.write_text("targets: [127.0.0.1]\n")
    instance = make_exporter(config=str(config), period=0.05)
    url = instance.url
    for method in ("GET", "POST"):
        assert ask(url, method, "/-/healthy") == (200, "text/plain; charset=utf-8", "Healthy")
    config.write_text("targets: [127.0.0.1, 127.0.0.2]\n")
    assert ask(url, "GET", "/-/reload")[::2] == (405, "This endpoint requires a POST request.\n")
    assert sorted(instance.hosts) == ["127.0.0.1"]  # a GET reloads nothing
    stamped = instance.last_reload_time
    assert ask(url, "POST", "/-/reload") == (200, "", "")  # no body, no Content-Type
    # Answered when done: the new targets are pinged and the reload is stamped.
    assert sorted(instance.hosts) == ["127.0.0.1", "127.0.0.2"]
    samples = scrape(url)
    assert one(samples, "smokeping_prober_config_last_reload_successful") == 1
    assert one(samples, "smokeping_prober_config_last_reload_success_timestamp_seconds") > stamped
    config.write_text("targets: [{hosts: [127.0.0.3], timeout: 2h}]\n")
    status, content_type, body = ask(url, "POST", "/-/reload")
    assert (status, content_type) == (500, "text/plain; charset=utf-8"), body
    assert body.startswith("Failed to reload config: ") and "timeout" in body, body
    assert body.count("\n") == 1, body
    assert sorted(instance.hosts) == ["127.0.0.1", "127.0.0.2"]
    assert one(scrape(url), "smokeping_prober_config_last_reload_successful") == 0


# ---- the service as a process --------------------------------------------------------------


class Service:
    """`fastping exporter` as a subprocess, its stderr in a file."""

    def __init__(self, tmp_path: pathlib.Path, *args: str) -> None:
        self.log_path = tmp_path / "stderr"
        self._log: IO[str] = open(self.log_path, "w")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "fastping", "exporter", "--listen", "127.0.0.1:0", *args],
            stdout=subprocess.DEVNULL, stderr=self._log)

    @property
    def log(self) -> str:
        return self.log_path.read_text()

    def url(self) -> str:
        def listening() -> str | None:
            assert self.process.poll() is None, self.log
            found = re.search(r"listening on (http://\S+)/metrics", self.log)
            return found.group(1) if found else None

        return str(wait_until(listening, 60, "for the exporter to listen"))

    def stop(self, signum: int) -> None:
        """Sends signum; asserts the process ended within 5 s, with status 0 and no
        traceback."""
        started = time.monotonic()
        self.process.send_signal(signum)
        try:
            status = self.process.wait(5)
        except subprocess.TimeoutExpired:
            pytest.fail(f"still running 5 s after signal {signum}:\n{self.log}")
        assert time.monotonic() - started < 5
        assert status == 0, self.log
        assert "Traceback" not in self.log, self.log

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
        self._log.close()


@pytest.fixture
def service(tmp_path: pathlib.Path) -> Iterator[type[Service]]:
    made: list[Service] = []

    class Made(Service):
        def __init__(self, *args: str) -> None:
            super().__init__(tmp_path, *args)
            made.append(self)

    yield Made
    for each in made:
        each.close()


def many_hosts(count: int) -> str:
    """A config of count distinct loopback addresses (up to about 16 million)."""
    return "targets:\n" + "".join(f"- 127.{1 + i // 64516}.{i // 254 % 254 + 1}.{i % 254 + 1}\n"
                                  for i in range(count))


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_stops_it_while_serving(service: type[Service], signum: int) -> None:
    running = service("--period", "0.05", "127.0.0.1", "::1")
    url = running.url()
    wait_until(lambda: len(requests(scrape(url))) == 2, 10)
    running.stop(signum)


def test_a_signal_stops_it_while_it_starts(service: type[Service],
                                           tmp_path: pathlib.Path) -> None:
    config = tmp_path / "big.yaml"
    config.write_text(many_hosts(200_000))
    running = service("--config", str(config))
    time.sleep(1.0)  # parsing and adding 200,000 hosts takes longer than this
    assert running.process.poll() is None
    running.stop(signal.SIGTERM)


def test_a_signal_stops_it_during_a_reload(service: type[Service],
                                           tmp_path: pathlib.Path) -> None:
    config = tmp_path / "targets.yaml"
    config.write_text("targets: [127.0.0.1]\n")
    running = service("--config", str(config), "--period", "10")
    running.url()
    config.write_text(many_hosts(100_000))
    running.process.send_signal(signal.SIGHUP)
    time.sleep(0.5)  # the reload reads, checks and adds 100,000 hosts: seconds
    assert "pinging 100000 targets" not in running.log
    running.stop(signal.SIGTERM)


def test_a_signal_stops_it_during_scrapes(service: type[Service],
                                          tmp_path: pathlib.Path) -> None:
    config = tmp_path / "targets.yaml"
    # 100,000 hosts: a scrape takes seconds, and three at once keep the engine's loop busy
    # answering them for longer than a stop may take.
    config.write_text(many_hosts(100_000))
    running = service("--config", str(config), "--period", "10")
    url = running.url()
    host, port = url.removeprefix("http://").split(":")
    # A client that sends half a request and waits, and scrapes that take a while each.
    idle = socket.create_connection((host, int(port)))
    idle.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")
    scrapers = [socket.create_connection((host, int(port))) for _ in range(3)]
    for scraper in scrapers:
        scraper.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
    try:
        time.sleep(0.5)
        running.stop(signal.SIGTERM)
    finally:
        for client in (idle, *scrapers):
            client.close()


def test_the_control_thread_survives_failed_reloads(service: type[Service],
                                                   tmp_path: pathlib.Path) -> None:
    config = tmp_path / "targets.yaml"
    config.write_text("targets: [127.0.0.1]\n")
    running = service("--config", str(config), "--period", "0.05")
    url = running.url()
    wait_until(lambda: requests(scrape(url)).get("127.0.0.1", 0) > 0, 10)
    for text in ("targets: [{host: 127.0.0.1, timeout: 2h}]\n", ALIAS_BOMB, ""):
        config.write_text(text)
        running.process.send_signal(signal.SIGHUP)
        wait_until(lambda: one(scrape(url), "smokeping_prober_config_last_reload_successful")
                   == 0, 10, "for the reload to fail")
        samples = scrape(url)
        assert set(requests(samples)) == {"127.0.0.1"}
        # A good file is still read: the control thread is alive.
        config.write_text("targets: [127.0.0.1]\n")
        running.process.send_signal(signal.SIGHUP)
        wait_until(lambda: one(scrape(url), "smokeping_prober_config_last_reload_successful")
                   == 1, 10, "for the reload to succeed")
    running.stop(signal.SIGINT)
    assert "reload failed, keeping the 1 targets" in running.log


# ---- clean errors ------------------------------------------------------------------------

WITHOUT = """
import sys
sys.modules[{module!r}] = None  # as if it were not installed: its import fails
sys.argv = ["fastping", "exporter", "127.0.0.1"]
from fastping.cli import main
main()
"""


@pytest.mark.parametrize(("module", "name"), [("prometheus_client", "prometheus_client"),
                                              ("yaml", "yaml")])
def test_a_missing_dependency_is_one_line(module: str, name: str) -> None:
    done = subprocess.run([sys.executable, "-c", WITHOUT.format(module=module)],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 4, done.stderr
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr, done.stderr
    assert name in done.stderr and "pip install 'fastping[exporter]'" in done.stderr


# Imported by `site` at the start of the interpreter (from PYTHONPATH), before -m looks for
# its module: the named module's import then fails as if it were not installed.
HIDING_SITECUSTOMIZE = """
import os, sys
sys.modules[os.environ["FASTPING_TEST_HIDE"]] = None
"""


@pytest.mark.parametrize("module", ["prometheus_client", "yaml", "aiohttp"])
def test_python_m_without_a_dependency_is_one_line(tmp_path: pathlib.Path, module: str) -> None:
    (tmp_path / "sitecustomize.py").write_text(HIDING_SITECUSTOMIZE)
    path = os.pathsep.join(filter(None, [str(tmp_path), os.environ.get("PYTHONPATH")]))
    done = subprocess.run(
        [sys.executable, "-m", "fastping.exporter", "127.0.0.1"],
        env={**os.environ, "PYTHONPATH": path, "FASTPING_TEST_HIDE": module},
        capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 4, done.stderr
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr, done.stderr
    assert f"({module} is missing)" in done.stderr
    assert "pip install 'fastping[exporter]'" in done.stderr


def test_a_missing_config_file_is_a_usage_error(tmp_path: pathlib.Path) -> None:
    missing = tmp_path / "smokeping_prober.yml"
    done = subprocess.run(
        [sys.executable, "-m", "fastping", "exporter", "--config.file", str(missing)],
        capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 3, done.stderr
    assert str(missing) in done.stderr and "No such file" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_reload_adds_many_hosts_at_once(make_exporter: MakeExporter,  # noqa: F811
                                          tmp_path: pathlib.Path) -> None:
    # The new hosts go to the running engines in lots (Monitor.add_many): every one pinged,
    # one that cannot be added counted in the unresolved, the others added all the same.
    config = tmp_path / "targets.yaml"
    config.write_text("targets: [127.0.0.1]\n")
    # A command line's target is not checked as a file's is: tried at every reload.
    instance = make_exporter(["999.1.1.1"], config=str(config), period=0.2)
    hosts = [f"127.0.{n // 250 + 2}.{n % 250 + 1}" for n in range(500)]
    config.write_text("targets:\n- hosts: [" + ", ".join(hosts)
                      + "]\n- hosts: [127.0.0.1]\n  interval: 0.5s\n")
    assert instance.reload() is True
    assert set(instance.unresolved) == {"999.1.1.1"}
    assert set(instance.hosts) == {"127.0.0.1", *hosts}
    samples = wait_until(lambda: (lambda s: s if len([v for v in requests(s).values() if v])
                                  == 501 else None)(scrape(instance.url)), 20, "for every probe")
    assert one(samples, "fastping_exporter_unresolved_targets") == 1
