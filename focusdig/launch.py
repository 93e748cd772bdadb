"""The ``focusdig`` console script (and ``python -m focusdig``).

`focusdig run` starts its temporary Prefect API here, before the command line's modules
(typer, SQLAlchemy, the commands) are imported: the API's own start-up is the longest part of
a run's start, and this way it does not wait for those imports either.

OpenMP threads (PyTorch's intra-op pool) wait for work by sleeping, not spinning
(``OMP_WAIT_POLICY=PASSIVE`` unless set): the default spinning, next to the temporary API or
any other busy process on a small machine, made translating the 24 sample items cost 12 s of
CPU instead of 0.3 s (benchmarks/README.md section 7). It must be set before PyTorch is
imported, hence here.

The process leaves without the interpreter's final teardown of every module and object (about
1 s after a run that loaded PyTorch, Prefect and the models): once the command ended and every
other exit handler ran, the last one flushes the standard streams and exits with the command's
status.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import sys
from collections.abc import MutableMapping

OPENMP_DEFAULTS = {"OMP_WAIT_POLICY": "PASSIVE"}


def configure_openmp(environ: MutableMapping[str, str] = os.environ) -> None:
    """Set the OpenMP defaults above where the user set nothing."""
    for name, value in OPENMP_DEFAULTS.items():
        environ.setdefault(name, value)


_exit_status: int | None = None


def exit_status(code: object) -> int:
    """The process status `sys.exit(code)` gives: None is 0, an int itself, anything else 1."""
    if code is None:
        return 0
    return code if isinstance(code, int) else 1


def _leave_without_teardown() -> None:
    """The last exit handler (registered first): exit with the command's status, if it ended."""
    if _exit_status is None:
        return  # an uncaught exception: the interpreter's usual exit
    if "logging" in sys.modules:
        sys.modules["logging"].shutdown()  # flushes log files even if logging came first
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(_exit_status)


def main() -> None:
    global _exit_status
    configure_openmp()
    atexit.register(_leave_without_teardown)
    from focusdig.prefect_env import start_early

    start_early(sys.argv[1:])
    from focusdig.cli import main as cli_main

    try:
        cli_main()
    except SystemExit as stop:
        _exit_status = exit_status(stop.code)
        raise
    _exit_status = 0
