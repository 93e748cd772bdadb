"""The ``focusdig`` command line (typer + rich), one module per command group."""

import sys

from focusdig.cli import (  # noqa: F401  (register commands)
    alerts,
    dashboard,
    entities,
    labels,
    models,
    pipeline,
    sources,
)
from focusdig.cli.app import app

__all__ = ["app", "main"]


def main() -> None:
    """The console script: ``app``, with a database that went away reported in one line.

    Every write is a transaction (one per source, one per batch), so whatever was cut off was
    rolled back by the database; the next run, once it is back, does the rest.
    """
    from rich.markup import escape
    from sqlalchemy.exc import InterfaceError, OperationalError

    from focusdig.cli.common import err

    try:
        app()
    except (OperationalError, InterfaceError) as exc:
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()
        err.print(
            "[red]error:[/red] the database is unavailable "
            f"({escape(reason[0] if reason else repr(exc))}); "
            "nothing half-written was kept, run again once it is back",
            soft_wrap=True,
        )
        sys.exit(3)
