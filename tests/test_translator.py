"""Translator: tiny model overfit on a handful of pairs, decoding, artifacts, alignment."""

from __future__ import annotations

import copy
import json
import math
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import overfit_translator, write_translator_data_dir

from focusdig.classifier.artifacts import ArtifactError
from focusdig.translator import Translator
from focusdig.translator.artifacts import (
    _model_card,
    default_models_root,
    load_model_dir,
    save_model_dir,
)
from focusdig.translator.data import Pair, load_pairs, split_pairs
from focusdig.translator.generate import beam_search, block_repeated_ngrams, greedy_search
from focusdig.translator.model import TranslatorConfig
from focusdig.translator.sentencizer import (
    french_tokenizer_bytes,
    french_tokenizer_file,
    sentencizer,
)
from focusdig.translator.tokenizer import SubwordTokenizer
from focusdig.translator.trainer import TrainingArguments, _earlier_training, train_translator
from focusdig.translator.translate import split_sentences

PAIRS = [
    ("fr", "Le marché est en hausse.", "The market is up."),
    ("fr", "La banque centrale baisse ses taux.", "The central bank cuts its rates."),
    ("de", "Die Aktie fällt stark.", "The share falls sharply."),
    ("de", "Der Gewinn steigt.", "Profit rises."),
    ("zh", "油价下跌。", "Oil prices fall."),
    ("zh", "央行降息。", "The central bank cuts rates."),
]


def _overfit(steps: int = 300) -> Translator:
    return overfit_translator([Pair(s, e, lang, "tatoeba") for lang, s, e in PAIRS], steps=steps)


@pytest.fixture(scope="module")
def tr() -> Translator:
    torch.set_num_threads(1)
    return _overfit()


def _src_batch(tr: Translator):
    rows = [
        [tr.tokenizer.lang_id(lang), *ids, tr.model.config.eos_id]
        for (lang, _, _), ids in zip(
            PAIRS, tr.tokenizer.encode_batch([s for _, s, _ in PAIRS]), strict=True
        )
    ]
    src = torch.full((len(rows), max(map(len, rows))), tr.model.config.pad_id)
    for i, r in enumerate(rows):
        src[i, : len(r)] = torch.tensor(r)
    return src, torch.full((len(rows),), 40)


def test_overfits_greedy(tr):
    out = tr.translate([s for _, s, _ in PAIRS], src_lang=[lang for lang, _, _ in PAIRS])
    assert [t.text for t in out] == [e for _, _, e in PAIRS]
    assert [t.source_language for t in out] == [lang for lang, _, _ in PAIRS]


def test_beam_scores_at_least_greedy(tr):
    src, caps = _src_batch(tr)
    greedy = greedy_search(tr.model, src, caps)
    beam = beam_search(tr.model, src, caps, beam_size=4, length_penalty=0.0)
    for g, b in zip(greedy, beam, strict=True):
        assert b.score >= g.score - 1e-5
    beam1 = beam_search(tr.model, src, caps, beam_size=1, length_penalty=0.0)
    assert [h.ids for h in beam1] == [h.ids for h in greedy]
    out = tr.translate(
        [s for _, s, _ in PAIRS], src_lang=[lang for lang, _, _ in PAIRS], beam_size=4
    )
    assert [t.text for t in out] == [e for _, _, e in PAIRS]


def test_beam_search_drops_finished_sources(tr, monkeypatch):
    """A source whose search is over costs no decoder rows, and each source's result is the
    one it gets alone."""
    src, caps = _src_batch(tr)
    caps[0] = 2  # source 0 must end at its second token: its search is over early
    alone = [
        beam_search(tr.model, src[i : i + 1], caps[i : i + 1], beam_size=3)[0]
        for i in range(len(src))
    ]
    rows = []
    decode_step = tr.model.decode_step

    def counting(tok, *args, **kwargs):
        rows.append(tok.size(0))
        return decode_step(tok, *args, **kwargs)

    monkeypatch.setattr(tr.model, "decode_step", counting)
    batch = beam_search(tr.model, src, caps, beam_size=3)
    assert [h.ids for h in batch] == [h.ids for h in alone]
    for x, y in zip(batch, alone, strict=True):
        assert abs(x.score - y.score) < 1e-4
    assert rows[0] == 3 * len(src) and rows[-1] < rows[0]  # rows leave as sources end
    assert max(rows[2:]) <= 3 * (len(src) - 1)  # source 0 is gone after its second token


