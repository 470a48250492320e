"""Bearer tokens by command (`nianbao deploy tokens`, `nianbao tokens issue|revoke|rotate`, with
`--expires`) on the test database (PostgreSQL when reachable, SQLite otherwise): files holding
tokens are mode 600 whatever the umask; a revoked or rotated token is refused, by a running
intake's store within its 10 s cache; an expired one at once."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from services.intake.store import TOKEN_CACHE_SECONDS, IntakeStore
from shared.runtime.db import make_engine
from tests.support.figures import SECURITY_FIGURES
from tests.support.waiting import eventually

NIANBAO = str(Path(sys.executable).parent / "nianbao")
REGISTRY = Path(__file__).resolve().parents[1] / "data" / "registry-mini.json"
SITE, OTHER = "1100000088", "1100000077"


@pytest.fixture
def intake_env(database_url: str, tmp_path: Path) -> dict[str, str]:
    """The intake's settings, as `docker compose run intake nianbao ...` has them."""
    return {
        **os.environ,
        "NIANBAO_INTAKE_DATABASE_URL": database_url,
        "NIANBAO_REGISTRY_FILE": str(REGISTRY),
        "NIANBAO_DATA_DIR": str(tmp_path),
    }


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[IntakeStore]:
    """The running intake's view of the tokens (with its 10 s cache)."""
    running = IntakeStore(make_engine(database_url))
    try:
        yield running
    finally:
        await running.engine.dispose()


def nianbao(
    env: dict[str, str], *args: str, umask: str = "022"
) -> subprocess.CompletedProcess[str]:
    """The command in a shell with that umask (redirections included in ``args``' last word)."""
    line = " ".join([shlex.quote(NIANBAO), *args])
    return subprocess.run(
        ["sh", "-c", f"umask {umask}; {line}"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def private(path: Path) -> bool:
    return path.stat().st_mode & 0o777 == 0o600


async def test_issued_tokens_land_in_files_only_their_owner_reads(
    intake_env: dict[str, str], store: IntakeStore, tmp_path: Path
) -> None:
    redirected = tmp_path / "redirected.json"
    done = nianbao(intake_env, "deploy", "tokens", ">", shlex.quote(str(redirected)))
    assert done.returncode == 0, done.stderr
    assert private(redirected), oct(redirected.stat().st_mode)  # umask 022 gave 644
    written = tmp_path / "secrets" / "tokens.json"
    done = nianbao(
        intake_env, "tokens", "issue", "--expires", "90d", "--out", str(written), umask="000"
    )
    assert done.returncode == 0, done.stderr
    assert private(written)
    assert [p.name for p in written.parent.iterdir()] == ["tokens.json"]  # no temporary left
    forever, ninety = (json.loads(p.read_text()) for p in (redirected, written))
    assert forever.keys() == ninety.keys() and {SITE, OTHER, "operator"} <= forever.keys()
    now = datetime.now(UTC)
    later = now + timedelta(days=91)
    site = await store.caller(forever[SITE], later)
    assert site is not None and site.code == SITE  # no expiry: valid until revoked
    assert await store.caller(ninety[SITE], now + timedelta(days=89)) is not None
    assert await store.caller(ninety[SITE], later) is None  # expired
    past = nianbao(intake_env, "tokens", "issue", "--expires", "2020-01-01")
    assert past.returncode == 2 and "already past" in past.stderr


async def test_revoked_and_rotated_tokens_stop_working(
    intake_env: dict[str, str], store: IntakeStore, tmp_path: Path
) -> None:
    tokens_file = tmp_path / "tokens.json"
    assert nianbao(intake_env, "deploy", "tokens", "--out", str(tokens_file)).returncode == 0
    tokens = json.loads(tokens_file.read_text())
    now = datetime.now(UTC)
    for code in (SITE, OTHER, "operator"):  # the running intake has them cached
        assert await store.caller(tokens[code], now) is not None

    revoked = nianbao(intake_env, "tokens", "revoke", SITE)
    assert revoked.returncode == 0 and f"{SITE}: 1 token(s) revoked" in revoked.stdout

    async def refused(token: str) -> bool:
        return await store.caller(token, datetime.now(UTC)) is None

    await eventually(lambda: refused(tokens[SITE]), within=TOKEN_CACHE_SECONDS + 5, interval=0.5)
    assert await store.caller(tokens[OTHER], datetime.now(UTC)) is not None  # others unaffected
    again = nianbao(intake_env, "tokens", "revoke", SITE, "nosuchcode")
    assert again.returncode == 1 and "no valid token: " in again.stderr

    rotated_file = tmp_path / "rotated.json"
    rotated = nianbao(
        intake_env,
        *("tokens", "rotate", OTHER, "operator", "--expires", "2d"),
        *("--out", str(rotated_file)),
        umask="000",
    )
    assert rotated.returncode == 0, rotated.stderr
    assert private(rotated_file)
    fresh = json.loads(rotated_file.read_text())
    assert fresh.keys() == {OTHER, "operator"}
    for code in (OTHER, "operator"):
        assert fresh[code] != tokens[code]
        await eventually(lambda c=code: refused(tokens[c]), within=TOKEN_CACHE_SECONDS + 5)
        holder = await store.caller(fresh[code], datetime.now(UTC))
        assert holder is not None and holder.kind == ("operator" if code == "operator" else "site")
        assert await store.caller(fresh[code], datetime.now(UTC) + timedelta(days=3)) is None
    # the site revoked earlier gets its access back only by rotation
    back = nianbao(intake_env, "tokens", "rotate", SITE)
    assert back.returncode == 0, back.stderr
    assert (await store.caller(json.loads(back.stdout)[SITE], datetime.now(UTC))) is not None
    unknown = nianbao(intake_env, "tokens", "rotate", "nosuchcode")
    assert unknown.returncode == 2 and "no token was ever issued" in unknown.stderr
    SECURITY_FIGURES["token commands"] = "issue (expiry), revoke, rotate: refused within 10 s"
