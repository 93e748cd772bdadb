"""Helpers shared by the command modules: consoles, database, model loading."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape
from rich.text import Text
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


def load_settings() -> Settings:
    """Settings from the environment; a bad value ends the command with a one-line error."""
    try:
        return Settings.from_env()
    except ValueError as exc:
        raise fail(f"bad setting: {exc}") from None


def open_db(samples: bool = True) -> tuple[Settings, Engine]:
    """Settings and the migrated database; a fresh database gets the bundled sample sources."""
    settings = load_settings()
    return settings, get_engine(settings, on_create=_add_samples if samples else None)


@contextmanager
def step_progress() -> Iterator[Callable[[str, int, int], None]]:
    """Progress bars (on stderr), one per pipeline step, fed by the returned callback
    (step, done in this batch, total of this pass; 0: unknown). A step can run in two passes
    (scoring before and after translation): a batch that would overflow the bar starts a
    pass, whose total is added to what is done."""
    from rich.progress import Progress

    with Progress(console=err, transient=True) as bars:
        tasks: dict[str, int] = {}

        def advance(step: str, done: int, total: int) -> None:
            if step not in tasks:
                tasks[step] = bars.add_task(step, total=total or None)
            bar = next(t for t in bars.tasks if t.id == tasks[step])
            if bar.total is not None and bar.completed + done > bar.total:
                bars.update(tasks[step], total=bar.completed + max(total, done))
            bars.advance(tasks[step], done)

        yield advance


def plain(value: object) -> Text:
    """A value shown as it is: brackets in feed text, names, URLs or errors are not markup."""
    return Text("" if value is None else str(value))


def fail(message: str) -> typer.Exit:
    """Print ``message`` as an error (verbatim: brackets in it are not markup); exit code 2."""
    err.print(f"[red]error:[/red] {escape(message)}")
    return typer.Exit(2)


def _registered(kind: str, model: Path | None) -> tuple[Path, dict | None, str | None]:
    """(directory, recorded manifest, registered name) of ``model`` or of the champion."""
    from focusdig.registry import artifact_dir, champion, manifest_for, registered_manifest

    _, engine = open_db()
    with session_scope(engine) as session:
        if model is not None:
            manifest = manifest_for(session, model)
            if manifest is None and not (model / "manifest.json").is_file():
                err.print(
                    f"[yellow]note:[/yellow] {escape(str(model))} is not registered: its files are"
                    " not checked against a recorded sha256 (`focusdig models add` records them)"
                )
            return model, manifest, None
        row = champion(session, kind)
        return artifact_dir(row), registered_manifest(row), row.version


def load_classifier(model: Path | None):
    """The classifier at ``model`` (any supported directory), or the champion."""
    from focusdig.artifacts import ArtifactError
    from focusdig.classifier import Classifier
    from focusdig.classifier.artifacts import preferred_explanation

    settings = load_settings()
    try:
        path, manifest, version = _registered("classifier", model)
        return Classifier.load(
            path,
            precision=settings.precision,
            manifest=manifest,
            version=version,
            explanation=preferred_explanation(path, settings.explanation),
        )
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


def load_translator(model: Path | None, language: str | None = None):
    """The translator at ``model`` (any supported directory), or the champion for
    ``language`` (the most recently promoted one when None)."""
    from focusdig.artifacts import ArtifactError
    from focusdig.registry import RegistryError, artifact_dir, champion, registered_manifest
    from focusdig.translator import Translator

    precision = load_settings().precision
    try:
        if model is not None:
            path, manifest, _ = _registered("translator", model)
            languages = None
            if manifest is None or language:  # an unregistered Marian dir may not say
                languages = [language] if language else None
            return Translator.load(
                path, precision=precision, manifest=manifest, languages=languages
            )
        _, engine = open_db()
        with session_scope(engine) as session:
            row = champion(session, "translator", language)
            path, manifest, version = artifact_dir(row), registered_manifest(row), row.version
            languages = row.languages
        return Translator.load(
            path, precision=precision, manifest=manifest, languages=languages, version=version
        )
    except (ArtifactError, RegistryError, FileNotFoundError) as exc:
        raise fail(str(exc)) from None
