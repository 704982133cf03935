"""/metrics at scale: the binding's text (exposition.py, _exposition.pxi) is byte for byte
prometheus_client's from MonitorCollector, concurrent scrapes share one reading of the
engine, and a scrape's Python allocations do not grow with the hosts."""

from __future__ import annotations

import gzip
import json
import math
import pathlib
import random
import re
import struct
import threading
import time
import tracemalloc
import urllib.request
import zlib
from collections.abc import Iterator

import pytest
from conftest import loopback_hosts

pytest.importorskip("prometheus_client")

from prometheus_client import CollectorRegistry
from prometheus_client.exposition import generate_latest
from prometheus_client.openmetrics.exposition import generate_latest as generate_openmetrics
from prometheus_client.utils import floatToGoString

from fastping import _engine
from fastping.exporter import Exporter, exposition
from fastping.exporter.collector import MonitorCollector
from fastping.exporter.config import Target

# A custom label value that needs every escape the formats have, and UTF-8.
ODD_VALUE = 'a"b\\c\nd é "\\n'


@pytest.fixture
def exporter(fd_baseline: int, tmp_path: pathlib.Path) -> Iterator[Exporter]:
    """An exporter of 300 IPv4 hosts, ::1 under three names and a host of an engine of its
    own (tos), with custom labels sorting before, between and after the others (and the
    families' own: le, quantile, to), probed every 0.2 s until every host answered twice,
    then stopped, with two hosts added never probed: its state holds still."""
    config = tmp_path / "targets.yaml"
    config.write_text(json.dumps({"targets": [
        {"hosts": loopback_hosts(300, "127.0.13.1"), "labels": {"site": ODD_VALUE, "aaa": "1"}},
        {"hosts": ["::1", "0::1", "0:0:0:0:0:0:0:1"], "labels": {"zone": "v6"}},
        {"hosts": ["127.0.21.1"], "tos": 16},
    ]}))
    instance = Exporter(config=str(config), period=0.2, listen="127.0.0.1:0")
    instance.start()
    try:
        groups = instance.snapshot().groups
        assert len(groups) == 2
        deadline = time.monotonic() + 30
        while any(state.received < 2 for group in groups
                  for state in group.monitor.states().values()):
            assert time.monotonic() < deadline, "hosts did not answer on loopback"
            time.sleep(0.1)
        for group in groups:
            group.monitor.stop()
            group.monitor.join()
        # Hosts never probed: no health, no window, no RTTs (samples left out).
        instance.apply([*instance._wanted(), Target("127.0.20.1"), Target("127.0.20.2")])
        yield instance
    finally:
        instance.close()


def reference(instance: Exporter, open_metrics: bool) -> bytes:
    """prometheus_client's text of the Monitor's collector, a Python object a sample."""
    registry = CollectorRegistry()
    registry.register(MonitorCollector(instance))
    return (generate_openmetrics if open_metrics else generate_latest)(registry)


def rendered(instance: Exporter, open_metrics: bool) -> bytes:
    """The binding's text of /metrics, less what follows the Monitor's (the process')."""
    text = b"".join(instance.render_metrics(open_metrics))
    monitor_text = text[:text.index(b"# HELP process_")]
    return monitor_text + (b"# EOF\n" if open_metrics else b"")


@pytest.mark.parametrize("open_metrics", [False, True])
@pytest.mark.parametrize(("version", "fastping_metrics"),
                         [("0.11", True), ("0.6", True), ("0.11", False)])
def test_the_text_is_prometheus_clients_byte_for_byte(exporter: Exporter, open_metrics: bool,
                                                      version: str,
                                                      fastping_metrics: bool) -> None:
    exporter.smokeping_version = version
    exporter.fastping_metrics = fastping_metrics
    expected = reference(exporter, open_metrics)
    assert rendered(exporter, open_metrics) == expected
    text = expected.decode()
    # The cases it covers: IPv4 and IPv6 hosts, odd labels, hosts with and without samples.
    assert 'host="0:0:0:0:0:0:0:1",ip="::1"' in text
    assert text.count("smokeping_requests_total{") == 306
    if version == "0.11":
        assert 'site="a\\"b\\\\c\\nd é \\"\\\\n"' in text and 'tos="16"' in text
    if fastping_metrics:
        assert text.count("fastping_up{") == 304  # the two never probed have no health
        assert "fastping_rtt_seconds{" in text and 'le="+Inf"' in text
    else:
        assert "fastping_" not in text


