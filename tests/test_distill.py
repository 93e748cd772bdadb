"""Sequence-level distillation: a teacher's beam output for training sources, as kd pairs."""

from __future__ import annotations

import pytest
import torch
from conftest import overfit_translator, write_translator_data_dir

from focusdig.translator import data as D
from focusdig.translator.data import Pair, read_synthetic
from focusdig.translator.distill import distill, training_sources
from focusdig.translator.tokenizer import SubwordTokenizer
from focusdig.translator.trainer import TrainingArguments, build_training_set

PAIRS = [
    Pair("Le marché est en hausse.", "The market is up.", "fr", "news"),
    Pair("La banque centrale baisse ses taux.", "The central bank cuts its rates.", "fr", "news"),
    Pair("油价下跌。", "Oil prices fall.", "zh", "tatoeba"),
    Pair("央行降息。", "The central bank lowers rates.", "zh", "tatoeba"),
]


@pytest.fixture(scope="module")
def teacher():
    torch.set_num_threads(1)
    return overfit_translator(PAIRS, steps=300)


def test_the_teacher_writes_kd_lines_and_a_rerun_only_adds_what_is_missing(teacher, tmp_path):
    out = tmp_path / "kd" / "kd.tsv"
    sources = {"fr/news": [p.src for p in PAIRS[:2]], "zh/tatoeba": [p.src for p in PAIRS[2:]]}
    report = distill(teacher, sources, out, beam_size=4, chunk=1)
    assert report["fr/news"] == {"sources": 2, "written": 2, "dropped": 0}
    assert sorted(read_synthetic(out), key=lambda p: p.src) == sorted(
        [Pair(p.src, p.en, p.lang, "kd") for p in PAIRS], key=lambda p: p.src
    )
    lines = out.read_text(encoding="utf-8").splitlines()
    out.write_text("\n".join(lines[:-1]) + "\n", encoding="utf-8")  # as if stopped early
    report = distill(teacher, sources, out, beam_size=4)
    assert report["fr/news"]["written"] + report["zh/tatoeba"]["written"] == 1
    assert sorted(out.read_text(encoding="utf-8").splitlines()) == sorted(lines)


def test_training_sources_never_include_held_out_ones(tmp_path):
    write_translator_data_dir(tmp_path / "data", [(p.lang, p.src, p.en) for p in PAIRS], 300)
    splits = D.split_pairs(D.load_pairs(tmp_path / "data"))
    held_out = {p.src for name in ("valid", "test") for p in splits[name]}
    assert held_out  # the fixture is big enough to have some
    groups = ["fr/tatoeba", "zh/tatoeba"]
    sources = training_sources(tmp_path / "data", groups)
    expected = {p.src for p in splits["train"] if p.lang == "fr"}
    assert len(sources["fr/tatoeba"]) == len(expected) > 500  # distinct
    assert set(sources["fr/tatoeba"]) == expected
    assert not held_out & set(sources["fr/tatoeba"] + sources["zh/tatoeba"])
    assert sources == training_sources(tmp_path / "data", groups)  # deterministic
    assert sources["fr/tatoeba"] != sorted(sources["fr/tatoeba"])  # shuffled
    assert len(training_sources(tmp_path / "data", groups, limit=7)["fr/tatoeba"]) == 7
    with pytest.raises(ValueError, match="unknown group 'en/news'"):
        training_sources(tmp_path / "data", ["en/news"])


def test_kd_pairs_train_one_way_and_are_upsampled(tmp_path):
    tok = SubwordTokenizer.train([p.src for p in PAIRS] + [p.en for p in PAIRS], ["fr"], 300)
    path = tmp_path / "kd.tsv"
    path.write_text("The market is up.\tLe marché est en hausse.\tfr\tkd\n", encoding="utf-8")
    kd = read_synthetic(path)
    assert kd == [Pair("Le marché est en hausse.", "The market is up.", "fr", "kd")]
    args = TrainingArguments(en_to_xx=True, synthetic_upsample=2, lang_upsample={})
    assert len(build_training_set(args, tok, kd)) == 2  # no reverse of a teacher's English


def test_an_unknown_origin_is_rejected_with_its_line_number(tmp_path):
    path = tmp_path / "kd.tsv"
    path.write_text(
        "Profit rises.\tDer Gewinn steigt.\tde\tkd\nProfit rises.\tDer Gewinn.\tde\tx\n"
    )
    with pytest.raises(ValueError, match=r"kd\.tsv:2:"):
        read_synthetic(path)


def test_synthetic_pairs_with_a_held_out_source_are_never_trained_on(tmp_path):
    rows = [(p.lang, p.src, p.en) for p in PAIRS]
    write_translator_data_dir(tmp_path / "data", rows, 300)
    splits = D.split_pairs(D.load_pairs(tmp_path / "data"))
    [valid, test, train] = [splits[name][0] for name in ("valid", "test", "train")]
    path = tmp_path / "kd.tsv"
    path.write_text(
        "".join(f"{p.en}\t{p.src}\t{p.lang}\tkd\n" for p in (valid, test, train)), encoding="utf-8"
    )
    kept, left_out = D.training_synthetic([path])
    assert [p.src for p in kept] == [train.src] and left_out == 2
