"""One artifact layer for every model backend: manifests, sha256 checks, finding directories.

A *manifest* maps file names to their sha256 and size: ``{"files": {name: {"sha256", "bytes"}}}``.
focusdig's own model directories carry theirs as ``manifest.json``; a Hugging Face directory
registered with ``focusdig models add`` has its manifest recorded in the registry instead (the
directory itself is never written to). ``verify_manifest`` checks every listed file before
anything is read, so a tampered, truncated or missing file raises ``ArtifactError``.

``describe`` tells what a directory holds (kind and backend) without loading it. Weights must be
safetensors: a directory with only pickle weights (``pytorch_model.bin`` …) is refused.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import re
from dataclasses import dataclass
from pathlib import Path

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl", ".pickle", ".h5", ".msgpack")
HF_EXTRA = "pip install -e '.[hf]'"

# backends: how a directory's weights are read
FOCUSDIG = "focusdig"  # our compact classifier or translator (manifest.json)
HF_ENCODER = "hf-encoder"  # a Hugging Face encoder with focusdig's attention-pooling head
HF_SEQUENCE_CLASSIFICATION = "hf-sequence-classification"  # AutoModelForSequenceClassification
MARIAN = "marian"  # a Hugging Face MarianMTModel (OPUS-MT), one or more source languages
BACKENDS = (FOCUSDIG, HF_ENCODER, HF_SEQUENCE_CLASSIFICATION, MARIAN)

# word-level explanations of focusdig's compact classifier (``focusdig.classifier.model``), the
# default first; here, without torch, so that the settings can check FOCUSDIG_EXPLANATION
EXPLANATIONS = ("flow", "pooling")


class ArtifactError(RuntimeError):
    """A model directory is missing, incomplete, unsafe, or does not match its manifest."""


def check_explanation(
    name: str, known: tuple[str, ...] = EXPLANATIONS, what: str = "focusdig's classifier"
) -> str:
    """``name`` if it is one of the ``known`` explanations (of ``what``), else ValueError: the
    one check of an explanation's name, for every backend and for the settings."""
    if name not in known:
        raise ValueError(f"unknown explanation {name!r} for {what}; expected one of {known}")
    return name


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def model_files(path: Path) -> list[str]:
    """The files of a directory that a manifest covers: every top-level, non-hidden file
    except the manifest itself (a hub download's ``.cache/`` folder is skipped)."""
    return sorted(
        p.name
        for p in path.iterdir()
        if p.is_file() and not p.name.startswith(".") and p.name != MANIFEST
    )


def build_manifest(path: Path, names: list[str] | None = None) -> dict:
    """sha256 and size of ``names`` (default: ``model_files(path)``)."""
    names = model_files(path) if names is None else names
    files = {
        name: {"sha256": sha256_file(path / name), "bytes": (path / name).stat().st_size}
        for name in names
    }
    return {"format_version": FORMAT_VERSION, "files": files}


