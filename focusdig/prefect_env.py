"""Prefect settings for offline use, and the temporary API of one-off runs (`focusdig run`).

Prefect's own ephemeral mode starts the temporary API server when the first flow is called and
waits for it: the server subprocess imports Prefect's server code and migrates its database
while this process sits idle (about 13 s of a 24 s `focusdig run` on the samples). Here the same
server (Prefect's ``create_app`` under uvicorn, no UI) is started first thing, before this
process imports Prefect, torch and the flows, so the two start-ups overlap on separate cores;
the flows then talk to it through ``PREFECT_API_URL``. The console script (`focusdig.launch`)
starts it even before the command line's own modules are imported (`start_early`). Nothing of
this module imports Prefect at import time.
"""

from __future__ import annotations

import atexit
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress

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


class TemporaryAPIError(RuntimeError):
    """The temporary Prefect API did not start; the message says why."""


class TemporaryAPI:
    """Prefect's API server in a subprocess on 127.0.0.1, for the life of one command."""

    def __init__(self) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}/api"
        env = {
            **os.environ,
            "PREFECT_UI_ENABLED": "0",
            "PREFECT__SERVER_EPHEMERAL": "1",  # as Prefect's own temporary server
            "PREFECT__SERVER_FINAL": "1",
        }
        command = [
            sys.executable, "-m", "uvicorn", "--factory",
            "prefect.server.api.server:create_app", "--host", "127.0.0.1",
            "--port", str(self.port), "--log-level", "error", "--lifespan", "on",
        ]  # fmt: skip
        self.process = subprocess.Popen(
            command,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            preexec_fn=_die_with_parent if sys.platform == "linux" else None,
        )

    def wait_ready(self, timeout: float | None = None) -> str:
        """Block until the API answers its health check (within Prefect's
        ``PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS``, 90 s here); returns its URL."""
        if timeout is None:
            name = "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS"
            timeout = float(os.environ.get(name) or OFFLINE_DEFAULTS[name])
        direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never a proxy
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.process.poll() is not None:
                error = (self.process.stderr.read() or b"").decode(errors="replace").strip()
                last = error.splitlines()[-1] if error else f"exit code {self.process.returncode}"
                raise TemporaryAPIError(f"the temporary Prefect API stopped: {last}")
            try:
                with direct.open(f"{self.url}/health", timeout=2) as response:
                    if response.status == 200:
                        break
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.05)
        else:
            raise TemporaryAPIError(
                f"the temporary Prefect API did not answer within {timeout:g} s"
            )
        # The API builds its routes on the first request after the health check (0.5 s of the
        # server's CPU): Prefect's client asks for the version first, so ask now.
        with suppress(urllib.error.URLError, OSError):
            direct.open(f"{self.url}/admin/version", timeout=timeout).close()
        return self.url

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process.stderr:
            self.process.stderr.close()


def _die_with_parent() -> None:
    """In the server child (Linux): get SIGTERM when the focusdig process dies, even by
    kill -9, so no temporary API outlives the run that started it."""
    import ctypes
    import signal

    pr_set_pdeathsig = 1
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


_early: TemporaryAPI | None = None


def command_of(argv: list[str]) -> str | None:
    """The command a ``focusdig`` command line runs (its first word that is not an option);
    None when it only asks for help."""
    if "--help" in argv or "-h" in argv:
        return None
    return next((word for word in argv if not word.startswith("-")), None)


def start_early(argv: list[str]) -> None:
    """Start the temporary API of `focusdig run` now, if ``argv`` (without the program) is
    that command and ``PREFECT_API_URL`` names no server; `temporary_api_started` adopts it.
    Stopped at exit in any case (a command line that fails before it is adopted)."""
    global _early
    configure_prefect()
    if _early is None and command_of(argv) == "run" and not os.environ.get("PREFECT_API_URL"):
        _early = TemporaryAPI()
        atexit.register(_early.stop)


@contextmanager
def temporary_api_started() -> Iterator[TemporaryAPI | None]:
    """Start a temporary API now (or adopt the one `start_early` started) unless
    ``PREFECT_API_URL`` names a server; stop it at the end.

    Call `one_off_run` with what this yields once the flows are imported.
    """
    global _early
    configure_prefect()
    if os.environ.get("PREFECT_API_URL"):
        yield None
        return
    api, _early = _early or TemporaryAPI(), None
    try:
        yield api
    finally:
        send_queued_to_api()
        api.stop()


def send_queued_to_api(timeout: float = 5.0) -> None:
    """Let Prefect send the logs and events it still queues while the temporary API is up.

    Prefect's own ephemeral server stops at exit, after these queues were drained; stopped
    first, the queues' workers wait on it at exit (with ``PREFECT_LOGGING_LEVEL=INFO`` over a
    minute, then "Error logging to API").
    """
    if "prefect" not in sys.modules:
        return
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker

    APILogWorker.drain_all(timeout=timeout)
    EventsWorker.drain_all(timeout=timeout)


@contextmanager
def one_off_run(
    api: TemporaryAPI | None = None, while_starting: Callable[[], object] | None = None
) -> Iterator[None]:
    """Settings for flows run once in this process (`focusdig run`).

    ``while_starting`` is work for this process while the temporary API ``api`` finishes its
    start (it waits in another thread meanwhile): this core would otherwise sit idle.

    With a temporary API (``api``, or Prefect's own when ``PREFECT_API_URL`` is unset), the
    flows report to a server that ends with the process, so nobody can watch their heartbeats
    (a server uses them to mark crashed runs); they are turned off, which also saves up to a
    second per flow run that Prefect spends stopping the heartbeat thread. With a Prefect
    server configured, nothing changes.
    """
    from prefect.settings import (
        PREFECT_API_URL,
        PREFECT_FLOWS_HEARTBEAT_FREQUENCY,
        temporary_settings,
    )

    if api is None and PREFECT_API_URL.value():
        yield
        return
    updates: dict = {PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}
    if api is not None:
        with ThreadPoolExecutor(1, thread_name_prefix="focusdig-api-wait") as waiter:
            ready = waiter.submit(api.wait_ready)
            if while_starting is not None:
                while_starting()
            updates[PREFECT_API_URL] = ready.result()
    with temporary_settings(updates=updates):
        yield
