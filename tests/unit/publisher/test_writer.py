"""The page writer: atomic, world-readable files; unchanged ones left alone; badges linked."""

from __future__ import annotations

import errno
import os
import shutil
import stat
from pathlib import Path

import pytest

from services.publisher import writer
from services.publisher.writer import SHARED_DIR, write_atomically

BADGE_A = b"<svg>on time</svg>\n"
BADGE_B = b"<svg>late</svg>\n"


def site(code: str, badge: bytes = BADGE_A, page: bytes | None = None) -> dict[str, bytes]:
    base = f"sites/2026/{code}/"
    return {
        base + "index.html": page or f"<p>{code}</p>\n".encode(),
        base + "report.json": f'{{"code": "{code}"}}\n'.encode(),
        base + "badge.svg": badge,
    }


def leftovers(root: Path) -> list[Path]:
    return [p for p in root.rglob(".tmp-*")]


def test_new_files_are_written_world_readable(tmp_path: Path) -> None:
    assert write_atomically(tmp_path, site("5100000001")) == 3
    page = tmp_path / "sites/2026/5100000001/index.html"
    assert page.read_bytes() == b"<p>5100000001</p>\n"
    assert stat.S_IMODE(page.stat().st_mode) == 0o644
    assert stat.S_IMODE((tmp_path / "sites/2026/5100000001/badge.svg").stat().st_mode) == 0o644
    assert leftovers(tmp_path) == []


def test_unchanged_files_are_left_alone_and_changed_ones_replaced(tmp_path: Path) -> None:
    write_atomically(tmp_path, site("5100000001"))
    page = tmp_path / "sites/2026/5100000001/index.html"
    before = page.stat().st_ino
    assert write_atomically(tmp_path, site("5100000001")) == 0
    assert page.stat().st_ino == before
    assert write_atomically(tmp_path, site("5100000001", page=b"<p>new</p>\n")) == 1
    assert page.read_bytes() == b"<p>new</p>\n"
    assert page.stat().st_ino != before  # renamed over, never rewritten in place
    assert leftovers(tmp_path) == []


def test_equal_badges_are_one_file_on_disk(tmp_path: Path) -> None:
    write_atomically(tmp_path, {**site("5100000001"), **site("5100000002")})
    write_atomically(tmp_path, site("5100000003"))  # a later call, into existing folders
    badges = [tmp_path / f"sites/2026/510000000{i}/badge.svg" for i in (1, 2, 3)]
    assert [b.read_bytes() for b in badges] == [BADGE_A] * 3
    assert len({b.stat().st_ino for b in badges}) == 1
    shared = list((tmp_path / SHARED_DIR).iterdir())
    assert [p.read_bytes() for p in shared] == [BADGE_A]
    assert shared[0].stat().st_ino == badges[0].stat().st_ino

    # one site's badge changes: the others keep theirs (a new link, not a write in place)
    assert write_atomically(tmp_path, site("5100000002", badge=BADGE_B)) == 1
    assert [b.read_bytes() for b in badges] == [BADGE_A, BADGE_B, BADGE_A]
    assert shared[0].read_bytes() == BADGE_A
    assert leftovers(tmp_path) == []


def test_a_shared_copy_removed_behind_the_writer_is_written_again(tmp_path: Path) -> None:
    write_atomically(tmp_path, site("5100000001"))
    shutil.rmtree(tmp_path / SHARED_DIR)
    write_atomically(tmp_path, site("5100000002"))
    assert (tmp_path / "sites/2026/5100000002/badge.svg").read_bytes() == BADGE_A
    assert [p.read_bytes() for p in (tmp_path / SHARED_DIR).iterdir()] == [BADGE_A]


def test_a_file_system_refusing_links_gets_copies(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(_src: str, _dst: str) -> None:
        raise OSError(errno.EMLINK, "Too many links")

    monkeypatch.setattr(writer.os, "link", refuse)
    assert write_atomically(tmp_path, site("5100000001")) == 3
    badge = tmp_path / "sites/2026/5100000001/badge.svg"
    assert badge.read_bytes() == BADGE_A and badge.stat().st_nlink == 1
    assert leftovers(tmp_path) == []


def test_nothing_is_written_outside_the_root(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="outside the published root"):
        write_atomically(tmp_path / "pages", {"../escape.html": b"x"})
    assert not os.path.exists(tmp_path / "escape.html")
