"""The processing steps after ingestion: language id → translate → score → entities, each
resumable.

Every step works on "what is not done yet" in the database, commits per batch, and is safe to
run twice at once, so a run killed mid-way loses nothing and the next run finishes the rest.
Models are loaded once per process (``load_champion`` caches them).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Protocol

from sqlalchemy import Engine

from focusdig.artifacts import ArtifactError
from focusdig.database import session_scope
from focusdig.registry import (
    artifact_dir,
    champion,
    champions,
    registered_manifest,
    serves,
)
from focusdig.schema import utcnow
from focusdig.settings import DEFAULT_MIN_TRANSLATION_CONFIDENCE, DEFAULT_TRANSLATION_BEAM

_models: dict[tuple[str, str, str | None, str, str | None], object] = {}
_models_lock = threading.Lock()

Progress = Callable[[str, int, int], None]  # (step, done in this batch, total)


@dataclass(frozen=True)
class _Registered:
    """What loading a registry row needs, read inside its session."""

    id: int
    kind: str
    version: str
    path: Path
    manifest: dict | None
    languages: tuple[str, ...]

    @classmethod
    def of(cls, row) -> _Registered:
        languages = tuple(sorted(serves(row))) if row.kind == "translator" else ()
        return cls(
            row.id, row.kind, row.version, artifact_dir(row), registered_manifest(row), languages
        )


def _load(
    model: _Registered, device: str | None, precision: str, explanation: str | None = None
) -> object:
    """The loaded model of a registry row (any backend; files checked), once per process.
    ``explanation``: a classifier's preferred word-level explanation (None: the model's
    default; a backend without it keeps its own, see ``preferred_explanation``)."""
    if model.kind == "classifier":  # the key names what is loaded: one copy per explanation
        from focusdig.classifier.artifacts import preferred_explanation

        explanation = preferred_explanation(model.path, explanation)
    else:
        explanation = None
    key = (model.kind, model.version, device, precision, explanation)
    with _models_lock:
        if key not in _models:
            if model.kind == "classifier":
                from focusdig.classifier import Classifier

                _models[key] = Classifier.load(
                    model.path,
                    device=device,
                    precision=precision,
                    manifest=model.manifest,
                    version=model.version,
                    explanation=explanation,
                    int8=None,  # int8 on the CPU under "auto" (focusdig.precision)
                )
            else:
                from focusdig.translator import Translator

                _models[key] = Translator.load(
                    model.path,
                    device=device,
                    precision=precision,
                    manifest=model.manifest,
                    languages=list(model.languages) or None,
                    version=model.version,
                )
        return _models[key]


def champion_row(engine: Engine, kind: str) -> _Registered:
    """The champion of ``kind`` as a registry entry (for translators: the most recently
    promoted); loads nothing."""
    with session_scope(engine) as session:
        return _Registered.of(champion(session, kind))


def load_champion(
    engine: Engine,
    kind: str,
    device: str | None = None,
    precision: str = "auto",
    explanation: str | None = None,
) -> tuple[int, object]:
    """(registry id, loaded model) of the champion of ``kind``, loaded once per process (for
    translators: the most recently promoted; ``translator_champions`` gives every language's).
    ``explanation``: a classifier's preferred explanation (``FOCUSDIG_EXPLANATION``)."""
    model = champion_row(engine, kind)
    return model.id, _load(model, device, precision, explanation)


def translator_champions(engine: Engine) -> list[tuple[_Registered, tuple[str, ...]]]:
    """Every translator champion with the source languages it is champion of; loads nothing.
    ArtifactError when there is no translator at all."""
    with session_scope(engine) as session:
        by_language = champions(session, "translator")
        models = {row.id: _Registered.of(row) for row in by_language.values()}
    served: dict[int, list[str]] = {}
    for language, row in by_language.items():
        served.setdefault(row.id, []).append(language)
    return [(models[i], tuple(sorted(languages))) for i, languages in served.items()]


@dataclass
class ProcessReport:
    """What one processing pass did."""

    languages_detected: int = 0
    translated: int = 0
    scored: int = 0
    entity_items: int = 0  # items scanned for watchlist entities
    entity_mentions: int = 0
    entity_scores: int = 0
    translator: str | None = None
    classifier: str | None = None
    notes: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)


def warm_up(engine: Engine) -> None:
    """Import and build ahead what a run's first steps would: FastAPI's encoder (Prefect
    serializes flow parameters with it) and the current watchlist's extractor (which imports
    spaCy, also used for sentence splitting). `focusdig run` does this while its temporary
    Prefect API starts (benchmarks/README.md section 7); the steps reuse what is built."""
    import fastapi.encoders  # noqa: F401

    from focusdig.entities.scan import extractor_for

    with session_scope(engine) as session:
        extractor_for(session)


