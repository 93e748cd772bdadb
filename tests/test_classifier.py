"""Fast tests for focusdig.classifier (tiny models and synthetic data; no downloads)."""

from __future__ import annotations

import gzip
import json
import os
import random
import re
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from focusdig.classifier import (
    ArtifactError,
    Classifier,
    ClassifierConfig,
    SentimentClassifier,
    TrainingArguments,
    save_model_dir,
    train_classifier,
)
from focusdig.classifier import data as D
from focusdig.classifier import predict as P
from focusdig.classifier.artifacts import load_model_dir, preferred_explanation
from focusdig.classifier.distill import soft_targets
from focusdig.classifier.model import FLOW_BLOCKS, Packing, collate
from focusdig.classifier.tokenizer import TextEncoder, drop_links, train_tokenizer
from focusdig.classifier.trainer import get_tokenizer
from focusdig.precision import autocast_dtype, cpu_has_native_bf16

POS = ["profit rose to a record high", "sales grew strongly", "shares jumped after earnings beat"]
NEG = ["the company filed for bankruptcy", "profit fell sharply", "shares plunged on weak outlook"]
NEU = ["the company is based in helsinki", "the meeting is on monday", "it has 200 employees"]
TINY_TRAINING_MODEL = {"d_model": 32, "n_heads": 2, "n_layers": 1, "d_ff": 64, "pool_dim": 16}


def tiny_args(tmp_path: Path, data_dir: Path, **overrides) -> TrainingArguments:
    """Training arguments for a tiny model on the fixture data (one thread, float32, batches
    of 16); ``overrides`` replace any of them."""
    base = dict(
        out_dir=str(tmp_path / "models"),
        work_dir=str(tmp_path / "work"),
        data_dir=str(data_dir),
        model=TINY_TRAINING_MODEL,
        vocab_size=200,
        tokenizer_lines=400,
        pretrain_batch_size=16,
        batch_size=16,
        bf16=False,
        num_threads=1,
    )
    return TrainingArguments(**{**base, **overrides})


def tiny_encoder() -> TextEncoder:
    texts = (POS + NEG + NEU) * 20 + ["café naïve 公司 emoji 🚀 % $ , . - ( )"] * 5
    return TextEncoder(train_tokenizer(texts, vocab_size=300))


