"""A short libFuzzer run over the C packet parser and deadline heap (fuzz/run.sh).

The harnesses (fuzz/fuzz_parse.c, fuzz/fuzz_heap.c) are built with ASan and UBSan and
check the parsers' and the heap's invariants; this runs each for a few seconds from the
committed seed corpus, in a scratch directory, and fails on any crash or report. Longer
runs: `fuzz/run.sh [SECONDS]`. Skipped where clang cannot build libFuzzer targets.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from debian import without_sanitizers

ROOT = Path(__file__).resolve().parent.parent
RUN = ROOT / "fuzz" / "run.sh"
SECONDS_PER_TARGET = 8  # both targets run at once: about 8 s of wall time, plus the build


def libfuzzer_available(scratch: Path) -> str | None:
    """None if clang can build a libFuzzer target here, else why not."""
    if not RUN.exists():
        return "fuzz/run.sh is not in this tree (an installed copy of the package?)"
    if shutil.which("clang") is None:
        return "clang is not installed (apt-get install clang libclang-rt-14-dev)"
    probe = scratch / "probe.c"
    probe.write_text("int LLVMFuzzerTestOneInput(const char *d, unsigned long n)"
                     " { (void)d; (void)n; return 0; }\n")
    done = subprocess.run(["clang", "-fsanitize=fuzzer,address,undefined", str(probe), "-o",
                           str(scratch / "probe")], capture_output=True, text=True, timeout=120,
                          check=False)
    if done.returncode != 0:
        return f"clang cannot link libFuzzer targets (libclang-rt-dev missing?): {done.stderr}"
    return None


def test_fuzz_short_run(tmp_path: Path) -> None:
    reason = libfuzzer_available(tmp_path)
    if reason:
        pytest.skip(reason)
    committed = sorted((ROOT / "fuzz" / "corpus").rglob("*"))
    # The sanitizer settings of an ASan run of this suite must not leak into the fuzzers.
    env = {**without_sanitizers(), "FUZZ_WORKDIR": str(tmp_path / "fuzz"),
           "FUZZ_NO_INSTALL": "1", "CC": "clang"}
    done = subprocess.run([str(RUN), str(SECONDS_PER_TARGET)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, f"fuzzing failed:\n{done.stdout}\n{done.stderr}"
    assert "FAILED" not in done.stdout
    for target in ("parse", "heap"):
        line = next(line for line in done.stdout.splitlines() if line.startswith(target))
        executions = int(line.split()[1])
        assert executions > 1000, line  # it really ran, not just started
    # New inputs went to the scratch directory: the committed corpus is only read.
    assert sorted((ROOT / "fuzz" / "corpus").rglob("*")) == committed
