"""Tiny random Hugging Face model directories, built offline in a temporary directory.

- ``tiny_bert``: a 2-layer BERT (hidden size 32) with a WordPiece vocabulary written here, as a
  sequence classifier with FinBERT's label order (positive, negative, neutral) or as a bare
  encoder (``AutoModel``);
- ``tiny_marian``: a 1-layer Marian translator whose sentencepiece vocabulary is trained here
  on a few sentences.
"""

from __future__ import annotations

import inspect
import io
import json
from pathlib import Path

WORDS = [
    "profit",
    "rose",
    "sharply",
    "to",
    "a",
    "record",
    "high",
    "the",
    "company",
    "filed",
    "for",
    "bankruptcy",
    "and",
    "cut",
    "jobs",
    "shares",
    "were",
    "unchanged",
    "after",
    "meeting",
    "revenue",
    "fell",
    "loss",
    "widened",
    "quarter",
    "results",
    "bank",
    "rates",
    "market",
    "zorblax",
    "quibnit",
    "plenmor",
    "user",
    "note",
    "on",
    "trend",
    "tweet",
    "says",
    "things",
    "reported",
    "in",
]
PIECES = ["##s", "##ed", "##ing", "##ly", "##er", "0", "1", "2", "3", "4", "5", "%", ",", ".", "'"]
FINBERT_LABELS = {0: "positive", 1: "negative", 2: "neutral"}

FRENCH = [
    "Le marché est en hausse.",
    "Les bénéfices ont augmenté fortement.",
    "La banque centrale maintient ses taux.",
    "Les actions de la société ont chuté.",
    "Le chômage a baissé cette année.",
    "Les investisseurs restent prudents.",
]
ENGLISH = [
    "The market is rising.",
    "Profits rose sharply.",
    "The central bank holds its rates.",
    "The company's shares fell.",
    "Unemployment fell this year.",
    "Investors remain cautious.",
]


def _bert_config(vocab_size: int, **extra):
    from transformers import BertConfig

    return BertConfig(
        vocab_size=vocab_size,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=64,
        **extra,
    )


def tiny_bert(
    path: Path, *, head: bool = True, id2label: dict | None = None, seed: int = 0
) -> Path:
    """Save a random 2-layer BERT (a classifier when ``head``, else an encoder) at ``path``."""
    import torch
    from transformers import BertForSequenceClassification, BertModel, BertTokenizerFast

    path.mkdir(parents=True, exist_ok=True)
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS, *PIECES]
    (path / "vocab.txt").write_text("\n".join(dict.fromkeys(vocab)) + "\n")  # as FinBERT ships
    argument = (
        "vocab" if "vocab" in inspect.signature(BertTokenizerFast).parameters else "vocab_file"
    )
    tokenizer = BertTokenizerFast(**{argument: str(path / "vocab.txt")}, do_lower_case=True)
    tokenizer.save_pretrained(path)
    torch.manual_seed(seed)
    if head:
        labels = id2label or FINBERT_LABELS
        config = _bert_config(
            len(tokenizer),
            num_labels=len(labels),
            id2label=labels,
            label2id={v: k for k, v in labels.items()},
        )
        model = BertForSequenceClassification(config)
    else:
        model = BertModel(_bert_config(len(tokenizer)))
    model.save_pretrained(path, safe_serialization=True)
    return path


def _train_spm(sentences: list[str], vocab_size: int) -> bytes:
    import sentencepiece as spm

    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(sentences * 5),
        model_writer=model,
        vocab_size=vocab_size,
        model_type="unigram",
        character_coverage=1.0,
        hard_vocab_limit=False,
        minloglevel=2,
        num_threads=1,
    )
    return model.getvalue()


def tiny_marian(path: Path, *, source_lang: str | None = "fr", seed: int = 0) -> Path:
    """Save a random 1-layer Marian fr->en model with sentencepiece vocabularies at ``path``."""
    import sentencepiece as spm
    import torch
    from transformers import MarianConfig, MarianMTModel

    path.mkdir(parents=True, exist_ok=True)
    (path / "source.spm").write_bytes(_train_spm(FRENCH, 60))
    (path / "target.spm").write_bytes(_train_spm(ENGLISH, 60))
    pieces = ["</s>", "<unk>"]
    for name in ("source.spm", "target.spm"):
        sp = spm.SentencePieceProcessor(model_file=str(path / name))
        pieces += [sp.id_to_piece(i) for i in range(sp.get_piece_size())]
    pieces = [p for p in dict.fromkeys(pieces) if p not in ("<s>", "<pad>")] + ["<pad>"]
    vocab = {p: i for i, p in enumerate(pieces)}
    (path / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False))
    tok_config = {"model_max_length": 64, "separate_vocabs": False}
    if source_lang:
        tok_config |= {"source_lang": source_lang, "target_lang": "en"}
    (path / "tokenizer_config.json").write_text(json.dumps(tok_config))
    pad = vocab["<pad>"]
    config = MarianConfig(
        vocab_size=len(vocab),
        d_model=32,
        encoder_layers=1,
        decoder_layers=1,
        encoder_attention_heads=2,
        decoder_attention_heads=2,
        encoder_ffn_dim=64,
        decoder_ffn_dim=64,
        max_position_embeddings=64,
        pad_token_id=pad,
        eos_token_id=vocab["</s>"],
        decoder_start_token_id=pad,
        forced_eos_token_id=vocab["</s>"],
    )
    torch.manual_seed(seed)
    MarianMTModel(config).save_pretrained(path, safe_serialization=True)
    return path
