"""A registry import's body: unsafe text and numbers too long for Python are refused at their
field, before anything is compared or written."""

from __future__ import annotations

import json
from typing import Any

import pytest

from services.intake.edge import decode_json
from services.intake.errors import Invalid
from services.intake.registry_admin import parse_registry

NODE = {"code": "CN", "name": "全国", "level": "national", "tree": "admin"}
PROVINCE = {**NODE, "code": "110000", "name": "北京市", "level": "province", "parent": "CN"}
SITE = {
    "code": "1100000001",
    "name": "中国政府网",
    "homepage_url": "https://www.gov.cn",
    "type": "portal",
    "sponsor": "国务院办公厅",
    "admin_node": "110000",
}


def body(**site: Any) -> dict[str, Any]:
    return {"nodes": [NODE, PROVINCE], "sites": [{**SITE, **site}]}


def test_a_clean_body_parses() -> None:
    nodes, sites = parse_registry(body())
    assert [n.code for n in nodes] == ["CN", "110000"] and [s.name for s in sites] == ["中国政府网"]


@pytest.mark.parametrize("field", ["name", "sponsor", "homepage_url", "code", "admin_node"])
@pytest.mark.parametrize("char", ["\x00", "\x1b", "\ud800", "\u202e", "\u2069"])
def test_unsafe_text_in_a_site_is_refused_at_its_field(field: str, char: str) -> None:
    with pytest.raises(Invalid) as refused:
        parse_registry(body(**{field: SITE[field] + char}))
    (issue,) = refused.value.issues
    assert (issue.rule_id, issue.paths) == ("registry.unsafe_text", [f"sites.0.{field}"])
    assert f"U+{ord(char):04X}" in issue.message_en and issue.message_zh.startswith("sites.0.")


def test_unsafe_text_in_a_node_name_is_refused() -> None:
    with pytest.raises(Invalid) as refused:
        parse_registry({"nodes": [{**NODE, "name": "全\x00国"}], "sites": []})
    assert [i.paths for i in refused.value.issues] == [["nodes.0.name"]]


def test_a_year_too_long_for_python_is_refused_at_its_field() -> None:
    huge = '"active_from": ' + "9" * 5000
    raw = json.dumps(body(active_from=0)).replace('"active_from": 0', huge)
    with pytest.raises(Invalid) as refused:
        parse_registry(decode_json(raw.encode()))
    (issue,) = refused.value.issues
    assert (issue.rule_id, issue.paths) == ("registry.oversized_number", ["sites.0.active_from"])
    assert "4300" in issue.message_zh
