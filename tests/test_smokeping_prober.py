"""fastping's exporter as a drop-in for smokeping_prober: its flags, its YAML, its metric set.

The differential test runs Debian's prometheus-smokeping-prober (0.6.1 in Debian 12, installed
as the tests install Prometheus) and fastping on the same config file and loopback targets,
and compares what /metrics says of every smokeping_* family: names, types, HELP, label names
and histogram bucket bounds (values differ: they are two pingers). smokeping_prober 0.11, the
current upstream, is compared with a table of its metrics read from its source. The upstream
example recording rules (shipped in the Debian package) are run by promtool over series
scraped from fastping.
"""

from __future__ import annotations

import json
import pathlib
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import IO, Any

import pytest

pytest.importorskip("prometheus_client")
pytest.importorskip("yaml")

import yaml
from conftest import run_isolated
from debian import debian_commands
from prometheus_client.parser import text_string_to_metric_families
from test_exporter import (  # noqa: F401 - make_exporter is a fixture
    MakeExporter,
    fetch,
    free_port,
    make_exporter,
    wait_until,
)

from fastping.exporter import Target, command
from fastping.exporter.targets import DEFAULT_ENGINE

# One family as a scrape shows it: (type, HELP, label names of each sample kind, bucket bounds).
Shape = tuple[str, str, frozenset[tuple[str, tuple[str, ...]]], frozenset[str]]

SMOKEPING_CONFIG = """\
targets:
- hosts: [127.0.0.1, "::1"]
  interval: 100ms
  network: ip
  protocol: icmp
  size: 56
- hosts: [localhost]
  interval: 100ms
  network: ip4
"""


def smokeping_prober() -> str:
    """Debian's prometheus-smokeping-prober, installed if missing and we may."""
    (path,) = debian_commands("prometheus-smokeping-prober", "prometheus-smokeping-prober")
    return path


def shapes(text: str, prefix: str = "smokeping_") -> dict[str, Shape]:
    """Each family of the exposition text whose name starts with prefix, as a Shape."""
    found: dict[str, Shape] = {}
    for family in text_string_to_metric_families(text):
        if not family.name.startswith(prefix):
            continue
        kinds = frozenset((sample.name, tuple(sorted(sample.labels))) for sample in family.samples)
        bounds = frozenset(sample.labels["le"] for sample in family.samples
                           if sample.name.endswith("_bucket"))
        found[family.name] = (family.type, family.documentation, kinds, bounds)
    return found


def series(text: str, name: str) -> dict[tuple[str, str], float]:
    """{(ip, host): value} of one sample name."""
    return {(sample.labels["ip"], sample.labels["host"]): sample.value
            for family in text_string_to_metric_families(text) for sample in family.samples
            if sample.name == name}


def metrics(url: str) -> str:
    status, text = fetch(url + "/metrics")
    assert status == 200, text
    return text


