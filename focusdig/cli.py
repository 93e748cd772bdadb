"""The ``focusdig`` command line (typer + rich)."""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy import Engine, select

from focusdig.database import get_engine, session_scope
from focusdig.export import items_frame, write_frame
from focusdig.ingest.runner import SourceReport, ingest_sources
from focusdig.schema import Source
from focusdig.settings import Settings
from focusdig.sources import (
    SourceError,
    add_source,
    location_from_argument,
    register_samples,
    remove_source,
)

app = typer.Typer(
    help="focusdig: financial opinion monitoring with attention-explained sentiment.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
sources_app = typer.Typer(help="Manage feed sources.", no_args_is_help=True)
app.add_typer(sources_app, name="sources")
console = Console()
err = Console(stderr=True)


class Kind(StrEnum):
    news = "news"
    comments = "comments"


class ExportFormat(StrEnum):
    csv = "csv"
    parquet = "parquet"
    jsonl = "jsonl"


def _add_samples(engine: Engine) -> None:
    with session_scope(engine) as session:
        register_samples(session)


def open_db(samples: bool = True) -> tuple[Settings, Engine]:
    """Settings and the migrated database; a fresh database gets the bundled sample sources."""
    settings = Settings.from_env()
    return settings, get_engine(settings, on_create=_add_samples if samples else None)


def fail(message: str) -> typer.Exit:
    err.print(f"[red]error:[/red] {message}")
    return typer.Exit(2)


@app.command()
def init(
    samples: Annotated[bool, typer.Option(help="Register the bundled sample feeds.")] = True,
) -> None:
    """Create or upgrade the database; register the bundled sample feeds."""
    settings, engine = open_db(samples=False)
    added = []
    if samples:
        with session_scope(engine) as session:
            added = [s.name for s in register_samples(session)]
    console.print(f"database ready: {engine.url.render_as_string(hide_password=True)}")
    console.print(f"home: {settings.home}")
    if added:
        console.print(f"sample sources added: {', '.join(added)}")


@sources_app.command("list")
def sources_list(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List sources with their last fetch status."""
    _, engine = open_db()
    with session_scope(engine) as session:
        sources = list(session.scalars(select(Source).order_by(Source.id)))
        rows = [
            {
                "name": s.name,
                "kind": s.kind,
                "language": s.language,
                "enabled": s.enabled,
                "url": s.url,
                "last_status": s.last_status,
                "last_fetched_at": s.last_fetched_at.isoformat() if s.last_fetched_at else None,
            }
            for s in sources
        ]
    if as_json:
        print(json.dumps(rows, ensure_ascii=False))
        return
    table = Table("name", "kind", "lang", "enabled", "url", "last status")
    for r in rows:
        table.add_row(
            r["name"],
            r["kind"],
            r["language"] or "",
            "yes" if r["enabled"] else "no",
            r["url"],
            r["last_status"] or "never fetched",
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


def print_reports(reports: list[SourceReport]) -> None:
    table = Table("source", "new", "duplicates", "status")
    for r in reports:
        status = r.status if r.ok else f"[red]error: {r.error}[/red]"
        if r.warning:
            status += f" [yellow]({r.warning})[/yellow]"
        table.add_row(r.name, str(r.new), str(r.duplicates), status)
    console.print(table)


@app.command()
def ingest(
    feeds: Annotated[
        list[str] | None, typer.Argument(help="Feed URLs or paths (added as sources if new).")
    ] = None,
    kind: Annotated[Kind, typer.Option(help="Kind for newly added feeds.")] = Kind.news,
) -> None:
    """Fetch feeds and store their items. Exit code 0 when at least one source succeeded."""
    settings, engine = open_db()
    source_ids = None
    if feeds:
        source_ids = []
        with session_scope(engine) as session:
            for feed in feeds:
                try:
                    source, _ = add_source(session, location_from_argument(feed), kind=kind.value)
                except SourceError as exc:
                    err.print(f"[red]skipped {feed}:[/red] {exc}")
                    continue
                source_ids.append(source.id)
        if not source_ids:
            raise typer.Exit(1)
    reports = ingest_sources(engine, settings, source_ids)
    print_reports(reports)
    if not any(r.ok for r in reports):
        raise typer.Exit(1)


@app.command()
def items(
    limit: Annotated[int, typer.Option(help="How many items, newest first.")] = 20,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Show stored items, newest first."""
    _, engine = open_db()
    frame = items_frame(engine, limit=limit)
    if as_json:
        print(frame.to_json(orient="records", date_format="iso", force_ascii=False))
        return
    table = Table("id", "source", "kind", "lang", "published", "title")
    for row in frame.itertuples():
        published = (
            row.published_at.strftime("%Y-%m-%d %H:%M")
            if row.published_at is not None and str(row.published_at) != "NaT"
            else ""
        )
        table.add_row(
            str(row.item_id),
            row.source,
            row.kind,
            row.language or "",
            published,
            (row.title or row.text)[:80],
        )
    console.print(table)


@app.command()
def export(
    out: Annotated[Path, typer.Option("--out", help="Output file.")],
    fmt: Annotated[ExportFormat, typer.Option("--format", help="csv, parquet or jsonl")] = (
        ExportFormat.csv
    ),
) -> None:
    """Export every item as one row (pandas)."""
    _, engine = open_db()
    frame = items_frame(engine)
    write_frame(frame, out, fmt.value)
    console.print(f"wrote {len(frame)} rows to {out}")


if __name__ == "__main__":
    app()
