"""Packages for setuptools: every ``focusdig*`` and ``flows*`` package, plus the shipped models
(``models/classifier``, ``models/translator``) and migrations (``db/``) installed inside the
package (see focusdig/paths.py). ``models/pretrained`` (encoders to fine-tune from, for training
in a checkout) is left out of the installed package."""

from setuptools import find_packages, setup

SHIPPED = {"focusdig._models": "models", "focusdig._migrations": "db"}

setup(
    packages=find_packages(include=["focusdig*", "flows*"])
    + [*SHIPPED, "focusdig._migrations.versions"],
    package_dir={**SHIPPED, "focusdig._migrations.versions": "db/versions"},
    package_data={
        "focusdig": [
            "samples/*.xml",
            "samples/*.json",
            "samples/*.csv",
            "api/templates/*.html",
            "api/static/*",
            "entities/data/*",
            "translator/data/*",
        ],
        "focusdig._models": ["classifier/*/*", "translator/*/*"],
        "focusdig._migrations": ["alembic.ini", "script.py.mako", "README.md"],
    },
)
