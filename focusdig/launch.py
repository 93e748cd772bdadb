"""The ``focusdig`` console script (and ``python -m focusdig``).

`focusdig run` starts its temporary Prefect API here, before the command line's modules
(typer, SQLAlchemy, the commands) are imported: the API's own start-up is the longest part of
a run's start, and this way it does not wait for those imports either.

OpenMP threads (PyTorch's intra-op pool) wait for work by sleeping, not spinning
(``OMP_WAIT_POLICY=PASSIVE`` unless set): the default spinning, next to the temporary API or
any other busy process on a small machine, made translating the 24 sample items cost 12 s of
CPU instead of 0.3 s (benchmarks/README.md section 7). It must be set before PyTorch is
imported, hence here.
"""

from __future__ import annotations

import os
import sys
from collections.abc import MutableMapping

OPENMP_DEFAULTS = {"OMP_WAIT_POLICY": "PASSIVE"}


def configure_openmp(environ: MutableMapping[str, str] = os.environ) -> None:
    """Set the OpenMP defaults above where the user set nothing."""
    for name, value in OPENMP_DEFAULTS.items():
        environ.setdefault(name, value)


def main() -> None:
    configure_openmp()
    from focusdig.prefect_env import start_early

    start_early(sys.argv[1:])
    from focusdig.cli import main as cli_main

    cli_main()
