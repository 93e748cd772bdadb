"""Shared byte-level BPE vocabulary (HF `tokenizers`) for all source languages and English.

Byte-level BPE never produces unknown tokens: Chinese characters that are not in the
vocabulary fall back to their UTF-8 bytes. Source tokens carry character offsets into the
original text; decoded target tokens get character spans in the decoded text.
"""

from __future__ import annotations

import codecs
from collections.abc import Iterable, Sequence
from pathlib import Path

from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

PAD, BOS, EOS = "<pad>", "<s>", "</s>"


def lang_tag(lang: str) -> str:
    return f"<2{lang}>"


def _byte_decoder() -> dict[str, int]:
    """Inverse of GPT-2's bytes_to_unicode table used by the ByteLevel pre-tokenizer."""
    bs = (
        list(range(ord("!"), ord("~") + 1))
        + list(range(ord("¡"), ord("¬") + 1))
        + list(range(ord("®"), ord("ÿ") + 1))
    )
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {chr(c): b for b, c in zip(bs, cs, strict=True)}


class SubwordTokenizer:
    """Ids with offsets for source text; ids -> text with per-token spans for targets."""

    def __init__(self, tokenizer: Tokenizer):
        self.tokenizer = tokenizer
        self.tokenizer.no_truncation()
        self.tokenizer.no_padding()
        self.pad_id, self.bos_id, self.eos_id = (tokenizer.token_to_id(t) for t in (PAD, BOS, EOS))
        self.languages = sorted(t[2:-1] for t in tokenizer.get_vocab() if t.startswith("<2"))
        specials = {PAD, BOS, EOS, *(lang_tag(lang) for lang in self.languages)}
        dec = _byte_decoder()
        self._bytes = [
            b"" if (tok := tokenizer.id_to_token(i)) in specials else bytes(dec[c] for c in tok)
            for i in range(tokenizer.get_vocab_size())
        ]

    @classmethod
    def train(
        cls, texts: Iterable[str], languages: Sequence[str], vocab_size: int = 16_000
    ) -> SubwordTokenizer:
        tok = Tokenizer(models.BPE())
        tok.normalizer = normalizers.NFKC()
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=True)
        tok.decoder = decoders.ByteLevel()
        specials = [PAD, BOS, EOS, *(lang_tag(lang) for lang in languages)]
        trainer = trainers.BpeTrainer(
            vocab_size=vocab_size,
            min_frequency=2,
            special_tokens=specials,
            show_progress=False,
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        )
        tok.train_from_iterator(texts, trainer=trainer)
        return cls(tok)

    @classmethod
    def from_file(cls, path: str | Path) -> SubwordTokenizer:
        return cls(Tokenizer.from_file(str(path)))

    def save(self, path: str | Path) -> None:
        self.tokenizer.save(str(path))

    @property
    def vocab_size(self) -> int:
        return self.tokenizer.get_vocab_size()

    def lang_id(self, lang: str) -> int:
        tid = self.tokenizer.token_to_id(lang_tag(lang))
        if tid is None:
            raise ValueError(f"language {lang!r} not in vocabulary ({self.languages})")
        return tid

    def encode_batch(self, texts: Sequence[str]) -> list[list[int]]:
        return [e.ids for e in self.tokenizer.encode_batch(list(texts), add_special_tokens=False)]

    def encode_with_offsets(
        self, texts: Sequence[str]
    ) -> list[tuple[list[int], list[tuple[int, int]]]]:
        """Per text: token ids and each token's (start, end) char span in the text."""
        out = []
        for text, e in zip(
            texts, self.tokenizer.encode_batch(list(texts), add_special_tokens=False), strict=True
        ):
            spans = []
            for s, t in e.offsets:  # ByteLevel offsets include the leading space
                while s < t and text[s].isspace():
                    s += 1
                spans.append((s, t))
            out.append((e.ids, spans))
        return out

    def decode(self, ids: Sequence[int]) -> str:
        return self.decode_with_spans(ids)[0]

    def decode_with_spans(self, ids: Sequence[int]) -> tuple[str, list[tuple[int, int]]]:
        """Text of `ids` (specials dropped, stripped) and each token's char span in it.

        NUL characters are dropped: PostgreSQL text cannot hold them (a byte-level vocabulary
        has the 0x00 byte, and an undertrained model can emit it)."""
        decoder = codecs.getincrementaldecoder("utf-8")(errors="ignore")
        parts, bounds, n = [], [], 0
        for i in ids:
            piece = decoder.decode(self._bytes[i]) if 0 <= i < len(self._bytes) else ""
            piece = piece.replace("\x00", "")
            parts.append(piece)
            bounds.append((n, n + len(piece)))
            n += len(piece)
        raw = "".join(parts)
        lead = len(raw) - len(raw.lstrip())
        text = raw.strip()
        spans = []
        for s, t in bounds:
            s = min(max(s - lead, 0), len(text))
            t = min(max(t - lead, 0), len(text))
            while s < t and text[s].isspace():
                s += 1
            spans.append((s, t))
        return text, spans
