"""Prefect settings for offline use, applied before Prefect is imported."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

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


@contextmanager
def one_off_run() -> Iterator[None]:
    """Settings for flows run once in this process (`focusdig run`).

    Without a Prefect server (`PREFECT_API_URL` unset) the flows report to a temporary local
    API that ends with the process, so nobody can watch their heartbeats (a server uses them to
    mark crashed runs); they are turned off, which also saves up to a second per flow run
    that Prefect spends stopping the heartbeat thread. With a server configured, nothing changes.
    """
    from prefect.settings import (
        PREFECT_API_URL,
        PREFECT_FLOWS_HEARTBEAT_FREQUENCY,
        temporary_settings,
    )

    if PREFECT_API_URL.value():
        yield
        return
    with temporary_settings(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):
        yield
