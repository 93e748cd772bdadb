"""The ``focusdig`` command line (typer + rich)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict
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
train_app = typer.Typer(help="Train models on the data directory.", no_args_is_help=True)
app.add_typer(train_app, name="train")
label_app = typer.Typer(
    help="Label items (interactive without a subcommand), import labels, see the queue.",
    invoke_without_command=True,
)
app.add_typer(label_app, name="label")
models_app = typer.Typer(help="The model registry: list, promote, roll back.", no_args_is_help=True)
app.add_typer(models_app, name="models")
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


@contextmanager
def step_progress() -> Iterator[Callable[[str, int, int], None]]:
    """Progress bars (on stderr), one per pipeline step, fed by the returned callback."""
    from rich.progress import Progress

    with Progress(console=err, transient=True) as bars:
        tasks: dict[str, int] = {}

        def advance(step: str, done: int, total: int) -> None:
            if step not in tasks:
                tasks[step] = bars.add_task(step, total=total or None)
            bars.advance(tasks[step], done)

        yield advance


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

    from focusdig.pipeline import set_progress_hook
    from focusdig.prefect_env import configure_prefect, one_off_run

    configure_prefect()
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    open_db()
    for feed in feeds or []:
        try:
            location_from_argument(feed)
        except SourceError as exc:
            raise fail(f"{feed}: {exc}") from None
    from flows.pipeline import pipeline_flow

    with one_off_run(), step_progress() as advance:
        set_progress_hook(advance)
        try:
            summary = pipeline_flow(feeds or None, device=device, batch_size=batch_size)
        finally:
            set_progress_hook(None)
    if as_json:
        print(json.dumps(summary.to_dict(), ensure_ascii=False))
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
        console.print(f"[red]failed[/red] {name}: {error}")
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
                m.source, str(m.new_items), before, f"{m.mean_now:+.3f}", f"{m.change:+.3f}"
            )
        console.print(moves)
    console.print(
        "timings: "
        + ", ".join(f"{k} {v:.2f}s" for k, v in summary.seconds.items())
        + f"; models: {summary.classifier}, {summary.translator or 'no translator'}"
    )
    for note in summary.notes:
        console.print(f"[yellow]note:[/yellow] {note}")


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


def champion_dir(kind: str) -> Path:
    """Where the current champion of ``kind`` lives (the shipped default at first)."""
    from focusdig.classifier.artifacts import ArtifactError
    from focusdig.registry import artifact_dir, champion

    _, engine = open_db()
    try:
        with session_scope(engine) as session:
            return artifact_dir(champion(session, kind))
    except (ArtifactError, FileNotFoundError) as exc:
        raise fail(str(exc)) from None


def load_classifier(model: Path | None):
    """The classifier at ``model``, or the champion."""
    from focusdig.classifier import ArtifactError, Classifier

    try:
        path = model or champion_dir("classifier")
        return Classifier.load(path, precision=Settings.from_env().precision)
    except (ArtifactError, FileNotFoundError) as exc:
        raise fail(str(exc)) from None


def set_threads(threads: int | None) -> None:
    if threads:
        import torch

        torch.set_num_threads(threads)


@app.command()
def score(
    batch_size: Annotated[int, typer.Option(help="Items per batch and transaction.")] = 64,
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
            )
        except (ArtifactError, FileNotFoundError) as exc:
            raise fail(str(exc)) from None
    console.print(
        f"languages detected: {report.languages_detected}; translated: {report.translated}"
        f" ({report.translator or 'no translator'}); scored {report.scored} items with"
        f" {report.classifier}"
    )
    for note in report.notes:
        console.print(f"[yellow]note:[/yellow] {note}")


@app.command()
def classify(
    texts: Annotated[list[str], typer.Argument(help="Texts to classify.")],
    model: Annotated[Path | None, typer.Option(help="Model directory (default: champion).")] = None,
    top: Annotated[int, typer.Option(help="Top attended words to show.")] = 5,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Classify texts and show the words the model attended to."""
    from rich.text import Text

    classifier = load_classifier(model)
    predictions = classifier.predict(texts, top_k=top)
    if as_json:
        print(json.dumps([asdict(p) for p in predictions], ensure_ascii=False))
        return
    colors = {"negative": "red", "neutral": "yellow", "positive": "green"}
    for text, p in zip(texts, predictions, strict=True):
        shown = Text(text)
        for t in p.top_tokens:
            shown.stylize(f"bold reverse {colors[p.label]}", t["start"], t["end"])
        console.print(f"[{colors[p.label]}]{p.label}[/] score {p.score:+.3f}  ", shown)
        words = ", ".join(f"{t['word']} ({t['weight']:.2f})" for t in p.top_tokens)
        console.print(f"  top words: {words}")


