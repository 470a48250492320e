"""Rendering for the publisher: page data to HTML (Jinja2, autoescaped), JSON, CSV and SVG.

Deterministic: the same data gives the same bytes (no render time, sorted JSON keys). Each
``*_files`` function returns relative path → bytes for one page, for the service to write
atomically; ``static_files`` gives the shared stylesheet and script.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import Any

import orjson
from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup, escape

from services.publisher.pages.answers import SectionView
from services.publisher.pages.column import ColumnPageData, ColumnPart
from services.publisher.pages.embed import BADGE_FONT_SIZE, BADGE_PADDING, Badge
from services.publisher.pages.filing import FieldLine
from services.publisher.pages.formatting import format_pct
from services.publisher.pages.index import IndexData
from services.publisher.pages.paths import (
    STATIC_FILES,
    PagePaths,
    site_badge_path,
    supervision_badge_path,
)
from services.publisher.pages.rollup import RollupPageData, SumLine
from services.publisher.pages.site import SitePageData
from services.publisher.pages.supervision import SupervisionPageData
from services.publisher.pages.views import GENERATOR_NOTE, ChartBar, Link
from shared.forms.instructions import Instruction

HERE = Path(__file__).resolve().parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"

COMPLETENESS_FILL = "#b5192a"
TIMELINESS_FILL = "#5b6b7b"
BADGE_LABEL_FILL = "#b5192a"
BADGE_TONES = {"ok": "#1f6f3f", "warn": "#9a5b00", "alert": "#b5192a", "muted": "#595959"}
FONT_FAMILY = "PingFang SC, Microsoft YaHei, Noto Sans CJK SC, Source Han Sans SC, sans-serif"


@cache
def environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        auto_reload=False,  # packaged templates: no stat of the file on every render
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.globals["generator_note"] = GENERATOR_NOTE
    env.globals["sum_rows"] = sum_rows
    env.globals["section_table"] = section_table
    env.globals["instructions_block"] = instructions_block
    env.globals["link"] = link
    return env


@cache
def _sum_head(section_label: str, label: str, unit: str) -> str:
    head = f'<td>{escape(section_label)}</td><th scope="row">{escape(label)}</th>'
    return f"{head}<td>{escape(unit)}</td>"


def sum_rows(sums: Sequence[SumLine]) -> Markup:
    """The rows of a table of every count's total, a line each: what a Jinja loop gave, with
    each row's labels (the same on every node's page) escaped once per process."""
    rows = ((_sum_head(s.section_label, s.label, s.unit), escape(s.total_text)) for s in sums)
    return Markup("".join(f"<tr>{head}<td>{total}</td></tr>\n" for head, total in rows))


# ---------------------------------------------------------------- a report's sections
# A site page is mostly its report's ~120 answers; the ``kv_section`` macro cost a Jinja call,
# a dozen attribute lookups and escapes per answer. These give the macro's bytes (the tests
# compare them) with each label escaped once per process.


@cache
def _section_head(label: str) -> str:
    text = escape(label)
    return (
        f'<div class="table-wrap" role="region" aria-label="{text}" tabindex="0">\n'
        f'<table class="report-section">\n<caption>{text}</caption>\n'
        '<thead><tr><th scope="col">项目</th><th scope="col">填报值</th>'
        '<th scope="col">单位</th></tr></thead>\n<tbody>\n'
    )


@cache
def _line_head(label: str) -> str:
    return f'<tr>\n<th scope="row">{escape(label)}</th>\n<td class="value">'


@cache
def _line_tail(unit: str) -> str:
    return f'</td>\n<td class="unit">{escape(unit)}</td>\n</tr>\n'


@cache
def _header_cells(headers: tuple[str, ...]) -> str:
    return "".join(f'<th scope="col">{escape(h)}</th>' for h in headers)


#: a character HTML escaping changes (``markupsafe.escape``)
_SPECIAL = re.compile(r"[&<>'\"]")


def _text(value: str) -> str:
    """``escape(value)`` as text, without the escape for the many answers that need none."""
    return value if _SPECIAL.search(value) is None else str(escape(value))


def _line_value(line: FieldLine) -> str:
    if line.records:
        table = line.records
        rows = "".join(
            "<tr>" + "".join(f"<td>{_text(cell)}</td>" for cell in record) + "</tr>\n"
            for record in table.rows
        )
        return (
            f'<table class="sub">\n<caption>{escape(table.caption)}</caption>\n'
            f"<thead><tr>{_header_cells(table.headers)}</tr></thead>\n"
            f"<tbody>\n{rows}</tbody>\n</table>"
        )
    if line.quarters:
        heads = _header_cells(tuple(label for label, _ in line.quarters))
        cells = "".join(f"<td>{_text(value)}</td>" for _, value in line.quarters)
        return (
            f'<table class="sub">\n<caption>{escape(line.label)}（分季度）</caption>\n'
            f"<thead><tr>{heads}</tr></thead>\n<tbody><tr>{cells}</tr></tbody>\n</table>"
        )
    if line.href:
        return f'<a href="{escape(line.href)}" rel="external noopener">{escape(line.text)}</a>'
    return _text(line.text)


def section_table(section: SectionView) -> Markup:
    """A report section's table, as the ``kv_section`` macro writes it."""
    lines = "".join(
        _line_head(line.label) + _line_value(line) + _line_tail(line.unit) for line in section.lines
    )
    return Markup(f"{_section_head(section.label)}{lines}</tbody>\n</table>\n\n</div>\n")


