"""Helpers for the forms tests: paths of the example data, the mini registry, report edits."""

from __future__ import annotations

import copy
import json
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Any

from shared.forms import load_form
from shared.forms.definition import iter_leaves
from shared.registry.model import Node, Registry, Site

DATA = Path(__file__).resolve().parents[1] / "data"
REPORTS = DATA / "reports"
REGISTRY_MINI = DATA / "registry-mini.json"


def read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def mini_registry(extra_nodes: Sequence[Node] = (), extra_sites: Sequence[Site] = ()) -> Registry:
    """The mini registry built in memory (unvalidated), with extra nodes and sites."""
    data = read_json(REGISTRY_MINI)
    nodes = [Node(**n) for n in data["nodes"]] + list(extra_nodes)
    sites = [Site(**s) for s in data["sites"]] + list(extra_sites)
    return Registry(nodes, sites)


def edited(report: dict[str, Any], edits: dict[str, Any]) -> dict[str, Any]:
    """A deep copy of a report with dotted paths set (list items by index)."""
    out = copy.deepcopy(report)
    for path, value in edits.items():
        *head, last = path.split(".")
        node: Any = out
        for part in head:
            node = node[int(part)] if part.isdigit() else node[part]
        if isinstance(node, list):
            node[int(last)] = value
        else:
            node[last] = value
    return out


def field_paths(form: str, types: Collection[str]) -> list[str]:
    """Every concrete path of a form's fields of these types, the first item's fields of each
    records field included ("new_media.other.0.name")."""
    out = []
    for leaf in iter_leaves(load_form(form)):
        if leaf.field.type in types:
            out.append(leaf.path)
        if leaf.field.type == "records":
            out += [f"{leaf.path}.0.{i.id}" for i in leaf.field.item_fields if i.type in types]
    return out


def put(report: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """A deep copy of a report with one dotted path set, creating the groups (and the first
    records item) that are missing or null on the way."""
    out = copy.deepcopy(report)
    *head, last = path.split(".")
    node: Any = out
    for i, part in enumerate(head):
        if isinstance(node, list):
            while len(node) <= int(part):
                node.append({})
            node = node[int(part)]
            continue
        if node.get(part) is None:
            node[part] = [] if i + 1 < len(head) and head[i + 1].isdigit() else {}
        node = node[part]
    node[last] = value
    return out
