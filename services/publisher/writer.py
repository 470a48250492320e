"""Writes rendered files atomically: a reader sees the old page or the new one, never half."""

from __future__ import annotations

import asyncio
import os
import tempfile
from pathlib import Path


def write_atomically(root: Path, files: dict[str, bytes]) -> None:
    """Write each file to a temporary name in its directory, fsync, then rename over the old."""
    root = root.resolve()
    for relative, content in sorted(files.items()):
        target = (root / relative).resolve()
        if root not in target.parents:
            raise ValueError(f"refusing to write outside the published root: {relative!r}")
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            if target.read_bytes() == content:
                continue
        except FileNotFoundError:
            pass
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-", suffix=target.suffix)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(content)
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(tmp, 0o644)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


class PageWriter:
    """Off the event loop: file writes run in a worker thread."""

    def __init__(self, root: Path) -> None:
        self.root = root

    async def __call__(self, files: dict[str, bytes]) -> None:
        await asyncio.to_thread(write_atomically, self.root, files)
