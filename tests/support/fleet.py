"""The fake government sites of the verifier's tests: a registry of ≥50 sites under one city,
the fleet spec serving every case the issue lists, and the state each case must end in; and
the fleet server as a process (killed and restarted by the fault run)."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from bench.fleet import CONTROL_HOST
from shared.registry import Level, Node, Registry, Site, SiteType, Tree

YEAR = 2026
CITY = "510900"
PROVINCE = "510000"
PORTAL = "5100000001"
FIGURES = {"traffic.unique_visitors": 1234567, "traffic.page_views": 7654321, "info.total": 3210}
LABELS = {
    "traffic.unique_visitors": "独立用户访问总量（个）",
    "traffic.page_views": "网站总访问量（次）",
    "info.total": "信息发布 总数（条）",
}
IDENTIFIERS = {"icp_filing": "川ICP备12345678号", "psb_filing": "川公网安备51090302000123号"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Case:
    """One fake site: its pages, the URL it declares, and the state its check must end in."""

    name: str
    code: str
    state: str
    pages: dict[str, dict[str, Any]]
    declared_path: str = "/nb/2026.html"
    finding: str | None = None
    #: sites hosted together on one platform share a host, each under its own path
    shared_host: str | None = None
    home_path: str = "/"

    @property
    def host(self) -> str:
        return self.shared_host or f"s{self.code}.gov.test"

    def url(self, port: int, path: str | None = None) -> str:
        return f"http://{self.host}:{port}{path or self.declared_path}"


def content_hash(code: str) -> str:
    return f"{int(code):064x}"[-64:]


def footer(code: str) -> str:
    return (
        f"<footer>网站标识码{code} {IDENTIFIERS['icp_filing']} {IDENTIFIERS['psb_filing']}</footer>"
    )


def home(code: str, links: str) -> dict[str, Any]:
    return {"body": f"<html><body><nav>{links}</nav><main>欢迎</main>{footer(code)}</body></html>"}


def report_page(code: str, *, show_hash: bool = True, figures: dict[str, int] | None = None) -> str:
    rows = "".join(
        f"<tr><td>{LABELS[p]}</td><td>{v:,}</td></tr>" for p, v in (figures or {}).items()
    )
    shown = f"<p>内容哈希 {content_hash(code)}</p>" if show_hash else ""
    return f"<html><body><h1>{YEAR}年度报表</h1>{shown}<table>{rows}</table></body></html>"


def cases() -> list[Case]:
    """Every case of the issue, then compliant sites up to 56 in all."""
    link = '<a href="/nb/2026.html">2026年政府网站工作年度报表</a>'
    ok_report = {"body": report_page("0")}
    out: list[Case] = []

    def add(name: str, state: str, pages: dict[str, dict[str, Any]], **kw: Any) -> Case:
        code = f"5109{len(out) + 1:06d}"
        fixed = {
            p: (
                {**v, "body": v["body"].replace(content_hash("0"), content_hash(code))}
                if "body" in v
                else v
            )
            for p, v in pages.items()
        }
        case = Case(name, code, state, fixed, **kw)
        out.append(case)
        return case

    add("compliant", "verified", {"/": home("X", link), "/nb/2026.html": ok_report})
    add(
        "two levels: through a 年度报表 column",
        "verified",
        {
            "/": home("X", '<a href="/ndbb/">年度报表</a>'),
            "/ndbb/": {"body": f"<ul><li>{link}</li></ul>"},
            "/nb/2026.html": ok_report,
        },
    )
    add(
        "three levels: too deep",
        "not_linked",
        {
            "/": home("X", '<a href="/ndbb/">年度报表</a>'),
            "/ndbb/": {"body": '<a href="/ndbb/2026/">2026年度报表</a>'},
            "/ndbb/2026/": {"body": link},
            "/nb/2026.html": ok_report,
        },
    )
    add(
        "no link",
        "not_linked",
        {"/": home("X", "<a href='/news/'>新闻</a>"), "/nb/2026.html": ok_report},
    )
    add(
        "last year's report linked",
        "not_linked",
        {"/": home("X", '<a href="/nb/2025.html">2025年度报表</a>'), "/nb/2026.html": ok_report},
        finding="2025",
    )
    add(
        "different figures",
        "content_differs",
        {
            "/": home("X", link),
            "/nb/2026.html": {
                "body": report_page("0", show_hash=False, figures={**FIGURES, "info.total": 999})
            },
        },
        finding="信息发布",
    )
    add(
        "figures only, equal",
        "verified",
        {
            "/": home("X", link),
            "/nb/2026.html": {"body": report_page("0", show_hash=False, figures=FIGURES)},
        },
    )
    gbk = {"charset": "gbk"}
    add(
        "GBK pages",
        "verified",
        {
            "/": {**home("X", link), **gbk},
            "/nb/2026.html": {"body": report_page("0", show_hash=False, figures=FIGURES), **gbk},
        },
    )
    add(
        "redirect chain",
        "verified",
        {
            "/": home("X", link),
            "/nb/2026.html": {"status": 301, "location": "/nb/r1"},
            "/nb/r1": {"status": 302, "location": "/nb/r2"},
            "/nb/r2": {"status": 307, "location": "/nb/final.html"},
            "/nb/final.html": ok_report,
        },
    )
    add(
        "redirect loop",
        "unreachable",
        {
            "/": home("X", link),
            "/nb/2026.html": {"status": 302, "location": "/nb/b"},
            "/nb/b": {"status": 302, "location": "/nb/2026.html"},
        },
        finding="循环跳转",
    )
    add(
        "redirect to a private address",
        "unreachable",
        {"/": home("X", link), "/nb/2026.html": {"status": 302, "location": "PRIVATE"}},
        finding="内网",
    )
    add(
        "redirect to the metadata address",
        "unreachable",
        {
            "/": home("X", link),
            "/nb/2026.html": {"status": 302, "location": "http://169.254.169.254/latest/"},
        },
        finding="未登记",
    )
    add(
        "hanging server",
        "unreachable",
        {"/": home("X", link), "/nb/2026.html": {"hang": True}},
        finding="超时",
    )
    add(
        "a 50 MiB body",
        "content_differs",
        {"/": home("X", link), "/nb/2026.html": {"size": 50 * 1024 * 1024}},
    )
    add("404", "page_missing", {"/": home("X", link)})
    add(
        "500",
        "unreachable",
        {"/": home("X", link), "/nb/2026.html": {"status": 500, "body": "err"}},
    )
    add(
        "link built by a script",
        "manual",
        {
            "/": home(
                "X",
                "<script>var a=document.createElement('a');a.href='/nb/2026.html';"
                "document.body.appendChild(a)</script>",
            ),
            "/nb/2026.html": ok_report,
        },
    )
    add(
        "hidden link",
        "manual",
        {
            "/": home("X", f'<div style="display:none">{link}</div>'),
            "/nb/2026.html": ok_report,
        },
    )
    mismatch = add(
        "footer mismatch",
        "verified",
        {"/": home("X", link), "/nb/2026.html": ok_report},
        finding="ICP备案号",
    )
    mismatch.pages["/"]["body"] = mismatch.pages["/"]["body"].replace("12345678", "87654321")
    add(
        "homepage down",
        "unreachable",
        {"/": {"status": 503, "body": "busy"}, "/nb/2026.html": ok_report},
    )
    for n in range(6):  # six county sites on one city platform: requests to it must queue
        prefix = f"/site{n}"
        add(
            "one host, several sites",
            "verified",
            {
                f"{prefix}/": {**home("X", link.replace("/nb/", f"{prefix}/nb/")), "delay": 0.1},
                f"{prefix}/nb/2026.html": {**ok_report, "delay": 0.1},
            },
            declared_path=f"{prefix}/nb/2026.html",
            shared_host="platform.gov.test",
            home_path=f"{prefix}/",
        )
    while len(out) < 56:
        add("compliant", "verified", {"/": home("X", link), "/nb/2026.html": ok_report})
    for case in out:
        for page in case.pages.values():
            if "body" in page:
                page["body"] = page["body"].replace("网站标识码X", f"网站标识码{case.code}")
    return out


def registry(port: int, all_cases: list[Case]) -> Registry:
    nodes = [
        Node(code="CN", name="全国", level=Level.NATIONAL, tree=Tree.ADMIN),
        Node(code=PROVINCE, name="四川省", level=Level.PROVINCE, tree=Tree.ADMIN, parent="CN"),
        Node(code=CITY, name="遂宁市", level=Level.CITY, tree=Tree.ADMIN, parent=PROVINCE),
    ]
    sites = [
        Site(
            code=c.code,
            name=f"测试网站{c.code[-3:]}（{c.name}）",
            homepage_url=f"http://{c.host}:{port}{c.home_path}",
            type=SiteType.DEPARTMENT,
            sponsor="遂宁市",
            admin_node=CITY,
        )
        for c in all_cases
    ]
    sites.append(
        Site(
            code=PORTAL,
            name="四川省人民政府",
            homepage_url=f"http://p{PROVINCE}.gov.test:{port}/",
            type=SiteType.PORTAL,
            sponsor="四川省人民政府办公厅",
            admin_node=PROVINCE,
        )
    )
    return Registry(nodes, sites)


def private_addresses(all_cases: list[Case]) -> dict[str, str]:
    """The resolver entries of the hosts that resolve to a private address (10.0.0.0/8)."""
    return {f"evil.{c.host}": "10.1.2.3" for c in all_cases}


def fleet_spec(port: int, all_cases: list[Case]) -> dict[str, dict[str, dict[str, Any]]]:
    spec: dict[str, dict[str, dict[str, Any]]] = {}
    for case in all_cases:
        pages = {
            path: (
                {**page, "location": f"http://evil.{case.host}:{port}/"}
                if page.get("location") == "PRIVATE"
                else page
            )
            for path, page in case.pages.items()
        }
        spec.setdefault(case.host, {}).update(pages)
        spec[f"evil.{case.host}"] = {"/": {"body": "should never be fetched"}}
    return spec


@contextmanager
def fleet_server(
    spec: dict[str, Any],
    directory: Path,
    port: int,
    delay: float = 0.0,
    certfile: Path | None = None,
) -> Iterator[FleetProcess]:
    """The fleet on ``port``: HTTP, or HTTPS with ``certfile`` (its key and certificate chain)."""
    process = FleetProcess(spec, directory, port, delay, certfile)
    process.start()
    try:
        yield process
    finally:
        process.stop()


class FleetProcess:
    """The fleet as a process of its own, on a fixed port (restartable)."""

    def __init__(
        self,
        spec: dict[str, Any],
        directory: Path,
        port: int,
        delay: float,
        certfile: Path | None = None,
    ) -> None:
        self.file = directory / "fleet.json"
        self.certfile = certfile
        self.file.write_text(json.dumps(spec, ensure_ascii=False), encoding="utf-8")
        self.port = port
        self.delay = delay
        self.process: subprocess.Popen[bytes] | None = None
        self.log = directory / "fleet.log"

    def start(self) -> None:
        args = [sys.executable, "-m", "bench.fleet", str(self.file), str(self.port)]
        if self.certfile is not None:
            args += ["--certfile", str(self.certfile)]
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [*args, "--delay", str(self.delay)], stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                self.stats()
                return
            except httpx.HTTPError:
                time.sleep(0.05)
        raise TimeoutError("the fleet did not start")

    def kill(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()

    def stats(self) -> dict[str, Any]:
        scheme = "https" if self.certfile is not None else "http"
        response = httpx.get(
            f"{scheme}://127.0.0.1:{self.port}/__fleet/stats",
            headers={"Host": CONTROL_HOST},
            timeout=5,
            verify=False,  # the control endpoint only: the verifier's own requests verify
        )
        return dict(response.json())
