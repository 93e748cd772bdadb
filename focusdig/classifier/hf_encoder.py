"""A Hugging Face encoder (``AutoModel``, e.g. bert-base or FinBERT's encoder) fine-tuned with
focusdig's own attention-pooling head: ``focusdig train classifier --encoder DIR``.

The encoder directory is read offline, without remote code, from safetensors only. The model is
the encoder + ``AttentionPooling`` + the default classifier's head, so it explains itself the
same way (the pooling weights over words) and trains with the default trainer's ``finetune``;
``retrain`` and the champion/challenger gate treat it like the default model.

The fine-tuned model is a focusdig directory: ``model.safetensors`` (encoder and head),
``config.json`` (``backend: hf-encoder``, the head's settings and the encoder's Hugging Face
config), the fast tokenizer's ``tokenizer.json``, metrics, model card and ``manifest.json``.
"""

from __future__ import annotations

import json
import random
import time
from dataclasses import asdict
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import nn
from torch.nn import functional as F

from focusdig.artifacts import (
    FORMAT_VERSION,
    HF_ENCODER,
    HF_LOAD_KWARGS,
    ArtifactError,
    describe,
    require_hf_extra,
    require_safetensors,
    verify_manifest,
    write_model_files,
)
from focusdig.classifier.hf import CANONICAL, hf_text_encoder, max_positions
from focusdig.classifier.model import (
    AttentionPooling,
    ClassifierConfig,
    classifier_head,
    real_token_mask,
)
from focusdig.classifier.tokenizer import TextEncoder
from focusdig.precision import default_device


