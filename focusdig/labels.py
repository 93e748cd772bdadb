"""Labeled text files: validated whole before use, every bad row reported with its line."""

from __future__ import annotations

import csv
import hashlib
import math
import random
import re
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from focusdig.schema import Item, Label, Score, Translation
from focusdig.scoring import item_text

LABELS = ("negative", "neutral", "positive")


class LabelFileError(ValueError):
    """A label file that cannot be used; the message lists each bad line and why."""


@dataclass(frozen=True)
class LabelRow:
    """One validated row of a label file."""

    line: int
    label: str
    text: str | None = None
    item_id: int | None = None


def read_label_file(path: Path, known_item_ids: set[int] | None = None) -> list[LabelRow]:
    """Validate a whole ``text,label`` or ``item_id,label`` CSV; every bad row is reported."""
    try:
        handle = path.open(newline="", encoding="utf-8-sig")
    except OSError as exc:
        raise LabelFileError(f"{path}: {exc.strerror}") from None
    rows, errors = [], []
    with handle:
        reader = csv.DictReader(handle)
        columns = set(reader.fieldnames or [])
        if "label" not in columns or not columns & {"text", "item_id"}:
            raise LabelFileError(
                f"{path}: line 1: missing column(s): need label and one of text, item_id"
            )
        by_item = "item_id" in columns and "text" not in columns
        try:
            for row in reader:
                line = reader.line_num
                label = (row.get("label") or "").strip().lower()
                if label not in LABELS:
                    errors.append(f"line {line}: unknown label {row.get('label')!r}")
                    continue
                if by_item:
                    raw = (row.get("item_id") or "").strip()
                    if not raw.isdigit():
                        errors.append(f"line {line}: item_id {raw!r} is not a number")
                    elif known_item_ids is not None and int(raw) not in known_item_ids:
                        errors.append(f"line {line}: unknown item_id {raw}")
                    else:
                        rows.append(LabelRow(line, label, item_id=int(raw)))
                else:
                    text = (row.get("text") or "").strip()
                    if not text:
                        errors.append(f"line {line}: empty text")
                    else:
                        rows.append(LabelRow(line, label, text=text))
        except (csv.Error, UnicodeDecodeError) as exc:
            errors.append(f"line {reader.line_num}: {exc}")
    if errors:
        raise LabelFileError(
            f"{path}: {len(errors)} bad row(s), nothing imported:\n  " + "\n  ".join(errors)
        )
    if not rows:
        raise LabelFileError(f"{path}: no rows")
    return rows


def read_labeled_csv(path: Path) -> tuple[list[str], list[str]]:
    """Texts and labels of a ``text,label`` CSV (for evaluation), validated whole."""
    rows = read_label_file(path)
    if rows[0].text is None:
        raise LabelFileError(f"{path}: line 1: evaluation needs a text column")
    return [r.text for r in rows], [r.label for r in rows]


def csv_columns(path: Path) -> list[str]:
    """The header of a CSV file (empty when unreadable: the reader then reports why)."""
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            return [c.strip() for c in next(csv.reader(handle), [])]
    except (OSError, UnicodeDecodeError, csv.Error):
        return []


def read_targeted_csv(path: Path) -> tuple[list[str], list[list[tuple[int, int]]], list[str]]:
    """Texts, target spans and labels of a ``text,entity,label`` CSV, validated whole: the
    entity must occur in its text (case-insensitive); every bad row is reported."""
    from focusdig.classifier.targets import find_spans

    rows = read_label_file(path)
    if rows[0].text is None:
        raise LabelFileError(f"{path}: line 1: evaluation needs a text column")
    entities: dict[int, str] = {}
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        reader.fieldnames = [c.strip() for c in reader.fieldnames or []]
        for row in reader:  # numbered as read_label_file numbers them
            entities[reader.line_num] = row.get("entity") or ""
    spans, errors = [], []
    for row in rows:
        entity = entities.get(row.line, "").strip()
        found = find_spans(row.text, entity)
        if not entity:
            errors.append(f"line {row.line}: empty entity")
        elif not found:
            errors.append(f"line {row.line}: entity {entity!r} does not occur in the text")
        spans.append(found)
    if errors:
        raise LabelFileError(
            f"{path}: {len(errors)} bad row(s), nothing evaluated:\n  " + "\n  ".join(errors)
        )
    return [r.text for r in rows], spans, [r.label for r in rows]


def text_hash(text: str) -> str:
    return hashlib.sha256(" ".join(text.lower().split()).encode("utf-8")).hexdigest()


