"""Reading fetched pages: charset, links with their text, position and visibility, links only
in scripts, footer identifiers, figures next to their labels."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import lxml.html
from lxml import etree

#: what browsers treat as these: decode GBK and GB2312 pages as GB18030, their superset
CHARSET_ALIASES = {"gbk": "gb18030", "gb2312": "gb18030", "x-gbk": "gb18030", "cp936": "gb18030"}
META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?([A-Za-z0-9_-]+)""", re.I)
HIDDEN_STYLE = re.compile(
    r"display\s*:\s*none|visibility\s*:\s*hidden|(?<![-\w])(width|height)\s*:\s*0(px)?\s*(;|$)"
    r"|font-size\s*:\s*0(px)?\s*(;|$)|opacity\s*:\s*0(\.0*)?\s*(;|$)",
    re.I,
)
#: words of a link or column leading to annual reports (年度报表 column, 年报 list)
REPORT_WORDS = ("年度报表", "年报", "工作报表", "年度工作报告", "网站工作年度报表")
FOOTER_PATTERNS = {
    "site_code": re.compile(r"网站标识码[:：\s]*([A-Za-z0-9]{6,12})"),
    "icp_filing": re.compile(r"([\u4e00-\u9fff]ICP备[0-9A-Za-z\-]+号(?:-\d+)?)"),
    "psb_filing": re.compile(r"([\u4e00-\u9fff]公网安备\s*[0-9]+号)"),
}


def charset_of(content_type: str, body: bytes) -> str:
    """The declared charset (header, then meta), else UTF-8 when it decodes, else GB18030."""
    declared = None
    match = re.search(r"charset=([\w-]+)", content_type, re.I)
    if match:
        declared = match.group(1)
    else:
        meta = META_CHARSET.search(body[:4096])
        if meta:
            declared = meta.group(1).decode("ascii", "replace")
    if declared:
        name = declared.lower()
        name = CHARSET_ALIASES.get(name, name)
        try:
            "".encode(name)
            return name
        except LookupError:
            pass
    try:
        body.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError:
        return "gb18030"


def decode(content_type: str, body: bytes) -> tuple[str, str]:
    charset = charset_of(content_type, body)
    return body.decode(charset, errors="replace"), charset


@dataclass(frozen=True)
class Link:
    href: str
    text: str
    #: where on the page: "链接 3/120 · footer > div.links"
    position: str
    hidden: bool


@dataclass
class Page:
    url: str
    text: str
    links: list[Link]
    scripts: str


def _hidden(element: etree._Element) -> bool:
    node: etree._Element | None = element
    while node is not None:
        if node.get("hidden") is not None or node.get("aria-hidden") == "true":
            return True
        if HIDDEN_STYLE.search(node.get("style") or ""):
            return True
        if node.tag in ("template", "noscript"):
            return True
        node = node.getparent()
    return False


def _where(element: etree._Element) -> str:
    chain: list[str] = []
    node: etree._Element | None = element.getparent()
    while node is not None and node.tag not in ("body", "html") and len(chain) < 3:
        name = str(node.tag)
        if node.get("id"):
            name += f"#{node.get('id')}"
        elif node.get("class"):
            name += "." + str(node.get("class")).split()[0]
        chain.append(name)
        node = node.getparent()
    return " > ".join(reversed(chain)) or "body"


def parse(url: str, html: str) -> Page:
    """The page's visible text, every link (absolute) with text, position and visibility, and
    the text of its scripts."""
    if not html.strip():
        return Page(url, "", [], "")
    try:
        root = lxml.html.document_fromstring(html)
    except (etree.ParserError, ValueError):
        return Page(url, "", [], "")
    scripts = " ".join(s.text_content() for s in root.iter("script"))
    for bad in root.xpath("//script|//style"):
        bad.drop_tree()
    anchors = [a for a in root.iter("a") if a.get("href")]
    links = []
    for i, a in enumerate(anchors, 1):
        href = urljoin(url, a.get("href").strip())
        text = " ".join(a.text_content().split()) or (a.get("title") or "")
        if not text:
            img = next(iter(a.iter("img")), None)
            text = (img.get("alt") or "") if img is not None else ""
        links.append(Link(href, text[:200], f"链接 {i}/{len(anchors)} · {_where(a)}", _hidden(a)))
    text = " ".join(root.text_content().split())
    return Page(url, text, links, scripts)


def same_page(a: str, b: str) -> bool:
    """Two URLs of one page: scheme, default port, fragment and a trailing slash aside."""

    def key(u: str) -> tuple[str, str, str]:
        p = urlsplit(u.strip())
        host = (p.hostname or "").lower()
        if p.port and p.port not in (80, 443):
            host += f":{p.port}"
        path = p.path.rstrip("/") or "/"
        return host, path, p.query

    return key(a) == key(b)


def footer_identifiers(text: str) -> dict[str, str]:
    """网站标识码, ICP备案号 and 公安机关备案号 as the page shows them (normally the footer)."""
    out = {}
    for name, pattern in FOOTER_PATTERNS.items():
        match = pattern.search(text)
        if match:
            out[name] = re.sub(r"\s+", "", match.group(1))
    return out


def figure_near(text: str, label: str) -> int | None:
    """The number shown right after a label (``网站总访问量（次） 146,205,377``), if any."""
    short = re.sub(r"（[^）]*）|\([^)]*\)|\s+", "", label)
    spaced = r"\s*".join(re.escape(ch) for ch in short)
    match = re.search(spaced + r"(?:（[^）]*）|\([^)]*\))?\s*[:：]?\s*([0-9][0-9,，]*)", text)
    if not match:
        return None
    return int(re.sub(r"[,，]", "", match.group(1)))
