"""Tools from Debian packages, for the tests that compare fastping with them or run them on its
output: installed with apt-get when missing and the tests run as root, else the test skips."""

from __future__ import annotations

import os
import pathlib
import shutil
import subprocess

import pytest


def debian_binary(package: str, name: str) -> str:
    """The path of the program `name` of Debian's `package`; installs the package if the
    program is missing and we may (root, apt-get), else skips the test, saying why."""
    if shutil.which(name) is None and os.geteuid() == 0 and shutil.which("apt-get"):
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        install = ["apt-get", "install", "-y", "-q", "--no-install-recommends", package]
        # Keep Debian from starting the package's service: the tests run their own.
        policy = pathlib.Path("/usr/sbin/policy-rc.d")
        own_policy = not policy.exists()
        if own_policy:
            policy.write_text("#!/bin/sh\nexit 101\n")
            policy.chmod(0o755)
        try:
            done = subprocess.run(install, env=env, capture_output=True, timeout=900,
                                  check=False)
            if done.returncode != 0:  # perhaps stale package lists
                subprocess.run(["apt-get", "update", "-q"], env=env, capture_output=True,
                               timeout=900, check=False)
                subprocess.run(install, env=env, capture_output=True, timeout=900, check=False)
        finally:
            if own_policy:
                policy.unlink()
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"needs {name} (Debian's {package} package), and it could not be installed "
                    "here (installing needs root and apt-get)")
    return path
