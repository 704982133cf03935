"""smokeping_prober's (and blackbox_exporter's) web and log flags, each beside Debian's
smokeping_prober given the same: --web.telemetry-path, --web.listen-address given twice,
--log.format logfmt and json, --log.level; and what each does with a name that does not
resolve at start."""

from __future__ import annotations

import json
import pathlib
import re
import sys

import netsim
import pytest

pytest.importorskip("aiohttp")

from test_exporter import fetch, free_port, wait_until
from test_smokeping_prober import Process, processes, smokeping_prober  # noqa: F401

from fastping.exporter import Exporter
from fastping.exporter.config import ConfigError

CONFIG = "targets:\n- hosts: [127.0.0.1]\n  interval: 100ms\n"
FASTPING = [sys.executable, "-m", "fastping", "exporter"]
# promlog's timestamp: UTC, to the millisecond.
TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")


def start(processes: list[Process], tmp_path: pathlib.Path,  # noqa: F811
          command: list[str], name: str, *args: str) -> Process:
    config = tmp_path / "smokeping_prober.yml"
    config.write_text(CONFIG)
    running = Process([*command, f"--config.file={config}", *args], tmp_path / f"{name}.log")
    processes.append(running)
    return running


def serving(running: Process, url: str) -> str | None:
    """url's body once it answers 200, else None."""
    assert running.process.poll() is None, running.log
    try:
        status, text = fetch(url)
    except OSError:
        return None
    return text if status == 200 else None


def test_telemetry_path_and_several_listen_addresses(processes: list[Process],  # noqa: F811
                                                     tmp_path: pathlib.Path) -> None:
    for command, name in ((FASTPING, "fastping"), ([smokeping_prober()], "smokeping_prober")):
        ports = free_port(), free_port()
        bases = [f"http://127.0.0.1:{ports[0]}", f"http://[::1]:{ports[1]}"]
        running = start(processes, tmp_path, command, name,
                        f"--web.listen-address=127.0.0.1:{ports[0]}",
                        f"--web.listen-address=[::1]:{ports[1]}",
                        "--web.telemetry-path=/smokeping/metrics")
        for base in bases:  # each address served, the metrics at the path given
            text = wait_until(lambda base=base, running=running: serving(
                running, base + "/smokeping/metrics"), 60, f"{name} at {base}")
            assert "# TYPE smokeping_requests_total counter" in text, name
            assert '<a href="/smokeping/metrics">' in fetch(base + "/")[1], name
        # Not at /metrics: smokeping_prober answers its landing page there (Go's "/" route
        # takes every path), fastping 404.
        status, text = fetch(bases[0] + "/metrics")
        assert "smokeping_requests_total" not in text
        assert status == (404 if name == "fastping" else 200)


def test_listen_and_telemetry_path_errors() -> None:
    with pytest.raises(ConfigError, match="telemetry path"):
        Exporter(["127.0.0.1"], listen="127.0.0.1:0", telemetry_path="/probe")
    with pytest.raises(ConfigError, match="telemetry path"):
        Exporter(["127.0.0.1"], listen="127.0.0.1:0", telemetry_path="metrics")
    with pytest.raises(ConfigError, match="at least one"):
        Exporter(["127.0.0.1"], listen=[])


def log_lines(running: Process, last: str) -> list[str]:
    """The log's lines once one holds last."""
    def written() -> list[str] | None:
        assert running.process.poll() is None, running.log
        lines = running.log.splitlines()
        return lines if any(last in line for line in lines) else None

    return list(wait_until(written, 60, f"a log line with {last!r}"))


@pytest.mark.parametrize("log_format", ["logfmt", "json"])
def test_log_format_as_smokeping_probers(processes: list[Process],  # noqa: F811
                                         tmp_path: pathlib.Path, log_format: str) -> None:
    logs = {}
    for command, name, last in ((FASTPING, "fastping", "listening on"),
                                ([smokeping_prober()], "smokeping_prober", "TLS is disabled")):
        running = start(processes, tmp_path, command, name, f"--log.format={log_format}",
                        f"--web.listen-address=127.0.0.1:{free_port()}")
        logs[name] = log_lines(running, last)
    for name, lines in logs.items():
        for line in lines:
            if log_format == "json":
                record = json.loads(line)
                # Keys sorted, as Go writes a map; the four of promlog in each.
                assert list(record) == sorted(record), line
                assert {"ts", "caller", "level", "msg"} <= set(record), line
                ts, caller, level = record["ts"], record["caller"], record["level"]
            else:
                found = re.match(r'ts=(\S+) caller=(\S+) level=(\w+) msg=("[^"]*"|\S+)', line)
                assert found, (name, line)
                ts, caller, level = found.group(1), found.group(2), found.group(3)
            assert TIMESTAMP.fullmatch(ts), (name, line)
            assert re.fullmatch(r"[\w.]+:\d+", caller) and level == "info", (name, line)
    # A value with a space is quoted, one without is not (go-logfmt's rule).
    listening = next(line for line in logs["fastping"] if "listening on" in line)
    if log_format == "logfmt":
        assert re.search(r' msg="listening on http://127\.0\.0\.1:\d+/metrics" '
                         r'address=127\.0\.0\.1:\d+$', listening)
    else:
        assert json.loads(listening)["address"].startswith("127.0.0.1:")


