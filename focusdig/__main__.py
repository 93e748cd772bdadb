"""``python -m focusdig …`` is the ``focusdig`` command."""

from focusdig.cli import app

app()
