"""Parallel data: Tatoeba (`mt/`) + WMT news (`mt_news/`), deterministic held-out splits.

Every pair is `Pair(src, en, lang, origin)`. The split is decided by a hash of the normalized
source sentence, so all translations of one source sentence land in the same split and the
split does not depend on file order. Test/validation keep pairs whose English side has at least
`min_words` words, capped per language (lowest hashes first).
"""

from __future__ import annotations

import gzip
import hashlib
import os
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

TATOEBA_FILES = {"zh": "mt/cmn.txt", "fr": "mt/fra_76k.txt", "de": "mt/deu_50k.txt"}
NEWS_FILES = {lang: f"mt_news/{lang}-en.tsv.gz" for lang in ("zh", "fr", "de")}
LANGUAGES = ("zh", "fr", "de")
BUCKETS = 10_000
TEST_BUCKETS = 200  # 2 %
VALID_BUCKETS = 100  # 1 %
HELD_OUT_BUCKETS = TEST_BUCKETS + VALID_BUCKETS  # buckets below this never reach "train"


@dataclass(frozen=True)
class Pair:
    src: str
    en: str
    lang: str
    origin: str  # "tatoeba" | "news" | "bt" (back-translated) | "kd" (teacher's English)


SYNTHETIC_ORIGINS = ("bt", "kd")


def resolve_data_dir(data_dir: str | Path | None) -> Path:
    """`data_dir`, else $FOCUSDIG_DATA_DIR; raise if neither is set."""
    data_dir = data_dir or os.environ.get("FOCUSDIG_DATA_DIR")
    if not data_dir:
        raise ValueError("no data directory: pass --data-dir or set FOCUSDIG_DATA_DIR")
    return Path(data_dir)


def clean(text: str) -> str:
    """NFC + collapse whitespace."""
    return " ".join(unicodedata.normalize("NFC", text).split())


def read_tsv(path: Path) -> Iterator[tuple[str, str]]:
    """Yield (English, source) from `English<TAB>source[<TAB>...]` lines (.gz or plain)."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as f:
        for line in f:
            cols = line.rstrip("\n").split("\t")
            if len(cols) >= 2:
                en, src = clean(cols[0]), clean(cols[1])
                if en and src:
                    yield en, src


def read_synthetic(path: str | Path) -> list[Pair]:
    """Synthetic pairs from `English<TAB>source<TAB>language[<TAB>origin]` lines: origin "bt"
    (the default: a back-translated source, `focusdig.translator.backtranslate`) or "kd" (a
    real source, the English a teacher wrote, `focusdig.translator.distill`)."""
    pairs = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            cols = line.rstrip("\n").split("\t")
            if len(cols) == 3:
                cols.append("bt")
            if (
                len(cols) != 4
                or cols[2] not in LANGUAGES
                or cols[3] not in SYNTHETIC_ORIGINS
                or not cols[0]
                or not cols[1]
            ):
                raise ValueError(
                    f"{path}:{n}: expected English<TAB>source<TAB>one of {LANGUAGES}"
                    f"[<TAB>one of {SYNTHETIC_ORIGINS}]"
                )
            pairs.append(Pair(clean(cols[1]), clean(cols[0]), cols[2], cols[3]))
    return pairs


def training_synthetic(paths: list[str | Path]) -> tuple[list[Pair], int]:
    """The synthetic pairs of ``paths`` that may be trained on, and how many were left out
    because their source is held out (a distilled validation or test sentence)."""
    pairs = [p for path in paths for p in read_synthetic(path)]
    kept = [p for p in pairs if not held_out(p.src)]
    return kept, len(pairs) - len(kept)


def load_pairs(data_dir: str | Path | None) -> list[Pair]:
    """All pairs of all languages, exact duplicates removed, in file order."""
    root = resolve_data_dir(data_dir)
    seen: set[tuple[str, str]] = set()
    pairs = []
    for lang in LANGUAGES:
        for origin, rel in (("tatoeba", TATOEBA_FILES[lang]), ("news", NEWS_FILES[lang])):
            for en, src in read_tsv(root / rel):
                if (src, en) not in seen:
                    seen.add((src, en))
                    pairs.append(Pair(src, en, lang, origin))
    return pairs


def bucket(src: str) -> int:
    key = "".join(src.lower().split()).encode("utf-8")
    return int.from_bytes(hashlib.sha1(key).digest()[:8], "big") % BUCKETS


def held_out(src: str) -> bool:
    """Whether a source sentence belongs to the validation or test buckets."""
    return bucket(src) < HELD_OUT_BUCKETS


def split_pairs(
    pairs: list[Pair], *, min_words: int = 4, max_test: int = 1000, max_valid: int = 400
) -> dict[str, list[Pair]]:
    """-> {"train", "valid", "test"}; held-out buckets never reach "train"."""
    train, held = [], {"valid": [], "test": []}
    for p in pairs:
        b = bucket(p.src)
        if b >= HELD_OUT_BUCKETS:
            train.append(p)
        elif len(p.en.split()) >= min_words:
            held["test" if b < TEST_BUCKETS else "valid"].append((b, p))
    out = {"train": train}
    for name, cap in (("test", max_test), ("valid", max_valid)):
        chosen = []
        for lang in LANGUAGES:
            items = sorted(
                (x for x in held[name] if x[1].lang == lang),
                key=lambda x: (x[0], x[1].src, x[1].en),
            )
            chosen += [p for _, p in items[:cap]]
        out[name] = chosen
    return out