def test_cached_equals_uncached(tr):
    src, caps = _src_batch(tr)
    for search in (greedy_search, beam_search):
        a = search(tr.model, src, caps, use_cache=True, need_weights=True)
        b = search(tr.model, src, caps, use_cache=False, need_weights=True)
        assert [h.ids for h in a] == [h.ids for h in b]
        for x, y in zip(a, b, strict=True):
            assert abs(x.score - y.score) < 1e-4
            assert torch.allclose(x.attention, y.attention, atol=1e-5)


def test_save_load_roundtrip_and_tamper(tr, tmp_path):
    path = save_model_dir(
        tmp_path / "mt-test",
        tr.model,
        tr.tokenizer,
        version="mt-test",
        metrics={"test": {}},
        training_data=["fixture pairs"],
    )
    loaded = Translator.load(path, device="cpu")
    assert loaded.version == "mt-test"
    assert loaded.languages == ["de", "fr", "zh"]
    srcs, langs = [s for _, s, _ in PAIRS], [lang for lang, _, _ in PAIRS]
    assert [t.text for t in loaded.translate(srcs, langs)] == [
        t.text for t in tr.translate(srcs, langs)
    ]
    assert (path / "MODEL_CARD.md").read_text().count("tatoeba.org") == 1
    weights = path / "model.safetensors"
    blob = bytearray(weights.read_bytes())
    blob[-1] ^= 0xFF
    weights.write_bytes(bytes(blob))
    with pytest.raises(ArtifactError, match="sha256"):
        Translator.load(path)


def test_alignment_offsets_valid(tr):
    srcs = ["Le marché est en hausse. Der Gewinn steigt.", "油价下跌。央行降息。"]
    for t, src in zip(tr.translate(srcs, src_lang=["fr", "zh"]), srcs, strict=True):
        assert t.alignment
        for a in t.alignment:
            assert 0 <= a["src_start"] < a["src_end"] <= len(src)
            assert 0 <= a["tgt_start"] < a["tgt_end"] <= len(t.text)
            assert 0.0 <= a["weight"] <= 1.0
            assert t.text[a["tgt_start"] : a["tgt_end"]].strip()
    zh = tr.translate(["油价下跌。"], src_lang="zh")[0]
    assert zh.text == "Oil prices fall."
    assert {(a["tgt_start"], a["tgt_end"]) for a in zh.alignment} >= {(0, 3), (4, 10)}


def test_empty_and_long_inputs(tr):
    rng = random.Random(0)
    words = [w for _, s, _ in PAIRS[:4] for w in s.split()]
    no_punct = " ".join(rng.choice(words) for _ in range(600))  # > max_len tokens, one sentence
    many = " ".join(s for _, s, _ in PAIRS[:2]) * 40
    out = tr.translate(["", "   ", no_punct, many, "。。。", "!!!"], src_lang="fr")
    assert out[0].text == "" and out[0].alignment == []
    assert out[1].text == ""
    assert out[2].text and out[3].text
    for t, src in zip(out[2:4], (no_punct, many), strict=True):
        assert all(a["src_end"] <= len(src) and a["tgt_end"] <= len(t.text) for a in t.alignment)


def test_english_passthrough(tr):
    text = "Shares of Apple rose 3% after earnings beat estimates."
    out = tr.translate([text, text], src_lang=["en", "en-US"])
    assert [t.text for t in out] == [text, text]
    assert out[0].source_language == "en" and out[0].alignment == []
    detected = tr.translate([text, "", "Le marché est en hausse."])
    assert detected[0].text == text and detected[0].source_language == "en"
    assert detected[1].text == "" and detected[1].source_language == "und"
    assert detected[2].source_language == "fr" and detected[2].text == "The market is up."
    mixed = tr.translate(["Der Gewinn steigt.", text], src_lang=["de", None])
    assert [t.text for t in mixed] == ["Profit rises.", text]
    with pytest.raises(ValueError, match="unsupported"):
        tr.translate(["Hola"], src_lang="es")


