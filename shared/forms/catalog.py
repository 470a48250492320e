"""The packaged form definitions: discovered under definitions/<form>/<version>.yaml."""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import cache
from importlib.resources import files
from typing import Any, Final, Literal

import yaml
from pydantic import ValidationError

from .definition import FormDefinition
from .paths import get_path

#: the two forms of the notice, by id (the ``form`` of a report and of every event)
WORK_REPORT: Final = "work-report"
SUPERVISION_REPORT: Final = "supervision-report"
FormId = Literal["work-report", "supervision-report"]


class UnknownForm(KeyError):
    """No definition for this form (or this version of it)."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "unknown form"


class DefinitionError(ValueError):
    """A packaged definition file that cannot be used."""


def version_key(version: str) -> tuple[tuple[int, int, str], ...]:
    """Order versions naturally: "2018" < "2018.1" < "2024"."""
    parts = re.split(r"[.-]", version)
    return tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in parts)


def _read(form: str, name: str, text: str) -> FormDefinition:
    where = f"definitions/{form}/{name}"
    try:
        defn = FormDefinition.model_validate(yaml.safe_load(text))
    except (yaml.YAMLError, ValidationError) as exc:
        raise DefinitionError(f"{where}: {exc}") from exc
    if (defn.form, defn.version) != (form, name.removesuffix(".yaml")):
        raise DefinitionError(f"{where}: declares {defn.form} {defn.version}")
    from .rules import verify_rules

    problems = verify_rules(defn)
    if problems:
        raise DefinitionError(f"{where}: " + "; ".join(problems))
    return defn


@cache
def _catalog() -> dict[str, dict[str, FormDefinition]]:
    root = files("shared.forms").joinpath("definitions")
    out: dict[str, dict[str, FormDefinition]] = {}
    for form_dir in sorted(root.iterdir(), key=lambda t: t.name):
        if not form_dir.is_dir():
            continue
        versions = {}
        for entry in form_dir.iterdir():
            if entry.name.endswith(".yaml"):
                defn = _read(form_dir.name, entry.name, entry.read_text(encoding="utf-8"))
                versions[defn.version] = defn
        if versions:
            out[form_dir.name] = dict(sorted(versions.items(), key=lambda kv: version_key(kv[0])))
    return out


def list_forms() -> list[tuple[str, str]]:
    """Every (form, version) packaged, forms alphabetically, versions oldest first."""
    return [(form, version) for form, versions in _catalog().items() for version in versions]


def latest_version(form: str) -> str:
    versions = _catalog().get(form)
    if not versions:
        known = ", ".join(_catalog()) or "none"
        raise UnknownForm(f"unknown form {form!r} (known: {known})")
    return list(versions)[-1]


def load_form(form: str, version: str | None = None) -> FormDefinition:
    """The definition of a form version; None means the latest version."""
    chosen = latest_version(form) if version is None else version
    defn = _catalog()[form].get(chosen)
    if defn is None:
        known = ", ".join(_catalog()[form])
        raise UnknownForm(f"unknown version {chosen!r} of form {form!r} (known: {known})")
    return defn


def report_code(report: Mapping[str, Any]) -> str | None:
    """The code a report is filed under: site.site_code or office.code, per its form."""
    form, version = report.get("form"), report.get("form_version")
    if not isinstance(form, str) or form not in _catalog():
        return None
    known = _catalog()[form]
    defn = known[version] if isinstance(version, str) and version in known else load_form(form)
    code = get_path(report, defn.code_field)
    return code if isinstance(code, str) else None
