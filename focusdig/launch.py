"""The ``focusdig`` console script (and ``python -m focusdig``).

`focusdig run` starts its temporary Prefect API here, before the command line's modules
(typer, SQLAlchemy, the commands) are imported: the API's own start-up is the longest part of
a run's start, and this way it does not wait for those imports either.
"""

from __future__ import annotations

import sys


def main() -> None:
    from focusdig.prefect_env import start_early

    start_early(sys.argv[1:])
    from focusdig.cli import main as cli_main

    cli_main()