def test_split_sentences():
    assert split_sentences("油价下跌。央行降息！好", "zh") == [(0, 5), (5, 10), (10, 11)]
    text = "Le CAC 40 a gagné 1.5 %. Bonne nouvelle !\nFin"
    assert [text[s:e] for s, e in split_sentences(text, "fr")] == [
        "Le CAC 40 a gagné 1.5 %.",
        "Bonne nouvelle !",
        "Fin",
    ]
    assert split_sentences("  ", "de") == []


def test_the_shipped_french_tokenizer_is_spacys_without_its_token_match():
    import spacy

    shipped = french_tokenizer_file(spacy.__version__)
    assert shipped.exists(), "run `python -m focusdig.translator.sentencizer` for this spaCy"
    assert shipped.read_bytes() == french_tokenizer_bytes()


FRENCH = [
    "Le porte-monnaie est vide. L'arc-en-ciel brille ! Vient-il ? Oui.",
    "M. Dupont et Mme. Martin (av. J.-C.) ont dit : « non. » Puis ils sont partis.",
    "Le CAC 40 a gagné 1.5 %... Les sous-marins, etc. Voir https://example.fr/a.b. Fin",
    "Après-demain. Grand-mère. Aujourd'hui, l'entr'acte ; c.-à-d. pas-à-pas. Saint-Étienne.",
    "Il est 10 h. -Non. Pourquoi-pas? Les anti-inflammatoires. 3e trimestre. T-shirt.",
    "Ex-PDG. Néo-libéral. Ultra-rapide. Demi-heure. S'il-vous-plaît. Peut-être !?! Bon.",
]


def test_french_sentences_are_those_of_spacy_french():
    import spacy

    french = spacy.blank("fr")
    french.add_pipe("sentencizer")
    feed = (Path(__file__).parent.parent / "focusdig/samples/fr_news.xml").read_text("utf-8")
    for text in [*FRENCH, feed]:
        expected = [(s.start_char, s.end_char) for s in french(text).sents]
        assert [(s.start_char, s.end_char) for s in sentencizer("fr")(text).sents] == expected
        assert len(expected) > 1


