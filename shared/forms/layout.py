"""The ordered rows of a form for pages and Excel, and the paths of its counts and yes/no fields."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from .definition import FormDefinition, iter_leaves, per_definition


class LayoutRow(BaseModel):
    """One row of the form; quarterly rows have "{col}" in their path and list their columns."""

    model_config = ConfigDict(frozen=True)

    section: str
    section_label: str
    label: str
    unit: str | None
    path: str
    type: str
    columns: tuple[str, ...] = ()
    options: dict[str, str] = {}
    item_fields: tuple[tuple[str, str, str | None, str], ...] = ()


@per_definition
def _layout(defn: FormDefinition) -> tuple[LayoutRow, ...]:
    return tuple(
        LayoutRow(
            section=section.id,
            section_label=section.label,
            label=f.label,
            unit=f.unit,
            path=f.id,
            type=f.type,
            columns=section.columns,
            options={o.id: o.label for o in f.options},
            item_fields=tuple((i.id, i.label, i.unit, i.type) for i in f.item_fields),
        )
        for section in defn.sections
        for f in section.fields
    )


def layout(defn: FormDefinition) -> list[LayoutRow]:
    return list(_layout(defn))


@per_definition
def _paths_by_type(defn: FormDefinition) -> dict[str, tuple[str, ...]]:
    out: dict[str, list[str]] = {}
    for leaf in iter_leaves(defn):
        out.setdefault(leaf.field.type, []).append(leaf.path)
    return {kind: tuple(paths) for kind, paths in out.items()}


def count_paths(defn: FormDefinition) -> list[str]:
    """Every integer count at its concrete path (quarterly expanded, records excluded)."""
    return list(_paths_by_type(defn).get("count", ()))


def yes_no_paths(defn: FormDefinition) -> list[str]:
    return list(_paths_by_type(defn).get("yes_no", ()))
