"""-l --table: the live table fits the terminal, redraws in place on the alternate screen, sorts
worst first, says what it does not show and keeps errors in sight.

The layout is checked on made-up host states (cli/table.py's table_lines); the terminal
behaviour by running the command under a pseudo-terminal of a given size (TIOCSWINSZ), with
loopback targets and one that cannot be resolved (a malformed address: no DNS query)."""

from __future__ import annotations

import fcntl
import inspect
import os
import pty
import re
import select
import signal
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

import netsim
import pytest

from fastping import Health
from fastping._monitor_records import HostState
from fastping.cli.table import CLEAR_BELOW, ENTER, HOME, LEAVE, table_lines

COMMAND = str(Path(sys.executable).with_name("fastping"))
ESCAPES = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def state(host: str, health: str = "up", *, sent: int = 10, loss: float = 0.0,
          last: float | None = 0.001) -> HostState:
    probes = min(sent, 32)
    replies = round(probes * (1 - loss))
    return HostState(
        host=host, address=host, health=Health(health), since=0.0, streak=1, sent=sent,
        received=replies, lost=probes - replies, duplicates=0, send_errors=0, last_rtt=last,
        last_ttl=64, jitter=0.0, window_probes=probes, window_replies=replies,
        loss=loss if probes else 0.0, min=None, avg=None, max=None, stddev=None, p50=None,
        p90=None, p99=None, lifetime_min=None, lifetime_avg=None, lifetime_max=None)


def test_worst_first_and_dashes_before_any_probe() -> None:
    states = {
        "fast": state("fast", last=0.0001),
        "fresh": state("fresh", "unknown", sent=0, last=None),
        "lossy": state("lossy", loss=0.5, last=0.002),
        "dead": state("dead", "down", loss=1.0, last=None),
        "slow": state("slow", last=0.2),
    }
    lines = table_lines(states, {}, 80, 24)
    assert [line.split()[0] for line in lines[1:]] == ["dead", "fresh", "lossy", "slow", "fast"]
    fresh = next(line for line in lines if line.startswith("fresh"))
    assert fresh.split()[1:] == ["unknown", "-", "-", "0"]  # no probes: no loss, no RTT
    assert "not shown" not in "".join(lines)


@pytest.mark.parametrize(("columns", "rows"), [(40, 6), (80, 10), (20, 3), (120, 50)])
def test_fits_the_terminal_and_counts_what_it_hides(columns: int, rows: int) -> None:
    states = {f"host-number-{n:03d}.example": state(f"h{n}", loss=n / 100) for n in range(60)}
    errors = {f"bad{n}": "invalid IPv4 address" for n in range(5)}
    lines = table_lines(states, errors, columns, rows)
    assert len(lines) <= rows
    assert all(len(line) <= columns for line in lines)
    shown = sum(1 for line in lines[1:] if line.startswith("ho"))
    if rows >= 8:
        hidden = re.search(r"(\d+) of 60 targets not shown", "\n".join(lines))
        assert hidden is not None
        assert int(hidden.group(1)) == 60 - shown
        assert any(line.startswith("bad0: invalid") for line in lines)
        assert any("2 more unknown" in line for line in lines)
    if rows >= 50:
        assert "bad0: invalid IPv4 address" in lines


