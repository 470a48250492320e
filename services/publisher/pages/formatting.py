"""Values as people read them: Beijing time, numbers, a form's answers, CSV cells kept as text."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any
from urllib.parse import urlsplit

from shared.forms import LayoutRow

#: China has kept UTC+8 without daylight saving since 1991: a fixed offset is exact.
SHANGHAI = timezone(timedelta(hours=8), "Asia/Shanghai")
EMPTY = "—"
#: what a link's URL may not contain: white space (as ``str.isspace``) or a control character
_SPACE_OR_CONTROL = re.compile(r"[\s\x00-\x1f]")
QUARTER_LABELS = {
    "q1": "第一季度",
    "q2": "第二季度",
    "q3": "第三季度",
    "q4": "第四季度",
    "year": "全年",
}


def to_shanghai(moment: datetime) -> datetime:
    """Beijing time; a naive datetime is taken to be UTC (servers keep UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(SHANGHAI)


def format_time(moment: datetime) -> str:
    return to_shanghai(moment).strftime("%Y-%m-%d %H:%M")


def format_day(moment: datetime) -> str:
    return to_shanghai(moment).strftime("%Y-%m-%d")


def iso_time(moment: datetime) -> str:
    return to_shanghai(moment).isoformat(timespec="seconds")


def format_pct(value: float) -> str:
    return f"{value:.1f}%"


def format_number(value: int | float, *, grouping: bool = True) -> str:
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, int):
        return f"{value:,}" if grouping else str(value)
    text = f"{value:,.4f}" if grouping else f"{value:.4f}"
    return text.rstrip("0").rstrip(".")


def is_web_url(text: Any) -> bool:
    """Only absolute http(s) URLs become links; anything else is shown as text."""
    if not isinstance(text, str) or _SPACE_OR_CONTROL.search(text):
        return False
    try:
        parts = urlsplit(text)
    except ValueError:
        return False
    return parts.scheme.lower() in ("http", "https") and bool(parts.netloc)


def lookup(report: Mapping[str, Any] | None, dotted: str) -> Any:
    """The value at a dotted path of a report, or None when any step is missing."""
    current: Any = report
    for key in dotted.split("."):
        if type(current) is not dict and not isinstance(current, Mapping):
            return None
        current = current.get(key)
    return current


def format_scalar(
    kind: str, value: Any, options: Mapping[str, str] | None = None, *, grouping: bool = True
) -> str:
    """A single answer as people read it: 是/否, option labels, numbers, '—' for nothing."""
    if value is None or value == "" or value == []:
        return EMPTY
    if kind == "yes_no" or isinstance(value, bool):
        return "是" if value else "否"
    if kind == "choice":
        return (options or {}).get(str(value), str(value))
    if kind == "multi_choice" and isinstance(value, list | tuple):
        return "、".join((options or {}).get(str(v), str(v)) for v in value)
    if isinstance(value, int | float):
        return format_number(value, grouping=grouping)
    return str(value)


def count_cell(value: Any) -> Any:
    """A count in a CSV row: an int as it is (the CSV writer prints it as ``str`` would, and a
    national column of ~600,000 cells keeps no copy of each as text), else its text."""
    if type(value) is int:
        return value
    return "" if value is None else format_scalar("count", value, grouping=False)


def answer_records(value: Any) -> list[Mapping[str, Any]]:
    if not isinstance(value, list | tuple):
        return []
    return [item for item in value if isinstance(item, Mapping)]


def format_records_text(row: LayoutRow, value: Any, *, grouping: bool = True) -> str:
    """A records answer on one line (CSV cells, change lists)."""
    items = answer_records(value)
    if not items:
        return EMPTY
    parts = []
    for item in items:
        fields = [
            f"{label}：{format_scalar(kind, item.get(key), grouping=grouping)}"
            for key, label, _unit, kind in row.item_fields
        ]
        parts.append("，".join(fields))
    return "；".join(parts)


def format_value(row: LayoutRow, value: Any, *, grouping: bool = True) -> str:
    if row.type == "records":
        return format_records_text(row, value, grouping=grouping)
    return format_scalar(row.type, value, row.options, grouping=grouping)


def csv_cell(text: str) -> str:
    """Neutralise spreadsheet formulas in user text (a leading = + - @ or control character)."""
    if text and text[0] in "=+-@\t\r" and not _is_plain_number(text):
        return "'" + text
    return text


def _is_plain_number(text: str) -> bool:
    try:
        float(text.replace(",", ""))
    except ValueError:
        return False
    return True


def expand_row(row: LayoutRow) -> list[tuple[str, str, str]]:
    """(path, column id, column label) per cell: one for a plain row, five for a quarterly one."""
    if not row.columns:
        return [(row.path, "", "")]
    return [
        (row.path.replace("{col}", col), col, QUARTER_LABELS.get(col, col)) for col in row.columns
    ]


def with_unit(label: str, unit: str | None) -> str:
    """``label（unit）`` unless the label already ends with its unit."""
    if not unit or label.endswith(f"（{unit}）"):
        return label
    return f"{label}（{unit}）"


def count_columns(layout: Sequence[LayoutRow]) -> list[tuple[str, str]]:
    """(path, header) of every count cell of a form, in the official order."""
    out = []
    for row in layout:
        if row.type != "count":
            continue
        for path, _col, col_label in expand_row(row):
            header = with_unit(row.label, row.unit)
            if not header.startswith(row.section_label):
                header = f"{row.section_label}／{header}"
            if col_label:
                header += f"（{col_label}）"
            out.append((path, header))
    return out


#: the types a JSON copy keeps as they are
_JSON_SCALARS = frozenset({str, int, float, bool, type(None)})


def json_values(value: Any) -> Any:
    """Report values for a JSON copy: only JSON types survive (pure, no I/O)."""
    kind = type(value)
    if kind in _JSON_SCALARS:
        return value
    if kind is dict:  # a report as parsed: plain dicts and lists of JSON values
        return {
            (k if type(k) is str else str(k)): (v if type(v) in _JSON_SCALARS else json_values(v))
            for k, v in value.items()
        }
    if kind is list:
        return [v if type(v) in _JSON_SCALARS else json_values(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): json_values(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_values(v) for v in value]
    if isinstance(value, datetime):
        return iso_time(value)
    if isinstance(value, date):
        return value.isoformat()
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)
