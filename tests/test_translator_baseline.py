"""The simple translation baselines: IBM Model 1 word-by-word and the translation memory."""

from __future__ import annotations

from focusdig.translator.baseline import TranslationMemory, WordByWord, detokenize, tokens
from focusdig.translator.data import Pair

# "der" and "die" always come with "the" and a noun: only EM gives "the" to both.
TRAIN = [
    Pair(src, en, "de", "tatoeba")
    for src, en in [
        ("der hund schläft", "the dog sleeps"),
        ("der hund läuft", "the dog runs"),
        ("die katze schläft", "the cat sleeps"),
        ("die katze läuft", "the cat runs"),
        ("der hund frisst", "the dog eats"),
        ("die katze frisst", "the cat eats"),
        ("ein hund", "a dog"),
        ("eine katze", "a cat"),
    ]
] + [Pair("le chien dort", "the dog sleeps", "fr", "tatoeba")]


def test_word_by_word_learns_the_lexicon_by_em():
    model = WordByWord(iterations=10).fit(TRAIN)
    assert model.best["de"]["hund"] == "dog"
    assert model.best["de"]["katze"] == "cat"
    assert model.best["de"]["schläft"] == "sleeps"
    # Co-occurrence counts alone (one EM iteration) tie "der" between "the" and "dog".
    assert model.best["de"]["der"] == "the" and model.best["de"]["die"] == "the"
    # A new combination, unseen words copied as written, the first letter capitalised, a real
    # repetition kept.
    assert model.translate(["die Katze läuft zu Berta ! !"], "de") == ["The cat runs zu Berta!!"]


def test_word_by_word_merges_repeated_words_of_chinese_characters():
    pairs = [Pair("银行", "bank", "zh", "news"), Pair("银行很大", "bank big", "zh", "news")]
    model = WordByWord(iterations=10).fit(pairs)
    assert model.translate(["银行"], "zh") == ["Bank"]


def test_translation_memory_returns_the_nearest_source_per_language():
    memory = TranslationMemory(chunk=2).fit(TRAIN)
    got = memory.translate(["die katze schläft!", "ein hund", "eine Katze"], "de")
    assert got == ["the cat sleeps", "a dog", "a cat"]
    assert memory.translate(["le chien", ""], "fr") == ["the dog sleeps", ""]


def test_tokens_and_detokenize():
    assert tokens("Der Kurs fiel um 1,5 %. 中国银行") == [
        "Der", "Kurs", "fiel", "um", "1,5", "%", ".", "中", "国", "银", "行",
    ]  # fmt: skip
    assert detokenize(["it", "'", "s", "5", "%", ",", "(", "ok", ")", "."]) == "It's 5%, (ok)."
