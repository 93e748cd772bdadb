"""Language identification: short and mixed texts, hints, empty input."""

from __future__ import annotations

import pytest

from focusdig import langid
from focusdig.langid import detect_language, detect_languages, normalize_code


@pytest.mark.parametrize(
    "text,lang",
    [
        ("Shares of Apple rose 3% after earnings beat estimates.", "en"),
        ("Nasdaq closes at record high", "en"),
        ("苹果公司股价在财报公布后上涨3%。", "zh"),
        ("油价周一大幅下跌", "zh"),
        ("Les actions de TotalEnergies ont chuté de 4 % à la Bourse de Paris.", "fr"),
        ("Résultats trimestriels décevants pour LVMH", "fr"),
        ("Die EZB lässt die Leitzinsen unverändert.", "de"),
        ("Anleger flüchten in Staatsanleihen", "de"),
    ],
)
def test_detects_languages(text, lang):
    code, conf = detect_language(text)
    assert code == lang
    assert 0.0 <= conf <= 1.0


@pytest.mark.parametrize(
    "text",
    ["AAPL和MSFT领涨科技股", "英伟达(NVDA)股价创历史新高", "腾讯控股发布Q2财报,净利润同比增长29%"],
)
def test_chinese_with_tickers_is_chinese(text):
    assert detect_language(text)[0] == "zh"
    assert detect_language(text, hint="en")[0] == "zh"


def test_empty_and_letterless_text():
    assert detect_language("") == ("und", 0.0)
    assert detect_language("   \n") == ("und", 0.0)
    assert detect_language("", hint="fr-FR") == ("fr", 0.0)
    assert detect_language("12,5 % +3.4", hint="DE") == ("de", 0.0)


def test_hint_decides_short_ambiguous_text():
    assert detect_language("Fed", hint="fr")[0] == "fr"
    assert detect_language("Brexit", hint="de")[0] == "de"
    # a confident detection beats the hint
    assert detect_language("Die Inflation in Deutschland sinkt weiter", hint="fr")[0] == "de"
    # a hint the script rules out is ignored
    assert detect_language("Oil prices fell sharply on Monday.", hint="zh")[0] == "en"
    assert detect_language("Le marché", hint="de")[0] == "fr"


def test_batch_and_codes():
    texts = ["Oil prices fell sharply on Monday.", "恒生指数收跌2%", ""]
    assert [c for c, _ in detect_languages(texts)] == ["en", "zh", "und"]
    assert [c for c, _ in detect_languages(texts, hints=[None, None, "fr"])] == ["en", "zh", "fr"]
    assert detect_languages(["", ""], hints="de") == [("de", 0.0), ("de", 0.0)]
    with pytest.raises(ValueError):
        detect_languages(["a", "b"], hints=["en"])
    assert normalize_code("zh-CN") == "zh" and normalize_code("") is None


def test_low_accuracy_mode():
    assert (
        detect_language("Die EZB lässt die Leitzinsen unverändert.", low_accuracy=True)[0] == "de"
    )


def _detectors_built(monkeypatch) -> list[bool]:
    """Record which lingua detectors (high accuracy: False, low: True) get used."""
    used = []
    build = langid._detector

    def recording(low_accuracy: bool):
        used.append(low_accuracy)
        return build(low_accuracy)

    monkeypatch.setattr(langid, "_detector", recording)
    return used


def test_long_or_confirmed_text_needs_only_the_quick_detector(monkeypatch):
    used = _detectors_built(monkeypatch)
    long_text = (
        "Shares of the retailer fell sharply on Tuesday after it cut its full-year outlook, "
        "citing weaker demand in Europe and higher costs for freight and wages."
    )
    assert len([c for c in long_text if c.isalpha()]) >= langid._QUICK_LETTERS
    assert detect_language(long_text)[0] == "en"
    assert detect_language("Die Inflation in Deutschland sinkt weiter", "de")[0] == "de"
    assert used == [True, True]


def test_short_or_unconfirmed_text_goes_to_high_accuracy(monkeypatch):
    used = _detectors_built(monkeypatch)
    # low accuracy alone calls this Italian or Dutch; without a declared language the full
    # detector decides
    assert detect_language("L'inflation ralentit en zone euro")[0] == "fr"
    assert detect_language("Le CAC 40 termine en hausse", "fr")[0] == "fr"
    assert False in used
