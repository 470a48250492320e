"""Build ``divisions.csv`` (code,name,level,parent) from cpca's adcodes table; run by hand.

Source: the ``cpca`` package 0.5.5 (https://github.com/DQinYuan/chinese_province_city_area_mapper,
MIT licence), file ``cpca/resources/adcodes.csv``: 12-digit administrative division codes
(GB/T 2260 codes followed by six zeros), names, longitude and latitude, as of 2020.

Usage::

    cd shared/registry/data && python make_divisions.py adcodes.csv > divisions.csv

What the script does to the source rows:

- keeps the 6-digit division code and the name, drops the coordinates;
- keeps the 31 provinces of the mainland (the national site registry has no sites in 台湾 710000,
  香港 810000, 澳门 820000) and adds 660000 新疆生产建设兵团 as a stand-in province (it has no
  province-level code of its own);
- drops the placeholder rows: 市辖区 (e.g. 110100, 510101), 县 (500200) and
  省直辖县级行政区划 / 自治区直辖县级行政区划 (e.g. 429000, 469000, 659000);
- gives each row its level (``province`` PP0000, ``city`` PPCC00, ``county`` otherwise) and its
  parent: provinces under ``CN``, cities under their province, counties under their city, or
  directly under the province when there is no such city (the districts of 北京, 天津, 上海, 重庆
  and the 省直辖 county-level units such as 429004 仙桃市).
"""

from __future__ import annotations

import csv
import sys
from collections.abc import Iterable, Iterator

NATIONAL = "CN"
OUTSIDE_REGISTRY = {"710000", "810000", "820000"}
STAND_INS = {"660000": "新疆生产建设兵团"}
PLACEHOLDER_NAMES = {"市辖区", "县", "省直辖县级行政区划", "自治区直辖县级行政区划"}


def division_rows(source: Iterable[dict[str, str]]) -> Iterator[tuple[str, str, str, str]]:
    """(code, name, level, parent) for every kept division, sorted by code."""
    names: dict[str, str] = {}
    for row in source:
        adcode = row["adcode"].strip()
        if len(adcode) != 12 or adcode[6:] != "000000":
            raise ValueError(f"unexpected adcode {adcode!r}")
        code = adcode[:6]
        if row["name"].strip() in PLACEHOLDER_NAMES or code[:2] + "0000" in OUTSIDE_REGISTRY:
            continue
        names[code] = row["name"].strip()
    for code, name in STAND_INS.items():
        names.setdefault(code, name)
    for code in sorted(names):
        province, city = code[:2] + "0000", code[:4] + "00"
        if code == province:
            yield code, names[code], "province", NATIONAL
        elif code == city:
            yield code, names[code], "city", province
        else:
            yield code, names[code], "county", city if city in names else province


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    with open(argv[1], encoding="utf-8", newline="") as source:
        rows = list(division_rows(csv.DictReader(source)))
    writer = csv.writer(sys.stdout, lineterminator="\n")
    writer.writerow(["code", "name", "level", "parent"])
    writer.writerows(rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
