"""Packages for setuptools: every ``focusdig*`` and ``flows*`` package, plus the shipped models
(``models/``) and migrations (``db/``) installed inside the package (see focusdig/paths.py)."""

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
        ],
        "focusdig._models": ["*/*/*"],
        "focusdig._migrations": ["alembic.ini", "script.py.mako", "README.md"],
    },
)
