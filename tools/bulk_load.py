"""The bulk load: many report files filed concurrently, their verdicts, a summary table."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from shared.excel import FilledWorkbook
from tools.intake_client import (
    DEFAULT_URL,
    FINAL,
    AsJson,
    ClientError,
    Timeout,
    Token,
    Url,
    Wait,
    auth_headers,
    console,
    errors,
    fail,
    read_report_file,
)


@dataclass
class Filing:
    """One file of a bulk load and what became of it."""

    path: Path
    code: str | None = None
    http: int | None = None
    receipt: dict[str, Any] = field(default_factory=dict)
    outcome: str = "pending"  # accepted | rejected | refused | error | submitted | pending
    detail: str = ""
    filled: FilledWorkbook | None = None

    @property
    def ok(self) -> bool:
        return self.outcome in ("accepted", "submitted")


def _report_files(directory: Path) -> list[Path]:
    return sorted(
        p for p in directory.rglob("*") if p.is_file() and p.suffix.lower() in (".json", ".xlsx")
    )


def _first_issue(issues: list[dict[str, Any]], filled: FilledWorkbook | None = None) -> str:
    if not issues:
        return ""
    first = issues[0]
    refs = first.get("cells") or (
        [c for p in first.get("paths", []) for c in filled.cells_of(p)] if filled else []
    )
    cells = f" [{', '.join(refs)}]" if refs else ""
    more = f" (+{len(issues) - 1})" if len(issues) > 1 else ""
    return f"{first.get('rule_id')} {', '.join(first.get('paths', []))}{cells}{more}"


async def _file_one(
    client: httpx.AsyncClient, filing: Filing, token: str | None, tokens: dict[str, str]
) -> None:
    try:
        report = read_report_file(filing.path)
    except ClientError as exc:
        filing.outcome, filing.detail = "error", str(exc)
        return
    filing.code, filing.filled = report.code, report.filled
    chosen = tokens.get(filing.code or "", token)
    if chosen is None and report.problem is not None:
        filing.outcome, filing.detail = "error", report.problem
        return
    headers = {"content-type": report.content_type, **auth_headers(chosen)}
    try:
        response = await client.post("/v1/reports", content=report.body, headers=headers)
    except httpx.HTTPError as exc:
        filing.outcome, filing.detail = "error", f"{type(exc).__name__}: {exc}"
        return
    filing.http = response.status_code
    if response.status_code == 202:
        filing.receipt = response.json()
        filing.outcome = "submitted"
        return
    filing.outcome = "refused"
    try:
        problem = response.json()
        filing.detail = _first_issue(problem.get("issues", [])) or problem.get("message_en", "")
    except ValueError:
        filing.detail = response.text[:200]


async def _verdict(
    client: httpx.AsyncClient, filing: Filing, token: str | None, tokens: dict[str, str]
) -> bool:
    chosen = tokens.get(filing.code or "", token)
    rid = filing.receipt["receipt_id"]
    try:
        response = await client.get(f"/v1/receipts/{rid}", headers=auth_headers(chosen))
    except httpx.HTTPError:
        return False
    if response.status_code != 200:
        return False
    filing.receipt = receipt = response.json()
    if receipt.get("outcome") not in FINAL:
        return False
    filing.outcome = receipt["outcome"]
    filing.detail = _first_issue(receipt.get("errors", []), filing.filled)
    return True


async def _bulk(
    files: list[Path],
    url: str,
    token: str | None,
    tokens: dict[str, str],
    concurrency: int,
    wait: bool,
    within: float,
    progress: Progress,
) -> list[Filing]:
    filings = [Filing(p) for p in files]
    limit = asyncio.Semaphore(concurrency)
    sending = progress.add_task("submitting", total=len(filings))
    async with httpx.AsyncClient(base_url=url.rstrip("/"), timeout=30) as client:

        async def one(filing: Filing) -> None:
            async with limit:
                await _file_one(client, filing, token, tokens)
            progress.advance(sending)

        await asyncio.gather(*(one(f) for f in filings))
        waiting = [f for f in filings if f.outcome == "submitted"]
        if not wait or not waiting:
            return filings
        judging = progress.add_task("waiting for verdicts", total=len(waiting))
        deadline = time.monotonic() + within
        while waiting and time.monotonic() < deadline:
            await asyncio.sleep(0.25)
            done = []
            for batch_start in range(0, len(waiting), concurrency):
                batch = waiting[batch_start : batch_start + concurrency]
                results = await asyncio.gather(*(_verdict(client, f, token, tokens) for f in batch))
                done += [f for f, finished in zip(batch, results, strict=True) if finished]
            for _ in done:
                progress.advance(judging)
            waiting = [f for f in waiting if f not in done]
        for filing in waiting:
            filing.outcome, filing.detail = "pending", f"no verdict within {within:g} s"
    return filings


def _summary(filings: list[Filing], root: Path) -> Table:
    table = Table(title="bulk load", show_lines=False)
    for column in ("file", "code", "HTTP", "receipt", "outcome", "first error"):
        table.add_column(column, overflow="fold")
    styles = {"accepted": "green", "submitted": "green", "rejected": "red", "refused": "red"}
    for f in filings:
        style = styles.get(f.outcome, "yellow")
        table.add_row(
            str(f.path.relative_to(root)),
            f.code or "",
            str(f.http or ""),
            f.receipt.get("receipt_id", "")[:12],
            f"[{style}]{f.outcome}[/]",
            f.detail,
        )
    return table


def bulk(
    directory: Annotated[
        Path, typer.Argument(help="a directory of .json and .xlsx reports (searched recursively)")
    ],
    url: Url = DEFAULT_URL,
    token: Token = None,
    tokens: Annotated[
        Path | None,
        typer.Option(help='JSON {"code": "token"}: each report is filed with its code\'s token'),
    ] = None,
    concurrency: Annotated[int, typer.Option(min=1, max=64, help="requests at once")] = 8,
    wait: Wait = True,
    timeout: Timeout = 120,
    as_json: AsJson = False,
) -> None:
    """File many reports (.json, .xlsx) with a progress bar, then a summary table.

    Exit 1 if any file was refused, rejected, unreadable or got no verdict in time.
    """
    if not directory.is_dir():
        raise fail(ClientError(f"{directory} is not a directory"))
    by_code: dict[str, str] = {}
    if tokens is not None:
        try:
            by_code = dict(json.loads(tokens.read_text(encoding="utf-8")))
        except (OSError, ValueError) as exc:
            raise fail(ClientError(f"{tokens}: {exc}")) from None
    files = _report_files(directory)
    if not files:
        raise fail(ClientError(f"no .json or .xlsx file under {directory}"))
    started = time.monotonic()
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=errors,
        transient=False,
    ) as progress:
        filings = asyncio.run(
            _bulk(files, url, token, by_code, concurrency, wait, timeout, progress)
        )
    elapsed = time.monotonic() - started
    failed = [f for f in filings if not f.ok]
    if as_json:
        rows = [
            {
                "file": str(f.path),
                "code": f.code,
                "http": f.http,
                "receipt_id": f.receipt.get("receipt_id"),
                "outcome": f.outcome,
                "detail": f.detail,
            }
            for f in filings
        ]
        console.print_json(json.dumps(rows, ensure_ascii=False))
    else:
        console.print(_summary(filings, directory))
        counts: dict[str, int] = {}
        for f in filings:
            counts[f.outcome] = counts.get(f.outcome, 0) + 1
        summary = ", ".join(f"{n} {k}" for k, n in sorted(counts.items()))
        console.print(f"{len(filings)} files in {elapsed:.1f} s: {summary}")
    if failed:
        raise typer.Exit(1)