class Process:
    """A command run until stopped, its output in a file."""

    def __init__(self, argv: list[str], log: pathlib.Path) -> None:
        self.log_path = log
        self._log: IO[str] = open(log, "w")  # noqa: SIM115 - closed in close()
        self.process = subprocess.Popen(argv, stdout=self._log, stderr=subprocess.STDOUT)

    @property
    def log(self) -> str:
        return self.log_path.read_text()

    def close(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        self._log.close()
        return self.process.returncode


@pytest.fixture
def processes() -> Iterator[list[Process]]:
    started: list[Process] = []
    yield started
    for process in started:
        process.close()


def fastping_exporter(processes: list[Process], tmp_path: pathlib.Path, *args: str) -> str:
    """Starts `fastping exporter` with args on a free port; its URL."""
    running = Process([sys.executable, "-m", "fastping", "exporter",
                       "--web.listen-address", "127.0.0.1:0", *args], tmp_path / "fastping.log")
    processes.append(running)

    def listening() -> str | None:
        assert running.process.poll() is None, running.log
        found = re.search(r"listening on (http://\S+)/metrics", running.log)
        return found.group(1) if found else None

    return str(wait_until(listening, 60, "for fastping to listen"))


def answered(url: str, hosts: int) -> str | None:
    """The scrape once every one of hosts has had replies, else None."""
    text = metrics(url)
    counts = series(text, "smokeping_response_duration_seconds_count")
    return text if len(counts) == hosts and all(counts.values()) else None


# ---- the differential test -----------------------------------------------------------------


def test_the_same_metrics_as_debians_smokeping_prober(processes: list[Process],
                                                     tmp_path: pathlib.Path) -> None:
    prober = smokeping_prober()
    config = tmp_path / "smokeping_prober.yml"
    config.write_text(SMOKEPING_CONFIG)
    common = [f"--config.file={config}", "--ping.interval=100ms", "127.0.0.2"]
    port = free_port()
    theirs = Process([prober, f"--web.listen-address=127.0.0.1:{port}", *common],
                     tmp_path / "smokeping_prober.log")
    processes.append(theirs)
    ours = fastping_exporter(processes, tmp_path, "--smokeping-version=0.6", *common)

    def their_scrape() -> str | None:
        assert theirs.process.poll() is None, theirs.log
        try:
            return answered(f"http://127.0.0.1:{port}", 4)
        except OSError:
            return None

    their_text = wait_until(their_scrape, 60, "for smokeping_prober's replies")
    our_text = wait_until(lambda: answered(ours, 4), 60, "for fastping's replies")
    their_shapes, our_shapes = shapes(their_text), shapes(our_text)
    assert sorted(our_shapes) == sorted(their_shapes)
    for name, shape in their_shapes.items():
        assert our_shapes[name] == shape, name
    # The same hosts, resolved alike (localhost as 127.0.0.1: network ip4).
    assert set(series(our_text, "smokeping_requests_total")) == set(
        series(their_text, "smokeping_requests_total")) == {
        ("127.0.0.1", "127.0.0.1"), ("::1", "::1"), ("127.0.0.1", "localhost"),
        ("127.0.0.2", "127.0.0.2")}
    # Lean: with fastping's own metrics off, nothing but smokeping_prober's families.
    lean = fastping_exporter(processes, tmp_path, "--smokeping-version=0.6",
                             "--no-fastping-metrics", *common)
    lean_text = wait_until(lambda: answered(lean, 4), 60)
    assert {family.name for family in text_string_to_metric_families(lean_text)} == set(
        their_shapes)


# smokeping_prober 0.11's metric set, from its collector.go, main.go and config/config.go
# (labels ip, host, source, tos, then the configuration's custom label names, sorted).
V011 = {
    "smokeping_requests_total": ("counter", "Number of ping requests sent"),
    "smokeping_response_duration_seconds": (
        "histogram", "A histogram of latencies for ping responses."),
    "smokeping_response_ttl": ("gauge", "The last response Time To Live (TTL)."),
    "smokeping_response_duplicates_total": (
        "counter", "The number of duplicated response packets."),
    "smokeping_send_errors_total": (
        "counter", "The number of errors when Pinger attempts to send packets."),
    "smokeping_receive_errors_total": (
        "counter", "The number of errors when Pinger attempts to receive packets."),
    "smokeping_prober_build_info": (
        "gauge", "A metric with a constant '1' value labeled by version, revision, branch, "
        "goversion from which smokeping_prober was built, and the goos and goarch for the "
        "build."),
    "smokeping_prober_config_last_reload_successful": (
        "gauge", "smokeping_prober config loaded successfully."),
    "smokeping_prober_config_last_reload_success_timestamp_seconds": (
        "gauge", "Timestamp of the last successful configuration reload."),
}

V011_CONFIG = """\
targets:
- hosts: [127.0.0.1]
  interval: 50ms
  labels: {zone: a, dc: x}
- hosts: ["::1"]
  interval: 50ms
  source: "::1"
  tos: 0x10
  size: 100
- hosts: [localhost]
  network: ip4
  interval: 50ms
  labels: {zone: b}
"""


def test_the_metric_set_of_smokeping_prober_0_11(processes: list[Process],
                                                 tmp_path: pathlib.Path) -> None:
    config = tmp_path / "smokeping_prober.yml"
    config.write_text(V011_CONFIG)
    url = fastping_exporter(processes, tmp_path, "--config.file", str(config),
                            "--no-fastping-metrics", "-i", "50ms", "-s", "64", "-O", "8",
                            "127.0.0.2")
    text = wait_until(lambda: answered(url, 4), 60, "for replies")
    found = shapes(text)
    # The parser names a counter's family without its _total.
    assert {name: shape[:2] for name, shape in found.items()} == {
        name.removesuffix("_total"): kind for name, kind in V011.items()}
    per_host = ("ip", "host", "source", "tos", "dc", "zone")
    assert found["smokeping_requests"][2] == {("smokeping_requests_total", tuple(
        sorted(per_host)))}
    assert found["smokeping_response_duration_seconds"][2] == {
        ("smokeping_response_duration_seconds_bucket", tuple(sorted((*per_host, "le")))),
        ("smokeping_response_duration_seconds_count", tuple(sorted(per_host))),
        ("smokeping_response_duration_seconds_sum", tuple(sorted(per_host)))}
    assert found["smokeping_receive_errors"][2] == {("smokeping_receive_errors_total", ())}
    assert found["smokeping_prober_build_info"][2] == {("smokeping_prober_build_info", (
        "branch", "goarch", "goos", "goversion", "revision", "tags", "version"))}
    labels = {sample.labels["host"]: sample.labels
              for family in text_string_to_metric_families(text)
              for sample in family.samples if sample.name == "smokeping_requests_total"}
    assert labels == {
        "127.0.0.1": {"ip": "127.0.0.1", "host": "127.0.0.1", "source": "", "tos": "0",
                      "dc": "x", "zone": "a"},
        "::1": {"ip": "::1", "host": "::1", "source": "::1", "tos": "16", "dc": "", "zone": ""},
        "localhost": {"ip": "127.0.0.1", "host": "localhost", "source": "", "tos": "0",
                      "dc": "", "zone": "b"},
        "127.0.0.2": {"ip": "127.0.0.2", "host": "127.0.0.2", "source": "", "tos": "8",
                      "dc": "", "zone": ""},
    }


def test_smokeping_probers_flags() -> None:
    args = command._parser().parse_args([
        "--config.file", "sp.yml", "--web.listen-address", "[::1]:9374", "--buckets", "0.1,1",
        "-i", "250ms", "-s", "100", "-O", "0x10", "--privileged", "--log.level", "warn",
        "a.example", "b.example"])
    options = command._options(args)
    assert options["config"] == "sp.yml" and options["listen"] == ["[::1]:9374"]
    assert options["buckets"] == (0.1, 1.0) and options["privileged"] is True
    assert options["targets"] == [Target(host, period=0.25, size=100, tos=16)
                                  for host in ("a.example", "b.example")]
    lean = command._options(command._parser().parse_args(["--no-privileged",
                                                          "--no-fastping-metrics", "h"]))
    assert lean["privileged"] is False and lean["fastping_metrics"] is False
    assert lean["targets"] == [Target("h")]


@pytest.mark.parametrize("argv", [["-s", "8", "h"], ["-s", "70000", "h"], ["-O", "256", "h"],
                                  ["-O", "high", "h"], ["-i", "soon", "h"],
                                  ["--smokeping-version", "0.5", "h"]])
def test_bad_smokeping_prober_flags(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert command.main(argv) == 3
    assert capsys.readouterr().err.strip()


def test_debians_own_config_file_as_is(make_exporter: MakeExporter) -> None:  # noqa: F811
    # The file Debian's package installs (localhost, interval 1s, network ip, protocol icmp,
    # size 56), as smokeping_prober reads it; copied here as the package ships it.
    shipped = pathlib.Path("/etc/prometheus/smokeping_prober.yml")
    if not shipped.exists():
        smokeping_prober()
    instance = make_exporter(config=str(shipped))
    assert instance.hosts == ["localhost"]
    (group,) = instance.snapshot().groups  # size: 56 is the default engine, not another
    assert group.key == DEFAULT_ENGINE


# ---- size, tos and source on the wire ---------------------------------------------------------

ON_THE_WIRE = """
import json, socket, struct, time
from fastping.exporter import Exporter, Target

# A raw ICMP socket sees every ICMP packet loopback carries, our echo requests too.
capture = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
capture.settimeout(0.2)
targets = [Target("127.0.0.2", size=100, tos=0x10, source="127.0.0.9"), Target("127.0.0.3")]
seen = {}
with Exporter(targets, period=0.05, listen="127.0.0.1:0"):
    deadline = time.monotonic() + 10
    while len(seen) < 2 and time.monotonic() < deadline:
        try:
            packet = capture.recv(65536)
        except TimeoutError:
            continue
        header = (packet[0] & 15) * 4
        if packet[header] == 8:  # an echo request: its TOS, source and payload size
            destination = socket.inet_ntoa(packet[16:20])
            seen[destination] = [packet[1], socket.inet_ntoa(packet[12:16]),
                                 len(packet) - header - 8]
print(json.dumps(seen))
"""


def test_size_tos_and_source_reach_the_wire() -> None:
    seen = json.loads(run_isolated(ON_THE_WIRE))
    assert seen == {"127.0.0.2": [0x10, "127.0.0.9", 100], "127.0.0.3": [0, "127.0.0.1", 56]}


# ---- send errors, as smokeping_prober counts them ---------------------------------------

SEND_ERRORS = """
import json, socket, subprocess, sys, time, urllib.request
from prometheus_client.parser import text_string_to_metric_families
from fastping.exporter import Exporter

def scrape(url):
    with urllib.request.urlopen(url + "/metrics", timeout=10) as response:
        text = response.read().decode()
    return [[s.name, s.labels.get("host", ""), s.value]
            for f in text_string_to_metric_families(text) for s in f.samples]

with socket.socket() as free:
    free.bind(("127.0.0.1", 0))
    port = free.getsockname()[1]
theirs = subprocess.Popen([sys.argv[1], "--config.file=/nonexistent.yml", "-i", "20ms",
                           f"--web.listen-address=127.0.0.1:{port}", "198.18.0.1", "127.0.0.1"],
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
try:
    with Exporter(["198.18.0.1", "127.0.0.1"], period=0.02, listen="127.0.0.1:0") as exporter:
        time.sleep(1.0)
        ours = scrape(exporter.url)
        theirs_samples = scrape(f"http://127.0.0.1:{port}")
finally:
    theirs.terminate()
    theirs.wait(10)
print(json.dumps({"ours": ours, "theirs": theirs_samples}))
"""


def test_send_errors_are_counted_as_smokeping_prober_counts_them() -> None:
    prober = smokeping_prober()
    # In a namespace of its own only loopback has a route: sends to 198.18.0.1 fail at once,
    # for smokeping_prober as for fastping.
    found = json.loads(run_isolated(SEND_ERRORS.replace("sys.argv[1]", repr(prober))))
    ours = {(name, host): value for name, host, value in found["ours"]}
    theirs = {(name, host): value for name, host, value in found["theirs"]}
    for name in ("smokeping_requests_total", "smokeping_response_duration_seconds_count"):
        assert ours[(name, "198.18.0.1")] == theirs[(name, "198.18.0.1")] == 0, name
        assert ours[(name, "127.0.0.1")] >= 10 and theirs[(name, "127.0.0.1")] >= 10, name
    assert ours[("smokeping_send_errors_total", "198.18.0.1")] >= 10  # 0.11's counter
    assert ours[("smokeping_send_errors_total", "127.0.0.1")] == 0
    assert ours[("fastping_lost_total", "198.18.0.1")] >= 10  # fastping's own view


# ---- the upstream recording rules -------------------------------------------------------------


def _series_text(name: str, labels: dict[str, str]) -> str:
    # An empty label value is no label, to Prometheus.
    pairs = ",".join(f'{key}="{value}"' for key, value in sorted(labels.items()) if value)
    return f"{name}{{{pairs}}}"


def test_the_upstream_recording_rules_over_fastpings_series(
        make_exporter: MakeExporter, tmp_path: pathlib.Path) -> None:  # noqa: F811
    smokeping_prober()
    rules = pathlib.Path("/usr/share/doc/prometheus-smokeping-prober/examples/example-rules.yml")
    if not rules.exists():
        pytest.skip(f"{rules} is not installed (Debian's package without its examples)")
    (promtool,) = debian_commands("prometheus", "promtool")
    config = tmp_path / "targets.yaml"
    config.write_text("targets:\n- hosts: [127.0.0.1, '::1']\n  labels: {zone: a}\n"
                      "- hosts: [127.0.0.2]\n")
    instance = make_exporter(config=str(config), period=0.02)
    # Nine scrapes, taken to be 15 s apart: two minutes of series for the 1m rules.
    scrapes: list[dict[str, float]] = []
    for _ in range(9):
        time.sleep(0.3)
        scrapes.append({_series_text(sample.name, sample.labels): sample.value
                        for family in text_string_to_metric_families(metrics(instance.url))
                        if family.name.startswith("smokeping_")
                        for sample in family.samples})
    # Custom labels are on every series of their hosts, fastping's own too.
    up = {sample.labels["host"]: sample.labels.get("zone")
          for family in text_string_to_metric_families(metrics(instance.url))
          for sample in family.samples if sample.name == "fastping_up"}
    assert up == {"127.0.0.1": "a", "::1": "a", "127.0.0.2": ""}
    names = [name for name in scrapes[0] if all(name in scrape for scrape in scrapes)]
    hosts = {"127.0.0.1": {"zone": "a"}, "::1": {"zone": "a"}, "127.0.0.2": {}}

    def expected(host: str) -> dict[str, Any]:
        labels = {"ip": host, "host": host, "tos": "0", **hosts[host]}
        return {"labels": _series_text("", labels), "value": 1}

    tests = {
        "rule_files": [str(rules)],
        "evaluation_interval": "30s",
        "tests": [{
            "interval": "15s",
            "input_series": [{"series": name,
                              "values": " ".join(repr(scrape[name]) for scrape in scrapes)}
                             for name in names],
            "promql_expr_test": [
                {"expr": "instance:smokeping_probe_success:ratio1m > bool 0.9",
                 "eval_time": "2m", "exp_samples": [expected(h) for h in hosts]},
                *({"expr": f"instance:smokeping_response_duration_seconds:{q} < bool 0.1",
                   "eval_time": "2m", "exp_samples": [expected(h) for h in hosts]}
                  for q in ("q50", "q90", "q99")),
            ],
        }],
    }
    (tmp_path / "tests.yml").write_text(yaml.safe_dump(tests))
    done = subprocess.run([promtool, "test", "rules", str(tmp_path / "tests.yml")],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