def pty_run(argv: list[str], columns: int, rows: int, seconds: float) -> tuple[str, int]:
    """A command under a pseudo-terminal of that size until it exits, or for that long and
    then Ctrl-C: all it wrote (stdout and stderr) and its exit status."""
    primary, secondary = pty.openpty()
    fcntl.ioctl(secondary, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
    child = subprocess.Popen(argv, stdin=secondary, stdout=secondary,
                             stderr=secondary, start_new_session=True, close_fds=True)
    os.close(secondary)
    chunks: list[bytes] = []
    deadline = time.monotonic() + seconds
    interrupted = False
    try:
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0 and not interrupted:
                child.send_signal(signal.SIGINT)
                interrupted = True
                deadline = time.monotonic() + 10
                continue
            if remaining <= 0:
                break
            ready, _, _ = select.select([primary], [], [], min(remaining, 0.2))
            if ready:
                try:
                    data = os.read(primary, 65536)
                except OSError:  # EIO: the child closed the terminal
                    break
                if not data:
                    break
                chunks.append(data)
            elif interrupted and child.poll() is not None:
                break
        status = child.wait(timeout=10)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        os.close(primary)
    return b"".join(chunks).decode(errors="replace"), status


@pytest.mark.skipif(os.geteuid() != 0, reason="pings over raw sockets: needs root")
def test_the_table_in_a_small_terminal() -> None:
    columns, rows = 50, 8
    targets = [f"127.0.9.{n}" for n in range(1, 21)]
    output, status = pty_run([COMMAND, "-l", "--table", "-p", "200", "999.1.1.1", *targets],
                             columns, rows, seconds=3.5)
    assert status == 2, output[-500:]  # fping's status when a name was unknown
    assert output.count(ENTER) == 1, output[:300]  # entered once, left once, at the end
    assert LEAVE in output
    before, _, rest = output.partition(ENTER)
    table, _, after = rest.rpartition(LEAVE)
    # The error printed before the table is on the main screen, and in the table too.
    assert "999.1.1.1: Name or service not known" in before
    frames = [frame for frame in table.split(HOME) if frame]
    assert len(frames) >= 2, table[:500]  # redrawn, about once a second
    for frame in frames:
        assert frame.endswith(CLEAR_BELOW)
        # (The terminal writes a carriage return before each line feed.)
        lines = [ESCAPES.sub("", line).rstrip("\r") for line in frame.split("\n")]
        assert len(lines) <= rows
        assert all(len(line) <= columns for line in lines), lines
        text = "\n".join(lines)
        assert "targets not shown" in text, text
        assert "999.1.1.1: Name or service not known" in text
        # Nothing scrolls: no frame has more line breaks than the screen has rows.
        assert frame.count("\n") < rows
    last = [ESCAPES.sub("", line).rstrip("\r") for line in frames[-1].split("\n")]
    assert last[0].startswith("target")
    assert any(line.startswith("127.0.9.") and " up " in line for line in last)
    # Left, the summaries come on the main screen, where the scrollback keeps them.
    assert "127.0.9.1 " in after and "xmt/rcv/%loss" in after, after[-500:]


# ---- the sweep's progress line ---------------------------------------------------------


def _progress_client() -> None:
    """Runs in the simulated network's namespace, after pty_run's source: a sweep of silent
    hosts on a pseudo-terminal; prints what the terminal got, as JSON."""
    import json
    import sys

    spec = json.loads(sys.argv[1])
    shown, status = pty_run([spec["command"], "-r", "2", "-t", "300", "-B", "1", *spec["hosts"]],
                            80, 24, seconds=30)
    print(json.dumps({"status": status, "shown": shown}))


@pytest.mark.skipif(os.geteuid() != 0, reason="needs a network namespace (root)")
def test_sweep_progress_moves_while_targets_are_retried() -> None:
    silent = [f"198.18.50.{n}" for n in range(1, 5)]
    imports = "import fcntl, os, pty, select, signal, struct, subprocess, termios, time\n"
    source = (f"{imports}{inspect.getsource(pty_run)}\n{inspect.getsource(_progress_client)}\n"
              "_progress_client()\n")
    try:
        with netsim.SimulatedNetwork({host: {"silent": True} for host in silent}) as network:
            report = network.run(source, {"command": COMMAND, "hosts": silent})
    except netsim.NetsimUnavailable as reason:
        pytest.skip(f"no simulated network here: {reason}")
    assert report["status"] == 1  # none answered
    parts = [ESCAPES.sub("", part).strip() for part in re.split(r"[\r\n]+", report["shown"])]
    updates = [part for part in parts if part.startswith("fastping:")]
    # Each try's round starts with a line that says which it is; the count stays 0 until the
    # last try has given up on them.
    assert updates == [f"fastping: 0/4 targets done (try {n} of 3: 4 waiting)"
                       for n in (1, 2, 3)] + ["fastping: 4/4 targets done"], updates
    assert "198.18.50.1 is unreachable" in parts
