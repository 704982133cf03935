"""Debian packages the tests need (prometheus, prometheus-blackbox-exporter, curl, openssl):
installed by the tests themselves when missing and allowed (root with apt-get), else the test
skips with the reason, so CI on a fresh machine runs what a developer's machine runs."""

from __future__ import annotations

import os
import pathlib
import shutil
import subprocess

import pytest

APT_TIMEOUT = 900.0


def debian_commands(package: str, *commands: str) -> tuple[str, ...]:
    """The paths of commands, installing package from Debian if one is missing and we may."""
    def found() -> tuple[str, ...] | None:
        paths = tuple(shutil.which(command) for command in commands)
        return None if None in paths else tuple(str(path) for path in paths)

    if found() is None and os.geteuid() == 0 and shutil.which("apt-get"):
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        install = ["apt-get", "install", "-y", "-q", "--no-install-recommends", package]
        # Keep Debian from starting the package's system service: the tests run their own.
        policy = pathlib.Path("/usr/sbin/policy-rc.d")
        own_policy = not policy.exists()
        if own_policy:
            policy.write_text("#!/bin/sh\nexit 101\n")
            policy.chmod(0o755)
        try:
            done = subprocess.run(install, env=env, capture_output=True, timeout=APT_TIMEOUT,
                                  check=False)
            if done.returncode != 0:
                subprocess.run(["apt-get", "update", "-q"], env=env, capture_output=True,
                               timeout=APT_TIMEOUT, check=False)
                subprocess.run(install, env=env, capture_output=True, timeout=APT_TIMEOUT,
                               check=False)
        finally:
            if own_policy:
                policy.unlink()
    paths = found()
    if paths is None:
        pytest.skip(f"needs {', '.join(commands)} (Debian's {package} package), and it could "
                    "not be installed here (installing needs root and apt-get)")
    return paths


def without_sanitizers() -> dict[str, str]:
    """This environment minus an ASan run's preloaded runtime and options, for programs that
    are not ours (curl, for one, hangs with libasan preloaded)."""
    env = dict(os.environ)
    for name in ("LD_PRELOAD", "ASAN_OPTIONS", "UBSAN_OPTIONS"):
        env.pop(name, None)
    return env
