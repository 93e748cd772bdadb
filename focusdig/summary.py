"""The summary of one pipeline run: what came in, what was done, what failed, what moved."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime

from sqlalchemy import Engine, case, func, select

from focusdig.alerts.run import AlertReport
from focusdig.ingest.runner import SourceReport
from focusdig.pipeline import ProcessReport
from focusdig.schema import Entity, EntityScore, Item, ModelVersion, Score, Source


@dataclass
class SentimentMove:
    source: str
    new_items: int
    mean_before: float | None
    mean_now: float
    change: float


@dataclass
class EntityMove:
    name: str
    ticker: str | None
    new_items: int
    mean_before: float | None
    mean_now: float
    change: float


@dataclass
class RunSummary:
    items_new: int
    duplicates: int
    sources_ok: int
    failed_sources: dict[str, str]
    languages_detected: int
    translated: int
    scored: int
    classifier: str | None
    translator: str | None
    seconds: dict[str, float]
    moves: list[SentimentMove] = field(default_factory=list)
    entity_items: int = 0
    entity_scores: int = 0
    entity_moves: list[EntityMove] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    alerts: dict | None = None  # AlertReport.to_dict() of the run's alert check

    def to_dict(self) -> dict:
        return asdict(self)


def _champion_id():
    return (
        select(ModelVersion.id)
        .where(ModelVersion.kind == "classifier", ModelVersion.status == "champion")
        .order_by(ModelVersion.id.desc())
        .limit(1)
        .scalar_subquery()
    )


def _change(now: float, before: float | None) -> float:
    return float(now) - float(before) if before is not None else float(now)


def sentiment_moves(engine: Engine, since: datetime, limit: int = 5) -> list[SentimentMove]:
    """Per source: mean score of items fetched since ``since`` against the earlier mean.

    Uses the current champion classifier's scores; largest absolute changes first.
    """
    champion = _champion_id()
    is_new = Item.fetched_at >= since
    query = (
        select(
            Source.name,
            func.sum(case((is_new, 1), else_=0)),
            func.avg(case((~is_new, Score.score))),
            func.avg(case((is_new, Score.score))),
        )
        .join(Item, Item.source_id == Source.id)
        .join(Score, (Score.item_id == Item.id) & (Score.model_version_id == champion))
        .group_by(Source.name)
    )
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    moves = []
    for name, new, before, now in rows:
        if not new:
            continue
        change = _change(now, before)
        moves.append(
            SentimentMove(
                name, int(new), None if before is None else float(before), float(now), change
            )
        )
    return sorted(moves, key=lambda m: -abs(m.change))[:limit]


def entity_moves(engine: Engine, since: datetime, limit: int = 5) -> list[EntityMove]:
    """Per entity: mean entity score of items fetched since ``since`` against the earlier
    mean (the champion's entity scores); largest absolute changes first."""
    is_new = Item.fetched_at >= since
    query = (
        select(
            Entity.name,
            Entity.ticker,
            func.sum(case((is_new, 1), else_=0)),
            func.avg(case((~is_new, EntityScore.score))),
            func.avg(case((is_new, EntityScore.score))),
        )
        .join(EntityScore, EntityScore.entity_id == Entity.id)
        .join(Item, Item.id == EntityScore.item_id)
        .where(EntityScore.model_version_id == _champion_id())
        .group_by(Entity.id, Entity.name, Entity.ticker)
    )
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    moves = [
        EntityMove(
            name,
            ticker,
            int(new),
            None if before is None else float(before),
            float(now),
            _change(now, before),
        )
        for name, ticker, new, before, now in rows
        if new
    ]
    return sorted(moves, key=lambda m: (-abs(m.change), m.name))[:limit]


def summarize(
    engine: Engine,
    started: datetime,
    reports: list[SourceReport],
    processed: ProcessReport,
    seconds: dict[str, float],
    alerts: AlertReport | None = None,
) -> RunSummary:
    return RunSummary(
        items_new=sum(r.new for r in reports),
        duplicates=sum(r.duplicates for r in reports),
        sources_ok=sum(r.ok for r in reports),
        failed_sources={r.name: r.error or "" for r in reports if not r.ok},
        languages_detected=processed.languages_detected,
        translated=processed.translated,
        scored=processed.scored,
        classifier=processed.classifier,
        translator=processed.translator,
        seconds={**seconds, **{f"process: {k}": v for k, v in processed.seconds.items()}},
        moves=sentiment_moves(engine, started),
        entity_items=processed.entity_items,
        entity_scores=processed.entity_scores,
        entity_moves=entity_moves(engine, started),
        notes=list(processed.notes),
        alerts=alerts.to_dict() if alerts is not None else None,
    )


def summary_markdown(summary: RunSummary) -> str:
    """The run summary as a Markdown document (the Prefect artifact)."""
    lines = [
        "# focusdig run",
        "",
        f"- items new: **{summary.items_new}** (duplicates skipped: {summary.duplicates})",
        f"- sources ok: {summary.sources_ok}; failed: {len(summary.failed_sources)}",
        f"- languages detected: {summary.languages_detected}",
        f"- translated: {summary.translated} ({summary.translator or 'no translator'})",
        f"- scored: {summary.scored} ({summary.classifier})",
        f"- entities: {summary.entity_scores} entity scores in {summary.entity_items} items",
        "- timings: " + ", ".join(f"{k} {v:.2f}s" for k, v in summary.seconds.items()),
    ]
    if summary.failed_sources:
        lines += ["", "## Failed sources", "", "| source | error |", "|---|---|"]
        lines += [f"| {k} | {v} |" for k, v in summary.failed_sources.items()]
    if summary.moves:
        lines += [
            "",
            "## Largest sentiment moves",
            "",
            "| source | new items | mean before | mean now | change |",
            "|---|---|---|---|---|",
        ]
        for m in summary.moves:
            before = "–" if m.mean_before is None else f"{m.mean_before:+.3f}"
            lines.append(
                f"| {m.source} | {m.new_items} | {before} | {m.mean_now:+.3f} | {m.change:+.3f} |"
            )
    if summary.entity_moves:
        lines += [
            "",
            "## Largest entity moves",
            "",
            "| entity | ticker | new items | mean before | mean now | change |",
            "|---|---|---|---|---|---|",
        ]
        for m in summary.entity_moves:
            before = "–" if m.mean_before is None else f"{m.mean_before:+.3f}"
            lines.append(
                f"| {m.name} | {m.ticker or ''} | {m.new_items} | {before} | "
                f"{m.mean_now:+.3f} | {m.change:+.3f} |"
            )
    if summary.alerts and summary.alerts["new"]:
        lines += ["", "## New alerts", "", "| subject | alert | z | count |", "|---|---|---|---|"]
        for a in summary.alerts["new"]:
            subject = _markdown_cell(f"{a['subject_kind']} {a['subject']}")
            what = f"{a['direction']} {a['kind'].replace('_', ' ')}"
            lines.append(f"| {subject} | {what} | {a['z']:+.1f} | {a['count']} |")
    if summary.alerts and summary.alerts["pending"]:
        lines += ["", f"> alerts waiting for their webhook: {summary.alerts['pending']}"]
    for note in summary.notes:
        lines += ["", f"> {note}"]
    return "\n".join(lines) + "\n"


def _markdown_cell(text: str) -> str:
    """Feed-chosen names as plain table text: no pipes, markup or line breaks."""
    for char in "\\|`*_[]<>#":
        text = text.replace(char, "\\" + char)
    return " ".join(text.split())
