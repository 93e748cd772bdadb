"""The ``focusdig`` command line (typer + rich), one module per command group."""

from focusdig.cli import labels, models, pipeline, sources  # noqa: F401  (register commands)
from focusdig.cli.app import app

__all__ = ["app"]
