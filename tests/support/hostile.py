"""A corpus of hostile HTTP requests against the intake: broken bodies, wrong types, huge and
negative numbers, deep nesting, oversized and mis-encoded bodies, other content types (a zip
bomb among them), and injection attempts in every string that becomes a subject, a file name or
a query."""

from __future__ import annotations

import asyncio
import copy
import io
import json
import sqlite3
import struct
import zipfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import asyncpg

from shared.excel import XLSX_MEDIA_TYPE, build_template
from shared.forms import load_form
from shared.registry.demo import demo_registry
from tests.support.databases import asyncpg_dsn
from tests.support.excel import (
    dense_sheet,
    with_huge_number,
    with_records_range,
    with_text_cell,
)
from tests.support.forms import field_paths, put
from tests.support.reports import DATA, work_report_for
from tools.launcher import System

SITE = "1100000088"  # 北京市人民政府: its token files the corpus
OFFICE = "110000"  # 北京市: its token reviews
JSON = "application/json"

#: strings that would change a subject's shape, escape a directory, break a query or a page
INJECTIONS = (
    "../../etc/passwd",
    "..%2F..%2Fetc%2Fpasswd",
    "%2e%2e",
    "..",
    ".",
    "*",
    ">",
    "nianbao.>",
    "a.b",
    "a b",
    "a\x00b",
    "1100000088\n2",
    "1100000088\u200b",  # zero-width space: not trimmed
    "' OR '1'='1",
    "1100000088'; DROP TABLE intake_receipts;--",
    '"; DELETE FROM intake_tokens; --',
    "<script>alert(1)</script>",
    "javascript:alert(1)",
    "１１０００００００８８",  # full-width digits
    "x" * 300,
    "",
)
#: what a year could be sent as, in a path or a query
YEARS = ("2026 OR 1=1", "1e400", "-1", "99999999999999999999", "2026.5", "0x7ea", "２０２６", "")


@dataclass(frozen=True)
class Hostile:
    name: str
    method: str
    path: str
    body: bytes | None = None
    content_type: str | None = None
    #: "site", "office", "operator", None (no header), or a raw Authorization value
    auth: str | None = "site"
    #: sent in chunks, without a Content-Length
    stream: bool = False


def report(year: int) -> dict[str, Any]:
    return work_report_for(demo_registry().sites[SITE], year)


def encoded(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False).encode()