def _current(session: Session, item_id: int | None, digest: str) -> Label | None:
    key = (
        Label.item_id == item_id
        if item_id is not None
        else (Label.text_hash == digest) & Label.item_id.is_(None)
    )
    return session.scalar(select(Label).where(key).order_by(Label.id.desc()).limit(1))


def add_label(
    session: Session,
    label: str,
    *,
    item_id: int | None = None,
    text: str | None = None,
    annotator: str | None = None,
    origin: str = "api",
) -> Label | None:
    """Record a label (superseding an older one); None when it repeats the current label."""
    if label not in LABELS:
        raise ValueError(f"unknown label {label!r}; use one of {', '.join(LABELS)}")
    if item_id is not None:
        item = session.get(Item, item_id)
        if item is None:
            raise ValueError(f"unknown item_id {item_id}")
        text = item_text(item.kind, item.title, item.text)
    if not text or not text.strip():
        raise ValueError("empty text")
    digest = text_hash(text)
    current = _current(session, item_id, digest)
    if current is not None and current.label == label:
        return None
    row = Label(
        item_id=item_id,
        text=text,
        text_hash=digest,
        label=label,
        annotator=annotator,
        origin=origin,
    )
    session.add(row)
    session.flush()
    return row


@dataclass
class ImportReport:
    added: int = 0
    unchanged: int = 0


def import_labels(session: Session, path: Path, annotator: str | None = None) -> ImportReport:
    """Validate the whole file, then add its labels; importing it again adds nothing."""
    known = set(session.scalars(select(Item.id)))
    rows = read_label_file(path, known)
    report = ImportReport()
    for row in rows:
        added = add_label(
            session,
            row.label,
            item_id=row.item_id,
            text=row.text,
            annotator=annotator,
            origin="import",
        )
        if added is None:
            report.unchanged += 1
        else:
            report.added += 1
    return report


def current_labels(session: Session) -> list[Label]:
    """The newest label per item and per free text (older ones are superseded, not deleted)."""
    newest: dict[tuple, Label] = {}
    for row in session.scalars(select(Label).order_by(Label.id)):
        key = ("item", row.item_id) if row.item_id is not None else ("text", row.text_hash)
        newest[key] = row
    return sorted(newest.values(), key=lambda r: r.id)


QUEUE_STRATEGIES = ("margin", "entropy", "random")


def _words(text: str) -> set[str]:
    return set(re.findall(r"\w+", text.lower()))


def _too_similar(words: set[str], chosen: list[set[str]], threshold: float = 0.6) -> bool:
    return any(len(words & c) / max(1, len(words | c)) > threshold for c in chosen)


def label_queue(
    session: Session, model_id: int, n: int = 20, strategy: str = "margin", seed: int = 0
) -> list[dict]:
    """Unlabeled items the model is least sure of, without near-duplicates, most useful first.

    ``text`` is the text the model scored (the English translation of a translated item, whose
    original is ``source_text``), so the top words' offsets index into it.
    """
    if strategy not in QUEUE_STRATEGIES:
        raise ValueError(f"unknown strategy {strategy!r}; use one of {', '.join(QUEUE_STRATEGIES)}")
    labeled = exists().where(Label.item_id == Item.id)
    rows = session.execute(
        select(Item, Score, Translation)
        .join(Score, Score.item_id == Item.id)
        .outerjoin(Translation, Translation.item_id == Item.id)
        .where(Score.model_version_id == model_id, ~labeled)
    ).all()

    def uncertainty(score: Score) -> float:
        probs = sorted((score.prob_negative, score.prob_neutral, score.prob_positive), reverse=True)
        if strategy == "margin":
            return 1.0 - (probs[0] - probs[1])
        return -sum(p * math.log(p) for p in probs if p > 0)

    if strategy == "random":
        random.Random(seed).shuffle(rows)
    else:
        rows.sort(key=lambda r: (-uncertainty(r[1]), r[0].id))
    queue, chosen = [], []
    for item, score, translation in rows:
        original = item_text(item.kind, item.title, item.text)
        text = translation.text if translation else original
        words = _words(text)
        if _too_similar(words, chosen):
            continue
        chosen.append(words)
        queue.append(
            {
                "item_id": item.id,
                "text": text,
                "source_text": original if translation else None,
                "language": item.language,
                "label": score.label,
                "score": score.score,
                "probs": {
                    "negative": score.prob_negative,
                    "neutral": score.prob_neutral,
                    "positive": score.prob_positive,
                },
                "uncertainty": round(uncertainty(score), 6),
                "top_tokens": [
                    {"word": t.word, "weight": t.weight, "start": t.start, "end": t.end}
                    for t in score.tokens
                ],
                "explanation": score.explanation,
            }
        )
        if len(queue) == n:
            break
    return queue
