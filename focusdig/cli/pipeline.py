"""The main job and its steps: init, ingest, score, run, serve; items and export."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from focusdig.cli.app import app
from focusdig.cli.common import (
    ExportFormat,
    Kind,
    console,
    err,
    fail,
    open_db,
    plain,
    set_threads,
    step_progress,
)
from focusdig.database import session_scope
from focusdig.ingest.runner import SourceReport, ingest_sources
from focusdig.sources import (
    SourceError,
    add_source,
    location_from_argument,
    register_samples,
)


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
    console.print(plain(f"database ready: {engine.url.render_as_string(hide_password=True)}"))
    console.print(plain(f"home: {settings.home}"))
    if added:
        console.print(plain(f"sample sources added: {', '.join(added)}"))


def print_reports(reports: list[SourceReport]) -> None:
    table = Table("source", "new", "duplicates", "status")
    for r in reports:
        status = plain(r.status) if r.ok else Text(f"error: {r.error}", style="red")
        if r.warning:
            status.append(f" ({r.warning})", style="yellow")
        table.add_row(plain(r.name), str(r.new), str(r.duplicates), status)
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
                    err.print(f"[red]skipped {escape(str(feed))}:[/red]", plain(exc))
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
    """Show stored items, newest first, with their label, score and top words."""

    from focusdig.queries import list_items

    settings, engine = open_db()
    with session_scope(engine) as session:
        rows = list_items(
            session, limit=limit, min_confidence=settings.min_translation_confidence
        ).items
    if as_json:
        print(json.dumps(rows, ensure_ascii=False, default=datetime.isoformat))
        return
    table = Table("id", "source", "lang", "published", "label", "score", "top words", "title")
    for row in rows:
        moment = row["published_at"] or row["fetched_at"]
        table.add_row(
            str(row["id"]),
            plain(row["source"]),
            row["language"] or "",
            moment.strftime("%Y-%m-%d %H:%M"),
            (row["label"] or "–") + (" (low-confidence translation)" * row["translation_flagged"]),
            "–" if row["score"] is None else f"{row['score']:+.2f}",
            Text(", ".join(t["word"] for t in row["top_tokens"][:3])),
            Text((row["title"] or row["text"])[:80]),
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
    from focusdig.export import items_frame, write_frame

    settings, engine = open_db()
    frame = items_frame(engine, min_confidence=settings.min_translation_confidence)
    write_frame(frame, out, fmt.value)
    console.print(plain(f"wrote {len(frame)} rows to {out}"))


@app.command("run")
def run_pipeline(
    feeds: Annotated[
        list[str] | None, typer.Argument(help="Feed URLs or paths (added as sources if new).")
    ] = None,
    device: Annotated[str | None, typer.Option(help="cpu, cuda … (default: auto)")] = None,
    batch_size: Annotated[int, typer.Option(help="Items per scoring batch.")] = 64,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """The main job: ingest, detect languages, translate and score, once (ephemeral Prefect)."""
    import os

    from focusdig.prefect_env import TemporaryAPIError, one_off_run, temporary_api_started

    for feed in feeds or []:
        try:
            location_from_argument(feed)
        except SourceError as exc:
            raise fail(f"{feed}: {exc}") from None
    # Prefect's own logs (tracebacks of failed task runs) stay quiet: the summary and one-line
    # errors are the interface; PREFECT_LOGGING_LEVEL=INFO shows them
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "CRITICAL")
    # the temporary Prefect API starts while this process imports and opens the database
    with temporary_api_started() as api:
        _, engine = open_db()
        from flows.pipeline import pipeline_flow
        from focusdig.pipeline import set_progress_hook, warm_up

        try:
            with one_off_run(api, lambda: warm_up(engine)), step_progress() as advance:
                set_progress_hook(advance)
                try:
                    summary = pipeline_flow(feeds or None, device=device, batch_size=batch_size)
                finally:
                    set_progress_hook(None)
        except TemporaryAPIError as exc:
            raise fail(str(exc)) from None
    if as_json:
        print(json.dumps(summary.to_dict(), ensure_ascii=False, default=datetime.isoformat))
    else:
        print_summary(summary)
    if summary.sources_ok == 0:
        raise typer.Exit(1)


def print_summary(summary) -> None:
    table = Table(
        "items new",
        "duplicates",
        "sources ok",
        "failed",
        "translated",
        "scored",
        title="focusdig run",
    )
    table.add_row(
        str(summary.items_new),
        str(summary.duplicates),
        str(summary.sources_ok),
        str(len(summary.failed_sources)),
        str(summary.translated),
        str(summary.scored),
    )
    console.print(table)
    for name, error in summary.failed_sources.items():
        console.print("[red]failed[/red]", plain(f"{name}: {error}"))
    if summary.moves:
        moves = Table(
            "source",
            "new items",
            "mean before",
            "mean now",
            "change",
            title="largest sentiment moves",
        )
        for m in summary.moves:
            before = "–" if m.mean_before is None else f"{m.mean_before:+.3f}"
            moves.add_row(
                plain(m.source), str(m.new_items), before, f"{m.mean_now:+.3f}", f"{m.change:+.3f}"
            )
        console.print(moves)
    if summary.entity_moves:
        table = Table(
            "entity",
            "ticker",
            "new items",
            "mean before",
            "mean now",
            "change",
            title="largest entity moves",
        )
        for m in summary.entity_moves:
            before = "–" if m.mean_before is None else f"{m.mean_before:+.3f}"
            table.add_row(
                plain(m.name),
                plain(m.ticker),
                str(m.new_items),
                before,
                f"{m.mean_now:+.3f}",
                f"{m.change:+.3f}",
            )
        console.print(table)
    console.print(
        "timings: "
        + ", ".join(f"{k} {v:.2f}s" for k, v in summary.seconds.items())
        + f"; models: {summary.classifier}, {summary.translator or 'no translator'}"
    )
    if summary.alerts is not None:
        alerts = summary.alerts
        line = f"alerts: {len(alerts['new'])} new"
        if alerts["delivered"] or alerts["pending"]:
            line += f", {alerts['delivered']} delivered, {alerts['pending']} pending"
        console.print(line)
        for a in alerts["new"]:
            what = f"{a['direction']} {a['kind'].replace('_', ' ')}"
            console.print(Text(f"  {a['subject_kind']} {a['subject']}: {what} (z {a['z']:+.1f})"))
    for note in summary.notes:
        console.print("[yellow]note:[/yellow]", plain(note))


@app.command()
def serve(
    cron: Annotated[str, typer.Option(help="Schedule of the pipeline flow.")] = "*/15 * * * *",
    retrain_cron: Annotated[str, typer.Option(help="Schedule of retraining.")] = "0 2 * * *",
) -> None:
    """Serve the pipeline and retrain flows on their schedules in this process."""
    from focusdig.prefect_env import configure_prefect

    configure_prefect()
    open_db()
    from prefect import serve as prefect_serve

    from flows.pipeline import pipeline_flow
    from flows.retrain import retrain_flow

    prefect_serve(
        pipeline_flow.to_deployment(name="focusdig-pipeline", cron=cron),
        retrain_flow.to_deployment(name="focusdig-retrain", cron=retrain_cron),
    )


@app.command()
def score(
    batch_size: Annotated[
        int,
        typer.Option(
            help="Items per batch and transaction (the entity step: sentences per classifier"
            " batch, 512 items a transaction)."
        ),
    ] = 64,
    device: Annotated[str | None, typer.Option(help="cpu, cuda, cuda:1 … (default: auto)")] = None,
    threads: Annotated[int | None, typer.Option(help="CPU threads for PyTorch.")] = None,
) -> None:
    """Detect languages, translate non-English items, then score every unscored item."""
    from focusdig.classifier.artifacts import ArtifactError
    from focusdig.pipeline import process

    set_threads(threads)
    settings, engine = open_db()
    with step_progress() as advance:
        try:
            report = process(
                engine,
                device=device,
                batch_size=batch_size,
                progress=advance,
                rescore_days=settings.rescore_days,
                precision=settings.precision,
                entity_backfill_days=settings.entity_backfill_days,
                min_translation_confidence=settings.min_translation_confidence,
                translation_beam=settings.translation_beam,
                explanation=settings.explanation,
            )
        except (ArtifactError, FileNotFoundError) as exc:
            raise fail(str(exc)) from None
    console.print(
        f"languages detected: {report.languages_detected}; translated: {report.translated}"
        f" ({report.translator or 'no translator'}); scored {report.scored} items with"
        f" {report.classifier}; entities: {report.entity_items} items scanned,"
        f" {report.entity_mentions} mentions, {report.entity_scores} entity scores"
    )
    for note in report.notes:
        console.print("[yellow]note:[/yellow]", plain(note))
