"""Classifier model directories: safetensors weights + JSON/Markdown side files + sha256 manifest.

Layout of `<models>/classifier/<version>/`:
    model.safetensors  config.json  tokenizer.json  metrics.json  MODEL_CARD.md  manifest.json
`manifest.json` lists the sha256 and size of every other file; `load_model_dir` verifies them
before reading anything, so a tampered, truncated or missing file raises `ArtifactError`.
Nothing is pickled.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from focusdig.artifacts import (
    FORMAT_VERSION,
    HF_ENCODER,
    HF_SEQUENCE_CLASSIFICATION,
    MODEL_FILES,
    ArtifactError,
    check_explanation,
    describe,
    verify_model_dir,
    write_manifest,
    write_model_files,
)
from focusdig.classifier.model import EXPLANATIONS, ClassifierConfig, SentimentClassifier
from focusdig.classifier.tokenizer import TextEncoder


def _model_card(config: dict, metrics: dict) -> str:
    c = config["model"]
    encoder = (
        f"Hugging Face encoder `{config['encoder_source']}` ({config['encoder']['model_type']}, "
        if config.get("backend") == HF_ENCODER
        else "Compact pre-LN Transformer encoder ("
    )
    lines = [
        f"# focusdig sentiment classifier `{config['version']}`",
        "",
        f"{encoder}{c['n_layers']} layers, d_model {c['d_model']}, {c['n_heads']} heads, "
        f"{config['num_params'] / 1e6:.1f}M parameters) with an attention-pooling head. "
        "Labels: "
        + ", ".join(c["labels"])
        + ". "
        + (
            "The pooling weights are the per-word explanation (`top_tokens`)."
            if config.get("backend") == HF_ENCODER
            else "The per-word explanation (`top_tokens`) is the pooling weights carried back "
            'through the last encoder blocks\' attention (`explanation="flow"`, '
            '`focusdig.classifier.model`; `explanation="pooling"`: the pooling weights alone).'
        ),
        "",
        (
            "Targeted sentiment: yes ([TGT] ... [/TGT] markers around a target's mentions; "
            "`Classifier.predict_targets`)."
            if c.get("tgt_open_id") is not None
            else "Targeted sentiment: no (entity scores fall back to the sentence's score)."
        ),
        *(
            ["", "Web links (`http…`, `www.…`) are deleted before tokenization."]
            if config.get("drops_links")
            else []
        ),
        "",
        "## Training data",
        "",
        *[f"- {s}" for s in config["training_data"]],
    ]
    if config.get("pretraining_data"):
        lines.append(f"- masked-LM pretraining: {config['pretraining_data']}")
    if any("PhraseBank" in s for s in config["training_data"]):
        lines += [
            "",
            "Trained on Financial PhraseBank (CC BY-NC-SA 3.0): non-commercial use "
            "questions apply. Train with `--no-phrasebank` for a twitter_fin-only model.",
        ]
    val = metrics.get("validation", {})
    final_fit = val.get("validation_in_training", False)
    splits = (
        "Splits 80/10/10 by hash of normalized text; the validation split was training data "
        "(the final fit), so only the test split is held out."
        if final_fit
        else "Held-out splits (80/10/10 by hash of normalized text)."
    )
    lines += ["", "## Metrics", "", splits, ""]
    if "best_val_macro_f1" in val:
        what = "last epoch, on training data" if final_fit else "joint"
        lines.append(f"- validation macro-F1 ({what}): {val['best_val_macro_f1']}")
    for name, m in metrics.get("test", {}).items():
        lines.append(
            f"- test {name}: accuracy {m['accuracy']:.4f}, macro-F1 "
            f"{m['macro_f1']:.4f} (n={m['n']})"
        )
    lines += [
        "",
        "## Limitations",
        "",
        "English financial news and tweets only; sentence-level. Long texts are split "
        "into sentences and sentence probabilities averaged, weighted by token count.",
        "",
    ]
    return "\n".join(lines)


def save_model_dir(
    path: str | Path,
    model: SentimentClassifier,
    enc: TextEncoder,
    *,
    version: str,
    metrics: dict,
    training_data: list[str],
    pretraining_data: str | None = None,
    dtype: torch.dtype = torch.float32,
) -> Path:
    """Write a complete model directory (classifier weights only; the MLM head is dropped).

    `dtype` is the weights' type on disk: float16 halves the file, and loading casts back to
    the model's float32. A Hugging Face backend (``model.save_dir``) writes its own layout,
    signed the same way."""
    path = Path(path)
    if not isinstance(model, SentimentClassifier):
        return model.save_dir(
            path, enc, version=version, metrics=metrics, training_data=training_data
        )
    path.mkdir(parents=True, exist_ok=True)
    state = {
        k: v.detach().cpu().to(dtype).contiguous()
        for k, v in model.state_dict().items()
        if not k.startswith(("mlm_transform.", "mlm_bias"))
    }
    save_file(state, str(path / "model.safetensors"), metadata={"version": version})
    config = {
        "format_version": FORMAT_VERSION,
        "version": version,
        "model": model.config.to_dict(),
        "num_params": model.num_params(),
        "training_data": training_data,
        "pretraining_data": pretraining_data,
        "drops_links": enc.drops_links,
    }
    return write_model_files(path, config, enc, metrics, _model_card(config, metrics))


def update_metrics(path: str | Path, metrics: dict) -> None:
    """Replace metrics.json (and the model card's figures) and re-sign the manifest."""
    path = Path(path)
    verify_model_dir(path)
    config = json.loads((path / "config.json").read_text())
    (path / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    (path / "MODEL_CARD.md").write_text(_model_card(config, metrics))
    write_manifest(path, list(MODEL_FILES))


def backend_explanations(backend: str) -> tuple[str, ...]:
    """The word-level explanations of a classifier backend, its default first: focusdig's
    compact model ``focusdig.artifacts.EXPLANATIONS`` (flow, pooling), a Hugging Face
    classification model ``focusdig.classifier.hf.EXPLANATIONS`` (rollout, cls), a fine-tuned
    Hugging Face encoder its pooling weights only."""
    if backend == HF_SEQUENCE_CLASSIFICATION:
        from focusdig.classifier.hf import EXPLANATIONS as HF_EXPLANATIONS

        return HF_EXPLANATIONS
    if backend == HF_ENCODER:
        from focusdig.classifier.hf_encoder import EncoderClassifier

        return (EncoderClassifier.explanation,)
    return EXPLANATIONS


def preferred_explanation(path: str | Path, preference: str | None) -> str:
    """What to load the classifier directory ``path`` with when ``preference`` (the pipeline's
    ``FOCUSDIG_EXPLANATION``: flow or pooling, for focusdig's compact model; None: no
    preference) is wanted: the preference where the directory's backend has it, else the
    backend's own default (e.g. attention rollout for a Hugging Face classification model)."""
    offered = backend_explanations(describe(path).backend)
    return preference if preference in offered else offered[0]


def load_model_dir(
    path: str | Path, manifest: dict | None = None, explanation: str | None = None
) -> tuple[torch.nn.Module, TextEncoder, dict]:
    """Verify and load any supported classifier directory -> (model in eval mode, encoder,
    config dict). ``manifest``: the file digests to check (default: the directory's
    manifest.json; a Hugging Face directory registered with ``focusdig models add`` gets the
    ones the registry recorded). ``explanation``: the word-level explanation, one of
    ``backend_explanations`` of the directory's backend (None: its default); another name is
    a ValueError."""
    path = Path(path)
    info = describe(path)
    if info.kind != "classifier":
        hint = (
            "; fine-tune it with `focusdig train classifier --encoder DIR`"
            if info.kind == "encoder"
            else ""
        )
        raise ArtifactError(f"{path}: a {info.kind} directory, not a classifier{hint}")
    offered = backend_explanations(info.backend)
    explanation = check_explanation(explanation or offered[0], offered, f"a {info.backend} model")
    if info.backend == HF_SEQUENCE_CLASSIFICATION:
        from focusdig.classifier.hf import load_hf_classifier

        return load_hf_classifier(path, manifest, explanation)
    verify_model_dir(path, manifest)
    if info.backend == HF_ENCODER:
        from focusdig.classifier.hf_encoder import load_encoder_classifier

        return load_encoder_classifier(path)
    return _load_compact(path, explanation)


def _load_compact(
    path: Path, explanation: str = EXPLANATIONS[0]
) -> tuple[SentimentClassifier, TextEncoder, dict]:
    """focusdig's compact classifier from a verified directory (``explanation`` checked)."""
    try:
        config = json.loads((path / "config.json").read_text())
        cfg = ClassifierConfig.from_dict(config["model"])
        enc = TextEncoder.from_file(path / "tokenizer.json")
        model = SentimentClassifier(cfg, explanation)
        state = load_file(str(path / "model.safetensors"))
        missing, unexpected = model.load_state_dict(state, strict=False)
    except Exception as e:  # any parse failure is an artifact problem
        raise ArtifactError(f"{path}: cannot load model ({e})") from e
    missing = [k for k in missing if not k.startswith(("mlm_transform.", "mlm_bias"))]
    if missing or unexpected:
        raise ArtifactError(
            f"{path}: weights do not match config (missing {missing[:3]}, "
            f"unexpected {unexpected[:3]})"
        )
    model.eval()
    return model, enc, config
