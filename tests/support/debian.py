"""Debian packages a test needs: installed once when missing (root and apt-get), else a skip."""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

import pytest

LOCK = Path("/tmp/nianbao-debian-packages.lock")


def missing_packages(packages: Sequence[str]) -> list[str]:
    """The packages dpkg does not report as installed (all of them without dpkg)."""
    if shutil.which("dpkg-query") is None:
        return list(packages)
    missing = []
    for package in packages:
        result = subprocess.run(
            ["dpkg-query", "-W", "-f=${Status}", package],
            capture_output=True,
            text=True,
            check=False,
        )
        if "install ok installed" not in result.stdout:
            missing.append(package)
    return missing


def require_packages(packages: Sequence[str], why: str) -> None:
    """apt-get install what is missing, one installer at a time; skip where that cannot be."""
    if not missing_packages(packages):
        return
    if shutil.which("apt-get") is None or os.geteuid() != 0:
        pytest.skip(f"{why}: needs {' '.join(packages)} (root and apt-get to install them)")
    LOCK.touch(exist_ok=True)
    with LOCK.open("r") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        missing = missing_packages(packages)
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        for command in (
            ["apt-get", "update", "-q"],
            ["apt-get", "install", "-y", "-q", "--no-install-recommends", *missing],
        ):
            if not missing:
                break
            result = subprocess.run(
                command, env=env, capture_output=True, text=True, timeout=1200, check=False
            )
            if result.returncode != 0:
                pytest.skip(f"{why}: {' '.join(command)} failed:\n{result.stderr[-2000:]}")
