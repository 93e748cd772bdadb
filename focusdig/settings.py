"""One settings object, read from the environment."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from focusdig.alerts.detect import Thresholds
from focusdig.artifacts import EXPLANATIONS, check_explanation
from focusdig.ingest.fetch import FetchLimits
from focusdig.netsafety import NetworkPolicy

ALERT_THRESHOLDS_ENV = {
    "window_hours": ("FOCUSDIG_ALERT_WINDOW_HOURS", float),
    "baseline_days": ("FOCUSDIG_ALERT_BASELINE_DAYS", int),
    "z": ("FOCUSDIG_ALERT_Z", float),
    "min_change": ("FOCUSDIG_ALERT_MIN_CHANGE", float),
    "min_window_items": ("FOCUSDIG_ALERT_MIN_WINDOW_ITEMS", int),
    "min_baseline_items": ("FOCUSDIG_ALERT_MIN_BASELINE_ITEMS", int),
    "min_baseline_days": ("FOCUSDIG_ALERT_MIN_BASELINE_DAYS", int),
    "volume_z": ("FOCUSDIG_ALERT_VOLUME_Z", float),
    "min_volume": ("FOCUSDIG_ALERT_MIN_VOLUME", int),
}


def alert_thresholds_from_env(env: dict[str, str]) -> Thresholds:
    """The alert thresholds, each default replaced by its ``FOCUSDIG_ALERT_*`` variable."""
    values = {}
    for name, (variable, kind) in ALERT_THRESHOLDS_ENV.items():
        if (value := _number(env, variable, kind, None)) is not None:
            values[name] = value
    try:
        return Thresholds(**values)
    except ValueError as exc:
        raise ValueError(f"alert thresholds (FOCUSDIG_ALERT_*): {exc}") from None


DEFAULT_MIN_TRANSLATION_CONFIDENCE = 0.39
"""Below this confidence a translation is more likely bad (sentence chrF < 30) than not, for the
shipped translator's greedy output on held-out pairs (``benchmarks/translation_confidence.py``;
it moves with each new default translator and decoding: 0.31, 0.30, 0.34, 0.30, 0.27, 0.26,
0.30, now 0.39 for ``mt-20261127-1305``, whose GPU continuation made it surer of itself)."""


DEFAULT_TRANSLATION_BEAM = 1
"""Beam size of the pipeline's translations (1: greedy). Beam 4 adds 0.6-1.1 test BLEU per
language to the shipped translator (news: de/fr/zh 11.38/12.15/7.36 -> 12.85/13.51/8.33) but
decodes about 2.8x slower (measured for session 10's model, the same architecture): the S&P
500 pipeline benchmark goes from 231.3 to 159.2 items/s (benchmarks/README.md section 4, session
10). A choice left to the user."""


def _default_home() -> Path:
    """Per-user state directory: $XDG_DATA_HOME/focusdig or ~/.local/share/focusdig."""
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "focusdig"


def _number(env: dict[str, str], name: str, kind: type, default):
    """``kind`` (int or float) from the environment variable ``name``; unset or empty:
    ``default``. A value that is not one raises ValueError naming the variable."""
    raw = (env.get(name) or "").strip()
    if not raw:
        return default
    try:
        return kind(raw)
    except ValueError:
        what = "a whole number" if kind is int else "a number"
        raise ValueError(f"{name} must be {what}, got {raw!r}") from None


def _bounded(env: dict[str, str], name: str, kind: type, default, low, high, what: str):
    """``_number`` within [low, high]; anything else raises ValueError: "``name`` must be
    ``what``"."""
    try:
        value = _number(env, name, kind, default)
    except ValueError:
        value = None
    if value is None or not low <= value <= high:  # NaN fails the comparison too
        raise ValueError(f"{name} must be {what}, got {env[name]!r}")
    return value


def _explanation(env: dict[str, str], name: str) -> str | None:
    """An explanation of focusdig's compact classifier from the environment (unset or empty:
    None, the model's own default)."""
    raw = (env.get(name) or "").strip()
    if not raw:
        return None
    try:
        return check_explanation(raw)
    except ValueError:
        raise ValueError(
            f"{name} must be one of {', '.join(EXPLANATIONS)} (unset: the model's default), "
            f"got {raw!r}"
        ) from None


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
    - ``FOCUSDIG_EXPLANATION``: how the pipeline's classifier weights the words it stores with
      each score and entity score, ``flow`` or ``pooling`` (the pooling weights alone: the same
      scores, cheaper words); unset: the model's default (flow). A preference for focusdig's
      compact model: a Hugging Face champion keeps its own explanation. The method used is
      stored with each score (``scores.explanation``, ``entity_scores.explanation``).
    - ``FOCUSDIG_RESCORE_DAYS``: after a new champion is promoted, also rescore items fetched in
      the last N days (default 0: only new items; earlier scores are always kept).
    - ``FOCUSDIG_API_TOKEN``: bearer token(s) that allow writes through the HTTP API, comma
      separated; ``name:secret`` names the annotator of the labels posted with it (unset: the
      API is read-only).
    - ``FOCUSDIG_ENTITY_BACKFILL_DAYS``: after the watchlist changes, items dated in the last N
      days are scanned again for entities (default 30; 0: only new items).
    - ``FOCUSDIG_ALERT_WEBHOOK``: webhook URL(s) that alerts are posted to, comma separated;
      ``FOCUSDIG_ALERT_SECRET`` signs them (HMAC-SHA256); ``FOCUSDIG_ALERT_TIMEOUT`` (10 s),
      ``FOCUSDIG_ALERT_RETRIES`` (2) and ``FOCUSDIG_ALERT_BACKOFF`` (1 s, then 4x) per post.
    - ``FOCUSDIG_ALERT_Z``, ``FOCUSDIG_ALERT_VOLUME_Z`` and the other ``FOCUSDIG_ALERT_*``
      thresholds of :class:`focusdig.alerts.detect.Thresholds` (see ``ALERT_THRESHOLDS_ENV``).
    - ``FOCUSDIG_MIN_TRANSLATION_CONFIDENCE``: translations whose confidence is below this (in
      [0, 1]) are flagged: still stored and scored, shown as such, left out of rollups and
      alerts (default ``DEFAULT_MIN_TRANSLATION_CONFIDENCE``).
    - ``FOCUSDIG_TRANSLATION_BEAM``: beam size of the pipeline's translations, 1 (greedy) to 16
      (default ``DEFAULT_TRANSLATION_BEAM``).
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
    explanation: str | None = None  # None: the model's default
    api_token: str | None = field(default=None, repr=False)
    entity_backfill_days: int = 30
    network_policy: NetworkPolicy = field(default_factory=NetworkPolicy)
    alert_webhooks: tuple[str, ...] = field(default=(), repr=False)
    alert_secret: str | None = field(default=None, repr=False)
    alert_timeout: float = 10.0
    alert_retries: int = 2
    alert_backoff: float = 1.0
    alert_thresholds: Thresholds = field(default_factory=Thresholds)
    min_translation_confidence: float = DEFAULT_MIN_TRANSLATION_CONFIDENCE
    translation_beam: int = DEFAULT_TRANSLATION_BEAM

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        env = dict(os.environ if env is None else env)
        home = Path(env.get("FOCUSDIG_HOME") or _default_home()).expanduser()
        database_url = env.get("FOCUSDIG_DATABASE_URL") or f"sqlite:///{home / 'focusdig.db'}"
        data_dir = Path(env.get("FOCUSDIG_DATA_DIR") or home / "data").expanduser()
        defaults = FetchLimits()
        limits = FetchLimits(
            read_timeout=_number(env, "FOCUSDIG_FETCH_TIMEOUT", float, defaults.read_timeout),
            max_bytes=_number(env, "FOCUSDIG_FETCH_MAX_BYTES", int, defaults.max_bytes),
            deadline=_number(env, "FOCUSDIG_FETCH_DEADLINE", float, defaults.deadline),
        )
        workers = _number(env, "FOCUSDIG_FETCH_WORKERS", int, 8)
        rescore_days = _number(env, "FOCUSDIG_RESCORE_DAYS", int, 0)
        return cls(
            home,
            database_url,
            data_dir,
            limits,
            max(1, workers),
            max(0, rescore_days),
            max(0, _number(env, "FOCUSDIG_FETCH_RETRIES", int, 2)),
            max(0.0, _number(env, "FOCUSDIG_FETCH_BACKOFF", float, 2.0)),
            env.get("FOCUSDIG_PRECISION", "auto"),
            explanation=_explanation(env, "FOCUSDIG_EXPLANATION"),
            api_token=env.get("FOCUSDIG_API_TOKEN") or None,
            entity_backfill_days=max(0, _number(env, "FOCUSDIG_ENTITY_BACKFILL_DAYS", int, 30)),
            network_policy=NetworkPolicy.from_env(env),
            alert_webhooks=tuple(
                url.strip()
                for url in env.get("FOCUSDIG_ALERT_WEBHOOK", "").split(",")
                if url.strip()
            ),
            alert_secret=env.get("FOCUSDIG_ALERT_SECRET") or None,
            alert_timeout=max(0.1, _number(env, "FOCUSDIG_ALERT_TIMEOUT", float, 10)),
            alert_retries=max(0, _number(env, "FOCUSDIG_ALERT_RETRIES", int, 2)),
            alert_backoff=max(0.0, _number(env, "FOCUSDIG_ALERT_BACKOFF", float, 1.0)),
            alert_thresholds=alert_thresholds_from_env(env),
            min_translation_confidence=_bounded(
                env,
                "FOCUSDIG_MIN_TRANSLATION_CONFIDENCE",
                float,
                DEFAULT_MIN_TRANSLATION_CONFIDENCE,
                0.0,
                1.0,
                "a number between 0 and 1",
            ),
            translation_beam=_bounded(
                env,
                "FOCUSDIG_TRANSLATION_BEAM",
                int,
                DEFAULT_TRANSLATION_BEAM,
                1,
                16,
                "a whole number from 1 (greedy) to 16",
            ),
        )

    @property
    def models_dir(self) -> Path:
        """Trained and registered model versions live here."""
        return self.home / "models"
