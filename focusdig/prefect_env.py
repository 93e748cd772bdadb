"""Prefect settings for offline use, applied before Prefect is imported."""

from __future__ import annotations

import os

OFFLINE_DEFAULTS = {
    # no telemetry: offline machines, and it logs a "database is locked" error in ephemeral mode
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "DO_NOT_TRACK": "1",
    # a cold ephemeral server on a small machine can take longer than the default 20 s
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "90",
}


def configure_prefect() -> None:
    """Set offline-friendly defaults without overriding anything the user set."""
    for name, value in OFFLINE_DEFAULTS.items():
        os.environ.setdefault(name, value)
