"""Filling instructions (填报说明) as data: complete, in the schema, pointed at by messages."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from pydantic import ValidationError

from shared.forms import check_report, json_schema, load_form
from shared.forms.definition import FormDefinition
from shared.forms.instructions import instruction_of, instructions
from tests.support.forms import edited, mini_registry

FORMS = ("work-report", "supervision-report")
Clean = Callable[[str], dict[str, Any]]


@pytest.mark.parametrize("form", FORMS)
def test_every_section_and_field_has_its_instruction_or_is_listed_without(form: str) -> None:
    defn = load_form(form, "2018")
    listed = set(defn.without_instruction)
    for section in defn.sections:
        assert bool(section.instruction) != (section.id in listed), section.id
        for f in section.fields:
            assert bool(f.instruction) != (f.id in listed), f.id


def test_instructions_come_from_the_notice() -> None:
    """Spot checks against the seed (decoded with FORMS.md's key)."""
    wr, sr = (load_form(form, "2018") for form in FORMS)
    text = {i.title: i.text for i in instructions(wr)}
    assert "同一用户每日多次访问不重复计算" in text["独立用户访问总量（个）"]
    assert "不包括外链信息" in text["解读信息发布 总数（条）"]
    hotspots = text["回应公众关注热点或重大舆情数量（次）"]
    assert "以多种形式回应同一热点或舆情的不重复计算" in hotspots
    assert "已办结" in text["办件量 总数（件）"]
    accountability = next(i for i in instructions(sr) if i.title.startswith("问责人次（"))
    assert "按问责程度最重的统计" in accountability.text
    assert len(accountability.ids) == 7  # the total and its six forms
    assert [i.number for i in instructions(wr)] == list(range(1, len(instructions(wr)) + 1))


def test_a_definition_cannot_both_instruct_and_list_a_field() -> None:
    defn = load_form("work-report", "2018")
    data = defn.model_dump()
    data["without_instruction"] = [*data["without_instruction"], "traffic.page_views"]
    with pytest.raises(ValidationError, match="yet instructed"):
        FormDefinition.model_validate(data)
    data["without_instruction"] = ["no.such.field"]
    with pytest.raises(ValidationError, match="unknown ids"):
        FormDefinition.model_validate(data)


def test_the_schema_describes_each_field_by_its_instruction() -> None:
    schema = json_schema(load_form("work-report", "2018"))
    traffic = schema["$defs"]["WorkReport2018Traffic"]["properties"]
    assert traffic["unique_visitors"]["description"].startswith("请填写本年度访问网站的用户总数")
    assert traffic["unique_visitors"]["description"].endswith("单位：个")


def test_quarterly_and_records_paths_find_their_field_instruction() -> None:
    sr, wr = load_form("supervision-report", "2018"), load_form("work-report", "2018")
    q3 = instruction_of(sr, "spot_checks.q3.accountability.talk")
    assert q3 is not None and "问责" in q3.text
    item = instruction_of(wr, "new_media.other.0.platform")
    assert item is not None and "其他新媒体产品" in item.text
    assert instruction_of(wr, "signoff.phone") is None


def test_rule_messages_point_at_the_instruction_of_their_field(clean: Clean) -> None:
    wr = load_form("work-report", "2018")
    report = edited(
        clean("work-report"), {"traffic.unique_visitors": 2000, "traffic.page_views": 1000}
    )
    issue = next(
        i for i in check_report(report, mini_registry()).issues if i.rule_id == "wr.uv_le_pv"
    )
    number = next(i.number for i in instructions(wr) if i.ids == ("traffic.unique_visitors",))
    assert issue.message_zh.endswith(f"（见填报说明第{number}条）")
    assert issue.message_en.endswith(f"(see filling instruction {number})")
