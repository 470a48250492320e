"""Registry files: JSON and CSV round trips, CSV nodes from the division table, clear refusals."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from shared.registry.demo import demo_registry
from shared.registry.model import Registry, RegistryError
from shared.runtime.registry_files import dump_registry, load_registry

SITES_HEADER = (
    "code,name,homepage_url,type,sponsor,admin_node,dept_node,active_from,active_to,ended_by"
)


def same(a: Registry, b: Registry) -> bool:
    return a.nodes == b.nodes and a.sites == b.sites


def test_json_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "registry.json"
    dump_registry(demo_registry(), path)
    assert same(load_registry(path), demo_registry())
    assert same(load_registry(tmp_path), demo_registry())
    body = json.loads(path.read_text("utf-8"))
    assert set(body) == {"nodes", "sites"}
    assert "北京市人民政府" in path.read_text("utf-8")


def test_csv_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "sites.csv"
    dump_registry(demo_registry(), path)
    assert same(load_registry(path), demo_registry())
    assert same(load_registry(tmp_path), demo_registry())
    nodes_csv = (tmp_path / "nodes.csv").read_text("utf-8")
    assert "bm29-510000" in nodes_csv
    assert "510903" not in nodes_csv  # admin nodes come from the division table


def test_csv_admin_nodes_are_the_referenced_divisions_and_their_ancestors(tmp_path: Path) -> None:
    (tmp_path / "sites.csv").write_text(
        SITES_HEADER + "\n5109030018,遂宁市船山区政务服务网,https://zwfw.510903.gov.cn,department,"
        "遂宁市船山区行政审批局,510903,,2000,,\n"
        "1101010001,北京市东城区人民政府,https://www.bjdch.gov.cn,portal,"
        "北京市东城区人民政府办公室,110101,,,,\n",
        "utf-8",
    )
    registry = load_registry(tmp_path / "sites.csv")
    assert sorted(registry.nodes) == ["110000", "110101", "510000", "510900", "510903", "CN"]
    assert registry.path("510903") == ["CN", "510000", "510900", "510903"]
    assert registry.nodes["510903"].name == "船山区"
    assert registry.sites["1101010001"].active_from == 2000


def test_csv_with_an_excel_bom_and_department_nodes(tmp_path: Path) -> None:
    (tmp_path / "sites.csv").write_text(
        "\ufeff"
        + SITES_HEADER
        + "\nbm29230001,国家税务总局四川省税务局,https://sichuan.chinatax.gov.cn,"
        "department,国家税务总局四川省税务局,510000,bm29-510000,2000,,\n",
        "utf-8",
    )
    (tmp_path / "nodes.csv").write_text(
        "code,name,level,tree,parent\nbm29,国家税务总局,department,dept,\n"
        "bm29-510000,国家税务总局四川省税务局,branch,dept,bm29\n",
        "utf-8",
    )
    registry = load_registry(tmp_path / "sites.csv")
    assert registry.site_ancestors("bm29230001") == ["510000", "CN", "bm29-510000", "bm29"]


def test_csv_refuses_unknown_columns_and_bad_rows(tmp_path: Path) -> None:
    path = tmp_path / "sites.csv"
    path.write_text("code,name,colour\n1,2,3\n", "utf-8")
    with pytest.raises(RegistryError, match="unknown columns"):
        load_registry(path)
    path.write_text(
        SITES_HEADER
        + "\n5100000001,四川省人民政府,https://www.sc.gov.cn,blog,办公厅,510000,,x,,\n",
        "utf-8",
    )
    with pytest.raises(RegistryError) as caught:
        load_registry(path)
    assert len(caught.value.problems) == 2
    assert all(p.startswith("sites.csv row 2: ") for p in caught.value.problems)


def test_csv_site_at_an_unknown_division(tmp_path: Path) -> None:
    path = tmp_path / "sites.csv"
    path.write_text(
        SITES_HEADER + "\n9900000001,无,https://www.x.gov.cn,portal,办公厅,990000,,,,\n", "utf-8"
    )
    with pytest.raises(RegistryError, match="at unknown node '990000'"):
        load_registry(path)


def test_json_refuses_extra_fields_and_invalid_registries(tmp_path: Path) -> None:
    path = tmp_path / "registry.json"
    path.write_text(json.dumps({"nodes": [], "sites": [], "extra": 1}), "utf-8")
    with pytest.raises(RegistryError, match="exactly the keys"):
        load_registry(path)
    path.write_text(
        json.dumps({"nodes": [{"code": "CN", "name": "全国", "level": "national",
                               "tree": "admin", "colour": "red"}], "sites": []}),
        "utf-8",
    )  # fmt: skip
    with pytest.raises(RegistryError, match=r"registry\.json nodes entry 0: colour"):
        load_registry(path)
    path.write_text(
        json.dumps({"nodes": [{"code": "510000", "name": "四川省", "level": "province",
                               "tree": "admin", "parent": "CN"}], "sites": []}),
        "utf-8",
    )  # fmt: skip
    with pytest.raises(RegistryError, match="unknown parent 'CN'"):
        load_registry(path)


def test_not_json(tmp_path: Path) -> None:
    path = tmp_path / "registry.json"
    path.write_text("{", "utf-8")
    with pytest.raises(RegistryError, match="cannot read JSON"):
        load_registry(path)
    with pytest.raises(RegistryError, match=r"\.json or \.csv"):
        load_registry(tmp_path / "registry.yaml")


def test_csv_row_with_more_cells_than_columns(tmp_path: Path) -> None:
    path = tmp_path / "sites.csv"
    path.write_text(
        SITES_HEADER + "\n5100000001,四川省人民政府,https://www.sc.gov.cn,portal,办公厅,"
        "510000,,2000,,,surplus\n",
        "utf-8",
    )
    with pytest.raises(RegistryError, match=r"sites\.csv row 2: more cells than columns"):
        load_registry(path)


def test_dump_needs_a_known_suffix(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"\.json or \.csv"):
        dump_registry(demo_registry(), tmp_path / "registry.xml")