def test_the_plans_are_made_when_the_targets_are_applied(exporter: Exporter) -> None:
    # So that the first scrape after a start or reload costs what the others do.
    plans = dict(exporter._scrapes._plans)
    snapshot = exporter.snapshot()
    assert {id(group.monitor) for group in snapshot.groups} == set(plans)
    assert all(plan.snapshot is snapshot for plan in plans.values())
    b"".join(exporter.render_metrics(False))
    assert all(exporter._scrapes._plans[key] is plan for key, plan in plans.items())


def test_a_second_rendering_is_the_same(exporter: Exporter) -> None:
    # The hosts' timestamps (since) are read the same way each time, to the last digit.
    assert rendered(exporter, False) == rendered(exporter, False)


def test_numbers_are_written_as_prometheus_client_writes_them() -> None:
    rng = random.Random(13)
    values = [0.0, -0.0, 1.0, 5e-324, 1e16, 1e-4, 1e-5, 123456.0, 1234567.0, 1e6, 1e10,
              1.5e10, 9007199254740993.0, 1.7976931348623157e308, math.inf, -math.inf,
              math.nan]
    for _ in range(20_000):
        values.append(struct.unpack("<d", struct.pack("<Q", rng.getrandbits(64)))[0])
        values.append(rng.random() * 10.0 ** rng.randint(-12, 18))
        values.append(float(rng.randint(0, 10 ** rng.randint(1, 19))))
        values.append(struct.unpack("<f", struct.pack("<I", rng.getrandbits(32)))[0] / 1e6)
    for value in values:
        if not math.isnan(value):
            assert _engine.shortest_repr(value) == repr(value), value.hex()
        assert _engine.go_float(value) == floatToGoString(value), repr(value)


def test_concurrent_scrapes_share_one_reading(exporter: Exporter) -> None:
    scrapes = exporter._scrapes
    before = scrapes.readings
    first = exporter.render_metrics(False)
    head = next(first)  # the first scrape has read the engine and is rendering
    second_text = b"".join(exporter.render_metrics(False))  # arrives meanwhile: shares it
    first_text = head + b"".join(first)
    assert scrapes.readings == before + 1
    # One reading, so the same text, the process' own metrics (CPU, memory) too.
    assert first_text == second_text
    b"".join(exporter.render_metrics(False))  # after both: a reading of its own
    assert scrapes.readings == before + 2


@pytest.mark.parametrize("zipped", [False, True])
def test_scrapes_that_arrive_together_share_one_rendering(exporter: Exporter,
                                                          zipped: bool) -> None:
    scrapes = exporter._scrapes
    texts: list[bytes] = []
    readings, renderings = scrapes.readings, scrapes.renderings
    # The first scrape's reading waits for the targets' lock: the others arrive meanwhile.
    with exporter._targets._lock:
        threads = [threading.Thread(target=lambda: texts.append(
            b"".join(exporter.render_metrics(False, zipped)))) for _ in range(3)]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 10
        while scrapes._rendering < 3:
            assert time.monotonic() < deadline
            time.sleep(0.001)
    for thread in threads:
        thread.join(10)
    assert len(texts) == 3 and texts[0] == texts[1] == texts[2]
    assert (scrapes.readings, scrapes.renderings) == (readings + 1, renderings + 1)
    text = gzip.decompress(texts[0]) if zipped else texts[0]
    assert text.startswith(reference(exporter, False)[:200])


def test_a_scrape_allocates_chunks_not_samples(exporter: Exporter) -> None:
    b"".join(exporter.render_metrics(False))  # the plan: once per target set
    size = 0
    tracemalloc.start()
    try:
        for chunk in exporter.render_metrics(False):
            size += len(chunk)
            del chunk
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert size > 1_000_000
    # A chunk and the small families: not the text, nor an object a sample.
    assert peak < exposition.CHUNK_SIZE + size // 4, (peak, size)


def test_metrics_over_http_gzip_and_openmetrics(exporter: Exporter) -> None:
    def get(**headers: str) -> tuple[str, str, bytes]:
        request = urllib.request.Request(exporter.url + "/metrics", headers=headers)
        with urllib.request.urlopen(request, timeout=10) as response:
            return (response.headers["Content-Type"],
                    response.headers.get("Content-Encoding", ""), response.read())

    kind, encoding, body = get()
    assert kind.startswith("text/plain; version=0.0.4") and encoding == ""
    assert body.startswith(reference(exporter, False)[:200])
    kind, encoding, body = get(**{"Accept": "application/openmetrics-text; version=1.0.0",
                                  "Accept-Encoding": "gzip"})
    assert kind.startswith("application/openmetrics-text") and encoding == "gzip"
    text = gzip.decompress(body)
    assert text.endswith(b"# EOF\n") and text.count(b"# EOF") == 1
    assert text.startswith(reference(exporter, True)[:200])


