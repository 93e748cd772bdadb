"""Translator model directories: fp16 safetensors + JSON/Markdown side files + sha256 manifest.

Layout of `<repo>/models/translator/<version>/`:
    model.safetensors  config.json  tokenizer.json  metrics.json  MODEL_CARD.md  manifest.json
The manifest (`focusdig.artifacts`, shared by every backend) is verified
before anything is read; a modified, truncated or missing file raises `ArtifactError`.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from focusdig.artifacts import ArtifactError, newest_model_dir, verify_model_dir, write_model_files
from focusdig.paths import SHIPPED_MODELS
from focusdig.translator.model import Seq2SeqTransformer, TranslatorConfig
from focusdig.translator.tokenizer import SubwordTokenizer

FORMAT_VERSION = 1
TATOEBA_ATTRIBUTION = "Sentences from tatoeba.org, CC-BY 2.0 FR"
WMT_CITATION = (
    "WMT news translation test sets (statmt.org), distributed for research use; "
    "cite the WMT shared-task findings papers"
)


def default_models_root() -> Path:
    return SHIPPED_MODELS / "translator"


def latest_model_dir(root: str | Path | None = None) -> Path:
    """Newest directory under `root` (default: the shipped ones) that has a manifest."""
    return newest_model_dir(Path(root) if root else default_models_root(), "translator model")


def _model_card(config: dict, metrics: dict) -> str:
    c = config["model"]
    lines = [
        f"# focusdig translator `{config['version']}`",
        "",
        f"Multilingual ({', '.join(config['languages'])} -> en) pre-LN Transformer "
        f"encoder-decoder: {c['n_enc_layers']}+{c['n_dec_layers']} layers, d_model "
        f"{c['d_model']}, {c['n_heads']} heads, d_ff {c['d_ff']}, "
        f"{config['num_params'] / 1e6:.1f}M parameters, shared byte-level BPE vocabulary of "
        f"{c['vocab_size']} tokens, source-language tag `<2xx>` before the source.",
        "",
        "## Training data",
        "",
        *[f"- {s}" for s in config["training_data"]],
        "",
        f"Attribution: {TATOEBA_ATTRIBUTION}. {WMT_CITATION}.",
        "",
        "## Metrics",
        "",
        "Held-out test split: 2 % of source sentences by hash (English side >= 4 words, at most "
        "1,000 pairs per language), never seen in training. sacrebleu BLEU / chrF, "
        f"{metrics.get('decoding', 'greedy')} decoding.",
        "",
    ]
    by_origin = metrics.get("test_by_origin", {})
    for lang, m in metrics.get("test", {}).items():
        parts = [
            f"{origin} {by_origin[key]['bleu']:.1f} (n={by_origin[key]['n']})"
            for origin in ("tatoeba", "news")
            if (key := f"{lang}/{origin}") in by_origin
        ]
        lines.append(
            f"- {lang}->en: BLEU {m['bleu']:.1f}, chrF {m['chrf']:.1f} (n={m['n']})"
            + (f"; BLEU by source: {', '.join(parts)}" if parts else "")
        )
    t = metrics.get("training", {})
    where = "a GPU" if t.get("device") == "cuda" else "a CPU"
    if "init_from" in t:
        gpu = f" and {t['total_gpu_minutes']} min on a GPU" if t.get("total_gpu_minutes") else ""
        budget = (
            f"Trained for {t['total_minutes']} min on a CPU{gpu} (the last {t['minutes']} min "
            f"on {where}, {t['steps']} steps, continuing `{t['init_from']}`)"
        )
    elif "minutes" in t:
        budget = f"Trained for {t['minutes']} min ({t['steps']} steps) on {where}"
    else:
        budget = "Trained briefly on a CPU"
    lines += [
        "",
        "## Limitations",
        "",
        f"{budget}: a small, under-trained model. Translations are often wrong, names and "
        "numbers can be dropped or invented; use for monitoring and triage only, never for "
        "publication. Long texts are translated sentence by sentence.",
        "",
    ]
    return "\n".join(lines)


def save_model_dir(
    path: str | Path,
    model: Seq2SeqTransformer,
    tokenizer: SubwordTokenizer,
    *,
    version: str,
    metrics: dict,
    training_data: list[str],
    training: dict | None = None,
) -> Path:
    """Write a complete model directory (weights stored as fp16) and sign it."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    state = {
        k: v.detach().cpu().to(torch.float16).contiguous() for k, v in model.state_dict().items()
    }
    save_file(state, str(path / "model.safetensors"), metadata={"version": version})
    config = {
        "format_version": FORMAT_VERSION,
        "kind": "translator",
        "version": version,
        "languages": tokenizer.languages,
        "target_language": "en",
        "model": model.config.to_dict(),
        "num_params": model.num_params(),
        "training_data": training_data,
        "training": training or {},
    }
    return write_model_files(path, config, tokenizer, metrics, _model_card(config, metrics))


def load_model_dir(
    path: str | Path, manifest: dict | None = None
) -> tuple[Seq2SeqTransformer, SubwordTokenizer, dict]:
    """Verify and load -> (float32 model in eval mode, tokenizer, config dict)."""
    path = Path(path)
    verify_model_dir(path, manifest)
    try:
        config = json.loads((path / "config.json").read_text())
        if config.get("kind") != "translator":
            raise ValueError("config.json is not a translator config")
        model = Seq2SeqTransformer(TranslatorConfig.from_dict(config["model"]))
        tokenizer = SubwordTokenizer.from_file(path / "tokenizer.json")
        state = {k: v.float() for k, v in load_file(str(path / "model.safetensors")).items()}
        model.load_state_dict(state, strict=True)
    except Exception as e:  # any parse or shape failure is an artifact problem
        raise ArtifactError(f"{path}: cannot load translator ({e})") from e
    model.eval()
    return model, tokenizer, config