def setting(doc: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    changed = copy.deepcopy(doc)
    *parents, last = path.split(".")
    node = changed
    for key in parents:
        node = node[key]
    node[last] = value
    return changed


def raw_number(doc: dict[str, Any], path: str, literal: str) -> bytes:
    """The document with one number spelled as ``literal`` (1e400, NaN, 10**30 ...)."""
    marker = "__nianbao_number__"
    return encoded(setting(doc, path, marker)).replace(f'"{marker}"'.encode(), literal.encode())


def bodies(year: int) -> Iterator[Hostile]:
    """Hostile bodies of POST /v1/reports, with a valid site token."""
    good = report(year)
    text = encoded(good)

    def post(name: str, body: bytes, content_type: str | None = JSON, **kw: Any) -> Hostile:
        return Hostile(name, "POST", "/v1/reports", body, content_type, **kw)

    # malformed and truncated JSON
    for name, body in {
        "empty": b"",
        "open brace": b"{",
        "null": b"null",
        "array": b"[]",
        "string": b'"report"',
        "number": b"42",
        "python dict": b"{'form': 'work-report'}",
        "trailing comma": b'{"form": "work-report",}',
        "two documents": text + text,
        "comment": b"/* hi */" + text,
    }.items():
        yield post(f"malformed JSON: {name}", body)
    for cut in (1, 17, len(text) // 3, len(text) // 2, len(text) - 1):
        yield post(f"truncated JSON at byte {cut}", text[:cut])
    # wrong types
    for path, value in (
        ("form", 123),
        ("form_version", 2018),
        ("year", str(year)),
        ("site", []),
        ("traffic", "many"),
        ("traffic.page_views", "146205377"),
        ("traffic.page_views", [1]),
        ("traffic.unique_visitors", {"n": 1}),
        ("traffic.unique_visitors", True),
        ("interaction.smart_qa", "是"),
        ("interaction.messages.avg_days", "4.6"),
        ("site.name", 88),
        ("site.homepage_url", ["https://www.beijing.gov.cn"]),
    ):
        yield post(f"wrong type: {path}={value!r}", encoded(setting(good, path, value)))
    yield post("unknown field", encoded(setting(good, "traffic.extra", 1)))
    # huge, non-finite and negative numbers
    for path in ("traffic.page_views", "year", "interaction.messages.avg_days"):
        for literal in ("1e400", "-1e400", "NaN", "Infinity", "-Infinity", str(10**30), "1e308"):
            yield post(f"number {path}={literal}", raw_number(good, path, literal))
    for path in ("traffic.page_views", "info.total", "services.cases.total", "year"):
        yield post(f"negative {path}", encoded(setting(good, path, -1)))
    yield post("float count", encoded(setting(good, "traffic.page_views", 1.5)))
    # deep nesting, oversized
    yield post("nested arrays 10,000 deep", b"[" * 10_000 + b"]" * 10_000)
    yield post("nested objects 10,000 deep", b'{"a":' * 10_000 + b"1" + b"}" * 10_000)
    deep = raw_number(good, "site.name", '{"x":' * 10_000 + "1" + "}" * 10_000)
    yield post("a field nested 10,000 deep", deep)
    yield post("oversized 300 KiB", encoded(setting(good, "site.name", "名" * 100_000)))
    yield post("oversized 300 KiB, streamed", b" " * (300 * 1024), stream=True)
    yield post("records over the limit", encoded(setting(good, "new_media.other", [{}] * 5000)))
    # invalid UTF-8 and other encodings
    yield post("invalid UTF-8 byte", text.replace(b"https", b"\xffhttps", 1))
    yield post("overlong UTF-8", text.replace(b"https", b"\xc0\xafhttps", 1))
    yield post("UTF-16", json.dumps(good).encode("utf-16"))
    yield post(
        "GBK declared",
        json.dumps(good, ensure_ascii=False).encode("gbk"),
        "application/json; charset=gbk",
    )
    yield post("lone surrogate in a name", text.replace(b'"name": "', b'"name": "\\ud800', 1))
    # other content types
    for content_type in (
        "text/plain",
        "text/html",
        "application/xml",
        "application/x-www-form-urlencoded",
        "application/octet-stream",
        "application/vnd.ms-excel",
        None,
    ):
        yield post(f"content type {content_type}", text, content_type)
    boundary = "nianbao-boundary"
    multipart = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="r.json"\r\n'
            f"Content-Type: application/json\r\n\r\n"
        ).encode()
        + text
        + f"\r\n--{boundary}--\r\n".encode()
    )
    yield post("multipart upload", multipart, f"multipart/form-data; boundary={boundary}")
    for name, body in workbooks(year).items():
        yield post(f"xlsx: {name}", body, XLSX_MEDIA_TYPE)


def injections(year: int) -> Iterator[Hostile]:
    """Injection attempts in every string that becomes a subject, a file name or a query."""
    good = report(year)
    office = office_report(year)
    for value in INJECTIONS:
        shown = repr(value)[:40]
        yield Hostile(
            f"site_code {shown}",
            "POST",
            "/v1/reports",
            encoded(setting(good, "site.site_code", value)),
            JSON,
        )
        yield Hostile(
            f"office.code {shown}",
            "POST",
            "/v1/reports",
            encoded(setting(office, "office.code", value)),
            JSON,
            auth="office",
        )
        for key in ("form", "form_version"):
            yield Hostile(
                f"{key} {shown}", "POST", "/v1/reports", encoded(setting(good, key, value)), JSON
            )
        segment = quote(value, safe="") or "%20"
        raw = quote(value, safe="/%") or "%20"
        for shape in (segment, raw):
            yield Hostile(f"GET receipt {shape[:40]}", "GET", f"/v1/receipts/{shape}")
            yield Hostile(
                f"return receipt {shape[:40]}",
                "POST",
                f"/v1/receipts/{shape}/return",
                encoded({"reason": "请更正"}),
                JSON,
                auth="office",
            )
            yield Hostile(
                f"approve receipt {shape[:40]}",
                "POST",
                f"/v1/receipts/{shape}/approve",
                auth="office",
            )
            yield Hostile(f"GET site {shape[:40]}", "GET", f"/v1/sites/{shape}", auth=None)
            yield Hostile(f"GET node {shape[:40]}", "GET", f"/v1/nodes/{shape}", auth=None)
            yield Hostile(
                f"filing code {shape[:40]}", "GET", f"/v1/filings/{shape}/work-report/{year}"
            )
            yield Hostile(f"filing form {shape[:40]}", "GET", f"/v1/filings/{SITE}/{shape}/{year}")
            yield Hostile(
                f"unlock code {shape[:40]}",
                "POST",
                f"/v1/filings/{shape}/work-report/{year}/unlock",
                auth="office",
            )
            yield Hostile(
                f"deadline node {shape[:40]}",
                "PUT",
                f"/v1/deadlines/{year}/{shape}",
                encoded({"deadline": f"{year + 1}-01-20T23:59:59+08:00"}),
                JSON,
                auth="office",
            )
            yield Hostile(
                f"template form {shape[:40]}", "GET", f"/v1/templates/{shape}.xlsx", auth=None
            )
        yield Hostile(
            f"return paths {shown}",
            "POST",
            "/v1/receipts/0123456789abcdef/return",
            encoded({"reason": "请更正", "paths": [value]}),
            JSON,
            auth="office",
        )
    for year_text in YEARS:
        y = quote(year_text, safe="") or "%20"
        yield Hostile(f"filing year {year_text!r}", "GET", f"/v1/filings/{SITE}/work-report/{y}")
        yield Hostile(
            f"unlock year {year_text!r}",
            "POST",
            f"/v1/filings/{SITE}/work-report/{y}/unlock",
            auth="office",
        )
        yield Hostile(
            f"deadline year {year_text!r}",
            "PUT",
            f"/v1/deadlines/{y}/{OFFICE}",
            encoded({"deadline": f"{year + 1}-01-20T23:59:59+08:00"}),
            JSON,
            auth="office",
        )
        yield Hostile(
            f"template year {year_text!r}", "GET", f"/v1/templates/work-report.xlsx?year={y}"
        )
        yield Hostile(
            f"template records {year_text!r}",
            "GET",
            f"/v1/templates/work-report.xlsx?records={y}",
        )
        yield Hostile(
            f"report year {year_text!r}",
            "POST",
            "/v1/reports",
            encoded(setting(good, "year", year_text)),
            JSON,
        )


