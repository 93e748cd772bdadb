"""focusdig's Prefect flows: thin wrappers whose tasks call into the ``focusdig`` library."""

from focusdig.prefect_env import configure_prefect

configure_prefect()