@app.command()
def evaluate(
    path: Annotated[Path, typer.Argument(help="CSV with columns text,label.")],
    model: Annotated[Path | None, typer.Option(help="Model directory (default: champion).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Accuracy, macro-F1, per-class precision/recall/F1 and the confusion matrix."""
    from focusdig.labels import LabelFileError, read_labeled_csv

    try:
        texts, labels = read_labeled_csv(path)
    except LabelFileError as exc:
        raise fail(str(exc)) from None
    classifier = load_classifier(model)
    metrics = classifier.evaluate(texts, labels)
    metrics["model_version"] = classifier.version
    if as_json:
        print(json.dumps(metrics))
        return
    console.print(
        f"n={metrics['n']}  accuracy={metrics['accuracy']:.4f}  "
        f"macro-F1={metrics['macro_f1']:.4f}  model={classifier.version}"
    )
    table = Table("class", "precision", "recall", "F1", "support")
    for name, m in metrics["per_class"].items():
        table.add_row(
            name,
            f"{m['precision']:.3f}",
            f"{m['recall']:.3f}",
            f"{m['f1']:.3f}",
            str(m["support"]),
        )
    console.print(table)
    matrix = Table("true \\ predicted", *metrics["labels"])
    for name, row in zip(metrics["labels"], metrics["confusion_matrix"], strict=True):
        matrix.add_row(name, *map(str, row))
    console.print(matrix)


@train_app.command("classifier")
def train_classifier_command(
    config: Annotated[
        Path | None, typer.Option(help="JSON file of TrainingArguments overrides.")
    ] = None,
    out: Annotated[Path | None, typer.Option(help="Parent folder of the new model.")] = None,
    no_phrasebank: Annotated[
        bool, typer.Option("--no-phrasebank", help="Train on MIT-licensed data only.")
    ] = False,
    resume: Annotated[bool, typer.Option(help="Resume pretraining from the checkpoint.")] = False,
    pretrain_minutes: Annotated[
        float | None, typer.Option(help="Masked-LM pretraining budget (0 = none).")
    ] = None,
    seed: Annotated[int | None, typer.Option(help="Random seed.")] = None,
) -> None:
    """Train the sentiment classifier on FOCUSDIG_DATA_DIR; writes a model directory."""
    from focusdig.classifier.trainer import TrainingArguments, train_classifier

    settings = Settings.from_env()
    overrides = json.loads(config.read_text("utf-8")) if config else {}
    overrides.setdefault("data_dir", str(settings.data_dir))
    overrides.setdefault("out_dir", str(out or settings.models_dir / "classifier"))
    overrides.setdefault("work_dir", str(settings.home / "runs" / "classifier"))
    if no_phrasebank:
        overrides["use_phrasebank"] = False
    if resume:
        overrides["resume"] = True
    if pretrain_minutes is not None:
        overrides["pretrain_minutes"] = pretrain_minutes
    if seed is not None:
        overrides["seed"] = seed
    try:
        args = TrainingArguments.from_dict(overrides)
    except ValueError as exc:
        raise fail(str(exc)) from None
    if not Path(args.data_dir).is_dir():
        raise fail(f"no training data at {args.data_dir}; set FOCUSDIG_DATA_DIR")
    path = train_classifier(args)
    console.print(f"model written to {path}")


class Language(StrEnum):
    zh = "zh"
    fr = "fr"
    de = "de"


def load_translator(model: Path | None):
    """The translator at ``model``, or the champion."""
    from focusdig.classifier.artifacts import ArtifactError
    from focusdig.translator import Translator

    try:
        path = model or champion_dir("translator")
        return Translator.load(path, precision=Settings.from_env().precision)
    except (ArtifactError, FileNotFoundError) as exc:
        raise fail(str(exc)) from None


@app.command()
def translate(
    texts: Annotated[list[str], typer.Argument(help="Texts to translate into English.")],
    source: Annotated[
        Language | None, typer.Option("--from", help="Source language (default: detected).")
    ] = None,
    beam: Annotated[int, typer.Option(help="Beam size (1 = greedy).")] = 4,
    model: Annotated[Path | None, typer.Option(help="Model directory (default: champion).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Translate zh/fr/de text into English with focusdig's own model."""
    translator = load_translator(model)
    results = translator.translate(texts, src_lang=source.value if source else None, beam_size=beam)
    if as_json:
        print(json.dumps([asdict(r) for r in results], ensure_ascii=False))
        return
    for text, result in zip(texts, results, strict=True):
        console.print(f"[dim]{result.source_language}[/dim] {text}")
        console.print(f"[bold]en[/bold] {result.text}")


@app.command("evaluate-translation")
def evaluate_translation(
    path: Annotated[Path, typer.Argument(help="Lines of English<TAB>source (more columns ok).")],
    source: Annotated[Language, typer.Option("--from", help="Source language.")],
    beam: Annotated[int, typer.Option(help="Beam size (1 = greedy).")] = 4,
    model: Annotated[Path | None, typer.Option(help="Model directory (default: champion).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """sacrebleu BLEU and chrF of the translator on a tab-separated file."""
    from focusdig.translator.evaluate import evaluate_tsv

    if not path.is_file():
        raise fail(f"no such file: {path}")
    translator = load_translator(model)
    try:
        metrics = evaluate_tsv(translator, path, source.value, beam_size=beam)
    except ValueError as exc:
        raise fail(str(exc)) from None
    metrics["model_version"] = translator.version
    if as_json:
        print(json.dumps(metrics))
        return
    console.print(
        f"n={metrics['n']}  BLEU={metrics['bleu']:.2f}  chrF={metrics['chrf']:.2f}"
        f"  model={translator.version}"
    )


class Strategy(StrEnum):
    margin = "margin"
    entropy = "entropy"
    random = "random"


def read_key() -> str:
    """One key press on a terminal; one line (its first letter) when input is piped."""
    import sys

    if sys.stdin.isatty():
        import click

        return click.getchar().lower()
    line = sys.stdin.readline()
    return line.strip()[:1].lower() or "q"


@label_app.callback()
def label_interactive(
    ctx: typer.Context,
    n: Annotated[int, typer.Option(help="How many items to offer.")] = 20,
    strategy: Annotated[Strategy, typer.Option(help="How to pick items.")] = Strategy.margin,
    annotator: Annotated[str | None, typer.Option(help="Your name, stored with labels.")] = None,
) -> None:
    """Label the items the model is least sure of: n(egative), u (neutral), p(ositive),
    s(kip), q(uit)."""
    if ctx.invoked_subcommand is not None:
        return
    from rich.text import Text

    from focusdig.labels import add_label, label_queue
    from focusdig.registry import champion

    _, engine = open_db()
    with session_scope(engine) as session:
        queue = label_queue(session, champion(session).id, n, strategy.value)
    if not queue:
        console.print("nothing to label: score some items first (`focusdig run`)")
        return
    keys = {"n": "negative", "u": "neutral", "p": "positive"}
    saved = 0
    for i, entry in enumerate(queue, start=1):
        shown = Text(entry["text"])
        for t in entry["top_tokens"]:
            shown.stylize("bold reverse", t["start"], t["end"])
        console.rule(f"{i}/{len(queue)} · item {entry['item_id']}")
        console.print(shown)
        probs = " ".join(f"{k} {v:.2f}" for k, v in entry["probs"].items())
        console.print(f"model: [bold]{entry['label']}[/bold] ({probs})")
        console.print(r"\[n]egative  ne\[u]tral  \[p]ositive  \[s]kip  \[q]uit ? ", end="")
        key = read_key()
        console.print(key)
        if key == "q":
            break
        if key in keys:
            with session_scope(engine) as session:
                if add_label(
                    session, keys[key], item_id=entry["item_id"], annotator=annotator, origin="cli"
                ):
                    saved += 1
    console.print(f"saved {saved} label(s)")


@label_app.command("import")
def label_import(
    path: Annotated[Path, typer.Argument(help="CSV with text,label or item_id,label.")],
    annotator: Annotated[str | None, typer.Option(help="Who labeled the file.")] = None,
) -> None:
    """Import labels; the whole file is checked first and refused with every bad line."""
    from focusdig.labels import LabelFileError, import_labels

    _, engine = open_db()
    try:
        with session_scope(engine) as session:
            report = import_labels(session, path, annotator)
    except LabelFileError as exc:
        raise fail(str(exc)) from None
    console.print(f"labels added: {report.added}; already present: {report.unchanged}")


@label_app.command("queue")
def label_queue_command(
    n: Annotated[int, typer.Option(help="How many items.")] = 20,
    strategy: Annotated[Strategy, typer.Option(help="How to pick items.")] = Strategy.margin,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Unlabeled items the champion is least sure of (no near-duplicates)."""
    from focusdig.labels import label_queue
    from focusdig.registry import champion

    _, engine = open_db()
    with session_scope(engine) as session:
        queue = label_queue(session, champion(session).id, n, strategy.value)
    if as_json:
        print(json.dumps(queue, ensure_ascii=False))
        return
    table = Table("item", "model", "uncertainty", "text")
    for entry in queue:
        table.add_row(
            str(entry["item_id"]), entry["label"], f"{entry['uncertainty']:.3f}", entry["text"][:90]
        )
    console.print(table)


@app.command()
def retrain(
    min_new_labels: Annotated[
        int | None, typer.Option(help="Skip when fewer labels arrived since the champion.")
    ] = None,
    config: Annotated[
        Path | None, typer.Option(help="JSON file of RetrainArguments overrides.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Train a challenger on the base data plus labels; promote it only if it is better."""
    from focusdig.retrain import RetrainArguments, RetrainError
    from focusdig.retrain import retrain as run_retrain

    settings, engine = open_db()
    overrides = json.loads(config.read_text("utf-8")) if config else {}
    if min_new_labels is not None:
        overrides["min_new_labels"] = min_new_labels
    try:
        result = run_retrain(engine, settings, RetrainArguments(**overrides))
    except (RetrainError, TypeError) as exc:
        raise fail(str(exc)) from None
    if as_json:
        print(json.dumps(result.to_dict()))
        return
    verdict = "promoted" if result.promoted else ("skipped" if result.skipped else "not promoted")
    console.print(f"[bold]{verdict}[/bold]: {result.reason}")
    console.print(f"champion: {result.champion}; challenger: {result.challenger or '–'}")
    for name, m in result.metrics.items():
        console.print(f"  {name}: gold {m['gold']}; user holdout {m['user_holdout']}")


@models_app.command("list")
def models_list(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Every registered classifier version with its status and metrics."""
    from focusdig.registry import list_models

    _, engine = open_db()
    with session_scope(engine) as session:
        rows = [
            {
                "version": m.version,
                "status": m.status,
                "metrics": m.metrics,
                "parent": m.parent_version,
                "created_at": m.created_at.isoformat(),
                "promoted_at": m.promoted_at.isoformat() if m.promoted_at else None,
                "artifact_path": m.artifact_path,
                "artifact_sha256": m.artifact_sha256,
                "data_fingerprint": m.data_fingerprint,
                "code_version": m.code_version,
            }
            for m in list_models(session)
        ]
    if as_json:
        print(json.dumps(rows))
        return
    table = Table("version", "status", "parent", "created", "path")
    for r in rows:
        table.add_row(
            r["version"], r["status"], r["parent"] or "", r["created_at"][:19], r["artifact_path"]
        )
    console.print(table)


@models_app.command("promote")
def models_promote(version: Annotated[str, typer.Argument(help="Version to make champion.")]):
    """Make a registered version the champion (the current one is retired)."""
    from focusdig.registry import RegistryError, promote

    _, engine = open_db()
    try:
        with session_scope(engine) as session:
            promote(session, version)
    except (RegistryError, FileNotFoundError) as exc:
        raise fail(str(exc)) from None
    console.print(f"champion: {version}")


@models_app.command("rollback")
def models_rollback() -> None:
    """Bring back the previous champion."""
    from focusdig.registry import RegistryError, rollback

    _, engine = open_db()
    try:
        with session_scope(engine) as session:
            version = rollback(session).version
    except (RegistryError, FileNotFoundError) as exc:
        raise fail(str(exc)) from None
    console.print(f"champion: {version}")


if __name__ == "__main__":
    app()