_instructions_blocks: dict[tuple[int, str], tuple[Sequence[Instruction], Markup]] = {}


def instructions_block(items: Sequence[Instruction], form_title: str) -> Markup:
    """The ``instructions`` macro's output, rendered once per form version (the list is the
    same object for every page of a version: ``form_instructions`` is cached)."""
    key = (id(items), form_title)
    known = _instructions_blocks.get(key)
    if known is not None and known[0] is items:
        return known[1]
    macros = environment().get_template("_macros.html").module
    html = macros.instructions(items, form_title)  # type: ignore[attr-defined]
    _instructions_blocks[key] = (items, Markup(html))
    return Markup(html)


def link(item: Link) -> Markup:
    """The ``link`` macro's output, without a macro call (a site page links its homepage and
    each node above it)."""
    if item.href:
        return Markup(f'<a href="{escape(item.href)}">{escape(item.text)}</a>')
    return escape(item.text)


def render_template(name: str, **context: Any) -> str:
    """``Template.render``, leaving no reference cycle behind.

    A macro defined at a template's top level is kept in the render's context and holds that
    context in its closure: the context, and the page data in it, lived on until the cyclic
    collector found them (a node pass at 2,500 sites made ~370 MiB of such garbage, and the
    collector took ~15 % of the pass's CPU). Emptying the context's variables after the render
    breaks the cycle, so all of it is freed at once. ``_macros.html`` is imported without
    context for the same reason: its module is then made once and kept by its template
    (imported with context, a module per render held the page's variables in its own cycle)."""
    env = environment()
    template = env.get_template(name)
    ctx = template.new_context(context)
    try:
        html: str = env.concat(template.root_render_func(ctx))
    except Exception:
        env.handle_exception()
    finally:
        ctx.vars.clear()
        ctx.exported_vars.clear()
    return html if html.endswith("\n") else html + "\n"


def _render(template: str, page: Any, breadcrumbs: Sequence[Link] = (), **extra: Any) -> str:
    return render_template(
        template, page=page, root=page.root, title=page.title, breadcrumbs=breadcrumbs, **extra
    )


def render_site_page(data: SitePageData) -> str:
    return _render("site.html", data, data.breadcrumbs)


def render_column_page(data: ColumnPageData, part: ColumnPart | None = None) -> str:
    """One page of a column (its first page by default)."""
    part = part if part is not None else data.parts[0]
    title = data.title if part.first else f"{data.title}：第 {part.number} 页"
    return render_template(
        "column.html",
        page=data,
        part=part,
        root=data.root,
        title=title,
        breadcrumbs=data.breadcrumbs,
    )


def render_rollup_page(data: RollupPageData) -> str:
    chart = (
        bar_chart_svg(
            data.chart,
            title=data.chart_title,
            desc="每个下级节点两条横条：上为完整率（已报÷应报），下为及时率，满格为100%。",
        )
        if data.chart
        else Markup("")
    )
    return _render("rollup.html", data, data.breadcrumbs, chart=chart)


def render_supervision_page(data: SupervisionPageData) -> str:
    chart = (
        bar_chart_svg(
            data.chart,
            title=data.chart_title,
            desc="每个下级节点两条横条：上为完整率（已报÷应报），下为及时率（按时÷应报），"
            "满格为100%。",
            chart_id="supervision-chart",
        )
        if data.chart
        else Markup("")
    )
    return _render("supervision.html", data, data.breadcrumbs, chart=chart)


