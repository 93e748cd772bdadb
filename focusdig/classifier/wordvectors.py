"""Word vectors over the classifier's own subword tokens, to initialise its embeddings.

Skip-gram word2vec (gensim) over fin_corpus lines tokenized with the classifier's WordPiece
tokenizer: each token id is a "word". The vectors are rescaled to the spread of the model's own
random initialisation, and the trainer's `embedding_init` copies them into the token
embeddings before pretraining or fine-tuning (tokens the corpus never showed keep theirs).

    python -m focusdig.classifier.wordvectors --tokenizer runs/x/tokenizer.json \\
        --out runs/x/word_vectors.safetensors --lines 500000 --dim 256
"""

from __future__ import annotations

import argparse
import json
import zlib
from collections.abc import Iterable
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from focusdig.classifier import data as D
from focusdig.classifier.tokenizer import TextEncoder

EMBEDDING_STD = 0.02  # the spread of SentimentClassifier's own embedding initialisation


def _stable_hash(text: str) -> int:
    """gensim seeds each vector from a hash of its word: Python's own is salted per process,
    which would make the vectors differ from run to run."""
    return zlib.crc32(text.encode("utf-8"))


def train_word_vectors(
    enc: TextEncoder,
    texts: Iterable[str],
    dim: int,
    *,
    window: int = 5,
    epochs: int = 3,
    min_count: int = 2,
    seed: int = 0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """-> (vectors (V, dim) rescaled to std EMBEDDING_STD, found (V,) bool: tokens with a
    vector). Deterministic for a given input (one worker, a stable hash)."""
    from gensim.models import Word2Vec  # the `train` extra

    sentences = [[str(i) for i in e.ids] for e in enc.encode_batch(list(texts)) if e.ids]
    if not sentences:
        raise ValueError("no text to train word vectors on")
    w2v = Word2Vec(
        sentences,
        vector_size=dim,
        window=window,
        min_count=min_count,
        sg=1,
        negative=5,
        epochs=epochs,
        seed=seed,
        workers=1,
        hashfxn=_stable_hash,
    )
    vectors = torch.zeros(enc.vocab_size, dim)
    found = torch.zeros(enc.vocab_size, dtype=torch.bool)
    for word, index in w2v.wv.key_to_index.items():
        vectors[int(word)] = torch.from_numpy(w2v.wv.vectors[index].copy())
        found[int(word)] = True
    if found.any():
        centered = vectors[found] - vectors[found].mean(dim=0)
        vectors[found] = centered * (EMBEDDING_STD / centered.std())
    return vectors, found


def save_vectors(path: str | Path, vectors: torch.Tensor, found: torch.Tensor, info: dict) -> None:
    save_file(
        {"vectors": vectors.contiguous(), "found": found.to(torch.uint8)},
        str(path),
        metadata={"info": json.dumps(info)},
    )


def init_embeddings(embedding: torch.nn.Embedding, path: str | Path) -> int:
    """Copy the vectors of `path` into `embedding` where the corpus had them; returns how many
    rows were set. A vocabulary or width mismatch is a ValueError."""
    state = load_file(str(path))
    vectors, found = state["vectors"], state["found"].bool()
    if vectors.shape != embedding.weight.shape:
        raise ValueError(
            f"{path}: vectors {tuple(vectors.shape)} do not fit the embeddings "
            f"{tuple(embedding.weight.shape)} (another tokenizer or d_model?)"
        )
    with torch.no_grad():
        embedding.weight[found] = vectors[found].to(embedding.weight)
    return int(found.sum())


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tokenizer", required=True, help="the classifier's tokenizer.json")
    ap.add_argument("--out", required=True)
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--lines", type=int, default=500_000, help="fin_corpus lines sampled")
    ap.add_argument("--dim", type=int, default=256, help="the model's d_model")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--window", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)
    from focusdig.classifier.trainer import heldout_texts, log

    enc = TextEncoder.from_file(a.tokenizer)
    held_out = heldout_texts(a.data_dir)
    lines = [
        line
        for line in D.sample_corpus(a.data_dir, a.lines, a.seed)
        if D.normalize(line) not in held_out
    ]
    log(f"{len(lines)} corpus lines (validation and test texts left out)")
    vectors, found = train_word_vectors(
        enc, lines, a.dim, window=a.window, epochs=a.epochs, seed=a.seed
    )
    info = {"lines": len(lines), "epochs": a.epochs, "window": a.window, "seed": a.seed}
    save_vectors(a.out, vectors, found, info)
    log(f"{int(found.sum())} of {enc.vocab_size} tokens have a vector -> {a.out}")


if __name__ == "__main__":
    main()