def review_bodies(year: int) -> Iterator[Hostile]:
    """Bad bodies of the review, deadline and registry endpoints."""
    receipt = "/v1/receipts/0123456789abcdef0123456789abcdef/return"
    for name, body in {
        "reason too long": {"reason": "改" * 501},
        "reason empty": {"reason": ""},
        "reason null": {"reason": None},
        "reason a number": {"reason": 1e308},
        "extra field": {"reason": "请更正", "office": "CN"},
        "too many paths": {"reason": "请更正", "paths": ["traffic"] * 101},
    }.items():
        yield Hostile(f"return: {name}", "POST", receipt, encoded(body), JSON, auth="office")
    yield Hostile("return: not JSON", "POST", receipt, b"{", JSON, auth="office")
    deadline = f"/v1/deadlines/{year}/{OFFICE}"
    for value in (
        "not a date",
        f"{year}-13-45T00:00:00+08:00",
        f"{year}-12-01T00:00:00",  # no offset
        "99999-01-01T00:00:00+08:00",
        f"{year + 5}-01-01T00:00:00+08:00",  # after the national deadline
        1e400,
        None,
    ):
        body = raw_number({"deadline": 0}, "deadline", "1e400") if value == 1e400 else None
        yield Hostile(
            f"deadline {value!r}",
            "PUT",
            deadline,
            body or encoded({"deadline": value}),
            JSON,
            auth="office",
        )
    registry = "/v1/registry"
    for name, body in {
        "not JSON": b"{",
        "nested 10,000 deep": b"[" * 10_000 + b"]" * 10_000,
        "empty object": b"{}",
        "site code traversal": encoded(
            {
                "nodes": [{"code": "CN", "name": "全国", "level": "national", "tree": "admin"}],
                "sites": [
                    {
                        "code": "../../etc/passwd",
                        "name": "x",
                        "homepage_url": "https://x.gov.cn",
                        "sponsor": "x",
                        "type": "portal",
                        "node": "CN",
                    }
                ],
            }
        ),
        "node code wildcard": encoded(
            {"nodes": [{"code": "*", "name": "全国", "level": "national", "tree": "admin"}]}
        ),
    }.items():
        yield Hostile(f"registry: {name}", "PUT", registry, body, JSON, auth="operator")
    yield Hostile(
        "registry: dry_run=maybe", "PUT", f"{registry}?dry_run=maybe", b"{}", JSON, auth="operator"
    )


def auth_headers() -> Iterator[Hostile]:
    """Authorization headers that are not a valid bearer token."""
    body = encoded(report(2026))
    for name, value in {
        "basic": "Basic dXNlcjpwYXNz",
        "bearer only": "Bearer",
        "bearer ideographic space": "Bearer \u3000",
        "sql in token": "Bearer ' OR 1=1 --",
        "huge token": "Bearer " + "a" * 60_000,
        "wildcard": "Bearer *",
        "unicode": "Bearer 令牌",
    }.items():
        yield Hostile(f"authorization: {name}", "POST", "/v1/reports", body, JSON, auth=value)


