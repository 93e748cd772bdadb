"""focusdig: financial opinion monitoring with attention-explained sentiment.

`from focusdig import Classifier, Translator` loads the models' code (and PyTorch) on first use
only, so importing the package for settings or the database stays light.
"""

__version__ = "0.1.0"

_LAZY = {
    "Classifier": "focusdig.classifier",
    "Translator": "focusdig.translator",
}
__all__ = ["Classifier", "Translator", "__version__"]


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'focusdig' has no attribute {name!r}")
