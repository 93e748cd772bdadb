"""Back-translation: en -> xx directions in the same model, synthetic pairs for training."""

from __future__ import annotations

import gzip

import pytest
import torch
from conftest import overfit_translator

from focusdig.translator import Translator
from focusdig.translator.backtranslate import english_lines, evaluate_en_to_xx, usable
from focusdig.translator.data import Pair, read_synthetic
from focusdig.translator.evaluate import score_hypotheses
from focusdig.translator.generate import greedy_search
from focusdig.translator.tokenizer import SubwordTokenizer
from focusdig.translator.trainer import TrainingArguments, build_training_set

PAIRS = [
    Pair("Le marché est en hausse.", "The market is up.", "fr", "news"),
    Pair("La banque centrale baisse ses taux.", "The central bank cuts its rates.", "fr", "news"),
    Pair("Die Aktie fällt stark.", "The share falls sharply.", "de", "tatoeba"),
    Pair("Der Gewinn steigt.", "Profit rises.", "de", "tatoeba"),
    Pair("油价下跌。", "Oil prices fall.", "zh", "tatoeba"),
    Pair("央行降息。", "The central bank lowers rates.", "zh", "tatoeba"),
]


@pytest.fixture(scope="module")
def bidirectional() -> Translator:
    """A tiny model overfit on PAIRS in both directions (the trainer's `en_to_xx` examples)."""
    torch.set_num_threads(1)
    return overfit_translator(PAIRS, steps=400, en_to_xx=True)


def test_one_model_translates_both_ways(bidirectional):
    out = bidirectional.translate([p.src for p in PAIRS], src_lang=[p.lang for p in PAIRS])
    assert [t.text for t in out] == [p.en for p in PAIRS]
    for lang in ("fr", "de", "zh"):
        mine = [p for p in PAIRS if p.lang == lang]
        assert bidirectional.back_translate([p.en for p in mine], lang) == [p.src for p in mine]


def test_the_language_tag_chooses_the_output_language(bidirectional):
    """The forced tag, not the English, decides: the same sentence asked for in German and in
    French gives two different outputs (a tiny model cannot translate it, but it must obey)."""
    german = bidirectional.back_translate(["The market is up."], "de")
    french = bidirectional.back_translate(["The market is up."], "fr")
    assert french == ["Le marché est en hausse."]
    assert german != french


def test_synthetic_pairs_train_one_way_only(tmp_path):
    tok = SubwordTokenizer.train([p.src for p in PAIRS] + [p.en for p in PAIRS], ["fr"], 300)
    path = tmp_path / "bt.tsv"
    path.write_text("The market is up.\tLe marché est en hausse.\tfr\n")
    synthetic = read_synthetic(path)
    assert synthetic == [Pair("Le marché est en hausse.", "The market is up.", "fr", "bt")]
    args = TrainingArguments(en_to_xx=True, synthetic_upsample=3, lang_upsample={})
    examples = build_training_set(args, tok, synthetic)
    assert len(examples) == 3  # three xx -> en copies, no reverse of a synthetic source
    src, tgt = examples[0]
    assert src[0] == tok.lang_id("fr") and tgt == tok.encode_batch(["The market is up."])[0]


def test_a_bad_synthetic_line_is_rejected_with_its_number(tmp_path):
    path = tmp_path / "bt.tsv"
    path.write_text("The market is up.\tLe marché est en hausse.\tfr\nno tabs here\n")
    with pytest.raises(ValueError, match=r"bt\.tsv:2:"):
        read_synthetic(path)
    path.write_text("Profit rises.\tDer Gewinn steigt.\ten\n")
    with pytest.raises(ValueError, match=r"bt\.tsv:1:"):
        read_synthetic(path)


def test_english_lines_are_deterministic_filtered_and_in_shares(tmp_path):
    corpus = tmp_path / "fin_corpus"
    corpus.mkdir()
    for name, stem in (("reuters_ding2014", "Reuters says"), ("kaggle_x", "Headline on")):
        with gzip.open(corpus / f"{name}.txt.gz", "wt") as f:
            for i in range(50):
                f.write(f"{stem} stocks rose {i} points today\n")
            f.write("too short\n")
            f.write("UNK said the quarter went well overall\n")
            f.write("UNKNOWN buyers lifted the index today\n")
    sources = {"reuters_ding2014": 0.6, "kaggle_x": 0.4}
    excluded = "Reuters says stocks rose 7 points today"
    lines = english_lines(tmp_path, 20, sources=sources, exclude={excluded}, seed=1)
    assert lines == english_lines(tmp_path, 20, sources=sources, exclude={excluded}, seed=1)
    assert len(lines) == len(set(lines)) == 20
    assert sum(x.startswith("Reuters") for x in lines) == 12
    assert excluded not in lines
    assert not any(x.startswith("UNK ") or x == "too short" for x in lines)
    # 51 usable lines in the first file (the UNKNOWN one too), the share 0.6 of 85: all of them
    everything = english_lines(tmp_path, 85, sources=sources, seed=1)
    assert "UNKNOWN buyers lifted the index today" in everything
    assert len(set(everything)) == 85  # the UNKNOWN line is in both files: taken once
    with pytest.raises(ValueError, match="reuters_ding2014: 51 usable lines, 52 wanted"):
        english_lines(tmp_path, 86, sources=sources, seed=1)


