"""Who may write through the API: bearer tokens from ``FOCUSDIG_API_TOKEN``.

The variable holds one token or several, comma separated. A token of the form ``name:secret``
names its holder, and labels posted with it are stored with that annotator; a token without a
colon labels as ``api``. Clients send the whole token: ``Authorization: Bearer name:secret``.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass

DEFAULT_ANNOTATOR = "api"
WRITES_DISABLED = (
    "writes are disabled: no API token is configured. Set FOCUSDIG_API_TOKEN "
    "(e.g. FOCUSDIG_API_TOKEN=alice:$(openssl rand -hex 16)) and restart `focusdig dashboard`; "
    "then send `Authorization: Bearer <the whole token>`."
)


@dataclass(frozen=True)
class ApiToken:
    annotator: str
    token: str


def parse_tokens(value: str | None) -> list[ApiToken]:
    """The tokens in a ``FOCUSDIG_API_TOKEN`` value (empty parts ignored)."""
    tokens = []
    for part in (value or "").split(","):
        token = part.strip()
        if not token:
            continue
        name, colon, _ = token.partition(":")
        annotator = name.strip() if colon and name.strip() else DEFAULT_ANNOTATOR
        tokens.append(ApiToken(annotator, token))
    return tokens


def annotator_for(tokens: list[ApiToken], given: str) -> str | None:
    """The annotator whose token is ``given``, or None; every token is compared in constant
    time, and all of them are compared whatever matches."""
    matches = [t.annotator for t in tokens if hmac.compare_digest(t.token.encode(), given.encode())]
    return matches[0] if matches else None
