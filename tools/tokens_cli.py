"""`nianbao tokens`: issue, revoke and rotate bearer tokens in the intake's database; secret files.

Tokens are stored hashed (SHA-256) in the intake's database; these commands use the intake's
settings (NIANBAO_INTAKE_DATABASE_URL, NIANBAO_REGISTRY_FILE). A running intake keeps a token's
lookup for 10 s: a revoked or rotated token stops working within that; an expiry is checked on
every request. Whatever holds plain tokens is written with mode 600, whatever the umask.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import stat
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Annotated
from zoneinfo import ZoneInfo

import typer

#: a date without a time means its start in China's time zone (the notice's deadlines are too)
CHINA = ZoneInfo("Asia/Shanghai")
_DURATION = re.compile(r"(\d+)([dh])")

app = typer.Typer(
    help="Bearer tokens: issue, revoke, rotate (the intake's database).", no_args_is_help=True
)


def write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` readable by its owner only: the file is created with mode 600
    (never wider, whatever the umask) and replaces ``path`` atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.fchmod(fd, 0o600)  # the umask could only narrow it; this says it outright
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def protect_stdout() -> None:
    """Tokens printed into a file (``nianbao deploy tokens > tokens.json``): make that file
    mode 600 before anything is written to it, whatever the shell's umask made it."""
    try:
        fd = sys.stdout.fileno()
        mode = os.fstat(fd).st_mode
    except (OSError, ValueError, AttributeError):
        return
    if stat.S_ISREG(mode) and mode & 0o077:
        os.fchmod(fd, 0o600)


def emit_tokens(tokens: dict[str, str], out: Path | None) -> None:
    """``{code: token}`` as JSON to ``out`` (mode 600), or to stdout (a file there made 600)."""
    text = json.dumps(tokens, ensure_ascii=False, indent=1) + "\n"
    if out is None:
        protect_stdout()
        typer.echo(text, nl=False)
    else:
        write_private(out, text)
        typer.echo(f"wrote {len(tokens)} tokens to {out} (mode 600)", err=True)


def parse_expiry(value: str | None, now: datetime | None = None) -> datetime | None:
    """``2027-03-01`` (its start, Asia/Shanghai), ``2027-03-01T12:00:00+08:00``, or a duration
    from now (``90d``, ``12h``); None when not given. Refuses a time already past."""
    if not value:
        return None
    now = now or datetime.now(UTC)
    value = value.strip()
    duration = _DURATION.fullmatch(value)
    if duration:
        amount, unit = int(duration.group(1)), duration.group(2)
        when = now + (timedelta(days=amount) if unit == "d" else timedelta(hours=amount))
    else:
        try:
            if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
                when = datetime.combine(date.fromisoformat(value), datetime.min.time(), CHINA)
            else:
                when = datetime.fromisoformat(value)
        except ValueError as exc:
            raise typer.BadParameter(
                f"{value!r}: a date (2027-03-01), a time with its zone "
                "(2027-03-01T12:00:00+08:00) or a duration (90d, 12h)"
            ) from exc
        if when.tzinfo is None:
            when = when.replace(tzinfo=CHINA)
    if when <= now:
        raise typer.BadParameter(f"{value!r} is already past")
    return when.astimezone(UTC)


ExpiresOption = Annotated[
    str | None,
    typer.Option(
        "--expires",
        help="the tokens stop working then: 2027-03-01 (Asia/Shanghai), an ISO time with its "
        "zone, or a duration (90d, 12h); default: until revoked",
    ),
]
OutOption = Annotated[Path | None, typer.Option(help="write {code: token} here (mode 600)")]


def issue_all(expires: str | None, out: Path | None) -> None:
    from services.intake.main import IntakeSettings, issue_tokens

    expires_at = parse_expiry(expires)
    emit_tokens(asyncio.run(issue_tokens(IntakeSettings(), expires_at)), out)


@app.command("issue")
def issue(expires: ExpiresOption = None, out: OutOption = None) -> None:
    """A new token for every site and office of the registry and the operator (as `nianbao
    deploy tokens`); earlier tokens stay valid until revoked or rotated."""
    issue_all(expires, out)


@app.command("revoke")
def revoke(
    codes: Annotated[list[str], typer.Argument(help="site or office codes; `operator`")],
) -> None:
    """Revoke every token of these holders (refused by a running intake within 10 s)."""
    from services.intake.main import IntakeSettings, revoke_tokens

    settings = IntakeSettings()
    unknown = []
    for code in codes:
        count = asyncio.run(revoke_tokens(settings, code))
        typer.echo(f"{code}: {count} token(s) revoked")
        if count == 0:
            unknown.append(code)
    if unknown:
        typer.echo(f"no valid token: {', '.join(unknown)}", err=True)
        raise typer.Exit(1)


@app.command("rotate")
def rotate(
    codes: Annotated[list[str], typer.Argument(help="site or office codes; `operator`")],
    expires: ExpiresOption = None,
    out: OutOption = None,
) -> None:
    """A new token for each holder, its earlier ones revoked at once; prints {code: token}
    (or --out)."""
    from services.intake.main import IntakeSettings, rotate_token

    settings = IntakeSettings()
    expires_at = parse_expiry(expires)
    issued: dict[str, str] = {}
    for code in codes:
        token = asyncio.run(rotate_token(settings, code, expires_at))
        if token is None:
            raise typer.BadParameter(f"{code}: no token was ever issued to it", param_hint="CODE")
        issued[code] = token
    emit_tokens(issued, out)
