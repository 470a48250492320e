"""A form definition as data: sections, fields and rules, parsed from one YAML file per version."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import wraps
from typing import Any, Literal, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    model_validator,
)

FieldType = Literal[
    "count",
    "decimal",
    "percent",
    "yes_no",
    "choice",
    "multi_choice",
    "text",
    "code",
    "url",
    "date",
    "records",
]
Operator = Literal["==", "!=", "<=", "<", ">=", ">"]
Severity = Literal["error", "warning"]

COL = "{col}"
#: labels of the fields every report has, outside the sections
ENVELOPE_LABELS = {"form": "表单", "form_version": "表单版本", "year": "年度"}
PLACEHOLDER_RE = re.compile(r"\{(\w+)\}")


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Option(_Frozen):
    id: str
    label: str


class FieldDef(_Frozen):
    """One field: dotted id, Chinese label, unit and type; records carry their own item fields."""

    id: str
    label: str
    unit: str | None = None
    type: FieldType
    required: bool = True
    options: tuple[Option, ...] = ()
    max_length: int | None = Field(default=None, gt=0)
    max_items: int | None = Field(default=None, gt=0)
    item_fields: tuple[FieldDef, ...] = ()
    #: the filling instruction (填报说明) of the notice for this field, in Chinese
    instruction: str = ""

    @model_validator(mode="after")
    def _shape(self) -> FieldDef:
        if (self.type in ("choice", "multi_choice")) != bool(self.options):
            raise ValueError(f"{self.id}: options are for choice and multi_choice fields only")
        if (self.type == "records") != bool(self.item_fields):
            raise ValueError(f"{self.id}: item_fields are for records fields only")
        if any(f.type == "records" or "." in f.id for f in self.item_fields):
            raise ValueError(f"{self.id}: item fields are flat scalars")
        return self


class Section(_Frozen):
    """An ordered group of fields; with columns, every field exists once per column ({col})."""

    id: str
    label: str
    columns: tuple[str, ...] = ()
    column_labels: dict[str, str] = Field(default_factory=dict)
    fields: tuple[FieldDef, ...]
    #: the filling instruction of the section as a whole (before its fields')
    instruction: str = ""

    @model_validator(mode="after")
    def _columns(self) -> Section:
        for f in self.fields:
            if (COL in f.id) != bool(self.columns):
                raise ValueError(f"{f.id}: {COL} is required exactly in sections with columns")
        if set(self.column_labels) - set(self.columns):
            raise ValueError(f"section {self.id}: labels for unknown columns")
        return self


class SumOf(_Frozen):
    sum: tuple[str, ...] = Field(min_length=1)


#: a side of a comparison: a field path, a constant, or the sum of field paths
Operand = StrictBool | StrictInt | StrictFloat | SumOf | str


class Comparison(_Frozen):
    left: Operand
    operator: Operator
    right: Operand


class RuleDef(_Frozen):
    """A rule: declarative (left operator right, optionally when ...) or a named check."""

    id: str = Field(pattern=r"^[a-z]+\.[a-z0-9_]+$")
    severity: Severity
    description: str = ""
    left: Operand | None = None
    operator: Operator | None = None
    right: Operand | None = None
    when: Comparison | None = None
    missing: Literal["skip", "zero"] = "skip"
    for_columns: tuple[str, ...] = ()
    for_each: dict[str, tuple[str, ...]] = Field(default_factory=dict)
    paths: tuple[str, ...] = ()
    #: skip this rule when one of these (earlier) rules found something
    requires: tuple[str, ...] = ()
    check: str | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    message_zh: str = ""
    message_en: str = ""

    @model_validator(mode="after")
    def _kind(self) -> RuleDef:
        sides = (self.left, self.operator, self.right)
        if self.check is None:
            if any(s is None for s in sides):
                raise ValueError(f"{self.id}: a declarative rule needs left, operator and right")
            if not (self.message_zh and self.message_en):
                raise ValueError(f"{self.id}: a declarative rule needs message_zh and message_en")
        elif any(s is not None for s in sides) or self.when or self.for_each or self.for_columns:
            raise ValueError(f"{self.id}: a named check takes params, not a comparison")
        if "col" in self.for_each:
            raise ValueError(f"{self.id}: use for_columns for {COL}")
        return self

    @property
    def comparison(self) -> Comparison:
        assert self.left is not None and self.operator is not None and self.right is not None
        return Comparison(left=self.left, operator=self.operator, right=self.right)

    def expansions(self) -> list[dict[str, str]]:
        """Every binding of the rule's placeholders: the product of for_each and for_columns."""
        out: list[dict[str, str]] = [{}]
        axes = dict(self.for_each)
        if self.for_columns:
            axes["col"] = self.for_columns
        for name, values in axes.items():
            out = [{**b, name: v} for b in out for v in values]
        return out


