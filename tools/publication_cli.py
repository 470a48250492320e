"""Client commands of the publication duty: declare, publications, judge, recheck, evidence."""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Annotated, Any

import httpx
import typer

from tools.intake_client import (
    DEFAULT_URL,
    AsJson,
    ClientError,
    Token,
    Url,
    connect,
    console,
    fail,
    print_problem,
    request,
)

Year = Annotated[int, typer.Argument(help="reporting year, e.g. 2026")]


class Kind(StrEnum):
    report = "report"
    catalogue = "catalogue"
    column = "column"


class Verdict(StrEnum):
    verified = "verified"
    not_published = "not_published"


def _call(
    url: str, token: str | None, method: str, path: str, ok: tuple[int, ...], **kw: Any
) -> Any:
    try:
        with connect(url, token) as client:
            response = request(client, method, path, **kw)
    except ClientError as exc:
        raise fail(exc) from None
    if response.status_code not in ok:
        print_problem(response)
        raise typer.Exit(1)
    return response.json()


def declare(
    code: Annotated[str, typer.Argument(help="your site code, or your office's node code")],
    year: Year,
    url_declared: Annotated[str, typer.Argument(metavar="URL", help="where it is published")],
    kind: Annotated[Kind, typer.Option(help="report | catalogue | column")] = Kind.report,
    url: Url = DEFAULT_URL,
    token: Token = None,
    as_json: AsJson = False,
) -> None:
    """Declare where a report (site), a supervision report in the 政府信息公开目录 (catalogue)
    or the 专栏 (column) is published. A changed URL is a new declaration."""
    body = _call(
        url,
        token,
        "PUT",
        f"/v1/publications/{code}/{year}/{kind.value}",
        (200, 201),
        json={"url": url_declared},
    )
    if as_json:
        console.print_json(json.dumps(body, ensure_ascii=False))
    else:
        console.print(f"declared {body['kind']} {body['code']} {body['year']}: {body['url']}")


def publications(
    code: Annotated[str, typer.Argument(help="site or node code")],
    year: Year,
    url: Url = DEFAULT_URL,
    token: Token = None,
    as_json: AsJson = False,
) -> None:
    """Every declaration (the last of each kind is in force) and every office judgement."""
    body = _call(url, token, "GET", f"/v1/publications/{code}/{year}", (200,))
    if as_json:
        console.print_json(json.dumps(body, ensure_ascii=False))
        return
    for d in body["declarations"]:
        console.print(f"{d['at']}  {d['kind']:<9} {d['url']}  (by {d['declared_by']})")
    for j in body["judgements"]:
        console.print(f"{j['at']}  judged {j['verdict']} by {j['office']}: {j['reason']}")


def judge(
    code: Annotated[str, typer.Argument(help="a site below your office")],
    year: Year,
    verdict: Annotated[Verdict, typer.Option(help="verified | not_published")],
    reason: Annotated[str, typer.Option(help="认定理由 (kept in the audit record)")],
    url: Url = DEFAULT_URL,
    token: Token = None,
) -> None:
    """Record your office's own judgement of a site's publication."""
    body = _call(
        url,
        token,
        "POST",
        f"/v1/publications/{code}/{year}/judgement",
        (201,),
        json={"verdict": verdict.value, "reason": reason},
    )
    console.print(f"judged {body['code']} {body['verdict']} ({body['judgement_id']})")


def recheck(
    node: Annotated[str, typer.Argument(help="your office's node, or one below it")],
    year: Year,
    url: Url = DEFAULT_URL,
    token: Token = None,
) -> None:
    """Re-check every publication of the node's subtree now (refused while one runs)."""
    body = _call(url, token, "POST", f"/v1/publications/{node}/{year}/recheck", (202,))
    console.print(f"re-check of {node} started: {body.get('queued', '?')} publications queued")


def evidence(
    code: Annotated[str, typer.Argument(help="site or node code")],
    year: Year,
    verifier_url: Annotated[
        str, typer.Option(envvar="NIANBAO_VERIFIER_URL", help="the verifier's HTTP port")
    ] = "http://127.0.0.1:8005",
    as_json: AsJson = False,
) -> None:
    """What the verifier fetched for a site or office, when, and what it found or missed."""
    try:
        response = httpx.get(f"{verifier_url.rstrip('/')}/v1/evidence/{code}/{year}", timeout=30)
    except httpx.HTTPError as exc:
        raise fail(ClientError(f"cannot reach {verifier_url}: {exc}")) from None
    if response.status_code != 200:
        console.print(response.text)
        raise typer.Exit(1)
    body = response.json()
    if as_json:
        console.print_json(json.dumps(body, ensure_ascii=False))
        return
    for check in body["checks"]:
        console.print(
            f"{check['checked_at']}  {check['kind']:<9} {check['state']:<16} {check['url']}"
        )
        for finding in check["findings"]:
            console.print(f"    - {finding['message_zh']} ({finding['message_en']})")
        for f in check["fetches"]:
            console.print(
                f"    GET {f['url']} -> {f['status']} {f['final_url']} {f['size']} B "
                f"{f['charset'] or ''} sha256={(f['sha256'] or '')[:16]} {f['error'] or ''}"
            )


def register(app: typer.Typer) -> None:
    for command in (declare, publications, judge, recheck, evidence):
        app.command()(command)
