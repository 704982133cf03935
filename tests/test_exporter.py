"""The Prometheus exporter: its configuration, /metrics and /probe over HTTP on 127.0.0.1, reloads
(in process and by SIGHUP to a subprocess), a host going down (in a namespace of its own), and a
real Prometheus scraping it, queried through its HTTP API."""

from __future__ import annotations

import contextlib
import json
import os
import pathlib
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from conftest import run_isolated
from debian import debian_commands

pytest.importorskip("prometheus_client")
pytest.importorskip("yaml")

from prometheus_client.parser import text_string_to_metric_families

from fastping import exporter
from fastping.exporter import (
    DEFAULT_BUCKETS,
    ConfigError,
    Exporter,
    Target,
    collector,
    hashmod,
    parse_config,
    parse_duration,
)

DATA = pathlib.Path(__file__).parent / "data"
Samples = dict[str, list[tuple[dict[str, str], float]]]
MakeExporter = Callable[..., Exporter]


# ---- helpers ------------------------------------------------------------------------


def fetch(url: str, timeout: float = 10.0) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def parse(text: str) -> Samples:
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples.setdefault(sample.name, []).append((dict(sample.labels), sample.value))
    return samples


def scrape(url: str) -> Samples:
    status, text = fetch(url + "/metrics")
    assert status == 200, text
    return parse(text)


def by_host(samples: Samples, name: str, **labels: str) -> dict[str, float]:
    return {sample_labels["host"]: value for sample_labels, value in samples.get(name, [])
            if all(sample_labels.get(k) == v for k, v in labels.items())}


def one(samples: Samples, name: str) -> float:
    [(_, value)] = samples[name]
    return value


def wait_until(condition: Callable[[], Any], timeout: float = 30.0, what: str = "") -> Any:
    """Polls condition until it returns something true (returned), for at most timeout s."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        assert time.monotonic() < deadline, f"timed out after {timeout} s waiting {what}"
        time.sleep(0.05)


def all_up(url: str, hosts: list[str]) -> Samples | None:
    """The scrape once every one of hosts is up and its histogram has a reply (a scrape reads
    the histograms before the states: a first reply may be in one and not yet the other)."""
    samples = scrape(url)
    up = by_host(samples, "fastping_up")
    replies = by_host(samples, "smokeping_response_duration_seconds_count")
    return samples if all(up.get(h) == 1.0 and replies.get(h, 0) > 0 for h in hosts) else None


def check_histograms(samples: Samples, hosts: list[str], inflight: int = 2) -> None:
    """Every host's histogram is well formed and agrees with its request and loss counters."""
    requests = by_host(samples, "smokeping_requests_total")
    lost = by_host(samples, "fastping_lost_total")
    counts = by_host(samples, "smokeping_response_duration_seconds_count")
    sums = by_host(samples, "smokeping_response_duration_seconds_sum")
    for host in hosts:
        buckets = [(labels["le"], value) for labels, value
                   in samples["smokeping_response_duration_seconds_bucket"]
                   if labels["host"] == host]
        bounds = [float(le) for le, _ in buckets]
        values = [value for _, value in buckets]
        assert bounds == sorted(bounds) and bounds[-1] == float("inf")
        assert [le for le, _ in buckets[:-1]] == [collector._go_float(b) for b in DEFAULT_BUCKETS]
        assert values == sorted(values), f"{host}: buckets not cumulative: {values}"
        assert values[-1] == counts[host]
        # Replies are what was sent less what was lost, less what is still in flight.
        assert 0 <= requests[host] - lost[host] - counts[host] <= inflight, (
            host, requests[host], lost[host], counts[host])
        assert 0 < sums[host] < counts[host] * 0.1  # loopback: well under 100 ms a reply


@pytest.fixture
def make_exporter(fd_baseline: int) -> Iterator[MakeExporter]:
    """An Exporter factory listening on 127.0.0.1 (a free port); all closed, descriptors checked."""
    made: list[Exporter] = []

    def make(*args: Any, **kwargs: Any) -> Exporter:
        kwargs.setdefault("listen", "127.0.0.1:0")
        made.append(Exporter(*args, **kwargs))
        made[-1].start()
        return made[-1]

    yield make
    for instance in made:
        instance.close()


