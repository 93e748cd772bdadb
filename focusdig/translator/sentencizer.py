"""The sentence splitters of de/fr (and other Latin-script) text: a blank spaCy pipeline with
the rule-based ``sentencizer``, no model download.

French is built without spaCy importing ``spacy.lang.fr``: that import compiles one regular
expression of some 800 hyphenated-word patterns (the tokenizer's ``token_match``), 2.7 s of
CPU, most of the cost of a process's first French translation. The expression only keeps a
string of letters, hyphens and apostrophes in one token; such a string holds no sentence-ending
punctuation and starts with a letter, so the sentencizer draws the same boundaries without it
(``tests/test_translator.py`` compares both). The rest of spaCy's French tokenizer (its
exceptions such as "M." and "J.-C.", prefixes, suffixes, infixes, URLs) is spaCy's own
serialization, shipped in ``data/`` for the spaCy version in its name and made by
``python -m focusdig.translator.sentencizer``; with another spaCy version installed,
``spacy.blank("fr")`` is used.
"""

from __future__ import annotations

import functools
from pathlib import Path

DATA = Path(__file__).parent / "data"


def french_tokenizer_file(spacy_version: str) -> Path:
    """Where the French tokenizer for ``spacy_version`` is shipped."""
    return DATA / f"fr_tokenizer_spacy-{spacy_version}.bin"


def french_tokenizer_bytes() -> bytes:
    """spaCy's French tokenizer, serialized without ``token_match`` (imports spacy.lang.fr)."""
    import spacy

    return spacy.blank("fr").tokenizer.to_bytes(exclude=["token_match"])


@functools.cache
def sentencizer(lang: str):
    """A blank spaCy pipeline for ``lang`` (multi-language if spaCy has none) + sentencizer."""
    import spacy

    shipped = french_tokenizer_file(spacy.__version__)
    if lang == "fr" and shipped.exists():
        nlp = spacy.blank("xx")
        nlp.tokenizer.from_bytes(shipped.read_bytes(), exclude=["token_match"])
    else:
        try:
            nlp = spacy.blank(lang)
        except ImportError:
            nlp = spacy.blank("xx")
    nlp.add_pipe("sentencizer")
    return nlp


def main() -> None:
    """Write the French tokenizer of the installed spaCy into ``data/``."""
    import spacy

    path = french_tokenizer_file(spacy.__version__)
    path.write_bytes(french_tokenizer_bytes())
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
