"""The public API type-checks (mypy --strict over the package and its stub) and lints clean."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "src" / "fastping"

USAGE = '''
import fastping
from fastping import HostStats, Pinger, Result, Status

with Pinger(["127.0.0.1"], timeout=0.5, on_recv=lambda r: print(r.rtt)) as pinger:
    results: dict[str, Result] = pinger.ping()
    status: Status = results["127.0.0.1"].status
    for round_results in pinger.run(count=2, interval=0.1):
        rtt: float | None = round_results["127.0.0.1"].rtt
stats: HostStats = fastping.ping("127.0.0.1", count=1)
loss: float = stats.loss
many: dict[str, HostStats] = fastping.multiping(["127.0.0.1", "::1"])
'''


def run_tool(*arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *arguments], capture_output=True, text=True,
                          timeout=300, cwd=ROOT, check=False)


@pytest.mark.skipif(shutil.which("mypy") is None and not (Path(sys.executable).parent / "mypy")
                    .exists(), reason="mypy is a test extra")
def test_mypy_strict_on_package_and_usage(tmp_path: Path) -> None:
    usage = tmp_path / "usage.py"
    usage.write_text(USAGE)
    done = run_tool("mypy", "--strict", str(PACKAGE), str(usage))
    assert done.returncode == 0, done.stdout + done.stderr


def test_ruff_on_package() -> None:
    pytest.importorskip("ruff")
    done = run_tool("ruff", "check", str(PACKAGE))
    assert done.returncode == 0, done.stdout + done.stderr
