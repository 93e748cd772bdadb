"""The temporary Prefect API of `focusdig run`: started by the console script before the
command line's imports, adopted by the command, stopped once; never for other commands."""

from __future__ import annotations

import http.server
import threading
from types import SimpleNamespace

import pytest

from focusdig import prefect_env


class RecordedAPI:
    """Stands in for the server subprocess: records starts and stops."""

    started: list[RecordedAPI] = []
    sent: list[int] = []  # Prefect's queued logs and events sent, one entry a time

    def __init__(self) -> None:
        self.stops = 0
        self.sent_before_stop = None
        RecordedAPI.started.append(self)

    def stop(self) -> None:
        self.stops += 1
        self.sent_before_stop = len(RecordedAPI.sent)


@pytest.fixture
def at_exit(monkeypatch) -> list:
    RecordedAPI.started, RecordedAPI.sent = [], []
    monkeypatch.setattr(prefect_env, "send_queued_to_api", lambda: RecordedAPI.sent.append(1))
    monkeypatch.setattr(prefect_env, "TemporaryAPI", RecordedAPI)
    monkeypatch.setattr(prefect_env, "_early", None)
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    registered: list = []
    monkeypatch.setattr(prefect_env.atexit, "register", registered.append)
    return registered


def test_the_command_is_the_first_word_that_is_not_an_option():
    assert prefect_env.command_of(["run", "feed.xml", "--json"]) == "run"
    assert prefect_env.command_of(["items", "--limit", "3"]) == "items"
    assert prefect_env.command_of(["run", "--help"]) is None
    assert prefect_env.command_of(["--help"]) is None
    assert prefect_env.command_of([]) is None


def test_run_starts_the_api_early_and_the_command_adopts_it(at_exit):
    prefect_env.start_early(["run", "feed.xml", "--json"])
    prefect_env.start_early(["run"])  # once per process
    (early,) = RecordedAPI.started
    assert at_exit == [early.stop]  # stopped even if the command line fails before adopting it
    with prefect_env.temporary_api_started() as api:
        assert api is early and early.stops == 0
    assert early.stops == 1 and early.sent_before_stop == 1  # queues sent while it was up
    with prefect_env.temporary_api_started() as api:  # a later command starts its own
        assert api is not early
    assert len(RecordedAPI.started) == 2


def test_other_commands_help_and_a_configured_server_start_nothing(at_exit, monkeypatch):
    for argv in (["items"], ["run", "--help"], ["dashboard", "--port", "8000"], []):
        prefect_env.start_early(argv)
    assert RecordedAPI.started == [] and at_exit == []
    monkeypatch.setenv("PREFECT_API_URL", "http://127.0.0.1:4200/api")
    prefect_env.start_early(["run"])
    with prefect_env.temporary_api_started() as api:
        assert api is None
    assert RecordedAPI.started == []


class SlowAPI:
    """A temporary API that takes a while to answer; records what happened meanwhile."""

    url = "http://127.0.0.1:9/api"

    def __init__(self, events: list[str]) -> None:
        self.events = events
        self.release = threading.Event()

    def wait_ready(self) -> str:
        self.events.append("waiting")
        assert self.release.wait(5), "the work meant for the wait never ran"
        self.events.append("ready")
        return self.url


def test_a_one_off_run_works_while_the_api_starts_then_uses_it():
    from prefect.settings import PREFECT_API_URL

    events: list[str] = []
    api = SlowAPI(events)

    def work():
        events.append("work on " + threading.current_thread().name)
        api.release.set()

    with prefect_env.one_off_run(api, work):
        assert PREFECT_API_URL.value() == api.url
    assert sorted(events[:2]) == ["waiting", "work on MainThread"] and events[2] == "ready"


def test_wait_ready_asks_for_the_version_after_the_health_check():
    """The server builds its routes on the first request after the health check (~0.5 s);
    wait_ready makes that request, so the flows' first call does not wait for it."""
    paths: list[str] = []

    class Recorder(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (the handler's API)
            paths.append(self.path)
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    with http.server.ThreadingHTTPServer(("127.0.0.1", 0), Recorder) as server:
        threading.Thread(target=server.serve_forever, daemon=True).start()
        api = object.__new__(prefect_env.TemporaryAPI)  # the server above, not a subprocess
        api.url = f"http://127.0.0.1:{server.server_address[1]}/api"
        api.process = SimpleNamespace(poll=lambda: None)
        assert api.wait_ready(timeout=10) == api.url
        server.shutdown()
    assert paths == ["/api/health", "/api/admin/version"]
