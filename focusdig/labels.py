"""Labeled text files: validated whole before use, every bad row reported with its line."""

from __future__ import annotations

import csv
from pathlib import Path

LABELS = ("negative", "neutral", "positive")


class LabelFileError(ValueError):
    """A label file that cannot be used; the message lists each bad line and why."""


def read_labeled_csv(path: Path, max_errors: int = 20) -> tuple[list[str], list[str]]:
    """Read a ``text,label`` CSV (header required); labels negative/neutral/positive."""
    try:
        handle = path.open(newline="", encoding="utf-8-sig")
    except OSError as exc:
        raise LabelFileError(f"{path}: {exc.strerror}") from None
    texts, labels, errors = [], [], []
    with handle:
        reader = csv.DictReader(handle)
        missing = {"text", "label"} - set(reader.fieldnames or [])
        if missing:
            raise LabelFileError(f"{path}: line 1: missing column(s) {', '.join(sorted(missing))}")
        try:
            for row in reader:
                line = reader.line_num
                text = (row.get("text") or "").strip()
                label = (row.get("label") or "").strip().lower()
                if not text:
                    errors.append(f"line {line}: empty text")
                elif label not in LABELS:
                    errors.append(f"line {line}: unknown label {row.get('label')!r}")
                else:
                    texts.append(text)
                    labels.append(label)
        except (csv.Error, UnicodeDecodeError) as exc:
            errors.append(f"line {reader.line_num}: {exc}")
    if errors:
        shown = errors[:max_errors] + (
            [f"… and {len(errors) - max_errors} more"] if len(errors) > max_errors else []
        )
        raise LabelFileError(f"{path}: {len(errors)} bad row(s):\n  " + "\n  ".join(shown))
    if not texts:
        raise LabelFileError(f"{path}: no rows")
    return texts, labels
