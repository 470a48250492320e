"""Client commands of ``nianbao``: submit, status, bulk, template, registry import/export.

Each talks to a running intake over HTTP; the server URL and bearer token come from ``--url`` /
``--token`` or the environment (``NIANBAO_URL``, ``NIANBAO_TOKEN``).
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from shared.excel import (
    RECORDS_ROWS,
    XLSX_MEDIA_TYPE,
    FilledWorkbook,
    WorkbookError,
    build_template,
    read_workbook,
)
from shared.forms import load_form, report_code

DEFAULT_URL = "http://127.0.0.1:8000"
FINAL = ("accepted", "rejected")

Url = Annotated[str, typer.Option("--url", envvar="NIANBAO_URL", help="the intake's base URL")]
Token = Annotated[str | None, typer.Option("--token", envvar="NIANBAO_TOKEN", help="bearer token")]
AsJson = Annotated[bool, typer.Option("--json", help="print the server's JSON answer")]
Wait = Annotated[bool, typer.Option("--wait/--no-wait", help="wait for the validator's verdict")]
Timeout = Annotated[float, typer.Option(help="seconds to wait for verdicts")]

console = Console(highlight=False, soft_wrap=True)
errors = Console(stderr=True, highlight=False, soft_wrap=True)


class ClientError(Exception):
    """The server could not be reached, or a local file cannot be used."""


# ---------------------------------------------------------------- HTTP


def _headers(token: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"} if token else {}


def _client(url: str, token: str | None, timeout: float = 30) -> httpx.Client:
    return httpx.Client(base_url=url.rstrip("/"), headers=_headers(token), timeout=timeout)


def _request(client: httpx.Client, method: str, path: str, **kwargs: Any) -> httpx.Response:
    try:
        return client.request(method, path, **kwargs)
    except httpx.HTTPError as exc:
        raise ClientError(f"cannot reach {client.base_url}: {exc}") from exc


@dataclass
class ReportFile:
    """A report file as sent: body, content type, and what could be read of it here."""

    body: bytes
    content_type: str
    code: str | None = None
    filled: FilledWorkbook | None = None
    #: why it cannot be read here (the server, if asked, says the same)
    problem: str | None = None


def read_report_file(path: Path) -> ReportFile:
    try:
        body = path.read_bytes()
    except OSError as exc:
        raise ClientError(f"{path}: {exc.strerror}") from exc
    if path.suffix.lower() == ".xlsx":
        try:
            filled = read_workbook(body)
        except WorkbookError as exc:
            return ReportFile(body, XLSX_MEDIA_TYPE, problem=exc.message_en)
        return ReportFile(body, XLSX_MEDIA_TYPE, report_code(filled.report), filled)
    try:
        raw = json.loads(body)
    except (ValueError, RecursionError) as exc:
        return ReportFile(body, "application/json", problem=f"not valid JSON: {exc}")
    code = report_code(raw) if isinstance(raw, dict) else None
    return ReportFile(body, "application/json", code)


def _issue_lines(issues: list[dict[str, Any]], filled: FilledWorkbook | None) -> list[str]:
    lines = []
    for issue in issues:
        cells = issue.get("cells") or (
            [c for p in issue.get("paths", []) for c in filled.cells_of(p)] if filled else []
        )
        where = ", ".join(issue.get("paths", []))
        if cells and "单元格" not in issue.get("message_zh", ""):
            where += f" [{', '.join(cells)}]"
        mark = "✗" if issue.get("severity") == "error" else "!"
        lines.append(f"  {mark} {issue.get('rule_id')} {where}")
        lines.append(f"      {issue.get('message_zh')}")
        lines.append(f"      {issue.get('message_en')}")
    return lines


def _print_problem(response: httpx.Response, filled: FilledWorkbook | None = None) -> None:
    try:
        problem = response.json()
    except ValueError:
        errors.print(f"HTTP {response.status_code}: {response.text[:500]}")
        return
    errors.print(
        f"HTTP {response.status_code} {problem.get('error', '')}: "
        f"{problem.get('message_zh', '')} / {problem.get('message_en', '')}"
    )
    for line in _issue_lines(problem.get("issues", []), filled):
        errors.print(line)


def _print_receipt(receipt: dict[str, Any], filled: FilledWorkbook | None = None) -> None:
    stages = " → ".join(s["stage"] for s in receipt.get("stages", []))
    console.print(
        f"receipt {receipt['receipt_id']}  {receipt['form']} {receipt['code']} "
        f"{receipt['year']} v{receipt['version']}"
        + ("  (duplicate of an earlier identical report)" if receipt.get("duplicate") else "")
    )
    console.print(f"  stage     {receipt['stage']}  ({stages})")
    console.print(f"  status    {receipt['status_url']}")
    if receipt.get("standing"):
        console.print(f"  standing  {receipt['standing'].get('status')}")
    for url in receipt.get("urls", []):
        console.print(f"  page      {url}")
    for line in _issue_lines(receipt.get("errors", []) + receipt.get("warnings", []), filled):
        console.print(line)


def _wait_for_verdict(
    client: httpx.Client, receipt: dict[str, Any], timeout: float
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while receipt.get("outcome") not in FINAL and time.monotonic() < deadline:
        time.sleep(0.2)
        response = _request(client, "GET", f"/v1/receipts/{receipt['receipt_id']}")
        if response.status_code == 200:
            receipt = response.json()
    return receipt


def _fail(exc: Exception, code: int = 2) -> typer.Exit:
    errors.print(f"error: {exc}")
    return typer.Exit(code)


# ---------------------------------------------------------------- submit, status


def submit(
    file: Annotated[Path, typer.Argument(help="a report: .json, or a filled .xlsx template")],
    url: Url = DEFAULT_URL,
    token: Token = None,
    wait: Wait = True,
    timeout: Timeout = 60,
    as_json: AsJson = False,
) -> None:
    """File one report (JSON or a filled Excel template).

    Exit 0 accepted (or submitted, with --no-wait), 1 refused or rejected, 2 file unreadable or
    server unreachable.
    """
    try:
        report = read_report_file(file)
        filled = report.filled
        with _client(url, token) as client:
            response = _request(
                client,
                "POST",
                "/v1/reports",
                content=report.body,
                headers={"content-type": report.content_type},
            )
            if response.status_code != 202:
                if as_json:
                    console.print_json(response.text)
                else:
                    _print_problem(response, filled)
                raise typer.Exit(1)
            receipt = response.json()
            if wait:
                receipt = _wait_for_verdict(client, receipt, timeout)
    except ClientError as exc:
        raise _fail(exc) from None
    if as_json:
        console.print_json(json.dumps(receipt, ensure_ascii=False))
    else:
        _print_receipt(receipt, filled)
        if wait and receipt.get("outcome") not in FINAL:
            errors.print(f"no verdict within {timeout:g} s; ask later: nianbao status ...")
    if receipt.get("outcome") == "rejected" or (wait and receipt.get("outcome") not in FINAL):
        raise typer.Exit(1)


def status(
    receipt: Annotated[str, typer.Argument(help="the receipt id a submission returned")],
    url: Url = DEFAULT_URL,
    token: Token = None,
    as_json: AsJson = False,
) -> None:
    """Where a submission stands, with its errors, warnings and page URLs.

    Stages: submitted → accepted | rejected → aggregated → published. Exit 1 when not found.
    """
    try:
        with _client(url, token) as client:
            response = _request(client, "GET", f"/v1/receipts/{receipt}")
    except ClientError as exc:
        raise _fail(exc) from None
    if response.status_code != 200:
        _print_problem(response)
        raise typer.Exit(1)
    if as_json:
        console.print_json(response.text)
    else:
        _print_receipt(response.json())


# ---------------------------------------------------------------- bulk


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
    headers = {"content-type": report.content_type, **_headers(chosen)}
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
        response = await client.get(f"/v1/receipts/{rid}", headers=_headers(chosen))
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
        raise _fail(ClientError(f"{directory} is not a directory"))
    by_code: dict[str, str] = {}
    if tokens is not None:
        try:
            by_code = dict(json.loads(tokens.read_text(encoding="utf-8")))
        except (OSError, ValueError) as exc:
            raise _fail(ClientError(f"{tokens}: {exc}")) from None
    files = _report_files(directory)
    if not files:
        raise _fail(ClientError(f"no .json or .xlsx file under {directory}"))
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


# ---------------------------------------------------------------- template


def template(
    form: Annotated[str, typer.Argument(help="work-report or supervision-report")],
    out: Annotated[Path, typer.Option("--out", "-o", help="the .xlsx file to write")],
    url: Url = DEFAULT_URL,
    token: Token = None,
    year: Annotated[int | None, typer.Option(help="report year (default: the one due)")] = None,
    records: Annotated[
        int, typer.Option(min=1, max=50, help="empty rows per table")
    ] = RECORDS_ROWS,
    offline: Annotated[
        bool, typer.Option(help="build it here, without the server (no registry prefill)")
    ] = False,
    from_report: Annotated[
        Path | None,
        typer.Option(help="offline: a JSON report to fill the workbook with (JSON → Excel)"),
    ] = None,
) -> None:
    """Download the Excel template of a form.

    From the server, a site or office token prefills the header block from the registry;
    --offline (or --from-report) builds it locally.
    """
    if offline or from_report is not None:
        try:
            defn = load_form(form)
            values: dict[str, Any] = {} if year is None else {"year": year}
            if from_report is not None:
                values = json.loads(from_report.read_text(encoding="utf-8"))
            data = build_template(defn, values, records)
        except (KeyError, OSError, ValueError) as exc:
            raise _fail(exc) from None
    else:
        params: dict[str, Any] = {"records": records}
        if year is not None:
            params["year"] = year
        try:
            with _client(url, token) as client:
                response = _request(client, "GET", f"/v1/templates/{form}.xlsx", params=params)
        except ClientError as exc:
            raise _fail(ClientError(f"{exc} (--offline builds it without the server)")) from None
        if response.status_code != 200:
            _print_problem(response)
            raise typer.Exit(1)
        data = response.content
    out.write_bytes(data)
    console.print(f"wrote {out} ({len(data)} bytes)")


# ---------------------------------------------------------------- registry

registry_app = typer.Typer(
    help="The site registry on the server (operator token): import with a dry run, export.",
    no_args_is_help=True,
)
RESTART_NOTE = (
    "registry saved: restart intake, validator, aggregator and publisher to apply it "
    "(each reads the registry at start)"
)


def _changes_table(diff: dict[str, Any]) -> Table:
    table = Table(title="dry run: what would change" if diff["dry_run"] else "changes")
    for column in ("kind", "change", "code", "fields"):
        table.add_column(column, overflow="fold")
    for kind in ("sites", "nodes"):
        part = diff[kind]
        for code in part["added"]:
            table.add_row(kind, "[green]added[/]", code, "")
        for code in part["removed"]:
            table.add_row(kind, "[red]removed[/]", code, "")
        for changed in part["changed"]:
            fields = "; ".join(f"{k}: {a!r} → {b!r}" for k, (a, b) in changed["fields"].items())
            table.add_row(kind, "[yellow]changed[/]", changed["code"], fields)
    return table


@registry_app.command("import")
def registry_import(
    file: Annotated[
        Path, typer.Argument(help="registry JSON, or sites.csv (with nodes.csv beside it)")
    ],
    url: Url = DEFAULT_URL,
    token: Token = None,
    dry_run: Annotated[bool, typer.Option(help="show what would change; change nothing")] = False,
    as_json: AsJson = False,
) -> None:
    """Replace the registry on the server (JSON or CSV); --dry-run shows what would change.

    Prints the sites and nodes added, removed and changed. Exit 1 when the registry is refused
    (every problem is listed). The services read the registry at start: restart them to apply.
    """
    from services.intake.registry_api import registry_body
    from shared.registry import RegistryError
    from shared.runtime.registry_files import load_registry

    try:
        registry = load_registry(file)
    except RegistryError as exc:
        errors.print(f"{file}: the registry is inconsistent; nothing was sent")
        for problem in exc.problems:
            errors.print(f"  ✗ {problem}")
        raise typer.Exit(1) from None
    try:
        with _client(url, token, timeout=120) as client:
            response = _request(
                client,
                "PUT",
                "/v1/registry",
                params={"dry_run": str(dry_run).lower()},
                json=registry_body(registry),
            )
    except ClientError as exc:
        raise _fail(exc) from None
    if response.status_code != 200:
        _print_problem(response)
        raise typer.Exit(1)
    diff = response.json()
    if as_json:
        console.print_json(response.text)
        return
    console.print(_changes_table(diff))
    console.print(f"{diff['message_zh']}\n{diff['message_en']}")
    if diff["applied"]:
        console.print(f"[bold]{RESTART_NOTE}[/] (file: {diff['file']})")


@registry_app.command("export")
def registry_export(
    file: Annotated[Path, typer.Argument(help="write here: .json, or .csv (plus nodes.csv)")],
    url: Url = DEFAULT_URL,
    token: Token = None,
) -> None:
    """Write the server's registry to a JSON or CSV file.

    The registry as stored: what the services use after their next start.
    """
    from shared.registry.model import Node, Site
    from shared.registry.validation import checked_registry
    from shared.runtime.registry_files import dump_registry

    try:
        with _client(url, token, timeout=120) as client:
            response = _request(client, "GET", "/v1/registry")
    except ClientError as exc:
        raise _fail(exc) from None
    if response.status_code != 200:
        _print_problem(response)
        raise typer.Exit(1)
    body = response.json()
    registry = checked_registry(
        [Node.model_validate(n) for n in body["nodes"]],
        [Site.model_validate(s) for s in body["sites"]],
    )
    dump_registry(registry, file)
    console.print(f"wrote {file}: {len(registry.sites)} sites, {len(registry.nodes)} nodes")


def register(app: typer.Typer) -> None:
    """Add the client commands to the ``nianbao`` command."""
    app.command()(submit)
    app.command()(status)
    app.command()(bulk)
    app.command()(template)
    app.add_typer(registry_app, name="registry")
