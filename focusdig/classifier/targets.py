"""Targeted (entity-level) sentiment: marker tokens around the target's mentions.

A target is told to the model by two extra vocabulary entries around each mention,
``[TGT] Belmont Foods [/TGT]``, inserted as ids (never as text): they sit in the WordPiece
vocabulary, not among the tokenizer's "added tokens", so no feed text can produce them (the
pre-tokenizer splits "[TGT]" into "[", "tgt", "]"). A model fine-tuned with targeted examples
records the two ids in its config (``tgt_open_id``, ``tgt_close_id``); the attention pooling
never pools the markers, so a target's explanation is made of real words only.

Training data: ``sentfin_targets/train.csv`` (``text,entity,label,conflict``), split 80/10/10 by
a salted hash of the headline (all entities of a headline land in the same split).
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import torch
from torch import nn

from focusdig.classifier import data as D
from focusdig.classifier.model import ClassifierConfig, SentimentClassifier
from focusdig.classifier.tokenizer import Encoded, TextEncoder

TGT_OPEN, TGT_CLOSE = "[TGT]", "[/TGT]"
SENTFIN_SALT = "focusdig-sentfin-v1"
Span = tuple[int, int]


def add_target_tokens(encoder: TextEncoder) -> TextEncoder:
    """The encoder with ``[TGT]`` and ``[/TGT]`` appended to its vocabulary (if missing)."""
    data = json.loads(encoder.tokenizer.to_str())
    vocab: dict[str, int] = data["model"]["vocab"]
    for token in (TGT_OPEN, TGT_CLOSE):
        if token not in vocab:
            vocab[token] = max(vocab.values()) + 1
    return TextEncoder.from_str(json.dumps(data))


def marker_ids(encoder: TextEncoder) -> tuple[int, int] | None:
    open_id, close_id = (encoder.tokenizer.token_to_id(t) for t in (TGT_OPEN, TGT_CLOSE))
    return None if open_id is None or close_id is None else (open_id, close_id)


def grow_vocabulary(model: SentimentClassifier, vocab_size: int) -> None:
    """Give ``model`` embedding rows (and MLM biases) for ids up to ``vocab_size``; the new
    rows are initialised like the model's own (normal, std 0.02)."""
    old = model.encoder.tok_emb
    if vocab_size <= old.num_embeddings:
        return
    emb = nn.Embedding(vocab_size, old.embedding_dim).to(old.weight.device, old.weight.dtype)
    nn.init.normal_(emb.weight, mean=0.0, std=0.02)
    with torch.no_grad():
        emb.weight[: old.num_embeddings] = old.weight
    model.encoder.tok_emb = emb
    bias = torch.zeros(vocab_size, device=model.mlm_bias.device, dtype=model.mlm_bias.dtype)
    bias[: model.mlm_bias.numel()] = model.mlm_bias.detach()
    model.mlm_bias = nn.Parameter(bias)
    model.config.vocab_size = vocab_size


def enable_targets(
    model: SentimentClassifier, encoder: TextEncoder
) -> tuple[SentimentClassifier, TextEncoder]:
    """Add the markers to the vocabulary, grow the embeddings, record the ids in the config.

    Call before fine-tuning on targeted examples (after loading pretrained weights).
    """
    encoder = add_target_tokens(encoder)
    open_id, close_id = marker_ids(encoder)
    grow_vocabulary(model, encoder.vocab_size)
    model.config = replace(model.config, tgt_open_id=open_id, tgt_close_id=close_id)
    return model, encoder


def supports_targets(config: ClassifierConfig) -> bool:
    return config.tgt_open_id is not None and config.tgt_close_id is not None


def mark_tokens(
    enc: Encoded,
    positions: Sequence[int],
    spans: Sequence[Span],
    markers: tuple[int, int] | None,
) -> tuple[list[int], list[int]]:
    """Token ids and word ids of ``positions`` (token indices into ``enc``), with the open and
    close markers (word id -1) around the tokens of each span when ``markers`` is given."""
    ids: list[int] = []
    words: list[int] = []
    owner: dict[int, int] = {}  # token position -> index of the span it belongs to
    if markers:
        for k, (start, end) in enumerate(spans):
            for t in positions:
                s_tok, e_tok = enc.offsets[t]
                if s_tok < end and start < e_tok and t not in owner:
                    owner[t] = k
    for i, t in enumerate(positions):
        k = owner.get(t)
        if k is not None and (i == 0 or owner.get(positions[i - 1]) != k):
            ids.append(markers[0])
            words.append(-1)
        ids.append(enc.ids[t])
        words.append(enc.word_ids[t])
        if k is not None and (i == len(positions) - 1 or owner.get(positions[i + 1]) != k):
            ids.append(markers[1])
            words.append(-1)
    return ids, words