def write_manifest(path: Path, names: list[str] | None = None) -> dict:
    manifest = build_manifest(path, names)
    (path / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def read_manifest(path: Path) -> dict:
    mpath = path / MANIFEST
    if not mpath.is_file():
        raise ArtifactError(f"{path}: manifest.json is missing")
    try:
        manifest = json.loads(mpath.read_text())
        manifest["files"].items()
    except (ValueError, KeyError, AttributeError) as e:
        raise ArtifactError(f"{mpath}: unreadable manifest ({e})") from e
    return manifest


def verify_manifest(
    path: Path, manifest: dict | None = None, required: tuple[str, ...] = ()
) -> dict:
    """Check every file of ``manifest`` (default: the directory's manifest.json) and that each
    ``required`` file is listed; raise ``ArtifactError`` on any mismatch."""
    path = Path(path)
    if not path.is_dir():
        raise ArtifactError(f"model directory not found: {path}")
    manifest = read_manifest(path) if manifest is None else manifest
    files = manifest.get("files") or {}
    for name in required:
        if name not in files:
            raise ArtifactError(f"{path}: manifest has no entry for {name}")
    for name, entry in files.items():
        fpath = path / name
        if not fpath.is_file():
            raise ArtifactError(f"{path}: {name} is missing")
        size = fpath.stat().st_size
        if size != entry["bytes"]:
            raise ArtifactError(
                f"{fpath}: size {size} != {entry['bytes']} in manifest (truncated or replaced)"
            )
        if sha256_file(fpath) != entry["sha256"]:
            raise ArtifactError(f"{fpath}: sha256 does not match manifest (file was modified)")
    return manifest


# focusdig's own model directories (every backend it trains): these files, signed by manifest.json
MODEL_FILES = (
    "model.safetensors",
    "config.json",
    "tokenizer.json",
    "metrics.json",
    "MODEL_CARD.md",
)


def verify_model_dir(path: Path, manifest: dict | None = None) -> dict:
    """Check a focusdig model directory against its manifest (default: manifest.json)."""
    return verify_manifest(path, manifest, required=MODEL_FILES)


def write_model_files(path: Path, config: dict, tokenizer, metrics: dict, card: str) -> Path:
    """Write config, tokenizer, metrics and model card beside the weights, then sign them all."""
    (path / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    tokenizer.save(path / "tokenizer.json")
    (path / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    (path / "MODEL_CARD.md").write_text(card)
    write_manifest(path, list(MODEL_FILES))
    return path


def _version_key(path: Path) -> list:
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", path.name)]


def newest_model_dir(root: Path, what: str = "model") -> Path:
    """The newest directory under ``root`` with a manifest.json (versions compare with their
    numbers as numbers: ``clf-2026.11.25-10`` is newer than ``clf-2026.11.25-2``)."""
    dirs = [p for p in root.glob("*") if (p / MANIFEST).is_file()] if root.is_dir() else []
    if not dirs:
        raise ArtifactError(f"no {what} directory with a manifest.json under {root}")
    return max(dirs, key=_version_key)


@dataclass(frozen=True)
class ModelDir:
    """What a model directory holds, read from its config files only."""

    kind: str  # classifier | translator | encoder (a bare encoder, to fine-tune)
    backend: str
    version: str | None  # the version its config names (focusdig directories)
    languages: tuple[str, ...] = ()  # source languages (translators), when the files say


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text("utf-8"))
    except (OSError, ValueError) as e:
        raise ArtifactError(f"{path}: unreadable ({e})") from e


def safetensors_files(path: Path) -> list[str]:
    return sorted(p.name for p in path.glob("*.safetensors"))


def require_safetensors(path: Path) -> None:
    """Refuse a directory whose weights are only pickles, saying how to convert them."""
    if safetensors_files(path):
        return
    pickles = sorted(p.name for p in path.iterdir() if p.suffix in PICKLE_SUFFIXES)
    if pickles:
        raise ArtifactError(
            f"{path}: only pickle weights ({', '.join(pickles)}); focusdig loads safetensors "
            "only, because unpickling can run arbitrary code. Convert once, on a machine you "
            'trust, from a copy you trust: python -c "from transformers import AutoModel; '
            f"AutoModel.from_pretrained('{path}', use_safetensors=False)"
            f".save_pretrained('{path}-safetensors')\" (use the model's own Auto class, e.g. "
            "AutoModelForSequenceClassification or MarianMTModel), copy the tokenizer files "
            "beside it, and add that directory instead"
        )
    raise ArtifactError(f"{path}: no model weights (*.safetensors)")


def _hf_languages(path: Path) -> tuple[str, ...]:
    """Source language of a Marian directory: tokenizer_config.json's source_lang, or a
    directory name like ``opus-mt-fr-en``."""
    from focusdig.langid import normalize_code

    tok_config = path / "tokenizer_config.json"
    if tok_config.is_file():
        lang = _read_json(tok_config).get("source_lang")
        if isinstance(lang, str) and len(lang) == 2:
            return (normalize_code(lang),)
    m = re.search(r"opus-mt-([a-z]{2})-en\b", path.name.lower())
    return (m.group(1),) if m else ()


def describe(path: str | Path) -> ModelDir:
    """Kind and backend of a model directory, from its config files (nothing is loaded)."""
    path = Path(path)
    config_path = path / "config.json"
    if not path.is_dir():
        raise ArtifactError(f"model directory not found: {path}")
    if not config_path.is_file():
        raise ArtifactError(f"{path}: no config.json; not a model directory")
    config = _read_json(config_path)
    if "format_version" in config:  # one of ours (its manifest.json is checked on load)
        if config.get("kind") == "translator":
            return ModelDir(
                "translator", FOCUSDIG, config.get("version"), tuple(config["languages"])
            )
        return ModelDir("classifier", config.get("backend", FOCUSDIG), config.get("version"))
    if "model_type" not in config:
        raise ArtifactError(f"{path}: config.json is neither focusdig's nor a Hugging Face one")
    if config.get("auto_map"):
        raise ArtifactError(
            f"{path}: the model needs its own Python code (config.json auto_map); focusdig never "
            "runs remote code (trust_remote_code=False)"
        )
    architectures = config.get("architectures") or []
    if config["model_type"] == "marian" or "MarianMTModel" in architectures:
        return ModelDir("translator", MARIAN, None, _hf_languages(path))
    if any(a.endswith("ForSequenceClassification") for a in architectures):
        return ModelDir("classifier", HF_SEQUENCE_CLASSIFICATION, None)
    if any(
        a.endswith(("ForConditionalGeneration", "ForCausalLM", "LMHeadModel"))
        for a in architectures
    ):
        raise ArtifactError(f"{path}: {architectures[0]} is not a supported backend")
    return ModelDir("encoder", HF_ENCODER, None)


def require_hf_extra(*modules: str) -> None:
    """Raise an ``ArtifactError`` naming the ``hf`` extra when transformers (or one of
    ``modules``, e.g. sentencepiece) cannot be imported."""
    for name in ("transformers", *modules):
        try:
            importlib.import_module(name)
        except ImportError as e:
            raise ArtifactError(
                f"Hugging Face models need the optional extra: {HF_EXTRA} ({name} is missing)"
            ) from e


# every Hugging Face load goes through these: offline, no remote code, safetensors only
HF_LOAD_KWARGS = {"local_files_only": True, "trust_remote_code": False}
