"""Helpers shared by the command modules: consoles, database, model loading."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path

import typer
from rich.console import Console
from sqlalchemy import Engine

from focusdig.database import get_engine, session_scope
from focusdig.settings import Settings
from focusdig.sources import (
    register_samples,
)

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
