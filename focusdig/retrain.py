"""Champion/challenger retraining on users' labels.

A challenger is fine-tuned from the champion on a rehearsal sample of the base training data plus
the training share of the current user labels. Both are evaluated on (a) the fixed gold holdout
of the base data (its test split, never trained on) and (b) a held-back slice of the user labels
(chosen by a hash of the text, so it is stable as labels accumulate). The challenger is promoted
only if it is not worse on (a) beyond a tolerance and better on (b). A batch of new labels that
mostly contradicts the champion's confident predictions is refused before any training.

The champion may be any classifier backend (focusdig's compact model, a Hugging Face encoder with
focusdig's pooling head, a Hugging Face classification model such as FinBERT); the challenger is
fine-tuned and saved in the same backend.
"""

from __future__ import annotations

import hashlib
import json
import random
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import torch
from sqlalchemy import Engine, select

from focusdig.classifier import Classifier, load_model_dir, save_model_dir
from focusdig.classifier import data as base_data
from focusdig.database import session_scope
from focusdig.labels import current_labels
from focusdig.precision import torch_threads
from focusdig.registry import (
    artifact_dir,
    champion,
    promote,
    register_model,
    registered_manifest,
)
from focusdig.schema import Label, ModelVersion
from focusdig.settings import Settings


class RetrainError(RuntimeError):
    """Retraining cannot run (no base data, no champion files, …)."""


@dataclass
class RetrainArguments:
    min_new_labels: int = 50  # skip when fewer labels arrived since the champion was made
    gold_tolerance: float = 0.01  # largest allowed drop of gold macro-F1
    holdout_percent: int = 20  # share of user labels held back for evaluation
    user_weight: int = 3  # each user training label counts this many times
    base_examples: int | None = 4000  # rehearsal sample of the base training data (None: all)
    noise_confidence: float = 0.9  # a "confident" champion prediction
    noise_max_share: float = 0.5  # refuse when more of the confident ones are contradicted
    noise_min_confident: int = 5  # ... and at least this many confident predictions exist
    training: dict = field(default_factory=lambda: {"epochs": 3, "patience": 1, "lr": 1e-4})


@dataclass
class RetrainResult:
    promoted: bool
    reason: str
    champion: str
    challenger: str | None = None
    skipped: bool = False
    new_labels: int = 0
    metrics: dict = field(default_factory=dict)  # {"champion": {...}, "challenger": {...}}
    noise: dict = field(default_factory=dict)
    seconds: float = 0.0

    def to_dict(self) -> dict:
        return asdict(self)


def is_holdout(text_hash: str, percent: int) -> bool:
    return int(text_hash[:8], 16) % 100 < percent


def _fingerprint(labels: list[Label], data_files: list[Path]) -> str:
    digest = hashlib.sha256()
    for row in labels:
        digest.update(f"{row.text_hash}:{row.label}\n".encode())
    for path in data_files:
        stat = path.stat()
        digest.update(f"{path.name}:{stat.st_size}\n".encode())
    return digest.hexdigest()


def _metrics(clf: Classifier, examples: list[tuple[str, str]]) -> dict:
    if not examples:
        return {"n": 0}
    texts, labels = zip(*examples, strict=True)
    m = clf.evaluate(list(texts), list(labels))
    return {"n": m["n"], "accuracy": round(m["accuracy"], 4), "macro_f1": round(m["macro_f1"], 4)}


def noise_check(clf: Classifier, labeled: list[tuple[str, str]], args: RetrainArguments) -> dict:
    """How many new labels contradict the champion's confident predictions."""
    if not labeled:
        return {"confident": 0, "contradicted": 0, "share": 0.0, "refuse": False}
    preds = clf.predict([t for t, _ in labeled], top_k=0)
    confident = [
        (p, y)
        for p, (_, y) in zip(preds, labeled, strict=True)
        if max(p.probs.values()) >= args.noise_confidence
    ]
    contradicted = sum(p.label != y for p, y in confident)
    share = contradicted / len(confident) if confident else 0.0
    refuse = len(confident) >= args.noise_min_confident and share > args.noise_max_share
    return {
        "confident": len(confident),
        "contradicted": contradicted,
        "share": round(share, 4),
        "refuse": refuse,
    }


def _next_version(session, out_dir: Path) -> str:
    day = datetime.now(UTC).strftime("%Y.%m.%d")
    n = 1
    while True:
        version = f"clf-{day}-r{n}"
        taken = session.scalar(select(ModelVersion.id).where(ModelVersion.version == version))
        if taken is None and not (out_dir / version).exists():
            return version
        n += 1


