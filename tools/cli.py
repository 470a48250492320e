"""The `nianbao` command: run the system, check forms offline, serve one service, write docs."""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from bench.cli import bench
from bench.verify import bench_verify
from tools.client import register as register_client_commands
from tools.deadletters import app as dlq_app
from tools.deploy_config import app as deploy_app
from tools.forms_cli import app as forms_app
from tools.publication_cli import register as register_publication_commands
from tools.publish_cli import publish
from tools.rebuild import rebuild
from tools.tokens_cli import app as tokens_app

app = typer.Typer(
    help="nianbao (年报): annual reports of government websites — run, check, publish.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(forms_app, name="forms", help="Forms offline: check a report, print a schema.")
docs_app = typer.Typer(help="Generated documentation.", no_args_is_help=True)
app.add_typer(docs_app, name="docs")
app.add_typer(dlq_app, name="dlq", help="Dead letters: list, show, re-drive.")
app.add_typer(deploy_app, name="deploy", help="Production deployment: NATS users, tokens.")
app.add_typer(tokens_app, name="tokens", help="Bearer tokens: issue, revoke, rotate, expiry.")
register_client_commands(app)  # submit, status, bulk, template, registry import|export
register_publication_commands(app)  # declare, publications, judge, recheck, evidence


class Service(StrEnum):
    intake = "intake"
    validator = "validator"
    aggregator = "aggregator"
    publisher = "publisher"
    verifier = "verifier"


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
    """Start the whole system locally (NATS, five services, pages server) until Ctrl-C."""
    from tools.launcher import run as run_system

    run_system(data_dir, registry, intake_port, pages_port, nats_port)


@app.command()
def serve(service: Service) -> None:
    """Run one service in the foreground (settings from NIANBAO_* environment variables)."""
    import importlib

    importlib.import_module(f"services.{service.value}.main").main()


app.command("bench")(bench)
app.command("bench-verify")(bench_verify)
app.command("publish")(publish)
app.command("rebuild")(rebuild)  # tools/rebuild.py: aggregator and pages from the streams


@docs_app.command("asyncapi")
def asyncapi(
    out: Annotated[Path | None, typer.Option(help="write here instead of stdout")] = None,
) -> None:
    """The AsyncAPI document of every subject, stream and payload, generated from the code."""
    from shared.runtime.asyncapi import asyncapi_document

    text = json.dumps(asyncapi_document(), ensure_ascii=False, indent=2)
    if out is None:
        typer.echo(text)
    else:
        out.write_text(text + "\n", encoding="utf-8")
        typer.echo(f"wrote {out}")


@app.command()
def subscribe(
    node: Annotated[str, typer.Option(help="node code: 510000, 510900, bm29, CN ...")],
    year: Annotated[
        int | None, typer.Option(help="reporting year (default: the current one)")
    ] = None,
    nats_url: Annotated[str, typer.Option(envvar="NIANBAO_NATS_URL")] = "nats://127.0.0.1:4222",
    registry: Annotated[Path | None, typer.Option(help="registry file (default: demo)")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="one JSON object per line")] = False,
    seconds: Annotated[float | None, typer.Option(help="stop after this many seconds")] = None,
    limit: Annotated[int | None, typer.Option(help="stop after this many events")] = None,
    user: Annotated[str | None, typer.Option(envvar="NIANBAO_NATS_USER")] = None,
    password: Annotated[str | None, typer.Option(envvar="NIANBAO_NATS_PASSWORD")] = None,
) -> None:
    """Follow a node's subtree: current roll-ups first, then roll-ups, reviews and reminders."""
    import asyncio
    from datetime import UTC, datetime

    from shared.filings import current_reporting_year
    from tools.subscribe import Subtree, follow

    if registry is None:
        from shared.registry.demo import demo_registry

        loaded = demo_registry()
    else:
        from shared.runtime.registry_files import load_registry

        loaded = load_registry(registry)
    subtree = Subtree.of(loaded, node, year or current_reporting_year(datetime.now(UTC)))
    for kind in ("rollup", "review", "reminder"):
        typer.echo(f"# {kind}: " + "  ".join(subtree.subjects(kind)), err=True)

    def emit(line: dict[str, object]) -> None:
        if as_json:
            typer.echo(json.dumps(line, ensure_ascii=False))
        else:
            rest = " ".join(f"{k}={v}" for k, v in line.items() if k not in ("kind", "subject"))
            typer.echo(f"{line['kind']:<8} {rest}")

    options: dict[str, object] = {}
    if user:
        # office users may receive replies only on their own inbox prefix (deploy/nats)
        options.update(user=user, password=password or "", inbox_prefix=f"_INBOX_{user}")
    asyncio.run(
        follow(
            nats_url, subtree, loaded, emit, seconds=seconds, limit=limit, connect_options=options
        )
    )


def main() -> None:
    app()


if __name__ == "__main__":
    main()
