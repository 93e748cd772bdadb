"""The ``focusdig`` command line (typer + rich), one module per command group."""

from focusdig.cli import (  # noqa: F401  (register commands)
    dashboard,
    entities,
    labels,
    models,
    pipeline,
    sources,
)
from focusdig.cli.app import app

__all__ = ["app"]
