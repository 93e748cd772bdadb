"""Model directories: safetensors weights + JSON/Markdown side files + sha256 manifest.

Layout of `<models>/classifier/<version>/`:
    model.safetensors  config.json  tokenizer.json  metrics.json  MODEL_CARD.md  manifest.json
`manifest.json` lists the sha256 and size of every other file; `load_model_dir` verifies them
before reading anything, so a tampered, truncated or missing file raises `ArtifactError`.
Nothing is pickled.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from focusdig.classifier.model import ClassifierConfig, SentimentClassifier
from focusdig.classifier.tokenizer import TextEncoder

FORMAT_VERSION = 1
FILES = ("model.safetensors", "config.json", "tokenizer.json", "metrics.json", "MODEL_CARD.md")


class ArtifactError(RuntimeError):
    """A model directory is missing, incomplete, or does not match its manifest."""


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def write_manifest(path: Path) -> None:
    files = {
        name: {"sha256": sha256_file(path / name), "bytes": (path / name).stat().st_size}
        for name in FILES
    }
    manifest = {"format_version": FORMAT_VERSION, "files": files}
    (path / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")


def verify_manifest(path: Path) -> dict:
    """Check every file against manifest.json; raise ArtifactError on any mismatch."""
    if not path.is_dir():
        raise ArtifactError(f"model directory not found: {path}")
    mpath = path / "manifest.json"
    if not mpath.is_file():
        raise ArtifactError(f"{path}: manifest.json is missing")
    try:
        manifest = json.loads(mpath.read_text())
        files = manifest["files"]
    except (ValueError, KeyError) as e:
        raise ArtifactError(f"{mpath}: unreadable manifest ({e})") from e
    for name in FILES:
        if name not in files:
            raise ArtifactError(f"{mpath}: no entry for {name}")
        fpath = path / name
        if not fpath.is_file():
            raise ArtifactError(f"{path}: {name} is missing")
        size = fpath.stat().st_size
        if size != files[name]["bytes"]:
            raise ArtifactError(
                f"{fpath}: size {size} != {files[name]['bytes']} in manifest "
                "(truncated or replaced)"
            )
        if sha256_file(fpath) != files[name]["sha256"]:
            raise ArtifactError(f"{fpath}: sha256 does not match manifest (file was modified)")
    return manifest


def _model_card(config: dict, metrics: dict) -> str:
    c = config["model"]
    lines = [
        f"# focusdig sentiment classifier `{config['version']}`",
        "",
        "Compact pre-LN Transformer encoder "
        f"({c['n_layers']} layers, d_model {c['d_model']}, {c['n_heads']} heads, "
        f"{config['num_params'] / 1e6:.1f}M parameters) with an attention-pooling head. "
        "Labels: " + ", ".join(c["labels"]) + ". "
        "The pooling weights are the per-word explanation (`top_tokens`).",
        "",
        (
            "Targeted sentiment: yes ([TGT] ... [/TGT] markers around a target's mentions; "
            "`Classifier.predict_targets`)."
            if c.get("tgt_open_id") is not None
            else "Targeted sentiment: no (entity scores fall back to the sentence's score)."
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
    lines += ["", "## Metrics", "", "Held-out splits (80/10/10 by hash of normalized text).", ""]
    val = metrics.get("validation", {})
    if "best_val_macro_f1" in val:
        lines.append(f"- validation macro-F1 (joint): {val['best_val_macro_f1']}")
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


def write_model_files(path: Path, config: dict, tokenizer, metrics: dict, card: str) -> Path:
    """Write config, tokenizer, metrics and model card beside the weights, then sign them all."""
    (path / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    tokenizer.save(path / "tokenizer.json")
    (path / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    (path / "MODEL_CARD.md").write_text(card)
    write_manifest(path)
    return path


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
    the model's float32."""
    path = Path(path)
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
    }
    return write_model_files(path, config, enc, metrics, _model_card(config, metrics))


def update_metrics(path: str | Path, metrics: dict) -> None:
    """Replace metrics.json (and the model card's figures) and re-sign the manifest."""
    path = Path(path)
    verify_manifest(path)
    config = json.loads((path / "config.json").read_text())
    (path / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    (path / "MODEL_CARD.md").write_text(_model_card(config, metrics))
    write_manifest(path)


def load_model_dir(path: str | Path) -> tuple[SentimentClassifier, TextEncoder, dict]:
    """Verify and load a model directory -> (model in eval mode, encoder, config dict)."""
    path = Path(path)
    verify_manifest(path)
    try:
        config = json.loads((path / "config.json").read_text())
        cfg = ClassifierConfig.from_dict(config["model"])
        enc = TextEncoder.from_file(path / "tokenizer.json")
        model = SentimentClassifier(cfg)
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