def render_index(data: IndexData) -> str:
    return _render("index.html", data)


# ---------------------------------------------------------------- JSON and CSV copies


def to_json(doc: Any, *, compact: bool = False) -> bytes:
    """UTF-8 JSON with sorted keys; compact for documents that grow with the number of sites.

    orjson writes the same bytes as ``json.dumps(ensure_ascii=False, sort_keys=True)`` with
    ``indent=2`` or compact separators, several times faster (the standard library's indented
    encoder is pure Python); the standard library stays for what orjson refuses (integers
    beyond 64 bits)."""
    options = orjson.OPT_SORT_KEYS | (0 if compact else orjson.OPT_INDENT_2)
    try:
        return orjson.dumps(doc, option=options) + b"\n"
    except orjson.JSONEncodeError:
        pass
    if compact:
        text = json.dumps(doc, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    else:
        text = json.dumps(doc, ensure_ascii=False, sort_keys=True, indent=2)
    return (text + "\n").encode("utf-8")


def to_csv(header: Sequence[str], rows: Sequence[Sequence[str | int]]) -> bytes:
    """UTF-8 with a BOM (so spreadsheet programs see Chinese), CRLF line ends."""
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(rows)
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def _files(paths: PagePaths, html: str, data: Any, *, compact: bool = False) -> dict[str, bytes]:
    return {
        paths.html: html.encode("utf-8"),
        paths.json: to_json(data.json_doc, compact=compact),
        paths.csv: to_csv(data.csv_header, data.csv_rows),
    }


def site_page_files(data: SitePageData) -> dict[str, bytes]:
    files = _files(data.paths, render_site_page(data), data)
    files[site_badge_path(data.year, data.code)] = badge_svg(data.embed.badge)
    return files


def supervision_page_files(data: SupervisionPageData) -> dict[str, bytes]:
    files = _files(data.paths, render_supervision_page(data), data)
    if data.embed is not None:
        files[supervision_badge_path(data.year, data.node)] = badge_svg(data.embed.badge)
    return files


def column_page_files(data: ColumnPageData) -> dict[str, bytes]:
    """Every page of the column, its whole list as JSON and CSV, and for a column of several
    pages the script's index. A page's bytes depend on its own rows (and, for the first, on the
    counts): the writer leaves the unchanged ones alone."""
    files = _files(data.paths, render_column_page(data), data, compact=True)
    for part in data.parts[1:]:
        files[part.html] = render_column_page(data, part).encode("utf-8")
    if data.index_doc is not None:
        files[data.index_path] = to_json(data.index_doc, compact=True)
    return files


def rollup_page_files(data: RollupPageData) -> dict[str, bytes]:
    return _files(data.paths, render_rollup_page(data), data)


def index_files(data: IndexData) -> dict[str, bytes]:
    return _files(data.paths, render_index(data), data)


def static_files() -> dict[str, bytes]:
    """The stylesheet and script every page links to, at their published paths."""
    return {path: (HERE / path).read_bytes() for path in STATIC_FILES}


# ---------------------------------------------------------------- SVG bar chart


def _num(value: float) -> str:
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return text or "0"


def _short(label: str, limit: int = 12) -> str:
    return label if len(label) <= limit else label[: limit - 1] + "…"


def bar_chart_svg(
    bars: Sequence[ChartBar], *, title: str, desc: str, chart_id: str = "rollup-chart"
) -> Markup:
    """Horizontal bars, two per child node (completeness, timeliness), scaled 0–100 %.

    Self-contained SVG markup (no script, no style attribute, no external reference), with
    <title>/<desc> for assistive technology and a <title> per bar giving its exact value.
    """
    label_w, plot_w, value_w = 180, 400, 60
    bar_h, bar_gap, group_gap, top, bottom = 12, 3, 14, 34, 26
    group_h = 2 * bar_h + bar_gap + group_gap
    width = label_w + plot_w + value_w
    height = top + len(bars) * group_h + bottom
    x0 = label_w
    out: list[str] = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" '
        f'viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        f'aria-labelledby="{chart_id}-title {chart_id}-desc" '
        f'font-family="{FONT_FAMILY}" font-size="12">',
        f'<title id="{chart_id}-title">{escape(title)}</title>',
        f'<desc id="{chart_id}-desc">{escape(desc)}</desc>',
        '<g class="legend">',
        f'<rect x="{x0}" y="8" width="12" height="12" fill="{COMPLETENESS_FILL}"/>',
        f'<text x="{x0 + 18}" y="18">完整率</text>',
        f'<rect x="{x0 + 90}" y="8" width="12" height="12" fill="{TIMELINESS_FILL}"/>',
        f'<text x="{x0 + 108}" y="18">及时率</text>',
        "</g>",
        '<g class="grid" aria-hidden="true">',
    ]
    axis_y = top + len(bars) * group_h
    for tick in (0, 25, 50, 75, 100):
        x = _num(x0 + plot_w * tick / 100)
        out.append(f'<line x1="{x}" y1="{top - 4}" x2="{x}" y2="{axis_y}" stroke="#d9d9d9"/>')
        out.append(f'<text x="{x}" y="{axis_y + 16}" text-anchor="middle">{tick}%</text>')
    out.append("</g>")
    for i, bar in enumerate(bars):
        y = top + i * group_h
        out.append('<g class="bar-group">')
        out.append(
            f'<text class="bar-label" x="{x0 - 8}" y="{_num(y + bar_h + 2)}" '
            f'text-anchor="end">{escape(_short(bar.label))}</text>'
        )
        for j, (key, name, pct, fill) in enumerate(
            (
                ("completeness", "完整率", bar.completeness_pct, COMPLETENESS_FILL),
                ("timeliness", "及时率", bar.timeliness_pct, TIMELINESS_FILL),
            )
        ):
            clamped = min(100.0, max(0.0, pct))
            by = y + j * (bar_h + bar_gap)
            w = plot_w * clamped / 100
            out.append(
                f'<rect class="bar bar-{key}" x="{x0}" y="{by}" width="{_num(w)}" '
                f'height="{bar_h}" fill="{fill}" data-value="{_num(clamped)}">'
                f"<title>{escape(bar.label)} {name} {format_pct(pct)}</title></rect>"
            )
            out.append(
                f'<text class="bar-value" x="{_num(x0 + w + 4)}" y="{by + bar_h - 2}">'
                f"{format_pct(pct)}</text>"
            )
        out.append("</g>")
    out.append("</svg>")
    return Markup("\n".join(out))