@pytest.mark.parametrize("backend", ["isal", "zlib"])
def test_gzip_is_one_stream_of_every_chunk(monkeypatch: pytest.MonkeyPatch, backend: str) -> None:
    # ISA-L if installed, else the standard zlib: either gives one gzip member of the whole
    # text, whatever its chunks, each compressed on another thread than the next is made on.
    deflate = pytest.importorskip("isal.isal_zlib") if backend == "isal" else zlib
    if backend == "isal":
        assert exposition._deflate is deflate  # installed: the one used
    monkeypatch.setattr(exposition, "_deflate", deflate)
    rng = random.Random(7)
    chunks = [b"".join(b'smokeping_requests_total{host="127.0.%d.%d"} %d\n'
                       % (n, i, rng.randrange(10 ** rng.randrange(1, 12))) for i in range(20_000))
              for n in range(12)] + [b"", b"# EOF\n"]
    body = b"".join(exposition.gzipped(iter(chunks)))
    text = b"".join(chunks)
    assert gzip.decompress(body) == text
    member = zlib.decompressobj(31)
    assert member.decompress(body) == text and member.eof and member.unused_data == b""
    assert len(body) < len(text) // 5


def test_gzip_hands_on_an_error_of_the_text() -> None:
    def failing() -> Iterator[bytes]:
        yield b"a" * 100_000
        raise RuntimeError("the engine closed")

    with pytest.raises(RuntimeError, match="the engine closed"):
        b"".join(exposition.gzipped(failing()))


def test_a_scrape_sees_a_reloads_targets_with_its_stamp(tmp_path: pathlib.Path) -> None:
    # The reload stamp is published with the targets it applied (one Snapshot): a scrape
    # during many reloads never shows one reload's targets with another one's stamp, nor a
    # failed reload's flag with a successful one's targets.
    config = tmp_path / "targets.yaml"
    sets = ("targets: [127.0.31.1]\n", "targets: [127.0.31.2, 127.0.31.3]\n",
            "targets: [{hosts: [127.0.31.4], timeout: 2h}]\n")  # the last one fails
    config.write_text(sets[0])
    instance = Exporter(config=str(config), period=10.0, listen="127.0.0.1:0")
    instance.start()
    seen: set[tuple[frozenset[str], str, str]] = set()
    done = threading.Event()

    def scrapes() -> None:
        deadline = time.monotonic() + 60
        while not done.is_set() and time.monotonic() < deadline:
            text = b"".join(instance.render_metrics(False)).decode()
            hosts = frozenset(re.findall(r'^smokeping_requests_total\{[^}]*host="([^"]+)"',
                                         text, re.M))
            stamp = re.search(r"^smokeping_prober_config_last_reload_success_timestamp_seconds "
                              r"(\S+)$", text, re.M)
            ok = re.search(r"^smokeping_prober_config_last_reload_successful (\S+)$", text, re.M)
            assert stamp is not None and ok is not None
            seen.add((hosts, stamp[1], ok[1]))

    scraper = threading.Thread(target=scrapes)
    scraper.start()
    try:
        for round_ in range(150):
            config.write_text(sets[round_ % 3])
            assert instance.reload() == (round_ % 3 != 2)
            snapshot = instance.snapshot()
            assert (snapshot.reload_ok, snapshot.reload_time) == (
                instance.last_reload_ok, instance.last_reload_time)
    finally:
        done.set()
        scraper.join()
        instance.close()
    # A scrape during a reload shows the hosts before it, less those already removed: with a
    # stamp, only hosts of the one target set it stamped.
    hosts_by_stamp: dict[str, set[str]] = {}
    for hosts, stamp, _ in seen:
        hosts_by_stamp.setdefault(stamp, set()).update(hosts)
    assert len(hosts_by_stamp) > 10  # the scrapes saw many reloads
    torn = {stamp: hosts for stamp, hosts in hosts_by_stamp.items()
            if not (hosts <= {"127.0.31.1"} or hosts <= {"127.0.31.2", "127.0.31.3"})}
    assert not torn, torn