def workbooks(year: int) -> dict[str, bytes]:
    """Bodies sent as xlsx: garbage, a zip that is no workbook, zip bombs."""
    out = {
        "garbage": b"PK\x03\x04 this is not a workbook" * 10,
        "empty": b"",
        "random bytes": bytes(range(256)) * 8,
    }
    plain = io.BytesIO()
    with zipfile.ZipFile(plain, "w") as archive:
        archive.writestr("hello.txt", "not a workbook")
    out["a zip that is no workbook"] = plain.getvalue()
    honest, lying = zip_bombs(year)
    out["zip bomb (declares 120 MiB)"] = honest
    out["zip bomb (declares 4 KiB, holds 120 MiB)"] = lying
    template = build_template(load_form("work-report"), {"year": year}, 3)
    out["truncated template"] = template[: len(template) // 2]
    filled = report(year)
    filled["traffic"]["page_views"] = 424242
    filled_template = build_template(load_form("work-report"), filled)
    out["a cell-dense sheet (4 MiB of cells)"] = dense_sheet(filled_template)
    out["a records range of 300,000 rows"] = with_records_range(filled_template, "C100:G300099")
    out["a count cell of 5,000 digits"] = with_huge_number(filled_template, 424242)
    for name, char in UNSAFE_CHARS.items():
        out[f"{name} in a text cell"] = with_text_cell(filled_template, "site.sponsor", char)
    return out


def zip_bombs(year: int) -> tuple[bytes, bytes]:
    """A real template whose sheet XML unpacks to 120 MiB (within the 256 KiB body limit): once
    with its true size in the zip headers, once with the headers lying about it."""
    template = build_template(load_form("work-report"), {"year": year}, 3)
    source = zipfile.ZipFile(io.BytesIO(template))
    out = io.BytesIO()
    bomb = ""
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for info in source.infolist():
            data = source.read(info)
            if info.filename.startswith("xl/worksheets/sheet1") and not bomb:
                bomb = info.filename
                end = b"</worksheet>"
                data = data[: -len(end)] + b" " * (120 * 2**20) + end
            archive.writestr(info.filename, data)
    honest = out.getvalue()
    lying = bytearray(honest)
    header = zipfile.ZipFile(io.BytesIO(honest)).getinfo(bomb).header_offset
    struct.pack_into("<I", lying, header + 22, 4096)  # local header: uncompressed size
    at = lying.find(b"PK\x01\x02")
    while at != -1:  # central directory entries
        length = struct.unpack_from("<H", lying, at + 28)[0]
        if bytes(lying[at + 46 : at + 46 + length]).decode() == bomb:
            struct.pack_into("<I", lying, at + 24, 4096)
        at = lying.find(b"PK\x01\x02", at + 4)
    return honest, bytes(lying)


#: characters no text field takes: NUL and other C0 controls, a lone surrogate, bidi controls
UNSAFE_CHARS = {
    "NUL": "\x00",
    "BEL": "\x07",
    "ESC": "\x1b",
    "lone surrogate": "\ud800",
    "RLO": "\u202e",
    "LRI": "\u2066",
}
#: an integer literal longer than Python reads (4,300 digits)
HUGE = "9" * 5000


def escaped(value: Any) -> bytes:
    """JSON with every non-ASCII character escaped (a lone surrogate cannot be UTF-8)."""
    return json.dumps(value, ensure_ascii=True).encode()


def office_report(year: int) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(
        (DATA / "supervision-report" / "clean.json").read_text(encoding="utf-8")
    )
    doc["year"] = year
    return doc


def unsafe_text(year: int) -> Iterator[Hostile]:
    """Every text field of both forms (records items included) holding each unsafe character,
    and a number too long for Python in every numeric field."""
    for form, good, auth in (
        ("work-report", report(year), "site"),
        ("supervision-report", office_report(year), "office"),
    ):
        for path in field_paths(form, ("text", "url")):
            for name, char in UNSAFE_CHARS.items():
                value = f"ht{char}tps://x.gov.cn/" if path.endswith("_url") else f"北京{char}发布"
                doc = put(good, path, value)
                yield Hostile(
                    f"{name} in {form} {path}", "POST", "/v1/reports", escaped(doc), JSON, auth=auth
                )
        for path in ["year", *field_paths(form, ("count", "decimal", "percent"))]:
            doc = encoded(put(good, path, "__huge__")).replace(b'"__huge__"', HUGE.encode())
            yield Hostile(
                f"5,000 digits in {form} {path}", "POST", "/v1/reports", doc, JSON, auth=auth
            )
    yield Hostile("a bare number of 5,000 digits", "POST", "/v1/reports", HUGE.encode(), JSON)
    yield Hostile(
        "a bare negative number of 5,000 digits", "POST", "/v1/reports", b"-" + HUGE.encode(), JSON
    )
    receipt = "/v1/receipts/0123456789abcdef0123456789abcdef"
    for name, char in UNSAFE_CHARS.items():
        for action in ("return", "approve"):
            yield Hostile(
                f"{name} in a reason to {action}",
                "POST",
                f"{receipt}/{action}",
                escaped({"reason": f"请{char}更正"}),
                JSON,
                auth="office",
            )
        yield Hostile(
            f"{name} in an unlock reason",
            "POST",
            f"/v1/filings/{SITE}/work-report/{year}/unlock",
            escaped({"reason": f"请{char}更正"}),
            JSON,
            auth="office",
        )
    for action in ("return", "approve"):
        yield Hostile(
            f"a reason to {action} of 5,000 digits",
            "POST",
            f"{receipt}/{action}",
            b'{"reason": ' + HUGE.encode() + b"}",
            JSON,
            auth="office",
        )
    yield Hostile(
        "a deadline of 5,000 digits",
        "PUT",
        f"/v1/deadlines/{year}/{OFFICE}",
        b'{"deadline": ' + HUGE.encode() + b"}",
        JSON,
        auth="office",
    )
    registry = demo_registry()
    nodes = [n.model_dump(mode="json") for n in registry.nodes.values()]
    sites = [s.model_dump(mode="json") for s in registry.sites.values()]
    for name, char in UNSAFE_CHARS.items():
        for field in ("name", "sponsor", "homepage_url"):
            changed = [{**sites[0], field: sites[0][field] + char}, *sites[1:]]
            yield Hostile(
                f"registry: {name} in a site's {field}",
                "PUT",
                "/v1/registry",
                escaped({"nodes": nodes, "sites": changed}),
                JSON,
                auth="operator",
            )
        renamed = [{**nodes[0], "name": nodes[0]["name"] + char}, *nodes[1:]]
        yield Hostile(
            f"registry: {name} in a node's name",
            "PUT",
            "/v1/registry",
            escaped({"nodes": renamed, "sites": sites}),
            JSON,
            auth="operator",
        )
    huge_year = encoded({"nodes": nodes, "sites": [{**sites[0], "active_from": "__huge__"}]})
    yield Hostile(
        "registry: a year of 5,000 digits",
        "PUT",
        "/v1/registry",
        huge_year.replace(b'"__huge__"', HUGE.encode()),
        JSON,
        auth="operator",
    )
    yield Hostile(
        "registry: a bare number of 5,000 digits",
        "PUT",
        "/v1/registry",
        HUGE.encode(),
        JSON,
        auth="operator",
    )


def corpus(year: int) -> list[Hostile]:
    return [
        *bodies(year),
        *injections(year),
        *review_bodies(year),
        *auth_headers(),
        *unsafe_text(year),
    ]


INTAKE_TABLES = ("intake_receipts", "intake_reviews", "intake_deadlines")


def intake_database_url(system: System) -> str:
    """The intake's database: its PostgreSQL database when the system has one, else its file."""
    return system.env.get(
        "NIANBAO_INTAKE_DATABASE_URL", f"sqlite+aiosqlite:///{system.data_dir / 'intake.db'}"
    )


def intake_query(system: System, sql: str) -> list[tuple[Any, ...]]:
    """The rows of a query on the intake's database (SQLite read only, or PostgreSQL)."""
    url = system.env.get("NIANBAO_INTAKE_DATABASE_URL")
    if url is None:
        with sqlite3.connect(f"file:{system.data_dir / 'intake.db'}?mode=ro", uri=True) as db:
            return [tuple(row) for row in db.execute(sql)]

    async def fetch() -> list[tuple[Any, ...]]:
        conn = await asyncpg.connect(asyncpg_dsn(url))
        try:
            return [tuple(row) for row in await conn.fetch(sql)]
        finally:
            await conn.close()

    with ThreadPoolExecutor(1) as thread:  # callers may run in an event loop already
        return thread.submit(asyncio.run, fetch()).result()


def intake_rows(system: System) -> dict[str, int]:
    """How many receipts, review actions and deadlines the intake holds (a refused request must
    leave nothing behind)."""
    return {t: int(intake_query(system, f"SELECT count(*) FROM {t}")[0][0]) for t in INTAKE_TABLES}
