"""Client commands of ``nianbao``: submit, status, bulk, template, registry import/export.

Each talks to a running intake over HTTP; the server URL and bearer token come from ``--url`` /
``--token`` or the environment (``NIANBAO_URL``, ``NIANBAO_TOKEN``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from shared.excel import RECORDS_ROWS, build_template
from shared.forms import load_form
from tools.bulk_load import Filing, bulk
from tools.intake_client import (
    DEFAULT_URL,
    FINAL,
    AsJson,
    ClientError,
    ReportFile,
    Timeout,
    Token,
    Url,
    Wait,
    connect,
    console,
    errors,
    fail,
    print_problem,
    print_receipt,
    read_report_file,
    request,
    wait_for_verdict,
)
from tools.registry_cli import APPLIED_NOTE, registry_app, registry_export, registry_import


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
        with connect(url, token) as client:
            response = request(
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
                    print_problem(response, filled)
                raise typer.Exit(1)
            receipt = response.json()
            if wait:
                receipt = wait_for_verdict(client, receipt, timeout)
    except ClientError as exc:
        raise fail(exc) from None
    if as_json:
        console.print_json(json.dumps(receipt, ensure_ascii=False))
    else:
        print_receipt(receipt, filled)
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
        with connect(url, token) as client:
            response = request(client, "GET", f"/v1/receipts/{receipt}")
    except ClientError as exc:
        raise fail(exc) from None
    if response.status_code != 200:
        print_problem(response)
        raise typer.Exit(1)
    if as_json:
        console.print_json(response.text)
    else:
        print_receipt(response.json())


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
            raise fail(exc) from None
    else:
        params: dict[str, Any] = {"records": records}
        if year is not None:
            params["year"] = year
        try:
            with connect(url, token) as client:
                response = request(client, "GET", f"/v1/templates/{form}.xlsx", params=params)
        except ClientError as exc:
            raise fail(ClientError(f"{exc} (--offline builds it without the server)")) from None
        if response.status_code != 200:
            print_problem(response)
            raise typer.Exit(1)
        data = response.content
    out.write_bytes(data)
    console.print(f"wrote {out} ({len(data)} bytes)")


def register(app: typer.Typer) -> None:
    """Add the client commands to the ``nianbao`` command."""
    app.command()(submit)
    app.command()(status)
    app.command()(bulk)
    app.command()(template)
    app.add_typer(registry_app, name="registry")


__all__ = [
    "APPLIED_NOTE",
    "DEFAULT_URL",
    "FINAL",
    "ClientError",
    "Filing",
    "ReportFile",
    "bulk",
    "read_report_file",
    "register",
    "registry_app",
    "registry_export",
    "registry_import",
    "status",
    "submit",
    "template",
]