def retrain(
    engine: Engine, settings: Settings, args: RetrainArguments | None = None
) -> RetrainResult:
    """Train a challenger if enough new labels arrived; promote it only if it is really better."""
    from focusdig.classifier.trainer import TrainingArguments, finetune

    args = args or RetrainArguments()
    started = time.perf_counter()
    with session_scope(engine) as session:
        current = champion(session)
        champion_version, champion_dir = current.version, artifact_dir(current)
        manifest = registered_manifest(current)
        since = current.created_at
        labels = current_labels(session)
        for row in labels:
            session.expunge(row)
    new = [r for r in labels if _aware(r.created_at) > _aware(since)]
    result = RetrainResult(False, "", champion_version, new_labels=len(new))
    if len(new) < args.min_new_labels:
        result.skipped = True
        result.reason = (
            f"{len(new)} new label(s) since {champion_version}; need {args.min_new_labels}"
        )
        return result

    clf = Classifier.load(champion_dir, manifest=manifest, version=champion_version)
    result.noise = noise_check(clf, [(r.text, r.label) for r in new], args)
    if result.noise["refuse"]:
        result.reason = (
            f"label-noise check: {result.noise['contradicted']} of {result.noise['confident']} "
            f"new labels contradict confident predictions; review them before retraining"
        )
        return result

    data_dir = settings.data_dir
    if not (data_dir / "twitter_fin").is_dir():
        raise RetrainError(f"no base training data at {data_dir}; set FOCUSDIG_DATA_DIR")
    config = json.loads((champion_dir / "config.json").read_text("utf-8"))
    use_phrasebank = any("PhraseBank" in d for d in config.get("training_data", []))
    splits = base_data.load_splits(data_dir, phrasebank=use_phrasebank)
    holdout = [(r.text, r.label) for r in labels if is_holdout(r.text_hash, args.holdout_percent)]
    user_train = [
        base_data.Example(r.text, r.label, "user")
        for r in labels
        if not is_holdout(r.text_hash, args.holdout_percent)
    ]
    base_train = splits["train"]
    if args.base_examples is not None and len(base_train) > args.base_examples:
        base_train = random.Random(0).sample(base_train, args.base_examples)
    splits["train"] = base_train + user_train * args.user_weight
    gold = [(ex.text, ex.label) for ex in splits["test"]]
    if not holdout:
        result.reason = "no held-back user labels to compare on; add more labels"
        return result

    model, encoder, _ = load_model_dir(champion_dir, manifest)
    training = TrainingArguments.from_dict(
        {**args.training, "data_dir": str(data_dir), "use_phrasebank": use_phrasebank}
    )
    # the same labels give the same challenger: seeded, and on a fixed thread count (float sums
    # depend on it) whatever the process set before
    torch.manual_seed(training.seed)
    with torch_threads(training.num_threads):
        history = finetune(training, model, encoder, splits)
    with session_scope(engine) as session:
        out_dir = settings.models_dir / "classifier"
        version = _next_version(session, out_dir)
    challenger = Classifier(model.eval(), encoder, {"version": version})
    result.challenger = version
    result.metrics = {
        "champion": {"gold": _metrics(clf, gold), "user_holdout": _metrics(clf, holdout)},
        "challenger": {
            "gold": _metrics(challenger, gold),
            "user_holdout": _metrics(challenger, holdout),
        },
    }
    champ, chall = result.metrics["champion"], result.metrics["challenger"]
    gold_drop = champ["gold"]["macro_f1"] - chall["gold"]["macro_f1"]
    user_gain = chall["user_holdout"]["macro_f1"] - champ["user_holdout"]["macro_f1"]
    sources = config.get("training_data", []) + [f"{len(user_train)} user labels"]
    path = save_model_dir(
        out_dir / version,
        model,
        encoder,
        version=version,
        metrics={"retrain": result.metrics, "finetune": history, "parent": champion_version},
        training_data=sources,
        pretraining_data=config.get("pretraining_data"),
    )
    files = sorted((data_dir / "twitter_fin").glob("*.csv")) + sorted(
        (data_dir / "phrasebank").glob("*.txt") if use_phrasebank else []
    )
    if gold_drop > args.gold_tolerance:
        result.reason = f"gold macro-F1 fell by {gold_drop:.4f} (tolerance {args.gold_tolerance})"
    elif user_gain <= 0:
        result.reason = f"no gain on held-back user labels ({user_gain:+.4f} macro-F1)"
    else:
        result.promoted = True
        result.reason = (
            f"user-label macro-F1 {user_gain:+.4f}, gold macro-F1 "
            f"{-gold_drop:+.4f} (within tolerance)"
        )
    record_challenger(
        engine,
        path,
        parent_version=champion_version,
        data_fingerprint=_fingerprint(labels, files),
        metrics=result.metrics,
        promote_it=result.promoted,
        version=version,
    )
    result.seconds = round(time.perf_counter() - started, 1)
    return result


def record_challenger(
    engine: Engine,
    path: Path,
    *,
    parent_version: str,
    data_fingerprint: str | None,
    metrics: dict,
    promote_it: bool,
    version: str | None = None,
) -> None:
    """Register a saved challenger and, when it won, make it the champion: one transaction, so
    a crash (kill -9 included) leaves either both done or neither."""
    with session_scope(engine) as session:
        row = register_model(
            session,
            "classifier",
            path,
            status="candidate",
            parent_version=parent_version,
            data_fingerprint=data_fingerprint,
            metrics=metrics,
            version=version,
        )
        if promote_it:
            promote(session, row.version)


def _aware(moment: datetime) -> datetime:
    """SQLite hands back naive datetimes; every stored time is UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