def detect_step(engine: Engine, batch_size: int = 500, progress: Progress | None = None) -> int:
    from focusdig.translation import iter_language_batches

    done = 0
    for n in iter_language_batches(engine, batch_size):
        done += n
        if progress:
            progress("language id", n, 0)
    return done


def translate_step(
    engine: Engine,
    batch_size: int = 64,
    device: str | None = None,
    progress: Progress | None = None,
    precision: str = "auto",
    beam_size: int = DEFAULT_TRANSLATION_BEAM,
) -> tuple[int, str | None]:
    """Translate what is untranslated, each source language with its champion (any backend),
    with ``beam_size`` beams (1: greedy); returns (count, the champions' versions), (0, None)
    when there is no translator at all.

    A translator is loaded only when its languages have something to translate; one that
    cannot be loaded (files changed since registration, a missing extra) raises."""
    from focusdig.translation import count_untranslated, iter_translation_batches

    try:
        served = translator_champions(engine)
    except (ArtifactError, FileNotFoundError):  # none shipped, or the champion's files are gone
        return 0, None
    versions = ", ".join(model.version for model, _ in served)
    total = count_untranslated(engine, tuple(lang for _, langs in served for lang in langs))
    done = 0
    for model, languages in served:
        if total == 0 or count_untranslated(engine, languages) == 0:
            continue
        translator = _load(model, device, precision)
        batches = iter_translation_batches(
            engine, translator, model.id, batch_size, languages, beam_size
        )
        for n in batches:
            done += n
            if progress:
                progress("translate", n, total)
    return done, versions


class CpuShare:
    """Torch intra-op threads for a step that runs beside other steps on the CPU.

    Two steps that each take every core spin against each other (OpenMP threads wait for
    their team): on 2 cores, translation (one decoding thread) beside scoring on two threads
    took 24.4 s and 45 CPU-seconds; with scoring on one thread until translation ended,
    19.4 s and 34 (benchmarks/README.md section 6). A step started beside others is
    ``add``-ed; a step that fits its threads before each batch (``fitting``) takes one
    thread while any added step runs, and the count it started with once none does. With
    PyTorch's OpenMP backend (``torch.__config__.parallel_info()``; the Linux wheels) the
    count belongs to the calling thread, so the added steps keep theirs. (Not
    ``precision.torch_threads``: its lock, held for a whole translation call, would make the
    scoring batches wait for translation.)
    """

    def __init__(self) -> None:
        self._running = 0
        self._lock = threading.Lock()

    @property
    def busy(self) -> bool:
        """Whether an added step is still running."""
        return self._running > 0

    def add(self, running: Running) -> None:
        """Count ``running`` until it is done."""
        with self._lock:
            self._running += 1
        running.add_done_callback(self._done)

    def _done(self, _running: Running) -> None:
        with self._lock:
            self._running -= 1

    @contextmanager
    def fitting(self, device) -> Iterator[Callable[[], None]]:
        """A function to call before each batch of a step on ``device``: on the CPU it sets
        this thread's torch threads (one while an added step runs, else the count at entry,
        which is restored after); on an accelerator it does nothing."""
        import torch

        if device.type != "cpu":
            yield lambda: None
            return
        full = torch.get_num_threads()

        def fit() -> None:
            wanted = 1 if self.busy else full
            if torch.get_num_threads() != wanted:
                torch.set_num_threads(wanted)

        try:
            yield fit
        finally:
            torch.set_num_threads(full)


CPU_SHARE = CpuShare()  # this process's steps


def score_step(
    engine: Engine,
    batch_size: int = 64,
    device: str | None = None,
    progress: Progress | None = None,
    rescore_days: int = 0,
    precision: str = "auto",
    explanation: str | None = None,
) -> tuple[int, str]:
    """Score what is unscored (and, with ``rescore_days``, recent items the champion has not
    scored), the words weighted by ``explanation`` where the champion has it (None: its
    default); returns (count, classifier version)."""
    from focusdig.scoring import count_unscored, iter_score_batches

    model = champion_row(engine, "classifier")
    since = utcnow() - timedelta(days=rescore_days) if rescore_days else None
    total = count_unscored(engine, model.id, since)
    if total == 0:
        return 0, model.version  # nothing to score: the model is not even loaded
    classifier = _load(model, device, precision, explanation)
    done = 0
    with CPU_SHARE.fitting(classifier.device) as fit:
        fit()
        for n in iter_score_batches(engine, classifier, model.id, batch_size, since):
            done += n
            if progress:
                progress("score", n, total)
            fit()
    return done, classifier.version


