"""``focusdig sources``: list, add, remove feed sources."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

from focusdig.cli.app import app
from focusdig.cli.common import (
    Kind,
    console,
    fail,
    open_db,
    plain,
)
from focusdig.database import session_scope
from focusdig.sources import (
    SourceError,
    add_source,
    list_sources,
    location_from_argument,
    remove_source,
)

sources_app = typer.Typer(help="Manage feed sources.", no_args_is_help=True)
app.add_typer(sources_app, name="sources")


@sources_app.command("list")
def sources_list(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List sources with their last fetch status."""
    _, engine = open_db()
    with session_scope(engine) as session:
        rows = list_sources(session)
    if as_json:
        print(json.dumps(rows, ensure_ascii=False))
        return
    table = Table("name", "kind", "lang", "enabled", "url", "last status")
    for r in rows:
        table.add_row(
            plain(r["name"]),
            r["kind"],
            r["language"] or "",
            "yes" if r["enabled"] else "no",
            plain(r["url"]),
            plain(r["last_status"] or "never fetched"),
        )
    console.print(table)


@sources_app.command("add")
def sources_add(
    url: Annotated[str, typer.Argument(help="Feed URL (http/https) or a local file path.")],
    kind: Annotated[Kind, typer.Option(help="news or comments")] = Kind.news,
    name: Annotated[str | None, typer.Option(help="Short unique name.")] = None,
    language: Annotated[str | None, typer.Option(help="Language hint, e.g. en, zh.")] = None,
    follow_comments: Annotated[
        bool, typer.Option(help="Also ingest comment feeds linked from items.")
    ] = False,
) -> None:
    """Add a feed source."""
    _, engine = open_db()
    try:
        location = location_from_argument(url)
        with session_scope(engine) as session:
            source, new = add_source(
                session,
                location,
                kind=kind.value,
                name=name,
                language=language,
                follow_comments=follow_comments,
            )
            label = source.name
    except SourceError as exc:
        raise fail(str(exc)) from None
    console.print(f"{'added' if new else 'already present'}: {label} ({location})")


@sources_app.command("remove")
def sources_remove(name: Annotated[str, typer.Argument(help="Source name.")]) -> None:
    """Remove a source together with its items."""
    _, engine = open_db()
    try:
        with session_scope(engine) as session:
            remove_source(session, name)
    except SourceError as exc:
        raise fail(str(exc)) from None
    console.print(f"removed: {name}")
