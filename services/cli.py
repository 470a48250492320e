"""The `nianbao` command: run the system, check forms offline, serve one service, write docs."""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from shared.forms.cli import app as forms_app

app = typer.Typer(
    help="nianbao (年报): annual reports of government websites — run, check, publish.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(forms_app, name="forms", help="Forms offline: check a report, print a schema.")
docs_app = typer.Typer(help="Generated documentation.", no_args_is_help=True)
app.add_typer(docs_app, name="docs")


class Service(StrEnum):
    intake = "intake"
    validator = "validator"
    aggregator = "aggregator"
    publisher = "publisher"


@app.command()
def run(
    data_dir: Annotated[Path, typer.Option(help="where NATS, databases and pages live")] = Path(
        "var"
    ),
    registry: Annotated[
        Path | None, typer.Option(help="registry JSON/CSV (default: the demo registry)")
    ] = None,
    intake_port: Annotated[int, typer.Option(help="intake HTTP port (a free one if taken)")] = 8000,
    pages_port: Annotated[int, typer.Option(help="pages HTTP port (a free one if taken)")] = 8080,
    nats_port: Annotated[int, typer.Option(help="NATS port (a free one if taken)")] = 4222,
) -> None:
    """Start the whole system locally (NATS, four services, pages server) until Ctrl-C."""
    from services.launcher import run as run_system

    run_system(data_dir, registry, intake_port, pages_port, nats_port)


@app.command()
def serve(service: Service) -> None:
    """Run one service in the foreground (settings from NIANBAO_* environment variables)."""
    import importlib

    importlib.import_module(f"services.{service.value}.main").main()


@docs_app.command("asyncapi")
def asyncapi(
    out: Annotated[Path | None, typer.Option(help="write here instead of stdout")] = None,
) -> None:
    """The AsyncAPI document of every subject, stream and payload, generated from the code."""
    from services.asyncapi import asyncapi_document

    text = json.dumps(asyncapi_document(), ensure_ascii=False, indent=2)
    if out is None:
        typer.echo(text)
    else:
        out.write_text(text + "\n", encoding="utf-8")
        typer.echo(f"wrote {out}")


def main() -> None:
    app()