class FormDefinition(_Frozen):
    """One version of one form, as read from definitions/<form>/<version>.yaml."""

    form: str = Field(pattern=r"^[a-z][a-z0-9-]*$")
    version: str = Field(pattern=r"^[A-Za-z0-9.-]+$")
    title: str
    code_field: str
    sections: tuple[Section, ...]
    rules: tuple[RuleDef, ...] = ()
    #: section and field ids the notice (and FORMS.md) give no filling instruction for
    without_instruction: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _unique(self) -> FormDefinition:
        ids = [f.id for s in self.sections for f in s.fields]
        instructed = {s.id for s in self.sections if s.instruction} | {
            f.id for s in self.sections for f in s.fields if f.instruction
        }
        unknown = set(self.without_instruction) - set(ids) - set(self.section_ids())
        if unknown:
            raise ValueError(f"without_instruction names unknown ids: {sorted(unknown)}")
        both = instructed & set(self.without_instruction)
        if both:
            raise ValueError(f"listed without instruction, yet instructed: {sorted(both)}")
        rule_ids = [r.id for r in self.rules]
        for what, seq in (("field", ids), ("rule", rule_ids), ("section", self.section_ids())):
            dupes = sorted({x for x in seq if seq.count(x) > 1})
            if dupes:
                raise ValueError(f"duplicate {what} ids: {dupes}")
        if self.code_field not in ids:
            raise ValueError(f"code_field {self.code_field} is not a field")
        return self

    def section_ids(self) -> list[str]:
        return [s.id for s in self.sections]


@dataclass(frozen=True)
class Leaf:
    """A field at one concrete path: quarterly fields give one leaf per column."""

    path: str
    field: FieldDef
    section: Section
    col: str | None = None

    @property
    def col_label(self) -> str:
        return "" if self.col is None else self.section.column_labels.get(self.col, self.col)

    @property
    def label(self) -> str:
        return f"{self.col_label} {self.field.label}" if self.col else self.field.label


def substitute(template: str, bindings: dict[str, str]) -> str:
    """Replace {name} placeholders by their bound values; unknown ones stay."""
    return PLACEHOLDER_RE.sub(lambda m: bindings.get(m.group(1), m.group(0)), template)


def iter_leaves(defn: FormDefinition) -> Iterator[Leaf]:
    """Every field at its concrete path, in layout order (each quarterly row by column)."""
    for section in defn.sections:
        for f in section.fields:
            if section.columns:
                for col in section.columns:
                    yield Leaf(substitute(f.id, {"col": col}), f, section, col)
            else:
                yield Leaf(f.id, f, section)


T = TypeVar("T")


def per_definition(fn: Callable[[FormDefinition], T]) -> Callable[[FormDefinition], T]:
    """Cache a function of a definition per (form, version)."""
    cache: dict[tuple[str, str], tuple[FormDefinition, T]] = {}

    @wraps(fn)
    def cached(defn: FormDefinition) -> T:
        key = (defn.form, defn.version)
        hit = cache.get(key)
        if hit is not None and (hit[0] is defn or hit[0] == defn):
            return hit[1]
        value = fn(defn)
        cache[key] = (defn, value)
        return value

    return cached


@per_definition
def leaves(defn: FormDefinition) -> dict[str, Leaf]:
    """Concrete path -> leaf, in layout order."""
    return {leaf.path: leaf for leaf in iter_leaves(defn)}


def label_of(defn: FormDefinition, path: str) -> str:
    """The Chinese label of a concrete path, records items included ("其他 第1条 名称")."""
    leaf = leaves(defn).get(path)
    if leaf is not None:
        return leaf.label
    if path in ENVELOPE_LABELS:
        return ENVELOPE_LABELS[path]
    section = next((s for s in defn.sections if s.id == path), None)
    if section is not None:
        return section.label
    parts = path.split(".")
    for i in range(len(parts) - 1, 0, -1):
        head = leaves(defn).get(".".join(parts[:i]))
        if head is None or head.field.type != "records":
            continue
        rest = parts[i:]
        label = head.label
        if rest and rest[0].isdigit():
            label += f" 第{int(rest[0]) + 1}条"
            rest = rest[1:]
        items = {f.id: f.label for f in head.field.item_fields}
        if rest and rest[0] in items:
            label += f" {items[rest[0]]}"
        return label
    return path
