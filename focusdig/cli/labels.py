"""Labeling: the interactive queue, label import, retraining."""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from focusdig.cli.app import app
from focusdig.cli.common import (
    console,
    fail,
    open_db,
    plain,
)
from focusdig.database import session_scope

label_app = typer.Typer(
    help="Label items (interactive without a subcommand), import labels, see the queue.",
    invoke_without_command=True,
)
app.add_typer(label_app, name="label")


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
        if entry["source_text"]:
            console.print(Text(f"{entry['language']}: {entry['source_text']}", style="dim"))
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
            str(entry["item_id"]),
            entry["label"],
            f"{entry['uncertainty']:.3f}",
            plain(entry["text"][:90]),
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
    console.print(f"[bold]{verdict}[/bold]:", plain(result.reason))
    console.print(plain(f"champion: {result.champion}; challenger: {result.challenger or '–'}"))
    for name, m in result.metrics.items():
        console.print(plain(f"  {name}: gold {m['gold']}; user holdout {m['user_holdout']}"))
