"""The fastping command, run as a user runs it: a real process, real loopback hosts.

Output follows fping's: per-probe and per-target lines on stdout, summaries
and -s statistics on stderr, the same letters and exit codes.
"""

from __future__ import annotations

import json
import os
import pty
import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import isolated_command, needs_matplotlib_outside_asan

COMMAND = [str(Path(sys.executable).with_name("fastping"))]


def fastping(*arguments: str, stdin: str | None = None,
             timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*COMMAND, *arguments], input=stdin, capture_output=True, text=True,
                          timeout=timeout, check=False)


def interrupted(*arguments: str, after: float) -> subprocess.CompletedProcess[str]:
    """Runs the command and presses Ctrl-C after the given time."""
    process = subprocess.Popen([*COMMAND, *arguments], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    time.sleep(after)
    process.send_signal(signal.SIGINT)
    try:
        out, err = process.communicate(timeout=10)
    finally:
        process.kill()
    return subprocess.CompletedProcess(process.args, process.returncode, out, err)


def test_console_script_is_installed() -> None:
    assert Path(COMMAND[0]).exists()


def test_rounds_load_only_what_they_use() -> None:
    # Start-up is most of a small run's time: a round must not pay for the monitor, the
    # plots or dataclasses (whose inspect import alone is a quarter of it).
    probe = ("import sys; from fastping import cli; status = cli.run(['-c', '1', '-q', "
             "'127.0.0.1']); print(status, sorted(name for name in ('dataclasses', 'inspect', "
             "'fastping.monitor', 'fastping.plot', 'fastping._stats', 'threading') "
             "if name in sys.modules))")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.stdout.strip() == "0 []", done.stderr


def test_sweep_reports_alive_targets() -> None:
    done = fastping("127.0.0.1", "::1", "localhost")
    assert done.returncode == 0, done.stderr
    # Each line as its target answers, as fping prints them.
    assert sorted(done.stdout.splitlines()) == ["127.0.0.1 is alive", "::1 is alive",
                                                "localhost is alive"]


def test_sweep_with_elapsed_times() -> None:
    done = fastping("-e", "127.0.0.1")
    assert done.returncode == 0, done.stderr
    line = done.stdout.strip()
    assert line.startswith("127.0.0.1 is alive (") and line.endswith(" ms)")
    assert float(line.split("(")[1].split()[0]) > 0


def test_generate_a_network_like_fping_with_statistics() -> None:
    done = fastping("-q", "-s", "-g", "127.0.4.0/22")
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""
    # Network and broadcast addresses are skipped, as fping does.
    stats = [line.split(None, 1) for line in done.stderr.splitlines() if line.strip()]
    assert ["1022", "targets"] in stats and ["1022", "alive"] in stats
    assert ["1022", "ICMP Echos sent"] in stats and ["1022", "ICMP Echo Replies received"] in stats
    assert any(line[1].startswith("ms (avg round trip time)") for line in stats)


def test_generate_a_range() -> None:
    done = fastping("-a", "-g", "127.0.6.1", "127.0.6.5")
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [f"127.0.6.{n}" for n in range(1, 6)]


def test_count_prints_each_reply_and_a_summary() -> None:
    done = fastping("-c", "3", "-p", "20", "127.0.0.1", "::1")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == 6
    assert lines[0].startswith("127.0.0.1 : [0], 64 bytes, ") and "% loss)" in lines[0]
    # Names padded to the longest, as fping's; a blank line before the summaries.
    assert any(line.startswith("::1       : [2], 64 bytes, ") for line in lines)
    summary = done.stderr.splitlines()
    assert summary[0] == ""
    assert summary[1].startswith("127.0.0.1 : xmt/rcv/%loss = 3/3/0%, min/avg/max = ")
    assert summary[2].startswith("::1       : xmt/rcv/%loss = 3/3/0%, min/avg/max = ")


def test_vcount_prints_every_rtt_like_fping() -> None:
    done = fastping("-C", "3", "-p", "20", "-q", "127.0.0.1")
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""
    host, rtts = done.stderr.strip().split(" : ")
    assert host == "127.0.0.1"
    assert len(rtts.split()) == 3 and all(float(rtt) > 0 for rtt in rtts.split())


def test_payload_size_shows_in_reply_lines() -> None:
    done = fastping("-c", "1", "-b", "100", "127.0.0.1")
    assert done.returncode == 0, done.stderr
    assert ", 108 bytes, " in done.stdout


def test_interval_spaces_the_sends() -> None:
    started = time.monotonic()
    done = fastping("-i", "50", "-c", "1", "-q", "-g", "127.0.7.1", "127.0.7.5")
    assert done.returncode == 0, done.stderr
    # Five sends, at least 50 ms apart.
    assert time.monotonic() - started >= 0.2


def test_loop_until_ctrl_c_with_periodic_summaries() -> None:
    done = interrupted("-l", "-p", "50", "127.0.0.1", after=1.0)
    assert done.returncode == 0, done.stderr
    replies = done.stdout.splitlines()
    assert len(replies) >= 10
    assert replies[0].startswith("127.0.0.1 : [0], 64 bytes, ")
    # -Q is as -q, with a summary every SECS seconds.
    done = interrupted("-l", "-p", "50", "-Q", "0.3", "127.0.0.1", after=1.0)
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""
    stamps = [line for line in done.stderr.splitlines() if line.startswith("[")]
    assert len(stamps) >= 2
    assert done.stderr.splitlines()[-1].startswith("127.0.0.1 : xmt/rcv/%loss = ")


def test_quiet_loop_summarises_from_the_engine() -> None:
    # -l -Q: no Python per probe; the summary comes from the engine's own counts. (fping's -l
    # -q, without -Q, still prints each probe's line, and so does the command.)
    done = interrupted("-l", "-Q", "3600", "-p", "20", "127.0.0.1", "::1", after=1.0)
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""
    lines = done.stderr.splitlines()
    assert len(lines) == 2
    for line, host in zip(lines, ("127.0.0.1", "::1"), strict=True):
        head, rest = line.split(" : xmt/rcv/%loss = ")
        sent, received, loss = rest.split(",")[0].split("/")
        assert head.rstrip() == host and int(sent) >= 20 and sent == received and loss == "0%"
        low, average, high = (float(v) for v in line.split("min/avg/max = ")[1].split("/"))
        assert 0 < low <= average <= high


def test_json_lines_schema() -> None:
    done = fastping("--json", "-c", "2", "-p", "10", "127.0.0.1", "127.0.0.2", "300.0.0.1")
    assert done.returncode == 2, done.stderr
    records = [json.loads(line) for line in done.stdout.splitlines()]
    kinds = [record["type"] for record in records]
    assert kinds == ["unknown", "reply", "reply", "reply", "reply", "summary", "summary", "total"]
    assert records[0] == {"type": "unknown", "host": "300.0.0.1",
                          "error": "Name or service not known"}
    reply = records[1]
    assert set(reply) == {"type", "host", "address", "seq", "time", "rtt_ms", "ttl"}
    assert reply["rtt_ms"] > 0 and reply["seq"] == 0
    summary = records[5]
    assert (summary["host"], summary["sent"], summary["received"], summary["loss"]) == (
        "127.0.0.1", 2, 2, 0.0)
    total = records[-1]
    assert (total["targets"], total["alive"], total["unknown"]) == (3, 2, 1)


def test_json_loop_reports_health() -> None:
    done = interrupted("--json", "-l", "-p", "50", "127.0.0.1", after=0.6)
    assert done.returncode == 0, done.stderr
    records = [json.loads(line) for line in done.stdout.splitlines()]
    kinds = {record["type"] for record in records}
    assert {"reply", "health", "summary", "total"} <= kinds
    health = next(record for record in records if record["type"] == "health")
    assert (health["health"], health["previous"]) == ("up", "unknown")


def test_targets_from_file_and_stdin(tmp_path: Path) -> None:
    targets = tmp_path / "targets.txt"
    targets.write_text("# loopback hosts\n127.0.0.1\n\n127.0.0.2  # second\n::1\n")
    done = fastping("-f", str(targets))
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["127.0.0.1", "is", "alive", "127.0.0.2", "is", "alive",
                                   "::1", "is", "alive"]
    done = fastping("-a", "-f", "-", stdin="127.0.0.3\n127.0.0.4\n")
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["127.0.0.3", "127.0.0.4"]


def test_unreachable_targets_exit_1() -> None:
    # In a namespace of its own, only loopback exists: 198.18.0.1 has no route.
    script = ("import sys; from fastping.cli import run; "
              "sys.exit(run(sys.argv[1:]))")
    command = isolated_command(script)
    done = subprocess.run([*command, "-u", "-r", "1", "-t", "50", "127.0.0.1", "198.18.0.1"],
                          capture_output=True, text=True, timeout=60, check=False)
    if done.returncode != 1 and "unshare" in done.stderr:
        pytest.skip(f"no private network namespace here: {done.stderr.strip()}")
    assert done.returncode == 1, done.stderr
    assert done.stdout.split() == ["198.18.0.1"]


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (("-c", "0", "127.0.0.1"), "-c must be between 1 and"),
        (("-c", "x", "127.0.0.1"), "invalid int value"),
        (("--timeout=-5", "127.0.0.1"), "-t/--timeout must be between 0 and"),
        (("--period=-1", "127.0.0.1"), "-p/--period must be between 0 and"),
        (("-i", "nan", "127.0.0.1"), "-i/--interval must be between 0 and"),
        (("-b", "70000", "127.0.0.1"), "data size 70000 not valid"),
        (("-H", "0", "127.0.0.1"), "ttl 0 out of range"),
        (("-O", "300", "127.0.0.1"), "tos 300 out of range"),
        (("-S", "nowhere", "127.0.0.1"), "source"),
        (("--retry=-1", "127.0.0.1"), "-r must be between"),
        (("-B", "0.5", "127.0.0.1"), "backoff factor 0.5 not valid, must be between 1.0 and 5.0"),
        (("-Q", "x", "-c", "1", "127.0.0.1"), "-Q takes SECS[,cumulative]"),
        (("--table", "127.0.0.1"), "--table goes with -l"),
        (("-c", "1", "-l", "127.0.0.1"), "specify only one of c, l"),
        (("-a", "-u", "127.0.0.1"), "specify only one of a, u"),
        (("-n", "-d", "127.0.0.1"), "use either one of -d or -n"),
        (("-J", "127.0.0.1"), "option -J, --json requires -c, -C, or -l"),
        (("-g", "not/a/net"), "can't parse address not/a"),
        (("-g", "127.0.0.0/8"), "-g parameter generates too many addresses"),
        (("-g", "127.0.0.1", "127.0.0.2", "127.0.0.3"), "START END"),
        (("-g",), "give HOSTs, or -f FILE, or -g"),
        (("-f", "x", "127.0.0.1"), "give HOSTs, or -f FILE, or -g"),
        (("-I", "no-such-if0", "127.0.0.1"), "no such network interface"),
        (("-4", "-6", "127.0.0.1"), "can't specify both -4 and -6"),
        (("--oiface", "lo", "-I", "lo", "127.0.0.1"), "specify only --oiface or -I, --iface"),
        (("--oiface", "no-such-if0", "127.0.0.1"), "no such network interface"),
        (("--icmp-timestamp", "-b", "20", "127.0.0.1"), "cannot change ICMP Timestamp size"),
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


def test_no_targets_and_unreadable_files_as_fping() -> None:
    # No HOSTs and no -f: standard input; empty, nothing is probed (exit 1, no output).
    done = subprocess.run(COMMAND, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=60, check=False)
    assert (done.returncode, done.stdout, done.stderr) == (1, "", "")
    done = fastping("-f", "/nonexistent/targets.txt")
    assert (done.returncode, done.stdout) == (4, "")
    assert done.stderr == "fastping: fopen : No such file or directory\n"


def test_unknown_host_exit_2() -> None:
    done = fastping("127.0.0.1", "1.2.3.4.5")
    assert done.returncode == 2
    assert done.stderr == "1.2.3.4.5: Name or service not known\n"
    assert done.stdout.strip() == "127.0.0.1 is alive"


def test_progress_on_a_terminal_only() -> None:
    leader, follower = pty.openpty()
    try:
        done = subprocess.run([*COMMAND, "-g", "127.0.8.0/24"], stdout=subprocess.PIPE,
                              stderr=follower, text=True, timeout=60, check=False)
        os.close(follower)
        follower = -1
        shown = b""
        while True:
            try:
                chunk = os.read(leader, 4096)
            except OSError:
                break
            if not chunk:
                break
            shown += chunk
    finally:
        os.close(leader)
        if follower >= 0:
            os.close(follower)
    assert done.returncode == 0
    assert b"254/254 targets done" in shown
    # Piped output stays clean.
    assert "targets done" not in done.stdout
    assert "targets done" not in fastping("-g", "127.0.8.0/24").stderr


def test_module_entry_point() -> None:
    done = subprocess.run([sys.executable, "-m", "fastping", "127.0.0.1"],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "127.0.0.1 is alive\n"


# ---- signals, as fping handles them ----------------------------------------------------

SUMMARY_LINE = re.compile(r"^\S+ +: xmt/rcv/%loss = \d+/\d+/\d+%(, min/avg/max = [\d.]+/[\d.]+/"
                          r"[\d.]+)?(, \d+ duplicates)?$")
PROBE_LINE = re.compile(r"^\S+ +: \[\d+\], (64 bytes, [\d.]+ ms|timed out) \(([\d.]+|NaN) avg, "
                        r"\d+% loss\)$")


def started(*arguments: str, **options: Any) -> subprocess.Popen[str]:
    """Starts the command and returns once its signal handlers are in place (or after 2 s)."""
    process = subprocess.Popen([*COMMAND, *arguments], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, **options)
    deadline = time.monotonic() + 2
    # Python catches SIGINT from its first instant; SIGTERM only once the command does.
    while time.monotonic() < deadline:
        try:
            status = Path(f"/proc/{process.pid}/status").read_text()
        except OSError:
            break
        caught = int(next(line.split()[1] for line in status.splitlines()
                          if line.startswith("SigCgt:")), 16)
        if caught & (1 << (signal.SIGTERM - 1)):
            break
        time.sleep(0.005)
    return process


def finished(process: subprocess.Popen[str]) -> subprocess.CompletedProcess[str]:
    try:
        out, err = process.communicate(timeout=10)
    finally:
        process.kill()
        process.wait()
    return subprocess.CompletedProcess(process.args, process.returncode, out, err)


def test_ctrl_c_at_any_instant_leaves_whole_lines_and_every_summary() -> None:
    hosts = {f"127.1.{high}.{low}" for high in (0, 1) for low in range(256)}
    hosts -= {"127.1.0.0", "127.1.1.255"}
    chooser = random.Random(11)
    for number in range(20):
        as_json = number % 2 == 0
        mode = ["-l", "-p", "1000", "--json"] if as_json else ["-c", "4", "-p", "300"]
        process = started(*mode, "-g", "127.1.0.0/23")
        time.sleep(chooser.uniform(0, 1.5))
        process.send_signal(signal.SIGINT)
        if number % 4 >= 2:  # a second Ctrl-C, impatient, while the summaries are written
            time.sleep(chooser.uniform(0, 0.02))
            process.send_signal(signal.SIGINT)
        done = finished(process)
        assert done.returncode in (0, 1), (number, done.stderr[-2000:])
        assert "Traceback" not in done.stderr
        if as_json:
            records = [json.loads(line) for line in done.stdout.splitlines()]
            summaries = {record["host"] for record in records
                         if record["type"] == "summary" and not record["interval"]}
            assert summaries == hosts, number
            assert records[-1]["type"] == "total" and records[-1]["targets"] == len(hosts)
        else:
            assert all(PROBE_LINE.match(line) for line in done.stdout.splitlines()), number
            lines = [line for line in done.stderr.splitlines() if line]
            assert all(SUMMARY_LINE.match(line) for line in lines), number
            assert {line.split()[0] for line in lines} == hosts, number


def test_sigint_is_handled_even_when_started_ignored() -> None:
    # A background job of a non-interactive shell (`fastping -l ... &`) starts with SIGINT
    # ignored; fping installs its handler regardless, and so does the command.
    process = started("-l", "-p", "50", "127.0.0.1",
                      preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
    time.sleep(0.5)
    process.send_signal(signal.SIGINT)
    done = finished(process)
    assert done.returncode == 0, done.stderr
    assert SUMMARY_LINE.match(done.stderr.splitlines()[-1])


def test_sigterm_ends_the_run_like_ctrl_c() -> None:
    process = started("-c", "100", "-p", "50", "--json", "127.0.0.1", "::1")
    time.sleep(0.6)
    process.send_signal(signal.SIGTERM)
    done = finished(process)
    assert done.returncode == 0, done.stderr
    records = [json.loads(line) for line in done.stdout.splitlines()]
    assert [record["host"] for record in records if record["type"] == "summary"] == [
        "127.0.0.1", "::1"]
    assert records[-1]["type"] == "total" and 0 < records[-1]["sent"] < 200


@pytest.mark.parametrize("mode", [("-l",), ("-c", "60", "-q"), ("-C", "60", "-q"),
                                  ("-l", "-q")])
def test_sigquit_prints_interim_summaries_and_carries_on(mode: tuple[str, ...]) -> None:
    process = started(*mode, "-p", "50", "127.0.0.1", "::1")
    for pause in (0.5, 0.3):
        time.sleep(pause)
        process.send_signal(signal.SIGQUIT)
    time.sleep(0.3)
    process.send_signal(signal.SIGINT)
    done = finished(process)
    assert done.returncode == 0, done.stderr
    lines = [line for line in done.stderr.splitlines() if line]  # (fping's blank lines)
    # Two [HH:MM:SS] blocks of fping's split lines, then the final summaries.
    stamps = [number for number, line in enumerate(lines)
              if re.fullmatch(r"\[\d\d:\d\d:\d\d\]", line)]
    assert stamps == [len(lines) - 8, len(lines) - 5], lines
    sent = []
    for stamp in stamps:
        block = lines[stamp + 1:stamp + 3]
        assert [line.split()[0] for line in block] == ["127.0.0.1", "::1"], lines
        assert all(SUMMARY_LINE.match(line) for line in block), lines
        sent.append(int(block[0].split(" = ")[1].split("/")[0]))
    assert [line.split()[0] for line in lines[-2:]] == ["127.0.0.1", "::1"], lines
    final = int(lines[-2].split(" = ")[1].split("/")[0]) if mode[0] != "-C" else len(
        lines[-2].split(" : ")[1].split())
    # Each block counts since the one before, as fping's (the engine's counts since a mark,
    # in every mode): at 50 ms, about 10 and 6 probes, together fewer than the run's.
    assert 4 <= sent[0] <= 14 and 2 <= sent[1] <= 10 and sent[0] + sent[1] < final, lines


# ---- host text, durations, limits -----------------------------------------------------


@pytest.mark.parametrize("mode", [("-e",), ("-c", "1"), ("-C", "1"), ("--json",),
                                  ("-c", "1", "--json")])
def test_whitespace_around_a_host_is_stripped(mode: tuple[str, ...]) -> None:
    done = fastping(*mode, " 127.0.0.1\t")
    assert done.returncode == 0, done.stderr
    lines = [line for line in (done.stdout + done.stderr).splitlines() if line]
    assert lines
    if "--json" in mode:
        assert {json.loads(line).get("host", "127.0.0.1") for line in lines} == {"127.0.0.1"}
    else:
        assert all(line.startswith("127.0.0.1 ") for line in lines), lines


def test_whitespace_around_a_host_is_stripped_in_a_loop() -> None:
    done = interrupted("-l", "-p", "50", "127.0.0.1 ", after=0.5)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("127.0.0.1 : [0], 64 bytes, ")
    assert done.stderr.startswith("\n127.0.0.1 : xmt/rcv/%loss = ")


def test_a_host_that_is_only_whitespace_is_unknown() -> None:
    done = fastping("-c", "1", "127.0.0.1", "  ")
    assert done.returncode == 2
    assert done.stderr.splitlines()[0] == ": Name or service not known"


def test_targets_file_takes_the_first_word_of_each_line_as_fping_does(tmp_path: Path) -> None:
    targets = tmp_path / "targets.txt"
    targets.write_text("  127.0.0.1   trailing words\n#127.0.0.9\n   # indented comment\n"
                       "127.0.0.2 # comment\n\t::1\r\n")
    done = fastping("-c", "1", "-q", "-f", str(targets))
    assert done.returncode == 0, done.stderr
    assert [line.split()[0] for line in done.stderr.splitlines()] == [
        "127.0.0.1", "127.0.0.2", "::1"]


@pytest.mark.parametrize("arguments", [("-p", "0", "-c", "2"), ("-p", "1e-300", "-c", "2"),
                                       ("-t", "0", "-c", "1"), ("-i", "0.0005", "-c", "1")])
def test_durations_down_to_zero_are_the_engines_shortest(arguments: tuple[str, ...]) -> None:
    # fping takes any duration from 0; the engine's shortest is 1 us.
    done = fastping(*arguments, "127.0.0.1")
    assert done.returncode in (0, 1), done.stderr
    assert done.stderr.splitlines()[-1].startswith("127.0.0.1 : xmt/rcv/%loss = ")


def test_zero_interval_still_means_as_fast_as_is_safe() -> None:
    assert fastping("-i", "0", "-c", "1", "-q", "127.0.0.1").returncode == 0


def test_generated_targets_are_capped_before_any_is_made() -> None:
    started_at = time.monotonic()
    done = fastping("-g", "127.0.0.0/8")
    assert done.returncode == 3
    assert done.stderr == "fastping: -g parameter generates too many addresses\n"
    assert time.monotonic() - started_at < 5
    # fping's cap: 131,072 addresses; a /15 less its network and broadcast addresses fits.
    assert fastping("-g", "127.0.0.0/14").returncode == 3


def test_an_endless_targets_file_is_refused_without_reading_it_all(tmp_path: Path) -> None:
    done = fastping("-f", "/dev/zero", timeout=10)
    assert done.returncode == 3
    assert done.stderr == "fastping: target name too long\n"
    many = tmp_path / "many.txt"
    with many.open("w") as file:
        for high in range(17):
            file.writelines(f"127.{high}.{middle}.{low}\n" for middle in range(256)
                            for low in range(256))
    done = fastping("-f", str(many), timeout=30)
    assert done.returncode == 3
    assert "more than 1048576 targets" in done.stderr
    done = fastping("-f", "-", stdin=many.read_text(), timeout=30)
    assert done.returncode == 3
    assert "more than 1048576 targets" in done.stderr


@needs_matplotlib_outside_asan  # (it loads matplotlib before it looks at the path)
def test_plot_to_an_unwritable_path_fails_before_the_first_probe() -> None:
    done = fastping("-c", "3", "-p", "1000", "--plot", "/nonexistent/chart.png", "127.0.0.1",
                    timeout=20)
    assert done.returncode == 4
    assert done.stdout == "" and "Traceback" not in done.stderr
    assert "cannot write '/nonexistent/chart.png'" in done.stderr


def test_plot_without_matplotlib_fails_before_the_first_probe(tmp_path: Path) -> None:
    (tmp_path / "matplotlib.py").write_text("raise ImportError('no matplotlib here')\n")
    done = subprocess.run([*COMMAND, "-c", "3", "-p", "1000", "--plot",
                           str(tmp_path / "chart.png"), "127.0.0.1"], capture_output=True,
                          text=True, timeout=20, check=False,
                          env={**os.environ, "PYTHONPATH": str(tmp_path)})
    assert done.returncode == 3
    assert done.stdout == "" and "needs matplotlib" in done.stderr
    assert not (tmp_path / "chart.png").exists()


def test_counts_over_literals_names_and_repeats_keep_the_given_order(tmp_path: Path) -> None:
    # Runs of IPv4 literals are added in bulk, the rest one by one: the order, the padding
    # and the repeats are as if every target were added alone.
    targets = ["127.0.0.3", "127.0.0.1", "127.0.0.3", "localhost", "127.0.0.2", "::1",
               "127.0.0.01", "127.0.0.4", "127.0.0.1"]
    listed = tmp_path / "targets"
    listed.write_text("".join(f"{target}\n" for target in targets))
    done = fastping("-C1", "-q", "-p", "10", "-f", str(listed))
    assert done.returncode == 2, done.stderr  # 127.0.0.01 is not an address
    heads = [line.partition(" :")[0] for line in done.stderr.splitlines()]
    assert heads == ["127.0.0.3", "127.0.0.1", "localhost", "127.0.0.2", "::1      ",
                     "127.0.0.4"]
    assert all(re.fullmatch(r"\S+ *: \d+\.\d+", line) for line in done.stderr.splitlines())
