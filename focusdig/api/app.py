"""The FastAPI application: JSON API under ``/api``, dashboard pages, offline API docs."""

from __future__ import annotations

import base64
import hashlib
import re
from importlib.resources import files
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from sqlalchemy import Engine

from focusdig import __version__
from focusdig.api.routers import ROUTERS
from focusdig.database import get_engine
from focusdig.settings import Settings

HERE = Path(__file__).resolve().parent
# Swagger UI's files ship inside the fastapi-offline package: /docs works without a CDN
DOCS_ASSETS = files("fastapi_offline") / "static"

PAGE_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}


def _inline_script_hashes(html: str) -> str:
    """CSP source expressions allowing exactly the inline scripts of ``html``."""
    bodies = re.findall(r"<script>(.*?)</script>", html, flags=re.S)
    digests = (base64.b64encode(hashlib.sha256(b.encode()).digest()).decode() for b in bodies)
    return " ".join(f"'sha256-{d}'" for d in digests)


def _docs_page(app: FastAPI) -> HTMLResponse:
    page = get_swagger_ui_html(
        openapi_url=app.openapi_url,
        title="focusdig API",
        swagger_js_url="/docs-assets/swagger-ui-bundle.js",
        swagger_css_url="/docs-assets/swagger-ui.css",
        swagger_favicon_url="/docs-assets/favicon.png",
    )
    html = page.body.decode()
    # Swagger UI styles its widgets inline; its one inline script is allowed by hash
    page.headers["Content-Security-Policy"] = (
        f"default-src 'self'; script-src 'self' {_inline_script_hashes(html)}; "
        "style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; "
        "object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
    )
    return page


def create_app(settings: Settings | None = None, engine: Engine | None = None) -> FastAPI:
    """The app on ``engine`` (default: the configured database, migrated on first use)."""
    settings = settings or Settings.from_env()
    app = FastAPI(
        title="focusdig",
        version=__version__,
        summary="Financial opinion monitoring: items, scores with their words, labels, models.",
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.engine = engine or get_engine(settings)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    app.mount("/docs-assets", StaticFiles(directory=str(DOCS_ASSETS)), name="docs-assets")
    for router in ROUTERS:
        app.include_router(router)

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return _docs_page(app)

    @app.middleware("http")
    async def security_headers(request: Request, call_next):
        response = await call_next(request)
        response.headers.setdefault("Content-Security-Policy", PAGE_CSP)
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        return response

    return app
