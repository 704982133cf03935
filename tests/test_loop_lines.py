"""The loop's per-probe lines (-l) as a reader of a pipe sees them: fping flushes each line even
to a pipe; the command writes an engine turn's lines at once, so they arrive while it runs."""

from __future__ import annotations

import os
import re
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

COMMAND = str(Path(sys.executable).with_name("fastping"))
LINE = re.compile(rb"^(127\.0\.0\.1|::1      ) : \[(\d+)\], 64 bytes, [\d.]+ ms "
                  rb"\([\d.]+ avg, 0% loss\)$")


def lines_while_running(process: subprocess.Popen[bytes], wanted: int,
                        within: float) -> list[bytes]:
    """The first wanted whole lines of the process's stdout, read while it runs (fewer if
    within seconds pass first)."""
    assert process.stdout is not None
    lines: list[bytes] = []
    pending = b""
    deadline = time.monotonic() + within
    while len(lines) < wanted and time.monotonic() < deadline:
        ready, _, _ = select.select([process.stdout], [], [], deadline - time.monotonic())
        chunk = os.read(process.stdout.fileno(), 65536) if ready else b""
        if not chunk:
            break
        *whole, pending = (pending + chunk).split(b"\n")
        lines += whole
    return lines


def test_loop_lines_reach_a_pipe_while_the_loop_runs() -> None:
    # Python's own buffering of a pipe, not PYTHONUNBUFFERED's: the command must flush.
    environment = {name: value for name, value in os.environ.items()
                   if name != "PYTHONUNBUFFERED"}
    process = subprocess.Popen([COMMAND, "-l", "-p", "100", "127.0.0.1", "::1"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=environment)
    try:
        lines = lines_while_running(process, 6, within=5.0)
        running = process.poll() is None
    finally:
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=10)
    assert running, err
    assert len(lines) >= 6, lines
    matches = [LINE.match(line) for line in lines[:6]]
    assert all(matches), lines
    numbers: dict[bytes, list[int]] = {}
    for match in matches:
        assert match is not None
        numbers.setdefault(match[1], []).append(int(match[2]))
    # Each host's probes in order from [0], one line each.
    assert all(seen == list(range(len(seen))) for seen in numbers.values()), numbers
    assert process.returncode == 0, err
