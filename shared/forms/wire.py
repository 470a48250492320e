"""The wire model and JSON Schema of a form version, built from its definition."""

from __future__ import annotations

import copy
import re
from datetime import date
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StringConstraints,
    create_model,
)
from pydantic_core import PydanticCustomError

from shared.text import refuse_unsafe

from .definition import FieldDef, FormDefinition, Leaf, iter_leaves, per_definition

MAX_COUNT = 10**12
MAX_RECORDS = 100
CODE_RE = r"^[A-Za-z0-9_-]+$"
URL_RE = r"^[Hh][Tt][Tt][Pp][Ss]?://[^\s/?#]+[^\s]*$"
ISO_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")

Count = Annotated[int, Field(strict=True, ge=0, le=MAX_COUNT)]
Decimal = Annotated[float, Field(strict=True, ge=0, le=MAX_COUNT, allow_inf_nan=False)]
Percent = Annotated[float, Field(strict=True, ge=0, le=100, allow_inf_nan=False)]
Code = Annotated[
    str, StringConstraints(strict=True, strip_whitespace=True, max_length=32, pattern=CODE_RE)
]
Url = Annotated[
    str,
    StringConstraints(strict=True, strip_whitespace=True, max_length=2048, pattern=URL_RE),
    BeforeValidator(refuse_unsafe),
]


def _iso_date_only(value: Any) -> Any:
    if isinstance(value, str) and ISO_DATE_RE.fullmatch(value):
        return value
    raise PydanticCustomError("iso_date", "Input should be an ISO date YYYY-MM-DD")


IsoDate = Annotated[
    date, BeforeValidator(_iso_date_only), Field(json_schema_extra={"format": "date"})
]


def _no_duplicates(values: list[str]) -> list[str]:
    if len(set(values)) != len(values):
        raise PydanticCustomError("duplicate_option", "Options should not repeat")
    return values


def _literal(ids: tuple[str, ...]) -> Any:
    return Literal.__getitem__(ids)


def _text(f: FieldDef) -> Any:
    return Annotated[
        str,
        StringConstraints(
            strict=True,
            strip_whitespace=True,
            min_length=1 if f.required else None,
            max_length=f.max_length or 10_000,
        ),
        BeforeValidator(refuse_unsafe),
    ]


def _scalar(f: FieldDef, name: str) -> Any:
    """The Python type of a field's value (not yet optional)."""
    ids = tuple(o.id for o in f.options)
    match f.type:
        case "count":
            return Count
        case "decimal":
            return Decimal
        case "percent":
            return Percent
        case "yes_no":
            return StrictBool
        case "choice":
            return _literal(ids)
        case "multi_choice":
            return Annotated[
                list[_literal(ids)],  # type: ignore[misc]
                AfterValidator(_no_duplicates),
                Field(json_schema_extra={"uniqueItems": True}),
            ]
        case "text":
            return _text(f)
        case "code":
            return Code
        case "url":
            return Url
        case "date":
            return IsoDate
        case "records":
            item = _model(name, {i.id: _field(i, f"{name}Item") for i in f.item_fields})
            return Annotated[list[item], Field(max_length=f.max_items or MAX_RECORDS)]  # type: ignore[valid-type]
    raise ValueError(f"unknown field type {f.type}")


def _description(f: FieldDef) -> str | None:
    """The field's filling instruction and unit, as people read them in the schema."""
    parts = [f.instruction] if f.instruction else []
    if f.unit:
        parts.append(f"单位：{f.unit}")
    return "\n".join(parts) or None


def _field(f: FieldDef, name: str, title: str | None = None) -> tuple[Any, Any]:
    kind = _scalar(f, name)
    description = _description(f)
    if f.required:
        return kind, Field(..., title=title or f.label, description=description)
    return kind | None, Field(None, title=title or f.label, description=description)


def _model(name: str, fields: dict[str, tuple[Any, Any]]) -> type[BaseModel]:
    config = ConfigDict(extra="forbid")
    return create_model(name, __config__=config, **fields)  # type: ignore[call-overload]


def _camel(text: str) -> str:
    return "".join(p[:1].upper() + p[1:] for p in re.split(r"[^A-Za-z0-9]+", text) if p)


Tree = dict[str, "Tree | Leaf"]


def _tree(defn: FormDefinition) -> Tree:
    root: Tree = {}
    for leaf in iter_leaves(defn):
        *groups, last = leaf.path.split(".")
        node = root
        for g in groups:
            child = node.setdefault(g, {})
            assert isinstance(child, dict), f"{leaf.path} is below a field"
            node = child
        node[last] = leaf
    return root


def _required(node: Tree | Leaf) -> bool:
    if isinstance(node, Leaf):
        return node.field.required
    return any(_required(child) for child in node.values())


def _group(name: str, tree: Tree) -> type[BaseModel]:
    fields: dict[str, tuple[Any, Any]] = {}
    for key, node in tree.items():
        if isinstance(node, Leaf):
            fields[key] = _field(node.field, name + _camel(key), node.label)
        else:
            sub = _group(name + _camel(key), node)
            fields[key] = (sub, ...) if _required(node) else (sub | None, None)
    return _model(name, fields)


@per_definition
def wire_model(defn: FormDefinition) -> type[BaseModel]:
    """The pydantic model of a report on the wire: unknown fields are refused at every level."""
    name = _camel(defn.form) + _camel(defn.version)
    tree = _tree(defn)
    clash = {"form", "form_version", "year"} & set(tree)
    if clash:
        raise ValueError(f"{defn.form} {defn.version}: reserved top-level names {clash}")
    fields: dict[str, tuple[Any, Any]] = {
        "form": (Literal.__getitem__(defn.form), Field(..., title="表单")),
        "form_version": (Literal.__getitem__(defn.version), Field(..., title="表单版本")),
        "year": (Annotated[int, Field(strict=True, ge=2000, le=2100)], Field(..., title="年度")),
    }
    notes = {s.id: s.instruction for s in defn.sections if s.instruction}
    for key, node in tree.items():
        assert not isinstance(node, Leaf), f"{key}: top-level fields must be grouped"
        sub = _group(name + _camel(key), node)
        note = Field(description=notes[key]) if key in notes else None
        if _required(node):
            fields[key] = (sub, note if note is not None else ...)
        else:
            fields[key] = (sub | None, Field(None, description=notes[key]) if note else None)
    return _model(name, fields)


def json_schema(defn: FormDefinition) -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of the wire model."""
    return copy.deepcopy(_json_schema(defn))


@per_definition
def _json_schema(defn: FormDefinition) -> dict[str, Any]:
    schema = wire_model(defn).model_json_schema()
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        **schema,
        "title": f"{defn.title}（{defn.version}）",
    }