def test_french_sentences_do_not_import_spacy_french():
    probe = (
        "import sys\n"
        "from focusdig.translator.translate import split_sentences\n"
        "spans = split_sentences('Bonjour M. Dupont. Au revoir.', 'fr')\n"
        "print(spans, 'spacy.lang.fr' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[(0, 18), (19, 29)] False"


def test_trainer_smoke_and_resume(tmp_path):
    write_translator_data_dir(tmp_path / "data", PAIRS)
    common = dict(
        out_dir=str(tmp_path / "models"),
        work_dir=str(tmp_path / "work"),
        data_dir=str(tmp_path / "data"),
        version="mt-smoke",
        num_threads=1,
        vocab_size=300,
        max_tokens=400,
        eval_every=5,
        eval_bleu_per_lang=3,
        checkpoint_minutes=0.0,
        max_test=4,
        max_valid=4,
        log_every=5,
        model={
            "d_model": 32,
            "n_heads": 2,
            "n_enc_layers": 1,
            "n_dec_layers": 1,
            "d_ff": 64,
            "max_len": 64,
        },
    )
    train_translator(TrainingArguments(max_steps=6, **common))
    path = train_translator(TrainingArguments(max_steps=10, resume=True, **common))
    loaded = Translator.load(path)
    assert loaded.version == "mt-smoke"
    assert set(loaded.config["languages"]) == {"zh", "fr", "de"}
    assert '"steps": 10' in (path / "metrics.json").read_text()
    assert len(loaded.translate(["Le marché est en hausse."], src_lang="fr")) == 1

    # continued training from the model directory: its tokenizer and weights, a new line entry,
    # more dropout if asked (a shape change is refused)
    more = {**common, "work_dir": str(tmp_path / "work2"), "version": "mt-more"}
    with pytest.raises(ValueError, match="keeps its shape"):
        train_translator(
            TrainingArguments(max_steps=0, init_from=str(path), **{**more, "model": {"d_ff": 32}})
        )
    continued = train_translator(
        TrainingArguments(max_steps=0, init_from=str(path), **{**more, "model": {"dropout": 0.2}})
    )
    before, after = load_model_dir(path), load_model_dir(continued)
    assert after[1].vocab_size == before[1].vocab_size
    assert (before[0].config.dropout, after[0].config.dropout) == (0.05, 0.2)
    for name, weight in before[0].state_dict().items():  # no step: the same weights
        torch.testing.assert_close(after[0].state_dict()[name], weight)
    training = json.loads((continued / "metrics.json").read_text())["training"]
    assert training["init_from"] == "mt-smoke" and training["steps"] == 0
    assert training["total_minutes"] >= training["minutes"]
    assert "continuing `mt-smoke`" in (continued / "MODEL_CARD.md").read_text()


def test_training_minutes_are_counted_per_device(tmp_path):
    def line(training: dict, minutes: float, device: str) -> dict:
        (tmp_path / "metrics.json").write_text(json.dumps({"training": training}))
        return _earlier_training(str(tmp_path), minutes, device)

    scratch_gpu, scratch_cpu = {"minutes": 3.0, "device": "cuda"}, {"minutes": 3.0}
    assert line(scratch_gpu, 2.0, "cpu") == {
        "init_from": tmp_path.name,
        "total_minutes": 2.0,
        "total_gpu_minutes": 3.0,
    }
    assert line(scratch_cpu, 2.0, "cpu") == {"init_from": tmp_path.name, "total_minutes": 5.0}
    continued = {"minutes": 1.0, "total_minutes": 10.0, "total_gpu_minutes": 4.5}
    assert line(continued, 2.0, "cpu")["total_gpu_minutes"] == 4.5  # kept by a CPU run
    assert line(continued, 2.0, "cuda") == {
        "init_from": tmp_path.name,
        "total_minutes": 10.0,
        "total_gpu_minutes": 6.5,
    }
    config = {"version": "mt-x", "languages": ["de"], "model": TranslatorConfig().to_dict()}
    config |= {"num_params": 1, "training_data": []}
    training = {"steps": 9, "minutes": 2.0, "device": "cuda", **line(continued, 2.0, "cuda")}
    assert (
        "Trained for 10.0 min on a CPU and 6.5 min on a GPU (the last 2.0 min on a GPU, 9 steps"
        in _model_card(config, {"test": {}, "training": training})
    )


def test_trainer_extends_from_the_stable_checkpoint(tmp_path, monkeypatch):
    import types

    from focusdig.translator import trainer

    clock = iter(1000.0 + 0.01 * i for i in range(10**7))  # 10 ms per reading, on any machine
    monkeypatch.setattr(trainer, "time", types.SimpleNamespace(time=lambda: next(clock)))
    write_translator_data_dir(tmp_path / "data", PAIRS)
    work = tmp_path / "work"
    common = dict(
        out_dir=str(tmp_path / "models"),
        work_dir=str(work),
        data_dir=str(tmp_path / "data"),
        num_threads=1,
        vocab_size=300,
        max_tokens=400,
        eval_every=10**6,
        eval_bleu_per_lang=2,
        checkpoint_minutes=10.0,
        max_test=4,
        max_valid=4,
        cooldown_fraction=0.5,
        model={"d_model": 16, "n_heads": 2, "n_enc_layers": 1, "n_dec_layers": 1, "d_ff": 32},
    )
    with pytest.raises(ValueError, match="no .*stable"):
        train_translator(TrainingArguments(minutes=0.03, extend=True, version="mt-x", **common))
    train_translator(TrainingArguments(minutes=0.03, version="mt-a", **common))
    stable = json.loads((work / "stable" / "state.json").read_text())
    first = json.loads((work / "state.json").read_text())
    assert 0 < stable["step"] < first["step"]  # saved where the cool-down began
    assert 0.9 <= stable["elapsed"] < first["elapsed"]
    with pytest.raises(ValueError, match="budget over"):  # would cool down before that point
        train_translator(TrainingArguments(minutes=0.03, extend=True, version="mt-x", **common))

    # an extension stopped before its cool-down: resumable at once, not extendable again
    short = stable["step"] + 2
    longer = dict(minutes=0.06, version="mt-b", **common)
    train_translator(TrainingArguments(extend=True, max_steps=short, **longer))
    cooled = work / f"cooled-{first['step']:07d}"
    assert json.loads((cooled / "state.json").read_text())["step"] == first["step"]
    assert (cooled / f"ckpt-{first['step']:07d}.safetensors").is_file()
    assert all(int(p.stem[5:]) > stable["step"] - 1 for p in work.glob("ckpt-*.safetensors"))
    with pytest.raises(ValueError, match="--resume"):
        train_translator(TrainingArguments(extend=True, **longer))
    path = train_translator(TrainingArguments(resume=True, **longer))
    second = json.loads((work / "state.json").read_text())
    assert second["version"] == "mt-b" and second["step"] > short
    again = json.loads((work / "stable" / "state.json").read_text())
    assert again["version"] == "mt-b" and again["elapsed"] >= 1.8  # the new cool-down's start
    assert Translator.load(path).version == "mt-b"


def test_shipped_model_translates_french():
    root = default_models_root()
    if not root.is_dir() or not any((d / "manifest.json").is_file() for d in root.iterdir()):
        pytest.skip("no shipped translator under models/translator/")
    tr = Translator.load(num_threads=1)
    out = tr.translate(["Le marché est en hausse."], src_lang="fr")[0]
    assert out.text.strip() and out.source_language == "fr"


@pytest.mark.data
def test_real_data_split_is_disjoint():
    if not os.environ.get("FOCUSDIG_DATA_DIR"):
        pytest.skip("FOCUSDIG_DATA_DIR is not set")
    splits = split_pairs(load_pairs(None))
    train_src = {p.src for p in splits["train"]}
    assert not train_src & {p.src for p in splits["test"]}
    assert not train_src & {p.src for p in splits["valid"]}
    assert all(len(p.en.split()) >= 4 for p in splits["test"])
    assert {p.lang for p in splits["test"]} == {"zh", "fr", "de"}


def test_bf16_decoding_matches_fp32(tr):
    texts, langs = [s for _, s, _ in PAIRS], [lang for lang, _, _ in PAIRS]
    chosen = tr.autocast_dtype
    try:
        outputs = []
        for dtype in (None, torch.bfloat16):
            tr.autocast_dtype = dtype
            outputs.append([t.text for t in tr.translate(texts, src_lang=langs)])
    finally:
        tr.autocast_dtype = chosen
    assert outputs[0] == outputs[1] == [e for _, _, e in PAIRS]


def test_block_repeated_ngrams():
    logp = torch.zeros(2, 8)
    tokens = torch.tensor([[1, 5, 6, 5], [1, 2, 3, 4]])
    blocked = block_repeated_ngrams(logp, tokens, 2)
    assert torch.isinf(blocked[0, 6]) and torch.isfinite(blocked[0]).sum() == 7
    assert torch.isfinite(blocked[1]).all()  # 4 never came before
    assert torch.equal(block_repeated_ngrams(logp, tokens, 0), logp)
    assert torch.equal(block_repeated_ngrams(logp, tokens[:, :1], 3), logp)


def test_decoding_never_repeats_a_blocked_ngram(tr):
    looping = copy.deepcopy(tr.model)  # its output no longer depends on the input: it loops
    with torch.no_grad():
        looping.dec_ln.weight.zero_()
        looping.dec_ln.bias.copy_(looping.embed.weight[7] * 10)
    src, caps = _src_batch(tr)

    def repeats(hyps) -> int:
        seqs = [[tr.model.config.bos_id, *h.ids] for h in hyps]
        return sum(len(s) - 1 - len(set(zip(s, s[1:], strict=False))) for s in seqs)

    assert repeats(greedy_search(looping, src, caps)) > 0
    assert repeats(greedy_search(looping, src, caps, no_repeat_ngram_size=2)) == 0
    beam = beam_search(looping, src, caps, beam_size=3, no_repeat_ngram_size=2)
    assert repeats(beam) == 0


def test_public_api_names():
    import focusdig

    assert focusdig.Translator is Translator
    from focusdig import Classifier

    assert Classifier.__name__ == "Classifier"
    with pytest.raises(AttributeError):
        focusdig.NoSuchThing  # noqa: B018


def test_decoding_drops_nul_bytes():
    tokenizer = SubwordTokenizer.train(["Profits rose.", "公司利润大幅增长。"] * 5, ["zh"], 300)
    nul, p = tokenizer._bytes.index(b"\x00"), tokenizer._bytes.index(b"P")
    text, spans = tokenizer.decode_with_spans([p, nul, p])
    assert text == "PP" and spans == [(0, 1), (1, 1), (1, 2)]


def _article(lang: str, n: int, seed: int) -> tuple[str, list[tuple[int, int]], str, list]:
    """n of the language's memorised sentences in a seeded order, some split by blank lines:
    the text, each sentence's span, the expected English and each English sentence's span."""
    rng = random.Random(seed)
    pairs = [(s, e) for pair_lang, s, e in PAIRS if pair_lang == lang]
    joiner = "" if lang == "zh" else " "
    text, english, src_spans, en_spans = "", "", [], []
    for k in range(n):
        src, en = rng.choice(pairs)
        breaks = k and k % 4 == 0
        text += ("\n\n" if breaks else joiner) if k else ""
        english += ("\n\n" if breaks else " ") if k else ""
        src_spans.append((len(text), len(text) + len(src)))
        en_spans.append((len(english), len(english) + len(en)))
        text += src
        english += en
    return text, src_spans, english, en_spans


@pytest.mark.parametrize("lang", ["zh", "fr", "de"])
def test_whole_articles_keep_every_sentence_with_offsets_into_the_whole_text(tr, lang):
    text, src_spans, english, en_spans = _article(lang, 12, seed=len(lang))
    [out] = tr.translate([text], src_lang=lang, batch_size=5)
    assert out.text == english  # every sentence, in order, paragraph breaks kept
    assert len(out.alignment) >= len(english.split())
    for a in out.alignment:
        [k] = [k for k, (s, e) in enumerate(en_spans) if s <= a["tgt_start"] < e]
        assert en_spans[k][0] <= a["tgt_start"] < a["tgt_end"] <= en_spans[k][1]
        assert src_spans[k][0] <= a["src_start"] < a["src_end"] <= src_spans[k][1]


def test_overlong_sentences_are_cut_not_dropped(tiny_translator):
    small = Translator.load(tiny_translator, device="cpu")
    window = small.max_src_tokens
    rng = random.Random(1)
    words = ["Gewinn", "Umsatz", "Aktie", "Zinsen", "Bank", "Markt", "steigt", "fällt", "stark"]
    texts = {  # each overlong sentence after a short one: offsets into the whole text
        "de": "Die Aktie fiel. "
        + " ".join(rng.choice(words) for _ in range(300))
        + ", Die Aktie fiel stark.",
        "fr": "Le marché est en hausse. " + "Les bénéfices, " * 60 + "ont augmenté.",
        "zh": "油价下跌。" + "公司利润大幅增长" * 40 + "。油价下跌。",
        "fr-one-word": "Oui. " + "x" * 400,
    }
    for key, text in texts.items():
        lang = key[:2]
        pieces = small._pieces(text, lang)
        assert len(pieces) > 1
        assert all(e0 <= s1 for (_, e0), (s1, _) in zip(pieces, pieces[1:], strict=False))
        covered = "".join(text[s:e] for s, e in pieces)
        assert "".join(covered.split()) == "".join(text.split())  # nothing left out
        counts = [len(ids) for ids in small.tokenizer.encode_batch([text[s:e] for s, e in pieces])]
        assert max(counts) <= window
        if key != "fr-one-word":  # cut between words / characters, never inside a word
            assert all(text[s:e] == text[s:e].strip() for s, e in pieces)
            assert all(s == 0 or not text[s - 1].isalnum() or lang == "zh" for s, _ in pieces)
        [out] = small.translate([text], src_lang=lang)
        for a in out.alignment:
            assert 0 <= a["src_start"] < a["src_end"] <= len(text)
            assert 0 <= a["tgt_start"] < a["tgt_end"] <= len(out.text)
        assert out.confidence is not None and 0.0 < out.confidence <= 1.0


def test_confidence_in_unit_interval_deterministic_and_lower_for_garbage(tr):
    memorised = "Le marché est en hausse."
    garbage = "Zqx vbrt ümlk pfft 77 qqq wzz."
    first = tr.translate(
        [memorised, garbage, "", "Shares rose."], src_lang=["fr", "fr", "fr", "en"]
    )
    again = tr.translate([memorised, garbage], src_lang="fr")
    assert [t.confidence for t in first[:2]] == [t.confidence for t in again]
    high, low = first[0].confidence, first[1].confidence
    assert 0.0 <= low < high <= 1.0
    # an overfit model recites a memorised sentence for garbage too, but less surely: its mean
    # negative log-probability per token is many times higher
    assert high > 0.99 and math.log(low) < 5 * math.log(high)
    assert first[2].confidence is None and first[3].confidence is None  # nothing translated
    both = tr.translate([f"{memorised} {garbage}"], src_lang="fr")[0].confidence
    assert low < both < high  # a length-weighted mean over the sentences


def test_batched_decoding_with_compaction_equals_one_at_a_time(tr):
    texts = [s for _, s, _ in PAIRS] + [
        "Zqx vbrt ümlk pfft.",
        "Le marché est en hausse. Der Gewinn steigt.",
    ]
    langs = [lang for lang, _, _ in PAIRS] + ["de", "fr"]
    batched = tr.translate(texts, src_lang=langs, batch_size=32)
    single = [
        tr.translate([t], src_lang=lang, batch_size=1)[0]
        for t, lang in zip(texts, langs, strict=True)
    ]
    for b, s in zip(batched, single, strict=True):
        assert b.text == s.text
        assert b.confidence == pytest.approx(s.confidence, abs=1e-5)
        assert [(a["src_start"], a["tgt_start"]) for a in b.alignment] == [
            (a["src_start"], a["tgt_start"]) for a in s.alignment
        ]


def test_int8_quantized_model_loads_and_translates(tr, tiny_translator):
    from torch.ao.nn.quantized.dynamic import Linear as DynamicQuantizedLinear

    q = Translator(tr.model, tr.tokenizer, tr.config, int8=True)
    assert isinstance(q.model.lm_head, DynamicQuantizedLinear)
    assert isinstance(q.model.decoder[0].ff.fc, DynamicQuantizedLinear)
    assert isinstance(tr.model.decoder[0].ff.fc, torch.nn.Linear)  # the original is untouched
    texts, langs = [s for _, s, _ in PAIRS], [lang for lang, _, _ in PAIRS]
    out, ref = q.translate(texts, src_lang=langs), tr.translate(texts, src_lang=langs)
    assert [t.text for t in out] == [e for _, _, e in PAIRS]
    for a, b in zip(out, ref, strict=True):
        assert a.confidence == pytest.approx(b.confidence, abs=0.02)
    loaded = Translator.load(tiny_translator, device="cpu")  # auto: int8 on the CPU
    assert loaded.int8 and loaded.autocast_dtype is None
    assert not Translator.load(tiny_translator, device="cpu", precision="fp32").int8
    [t] = loaded.translate(["Die Aktie fiel stark. Der Gewinn steigt."], src_lang="de")
    assert 0.0 < t.confidence <= 1.0
    with pytest.raises(ValueError, match="CPU"):
        Translator(tr.model, tr.tokenizer, tr.config, device="cuda", int8=True)


def test_cpu_decoding_runs_on_one_thread_and_restores_the_count(tr, monkeypatch):
    texts, langs = [s for _, s, _ in PAIRS], [lang for lang, _, _ in PAIRS]
    seen, real_decode = [], tr._decode

    def decode(*args, **kwargs):
        seen.append(torch.get_num_threads())
        return real_decode(*args, **kwargs)

    monkeypatch.setattr(tr, "_decode", decode)
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        out = tr.translate(texts, src_lang=langs, batch_size=2)
        assert torch.get_num_threads() == 2 and seen and set(seen) == {1}
        monkeypatch.setattr(tr, "cpu_decode_threads", None)  # as they are
        seen.clear()
        ref = tr.translate(texts, src_lang=langs, batch_size=2)
        assert set(seen) == {2}
    finally:
        torch.set_num_threads(before)
    assert [t.text for t in out] == [t.text for t in ref] == [e for _, _, e in PAIRS]
    assert [t.alignment for t in out] == [t.alignment for t in ref]