# ---------------------------------------------------------------- homepage badge


def badge_svg(badge: Badge) -> bytes:
    """A self-contained SVG badge: the label on the accent colour, the message in its tone.

    ``textLength`` fits each text to its estimated box whatever font the reader has. The
    image's title is what it shows (the page and the snippet name the site in its ``alt``):
    the badges of one year and status are the same bytes, one shared file on disk.
    """
    return _badge_svg(badge.label, badge.message, badge.tone)


@cache
def _badge_svg(label: str, message: str, tone_name: str) -> bytes:
    badge = Badge(label, message, tone_name, f"{label}：{message}")
    lw, mw, w, h = badge.label_width, badge.message_width, badge.width, badge.height
    tone = BADGE_TONES.get(badge.tone, BADGE_TONES["muted"])
    baseline = _num(h / 2 + BADGE_FONT_SIZE * 0.36)
    fit = 'lengthAdjust="spacingAndGlyphs" textLength'
    lfit, mfit = lw - 2 * BADGE_PADDING, mw - 2 * BADGE_PADDING
    text = (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" '
        f'viewBox="0 0 {w} {h}" role="img">\n'
        f"<title>{escape(badge.title)}</title>\n"
        f'<rect x="0.5" y="0.5" width="{w - 1}" height="{h - 1}" rx="2" fill="#fff" '
        f'stroke="{BADGE_LABEL_FILL}"/>\n'
        f'<rect x="0" y="0" width="{lw}" height="{h}" rx="2" fill="{BADGE_LABEL_FILL}"/>\n'
        f'<g font-family="{FONT_FAMILY}" font-size="{BADGE_FONT_SIZE}" text-anchor="middle">\n'
        f'<text x="{_num(lw / 2)}" y="{baseline}" fill="#fff" '
        f'{fit}="{lfit}">{escape(badge.label)}</text>\n'
        f'<text x="{_num(lw + mw / 2)}" y="{baseline}" fill="{tone}" font-weight="bold" '
        f'{fit}="{mfit}">{escape(badge.message)}</text>\n'
        "</g>\n</svg>\n"
    )
    return text.encode("utf-8")