# ---- configuration ------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "seconds"), [
    (1, 1.0), (0.25, 0.25), ("2", 2.0), ("500ms", 0.5), ("1m30s", 90.0), ("1.5s", 1.5),
    ("250us", 0.00025), ("1h", 3600.0),
])
def test_durations(text: object, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "1x", "s", "-1s", "0", 0, True, None, "1s 2s", "nan"])
def test_bad_durations(text: object) -> None:
    with pytest.raises(ConfigError):
        parse_duration(text)


def test_config_forms() -> None:
    assert parse_config({"targets": []}) == [] == parse_config([])
    assert parse_config(["127.0.0.1", {"host": "::1", "period": "500ms"}]) == [
        Target("127.0.0.1"), Target("::1", 0.5)]
    document = {
        "period": "2s", "timeout": 0.5,
        "targets": ["a", {"hosts": ["b", "c"], "interval": "1s"}, {"host": "d", "timeout": 1}],
    }
    assert parse_config(document) == [
        Target("a", 2.0, 0.5), Target("b", 1.0, 0.5), Target("c", 1.0, 0.5),
        Target("d", 2.0, 1.0)]


@pytest.mark.parametrize(("document", "message"), [
    ({"targets": "a"}, "must be a list"),
    ({"hosts": ["a"]}, "unknown key 'hosts'"),
    ([{"host": "a", "colour": 56}], "unknown key 'colour'"),
    ([{"host": "a", "hosts": ["b"]}], "exactly one of host and hosts"),
    ([{"period": 1}], "exactly one of host and hosts"),
    ([{"host": "a", "period": 1, "interval": 1}], "not both"),
    ([{"host": ""}], "non-empty string"),
    ([42], "expected a host or a mapping"),
    ([{"host": "a", "period": "soon"}], "not a duration"),
])
def test_bad_configs(document: object, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_config(document, "targets.yaml")


def test_config_file_errors(tmp_path: pathlib.Path) -> None:
    with pytest.raises(ConfigError, match="No such file"):
        exporter.load_config(str(tmp_path / "missing.yaml"))
    broken = tmp_path / "broken.yaml"
    broken.write_text("targets: [127.0.0.1\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        exporter.load_config(str(broken))


def test_hashmod_spreads_and_is_stable() -> None:
    hosts = [f"127.0.{i // 250}.{i % 250 + 1}" for i in range(1000)]
    shards = [hashmod(host, 4) for host in hosts]
    assert shards == [hashmod(host, 4) for host in hosts]
    assert all(150 < shards.count(k) < 350 for k in range(4))
    # Checked against Prometheus' own hashmod in test_prometheus_scrapes_the_exporter.


@pytest.mark.parametrize(("listen", "address"), [
    ("127.0.0.1:9374", ("127.0.0.1", 9374)), ("[::1]:80", ("::1", 80)),
    (":9374", ("0.0.0.0", 9374)),
])
def test_listen_addresses(listen: str, address: tuple[str, int]) -> None:
    assert exporter.parse_listen(listen) == address


@pytest.mark.parametrize("argv", [
    [], ["--listen", "nowhere", "127.0.0.1"], ["--period", "0", "127.0.0.1"],
    ["--shard", "2/2", "127.0.0.1"], ["--buckets", "1,x", "127.0.0.1"],
    ["--buckets", "2,1", "127.0.0.1"], ["--config", "/nonexistent/targets.yaml"],
    ["--no-such-option"],
])
def test_usage_errors(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert exporter.main(argv) == 3
    assert capsys.readouterr().err.strip()


def test_address_in_use_is_a_system_error(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert exporter.main(["--listen", f"127.0.0.1:{port}", "127.0.0.1"]) == 4
    assert "in use" in capsys.readouterr().err


# ---- /metrics -----------------------------------------------------------------------


def test_metrics(make_exporter: MakeExporter) -> None:
    hosts = ["127.0.0.1", "::1", "127.0.0.2"]
    instance = make_exporter(hosts, period=0.05)
    url = instance.url
    first = wait_until(lambda: all_up(url, hosts), 10, "for every host to be up")
    time.sleep(0.3)
    second = scrape(url)
    for samples in (first, second):
        check_histograms(samples, hosts)
    before = by_host(first, "smokeping_requests_total")
    after = by_host(second, "smokeping_requests_total")
    assert set(after) == set(hosts)
    assert all(after[h] > before[h] for h in hosts), (before, after)
    assert by_host(second, "smokeping_requests_total", ip="::1", source="") == {"::1": after["::1"]}
    assert set(by_host(second, "smokeping_response_duplicates_total").values()) == {0.0}
    assert set(by_host(second, "smokeping_send_errors_total").values()) == {0.0}
    assert set(by_host(second, "smokeping_response_ttl").values()) == {64.0}
    assert one(second, "smokeping_receive_errors_total") == 0
    assert set(by_host(second, "fastping_up").values()) == {1.0}
    assert set(by_host(second, "fastping_loss_ratio").values()) == {0.0}
    assert set(by_host(second, "fastping_lost_total").values()) == {0.0}
    assert by_host(second, "fastping_state_changes_total", to="up") == dict.fromkeys(hosts, 1.0)
    assert by_host(second, "fastping_state_changes_total", to="down") == dict.fromkeys(hosts, 0.0)
    for quantile in ("0.5", "0.9", "0.99"):
        values = by_host(second, "fastping_rtt_seconds", quantile=quantile)
        assert set(values) == set(hosts) and all(0 < v < 0.1 for v in values.values())
    for name in ("min", "avg", "max"):
        assert all(0 < v < 0.1 for v in by_host(second, f"fastping_rtt_{name}_seconds").values())
    assert all(v >= 0 for v in by_host(second, "fastping_rtt_stddev_seconds").values())
    assert all(v > 0 for v in by_host(second, "fastping_window_probes").values())
    since = by_host(second, "fastping_health_since_timestamp_seconds")
    assert all(time.time() - 60 < v <= time.time() for v in since.values())
    events = {labels["event"]: v for labels, v in second["fastping_engine_events_total"]}
    assert events["sent"] >= sum(after.values()) and events["foreign"] == 0
    assert one(second, "fastping_exporter_targets") == 3
    assert one(second, "fastping_exporter_unresolved_targets") == 0
    assert one(second, "fastping_exporter_config_last_reload_successful") == 1
    assert "process_open_fds" in second and "python_info" in second
    status, _ = fetch(url + "/nothing-here")
    assert status == 404
    status, page = fetch(url + "/")
    assert status == 200 and "/metrics" in page


def test_openmetrics_negotiation(make_exporter: MakeExporter) -> None:
    instance = make_exporter(["127.0.0.1"], period=0.05)
    request = urllib.request.Request(instance.url + "/metrics", headers={
        "Accept": "application/openmetrics-text; version=1.0.0"})
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.headers["Content-Type"].startswith("application/openmetrics-text")
        text = response.read().decode()
    assert text.rstrip().endswith("# EOF")
    assert "# TYPE smokeping_response_duration_seconds histogram" in text


def test_unknown_hosts_have_no_up_series_yet(make_exporter: MakeExporter) -> None:
    # One probe goes out at once, the next in an hour: one reply is not enough to be up.
    instance = make_exporter(["127.0.0.1"], period=3600, up_after=2)
    samples = scrape(instance.url)
    assert by_host(samples, "fastping_up") == {}
    assert by_host(samples, "smokeping_requests_total") in ({"127.0.0.1": 0.0},
                                                           {"127.0.0.1": 1.0})
    assert by_host(samples, "smokeping_response_duration_seconds_count") in (
        {"127.0.0.1": 0.0}, {"127.0.0.1": 1.0})


def test_unresolvable_targets_are_counted_not_fatal(make_exporter: MakeExporter) -> None:
    instance = make_exporter(["127.0.0.1", "999.1.1.1"], period=0.05)
    samples = scrape(instance.url)
    assert one(samples, "fastping_exporter_unresolved_targets") == 1
    assert set(by_host(samples, "smokeping_requests_total")) == {"127.0.0.1"}


def test_sharded_exporters_split_the_targets(make_exporter: MakeExporter) -> None:
    hosts = [f"127.0.3.{i}" for i in range(1, 21)]
    shards = [make_exporter(hosts, period=3600, shard=(k, 3)) for k in range(3)]
    seen = [set(shard.hosts) for shard in shards]
    assert set().union(*seen) == set(hosts) and sum(map(len, seen)) == len(hosts)
    for k, hosts_of_shard in enumerate(seen):
        assert all(hashmod(host, 3) == k for host in hosts_of_shard)


# ---- /probe -------------------------------------------------------------------------


def test_probe(make_exporter: MakeExporter) -> None:
    url = make_exporter([], period=1.0).url
    status, text = fetch(url + "/probe?target=127.0.0.1")
    assert status == 200, text
    samples = parse(text)
    assert one(samples, "probe_success") == 1
    assert one(samples, "probe_ip_protocol") == 4
    assert 0 < one(samples, "probe_duration_seconds") < 1
    assert one(samples, "probe_ip_addr_hash") == 3668918509  # blackbox's FNV-1a of 127.0.0.1
    assert "probe_icmp_requests" not in samples  # fastping's extras only with count=
    phases = {labels["phase"]: v for labels, v in samples["probe_icmp_duration_seconds"]}
    assert set(phases) == {"resolve", "setup", "rtt"} and 0 < phases["rtt"] < 0.1
    assert one(samples, "probe_icmp_reply_hop_limit") == 64

    samples = parse(fetch(url + "/probe?target=::1&count=3&timeout=500ms")[1])
    assert one(samples, "probe_success") == 1 and one(samples, "probe_ip_protocol") == 6
    assert (one(samples, "probe_icmp_requests"), one(samples, "probe_icmp_replies")) == (3, 3)

    # Cannot be resolved (and is not looked up: it is a malformed address): a failed probe.
    status, text = fetch(url + "/probe?target=999.1.1.1")
    assert status == 200
    assert one(parse(text), "probe_success") == 0

    for query in ("", "?target=", "?target=127.0.0.1&count=0", "?target=127.0.0.1&count=x",
                  "?target=127.0.0.1&timeout=never", "?target=a&target=b"):
        status, text = fetch(url + "/probe" + query)
        assert status == 400, (query, text)


# ---- reloads ------------------------------------------------------------------------


def test_reload_keeps_history(make_exporter: MakeExporter, tmp_path: pathlib.Path) -> None:
    config = tmp_path / "targets.yaml"
    config.write_text("period: 0.05\ntargets: [127.0.0.1, 127.0.0.2, 127.0.0.3]\n")
    instance = make_exporter(config=str(config))
    url = instance.url
    wait_until(lambda: all_up(url, ["127.0.0.1", "127.0.0.2", "127.0.0.3"]), 10, "for up")
    before = wait_until(lambda: (lambda r: r if min(r.values()) >= 5 else None)(
        by_host(scrape(url), "smokeping_requests_total")), 10, "for some history")

    # Keep .1, move .2 to another period (it starts afresh), drop .3, add .4.
    config.write_text("period: 0.05\ntargets:\n- 127.0.0.1\n- {host: 127.0.0.2, period: 0.04}\n"
                      "- 127.0.0.4\n")
    assert instance.reload()
    samples = scrape(url)
    requests = by_host(samples, "smokeping_requests_total")
    assert set(requests) == {"127.0.0.1", "127.0.0.2", "127.0.0.4"}
    assert requests["127.0.0.1"] >= before["127.0.0.1"]
    assert requests["127.0.0.2"] < before["127.0.0.2"]
    assert by_host(samples, "fastping_state_changes_total", to="up")["127.0.0.1"] == 1
    after = wait_until(lambda: all_up(url, ["127.0.0.1", "127.0.0.2", "127.0.0.4"]), 10)
    check_histograms(after, ["127.0.0.1", "127.0.0.2", "127.0.0.4"])

    # A broken config changes nothing and says so.
    config.write_text("targets: [127.0.0.1\n")
    assert not instance.reload()
    samples = scrape(url)
    assert set(by_host(samples, "smokeping_requests_total")) == {"127.0.0.1", "127.0.0.2",
                                                                 "127.0.0.4"}
    assert one(samples, "fastping_exporter_config_last_reload_successful") == 0


def test_probe_runs_on_the_exporters_own_engine(make_exporter: MakeExporter) -> None:
    instance = make_exporter(targets=["127.0.0.1"], period=0.05)
    url = instance.url
    wait_until(lambda: all_up(url, ["127.0.0.1"]), 10, "for up")

    def engines() -> int:
        links = []
        for fd in os.listdir("/proc/self/fd"):
            with contextlib.suppress(OSError):
                links.append(os.readlink(f"/proc/self/fd/{fd}"))
        return sum(link in ("anon_inode:[eventpoll]", "anon_inode:[timerfd]") for link in links)

    before = engines()
    answers: list[tuple[int, str]] = []
    askers = [threading.Thread(target=lambda host=host: answers.append(
        fetch(f"{url}/probe?target={host}&count=5"))) for host in ("127.0.0.2", "::1", "127.0.0.1")]
    for asker in askers:
        asker.start()
    seen = before
    while any(asker.is_alive() for asker in askers):
        seen = max(seen, engines())
        time.sleep(0.001)
    assert seen == before  # not one engine was opened for them
    assert len(answers) == 3
    for status, text in answers:
        assert status == 200
        assert "probe_success 1.0" in text and "probe_icmp_replies 5.0" in text


def test_one_engine_for_every_period_and_timeout(make_exporter: MakeExporter,
                                                tmp_path: pathlib.Path) -> None:
    config = tmp_path / "targets.yaml"
    config.write_text("period: 0.2\ntargets:\n- 127.0.0.1\n- {host: 127.0.0.2, period: 0.05}\n"
                      "- {host: 127.0.0.3, period: 0.1, timeout: 0.05}\n"
                      "- {host: '::1', timeout: 0.5}\n")
    instance = make_exporter(config=str(config))
    hosts = ["127.0.0.1", "127.0.0.2", "127.0.0.3", "::1"]
    wait_until(lambda: all_up(instance.url, hosts), 10, "for up")
    # One Monitor, so one engine: an epoll descriptor, a timerfd and one socket a family.
    (group,) = instance.snapshot().groups
    assert group.monitor.resources()["descriptors"] == 4
    before = by_host(scrape(instance.url), "smokeping_requests_total")
    time.sleep(1.0)
    sent = {host: count - before[host]
            for host, count in by_host(scrape(instance.url), "smokeping_requests_total").items()}
    # Each at its own period.
    assert 3 <= sent["127.0.0.1"] <= 7 and 3 <= sent["::1"] <= 7
    assert 15 <= sent["127.0.0.2"] <= 25
    assert 7 <= sent["127.0.0.3"] <= 13


def test_sighup_reloads_a_running_exporter(tmp_path: pathlib.Path) -> None:
    config = tmp_path / "targets.yaml"
    config.write_text("targets: [127.0.0.1, 127.0.0.2]\n")
    log = open(tmp_path / "stderr", "w+")  # noqa: SIM115 - read while the process runs
    process = subprocess.Popen(
        [sys.executable, "-m", "fastping.exporter", "--config", str(config),
         "--listen", "127.0.0.1:0", "--period", "0.05", "::1"],
        stdout=subprocess.DEVNULL, stderr=log, text=True)
    try:
        def listening() -> str | None:
            assert process.poll() is None, pathlib.Path(log.name).read_text()
            found = re.search(r"listening on (http://\S+)/metrics",
                              pathlib.Path(log.name).read_text())
            return found.group(1) if found else None

        url = wait_until(listening, 30, "for the exporter to listen")
        wait_until(lambda: all_up(url, ["127.0.0.1", "127.0.0.2", "::1"]), 30, "for up")
        before = by_host(scrape(url), "smokeping_requests_total")
        reloaded_at = one(scrape(url), "fastping_exporter_config_last_reload_success_timestamp_"
                                       "seconds")

        config.write_text("targets: [127.0.0.1, 127.0.0.5]\n")
        process.send_signal(signal.SIGHUP)

        def reloaded() -> Samples | None:
            # The new targets are served a moment before the reload is stamped done.
            samples = scrape(url)
            requests = by_host(samples, "smokeping_requests_total")
            stamped = one(samples, "fastping_exporter_config_last_reload_success_timestamp_"
                                   "seconds")
            done = set(requests) == {"127.0.0.1", "127.0.0.5", "::1"} and stamped > reloaded_at
            return samples if done else None

        samples = wait_until(reloaded, 30, "for the reload")
        requests = by_host(samples, "smokeping_requests_total")
        # Kept hosts kept their history: counters went on from where they were.
        assert requests["127.0.0.1"] >= before["127.0.0.1"]
        assert requests["::1"] >= before["::1"]
        assert by_host(samples, "fastping_state_changes_total", to="up")["127.0.0.1"] == 1
        samples = wait_until(lambda: all_up(url, ["127.0.0.1", "127.0.0.5", "::1"]), 30)
        check_histograms(samples, ["127.0.0.1", "127.0.0.5", "::1"])

        # Many SIGHUPs at once: handled one after another, the exporter keeps serving.
        for _ in range(20):
            process.send_signal(signal.SIGHUP)
        assert set(by_host(scrape(url), "smokeping_requests_total")) == {
            "127.0.0.1", "127.0.0.5", "::1"}

        process.send_signal(signal.SIGTERM)
        assert process.wait(30) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)
        log.close()
    assert "Traceback" not in pathlib.Path(log.name).read_text()


# ---- a host that goes down --------------------------------------------------------------

DOWN = """
import json, time, urllib.request
from prometheus_client.parser import text_string_to_metric_families
from fastping.exporter import Exporter

def ignore_echo(on):
    with open("/proc/sys/net/ipv4/icmp_echo_ignore_all", "w") as knob:
        knob.write("1" if on else "0")

def scrape(url):
    with urllib.request.urlopen(url + "/metrics", timeout=10) as response:
        text = response.read().decode()
    return {(s.name, s.labels.get("to", "")): s.value
            for f in text_string_to_metric_families(text) for s in f.samples
            if s.labels.get("host") == "127.0.0.1"}

with Exporter(["127.0.0.1"], period=0.02, timeout=0.05, listen="127.0.0.1:0") as exporter:
    deadline = time.monotonic() + 20
    while scrape(exporter.url).get(("fastping_up", "")) != 1.0 and time.monotonic() < deadline:
        time.sleep(0.02)
    up = scrape(exporter.url)
    ignore_echo(True)
    while scrape(exporter.url).get(("fastping_up", "")) != 0.0 and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.2)
    down = scrape(exporter.url)
    ignore_echo(False)
print(json.dumps({"up": {" ".join(k): v for k, v in up.items()},
                  "down": {" ".join(k): v for k, v in down.items()}}))
"""


def test_a_host_that_stops_answering_goes_down() -> None:
    # In a namespace of its own, loopback can be told to stop answering (IPv4 echo only).
    result = json.loads(run_isolated(DOWN))
    up, down = result["up"], result["down"]
    assert up["fastping_up "] == 1.0 and down["fastping_up "] == 0.0
    assert down["fastping_state_changes_total up"] == 1
    assert down["fastping_state_changes_total down"] == 1
    assert down["fastping_lost_total "] >= 3
    assert down["fastping_loss_ratio "] > 0
    # Losses are not replies: the histogram stops where the replies stopped.
    assert down["smokeping_response_duration_seconds_count "] <= (
        down["smokeping_requests_total "] - down["fastping_lost_total "])
    assert down["smokeping_response_duration_seconds_count "] >= (
        up["smokeping_response_duration_seconds_count "])


# ---- a real Prometheus ----------------------------------------------------------------


def prometheus_binaries() -> tuple[str, str]:
    """prometheus and promtool; installed from Debian if missing and we may (root, apt)."""
    server, tool = debian_commands("prometheus", "prometheus", "promtool")
    return server, tool


def free_port() -> int:
    with socket.socket() as probe_socket:
        probe_socket.bind(("127.0.0.1", 0))
        return int(probe_socket.getsockname()[1])


def query(base: str, promql: str) -> list[dict[str, Any]]:
    status, text = fetch(f"{base}/api/v1/query?" + urllib.parse.urlencode({"query": promql}))
    assert status == 200, text
    answer = json.loads(text)
    assert answer["status"] == "success", answer
    return list(answer["data"]["result"])


def test_promtool_accepts_the_documented_config() -> None:
    _, promtool = prometheus_binaries()
    done = subprocess.run([promtool, "check", "config", str(DATA / "prometheus-fastping.yml")],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


def test_prometheus_scrapes_the_exporter(make_exporter: MakeExporter,
                                         tmp_path: pathlib.Path) -> None:
    prometheus, promtool = prometheus_binaries()
    hosts = ["127.0.0.1", "::1", "127.0.0.2"]
    monitor = make_exporter(hosts, period=0.1)
    shards = [make_exporter([]), make_exporter([])]  # /probe only
    config = (DATA / "prometheus-fastping.yml").read_text()
    config = config.replace("scrape_interval: 15s", "scrape_interval: 1s\n  scrape_timeout: 1s")
    for default, instance in zip(("9374", "9375", "9376"), (monitor, *shards), strict=True):
        config = config.replace(f"127.0.0.1:{default}", f"127.0.0.1:{instance.address[1]}")
    (tmp_path / "prometheus.yml").write_text(config)
    checked = subprocess.run([promtool, "check", "config", str(tmp_path / "prometheus.yml")],
                             capture_output=True, text=True, timeout=60, check=False)
    assert checked.returncode == 0, checked.stdout + checked.stderr

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with open(tmp_path / "prometheus.log", "w") as log:
        server = subprocess.Popen(
            [prometheus, f"--config.file={tmp_path / 'prometheus.yml'}",
             f"--storage.tsdb.path={tmp_path / 'data'}", f"--web.listen-address=127.0.0.1:{port}"],
            stdout=log, stderr=subprocess.STDOUT)
    try:
        def ready() -> bool:
            assert server.poll() is None, (tmp_path / "prometheus.log").read_text()
            try:
                return fetch(base + "/-/ready", timeout=2)[0] == 200
            except OSError:
                return False

        wait_until(ready, 30, "for Prometheus to be ready")

        def series(promql: str, count: int) -> list[dict[str, Any]] | None:
            result = query(base, promql)
            return result if len(result) == count else None

        requests = wait_until(lambda: series('smokeping_requests_total{job="fastping"} > 0', 3),
                              30, "for the first scrape")
        assert {(r["metric"]["host"], r["metric"]["ip"]) for r in requests} == {
            (h, h) for h in hosts}
        up = wait_until(lambda: series('fastping_up{job="fastping"} == 1', 3), 30)
        assert {r["metric"]["host"] for r in up} == set(hosts)
        counts = query(base, "smokeping_response_duration_seconds_count")
        assert {r["metric"]["host"] for r in counts} == set(hosts)
        assert all(float(r["value"][1]) > 0 for r in counts)
        buckets = query(base, 'smokeping_response_duration_seconds_bucket{host="127.0.0.1"}')
        assert len(buckets) == len(DEFAULT_BUCKETS) + 1
        # Two scrapes apart, the counters have grown and the median RTT is a loopback one.
        rates = wait_until(lambda: series("rate(smokeping_requests_total[5s]) > 0", 3), 30)
        assert all(0 < float(r["value"][1]) < 100 for r in rates)
        medians = wait_until(lambda: series(
            "histogram_quantile(0.5, rate(smokeping_response_duration_seconds_bucket[5s])) > 0",
            3), 30)
        assert all(float(r["value"][1]) < 0.01 for r in medians)
        loss = query(base, "fastping_loss_ratio")
        assert len(loss) == 3 and all(float(r["value"][1]) == 0 for r in loss)

        # The probes, sharded over two exporters by Prometheus' hashmod.
        probes = wait_until(lambda: series('probe_success{job="fastping-probe"} == 1', 5), 30,
                            "for every probe target to be probed")
        for result in probes:
            target, shard = result["metric"]["instance"], result["metric"]["shard"]
            assert int(shard) == hashmod(target, 2), result  # our hashmod is Prometheus'
        up_series = query(base, "up")
        assert len(up_series) == 6 and all(r["value"][1] == "1" for r in up_series), up_series
    finally:
        server.terminate()
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(10)
