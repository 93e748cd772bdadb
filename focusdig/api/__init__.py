"""The HTTP API and the dashboard pages (FastAPI), served by ``focusdig dashboard``."""

from focusdig.api.app import create_app

__all__ = ["create_app"]