def tiny_model(
    enc: TextEncoder, max_len: int = 32, seed: int = 0, n_layers: int = 2
) -> SentimentClassifier:
    torch.manual_seed(seed)
    cfg = ClassifierConfig(
        vocab_size=enc.vocab_size,
        max_len=max_len,
        d_model=32,
        n_heads=2,
        n_layers=n_layers,
        d_ff=64,
        pool_dim=16,
        pad_id=enc.pad_id,
        cls_id=enc.cls_id,
        sep_id=enc.sep_id,
        mask_id=enc.mask_id,
    )
    return SentimentClassifier(cfg).eval()


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    """Tiny models run fastest (and steadiest on a busy machine) on one thread."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def enc() -> TextEncoder:
    return tiny_encoder()


@pytest.fixture
def model_dir(tmp_path: Path, enc: TextEncoder) -> Path:
    return save_model_dir(
        tmp_path / "clf-test-1",
        tiny_model(enc, max_len=16),
        enc,
        version="clf-test-1",
        metrics={},
        training_data=["synthetic"],
    )


def test_tokenizer_training_gives_the_same_vocabulary_in_every_process() -> None:
    """`tokenizers` orders ties by hash-map order, which changes with each process."""
    import subprocess
    import sys

    script = (
        "import json\nfrom focusdig.classifier.tokenizer import train_tokenizer\n"
        f"texts = {(POS + NEG + NEU) * 20 + ['café naïve 公司 emoji 🚀 % $ , . - ( )'] * 5!r}\n"
        "print(json.dumps(train_tokenizer(texts, vocab_size=300).get_vocab(), sort_keys=True))\n"
    )
    vocabularies = {
        subprocess.run(
            [sys.executable, "-c", script], capture_output=True, text=True, check=True
        ).stdout
        for _ in range(4)
    }
    assert len(vocabularies) == 1
    vocab = json.loads(vocabularies.pop())
    assert [vocab[t] for t in ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")] == [0, 1, 2, 3, 4]
    assert {"profit", "##ed"} <= vocab.keys()


def test_drop_links_deletes_links_and_keeps_offsets(enc: TextEncoder, tmp_path: Path) -> None:
    text = "Profit rose https://t.co/AbC12 and (WWW.Example.com/x) sales grew http://x.io"
    dropped = drop_links(enc)
    assert dropped.drops_links and not enc.drops_links and drop_links(dropped) is dropped
    got = dropped.encode(text)
    assert (
        "".join(text[s:e] for s, e in got.offsets) == "Profitroseand(salesgrew"
    )  # the link takes its ")"
    assert got.ids == enc.encode("profit rose and ( sales grew").ids
    dropped.save(tmp_path / "tokenizer.json")
    assert TextEncoder.from_file(tmp_path / "tokenizer.json").drops_links
    assert dropped.ids_batch([text], 32) == enc.ids_batch(["profit rose and ( sales grew"], 32)


def test_shapes_and_padding_invariance(enc: TextEncoder) -> None:
    model = tiny_model(enc)
    seqs = enc.ids_batch(["profit rose to a record high", "sales grew"], 32)
    ids = torch.zeros((2, 12), dtype=torch.long)
    mask = torch.zeros((2, 12), dtype=torch.long)
    for i, s in enumerate(seqs):
        ids[i, : len(s)], mask[i, : len(s)] = torch.tensor(s), 1
    with torch.no_grad():
        logits, alpha, loss = model(ids, mask)
        short_logits, short_alpha, _ = model(ids[1:, : len(seqs[1])], mask[1:, : len(seqs[1])])
    assert logits.shape == (2, 3) and alpha.shape == (2, 12) and loss is None
    torch.testing.assert_close(alpha.sum(1), torch.ones(2))
    assert float(alpha[mask == 0].abs().sum()) == 0.0
    assert float(alpha[:, 0].abs().sum()) == 0.0  # [CLS] never explains
    n = len(seqs[1])
    torch.testing.assert_close(short_logits[0], logits[1], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(short_alpha[0], alpha[1, :n], atol=1e-6, rtol=1e-5)


def test_packing_keeps_real_tokens_in_reading_order() -> None:
    mask = torch.tensor([[1, 1, 1, 0], [1, 1, 0, 0]])
    x = torch.arange(8.0).view(2, 4, 1).repeat(1, 1, 3)  # (B, T, C), token t of row b: 4b + t
    packing = Packing.of(mask)
    packed = packing.pack(x)
    assert packed[:, 0].tolist() == [0.0, 1.0, 2.0, 4.0, 5.0]  # padding left out
    back = packing.unpack(packed)
    assert back.shape == x.shape and torch.equal(back[mask.bool()], x[mask.bool()])
    assert float(back[~mask.bool()].abs().sum()) == 0.0
    full = Packing.of(torch.ones(2, 4))  # no padding: a reshape, no copies
    assert full.rows is None and full.unpack(full.pack(x)).data_ptr() == x.data_ptr()


def test_training_gradients_ignore_padding(enc: TextEncoder) -> None:
    """A padded batch trains the model as its rows would one at a time: packing leaves the
    padding out of the gradients too."""
    model = tiny_model(enc).train()
    for module in model.modules():  # no dropout: the same function in both runs
        if isinstance(module, torch.nn.Dropout):
            module.p = 0.0
        elif hasattr(module, "dropout"):
            module.dropout = 0.0  # attention dropout (a float)
    seqs = enc.ids_batch(["profit rose to a record high", "sales grew"], 32)
    labels = torch.tensor([2, 0])
    ids = torch.zeros((2, len(seqs[0]) + 3), dtype=torch.long)
    mask = torch.zeros_like(ids)
    for i, s in enumerate(seqs):
        ids[i, : len(s)], mask[i, : len(s)] = torch.tensor(s), 1

    def grads(*batch: torch.Tensor) -> list[torch.Tensor]:
        model.zero_grad()
        model(*batch)[2].backward()
        return [p.grad.clone() for p in model.parameters() if p.grad is not None]

    together = grads(ids, mask, labels)
    alone = [
        grads(torch.tensor([s]), torch.ones(1, len(s), dtype=torch.long), labels[i : i + 1])
        for i, s in enumerate(seqs)
    ]
    for g, g0, g1 in zip(together, *alone, strict=True):
        torch.testing.assert_close(g, (g0 + g1) / 2, atol=1e-6, rtol=1e-4)


def test_loss_falls(enc: TextEncoder) -> None:
    model = tiny_model(enc).train()
    texts, labels = POS + NEG + NEU, [2] * 3 + [0] * 3 + [1] * 3
    from focusdig.classifier.trainer import collate

    ids, mask = collate(enc.ids_batch(texts, 32))
    y = torch.tensor(labels)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(25):
        _, _, loss = model(ids, mask, y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]
    mlm_targets = torch.where(mask.bool(), ids, -100)
    assert torch.isfinite(model.mlm_loss(ids, mask, mlm_targets))


def test_save_load_identical(model_dir: Path, enc: TextEncoder) -> None:
    clf = Classifier.load(model_dir, device="cpu")
    assert clf.version == "clf-test-1" and clf.labels == ("negative", "neutral", "positive")
    ref = tiny_model(enc, max_len=16)
    texts = POS + NEG
    from focusdig.classifier.trainer import collate

    ids, mask = collate(enc.ids_batch(texts, 16))
    expected = torch.softmax(ref(ids, mask)[0], -1).detach().numpy()
    torch.testing.assert_close(
        torch.tensor(clf.predict_proba(texts)),
        torch.tensor(expected, dtype=torch.float64),
        atol=1e-5,
        rtol=1e-4,
    )
    manifest = json.loads((model_dir / "manifest.json").read_text())
    assert set(manifest["files"]) >= {"model.safetensors", "config.json", "tokenizer.json"}


@pytest.mark.parametrize("damage", ["byte", "truncate", "missing", "config"])
def test_tampered_artifact_refused(model_dir: Path, damage: str) -> None:
    weights = model_dir / "model.safetensors"
    if damage == "byte":
        data = bytearray(weights.read_bytes())
        data[len(data) // 2] ^= 0x01
        weights.write_bytes(bytes(data))
    elif damage == "truncate":
        weights.write_bytes(weights.read_bytes()[:-10])
    elif damage == "missing":
        (model_dir / "tokenizer.json").unlink()
    else:
        cfg = json.loads((model_dir / "config.json").read_text())
        cfg["model"]["labels"] = ["positive", "neutral", "negative"]
        (model_dir / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(ArtifactError):
        Classifier.load(model_dir)


def _wordchar(c: str) -> bool:
    return c.isalnum() and not "\u4e00" <= c <= "\u9fff"  # each CJK character is a word


def _check_offsets(text: str, pred: P.Prediction) -> None:
    for t in pred.top_tokens:
        assert 0 <= t["start"] < t["end"] <= len(text)
        assert text[t["start"] : t["end"]] == t["word"]
        assert t["word"] not in ("[CLS]", "[SEP]", "[PAD]")
        # a whole word: not glued to a letter/digit on either side
        s, e = t["start"], t["end"]
        assert s == 0 or not _wordchar(text[s - 1]) or not _wordchar(t["word"][0])
        assert e == len(text) or not _wordchar(text[e]) or not _wordchar(t["word"][-1])
    weights = [t["weight"] for t in pred.top_tokens]
    assert weights == sorted(weights, reverse=True)


def test_predictions_and_top_tokens(model_dir: Path) -> None:
    clf = Classifier.load(model_dir)
    long_text = (
        "Profit rose to a record high. The company filed for bankruptcy! " * 1600
        + "Unbelievablyextraordinarilylongwordthatneverends" * 5
    )
    texts = [
        "",
        "   ",
        "Profit rose to a record high",
        "Café naïve résumé, 公司利润增长 🚀🚀!",
        "sales grew" + " strongly" * 40,
        long_text,
    ]
    preds = clf.predict(texts, top_k=5)
    assert len(preds) == len(texts) and len(long_text) > 100_000
    for text, pred in zip(texts, preds, strict=True):
        assert pred.label in clf.labels
        assert abs(sum(pred.probs.values()) - 1) < 1e-4
        assert -1 <= pred.score <= 1
        assert abs(pred.score - (pred.probs["positive"] - pred.probs["negative"])) < 1e-6
        _check_offsets(text, pred)
    assert preds[0].top_tokens == [] and preds[1].top_tokens == []
    assert {t["word"] for t in preds[2].top_tokens} <= {
        "Profit",
        "rose",
        "to",
        "a",
        "record",
        "high",
    }
    assert any(t["word"] in ("Café", "naïve", "résumé") for t in preds[3].top_tokens)
    assert len(preds[5].top_tokens) == 5
    assert clf.predict("Profit rose")[0].label == clf.predict(["Profit rose"])[0].label


def _flow_by_hand(model: SentimentClassifier, ids: torch.Tensor, mask: torch.Tensor):
    """The attention flow through the last ``FLOW_BLOCKS`` blocks computed head by head, with
    each head's slice of the output projection applied to its value vectors (no Gram-matrix
    shortcut)."""
    enc_ = model.encoder
    x, key = enc_.embed(ids), mask.bool()
    packing = Packing.of(mask)
    nh = model.config.n_heads
    mixes = []
    for i, blk in enumerate(enc_.blocks):
        B, T, C = x.shape
        hs = C // nh
        q, k, v = blk.attn.qkv(blk.ln1(x)).split(C, dim=2)
        sizes = torch.zeros(B, T, T)
        for h in range(nh):
            part = slice(h * hs, (h + 1) * hs)
            att = (q[..., part] @ k[..., part].transpose(1, 2)) / hs**0.5  # (B, T, T)
            att = att.masked_fill(~key[:, None, :], float("-inf")).softmax(-1)
            sent = v[..., part] @ blk.attn.proj.weight[:, part].T  # (B, T, C): W_O^h v_j
            sizes += att * sent.norm(dim=-1)[:, None, :]
        mix = sizes + torch.diag_embed(x.norm(dim=-1))
        if i >= len(enc_.blocks) - FLOW_BLOCKS:
            mixes.append(mix / mix.sum(-1, keepdim=True))
        x = packing.unpack(blk(packing.pack(x), packing)[0])
    _, alpha = model.pool(enc_.ln_f(x), model.pool_mask(ids, mask))
    flow = alpha[:, None, :]
    for mix in reversed(mixes):
        flow = flow @ mix
    flow = flow[:, 0] * model.pool_mask(ids, mask)
    return flow / flow.sum(-1, keepdim=True), alpha


def test_attention_flow_explanation(enc: TextEncoder) -> None:
    model = tiny_model(enc, n_layers=FLOW_BLOCKS + 1)  # the flow skips the first block
    ids = [
        [enc.cls_id, *enc.encode(text).ids, enc.sep_id]
        for text in ("profit rose to a record high", "shares plunged")
    ]
    width = max(map(len, ids))
    mask = torch.tensor([[1] * len(r) + [0] * (width - len(r)) for r in ids])
    ids = torch.tensor([r + [enc.pad_id] * (width - len(r)) for r in ids])
    with torch.no_grad():
        logits, flow, _ = model(ids, mask)  # eval mode, default explanation: flow
        expected, alpha = _flow_by_hand(model, ids, mask)
        model.explanation = "pooling"
        logits_pool, pooled, _ = model(ids, mask)
    real = model.pool_mask(ids, mask)
    assert torch.allclose(flow, expected, atol=1e-5)
    assert torch.allclose(pooled, alpha, atol=1e-6)
    assert not torch.allclose(flow, pooled, atol=1e-3)  # a different explanation...
    assert torch.allclose(logits, logits_pool, atol=1e-5)  # ... of the same prediction
    assert (flow[~real] == 0).all() and (flow >= 0).all()
    assert torch.allclose(flow.sum(-1), torch.ones(2), atol=1e-5)
    model.explanation = "flow"
    with torch.no_grad():
        assert torch.equal(model(ids, mask, explain=False)[1], pooled)  # no words wanted
        with torch.autocast("cpu", dtype=torch.bfloat16):  # the flow itself stays float32
            low = model(ids, mask)[1]
    assert low.dtype == torch.float32 and torch.allclose(low.sum(-1), torch.ones(2), atol=1e-5)
    assert torch.allclose(low, flow, atol=0.02)
    # training always sees the pooling weights (what the attention-entropy term acts on)
    model.train()
    with pytest.raises(RuntimeError, match="inference"):
        model.encoder.run(ids, mask, flow_blocks=1)
    with torch.no_grad():
        torch.manual_seed(0)
        _, trained_on, _ = model(ids, mask)
        model.explanation = "pooling"
        torch.manual_seed(0)
        assert torch.equal(trained_on, model(ids, mask)[1])


def test_explanation_is_chosen_on_load(model_dir: Path) -> None:
    assert Classifier.load(model_dir).model.explanation == "flow"
    clf = Classifier.load(model_dir, explanation="pooling")
    assert clf.model.explanation == "pooling"
    text = "Profit rose to a record high but shares plunged"
    flow_top = Classifier.load(model_dir).predict(text)[0].top_tokens
    for top in (flow_top, clf.predict(text)[0].top_tokens):
        _check_offsets(text, P.Prediction("neutral", 0.0, {}, top))
    with pytest.raises(ValueError, match="unknown explanation 'rollout' for a focusdig model"):
        Classifier.load(model_dir, explanation="rollout")
    # the pipeline's FOCUSDIG_EXPLANATION: focusdig's model has both
    assert [preferred_explanation(model_dir, e) for e in (None, "flow", "pooling")] == [
        "flow",
        "flow",
        "pooling",
    ]
    # int8: the flow reads the quantized output projection's weights
    int8 = Classifier.load(model_dir, device="cpu", int8=True)
    fp32 = Classifier.load(model_dir, device="cpu", precision="fp32")
    a = int8.predict(text)[0].top_tokens
    b = fp32.predict(text)[0].top_tokens
    assert [t["word"] for t in a][:2] == [t["word"] for t in b][:2]
    assert all(abs(x["weight"] - y["weight"]) < 0.02 for x, y in zip(a, b, strict=True))


def test_evaluate(model_dir: Path) -> None:
    clf = Classifier.load(model_dir)
    m = clf.evaluate(POS + NEG + NEU, ["positive"] * 3 + ["negative"] * 3 + ["neutral"] * 3)
    assert m["n"] == 9 and 0 <= m["accuracy"] <= 1 and 0 <= m["macro_f1"] <= 1
    assert sum(map(sum, m["confusion_matrix"])) == 9
    assert set(m["per_class"]) == {"negative", "neutral", "positive"}
    with pytest.raises(ValueError):
        clf.evaluate(["x"], ["bullish"])


def test_default_model_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, enc: TextEncoder
) -> None:
    model = tiny_model(enc)
    for v in ("clf-2026.11.25-2", "clf-2026.11.25-10", "clf-2026.11.24-1"):
        save_model_dir(tmp_path / v, model, enc, version=v, metrics={}, training_data=["x"])
    (tmp_path / "notes").mkdir()
    monkeypatch.setattr(P, "models_root", lambda: tmp_path)
    assert P.default_model_dir().name == "clf-2026.11.25-10"
    assert Classifier.load().version == "clf-2026.11.25-10"
    monkeypatch.setattr(P, "models_root", lambda: tmp_path / "none")
    with pytest.raises(ArtifactError):
        P.default_model_dir()


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    root = tmp_path / "data"
    (root / "phrasebank").mkdir(parents=True)
    (root / "twitter_fin").mkdir()
    (root / "fin_corpus").mkdir()
    lines = [
        f"{t} number {i} .@{lab}"
        for i in range(12)
        for lab, group in (("positive", POS), ("negative", NEG), ("neutral", NEU))
        for t in group
    ]
    lines += [lines[0], "Nokia's café sale ended .@neutral"]  # a duplicate; latin-1 text
    (root / "phrasebank" / "Sentences_50Agree.txt").write_bytes("\n".join(lines).encode("latin-1"))
    (root / "phrasebank" / "Sentences_AllAgree.txt").write_bytes(
        "\n".join(lines[:30]).encode("latin-1")
    )
    rows = ["text,label"] + [
        f'"$X {t}\nline two {i}",{code}'
        for i in range(12)
        for code, group in ((1, POS), (0, NEG), (2, NEU))
        for t in group
    ]
    (root / "twitter_fin" / "sent_train.csv").write_text("\n".join(rows) + "\n")
    rng = random.Random(0)
    with gzip.open(root / "fin_corpus" / "a.txt.gz", "wt") as f:
        for _ in range(400):
            f.write(" ".join(rng.choice(POS + NEG + NEU).split()[::-1]) + "\n")
    return root


def test_data_loaders_and_splits(data_dir: Path) -> None:
    pb = D.load_phrasebank(data_dir)
    assert len(pb) == 109 and any("café" in ex.text for ex in pb)  # duplicate dropped
    tw = D.load_twitter(data_dir)
    assert len(tw) == 108 and "\n" in tw[0].text and tw[0].label == "positive"
    splits = D.load_splits(data_dir)
    texts = {k: {D.normalize(ex.text) for ex in v} for k, v in splits.items()}
    assert not (texts["train"] & texts["val"]) and not (texts["train"] & texts["test"])
    assert sum(map(len, splits.values())) == len(pb) + len(tw)
    assert D.split_of("Profit rose") == D.split_of("  profit   ROSE ")
    sets = D.eval_sets(data_dir)
    assert {ex.text for ex in sets["phrasebank_allagree"]} <= {
        ex.text for ex in sets["phrasebank_50agree"]
    }
    assert len(list(D.stream_corpus(data_dir))) == 400
    sample = D.sample_corpus(data_dir, 50, sources=["a"])
    assert len(sample) == 50 and set(sample) <= set(D.stream_corpus(data_dir, sources=["a"]))
    with pytest.raises(
        ValueError, match=r"unknown fin_corpus sources \['tweets'\]; there are \['a'\]"
    ):
        D.sample_corpus(data_dir, 50, sources=["tweets"])


def test_twitter_sentences_can_weigh_more(data_dir: Path, tmp_path: Path) -> None:
    train = D.load_splits(data_dir)["train"]
    tweets = sum(ex.source == "twitter" for ex in train)
    args = tiny_args(tmp_path, data_dir, pretrain_minutes=0, epochs=1, twitter_repeat=3)
    metrics = json.loads((train_classifier(args) / "metrics.json").read_text())
    assert tweets > 0 and metrics["train_examples"] == len(train) + 2 * tweets


def test_train_on_val_runs_every_epoch_and_keeps_the_last(
    data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import focusdig.classifier.trainer as T

    splits = D.load_splits(data_dir)
    states: list[dict] = []

    def flat_validation(model, seqs, *a, **k):  # the same figure every epoch: never a gain
        states.append({n: v.detach().clone() for n, v in model.state_dict().items()})
        return np.tile([0.0, 1.0, 0.0], (len(seqs), 1))

    monkeypatch.setattr(T, "predict_logits", flat_validation)
    common = dict(pretrain_minutes=0, epochs=3, patience=1)
    early = train_classifier(tiny_args(tmp_path, data_dir, **common, version="early"))
    assert len(json.loads((early / "metrics.json").read_text())["validation"]["history"]) == 2
    states.clear()
    path = train_classifier(
        tiny_args(tmp_path, data_dir, **common, version="final", train_on_val=True)
    )
    metrics = json.loads((path / "metrics.json").read_text())
    assert metrics["train_examples"] == len(splits["train"]) + len(splits["val"])
    assert metrics["validation"]["validation_in_training"] is True
    assert len(metrics["validation"]["history"]) == 3 == len(states)  # no early stopping
    saved = load_file(str(path / "model.safetensors"))
    for name in ("encoder.tok_emb.weight", "head.4.weight"):  # the last epoch's weights
        assert torch.equal(saved[name].float(), states[-1][name].float())
        assert not torch.equal(saved[name].float(), states[0][name].float())
    card = (path / "MODEL_CARD.md").read_text()
    assert "validation splits of the sets above too" in card
    assert "only the test split is held out" in card and "(last epoch, on training data)" in card


def test_the_baseline_final_fit_adds_the_validation_texts() -> None:
    from focusdig.classifier.baseline import fit_baseline, linear_baseline

    train = [*POS[:2], *NEG[:2], *NEU[:2]]
    labels = ["positive"] * 2 + ["negative"] * 2 + ["neutral"] * 2
    val, val_labels = [POS[2], NEG[2], NEU[2]], ["positive", "negative", "neutral"]
    first, scores = fit_baseline(train, labels, val, val_labels, grid=(1.0, 30.0))
    final, again = fit_baseline(
        train, labels, val, val_labels, grid=(1.0, 30.0), refit_with_val=True
    )
    assert scores == again  # C is chosen as before, on validation
    best_c = max(scores, key=scores.get)
    assert final.named_steps["clf"].C == first.named_steps["clf"].C == best_c
    reference = linear_baseline(best_c).fit(train + val, labels + val_labels)
    probe = ["profit rose sharply", "the plant closed", "the meeting is on monday"]
    np.testing.assert_allclose(final.predict_proba(probe), reference.predict_proba(probe))
    assert not np.allclose(final.predict_proba(probe), first.predict_proba(probe))


def test_a_distilled_final_fit_labels_the_validation_texts_too(
    data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import focusdig.classifier.distill as distill

    splits = D.load_splits(data_dir)
    teacher = train_classifier(tiny_args(tmp_path, data_dir, pretrain_minutes=0, epochs=1))
    fits, real_fit = [], distill.fit_baseline

    def recording_fit(*args, **kwargs):
        fits.append(kwargs.get("refit_with_val", False))
        return real_fit(*args, **kwargs)

    monkeypatch.setattr(distill, "fit_baseline", recording_fit)
    folded, soft = distill.add_distillation(
        splits,
        str(data_dir),
        teachers=[str(teacher)],
        baseline=True,
        unlabeled_lines=0,
        unlabeled_sources=[],
        weight=0.5,
        label_smoothing=0.1,
        seed=0,
        log=lambda _: None,
        fold_val=True,
    )
    assert fits == [True]  # the baseline teacher is refit with the validation split too
    assert folded["train"] == splits["train"] + splits["val"]
    assert folded["val"] == splits["val"] and soft.shape == (len(folded["train"]), 3)
    gold = np.array([D.LABELS.index(e.label) for e in folded["train"]])
    # every row mixes its gold label with the teachers: none is the smoothed one-hot alone
    assert (soft[np.arange(len(gold)), gold] < 0.9 + 0.1 / 3 - 1e-6).all()


def test_a_sweep_refuses_final_fits(tmp_path: Path) -> None:
    from focusdig.classifier.sweep import run_sweep

    conf = {"pretrain": {}, "finetune": {"final": {"train_on_val": True}}}
    with pytest.raises(ValueError, match="chosen on the validation split"):
        run_sweep(conf, tmp_path, None, None)


def test_train_classifier_end_to_end(data_dir: Path, tmp_path: Path) -> None:
    args = tiny_args(
        tmp_path,
        data_dir,
        model={**TINY_TRAINING_MODEL, "max_len": 32},
        pretrain_minutes=0.02,
        pretrain_lines=400,
        checkpoint_minutes=0.001,
        epochs=2,
        version="clf-test-9",
    )
    path = train_classifier(args)
    assert path == tmp_path / "models" / "clf-test-9"
    metrics = json.loads((path / "metrics.json").read_text())
    assert metrics["pretraining"]["steps"] > 0 and len(metrics["validation"]["history"]) == 2
    assert "PhraseBank" in (path / "MODEL_CARD.md").read_text()
    assert Classifier.load(path).predict(["profit rose"])[0].label in (
        "negative",
        "neutral",
        "positive",
    )
    state = json.loads((tmp_path / "work" / "pretrain" / "state.json").read_text())
    args.resume, args.pretrain_minutes, args.version = True, 0.03, "clf-test-10"
    train_classifier(args)
    resumed = json.loads((tmp_path / "work" / "pretrain" / "state.json").read_text())
    assert resumed["step"] > state["step"]
    args.use_phrasebank = False  # a PhraseBank-built work dir must not be reused
    with pytest.raises(ValueError, match="work-dir"):
        train_classifier(args)
    args.work_dir, args.version, args.pretrain_minutes = str(tmp_path / "tw"), "clf-tw-1", 0.0
    args.drop_links = True
    path3 = train_classifier(args)
    assert "PhraseBank" not in (path3 / "config.json").read_text()
    assert "Web links" in (path3 / "MODEL_CARD.md").read_text()
    assert (
        Classifier.load(path3).encoder.drops_links and not Classifier.load(path).encoder.drops_links
    )


def _shipped() -> Path | None:
    try:
        return P.default_model_dir()
    except ArtifactError:
        return None


@pytest.mark.slow
@pytest.mark.skipif(_shipped() is None, reason="no shipped model under models/classifier")
def test_shipped_model_obvious_sentences() -> None:
    clf = Classifier.load()
    preds = clf.predict(
        ["Profit rose 50% to a record high", "The company filed for bankruptcy and cut 2,000 jobs"]
    )
    assert [p.label for p in preds] == ["positive", "negative"]
    assert preds[0].score > 0.3 and preds[1].score < -0.3
    assert any(
        t["word"].lower() in ("rose", "record", "high", "profit") for t in preds[0].top_tokens
    )


@pytest.mark.data
@pytest.mark.skipif(not os.environ.get("FOCUSDIG_DATA_DIR"), reason="FOCUSDIG_DATA_DIR not set")
def test_real_data_splits() -> None:
    sets = D.eval_sets()
    assert len(sets["phrasebank_50agree"]) > 300 and len(sets["twitter"]) > 800
    train = {D.normalize(ex.text) for ex in D.load_splits()["train"]}
    assert not any(D.normalize(ex.text) in train for v in sets.values() for ex in v)


def test_precision_choice_and_bf16_agrees_with_fp32(model_dir: Path) -> None:
    cpu = torch.device("cpu")
    assert autocast_dtype(cpu, "fp32") is None
    assert autocast_dtype(cpu, "bf16") is torch.bfloat16
    assert autocast_dtype(cpu, "auto") is (torch.bfloat16 if cpu_has_native_bf16() else None)
    with pytest.raises(ValueError, match="unknown precision"):
        Classifier.load(model_dir, precision="int4")
    texts = POS + NEG + NEU
    exact = Classifier.load(model_dir, precision="fp32").predict(texts)
    fast = Classifier.load(model_dir, precision="bf16").predict(texts)
    for a, b in zip(exact, fast, strict=True):
        assert max(abs(a.probs[k] - b.probs[k]) for k in a.probs) < 0.05
        assert a.top_tokens[0]["start"] >= 0 and b.top_tokens


def test_int8_classifier_quantizes_linear_layers_and_agrees_with_fp32(model_dir: Path) -> None:
    from torch.ao.nn.quantized.dynamic import Linear as DynamicQuantizedLinear

    texts = POS + NEG + NEU
    exact = Classifier.load(model_dir, device="cpu", precision="fp32")
    q = Classifier.load(model_dir, device="cpu", int8=True)
    assert q.int8 and q.autocast_dtype is None and "int8" in repr(q)
    layers = [m for m in q.model.modules() if isinstance(m, DynamicQuantizedLinear)]
    assert layers and not any(type(m) is torch.nn.Linear for m in q.model.modules())
    assert not any(isinstance(m, DynamicQuantizedLinear) for m in exact.model.modules())
    for a, b, text in zip(exact.predict(texts), q.predict(texts), texts, strict=True):
        assert max(abs(a.probs[k] - b.probs[k]) for k in a.probs) < 0.05
        _check_offsets(text, b)
    # auto (None): int8 on the CPU under precision "auto" only; the default stays float
    assert Classifier.load(model_dir, device="cpu", int8=None).int8
    assert not Classifier.load(model_dir, device="cpu", precision="fp32", int8=None).int8
    assert not Classifier.load(model_dir, device="cpu").int8
    with pytest.raises(ValueError, match="CPU only"):
        Classifier(exact.model, exact.encoder, exact.config, device="cuda", int8=True)


def test_electra_discriminator_learns_to_spot_replaced_tokens() -> None:
    from sklearn.metrics import roc_auc_score

    from focusdig.classifier.electra import ElectraConfig, ElectraPretrainer
    from focusdig.classifier.trainer import collate

    enc = tiny_encoder()
    torch.manual_seed(0)
    pre = ElectraPretrainer(tiny_model(enc), ElectraConfig(gen_layers=1, gen_d_ff=32))
    ids, am = collate(enc.ids_batch(POS + NEG + NEU, 32), enc.pad_id)
    real = am.bool() & (ids != enc.cls_id) & (ids != enc.sep_id)
    gen = torch.Generator().manual_seed(0)
    swap = (torch.rand(ids.shape, generator=gen) < 0.3) & real  # random tokens: clearly wrong
    corrupted = torch.where(swap, torch.randint(5, enc.vocab_size, ids.shape, generator=gen), ids)
    swapped = (corrupted != ids)[real].numpy()

    def detection_auc() -> float:
        pre.eval()
        with torch.no_grad():
            h = pre.disc.encoder(corrupted, am)
            p = pre.disc_head(h[real]).squeeze(-1).numpy()
        pre.train()
        return float(roc_auc_score(swapped, p))

    before = detection_auc()
    opt = torch.optim.AdamW(pre.parameters(), lr=3e-3)
    losses = []
    for _ in range(300):
        loss, stats = pre.loss(ids, am, gen)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(stats["gen"])
    assert sum(losses[-20:]) / 20 < sum(losses[:20]) / 20 - 1.0  # the generator learns
    after = detection_auc()
    assert after > 0.8 and after > before + 0.25, (before, after)


def test_sigterm_ends_fine_tuning_and_keeps_the_best_finished_epoch(
    data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os
    import signal

    from focusdig.classifier import trainer

    def log(message: str) -> None:  # a deadline arriving during the second epoch
        if message.startswith("epoch 1 "):
            os.kill(os.getpid(), signal.SIGTERM)

    monkeypatch.setattr(trainer, "log", log)
    before = signal.getsignal(signal.SIGTERM)
    args = tiny_args(
        tmp_path, data_dir, pretrain_minutes=0, epochs=4, patience=4, version="clf-stopped"
    )
    path = train_classifier(args, graceful_stop=True)
    result = json.loads((path / "metrics.json").read_text())["validation"]
    assert result["stopped_after_epoch"] == 1 and len(result["history"]) == 1
    assert result["best_val_macro_f1"] == result["history"][0]["val_macro_f1"]
    assert signal.getsignal(signal.SIGTERM) is before  # the handler is gone again

    batches = trainer.length_batches

    def stop_at_first_epoch(*a, **kw):  # stopped before any epoch has finished
        os.kill(os.getpid(), signal.SIGTERM)
        return batches(*a, **kw)

    monkeypatch.setattr(trainer, "length_batches", stop_at_first_epoch)
    args.version = "clf-stopped-2"
    with pytest.raises(RuntimeError, match="before its first epoch"):
        train_classifier(args, graceful_stop=True)
    assert not (tmp_path / "models" / "clf-stopped-2").exists()


def test_sweep_deadline_asks_jobs_to_stop_then_kills_those_that_do_not(tmp_path: Path) -> None:
    import sys
    import time

    from focusdig.classifier.sweep import _run_all

    child = (
        "import signal, sys, time\n"
        "if sys.argv[1] == 'graceful':\n"
        "    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))\n"
        "else:\n"
        "    signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "time.sleep(60)\n"
    )
    jobs = [
        (kind, [sys.executable, "-c", child, kind], tmp_path / f"{kind}.log")
        for kind in ("graceful", "stubborn")
    ]
    started = time.time()
    status = _run_all(jobs, parallel=2, deadline=started + 5, grace_s=1)
    assert status == {"graceful": 0, "stubborn": -9}
    assert time.time() - started < 30


def test_electra_pretraining_then_fine_tuning(data_dir: Path, tmp_path: Path) -> None:
    args = tiny_args(
        tmp_path,
        data_dir,
        objective="electra",
        electra={"gen_d_ff": 32},
        pretrain_minutes=0.02,
        pretrain_lines=400,
        epochs=1,
        version="clf-electra-1",
    )
    path = train_classifier(args)
    metrics = json.loads((path / "metrics.json").read_text())
    assert metrics["pretraining"]["objective"] == "electra"
    assert metrics["pretraining"]["tokens"] > 0

    disc = load_file(str(tmp_path / "work" / "pretrain" / "model.safetensors"))
    shipped = load_file(str(path / "model.safetensors"))
    assert any(k.startswith("generator.") for k in disc)  # the checkpoint holds both models
    assert not any(k.startswith(("generator.", "disc_head.")) for k in shipped)


def test_exported_electra_state_continues_pretraining(data_dir: Path, tmp_path: Path) -> None:

    from focusdig.classifier.trainer import export_pretrained, pretrain_only

    args = tiny_args(
        tmp_path,
        data_dir,
        work_dir=str(tmp_path / "a"),
        objective="electra",
        electra={"gen_d_ff": 32},
        pretrain_minutes=0.01,
        pretrain_lines=400,
    )
    saved = export_pretrained(pretrain_only(args), tmp_path / "export")
    exported = load_file(str(saved / "model.safetensors"))
    assert all(v.dtype == torch.float16 for v in exported.values())
    assert json.loads((saved / "state.json").read_text())["objective"] == "electra"
    # a new work dir continues from the export: generator included, not re-initialised
    args.work_dir, args.pretrain_init, args.pretrain_minutes = str(tmp_path / "b"), str(saved), 0.03
    args.seed = 7
    args.pretrain_warmup_steps = 10**6  # a near-zero rate: the weights move however many steps run
    continued = load_file(str(pretrain_only(args) / "model.safetensors"))
    name = "generator.blocks.0.attn.qkv.weight"
    assert torch.allclose(continued[name], exported[name].float(), atol=1e-2)
    before = json.loads((saved / "state.json").read_text())
    after = json.loads((tmp_path / "b" / "pretrain" / "state.json").read_text())
    assert after["step"] > before["step"] and after["tokens"] > before["tokens"]


def _append_linked_tweets(data_dir: Path) -> None:
    """Twelve training tweets that end in a t.co link."""
    with (data_dir / "twitter_fin" / "sent_train.csv").open("a") as f:
        f.writelines(f'"$X shares jump https://t.co/ab{i}c",1\n' for i in range(12))


def test_task_adaptive_pretraining_sees_only_link_free_training_texts(
    data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from focusdig.classifier import trainer
    from focusdig.classifier.trainer import PackedSequences, pretrain_only

    _append_linked_tweets(data_dir)

    def no_corpus(*_):
        raise AssertionError("pretrain_lines 0 must not read the corpus")

    monkeypatch.setattr(trainer, "heldout_texts", no_corpus)
    args = tiny_args(
        tmp_path,
        data_dir,
        work_dir=str(tmp_path / "tapt"),
        pretrain_minutes=0.01,
        pretrain_lines=0,  # no corpus lines: the labeled training texts alone
        drop_links=True,
    )
    ckpt = pretrain_only(args)
    enc = TextEncoder.from_file(ckpt / "tokenizer.json")
    assert enc.drops_links
    texts = [ex.text for ex in D.load_splits(str(data_dir))["train"]]
    assert any("https://" in t for t in texts)
    (cached,) = (tmp_path / "tapt").glob("pretrain_ids_0_*_nolinks.npz")
    seqs = PackedSequences.load(cached)
    unlinked = [re.sub(r"https://\S+", "", t) for t in texts]
    assert [seqs[i] for i in range(len(seqs))] == enc.ids_batch(unlinked, args.pretrain_max_len)


def test_sweep_corpus_is_tokenized_as_its_pretraining_runs_see_it(
    data_dir: Path, tmp_path: Path, enc: TextEncoder
) -> None:
    from focusdig.classifier.sweep import shared_corpus
    from focusdig.classifier.trainer import PackedSequences

    _append_linked_tweets(data_dir)
    (tmp_path / "init").mkdir()
    enc.save(tmp_path / "init" / "tokenizer.json")
    run = {"pretrain_init": str(tmp_path / "init"), "pretrain_minutes": 1.0}
    conf = {"pretrain": {"mlm": run}}
    base = {"data_dir": str(data_dir), "pretrain_lines": 0, "drop_links": True}
    cache = shared_corpus(conf, base, tmp_path / "corpus", str(data_dir))
    assert cache is not None and cache.name.endswith("_nolinks.npz")
    seqs = PackedSequences.load(cache)
    texts = [re.sub(r"https://\S+", "", ex.text) for ex in D.load_splits(str(data_dir))["train"]]
    assert [seqs[i] for i in range(len(seqs))] == drop_links(enc).ids_batch(texts, 128)
    run["pretrain_minutes"] = 0  # no pretraining run: nothing to tokenize
    assert shared_corpus(conf, base, tmp_path / "none", str(data_dir)) is None


def test_packed_batch_matches_collate() -> None:
    import numpy as np

    from focusdig.classifier.trainer import PackedSequences, collate

    rng = random.Random(3)
    seqs = [[rng.randrange(5, 99) for _ in range(rng.randrange(1, 12))] for _ in range(40)]
    lengths = np.array([0] + [len(s) for s in seqs])
    packed = PackedSequences(
        np.array([t for s in seqs for t in s], dtype=np.int32), np.cumsum(lengths)
    )
    rows = [7, 0, 39, 12, 12, 25]
    ids, mask = packed.batch(rows, pad_id=0)
    want_ids, want_mask = collate([seqs[i] for i in rows], pad_id=0)
    assert torch.equal(ids, want_ids) and torch.equal(mask, want_mask)
    assert ids.dtype == torch.long and mask.dtype == torch.long


def test_soups_average_seeds_and_greedy_never_loses(tmp_path: Path, enc: TextEncoder) -> None:

    from focusdig.classifier import load_model_dir
    from focusdig.classifier.sweep import _score, save_soup, soups

    dirs = [
        save_model_dir(
            tmp_path / f"s{seed}",
            tiny_model(enc, max_len=16, seed=seed),
            enc,
            version=f"s{seed}",
            metrics={},
            training_data=["synthetic"],
        )
        for seed in range(3)
    ]
    val = [
        D.Example(t, lab, "phrasebank")
        for lab, group in (("positive", POS), ("negative", NEG), ("neutral", NEU))
        for t in group
    ]
    mixes = soups(dirs, val, torch.device("cpu"))
    assert mixes["uniform"]["members"] == ["s0", "s1", "s2"]
    greedy = mixes["greedy"]
    singles = [soups([d], val, torch.device("cpu"))["greedy"]["val_macro_f1"] for d in dirs]
    assert greedy["members"] and greedy["val_macro_f1"] >= max(singles)
    soup = save_soup(dirs, ["s0", "s2"], tmp_path, "soup", {"soup_of": ["s0", "s2"]})
    name = "encoder.blocks.0.attn.qkv.weight"
    want = (
        load_file(str(dirs[0] / "model.safetensors"))[name]
        + load_file(str(dirs[2] / "model.safetensors"))[name]
    ) / 2
    assert torch.allclose(load_file(str(soup / "model.safetensors"))[name], want)
    assert P.Classifier.load(soup).predict(["sales rose"])[0].label in D.LABELS
    # the uniform figure is that of the averaged weights (scoring one member must not change
    # another's weights on the CPU, where the model is not copied to a device)
    everything = save_soup(dirs, ["s0", "s1", "s2"], tmp_path, "all", {})
    model, everything_enc, _ = load_model_dir(everything)
    uniform = {k: v for k, v in mixes["uniform"].items() if k != "members"}
    assert uniform == _score(model, everything_enc, val)


def test_soft_targets_mix_gold_and_teacher() -> None:
    examples = [
        D.Example("profit rose", "positive", "twitter"),
        D.Example("an unlabeled corpus line", "neutral", "corpus"),
        D.Example("A rose, B fell", "negative", "sentfin", targets=((7, 8),)),
    ]
    teacher = np.array([[0.2, 0.2, 0.6], [0.7, 0.2, 0.1], [0.0, 0.0, 0.0]], dtype=np.float32)
    has_teacher = np.array([True, True, False])
    got = soft_targets(examples, teacher, has_teacher, weight=0.5, label_smoothing=0.3)
    np.testing.assert_allclose(got[0], 0.5 * np.array([0.1, 0.1, 0.8]) + 0.5 * teacher[0])
    np.testing.assert_allclose(got[1], teacher[1])  # no gold label: the teacher alone
    np.testing.assert_allclose(got[2], [0.8, 0.1, 0.1])  # targeted: smoothed gold only
    np.testing.assert_allclose(got.sum(1), 1.0, rtol=1e-6)


def test_distilled_student_from_teacher_and_baseline(data_dir: Path, tmp_path: Path) -> None:
    common = dict(pretrain_minutes=0.0, epochs=2)
    teacher = train_classifier(tiny_args(tmp_path, data_dir, **common, version="teacher"))
    student = train_classifier(
        tiny_args(
            tmp_path,
            data_dir,
            **common,
            version="student",
            teachers=[str(teacher)],
            distill_lines=300,
            distill_sources=["a"],  # named: the keep rate then comes from the file's own size
            distill_weight=0.7,
        )
    )
    metrics = json.loads((student / "metrics.json").read_text())
    labeled = json.loads((teacher / "metrics.json").read_text())["train_examples"]
    assert labeled < metrics["train_examples"] <= labeled + 300  # minus known texts
    assert (
        "soft labels of 1 teacher model(s) + the linear baseline"
        " on 300 unlabeled fin_corpus lines (a)" in (student / "MODEL_CARD.md").read_text()
    )
    assert Classifier.load(student).predict(["profit rose"])[0].label in D.LABELS


def test_a_shallow_or_narrower_student_starts_from_the_teachers_blocks_and_trains(
    data_dir: Path, tmp_path: Path
) -> None:
    from focusdig.classifier.distill import prune_feedforward, shallow_student

    three = {**TINY_TRAINING_MODEL, "n_layers": 3}
    teacher_args = tiny_args(tmp_path, data_dir, pretrain_minutes=0.0, epochs=1, model=three)
    teacher = train_classifier(replace(teacher_args, version="teacher"))
    texts = ["profit rose sharply", "the plant closed after losses", "the meeting is on monday"]
    # all blocks in order: the teacher itself, to the bit
    whole, _, _ = shallow_student(teacher, [0, 1, 2])
    teacher_model = load_model_dir(teacher)[0]  # on the CPU, like the student
    ids, mask = collate([[2, 7, 8, 9, 3], [2, 10, 3]])
    with torch.no_grad():
        assert torch.equal(whole.eval()(ids, mask)[0], teacher_model(ids, mask)[0])
    student, _, config = shallow_student(teacher, [2, 0], dropout=0.3)
    assert config["version"] == "teacher" and student.config.n_layers == 2
    assert student.config.dropout == 0.3
    for mine, theirs in ((0, 2), (1, 0)):
        for a, b in zip(
            student.encoder.blocks[mine].parameters(),
            teacher_model.encoder.blocks[theirs].parameters(),
            strict=True,
        ):
            assert torch.equal(a, b.float())
    for bad in ([], [0, 0], [3]):
        with pytest.raises(ValueError, match="distinct blocks of 0..2"):
            shallow_student(teacher, bad)
    student_args = replace(
        teacher_args,
        version="student",
        model={"dropout": 0.1},
        student_of=str(teacher),
        student_layers=[0, 2],
        teachers=[str(teacher)],
        teacher_baseline=False,
        pretrain_minutes=0.05,  # a student is never pretrained
    )
    path = train_classifier(student_args)
    assert not (Path(teacher_args.work_dir) / "pretrain").exists()
    card = (path / "MODEL_CARD.md").read_text()
    assert "started from blocks [0, 2] of teacher" in card
    clf = Classifier.load(path, device="cpu")
    assert clf.model.config.n_layers == 2 and clf.model.config.d_model == 32
    assert [p.label in D.LABELS for p in clf.predict(texts)] == [True] * 3
    # at learning rate 0 the saved student is exactly the chosen teacher blocks
    still = load_model_dir(train_classifier(replace(student_args, version="still", lr=0.0)))[0]
    for mine, theirs in ((0, 0), (1, 2)):
        assert torch.equal(
            torch.cat([x.flatten() for x in still.encoder.blocks[mine].parameters()]),
            torch.cat([x.flatten() for x in teacher_model.encoder.blocks[theirs].parameters()]),
        )
    for bad, match in (
        (dict(student_of=str(teacher)), "only model.dropout"),
        (dict(model={}, student_of=str(teacher), init_from=str(teacher)), "not with other inits"),
        (dict(model={}), "needs student_of"),
    ):
        with pytest.raises(ValueError, match=match):
            train_classifier(replace(teacher_args, student_layers=[0], **bad))
    # narrower: each chosen block keeps the 16 feed-forward units that carry the most
    for bad in (64, 0, 16.0, True):
        with pytest.raises(ValueError, match="a whole number 1..63 needed"):
            shallow_student(teacher, [0], d_ff=bad)
    narrow_args = replace(
        student_args, version="narrow", model={"d_ff": 16}, student_layers=[2, 0], lr=0.0
    )
    path = train_classifier(narrow_args)
    assert (
        "started from blocks [2, 0] of teacher, feed-forward pruned to 16 units"
        in (path / "MODEL_CARD.md").read_text()
    )
    narrow = load_model_dir(path)[0]
    assert narrow.config.d_ff == 16 and narrow.config.n_layers == 2
    fresh = load_model_dir(teacher)[0]  # teacher_model stays unpruned
    for mine, theirs in ((0, 2), (1, 0)):  # each block of the student: its teacher block, pruned
        expected = fresh.encoder.blocks[theirs]
        prune_feedforward(expected.ff, 16)
        for a, b in zip(
            narrow.encoder.blocks[mine].parameters(), expected.parameters(), strict=True
        ):
            assert torch.equal(a, b.float())
    with pytest.raises(ValueError, match="a narrower model.d_ff"):
        train_classifier(replace(narrow_args, model={"d_model": 16}))


def test_pruning_keeps_the_feedforward_units_that_carry_the_most() -> None:
    from focusdig.classifier.distill import prune_feedforward
    from focusdig.classifier.model import FeedForward

    torch.manual_seed(0)
    ff = FeedForward(ClassifierConfig(d_model=8, d_ff=6)).eval()
    with torch.no_grad():
        ff.proj.weight[:, [1, 4]] = 0.0  # two units that never reach the output
        # and one that carries the most only by both norms together: large in, small out
        ff.fc.weight[3] *= 30.0
        ff.proj.weight[:, 3] *= 0.1
    x = torch.randn(5, 8)
    with torch.no_grad():
        before = ff(x)
        kept = ff.fc.weight[[0, 2, 3, 5]].clone()
        prune_feedforward(ff, 4)
        assert ff.fc.out_features == 4 and ff.proj.in_features == 4
        assert torch.equal(ff.fc.weight, kept)  # the live units, in their order
        assert torch.allclose(ff(x), before, atol=1e-6)  # the dead ones carried nothing
        prune_feedforward(ff, 1)
        assert torch.equal(ff.fc.weight, kept[2:3])  # the one with the largest product


def test_word_vectors_are_deterministic_rescaled_and_cover_the_corpus():
    from focusdig.classifier.wordvectors import EMBEDDING_STD, train_word_vectors

    enc = tiny_encoder()
    texts = (POS + NEG + NEU) * 10
    vectors, found = train_word_vectors(enc, texts, 16, epochs=2, seed=3)
    again, found_again = train_word_vectors(enc, texts, 16, epochs=2, seed=3)
    assert torch.equal(vectors, again) and torch.equal(found, found_again)
    seen = {i for e in enc.encode_batch(texts) for i in e.ids}
    assert set(found.nonzero()[:, 0].tolist()) == seen  # every token seen twice or more
    assert not vectors[~found].any()
    assert abs(float(vectors[found].std()) - EMBEDDING_STD) < 1e-4
    with pytest.raises(ValueError, match="no text"):
        train_word_vectors(enc, [], 16)


def test_embedding_init_sets_the_rows_with_vectors_and_refuses_a_mismatch(tmp_path):
    from focusdig.classifier.wordvectors import init_embeddings, save_vectors

    vectors, found = torch.randn(10, 4), torch.tensor([True, False] * 5)
    save_vectors(tmp_path / "v.safetensors", vectors, found, {})
    embedding = torch.nn.Embedding(10, 4)
    before = embedding.weight.detach().clone()
    assert init_embeddings(embedding, tmp_path / "v.safetensors") == 5
    assert torch.equal(embedding.weight[found], vectors[found])
    assert torch.equal(embedding.weight[~found], before[~found])
    with pytest.raises(ValueError, match="do not fit the embeddings"):
        init_embeddings(torch.nn.Embedding(10, 8), tmp_path / "v.safetensors")


def test_trainer_starts_a_new_model_from_the_word_vectors(tmp_path, data_dir):
    from focusdig.classifier.wordvectors import save_vectors, train_word_vectors

    args = tiny_args(tmp_path, data_dir, pretrain_minutes=0, epochs=1, lr=0.0, version="wv")
    get_tokenizer(args, [ex.text for ex in D.load_splits(data_dir)["train"]])  # -> work dir
    enc = TextEncoder.from_file(tmp_path / "work" / "tokenizer.json")
    vectors, found = train_word_vectors(enc, (POS + NEG + NEU) * 10, 32, epochs=1)
    save_vectors(tmp_path / "v.safetensors", vectors, found, {})
    path = train_classifier(replace(args, embedding_init=str(tmp_path / "v.safetensors")))
    weights = load_file(str(path / "model.safetensors"))["encoder.tok_emb.weight"].float()
    torch.testing.assert_close(weights[found], vectors[found], atol=1e-4, rtol=1e-2)  # lr 0
    with pytest.raises(ValueError, match="embedding_init starts a new model"):
        train_classifier(
            replace(args, embedding_init=str(tmp_path / "v.safetensors"), init_from=str(path))
        )
