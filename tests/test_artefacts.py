"""What publishing needs that is cheap to check: one version everywhere, the licence the
metadata names. Building, auditwheel, twine and installing the sdist and the wheel in fresh
venvs are .ci/run's (minutes, and tools of their own)."""

from __future__ import annotations

import importlib.metadata
import pathlib
import re
import subprocess
import sys

import fastping
from fastping._version import __version__

ROOT = pathlib.Path(__file__).resolve().parent.parent


def test_the_version_is_one_and_the_same_everywhere() -> None:
    assert re.fullmatch(r"\d+\.\d+\.\d+", __version__)
    assert fastping.__version__ == __version__
    assert importlib.metadata.version("fastping") == __version__
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert 'dynamic = ["version"]' in pyproject and "\nversion =" not in pyproject
    assert f"## [{__version__}]" in (ROOT / "CHANGELOG.md").read_text()


def test_fastping_v_prints_the_version_as_fping_does() -> None:
    for flag in ("-v", "--version"):
        done = subprocess.run([sys.executable, "-m", "fastping", flag], capture_output=True,
                              text=True, timeout=30, check=False)
        assert (done.returncode, done.stdout, done.stderr) == (
            0, f"fastping: Version {__version__}\n", "")


def test_the_licence_file_is_the_one_the_metadata_names() -> None:
    assert 'license = { text = "MIT" }' in (ROOT / "pyproject.toml").read_text()
    licence = (ROOT / "LICENSE").read_text()
    assert licence.startswith("MIT License\n")
    assert "Permission is hereby granted, free of charge" in licence
    assert importlib.metadata.metadata("fastping")["License"] == "MIT"