def entities_step(
    engine: Engine,
    batch_size: int = 64,
    device: str | None = None,
    progress: Progress | None = None,
    precision: str = "auto",
    backfill_days: int = 30,
    min_translation_confidence: float = DEFAULT_MIN_TRANSLATION_CONFIDENCE,
    scan_size: int | None = None,
    explanation: str | None = None,
) -> tuple[int, int, int]:
    """Find watchlist entities in what is due and score each (item, entity) with the champion
    (rollups leave out flagged translations' scores: confidence below
    ``min_translation_confidence``), ``scan_size`` items a transaction (default
    ``focusdig.entities.scan.SCAN_SIZE``), the words weighted by ``explanation`` as in
    ``score_step``; returns (items scanned, mentions stored, entity scores stored)."""
    from focusdig.entities.scan import SCAN_SIZE, count_unscanned, iter_entity_batches

    since = utcnow() - timedelta(days=backfill_days) if backfill_days > 0 else None
    total = count_unscanned(engine, since)
    if not total:
        return 0, 0, 0
    model_id, classifier = load_champion(engine, "classifier", device, precision, explanation)
    items = mentions = scores = 0
    batches = iter_entity_batches(
        engine,
        classifier,
        model_id,
        batch_size,
        since,
        min_translation_confidence,
        scan_size or SCAN_SIZE,
    )
    for batch in batches:
        items, mentions, scores = (
            items + batch.items,
            mentions + batch.mentions,
            scores + batch.scores,
        )
        if progress:
            progress("entities", batch.items, total)
    return items, mentions, scores


class Running(Protocol):
    """A step started in the background: a thread's or a Prefect task's future."""

    def result(self) -> tuple[int, str | None]: ...

    def add_done_callback(self, fn: Callable[[Running], object]) -> None: ...


def in_thread(step: Callable[[], tuple[int, str | None]]) -> Future:
    """Start ``step`` in a thread of its own (which ends with it)."""
    pool = ThreadPoolExecutor(1, thread_name_prefix="focusdig-step")
    running = pool.submit(step)
    pool.shutdown(wait=False)
    return running


def run_steps(
    detect: Callable[[], int],
    start_translate: Callable[[], Running],
    score: Callable[[], tuple[int, str]],
    entities: Callable[[], tuple[int, int, int]] | None = None,
) -> ProcessReport:
    """Language id; translation beside a first scoring pass; a second pass for what translation
    added; entities (the flow passes its tasks here). On a CPU, translation decodes on one
    thread, so the first pass has the other core for the items readable meanwhile (one
    thread until translation ends: ``CpuShare``)."""
    report = ProcessReport()
    t0 = time.perf_counter()
    report.languages_detected = detect()
    t1 = time.perf_counter()
    translation = start_translate()
    CPU_SHARE.add(translation)  # scoring takes one thread while translation decodes
    scored_beside, report.classifier = score()
    report.translated, report.translator = translation.result()
    if report.translator is None:
        report.notes.append("no translator model: non-English items wait for one")
    t2 = time.perf_counter()
    scored_after, report.classifier = score()
    report.scored = scored_beside + scored_after
    t3 = time.perf_counter()
    if entities is not None:
        report.entity_items, report.entity_mentions, report.entity_scores = entities()
    report.seconds = {
        "language id": t1 - t0,
        "translate and score": t3 - t1,
        "score after translation": t3 - t2,
        "entities": time.perf_counter() - t3,
    }
    return report


def process(
    engine: Engine,
    *,
    device: str | None = None,
    batch_size: int = 64,
    progress: Progress | None = None,
    rescore_days: int = 0,
    precision: str = "auto",
    entity_backfill_days: int = 30,
    min_translation_confidence: float = DEFAULT_MIN_TRANSLATION_CONFIDENCE,
    entity_scan_size: int | None = None,
    translation_beam: int = DEFAULT_TRANSLATION_BEAM,
    explanation: str | None = None,
) -> ProcessReport:
    """Language id, translation, scoring and entities of everything not yet done
    (``explanation``: the classifier's preferred word-level explanation, None: its default)."""
    return run_steps(
        lambda: detect_step(engine, progress=progress),
        lambda: in_thread(
            lambda: translate_step(
                engine, batch_size, device, progress, precision, translation_beam
            )
        ),
        lambda: score_step(
            engine, batch_size, device, progress, rescore_days, precision, explanation
        ),
        lambda: entities_step(
            engine,
            batch_size,
            device,
            progress,
            precision,
            entity_backfill_days,
            min_translation_confidence,
            entity_scan_size,
            explanation,
        ),
    )


_progress_hook: Progress | None = None


def set_progress_hook(hook: Progress | None) -> None:
    """Where steps report progress when run inside a flow (the CLI's progress bars)."""
    global _progress_hook
    _progress_hook = hook


def progress_hook() -> Progress | None:
    return _progress_hook
