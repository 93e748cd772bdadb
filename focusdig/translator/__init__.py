"""zh/fr/de -> English translation: one multilingual Transformer encoder-decoder.

from focusdig.translator import Translator
tr = Translator.load()
tr.translate(["La BCE maintient ses taux."], src_lang="fr")[0].text
"""

from focusdig.translator.model import Seq2SeqTransformer, TranslatorConfig
from focusdig.translator.translate import Translation, Translator

__all__ = ["Seq2SeqTransformer", "Translation", "Translator", "TranslatorConfig"]
