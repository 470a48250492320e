"""The registry commands of ``nianbao``: import (with a dry run) and export."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from tools.intake_client import (
    DEFAULT_URL,
    AsJson,
    ClientError,
    Token,
    Url,
    connect,
    console,
    errors,
    fail,
    print_problem,
    request,
)

registry_app = typer.Typer(
    help="The site registry on the server (operator token): import with a dry run, export.",
    no_args_is_help=True,
)
APPLIED_NOTE = (
    "registry saved: every running service switches to it after its current batch (within "
    "NIANBAO_REGISTRY_POLL_SECONDS); the roll-ups and pages it changes are recomputed"
)


def _changes_table(diff: dict[str, Any]) -> Table:
    table = Table(title="dry run: what would change" if diff["dry_run"] else "changes")
    for column in ("kind", "change", "code", "fields"):
        table.add_column(column, overflow="fold")
    for kind in ("sites", "nodes"):
        part = diff[kind]
        for code in part["added"]:
            table.add_row(kind, "[green]added[/]", code, "")
        for code in part["removed"]:
            table.add_row(kind, "[red]removed[/]", code, "")
        for changed in part["changed"]:
            fields = "; ".join(f"{k}: {a!r} → {b!r}" for k, (a, b) in changed["fields"].items())
            table.add_row(kind, "[yellow]changed[/]", changed["code"], fields)
    return table


@registry_app.command("import")
def registry_import(
    file: Annotated[
        Path, typer.Argument(help="registry JSON, or sites.csv (with nodes.csv beside it)")
    ],
    url: Url = DEFAULT_URL,
    token: Token = None,
    dry_run: Annotated[bool, typer.Option(help="show what would change; change nothing")] = False,
    as_json: AsJson = False,
) -> None:
    """Replace the registry on the server (JSON or CSV); --dry-run shows what would change.

    Prints the sites and nodes added, removed and changed. Exit 1 when the registry is refused
    (every problem is listed). The services read the registry at start: restart them to apply.
    """
    from shared.registry import RegistryError, registry_document
    from shared.runtime.registry_files import load_registry

    try:
        registry = load_registry(file)
    except RegistryError as exc:
        errors.print(f"{file}: the registry is inconsistent; nothing was sent")
        for problem in exc.problems:
            errors.print(f"  ✗ {problem}")
        raise typer.Exit(1) from None
    try:
        with connect(url, token, timeout=120) as client:
            response = request(
                client,
                "PUT",
                "/v1/registry",
                params={"dry_run": str(dry_run).lower()},
                json=registry_document(registry),
            )
    except ClientError as exc:
        raise fail(exc) from None
    if response.status_code != 200:
        print_problem(response)
        raise typer.Exit(1)
    diff = response.json()
    if as_json:
        console.print_json(response.text)
        return
    console.print(_changes_table(diff))
    console.print(f"{diff['message_zh']}\n{diff['message_en']}")
    if diff["applied"]:
        console.print(f"[bold]{APPLIED_NOTE}[/] (file: {diff['file']})")


@registry_app.command("export")
def registry_export(
    file: Annotated[Path, typer.Argument(help="write here: .json, or .csv (plus nodes.csv)")],
    url: Url = DEFAULT_URL,
    token: Token = None,
) -> None:
    """Write the server's registry to a JSON or CSV file.

    The registry as stored: what the services use after their next start.
    """
    from shared.registry.model import Node, Site
    from shared.registry.validation import checked_registry
    from shared.runtime.registry_files import dump_registry

    try:
        with connect(url, token, timeout=120) as client:
            response = request(client, "GET", "/v1/registry")
    except ClientError as exc:
        raise fail(exc) from None
    if response.status_code != 200:
        print_problem(response)
        raise typer.Exit(1)
    body = response.json()
    registry = checked_registry(
        [Node.model_validate(n) for n in body["nodes"]],
        [Site.model_validate(s) for s in body["sites"]],
    )
    dump_registry(registry, file)
    console.print(f"wrote {file}: {len(registry.sites)} sites, {len(registry.nodes)} nodes")
