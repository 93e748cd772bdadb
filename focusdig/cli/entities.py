"""``focusdig entities``: the watchlist (add, remove, import, list) and per-entity rollups."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from focusdig.cli.app import app
from focusdig.cli.common import console, fail, open_db, plain
from focusdig.database import session_scope
from focusdig.entities.watchlist import (
    BUILTIN_LISTS,
    ImportReport,
    WatchlistError,
    add_entity,
    find_entity,
    import_builtin,
    import_file,
    remove_entity,
)
from focusdig.queries import ENTITY_SORTS, entity_figures, list_entity_figures

entities_app = typer.Typer(
    help="The watchlist of companies and their daily sentiment.", no_args_is_help=True
)
app.add_typer(entities_app, name="entities")


def _fmt(score: float | None) -> str:
    return "–" if score is None else f"{score:+.3f}"


def _print_report(report: ImportReport) -> None:
    console.print(
        f"added: {len(report.added)}; updated: {len(report.updated)}; "
        f"unchanged: {len(report.unchanged)}"
    )


@entities_app.command("add")
def entities_add(
    name: Annotated[str, typer.Argument(help="Company name as written in the news.")],
    ticker: Annotated[str | None, typer.Option(help="Ticker symbol, e.g. BLMF.")] = None,
    alias: Annotated[
        list[str] | None, typer.Option(help="Another name, any language (repeatable).")
    ] = None,
    exchange: Annotated[str | None, typer.Option(help="Listing exchange, e.g. NYSE.")] = None,
) -> None:
    """Add an entity (or merge new aliases and a ticker into the entity of that name)."""
    _, engine = open_db()
    try:
        with session_scope(engine) as session:
            report = add_entity(session, name, ticker, alias or [], exchange)
    except WatchlistError as exc:
        raise fail(str(exc)) from None
    verdict = "added" if report.added else "updated" if report.updated else "already present"
    console.print(plain(f"{verdict}: {name}"))


@entities_app.command("remove")
def entities_remove(name: Annotated[str, typer.Argument(help="Name, ticker or alias.")]) -> None:
    """Remove an entity with its mentions, scores and rollups."""
    _, engine = open_db()
    try:
        with session_scope(engine) as session:
            removed = remove_entity(session, name)
    except WatchlistError as exc:
        raise fail(str(exc)) from None
    console.print(plain(f"removed: {removed}"))


@entities_app.command("import")
def entities_import(
    path: Annotated[
        Path | None, typer.Argument(help="CSV with columns name,ticker,aliases ('|' between).")
    ] = None,
    builtin: Annotated[
        str | None,
        typer.Option(help=f"A list shipped with focusdig: {', '.join(BUILTIN_LISTS)}."),
    ] = None,
) -> None:
    """Import a watchlist file, validated whole first (nothing is written on any bad line)."""
    if (path is None) == (builtin is None):
        raise fail("give either a FILE or --builtin NAME")
    _, engine = open_db()
    try:
        with session_scope(engine) as session:
            report = import_builtin(session, builtin) if builtin else import_file(session, path)
    except WatchlistError as exc:
        raise fail(str(exc)) from None
    _print_report(report)


@entities_app.command("list")
def entities_list(
    days: Annotated[int, typer.Option(min=1, help="Window for mentions and mean score.")] = 30,
    sort: Annotated[
        str,
        typer.Option(help="Order: " + "; ".join(f"{k}: {v}" for k, v in ENTITY_SORTS.items())),
    ] = "name",
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Every entity with its ticker, aliases, and mentions, mean score and trend over the
    window (the trend: the mean score of the last days, up to a week, minus the days before)."""
    if sort not in ENTITY_SORTS:
        raise fail(f"unknown --sort {sort!r}; use one of {', '.join(ENTITY_SORTS)}")
    _, engine = open_db()
    with session_scope(engine) as session:
        rows = list_entity_figures(session, days, sort).entities
    if as_json:
        print(json.dumps(rows, ensure_ascii=False))
        return
    table = Table("name", "ticker", "aliases", f"mentions ({days} d)", "mean score", "trend")
    for r in rows:
        table.add_row(
            plain(r["name"]),
            plain(r["ticker"]),
            plain(", ".join(r["aliases"])),
            str(r["mentions"]),
            _fmt(r["mean_score"]),
            _fmt(r["trend"]),
        )
    console.print(table)


@entities_app.command("show")
def entities_show(
    name: Annotated[str, typer.Argument(help="Name, ticker or alias.")],
    days: Annotated[
        int, typer.Option(min=1, help="How many days back (UTC), today included.")
    ] = 30,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """One entity's mentions and sentiment per day."""
    _, engine = open_db()
    with session_scope(engine) as session:
        entity = find_entity(session, name)
        if entity is None:
            raise fail(f"no entity named {name!r}")
        out = entity_figures(session, entity, days)
    if as_json:
        print(json.dumps(out, ensure_ascii=False))
        return
    console.print(
        f"[bold]{escape(out['name'])}[/bold] {escape(out['ticker'] or '')}: "
        f"{out['mentions']} mentions in {days}"
        f" days, mean score {_fmt(out['mean_score'])}, trend {_fmt(out['trend'])}"
    )
    table = Table("date", "mentions", "mean score", "negative", "neutral", "positive")
    for d in out["series"]:
        table.add_row(
            d["date"],
            str(d["mentions"]),
            _fmt(d["mean_score"]),
            str(d["negative"]),
            str(d["neutral"]),
            str(d["positive"]),
        )
    console.print(table)
