"""Hugging Face sequence classifiers (e.g. FinBERT) as a focusdig classifier backend.

A local ``AutoModelForSequenceClassification`` directory is loaded offline
(``local_files_only=True``), without remote code, from safetensors only, after its files are
checked against their sha256. Its labels are mapped from ``config.id2label`` to focusdig's
negative / neutral / positive, whatever their order or wording.

Explanations come from the model's own attention, one weight per token over the real tokens
(``[CLS]``, ``[SEP]`` and padding excluded, renormalised to sum to 1), and are then reported as
whole words with character offsets by the same code as the default classifier
(``focusdig.classifier.predict``):

- ``rollout`` (default): attention rollout (Abnar & Zuidema 2020): per layer the head-averaged
  attention plus the identity for the residual stream, row-normalised, multiplied through the
  layers; the ``[CLS]`` row says how much each input token flows into the classification token.
- ``cls``: the last layer's attention from ``[CLS]``, averaged over heads.

Rollout is the default because it accounts for every layer: last-layer ``[CLS]`` attention in
BERT-style models is known to go mostly to ``[SEP]`` and punctuation (Clark et al. 2019), which
says little about which words carry the prediction. ``benchmarks/faithfulness.py --explanation``
measures both on a real model directory.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

from focusdig.artifacts import (
    HF_LOAD_KWARGS,
    ArtifactError,
    check_explanation,
    require_hf_extra,
    require_safetensors,
    verify_manifest,
    write_manifest,
)
from focusdig.classifier.model import ClassifierConfig, real_token_mask
from focusdig.classifier.tokenizer import TextEncoder

CANONICAL = ("negative", "neutral", "positive")
EXPLANATIONS = ("rollout", "cls")
DEFAULT_EXPLANATION = "rollout"
_SYNONYMS = {
    "negative": "negative",
    "neg": "negative",
    "bearish": "negative",
    "neutral": "neutral",
    "neu": "neutral",
    "positive": "positive",
    "pos": "positive",
    "bullish": "positive",
}


def map_labels(id2label: dict) -> list[str]:
    """focusdig's label for each class index of ``config.id2label``; ArtifactError if unmappable.

    Negative and positive are required, neutral is optional (a bullish/bearish model)."""
    try:
        names = [str(id2label[i]) for i in range(len(id2label))]
    except KeyError:
        names = [str(id2label[str(i)]) for i in range(len(id2label))]
    mapped = [_SYNONYMS.get(n.strip().lower()) for n in names]
    if (
        None in mapped
        or len(set(mapped)) != len(mapped)
        or not {"negative", "positive"} <= set(mapped)
    ):
        raise ArtifactError(
            f"cannot map the model's labels {names} (config.json id2label) to negative / neutral "
            "/ positive; known names: " + ", ".join(sorted(_SYNONYMS)) + ". If you know which "
            'class is which, set "id2label" in config.json, e.g. {"0": "positive", "1": '
            '"negative", "2": "neutral"}'
        )
    return mapped


def attention_rollout(attentions: tuple[torch.Tensor, ...]) -> torch.Tensor:
    """(B, T) flow from every token into position 0 ([CLS]) through all layers."""
    T = attentions[0].size(-1)
    eye = torch.eye(T, device=attentions[0].device)
    flow = None
    for layer in attentions:
        a = 0.5 * layer.float().mean(dim=1) + 0.5 * eye  # (B, T, T), residual included
        a = a / a.sum(dim=-1, keepdim=True)
        flow = a if flow is None else a @ flow
    return flow[:, 0]


def cls_attention(attentions: tuple[torch.Tensor, ...]) -> torch.Tensor:
    """(B, T) the last layer's attention from position 0 ([CLS]), averaged over heads."""
    return attentions[-1].float().mean(dim=1)[:, 0]


def token_weights(
    attentions: tuple[torch.Tensor, ...], real: torch.Tensor, explanation: str
) -> torch.Tensor:
    """Explanation weights over the real tokens (B, T), summing to 1 per row."""
    raw = attention_rollout(attentions) if explanation == "rollout" else cls_attention(attentions)
    raw = raw * real
    total = raw.sum(dim=1, keepdim=True)
    uniform = real.float() / real.sum(dim=1, keepdim=True).clamp(min=1)
    return torch.where(total > 0, raw / total.clamp(min=1e-12), uniform)


def hf_text_encoder(tokenizer) -> TextEncoder:
    """The fast tokenizer's backend as a ``TextEncoder`` (offsets and word ids included)."""
    if not getattr(tokenizer, "is_fast", False):
        raise ArtifactError(
            "the model's tokenizer has no fast (Rust) version, which focusdig needs for character "
            "offsets; add a tokenizer.json (tokenizer.save_pretrained of a fast tokenizer)"
        )
    specials = [
        tokenizer.pad_token,
        tokenizer.unk_token,
        tokenizer.cls_token or tokenizer.bos_token,
        tokenizer.sep_token or tokenizer.eos_token,
        tokenizer.mask_token,
    ]
    if None in specials[:4]:
        raise ArtifactError(f"tokenizer lacks pad/unk/cls/sep tokens: {specials}")
    return TextEncoder(tokenizer.backend_tokenizer, specials)


