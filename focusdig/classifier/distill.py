"""Distillation: a teacher ensemble's soft labels as the student's fine-tuning targets.

Teachers are fine-tuned classifier directories (their sentence-level probabilities) and,
optionally, the linear baseline fit on the same training split. Their averaged probabilities
are mixed into the gold labels of the labeled training sentences and are the only target of
unlabeled corpus lines (sampled from `fin_corpus`, validation and test texts kept out).
Targeted (entity-level) examples keep their gold labels.

A student may also be smaller than its teacher: `shallow_student` starts it from some of
a fine-tuned classifier's blocks (with its embeddings, final norm and head), their
feed-forward layers optionally narrowed to their most important hidden units.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from torch import nn

from focusdig.classifier import data as D
from focusdig.classifier.artifacts import load_model_dir
from focusdig.classifier.baseline import baseline_proba, fit_baseline
from focusdig.classifier.model import FeedForward, SentimentClassifier
from focusdig.classifier.targets import encode_examples
from focusdig.classifier.tokenizer import TextEncoder


def model_probs(
    model_dir: str | Path,
    texts: Sequence[str],
    batch_size: int = 128,
    device: torch.device | str = "cpu",
) -> np.ndarray:
    """Sentence-level probabilities (N, 3) of a compact classifier directory, in LABELS order."""
    from focusdig.classifier.trainer import predict_logits

    model, enc, _ = load_model_dir(model_dir)
    model.to(device)
    labels = list(model.config.labels)
    if sorted(labels) != sorted(D.LABELS):
        raise ValueError(f"{model_dir}: labels {labels} are not {list(D.LABELS)}")
    examples = [D.Example(t, D.LABELS[0], "teacher") for t in texts]
    logits = predict_logits(model, encode_examples(enc, examples, model.config), batch_size)
    probs = torch.softmax(torch.from_numpy(logits), -1).numpy()
    return probs[:, [labels.index(label) for label in D.LABELS]]


def teacher_probs(
    teachers: Sequence[str | Path],
    texts: Sequence[str],
    splits: dict[str, list[D.Example]] | None = None,
    log: Callable[[str], None] = print,
    device: torch.device | str = "cpu",
    refit_with_val: bool = False,
) -> np.ndarray:
    """The ensemble's mean probabilities (N, 3) over `texts`, the teacher models run on `device`.
    With `splits`, the linear baseline (fit on its sentence-level train split, C chosen on val;
    `refit_with_val`: then fit again with the val split) is one more member."""
    members = []
    for path in teachers:
        members.append(model_probs(path, texts, device=device))
        log(f"teacher {path}: {len(texts)} texts labeled")
    if splits is not None:
        train = [ex for ex in splits["train"] if not ex.targets]
        val = [ex for ex in splits["val"] if not ex.targets]
        model, scores = fit_baseline(
            [ex.text for ex in train],
            [ex.label for ex in train],
            [ex.text for ex in val],
            [ex.label for ex in val],
            refit_with_val=refit_with_val,
        )
        members.append(baseline_proba(model, texts))
        log(f"teacher linear baseline (val macro-F1 by C: {scores})")
    if not members:
        raise ValueError("distillation needs at least one teacher")
    return np.mean(members, axis=0)


def soft_targets(
    examples: Sequence[D.Example],
    teacher: np.ndarray,
    has_teacher: np.ndarray,
    weight: float,
    label_smoothing: float,
) -> np.ndarray:
    """Targets (N, 3): smoothed gold one-hot, mixed with the teacher where it has a row
    (`weight` = the teacher's share). Rows without a gold label (source "corpus") are the
    teacher's alone."""
    n, k = len(examples), len(D.LABELS)
    gold = np.full((n, k), label_smoothing / k, dtype=np.float32)
    for i, ex in enumerate(examples):
        gold[i, D.LABELS.index(ex.label)] += 1.0 - label_smoothing
    unlabeled = np.array([ex.source == "corpus" for ex in examples])
    w = np.where(has_teacher, np.where(unlabeled, 1.0, weight), 0.0)[:, None]
    return (1.0 - w) * gold + w * teacher


def add_distillation(
    splits: dict[str, list[D.Example]],
    data_dir: str | None,
    teachers: Sequence[str | Path],
    baseline: bool,
    unlabeled_lines: int,
    unlabeled_sources: Sequence[str],
    weight: float,
    label_smoothing: float,
    seed: int,
    log: Callable[[str], None] = print,
    device: torch.device | str = "cpu",
    fold_val: bool = False,
) -> tuple[dict[str, list[D.Example]], np.ndarray]:
    """Train split + `unlabeled_lines` corpus lines, and the soft targets of every train row
    (the teachers labelling on `device`: the student's). `fold_val`: the validation split joins
    the train split first (`D.fold_val`), and the linear baseline is refit with it."""
    from focusdig.classifier.trainer import heldout_texts

    train = list((D.fold_val(splits) if fold_val else splits)["train"])
    if unlabeled_lines:
        known = heldout_texts(data_dir) | {D.normalize(ex.text) for ex in train}
        lines = D.sample_corpus(
            data_dir, int(unlabeled_lines * 1.2), seed=seed + 3, sources=unlabeled_sources
        )
        lines = [line for line in lines if D.normalize(line) not in known][:unlabeled_lines]
        train += [D.Example(line, D.LABELS[1], "corpus") for line in lines]
        log(f"distillation: {len(lines)} unlabeled corpus lines")
    sentence_rows = [i for i, ex in enumerate(train) if not ex.targets]
    probs = teacher_probs(
        teachers,
        [train[i].text for i in sentence_rows],
        splits if baseline else None,
        log,
        device,
        refit_with_val=fold_val,
    )
    teacher = np.zeros((len(train), len(D.LABELS)), dtype=np.float32)
    teacher[sentence_rows] = probs
    has_teacher = np.zeros(len(train), dtype=bool)
    has_teacher[sentence_rows] = True
    targets = soft_targets(train, teacher, has_teacher, weight, label_smoothing)
    return {**splits, "train": train}, targets


def shallow_student(
    model_dir: str | Path,
    layers: Sequence[int],
    dropout: float | None = None,
    d_ff: int | None = None,
) -> tuple[SentimentClassifier, TextEncoder, dict]:
    """A classifier of ``len(layers)`` blocks: the blocks ``layers`` (in that order) of the
    fine-tuned classifier in ``model_dir``, with its embeddings, final norm, head and
    tokenizer; ``dropout`` replaces the teacher's; ``d_ff`` (below the teacher's) narrows each
    block's feed-forward layer to its ``d_ff`` most important hidden units (`prune_feedforward`).
    Returns (student, tokenizer, teacher config).

    For a 2-block student of a 4-block model, the first and the last block score best before
    any training (benchmarks/README.md section 1, session 19): the head was trained on the
    last block's output."""
    teacher, enc, config = load_model_dir(model_dir)
    if not isinstance(teacher, SentimentClassifier):
        raise ValueError(f"{model_dir}: a shallow student needs focusdig's own classifier")
    n = teacher.config.n_layers
    if not layers or len(set(layers)) != len(layers) or not all(0 <= i < n for i in layers):
        raise ValueError(f"student layers {list(layers)}: distinct blocks of 0..{n - 1} needed")
    whole_number = isinstance(d_ff, int) and not isinstance(d_ff, bool)
    if d_ff is not None and not (whole_number and 0 < d_ff < teacher.config.d_ff):
        raise ValueError(
            f"student d_ff {d_ff!r}: a whole number 1..{teacher.config.d_ff - 1} needed"
            f" (narrower than the teacher's {teacher.config.d_ff})"
        )
    cfg = replace(teacher.config, n_layers=len(layers))
    if dropout is not None:
        cfg = replace(cfg, dropout=dropout)
    if d_ff is not None:
        cfg = replace(cfg, d_ff=d_ff)
        for i in layers:
            prune_feedforward(teacher.encoder.blocks[i].ff, d_ff)
    student = SentimentClassifier(cfg)
    state = {}
    for key, value in teacher.state_dict().items():
        if key.startswith("encoder.blocks."):
            block, rest = key.removeprefix("encoder.blocks.").split(".", 1)
            if int(block) not in layers:
                continue
            key = f"encoder.blocks.{list(layers).index(int(block))}.{rest}"
        state[key] = value.float()
    student.load_state_dict(state)
    return student, enc, config


@torch.no_grad()
def prune_feedforward(ff: FeedForward, width: int) -> None:
    """Keep the ``width`` hidden units of ``ff`` that carry the most, in place: unit i's
    importance is the norm of its input weights times that of its output weights (how large
    it can get on a normalised input, times how far it moves the output), a data-free
    criterion; the kept units stay in their order."""
    importance = ff.fc.weight.norm(dim=1) * ff.proj.weight.norm(dim=0)  # (d_ff,)
    keep = importance.topk(width).indices.sort().values
    fc, proj = ff.fc, ff.proj
    ff.fc = nn.Linear(fc.in_features, width).to(fc.weight)
    ff.fc.weight.copy_(fc.weight[keep])
    ff.fc.bias.copy_(fc.bias[keep])
    ff.proj = nn.Linear(width, proj.out_features).to(proj.weight)
    ff.proj.weight.copy_(proj.weight[:, keep])
    ff.proj.bias.copy_(proj.bias)
