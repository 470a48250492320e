"""Helpers for the forms tests: paths of the example data, the mini registry, report edits."""

from __future__ import annotations

import copy
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

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
