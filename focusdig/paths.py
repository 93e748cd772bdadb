"""Where focusdig's shipped files are: in a source checkout, or inside the installed package.

A checkout keeps the models in ``models/`` and the Alembic migrations in ``db/`` beside the
``focusdig`` package; ``pip install .`` (see setup.py) puts the same trees inside the package
as ``focusdig/_models`` and ``focusdig/_migrations``. Nothing here imports torch.
"""

from __future__ import annotations

from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
_CHECKOUT = PACKAGE_DIR.parent


def _shipped(checkout_name: str, installed_name: str) -> Path:
    local = _CHECKOUT / checkout_name
    if (_CHECKOUT / "pyproject.toml").is_file() and local.is_dir():
        return local
    return PACKAGE_DIR / installed_name


SHIPPED_MODELS = _shipped("models", "_models")
MIGRATIONS_DIR = _shipped("db", "_migrations")
SAMPLES_DIR = PACKAGE_DIR / "samples"
