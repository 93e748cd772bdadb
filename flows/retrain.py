"""Retrain flow: champion/challenger retraining on new labels, nightly; skips cleanly."""

from __future__ import annotations

from prefect import flow, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from focusdig.database import get_engine
from focusdig.retrain import RetrainArguments, RetrainResult, retrain
from focusdig.settings import Settings


@task(cache_policy=NO_CACHE)
def train_and_compare(settings: Settings, args: RetrainArguments) -> RetrainResult:
    """Train a challenger if enough new labels arrived; promote it only if it is better."""
    return retrain(get_engine(settings), settings, args)


@flow(name="retrain", log_prints=True)
def retrain_flow(min_new_labels: int = 50, gold_tolerance: float = 0.01) -> RetrainResult:
    """Nightly retraining; does nothing but report when fewer than ``min_new_labels`` arrived."""
    settings = Settings.from_env()
    args = RetrainArguments(min_new_labels=min_new_labels, gold_tolerance=gold_tolerance)
    result = train_and_compare(settings, args)
    verdict = "promoted" if result.promoted else ("skipped" if result.skipped else "refused")
    create_markdown_artifact(
        f"# retrain: {verdict}\n\n{result.reason}\n\n- champion: {result.champion}\n"
        f"- challenger: {result.challenger or '–'}\n- new labels: {result.new_labels}\n",
        key="focusdig-retrain",
        description="focusdig retrain",
    )
    print(f"retrain {verdict}: {result.reason}")
    return result
