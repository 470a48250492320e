"""Writes rendered files atomically: a reader sees the old page or the new one, never half.

Each file goes to a temporary name in its directory and is renamed over the old one. Durability
comes once per call, not once per file: after the renames one ``syncfs`` flushes the published
tree's file system, so a caller that cleans its dirty marks after ``write_atomically`` returns
never forgets a page that a power cut could lose. (An fsync per file cost the publisher a
syscall, a journal commit and a thread wake-up for each of ~90,000 files in a national burst.)

A file named in ``SHARED_NAMES`` (a badge: the same image for every site of a year and status)
is a hard link to one copy per content under ``.shared/``: a new name, not a new inode. Creating
an inode is the costly part of a new file (on ext4 without a journal the kernel scans past
recently deleted inodes for each one). The copies are written atomically like any file and
never changed in place, so a link always shows whole, right bytes.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import errno
import hashlib
import os
import threading
from pathlib import Path

_libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
#: directories known to exist (creating them again costs a stat per component)
_made: set[str] = set()
_made_lock = threading.Lock()
#: file names written as a link to a shared copy of their bytes
SHARED_NAMES = frozenset({"badge.svg"})
#: the folder of the shared copies, under the published root
SHARED_DIR = ".shared"
#: shared copies known to exist (absolute paths)
_stored: set[str] = set()


def sync_filesystem(root: Path) -> None:
    """Flush everything written on ``root``'s file system to disk (Linux ``syncfs``)."""
    syncfs = getattr(_libc, "syncfs", None)
    if syncfs is None:  # not Linux: flush every file system
        os.sync()
        return
    fd = os.open(root, os.O_RDONLY)
    try:
        if syncfs(fd) != 0:
            errno = ctypes.get_errno()
            raise OSError(errno, f"syncfs({root}): {os.strerror(errno)}")
    finally:
        os.close(fd)


def _directory(path: str) -> bool:
    """Make sure ``path`` exists; True when this call created it (it holds nothing yet)."""
    if path in _made:
        return False
    try:
        os.mkdir(path)  # one syscall for a page's new folder (its parent is usually there)
        created = True
    except FileExistsError:
        created = False
    except FileNotFoundError:
        os.makedirs(path, exist_ok=True)
        created = True
    with _made_lock:
        _made.add(path)
    return created


def _unchanged(target: str, content: bytes) -> bool:
    try:
        if os.stat(target).st_size != len(content):
            return False
        with open(target, "rb") as handle:
            return handle.read() == content
    except FileNotFoundError:
        return False


def _umask() -> int:
    """The process's umask, read once (reading it means setting it: done at import, before
    any writer thread runs)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


#: pages must be world-readable (the pages server): a umask that masks 0o644 needs an fchmod
_CHMOD_NEEDED = bool(_umask() & 0o644)


def write_atomically(root: Path, files: dict[str, bytes], *, durable: bool = True) -> int:
    """Write ``files`` (path relative to ``root`` → bytes) atomically; files whose bytes are
    already there are left alone. With ``durable``, returns only once the tree is on disk.
    Returns how many files were written."""
    base = os.path.abspath(root)
    written = 0
    #: folders this call created: their files are all new (no stat, no read to compare)
    fresh: set[str] = set()
    for relative, content in sorted(files.items()):
        target = os.path.normpath(os.path.join(base, relative))
        if not target.startswith(base + os.sep):
            raise ValueError(f"refusing to write outside the published root: {relative!r}")
        folder, name = os.path.split(target)
        fresh_folder = folder in fresh
        if fresh_folder:
            pass  # a folder this call created holds nothing to compare with
        elif _directory(folder):
            fresh.add(folder)
            fresh_folder = True
        elif _unchanged(target, content):
            continue
        if name in SHARED_NAMES and _link_shared(base, target, content, fresh_folder):
            written += 1
            continue
        _write_file(folder, name, target, content)
        written += 1
    if durable and written:
        sync_filesystem(Path(base))
    return written


def _tmp_name(folder: str, name: str) -> str:
    # one writer thread writes one file at a time: the thread id makes the name unique
    return os.path.join(folder, f".tmp-{name}.{os.getpid()}.{threading.get_ident()}")


def _write_file(folder: str, name: str, target: str, content: bytes) -> None:
    """``content`` at ``target``: written under a temporary name, then renamed over it."""
    tmp = _tmp_name(folder, name)
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            if _CHMOD_NEEDED:
                os.fchmod(fd, 0o644)  # world-readable whatever the umask (the pages server)
            view = memoryview(content)
            while view:
                view = view[os.write(fd, view) :]
        finally:
            os.close(fd)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _shared_copy(base: str, name: str, content: bytes) -> str:
    """The shared copy of ``content`` (written now if it is not there yet)."""
    suffix = os.path.splitext(name)[1]
    folder = os.path.join(base, SHARED_DIR)
    stored = os.path.join(folder, hashlib.sha256(content).hexdigest() + suffix)
    if stored not in _stored:  # once per content and process: no cached folder trusted
        os.makedirs(folder, exist_ok=True)
        if not _unchanged(stored, content):
            _write_file(folder, name, stored, content)
        _stored.add(stored)
    return stored


def _link_shared(base: str, target: str, content: bytes, fresh_folder: bool) -> bool:
    """Link ``target`` to the shared copy of ``content``, atomically (a new name appears
    whole; an old file is replaced by a rename); False when the file system refuses (no hard
    links, too many of them): the caller writes a copy instead."""
    folder, name = os.path.split(target)
    tmp = _tmp_name(folder, name)
    for _attempt in range(2):
        stored = _shared_copy(base, name, content)
        try:
            if fresh_folder:  # nothing to replace: the link is the file's one appearance
                os.link(stored, target)
                return True
            os.link(stored, tmp)
        except FileNotFoundError:  # the copy was removed behind our back: write it again
            _stored.discard(stored)
            continue
        except FileExistsError:  # written meanwhile, or a temporary name left by a killed writer
            if fresh_folder:
                fresh_folder = False
            else:
                os.unlink(tmp)
            continue
        except OSError as error:
            if error.errno in (errno.EMLINK, errno.EPERM, errno.EXDEV, errno.ENOTSUP):
                return False
            raise
        try:
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return True
    return False


class PageWriter:
    """Off the event loop: file writes run in a worker thread."""

    def __init__(self, root: Path) -> None:
        self.root = root

    async def __call__(self, files: dict[str, bytes]) -> None:
        await asyncio.to_thread(write_atomically, self.root, files)
