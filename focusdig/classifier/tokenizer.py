"""WordPiece tokenizer (HF `tokenizers`) with BERT-style word splitting.

Words are what `BertPreTokenizer` yields: runs of letters/digits split on whitespace and
punctuation (each punctuation mark and each CJK character is a word of its own). Offsets are
character offsets into the original text.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

PAD, UNK, CLS, SEP, MASK = "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"
SPECIAL_TOKENS = [PAD, UNK, CLS, SEP, MASK]  # ids 0..4
# web links: no sentiment in them, and a tweet's t.co link is nine BERT "words" that drew the
# attention (top words) away from the text (benchmarks/README.md section 1, session 6)
LINK_PATTERN = r"(?i)(?:https?://|www\.)\S+"


@dataclass
class Encoded:
    """Tokens of one text, without special tokens."""

    ids: list[int]
    offsets: list[tuple[int, int]]  # char span of each token in the original text
    word_ids: list[int]  # index of the word each token belongs to


def _empty_tokenizer() -> Tokenizer:
    tok = Tokenizer(models.WordPiece(unk_token=UNK, max_input_chars_per_word=100))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True, strip_accents=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.decoder = decoders.WordPiece()
    return tok


def train_tokenizer(texts: Iterable[str], vocab_size: int = 16_000) -> Tokenizer:
    """Train a lowercase WordPiece vocabulary on `texts`, the same one on every run.

    `tokenizers` (0.23) creates the continuing-subword tokens (``##x``) in hash-map order and
    breaks ties between equally frequent merges by token id, so the same texts can give a
    different vocabulary from one process to the next (huggingface/tokenizers#1794). Declaring
    every ``##x`` up front, in sorted order, fixes their ids and with them the whole training.
    """
    texts = list(texts)
    tok = _empty_tokenizer()  # a first pass without merges lists every ##x the texts need
    tok.train_from_iterator(
        texts, trainer=trainers.WordPieceTrainer(vocab_size=0, special_tokens=SPECIAL_TOKENS)
    )
    continuing = sorted(t for t in tok.get_vocab() if t.startswith("##"))
    trainer = trainers.WordPieceTrainer(
        vocab_size=vocab_size, min_frequency=3, special_tokens=SPECIAL_TOKENS + continuing
    )
    tok.train_from_iterator(texts, trainer=trainer)
    trained = _empty_tokenizer()  # the same vocabulary, with only the real special tokens
    trained.model = models.WordPiece(tok.get_vocab(), unk_token=UNK, max_input_chars_per_word=100)
    trained.add_special_tokens(SPECIAL_TOKENS)
    return trained


def drop_links(encoder: TextEncoder) -> TextEncoder:
    """The same vocabulary, with web links deleted before tokenization.

    The deletion is the tokenizer's first normalizer, so it is saved in ``tokenizer.json`` and
    every loader of the model applies it; offsets still point into the original text."""
    if encoder.drops_links:
        return encoder
    tokenizer = Tokenizer.from_str(encoder.tokenizer.to_str())
    link = normalizers.Replace(Regex(LINK_PATTERN), "")
    rest = [tokenizer.normalizer] if tokenizer.normalizer is not None else []
    tokenizer.normalizer = normalizers.Sequence([link, *rest])
    return TextEncoder(tokenizer, encoder.specials)


class TextEncoder:
    """Thin wrapper that encodes texts to ids with offsets and word ids.

    ``specials``: the pad, unk, cls, sep and mask token strings (BERT's by default; a Hugging
    Face model's own, e.g. RoBERTa's ``<pad> <unk> <s> </s> <mask>``)."""

    def __init__(self, tokenizer: Tokenizer, specials: Sequence[str | None] = SPECIAL_TOKENS):
        self.tokenizer = tokenizer
        self.tokenizer.no_truncation()
        self.tokenizer.no_padding()
        self.specials = list(specials)
        self.pad_id, self.unk_id, self.cls_id, self.sep_id, self.mask_id = (
            None if t is None else tokenizer.token_to_id(t) for t in self.specials
        )

    @classmethod
    def from_file(
        cls, path: str | Path, specials: Sequence[str | None] = SPECIAL_TOKENS
    ) -> TextEncoder:
        return cls(Tokenizer.from_file(str(path)), specials)

    @classmethod
    def from_str(cls, data: str) -> TextEncoder:
        return cls(Tokenizer.from_str(data))

    def save(self, path: str | Path) -> None:
        self.tokenizer.save(str(path))

    @property
    def vocab_size(self) -> int:
        return self.tokenizer.get_vocab_size()

    @property
    def drops_links(self) -> bool:
        normalizer = json.loads(self.tokenizer.to_str()).get("normalizer") or {}
        steps = normalizer.get("normalizers", [normalizer])
        return any(step.get("pattern") == {"Regex": LINK_PATTERN} for step in steps)

    def encode_batch(self, texts: list[str]) -> list[Encoded]:
        out = []
        for enc in self.tokenizer.encode_batch(texts, add_special_tokens=False):
            word_ids = [-1 if w is None else w for w in enc.word_ids]
            out.append(Encoded(list(enc.ids), list(enc.offsets), word_ids))
        return out

    def encode(self, text: str) -> Encoded:
        return self.encode_batch([text])[0]

    def ids_batch(self, texts: list[str], max_len: int) -> list[list[int]]:
        """[CLS] ids [SEP], truncated to `max_len` (for training)."""
        encs = self.tokenizer.encode_batch(texts, add_special_tokens=False)
        return [[self.cls_id, *e.ids[: max_len - 2], self.sep_id] for e in encs]
