"""Realistic work reports for any registered site, built from the clean example under data/."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from shared.registry import Site

DATA = Path(__file__).resolve().parents[1] / "data" / "reports"


def clean_work_report() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(
        (DATA / "work-report" / "clean.json").read_text(encoding="utf-8")
    )
    return loaded


def work_report_for(site: Site, year: int, scale: int = 1) -> dict[str, Any]:
    """The clean example re-headed for ``site``, its counts multiplied by ``scale``."""
    report = copy.deepcopy(clean_work_report())
    report["year"] = year
    report["site"].update(
        name=site.name,
        homepage_url=site.homepage_url,
        sponsor=site.sponsor,
        type=site.type.value,
        site_code=site.code,
    )
    if scale != 1:
        _scale(report, scale)
    return report


def _scale(node: Any, factor: int) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            if isinstance(value, bool) or key == "year":
                continue
            if isinstance(value, int):
                node[key] = value * factor
            else:
                _scale(value, factor)
    elif isinstance(node, list):
        for item in node:
            _scale(item, factor)
