"""``focusdig dashboard``: the HTTP API and the dashboard pages (uvicorn)."""

from __future__ import annotations

from typing import Annotated

import typer

from focusdig.cli.app import app
from focusdig.cli.common import console, open_db


@app.command()
def dashboard(
    host: Annotated[str, typer.Option(help="Address to bind (default: this machine only).")] = (
        "127.0.0.1"
    ),
    port: Annotated[int, typer.Option(help="TCP port.")] = 8765,
) -> None:
    """Serve the dashboard and the JSON API (docs at /docs). Writes need FOCUSDIG_API_TOKEN."""
    import uvicorn

    from focusdig.api import create_app
    from focusdig.api.auth import parse_tokens

    settings, engine = open_db()
    writes = "enabled" if parse_tokens(settings.api_token) else "disabled (set FOCUSDIG_API_TOKEN)"
    console.print(f"focusdig dashboard on http://{host}:{port}/ · API writes {writes}")
    uvicorn.run(create_app(settings, engine), host=host, port=port, log_level="warning")
