"""Named checks of the filing numbers in a site's footer: ICP and public security (公安)."""

from __future__ import annotations

import re
from collections.abc import Iterator

from .base import Finding, RuleInput, is_empty, rule_check

#: the provinces' one-character abbreviations and their 2-digit division prefix; the ICP system
#: uses 蜀 黔 滇 陇 where the public-security numbers use 川 贵 云 甘, and both are seen
PROVINCE_ABBREVIATIONS: dict[str, str] = {
    "京": "11", "津": "12", "冀": "13", "晋": "14", "蒙": "15", "辽": "21", "吉": "22",
    "黑": "23", "沪": "31", "苏": "32", "浙": "33", "皖": "34", "闽": "35", "赣": "36",
    "鲁": "37", "豫": "41", "鄂": "42", "湘": "43", "粤": "44", "桂": "45", "琼": "46",
    "渝": "50", "川": "51", "蜀": "51", "贵": "52", "黔": "52", "云": "53", "滇": "53",
    "藏": "54", "陕": "61", "甘": "62", "陇": "62", "青": "63", "宁": "64", "新": "65",
}  # fmt: skip
_ABBR = "[" + "".join(PROVINCE_ABBREVIATIONS) + "]"
ICP_RE = re.compile(rf"^{_ABBR}ICP备 ?\d{{8,10}}号?(-\d+)?$")
PSB_RE = re.compile(rf"^({_ABBR})公网安备 ?(\d{{12}}|\d{{14}})号$")


@rule_check("icp_filing")
def icp_filing(given: RuleInput) -> Iterator[Finding]:
    """京ICP备05060933号: abbreviation, ICP备, optional space, 8–10 digits, 号 optional, -n."""
    path = given.params["path"]
    value = given.value(path)
    if not is_empty(value) and not ICP_RE.fullmatch(str(value).strip()):
        yield Finding(
            [path],
            message_zh=f"ICP备案号（{value}）格式不正确，应如“京ICP备05060933号”"
            "（省份简称＋ICP备＋8至10位数字＋号，可带“-1”等后缀）",
            message_en=f"ICP filing number ({value}) is malformed; expected e.g. 京ICP备05060933号",
        )


def _county_level(abbreviation: str, digits: str) -> bool:
    """The first 6 digits name a county-level division of the abbreviation's province."""
    division = digits[:6]
    return division[:2] == PROVINCE_ABBREVIATIONS[abbreviation] and division[4:] != "00"


@rule_check("psb_filing")
def psb_filing(given: RuleInput) -> Iterator[Finding]:
    """京公网安备11010202007633号: 14 digits starting with a county code; 12 (older) warned."""
    path = given.params["path"]
    value = given.value(path)
    if is_empty(value):
        return
    found = PSB_RE.fullmatch(str(value).strip())
    if found is not None and len(found.group(2)) == 12:
        yield Finding(
            [path],
            message_zh=f"公安机关备案号（{value}）为12位旧编号，请核实是否已换发14位新备案号",
            message_en=f"public-security filing number ({value}) has the older 12 digits; "
            "please check for its 14-digit number",
        )
    elif found is None or not _county_level(found.group(1), found.group(2)):
        yield Finding(
            [path],
            message_zh=f"公安机关备案号（{value}）格式不正确，应如“京公网安备11010202007633号”"
            "（省份简称＋公网安备＋14位数字＋号，前6位为所在县级行政区划代码）",
            message_en=f"public-security filing number ({value}) is malformed; expected e.g. "
            "京公网安备11010202007633号 (14 digits, the first 6 a county-level division code)",
        )
