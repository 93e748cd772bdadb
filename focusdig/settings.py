"""One settings object, read from the environment."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path

from focusdig.ingest.fetch import FetchLimits
from focusdig.netsafety import NetworkPolicy


def _default_home() -> Path:
    """Per-user state directory: $XDG_DATA_HOME/focusdig or ~/.local/share/focusdig."""
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "focusdig"


@dataclass(frozen=True)
class Settings:
    """Where focusdig keeps its state, its database and the training data.

    - ``FOCUSDIG_HOME``: state directory (default ``~/.local/share/focusdig``).
    - ``FOCUSDIG_DATABASE_URL``: SQLAlchemy URL (default SQLite ``$FOCUSDIG_HOME/focusdig.db``);
      ``postgresql://`` URLs use psycopg 3.
    - ``FOCUSDIG_DATA_DIR``: training data directory (default ``$FOCUSDIG_HOME/data``).
    - ``FOCUSDIG_FETCH_TIMEOUT`` / ``FOCUSDIG_FETCH_MAX_BYTES``: read timeout (s) and body cap.
    - ``FOCUSDIG_FETCH_DEADLINE``: the most one fetch may take, connect to last byte (s, 30).
    - ``FOCUSDIG_ALLOW_PRIVATE_NETWORKS``: 1 lets fetches reach loopback, private, link-local
      and other non-public addresses (refused by default); ``FOCUSDIG_ALLOWED_NETWORKS``
      allows only the listed networks (comma-separated CIDR). See ``focusdig.netsafety``.
    - ``FOCUSDIG_FETCH_WORKERS``: how many feeds are fetched at once.
    - ``FOCUSDIG_FETCH_RETRIES`` / ``FOCUSDIG_FETCH_BACKOFF``: retries of a fetch that failed on
      the network, a timeout, 429 or 5xx (default 2), after backoff, 5x, 25x... seconds (2.0).
    - ``FOCUSDIG_PRECISION``: inference precision of the models, auto (default), fp32, bf16 or
      fp16 (see ``focusdig.precision``).
    - ``FOCUSDIG_RESCORE_DAYS``: after a new champion is promoted, also rescore items fetched in
      the last N days (default 0: only new items; earlier scores are always kept).
    - ``FOCUSDIG_API_TOKEN``: bearer token(s) that allow writes through the HTTP API, comma
      separated; ``name:secret`` names the annotator of the labels posted with it (unset: the
      API is read-only).
    - ``FOCUSDIG_ENTITY_BACKFILL_DAYS``: after the watchlist changes, items dated in the last N
      days are scanned again for entities (default 30; 0: only new items).
    """

    home: Path
    database_url: str
    data_dir: Path
    fetch_limits: FetchLimits = field(default_factory=FetchLimits)
    fetch_workers: int = 8
    rescore_days: int = 0
    fetch_retries: int = 2
    fetch_backoff: float = 2.0
    precision: str = "auto"
    api_token: str | None = field(default=None, repr=False)
    entity_backfill_days: int = 30
    network_policy: NetworkPolicy = field(default_factory=NetworkPolicy)

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        env = dict(os.environ if env is None else env)
        home = Path(env.get("FOCUSDIG_HOME") or _default_home()).expanduser()
        database_url = env.get("FOCUSDIG_DATABASE_URL") or f"sqlite:///{home / 'focusdig.db'}"
        data_dir = Path(env.get("FOCUSDIG_DATA_DIR") or home / "data").expanduser()
        limits = FetchLimits()
        if "FOCUSDIG_FETCH_TIMEOUT" in env:
            limits = replace(limits, read_timeout=float(env["FOCUSDIG_FETCH_TIMEOUT"]))
        if "FOCUSDIG_FETCH_MAX_BYTES" in env:
            limits = replace(limits, max_bytes=int(env["FOCUSDIG_FETCH_MAX_BYTES"]))
        if "FOCUSDIG_FETCH_DEADLINE" in env:
            limits = replace(limits, deadline=float(env["FOCUSDIG_FETCH_DEADLINE"]))
        workers = int(env.get("FOCUSDIG_FETCH_WORKERS", "8"))
        rescore_days = int(env.get("FOCUSDIG_RESCORE_DAYS", "0"))
        return cls(
            home,
            database_url,
            data_dir,
            limits,
            max(1, workers),
            max(0, rescore_days),
            max(0, int(env.get("FOCUSDIG_FETCH_RETRIES", "2"))),
            max(0.0, float(env.get("FOCUSDIG_FETCH_BACKOFF", "2.0"))),
            env.get("FOCUSDIG_PRECISION", "auto"),
            api_token=env.get("FOCUSDIG_API_TOKEN") or None,
            entity_backfill_days=max(0, int(env.get("FOCUSDIG_ENTITY_BACKFILL_DAYS", "30"))),
            network_policy=NetworkPolicy.from_env(env),
        )

    @property
    def models_dir(self) -> Path:
        """Trained and registered model versions live here."""
        return self.home / "models"
