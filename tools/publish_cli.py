"""`nianbao publish --all`: re-render every page from the publisher's store into the pages dir."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer


def publish(
    all_pages: Annotated[
        bool, typer.Option("--all", help="re-render every page from the publisher's store")
    ] = False,
    data_dir: Annotated[
        Path | None, typer.Option(help="where the publisher's database lives (NIANBAO_DATA_DIR)")
    ] = None,
    pages_dir: Annotated[
        Path | None, typer.Option(help="the published tree to write (NIANBAO_PAGES_DIR)")
    ] = None,
    base_url: Annotated[
        str | None, typer.Option(help="where the tree is served (NIANBAO_PAGES_BASE_URL)")
    ] = None,
    registry: Annotated[
        Path | None, typer.Option(help="registry file (NIANBAO_REGISTRY_FILE; default: demo)")
    ] = None,
) -> None:
    """Re-render the published pages from the publisher's store (byte-identical when unchanged)."""
    if not all_pages:
        raise typer.BadParameter("only a full re-render is supported", param_hint="--all")
    from services.publisher.main import PublisherSettings, republish_all

    overrides: dict[str, object] = {
        key: value
        for key, value in (
            ("data_dir", data_dir),
            ("pages_dir", pages_dir),
            ("pages_base_url", base_url),
            ("registry_file", registry),
        )
        if value is not None
    }
    settings = PublisherSettings(**overrides)  # type: ignore[arg-type]
    done = asyncio.run(republish_all(settings))
    typer.echo(
        f"rendered {done.pages} pages ({done.files} files, {done.changed} changed) "
        f"into {settings.pages_dir} in {done.seconds:.1f} s"
    )
