"""Talking to a running intake: the common options, requests, report files, printed answers."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from rich.console import Console

from shared.excel import XLSX_MEDIA_TYPE, FilledWorkbook, WorkbookError, read_workbook
from shared.forms import report_code

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


def auth_headers(token: str | None) -> dict[str, str]:
    """The bearer token header, if there is a token."""
    return {"Authorization": f"Bearer {token}"} if token else {}


def connect(url: str, token: str | None, timeout: float = 30) -> httpx.Client:
    """An HTTP client of the intake at ``url``, sending the token."""
    return httpx.Client(base_url=url.rstrip("/"), headers=auth_headers(token), timeout=timeout)


def request(client: httpx.Client, method: str, path: str, **kwargs: Any) -> httpx.Response:
    """One request; ClientError when the server cannot be reached."""
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
    """A report file as it will be sent, read here as far as it can be (ClientError if not)."""
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


def issue_lines(issues: list[dict[str, Any]], filled: FilledWorkbook | None) -> list[str]:
    """Issues as printed lines, with the cells of a workbook they point at."""
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


def print_problem(response: httpx.Response, filled: FilledWorkbook | None = None) -> None:
    """Print a refusal (a problem document, or whatever the server said) to stderr."""
    try:
        problem = response.json()
    except ValueError:
        errors.print(f"HTTP {response.status_code}: {response.text[:500]}")
        return
    errors.print(
        f"HTTP {response.status_code} {problem.get('error', '')}: "
        f"{problem.get('message_zh', '')} / {problem.get('message_en', '')}"
    )
    for line in issue_lines(problem.get("issues", []), filled):
        errors.print(line)


def print_receipt(receipt: dict[str, Any], filled: FilledWorkbook | None = None) -> None:
    """Print a receipt: its stage, status URL, standing, pages, errors and warnings."""
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
    for line in issue_lines(receipt.get("errors", []) + receipt.get("warnings", []), filled):
        console.print(line)


def wait_for_verdict(
    client: httpx.Client, receipt: dict[str, Any], timeout: float
) -> dict[str, Any]:
    """The receipt once it has a verdict, or as it stands after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while receipt.get("outcome") not in FINAL and time.monotonic() < deadline:
        time.sleep(0.2)
        response = request(client, "GET", f"/v1/receipts/{receipt['receipt_id']}")
        if response.status_code == 200:
            receipt = response.json()
    return receipt


def fail(exc: Exception, code: int = 2) -> typer.Exit:
    """Print the error; the exit to raise."""
    errors.print(f"error: {exc}")
    return typer.Exit(code)
