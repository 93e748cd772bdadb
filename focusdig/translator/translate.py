"""`Translator`: zh/fr/de -> English for whole articles, with word alignments and a confidence.

A text is cut into lines, each line into sentences (a blank spaCy pipeline with the rule-based
`sentencizer` for de/fr, no model download, see `focusdig.translator.sentencizer`; for Chinese
a rule on 。！？ and their ASCII forms), and a sentence longer than the model's source window
into chunks at clause, then word, then (only for a single overlong word) character boundaries:
nothing is dropped or truncated. The pieces of all texts are decoded in length-sorted batches
and each text's English pieces are joined in order (source line breaks between pieces are
kept). Each target word is linked to the source word (for Chinese: the source subword) its
tokens attend to most in the last decoder layer, with character offsets into the whole input
text and the whole output text.

Confidence: the model's own probability of what it wrote, length-normalised: exp of the mean
log-probability of the generated tokens (each piece's </s> included) over the whole text, so
a long sentence weighs in proportion to its length. 1.0 means every token was certain.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import Tensor

from focusdig.artifacts import MARIAN, describe
from focusdig.langid import detect_languages, normalize_code
from focusdig.precision import (
    autocast,
    autocast_dtype,
    default_device,
    int8_by_default,
    torch_threads,
)
from focusdig.translator.artifacts import latest_model_dir, load_model_dir
from focusdig.translator.generate import (
    NO_REPEAT_NGRAM,
    Hypothesis,
    beam_search,
    greedy_search,
    max_new_tokens,
)
from focusdig.translator.model import Seq2SeqTransformer, quantize_int8
from focusdig.translator.sentencizer import sentencizer
from focusdig.translator.tokenizer import SubwordTokenizer

TARGET = "en"
_HAN = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_CLOSERS = r"\"'”’»)\]）」』"
_ZH_SENTENCE_END = re.compile(rf"[。！？!?]+[{_CLOSERS}]*")
_LINE = re.compile(r"[^\n]+")
# where a sentence too long for the model may be cut, coarsest first: after clause
# punctuation (an ASCII one only before a space: not inside "1,000"), before a word (any Han
# character is a word), before any character
_CUTS = (
    re.compile(rf"[,;:]+[{_CLOSERS}]*\s+|[，；：、]+[{_CLOSERS}]*\s*"),
    re.compile(rf"(?<=\s)(?=\S)|(?=[{_HAN}])|(?<=[{_HAN}])"),
    re.compile(r"(?=.)", re.DOTALL),
)
_TGT_WORD = re.compile(r"\w+(?:['’]\w+)*|[^\w\s]")
_SRC_WORD = re.compile(rf"[^\W{_HAN}]+|[^\w\s]")
_IS_HAN = re.compile(rf"[{_HAN}]")


@dataclass
class Translation:
    text: str  # English
    source_language: str
    alignment: list[dict] = field(default_factory=list)  # src/tgt char spans + weight
    confidence: float | None = None  # in [0, 1]; None when nothing was translated


def _trimmed(text: str, start: int, end: int) -> tuple[int, int] | None:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return (start, end) if end > start else None


def split_sentences(text: str, lang: str) -> list[tuple[int, int]]:
    """Character spans of the sentences of ``text``: lines first, then sentences within each
    line (whitespace trimmed, empty ones dropped)."""
    spans = []
    for line in _LINE.finditer(text):
        s0 = line.start()
        if lang == "zh":
            cuts = [s0 + m.end() for m in _ZH_SENTENCE_END.finditer(line.group())]
            bounds = zip([s0, *cuts], [*cuts, line.end()], strict=True)
        else:
            nlp = sentencizer(lang)
            nlp.max_length = max(nlp.max_length, len(line.group()) + 1)
            doc = nlp(line.group())
            bounds = ((s0 + s.start_char, s0 + s.end_char) for s in doc.sents)
        spans += [span for s, e in bounds if (span := _trimmed(text, s, e))]
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
    prefix: int = 1,
) -> list[dict]:
    """Link each target word to its most-attended source unit.

    attention: (len(tgt_spans), prefix + len(src_offsets) + ...) rows over the encoder input,
    e.g. `<2xx> tokens </s> [pad]` (prefix 1: the language tag); the prefix, `</s>` and padding
    columns are ignored.
    """
    n_src = len(src_offsets)
    if attention is None or n_src == 0 or attention.size(0) == 0:
        return []
    att = attention[:, prefix : prefix + n_src].float()  # (T, n_src)
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

    source_prefix = 1  # encoder input positions before the source tokens (the language tag)
    # torch intra-op threads while decoding on the CPU: token-by-token decoding is many small
    # operations, and splitting each across threads costs more than it gives (measured on 2
    # shared cores: 205 items in 2.3 s on one thread, 6-20 s on two; benchmarks/README.md §6)
    cpu_decode_threads: int | None = 1

    def __init__(
        self,
        model: Seq2SeqTransformer,
        tokenizer: SubwordTokenizer,
        config: dict,
        path: Path | None = None,
        device: str | torch.device = "cpu",
        precision: str = "auto",
        int8: bool | None = None,
    ):
        device = torch.device(device)
        if int8 is None:  # auto: the fastest at equal quality (benchmarks/README.md)
            int8 = int8_by_default(device, precision)
        if int8 and device.type != "cpu":
            raise ValueError("int8 (dynamic quantization) runs on the CPU only")
        self.int8 = int8
        self.model = quantize_int8(model) if int8 else model.to(device).eval()
        # int8 layers take float32 input: no autocast
        self.autocast_dtype = None if int8 else autocast_dtype(device, precision)
        self.tokenizer = tokenizer
        self.config = config
        self.path = path
        self.device = device
        # the language tags are never generated: the output is English, even from a model that
        # also learnt en -> xx (`focusdig.translator.backtranslate`), whose tag starts de/fr/zh
        self.banned = torch.tensor(
            [tokenizer.lang_id(lang) for lang in tokenizer.languages], dtype=torch.long
        ).to(device)
        # the longest source piece: what the model has positions for (room for the tag and
        # </s>) and, when the config says, no longer than its longest training source
        trained = config.get("training", {}).get("max_len", model.config.max_len)
        self.max_src_tokens = min(model.config.max_len - 2, trained)
        if self.max_src_tokens < 4:  # one character is up to 4 byte-level tokens
            raise ValueError(f"source window of {self.max_src_tokens} tokens is too small")

    @classmethod
    def load(
        cls,
        path: str | Path | None = None,
        device: str | None = None,
        num_threads: int | None = None,
        precision: str = "auto",
        int8: bool | None = None,
        *,
        manifest: dict | None = None,
        languages: list[str] | None = None,
        version: str | None = None,
    ) -> Translator:
        """Load a model directory (default: newest under <repo>/models/translator/): focusdig's
        own or a Hugging Face Marian one (`focusdig.translator.marian`).

        `precision`: auto, fp32, bf16 or fp16 (see `focusdig.precision`); `int8`: run the
        linear layers as dynamically quantized int8 (`quantize_int8`), CPU only; None (auto):
        int8 on the CPU when `precision` is auto, else as `precision` says (a Marian model
        runs in floating point: its int8 quality is not measured). `manifest`: file digests to
        check (default: the directory's manifest.json); `languages` (Marian: its source
        languages when its files do not say) and `version` come from the registry."""
        if num_threads:
            torch.set_num_threads(num_threads)
        path = Path(path) if path else latest_model_dir()
        if describe(path).backend == MARIAN:
            from focusdig.translator.marian import MarianTranslator

            if int8:
                raise ValueError("int8 is for focusdig's own translator, not a Marian model")
            return MarianTranslator.load_marian(
                path, device, precision, manifest=manifest, languages=languages, version=version
            )
        model, tokenizer, config = load_model_dir(path, manifest)
        if version:
            config = {**config, "version": version}
        device = default_device(device)
        return cls(
            model, tokenizer, config, path=path, device=device, precision=precision, int8=int8
        )

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

    def _fits(self, text: str) -> bool:
        return len(self.tokenizer.encode_batch([text])[0]) <= self.max_src_tokens

    def _fit(self, text: str, start: int, end: int, level: int = 0) -> list[tuple[int, int]]:
        """``text[start:end]`` as consecutive spans of at most ``max_src_tokens`` tokens each,
        cut at the coarsest kind of boundary (``_CUTS[level:]``) that makes every span fit;
        each chunk is as long as it can be (binary search over the cut points)."""
        segment = _trimmed(text, start, end)
        if segment is None:
            return []
        start, end = segment
        if self._fits(text[start:end]):
            return [segment]
        if level == len(_CUTS):  # a single character: never longer than 4 tokens
            raise RuntimeError(f"cannot fit {text[start:end]!r} in {self.max_src_tokens} tokens")
        cuts = {m.end() for m in _CUTS[level].finditer(text, start, end)}
        bounds = [start, *sorted(cuts - {start, end}), end]
        if len(bounds) == 2:  # no boundary of this kind inside: a finer one
            return self._fit(text, start, end, level + 1)
        spans, i = [], 0
        while i < len(bounds) - 1:
            lo, hi = i + 1, len(bounds) - 1
            if not self._fits(text[bounds[i] : bounds[lo]].strip()):
                spans += self._fit(text, bounds[i], bounds[lo], level + 1)
                i = lo
                continue
            while lo < hi:  # the furthest bound whose chunk still fits
                mid = (lo + hi + 1) // 2
                if self._fits(text[bounds[i] : bounds[mid]].strip()):
                    lo = mid
                else:
                    hi = mid - 1
            spans += [span for span in [_trimmed(text, bounds[i], bounds[lo])] if span]
            i = lo
        return spans

    def _pieces(self, text: str, lang: str) -> list[tuple[int, int]]:
        """Sentence spans of ``text``; a sentence longer than the source window is cut into
        chunks that fit (nothing is left out)."""
        spans = split_sentences(text, lang)
        counts = [len(ids) for ids in self.tokenizer.encode_batch([text[s:e] for s, e in spans])]
        out = []
        for (s, e), n in zip(spans, counts, strict=True):
            out += [(s, e)] if n <= self.max_src_tokens else self._fit(text, s, e)
        return out

    def _decode(
        self,
        ids: list[list[int]],
        langs: list[str],
        beam_size: int,
        no_repeat_ngram_size: int,
        *,
        into: str | None = None,
    ) -> list[Hypothesis]:
        """Hypotheses for source rows ``ids`` in ``langs``, into English; with ``into`` (a
        language) the rows are English and the output is ``into`` (en -> xx: its tag forced
        first, greedy, no alignment)."""
        cfg = self.model.config
        rows = [
            [self.tokenizer.lang_id(into or lang), *x, cfg.eos_id]
            for x, lang in zip(ids, langs, strict=True)
        ]
        width = max(len(r) for r in rows)
        src = torch.full((len(rows), width), cfg.pad_id, dtype=torch.long)
        for i, r in enumerate(rows):
            src[i, : len(r)] = torch.tensor(r)
        extra = int(into is not None)  # room for the forced tag
        caps = torch.tensor([max_new_tokens(len(r) - 2, cfg.max_len - 1) + extra for r in rows])
        src, caps = src.to(self.device), caps.to(self.device)
        with autocast(src.device, self.autocast_dtype):
            if into is not None:
                return greedy_search(
                    self.model,
                    src,
                    caps,
                    no_repeat_ngram_size=no_repeat_ngram_size,
                    prefix=src[:, :1],  # the tag
                )
            if beam_size > 1:
                return beam_search(
                    self.model,
                    src,
                    caps,
                    beam_size=beam_size,
                    need_weights=True,
                    no_repeat_ngram_size=no_repeat_ngram_size,
                    banned=self.banned,
                )
            return greedy_search(
                self.model,
                src,
                caps,
                need_weights=True,
                no_repeat_ngram_size=no_repeat_ngram_size,
                banned=self.banned,
            )

    def translate(
        self,
        texts: list[str],
        src_lang: str | list[str] | None = None,
        beam_size: int = 1,
        batch_size: int = 32,
        no_repeat_ngram_size: int = NO_REPEAT_NGRAM,
    ) -> list[Translation]:
        """Translate `texts` to English; src_lang (or a list entry) None -> detected.

        Decoding is greedy (`beam_size` 1) or beam search, `batch_size` pieces (sentences or
        chunks) at a time; no subword n-gram of `no_repeat_ngram_size` (0: off) is generated
        twice in one piece.

        English texts, and texts detected (not declared) as another unsupported language, are
        returned unchanged with an empty alignment and no confidence; a declared unsupported
        language raises.
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
        hyps: list[Hypothesis] = [None] * len(pieces)  # type: ignore[list-item]
        batch_size = max(batch_size, 1)
        threads = self.cpu_decode_threads if self.device.type == "cpu" else None
        with torch_threads(threads):
            for b in range(0, len(order), batch_size):
                batch = order[b : b + batch_size]
                outs = self._decode(
                    [encoded[j][0] for j in batch],
                    [langs[pieces[j][0]] for j in batch],
                    beam_size,
                    no_repeat_ngram_size,
                )
                for j, hyp in zip(batch, outs, strict=True):
                    hyps[j] = hyp
        results = [
            Translation(text, lang) if lang not in self.languages else Translation("", lang)
            for text, lang in zip(texts, langs, strict=True)
        ]
        logprob, scored, previous_end = [0.0] * len(texts), [0] * len(texts), [0] * len(texts)
        for j, (i, s, e) in enumerate(pieces):
            hyp, res = hyps[j], results[i]
            logprob[i] += hyp.score
            scored[i] += hyp.scored_tokens
            tgt, spans = self.tokenizer.decode_with_spans(hyp.ids)
            if tgt:
                sep = _separator(texts[i][previous_end[i] : s]) if res.text else ""
                shift = len(res.text) + len(sep)
                res.text += sep + tgt
                for a in align_words(
                    piece_texts[j], encoded[j][1], tgt, spans, hyp.attention, self.source_prefix
                ):
                    a["src_start"] += s
                    a["src_end"] += s
                    a["tgt_start"] += shift
                    a["tgt_end"] += shift
                    res.alignment.append(a)
            previous_end[i] = e
        for res, total, n in zip(results, logprob, scored, strict=True):
            if n:
                res.confidence = math.exp(total / n)
        return results

    def back_translate(self, texts: list[str], lang: str, batch_size: int = 64) -> list[str]:
        """English ``texts`` into ``lang`` (one line each), for back-translation: only a model
        trained with en -> xx directions (``focusdig.translator.trainer``'s ``en_to_xx``) can;
        others write nonsense. Greedy, repeated 4-grams blocked; no sentence splitting (each
        text is cut to the model's source window)."""
        ids = [x[: self.max_src_tokens] for x in self.tokenizer.encode_batch(texts)]
        order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
        out = [""] * len(ids)
        threads = self.cpu_decode_threads if self.device.type == "cpu" else None
        with torch_threads(threads):
            for b in range(0, len(order), max(batch_size, 1)):
                batch = order[b : b + batch_size]
                hyps = self._decode(
                    [ids[i] for i in batch], ["en"] * len(batch), 1, NO_REPEAT_NGRAM, into=lang
                )
                for i, hyp in zip(batch, hyps, strict=True):
                    out[i] = " ".join(self.tokenizer.decode(hyp.ids).split())  # tag dropped
        return out


def _separator(gap: str) -> str:
    """What joins two English pieces: the source's line breaks between them (at most two),
    else a space."""
    return "\n" * min(gap.count("\n"), 2) or " "