def test_degenerate_back_translations_are_dropped():
    assert usable("The market is up today.", "Le marché est en hausse aujourd'hui.", "fr")
    assert not usable("The market is up today.", "", "fr")
    assert not usable("The market is up today.", "The market is up today.", "de")
    assert not usable("The market is up today.", "Le", "fr")  # far too short
    assert usable("The central bank cuts its rates.", "央行降息。", "zh")


def test_translating_into_english_never_writes_a_language_tag(bidirectional):
    """English given as French is what the en -> fr examples look like: unguarded, the model
    writes the tag and French; the Translator bans the tags, so its output is never de/fr/zh
    by way of a tag (measured: 4 of 1,107 validation sentences of a real bidirectional model)."""
    tok, cfg = bidirectional.tokenizer, bidirectional.model.config
    tag = tok.lang_id("fr")
    src = torch.tensor([[tag, *tok.encode_batch(["The market is up."])[0], cfg.eos_id]])
    free = greedy_search(bidirectional.model, src, torch.tensor([20]))[0]
    assert free.ids[0] == tag  # what the guard is for
    hyp = bidirectional._decode([src[0, 1:-1].tolist()], ["fr"], 1, 0)[0]
    assert not set(hyp.ids) & set(bidirectional.banned.tolist())
    beam = bidirectional._decode([src[0, 1:-1].tolist()], ["fr"], 3, 0)[0]
    assert not set(beam.ids) & set(bidirectional.banned.tolist())
    assert bidirectional.translate(["The market is up."], src_lang="fr")[0].text != (
        "Le marché est en hausse."
    )


def test_forced_prefixes_survive_rows_that_finish_early(bidirectional):
    """Each row's own prefix (2 tokens here) is forced while the batch shrinks as rows end;
    a cap that leaves no room for the prefix and </s> is refused."""
    tok, cfg = bidirectional.tokenizer, bidirectional.model.config
    texts = ["Profit rises.", "The central bank cuts its rates.", "Oil prices fall."]
    langs = ["de", "fr", "zh"]
    rows = [
        [tok.lang_id(lang), *ids, cfg.eos_id]
        for lang, ids in zip(langs, tok.encode_batch(texts), strict=True)
    ]
    src = torch.full((3, max(map(len, rows))), cfg.pad_id)
    for i, r in enumerate(rows):
        src[i, : len(r)] = torch.tensor(r)
    first = [tok.encode_batch([p.src])[0][0] for p in (PAIRS[3], PAIRS[1], PAIRS[4])]
    prefix = torch.tensor([[tok.lang_id(lang), f] for lang, f in zip(langs, first, strict=True)])
    caps = torch.tensor([20, 30, 20])
    batched = greedy_search(bidirectional.model, src, caps, prefix=prefix)
    for i, hyp in enumerate(batched):
        assert hyp.ids[:2] == prefix[i].tolist()
        alone = greedy_search(
            bidirectional.model,
            src[i : i + 1, : len(rows[i])],
            caps[i : i + 1],
            prefix=prefix[i : i + 1],
        )[0]
        assert alone.ids == hyp.ids and abs(alone.score - hyp.score) < 1e-4
    with pytest.raises(ValueError, match="room for its prefix"):
        greedy_search(bidirectional.model, src, torch.tensor([2, 30, 20]), prefix=prefix)


def test_en_to_xx_scores_use_the_sources_as_references_and_chinese_tokens():
    pairs = [
        Pair("油价大幅下跌", "Oil prices fall sharply", "zh", "news"),
        Pair("Le marché est en hausse.", "The market is up.", "fr", "news"),
    ]
    scores = score_hypotheses(
        pairs, ["油价大幅下跌了", "Le marché est en hausse."], reference="src"
    )
    assert scores["fr"]["bleu"] == 100.0  # against the French source, not the English
    assert 0 < scores["zh"]["bleu"] < 100  # by character: "13a" would see one unmatched word
    assert score_hypotheses(pairs[:1], ["油价大幅下跌了"])["zh"]["bleu"] == 0.0


def test_en_to_xx_evaluation_scores_each_language_and_origin(bidirectional):
    scores = evaluate_en_to_xx(bidirectional, PAIRS)
    assert set(scores) == {"de", "de/tatoeba", "fr", "fr/news", "zh", "zh/tatoeba"}
    assert scores["fr/news"]["n"] == 2 and scores["fr"]["bleu"] == 100.0  # overfit: exact
