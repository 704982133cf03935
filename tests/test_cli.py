"""The fastping command, run as a user runs it: a real process, real loopback hosts."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

COMMAND = [str(Path(sys.executable).with_name("fastping"))]


def fastping(*arguments: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*COMMAND, *arguments], input=stdin, capture_output=True, text=True,
                          timeout=60, check=False)


def test_console_script_is_installed() -> None:
    assert Path(COMMAND[0]).exists()


def test_hosts_alive() -> None:
    done = fastping("127.0.0.1", "::1")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("127.0.0.1 is alive (") and lines[0].endswith(" ms)")
    assert lines[1].startswith("::1 is alive (")
    assert lines[2].startswith("2 hosts: 2 alive, 0 unreachable, 0 unknown; 2 sent, 2 received")


def test_generate_a_network_like_fping() -> None:
    done = fastping("-q", "-g", "127.0.1.0/22")
    assert done.returncode == 0, done.stderr
    # Network and broadcast addresses are skipped, as fping does.
    assert done.stdout.startswith("1022 hosts: 1022 alive, 0 unreachable, 0 unknown;")


def test_count_prints_fping_style_statistics() -> None:
    done = fastping("-c", "3", "-p", "10", "127.0.0.1")
    assert done.returncode == 0, done.stderr
    line = done.stdout.splitlines()[0]
    assert line.startswith("127.0.0.1 : xmt/rcv/%loss = 3/3/0%, min/avg/max/stddev = ")


def test_json_lines() -> None:
    done = fastping("--json", "-c", "2", "-p", "10", "127.0.0.1", "127.0.0.2", "300.0.0.1")
    assert done.returncode == 2, done.stderr
    records = [json.loads(line) for line in done.stdout.splitlines()]
    assert [record["type"] for record in records] == ["host", "host", "host", "summary"]
    first = records[0]
    assert (first["host"], first["sent"], first["received"], first["loss"]) == ("127.0.0.1", 2, 2,
                                                                               0.0)
    assert len(first["rtts_ms"]) == 2 and all(rtt > 0 for rtt in first["rtts_ms"])
    assert records[2]["error"] is not None and records[2]["sent"] == 0
    summary = records[3]
    assert (summary["hosts"], summary["alive"], summary["unknown"]) == (3, 2, 1)


def test_targets_from_file_and_stdin(tmp_path: Path) -> None:
    targets = tmp_path / "targets.txt"
    targets.write_text("# loopback hosts\n127.0.0.1\n\n127.0.0.2  # second\n::1\n")
    done = fastping("-q", "-f", str(targets))
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("3 hosts: 3 alive")
    done = fastping("-q", "-f", "-", stdin="127.0.0.3\n127.0.0.4\n")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("2 hosts: 2 alive")


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ((), "no targets"),
        (("-c", "0", "127.0.0.1"), "-c must be between"),
        (("-c", "x", "127.0.0.1"), "invalid int value"),
        (("--timeout=-5", "127.0.0.1"), "-t/--timeout must be > 0"),
        (("--period=-1", "127.0.0.1"), "-p/--period must be >= 0"),
        (("-b", "5", "127.0.0.1"), "size"),
        (("-H", "0", "127.0.0.1"), "ttl"),
        (("-g", "not/a/net",), "not a network"),
        (("-g", "127.0.0.0/8",), "more than"),
        (("-f", "/nonexistent/targets.txt",), "cannot read"),
        (("-I", "no-such-if0", "127.0.0.1"), "no such network interface"),
        (("-4", "-6", "127.0.0.1"), "not allowed with"),
        (("--bogus",), "unrecognized arguments"),
    ],
)
def test_bad_arguments_exit_3_with_one_line(arguments: tuple[str, ...], message: str) -> None:
    done = fastping(*arguments)
    assert done.returncode == 3
    assert done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert message in lines[-1]
    assert "Traceback" not in done.stderr


def test_unknown_host_exit_2() -> None:
    done = fastping("127.0.0.1", "1.2.3.4.5")
    assert done.returncode == 2
    assert "1.2.3.4.5: invalid IPv4 address" in done.stdout
    assert "127.0.0.1 is alive" in done.stdout


def test_module_entry_point() -> None:
    done = subprocess.run([sys.executable, "-m", "fastping", "-q", "127.0.0.1"],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("1 host: 1 alive")
