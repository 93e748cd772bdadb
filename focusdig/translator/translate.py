"""`Translator`: zh/fr/de -> English with word alignments from cross-attention.

Texts are split into sentences (zh on 。！？, others on . ! ? followed by a space, and on line
breaks), sentences longer than the model's window are cut into chunks, all pieces are decoded in
length-sorted batches, and the English pieces are joined with spaces. Each target word is linked
to the source word (for Chinese: the source subword) its tokens attend to most in the last
decoder layer, with character offsets into the input text and the output text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import Tensor

from focusdig.langid import detect_languages, normalize_code
from focusdig.precision import autocast, autocast_dtype
from focusdig.translator.artifacts import latest_model_dir, load_model_dir
from focusdig.translator.generate import beam_search, greedy_search, max_new_tokens
from focusdig.translator.model import Seq2SeqTransformer
from focusdig.translator.tokenizer import SubwordTokenizer

TARGET = "en"
_HAN = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_BOUNDARY = {
    "zh": re.compile(r"[。！？!?]+[”’」』\"')）]*|\n+"),
    "default": re.compile(r"[.!?…]+[\"'”’»)\]]*(?=\s)|\n+"),
}
_TGT_WORD = re.compile(r"\w+(?:['’]\w+)*|[^\w\s]")
_SRC_WORD = re.compile(rf"[^\W{_HAN}]+|[^\w\s]")
_IS_HAN = re.compile(rf"[{_HAN}]")


@dataclass
class Translation:
    text: str  # English
    source_language: str
    alignment: list[dict] = field(default_factory=list)  # src/tgt char spans + weight


def split_sentences(text: str, lang: str) -> list[tuple[int, int]]:
    """Character spans of the sentences of `text` (whitespace trimmed, empty ones dropped)."""
    pattern = _BOUNDARY["zh" if lang == "zh" else "default"]
    cuts = [m.end() for m in pattern.finditer(text)] + [len(text)]
    spans, start = [], 0
    for end in cuts:
        s, e = start, end
        while s < e and text[s].isspace():
            s += 1
        while e > s and text[e - 1].isspace():
            e -= 1
        if e > s:
            spans.append((s, e))
        start = end
    return spans


def _source_unit(text: str, span: tuple[int, int], words: list[tuple[int, int]]) -> tuple[int, int]:
    """The source word holding a token: a Chinese token is its own unit."""
    s, e = span
    if s >= len(text):
        return span
    if _IS_HAN.match(text[s]):
        return s, max(e, s + 1)
    for ws, we in words:
        if ws <= s < we:
            return ws, we
    return s, max(e, s + 1)


def align_words(
    src_text: str,
    src_offsets: list[tuple[int, int]],
    tgt_text: str,
    tgt_spans: list[tuple[int, int]],
    attention: Tensor | None,
) -> list[dict]:
    """Link each target word to its most-attended source unit.

    attention: (len(tgt_spans), 1 + len(src_offsets) + ...) rows over the encoder input
    `<2xx> tokens </s> [pad]`; the tag, `</s>` and padding columns are ignored.
    """
    n_src = len(src_offsets)
    if attention is None or n_src == 0 or attention.size(0) == 0:
        return []
    att = attention[:, 1 : 1 + n_src].float()  # (T, n_src)
    src_words = [m.span() for m in _SRC_WORD.finditer(src_text)]
    out = []
    for m in _TGT_WORD.finditer(tgt_text):
        ws, we = m.span()
        rows = [i for i, (s, e) in enumerate(tgt_spans) if s < we and e > ws]
        if not rows:
            continue
        dist = att[rows].mean(dim=0)  # (n_src,)
        s, e = _source_unit(src_text, src_offsets[int(dist.argmax())], src_words)
        weight = sum(
            float(dist[j])
            for j, (ts, te) in enumerate(src_offsets)
            if ts < e and max(te, ts + 1) > s
        )
        out.append(
            {
                "src_start": s,
                "src_end": e,
                "tgt_start": ws,
                "tgt_end": we,
                "weight": round(min(weight, 1.0), 4),
            }
        )
    return out


class Translator:
    """A loaded translation model. Use `Translator.load()`."""

    def __init__(
        self,
        model: Seq2SeqTransformer,
        tokenizer: SubwordTokenizer,
        config: dict,
        path: Path | None = None,
        device: str = "cpu",
        precision: str = "auto",
    ):
        self.model = model.to(device).eval()
        self.autocast_dtype = autocast_dtype(torch.device(device), precision)
        self.tokenizer = tokenizer
        self.config = config
        self.path = path
        self.device = device
        self.max_src_tokens = model.config.max_len - 2  # room for the tag and </s>

    @classmethod
    def load(
        cls,
        path: str | Path | None = None,
        device: str | None = None,
        num_threads: int | None = None,
        precision: str = "auto",
    ) -> Translator:
        """Load a model directory (default: newest under <repo>/models/translator/).

        `precision`: auto, fp32, bf16 or fp16 (see `focusdig.precision`)."""
        if num_threads:
            torch.set_num_threads(num_threads)
        path = Path(path) if path else latest_model_dir()
        model, tokenizer, config = load_model_dir(path)
        device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        return cls(model, tokenizer, config, path=path, device=device, precision=precision)

    @property
    def version(self) -> str:
        return self.config["version"]

    @property
    def languages(self) -> list[str]:
        return list(self.config["languages"])

    def _languages_for(self, texts: list[str], src_lang: str | list[str] | None) -> list[str]:
        """Declared languages (normalized, checked); None entries are detected."""
        langs = (
            [src_lang] * len(texts)
            if src_lang is None or isinstance(src_lang, str)
            else list(src_lang)
        )
        if len(langs) != len(texts):
            raise ValueError(f"{len(texts)} texts but {len(langs)} source languages")
        langs = [normalize_code(lang) for lang in langs]
        bad = sorted(
            {
                lang
                for lang in langs
                if lang is not None and lang not in self.languages and lang != TARGET
            }
        )
        if bad:
            raise ValueError(
                f"unsupported source language(s) {bad}; supported: {self.languages + [TARGET]}"
            )
        unknown = [i for i, lang in enumerate(langs) if lang is None]
        for i, (lang, _) in zip(
            unknown, detect_languages([texts[i] for i in unknown]), strict=True
        ):
            langs[i] = lang
        return langs

    def _pieces(self, text: str, lang: str) -> list[tuple[int, int]]:
        """Sentence spans, long sentences cut into chunks of at most max_src_tokens tokens."""
        spans = split_sentences(text, lang)
        encoded = self.tokenizer.encode_with_offsets([text[s:e] for s, e in spans])
        out = []
        for (s, _e), (ids, offsets) in zip(spans, encoded, strict=True):
            for i in range(0, max(len(ids), 1), self.max_src_tokens):
                chunk = offsets[i : i + self.max_src_tokens]
                if chunk:
                    out.append((s + chunk[0][0], s + chunk[-1][1]))
        return out

    def _decode(
        self, ids: list[list[int]], langs: list[str], beam_size: int, no_repeat_ngram_size: int
    ) -> list[tuple[str, list[tuple[int, int]], Tensor | None]]:
        cfg = self.model.config
        rows = [
            [self.tokenizer.lang_id(lang), *x[: self.max_src_tokens], cfg.eos_id]
            for x, lang in zip(ids, langs, strict=True)
        ]
        width = max(len(r) for r in rows)
        src = torch.full((len(rows), width), cfg.pad_id, dtype=torch.long)
        for i, r in enumerate(rows):
            src[i, : len(r)] = torch.tensor(r)
        caps = torch.tensor([max_new_tokens(len(r) - 2, cfg.max_len - 1) for r in rows])
        src, caps = src.to(self.device), caps.to(self.device)
        with autocast(src.device, self.autocast_dtype):
            if beam_size > 1:
                hyps = beam_search(
                    self.model,
                    src,
                    caps,
                    beam_size=beam_size,
                    need_weights=True,
                    no_repeat_ngram_size=no_repeat_ngram_size,
                )
            else:
                hyps = greedy_search(
                    self.model,
                    src,
                    caps,
                    need_weights=True,
                    no_repeat_ngram_size=no_repeat_ngram_size,
                )
        return [(*self.tokenizer.decode_with_spans(h.ids), h.attention) for h in hyps]

    def translate(
        self,
        texts: list[str],
        src_lang: str | list[str] | None = None,
        beam_size: int = 1,
        batch_size: int = 32,
        no_repeat_ngram_size: int = 3,
    ) -> list[Translation]:
        """Translate `texts` to English; src_lang (or a list entry) None -> detected.

        Decoding is greedy (`beam_size` 1) or beam search; no subword n-gram of
        `no_repeat_ngram_size` (0: off) is generated twice in one sentence.

        English texts, and texts detected (not declared) as another unsupported language, are
        returned unchanged with an empty alignment; a declared unsupported language raises.
        """
        if isinstance(texts, str):
            raise TypeError("translate() takes a list of texts")
        texts = [t or "" for t in texts]
        langs = self._languages_for(texts, src_lang)
        pieces = []  # (text index, start, end)
        for i, (text, lang) in enumerate(zip(texts, langs, strict=True)):
            if lang in self.languages:
                pieces += [(i, s, e) for s, e in self._pieces(text, lang)]
        piece_texts = [texts[i][s:e] for i, s, e in pieces]
        encoded = self.tokenizer.encode_with_offsets(piece_texts)
        order = sorted(range(len(pieces)), key=lambda j: len(encoded[j][0]))
        decoded: list = [None] * len(pieces)
        for b in range(0, len(order), max(batch_size, 1)):
            batch = order[b : b + batch_size]
            outs = self._decode(
                [encoded[j][0] for j in batch],
                [langs[pieces[j][0]] for j in batch],
                beam_size,
                no_repeat_ngram_size,
            )
            for j, out in zip(batch, outs, strict=True):
                decoded[j] = out
        results = [
            Translation(text, lang) if lang not in self.languages else Translation("", lang)
            for text, lang in zip(texts, langs, strict=True)
        ]
        for j, (i, s, _e) in enumerate(pieces):
            tgt, spans, att = decoded[j]
            if not tgt:
                continue
            res = results[i]
            shift = len(res.text) + (1 if res.text else 0)
            res.text = f"{res.text} {tgt}" if res.text else tgt
            offsets = encoded[j][1][: self.max_src_tokens]
            for a in align_words(piece_texts[j], offsets, tgt, spans, att):
                a["src_start"] += s
                a["src_end"] += s
                a["tgt_start"] += shift
                a["tgt_end"] += shift
                res.alignment.append(a)
        return results
