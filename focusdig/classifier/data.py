"""Labeled and unlabeled data for the sentiment classifier.

Labeled sets are split 80/10/10 by a salted hash of the normalized text, so a sentence (or a
near-duplicate differing only in case/whitespace) always lands in the same split, whatever the
file order or the other sets loaded.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import os
import random
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

LABELS = ("negative", "neutral", "positive")
TWITTER_LABELS = {0: "negative", 1: "positive", 2: "neutral"}
SPLIT_SALT = "focusdig-clf-v1"
SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class Example:
    text: str
    label: str  # one of LABELS
    source: str  # "phrasebank" | "twitter" | "sentfin"
    # targeted examples: character spans of the target's mentions (the label is toward it)
    targets: tuple[tuple[int, int], ...] = ()
    entity: str | None = None
    conflict: bool = False  # its headline's entities do not share one label


def data_dir(path: str | Path | None = None) -> Path:
    """Resolve the data directory: explicit path, else $FOCUSDIG_DATA_DIR."""
    path = path or os.environ.get("FOCUSDIG_DATA_DIR")
    if not path:
        raise FileNotFoundError("no data dir: pass one or set FOCUSDIG_DATA_DIR")
    return Path(path)


def normalize(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().lower()


def split_of(text: str, salt: str = SPLIT_SALT) -> str:
    """Deterministic split for a text: 80% train, 10% val, 10% test."""
    h = hashlib.sha256((salt + "\x00" + normalize(text)).encode("utf-8")).digest()
    bucket = int.from_bytes(h[:8], "big") % 100
    return "train" if bucket < 80 else "val" if bucket < 90 else "test"


def _dedupe(examples: list[Example]) -> list[Example]:
    """Drop repeated texts (first label wins; exact duplicates are the common case)."""
    seen: set[str] = set()
    out = []
    for ex in examples:
        key = normalize(ex.text)
        if key and key not in seen:
            seen.add(key)
            out.append(ex)
    return out


def load_phrasebank(root: str | Path | None = None, agree: str = "50Agree") -> list[Example]:
    """Financial PhraseBank `Sentences_<agree>.txt` (latin-1, `sentence@label`), deduplicated."""
    path = data_dir(root) / "phrasebank" / f"Sentences_{agree}.txt"
    out = []
    with open(path, encoding="latin-1") as f:
        for line in f:
            line = line.strip()
            if "@" not in line:
                continue
            text, label = line.rsplit("@", 1)
            if label in LABELS:
                out.append(Example(text.strip(), label, "phrasebank"))
    return _dedupe(out)


def load_twitter(root: str | Path | None = None) -> list[Example]:
    """Twitter Financial News Sentiment (`text,label`; 0 bearish, 1 bullish, 2 neutral)."""
    path = data_dir(root) / "twitter_fin" / "sent_train.csv"
    out = []
    with open(path, encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f):
            out.append(Example(row["text"].strip(), TWITTER_LABELS[int(row["label"])], "twitter"))
    return _dedupe(out)


def split(examples: list[Example], which: str) -> list[Example]:
    if which not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}")
    return [ex for ex in examples if split_of(ex.text) == which]


def load_splits(
    root: str | Path | None = None, phrasebank: bool = True, twitter: bool = True
) -> dict[str, list[Example]]:
    """Joint train/val/test lists over the chosen labeled sets."""
    examples: list[Example] = []
    if phrasebank:
        examples += load_phrasebank(root)
    if twitter:
        examples += load_twitter(root)
    return {name: split(examples, name) for name in SPLITS}


def fold_val(splits: dict[str, list[Example]]) -> dict[str, list[Example]]:
    """The final fit's splits: the validation examples join the training examples (the
    validation split stays, for figures that are then no longer held out)."""
    return {**splits, "train": splits["train"] + splits["val"]}


def eval_sets(root: str | Path | None = None, which: str = "test") -> dict[str, list[Example]]:
    """Named evaluation sets from one split: phrasebank_50agree, phrasebank_allagree, twitter.

    AllAgree is a subset of 50Agree, so its eval set is the sentences of the 50Agree split that
    also appear in AllAgree (with the AllAgree label, which is the same).
    """
    pb = split(load_phrasebank(root), which)
    all_agree = {normalize(ex.text) for ex in load_phrasebank(root, "AllAgree")}
    return {
        "phrasebank_50agree": pb,
        "phrasebank_allagree": [ex for ex in pb if normalize(ex.text) in all_agree],
        "twitter": split(load_twitter(root), which),
    }


def corpus_files(root: str | Path | None = None, sources: Sequence[str] = ()) -> list[Path]:
    """The fin_corpus files, or only those named in `sources` (e.g. "stocknet_tweets")."""
    files = sorted((data_dir(root) / "fin_corpus").glob("*.txt.gz"))
    if not sources:
        return files
    by_name = {path.name.removesuffix(".txt.gz"): path for path in files}
    unknown = sorted(set(sources) - set(by_name))
    if unknown:
        raise ValueError(f"unknown fin_corpus sources {unknown}; there are {sorted(by_name)}")
    return [by_name[name] for name in sorted(set(sources))]


def stream_corpus(
    root: str | Path | None = None, rate: float = 1.0, seed: int = 0, sources: Sequence[str] = ()
) -> Iterator[str]:
    """Stream unlabeled corpus lines, keeping each with probability `rate` (seeded)."""
    rng = random.Random(seed)
    for path in corpus_files(root, sources):
        with gzip.open(path, "rt", encoding="utf-8", errors="replace") as f:
            for line in f:
                if rng.random() < rate:
                    line = line.strip()
                    if line:
                        yield line


def sample_corpus(
    root: str | Path | None = None, n: int = 300_000, seed: int = 0, sources: Sequence[str] = ()
) -> list[str]:
    """About `n` corpus lines sampled uniformly over all files (or `sources`), shuffled (seeded)."""
    # lines in fin_corpus (README), or in the chosen files; only sets the keep rate
    total = sum(1 for _ in stream_corpus(root, sources=sources)) if sources else 2_103_400
    lines = list(stream_corpus(root, rate=min(1.0, n / total), seed=seed, sources=sources))
    random.Random(seed).shuffle(lines)
    return lines[:n]
