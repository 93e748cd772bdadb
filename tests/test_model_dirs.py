"""Model directories without the ``hf`` extra: what a directory holds is told from its config
files alone, unsafe directories are refused, labels are mapped, and loading a Hugging Face model
without transformers or sentencepiece names the extra. Runs whether or not they are installed
(their absence is simulated)."""

from __future__ import annotations

import json
import sys
import types

import pytest
from test_cli import run

from focusdig.artifacts import ArtifactError, describe
from focusdig.classifier import Classifier
from focusdig.classifier.hf import map_labels
from focusdig.translator import Translator

EXTRA = r"pip install -e '\.\[hf\]'"


def hf_dir(path, config: dict, files: dict[str, bytes] | None = None):
    """A directory with a Hugging Face ``config.json`` and the given files (never loaded)."""
    path.mkdir(parents=True)
    (path / "config.json").write_text(json.dumps(config))
    for name, data in (files or {"model.safetensors": b"never read"}).items():
        (path / name).write_bytes(data)
    return path


@pytest.fixture
def finbert_like(tmp_path):
    labels = {"0": "positive", "1": "negative", "2": "neutral"}
    config = {"model_type": "bert", "architectures": ["BertForSequenceClassification"]}
    return hf_dir(tmp_path / "finbert", {**config, "id2label": labels})


@pytest.fixture
def marian_like(tmp_path):
    path = hf_dir(
        tmp_path / "opus-mt-fr-en", {"model_type": "marian", "architectures": ["MarianMTModel"]}
    )
    (path / "tokenizer_config.json").write_text('{"source_lang": "fr", "target_lang": "en"}')
    return path


def test_directories_are_told_apart_from_their_config_files(tmp_path, finbert_like, marian_like):
    assert (describe(finbert_like).kind, describe(finbert_like).backend) == (
        "classifier",
        "hf-sequence-classification",
    )
    marian = describe(marian_like)
    assert (marian.kind, marian.backend, marian.languages) == ("translator", "marian", ("fr",))
    encoder = describe(hf_dir(tmp_path / "bert", {"model_type": "bert"}))
    assert (encoder.kind, encoder.backend) == ("encoder", "hf-encoder")
    generator = hf_dir(
        tmp_path / "gpt", {"model_type": "gpt2", "architectures": ["GPT2LMHeadModel"]}
    )
    with pytest.raises(ArtifactError, match="not a supported backend"):
        describe(generator)
    with pytest.raises(ArtifactError, match="remote code"):
        describe(hf_dir(tmp_path / "custom", {"model_type": "x", "auto_map": {"AutoModel": "m.M"}}))
    with pytest.raises(ArtifactError, match="neither focusdig's nor a Hugging Face one"):
        describe(hf_dir(tmp_path / "odd", {"name": "odd"}))


@pytest.mark.parametrize("missing", ["transformers", "sentencepiece"])
def test_a_missing_extra_is_named(finbert_like, marian_like, monkeypatch, missing):
    for name in ("transformers", "sentencepiece"):  # present, or absent, as the test needs
        monkeypatch.setitem(sys.modules, name, None if name == missing else types.ModuleType(name))
    with pytest.raises(ArtifactError, match=rf"{EXTRA} \({missing} is missing\)"):
        Translator.load(marian_like)
    if missing == "transformers":
        with pytest.raises(ArtifactError, match=rf"{EXTRA} \(transformers is missing\)"):
            Classifier.load(finbert_like)


def test_models_add_names_the_missing_extra(finbert_like, database_url, monkeypatch):
    monkeypatch.setitem(sys.modules, "transformers", None)
    out = " ".join(run("models", "add", str(finbert_like), "--name", "fb", code=2).output.split())
    assert "pip install -e '.[hf]'" in out and "transformers is missing" in out
    assert "fb" not in run("models", "list", "--kind", "classifier").stdout


def test_pickle_only_weights_are_refused_with_how_to_convert(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "transformers", types.ModuleType("transformers"))
    config = {"model_type": "bert", "architectures": ["BertForSequenceClassification"]}
    pickled = hf_dir(tmp_path / "pickled", config, {"pytorch_model.bin": b"\x80\x04never"})
    with pytest.raises(ArtifactError, match="only pickle weights") as info:
        Classifier.load(pickled)
    assert "save_pretrained" in str(info.value) and "use_safetensors=False" in str(info.value)


def test_label_names_map_whatever_their_case_or_wording():
    assert map_labels({0: "Positive", 1: "NEGATIVE", 2: "neutral"}) == [
        "positive",
        "negative",
        "neutral",
    ]
    assert map_labels({"0": "bearish", "1": "Bullish"}) == ["negative", "positive"]
    for bad in ({0: "LABEL_0", 1: "LABEL_1", 2: "LABEL_2"}, {0: "positive", 1: "positive"}):
        with pytest.raises(ArtifactError, match="id2label"):
            map_labels(bad)