class EncoderClassifier(nn.Module):
    """Hugging Face encoder -> attention pooling -> focusdig's classification head."""

    explanation = "pooling"  # its word weights: the pooling weights alone

    def __init__(self, encoder: nn.Module, cfg: ClassifierConfig, source: str):
        super().__init__()
        self.config = cfg
        self.source = source  # the encoder directory's name, for the model card
        self.encoder = encoder
        self.pool = AttentionPooling(cfg)
        self.head = classifier_head(cfg)
        for module in (self.pool, self.head):
            for layer in module.modules():
                if isinstance(layer, nn.Linear):
                    nn.init.normal_(layer.weight, std=0.02)
                    if layer.bias is not None:
                        nn.init.zeros_(layer.bias)

    def num_params(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        labels: torch.Tensor | None = None,
        label_smoothing: float = 0.0,
        explain: bool = True,  # the pooling weights explain, and cost nothing extra
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        h = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        z, alpha = self.pool(h, real_token_mask(input_ids, attention_mask, self.config))
        logits = self.head(z).float()
        loss = None
        if labels is not None:
            loss = F.cross_entropy(logits, labels, label_smoothing=label_smoothing)
        return logits, alpha, loss

    def save_dir(
        self, path: Path, enc: TextEncoder, *, version: str, metrics: dict, training_data: list
    ) -> Path:
        """Write and sign a focusdig directory with ``backend: hf-encoder``."""
        from focusdig.classifier.artifacts import _model_card

        path.mkdir(parents=True, exist_ok=True)
        state = {k: v.detach().cpu().contiguous() for k, v in self.state_dict().items()}
        save_file(state, str(path / "model.safetensors"), metadata={"version": version})
        config = {
            "format_version": FORMAT_VERSION,
            "backend": HF_ENCODER,
            "version": version,
            "model": self.config.to_dict(),
            "encoder": self.encoder.config.to_dict(),
            "encoder_source": self.source,
            "tokenizer_specials": enc.specials,
            "num_params": self.num_params(),
            "training_data": training_data,
        }
        return write_model_files(path, config, enc, metrics, _model_card(config, metrics))


def head_config(encoder_config, tokenizer, enc: TextEncoder, **overrides) -> ClassifierConfig:
    """The pooling head's settings for an encoder of ``encoder_config``."""
    fields = {
        "vocab_size": encoder_config.vocab_size,
        "max_len": max_positions(encoder_config, tokenizer),
        "d_model": encoder_config.hidden_size,
        "n_heads": encoder_config.num_attention_heads,
        "n_layers": encoder_config.num_hidden_layers,
        "d_ff": getattr(encoder_config, "intermediate_size", 4 * encoder_config.hidden_size),
        "dropout": getattr(encoder_config, "hidden_dropout_prob", 0.1),
        "labels": CANONICAL,
        "pad_id": enc.pad_id,
        "cls_id": enc.cls_id,
        "sep_id": enc.sep_id,
        "mask_id": enc.mask_id if enc.mask_id is not None else -1,
    }
    return ClassifierConfig(**{**fields, **overrides})


def from_encoder_dir(
    path: Path, overrides: dict | None = None
) -> tuple[EncoderClassifier, TextEncoder]:
    """A new classifier on the (pretrained) encoder in ``path``, its head randomly initialised."""
    require_hf_extra()
    info = describe(path)
    if info.kind != "encoder":
        raise ArtifactError(
            f"{path}: a {info.kind} directory ({info.backend}); --encoder takes a Hugging Face "
            "encoder (AutoModel) directory"
        )
    require_safetensors(path)
    if (path / "manifest.json").is_file():
        verify_manifest(path)
    from transformers import AutoModel, AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(path, **HF_LOAD_KWARGS)
        encoder = AutoModel.from_pretrained(path, use_safetensors=True, **HF_LOAD_KWARGS)
    except (OSError, ValueError) as e:
        raise ArtifactError(f"{path}: cannot load the encoder ({e})") from e
    enc = hf_text_encoder(tokenizer)
    cfg = head_config(encoder.config, tokenizer, enc, **(overrides or {}))
    return EncoderClassifier(encoder, cfg, path.name), enc


def load_encoder_classifier(path: Path) -> tuple[EncoderClassifier, TextEncoder, dict]:
    """A fine-tuned ``hf-encoder`` directory (already verified) -> (model, encoder, config)."""
    require_hf_extra()
    from transformers import AutoConfig, AutoModel

    try:
        config = json.loads((path / "config.json").read_text())
        encoder_config = dict(config["encoder"])
        encoder = AutoModel.from_config(
            AutoConfig.for_model(encoder_config.pop("model_type"), **encoder_config)
        )
        enc = TextEncoder.from_file(path / "tokenizer.json", config["tokenizer_specials"])
        model = EncoderClassifier(
            encoder, ClassifierConfig.from_dict(config["model"]), config["encoder_source"]
        )
        model.load_state_dict(load_file(str(path / "model.safetensors")), strict=True)
    except Exception as e:  # any parse or shape failure is an artifact problem
        raise ArtifactError(f"{path}: cannot load the encoder classifier ({e})") from e
    return model.eval(), enc, config


def train_encoder_classifier(args, encoder_dir: Path) -> Path:
    """Fine-tune ``encoder_dir`` + the attention-pooling head on the labeled data, as
    ``focusdig.classifier.trainer.train_classifier`` does for the default model (no tokenizer
    training, no masked-LM pretraining: the encoder comes pretrained)."""
    from focusdig.classifier import data as D
    from focusdig.classifier.trainer import finetune, log, next_version

    if args.targets:
        raise ValueError("targeted training (targets) is for focusdig's own classifier only")
    torch.manual_seed(args.seed)
    random.seed(args.seed)
    torch.set_num_threads(args.num_threads)
    device = default_device()
    splits = D.load_splits(args.data_dir, phrasebank=args.use_phrasebank)
    log("labeled examples: " + ", ".join(f"{k} {len(v)}" for k, v in splits.items()))
    head = {k: v for k, v in args.model.items() if k in ("pool_dim", "dropout", "max_len")}
    model, enc = from_encoder_dir(Path(encoder_dir), head)
    model.to(device)
    log(f"model: {model.num_params() / 1e6:.2f}M params ({encoder_dir} + attention pooling)")
    start = time.time()
    result = finetune(args, model, enc, splits)
    out_dir = Path(args.out_dir)
    version = args.version or next_version(out_dir)
    sources = ["twitter_fin (MIT)"]
    if args.use_phrasebank:
        sources.insert(0, "Financial PhraseBank v1.0 50Agree (CC BY-NC-SA 3.0)")
    metrics = {
        "version": version,
        "validation": result,
        "finetune_minutes": round((time.time() - start) / 60, 1),
        "encoder": str(encoder_dir),
        "train_examples": len(splits["train"]),
        "training_arguments": asdict(args),
    }
    path = model.save_dir(
        out_dir / version, enc, version=version, metrics=metrics, training_data=sources
    )
    log(f"saved {path}")
    return path
