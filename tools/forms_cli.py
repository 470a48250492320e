"""`nianbao forms`: check a report file, print a form's JSON Schema, list the forms."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from shared.forms.catalog import UnknownForm, list_forms, load_form
from shared.forms.check import check_report
from shared.forms.issues import CheckResult
from shared.forms.wire import json_schema
from shared.registry.model import Registry

app = typer.Typer(
    help="Forms: check a report as the validator does, print a form's JSON Schema, list forms.",
    no_args_is_help=True,
)

EXIT_ACCEPTED, EXIT_REJECTED, EXIT_UNREADABLE = 0, 1, 2


def _fail(message: str) -> typer.Exit:
    typer.echo(message, err=True)
    return typer.Exit(EXIT_UNREADABLE)


def _read_report(path: Path) -> Any:
    try:
        text = path.read_bytes().decode("utf-8")
    except OSError as exc:
        raise _fail(f"cannot read {path}: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise _fail(f"{path} is not UTF-8 text: {exc}") from exc
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise _fail(f"{path} is not valid JSON: {exc}") from exc


def _registry(path: Path | None) -> Registry:
    if path is None:
        from shared.registry.demo import demo_registry

        return demo_registry()
    from shared.runtime.registry_files import load_registry

    try:
        return load_registry(path)
    except (OSError, ValueError) as exc:
        raise _fail(f"cannot load the registry {path}: {exc}") from exc


def _print_human(result: CheckResult) -> None:
    verdict = "ACCEPTED 通过" if result.accepted else "REJECTED 退回"
    form = f"{result.form or '?'} {result.form_version or '?'}"
    counts = f"{len(result.errors)} error(s), {len(result.warnings)} warning(s)"
    typer.echo(f"{verdict}  {form}  ({counts})")
    for issue in result.issues:
        where = ", ".join(issue.paths) or "(report)"
        typer.echo(f"{issue.severity:<7}  {issue.rule_id}  {where}")
        typer.echo(f"         {issue.message_zh}")
        typer.echo(f"         {issue.message_en}")


@app.command()
def check(
    file: Annotated[Path, typer.Argument(help="the report, a JSON file")],
    registry: Annotated[
        Path | None, typer.Option(help="a registry JSON file (default: the demo registry)")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
) -> None:
    """Validate a report exactly as the validator service does: exit 0 accepted, 1 rejected."""
    raw = _read_report(file)
    result = check_report(raw, _registry(registry))
    if as_json:
        out = {
            "accepted": result.accepted,
            "form": result.form,
            "form_version": result.form_version,
            "issues": [i.model_dump() for i in result.issues],
        }
        typer.echo(json.dumps(out, ensure_ascii=False, indent=2))
    else:
        _print_human(result)
    raise typer.Exit(EXIT_ACCEPTED if result.accepted else EXIT_REJECTED)


@app.command()
def schema(
    form: Annotated[str, typer.Argument(help="form id, e.g. work-report")],
    version: Annotated[str | None, typer.Option(help="form version (default: latest)")] = None,
) -> None:
    """Print the JSON Schema of a form version."""
    try:
        defn = load_form(form, version)
    except UnknownForm as exc:
        raise _fail(str(exc)) from exc
    typer.echo(json.dumps(json_schema(defn), ensure_ascii=False, indent=2))


@app.command("list")
def list_command() -> None:
    """List the forms and their versions with titles."""
    for form, version in list_forms():
        typer.echo(f"{form}\t{version}\t{load_form(form, version).title}")