def test_log_level(processes: list[Process], tmp_path: pathlib.Path) -> None:  # noqa: F811
    # The config names 127.0.0.1 twice: a warning.
    config = tmp_path / "twice.yml"
    config.write_text("targets: [127.0.0.1, 127.0.0.1]\n")
    for level, shown in (("warn", True), ("error", False)):
        port = free_port()
        running = Process([*FASTPING, f"--config.file={config}", f"--log.level={level}",
                           f"--web.listen-address=127.0.0.1:{port}"], tmp_path / f"{level}.log")
        processes.append(running)
        wait_until(lambda port=port, running=running: serving(
            running, f"http://127.0.0.1:{port}/metrics"), 60, "the exporter")
        lines = running.log.splitlines()
        assert all(" level=info " not in line for line in lines), lines
        warned = [line for line in lines if "name a host given before" in line]
        assert bool(warned) == shown, lines
        if shown:
            assert " level=warn " in warned[0]


def unresolvable_client() -> None:
    """In a namespace without a nameserver: Debian's smokeping_prober and fastping's exporter
    started on a config that names a host that does not resolve."""
    import json
    import pathlib
    import subprocess
    import sys
    import tempfile
    import time
    import urllib.request

    spec = json.loads(sys.argv[1])
    config = pathlib.Path(tempfile.mkdtemp()) / "smokeping_prober.yml"
    config.write_text(spec["config"])
    report: dict[str, object] = {}
    theirs = subprocess.run([spec["prober"], f"--config.file={config}",
                             "--web.listen-address=127.0.0.1:19374"],
                            capture_output=True, text=True, timeout=30, check=False)
    report["smokeping_prober"] = [theirs.returncode, theirs.stderr[-300:]]
    ours = subprocess.Popen([sys.executable, "-m", "fastping", "exporter",
                             f"--config.file={config}", "--web.listen-address=127.0.0.1:19375"],
                            stderr=subprocess.PIPE, text=True)
    try:
        text = ""
        for _ in range(100):  # up to 20 s to answer, with a reply from 127.0.0.1
            try:
                with urllib.request.urlopen("http://127.0.0.1:19375/metrics",
                                            timeout=5) as answer:
                    text = answer.read().decode()
                if 'smokeping_response_duration_seconds_count{host="127.0.0.1"' in text:
                    break
            except OSError:
                pass
            time.sleep(0.2)
        report["fastping"] = [line for line in text.splitlines()
                              if line.startswith(("fastping_exporter_", "smokeping_requests"))]
    finally:
        ours.terminate()
        report["fastping status"] = ours.wait(10)
    print(json.dumps(report))


def test_a_name_that_does_not_resolve_at_start() -> None:
    prober = smokeping_prober()
    try:
        with netsim.SimulatedNetwork({}) as network:
            report = network.run(netsim.client_source(unresolvable_client), {
                "prober": prober,
                "config": "targets:\n- hosts: [127.0.0.1, no-such-host.invalid]\n"
                          "  interval: 100ms\n"}, timeout=60)
    except netsim.NetsimUnavailable as reason:
        pytest.skip(f"no simulated network here: {reason}")
    # smokeping_prober gives up: exit 1, "failed to resolve pinger".
    status, log = report["smokeping_prober"]
    assert status == 1 and "failed to resolve pinger" in log, log
    # fastping pings the name that resolves and counts the other (retried at each reload).
    assert "fastping_exporter_unresolved_targets 1.0" in report["fastping"], report
    assert "fastping_exporter_targets 1.0" in report["fastping"], report
    assert any(line.startswith('smokeping_requests_total{host="127.0.0.1"')
               for line in report["fastping"]), report
    assert report["fastping status"] == 0
