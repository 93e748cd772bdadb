"""focusdig: financial opinion monitoring with attention-explained sentiment."""

__version__ = "0.1.0"
