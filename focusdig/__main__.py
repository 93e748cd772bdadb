"""``python -m focusdig …`` is the ``focusdig`` command."""

from focusdig.launch import main

main()
