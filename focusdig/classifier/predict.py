"""Inference: `Classifier.load(...).predict(texts)` -> labels, scores and word explanations.

Long texts. A text longer than the model's window (`max_len` - 2 tokens) is split into
sentences (spaCy `blank("en")` + `sentencizer`, no model download); a sentence that is still too
long is cut into chunks of whole words. Each piece is scored on its own and the text's
probabilities are the average of the pieces' probabilities weighted by their token counts, so
every token counts equally. Word weights are the explanation weights of each piece scaled by the
same factor (they sum to 1 over the whole text), and `top_tokens` are drawn across all pieces
with character offsets into the full original text.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from focusdig.artifacts import newest_model_dir
from focusdig.classifier.artifacts import load_model_dir
from focusdig.classifier.model import SentimentClassifier, collate
from focusdig.classifier.targets import Span, mark_tokens, supports_targets, window
from focusdig.classifier.tokenizer import Encoded, TextEncoder
from focusdig.precision import (
    autocast,
    autocast_dtype,
    default_device,
    dtype_name,
    int8_by_default,
    quantize_linear_int8,
)


@dataclass
class Prediction:
    label: str  # argmax class
    score: float  # P(positive) - P(negative), in [-1, 1]
    probs: dict[str, float]  # {negative, neutral, positive}
    top_tokens: list[dict] = field(default_factory=list)  # {word, weight, start, end}, best first


@dataclass
class _Piece:
    item: int  # index of the text it comes from
    ids: list[int]  # [CLS] tokens [SEP]
    words: list[int]  # word index of each real token (len(ids) - 2)
    share: float = 1.0  # weight of this piece in its text (token count / text token count)


def models_root() -> Path:
    """The shipped classifiers: `models/classifier` of a checkout or of the installed package."""
    from focusdig.paths import SHIPPED_MODELS

    return SHIPPED_MODELS / "classifier"


def default_model_dir() -> Path:
    """The newest shipped model directory under `models_root()`."""
    return newest_model_dir(models_root(), "classifier model")


_NLP = None


def _sentence_spans(text: str) -> list[tuple[int, int]]:
    global _NLP
    if _NLP is None:
        import spacy

        _NLP = spacy.blank("en")
        _NLP.add_pipe("sentencizer")
    _NLP.max_length = max(_NLP.max_length, len(text) + 1)
    return [(s.start_char, s.end_char) for s in _NLP(text).sents]


_PARAGRAPH_BREAK = re.compile(r"\n\s*\n")


@lru_cache(maxsize=1)
def _sentence_end_chars() -> frozenset[str]:
    from spacy.pipeline.sentencizer import Sentencizer

    return frozenset(Sentencizer.default_punct_chars)


def _paragraph_sentences(paragraph: str) -> list[tuple[int, int]]:
    """spaCy's sentences of one paragraph; a paragraph with no sentence-final mark before its
    end (a title) is one sentence without asking spaCy."""
    ends = _sentence_end_chars()
    body = paragraph.rstrip()
    while body and (body[-1] in ends or not body[-1].isalnum()):
        body = body[:-1]
    if not any(ch in ends for ch in body):
        start = len(paragraph) - len(paragraph.lstrip())
        return [(start, len(paragraph.rstrip()))]
    return _sentence_spans(paragraph)


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """Sentences of ``text``, never across a blank line (a news title is its own sentence)."""
    spans, start = [], 0
    for brk in [*_PARAGRAPH_BREAK.finditer(text), None]:
        end = brk.start() if brk else len(text)
        if text[start:end].strip():
            spans += [(start + s, start + e) for s, e in _paragraph_sentences(text[start:end])]
        start = brk.end() if brk else end
    return spans


def context_sentences(
    text: str, spans: Sequence[Span], sentences: Sequence[tuple[int, int]] | None = None
) -> list[tuple[int, int]]:
    """The sentences of ``text`` that overlap any of ``spans`` (the target's context);
    ``sentences``: ``sentence_spans(text)`` when already known."""
    sentences = sentence_spans(text) if sentences is None else sentences
    return [(s, e) for s, e in sentences if any(a < e and s < b for a, b in spans)] or [
        (0, len(text))
    ]


def _chunk_words(tokens: list[int], words: list[int], size: int) -> list[list[int]]:
    """Split token positions into runs of <= size, cutting between words where possible."""
    chunks: list[list[int]] = []
    cur: list[int] = []
    i = 0
    while i < len(tokens):
        j = i  # tokens[i:j] is the next whole word
        while j < len(tokens) and words[tokens[j]] == words[tokens[i]]:
            j += 1
        word = tokens[i:j]
        if len(cur) + len(word) > size and cur:
            chunks.append(cur)
            cur = []
        while len(word) > size:  # a single word longer than the window
            chunks.append(word[:size])
            word = word[size:]
        cur += word
        i = j
    if cur:
        chunks.append(cur)
    return chunks


_HAN = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
# a Han character, or a whitespace-delimited run with its outer punctuation trimmed
_WORD = re.compile(rf"[{_HAN}]|[^\W{_HAN}](?:[^\s{_HAN}]*[^\W{_HAN}])?")


def _text_words(text: str) -> tuple[list[tuple[int, int]], list[int]]:
    """The (start, end) of each whole word of ``text``, and their starts."""
    words = [(m.start(), m.end()) for m in _WORD.finditer(text)]
    return words, [w[0] for w in words]


def _word_spans(enc: Encoded) -> dict[int, tuple[int, int]]:
    """Character span of each tokenizer word (over its tokens)."""
    spans: dict[int, tuple[int, int]] = {}
    for w, (start, end) in zip(enc.word_ids, enc.offsets, strict=True):
        if w >= 0:
            s0, e0 = spans.get(w, (start, end))
            spans[w] = (min(s0, start), max(e0, end))
    return spans


def _top_words(
    text: str,
    spans: dict[int, tuple[int, int]],
    weights: dict[int, float],
    k: int,
    text_words: tuple[list[tuple[int, int]], list[int]],
) -> list[dict]:
    """The ``k`` heaviest whole words of ``text``: "2,000", "50%" and "Q3's" stay one word.

    Tokenizer words (which split on punctuation) add their weight to the text word that
    contains them; pure punctuation is never reported. ``text_words``: ``_text_words(text)``.
    """
    if k <= 0:
        return []
    words, starts = text_words
    merged: dict[int, float] = {}
    for w, weight in weights.items():
        start, end = spans[w]
        i = bisect.bisect_right(starts, start) - 1
        if i >= 0 and words[i][0] <= start and end <= words[i][1]:
            merged[i] = merged.get(i, 0.0) + weight
    best = sorted(merged.items(), key=lambda kv: (-kv[1], kv[0]))[:k]
    return [
        {
            "word": text[words[i][0] : words[i][1]],
            "weight": round(weight, 6),
            "start": words[i][0],
            "end": words[i][1],
        }
        for i, weight in best
    ]


class Classifier:
    """A loaded sentiment model. Use `Classifier.load(path)`; `path=None` is the champion."""

    def __init__(
        self,
        model: torch.nn.Module,
        encoder: TextEncoder,
        config: dict,
        path: Path | None = None,
        device: str | torch.device | None = None,
        precision: str = "auto",
        int8: bool | None = False,
    ):
        self.device = default_device(device)
        own = isinstance(model, SentimentClassifier)
        if int8 is None:
            int8 = own and int8_by_default(self.device, precision)
        elif int8 and not own:
            raise ValueError("int8 is for focusdig's own classifier, not a Hugging Face model")
        if int8 and self.device.type != "cpu":
            raise ValueError("int8 (dynamic quantization) runs on the CPU only")
        self.int8 = int8
        self.model = quantize_linear_int8(model) if int8 else model.to(self.device).eval()
        # int8 layers take float32 input: no autocast
        self.autocast_dtype = None if int8 else autocast_dtype(self.device, precision)
        self.encoder = encoder
        self.config = config
        self.path = path
        self.version: str = config["version"]
        self.labels: tuple[str, ...] = tuple(model.config.labels)
        self.max_len: int = model.config.max_len

    @classmethod
    def load(
        cls,
        path: str | Path | None = None,
        device: str | torch.device | None = None,
        num_threads: int | None = None,
        precision: str = "auto",
        *,
        manifest: dict | None = None,
        version: str | None = None,
        explanation: str | None = None,
        int8: bool | None = False,
    ) -> Classifier:
        """Load and verify any supported classifier directory (None: `default_model_dir()`):
        focusdig's own, a Hugging Face encoder fine-tuned by focusdig, or a Hugging Face
        sequence-classification model (see `focusdig.classifier.hf`).

        `device`: "cpu", "cuda", ... (default: CUDA when available). `num_threads` sets torch's
        (process-wide) intra-op CPU threads. `precision`: auto, fp32, bf16 or fp16 (see
        `focusdig.precision`). `manifest`: file digests to check (default: the directory's
        manifest.json); `version`: the registered name; `explanation`: how words are weighted
        (focusdig's model: flow, the default, or pooling; Hugging Face classification models:
        rollout or cls; see `load_model_dir`). `int8`: run the linear layers as dynamically
        quantized int8 (CPU only); None: int8 where `focusdig.precision.int8_by_default` says
        and the model is focusdig's own (what the pipeline uses; a Hugging Face model's int8
        quality is not measured). Label agreement with float32 and macro-F1 on the test
        splits: benchmarks/README.md section 6.
        """
        if num_threads:
            torch.set_num_threads(num_threads)
        path = Path(path) if path is not None else default_model_dir()
        model, enc, config = load_model_dir(path, manifest, explanation)
        if version:
            config = {**config, "version": version}
        return cls(model, enc, config, path=path, device=device, precision=precision, int8=int8)

    def __repr__(self) -> str:
        dtype = "int8" if self.int8 else dtype_name(self.autocast_dtype)
        return f"Classifier(version={self.version!r}, device={self.device.type!r}, {dtype})"

    # -- segmentation -------------------------------------------------------------------------
    def _pieces(self, item: int, text: str, enc: Encoded) -> list[_Piece]:
        size = self.max_len - 2
        cls_id, sep_id = self.encoder.cls_id, self.encoder.sep_id
        n = len(enc.ids)
        if n <= size:
            return [_Piece(item, [cls_id, *enc.ids, sep_id], list(enc.word_ids))]
        groups: list[list[int]] = []
        spans = _sentence_spans(text)
        s, cur = 0, []
        for t, (start, _) in enumerate(enc.offsets):
            while s < len(spans) - 1 and start >= spans[s][1]:
                s += 1
                if cur:
                    groups.append(cur)
                    cur = []
            cur.append(t)
        if cur:
            groups.append(cur)
        pieces = []
        for g in groups:
            for chunk in _chunk_words(g, enc.word_ids, size):
                pieces.append(
                    _Piece(
                        item,
                        [cls_id, *(enc.ids[t] for t in chunk), sep_id],
                        [enc.word_ids[t] for t in chunk],
                        len(chunk) / n,
                    )
                )
        return pieces

    @torch.inference_mode()
    def _run(
        self, pieces: list[_Piece], batch_size: int, explain: bool = True
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        """Probabilities (P, L) and the explanation's weights over real tokens for each piece
        (``explain=False``: the model's cheapest weights, for callers that want no words)."""
        probs = np.zeros((len(pieces), len(self.labels)), dtype=np.float32)
        alphas: list[np.ndarray] = [np.zeros(0)] * len(pieces)
        order = sorted(range(len(pieces)), key=lambda i: len(pieces[i].ids))
        for s in range(0, len(order), batch_size):
            b = order[s : s + batch_size]
            ids, mask = collate([pieces[i].ids for i in b], self.encoder.pad_id)
            with autocast(self.device, self.autocast_dtype):
                logits, alpha, _ = self.model(
                    ids.to(self.device), mask.to(self.device), explain=explain
                )
            probs[b] = torch.softmax(logits.float(), dim=-1).cpu().numpy()
            a = alpha.float().cpu().numpy()
            for r, i in enumerate(b):
                alphas[i] = a[r, 1 : len(pieces[i].ids) - 1]
        return probs, alphas

    # -- public API ---------------------------------------------------------------------------
    @property
    def supports_targets(self) -> bool:
        """Whether the model was trained to take a target (``predict_targets``)."""
        return supports_targets(self.model.config)

    @staticmethod
    def _clean_texts(texts) -> list[str]:
        if isinstance(texts, str):
            texts = [texts]
        return ["" if t is None else t if isinstance(t, str) else str(t) for t in texts]

    def predict(
        self, texts: str | Sequence[str], batch_size: int = 64, top_k: int = 5
    ) -> list[Prediction]:
        """One `Prediction` per text (a single str is treated as a list of one; None as "")."""
        texts = self._clean_texts(texts)
        encs = self.encoder.encode_batch(texts)
        pieces = [
            p
            for i, (t, e) in enumerate(zip(texts, encs, strict=True))
            for p in self._pieces(i, t, e)
        ]
        return self._combine(texts, encs, pieces, batch_size, top_k)

    def _target_pieces(
        self,
        item: int,
        text: str,
        enc: Encoded,
        spans: list[Span],
        sentences: Sequence[tuple[int, int]] | None = None,
    ):
        """One piece per sentence holding a mention; markers around the mentions when the
        model supports targets, else the plain sentence (the sentence-level fallback).
        ``sentences``: ``sentence_spans(text)`` when already known."""
        markers = (
            (self.model.config.tgt_open_id, self.model.config.tgt_close_id)
            if self.supports_targets
            else None
        )
        pieces = []
        for start, end in context_sentences(text, spans, sentences):
            positions = [t for t, (a, _) in enumerate(enc.offsets) if start <= a < end]
            inside = [(a, b) for a, b in spans if a < end and start < b]
            budget = self.max_len - 2 - (2 * len(inside) if markers else 0)
            positions = window(enc, positions, inside, max(1, budget))
            ids, words = mark_tokens(enc, positions, inside, markers)
            cls_id, sep_id = self.encoder.cls_id, self.encoder.sep_id
            pieces.append(_Piece(item, [cls_id, *ids, sep_id], words, float(len(positions))))
        total = sum(p.share for p in pieces) or 1.0
        for p in pieces:
            p.share = p.share / total if p.share else 1.0 / len(pieces)
        return pieces

    def predict_targets(
        self,
        texts: Sequence[str],
        spans: Sequence[Sequence[Span]],
        batch_size: int = 64,
        top_k: int = 5,
    ) -> list[Prediction]:
        """Sentiment toward a target: ``spans[i]`` are the character spans of the target's
        mentions in ``texts[i]``.

        Each sentence that holds a mention is scored with markers around the mentions (a
        model with ``supports_targets``), or, for a model without target support, as a plain
        sentence: the score is then that of the sentence(s) containing the mention. Several
        sentences are combined like the pieces of a long text. With no spans, the whole text
        is scored as by ``predict``. Top words have offsets into ``texts[i]`` and never include
        the markers.
        """
        texts = self._clean_texts(texts)
        if len(spans) != len(texts):
            raise ValueError("one list of spans per text")
        unique = list(dict.fromkeys(texts))
        by_text = dict(zip(unique, self.encoder.encode_batch(unique), strict=True))
        encs = [by_text[t] for t in texts]
        sentences: dict[str, list[tuple[int, int]]] = {}  # a text with several targets: once
        pieces = []
        for i, (text, enc, sp) in enumerate(zip(texts, encs, spans, strict=True)):
            sp = sorted((int(a), int(b)) for a, b in sp)
            if not sp:
                pieces += self._pieces(i, text, enc)
                continue
            if text not in sentences:
                sentences[text] = sentence_spans(text)
            pieces += self._target_pieces(i, text, enc, sp, sentences[text])
        return self._combine(texts, encs, pieces, batch_size, top_k)

    def _combine(
        self,
        texts: list[str],
        encs: list[Encoded],
        pieces: list[_Piece],
        batch_size: int,
        top_k: int,
    ) -> list[Prediction]:
        """Score the pieces (identical ones once) and combine them per text."""
        first: dict[tuple[int, ...], int] = {}
        distinct = [first.setdefault(tuple(p.ids), len(first)) for p in pieces]
        runs = [None] * len(first)
        for p, k in zip(pieces, distinct, strict=True):
            runs[k] = runs[k] or p
        probs, alphas = self._run(runs, batch_size, explain=top_k > 0)
        item_probs = np.zeros((len(texts), len(self.labels)), dtype=np.float64)
        word_w: list[dict[int, float]] = [{} for _ in texts]
        for piece, k in zip(pieces, distinct, strict=True):
            item_probs[piece.item] += piece.share * probs[k]
            ww = word_w[piece.item]
            for w, weight in zip(piece.words, alphas[k].tolist(), strict=True):
                if w >= 0:
                    ww[w] = ww.get(w, 0.0) + weight * piece.share
        item_probs /= item_probs.sum(axis=1, keepdims=True)
        out = []
        words: dict[str, tuple] = {}  # per distinct text: its word spans, once
        for text, enc, p, ww in zip(texts, encs, item_probs, word_w, strict=True):
            top: list[dict] = []
            if top_k > 0:
                if text not in words:
                    words[text] = (_word_spans(enc), _text_words(text))
                spans, text_words = words[text]
                top = _top_words(text, spans, ww, top_k, text_words)
            probs_d = {lab: float(p[i]) for i, lab in enumerate(self.labels)}
            out.append(
                Prediction(
                    label=self.labels[int(p.argmax())],
                    score=float(probs_d.get("positive", 0.0) - probs_d.get("negative", 0.0)),
                    probs=probs_d,
                    top_tokens=top,
                )
            )
        return out

    def predict_proba(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        """Class probabilities (N, len(labels)) in `self.labels` order."""
        preds = self.predict(texts, batch_size=batch_size, top_k=0)
        return np.array([[p.probs[lab] for lab in self.labels] for p in preds]).reshape(
            len(preds), len(self.labels)
        )

    def scores(self, texts: Sequence[str], batch_size: int = 64) -> list[float]:
        """P(positive) - P(negative) per text."""
        return [p.score for p in self.predict(texts, batch_size=batch_size, top_k=0)]

    def evaluate(self, texts: Sequence[str], labels: Sequence[str], batch_size: int = 64) -> dict:
        """Accuracy, macro-F1, per-class precision/recall/F1 and confusion matrix.

        `labels` are label names (e.g. "negative"); the confusion matrix rows are true labels
        and columns predicted labels, both in `self.labels` order.
        """
        self._check_labels(labels)
        pred = [p.label for p in self.predict(texts, batch_size=batch_size, top_k=0)]
        return classification_metrics(labels, pred, self.labels)

    def evaluate_targets(
        self,
        texts: Sequence[str],
        spans: Sequence[Sequence[Span]],
        labels: Sequence[str],
        batch_size: int = 64,
    ) -> dict:
        """Like `evaluate`, each text scored toward its target (`predict_targets`); adds
        ``method``: "target", or "sentence" for a model without target support."""
        self._check_labels(labels)
        preds = self.predict_targets(texts, spans, batch_size=batch_size, top_k=0)
        metrics = classification_metrics(labels, [p.label for p in preds], self.labels)
        metrics["method"] = "target" if self.supports_targets else "sentence"
        return metrics

    def _check_labels(self, labels: Sequence[str]) -> None:
        unknown = set(labels) - set(self.labels)
        if unknown:
            raise ValueError(f"unknown labels {sorted(unknown)}; expected {self.labels}")


def classification_metrics(gold: Sequence[str], pred: Sequence[str], labels: Sequence[str]) -> dict:
    """Accuracy, macro-F1, per-class precision/recall/F1/support and the confusion matrix."""
    from sklearn.metrics import accuracy_score, confusion_matrix, f1_score
    from sklearn.metrics import precision_recall_fscore_support as prfs

    labs = list(labels)
    prec, rec, f1, sup = prfs(gold, pred, labels=labs, zero_division=0)
    return {
        "n": len(pred),
        "accuracy": float(accuracy_score(gold, pred)) if pred else 0.0,
        "macro_f1": float(f1_score(gold, pred, labels=labs, average="macro", zero_division=0)),
        "per_class": {
            lab: {
                "precision": float(prec[i]),
                "recall": float(rec[i]),
                "f1": float(f1[i]),
                "support": int(sup[i]),
            }
            for i, lab in enumerate(labs)
        },
        "labels": labs,
        "confusion_matrix": confusion_matrix(gold, pred, labels=labs).tolist() if pred else [],
    }
