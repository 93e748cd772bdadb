"""The root ``focusdig`` typer application; command modules register on it."""

import typer

app = typer.Typer(
    help="focusdig: financial opinion monitoring with attention-explained sentiment.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
