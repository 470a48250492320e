"""The filling instructions (填报说明) of a form, numbered in the form's order, found by path."""

from __future__ import annotations

from dataclasses import dataclass

from .definition import FormDefinition, leaves, per_definition


@dataclass(frozen=True)
class Instruction:
    """One numbered instruction: a section's, or one field's (fields sharing a text share one)."""

    number: int
    section: str
    #: the section id, or the ids of the fields it covers
    ids: tuple[str, ...]
    title: str
    text: str


def _title(labels: list[str]) -> str:
    """One title for fields sharing a text: "问责人次（约谈、书面检查）" when they share a head."""
    if len(labels) == 1:
        return labels[0]
    heads = {label.split(" ", 1)[0] for label in labels}
    if len(heads) == 1 and all(" " in label for label in labels):
        return f"{heads.pop()}（{'、'.join(label.split(' ', 1)[1] for label in labels)}）"
    return "、".join(labels)


@per_definition
def _instructions(defn: FormDefinition) -> tuple[Instruction, ...]:
    out: list[Instruction] = []
    for section in defn.sections:
        if section.instruction:
            out.append(
                Instruction(
                    len(out) + 1, section.label, (section.id,), section.label, section.instruction
                )
            )
        groups: list[tuple[str, list[str], list[str]]] = []
        for f in section.fields:
            if not f.instruction:
                continue
            if groups and groups[-1][0] == f.instruction:
                groups[-1][1].append(f.id)
                groups[-1][2].append(f.label)
            else:
                groups.append((f.instruction, [f.id], [f.label]))
        for text, ids, labels in groups:
            out.append(Instruction(len(out) + 1, section.label, tuple(ids), _title(labels), text))
    return tuple(out)


def instructions(defn: FormDefinition) -> list[Instruction]:
    """Every instruction of the form, numbered from 1 in the form's order."""
    return list(_instructions(defn))


@per_definition
def _by_id(defn: FormDefinition) -> dict[str, Instruction]:
    return {i: entry for entry in _instructions(defn) for i in entry.ids}


def instruction_of(defn: FormDefinition, path: str) -> Instruction | None:
    """The instruction of a concrete path (a quarterly cell, a records item, a section), if any."""
    by_id = _by_id(defn)
    leaf = leaves(defn).get(path)
    if leaf is not None:
        return by_id.get(leaf.field.id)
    if path in by_id:
        return by_id[path]
    parts = path.split(".")
    for i in range(len(parts) - 1, 0, -1):
        head = leaves(defn).get(".".join(parts[:i]))
        if head is not None:
            return by_id.get(head.field.id)
    return None


def pointer_zh(defn: FormDefinition, paths: list[str]) -> str:
    """ "（见填报说明第8条）" for the first of the paths that has an instruction, else ""."""
    found = next((e for e in (instruction_of(defn, p) for p in paths) if e is not None), None)
    return "" if found is None else f"（见填报说明第{found.number}条）"


def pointer_en(defn: FormDefinition, paths: list[str]) -> str:
    found = next((e for e in (instruction_of(defn, p) for p in paths) if e is not None), None)
    return "" if found is None else f" (see filling instruction {found.number})"
