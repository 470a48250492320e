"""Read and write the site registry as JSON or CSV, refusing an inconsistent one.

JSON: one file ``{"nodes": [...], "sites": [...]}`` whose entries have exactly the fields of
:class:`Node` and :class:`Site`.

CSV: a sites file (usually ``sites.csv``) with the fields of :class:`Site` as columns (empty cell =
the field's default). Its administrative nodes are not listed: they are the divisions of
``data/divisions.csv`` the sites point at, with all their ancestors up to ``CN``. A ``nodes.csv``
beside it (columns ``code,name,level,tree,parent``), when present, adds the department-system nodes
and any node the division table lacks or that should read differently (a row replaces the division
of the same code). ``dump_registry`` writes that ``nodes.csv`` (possibly with no rows) every time.

A directory stands for the ``registry.json`` or else the ``sites.csv`` inside it.
"""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from shared.registry.divisions import division_closure
from shared.registry.model import Node, Registry, RegistryError, Site, share_fields_set
from shared.registry.validation import checked_registry, validate_registry

__all__ = ["dump_registry", "load_registry", "validate_registry"]

NODE_COLUMNS = list(Node.model_fields)
SITE_COLUMNS = list(Site.model_fields)
NODES_CSV = "nodes.csv"

M = TypeVar("M", bound=BaseModel)


def load_registry(path: Path) -> Registry:
    """The registry in ``path`` (JSON, CSV or a directory holding one), checked."""
    path = _resolve(Path(path))
    if path.suffix == ".json":
        nodes, sites, problems = _read_json(path)
    elif path.suffix == ".csv":
        nodes, sites, problems = _read_csv(path)
    else:
        raise RegistryError([f"{path}: a registry is a .json or .csv file"])
    if problems:
        raise RegistryError(problems)
    return checked_registry(nodes, sites)


def dump_registry(registry: Registry, path: Path) -> None:
    """Write ``registry`` to ``path`` (``.json``, or ``.csv`` plus ``nodes.csv`` beside it)."""
    path = Path(path)
    nodes = [registry.nodes[c] for c in sorted(registry.nodes)]
    sites = [registry.sites[c] for c in sorted(registry.sites)]
    if path.suffix == ".json":
        body = {
            "nodes": [n.model_dump(mode="json") for n in nodes],
            "sites": [s.model_dump(mode="json") for s in sites],
        }
        _write_atomically(path, json.dumps(body, ensure_ascii=False, indent=1) + "\n")
    elif path.suffix == ".csv":
        derived = {n.code: n for n in division_closure(s.admin_node for s in sites)}
        listed = [n for n in nodes if derived.get(n.code) != n]
        _write_atomically(path, _csv_text(SITE_COLUMNS, sites))
        _write_atomically(path.with_name(NODES_CSV), _csv_text(NODE_COLUMNS, listed))
    else:
        raise ValueError(f"{path}: write a registry to a .json or .csv file")


def _resolve(path: Path) -> Path:
    if not path.is_dir():
        return path
    for name in ("registry.json", "sites.csv"):
        if (path / name).exists():
            return path / name
    return path / "sites.csv"


def _read_json(path: Path) -> tuple[list[Node], list[Site], list[str]]:
    try:
        body = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError) as exc:
        return [], [], [f"{path}: cannot read JSON: {exc}"]
    if not isinstance(body, dict) or set(body) != {"nodes", "sites"}:
        return [], [], [f"{path}: expected an object with exactly the keys 'nodes' and 'sites'"]
    nodes, problems = _parse(Node, body["nodes"], f"{path.name} nodes")
    sites, site_problems = _parse(Site, body["sites"], f"{path.name} sites")
    return nodes, sites, problems + site_problems


def _read_csv(path: Path) -> tuple[list[Node], list[Site], list[str]]:
    rows, problems = _csv_rows(path, SITE_COLUMNS)
    sites, site_problems = _parse(Site, rows, path.name, first=2)
    problems += site_problems
    by_code = {n.code: n for n in division_closure(s.admin_node for s in sites)}
    extra_path = path.with_name(NODES_CSV)
    if extra_path.exists() and extra_path != path:
        node_rows, node_read_problems = _csv_rows(extra_path, NODE_COLUMNS)
        extra, node_problems = _parse(Node, node_rows, extra_path.name, first=2)
        problems += node_read_problems + node_problems
        seen: set[str] = set()
        for node in extra:
            if node.code in seen:
                problems.append(f"{extra_path.name}: duplicate node code {node.code!r}")
            seen.add(node.code)
            by_code[node.code] = node
    return list(by_code.values()), sites, problems


def _csv_rows(path: Path, columns: Sequence[str]) -> tuple[list[dict[str, Any]], list[str]]:
    try:
        text = path.read_text("utf-8-sig")
    except OSError as exc:
        return [], [f"{path}: cannot read: {exc}"]
    reader = csv.DictReader(io.StringIO(text))
    header = reader.fieldnames or []
    unknown = [c for c in header if c not in columns]
    if unknown:
        return [], [f"{path.name}: unknown columns {unknown}; expected {list(columns)}"]
    rows: list[dict[str, Any]] = []
    problems: list[str] = []
    for number, row in enumerate(reader, start=2):
        if None in row:
            problems.append(f"{path.name} row {number}: more cells than columns")
        rows.append({k: v for k, v in row.items() if k is not None and v not in ("", None)})
    return rows, problems


def _parse(model: type[M], items: object, where: str, first: int = 0) -> tuple[list[M], list[str]]:
    """Each item validated as ``model``; JSON entries count from 0, CSV rows from 2 (the header
    is row 1)."""
    if not isinstance(items, list):
        return [], [f"{where}: expected a list"]
    parsed: list[M] = []
    problems: list[str] = []
    # each model's set of set fields shared as it is made (the registry would share them later,
    # but loading would then peak with one set per entry: ~13 MiB more at national scale)
    fields_sets: dict[frozenset[str], set[str]] = {}
    for number, item in enumerate(items, start=first):
        try:
            parsed.append(share_fields_set(model.model_validate(item), fields_sets))
        except ValidationError as exc:
            for error in exc.errors():
                field = ".".join(str(p) for p in error["loc"]) or "entry"
                label = "row" if first else "entry"
                problems.append(f"{where} {label} {number}: {field}: {error['msg']}")
    return parsed, problems


def _csv_text(columns: Sequence[str], models: Iterable[BaseModel]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(columns), lineterminator="\n")
    writer.writeheader()
    for model in models:
        row = model.model_dump(mode="json")
        writer.writerow({k: "" if v is None else v for k, v in row.items()})
    return out.getvalue()


def _write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as out:
            out.write(text)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise
