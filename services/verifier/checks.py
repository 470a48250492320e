"""One publication check: fetch the declared page and the homepage, find the link, compare the
content with the accepted report, read the footer; end in one state with findings."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from services.verifier.fetching import Fetched
from services.verifier.pages import (
    REPORT_WORDS,
    Link,
    Page,
    decode,
    figure_near,
    footer_identifiers,
    parse,
    same_page,
)
from shared.publication import Finding, host_of

Get = Callable[[str, Callable[[str], bool]], Awaitable[Fetched]]
#: intermediate pages (a 年度报表 column) tried when the homepage has no direct link
MAX_INTERMEDIATE = 4
FOOTER_LABELS = {
    "site_code": "网站标识码",
    "icp_filing": "ICP备案号",
    "psb_filing": "公安机关备案号",
}
ERROR_LABELS = {
    "timeout": "超时",
    "connect": "无法连接",
    "dns": "域名无法解析",
    "tls": "证书校验失败",
    "refused_address": "指向内网或保留地址，已拒绝访问",
    "refused_host": "跳转到未登记的主机，已拒绝访问",
    "refused_scheme": "不是 http/https 地址",
    "redirect_loop": "循环跳转",
    "too_many_redirects": "跳转次数超过上限",
}


@dataclass(frozen=True)
class Target:
    """What to check for one publication (a site's report, an office's catalogue or 专栏)."""

    kind: str
    code: str
    year: int
    url: str
    #: the registered homepage of the site, or the office's portal
    homepage_url: str | None
    receipt_id: str | None = None
    content_hash: str | None = None
    #: label -> value of the accepted report's key figures
    figures: dict[str, int] = field(default_factory=dict)
    #: footer identifiers the report and the registry hold
    identifiers: dict[str, str] = field(default_factory=dict)
    #: for a 专栏: (site code, the URLs that count as its report) of every site below
    column_sites: tuple[tuple[str, tuple[str, ...]], ...] = ()

    def allowed(self, host: str) -> bool:
        """The registered homepage's host and its subdomains, and the declared URL's host."""
        host = host.lower().rstrip(".")
        home = host_of(self.homepage_url) if self.homepage_url else ""
        home = home.removeprefix("www.")
        declared = host_of(self.url)
        return host == declared or (bool(home) and (host == home or host.endswith("." + home)))


@dataclass
class Outcome:
    state: str
    findings: list[Finding] = field(default_factory=list)
    link_text: str | None = None
    link_position: str | None = None
    coverage: tuple[int, int] | None = None
    fetches: list[Fetched] = field(default_factory=list)


def _finding(kind: str, zh: str, en: str) -> Finding:
    return Finding(kind=kind, message_zh=zh, message_en=en)


def _fetch_failure(what_zh: str, fetched: Fetched) -> tuple[str, Finding] | None:
    """The state and finding of a fetch that did not give a page, or None when it did."""
    if fetched.error is not None:
        label = ERROR_LABELS.get(fetched.error, fetched.error)
        return "unreachable", _finding(
            fetched.error, f"{what_zh}无法获取：{label}", f"{fetched.url}: {fetched.error}"
        )
    status = fetched.status or 0
    if status in (404, 410) or 400 <= status < 500:
        return "page_missing", _finding(
            "status", f"{what_zh}返回 HTTP {status}", f"{fetched.url} answered {status}"
        )
    if not 200 <= status < 300:
        return "unreachable", _finding(
            "status", f"{what_zh}返回 HTTP {status}", f"{fetched.url} answered {status}"
        )
    return None


def _page(fetched: Fetched) -> Page:
    html, charset = decode(fetched.content_type, fetched.body)
    fetched.charset = charset
    return parse(fetched.final_url, html)


def _match(links: list[Link], urls: tuple[str, ...]) -> Link | None:
    return next((lk for lk in links if any(same_page(lk.href, u) for u in urls)), None)


class Checker:
    def __init__(self, get: Get) -> None:
        self.get = get

    async def check(self, target: Target) -> Outcome:
        out = Outcome(state="verified")
        declared = await self.get(target.url, target.allowed)
        out.fetches.append(declared)
        failure = _fetch_failure("声明的页面", declared)
        if failure is not None:
            out.state, finding = failure
            out.findings.append(finding)
            return out
        page = _page(declared)
        if target.homepage_url is None:
            link_state: str | None = "manual"
            out.findings.append(
                _finding("homepage", "未登记门户网站首页", "no registered homepage")
            )
        else:
            link_state = await self._linked(target, (target.url, declared.final_url), out)
        content_state = (
            self._coverage(target, page, out)
            if target.kind == "column"
            else self._content(target, page, out)
        )
        out.state = link_state or content_state or "verified"
        return out

    async def _linked(self, target: Target, urls: tuple[str, ...], out: Outcome) -> str | None:
        """None when the homepage links to the page visibly (directly or through one page);
        else the state: unreachable, not_linked or manual."""
        assert target.homepage_url is not None
        home_fetch = await self.get(target.homepage_url, target.allowed)
        out.fetches.append(home_fetch)
        failure = _fetch_failure("首页", home_fetch)
        if failure is not None:
            out.findings.append(failure[1])
            return "unreachable"
        home = _page(home_fetch)
        self._footer(target, home, out)
        direct = _match([lk for lk in home.links if not lk.hidden], urls)
        if direct is not None:
            out.link_text, out.link_position = direct.text, f"首页 · {direct.position}"
            return None
        hidden = _match([lk for lk in home.links if lk.hidden], urls)
        in_script = any(_path_in(u, home.scripts) for u in urls)
        tried = 0
        for column in home.links:
            if tried >= MAX_INTERMEDIATE:
                break
            if column.hidden or not any(w in column.text for w in REPORT_WORDS):
                continue
            if any(same_page(column.href, u) for u in urls) or not target.allowed(
                host_of(column.href)
            ):
                continue
            tried += 1
            fetched = await self.get(column.href, target.allowed)
            out.fetches.append(fetched)
            if _fetch_failure("", fetched) is not None:
                continue
            found = _match([lk for lk in _page(fetched).links if not lk.hidden], urls)
            if found is not None:
                out.link_text = found.text
                out.link_position = f"首页「{column.text}」({column.position}) → {found.position}"
                return None
        if hidden is not None:
            out.link_text, out.link_position = hidden.text, f"首页 · {hidden.position}"
            out.findings.append(
                _finding(
                    "hidden_link",
                    "首页的链接被隐藏（不可见），不属于显著位置，需人工核验",
                    "the homepage's link is hidden from view: not prominent; check by hand",
                )
            )
            return "manual"
        if in_script:
            out.findings.append(
                _finding(
                    "script_link",
                    "首页的链接只由脚本生成，需人工核验",
                    "the homepage builds the link only in a script; check by hand",
                )
            )
            return "manual"
        years = sorted(
            {y for lk in home.links for y in re.findall(r"20\d\d", lk.href + lk.text)}
            - {str(target.year)}
        )
        other = "（首页链接的是 " + "、".join(years) + " 年度的报表）" if years else ""
        out.findings.append(
            _finding(
                "not_linked",
                f"首页及其年度报表栏目中未找到指向声明页面的链接{other}",
                "no link to the declared page on the homepage or one page below it",
            )
        )
        return "not_linked"

    def _content(self, target: Target, page: Page, out: Outcome) -> str | None:
        """None when the page shows the accepted version (hash, receipt or key figures)."""
        raw = page.text + " " + " ".join(lk.href for lk in page.links)
        if target.content_hash and target.content_hash in raw:
            return None
        if target.receipt_id and target.receipt_id in raw:
            return None
        if target.content_hash is None:
            out.findings.append(
                _finding("no_report", "尚无通过校验的报表可比对", "no accepted report to compare")
            )
            return "content_differs"
        shown = {label: figure_near(page.text, label) for label in target.figures}
        differs = [
            f"{label}：页面 {value}，报表 {target.figures[label]}"
            for label, value in shown.items()
            if value is not None and value != target.figures[label]
        ]
        found = [label for label, value in shown.items() if value is not None]
        if differs:
            out.findings.append(
                _finding(
                    "figures", "页面数据与已通过的报表不一致：" + "；".join(differs), str(differs)
                )
            )
            return "content_differs"
        if found and len(found) == len(shown):
            return None
        out.findings.append(
            _finding(
                "version",
                "页面未显示已通过版本的回执、内容哈希或主要数据",
                "the page shows neither the receipt, the content hash nor the key figures",
            )
        )
        return "content_differs"

    def _coverage(self, target: Target, page: Page, out: Outcome) -> str | None:
        hrefs = [lk for lk in page.links if not lk.hidden]
        linked = [code for code, urls in target.column_sites if _match(hrefs, urls) is not None]
        total = len(target.column_sites)
        out.coverage = (len(linked), total)
        if len(linked) == total:
            return None
        missing = [code for code, _urls in target.column_sites if code not in linked]
        out.findings.append(
            _finding(
                "coverage",
                f"专栏链接了 {len(linked)}/{total} 个网站的报表，缺少：" + "、".join(missing[:20]),
                f"the column links {len(linked)} of {total} sites' reports",
            )
        )
        return "content_differs"

    def _footer(self, target: Target, home: Page, out: Outcome) -> None:
        shown = footer_identifiers(home.text)
        for name, expected in target.identifiers.items():
            if not expected:
                continue
            value = shown.get(name)
            if value != re.sub(r"\s+", "", expected):
                label = FOOTER_LABELS[name]
                out.findings.append(
                    _finding(
                        f"footer_{name}",
                        f"首页底部{label}为「{value or '未显示'}」，登记为「{expected}」",
                        f"footer {name}: {value!r}, registered {expected!r}",
                    )
                )


def _path_in(url: str, script: str) -> bool:
    from urllib.parse import urlsplit

    path = urlsplit(url).path
    return bool(script) and (url in script or (len(path) > 1 and path in script))
