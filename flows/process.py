"""Process flow: language id → translation beside scoring → entities (resumable tasks)."""

from __future__ import annotations

from prefect import flow, task
from prefect.cache_policies import NO_CACHE

from focusdig import pipeline
from focusdig.database import get_engine
from focusdig.settings import Settings


@task(cache_policy=NO_CACHE)
def detect_languages(settings: Settings) -> int:
    return pipeline.detect_step(get_engine(settings), progress=pipeline.progress_hook())


@task(cache_policy=NO_CACHE)
def translate(settings: Settings, device: str | None, batch_size: int) -> tuple[int, str | None]:
    """Translate untranslated non-English items (on the GPU when there is one)."""
    return pipeline.translate_step(
        get_engine(settings),
        batch_size,
        device,
        pipeline.progress_hook(),
        settings.precision,
        settings.translation_beam,
    )


@task(cache_policy=NO_CACHE)
def score(settings: Settings, device: str | None, batch_size: int) -> tuple[int, str]:
    """Score every unscored item with the champion (on the GPU when there is one)."""
    return pipeline.score_step(
        get_engine(settings),
        batch_size,
        device,
        pipeline.progress_hook(),
        settings.rescore_days,
        settings.precision,
        settings.explanation,
    )


@task(cache_policy=NO_CACHE)
def score_entities(settings: Settings, device: str | None, batch_size: int) -> tuple[int, int, int]:
    """Find watchlist entities in new items; score each (item, entity); update rollups."""
    return pipeline.entities_step(
        get_engine(settings),
        batch_size,
        device,
        pipeline.progress_hook(),
        settings.precision,
        settings.entity_backfill_days,
        settings.min_translation_confidence,
        explanation=settings.explanation,
    )


@flow(name="process", log_prints=True)
def process_flow(device: str | None = None, batch_size: int = 64) -> pipeline.ProcessReport:
    """Language id, translation (beside scoring what is readable meanwhile), scoring and
    entities of everything not yet done."""
    settings = Settings.from_env()
    return pipeline.run_steps(
        lambda: detect_languages(settings),
        lambda: translate.submit(settings, device, batch_size),
        lambda: score(settings, device, batch_size),
        lambda: score_entities(settings, device, batch_size),
    )