def window(enc: Encoded, positions: list[int], spans: Sequence[Span], size: int) -> list[int]:
    """At most ``size`` token positions, centred on the first span when cut."""
    if len(positions) <= size:
        return positions
    first = next(
        (
            i
            for i, t in enumerate(positions)
            if spans and enc.offsets[t][1] > spans[0][0] and enc.offsets[t][0] < spans[0][1]
        ),
        0,
    )
    start = max(0, min(first - size // 2, len(positions) - size))
    return positions[start : start + size]


def encode_example(
    encoder: TextEncoder, example: D.Example, max_len: int, markers: tuple[int, int] | None
) -> list[int]:
    """[CLS] ids [SEP] of a training example, with markers around its targets if it has any."""
    if not example.targets:
        return encoder.ids_batch([example.text], max_len)[0]
    if markers is None:
        raise ValueError("targeted examples need a model with target markers (enable_targets)")
    enc = encoder.encode(example.text)
    spans = list(example.targets)
    budget = max_len - 2 - 2 * len(spans)
    positions = window(enc, list(range(len(enc.ids))), spans, max(1, budget))
    ids, _ = mark_tokens(enc, positions, spans, markers)
    return [encoder.cls_id, *ids[: max_len - 2], encoder.sep_id]


def encode_examples(
    encoder: TextEncoder, examples: Sequence[D.Example], config: ClassifierConfig
) -> list[list[int]]:
    """Training sequences for a mix of sentence-level and targeted examples."""
    markers = (config.tgt_open_id, config.tgt_close_id) if supports_targets(config) else None
    plain = [i for i, ex in enumerate(examples) if not ex.targets]
    out: list[list[int]] = [[] for _ in examples]
    for i, ids in zip(
        plain, encoder.ids_batch([examples[i].text for i in plain], config.max_len), strict=True
    ):
        out[i] = ids
    for i, ex in enumerate(examples):
        if ex.targets:
            out[i] = encode_example(encoder, ex, config.max_len, markers)
    return out


def find_spans(text: str, entity: str) -> list[Span]:
    """Every case-insensitive occurrence of ``entity`` in ``text`` as a whole word, else as a
    substring ("BSE" in "S&P BSE 200" and in "BSE-listed")."""
    entity = entity.strip()
    if not entity:
        return []
    escaped = re.escape(entity)
    spans = [m.span() for m in re.finditer(rf"(?<!\w){escaped}(?!\w)", text, flags=re.IGNORECASE)]
    return spans or [m.span() for m in re.finditer(escaped, text, flags=re.IGNORECASE)]


@dataclass
class SentfinReport:
    """What loading ``sentfin_targets`` kept and dropped."""

    rows: int
    kept: int
    not_found: list[int]  # CSV line numbers of rows whose entity is not in the text (dropped)
    headlines: int
    conflicting_headlines: int


def load_sentfin(root: str | Path | None = None) -> tuple[list[D.Example], SentfinReport]:
    """Targeted examples of ``sentfin_targets/train.csv``; rows whose entity string cannot
    be found in the headline are dropped and reported by line number."""
    path = D.data_dir(root) / "sentfin_targets" / "train.csv"
    examples: list[D.Example] = []
    missing: list[int] = []
    conflicting: set[str] = set()
    rows = 0
    with open(path, encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f)
        for row in reader:
            rows += 1
            text, label = row["text"].strip(), row["label"].strip().lower()
            spans = find_spans(text, row["entity"])
            if not spans or label not in D.LABELS:
                missing.append(reader.line_num)
                continue
            if row.get("conflict", "0").strip() == "1":
                conflicting.add(D.normalize(text))
            examples.append(
                D.Example(
                    text,
                    label,
                    "sentfin",
                    targets=tuple(spans),
                    entity=row["entity"].strip(),
                    conflict=D.normalize(text) in conflicting,
                )
            )
    examples = [replace(ex, conflict=D.normalize(ex.text) in conflicting) for ex in examples]
    report = SentfinReport(
        rows=rows,
        kept=len(examples),
        not_found=missing,
        headlines=len({D.normalize(ex.text) for ex in examples}),
        conflicting_headlines=len(conflicting),
    )
    return examples, report


def sentfin_split(examples: Sequence[D.Example], which: str) -> list[D.Example]:
    """One split (train/val/test, 80/10/10) by a salted hash of the headline."""
    if which not in D.SPLITS:
        raise ValueError(f"split must be one of {D.SPLITS}")
    return [ex for ex in examples if D.split_of(ex.text, SENTFIN_SALT) == which]


def add_targeted_splits(
    splits: dict[str, list[D.Example]],
    root: str | Path | None,
    repeat: int = 1,
    log=print,
) -> dict[str, list[D.Example]]:
    """The sentence-level splits plus sentfin's targeted ones (train repeated ``repeat`` x)."""
    examples, report = load_sentfin(root)
    log(
        f"sentfin_targets: {report.kept} of {report.rows} rows, {report.headlines} headlines "
        f"({report.conflicting_headlines} conflicting); entity not found on lines "
        f"{report.not_found or 'none'} (dropped)"
    )
    out = {}
    for name in D.SPLITS:
        targeted = sentfin_split(examples, name)
        out[name] = splits[name] + targeted * (max(1, repeat) if name == "train" else 1)
    return out
