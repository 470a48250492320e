"""Headless Chromium for the browser tests: Debian's package, installed once when missing.

`make browser-deps` (run by `make test` when CI is set) installs it ahead of time; here a
session-scoped fixture installs it under a file lock when the tests run as root with apt-get, and
skips with the reason only where that is impossible. Playwright drives the system's Chromium
(``executable_path``); it never downloads a browser of its own.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path("/usr/bin/chromium")
PACKAGES = ("chromium", "fonts-noto-cjk")
LOCK = Path("/tmp/nianbao-browser-deps.lock")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def missing_packages() -> list[str]:
    if shutil.which("dpkg-query") is None:
        return [] if CHROMIUM.exists() else list(PACKAGES)
    missing = []
    for package in PACKAGES:
        result = subprocess.run(
            ["dpkg-query", "-W", "-f=${Status}", package],
            capture_output=True,
            text=True,
            check=False,
        )
        if "install ok installed" not in result.stdout:
            missing.append(package)
    return missing


def install_browser() -> None:
    """apt-get install what is missing, one installer at a time across processes."""
    LOCK.touch(exist_ok=True)
    with LOCK.open("r") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        missing = missing_packages()
        if not missing:
            return
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        for command in (
            ["apt-get", "update", "-q"],
            ["apt-get", "install", "-y", "-q", *missing],
        ):
            result = subprocess.run(
                command, env=env, capture_output=True, text=True, timeout=900, check=False
            )
            if result.returncode != 0:
                failed = " ".join(command)
                pytest.skip(f"cannot install {missing}: {failed} failed:\n{result.stderr[-2000:]}")


@pytest.fixture(scope="session")
def chromium_path() -> Path:
    if missing_packages():
        if shutil.which("apt-get") is None or os.geteuid() != 0:
            pytest.skip(
                f"Chromium is not installed and cannot be installed here (needs root and "
                f"apt-get): run `make browser-deps` or `apt-get install {' '.join(PACKAGES)}`"
            )
        install_browser()
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing after installing {PACKAGES}")
    return CHROMIUM


@pytest.fixture(scope="module")
def browser(chromium_path: Path) -> Iterator[Any]:
    """A headless Chromium driven by Playwright's sync API (which keeps an event loop running in
    this thread while open: fixtures that call ``asyncio.run``, such as ``start_system``, must
    come before it in a test's arguments)."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("playwright is not installed: pip install -e '.[dev]'")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(chromium_path), args=CHROMIUM_ARGS
        )
        try:
            yield launched
        finally:
            launched.close()