def max_positions(model_config, tokenizer=None) -> int:
    """Longest input the model takes: position embeddings (RoBERTa's 2 offset slots excluded),
    the tokenizer's declared limit, and at most 512."""
    limit = getattr(model_config, "max_position_embeddings", 512) or 512
    if getattr(model_config, "model_type", "") in ("roberta", "xlm-roberta", "camembert"):
        limit -= 2
    declared = getattr(tokenizer, "model_max_length", None) if tokenizer is not None else None
    if isinstance(declared, int) and 0 < declared < 100_000:
        limit = min(limit, declared)
    return min(limit, 512)


class HFSequenceClassifier(nn.Module):
    """A Hugging Face classification model with focusdig's interface:
    ``forward(ids, mask, labels=None)`` -> (logits in ``config.labels`` order, token weights,
    loss or None)."""

    def __init__(
        self,
        model: nn.Module,
        config: ClassifierConfig,
        class_labels: list[str],
        explanation: str = DEFAULT_EXPLANATION,
        tokenizer=None,
    ):
        super().__init__()
        self.model = model
        self.config = config
        self.explanation = check_explanation(explanation, EXPLANATIONS, "a Hugging Face classifier")
        self.tokenizer = tokenizer  # the Hugging Face tokenizer, for save_dir
        # model class index of each of our labels
        self.order = [class_labels.index(lab) for lab in config.labels]

    def num_params(self) -> int:
        return sum(p.numel() for p in self.model.parameters())

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        labels: torch.Tensor | None = None,
        label_smoothing: float = 0.0,
        explain: bool = True,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """Logits, token weights (the attention explanation in eval mode unless ``explain`` is
        False, else uniform over the real tokens) and the loss if ``labels`` are given."""
        explain = explain and not self.training
        out = self.model(
            input_ids=input_ids, attention_mask=attention_mask, output_attentions=explain
        )
        logits = out.logits.float()[:, self.order]
        real = real_token_mask(input_ids, attention_mask, self.config)
        if explain:
            weights = token_weights(out.attentions, real, self.explanation)
        else:
            weights = real.float() / real.sum(dim=1, keepdim=True)
        loss = None
        if labels is not None:
            loss = F.cross_entropy(logits, labels, label_smoothing=label_smoothing)
        return logits, weights, loss

    def save_dir(
        self, path: Path, enc: TextEncoder, *, version: str, metrics: dict, training_data: list
    ) -> Path:
        """A fine-tuned copy as a Hugging Face directory (safetensors) plus focusdig's
        metrics.json and manifest.json, so it loads like the original and is checked on load."""
        path.mkdir(parents=True, exist_ok=True)
        self.model.save_pretrained(path, safe_serialization=True)
        if self.tokenizer is not None:
            self.tokenizer.save_pretrained(path)
        record = {"version": version, "training_data": training_data, **metrics}
        (path / "metrics.json").write_text(json.dumps(record, indent=2) + "\n")
        write_manifest(path)
        return path


def load_hf_classifier(
    path: Path, manifest: dict | None = None, explanation: str | None = None
) -> tuple[HFSequenceClassifier, TextEncoder, dict]:
    """Verify (``manifest``, else the directory's manifest.json if it has one) and load."""
    require_hf_extra()
    require_safetensors(path)
    if manifest is not None or (path / "manifest.json").is_file():
        verify_manifest(path, manifest)
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(path, **HF_LOAD_KWARGS)
        model = AutoModelForSequenceClassification.from_pretrained(
            path, use_safetensors=True, attn_implementation="eager", **HF_LOAD_KWARGS
        )
    except (OSError, ValueError) as e:
        raise ArtifactError(f"{path}: cannot load the Hugging Face classifier ({e})") from e
    class_labels = map_labels(model.config.id2label)
    enc = hf_text_encoder(tokenizer)
    labels = tuple(lab for lab in CANONICAL if lab in class_labels)
    cfg = ClassifierConfig(
        vocab_size=model.config.vocab_size,
        max_len=max_positions(model.config, tokenizer),
        d_model=model.config.hidden_size,
        labels=labels,
        pad_id=enc.pad_id,
        cls_id=enc.cls_id,
        sep_id=enc.sep_id,
        mask_id=enc.mask_id if enc.mask_id is not None else -1,
    )
    wrapped = HFSequenceClassifier(
        model, cfg, class_labels, explanation or DEFAULT_EXPLANATION, tokenizer
    ).eval()
    config = {
        "version": path.name,
        "backend": "hf-sequence-classification",
        "model_type": model.config.model_type,
        "id2label": {str(i): str(n) for i, n in model.config.id2label.items()},
        "explanation": wrapped.explanation,
    }
    return wrapped, enc, config
